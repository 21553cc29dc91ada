//! The dashboard (`/`): the epidemic curve of the viewer's jurisdiction, the
//! selected day's bulletin, the loop funnel with overdue items and leaks, the
//! capacity of facilities and a table by child region.

use super::charts::{self, CapBar, EpiBar, EpiLegend, HBar, Labels};
use super::text::{self, T};
use super::{current_path, opt_date, render, Page, PageResult, PageViewer};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{NaiveDate, Utc};
use closedloop_domain::access::Capability;
use closedloop_domain::bulletin::{self, Bulletin};
use closedloop_domain::lifecycle::{FacilityKind, LoopState};
use closedloop_domain::time::day_bounds;
use closedloop_domain::Lang;
use closedloop_store::{AuditHead, LeakKind};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", get(dashboard))
}

/// Days the curve shows, ending on the selected day.
const CURVE_DAYS: i64 = 30;
/// Overdue items and leaks listed on the dashboard (the rest on /loop pages).
const LISTED: usize = 5;

/// The day a page shows when none is asked for: the last day with a report
/// in `scope` (the demo's data is from 2022), else today.
pub(crate) async fn default_day(
    s: &AppState,
    scope: Option<&[String]>,
) -> Result<NaiveDate, ApiError> {
    let today = Utc::now().with_timezone(&s.tz).date_naive();
    Ok(match s.store.last_report_time(scope).await? {
        Some(t) => t.with_timezone(&s.tz).date_naive().min(today),
        None => today,
    })
}

/// The instant the loop is judged at for a day: the end of that day, or now
/// if the day is today (deadlines later today are not overdue yet).
pub(crate) fn loop_now(s: &AppState, day: NaiveDate) -> i64 {
    let end = day_bounds(day, s.tz).1.timestamp();
    end.min(Utc::now().timestamp())
}

/// The bulletin's title and paragraphs, from the official renderer.
pub(crate) fn bulletin_text(b: &Bulletin, lang: Lang) -> (String, Vec<String>) {
    let text = b.render(bulletin::Format::Text, lang);
    let mut lines = text.lines().map(str::to_string);
    let title = lines.next().unwrap_or_default();
    (title, lines.filter(|l| !l.trim().is_empty()).collect())
}

#[derive(Deserialize)]
pub(crate) struct DashQuery {
    date: Option<String>,
    /// Seconds between reloads, for a wall screen (30 to 3600).
    refresh: Option<String>,
}

/// A figure shown as a card.
#[derive(Clone)]
pub(crate) struct Figure {
    pub label: &'static str,
    pub value: String,
}

#[derive(Clone)]
pub(crate) struct CurveRow {
    pub day: String,
    pub href: String,
    pub confirmed: String,
    pub reclassified: String,
    pub asymptomatic: String,
    pub selected: bool,
}

#[derive(Clone)]
pub(crate) struct StateRow {
    pub state: &'static str,
    pub people: String,
}

#[derive(Clone)]
pub(crate) struct RegionRow {
    pub name: String,
    pub new_confirmed: String,
    pub new_asymptomatic: String,
    pub cumulative_confirmed: String,
    pub cumulative_asymptomatic: String,
    pub under_management: String,
}

#[derive(Clone)]
pub(crate) struct ItemRow {
    pub what: String,
    pub person: String,
    pub region: String,
    pub when: String,
    pub href: String,
}

#[derive(Clone)]
pub(crate) struct CapRow {
    pub kind: &'static str,
    pub facilities: String,
    pub capacity: String,
    pub occupied: String,
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    page: Page,
    date_value: String,
    date_label: String,
    region_name: String,
    figures: Vec<Figure>,
    curve_svg: String,
    curve_rows: Vec<CurveRow>,
    bulletin_title: String,
    bulletin_paragraphs: Vec<String>,
    bulletin_href: String,
    show_loop: bool,
    funnel_svg: String,
    funnel_rows: Vec<StateRow>,
    funnel_total: String,
    show_escalations: bool,
    overdue_count: String,
    overdue: Vec<ItemRow>,
    leaks_count: String,
    leaks: Vec<ItemRow>,
    loop_query: String,
    regions: Vec<RegionRow>,
    capacity_svg: String,
    capacity_rows: Vec<CapRow>,
}

