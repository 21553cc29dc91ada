//! The closed loop over HTTP: status with overdue items and leaks, tasks,
//! escalation notices (list, acknowledge), transitions, the accountability
//! record and the audit chain check. Same
//! store calls as the CLI; errors are `{error, message}` with the same codes.

use crate::auth::Viewer;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::handlers::LangParam;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use closedloop_domain::access::Capability;
use closedloop_domain::case::Classification;
use closedloop_domain::lifecycle::LoopState;
use closedloop_domain::region::parse_region_code;
use closedloop_domain::time::{day_bounds, from_epoch, parse_date, parse_instant};
use closedloop_domain::DomainError;
use closedloop_store::{
    conversion_case_id, Conversion, NoticeFilter, StoreRowError, TaskFilter, TransitionError,
    TransitionRequest,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn instant(s: &AppState, raw: &Option<String>) -> Result<i64, ApiError> {
    match given(raw) {
        None => Ok(chrono::Utc::now().timestamp()),
        Some(v) => parse_instant(v, s.tz)
            .map(|t| t.timestamp())
            .ok_or_else(|| DomainError::InvalidTime(v.chars().take(40).collect()).into()),
    }
}

/// The region the loop's queries take: the requested one (a stored region)
/// narrowed to the viewer's jurisdiction (see [`Viewer::loop_region`]).
async fn region(
    s: &AppState,
    viewer: &Viewer,
    raw: &Option<String>,
) -> Result<Option<String>, ApiError> {
    let tree = s.store.region_tree().await?;
    let requested = match given(raw) {
        None => None,
        Some(v) => {
            let code = parse_region_code(v)?;
            if tree.get(&code).is_none() {
                return Err(StoreRowError::UnknownRegion(code).into());
            }
            Some(code)
        }
    };
    viewer.loop_region(&tree, requested)
}

fn today(s: &AppState, now: i64) -> chrono::NaiveDate {
    from_epoch(now).with_timezone(&s.tz).date_naive()
}

fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Region code: this region and everything below it.
    pub region: Option<String>,
    /// Judge deadlines at this instant (RFC 3339) instead of now.
    pub now: Option<String>,
}

#[utoipa::path(
    get, path = "/api/loop/status", tag = "loop",
    params(StatusQuery, LangParam),
    responses(
        (status = 200, description = "`status` (counts per category and state, overdue tasks, leaks by kind), `overdue` (each with its escalation rung and who hears of it) and `leaks`", content_type = "application/json"),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn loop_status(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::ReadLoop)?;
    let now = instant(&s, &q.now)?;
    let scope = region(&s, &viewer, &q.region).await?;
    let p = &*s.profile;
    let status = s
        .store
        .loop_status_within(p, now, today(&s, now), scope.as_deref(), viewer.facility())
        .await?;
    // Overdue items and leaks are for the roles that see escalations.
    let (overdue, leaks) = if viewer.can(Capability::SeeEscalations) {
        (
            to_value(
                &s.store
                    .overdue_within(p, now, scope.as_deref(), viewer.facility())
                    .await?,
            ),
            to_value(
                &s.store
                    .leaks_within(p, now, today(&s, now), scope.as_deref(), viewer.facility())
                    .await?,
            ),
        )
    } else {
        (json!([]), json!([]))
    };
    Ok(Json(
        json!({"status": to_value(&status), "overdue": overdue, "leaks": leaks}),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    pub region: Option<String>,
    /// open, done or cancelled.
    pub status: Option<String>,
    /// true: only open tasks past due, with their escalation.
    pub overdue: Option<bool>,
    pub now: Option<String>,
    /// Only the tasks of this responsible unit (its id).
    pub unit: Option<i64>,
    /// Most tasks to return (default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/loop/tasks", tag = "loop",
    params(TasksQuery, LangParam),
    responses(
        (status = 200, description = "Tasks in the jurisdiction (for a facility operator, those about the records placed in the facility), soonest due first (or overdue items)", content_type = "application/json"),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn loop_tasks(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<TasksQuery>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::ReadLoop)?;
    let scope = region(&s, &viewer, &q.region).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    if q.overdue.unwrap_or(false) {
        viewer.require(Capability::SeeEscalations)?;
        let now = instant(&s, &q.now)?;
        let mut items = s
            .store
            .overdue_within(&s.profile, now, scope.as_deref(), viewer.facility())
            .await?;
        items.retain(|o| q.unit.is_none() || o.task.unit_id == q.unit);
        items.truncate(limit as usize);
        return Ok(Json(to_value(&items)));
    }
    let tasks = s
        .store
        .tasks(&TaskFilter {
            scope,
            facility: viewer.facility().map(str::to_string),
            status: given(&q.status).map(str::to_string),
            unit: q.unit,
            limit,
            ..TaskFilter::default()
        })
        .await?;
    Ok(Json(to_value(&tasks)))
}

/// A change of state of a managed person.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransitionBody {
    pub managed_id: i64,
    /// The new state: notified, placement_ordered, in_transfer, under_quarantine, home_health_monitoring, released, lost, transfer_ordered, admitted, discharged, died…
    pub to: String,
    /// The facility (placements and admissions).
    pub facility_id: Option<String>,
    #[serde(default)]
    pub reason: String,
    /// When (RFC 3339); default now.
    pub at: Option<String>,
}

#[utoipa::path(
    post, path = "/api/loop/transitions", tag = "loop",
    params(LangParam),
    request_body = TransitionBody,
    responses(
        (status = 200, description = "The managed record after the transition", content_type = "application/json"),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 404, description = "No such record or facility", body = ErrorBody),
        (status = 409, description = "Refused by the state machine or the profile (invalid_transition, release_criteria_not_met, wrong_facility_kind…)", body = ErrorBody),
    )
)]
pub async fn post_transition(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiJson(b): ApiJson<TransitionBody>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::TransitionPeople)?;
    // A record outside the jurisdiction (or facility) is the same 404 as none.
    if !s.store.managed_in(b.managed_id, viewer.scope()).await? {
        return Err(ApiError::not_found(
            crate::error::Entity::Other("managed record"),
            b.managed_id.to_string(),
        ));
    }
    let to = LoopState::parse(&b.to)?;
    if b.reason.chars().count() > 2000 {
        return Err(DomainError::TooLong(2000).into());
    }
    let at = instant(&s, &b.at)?;
    let req = TransitionRequest {
        managed_id: b.managed_id,
        to,
        at,
        facility_id: b.facility_id.clone(),
        reason: b.reason.clone(),
    };
    match s
        .store
        .transition(&s.profile, s.tz, &req, &viewer.actor())
        .await
    {
        Ok(m) => Ok(Json(to_value(&m))),
        Err(TransitionError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(StatusCode::CONFLICT, &e)),
    }
}

