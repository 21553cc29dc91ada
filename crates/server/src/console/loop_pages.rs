//! The loop's pages: `/loop` (tasks by responsible unit with their due
//! times, overdue first), `/loop/overdue` (with the escalation notices kept,
//! unacknowledged first, each with its acknowledge button: `POST
//! /loop/notices/{id}/acknowledge`) and `/loop/leaks` (what the dashboard
//! links to) and `/loop/accountability?from=&to=`. All in the
//! viewer's jurisdiction. `?at=` (epoch seconds) judges deadlines at that
//! instant; without it, at the end of the last day with a report (now, in a
//! live outbreak).

use super::dashboard::{default_day, leak_since, loop_now};
use super::text::{self, T};
use super::{current_path, non_empty, opt_date, render, Page, PageResult, PageViewer};
use crate::error::{ApiError, Entity};
use crate::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use closedloop_domain::access::Capability;
use closedloop_domain::region::{parse_region_code, RegionTree};
use closedloop_domain::time::{day_bounds, from_epoch};
use closedloop_domain::{DomainError, Lang};
use closedloop_store::{Notice, NoticeFilter, TaskFilter, TaskRecord};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/loop", get(tasks_page))
        .route("/loop/overdue", get(overdue_page))
        .route("/loop/notices/{id}/acknowledge", post(acknowledge))
        .route("/loop/leaks", get(leaks_page))
        .route("/loop/accountability", get(accountability_page))
}

/// Most tasks read for the task page.
const TASK_LIMIT: i64 = 2000;

#[derive(Deserialize, Default)]
pub(crate) struct LoopQuery {
    at: Option<String>,
    status: Option<String>,
    unit: Option<String>,
    /// Set after an acknowledgement (Post/Redirect/Get).
    ack: Option<String>,
    overdue: Option<String>,
    region: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// The instant deadlines are judged at.
async fn judged_at(s: &AppState, page: &Page, q: &LoopQuery) -> Result<i64, Response> {
    match non_empty(&q.at) {
        // Epoch seconds between 1970 and 2286: anything else is not an instant we judge at.
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|t| (0..10_000_000_000).contains(t))
            .ok_or_else(|| {
                page.fail(ApiError::bad_request(&DomainError::InvalidTime(
                    raw.chars().take(40).collect(),
                )))
            }),
        None => {
            let scope = page.viewer()?.region_scope();
            let day = default_day(s, scope.as_deref())
                .await
                .map_err(|e| page.fail(e))?;
            Ok(loop_now(s, day))
        }
    }
}

fn region_name(tree: &RegionTree, code: Option<&str>, lang: Lang) -> String {
    match code {
        None => "-".into(),
        Some(c) => tree
            .get(c)
            .map(|r| r.name(lang).to_string())
            .unwrap_or_else(|| c.to_string()),
    }
}

pub(crate) struct TaskRow {
    pub id: i64,
    pub kind: &'static str,
    pub subject: String,
    pub region: String,
    pub due: String,
    pub status: String,
    pub overdue: bool,
    pub person_href: Option<String>,
}

pub(crate) struct UnitGroup {
    pub name: String,
    pub overdue: String,
    pub tasks: Vec<TaskRow>,
}

pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(askama::Template)]
#[template(path = "loop/tasks.html")]
struct TasksPage {
    page: Page,
    at: String,
    at_label: String,
    statuses: Vec<Choice>,
    units: Vec<Choice>,
    regions: Vec<super::RegionOption>,
    overdue_only: bool,
    groups: Vec<UnitGroup>,
    shown: String,
}

async fn tasks_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoopQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Loop).await;
    super::finish(build_tasks(&s, page, q).await)
}

fn status_label(status: &str, lang: Lang) -> String {
    closedloop_store::task_status_label(status, lang).to_string()
}

