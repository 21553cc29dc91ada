//! A person's page: identity, household, case and contact records, exposures
//! with their explanation, the loop's timeline (who did what, when, where,
//! why), tasks, and the transition form, which offers only the transitions
//! the state machine allows from the record's state (`domain::lifecycle`)
//! and posts to `Store::transition`. The view is audited.

use super::records::{person_in, person_links, region_name, when, Choice, PersonLink};
use super::{current_path, finish, render, Page, PageResult, PageViewer, T};
use crate::auth::Viewer;
use crate::error::{ApiError, Entity};
use crate::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use closedloop_domain::access::Capability;
use closedloop_domain::lifecycle::{
    check_transition, FacilityKind, LoopError, LoopState, TransitionContext,
};
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::Setting;
use closedloop_domain::ErrorCode;
use closedloop_store::{ManagedRecord, TransitionRequest};
use serde::Deserialize;
use std::collections::HashMap;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/persons/{id}", get(person_page))
        .route("/persons/{id}/transition", axum::routing::post(transition))
}

/// The states a record may be moved to from where it is: the state
/// machine's edges the profile allows. Conditions that depend on the moment
/// or on what the form says (a facility of the right kind, release criteria,
/// the end of a stay) are not decided here: the store checks them on submit.
pub(crate) fn offered_transitions(profile: &Profile, m: &ManagedRecord) -> Vec<LoopState> {
    LoopState::ALL
        .iter()
        .copied()
        .filter(|to| {
            // The kind of facility the setting calls for, so only the edge is judged.
            let facility = match to {
                LoopState::UnderQuarantine if m.setting == Some(Setting::Home) => {
                    Some(FacilityKind::Home)
                }
                LoopState::UnderQuarantine => Some(FacilityKind::QuarantineHotel),
                LoopState::Admitted => Some(FacilityKind::DesignatedHospital),
                _ => None,
            };
            let ctx = TransitionContext {
                facility,
                setting: m.setting,
                today: None,
                stay_ends: None,
                tests: &[],
            };
            !matches!(
                check_transition(profile, m.category, m.state, *to, &ctx),
                Err(LoopError::InvalidTransition { .. })
                    | Err(LoopError::Closed(_))
                    | Err(LoopError::CategoryNotManaged(_))
            )
        })
        .collect()
}

pub(crate) struct ManagedView {
    pub id: i64,
    pub category: &'static str,
    pub state: &'static str,
    pub state_code: &'static str,
    pub facility: String,
    pub identified: String,
    pub quarantine_end: String,
    pub monitoring_end: String,
    pub source: String,
    pub source_href: Option<String>,
    pub options: Vec<Choice>,
    /// `transition-form` for the first open record, then `transition-form-<id>`.
    pub form_id: String,
}

pub(crate) struct ExposureView {
    pub case_id: String,
    pub case_href: Option<String>,
    pub source: PersonLink,
    pub category: &'static str,
    pub first_exposure: String,
    pub via: PersonLink,
    pub why: Vec<String>,
}

pub(crate) struct TimelineRow {
    pub at: String,
    pub category: &'static str,
    pub from: String,
    pub to: &'static str,
    pub actor: String,
    pub facility: String,
    pub reason: String,
}

pub(crate) struct TaskRow {
    pub kind: &'static str,
    pub due: String,
    pub status: String,
    pub overdue: bool,
}

pub(crate) struct CaseLine {
    pub case_id: String,
    pub href: Option<String>,
    pub classification: &'static str,
    pub reported: String,
}

#[derive(Template)]
#[template(path = "records/person.html")]
struct PersonTpl {
    page: Page,
    id: i64,
    person: PersonLink,
    sex: String,
    birth_date: String,
    region: String,
    merged_into: Option<i64>,
    household: Vec<PersonLink>,
    cases: Vec<CaseLine>,
    managed: Vec<ManagedView>,
    exposures: Vec<ExposureView>,
    timeline: Vec<TimelineRow>,
    tasks: Vec<TaskRow>,
    facilities: Vec<Choice>,
    can_transition: bool,
    done: bool,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PersonPageQuery {
    done: Option<String>,
}

async fn person_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<PersonPageQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::RecPersonPage).await;
    let done = q.done.is_some();
    finish(person_inner(&s, &viewer, page, &id, done, None).await)
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::not_found(Entity::Person, raw.chars().take(20).collect::<String>())
        })
}