/// The result of a scheduled test.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TestResultBody {
    /// The scheduled test (id).
    pub test_id: i64,
    /// positive or negative.
    pub result: String,
    /// When the sample was taken (RFC 3339); default now.
    pub at: Option<String>,
    /// When the result was reported (RFC 3339): the case's report time; default the sample time.
    pub reported_at: Option<String>,
    /// A positive contact's case: asymptomatic (default) or confirmed (zh or en labels too).
    pub classification: Option<String>,
}

#[utoipa::path(
    post, path = "/api/loop/results", tag = "loop",
    params(LangParam),
    request_body = TestResultBody,
    responses(
        (status = 200, description = "`converted`: false for a negative; for a positive, true with `case_id` (the case registered, `Q-` and the test id), `case_record` (its managed record) and `contacts` (found by tracing it at once)", content_type = "application/json"),
        (status = 400, description = "A bad body (unknown result or classification, bad time)", body = ErrorBody),
        (status = 404, description = "No such test", body = ErrorBody),
        (status = 409, description = "Refused: the record is closed (record_closed, e.g. the positive was already recorded) or the state machine forbids the conversion", body = ErrorBody),
    )
)]
pub async fn post_test_result(
    State(s): State<AppState>,
    viewer: Viewer,
    crate::lang::ReqLang(lang): crate::lang::ReqLang,
    ApiJson(b): ApiJson<TestResultBody>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::RecordResults)?;
    if !s.store.test_in(b.test_id, viewer.scope()).await? {
        return Err(ApiError::not_found(
            crate::error::Entity::Other("test"),
            b.test_id.to_string(),
        ));
    }
    let positive = match b.result.trim() {
        "positive" => true,
        "negative" => false,
        other => {
            return Err(DomainError::UnknownValue {
                value: other.chars().take(40).collect(),
                expected: "positive negative",
            }
            .into())
        }
    };
    let classification = match given(&b.classification) {
        None => Classification::Asymptomatic,
        Some(v) => Classification::parse(v)?,
    };
    let at = instant(&s, &b.at)?;
    let reported_at = match given(&b.reported_at) {
        None => at,
        Some(_) => instant(&s, &b.reported_at)?,
    };
    let actor = viewer.actor();
    let converted = match s
        .store
        .record_test_result_as(
            &s.profile,
            b.test_id,
            at,
            positive,
            &Conversion {
                classification,
                reported_at,
            },
            &actor,
        )
        .await
    {
        Ok(c) => c,
        Err(TransitionError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(ApiError::new(StatusCode::CONFLICT, &e)),
    };
    let Some(record) = converted else {
        return Ok(Json(json!({"converted": false})));
    };
    let case_id = conversion_case_id(b.test_id);
    if let Some(case) = s.store.case(&case_id).await? {
        crate::trace_handlers::trace_new_case(&s, &case, &actor).await?;
    }
    let contacts = s.store.contacts_of_case(&case_id).await?;
    let tree = closedloop_domain::region::RegionTree::default();
    let v = s.view(lang, &tree);
    let contacts = crate::trace_handlers::contacts_shown(&s, &viewer, contacts, &v).await?;
    Ok(Json(json!({
        "converted": true,
        "case_id": case_id,
        "case_record": to_value(&record),
        "contacts": to_value(&contacts),
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountabilityQuery {
    /// First day, YYYY-MM-DD.
    pub from: String,
    /// Last day, YYYY-MM-DD (included).
    pub to: String,
    pub region: Option<String>,
    pub now: Option<String>,
}

#[utoipa::path(
    get, path = "/api/accountability", tag = "loop",
    params(AccountabilityQuery, LangParam),
    responses(
        (status = 200, description = "Lapses with step, pseudonymised person, responsible unit and official at the deadline, lateness and consequence; grouped by unit and by official", content_type = "application/json"),
        (status = 400, description = "A bad query value", body = ErrorBody),
    )
)]
pub async fn accountability(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<AccountabilityQuery>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::ReadAccountability)?;
    let day = |raw: &str| {
        parse_date(raw)
            .ok_or_else(|| ApiError::from(DomainError::InvalidDate(raw.chars().take(20).collect())))
    };
    let (from, to) = (day(&q.from)?, day(&q.to)?);
    let now = instant(&s, &q.now)?;
    let scope = region(&s, &viewer, &q.region).await?;
    let r = s
        .store
        .accountability(
            day_bounds(from, s.tz).0.timestamp(),
            day_bounds(to, s.tz).1.timestamp(),
            now,
            scope.as_deref(),
        )
        .await?;
    Ok(Json(to_value(&r)))
}

#[utoipa::path(
    get, path = "/api/audit/verify", tag = "audit",
    params(LangParam),
    responses(
        (status = 200, description = "`intact`, records checked, the chain head (sequence and hash) and the first break (altered, inserted or removed record) if any", content_type = "application/json"),
    )
)]
pub async fn audit_verify(
    State(s): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::ReadAudit)?;
    let r = s.store.verify_audit_chain().await?;
    let mut v = to_value(&r);
    if let Value::Object(m) = &mut v {
        m.insert("intact".into(), Value::Bool(r.first_break.is_none()));
    }
    Ok(Json(v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticesQuery {
    /// Region code: this region and everything below it (within the jurisdiction).
    pub region: Option<String>,
    /// true: only notices not yet acknowledged.
    pub unacknowledged: Option<bool>,
    /// Most notices to return (default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/loop/notices", tag = "loop",
    params(NoticesQuery, LangParam),
    responses(
        (status = 200, description = "Escalation notices kept (the task, its rung and level, when it was reached, who was notified as in office then, their unit or command, acknowledged when and by whom), those not acknowledged first", content_type = "application/json"),
        (status = 400, description = "A bad query value", body = ErrorBody),
        (status = 403, description = "The role does not see escalations", body = ErrorBody),
    )
)]
pub async fn list_notices(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<NoticesQuery>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::SeeEscalations)?;
    let scope = region(&s, &viewer, &q.region).await?;
    let notices = s
        .store
        .notices(
            scope.as_deref(),
            &NoticeFilter {
                unacknowledged: q.unacknowledged.unwrap_or(false),
                limit: q.limit.unwrap_or(100).clamp(1, 10_000),
            },
        )
        .await?;
    Ok(Json(to_value(&notices)))
}