async fn build_tasks(s: &AppState, page: Page, q: LoopQuery) -> PageResult {
    page.require(Capability::ReadLoop)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let now = judged_at(s, &page, &q).await?;
    let status = match non_empty(&q.status) {
        None => Some("open".to_string()),
        Some("all") => None,
        Some(v @ ("open" | "done" | "cancelled")) => Some(v.to_string()),
        Some(other) => {
            return Err(page.fail(ApiError::bad_request(&DomainError::UnknownValue {
                value: other.chars().take(40).collect(),
                expected: "open done cancelled all",
            })))
        }
    };
    let unit_filter: Option<i64> = match non_empty(&q.unit) {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            page.fail(ApiError::bad_request(&DomainError::UnknownValue {
                value: raw.chars().take(40).collect(),
                expected: "a unit",
            }))
        })?),
    };
    let overdue_only = non_empty(&q.overdue).is_some();
    let tree = s.store.region_tree().await.map_err(|e| page.fail(e))?;
    // A region of the jurisdiction; another is not there for this reader (404).
    let jur = viewer.jurisdiction.region.clone();
    let region = match non_empty(&q.region) {
        None => jur.clone(),
        Some(raw) => {
            let code = parse_region_code(raw).map_err(|e| page.fail(e))?;
            if tree.get(&code).is_none()
                || !tree.is_within(&code, &jur)
                || !viewer.covers_region(&code)
            {
                return Err(page.fail(ApiError::not_found(Entity::Region, code)));
            }
            code
        }
    };
    let units = s.store.unit_names().await.map_err(|e| page.fail(e))?;
    let tasks = s
        .store
        .tasks(&TaskFilter {
            scope: Some(region.clone()),
            facility: viewer.facility().map(str::to_string),
            status: status.clone(),
            // In the query, before the limit: a unit's tasks are found however
            // far down the region's list they are.
            unit: unit_filter,
            overdue_at: overdue_only.then_some(now),
            limit: TASK_LIMIT,
        })
        .await
        .map_err(|e| page.fail(e))?;
    let is_overdue = |t: &TaskRecord| t.status == "open" && t.due_at < now;
    let mut by_unit: BTreeMap<Option<i64>, Vec<&TaskRecord>> = BTreeMap::new();
    for t in &tasks {
        by_unit.entry(t.unit_id).or_default().push(t);
    }
    let can_open = viewer.can(Capability::ReadRegistry);
    let mut groups: Vec<(usize, UnitGroup)> = by_unit
        .into_iter()
        .map(|(unit, mut ts)| {
            ts.sort_by_key(|t| (!is_overdue(t), t.due_at, t.id));
            let n_over = ts.iter().filter(|t| is_overdue(t)).count();
            let name = unit
                .and_then(|u| units.get(&u).cloned())
                .unwrap_or_else(|| T::NoUnit.get(lang).to_string());
            let rows = ts
                .iter()
                .map(|t| {
                    let over = is_overdue(t);
                    TaskRow {
                        id: t.id,
                        kind: t.kind.label(lang),
                        subject: closedloop_store::task_subject_label(&t.subject, lang),
                        region: region_name(&tree, t.region_code.as_deref(), lang),
                        due: page.datetime(from_epoch(t.due_at)),
                        status: if over {
                            format!(
                                "{} {}",
                                T::OverdueBy.get(lang),
                                text::minutes((now - t.due_at) / 60, lang)
                            )
                        } else {
                            status_label(&t.status, lang)
                        },
                        overdue: over,
                        person_href: t
                            .person_id
                            .filter(|_| can_open)
                            .map(|p| format!("/persons/{p}")),
                    }
                })
                .collect();
            (
                n_over,
                UnitGroup {
                    name,
                    overdue: page.int(n_over as i64),
                    tasks: rows,
                },
            )
        })
        .collect();
    // Units with the most overdue first.
    groups.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
    let shown: usize = groups.iter().map(|g| g.1.tasks.len()).sum();
    let current = status.clone().unwrap_or_else(|| "all".into());
    let statuses = ["open", "done", "cancelled", "all"]
        .iter()
        .map(|v| Choice {
            value: v.to_string(),
            label: if *v == "all" {
                T::AllStatuses.get(lang).to_string()
            } else {
                status_label(v, lang)
            },
            selected: current == *v,
        })
        .collect();
    let mut unit_choices: Vec<Choice> = units
        .iter()
        .map(|(id, name)| Choice {
            value: id.to_string(),
            label: name.clone(),
            selected: unit_filter == Some(*id),
        })
        .collect();
    unit_choices.sort_by(|a, b| a.label.cmp(&b.label));
    let tpl = TasksPage {
        at: now.to_string(),
        at_label: page.datetime(from_epoch(now)),
        statuses,
        units: unit_choices,
        regions: super::region_options(&tree, &jur, &region, lang),
        overdue_only,
        groups: groups.into_iter().map(|g| g.1).collect(),
        shown: page.int(shown as i64),
        page,
    };
    render(&tpl, &tpl.page)
}

