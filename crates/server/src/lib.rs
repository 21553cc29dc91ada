//! The HTTP adapter of closedloop: a JSON API over the [`Store`] and its
//! OpenAPI document. This is the only crate that knows HTTP and the JSON wire
//! shapes; everything crosses the boundary through [`wire`].

mod error;
mod extract;
mod handlers;
mod lang;
mod loop_api;
pub mod wire;

pub use error::{ApiError, ErrorBody, HttpError};
pub use lang::from_accept_language;

use axum::extract::Request;
use axum::routing::{get, post};
use axum::Router;
use chrono_tz::Tz;
use closedloop_domain::region::RegionTree;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// The zone of bulletin days, date filters and the instants the API returns.
    pub time_zone: Tz,
    /// The language of messages when the request names none.
    pub lang: Lang,
    /// The protocol profile of the closed loop; `None` is the shipped default.
    pub profile: Option<closedloop_domain::profile::Profile>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            time_zone: closedloop_domain::time::DEFAULT_TIME_ZONE,
            lang: Lang::default(),
            profile: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

impl ErrorCode for ServerError {
    fn code(&self) -> &'static str {
        match self {
            ServerError::Bind { .. } => "bind_failed",
            ServerError::Serve(_) => "server_failed",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, ServerError::Bind { addr, source }) => {
                format!("无法监听{addr}：{source}")
            }
            (Lang::Zh, ServerError::Serve(e)) => format!("服务异常停止：{e}"),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "closedloop",
        description = "Epidemic command: regions, people, cases, duplicates, daily bulletins and the audit log. \
Every response is JSON. `?lang=zh|en` or Accept-Language picks the language of messages and region names. \
Errors are `{\"error\": code, \"message\": text}` with a stable snake_case code."
    ),
    paths(
        handlers::health,
        handlers::list_regions,
        handlers::get_region,
        handlers::list_persons,
        handlers::get_person,
        handlers::list_cases,
        handlers::get_case,
        handlers::list_duplicates,
        handlers::merge_persons,
        handlers::get_bulletin,
        handlers::list_audit,
        handlers::openapi,
        loop_api::loop_status,
        loop_api::loop_tasks,
        loop_api::post_transition,
        loop_api::accountability,
        loop_api::audit_verify,
    ),
    components(schemas(ErrorBody, loop_api::TransitionBody)),
    tags(
        (name = "health"),
        (name = "regions", description = "Administrative divisions"),
        (name = "persons", description = "People, likely duplicates and merges"),
        (name = "cases"),
        (name = "bulletins", description = "The daily situation report"),
        (name = "audit", description = "Who changed what, when"),
        (name = "meta"),
        (name = "loop", description = "The closed loop: status, tasks, transitions, accountability"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    store: Store,
    tz: Tz,
    lang: Lang,
    openapi: Arc<utoipa::openapi::OpenApi>,
    profile: Option<Arc<closedloop_domain::profile::Profile>>,
}

impl AppState {
    fn view<'a>(&self, lang: Lang, tree: &'a RegionTree) -> wire::View<'a> {
        wire::View {
            tz: self.tz,
            lang,
            tree,
        }
    }
}

/// The application: every route, the language layer and request tracing.
pub fn router(store: Store, cfg: &ServerConfig) -> Router {
    let state = AppState {
        store,
        tz: cfg.time_zone,
        lang: cfg.lang,
        openapi: Arc::new(openapi()),
        profile: cfg
            .profile
            .clone()
            .or_else(|| {
                closedloop_domain::profile::Profile::shipped(
                    closedloop_domain::profile::DEFAULT_PROFILE,
                )
                .ok()
            })
            .map(Arc::new),
    };
    // Spans name the path only: query strings carry names and document numbers.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_failure(DefaultOnFailure::new().level(Level::ERROR));
    Router::new()
        .route("/health", get(handlers::health))
        .route("/api/regions", get(handlers::list_regions))
        .route("/api/regions/{code}", get(handlers::get_region))
        .route("/api/persons", get(handlers::list_persons))
        .route("/api/persons/{id}", get(handlers::get_person))
        .route("/api/cases", get(handlers::list_cases))
        .route("/api/cases/{case_id}", get(handlers::get_case))
        .route("/api/duplicates", get(handlers::list_duplicates))
        .route("/api/duplicates/merge", post(handlers::merge_persons))
        .route("/api/bulletins/{date}", get(handlers::get_bulletin))
        .route("/api/audit", get(handlers::list_audit))
        .route("/api/openapi.json", get(handlers::openapi))
        .route("/api/loop/status", get(loop_api::loop_status))
        .route("/api/loop/tasks", get(loop_api::loop_tasks))
        .route("/api/loop/transitions", post(loop_api::post_transition))
        .route("/api/accountability", get(loop_api::accountability))
        .route("/api/audit/verify", get(loop_api::audit_verify))
        .fallback(handlers::fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            lang::localize,
        ))
        .layer(trace)
        .with_state(state)
}

/// Binds `cfg.bind`, logs the address and serves until `shutdown` completes.
pub async fn serve(
    store: Store,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(cfg.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: cfg.bind,
            source,
        })?;
    serve_on(listener, store, &cfg, shutdown).await
}

/// Serves on a listener already bound (port 0 in tests, or a socket handed over).
pub async fn serve_on(
    listener: TcpListener,
    store: Store,
    cfg: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    tracing::info!(%addr, time_zone = %cfg.time_zone, lang = %cfg.lang, "listening on http://{addr}");
    axum::serve(listener, router(store, cfg))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)?;
    tracing::info!("server stopped");
    Ok(())
}

/// Completes on ctrl-c or, on Unix, SIGTERM (what service managers send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            // Without the handler we must not stop at once: wait for the other signal.
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
