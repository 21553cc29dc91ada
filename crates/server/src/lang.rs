//! The language of a request: `?lang=` first, then `Accept-Language`, then the
//! deployment's default. One layer picks it, hands it to handlers and writes
//! every error body in it.

use crate::error::{ApiError, HttpError};
use crate::AppState;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::header::{ACCEPT_LANGUAGE, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::Response;
use closedloop_domain::{DomainError, Lang};
use std::convert::Infallible;

/// The language chosen for this request. Never fails: without the layer it is the default.
#[derive(Debug, Clone, Copy)]
pub struct ReqLang(pub Lang);

impl FromRequestParts<AppState> for ReqLang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(ReqLang(
            parts
                .extensions
                .get::<Lang>()
                .copied()
                .unwrap_or(state.lang),
        ))
    }
}

/// Reads a language tag by its primary subtag, so `zh-Hans-CN` and `en-AU` count too.
fn tag_lang(tag: &str) -> Option<Lang> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    if primary.eq_ignore_ascii_case("zh") {
        Some(Lang::Zh)
    } else if primary.eq_ignore_ascii_case("en") {
        Some(Lang::En)
    } else {
        None
    }
}

/// The most preferred language of an `Accept-Language` header that we speak.
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut ranked: Vec<(u16, usize, Lang)> = header
        .split(',')
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let lang = tag_lang(parts.next()?)?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .map_or(Some(1000), |q| {
                    q.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .map(|q| (q * 1000.0).round() as u16)
                })?;
            (q > 0).then_some((q, i, lang))
        })
        .collect();
    // Highest weight first; among equals, the order the client wrote.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|(_, _, lang)| *lang)
}

/// The request's language, or the error for a `?lang=` we do not speak (with
/// the language to write that error in).
pub fn resolve(uri: &Uri, headers: &HeaderMap, default: Lang) -> Result<Lang, (ApiError, Lang)> {
    let fallback = headers
        .get_all(ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(from_accept_language)
        .unwrap_or(default);
    let asked = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .ok()
        .and_then(|Query(pairs)| pairs.into_iter().rev().find(|(k, _)| k == "lang"))
        .map(|(_, v)| v);
    match asked {
        None => Ok(fallback),
        Some(v) if v.trim().is_empty() => Ok(fallback),
        Some(v) => v.parse::<Lang>().map_err(|_| {
            let e = DomainError::UnknownValue {
                value: v.chars().take(40).collect(),
                expected: "zh en",
            };
            (ApiError::bad_request(&e), fallback)
        }),
    }
}

/// Picks the language, then makes sure whatever goes out as an error is our
/// JSON in that language, including axum's own 404/405/415 answers.
pub async fn localize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let lang = match resolve(req.uri(), req.headers(), state.lang) {
        Ok(lang) => lang,
        Err((e, lang)) => return e.to_response(lang),
    };
    req.extensions_mut().insert(lang);
    let response = next.run(req).await;
    if let Some(e) = response.extensions().get::<ApiError>() {
        return e.to_response(lang);
    }
    let status = response.status();
    // JSON errors are ours already; HTML ones are the console's error pages.
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let e = match status {
            StatusCode::METHOD_NOT_ALLOWED => HttpError::MethodNotAllowed,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => HttpError::UnsupportedMediaType,
            StatusCode::PAYLOAD_TOO_LARGE => HttpError::PayloadTooLarge,
            s if s.is_server_error() => HttpError::Internal {
                code: "internal_error",
            },
            s => HttpError::Status(s),
        };
        let mut out = ApiError::new(status, &e).to_response(lang);
        // 405 must keep telling the client which methods exist.
        if let Some(allow) = response.headers().get(axum::http::header::ALLOW) {
            out.headers_mut()
                .insert(axum::http::header::ALLOW, allow.clone());
        }
        return out;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_follows_weights_then_order() {
        assert_eq!(
            from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Lang::Zh)
        );
        assert_eq!(
            from_accept_language("fr-FR, en-GB;q=0.7, zh;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(from_accept_language("zh;q=0.2, en;q=0.9"), Some(Lang::En));
        assert_eq!(from_accept_language("zh-Hans-CN"), Some(Lang::Zh));
        assert_eq!(from_accept_language("en;q=0, zh;q=0.1"), Some(Lang::Zh));
        assert_eq!(from_accept_language("fr, de;q=0.5"), None);
        assert_eq!(from_accept_language("en;q=bogus"), None);
        assert_eq!(from_accept_language(""), None);
    }

    #[test]
    fn the_query_wins_over_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, "en".parse().unwrap());
        let uri: Uri = "/api/regions?lang=zh".parse().unwrap();
        assert_eq!(resolve(&uri, &headers, Lang::En).unwrap(), Lang::Zh);
        let uri: Uri = "/api/regions".parse().unwrap();
        assert_eq!(resolve(&uri, &headers, Lang::Zh).unwrap(), Lang::En);
        let uri: Uri = "/api/regions?lang=fr".parse().unwrap();
        let (e, lang) = resolve(&uri, &headers, Lang::Zh).unwrap_err();
        assert_eq!((e.code, lang), ("unknown_value", Lang::En));
    }
}
