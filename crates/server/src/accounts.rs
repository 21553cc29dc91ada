//! Sign-in, sessions, API tokens and CSRF: the layer that turns a request's
//! credential into a [`Viewer`], and the sign-in and account pages.
//!
//! - A browser signs in at `/login` and gets the `closedloop_session` cookie
//!   (HttpOnly, SameSite=Strict, Path=/, Secure when the console is served
//!   over TLS: `ServerConfig::secure_cookies`). Only the token's SHA-256 is
//!   stored; the session slides (12 h idle) and ends at once when the user is
//!   disabled or changes their password.
//! - A script sends `Authorization: Bearer cl_…` (an API token): it carries
//!   its owner's role and jurisdiction, and needs no CSRF token (it sends no
//!   cookies, so a forged cross-site request cannot carry it).
//! - **CSRF**: every POST/PUT/PATCH/DELETE authenticated by the cookie must
//!   carry the session's token, in the form field `csrf_token` (or `csrf`, the
//!   console's forms) of an urlencoded or multipart body, or in the
//!   `X-CSRF-Token` header; else 403 `csrf_failed`.
//! - The sign-in form itself has no session yet: it is protected by a
//!   double-submit token. `GET /login` sets a random `closedloop_login_csrf`
//!   cookie (SameSite=Strict, HttpOnly) and puts the same value in the form;
//!   `POST /login` must bring both and they must match. A cross-site page can
//!   neither read the cookie nor make the browser send it (SameSite=Strict),
//!   so it cannot sign a victim into an account of its choosing.
//!
//! The region subtree of a jurisdiction is computed once per region and
//! cached for a minute ([`RegionCache`]), not per request.

use crate::auth::Viewer;
use crate::console::{render, Page, T};
use crate::error::{ApiError, HttpError};
use crate::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use closedloop_domain::access::Jurisdiction;
use closedloop_domain::region::RegionTree;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::accounts::{AccountError, UserRecord};
use closedloop_store::{Store, StoreError};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "closedloop_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_CSRF_COOKIE: &str = "closedloop_login_csrf";
/// The header a script or the console's JavaScript may send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Most bytes of an urlencoded form read to find its CSRF token (axum's own
/// default limit for bodies).
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes of a multipart upload read to find its CSRF token: an import.
const MAX_UPLOAD_BYTES: usize = crate::handlers::MAX_IMPORT_BYTES;
const REGION_TTL: Duration = Duration::from_secs(60);

/// Failures of the credential layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// A bearer token that is unknown, revoked, or whose owner is disabled.
    InvalidToken,
    /// A mutating request with a session cookie but without its CSRF token.
    CsrfFailed,
}

impl ErrorCode for AuthError {
    fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidToken => "invalid_token",
            AuthError::CsrfFailed => "csrf_failed",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match self {
            AuthError::InvalidToken => lang.pick(
                "API令牌无效、已吊销，或其所有者已停用",
                "the API token is unknown, revoked, or its owner is disabled",
            ),
            AuthError::CsrfFailed => lang.pick(
                "请求缺少本次登录的防伪令牌（csrf_token 表单字段或 X-CSRF-Token 头），已拒绝",
                "the request lacks this session's anti-forgery token (form field csrf_token or header X-CSRF-Token) and was refused",
            ),
        }
        .to_string()
    }
}

/// The status an account error answers with.
fn account_status(e: &AccountError) -> StatusCode {
    match e {
        AccountError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        AccountError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        AccountError::Disabled => StatusCode::FORBIDDEN,
        AccountError::UnknownUser(_) | AccountError::UnknownToken(_) => StatusCode::NOT_FOUND,
        AccountError::LoginTaken(_) => StatusCode::CONFLICT,
        AccountError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Store(s) => ApiError::from(s),
            other => ApiError::new(account_status(&other), &other),
        }
    }
}

/// The region tree and the jurisdictions' subtrees, shared by every request
/// and read again after `REGION_TTL`. Regions change by import, rarely; without
/// it every page and API call read the whole tree.
#[derive(Clone, Default)]
pub struct RegionCache(Arc<Mutex<Option<CachedRegions>>>);

struct CachedRegions {
    at: Instant,
    tree: Arc<RegionTree>,
    /// Codes of a region's subtree (`None`: the single root, everywhere).
    subtrees: HashMap<String, Option<Arc<Vec<String>>>>,
}