/// Everything the dashboard shows but the page frame: a pure function of the
/// stored data for (scope, day, language, capabilities, judging instant).
#[derive(Clone)]
struct DashData {
    date_value: String,
    date_label: String,
    region_name: String,
    figures: Vec<Figure>,
    curve_svg: String,
    curve_rows: Vec<CurveRow>,
    bulletin_title: String,
    bulletin_paragraphs: Vec<String>,
    bulletin_href: String,
    show_loop: bool,
    funnel_svg: String,
    funnel_rows: Vec<StateRow>,
    funnel_total: String,
    show_escalations: bool,
    overdue_count: String,
    overdue: Vec<ItemRow>,
    leaks_count: String,
    leaks: Vec<ItemRow>,
    loop_query: String,
    regions: Vec<RegionRow>,
    capacity_svg: String,
    capacity_rows: Vec<CapRow>,
}

/// What a dashboard was computed for.
#[derive(Clone, PartialEq, Eq, Hash)]
struct DashKey {
    jurisdiction: String,
    /// A facility operator's facility: their loop figures are the facility's.
    facility: Option<String>,
    scope: Option<Vec<String>>,
    day: NaiveDate,
    lang: Lang,
    show_loop: bool,
    show_escalations: bool,
    now: i64,
}

/// Dashboards already computed, each with the audit head it was computed at.
/// Every change of the data the dashboard reads (cases, persons, the loop,
/// facilities, regions, units) writes an audit record in its transaction, so
/// an unchanged head means unchanged figures; a wall screen refreshing costs
/// one read of the head. Movement imports (check-ins, trip seats) are not
/// audited per row, but the dashboard reads none of their tables.
#[derive(Clone, Default)]
pub(crate) struct DashCache {
    inner: Arc<Mutex<CacheMap>>,
}

/// Each dashboard computed, with the head it was computed at.
type CacheMap = HashMap<DashKey, (AuditHead, Arc<DashData>)>;

/// Entries kept before the cache starts over (scopes × days × languages).
const CACHED: usize = 512;

impl DashCache {
    fn get(&self, key: &DashKey, head: &AuditHead) -> Option<Arc<DashData>> {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(h, _)| h == head)
            .map(|(_, d)| d.clone())
    }

    fn put(&self, key: DashKey, head: AuditHead, data: Arc<DashData>) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CACHED {
            map.retain(|_, (h, _)| *h == head);
            if map.len() >= CACHED {
                map.clear();
            }
        }
        map.insert(key, (head, data));
    }
}

async fn dashboard(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<DashQuery>,
) -> Response {
    // The public role reads the public bulletin only: that is its home page.
    if !viewer.can(Capability::ReadRegistry) {
        return axum::response::Redirect::to("/public/bulletin").into_response();
    }
    let page = Page::new(&s, &viewer, &headers, &current_path(&uri), T::Dashboard).await;
    super::finish(build(&s, page, q).await)
}

async fn build(s: &AppState, mut page: Page, q: DashQuery) -> PageResult {
    page.require(Capability::ReadRegistry)?;
    page.refresh_seconds = super::non_empty(&q.refresh)
        .and_then(|r| r.parse::<u32>().ok())
        .map(|n| n.clamp(30, 3600));
    let viewer = page.viewer()?.clone();
    let lang = page.lang;
    let scope = viewer.region_scope();
    let scope_ref = scope.as_deref();
    let fail = |e: ApiError| page.fail(e);
    let day = match opt_date(&q.date).map_err(fail)? {
        Some(d) => d,
        None => default_day(s, scope_ref).await.map_err(fail)?,
    };
    let show_loop = viewer.can(Capability::ReadLoop);
    let show_escalations = viewer.can(Capability::SeeEscalations);
    // Today's loop is judged at the start of the current minute, so that a
    // minute's requests share one computation; a past day at its end.
    let now = loop_now(s, day);
    let now = if now < day_bounds(day, s.tz).1.timestamp() {
        now - now.rem_euclid(60)
    } else {
        now
    };
    let key = DashKey {
        jurisdiction: viewer.jurisdiction.region.clone(),
        facility: viewer.jurisdiction.facility.clone(),
        scope: scope.clone(),
        day,
        lang,
        show_loop,
        show_escalations,
        now,
    };
    let head = s.store.audit_chain_head().await.map_err(|e| page.fail(e))?;
    let data = match s.dashboards.get(&key, &head) {
        Some(d) => d,
        None => {
            let d = Arc::new(compute(s, &page, &viewer, day, now).await?);
            s.dashboards.put(key, head, d.clone());
            d
        }
    };
    let d = (*data).clone();
    let tpl = DashboardPage {
        date_value: d.date_value,
        date_label: d.date_label,
        region_name: d.region_name,
        figures: d.figures,
        curve_svg: d.curve_svg,
        curve_rows: d.curve_rows,
        bulletin_title: d.bulletin_title,
        bulletin_paragraphs: d.bulletin_paragraphs,
        bulletin_href: d.bulletin_href,
        show_loop: d.show_loop,
        funnel_svg: d.funnel_svg,
        funnel_rows: d.funnel_rows,
        funnel_total: d.funnel_total,
        show_escalations: d.show_escalations,
        overdue_count: d.overdue_count,
        overdue: d.overdue,
        leaks_count: d.leaks_count,
        leaks: d.leaks,
        loop_query: d.loop_query,
        regions: d.regions,
        capacity_svg: d.capacity_svg,
        capacity_rows: d.capacity_rows,
        page,
    };
    render(&tpl, &tpl.page)
}

