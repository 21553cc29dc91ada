//! The HTTP adapter of closedloop: a JSON API over the [`Store`] and its
//! OpenAPI document. This is the only crate that knows HTTP and the JSON wire
//! shapes; everything crosses the boundary through [`wire`].

mod accounts;
pub mod auth;
mod console;
mod error;
mod extract;
mod facility_api;
mod handlers;
mod lang;
mod loop_api;
mod trace_handlers;
pub mod wire;

pub use error::{ApiError, ErrorBody, HttpError};
pub use lang::from_accept_language;

use accounts::BearerAuth;
use axum::extract::Request;
use axum::routing::{get, post};
use axum::Router;
use chrono_tz::Tz;
use closedloop_domain::profile::{Profile, DEFAULT_PROFILE};
use closedloop_domain::region::RegionTree;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::contact_tracing::{TraceSettings, WarmIndex};
use closedloop_store::{Actor, PurgeSummary, Store, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::RwLock;
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
    /// The protocol profile: tracing rules and the retention of movement data.
    pub profile: Profile,
    /// How often the warm index looks for movement imports made by others (the CLI).
    pub poll_every: Duration,
    /// How often expired movement data is purged (the first purge is at start);
    /// `None` never (the demo: its data is from March 2022, long expired by the clock).
    pub purge_every: Option<Duration>,
    /// How often overdue tasks are escalated (notices sent along the profile's
    /// chain, at the real clock; the first run is at start); `None` never.
    pub escalate_every: Option<Duration>,
    /// Mark cookies `Secure`: the console is served over TLS (directly or
    /// behind a proxy). Off by default (plain HTTP on localhost).
    pub secure_cookies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            time_zone: closedloop_domain::time::DEFAULT_TIME_ZONE,
            lang: Lang::default(),
            // Compiled in and checked by the profile tests: not input.
            profile: Profile::shipped(DEFAULT_PROFILE).expect("the default profile is valid"),
            poll_every: Duration::from_secs(60),
            purge_every: Some(Duration::from_secs(86_400)),
            escalate_every: Some(Duration::from_secs(60)),
            secure_cookies: false,
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
Errors are `{\"error\": code, \"message\": text}` with a stable snake_case code. \
Every endpoint but /health and /api/openapi.json needs a signed-in user: `Authorization: Bearer cl_…` (an API token) \
or the console's session cookie (whose changes also carry the X-CSRF-Token header). Records outside the user's jurisdiction answer 404."
    ),
    modifiers(&BearerAuth),
    paths(
        handlers::health,
        handlers::list_regions,
        handlers::get_region,
        handlers::list_persons,
        handlers::get_person,
        handlers::list_cases,
        handlers::get_case,
        handlers::register_case,
        handlers::case_contacts,
        handlers::person_exposures,
        handlers::list_clusters,
        handlers::get_cluster,
        handlers::get_chain,
        handlers::import_movements,
        handlers::list_duplicates,
        handlers::merge_persons,
        handlers::get_bulletin,
        handlers::list_audit,
        handlers::openapi,
        loop_api::loop_status,
        loop_api::loop_tasks,
        loop_api::post_transition,
        loop_api::post_test_result,
        loop_api::accountability,
        loop_api::audit_verify,
        loop_api::list_notices,
        loop_api::acknowledge_notice,
        facility_api::list_facilities,
    ),
    components(schemas(ErrorBody, loop_api::TransitionBody, loop_api::TestResultBody, loop_api::AcknowledgeBody)),
    tags(
        (name = "health"),
        (name = "regions", description = "Administrative divisions"),
        (name = "persons", description = "People, likely duplicates and merges"),
        (name = "cases"),
        (name = "tracing", description = "Contacts, exposures, clusters and transmission chains; movement imports"),
        (name = "bulletins", description = "The daily situation report"),
        (name = "audit", description = "Who changed what, when"),
        (name = "meta"),
        (name = "loop", description = "The closed loop: status, tasks, escalation notices, transitions, accountability"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of this API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The trace index kept in memory, shared by the handlers and the background tasks.
#[derive(Clone, Default)]
pub struct SharedIndex(Arc<RwLock<Option<WarmIndex>>>);

impl SharedIndex {
    /// Loads the index on first use, then brings it up to date with the store:
    /// movement imports made since (here or by the CLI) extend it in place.
    pub async fn refresh(
        &self,
        store: &Store,
    ) -> Result<closedloop_store::contact_tracing::Refresh, StoreError> {
        let mut guard = self.0.write().await;
        match guard.as_mut() {
            Some(index) => index.refresh(store).await,
            None => {
                let index = WarmIndex::load(store).await?;
                tracing::info!(stays = index.len(), "trace index loaded");
                *guard = Some(index);
                Ok(closedloop_store::contact_tracing::Refresh {
                    added: 0,
                    rebuilt: true,
                })
            }
        }
    }

    /// Stays in the index (0 before it is loaded).
    pub async fn len(&self) -> usize {
        self.0.read().await.as_ref().map_or(0, WarmIndex::len)
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    store: Store,
    tz: Tz,
    lang: Lang,
    openapi: Arc<utoipa::openapi::OpenApi>,
    index: SharedIndex,
    tracing: Arc<TraceSettings>,
    /// The profile in force, for the closed loop.
    profile: Arc<Profile>,
    /// Whether cookies are marked `Secure`.
    secure_cookies: bool,
    /// The region tree and jurisdiction subtrees, read once a minute.
    regions: accounts::RegionCache,
    /// Dashboards computed, valid while the audit head is unchanged.
    dashboards: console::dashboard::DashCache,
    /// Clusters computed, valid while the audit head is unchanged.
    clusters: trace_handlers::ClusterCache,
}

impl AppState {
    /// The region tree, from the cache (regions change only by import).
    pub(crate) async fn region_tree(&self) -> Result<Arc<RegionTree>, StoreError> {
        self.regions.tree(&self.store).await
    }

    fn view<'a>(&self, lang: Lang, tree: &'a RegionTree) -> wire::View<'a> {
        wire::View {
            tz: self.tz,
            lang,
            tree,
        }
    }
}

/// The application: every route, the language layer and request tracing.
/// The trace index loads on first use; [`serve_on`] loads it at start.
pub fn router(store: Store, cfg: &ServerConfig) -> Router {
    router_with_index(store, cfg, SharedIndex::default())
}

/// [`router`] over an index shared with the background tasks.
pub fn router_with_index(store: Store, cfg: &ServerConfig, index: SharedIndex) -> Router {
    let state = AppState {
        store,
        tz: cfg.time_zone,
        lang: cfg.lang,
        openapi: Arc::new(openapi()),
        index,
        tracing: Arc::new(TraceSettings::from_profile(&cfg.profile, cfg.time_zone)),
        profile: Arc::new(cfg.profile.clone()),
        secure_cookies: cfg.secure_cookies,
        regions: accounts::RegionCache::default(),
        dashboards: console::dashboard::DashCache::default(),
        clusters: trace_handlers::ClusterCache::default(),
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
        .route(
            "/api/cases",
            get(handlers::list_cases).post(handlers::register_case),
        )
        .route("/api/cases/{case_id}", get(handlers::get_case))
        .route(
            "/api/cases/{case_id}/contacts",
            get(handlers::case_contacts),
        )
        .route(
            "/api/persons/{id}/exposures",
            get(handlers::person_exposures),
        )
        .route("/api/clusters", get(handlers::list_clusters))
        .route("/api/clusters/{id}", get(handlers::get_cluster))
        .route("/api/clusters/{id}/chain", get(handlers::get_chain))
        .route(
            "/api/import/{kind}",
            post(handlers::import_movements).layer(axum::extract::DefaultBodyLimit::max(
                handlers::MAX_IMPORT_BYTES,
            )),
        )
        .route("/api/duplicates", get(handlers::list_duplicates))
        .route("/api/duplicates/merge", post(handlers::merge_persons))
        .route("/api/bulletins/{date}", get(handlers::get_bulletin))
        .route("/api/audit", get(handlers::list_audit))
        .route("/api/openapi.json", get(handlers::openapi))
        .route("/api/loop/status", get(loop_api::loop_status))
        .route("/api/loop/tasks", get(loop_api::loop_tasks))
        .route("/api/loop/transitions", post(loop_api::post_transition))
        .route("/api/loop/results", post(loop_api::post_test_result))
        .route("/api/accountability", get(loop_api::accountability))
        .route("/api/audit/verify", get(loop_api::audit_verify))
        .route("/api/loop/notices", get(loop_api::list_notices))
        .route(
            "/api/loop/notices/{id}/acknowledge",
            post(loop_api::acknowledge_notice),
        )
        .merge(console::routes())
        .merge(accounts::routes())
        .route("/api/facilities", get(facility_api::list_facilities))
        .fallback(handlers::fallback)
        // Who is asking (session cookie or API token, CSRF), inside the
        // language layer so errors leave in the user's language.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            accounts::authenticate,
        ))
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
/// Before answering it loads the trace index and purges expired movement
/// data; then it polls for movement imports every `poll_every` and purges
/// every `purge_every`.
pub async fn serve_on(
    listener: TcpListener,
    store: Store,
    cfg: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    let index = SharedIndex::default();
    let tasks = background(store.clone(), cfg, index.clone());
    tracing::info!(%addr, time_zone = %cfg.time_zone, lang = %cfg.lang, "listening on http://{addr}");
    // The peer's address reaches the sign-in throttle through ConnectInfo.
    let served = axum::serve(
        listener,
        router_with_index(store, cfg, index).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServerError::Serve);
    tasks.abort();
    served?;
    tracing::info!("server stopped");
    Ok(())
}

/// Deletes movement data older than `retention_days` before now, audited as
/// `actor`, and logs what went.
pub async fn purge_expired(
    store: &Store,
    retention_days: u32,
    actor: &Actor,
) -> Result<PurgeSummary, StoreError> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(retention_days));
    let purged = store.purge_movements(cutoff, actor).await?;
    tracing::info!(
        before = %cutoff.to_rfc3339(),
        checkins = purged.checkins,
        trip_seats = purged.trip_seats,
        "purged expired movement data"
    );
    Ok(purged)
}

