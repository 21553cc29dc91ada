//! The endpoints. Each reads its inputs as text and checks them with the
//! domain's parsers, so a bad value gets the same code as in a file import.

use crate::auth::Viewer;
use crate::error::{ApiError, Entity, ErrorBody, HttpError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::lang::ReqLang;
use crate::wire::*;
use crate::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use closedloop_domain::access::Capability;
use closedloop_domain::bulletin::Format;
use closedloop_domain::case::{Classification, DiscoveryChannel, Origin};
use closedloop_domain::region::{parse_region_code, RegionTree};
use closedloop_domain::time::{day_bounds, parse_date};
use closedloop_domain::DomainError;
use closedloop_store::{AuditFilter, CaseFilter, PersonFilter, StoreRowError};
use serde::Deserialize;
use utoipa::IntoParams;

pub use crate::trace_handlers::*;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;
const MAX_TEXT: usize = 200;
const MAX_REASON: usize = 2000;

/// A query value with surrounding blanks dropped; blank means absent.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn short(v: Option<&str>, max: usize) -> Result<Option<&str>, ApiError> {
    match v {
        Some(s) if s.chars().count() > max => Err(DomainError::TooLong(max).into()),
        other => Ok(other),
    }
}

/// A page size: `default` when absent, at least 1, at most `MAX_LIMIT`.
fn limit(raw: &Option<String>, default: i64) -> Result<i64, ApiError> {
    match given(raw) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => Ok(n.min(MAX_LIMIT)),
            _ => Err(DomainError::InvalidNumber(s.chars().take(20).collect()).into()),
        },
    }
}

fn offset(raw: &Option<String>) -> Result<i64, ApiError> {
    match given(raw) {
        None => Ok(0),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(DomainError::InvalidNumber(s.chars().take(20).collect()).into()),
        },
    }
}

fn date(raw: &str) -> Result<chrono::NaiveDate, ApiError> {
    parse_date(raw).ok_or_else(|| DomainError::InvalidDate(raw.chars().take(20).collect()).into())
}

/// A `region` query value: a well-formed code of a stored region.
fn query_region<'a>(
    tree: &'a RegionTree,
    raw: &Option<String>,
) -> Result<Option<&'a str>, ApiError> {
    let Some(s) = given(raw) else {
        return Ok(None);
    };
    let code = parse_region_code(s)?;
    match tree.get(&code) {
        Some(r) => Ok(Some(&r.code)),
        None => Err(StoreRowError::UnknownRegion(code).into()),
    }
}

#[utoipa::path(
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "The server and its database answer", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    )
)]
pub async fn health(State(s): State<AppState>) -> Response {
    match s.store.ping().await {
        Ok(()) => Json(Health {
            status: "ok".into(),
            database: "ok".into(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded".into(),
                    database: "error".into(),
                }),
            )
                .into_response()
        }
    }
}

/// Only documents `?lang=`: the language layer reads it before any handler runs.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LangParam {
    /// Language of messages and region names: zh or en (else Accept-Language, else the server default).
    pub lang: Option<String>,
}

