//! Errors on the wire: every failure leaves as `{"error": code, "message": text}`
//! with the message in the request's language.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use closedloop_domain::{DomainError, ErrorCode, Lang};
use closedloop_store::{StoreError, StoreRowError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"error": "not_found", "message": "person 42 not found"}))]
pub struct ErrorBody {
    /// Stable snake_case code, for programs.
    pub error: String,
    /// The same, for people, in the request's language.
    pub message: String,
}

/// Things a request refers to, named in the reader's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Person,
    Case,
    Region,
    Cluster,
    /// Anything the store names that the server has no label for.
    Other(&'static str),
}

impl Entity {
    fn from_store(name: &'static str) -> Entity {
        match name {
            "person" => Entity::Person,
            "case" => Entity::Case,
            "region" => Entity::Region,
            "cluster" => Entity::Cluster,
            other => Entity::Other(other),
        }
    }

    fn label(self, lang: Lang) -> &'static str {
        match self {
            Entity::Person => lang.pick("人员", "person"),
            Entity::Case => lang.pick("病例", "case"),
            Entity::Region => lang.pick("区划", "region"),
            Entity::Cluster => lang.pick("聚集性疫情", "cluster"),
            Entity::Other("import kind") => lang.pick("导入类型", "import kind"),
            Entity::Other(name) => name,
        }
    }
}

/// Failures that only the HTTP adapter knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    NotFound {
        entity: Entity,
        id: String,
    },
    RouteNotFound {
        method: String,
        path: String,
    },
    MethodNotAllowed,
    InvalidQuery(String),
    InvalidBody(String),
    UnsupportedMediaType,
    PayloadTooLarge,
    /// A bulletin needs a region when the tree has no single root.
    RegionRequired,
    /// A 5xx whose cause stays in the server log.
    Internal {
        code: &'static str,
    },
    /// Any other status a layer below produced without a body of ours.
    Status(StatusCode),
    /// No session or API token (401).
    SignInRequired,
    /// The role may not do this (403).
    Forbidden(closedloop_domain::access::Capability),
}

impl ErrorCode for HttpError {
    fn code(&self) -> &'static str {
        match self {
            HttpError::NotFound { .. } | HttpError::RouteNotFound { .. } => "not_found",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::InvalidQuery(_) => "invalid_query",
            HttpError::InvalidBody(_) => "invalid_body",
            HttpError::UnsupportedMediaType => "unsupported_media_type",
            HttpError::PayloadTooLarge => "payload_too_large",
            HttpError::RegionRequired => "region_required",
            HttpError::Internal { code } => code,
            HttpError::SignInRequired => "sign_in_required",
            HttpError::Forbidden(_) => "forbidden",
            HttpError::Status(s) if s.is_server_error() => "internal_error",
            HttpError::Status(_) => "bad_request",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (_, HttpError::NotFound { entity, id }) => match lang {
                Lang::Zh => format!("未找到{}{id}", entity.label(lang)),
                Lang::En => format!("{} {id} not found", entity.label(lang)),
            },
            (Lang::Zh, HttpError::RouteNotFound { method, path }) => {
                format!("没有这个接口：{method} {path}")
            }
            (Lang::En, HttpError::RouteNotFound { method, path }) => {
                format!("no such endpoint: {method} {path}")
            }
            (Lang::Zh, HttpError::MethodNotAllowed) => "该接口不支持此请求方法".into(),
            (Lang::En, HttpError::MethodNotAllowed) => {
                "this endpoint does not accept that method".into()
            }
            (Lang::Zh, HttpError::InvalidQuery(d)) => format!("查询参数无效：{d}"),
            (Lang::En, HttpError::InvalidQuery(d)) => format!("invalid query parameters: {d}"),
            (Lang::Zh, HttpError::InvalidBody(d)) => format!("请求体无效：{d}"),
            (Lang::En, HttpError::InvalidBody(d)) => format!("invalid request body: {d}"),
            (Lang::Zh, HttpError::UnsupportedMediaType) => {
                "请求体须为JSON（Content-Type: application/json）".into()
            }
            (Lang::En, HttpError::UnsupportedMediaType) => {
                "the body must be JSON (Content-Type: application/json)".into()
            }
            (Lang::Zh, HttpError::PayloadTooLarge) => "请求体过大".into(),
            (Lang::En, HttpError::PayloadTooLarge) => "the request body is too large".into(),
            (Lang::Zh, HttpError::RegionRequired) => {
                "区划不止一个顶级，请用 region 参数指定区划".into()
            }
            (Lang::En, HttpError::RegionRequired) => {
                "there is no single top-level region: give one with the region parameter".into()
            }
            (Lang::Zh, HttpError::Internal { .. }) => {
                "服务器内部错误（数据库），详情已记入服务器日志".into()
            }
            (Lang::En, HttpError::Internal { .. }) => {
                "internal error (database); the details are in the server log".into()
            }
            (Lang::Zh, HttpError::SignInRequired) => {
                "请先登录（或在 Authorization 头中提供 API 令牌）".into()
            }
            (Lang::En, HttpError::SignInRequired) => {
                "sign in first (or send an API token in the Authorization header)".into()
            }
            (Lang::Zh, HttpError::Forbidden(c)) => format!("您的角色无权{}", c.label(lang)),
            (Lang::En, HttpError::Forbidden(c)) => {
                format!("your role may not: {}", c.label(lang))
            }
            (Lang::Zh, HttpError::Status(s)) => format!("请求失败（HTTP {}）", s.as_u16()),
            (Lang::En, HttpError::Status(s)) => format!(
                "request failed (HTTP {} {})",
                s.as_u16(),
                s.canonical_reason().unwrap_or_default()
            ),
        }
    }
}

/// An error on its way out. Both languages are rendered up front so the
/// response can be finished by the layer that knows the request's language.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    zh: String,
    en: String,
}

impl ApiError {
    pub fn new(status: StatusCode, e: &impl ErrorCode) -> ApiError {
        ApiError {
            status,
            code: e.code(),
            zh: e.message(Lang::Zh),
            en: e.message(Lang::En),
        }
    }

    pub fn not_found(entity: Entity, id: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            &HttpError::NotFound {
                entity,
                id: id.into(),
            },
        )
    }

    pub fn bad_request(e: &impl ErrorCode) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, e)
    }

    pub fn body(&self, lang: Lang) -> ErrorBody {
        ErrorBody {
            error: self.code.to_string(),
            message: match lang {
                Lang::Zh => self.zh.clone(),
                Lang::En => self.en.clone(),
            },
        }
    }

    /// The finished response in `lang`.
    pub fn to_response(&self, lang: Lang) -> Response {
        (self.status, Json(self.body(lang))).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // English until the language layer rewrites it; kept in the extensions for that.
        let mut response = self.to_response(Lang::En);
        response.extensions_mut().insert(self);
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        ApiError::bad_request(&e)
    }
}

impl From<StoreRowError> for ApiError {
    fn from(e: StoreRowError) -> ApiError {
        ApiError::bad_request(&e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound { entity, id } => {
                ApiError::not_found(Entity::from_store(entity), id)
            }
            StoreError::Invalid(_) | StoreError::Rejected(..) => ApiError::bad_request(&e),
            other => {
                // The store's text can name tables, hosts or stored values: it goes
                // to the log, the client gets the code and a fixed message.
                tracing::error!(error = %other, code = other.code(), "store failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &HttpError::Internal { code: other.code() },
                )
            }
        }
    }
}