/// The dashboard's figures for `day`, the loop judged at `now`.
async fn compute(
    s: &AppState,
    page: &Page,
    viewer: &crate::auth::Viewer,
    day: NaiveDate,
    now: i64,
) -> Result<DashData, Response> {
    let lang = page.lang;
    let scope = viewer.region_scope();
    let scope_ref = scope.as_deref();
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let jur = viewer.jurisdiction.region.clone();
    let region_name = tree
        .get(&jur)
        .map(|r| r.name(lang).to_string())
        .unwrap_or_else(|| jur.clone());

    // The day's figures for the jurisdiction and each child region, from one
    // read of the grouped facts.
    let (start, end) = day_bounds(day, s.tz);
    let facts = s
        .store
        .bulletin_facts(start, end)
        .await
        .map_err(|e| page.fail(e))?;
    let bulletin = bulletin::compute(&tree, &jur, day, &facts, lang).ok_or_else(|| {
        page.fail(ApiError::not_found(
            crate::error::Entity::Region,
            jur.clone(),
        ))
    })?;
    let (bulletin_title, bulletin_paragraphs) = bulletin_text(&bulletin, lang);
    let c = &bulletin.cumulative;
    let figures = vec![
        Figure {
            label: T::NewConfirmed.get(lang),
            value: page.int(bulletin.new_local_confirmed as i64),
        },
        Figure {
            label: T::NewAsymptomatic.get(lang),
            value: page.int(bulletin.new_local_asymptomatic as i64),
        },
        Figure {
            label: T::Reclassified.get(lang),
            value: page.int(bulletin.new_local_confirmed_reclassified as i64),
        },
        Figure {
            label: T::CumulativeConfirmed.get(lang),
            value: page.int((c.local_confirmed + c.imported_confirmed) as i64),
        },
        Figure {
            label: T::CumulativeAsymptomatic.get(lang),
            value: page.int((c.local_asymptomatic + c.imported_asymptomatic) as i64),
        },
    ];

    // The curve.
    let from = day - chrono::Duration::days(CURVE_DAYS - 1);
    let curve = s
        .store
        .epi_curve(scope_ref, from, day, s.tz)
        .await
        .map_err(|e| page.fail(e))?;
    let bars: Vec<EpiBar> = curve
        .iter()
        .map(|d| EpiBar {
            label: text::short_date(d.day, lang),
            confirmed: d.confirmed,
            reclassified: d.reclassified,
            asymptomatic: d.asymptomatic,
            selected: d.day == day,
        })
        .collect();
    let title = format!("{} · {}", T::EpiCurve.get(lang), region_name);
    let curve_svg = charts::epi_curve(
        &Labels {
            id: "epi",
            title: &title,
            desc: T::EpiCurveDesc.get(lang),
        },
        &EpiLegend {
            confirmed: T::NewConfirmed.get(lang),
            asymptomatic: T::NewAsymptomatic.get(lang),
            reclassified: T::Reclassified.get(lang),
        },
        &bars,
    );
    let curve_rows = curve
        .iter()
        .rev()
        .map(|d| CurveRow {
            day: text::short_date(d.day, lang),
            href: format!("/?date={}", d.day),
            confirmed: page.int(d.confirmed as i64),
            reclassified: page.int(d.reclassified as i64),
            asymptomatic: page.int(d.asymptomatic as i64),
            selected: d.day == day,
        })
        .collect();

    // Child regions: the day's new cases, cumulative, people in the loop.
    let managed = s
        .store
        .managed_by_region(scope_ref)
        .await
        .map_err(|e| page.fail(e))?;
    let mut managed_by_child: BTreeMap<String, u64> = BTreeMap::new();
    for m in &managed {
        if let Some(code) = &m.region_code {
            let child = tree
                .child_of_scope_holding(&jur, code)
                .map(|r| r.code.clone())
                .unwrap_or_else(|| jur.clone());
            *managed_by_child.entry(child).or_default() += m.open;
        }
    }
    let mut regions = Vec::new();
    for child in tree.children(&jur) {
        if let Some(b) = bulletin::compute(&tree, &child.code, day, &facts, lang) {
            let c = &b.cumulative;
            regions.push(RegionRow {
                name: child.name(lang).to_string(),
                new_confirmed: page.int((b.new_local_confirmed + b.new_imported_confirmed) as i64),
                new_asymptomatic: page
                    .int((b.new_local_asymptomatic + b.new_imported_asymptomatic) as i64),
                cumulative_confirmed: page.int((c.local_confirmed + c.imported_confirmed) as i64),
                cumulative_asymptomatic: page
                    .int((c.local_asymptomatic + c.imported_asymptomatic) as i64),
                under_management: page
                    .int(managed_by_child.get(&child.code).copied().unwrap_or(0) as i64),
            });
        }
    }

    // The loop.
    let show_loop = viewer.can(Capability::ReadLoop);
    let show_escalations = viewer.can(Capability::SeeEscalations);
    // The day deadlines are judged on, as the loop pages judge it from `at`.
    let loop_day = closedloop_domain::time::from_epoch(now)
        .with_timezone(&s.tz)
        .date_naive();
    let loop_query = format!("?at={}", now);
    let (mut funnel_svg, mut funnel_rows, mut funnel_total) =
        (String::new(), Vec::new(), String::new());
    let (mut overdue_count, mut leaks_count) = (String::new(), String::new());
    let (mut overdue, mut leaks) = (Vec::new(), Vec::new());
    if show_loop {
        let status = s
            .store
            .loop_status_within(&s.profile, now, loop_day, Some(&jur), viewer.facility())
            .await
            .map_err(|e| page.fail(e))?;
        let mut per_state: BTreeMap<&str, i64> = BTreeMap::new();
        for states in status.by_category.values() {
            for (state, n) in states {
                *per_state.entry(state.as_str()).or_default() += n;
            }
        }
        let rows: Vec<(LoopState, i64)> = LoopState::ALL
            .iter()
            .map(|st| (*st, per_state.get(st.as_str()).copied().unwrap_or(0)))
            .collect();
        funnel_total = page.int(rows.iter().map(|r| r.1).sum());
        funnel_svg = charts::hbars(
            &Labels {
                id: "funnel",
                title: T::LoopFunnel.get(lang),
                desc: T::LoopFunnelDesc.get(lang),
            },
            &rows
                .iter()
                .map(|(st, n)| HBar {
                    label: st.label(lang).to_string(),
                    value: (*n).max(0) as u64,
                })
                .collect::<Vec<_>>(),
        );
        funnel_rows = rows
            .iter()
            .map(|(st, n)| StateRow {
                state: st.label(lang),
                people: page.int(*n),
            })
            .collect();
        overdue_count = page.int(status.overdue_tasks);
        leaks_count = page.int(status.leaks.values().sum());
        if show_escalations {
            let area = (jur.as_str(), viewer.facility());
            overdue = overdue_rows(s, page, &tree, now, area, LISTED).await?;
            leaks = leak_rows(s, page, &tree, now, loop_day, area, LISTED).await?;
        }
    }

    // Capacity.
    let cap = s
        .store
        .capacity_by_kind(scope_ref)
        .await
        .map_err(|e| page.fail(e))?;
    let kind_label = |k: &str| FacilityKind::parse(k).map(|k| k.label(lang)).unwrap_or("-");
    let capacity_svg = if cap.is_empty() {
        String::new()
    } else {
        charts::capacity(
            &Labels {
                id: "capacity",
                title: T::Capacity.get(lang),
                desc: T::CapacityDesc.get(lang),
            },
            &cap.iter()
                .map(|r| CapBar {
                    label: kind_label(&r.kind).to_string(),
                    used: r.occupied,
                    capacity: r.capacity,
                })
                .collect::<Vec<_>>(),
        )
    };
    let capacity_rows = cap
        .iter()
        .map(|r| CapRow {
            kind: kind_label(&r.kind),
            facilities: page.int(r.facilities as i64),
            capacity: page.int(r.capacity as i64),
            occupied: page.int(r.occupied as i64),
        })
        .collect();

    Ok(DashData {
        date_value: day.to_string(),
        date_label: page.date(day),
        region_name,
        figures,
        curve_svg,
        curve_rows,
        bulletin_title,
        bulletin_paragraphs,
        bulletin_href: format!("/bulletin?date={day}"),
        show_loop,
        funnel_svg,
        funnel_rows,
        funnel_total,
        show_escalations,
        overdue_count,
        overdue,
        leaks_count,
        leaks,
        loop_query,
        regions,
        capacity_svg,
        capacity_rows,
    })
}