impl RegionCache {
    fn fresh<T>(&self, read: impl FnOnce(&mut CachedRegions) -> Option<T>) -> Option<T> {
        let mut slot = self.0.lock().ok()?;
        slot.as_mut()
            .filter(|c| c.at.elapsed() < REGION_TTL)
            .and_then(read)
    }

    /// The whole region tree.
    pub async fn tree(&self, store: &Store) -> Result<Arc<RegionTree>, StoreError> {
        if let Some(tree) = self.fresh(|c| Some(c.tree.clone())) {
            return Ok(tree);
        }
        let tree = Arc::new(store.region_tree().await?);
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(CachedRegions {
                at: Instant::now(),
                tree: tree.clone(),
                subtrees: HashMap::new(),
            });
        }
        Ok(tree)
    }

    /// Every code of `region`'s subtree; `None` when `region` is the single
    /// root of the tree (everywhere: no filter at all).
    pub async fn subtree(
        &self,
        store: &Store,
        region: &str,
    ) -> Result<Option<Arc<Vec<String>>>, StoreError> {
        if let Some(codes) = self.fresh(|c| c.subtrees.get(region).cloned()) {
            return Ok(codes);
        }
        let tree = self.tree(store).await?;
        let codes = if tree.single_root().is_some_and(|r| r.code == region) {
            None
        } else {
            Some(Arc::new(tree.subtree_codes(region)))
        };
        self.fresh(|c| {
            Arc::ptr_eq(&c.tree, &tree)
                .then(|| c.subtrees.insert(region.to_string(), codes.clone()))
        });
        Ok(codes)
    }
}

/// The viewer of a user: role, jurisdiction (subtree from the cache), language.
pub(crate) async fn viewer_of(
    s: &AppState,
    user: &UserRecord,
    csrf_token: String,
) -> Result<Viewer, StoreError> {
    Ok(Viewer {
        user_id: user.id,
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        jurisdiction: Jurisdiction {
            region: user.region_code.clone(),
            facility: user.facility_id.clone(),
        },
        regions: s.regions.subtree(&s.store, &user.region_code).await?,
        lang: user.lang,
        csrf_token,
    })
}

/// A cookie's value from the request's headers.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn set_cookie(s: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if s.secure_cookies {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_mutating(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                match (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CSRF token a form body carries, urlencoded or multipart.
fn form_token(content_type: &str, body: &[u8]) -> Option<String> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).ok()?;
        return text
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| matches!(form_decode(k).as_str(), "csrf_token" | "csrf"))
            .map(|(_, v)| form_decode(v));
    }
    if content_type.starts_with("multipart/form-data") {
        for name in ["\"csrf_token\"", "\"csrf\""] {
            let needle = format!("name={name}");
            let Some(pos) = find(body, needle.as_bytes()) else {
                continue;
            };
            let rest = &body[pos..];
            let start = find(rest, b"\r\n\r\n")? + 4;
            let end = find(&rest[start..], b"\r\n")?;
            return std::str::from_utf8(&rest[start..start + end])
                .ok()
                .map(|v| v.trim().to_string());
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn wants_html(headers: &HeaderMap) -> bool {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ct.starts_with("application/x-www-form-urlencoded") || ct.starts_with("multipart/form-data")
}

/// The layer: resolves the bearer token or the session cookie, checks the
/// CSRF token of cookie-authenticated changes, and puts the [`Viewer`] in the
/// request's extensions (and the user's language, unless `?lang=` says).
pub(crate) async fn authenticate(
    State(s): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // The health check answers load balancers, signed in or not, and must
    // not depend on the accounts tables.
    // Nor do the console's static files (no database round trip for them).
    let path = req.uri().path();
    if path == "/health" || path.starts_with("/static/") || path == "/favicon.ico" {
        return next.run(req).await;
    }
    let asked_lang = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("lang=")));
    let default_lang = req.extensions().get::<Lang>().copied().unwrap_or(s.lang);
    let fail = |e: ApiError, lang: Lang| e.to_response(lang);
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().trim().to_string());
    let viewer = if let Some(h) = bearer {
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or_default();
        match s.store.resolve_api_token(token).await {
            Ok(Some(user)) => match viewer_of(&s, &user, String::new()).await {
                Ok(v) => Some(v),
                Err(e) => return fail(e.into(), default_lang),
            },
            Ok(None) => {
                return fail(
                    ApiError::new(StatusCode::UNAUTHORIZED, &AuthError::InvalidToken),
                    default_lang,
                )
            }
            Err(e) => return fail(e.into(), default_lang),
        }
    } else if let Some(token) = cookie(req.headers(), SESSION_COOKIE) {
        match s.store.session(&token).await {
            Ok(Some(session)) => {
                let v = match viewer_of(&s, &session.user, session.csrf_token.clone()).await {
                    Ok(v) => v,
                    Err(e) => return fail(e.into(), default_lang),
                };
                if is_mutating(req.method()) {
                    let lang = if asked_lang { default_lang } else { v.lang };
                    match check_csrf(req, &session.csrf_token).await {
                        Ok(r) => req = r,
                        Err(html) => {
                            let e = ApiError::new(StatusCode::FORBIDDEN, &AuthError::CsrfFailed);
                            if html {
                                let headers = HeaderMap::new();
                                let page =
                                    Page::anonymous(&s, lang, &headers, "/", T::ForbiddenTitle);
                                return crate::console::errors::error_page(&page, &e);
                            }
                            return fail(e, lang);
                        }
                    }
                }
                Some(v)
            }
            Ok(None) => None,
            Err(e) => return fail(e.into(), default_lang),
        }
    } else {
        None
    };
    let lang = match &viewer {
        Some(v) if !asked_lang => v.lang,
        _ => default_lang,
    };
    req.extensions_mut().insert(lang);
    if let Some(v) = viewer {
        req.extensions_mut().insert(v);
    }
    let mut response = next.run(req).await;
    // Errors in the signed-in user's language (the outer layer would use the
    // Accept-Language header's).
    if let Some(e) = response.extensions_mut().remove::<ApiError>() {
        return e.to_response(lang);
    }
    response
}

