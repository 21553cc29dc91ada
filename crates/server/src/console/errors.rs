//! Errors on pages: the localised error page (404, 403, 500…) in the layout.
//! The message is the error code's text in the reader's language, never the
//! raw code.

use super::{Page, T};
use crate::error::ApiError;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use closedloop_domain::{ErrorCode, Lang};

/// Failures only the console knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageError {
    /// A form came without this session's anti-forgery token.
    Csrf,
}

impl ErrorCode for PageError {
    fn code(&self) -> &'static str {
        match self {
            PageError::Csrf => "csrf_token_invalid",
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