/// The purge (at once, then every `purge_every`), the escalation of overdue
/// tasks (at once, then every `escalate_every`) and the index poll (at once,
/// which loads it, then every `poll_every`), on one task.
fn background(store: Store, cfg: &ServerConfig, index: SharedIndex) -> tokio::task::JoinHandle<()> {
    let retention = cfg.profile.retention.movement_days;
    let (poll_every, purge_every) = (cfg.poll_every, cfg.purge_every);
    let (profile, escalate_every) = (cfg.profile.clone(), cfg.escalate_every);
    tokio::spawn(async move {
        let escalating = escalate_every.is_some();
        let mut escalate =
            tokio::time::interval(escalate_every.unwrap_or(Duration::from_secs(365 * 86_400)));
        escalate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let escalator = Actor("server:escalation".into());
        let purging = purge_every.is_some();
        // Without purges the interval only ticks once a year, and is ignored.
        let mut purge =
            tokio::time::interval(purge_every.unwrap_or(Duration::from_secs(365 * 86_400)));
        let mut poll = tokio::time::interval(poll_every);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let actor = Actor("server:retention".into());
        loop {
            tokio::select! {
                _ = purge.tick(), if purging => {
                    if let Err(e) = purge_expired(&store, retention, &actor).await {
                        tracing::error!(error = %e, "purge of expired movement data failed");
                    }
                }
                _ = escalate.tick(), if escalating => {
                    match store.escalate(&profile, chrono::Utc::now().timestamp(), &escalator).await {
                        Ok(s) if s.created > 0 => tracing::info!(created = s.created, "escalation notices sent"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "escalation failed"),
                    }
                }
                _ = poll.tick() => {
                    match index.refresh(&store).await {
                        Ok(r) if r.added > 0 || r.rebuilt => {
                            let stays = index.len().await;
                            tracing::info!(added = r.added, rebuilt = r.rebuilt, stays, "trace index brought up to date");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "trace index refresh failed"),
                    }
                }
            }
        }
    })
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