fn region_label(
    tree: &closedloop_domain::region::RegionTree,
    code: Option<&str>,
    lang: Lang,
) -> String {
    match code {
        None => "-".into(),
        Some(c) => tree
            .get(c)
            .map(|r| r.name(lang).to_string())
            .unwrap_or_else(|| c.to_string()),
    }
}

/// The overdue items at `now` in the jurisdiction (its region and, for a
/// facility operator, facility), longest overdue first.
pub(crate) async fn overdue_rows(
    s: &AppState,
    page: &Page,
    tree: &closedloop_domain::region::RegionTree,
    now: i64,
    (jur, facility): (&str, Option<&str>),
    limit: usize,
) -> Result<Vec<ItemRow>, Response> {
    let mut items = s
        .store
        .overdue_within(&s.profile, now, Some(jur), facility)
        .await
        .map_err(|e| page.fail(e))?;
    items.sort_by(|a, b| {
        b.minutes_late
            .cmp(&a.minutes_late)
            .then(a.task.id.cmp(&b.task.id))
    });
    Ok(items
        .iter()
        .take(limit)
        .map(|o| ItemRow {
            what: format!(
                "{} · {}",
                o.task.kind.label(page.lang),
                text::minutes(o.minutes_late, page.lang)
            ),
            person: o.task.subject.clone(),
            region: region_label(tree, o.task.region_code.as_deref(), page.lang),
            when: page.datetime(closedloop_domain::time::from_epoch(o.task.due_at)),
            href: format!("/loop/overdue?at={now}#task-{}", o.task.id),
        })
        .collect())
}

