//! The console's dashboard figures: grouped queries that return a few rows
//! however large the registry (the epidemic curve by day, people under
//! management by region, facility capacity by kind, the last report day).
//! The counting rules are the bulletin's (see `closedloop_domain::bulletin`).

use crate::{get_i64, get_opt_i64, get_opt_str, get_str, placeholders, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use closedloop_domain::time::{day_bounds, from_epoch, to_epoch};
use serde::Serialize;

/// New local infections of one day, by the bulletin's rules: a case counts on
/// its report day, as confirmed if it was confirmed by the end of that day;
/// a reclassification counts among the new confirmed of its own day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EpiDay {
    pub day: NaiveDate,
    /// New local confirmed, reclassifications included.
    pub confirmed: u64,
    /// Of `confirmed`, reported asymptomatic on an earlier day.
    pub reclassified: u64,
    pub asymptomatic: u64,
}

/// People of the loop not yet out of it (released, converted, died), by the
/// region holding their record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedInRegion {
    pub region_code: Option<String>,
    pub open: u64,
}

/// Beds and people held, per kind of facility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapacityRow {
    pub kind: String,
    pub facilities: u64,
    pub capacity: u64,
    pub occupied: u64,
}

fn scope_clause(col: &str, scope: Option<&[String]>, first: usize) -> (String, Vec<String>) {
    match scope {
        None => (String::new(), Vec::new()),
        Some([]) => (" AND 1 = 0".into(), Vec::new()),
        Some(codes) => (
            format!(" AND {col} IN ({})", placeholders(first, codes.len())),
            codes.to_vec(),
        ),
    }
}

impl Store {
    /// The local epidemic curve for the days `from..=to` (at most 400) in
    /// `tz`, over cases reported in `scope` (region codes; `None` everywhere).
    /// One grouped query: each row is (report day, classification,
    /// reclassification day) with a count.
    pub async fn epi_curve(
        &self,
        scope: Option<&[String]>,
        from: NaiveDate,
        to: NaiveDate,
        tz: chrono_tz::Tz,
    ) -> Result<Vec<EpiDay>, StoreError> {
        let mut days = Vec::new();
        let mut d = from;
        while d <= to && days.len() < 400 {
            days.push(d);
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        if days.is_empty() {
            return Ok(Vec::new());
        }
        // Bounds: start of each day, then the end of the last.
        let mut bounds: Vec<i64> = days
            .iter()
            .map(|d| to_epoch(day_bounds(*d, tz).0))
            .collect();
        bounds.push(to_epoch(day_bounds(days[days.len() - 1], tz).1));
        let (lo, hi) = (bounds[0], bounds[bounds.len() - 1]);
        // $1 = lo, $2 = hi, then the day starts from the second ($3…).
        let day_of = |col: &str| {
            let mut s = format!("CASE WHEN {col} IS NULL THEN -2 WHEN {col} < $1 THEN -1");
            for i in 1..days.len() {
                s.push_str(&format!(" WHEN {col} < ${} THEN {}", i + 2, i - 1));
            }
            s.push_str(&format!(
                " WHEN {col} < $2 THEN {} ELSE {} END",
                days.len() - 1,
                days.len()
            ));
            s
        };
        let first_scope = days.len() + 2;
        let (scope_sql, scope_binds) = scope_clause("reporting_region", scope, first_scope);
        let sql = format!(
            "SELECT {rep} AS d, classification, {rec} AS r, COUNT(*) AS n FROM cases
             WHERE origin = 'local'
               AND ((report_time >= $1 AND report_time < $2) OR (reclassified_at >= $1 AND reclassified_at < $2)){scope_sql}
             GROUP BY {rep}, classification, {rec}",
            rep = day_of("report_time"),
            rec = day_of("reclassified_at"),
        );
        let mut q = sqlx::query(&sql).bind(lo).bind(hi);
        for b in &bounds[1..days.len()] {
            q = q.bind(*b);
        }
        for c in scope_binds {
            q = q.bind(c);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out: Vec<EpiDay> = days
            .iter()
            .map(|d| EpiDay {
                day: *d,
                confirmed: 0,
                reclassified: 0,
                asymptomatic: 0,
            })
            .collect();
        let n_days = days.len() as i64;
        for r in &rows {
            let d = get_i64(r, "d")?;
            let rec = get_i64(r, "r")?;
            let n = get_i64(r, "n")?.max(0) as u64;
            let confirmed_now = get_str(r, "classification")? == "confirmed";
            if (0..n_days).contains(&d) {
                // Confirmed by the end of its report day: confirmed now, and
                // not reclassified on a later day.
                let confirmed = confirmed_now && (rec == -2 || rec <= d);
                let day = &mut out[d as usize];
                if confirmed {
                    day.confirmed += n;
                } else {
                    day.asymptomatic += n;
                }
            }
            if confirmed_now && (0..n_days).contains(&rec) && rec > d {
                let day = &mut out[rec as usize];
                day.confirmed += n;
                day.reclassified += n;
            }
        }
        Ok(out)
    }

    /// The report time of the latest case in `scope`, if any.
    pub async fn last_report_time(
        &self,
        scope: Option<&[String]>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (scope_sql, binds) = scope_clause("reporting_region", scope, 1);
        let sql = format!("SELECT MAX(report_time) AS t FROM cases WHERE 1 = 1{scope_sql}");
        let mut q = sqlx::query(&sql);
        for c in binds {
            q = q.bind(c);
        }
        let row = q.fetch_one(&self.pool).await?;
        Ok(get_opt_i64(&row, "t")?.map(from_epoch))
    }

    /// People still in the loop, grouped by the region of their record, in
    /// `scope` (region codes; `None` everywhere).
    pub async fn managed_by_region(
        &self,
        scope: Option<&[String]>,
    ) -> Result<Vec<ManagedInRegion>, StoreError> {
        let (scope_sql, binds) = scope_clause("region_code", scope, 1);
        let sql = format!(
            "SELECT region_code, COUNT(*) AS n FROM managed
             WHERE state NOT IN ('released', 'converted_to_case', 'died'){scope_sql}
             GROUP BY region_code"
        );
        let mut q = sqlx::query(&sql);
        for c in binds {
            q = q.bind(c);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ManagedInRegion {
                    region_code: get_opt_str(r, "region_code")?,
                    open: get_i64(r, "n")?.max(0) as u64,
                })
            })
            .collect()
    }