/// Lets the request through when it carries `expected` in the header or its
/// form body; `Err(true)` for a refused form post (answered with a page),
/// `Err(false)` for others (JSON).
async fn check_csrf(req: Request, expected: &str) -> Result<Request, bool> {
    let header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .map(str::to_string);
    if let Some(h) = header {
        return if constant_time_eq(h.as_bytes(), expected.as_bytes()) {
            Ok(req)
        } else {
            Err(false)
        };
    }
    let html = wants_html(req.headers());
    if !html {
        return Err(false);
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // Uploads (multipart) may be as large as an import; plain forms are small.
    let limit = if content_type.starts_with("multipart/form-data") {
        MAX_UPLOAD_BYTES
    } else {
        MAX_FORM_BYTES
    };
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| true)?;
    match form_token(&content_type, &bytes) {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(true),
    }
}

/// The address a request came from, for the per-address sign-in limit.
fn address(req_ext: Option<&ConnectInfo<SocketAddr>>) -> String {
    req_ext.map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string())
}

/// Only our own paths: never an absolute or protocol-relative address.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => {
            if n.starts_with("/login") {
                "/".into()
            } else {
                n.to_string()
            }
        }
        _ => "/".into(),
    }
}

/// The routes of this module: sign-in, sign-out and the account page.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", axum::routing::post(logout))
        .route("/account", get(account_page).post(account_submit))
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginTpl {
    page: Page,
    next: String,
    login: String,
    csrf_token: String,
    error_code: String,
    error: String,
    l: LoginText,
}

/// The sign-in page's own words, in the page's language.
struct LoginText {
    heading: &'static str,
    login: &'static str,
    password: &'static str,
    submit: &'static str,
}

