//! The facility register as a file import (transactional, idempotent, every
//! refused row named) and its occupancy against capacity.

use crate::audit;
use crate::command::LoopScope;
use crate::{
    now, Actor, Facility, ImportMode, ImportSummary, RowRejection, Store, StoreError, StoreRowError,
};
use closedloop_domain::lifecycle::FacilityKind;
use serde::Serialize;
use std::collections::HashMap;

/// States in which a managed person occupies the facility they are at.
const OCCUPYING: &str = "('under_quarantine', 'admitted')";

/// A facility with the people in it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacilityOccupancy {
    #[serde(flatten)]
    pub facility: Facility,
    /// Managed people under quarantine or admitted there.
    pub occupied: i64,
    /// Capacity left (negative when over capacity; the home has none).
    pub free: i64,
}

fn describe(f: &Facility) -> String {
    format!(
        "{} {} {} {} {}",
        f.name,
        f.kind,
        f.region_code.as_deref().unwrap_or("-"),
        f.address,
        f.capacity
    )
}

fn facility_from_row(r: &sqlx::any::AnyRow) -> Result<Facility, StoreError> {
    use sqlx::Row;
    let kind: String = r.try_get(2)?;
    Ok(Facility {
        facility_id: r.try_get(0)?,
        name: r.try_get(1)?,
        kind: crate::decode(&kind, FacilityKind::parse)?,
        region_code: r.try_get(3)?,
        address: r.try_get(4)?,
        capacity: r.try_get(5)?,
    })
}

impl Store {
    /// Imports facilities keyed on `facility_id`, in one transaction with its
    /// import batch audited: unknown regions and contradictions of stored
    /// facilities are refused (unless `mode.update`, which overwrites them,
    /// each audited), the same file again changes nothing.
    pub async fn import_facilities(
        &self,
        records: &[(u64, Facility)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let regions = crate::regions::region_codes(&mut tx).await?;
        let stored: HashMap<String, Facility> = sqlx::query(
            "SELECT facility_id, name, kind, region_code, address, capacity FROM facilities",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| facility_from_row(r).map(|f| (f.facility_id.clone(), f)))
        .collect::<Result<_, _>>()?;
        let mut summary = ImportSummary::default();
        let batch =
            audit::start_batch(&mut tx, "facilities", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let mut seen: HashMap<&str, (u64, &Facility)> = HashMap::new();
        let mut rejected = Vec::new();
        for (line, f) in records {
            let reject = |column: &str, error| RowRejection {
                line: *line,
                column: column.into(),
                error,
            };
            if let Some((first, earlier)) = seen.get(f.facility_id.as_str()) {
                if *earlier != f {
                    rejected.push(reject(
                        "facility_id",
                        StoreRowError::DuplicateInFile(*first),
                    ));
                } else {
                    summary.unchanged += 1;
                }
                continue;
            }
            seen.insert(&f.facility_id, (*line, f));
            if let Some(code) = f.region_code.as_ref().filter(|c| !regions.contains(*c)) {
                rejected.push(reject(
                    "region_code",
                    StoreRowError::UnknownRegion(code.clone()),
                ));
                continue;
            }
            match stored.get(&f.facility_id) {
                Some(old) if old == f => summary.unchanged += 1,
                Some(old) if !mode.update => rejected.push(reject(
                    "facility_id",
                    StoreRowError::Conflict {
                        stored: describe(old),
                        incoming: describe(f),
                    },
                )),
                Some(old) => {
                    sqlx::query("UPDATE facilities SET name = $1, kind = $2, region_code = $3, address = $4, capacity = $5 WHERE facility_id = $6")
                        .bind(&f.name)
                        .bind(f.kind.as_str())
                        .bind(f.region_code.clone())
                        .bind(&f.address)
                        .bind(f.capacity)
                        .bind(&f.facility_id)
                        .execute(&mut *tx)
                        .await?;
                    audit::record(
                        &mut tx,
                        actor,
                        "update",
                        "facility",
                        &f.facility_id,
                        serde_json::json!({"before": old, "after": f}),
                    )
                    .await?;
                    summary.updated += 1;
                }
                None => {
                    sqlx::query("INSERT INTO facilities (facility_id, name, kind, region_code, address, capacity, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(&f.facility_id)
                        .bind(&f.name)
                        .bind(f.kind.as_str())
                        .bind(f.region_code.clone())
                        .bind(&f.address)
                        .bind(f.capacity)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                    summary.created += 1;
                }
            }
        }
        audit::conclude_import(tx, "facilities", source, actor, summary, rejected, mode).await
    }

    /// Facilities in `scope` (a region and everything below it), with their
    /// occupancy, ordered by id.
    pub async fn facility_occupancy(
        &self,
        scope: Option<&str>,
    ) -> Result<Vec<FacilityOccupancy>, StoreError> {
        let area = LoopScope::subtree(scope);
        self.facility_occupancy_in(area).await
    }

    /// [`Store::facility_occupancy`] for a jurisdiction given as its region
    /// codes (the server's `Viewer::region_scope`); `None` is everywhere.
    pub async fn facility_occupancy_for(
        &self,
        regions: Option<&[String]>,
    ) -> Result<Vec<FacilityOccupancy>, StoreError> {
        let area = LoopScope::regions(regions);
        self.facility_occupancy_in(area).await
    }

    async fn facility_occupancy_in(
        &self,
        area: LoopScope<'_>,
    ) -> Result<Vec<FacilityOccupancy>, StoreError> {
        use sqlx::Row;
        let (cte, cond, binds) = area.sql("f.region_code", 1);
        let sql = format!(
            "{cte}SELECT f.facility_id, f.name, f.kind, f.region_code, f.address, f.capacity,
                    (SELECT COUNT(*) FROM managed m WHERE m.facility_id = f.facility_id AND m.state IN {OCCUPYING}) AS occupied
             FROM facilities f WHERE 1 = 1{cond} ORDER BY f.facility_id"
        );
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let facility = facility_from_row(r)?;
                let occupied: i64 = r.try_get(6)?;
                Ok(FacilityOccupancy {
                    free: facility.capacity - occupied,
                    facility,
                    occupied,
                })
            })
            .collect()
    }
}