pub(crate) struct OverdueRow {
    pub id: i64,
    pub kind: &'static str,
    pub subject: String,
    pub region: String,
    pub unit: String,
    pub due: String,
    pub late: String,
    pub level: &'static str,
    pub notify: String,
    pub person_href: Option<String>,
}

pub(crate) struct NoticeRow {
    pub id: i64,
    pub reached: String,
    pub level: &'static str,
    pub rung: i64,
    pub kind: &'static str,
    pub subject: String,
    pub region: String,
    pub recipient: String,
    /// The recipient's unit or command, when it is not the recipient's own name.
    pub whom: Option<String>,
    pub task_status: String,
    /// "Acknowledged <when> <by whom>"; `None` shows the button.
    pub acknowledged: Option<String>,
    pub person_href: Option<String>,
}

/// Most notices shown on the page.
const NOTICE_LIMIT: i64 = 500;

#[derive(askama::Template)]
#[template(path = "loop/overdue.html")]
struct OverduePage {
    page: Page,
    at_label: String,
    rows: Vec<OverdueRow>,
    notices: Vec<NoticeRow>,
    unacknowledged: String,
    acknowledged_now: bool,
}

fn notice_row(n: &Notice, tree: &RegionTree, page: &Page, can_open: bool) -> NoticeRow {
    let lang = page.lang;
    NoticeRow {
        id: n.id,
        reached: page.datetime(from_epoch(n.reached_at)),
        level: n.level.label(lang),
        rung: n.rung,
        kind: n.task_kind.label(lang),
        subject: closedloop_store::task_subject_label(&n.task_subject, lang),
        region: region_name(tree, n.region_code.as_deref(), lang),
        recipient: n.recipient.clone(),
        whom: n
            .recipient_unit
            .clone()
            .or_else(|| n.recipient_command.clone())
            .filter(|w| *w != n.recipient),
        task_status: status_label(&n.task_status, lang),
        acknowledged: n.acknowledged_at.map(|t| {
            format!(
                "{} {} {}",
                T::EscAcknowledged.get(lang),
                page.datetime(from_epoch(t)),
                n.acknowledged_by.as_deref().unwrap_or("-")
            )
        }),
        person_href: n
            .person_id
            .filter(|_| can_open)
            .map(|p| format!("/persons/{p}")),
    }
}

async fn overdue_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoopQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Overdue).await;
    super::finish(build_overdue(&s, page, q).await)
}