#[utoipa::path(
    get, path = "/api/regions", tag = "regions",
    params(LangParam),
    responses((status = 200, description = "Every region, by code", body = RegionList))
)]
pub async fn list_regions(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
) -> Result<Json<RegionList>, ApiError> {
    viewer.require(Capability::ReadPublicBulletin)?;
    let regions = s.store.regions().await?;
    Ok(Json(RegionList {
        items: regions.iter().map(|r| RegionOut::new(r, lang)).collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/regions/{code}", tag = "regions",
    params(("code" = String, Path, description = "Region code"), LangParam),
    responses(
        (status = 200, description = "The region with its direct children", body = RegionDetail),
        (status = 404, description = "No such region", body = ErrorBody),
    )
)]
pub async fn get_region(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<RegionDetail>, ApiError> {
    viewer.require(Capability::ReadPublicBulletin)?;
    let tree = s.region_tree().await?;
    let region = tree
        .get(code.trim())
        .ok_or_else(|| ApiError::not_found(Entity::Region, code.trim()))?;
    Ok(Json(RegionDetail {
        region: RegionOut::new(region, lang),
        children: tree
            .children(&region.code)
            .map(|r| RegionOut::new(r, lang))
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonsQuery {
    /// Name prefix, or exact document number or phone.
    pub q: Option<String>,
    /// Region code: people living in it or anywhere below it.
    pub region: Option<String>,
    /// Page size, 1–1000 (default 50; larger values are capped).
    pub limit: Option<String>,
    pub offset: Option<String>,
}

#[utoipa::path(
    get, path = "/api/persons", tag = "persons",
    params(PersonsQuery, LangParam),
    responses(
        (status = 200, description = "People not merged away in the jurisdiction (for a facility operator, those placed in the facility), by id", body = PersonPage),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn list_persons(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiQuery(q): ApiQuery<PersonsQuery>,
) -> Result<Json<PersonPage>, ApiError> {
    viewer.require(Capability::ReadRegistry)?;
    let tree = s.region_tree().await?;
    let filter = PersonFilter {
        scope: viewer.narrow(&tree, query_region(&tree, &q.region)?),
        // A facility operator lists the people placed in their facility.
        facility: viewer.facility().map(str::to_string),
        query: short(given(&q.q), MAX_TEXT)?.map(Into::into),
        limit: limit(&q.limit, DEFAULT_LIMIT)?,
        offset: offset(&q.offset)?,
    };
    let (persons, total) = s.store.persons(&filter).await?;
    let v = s.view(lang, &tree);
    Ok(Json(PersonPage {
        items: persons.iter().map(|p| PersonOut::new(p, &v)).collect(),
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// Ids that are not numbers name no person: 404 like any other unknown id.
fn person_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::not_found(Entity::Person, raw.chars().take(40).collect::<String>()))
}

#[utoipa::path(
    get, path = "/api/persons/{id}", tag = "persons",
    params(("id" = i64, Path, description = "Person id"), LangParam),
    responses(
        (status = 200, description = "The person, their cases and merges; a merged-away person shows merged_into", body = PersonDetail),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
pub async fn get_person(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(raw): ApiPath<String>,
) -> Result<Json<PersonDetail>, ApiError> {
    viewer.require(Capability::ReadRegistry)?;
    let id = person_id(&raw)?;
    // Outside the jurisdiction is the same 404 as no such person.
    let person = s
        .store
        .person_in(id, viewer.scope())
        .await?
        .ok_or_else(|| ApiError::not_found(Entity::Person, id.to_string()))?;
    s.store
        .audit_view(
            &viewer.actor(),
            "person",
            &id.to_string(),
            serde_json::json!({"via": "api"}),
        )
        .await?;
    let cases = s.store.cases_of_person(id).await?;
    let merges = s.store.merges_of(id).await?;
    let tree = s.region_tree().await?;
    let v = s.view(lang, &tree);
    Ok(Json(PersonDetail {
        person: PersonOut::new(&person, &v),
        cases: cases.iter().map(|c| CaseOut::new(c, &v)).collect(),
        merges: merges
            .into_iter()
            .map(|(merge_id, kept, merged, moved_cases, at)| MergeRecord {
                merge_id,
                kept,
                merged,
                moved_cases,
                at: v.instant(at),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasesQuery {
    /// Region code: cases reported in it or anywhere below it.
    pub region: Option<String>,
    /// confirmed or asymptomatic (the classification now).
    pub classification: Option<String>,
    /// local or imported.
    pub origin: Option<String>,
    /// centralized_quarantine, home_quarantine, sealed_or_controlled_area, community_screening, fever_clinic, arrival_test or other.
    pub discovery_channel: Option<String>,
    /// First day of report, YYYY-MM-DD, local time.
    pub from: Option<String>,
    /// Last day of report (inclusive), YYYY-MM-DD, local time.
    pub to: Option<String>,
    /// Page size, 1–1000 (default 50; larger values are capped).
    pub limit: Option<String>,
    pub offset: Option<String>,
}

#[utoipa::path(
    get, path = "/api/cases", tag = "cases",
    params(CasesQuery, LangParam),
    responses(
        (status = 200, description = "Cases in the jurisdiction (for a facility operator, those of the people placed in the facility), in report order", body = CasePage),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn list_cases(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiQuery(q): ApiQuery<CasesQuery>,
) -> Result<Json<CasePage>, ApiError> {
    viewer.require(Capability::ReadRegistry)?;
    let tree = s.region_tree().await?;
    let from = given(&q.from).map(date).transpose()?;
    let to = given(&q.to).map(date).transpose()?;
    let filter = CaseFilter {
        scope: viewer.narrow(&tree, query_region(&tree, &q.region)?),
        // A facility operator lists the cases of the people placed there.
        facility: viewer.facility().map(str::to_string),
        classification: given(&q.classification)
            .map(Classification::parse)
            .transpose()?,
        origin: given(&q.origin).map(Origin::parse).transpose()?,
        discovery_channel: given(&q.discovery_channel)
            .map(DiscoveryChannel::parse)
            .transpose()?,
        reported_from: from.map(|d| day_bounds(d, s.tz).0),
        reported_to: to.map(|d| day_bounds(d, s.tz).1),
        limit: limit(&q.limit, DEFAULT_LIMIT)?,
        offset: offset(&q.offset)?,
    };
    let (cases, total) = s.store.cases(&filter).await?;
    let v = s.view(lang, &tree);
    Ok(Json(CasePage {
        items: cases.iter().map(|c| CaseOut::new(c, &v)).collect(),
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

#[utoipa::path(
    get, path = "/api/cases/{case_id}", tag = "cases",
    params(("case_id" = String, Path, description = "Case id"), LangParam),
    responses(
        (status = 200, description = "The case with its classification history", body = CaseDetail),
        (status = 404, description = "No such case", body = ErrorBody),
    )
)]
pub async fn get_case(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(case_id): ApiPath<String>,
) -> Result<Json<CaseDetail>, ApiError> {
    viewer.require(Capability::ReadRegistry)?;
    let case = s
        .store
        .case_in(case_id.trim(), viewer.scope())
        .await?
        .ok_or_else(|| ApiError::not_found(Entity::Case, case_id.trim()))?;
    s.store
        .audit_view(
            &viewer.actor(),
            "case",
            &case.case.case_id,
            serde_json::json!({"via": "api", "person": case.person_id}),
        )
        .await?;
    let history = s.store.classification_history(case.id).await?;
    let tree = s.region_tree().await?;
    let v = s.view(lang, &tree);
    Ok(Json(CaseDetail {
        case: CaseOut::new(&case, &v),
        classification_history: history
            .into_iter()
            .map(|(at, classification, clinical_type)| ClassificationOut {
                at: v.instant(at),
                classification,
                clinical_type,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicatesQuery {
    /// Region code: groups with at least one person living in it or below it.
    pub region: Option<String>,
    /// Most groups to return, 1–1000 (default 100).
    pub limit: Option<String>,
}

#[utoipa::path(
    get, path = "/api/duplicates", tag = "persons",
    params(DuplicatesQuery, LangParam),
    responses(
        (status = 200, description = "Groups of likely duplicates (same name, birth date and phone, different documents)", body = DuplicateList),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn list_duplicates(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiQuery(q): ApiQuery<DuplicatesQuery>,
) -> Result<Json<DuplicateList>, ApiError> {
    viewer.require(Capability::MergeDuplicates)?;
    let tree = s.region_tree().await?;
    let scope = viewer.narrow(&tree, query_region(&tree, &q.region)?);
    let groups = s
        .store
        .duplicate_groups(scope.as_deref(), limit(&q.limit, 100)?)
        .await?;
    let v = s.view(lang, &tree);
    Ok(Json(DuplicateList {
        items: groups
            .iter()
            .map(|g| DuplicateGroupOut::new(g, &v))
            .collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/duplicates/merge", tag = "persons",
    params(LangParam),
    request_body = MergeRequest,
    responses(
        (status = 200, description = "The merge: the cases of `merge` now belong to `keep`", body = MergeOut),
        (status = 400, description = "A bad body, or a person already merged away", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
pub async fn merge_persons(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiJson(req): ApiJson<MergeRequest>,
) -> Result<Json<MergeOut>, ApiError> {
    viewer.require(Capability::MergeDuplicates)?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(DomainError::Missing.into());
    }
    short(Some(reason), MAX_REASON)?;
    // Both people must be in the jurisdiction; outside is the same 404 as unknown.
    for id in [req.keep, req.merge] {
        if s.store.person_in(id, viewer.scope()).await?.is_none() {
            return Err(ApiError::not_found(Entity::Person, id.to_string()));
        }
    }
    let actor = viewer.actor();
    let outcome = s
        .store
        .merge_persons(req.keep, req.merge, reason, &actor)
        .await?;
    tracing::info!(
        kept = outcome.kept,
        merged = outcome.merged,
        moved_cases = outcome.moved_cases,
        "persons merged"
    );
    Ok(Json(outcome.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulletinQuery {
    /// Region code; default the single top-level region.
    pub region: Option<String>,
    /// json (figures, default), text or markdown (prose as `{"text": …}`).
    pub format: Option<String>,
}

fn format(raw: &Option<String>) -> Result<Format, ApiError> {
    match given(raw).map(str::to_ascii_lowercase).as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("text") | Some("txt") => Ok(Format::Text),
        Some("markdown") | Some("md") => Ok(Format::Markdown),
        Some(other) => Err(DomainError::UnknownValue {
            value: other.chars().take(40).collect(),
            expected: "json text markdown",
        }
        .into()),
    }
}

#[utoipa::path(
    get, path = "/api/bulletins/{date}", tag = "bulletins",
    params(("date" = String, Path, description = "The day, YYYY-MM-DD, 0–24 h local time"), BulletinQuery, LangParam),
    responses(
        (status = 200, description = "The bulletin's figures (format=json) or its prose as `{\"text\": …}` (text, markdown)", body = BulletinResponse),
        (status = 400, description = "A bad date, region or format", body = ErrorBody),
    )
)]
pub async fn get_bulletin(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiPath(day): ApiPath<String>,
    ApiQuery(q): ApiQuery<BulletinQuery>,
) -> Result<Json<BulletinResponse>, ApiError> {
    // Aggregate figures: every role (the public one too), within its jurisdiction.
    viewer.require(Capability::ReadPublicBulletin)?;
    let day = date(&day)?;
    let format = format(&q.format)?;
    let tree = s.region_tree().await?;
    let scope = match query_region(&tree, &q.region)? {
        Some(code) if viewer.covers_region(code) => code.to_string(),
        Some(code) => return Err(ApiError::not_found(Entity::Region, code)),
        None if viewer.regions.is_some() => viewer.jurisdiction.region.clone(),
        None => tree
            .single_root()
            .map(|r| r.code.clone())
            .ok_or_else(|| ApiError::bad_request(&HttpError::RegionRequired))?,
    };
    let bulletin = s.store.bulletin(day, Some(&scope), s.tz, lang).await?;
    Ok(Json(match format {
        Format::Json => BulletinResponse::Figures(Box::new(bulletin.into())),
        f => BulletinResponse::Text(BulletinText {
            text: bulletin.render(f, lang),
        }),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// region, person, case, persons, cases, regions (imports)…
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// Most entries to return, 1–1000 (default 100).
    pub limit: Option<String>,
}

#[utoipa::path(
    get, path = "/api/audit", tag = "audit",
    params(AuditQuery, LangParam),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditList),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn list_audit(
    State(s): State<AppState>,
    viewer: Viewer,
    ReqLang(lang): ReqLang,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    viewer.require(Capability::ReadAudit)?;
    let filter = AuditFilter {
        entity: short(given(&q.entity), MAX_TEXT)?.map(Into::into),
        entity_id: short(given(&q.entity_id), MAX_TEXT)?.map(Into::into),
        limit: limit(&q.limit, 100)?,
    };
    let entries = s.store.audit_log(&filter).await?;
    let tree = RegionTree::default();
    let v = s.view(lang, &tree);
    Ok(Json(AuditList {
        items: entries
            .into_iter()
            .map(|e| AuditEntryOut::new(e, &v))
            .collect(),
    }))
}

#[utoipa::path(
    get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
pub async fn openapi(State(s): State<AppState>) -> Response {
    Json(s.openapi.as_ref()).into_response()
}

pub async fn fallback(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        &HttpError::RouteNotFound {
            method: method.to_string(),
            path: uri.path().chars().take(200).collect(),
        },
    )
}