impl LoginText {
    fn new(lang: Lang) -> LoginText {
        LoginText {
            heading: lang.pick("登录疫情防控指挥系统", "Sign in to the command console"),
            login: lang.pick("用户名", "Sign-in name"),
            password: lang.pick("密码", "Password"),
            submit: lang.pick("登录", "Sign in"),
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

fn login_response(
    s: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    login: &str,
    error: Option<&(dyn ErrorCode + Sync)>,
) -> Response {
    let token = closedloop_store::accounts::random_hex(32);
    let page = Page::anonymous(s, lang, headers, "/login", T::SignIn);
    let lang = page.lang;
    let tpl = LoginTpl {
        next: next.to_string(),
        login: login.to_string(),
        csrf_token: token.clone(),
        error_code: error.map(|e| e.code().to_string()).unwrap_or_default(),
        error: error.map(|e| e.message(lang)).unwrap_or_default(),
        l: LoginText::new(lang),
        page,
    };
    let mut r = match render(&tpl, &tpl.page) {
        Ok(r) | Err(r) => r,
    };
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(s, LOGIN_CSRF_COOKIE, &token, None));
    r
}

async fn login_page(
    State(s): State<AppState>,
    viewer: Option<axum::Extension<Viewer>>,
    crate::lang::ReqLang(lang): crate::lang::ReqLang,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_response(&s, lang, &headers, StatusCode::OK, &next, "", None)
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf_token: String,
}

async fn login_submit(
    State(s): State<AppState>,
    crate::lang::ReqLang(lang): crate::lang::ReqLang,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(Some(&f.next));
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), f.csrf_token.as_bytes()) {
        return login_response(
            &s,
            lang,
            &headers,
            StatusCode::FORBIDDEN,
            &next,
            &f.login,
            Some(&AuthError::CsrfFailed),
        );
    }
    let addr = address(connect.as_ref().map(|c| &c.0));
    match s.store.sign_in(&f.login, &f.password, &addr).await {
        Ok(session) => {
            let mut r = Redirect::to(&next).into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().append(
                SET_COOKIE,
                set_cookie(&s, SESSION_COOKIE, &session.token, None),
            );
            r.headers_mut()
                .append(SET_COOKIE, set_cookie(&s, LOGIN_CSRF_COOKIE, "", Some(0)));
            r
        }
        Err(e) => {
            let status = account_status(&e);
            login_response(&s, lang, &headers, status, &next, &f.login, Some(&e))
        }
    }
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = s.store.end_session(&token).await {
            return ApiError::from(e).into_response();
        }
    }
    let mut r = Redirect::to("/login").into_response();
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(&s, SESSION_COOKIE, "", Some(0)));
    r
}

#[derive(askama::Template)]
#[template(path = "account/index.html")]
struct AccountTpl {
    page: Page,
    login: String,
    role: &'static str,
    region: String,
    facility: String,
    message: String,
    error_code: String,
    error: String,
    l: AccountText,
}

struct AccountText {
    heading: &'static str,
    login: &'static str,
    role: &'static str,
    region: &'static str,
    facility: &'static str,
    change_password: &'static str,
    old_password: &'static str,
    new_password: &'static str,
    repeat_password: &'static str,
    save: &'static str,
    language: &'static str,
}

impl AccountText {
    fn new(lang: Lang) -> AccountText {
        AccountText {
            heading: lang.pick("我的账户", "My account"),
            login: lang.pick("用户名", "Sign-in name"),
            role: lang.pick("角色", "Role"),
            region: lang.pick("管辖区域", "Jurisdiction"),
            facility: lang.pick("所在场所", "Facility"),
            change_password: lang.pick("修改密码", "Change password"),
            old_password: lang.pick("原密码", "Current password"),
            new_password: lang.pick("新密码", "New password"),
            repeat_password: lang.pick("再次输入新密码", "New password again"),
            save: lang.pick("保存", "Save"),
            language: lang.pick("界面语言", "Language"),
        }
    }
}

/// The new passwords of the form differ.
struct PasswordsDiffer;

impl ErrorCode for PasswordsDiffer {
    fn code(&self) -> &'static str {
        "passwords_differ"
    }
    fn message(&self, lang: Lang) -> String {
        lang.pick("两次输入的新密码不一致", "the two new passwords differ")
            .to_string()
    }
}

async fn account_response(
    s: &AppState,
    v: &Viewer,
    headers: &HeaderMap,
    status: StatusCode,
    message: &str,
    error: Option<&(dyn ErrorCode + Sync)>,
) -> Response {
    let page = Page::new(s, v, headers, "/account", T::Account).await;
    let lang = page.lang;
    let tpl = AccountTpl {
        login: v.login.clone(),
        role: v.role.label(lang),
        region: page
            .user
            .as_ref()
            .map(|u| u.jurisdiction.clone())
            .unwrap_or_default(),
        facility: v.jurisdiction.facility.clone().unwrap_or_default(),
        message: message.to_string(),
        error_code: error.map(|e| e.code().to_string()).unwrap_or_default(),
        error: error.map(|e| e.message(lang)).unwrap_or_default(),
        l: AccountText::new(lang),
        page,
    };
    let mut r = match render(&tpl, &tpl.page) {
        Ok(r) | Err(r) => r,
    };
    if r.status() == StatusCode::OK {
        *r.status_mut() = status;
    }
    r
}