async fn build_overdue(s: &AppState, page: Page, q: LoopQuery) -> PageResult {
    page.require(Capability::SeeEscalations)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let now = judged_at(s, &page, &q).await?;
    let tree = s.store.region_tree().await.map_err(|e| page.fail(e))?;
    let mut items = s
        .store
        .overdue_within(
            &s.profile,
            now,
            Some(&viewer.jurisdiction.region),
            viewer.facility(),
        )
        .await
        .map_err(|e| page.fail(e))?;
    items.sort_by(|a, b| {
        b.minutes_late
            .cmp(&a.minutes_late)
            .then(a.task.id.cmp(&b.task.id))
    });
    let can_open = viewer.can(Capability::ReadRegistry);
    let rows = items
        .iter()
        .map(|o| OverdueRow {
            id: o.task.id,
            kind: o.task.kind.label(lang),
            subject: closedloop_store::task_subject_label(&o.task.subject, lang),
            region: region_name(&tree, o.task.region_code.as_deref(), lang),
            unit: o.unit.clone().unwrap_or_else(|| "-".into()),
            due: page.datetime(from_epoch(o.task.due_at)),
            late: text::minutes(o.minutes_late, lang),
            level: o.level.label(lang),
            notify: o.notify.clone(),
            person_href: o
                .task
                .person_id
                .filter(|_| can_open)
                .map(|p| format!("/persons/{p}")),
        })
        .collect();
    let notices = s
        .store
        .notices(
            Some(&viewer.jurisdiction.region),
            &NoticeFilter {
                unacknowledged: false,
                limit: NOTICE_LIMIT,
            },
        )
        .await
        .map_err(|e| page.fail(e))?;
    let open = notices
        .iter()
        .filter(|n| n.acknowledged_at.is_none())
        .count();
    let tpl = OverduePage {
        at_label: page.datetime(from_epoch(now)),
        rows,
        notices: notices
            .iter()
            .map(|n| notice_row(n, &tree, &page, can_open))
            .collect(),
        unacknowledged: page.int(open as i64),
        acknowledged_now: non_empty(&q.ack).is_some(),
        page,
    };
    render(&tpl, &tpl.page)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct AcknowledgeForm {
    #[serde(default, alias = "csrf_token")]
    csrf: String,
}

/// `POST /loop/notices/{id}/acknowledge`: the viewer acknowledges a notice
/// of their jurisdiction (one elsewhere is not found), then back to the
/// overdue page (Post/Redirect/Get).
async fn acknowledge(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AcknowledgeForm>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, "/loop/overdue", T::Overdue).await;
    if let Err(r) = page.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = page.require(Capability::SeeEscalations) {
        return r;
    }
    let Ok(notice) = id.trim().parse::<i64>() else {
        let shown: String = id.chars().take(20).collect();
        return page.fail(ApiError::not_found(
            Entity::Other("escalation notice"),
            shown,
        ));
    };
    let regions = viewer.region_scope();
    match s
        .store
        .acknowledge_notice_for(
            notice,
            regions.as_deref(),
            chrono::Utc::now().timestamp(),
            &viewer.actor(),
        )
        .await
    {
        Ok(_) => Redirect::to(&format!("/loop/overdue?ack=1#notice-{notice}")).into_response(),
        Err(e) => page.fail(e),
    }
}

pub(crate) struct LeakRow {
    pub anchor: String,
    pub kind: &'static str,
    pub person: String,
    pub category: &'static str,
    pub region: String,
    pub since: String,
}

#[derive(askama::Template)]
#[template(path = "loop/leaks.html")]
struct LeaksPage {
    page: Page,
    at_label: String,
    rows: Vec<LeakRow>,
}

async fn leaks_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoopQuery>,
) -> Response {
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Leaks).await;
    super::finish(build_leaks(&s, page, q).await)
}

async fn build_leaks(s: &AppState, page: Page, q: LoopQuery) -> PageResult {
    page.require(Capability::SeeEscalations)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let now = judged_at(s, &page, &q).await?;
    let today = from_epoch(now).with_timezone(&s.tz).date_naive();
    let tree = s.store.region_tree().await.map_err(|e| page.fail(e))?;
    let items = s
        .store
        .leaks_within(
            &s.profile,
            now,
            today,
            Some(&viewer.jurisdiction.region),
            viewer.facility(),
        )
        .await
        .map_err(|e| page.fail(e))?;
    let rows = items
        .iter()
        .enumerate()
        .map(|(i, l)| LeakRow {
            anchor: format!("leak-{i}"),
            kind: l.kind.label(lang),
            person: l.person.clone(),
            category: l.category.map(|c| c.label(lang)).unwrap_or("-"),
            region: region_name(&tree, l.region_code.as_deref(), lang),
            since: leak_since(&l.since, l.kind, &page),
        })
        .collect();
    let tpl = LeaksPage {
        at_label: page.datetime(from_epoch(now)),
        rows,
        page,
    };
    render(&tpl, &tpl.page)
}

