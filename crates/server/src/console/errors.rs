//! Errors on pages: the localised error page (404, 403, 500…) in the layout.
//! The message is the error code's text in the reader's language, never the
//! raw code.

use super::{current_path, Page, T};
use crate::auth::Viewer;
use crate::error::ApiError;
use crate::error::HttpError;
use crate::lang::ReqLang;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::ACCEPT;
use axum::http::StatusCode;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{Html, IntoResponse, Response};
use closedloop_domain::{ErrorCode, Lang};

/// Failures only the console knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageError {
    /// A form came without this session's anti-forgery token.
    Csrf,
    /// A browser asked for a page that does not exist.
    NoSuchPage(String),
}

impl ErrorCode for PageError {
    fn code(&self) -> &'static str {
        match self {
            PageError::Csrf => "csrf_token_invalid",
            PageError::NoSuchPage(_) => "not_found",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match self {
            PageError::Csrf => lang
                .pick(
                    "表单已过期或来源不明，请返回页面刷新后重试",
                    "the form has expired or did not come from this console: go back, reload the page and try again",
                )
                .to_string(),
            PageError::NoSuchPage(path) => match lang {
                Lang::Zh => format!("没有这个页面：{path}"),
                Lang::En => format!("no such page: {path}"),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTpl<'a> {
    page: &'a Page,
    status: u16,
    heading: &'static str,
    message: String,
}

/// The error page for `e`, with `e`'s status.
pub(crate) fn error_page(page: &Page, e: &ApiError) -> Response {
    let heading = match e.status {
        StatusCode::NOT_FOUND => T::NotFoundTitle,
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => T::ForbiddenTitle,
        s if s.is_server_error() => T::ServerErrorTitle,
        _ => T::ErrorTitle,
    };
    let tpl = ErrorTpl {
        page,
        status: e.status.as_u16(),
        heading: heading.get(page.lang),
        message: e.body(page.lang).message,
    };
    let body = match tpl.render() {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(error = %err, "error template failed");
            format!(
                "<!doctype html><title>{0}</title><h1>{0}</h1>",
                heading.get(page.lang)
            )
        }
    };
    (e.status, Html(body)).into_response()
}

/// Every path no route knows. Browsers asking for a page get the localised
/// 404 page in the layout; everything else (the API, scripts, other methods)
/// gets the JSON error the API has always answered.
pub(crate) async fn not_found(
    State(s): State<AppState>,
    ReqLang(lang): ReqLang,
    viewer: Option<axum::Extension<Viewer>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    let wants_html = method == Method::GET
        && !path.starts_with("/api/")
        && headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            &HttpError::RouteNotFound {
                method: method.to_string(),
                path,
            },
        )
        .into_response();
    }
    let here = current_path(&uri);
    let page = match viewer {
        Some(axum::Extension(v)) => Page::new(&s, &v, &headers, &here, T::NotFoundTitle).await,
        None => Page::anonymous(&s, lang, &headers, &here, T::NotFoundTitle),
    };
    error_page(
        &page,
        &ApiError::new(StatusCode::NOT_FOUND, &PageError::NoSuchPage(path)),
    )
}
