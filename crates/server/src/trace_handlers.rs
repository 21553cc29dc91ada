//! Tracing endpoints: registering a case (traced at once on the warm index),
//! movement imports (which extend it), contacts, exposures, clusters, chains.

use crate::auth::Viewer;
use crate::error::{ApiError, Entity, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::handlers::LangParam;
use crate::lang::ReqLang;
use crate::wire::*;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use closedloop_domain::access::Capability;
use closedloop_domain::region::RegionTree;
use closedloop_domain::time::parse_instant;
use closedloop_domain::{DomainError, ErrorCode, Lang};
use closedloop_ingest::{FileFormat, Parsed, Row, Table};
use closedloop_store::{Actor, AuditHead, ClusterReport, ImportMode, RowRejection, StoreError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use utoipa::IntoParams;

/// The largest movement file one request may carry.
pub const MAX_IMPORT_BYTES: usize = 256 * 1024 * 1024;
/// Refused rows named in one error message.
const SHOWN_ROWS: usize = 20;

/// Every refused row of a request, as one error: the first row's code, and a
/// message listing them (line, column, reason).
struct Rows {
    code: &'static str,
    zh: Vec<String>,
    en: Vec<String>,
}

impl ErrorCode for Rows {
    fn code(&self) -> &'static str {
        self.code
    }

    fn message(&self, lang: Lang) -> String {
        let lines = match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        };
        let mut out: Vec<String> = lines.iter().take(SHOWN_ROWS).cloned().collect();
        if lines.len() > SHOWN_ROWS {
            out.push(lang.text(
                format!("……另有{}行", lines.len() - SHOWN_ROWS),
                format!("… and {} more", lines.len() - SHOWN_ROWS),
            ));
        }
        out.join("; ")
    }
}

fn parse_errors<T>(parsed: &Parsed<T>) -> Result<(), ApiError> {
    match parsed.errors.first() {
        None => Ok(()),
        Some(first) => Err(ApiError::bad_request(&Rows {
            code: first.code(),
            zh: parsed.errors.iter().map(|e| e.message(Lang::Zh)).collect(),
            en: parsed.errors.iter().map(|e| e.message(Lang::En)).collect(),
        })),
    }
}

/// Rows the store refused (unknown region or venue, conflicts) as one error.
fn refused(source: &str, rows: &[RowRejection]) -> ApiError {
    let line = |r: &RowRejection, lang: Lang| match lang {
        Lang::Zh => format!(
            "{source} 第{}行，{}列：{}",
            r.line,
            r.column,
            r.error.message(lang)
        ),
        Lang::En => format!(
            "{source} line {}, column {}: {}",
            r.line,
            r.column,
            r.error.message(lang)
        ),
    };
    ApiError::bad_request(&Rows {
        code: rows.first().map_or("rows_rejected", |r| r.error.code()),
        zh: rows.iter().map(|r| line(r, Lang::Zh)).collect(),
        en: rows.iter().map(|r| line(r, Lang::En)).collect(),
    })
}

fn store_failure(source: &str, e: StoreError) -> ApiError {
    match e {
        StoreError::Rejected(_, rows) => refused(source, &rows),
        other => other.into(),
    }
}

/// A case already registered under this id.
struct CaseExists(String);

impl ErrorCode for CaseExists {
    fn code(&self) -> &'static str {
        "case_exists"
    }

    fn message(&self, lang: Lang) -> String {
        lang.text(
            format!(
                "病例{}已登记；修改请用 closedloop import cases --update",
                self.0
            ),
            format!(
                "case {} is already registered; change it with closedloop import cases --update",
                self.0
            ),
        )
    }
}

