//! The web console: pages rendered on the server with askama, in zh-CN and
//! English, scoped to the signed-in user's jurisdiction.
//!
//! # Adding a page
//!
//! 1. **Template**: `crates/server/templates/<area>/<page>.html`, starting with
//!    `{% extends "layout.html" %}` and filling `{% block content %}`. The
//!    layout reads `page` (a [`Page`]): every template struct has a field
//!    `page: Page`. Strings come from `page.t(T::Key)` (add the key, with both
//!    languages, to [`text`]); vocabulary labels from `x.label(page.lang)`;
//!    numbers and dates are formatted in Rust with [`text::int`],
//!    [`text::date`], [`text::datetime`] (or `page.int(n)`, `page.date(d)`)
//!    and handed to the template as strings. Askama escapes everything: never
//!    mark input `|safe` (only SVG drawn by [`charts`], which escapes its text).
//! 2. **Context struct**: `#[derive(askama::Template)] #[template(path =
//!    "<area>/<page>.html")] struct MyPage { page: Page, … }`, in the module of
//!    the area, with `use crate::console::text::T;` in scope (templates name `T`).
//! 3. **Handler**: take [`PageViewer`] (anonymous browsers go to /login),
//!    build the context with [`Page::new`] (it checks nothing), check the
//!    capability with [`Page::require`], read the store with the viewer's
//!    `region_scope()` and `facility()` (lists: a facility operator's hold
//!    only the people placed there; by-id reads through `store::access` with
//!    `scope()`, a miss is 404), and answer [`render`]`(&tpl)`. Errors
//!    become the localised error page with `page.fail(e)` (any
//!    `Into<ApiError>`): `.map_err(|e| page.fail(e))?`.
//!    Forms post `csrf` (= `page.csrf`, put it in a hidden input) and the
//!    handler checks it with [`Page::check_csrf`].
//! 4. **Route**: in the area's `pub(crate) fn routes() -> Router<AppState>`,
//!    merged below in [`routes`] (one `mod` line and one `.merge` line), and
//!    a navigation entry in [`NAV`] if it is a top-level page.

// A page handler's error is the finished error page (a `Response`), made once
// per request and returned straight to axum: its size does not matter.
#![allow(clippy::result_large_err)]

pub(crate) mod admin;
pub(crate) mod bulletin;
pub(crate) mod chain_svg;
pub(crate) mod charts;
pub(crate) mod dashboard;
pub(crate) mod duplicates;
pub(crate) mod errors;
pub(crate) mod loop_pages;
pub(crate) mod person;
pub(crate) mod records;
pub(crate) mod text;
pub(crate) mod tracing_pages;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::lang::ReqLang;
use crate::AppState;
use axum::extract::{Form, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use closedloop_domain::access::Capability;
use closedloop_domain::Lang;
use serde::Deserialize;
pub(crate) use text::T;

#[allow(unused_imports)]
pub(crate) use crate::auth::PageViewer;

/// Every console route; merged into the application router in `lib.rs`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/console.css", get(console_css))
        .route("/static/console.js", get(console_js))
        .route("/favicon.ico", get(favicon))
        // Unknown paths: the 404 page for browsers, the API's JSON otherwise.
        .route("/{*rest}", axum::routing::any(errors::not_found))
        .route("/lang", post(switch_lang))
        .merge(dashboard::routes())
        .merge(bulletin::routes())
        .merge(loop_pages::routes())
        .merge(admin::routes())
        .merge(records::routes())
        .merge(person::routes())
        .merge(tracing_pages::routes())
        .merge(duplicates::routes())
}

/// One entry of the navigation, shown to roles with its capability.
pub(crate) struct NavEntry {
    pub key: T,
    pub href: &'static str,
    pub capability: Capability,
}