pub(crate) struct LapseRow {
    pub step: String,
    pub person: String,
    pub region: String,
    pub unit: String,
    pub official: String,
    pub due: String,
    pub done: String,
    pub late: String,
    pub exposed: String,
    pub linked: String,
}

pub(crate) struct GroupRow {
    pub name: String,
    pub lapses: String,
    pub late: String,
    pub linked: String,
}

#[derive(askama::Template)]
#[template(path = "loop/accountability.html")]
struct AccountabilityPage {
    page: Page,
    from_value: String,
    to_value: String,
    period: String,
    lapses: Vec<LapseRow>,
    by_unit: Vec<GroupRow>,
    by_official: Vec<GroupRow>,
}

async fn accountability_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<LoopQuery>,
) -> Response {
    let page = Page::new(
        &s,
        &viewer,
        &headers,
        &current_path(&uri),
        T::Accountability,
    )
    .await;
    super::finish(build_accountability(&s, page, q).await)
}

async fn build_accountability(s: &AppState, page: Page, q: LoopQuery) -> PageResult {
    page.require(Capability::ReadAccountability)?;
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let scope = viewer.region_scope();
    let last = default_day(s, scope.as_deref())
        .await
        .map_err(|e| page.fail(e))?;
    let to = opt_date(&q.to).map_err(|e| page.fail(e))?.unwrap_or(last);
    let from = opt_date(&q.from)
        .map_err(|e| page.fail(e))?
        .unwrap_or(to - chrono::Duration::days(13));
    if from > to {
        return Err(page.fail(ApiError::bad_request(&DomainError::UnknownValue {
            value: format!("{from} > {to}"),
            expected: "from <= to",
        })));
    }
    let now = loop_now(s, last.max(to));
    let report = s
        .store
        .accountability(
            day_bounds(from, s.tz).0.timestamp(),
            day_bounds(to, s.tz).1.timestamp(),
            now,
            Some(&viewer.jurisdiction.region),
        )
        .await
        .map_err(|e| page.fail(e))?;
    let tree = s.store.region_tree().await.map_err(|e| page.fail(e))?;
    let step = |raw: &str| {
        closedloop_store::TaskKind::parse(raw)
            .map(|k| k.label(lang).to_string())
            .unwrap_or_else(|_| raw.to_string())
    };
    let lapses = report
        .lapses
        .iter()
        .map(|l| LapseRow {
            step: step(&l.step),
            person: l.person.clone(),
            region: region_name(&tree, l.region_code.as_deref(), lang),
            unit: l.unit.clone(),
            official: l.official.clone(),
            due: page.datetime(from_epoch(l.due_at)),
            done: l
                .done_at
                .map(|t| page.datetime(from_epoch(t)))
                .unwrap_or_else(|| T::NotDone.get(lang).to_string()),
            late: text::minutes(l.minutes_late, lang),
            exposed: page.int(l.contacts_exposed),
            linked: page.int(l.cases_linked),
        })
        .collect();
    let group = |g: &closedloop_store::LapseGroup| GroupRow {
        name: g.name.clone(),
        lapses: page.int(g.lapses),
        late: text::minutes(g.minutes_late, lang),
        linked: page.int(g.cases_linked),
    };
    let tpl = AccountabilityPage {
        from_value: from.to_string(),
        to_value: to.to_string(),
        period: format!("{} – {}", page.date(from), page.date(to)),
        lapses,
        by_unit: report.by_unit.iter().map(group).collect(),
        by_official: report.by_official.iter().map(group).collect(),
        page,
    };
    render(&tpl, &tpl.page)
}
