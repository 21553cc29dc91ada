use crate::persons::{apply_person, plan_person, Change, PersonRecord, PERSON_COLUMNS};
use crate::{
    audit, decode, decode_date, get_i64, get_opt_i64, get_opt_str, get_str, now, placeholders,
    Actor, ImportMode, ImportSummary, RowRejection, Store, StoreError, StoreRowError,
};
use chrono::{DateTime, Utc};
use closedloop_domain::bulletin::{CaseFact, Period};
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::lifecycle::LoopState;
use closedloop_domain::time::{from_epoch, to_epoch};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use std::collections::HashMap;

/// A stored case with its person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseRecord {
    pub id: i64,
    pub person_id: i64,
    #[serde(flatten)]
    pub case: CaseDraft,
    pub created_at: i64,
    pub updated_at: i64,
}

const CASE_COLUMNS: &str = "c.id AS case_pk, c.case_id, c.person_id, c.classification, c.clinical_type, c.origin, c.discovery_channel, c.onset_date,
    c.sample_time, c.report_time, c.reporting_region, c.residence_region, c.reclassified_at, c.outcome, c.outcome_time, c.isolated_at,
    c.created_at AS case_created_at, c.updated_at AS case_updated_at";

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(get_opt_i64(row, col)?.map(from_epoch))
}

fn case_from_row(row: &AnyRow) -> Result<CaseRecord, StoreError> {
    let person = crate::persons::person_from_row(row)?;
    Ok(CaseRecord {
        id: get_i64(row, "case_pk")?,
        person_id: get_i64(row, "person_id")?,
        case: CaseDraft {
            case_id: get_str(row, "case_id")?,
            person: person.person,
            classification: decode(&get_str(row, "classification")?, Classification::parse)?,
            clinical_type: get_opt_str(row, "clinical_type")?
                .map(|s| decode(&s, ClinicalType::parse))
                .transpose()?,
            origin: decode(&get_str(row, "origin")?, Origin::parse)?,
            discovery_channel: decode(
                &get_str(row, "discovery_channel")?,
                DiscoveryChannel::parse,
            )?,
            onset_date: decode_date(get_opt_str(row, "onset_date")?)?,
            sample_time: opt_time(row, "sample_time")?,
            report_time: from_epoch(get_i64(row, "report_time")?),
            reporting_region: get_str(row, "reporting_region")?,
            residence_region: get_opt_str(row, "residence_region")?,
            reclassified_at: opt_time(row, "reclassified_at")?,
            outcome: get_opt_str(row, "outcome")?
                .map(|s| decode(&s, Outcome::parse))
                .transpose()?,
            outcome_time: opt_time(row, "outcome_time")?,
            isolated_at: opt_time(row, "isolated_at")?,
        },
        created_at: get_i64(row, "case_created_at")?,
        updated_at: get_i64(row, "case_updated_at")?,
    })
}