/// The navigation, in order. A page appears for a role that has its capability.
pub(crate) const NAV: &[NavEntry] = &[
    NavEntry {
        key: T::Dashboard,
        href: "/",
        capability: Capability::ReadRegistry,
    },
    NavEntry {
        key: T::Cases,
        href: "/cases",
        capability: Capability::ReadRegistry,
    },
    NavEntry {
        key: T::Search,
        href: "/search",
        capability: Capability::ReadRegistry,
    },
    NavEntry {
        key: T::Clusters,
        href: "/clusters",
        capability: Capability::ReadTracing,
    },
    NavEntry {
        key: T::Duplicates,
        href: "/duplicates",
        capability: Capability::MergeDuplicates,
    },
    NavEntry {
        key: T::Loop,
        href: "/loop",
        capability: Capability::ReadLoop,
    },
    NavEntry {
        key: T::Accountability,
        href: "/loop/accountability",
        capability: Capability::ReadAccountability,
    },
    NavEntry {
        key: T::Bulletin,
        href: "/bulletin",
        capability: Capability::ReadRegistry,
    },
    NavEntry {
        key: T::PublicBulletin,
        href: "/public/bulletin",
        capability: Capability::ReadPublicBulletin,
    },
    NavEntry {
        key: T::Users,
        href: "/admin/users",
        capability: Capability::ManageUsers,
    },
    NavEntry {
        key: T::Tokens,
        href: "/admin/tokens",
        capability: Capability::ManageUsers,
    },
    NavEntry {
        key: T::Audit,
        href: "/admin/audit",
        capability: Capability::ReadAudit,
    },
];

/// A navigation link as the layout shows it.
pub(crate) struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The signed-in user as the header shows them.
pub(crate) struct UserBox {
    pub name: String,
    pub role: &'static str,
    pub jurisdiction: String,
}

/// What every page's layout needs: language, user, navigation, CSRF token,
/// the current path (the language switch returns there) and the title.
pub(crate) struct Page {
    pub lang: Lang,
    pub tz: Tz,
    pub title: String,
    /// Path and query of this page, for the language switch's `next`.
    pub path: String,
    pub user: Option<UserBox>,
    pub nav: Vec<NavItem>,
    pub csrf: String,
    /// The viewer, when signed in (pages read its scope and role).
    pub viewer: Option<Viewer>,
    /// Reload the page every so many seconds (a wall screen's dashboard).
    pub refresh_seconds: Option<u32>,
}

impl Page {
    /// The context of a signed-in user's page. `title` is the page's name.
    pub async fn new(
        s: &AppState,
        viewer: &Viewer,
        headers: &HeaderMap,
        path: &str,
        title: T,
    ) -> Page {
        // The address's `?lang=`, else the user's own setting (the switch saves it).
        let lang = query_lang(path).unwrap_or(viewer.lang);
        let _ = headers;
        // The jurisdiction's name from the cached tree; its code if it cannot
        // be read (the page itself will then report the store's error).
        let jurisdiction = s
            .region_tree()
            .await
            .ok()
            .and_then(|tree| {
                tree.get(&viewer.jurisdiction.region)
                    .map(|r| r.name(lang).to_string())
            })
            .unwrap_or_else(|| viewer.jurisdiction.region.clone());
        let current = path.split('?').next().unwrap_or(path);
        let nav = NAV
            .iter()
            .filter(|e| viewer.can(e.capability))
            .map(|e| NavItem {
                label: e.key.get(lang),
                href: e.href,
                current: e.href == current
                    || (e.href != "/"
                        && current.starts_with(e.href)
                        && !NAV
                            .iter()
                            .any(|o| o.href.len() > e.href.len() && current.starts_with(o.href))),
            })
            .collect();
        Page {
            lang,
            tz: s.tz,
            title: title.get(lang).to_string(),
            path: path.to_string(),
            user: Some(UserBox {
                name: viewer.display_name.clone(),
                role: viewer.role.label(lang),
                jurisdiction,
            }),
            nav,
            csrf: viewer.csrf_token.clone(),
            viewer: Some(viewer.clone()),
            refresh_seconds: None,
        }
    }

    /// The context of a page anyone may read (the public bulletin, errors
    /// before sign-in): no user, no navigation, no forms.
    pub fn anonymous(s: &AppState, lang: Lang, headers: &HeaderMap, path: &str, title: T) -> Page {
        let lang = page_lang(headers, path, None).unwrap_or(lang);
        Page {
            lang,
            tz: s.tz,
            title: title.get(lang).to_string(),
            path: path.to_string(),
            user: None,
            nav: Vec::new(),
            csrf: String::new(),
            viewer: None,
            refresh_seconds: None,
        }
    }

