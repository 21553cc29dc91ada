//! The registry's pages: the case list (filters, sorting, pagination and the
//! export of exactly what is filtered), a case, the person list and the
//! search. Everything is read within the viewer's jurisdiction: lists through
//! the store's `scope`, by-id reads through [`person_in`] and [`case_in`]
//! (a miss, or a record outside the jurisdiction, is 404).
//!
//! Also the helpers the other record pages share: how a person linked from
//! outside the jurisdiction is shown (pseudonymised), query strings, pages.

use super::{current_path, finish, non_empty, opt_date, render, Page, PageResult, PageViewer, T};
use crate::auth::Viewer;
use crate::error::{ApiError, Entity};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use closedloop_domain::access::{mask_document, mask_name, Capability};
use closedloop_domain::case::{Classification, DiscoveryChannel};
use closedloop_domain::lifecycle::LoopState;
use closedloop_domain::region::RegionTree;
use closedloop_domain::time::{day_bounds, from_epoch};
use closedloop_domain::Lang;
use closedloop_store::{
    CaseFilter, CaseListOptions, CaseRecord, CaseSort, PersonFilter, PersonRecord,
};
use serde::Deserialize;

/// Rows per page of the lists.
pub(crate) const PAGE_SIZE: i64 = 50;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cases", get(cases_page))
        .route("/cases/export", get(cases_export))
        .route("/cases/{case_id}", get(case_page))
        .route("/persons", get(persons_page))
        .route("/persons/export", get(persons_export))
        .route("/search", get(search_page))
}

// ---------------------------------------------------------------------------
// Jurisdiction: by-id reads and pseudonymised links.

/// The person `id` if the viewer's jurisdiction holds them; 404 otherwise.
pub(crate) async fn person_in(
    s: &AppState,
    viewer: &Viewer,
    id: i64,
) -> Result<PersonRecord, ApiError> {
    s.store
        .person_in(id, viewer.scope())
        .await?
        .ok_or_else(|| ApiError::not_found(Entity::Person, id.to_string()))
}

/// The case `case_id` if it is in the viewer's jurisdiction; 404 otherwise.
pub(crate) async fn case_in(
    s: &AppState,
    viewer: &Viewer,
    case_id: &str,
) -> Result<CaseRecord, ApiError> {
    s.store
        .case_in(case_id, viewer.scope())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(Entity::Case, case_id.chars().take(64).collect::<String>())
        })
}

/// A person as a page shows them: named inside the jurisdiction (with a
/// link), pseudonymised outside it (masked name and document, no phone, no
/// address, no link).
#[derive(Debug, Clone)]
pub(crate) struct PersonLink {
    pub name: String,
    pub document: String,
    pub phone: String,
    pub address: String,
    pub href: Option<String>,
    pub masked: bool,
}

impl PersonLink {
    pub fn named(p: &PersonRecord) -> PersonLink {
        PersonLink {
            name: p.person.name.clone(),
            document: p.person.document.number.clone(),
            phone: p.person.phone.clone().unwrap_or_default(),
            address: p.person.address.clone().unwrap_or_default(),
            href: Some(format!("/persons/{}", p.id)),
            masked: false,
        }
    }

    pub fn pseudonymised(p: &PersonRecord) -> PersonLink {
        PersonLink {
            name: mask_name(&p.person.name),
            document: mask_document(&p.person.document.number),
            phone: String::new(),
            address: String::new(),
            href: None,
            masked: true,
        }
    }

    /// Someone the store no longer finds.
    pub fn unknown(id: i64) -> PersonLink {
        PersonLink {
            name: format!("#{id}"),
            document: String::new(),
            phone: String::new(),
            address: String::new(),
            href: None,
            masked: true,
        }
    }
}