    /// Facilities in `scope` by kind: how many, their capacity, and the people
    /// placed there who are still in the loop.
    pub async fn capacity_by_kind(
        &self,
        scope: Option<&[String]>,
    ) -> Result<Vec<CapacityRow>, StoreError> {
        let (scope_sql, binds) = scope_clause("f.region_code", scope, 1);
        let sql = format!(
            "SELECT f.kind, COUNT(*) AS facilities, CAST(SUM(f.capacity) AS BIGINT) AS capacity
             FROM facilities f WHERE 1 = 1{scope_sql} GROUP BY f.kind ORDER BY f.kind"
        );
        let mut q = sqlx::query(&sql);
        for c in &binds {
            q = q.bind(c.clone());
        }
        let mut out: Vec<CapacityRow> = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(CapacityRow {
                    kind: get_str(r, "kind")?,
                    facilities: get_i64(r, "facilities")?.max(0) as u64,
                    capacity: get_opt_i64(r, "capacity")?.unwrap_or(0).max(0) as u64,
                    occupied: 0,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let sql = format!(
            "SELECT f.kind, COUNT(*) AS n FROM managed m JOIN facilities f ON f.facility_id = m.facility_id
             WHERE m.state NOT IN ('released', 'converted_to_case', 'died', 'lost'){scope_sql}
             GROUP BY f.kind"
        );
        let mut q = sqlx::query(&sql);
        for c in binds {
            q = q.bind(c);
        }
        for r in q.fetch_all(&self.pool).await? {
            let kind = get_str(&r, "kind")?;
            let n = get_i64(&r, "n")?.max(0) as u64;
            if let Some(row) = out.iter_mut().find(|x| x.kind == kind) {
                row.occupied += n;
            }
        }
        Ok(out)
    }

    /// The names of the command's units (working groups) by id.
    pub async fn unit_names(&self) -> Result<std::collections::BTreeMap<i64, String>, StoreError> {
        sqlx::query("SELECT id, name FROM units")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((get_i64(r, "id")?, get_str(r, "name")?)))
            .collect()
    }

    /// A page of the audit log, newest first, with the number of entries
    /// the filter matches: by actor (exact), entity, entity id and a time
    /// range `[from, to)` in epoch seconds.
    pub async fn audit_page(
        &self,
        filter: &AuditPageFilter,
    ) -> Result<(Vec<crate::AuditEntry>, u64), StoreError> {
        let mut conditions = vec!["1 = 1".to_string()];
        let mut text: Vec<String> = Vec::new();
        for (col, v) in [
            ("actor", &filter.actor),
            ("entity", &filter.entity),
            ("entity_id", &filter.entity_id),
        ] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                text.push(v.to_string());
                conditions.push(format!("{col} = ${}", text.len()));
            }
        }
        let mut ints: Vec<i64> = Vec::new();
        if let Some(from) = filter.from {
            ints.push(from);
            conditions.push(format!("at >= ${}", text.len() + ints.len()));
        }
        if let Some(to) = filter.to {
            ints.push(to);
            conditions.push(format!("at < ${}", text.len() + ints.len()));
        }
        let where_sql = conditions.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) AS n FROM audit_log WHERE {where_sql}");
        let mut q = sqlx::query(&count_sql);
        for t in &text {
            q = q.bind(t.clone());
        }
        for i in &ints {
            q = q.bind(*i);
        }
        let total = get_i64(&q.fetch_one(&self.pool).await?, "n")?.max(0) as u64;
        let n = text.len() + ints.len();
        let page_sql = format!(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log WHERE {where_sql}
             ORDER BY id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(&page_sql);
        for t in &text {
            q = q.bind(t.clone());
        }
        for i in &ints {
            q = q.bind(*i);
        }
        let rows = q
            .bind(filter.limit.clamp(1, 1000))
            .bind(filter.offset.max(0))
            .fetch_all(&self.pool)
            .await?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(crate::AuditEntry {
                    id: get_i64(r, "id")?,
                    at: get_i64(r, "at")?,
                    actor: get_str(r, "actor")?,
                    action: get_str(r, "action")?,
                    entity: get_str(r, "entity")?,
                    entity_id: get_str(r, "entity_id")?,
                    detail: serde_json::from_str(&get_str(r, "detail")?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entries, total))
    }
}

/// Filters of the console's audit page.
#[derive(Debug, Clone, Default)]
pub struct AuditPageFilter {
    pub actor: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// Epoch seconds, inclusive.
    pub from: Option<i64>,
    /// Epoch seconds, exclusive.
    pub to: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}