    /// A UI string in the page's language.
    pub fn t(&self, key: T) -> &'static str {
        key.get(self.lang)
    }

    pub fn int(&self, n: i64) -> String {
        text::int(n, self.lang)
    }

    pub fn date(&self, d: NaiveDate) -> String {
        text::date(d, self.lang)
    }

    pub fn datetime(&self, t: DateTime<Utc>) -> String {
        text::datetime(t, self.tz, self.lang)
    }

    /// `zh` or `en`, for `<html lang>`.
    pub fn html_lang(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Whether this page is in `code` (`zh` or `en`), for the switch.
    pub fn is_lang(&self, code: &str) -> bool {
        self.lang.as_str() == code
    }

    /// The signed-in viewer; pages built with [`Page::new`] always have one.
    pub fn viewer(&self) -> Result<&Viewer, Response> {
        self.viewer.as_ref().ok_or_else(|| {
            self.fail(ApiError::new(
                StatusCode::UNAUTHORIZED,
                &crate::error::HttpError::SignInRequired,
            ))
        })
    }

    /// The localised 403 page unless the viewer's role may do this.
    pub fn require(&self, capability: Capability) -> Result<(), Response> {
        match &self.viewer {
            Some(v) => v.require(capability).map_err(|e| self.fail(e)),
            None => Err(self.fail(ApiError::new(
                StatusCode::UNAUTHORIZED,
                &crate::error::HttpError::SignInRequired,
            ))),
        }
    }

    /// The localised error page for `e`, in the layout.
    pub fn fail(&self, e: impl Into<ApiError>) -> Response {
        errors::error_page(self, &e.into())
    }

    /// 403 unless the form carried this session's anti-forgery token.
    pub fn check_csrf(&self, token: &str) -> Result<(), Response> {
        if !self.csrf.is_empty() && constant_time_eq(self.csrf.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(self.fail(ApiError::new(
                StatusCode::FORBIDDEN,
                &errors::PageError::Csrf,
            )))
        }
    }
}

/// The cookie that keeps the language chosen with the switch.
pub(crate) const LANG_COOKIE: &str = "closedloop_lang";

/// A page's `?lang=`, if it names a language we speak.
fn query_lang(path: &str) -> Option<Lang> {
    path.split_once('?').and_then(|(_, q)| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| *k == "lang")
            .find_map(|(_, v)| v.parse::<Lang>().ok())
    })
}

/// An anonymous page's language: `?lang=` in the address, then the
/// switch's cookie. `None` when neither says.
fn page_lang(headers: &HeaderMap, path: &str, user: Option<Lang>) -> Option<Lang> {
    query_lang(path).or_else(|| cookie_lang(headers)).or(user)
}

fn cookie_lang(headers: &HeaderMap) -> Option<Lang> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == LANG_COOKIE)
        .and_then(|(_, v)| v.parse::<Lang>().ok())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The page's path and query as the browser asked for it.
pub(crate) fn current_path(uri: &axum::http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

/// Renders a template to an HTML response; a template failure is the 500 page.
pub(crate) fn render<Tpl: askama::Template>(tpl: &Tpl, page: &Page) -> Result<Response, Response> {
    match tpl.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            Err(errors::error_page(
                page,
                &ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &crate::error::HttpError::Internal {
                        code: "template_failed",
                    },
                ),
            ))
        }
    }
}

/// What a page handler returns: the page, or the error page.
pub(crate) type PageResult = Result<Response, Response>;

/// Both outcomes of a page handler are responses.
pub(crate) fn finish(r: PageResult) -> Response {
    r.unwrap_or_else(|e| e)
}

const CONSOLE_CSS: &str = include_str!("../../static/console.css");
const CONSOLE_JS: &str = include_str!("../../static/console.js");

fn static_response(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn console_css() -> Response {
    static_response(CONSOLE_CSS, "text/css; charset=utf-8")
}

/// No icon: an empty answer, so browsers stop asking (and log no 404).
async fn favicon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        )],
    )
        .into_response()
}

async fn console_js() -> Response {
    static_response(CONSOLE_JS, "text/javascript; charset=utf-8")
}