/// People by id, each named or pseudonymised for the viewer (the store
/// decides who is in the jurisdiction).
pub(crate) async fn person_links(
    s: &AppState,
    viewer: &Viewer,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, PersonLink>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let found = s.store.persons_by_id(&ids).await?;
    let visible = s.store.visible_persons(&ids, viewer.scope()).await?;
    Ok(found
        .iter()
        .map(|p| {
            let link = if visible.contains(&p.id) {
                PersonLink::named(p)
            } else {
                PersonLink::pseudonymised(p)
            };
            (p.id, link)
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Small helpers.

/// Percent-encodes a query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `a=1&b=2` from the pairs whose value is not empty.
pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A region's name in `lang`, its code when unknown.
pub(crate) fn region_name(tree: &RegionTree, code: &str, lang: Lang) -> String {
    tree.get(code)
        .map(|r| r.name(lang).to_string())
        .unwrap_or_else(|| code.to_string())
}

/// An instant (epoch seconds) as the page writes it.
pub(crate) fn when(page: &Page, t: i64) -> String {
    page.datetime(from_epoch(t))
}

/// Why someone is a contact, for people: the exposure's kind and its
/// description (where, when, through what), in `lang`.
pub(crate) fn why(
    x: &closedloop_domain::contact::Explanation,
    lang: Lang,
    tz: chrono_tz::Tz,
) -> String {
    lang.text(
        format!("{}：{}", x.kind.label(lang), x.describe(lang, tz)),
        format!("{}: {}", x.kind.label(lang), x.describe(lang, tz)),
    )
}

/// An option of a `<select>`.
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices<V: Copy>(
    all: &[V],
    value: impl Fn(V) -> &'static str,
    label: impl Fn(V) -> String,
    current: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: value(*v).to_string(),
            label: label(*v),
            selected: value(*v) == current,
        })
        .collect()
}

/// The regions of the jurisdiction a filter may pick, indented by depth.
pub(crate) fn region_choices(
    tree: &RegionTree,
    viewer: &Viewer,
    lang: Lang,
    current: &str,
) -> Vec<Choice> {
    let top = &viewer.jurisdiction.region;
    let root = if tree.get(top).is_some() {
        top.clone()
    } else {
        match tree.single_root() {
            Some(r) => r.code.clone(),
            None => return Vec::new(),
        }
    };
    let mut out = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((code, depth)) = stack.pop() {
        let Some(r) = tree.get(&code) else { continue };
        // Cities and districts: the levels a filter is picked at (not thousands of communities).
        if depth > 2 {
            continue;
        }
        if viewer.covers_region(&code) {
            out.push(Choice {
                value: code.clone(),
                label: format!("{}{}", "　".repeat(depth), r.name(lang)),
                selected: code == current,
            });
        }
        let mut kids: Vec<String> = tree
            .iter()
            .filter(|k| k.parent_code.as_deref() == Some(code.as_str()))
            .map(|k| k.code.clone())
            .collect();
        kids.sort();
        for k in kids.into_iter().rev() {
            stack.push((k, depth + 1));
        }
    }
    out
}

/// Pagination links.
pub(crate) struct Pager {
    /// "第 2 页，共 9 页", "Page 2 of 9".
    pub label: String,
    pub total: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub first_row: String,
    pub last_row: String,
}

impl Pager {
    /// The pager of a list; `link(n)` is the address of page `n` (1-based).
    /// With a `cap`, the total is counted only up to it: above it the total
    /// and the number of pages read "10,000+", and a full page always has a
    /// next one.
    pub fn capped(
        page_: &Page,
        page: i64,
        total: i64,
        cap: Option<i64>,
        rows: usize,
        link: impl Fn(i64) -> String,
    ) -> Pager {
        let more = cap.is_some_and(|c| total > c);
        let counted = cap.map_or(total, |c| total.min(c));
        let pages = ((counted + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let first = (page - 1) * PAGE_SIZE + 1;
        let plus = if more { "+" } else { "" };
        let has_next = page < pages || (more && rows as i64 == PAGE_SIZE);
        let pages_text = format!("{}{plus}", page_.int(pages));
        Pager {
            label: page_.lang.text(
                format!("第 {} 页，共 {pages_text} 页", page_.int(page)),
                format!("Page {} of {pages_text}", page_.int(page)),
            ),
            total: format!("{}{plus}", page_.int(counted)),
            prev: (page > 1).then(|| link(page - 1)),
            next: has_next.then(|| link(page + 1)),
            first_row: page_.int(if rows == 0 { 0 } else { first }),
            last_row: page_.int(first - 1 + rows as i64),
        }
    }
}

fn page_number(raw: &Option<String>) -> i64 {
    non_empty(raw)
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| *p >= 1 && *p <= 1_000_000)
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------
// The case list.

/// The case list's query: every filter, the order and the page. Unknown
/// values are refused (400), never passed on.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CaseQuery {
    pub region: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub classification: Option<String>,
    pub discovery_channel: Option<String>,
    pub state: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub page: Option<String>,
    pub format: Option<String>,
}

impl CaseQuery {
    /// The filter pairs (no sort, page or format), for links.
    fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        let v = |x: &Option<String>| non_empty(x).unwrap_or_default().to_string();
        vec![
            ("region", v(&self.region)),
            ("from", v(&self.from)),
            ("to", v(&self.to)),
            ("classification", v(&self.classification)),
            ("discovery_channel", v(&self.discovery_channel)),
            ("state", v(&self.state)),
        ]
    }

    fn sort_pairs(&self) -> Vec<(&'static str, String)> {
        let v = |x: &Option<String>| non_empty(x).unwrap_or_default().to_string();
        vec![("sort", v(&self.sort)), ("dir", v(&self.dir))]
    }

    /// The store's filter and options for this query, within the viewer's
    /// jurisdiction, and the parsed order.
    fn parse(
        &self,
        s: &AppState,
        viewer: &Viewer,
        tree: &RegionTree,
    ) -> Result<(CaseFilter, CaseListOptions), ApiError> {
        let from = opt_date(&self.from)?;
        let to = opt_date(&self.to)?;
        let region = non_empty(&self.region);
        let regions = match region {
            None => None,
            Some(code) => {
                if tree.get(code).is_none() {
                    return Err(ApiError::not_found(
                        Entity::Region,
                        code.chars().take(20).collect::<String>(),
                    ));
                }
                Some(tree.subtree_codes(code))
            }
        };
        let sort = match non_empty(&self.sort) {
            None => CaseSort::default(),
            Some(raw) => CaseSort::parse(raw).ok_or_else(|| {
                ApiError::bad_request(&closedloop_domain::DomainError::UnknownValue {
                    value: raw.chars().take(40).collect(),
                    expected: "report_time case_id classification discovery_channel reporting_region onset_date",
                })
            })?,
        };
        let descending = match non_empty(&self.dir) {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(raw) => {
                return Err(ApiError::bad_request(
                    &closedloop_domain::DomainError::UnknownValue {
                        value: raw.chars().take(40).collect(),
                        expected: "asc desc",
                    },
                ))
            }
        };
        let filter = CaseFilter {
            scope: viewer.region_scope(),
            facility: viewer.facility().map(str::to_string),
            classification: non_empty(&self.classification)
                .map(Classification::parse)
                .transpose()?,
            origin: None,
            discovery_channel: non_empty(&self.discovery_channel)
                .map(DiscoveryChannel::parse)
                .transpose()?,
            reported_from: from.map(|d| day_bounds(d, s.tz).0),
            reported_to: to.map(|d| day_bounds(d, s.tz).1),
            limit: PAGE_SIZE,
            offset: (page_number(&self.page) - 1) * PAGE_SIZE,
        };
        let options = CaseListOptions {
            regions,
            loop_state: non_empty(&self.state).map(LoopState::parse).transpose()?,
            sort,
            descending,
            count_cap: Some(LIST_COUNT_CAP),
        };
        Ok((filter, options))
    }
}

/// A row of the case list.
pub(crate) struct CaseRow {
    pub case_id: String,
    pub href: String,
    pub person: String,
    pub person_href: String,
    pub classification: &'static str,
    pub channel: &'static str,
    pub reported: String,
    pub region: String,
    pub onset: String,
    pub state: String,
}

/// A sortable column header.
pub(crate) struct SortHeader {
    pub key: &'static str,
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none` (for aria-sort).
    pub aria: &'static str,
    pub mark: &'static str,
}

#[derive(Template)]
#[template(path = "records/cases.html")]
struct CasesTpl {
    page: Page,
    regions: Vec<Choice>,
    classifications: Vec<Choice>,
    channels: Vec<Choice>,
    states: Vec<Choice>,
    from: String,
    to: String,
    sort: Vec<Choice>,
    descending: bool,
    headers: Vec<SortHeader>,
    rows: Vec<CaseRow>,
    pager: Pager,
    export_csv: String,
    export_xlsx: String,
    can_export: bool,
}

async fn cases_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<CaseQuery>,
) -> Response {
    finish(cases_inner(&s, &viewer, &headers, &uri, &q).await)
}

async fn cases_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    q: &CaseQuery,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::Cases).await;
    page.require(Capability::ReadRegistry)?;
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let (filter, options) = q.parse(s, viewer, &tree).map_err(|e| page.fail(e))?;
    let (cases, total) = s
        .store
        .case_list(&filter, &options)
        .await
        .map_err(|e| page.fail(e))?;
    let pks: Vec<i64> = cases.iter().map(|c| c.id).collect();
    let states = s
        .store
        .case_loop_states(&pks)
        .await
        .map_err(|e| page.fail(e))?;
    let rows = cases
        .iter()
        .map(|c| CaseRow {
            case_id: c.case.case_id.clone(),
            href: format!("/cases/{}", enc(&c.case.case_id)),
            person: c.case.person.name.clone(),
            person_href: format!("/persons/{}", c.person_id),
            classification: c.case.classification.label(lang),
            channel: c.case.discovery_channel.label(lang),
            reported: page.datetime(c.case.report_time),
            region: region_name(&tree, &c.case.reporting_region, lang),
            onset: c.case.onset_date.map(|d| page.date(d)).unwrap_or_default(),
            state: states
                .get(&c.id)
                .map(|s| s.label(lang).to_string())
                .unwrap_or_else(|| page.t(T::RecNotInLoop).to_string()),
        })
        .collect::<Vec<_>>();
    let filters = q.filter_pairs();
    let link = |extra: &[(&'static str, String)]| {
        let mut pairs = filters.clone();
        pairs.extend_from_slice(extra);
        let qs = query_string(&pairs);
        if qs.is_empty() {
            "/cases".to_string()
        } else {
            format!("/cases?{qs}")
        }
    };
    let current_page = page_number(&q.page);
    let sort_pairs = q.sort_pairs();
    let pager = Pager::capped(
        &page,
        current_page,
        total,
        options.count_cap,
        rows.len(),
        |n| {
            let mut extra = sort_pairs.clone();
            extra.push(("page", n.to_string()));
            link(&extra)
        },
    );
    let column = |sort: CaseSort, label: T| {
        let on = options.sort == sort;
        let next_desc = on && !options.descending;
        SortHeader {
            key: sort.as_str(),
            label: page.t(label),
            href: link(&[
                ("sort", sort.as_str().to_string()),
                ("dir", if next_desc { "desc" } else { "asc" }.to_string()),
            ]),
            aria: match (on, options.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
            mark: match (on, options.descending) {
                (false, _) => "",
                (true, false) => " ▲",
                (true, true) => " ▼",
            },
        }
    };
    let sort_headers = vec![
        column(CaseSort::CaseId, T::RecCaseId),
        column(CaseSort::Classification, T::RecClassification),
        column(CaseSort::DiscoveryChannel, T::RecDiscoveryChannel),
        column(CaseSort::ReportTime, T::RecReportTime),
        column(CaseSort::ReportingRegion, T::RecReportingRegion),
        column(CaseSort::OnsetDate, T::RecOnsetDate),
    ];
    let sort_labels = [
        (CaseSort::ReportTime, T::RecReportTime),
        (CaseSort::CaseId, T::RecCaseId),
        (CaseSort::Classification, T::RecClassification),
        (CaseSort::DiscoveryChannel, T::RecDiscoveryChannel),
        (CaseSort::ReportingRegion, T::RecReportingRegion),
        (CaseSort::OnsetDate, T::RecOnsetDate),
    ];
    let mut export = filters.clone();
    export.extend(sort_pairs.clone());
    let export_link = |format: &str| {
        let mut pairs = export.clone();
        pairs.push(("format", format.to_string()));
        format!("/cases/export?{}", query_string(&pairs))
    };
    let v = |x: &Option<String>| non_empty(x).unwrap_or_default().to_string();
    let tpl = CasesTpl {
        regions: region_choices(&tree, viewer, lang, &v(&q.region)),
        classifications: choices(
            Classification::ALL,
            Classification::as_str,
            |c| c.label(lang).to_string(),
            &v(&q.classification),
        ),
        channels: choices(
            DiscoveryChannel::ALL,
            DiscoveryChannel::as_str,
            |c| c.label(lang).to_string(),
            &v(&q.discovery_channel),
        ),
        states: choices(
            &LoopState::ALL
                .iter()
                .copied()
                .filter(|st| st.fits(closedloop_domain::lifecycle::ManagedCategory::Case))
                .collect::<Vec<_>>(),
            LoopState::as_str,
            |c| c.label(lang).to_string(),
            &v(&q.state),
        ),
        from: v(&q.from),
        to: v(&q.to),
        sort: sort_labels
            .iter()
            .map(|(k, l)| Choice {
                value: k.as_str().to_string(),
                label: page.t(*l).to_string(),
                selected: *k == options.sort,
            })
            .collect(),
        descending: options.descending,
        headers: sort_headers,
        rows,
        pager,
        export_csv: export_link("csv"),
        export_xlsx: export_link("xlsx"),
        can_export: viewer.can(Capability::ExportRecords),
        page,
    };
    render(&tpl, &tpl.page)
}

/// `/cases/export?<the list's filters>&format=csv|xlsx`: every case the
/// filter selects (all pages), in the list's order, through the exchange
/// file writers; audited.
async fn cases_export(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<CaseQuery>,
) -> Response {
    finish(export_inner(&s, &viewer, &headers, &uri, &q).await)
}

async fn export_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    q: &CaseQuery,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::Cases).await;
    page.require(Capability::ReadRegistry)?;
    page.require(Capability::ExportRecords)?;
    let xlsx = export_is_xlsx(&page, &q.format)?;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let (mut filter, options) = q.parse(s, viewer, &tree).map_err(|e| page.fail(e))?;
    filter.limit = 0;
    filter.offset = 0;
    let (cases, _) = s
        .store
        .case_list(&filter, &options)
        .await
        .map_err(|e| page.fail(e))?;
    let rows = cases
        .iter()
        .map(|c| closedloop_ingest::case_record(&c.case, s.tz));
    let filter = q.filter_pairs().into_iter().chain(q.sort_pairs()).collect();
    let file = Export {
        entity: "cases",
        contract: closedloop_ingest::Contract::Cases,
        xlsx,
        filter,
    };
    file.deliver(s, viewer, &page, rows, cases.len()).await
}

/// Whether an export's `format` asks for XLSX (else CSV; anything else is 400).
fn export_is_xlsx(page: &Page, format: &Option<String>) -> Result<bool, Response> {
    match non_empty(format) {
        None | Some("csv") => Ok(false),
        Some("xlsx") => Ok(true),
        Some(raw) => Err(page.fail(ApiError::bad_request(
            &closedloop_domain::DomainError::UnknownValue {
                value: raw.chars().take(40).collect(),
                expected: "csv xlsx",
            },
        ))),
    }
}

/// A list's export: the file in the import contract's columns (so it reads
/// back in), audited with the list's filter and its row count.
struct Export {
    /// The audit record's entity and the file's name: "cases", "persons".
    entity: &'static str,
    contract: closedloop_ingest::Contract,
    xlsx: bool,
    /// The list's query pairs (empty values are left out of the audit).
    filter: Vec<(&'static str, String)>,
}

impl Export {
    async fn deliver(
        self,
        s: &AppState,
        viewer: &Viewer,
        page: &Page,
        rows: impl Iterator<Item = Vec<String>>,
        count: usize,
    ) -> PageResult {
        let mut body: Vec<u8> = Vec::new();
        let written = if self.xlsx {
            closedloop_ingest::write_xlsx_to(&mut body, self.contract, rows)
        } else {
            closedloop_ingest::write_csv(&mut body, self.contract, rows)
        };
        written.map_err(|e| {
            tracing::error!(error = %e, "export failed");
            page.fail(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                &crate::error::HttpError::Internal {
                    code: "export_failed",
                },
            ))
        })?;
        let (mime, ext) = if self.xlsx {
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        } else {
            ("text/csv; charset=utf-8", "csv")
        };
        let mut filter_json = serde_json::Map::new();
        for (k, v) in self.filter {
            if !v.is_empty() {
                filter_json.insert(k.to_string(), serde_json::Value::String(v));
            }
        }
        filter_json.insert("format".into(), serde_json::Value::String(ext.into()));
        s.store
            .audit_export(
                &viewer.actor(),
                self.entity,
                serde_json::Value::Object(filter_json),
                count as u64,
            )
            .await
            .map_err(|e| page.fail(e))?;
        let mut response = body.into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
        if let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}.{ext}\"", self.entity))
        {
            response.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
        Ok(response)
    }
}