/// The case's own fields (not its person's), for comparing a file row with the store.
fn case_fields(c: &CaseDraft) -> [(&'static str, Option<String>); 14] {
    let t = |x: Option<DateTime<Utc>>| x.map(|t| to_epoch(t).to_string());
    [
        (
            "document_number",
            Some(format!(
                "{} {}",
                c.person.document.kind, c.person.document.number
            )),
        ),
        ("classification", Some(c.classification.as_str().into())),
        ("clinical_type", c.clinical_type.map(|x| x.as_str().into())),
        ("origin", Some(c.origin.as_str().into())),
        (
            "discovery_channel",
            Some(c.discovery_channel.as_str().into()),
        ),
        ("onset_date", c.onset_date.map(|d| d.to_string())),
        ("sample_time", t(c.sample_time)),
        ("report_time", t(Some(c.report_time))),
        ("reporting_region", Some(c.reporting_region.clone())),
        ("residence_region", c.residence_region.clone()),
        ("reclassified_at", t(c.reclassified_at)),
        ("outcome", c.outcome.map(|x| x.as_str().into())),
        ("outcome_time", t(c.outcome_time)),
        ("isolated_at", t(c.isolated_at)),
    ]
}

/// Whether the fields that set a case's infectious window differ: its
/// reference time (onset, sampling, report) or its isolation.
fn traced_fields_differ(a: &CaseDraft, b: &CaseDraft) -> bool {
    (a.onset_date, a.sample_time, a.report_time, a.isolated_at)
        != (b.onset_date, b.sample_time, b.report_time, b.isolated_at)
}

fn first_difference(
    stored: &CaseDraft,
    incoming: &CaseDraft,
) -> Option<(&'static str, StoreRowError)> {
    fields_differ(&case_fields(stored), &case_fields(incoming))
}

fn fields_differ(
    a: &[(&'static str, Option<String>)],
    b: &[(&'static str, Option<String>)],
) -> Option<(&'static str, StoreRowError)> {
    a.iter()
        .zip(b)
        .find(|(x, y)| x.1 != y.1)
        .map(|((col, old), (_, new))| {
            (
                *col,
                StoreRowError::Conflict {
                    stored: old.clone().unwrap_or_default(),
                    incoming: new.clone().unwrap_or_default(),
                },
            )
        })
}

async fn fetch_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<CaseRecord>, StoreError> {
    let row = sqlx::query(&format!("SELECT {CASE_COLUMNS}, {PERSON_COLUMNS} FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.case_id = $1"))
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(case_from_row).transpose()
}

fn bind_case<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    c: &CaseDraft,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(c.classification.as_str())
        .bind(c.clinical_type.map(|x| x.as_str()))
        .bind(c.origin.as_str())
        .bind(c.discovery_channel.as_str())
        .bind(c.onset_date.map(|d| d.to_string()))
        .bind(c.sample_time.map(to_epoch))
        .bind(to_epoch(c.report_time))
        .bind(c.reporting_region.clone())
        .bind(c.residence_region.clone())
        .bind(c.reclassified_at.map(to_epoch))
        .bind(c.outcome.map(|x| x.as_str()))
        .bind(c.outcome_time.map(to_epoch))
        .bind(c.isolated_at.map(to_epoch))
}

async fn record_classification(
    conn: &mut AnyConnection,
    case_pk: i64,
    at: DateTime<Utc>,
    class: Classification,
    clinical: Option<ClinicalType>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO case_classifications (case_pk, at, classification, clinical_type) VALUES ($1, $2, $3, $4)")
        .bind(case_pk)
        .bind(to_epoch(at))
        .bind(class.as_str())
        .bind(clinical.map(|x| x.as_str()))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Filters of the case list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Reporting regions to include (a jurisdiction's subtree); `None` is everywhere.
    pub scope: Option<Vec<String>>,
    /// Only cases whose person is placed in this facility (a managed record
    /// there): a facility operator's jurisdiction, on top of `scope` (see
    /// `store::access`).
    pub facility: Option<String>,
    pub classification: Option<Classification>,
    pub origin: Option<Origin>,
    pub discovery_channel: Option<DiscoveryChannel>,
    pub reported_from: Option<DateTime<Utc>>,
    pub reported_to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// A column the case list may be sorted by: a whitelist, each with its own
/// ORDER BY text (input never reaches the SQL). Ties break on the case id;
/// empty onset dates sort after every date (last ascending, first descending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    #[default]
    ReportTime,
    CaseId,
    Classification,
    DiscoveryChannel,
    ReportingRegion,
    OnsetDate,
}

impl CaseSort {
    pub const ALL: [CaseSort; 6] = [
        CaseSort::ReportTime,
        CaseSort::CaseId,
        CaseSort::Classification,
        CaseSort::DiscoveryChannel,
        CaseSort::ReportingRegion,
        CaseSort::OnsetDate,
    ];

    /// The wire name (a query parameter's value).
    pub fn as_str(self) -> &'static str {
        match self {
            CaseSort::ReportTime => "report_time",
            CaseSort::CaseId => "case_id",
            CaseSort::Classification => "classification",
            CaseSort::DiscoveryChannel => "discovery_channel",
            CaseSort::ReportingRegion => "reporting_region",
            CaseSort::OnsetDate => "onset_date",
        }
    }

    pub fn parse(s: &str) -> Option<CaseSort> {
        CaseSort::ALL.into_iter().find(|c| c.as_str() == s)
    }

    fn order_by(self, descending: bool) -> String {
        let dir = if descending { "DESC" } else { "ASC" };
        match self {
            CaseSort::CaseId => format!("c.case_id {dir}"),
            // Empty dates sort as the greatest, on both backends (PostgreSQL's
            // default, spelled out for SQLite), so one index serves both directions.
            CaseSort::OnsetDate => {
                let nulls = if descending { "FIRST" } else { "LAST" };
                format!("c.onset_date {dir} NULLS {nulls}, c.case_id {dir}")
            }
            other => format!("c.{} {dir}, c.case_id {dir}", other.as_str()),
        }
    }
}

/// What the console's case list adds to [`CaseFilter`]: a region chosen
/// within the jurisdiction, the loop state of the case's managed record, the order.
#[derive(Debug, Clone, Default)]
pub struct CaseListOptions {
    /// Reporting regions to include (a chosen region's subtree), on top of the
    /// filter's `scope`: a case must be in both.
    pub regions: Option<Vec<String>>,
    /// Only cases whose managed record (as a case) is in this state.
    pub loop_state: Option<LoopState>,
    pub sort: CaseSort,
    pub descending: bool,
    /// Count matches only up to this many (the list's pager says "N+"
    /// beyond): the same mechanism as the person list's
    /// [`Store::person_list`]. `None` counts exactly.
    pub count_cap: Option<i64>,
}

/// Up to this many reporting regions, a case list page sorted by report time
/// reads its keys region by region (see [`case_page_keys`]): a district's 17
/// codes, not a city's 44. PostgreSQL plans each region's read on its own,
/// ~0.5 ms each under load, and replans a statement its first five times on
/// each connection: 44 regions cost 20-30 ms a plan, more than the city's
/// page costs read in report order (1-2 ms).
pub(crate) const REGION_BRANCHES: usize = 24;

/// The WHERE of the case list: the reporting regions (the scope and the
/// chosen subtree intersected, so one set of codes), the other conditions,
/// and the binds (the region codes first, then the other texts, then integers).
struct CaseWhere {
    /// The placeholder numbers of the region codes; `None` is everywhere.
    regions: Option<std::ops::Range<usize>>,
    /// Every condition but the regions.
    rest: String,
    text: Vec<String>,
    ints: Vec<i64>,
}

impl CaseWhere {
    /// The whole WHERE.
    fn all(&self) -> String {
        match &self.regions {
            None => self.rest.clone(),
            Some(r) => format!(
                "c.reporting_region IN ({}) AND {}",
                placeholders(r.start, r.len()),
                self.rest
            ),
        }
    }
}

fn case_where(filter: &CaseFilter, options: &CaseListOptions) -> CaseWhere {
    let mut conditions = vec!["1 = 1".to_string()];
    let mut text: Vec<String> = Vec::new();
    let mut next = 1;
    // A case must be in both sets: their intersection, one list of codes
    // (which a page may read region by region, see `case_page_keys`).
    let set = match (&filter.scope, &options.regions) {
        (None, None) => None,
        (Some(s), None) | (None, Some(s)) => Some(s.clone()),
        (Some(scope), Some(chosen)) => {
            let scope: std::collections::HashSet<&String> = scope.iter().collect();
            Some(
                chosen
                    .iter()
                    .filter(|c| scope.contains(c))
                    .cloned()
                    .collect(),
            )
        }
    };
    let regions = set.map(|mut set| {
        set.sort();
        set.dedup();
        if set.is_empty() {
            // Matches nothing: no case is reported in the empty region.
            set.push(String::new());
        }
        let range = next..next + set.len();
        next += set.len();
        text.extend(set);
        range
    });
    for (col, v) in [
        ("classification", filter.classification.map(|x| x.as_str())),
        ("origin", filter.origin.map(|x| x.as_str())),
        (
            "discovery_channel",
            filter.discovery_channel.map(|x| x.as_str()),
        ),
    ] {
        if let Some(v) = v {
            conditions.push(format!("c.{col} = ${next}"));
            next += 1;
            text.push(v.into());
        }
    }
    if let Some(state) = options.loop_state {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM managed m WHERE m.case_pk = c.id AND m.category = 'case' AND m.state = ${next})"
        ));
        next += 1;
        text.push(state.as_str().into());
    }
    if let Some(facility) = &filter.facility {
        // As `access::case_in`: its person was placed there. An IN list
        // lets the planner start from the facility's few records.
        conditions.push(format!(
            "c.person_id IN (SELECT f.person_id FROM managed f WHERE f.facility_id = ${next})"
        ));
        next += 1;
        text.push(facility.clone());
    }
    let mut ints: Vec<i64> = Vec::new();
    if let Some(from) = filter.reported_from {
        conditions.push(format!("c.report_time >= ${next}"));
        next += 1;
        ints.push(to_epoch(from));
    }
    if let Some(to) = filter.reported_to {
        conditions.push(format!("c.report_time < ${next}"));
        ints.push(to_epoch(to));
    }
    CaseWhere {
        regions,
        rest: conditions.join(" AND "),
        text,
        ints,
    }
}

/// The query of a page's case ids in the list's order.
///
/// In report order over a few regions, each region's first cases up to the
/// page's end are read in that order from an index led by the region
/// (`cases_region_report_time`, or with a channel
/// `cases_channel_region_report_case`), then merged: a page reads about its
/// own rows and the pages before it. PostgreSQL cannot walk an index in order
/// under an IN list on its leading column: it read all of a district's 5,783
/// entries and sorted them for each page. Each region's read carries its own
/// ORDER BY and LIMIT because PostgreSQL merges a UNION ALL's branches in
/// order only when each is sorted itself (it does not see that a branch's
/// region is fixed, and sorted everything again).
fn case_page_keys(w: &CaseWhere, options: &CaseListOptions, limit: i64, offset: i64) -> String {
    let order = options.sort.order_by(options.descending);
    match &w.regions {
        Some(r) if by_region(w, options) => {
            let dir = if options.descending { "DESC" } else { "ASC" };
            // The page's bounds are written in the statement: as binds,
            // PostgreSQL found its generic plan (a limit it cannot see)
            // dearer than the custom ones and planned every execution anew.
            let branches = r
                .clone()
                .map(|n| {
                    format!(
                        "SELECT * FROM (SELECT c.case_id AS page_case, c.report_time AS page_time FROM cases c
                         WHERE c.reporting_region = ${n} AND {} ORDER BY {order} LIMIT {}) b{n}",
                        w.rest,
                        limit.saturating_add(offset)
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            format!(
                "SELECT page_case FROM ({branches}) branches ORDER BY page_time {dir}, page_case {dir} LIMIT {limit} OFFSET {offset}"
            )
        }
        _ => format!(
            "SELECT c.case_id AS page_case FROM cases c WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            w.all()
        ),
    }
}

/// Whether [`case_page_keys`] reads region by region.
fn by_region(w: &CaseWhere, options: &CaseListOptions) -> bool {
    matches!(&w.regions, Some(r) if options.sort == CaseSort::ReportTime && r.len() <= REGION_BRANCHES)
}

fn bind_filters<'q>(
    sql: &'q str,
    text: &[String],
    ints: &[i64],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for t in text {
        q = q.bind(t.clone());
    }
    for i in ints {
        q = q.bind(*i);
    }
    q
}

impl Store {
    /// The cases with these ids that exist, in the order given.
    pub async fn cases_by_id(&self, ids: &[String]) -> Result<Vec<CaseRecord>, StoreError> {
        let mut found: HashMap<String, CaseRecord> = HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {CASE_COLUMNS}, {PERSON_COLUMNS} FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.case_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                let c = case_from_row(&row)?;
                found.insert(c.case.case_id.clone(), c);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub async fn case(&self, case_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        fetch_case(&mut conn, case_id).await
    }

    /// Cases matching the filter in report order, and how many match in all.
    /// A `limit` of 0 or less returns every match (for exports).
    pub async fn cases(&self, filter: &CaseFilter) -> Result<(Vec<CaseRecord>, i64), StoreError> {
        self.case_list(filter, &CaseListOptions::default()).await
    }

    /// Cases matching the filter and the list's options (region, loop state),
    /// in the options' order, and how many match in all (past
    /// `options.count_cap`, the cap plus one): the count and the page share
    /// one WHERE. A `limit` of 0 or less returns every match (for
    /// exports of exactly what a list shows).
    pub async fn case_list(
        &self,
        filter: &CaseFilter,
        options: &CaseListOptions,
    ) -> Result<(Vec<CaseRecord>, i64), StoreError> {
        let w = case_where(filter, options);
        let where_ = w.all();
        let (text, ints) = (&w.text, &w.ints);
        // Filtered by equality alone (regions, classification, channel,
        // origin), the count is the sum of the counters kept for those
        // columns (migration 0016), which carry the same names: a few rows
        // per region instead of an index entry per case.
        let counted = options.loop_state.is_none()
            && filter.facility.is_none()
            && filter.reported_from.is_none()
            && filter.reported_to.is_none();
        let count_sql = match options.count_cap {
            _ if counted => format!(
                "SELECT CAST(COALESCE(SUM(c.n), 0) AS BIGINT) AS n FROM case_counts c WHERE {where_}"
            ),
            None => format!("SELECT COUNT(*) AS n FROM cases c WHERE {where_}"),
            Some(cap) => format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM cases c WHERE {where_} LIMIT {}) t",
                cap.max(0) + 1
            ),
        };
        let mut total = get_i64(
            &bind_filters(&count_sql, text, ints)
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        if let Some(cap) = options.count_cap {
            // Past the cap the answer is the cap plus one, however counted.
            total = total.min(cap.max(0) + 1);
        }
        let order = options.sort.order_by(options.descending);
        let sql = if filter.limit > 0 {
            // The page's keys first, from the filter and sort columns alone, so
            // an index holding them answers without visiting the table; then
            // only the page's rows are read. Reading whole rows in sort order
            // made PostgreSQL walk the sort index and visit every row to test
            // the region (6,800 rows for 150 in a district).
            format!(
                "SELECT {CASE_COLUMNS}, {PERSON_COLUMNS} FROM ({}) page
                 JOIN cases c ON c.case_id = page.page_case JOIN persons p ON p.id = c.person_id ORDER BY {order}",
                case_page_keys(&w, options, filter.limit.min(10_000), filter.offset.max(0))
            )
        } else {
            // Every match (exports): one pass.
            format!(
                "SELECT {CASE_COLUMNS}, {PERSON_COLUMNS} FROM cases c JOIN persons p ON p.id = c.person_id WHERE {where_} ORDER BY {order}"
            )
        };
        let rows = bind_filters(&sql, text, ints).fetch_all(&self.pool).await?;
        Ok((
            rows.iter().map(case_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// The loop state of each of these cases (by case row id) that has a
    /// managed record as a case: the latest record's state.
    pub async fn case_loop_states(
        &self,
        case_pks: &[i64],
    ) -> Result<HashMap<i64, LoopState>, StoreError> {
        let mut out = HashMap::new();
        for chunk in case_pks.chunks(500) {
            let sql = format!(
                "SELECT case_pk, state FROM managed WHERE category = 'case' AND case_pk IN ({}) ORDER BY id",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.insert(
                    get_i64(&row, "case_pk")?,
                    decode(&get_str(&row, "state")?, LoopState::parse)?,
                );
            }
        }
        Ok(out)
    }

    /// Cases of a person, in report order.
    pub async fn cases_of_person(&self, person_id: i64) -> Result<Vec<CaseRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS}, {PERSON_COLUMNS} FROM cases c JOIN persons p ON p.id = c.person_id WHERE c.person_id = $1 ORDER BY c.report_time"
        ))
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(case_from_row).collect()
    }

    /// Every classification a case has had: (at, classification, clinical type).
    pub async fn classification_history(
        &self,
        case_pk: i64,
    ) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        let rows = sqlx::query("SELECT at, classification, clinical_type FROM case_classifications WHERE case_pk = $1 ORDER BY at, id")
            .bind(case_pk)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_i64(r, "at")?,
                    get_str(r, "classification")?,
                    get_opt_str(r, "clinical_type")?,
                ))
            })
            .collect()
    }

    /// Imports cases keyed on `case_id`; each case's person is matched by document
    /// or created. One transaction.
    pub async fn import_cases(
        &self,
        records: &[(u64, CaseDraft)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        self.import_cases_with_progress(records, mode, source, actor, &|_| {})
            .await
    }

    /// Like [`Store::import_cases`], calling `progress` with the number of rows done so far.
    pub async fn import_cases_with_progress(
        &self,
        records: &[(u64, CaseDraft)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let regions = crate::regions::region_codes(&mut tx).await?;
        let mut summary = ImportSummary::default();
        let batch = audit::start_batch(&mut tx, "cases", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let mut seen: HashMap<&str, (u64, &CaseDraft)> = HashMap::new();
        let mut rejected = Vec::new();
        for (done, (line, c)) in records.iter().enumerate() {
            if done % 256 == 0 {
                progress(done as u64);
            }
            let reject = |column: &str, error| RowRejection {
                line: *line,
                column: column.into(),
                error,
            };
            if let Some((first, earlier)) = seen.get(c.case_id.as_str()) {
                if *earlier != c {
                    rejected.push(reject("case_id", StoreRowError::DuplicateInFile(*first)));
                } else {
                    summary.unchanged += 1;
                }
                continue;
            }
            seen.insert(&c.case_id, (*line, c));
            let unknown = [
                ("reporting_region", Some(&c.reporting_region)),
                ("residence_region", c.residence_region.as_ref()),
            ]
            .into_iter()
            .find_map(|(col, code)| {
                code.filter(|code| !regions.contains(*code))
                    .map(|code| (col, code.clone()))
            });
            if let Some((col, code)) = unknown {
                rejected.push(reject(col, StoreRowError::UnknownRegion(code)));
                continue;
            }
            let person_plan = match plan_person(&mut tx, &c.person, mode.update).await? {
                Ok(plan) => plan,
                Err((col, e)) => {
                    rejected.push(reject(col, e));
                    continue;
                }
            };
            let stored = fetch_case(&mut tx, &c.case_id).await?;
            if let Some(s) = &stored {
                if let Some((col, e)) = first_difference(&s.case, c).filter(|_| !mode.update) {
                    rejected.push(reject(col, e));
                    continue;
                }
            }
            let (person_id, person_change) =
                apply_person(&mut tx, person_plan, &c.person, Some(batch), actor).await?;
            let change = match stored {
                None => {
                    let q = sqlx::query(
                        "INSERT INTO cases (classification, clinical_type, origin, discovery_channel, onset_date, sample_time, report_time, reporting_region,
                         residence_region, reclassified_at, outcome, outcome_time, isolated_at, case_id, person_id, import_batch, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) RETURNING id",
                    );
                    let row = bind_case(q, c)
                        .bind(&c.case_id)
                        .bind(person_id)
                        .bind(batch)
                        .bind(now())
                        .fetch_one(&mut *tx)
                        .await?;
                    let pk = get_i64(&row, "id")?;
                    let initial = c.initial_classification();
                    let initial_type = if initial == Classification::Confirmed {
                        c.clinical_type
                    } else {
                        None
                    };
                    record_classification(&mut tx, pk, c.report_time, initial, initial_type)
                        .await?;
                    if let Some(at) = c.reclassified_at {
                        record_classification(
                            &mut tx,
                            pk,
                            at,
                            Classification::Confirmed,
                            c.clinical_type,
                        )
                        .await?;
                    }
                    summary.to_trace.push(c.case_id.clone());
                    Change::Created
                }
                Some(s) if first_difference(&s.case, c).is_none() && s.person_id == person_id => {
                    match person_change {
                        Change::Unchanged => Change::Unchanged,
                        _ => Change::Updated,
                    }
                }
                Some(s) => {
                    let q = sqlx::query(
                        "UPDATE cases SET classification = $1, clinical_type = $2, origin = $3, discovery_channel = $4, onset_date = $5, sample_time = $6,
                         report_time = $7, reporting_region = $8, residence_region = $9, reclassified_at = $10, outcome = $11, outcome_time = $12,
                         isolated_at = $13, person_id = $14, updated_at = $15 WHERE id = $16",
                    );
                    bind_case(q, c)
                        .bind(person_id)
                        .bind(now())
                        .bind(s.id)
                        .execute(&mut *tx)
                        .await?;
                    if traced_fields_differ(&s.case, c) || s.person_id != person_id {
                        summary.to_trace.push(c.case_id.clone());
                    }
                    if s.case.classification != c.classification
                        || s.case.clinical_type != c.clinical_type
                    {
                        let at = c.reclassified_at.unwrap_or_else(Utc::now);
                        record_classification(&mut tx, s.id, at, c.classification, c.clinical_type)
                            .await?;
                    }
                    audit::record(
                        &mut tx,
                        actor,
                        "update",
                        "case",
                        &c.case_id,
                        serde_json::json!({"before": s.case, "after": c}),
                    )
                    .await?;
                    Change::Updated
                }
            };
            summary.count(change);
        }
        audit::conclude_import(tx, "cases", source, actor, summary, rejected, mode).await
    }

    /// Cases reported before `end`, grouped by everything the bulletin counts,
    /// with each instant placed before, during or after `[start, end)`.
    pub async fn bulletin_facts(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<CaseFact>, StoreError> {
        let bucket = |col: &str| {
            format!("CASE WHEN {col} IS NULL THEN -1 WHEN {col} < $1 THEN 0 WHEN {col} < $2 THEN 1 ELSE 2 END")
        };
        let sql = format!(
            "SELECT reporting_region, origin, classification, COALESCE(clinical_type, '') AS clinical_type, discovery_channel,
                    {rep} AS reported, {rec} AS reclassified, COALESCE(outcome, '') AS outcome, {out} AS outcome_period, COUNT(*) AS n
             FROM cases WHERE report_time < $2
             GROUP BY reporting_region, origin, classification, COALESCE(clinical_type, ''), discovery_channel, {rep}, {rec}, COALESCE(outcome, ''), {out}",
            rep = bucket("report_time"),
            rec = bucket("reclassified_at"),
            out = bucket("outcome_time"),
        );
        let rows = sqlx::query(&sql)
            .bind(to_epoch(start))
            .bind(to_epoch(end))
            .fetch_all(&self.pool)
            .await?;
        let period = |v: i64| match v {
            0 => Some(Period::Before),
            1 => Some(Period::During),
            2 => Some(Period::After),
            _ => None,
        };
        rows.iter()
            .map(|r| {
                let clinical = get_str(r, "clinical_type")?;
                let outcome = get_str(r, "outcome")?;
                Ok(CaseFact {
                    reporting_region: get_str(r, "reporting_region")?,
                    origin: decode(&get_str(r, "origin")?, Origin::parse)?,
                    classification: decode(&get_str(r, "classification")?, Classification::parse)?,
                    clinical_type: (!clinical.is_empty())
                        .then(|| decode(&clinical, ClinicalType::parse))
                        .transpose()?,
                    discovery_channel: decode(
                        &get_str(r, "discovery_channel")?,
                        DiscoveryChannel::parse,
                    )?,
                    reported: period(get_i64(r, "reported")?)
                        .ok_or_else(|| StoreError::Corrupt("report_time".into()))?,
                    reclassified: period(get_i64(r, "reclassified")?),
                    outcome: if outcome.is_empty() {
                        None
                    } else {
                        period(get_i64(r, "outcome_period")?)
                            .map(|p| decode(&outcome, Outcome::parse).map(|o| (o, p)))
                            .transpose()?
                    },
                    count: get_i64(r, "n")? as u64,
                })
            })
            .collect()
    }

    /// Persons for export, optionally limited to residents of `scope`.
    pub async fn export_persons(
        &self,
        scope: Option<&[String]>,
    ) -> Result<Vec<PersonRecord>, StoreError> {
        let filter = crate::PersonFilter {
            scope: scope.map(<[String]>::to_vec),
            facility: None,
            query: None,
            limit: 0,
            offset: 0,
        };
        Ok(self.persons(&filter).await?.0)
    }
}

impl Store {
    /// The bulletin of `date` (0–24 h in `tz`) for `scope` and everything below
    /// it; `None` scope is the single root region.
    pub async fn bulletin(
        &self,
        date: chrono::NaiveDate,
        scope: Option<&str>,
        tz: chrono_tz::Tz,
        lang: closedloop_domain::Lang,
    ) -> Result<closedloop_domain::bulletin::Bulletin, StoreError> {
        let tree = self.region_tree().await?;
        let scope = match scope {
            Some(code) => code.to_string(),
            None => tree.single_root().map(|r| r.code.clone()).ok_or_else(|| {
                StoreError::Invalid("no single root region: import regions or give --region".into())
            })?,
        };
        if tree.get(&scope).is_none() {
            return Err(StoreError::NotFound {
                entity: "region",
                id: scope,
            });
        }
        let (start, end) = closedloop_domain::time::day_bounds(date, tz);
        let facts = self.bulletin_facts(start, end).await?;
        closedloop_domain::bulletin::compute(&tree, &scope, date, &facts, lang).ok_or(
            StoreError::NotFound {
                entity: "region",
                id: scope,
            },
        )
    }
}
