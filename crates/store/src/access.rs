//! Jurisdiction in the data layer: reads by id that answer `None` for a
//! record outside the reader's scope (the server turns that into 404, so a
//! record's existence does not leak), and the checks behind them.
//!
//! A scope is a region subtree (every code of it; `None` is everywhere) and,
//! for a quarantine-site or hospital operator, a facility: such a reader sees
//! only the people placed there (a managed record in that facility).
//!
//! What is in scope:
//! - a person: lives in the subtree, or has a case reported in it; with a
//!   facility, has a managed record in the facility;
//! - a case: reported in the subtree; with a facility, its person is placed there;
//! - a managed record (and its tests): its responsible region is in the
//!   subtree; with a facility, it is placed there;
//! - a cluster: at least one of its cases is reported in the subtree.
//!
//! The lists take the same scope in SQL, so that a page, a count or an export
//! holds nothing a read by id would refuse: the region codes through their
//! filters' `scope` fields (`PersonFilter`, `CaseFilter`, `TaskFilter`; a
//! subtree's top for the loop's `*_within` reads) and the facility through
//! their `facility` fields or parameters (`PersonFilter`, `CaseFilter`,
//! `TaskFilter`; `overdue_within`, `leaks_within`, `loop_status_within`),
//! under the rules above: a person placed there, a case whose person is, a
//! task whose managed record is.

use crate::{get_i64, get_opt_str, placeholders, CaseRecord, PersonRecord, Store, StoreError};
use std::collections::HashSet;

/// Where a reader may read: see the module's documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Every region code of the jurisdiction's subtree; `None` is everywhere.
    pub regions: Option<&'a [String]>,
    /// The facility of a facility operator: only the people placed there.
    pub facility: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// No limit (the CLI, the province's commander, the admin).
    pub fn everywhere() -> Scope<'static> {
        Scope::default()
    }

    /// Whether `region` (a record's region code) is in the region subtree.
    pub fn covers(&self, region: Option<&str>) -> bool {
        match (self.regions, region) {
            (None, _) => true,
            (Some(codes), Some(r)) => codes.iter().any(|c| c == r),
            (Some(_), None) => false,
        }
    }

    /// Whether nothing limits this scope.
    pub fn is_everywhere(&self) -> bool {
        self.regions.is_none() && self.facility.is_none()
    }
}

const CHUNK: usize = 500;

impl Store {
    /// The person `id` when the scope covers them, else `None`.
    pub async fn person_in(
        &self,
        id: i64,
        scope: Scope<'_>,
    ) -> Result<Option<PersonRecord>, StoreError> {
        let Some(p) = self.person(id).await? else {
            return Ok(None);
        };
        if scope.is_everywhere() {
            return Ok(Some(p));
        }
        Ok(self
            .visible_persons(&[id], scope)
            .await?
            .contains(&id)
            .then_some(p))
    }

    /// The case `case_id` when the scope covers it, else `None`.
    pub async fn case_in(
        &self,
        case_id: &str,
        scope: Scope<'_>,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let Some(c) = self.case(case_id).await? else {
            return Ok(None);
        };
        if !scope.covers(Some(&c.case.reporting_region)) {
            return Ok(None);
        }
        if let Some(f) = scope.facility {
            if !self.placed_in(c.person_id, f).await? {
                return Ok(None);
            }
        }
        Ok(Some(c))
    }

    async fn placed_in(&self, person_id: i64, facility: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT id FROM managed WHERE person_id = $1 AND facility_id = $2 LIMIT 1")
                .bind(person_id)
                .bind(facility)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Which of `ids` the scope covers: the others are shown pseudonymised
    /// where they appear linked to a record in scope (the contact of a case,
    /// the source of an exposure).
    pub async fn visible_persons(
        &self,
        ids: &[i64],
        scope: Scope<'_>,
    ) -> Result<HashSet<i64>, StoreError> {
        let mut out: HashSet<i64> = HashSet::new();
        if scope.is_everywhere() {
            out.extend(ids.iter().copied());
            return Ok(out);
        }
        let codes: Option<HashSet<&str>> = scope
            .regions
            .map(|r| r.iter().map(String::as_str).collect());
        for chunk in ids.chunks(CHUNK) {
            let mut in_regions: HashSet<i64> = HashSet::new();
            match &codes {
                None => in_regions.extend(chunk.iter().copied()),
                Some(codes) => {
                    let sql = format!(
                        "SELECT p.id AS pid, p.region_code AS region FROM persons p WHERE p.id IN ({0})
                         UNION ALL
                         SELECT c.person_id AS pid, c.reporting_region AS region FROM cases c WHERE c.person_id IN ({0})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        if get_opt_str(&row, "region")?.is_some_and(|r| codes.contains(r.as_str()))
                        {
                            in_regions.insert(get_i64(&row, "pid")?);
                        }
                    }
                }
            }
            match scope.facility {
                None => out.extend(in_regions),
                Some(f) => {
                    let sql = format!(
                        "SELECT DISTINCT person_id FROM managed WHERE facility_id = $1 AND person_id IN ({})",
                        placeholders(2, chunk.len())
                    );
                    let mut q = sqlx::query(&sql).bind(f);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    for row in q.fetch_all(&self.pool).await? {
                        let id = get_i64(&row, "person_id")?;
                        if in_regions.contains(&id) {
                            out.insert(id);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether the managed record `id` exists and is in scope (a transition
    /// on one outside is answered as if it did not exist).
    pub async fn managed_in(&self, id: i64, scope: Scope<'_>) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT region_code, facility_id FROM managed WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            None => false,
            Some(r) => {
                scope.covers(get_opt_str(&r, "region_code")?.as_deref())
                    && scope.facility.is_none_or(|f| {
                        get_opt_str(&r, "facility_id").ok().flatten().as_deref() == Some(f)
                    })
            }
        })
    }

    /// Whether the scheduled test `test_id` exists and its managed record is in scope.
    pub async fn test_in(&self, test_id: i64, scope: Scope<'_>) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT managed_id FROM loop_tests WHERE id = $1")
            .bind(test_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(false),
            Some(r) => self.managed_in(get_i64(&r, "managed_id")?, scope).await,
        }
    }
}

/// Whether a cluster is in scope: one of its cases is reported in the subtree.
pub fn cluster_in(report: &crate::ClusterReport, scope: Scope<'_>) -> bool {
    scope.regions.is_none()
        || report
            .cases
            .iter()
            .any(|m| scope.covers(Some(&m.reporting_region)))
}