// ---------------------------------------------------------------------------
// A case.

pub(crate) struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "records/case.html")]
struct CaseTpl {
    page: Page,
    case_id: String,
    person: PersonLink,
    fields: Vec<Field>,
    history: Vec<(String, String)>,
    contacts_href: String,
    can_trace: bool,
}

async fn case_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Path(case_id): Path<String>,
) -> Response {
    finish(case_inner(&s, &viewer, &headers, &uri, &case_id).await)
}

async fn case_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    case_id: &str,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::RecCaseDetail).await;
    page.require(Capability::ReadRegistry)?;
    let lang = page.lang;
    let c = case_in(s, viewer, case_id)
        .await
        .map_err(|e| page.fail(e))?;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let history = s
        .store
        .classification_history(c.id)
        .await
        .map_err(|e| page.fail(e))?;
    let states = s
        .store
        .case_loop_states(&[c.id])
        .await
        .map_err(|e| page.fail(e))?;
    s.store
        .audit_view(
            &viewer.actor(),
            "case",
            &c.case.case_id,
            serde_json::json!({"page": "case", "person_id": c.person_id}),
        )
        .await
        .map_err(|e| page.fail(e))?;
    let d = &c.case;
    let opt_time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| page.datetime(t)).unwrap_or_default();
    let fields = vec![
        Field {
            label: page.t(T::RecClassification),
            value: d.classification.label(lang).into(),
        },
        Field {
            label: page.t(T::RecClinicalType),
            value: d
                .clinical_type
                .map(|x| x.label(lang).to_string())
                .unwrap_or_default(),
        },
        Field {
            label: page.t(T::RecOrigin),
            value: d.origin.label(lang).into(),
        },
        Field {
            label: page.t(T::RecDiscoveryChannel),
            value: d.discovery_channel.label(lang).into(),
        },
        Field {
            label: page.t(T::RecOnsetDate),
            value: d.onset_date.map(|x| page.date(x)).unwrap_or_default(),
        },
        Field {
            label: page.t(T::RecReportTime),
            value: page.datetime(d.report_time),
        },
        Field {
            label: page.t(T::RecReportingRegion),
            value: region_name(&tree, &d.reporting_region, lang),
        },
        Field {
            label: page.t(T::RecIsolatedAt),
            value: opt_time(d.isolated_at),
        },
        Field {
            label: page.t(T::RecOutcome),
            value: d
                .outcome
                .map(|x| x.label(lang).to_string())
                .unwrap_or_default(),
        },
        Field {
            label: page.t(T::RecLoopState),
            value: states
                .get(&c.id)
                .map(|x| x.label(lang).to_string())
                .unwrap_or_else(|| page.t(T::RecNotInLoop).to_string()),
        },
    ];
    let history = history
        .iter()
        .map(|(at, class, clinical)| {
            let label = Classification::parse(class)
                .map(|c| c.label(lang).to_string())
                .unwrap_or_else(|_| class.clone());
            let clinical = clinical
                .as_deref()
                .and_then(|x| closedloop_domain::case::ClinicalType::parse(x).ok())
                .map(|x| format!(" · {}", x.label(lang)))
                .unwrap_or_default();
            (when(&page, *at), format!("{label}{clinical}"))
        })
        .collect();
    let person = match s
        .store
        .person(c.person_id)
        .await
        .map_err(|e| page.fail(e))?
    {
        // The case is in the jurisdiction, and so, for reading, is its person.
        Some(p) => PersonLink::named(&p),
        None => PersonLink::unknown(c.person_id),
    };
    let tpl = CaseTpl {
        case_id: d.case_id.clone(),
        person,
        fields,
        history,
        contacts_href: format!("/cases/{}/contacts", enc(&d.case_id)),
        can_trace: viewer.can(Capability::ReadTracing),
        page,
    };
    render(&tpl, &tpl.page)
}