#[derive(Deserialize)]
pub(crate) struct LangForm {
    lang: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// The language switch: saves a signed-in user's choice in their account
/// (audited), an anonymous reader's in a cookie, and returns to the page it
/// came from. The session layer has checked a signed-in user's CSRF token.
async fn switch_lang(
    State(s): State<AppState>,
    ReqLang(req_lang): ReqLang,
    viewer: Option<axum::Extension<Viewer>>,
    headers: HeaderMap,
    Form(form): Form<LangForm>,
) -> Response {
    let viewer = viewer.map(|axum::Extension(v)| v);
    let page = match &viewer {
        Some(v) => Page::new(&s, v, &headers, "/", T::Language).await,
        None => Page::anonymous(&s, req_lang, &headers, "/", T::Language),
    };
    if viewer.is_some() {
        if let Err(r) = page.check_csrf(&form.csrf) {
            return r;
        }
    }
    let lang = match form.lang.parse::<Lang>() {
        Ok(l) => l,
        Err(e) => {
            return page.fail(ApiError::bad_request(
                &closedloop_domain::DomainError::UnknownValue {
                    value: e.0.chars().take(40).collect(),
                    expected: "zh en",
                },
            ))
        }
    };
    // Only our own paths: never an absolute or protocol-relative address.
    let next = if form.next.starts_with('/')
        && !form.next.starts_with("//")
        && !form.next.contains('\\')
    {
        strip_lang_param(&form.next)
    } else {
        "/".to_string()
    };
    let mut response = Redirect::to(&next).into_response();
    match &viewer {
        Some(v) => {
            if let Err(e) = s.store.set_user_lang(&v.login, lang, &v.actor()).await {
                return page.fail(e);
            }
        }
        None => {
            let cookie = format!(
                "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly",
                lang.as_str()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(SET_COOKIE, v);
            }
        }
    }
    response
}

/// Removes `lang=` from a path's query, so the cookie decides after a switch.
fn strip_lang_param(path: &str) -> String {
    match path.split_once('?') {
        None => path.to_string(),
        Some((p, q)) => {
            let kept: Vec<&str> = q
                .split('&')
                .filter(|kv| !kv.starts_with("lang=") && !kv.is_empty())
                .collect();
            if kept.is_empty() {
                p.to_string()
            } else {
                format!("{p}?{}", kept.join("&"))
            }
        }
    }
}

/// A region in a form's select.
pub(crate) struct RegionOption {
    pub code: String,
    /// Indented by depth below the top.
    pub name: String,
    pub selected: bool,
}

/// `top` and the regions below it down to districts, in tree order, for a
/// select; `selected` is marked.
pub(crate) fn region_options(
    tree: &closedloop_domain::region::RegionTree,
    top: &str,
    selected: &str,
    lang: Lang,
) -> Vec<RegionOption> {
    let base = tree.ancestors(top).count();
    let mut out = Vec::new();
    let mut stack = vec![top.to_string()];
    while let Some(code) = stack.pop() {
        if let Some(r) = tree.get(&code) {
            let depth = tree.ancestors(&code).count().saturating_sub(base);
            out.push(RegionOption {
                code: r.code.clone(),
                name: format!("{}{}", "\u{3000}".repeat(depth), r.name(lang)),
                selected: r.code == selected,
            });
            if r.level < closedloop_domain::region::RegionLevel::District {
                let mut kids: Vec<String> = tree.children(&code).map(|c| c.code.clone()).collect();
                kids.reverse();
                stack.extend(kids);
            }
        }
    }
    out
}

/// Query values of the console's forms: empty means absent.
pub(crate) fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Reads an optional `YYYY-MM-DD` from a form.
pub(crate) fn opt_date(v: &Option<String>) -> Result<Option<NaiveDate>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        // Years far from ours are typing errors, and would overflow date arithmetic.
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|d| (1900..=2200).contains(&chrono::Datelike::year(d)))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(&closedloop_domain::DomainError::UnknownValue {
                    value: s.chars().take(40).collect(),
                    expected: "YYYY-MM-DD",
                })
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_drops_lang_from_next() {
        assert_eq!(
            strip_lang_param("/bulletin?date=2022-03-14&lang=en"),
            "/bulletin?date=2022-03-14"
        );
        assert_eq!(strip_lang_param("/?lang=zh"), "/");
        assert_eq!(strip_lang_param("/loop"), "/loop");
    }

    #[test]
    fn the_query_then_the_cookie_then_the_user_choose_the_language() {
        let mut h = HeaderMap::new();
        assert_eq!(page_lang(&h, "/", Some(Lang::Zh)), Some(Lang::Zh));
        assert_eq!(query_lang("/x?a=1&lang=en"), Some(Lang::En));
        assert_eq!(query_lang("/x?lang=fr"), None);
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("a=b; closedloop_lang=en"),
        );
        assert_eq!(page_lang(&h, "/", Some(Lang::Zh)), Some(Lang::En));
        assert_eq!(page_lang(&h, "/?lang=zh", Some(Lang::En)), Some(Lang::Zh));
        assert_eq!(page_lang(&HeaderMap::new(), "/", None), None);
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(
            opt_date(&Some("2022-03-14".into())).unwrap(),
            NaiveDate::from_ymd_opt(2022, 3, 14)
        );
        assert_eq!(opt_date(&Some(" ".into())).unwrap(), None);
        assert!(opt_date(&Some("2022-13-01".into())).is_err());
        assert!(opt_date(&Some("0001-01-01".into())).is_err());
        assert!(opt_date(&Some("-262143-01-01".into())).is_err());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