#[utoipa::path(
    post, path = "/api/cases", tag = "tracing",
    params(LangParam),
    request_body(
        content = Object,
        description = "One case as an object of the cases contract's columns (case_id, document_type, document_number, name, reporting_region, classification, origin, report_time, and optionally sex, birth_date, residence_region, clinical_type, discovery_channel, onset_date, sample_time, reclassified_at, outcome, outcome_time, isolated_at), values as text, checked like a file row."
    ),
    responses(
        (status = 201, description = "The case, registered and traced at once on the warm index, with its contacts", body = RegisteredCase),
        (status = 400, description = "A bad value (the code of the first, every field named)", body = ErrorBody),
        (status = 409, description = "case_exists: a case with this case_id is registered", body = ErrorBody),
    )
)]
pub async fn register_case(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiJson(body): ApiJson<BTreeMap<String, Option<serde_json::Value>>>,
) -> Result<Response, ApiError> {
    viewer.require(Capability::ChangeRegistry)?;
    let (headers, cells): (Vec<String>, Vec<String>) = body
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(t)) => t.trim().to_string(),
                Some(other) => other.to_string(),
            };
            (k.trim().to_string(), text)
        })
        .unzip();
    let table = Table {
        source: "request".into(),
        headers,
        rows: vec![Row::new(1, cells)],
    };
    let parsed =
        closedloop_ingest::parse_cases(&table, s.tz).map_err(|e| ApiError::bad_request(&e))?;
    parse_errors(&parsed)?;
    let Some((_, draft)) = parsed.records.first() else {
        return Err(DomainError::Missing.into());
    };
    // Only cases reported in the jurisdiction.
    if !viewer.covers_region(&draft.reporting_region) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            &crate::error::HttpError::Forbidden(Capability::ChangeRegistry),
        ));
    }
    if s.store.case(&draft.case_id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            &CaseExists(draft.case_id.clone()),
        ));
    }
    let actor = viewer.actor();
    s.store
        .import_cases(&parsed.records, ImportMode::default(), "api", &actor)
        .await
        .map_err(|e| store_failure("request", e))?;
    let case = s
        .store
        .case(&draft.case_id)
        .await?
        .ok_or_else(|| ApiError::not_found(Entity::Case, draft.case_id.clone()))?;
    trace_new_case(&s, &case, &actor).await?;
    let contacts = s.store.contacts_of_case(&case.case.case_id).await?;
    let tree = s.region_tree().await?;
    let v = s.view(lang, &tree);
    Ok((
        StatusCode::CREATED,
        Json(RegisteredCase {
            case: CaseOut::new(&case, &v),
            contacts: contacts_shown(&s, &viewer, contacts, &v).await?,
        }),
    )
        .into_response())
}

#[utoipa::path(
    post, path = "/api/import/{kind}", tag = "tracing",
    params(("kind" = String, Path, description = "venues, checkins or trips"), LangParam),
    request_body(content = String, content_type = "text/csv", description = "The file, CSV (UTF-8), under the same contract as closedloop import"),
    responses(
        (status = 200, description = "Imported in one transaction; the warm index is extended", body = ImportOut),
        (status = 400, description = "Bad rows (line and column named); nothing was written", body = ErrorBody),
        (status = 404, description = "No such kind", body = ErrorBody),
    )
)]
pub async fn import_movements(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiPath(kind): ApiPath<String>,
    body: Bytes,
) -> Result<Json<ImportOut>, ApiError> {
    viewer.require(Capability::RunTracing)?;
    let kind = kind.trim().to_ascii_lowercase();
    let source = format!("{kind}.csv");
    let table = closedloop_ingest::read_table_from(body.as_ref(), FileFormat::Csv, &source)
        .map_err(|e| ApiError::bad_request(&e))?;
    let actor = viewer.actor();
    let mode = ImportMode::default();
    let bad = |e: closedloop_ingest::FileError| ApiError::bad_request(&e);
    let summary = match kind.as_str() {
        "venues" => {
            let parsed = closedloop_ingest::parse_venues(&table).map_err(bad)?;
            parse_errors(&parsed)?;
            s.store
                .import_venues(&parsed.records, mode, &source, &actor)
                .await
        }
        "checkins" => {
            let parsed = closedloop_ingest::parse_checkins(&table, s.tz).map_err(bad)?;
            parse_errors(&parsed)?;
            s.store
                .import_checkins_with_progress(&parsed.records, mode, &source, &actor, &|_| {})
                .await
        }
        "trips" => {
            let parsed = closedloop_ingest::parse_trips(&table).map_err(bad)?;
            parse_errors(&parsed)?;
            s.store
                .import_trips(&parsed.records, mode, &source, &actor)
                .await
        }
        other => {
            return Err(ApiError::not_found(
                Entity::Other("import kind"),
                other.chars().take(40).collect::<String>(),
            ))
        }
    }
    .map_err(|e| store_failure(&source, e))?;
    let refresh = s.index.refresh(&s.store).await?;
    tracing::info!(kind = %kind, created = summary.created, added = refresh.added, "movement import");
    Ok(Json(ImportOut {
        batch: summary.batch,
        created: summary.created,
        updated: summary.updated,
        unchanged: summary.unchanged,
        index_stays: s.index.len().await,
    }))
}