// ---------------------------------------------------------------------------
// Persons and the search.

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PersonQuery {
    pub region: Option<String>,
    pub q: Option<String>,
    pub page: Option<String>,
    pub format: Option<String>,
}

pub(crate) struct PersonRow {
    pub href: String,
    pub name: String,
    pub document: String,
    pub phone: String,
    pub region: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "records/persons.html")]
struct PersonsTpl {
    page: Page,
    action: &'static str,
    search: bool,
    q: String,
    regions: Vec<Choice>,
    rows: Vec<PersonRow>,
    pager: Pager,
    asked: bool,
    can_export: bool,
    export_csv: String,
    export_xlsx: String,
}

async fn persons_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<PersonQuery>,
) -> Response {
    finish(persons_inner(&s, &viewer, &headers, &uri, &q, false).await)
}

async fn search_page(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<PersonQuery>,
) -> Response {
    finish(persons_inner(&s, &viewer, &headers, &uri, &q, true).await)
}

/// The person and case lists count up to this many matches; beyond, they
/// say "more than" ("10,000+").
const LIST_COUNT_CAP: i64 = 10_000;

/// Longest search text taken.
const MAX_QUERY: usize = 64;

async fn persons_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    q: &PersonQuery,
    search: bool,
) -> PageResult {
    let title = if search { T::Search } else { T::RecPersonList };
    let page = Page::new(s, viewer, headers, &current_path(uri), title).await;
    page.require(Capability::ReadRegistry)?;
    let lang = page.lang;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let PersonListQuery {
        text,
        region,
        regions,
    } = PersonListQuery::parse(&page, &tree, q)?;
    let current = page_number(&q.page);
    // The search lists nothing until asked.
    let asked = !search || !text.is_empty();
    let (persons, total) = if !asked {
        (Vec::new(), 0)
    } else {
        s.store
            .person_list(
                &person_filter(viewer, &text, PAGE_SIZE, (current - 1) * PAGE_SIZE),
                regions.as_deref(),
                Some(LIST_COUNT_CAP),
            )
            .await
            .map_err(|e| page.fail(e))?
    };
    let rows = persons
        .iter()
        .map(|p| PersonRow {
            href: format!("/persons/{}", p.id),
            name: p.person.name.clone(),
            document: p.person.document.number.clone(),
            phone: p.person.phone.clone().unwrap_or_default(),
            region: p
                .person
                .region_code
                .as_deref()
                .map(|c| region_name(&tree, c, lang))
                .unwrap_or_default(),
            address: p.person.address.clone().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let action = if search { "/search" } else { "/persons" };
    let pairs = vec![("region", region.clone()), ("q", text.clone())];
    let export = |format: &str| {
        let mut p = pairs.clone();
        p.push(("format", format.to_string()));
        format!("/persons/export?{}", query_string(&p))
    };
    let pager = Pager::capped(
        &page,
        current,
        total,
        Some(LIST_COUNT_CAP),
        rows.len(),
        |n| {
            let mut p = pairs.clone();
            p.push(("page", n.to_string()));
            format!("{action}?{}", query_string(&p))
        },
    );
    let tpl = PersonsTpl {
        action,
        search,
        q: text,
        regions: region_choices(&tree, viewer, lang, &region),
        rows,
        pager,
        asked,
        can_export: viewer.can(Capability::ExportRecords),
        export_csv: export("csv"),
        export_xlsx: export("xlsx"),
        page,
    };
    render(&tpl, &tpl.page)
}

/// What the person list and its export read: the search text, the chosen
/// region and its subtree (an unknown region is 404).
struct PersonListQuery {
    text: String,
    region: String,
    regions: Option<Vec<String>>,
}

impl PersonListQuery {
    fn parse(page: &Page, tree: &RegionTree, q: &PersonQuery) -> Result<Self, Response> {
        let text: String = non_empty(&q.q)
            .unwrap_or_default()
            .chars()
            .take(MAX_QUERY)
            .collect();
        let region = non_empty(&q.region).unwrap_or_default().to_string();
        let regions = if region.is_empty() {
            None
        } else if tree.get(&region).is_some() {
            Some(tree.subtree_codes(&region))
        } else {
            return Err(page.fail(ApiError::not_found(
                Entity::Region,
                region.chars().take(20).collect::<String>(),
            )));
        };
        Ok(PersonListQuery {
            text,
            region,
            regions,
        })
    }
}

/// The person list's filter in the viewer's jurisdiction.
fn person_filter(viewer: &Viewer, text: &str, limit: i64, offset: i64) -> PersonFilter {
    PersonFilter {
        scope: viewer.region_scope(),
        // A facility operator's people: those placed in the facility.
        facility: viewer.facility().map(str::to_string),
        query: (!text.is_empty()).then(|| text.to_string()),
        limit,
        offset,
    }
}

async fn persons_export(
    State(s): State<AppState>,
    PageViewer(viewer): PageViewer,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<PersonQuery>,
) -> Response {
    finish(persons_export_inner(&s, &viewer, &headers, &uri, &q).await)
}

/// Exactly what the person list shows for the same query, every page of it,
/// in the persons import contract's columns; audited with its filter.
async fn persons_export_inner(
    s: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    q: &PersonQuery,
) -> PageResult {
    let page = Page::new(s, viewer, headers, &current_path(uri), T::RecPersonList).await;
    page.require(Capability::ReadRegistry)?;
    page.require(Capability::ExportRecords)?;
    let xlsx = export_is_xlsx(&page, &q.format)?;
    let tree = s.region_tree().await.map_err(|e| page.fail(e))?;
    let query = PersonListQuery::parse(&page, &tree, q)?;
    let (persons, _) = s
        .store
        .person_list(
            &person_filter(viewer, &query.text, 0, 0),
            query.regions.as_deref(),
            None,
        )
        .await
        .map_err(|e| page.fail(e))?;
    let rows = persons
        .iter()
        .map(|p| closedloop_ingest::person_record(&p.person));
    let file = Export {
        entity: "persons",
        contract: closedloop_ingest::Contract::Persons,
        xlsx,
        filter: vec![("region", query.region.clone()), ("q", query.text.clone())],
    };
    file.deliver(s, viewer, &page, rows, persons.len()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(enc("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(enc("张"), "%E5%BC%A0");
        assert_eq!(
            query_string(&[("a", "1".into()), ("b", String::new()), ("c", "x y".into())]),
            "a=1&c=x%20y"
        );
    }
}