#[derive(Deserialize, Default)]
pub(crate) struct AccountQuery {
    changed: Option<String>,
}

async fn account_page(
    State(s): State<AppState>,
    crate::auth::PageViewer(v): crate::auth::PageViewer,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let message = if q.changed.is_some() {
        v.lang.pick(
            "密码已修改，其他设备上的登录已全部退出",
            "Password changed; every other session has been signed out",
        )
    } else {
        ""
    };
    account_response(&s, &v, &headers, StatusCode::OK, message, None).await
}

#[derive(Deserialize)]
pub(crate) struct AccountForm {
    /// `password` or `lang`.
    #[serde(default)]
    action: String,
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    repeat_password: String,
    #[serde(default)]
    lang: String,
}

/// The account form (the layer has checked its CSRF token already).
async fn account_submit(
    State(s): State<AppState>,
    crate::auth::PageViewer(v): crate::auth::PageViewer,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> Response {
    match f.action.as_str() {
        "lang" => {
            let lang = match f.lang.parse::<Lang>() {
                Ok(l) => l,
                Err(_) => {
                    let e = closedloop_domain::DomainError::UnknownValue {
                        value: f.lang.chars().take(20).collect(),
                        expected: "zh en",
                    };
                    return account_response(
                        &s,
                        &v,
                        &headers,
                        StatusCode::BAD_REQUEST,
                        "",
                        Some(&e),
                    )
                    .await;
                }
            };
            if let Err(e) = s.store.set_user_lang(&v.login, lang, &v.actor()).await {
                return ApiError::from(e).into_response();
            }
            // The console's language cookie follows the user's setting.
            let mut r = Redirect::to("/account").into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().append(
                SET_COOKIE,
                set_cookie(
                    &s,
                    crate::console::LANG_COOKIE,
                    lang.as_str(),
                    Some(31_536_000),
                ),
            );
            r
        }
        "password" => {
            if f.new_password != f.repeat_password {
                return account_response(
                    &s,
                    &v,
                    &headers,
                    StatusCode::BAD_REQUEST,
                    "",
                    Some(&PasswordsDiffer),
                )
                .await;
            }
            if let Err(e) = s
                .store
                .change_password(&v.login, &f.old_password, &f.new_password)
                .await
            {
                let status = account_status(&e);
                return account_response(&s, &v, &headers, status, "", Some(&e)).await;
            }
            // Every session ended with the change: this browser signs in again.
            let addr = address(connect.as_ref().map(|c| &c.0));
            let mut r = Redirect::to("/account?changed=1").into_response();
            *r.status_mut() = StatusCode::SEE_OTHER;
            match s.store.sign_in(&v.login, &f.new_password, &addr).await {
                Ok(session) => {
                    r.headers_mut().append(
                        SET_COOKIE,
                        set_cookie(&s, SESSION_COOKIE, &session.token, None),
                    );
                }
                Err(_) => {
                    r = Redirect::to("/login?next=/account").into_response();
                }
            }
            r
        }
        _ => ApiError::bad_request(&HttpError::InvalidBody("action".into())).into_response(),
    }
}

/// Documents the API token in the OpenAPI document: every operation takes
/// `Authorization: Bearer cl_…` (or the console's session cookie).
pub(crate) struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (cl_…) from `closedloop user token add`; it carries its owner's role and jurisdiction",
                    ))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "api_token",
            Vec::<String>::new(),
        )]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_are_found_in_both_encodings() {
        let url = b"a=1&csrf_token=ab%2Bc&b=2";
        assert_eq!(
            form_token("application/x-www-form-urlencoded", url).as_deref(),
            Some("ab+c")
        );
        let url = b"lang=en&csrf=abc";
        assert_eq!(
            form_token("application/x-www-form-urlencoded", url).as_deref(),
            Some("abc")
        );
        let multi = b"--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx,y\r\n--X\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ndeadbeef\r\n--X--\r\n";
        assert_eq!(
            form_token("multipart/form-data; boundary=X", multi).as_deref(),
            Some("deadbeef")
        );
        assert_eq!(form_token("application/json", b"{}"), None);
        assert_eq!(form_decode("%zz+%41"), "%zz A");
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/cases?x=1")), "/cases?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