#[utoipa::path(
    get, path = "/api/cases/{case_id}/contacts", tag = "tracing",
    params(("case_id" = String, Path, description = "Case id"), LangParam),
    responses(
        (status = 200, description = "The case's contacts, closest first: category, degree, first exposure, via, why", body = ContactList),
        (status = 404, description = "No such case", body = ErrorBody),
    )
)]
pub async fn case_contacts(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<ContactList>, ApiError> {
    viewer.require(Capability::ReadTracing)?;
    let id = case_id.trim();
    if s.store.case_in(id, viewer.scope()).await?.is_none() {
        return Err(ApiError::not_found(Entity::Case, id));
    }
    let contacts = s.store.contacts_of_case(id).await?;
    let tree = RegionTree::default();
    let v = s.view(lang, &tree);
    Ok(Json(ContactList {
        items: contacts_shown(&s, &viewer, contacts, &v).await?,
    }))
}

#[utoipa::path(
    get, path = "/api/persons/{id}/exposures", tag = "tracing",
    params(("id" = i64, Path, description = "Person id"), LangParam),
    responses(
        (status = 200, description = "Every case this person is a contact of, earliest exposure first", body = ContactList),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
pub async fn person_exposures(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<ContactList>, ApiError> {
    viewer.require(Capability::ReadTracing)?;
    let id = raw.trim().parse::<i64>().map_err(|_| {
        ApiError::not_found(Entity::Person, raw.chars().take(40).collect::<String>())
    })?;
    if s.store.person_in(id, viewer.scope()).await?.is_none() {
        return Err(ApiError::not_found(Entity::Person, id.to_string()));
    }
    let exposures = s.store.exposures_of_person(id).await?;
    let tree = RegionTree::default();
    let v = s.view(lang, &tree);
    Ok(Json(ContactList {
        items: exposures
            .into_iter()
            .map(|c| ContactOut::new(c, &v))
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClustersQuery {
    /// Only cases reported, and exposures begun, by this instant (RFC 3339; default now).
    pub as_of: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChainQuery {
    /// Only cases reported, and exposures begun, by this instant (RFC 3339; default now).
    pub as_of: Option<String>,
    /// json (default) or dot (GraphViz, as text/vnd.graphviz).
    pub format: Option<String>,
    /// With dot: draw the transmission tree (each case's likely infector,
    /// other candidates dotted) instead of every link.
    pub tree: Option<bool>,
}

fn as_of(raw: &Option<String>, s: &AppState) -> Result<i64, ApiError> {
    match raw.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(chrono::Utc::now().timestamp()),
        Some(t) => parse_instant(t, s.tz)
            .map(|t| t.timestamp())
            .ok_or_else(|| DomainError::InvalidTime(t.chars().take(40).collect()).into()),
    }
}

#[utoipa::path(
    get, path = "/api/clusters", tag = "tracing",
    params(ClustersQuery, LangParam),
    responses(
        (status = 200, description = "Clusters (聚集性疫情), largest first: size, places, institutions, first and last case, regions", body = ClusterList),
        (status = 400, description = "A bad as_of", body = ErrorBody),
    )
)]
pub async fn list_clusters(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiQuery(q): ApiQuery<ClustersQuery>,
) -> Result<Json<ClusterList>, ApiError> {
    viewer.require(Capability::ReadTracing)?;
    let at = as_of(&q.as_of, &s)?;
    let clusters = clusters_for(&viewer, &clusters_at(&s, at).await?);
    let tree = s.region_tree().await?;
    let v = s.view(lang, &tree);
    Ok(Json(ClusterList {
        items: clusters.iter().map(|c| ClusterOut::new(c, &v)).collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/clusters/{id}", tag = "tracing",
    params(("id" = String, Path, description = "The cluster: its first case's id"), ClustersQuery, LangParam),
    responses(
        (status = 200, description = "The cluster", body = ClusterOut),
        (status = 404, description = "No such cluster", body = ErrorBody),
    )
)]
pub async fn get_cluster(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ClustersQuery>,
) -> Result<Json<ClusterOut>, ApiError> {
    viewer.require(Capability::ReadTracing)?;
    let at = as_of(&q.as_of, &s)?;
    let cluster = cluster_in(&s, &viewer, id.trim(), at).await?;
    let tree = s.region_tree().await?;
    let v = s.view(lang, &tree);
    Ok(Json(ClusterOut::new(&cluster, &v)))
}

#[utoipa::path(
    get, path = "/api/clusters/{id}/chain", tag = "tracing",
    params(("id" = String, Path, description = "The cluster: its first case's id"), ChainQuery, LangParam),
    responses(
        (status = 200, description = "Transmission edges (directed) and shared exposures (undirected) inside the cluster; with format=dot, GraphViz DOT", body = ChainOut),
        (status = 400, description = "A bad format or as_of", body = ErrorBody),
        (status = 404, description = "No such cluster", body = ErrorBody),
    )
)]
pub async fn get_chain(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ChainQuery>,
) -> Result<Response, ApiError> {
    viewer.require(Capability::ReadTracing)?;
    let at = as_of(&q.as_of, &s)?;
    let dot = match q
        .format
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("json") => false,
        Some("dot") | Some("gv") => true,
        Some(other) => {
            return Err(DomainError::UnknownValue {
                value: other.chars().take(40).collect(),
                expected: "json dot",
            }
            .into())
        }
    };
    let cluster = cluster_in(&s, &viewer, id.trim(), at).await?;
    if dot {
        return Ok((
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            if q.tree.unwrap_or(false) {
                cluster.tree_dot(s.tz)
            } else {
                cluster.dot(s.tz)
            },
        )
            .into_response());
    }
    let tree = RegionTree::default();
    let v = s.view(lang, &tree);
    Ok(Json(ChainOut::new(&cluster, &v)).into_response())
}

/// Traces a newly registered case at once on the warm index (loaded now if
/// this is its first use) and records its contacts: the server's one way
/// into [`closedloop_store::Store::trace_and_record`].
pub(crate) async fn trace_new_case(
    s: &AppState,
    case: &closedloop_store::CaseRecord,
    actor: &Actor,
) -> Result<(), ApiError> {
    s.index.refresh(&s.store).await?;
    let mut guard = s.index.0.write().await;
    if let Some(index) = guard.as_mut() {
        index.add_case(case);
        let changes = s
            .store
            .trace_and_record(
                index,
                std::slice::from_ref(case),
                &s.tracing,
                chrono::Utc::now().timestamp(),
                actor,
            )
            .await?;
        tracing::info!(case = %case.case.case_id, created = changes.created, "case registered and traced");
    }
    Ok(())
}

/// A cluster in the viewer's jurisdiction (one of its cases reported there),
/// by its id as the viewer reads it ([`clusters_for`]); one outside is the
/// same 404 as no such cluster.
pub(crate) async fn cluster_in(
    s: &AppState,
    viewer: &Viewer,
    id: &str,
    at: i64,
) -> Result<ClusterReport, ApiError> {
    clusters_for(viewer, &clusters_at(s, at).await?)
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| {
            ApiError::not_found(Entity::Cluster, id.chars().take(64).collect::<String>())
        })
}

/// The clusters the viewer may read (one of their cases reported in the
/// jurisdiction), each masked for the viewer.
pub(crate) fn clusters_for(viewer: &Viewer, all: &[ClusterReport]) -> Vec<ClusterReport> {
    all.iter()
        .filter(|c| closedloop_store::access::cluster_in(c, viewer.scope()))
        .map(|c| masked_for(viewer, c))
        .collect()
}

/// A cluster as the viewer reads it: their own cases in full, the others
/// (a cluster can cross regions) under a pseudonym
/// ([`crate::wire::pseudonymise_case`]), the cluster's id included.
fn masked_for(viewer: &Viewer, c: &ClusterReport) -> ClusterReport {
    c.masked(
        |m| viewer.scope().covers(Some(&m.reporting_region)),
        |m| pseudonymise_case(&m.case_id, m.person_id),
    )
}

/// Clusters computed, each with the audit head it was computed at and the
/// span of as-of instants it answers for ([`closedloop_store::Store::clusters_span`]).
/// The mechanism of the dashboard's cache (`console::dashboard::DashCache`):
/// every write the clusters read (cases, contact records, venues) writes
/// an audit record in its transaction, so an unchanged head means unchanged
/// clusters; and with "now" as the cut-off, the report stays the same until
/// the next report time or exposure after it. A hit costs one read of the
/// head. Unmasked: each request filters and masks for its viewer.
#[derive(Clone, Default)]
pub(crate) struct ClusterCache {
    inner: Arc<Mutex<Vec<CachedClusters>>>,
}

struct CachedClusters {
    head: AuditHead,
    /// The as-of instants answered: `[from, until)`.
    from: i64,
    until: i64,
    clusters: Arc<Vec<ClusterReport>>,
}

/// Spans kept (explicit `as_of`s in the past each take one).
const CACHED_SPANS: usize = 16;

impl ClusterCache {
    fn get(&self, head: &AuditHead, at: i64) -> Option<Arc<Vec<ClusterReport>>> {
        let cached = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .iter()
            .find(|c| c.head == *head && c.from <= at && at < c.until)
            .map(|c| c.clusters.clone())
    }

    fn put(&self, entry: CachedClusters) {
        let mut cached = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        cached.retain(|c| c.head == entry.head);
        if cached.len() >= CACHED_SPANS {
            cached.remove(0);
        }
        cached.push(entry);
    }
}

/// Every cluster as of `at` (unmasked: pass it through [`clusters_for`]),
/// from the cache when nothing was written since it was computed.
pub(crate) async fn clusters_at(
    s: &AppState,
    at: i64,
) -> Result<Arc<Vec<ClusterReport>>, StoreError> {
    let head = s.store.audit_chain_head().await?;
    if let Some(hit) = s.clusters.get(&head, at) {
        return Ok(hit);
    }
    let clusters = Arc::new(s.store.clusters(s.tz, at).await?);
    let (from, until) = s.store.clusters_span(at).await?;
    // Kept only when no write landed while it was computed.
    if s.store.audit_chain_head().await? == head {
        s.clusters.put(CachedClusters {
            head,
            from,
            until,
            clusters: clusters.clone(),
        });
    }
    Ok(clusters)
}

/// Contacts as the viewer may see them: people outside the jurisdiction are
/// pseudonymised ([`crate::wire::pseudonymise`]).
pub(crate) async fn contacts_shown(
    s: &AppState,
    viewer: &Viewer,
    contacts: Vec<closedloop_store::ContactRecord>,
    v: &View<'_>,
) -> Result<Vec<ContactOut>, ApiError> {
    let ids: Vec<i64> = contacts.iter().map(|c| c.person_id).collect();
    let visible = s.store.visible_persons(&ids, viewer.scope()).await?;
    Ok(contacts
        .into_iter()
        .map(|c| {
            let shown = visible.contains(&c.person_id);
            ContactOut::new(c, v).shown(shown)
        })
        .collect())
}