/// The leaks at `now` in the jurisdiction (its region and, for a facility
/// operator, facility).
pub(crate) async fn leak_rows(
    s: &AppState,
    page: &Page,
    tree: &closedloop_domain::region::RegionTree,
    now: i64,
    day: NaiveDate,
    (jur, facility): (&str, Option<&str>),
    limit: usize,
) -> Result<Vec<ItemRow>, Response> {
    let items = s
        .store
        .leaks_within(&s.profile, now, day, Some(jur), facility)
        .await
        .map_err(|e| page.fail(e))?;
    Ok(items
        .iter()
        .enumerate()
        .take(limit)
        .map(|(i, l)| ItemRow {
            what: l.kind.label(page.lang).to_string(),
            person: l.person.clone(),
            region: region_label(tree, l.region_code.as_deref(), page.lang),
            when: leak_since(&l.since, l.kind, page),
            href: format!("/loop/leaks?at={now}#leak-{i}"),
        })
        .collect())
}

/// A leak's `since`: epoch seconds, or a date for missed tests.
pub(crate) fn leak_since(since: &str, kind: LeakKind, page: &Page) -> String {
    if kind == LeakKind::TestMissed {
        return NaiveDate::parse_from_str(since, "%Y-%m-%d")
            .map(|d| page.date(d))
            .unwrap_or_else(|_| since.to_string());
    }
    since
        .parse::<i64>()
        .map(|t| page.datetime(closedloop_domain::time::from_epoch(t)))
        .unwrap_or_else(|_| since.to_string())
}