async fn person_inner(
    s: &AppState,
    viewer: &Viewer,
    page: Page,
    raw_id: &str,
    done: bool,
    error: Option<String>,
) -> PageResult {
    page.require(Capability::ReadRegistry)?;
    let lang = page.lang;
    let id = parse_id(raw_id).map_err(|e| page.fail(e))?;
    let p = person_in(s, viewer, id).await.map_err(|e| page.fail(e))?;
    let fail = |e: closedloop_store::StoreError| page.fail(e);
    let tree = s.region_tree().await.map_err(fail)?;
    let household = s.store.household_of(&p).await.map_err(fail)?;
    let cases = s.store.cases_of_person(p.id).await.map_err(fail)?;
    let managed = s.store.managed_of_person(p.id).await.map_err(fail)?;
    let exposures = if viewer.can(Capability::ReadTracing) {
        s.store.exposures_of_person(p.id).await.map_err(fail)?
    } else {
        Vec::new()
    };
    let transitions = s.store.transitions_of_person(p.id).await.map_err(fail)?;
    let tasks = s.store.tasks_of_person(p.id).await.map_err(fail)?;
    let facilities = s.store.facilities().await.map_err(fail)?;
    s.store
        .audit_view(
            &viewer.actor(),
            "person",
            &p.id.to_string(),
            serde_json::json!({"page": "person"}),
        )
        .await
        .map_err(fail)?;

    // Everyone linked from this page, named or pseudonymised for the viewer.
    let source_cases: Vec<String> = exposures.iter().map(|e| e.case_id.clone()).collect();
    let sources = s.store.cases_by_id(&source_cases).await.map_err(fail)?;
    let source_of: HashMap<&str, &closedloop_store::CaseRecord> = sources
        .iter()
        .map(|c| (c.case.case_id.as_str(), c))
        .collect();
    let mut linked: Vec<i64> = exposures.iter().map(|e| e.contact.via_person).collect();
    linked.extend(sources.iter().map(|c| c.person_id));
    linked.extend(managed.iter().filter_map(|m| m.source_person));
    linked.extend(household.iter().map(|h| h.id));
    let links = person_links(s, viewer, &linked)
        .await
        .map_err(|e| page.fail(e))?;
    let household_links = &links;
    let link = |pid: i64| {
        links
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| PersonLink::unknown(pid))
    };

    let facility_names: HashMap<&str, &str> = facilities
        .iter()
        .map(|f| (f.facility_id.as_str(), f.name.as_str()))
        .collect();
    let facility = |f: &Option<String>| {
        f.as_deref()
            .map(|id| {
                facility_names
                    .get(id)
                    .map_or(id.to_string(), |n| n.to_string())
            })
            .unwrap_or_default()
    };
    let date = |d: Option<chrono::NaiveDate>| d.map(|d| page.date(d)).unwrap_or_default();

    let can_transition = viewer.can(Capability::TransitionPeople);
    // Records the viewer may change: in the jurisdiction themselves.
    let mut changeable = std::collections::HashSet::new();
    if can_transition {
        for m in &managed {
            if s.store
                .managed_in(m.id, viewer.scope())
                .await
                .map_err(fail)?
            {
                changeable.insert(m.id);
            }
        }
    }
    let mut first_open = true;
    let managed_views = managed
        .iter()
        .map(|m| {
            let options = if changeable.contains(&m.id) {
                offered_transitions(&s.profile, m)
            } else {
                Vec::new()
            };
            let form_id = if !options.is_empty() && first_open {
                first_open = false;
                "transition-form".to_string()
            } else {
                format!("transition-form-{}", m.id)
            };
            let (source, source_href) = match (m.source_case_pk, m.source_person) {
                (_, Some(pid)) => {
                    let l = link(pid);
                    (l.name.clone(), l.href.clone())
                }
                _ => (String::new(), None),
            };
            ManagedView {
                id: m.id,
                category: m.category.label(lang),
                state: m.state.label(lang),
                state_code: m.state.as_str(),
                facility: facility(&m.facility_id),
                identified: when(&page, m.identified_at),
                quarantine_end: date(m.quarantine_end),
                monitoring_end: date(m.monitoring_end),
                source,
                source_href,
                options: options
                    .into_iter()
                    .map(|st| Choice {
                        value: st.as_str().to_string(),
                        label: st.label(lang).to_string(),
                        selected: false,
                    })
                    .collect(),
                form_id,
            }
        })
        .collect::<Vec<_>>();

    let exposure_views = exposures
        .iter()
        .map(|e| {
            let source_case = source_of.get(e.case_id.as_str());
            let inside =
                source_case.is_some_and(|c| viewer.covers_region(&c.case.reporting_region));
            ExposureView {
                case_id: e.case_id.clone(),
                case_href: inside.then(|| format!("/cases/{}", super::records::enc(&e.case_id))),
                source: source_case.map_or_else(|| PersonLink::unknown(0), |c| link(c.person_id)),
                category: e.contact.category.label(lang),
                first_exposure: when(&page, e.contact.first_exposure),
                via: link(e.contact.via_person),
                why: e
                    .contact
                    .explanations
                    .iter()
                    .map(|x| super::records::why(x, lang, s.tz))
                    .collect(),
            }
        })
        .collect();

    // The timeline: entry into the loop, then every transition.
    let mut timeline: Vec<(i64, i64, TimelineRow)> = managed
        .iter()
        .map(|m| {
            (
                m.identified_at,
                0,
                TimelineRow {
                    at: when(&page, m.identified_at),
                    category: m.category.label(lang),
                    from: String::new(),
                    to: m.category.initial_state().label(lang),
                    actor: String::new(),
                    facility: String::new(),
                    reason: page.t(T::RecIdentifiedAt).to_string(),
                },
            )
        })
        .collect();
    timeline.extend(transitions.iter().map(|t| {
        (
            t.at,
            t.id,
            TimelineRow {
                at: when(&page, t.at),
                category: t.category.label(lang),
                from: t.from.label(lang).to_string(),
                to: t.to.label(lang),
                actor: t.actor.clone(),
                facility: facility(&t.facility_id),
                reason: t.reason.clone(),
            },
        )
    }));
    timeline.sort_by_key(|(at, id, _)| (*at, *id));

    let now = chrono::Utc::now().timestamp();
    let task_rows = tasks
        .iter()
        .map(|t| TaskRow {
            kind: t.kind.label(lang),
            due: when(&page, t.due_at),
            status: closedloop_store::task_status_label(&t.status, lang).to_string(),
            overdue: t.status == "open" && t.due_at < now,
        })
        .collect();

    let case_lines = cases
        .iter()
        .map(|c| CaseLine {
            case_id: c.case.case_id.clone(),
            href: viewer
                .covers_region(&c.case.reporting_region)
                .then(|| format!("/cases/{}", super::records::enc(&c.case.case_id))),
            classification: c.case.classification.label(lang),
            reported: page.datetime(c.case.report_time),
        })
        .collect();

    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let tpl = PersonTpl {
        id: p.id,
        person: PersonLink::named(&p),
        sex: p
            .person
            .sex
            .map(|x| x.label(lang).to_string())
            .unwrap_or_default(),
        birth_date: date(p.person.birth_date),
        region: p
            .person
            .region_code
            .as_deref()
            .map(|c| region_name(&tree, c, lang))
            .unwrap_or_default(),
        merged_into: p.merged_into,
        household: household
            .iter()
            .map(|h| {
                household_links
                    .get(&h.id)
                    .cloned()
                    .unwrap_or_else(|| PersonLink::unknown(h.id))
            })
            .collect(),
        cases: case_lines,
        managed: managed_views,
        exposures: exposure_views,
        timeline: timeline.into_iter().map(|(_, _, r)| r).collect(),
        tasks: task_rows,
        facilities: facilities
            .iter()
            // The jurisdiction's facilities and those above it (a city's hospital).
            .filter(|f| {
                f.region_code.as_deref().is_none_or(|c| {
                    viewer.covers_region(c) || tree.is_within(&viewer.jurisdiction.region, c)
                })
            })
            .map(|f| Choice {
                value: f.facility_id.clone(),
                label: lang.text(
                    format!("{}（{}）", f.name, f.kind.label(lang)),
                    format!("{} ({})", f.name, f.kind.label(lang)),
                ),
                selected: false,
            })
            .collect(),
        can_transition,
        done,
        error,
        page,
    };
    let response = render(&tpl, &tpl.page)?;
    Ok((status, response).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TransitionForm {
    #[serde(default, alias = "csrf_token")]
    csrf: String,
    #[serde(default)]
    managed_id: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    facility: String,
    #[serde(default)]
    reason: String,
}

/// Longest reason kept.
const MAX_REASON: usize = 500;

/// `POST /persons/{id}/transition`: the form's transition through
/// `Store::transition` as the viewer; back to the page (Post/Redirect/Get),
/// or the page with the refusal in the reader's language.
async fn transition(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<TransitionForm>,
) -> Response {
    let path = format!("/persons/{}", id.chars().take(20).collect::<String>());
    let page = Page::new(&s, &viewer, &headers, &path, T::RecPersonPage).await;
    if let Err(r) = page.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = page.require(Capability::TransitionPeople) {
        return r;
    }
    let outcome = async {
        let pid = parse_id(&id)?;
        let p = person_in(&s, &viewer, pid).await?;
        let managed_id = form.managed_id.trim().parse::<i64>().ok();
        // The person's own record, and in the jurisdiction itself (its
        // responsible region or facility): otherwise as if it did not exist.
        let owned = match managed_id {
            Some(m) if s.store.managed_in(m, viewer.scope()).await? => {
                s.store.managed(m).await?.filter(|r| r.person_id == p.id)
            }
            _ => None,
        };
        let Some(record) = owned else {
            return Err(ApiError::not_found(
                Entity::Other("managed"),
                form.managed_id.chars().take(20).collect::<String>(),
            ));
        };
        Ok::<_, ApiError>((p, record))
    }
    .await;
    let (p, record) = match outcome {
        Ok(x) => x,
        Err(e) => return page.fail(e),
    };
    let to = match LoopState::parse(form.to.trim()) {
        Ok(to) => to,
        Err(e) => {
            let message = e.message(page.lang);
            return finish(
                person_inner(&s, &viewer, page, &p.id.to_string(), false, Some(message)).await,
            );
        }
    };
    let facility = Some(form.facility.trim().to_string()).filter(|f| !f.is_empty());
    let reason: String = form.reason.trim().chars().take(MAX_REASON).collect();
    let req = TransitionRequest {
        managed_id: record.id,
        to,
        at: chrono::Utc::now().timestamp(),
        facility_id: facility,
        reason,
    };
    match s
        .store
        .transition(&s.profile, s.tz, &req, &viewer.actor())
        .await
    {
        Ok(_) => Redirect::to(&format!("/persons/{}?done=1", p.id)).into_response(),
        Err(e) => {
            if let closedloop_store::TransitionError::Store(inner) = &e {
                if !matches!(inner, closedloop_store::StoreError::NotFound { .. }) {
                    tracing::error!(error = %inner, "transition failed");
                }
            }
            let message = e.message(page.lang);
            finish(person_inner(&s, &viewer, page, &p.id.to_string(), false, Some(message)).await)
        }
    }
}