/// Acknowledging an escalation notice.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AcknowledgeBody {
    /// When (RFC 3339); default now.
    pub at: Option<String>,
}

#[utoipa::path(
    post, path = "/api/loop/notices/{id}/acknowledge", tag = "loop",
    params(("id" = i64, Path, description = "Notice id"), LangParam),
    request_body(content = AcknowledgeBody, description = "`{}` acknowledges now"),
    responses(
        (status = 200, description = "The notice, acknowledged (by this user, unless it already was: then as it was)", content_type = "application/json"),
        (status = 403, description = "The role does not see escalations", body = ErrorBody),
        (status = 404, description = "No such notice in the jurisdiction", body = ErrorBody),
    )
)]
pub async fn acknowledge_notice(
    State(s): State<AppState>,
    viewer: Viewer,
    ApiPath(raw): ApiPath<String>,
    ApiJson(b): ApiJson<AcknowledgeBody>,
) -> Result<Json<Value>, ApiError> {
    viewer.require(Capability::SeeEscalations)?;
    let not_found = || {
        ApiError::not_found(
            crate::error::Entity::Other("escalation notice"),
            raw.chars().take(40).collect::<String>(),
        )
    };
    let id: i64 = raw.trim().parse().map_err(|_| not_found())?;
    let at = instant(&s, &b.at)?;
    // Outside the jurisdiction it is the same 404 as an unknown notice.
    let regions = viewer.region_scope();
    let n = s
        .store
        .acknowledge_notice_for(id, regions.as_deref(), at, &viewer.actor())
        .await?;
    Ok(Json(to_value(&n)))
}
