//! Movement data: venues, check-ins and trip seats. Check-ins and seats expire
//! after the retention period ([`Store::purge_movements`]).

use crate::persons::insert_person;
use crate::{
    audit, get_i64, get_opt_i64, get_str, now, placeholders, Actor, ImportMode, ImportSummary,
    RowRejection, Store, StoreError, StoreRowError,
};
use chrono::{DateTime, Duration, Utc};
use closedloop_domain::movement::{CheckinDraft, TripSeat, Venue, VenueType};
use closedloop_domain::person::{document_from_bare_number, PersonDraft};
use closedloop_domain::time::to_epoch;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;

/// Rows per multi-row INSERT: well under PostgreSQL's 65,535 bound parameters.
const INSERT_CHUNK: usize = 1000;
/// Values per `IN (…)` look-up.
const LOOKUP_CHUNK: usize = 500;

fn venue_from_row(row: &AnyRow) -> Result<Venue, StoreError> {
    Ok(Venue {
        venue_id: get_str(row, "venue_id")?,
        name: get_str(row, "name")?,
        venue_type: crate::decode(&get_str(row, "venue_type")?, VenueType::parse)?,
        region_code: row.try_get::<Option<String>, _>("region_code")?,
        lat: row.try_get::<Option<f64>, _>("lat")?,
        lon: row.try_get::<Option<f64>, _>("lon")?,
    })
}

fn describe_venue(v: &Venue) -> String {
    format!(
        "{} {} {} {:?} {:?}",
        v.name,
        v.venue_type,
        v.region_code.as_deref().unwrap_or("-"),
        v.lat,
        v.lon
    )
}

/// A stored check-in, with the person's document number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckinRecord {
    pub person_id: i64,
    pub document_number: String,
    pub venue_id: String,
    pub check_in: i64,
    pub check_out: i64,
    pub check_out_estimated: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeSummary {
    pub checkins: u64,
    pub trip_seats: u64,
}

/// Finds each bare document number's person, creating the unknown ones with only
/// that document, for investigators to complete.
async fn persons_by_number(
    conn: &mut AnyConnection,
    numbers: &[&str],
    batch: i64,
) -> Result<(HashMap<String, i64>, u64), StoreError> {
    let mut unique: Vec<&str> = numbers.to_vec();
    unique.sort_unstable();
    unique.dedup();
    let mut found: HashMap<String, (i64, bool)> = HashMap::new();
    for chunk in unique.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT id, document_number, document_type, merged_into FROM persons WHERE document_number IN ({}) ORDER BY id",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for n in chunk {
            q = q.bind(*n);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let id = get_opt_i64(&row, "merged_into")?.unwrap_or(get_i64(&row, "id")?);
            let resident = get_str(&row, "document_type")? == "resident_id";
            // A resident ID wins over another document that happens to carry the same number.
            let slot = found
                .entry(get_str(&row, "document_number")?)
                .or_insert((id, resident));
            if resident && !slot.1 {
                *slot = (id, true);
            }
        }
    }
    let mut map: HashMap<String, i64> = found.into_iter().map(|(k, (id, _))| (k, id)).collect();
    let mut created = 0;
    for n in unique {
        if map.contains_key(n) {
            continue;
        }
        let document = document_from_bare_number(n)
            .map_err(|_| StoreError::Invalid(format!("document number {n:?}")))?;
        let id = insert_person(conn, &PersonDraft::new(document, ""), Some(batch)).await?;
        map.insert(n.to_string(), id);
        created += 1;
    }
    Ok((map, created))
}

impl Store {
    pub async fn venues(&self) -> Result<Vec<Venue>, StoreError> {
        let rows = sqlx::query("SELECT venue_id, name, venue_type, region_code, lat, lon FROM venues ORDER BY venue_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(venue_from_row).collect()
    }

    /// Imports venues keyed on `venue_id`, in one transaction.
    pub async fn import_venues(
        &self,
        records: &[(u64, Venue)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let regions = crate::regions::region_codes(&mut tx).await?;
        let stored: HashMap<String, Venue> =
            sqlx::query("SELECT venue_id, name, venue_type, region_code, lat, lon FROM venues")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| venue_from_row(r).map(|v| (v.venue_id.clone(), v)))
                .collect::<Result<_, _>>()?;
        let mut summary = ImportSummary::default();
        let batch = audit::start_batch(&mut tx, "venues", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let mut seen: HashMap<&str, (u64, &Venue)> = HashMap::new();
        let mut rejected = Vec::new();
        for (line, v) in records {
            let reject = |column: &str, error| RowRejection {
                line: *line,
                column: column.into(),
                error,
            };
            if let Some((first, earlier)) = seen.get(v.venue_id.as_str()) {
                if *earlier != v {
                    rejected.push(reject("venue_id", StoreRowError::DuplicateInFile(*first)));
                } else {
                    summary.unchanged += 1;
                }
                continue;
            }
            seen.insert(&v.venue_id, (*line, v));
            if let Some(code) = v.region_code.as_ref().filter(|c| !regions.contains(*c)) {
                rejected.push(reject(
                    "region_code",
                    StoreRowError::UnknownRegion(code.clone()),
                ));
                continue;
            }
            match stored.get(&v.venue_id) {
                Some(old) if old == v => summary.unchanged += 1,
                Some(old) if !mode.update => {
                    rejected.push(reject(
                        "venue_id",
                        StoreRowError::Conflict {
                            stored: describe_venue(old),
                            incoming: describe_venue(v),
                        },
                    ));
                }
                Some(old) => {
                    sqlx::query("UPDATE venues SET name = $1, venue_type = $2, region_code = $3, lat = $4, lon = $5, updated_at = $6 WHERE venue_id = $7")
                        .bind(&v.name)
                        .bind(v.venue_type.as_str())
                        .bind(v.region_code.clone())
                        .bind(v.lat)
                        .bind(v.lon)
                        .bind(now())
                        .bind(&v.venue_id)
                        .execute(&mut *tx)
                        .await?;
                    audit::record(
                        &mut tx,
                        actor,
                        "update",
                        "venue",
                        &v.venue_id,
                        serde_json::json!({"before": old, "after": v}),
                    )
                    .await?;
                    summary.updated += 1;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO venues (venue_id, name, venue_type, region_code, lat, lon, import_batch, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(&v.venue_id)
                    .bind(&v.name)
                    .bind(v.venue_type.as_str())
                    .bind(v.region_code.clone())
                    .bind(v.lat)
                    .bind(v.lon)
                    .bind(batch)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                    summary.created += 1;
                }
            }
        }
        audit::conclude_import(tx, "venues", source, actor, summary, rejected, mode).await
    }

    /// Imports check-ins in one transaction. A missing check-out is the check-in
    /// plus the venue type's typical stay. The same stay imported again is unchanged.
    pub async fn import_checkins_with_progress(
        &self,
        records: &[(u64, CheckinDraft)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let venue_types: HashMap<String, VenueType> =
            sqlx::query("SELECT venue_id, venue_type FROM venues")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        get_str(r, "venue_id")?,
                        crate::decode(&get_str(r, "venue_type")?, VenueType::parse)?,
                    ))
                })
                .collect::<Result<_, StoreError>>()?;
        let mut summary = ImportSummary::default();
        let batch = audit::start_batch(&mut tx, "checkins", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let mut rejected = Vec::new();
        let mut good: Vec<(&CheckinDraft, i64, bool)> = Vec::with_capacity(records.len());
        for (line, c) in records {
            match venue_types.get(&c.venue_id) {
                None => rejected.push(RowRejection {
                    line: *line,
                    column: "venue_id".into(),
                    error: StoreRowError::UnknownVenue(c.venue_id.clone()),
                }),
                Some(t) => {
                    let (out, estimated) = match c.check_out {
                        Some(out) => (to_epoch(out), false),
                        None => (
                            to_epoch(c.check_in + Duration::minutes(t.typical_stay_minutes())),
                            true,
                        ),
                    };
                    good.push((c, out, estimated));
                }
            }
        }
        if !rejected.is_empty() && !mode.skip_bad_rows {
            // Roll back now: a dropped transaction keeps its write lock until the pool reuses the connection.
            tx.rollback().await?;
            return Err(StoreError::Rejected(rejected.len(), rejected));
        }
        let numbers: Vec<&str> = good.iter().map(|(c, _, _)| c.person_id.as_str()).collect();
        let (persons, _) = persons_by_number(&mut tx, &numbers, batch).await?;
        let mut inserted = 0u64;
        for (i, chunk) in good.chunks(INSERT_CHUNK).enumerate() {
            progress((i * INSERT_CHUNK) as u64);
            let values: Vec<String> = (0..chunk.len())
                .map(|k| {
                    let b = k * 6;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO checkins (person_id, venue_id, check_in, check_out, check_out_estimated, import_batch) VALUES {}
                 ON CONFLICT (person_id, venue_id, check_in, check_out) DO NOTHING",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (c, out, estimated) in chunk {
                let person = persons
                    .get(&c.person_id)
                    .copied()
                    .ok_or_else(|| StoreError::Invalid(c.person_id.clone()))?;
                q = q
                    .bind(person)
                    .bind(&c.venue_id)
                    .bind(to_epoch(c.check_in))
                    .bind(*out)
                    .bind(i64::from(*estimated))
                    .bind(batch);
            }
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        summary.created = inserted;
        summary.unchanged = good.len() as u64 - inserted;
        rejected.sort_by_key(|r| r.line);
        summary.rejected = rejected;
        audit::finish_batch(&mut tx, "checkins", source, actor, &mut summary, now()).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Imports trip seats keyed on person and trip, in one transaction.
    pub async fn import_trips(
        &self,
        records: &[(u64, TripSeat)],
        mode: ImportMode,
        source: &str,
        actor: &Actor,
    ) -> Result<ImportSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut summary = ImportSummary::default();
        let batch = audit::start_batch(&mut tx, "trips", source, actor, now(), &summary).await?;
        summary.batch = Some(batch);
        let numbers: Vec<&str> = records.iter().map(|(_, t)| t.person_id.as_str()).collect();
        let (persons, _) = persons_by_number(&mut tx, &numbers, batch).await?;
        let mut rejected = Vec::new();
        for (line, t) in records {
            let person = persons
                .get(&t.person_id)
                .copied()
                .ok_or_else(|| StoreError::Invalid(t.person_id.clone()))?;
            let stored = sqlx::query(
                "SELECT carriage, seat_row FROM trip_seats WHERE person_id = $1 AND trip_id = $2",
            )
            .bind(person)
            .bind(&t.trip_id)
            .fetch_optional(&mut *tx)
            .await?;
            match stored {
                Some(row) => {
                    let old = (get_str(&row, "carriage")?, get_opt_i64(&row, "seat_row")?);
                    if old == (t.carriage.clone(), t.seat_row) {
                        summary.unchanged += 1;
                    } else if !mode.update {
                        rejected.push(RowRejection {
                            line: *line,
                            column: "carriage".into(),
                            error: StoreRowError::Conflict {
                                stored: format!("{} {:?}", old.0, old.1),
                                incoming: format!("{} {:?}", t.carriage, t.seat_row),
                            },
                        });
                    } else {
                        sqlx::query("UPDATE trip_seats SET carriage = $1, seat_row = $2 WHERE person_id = $3 AND trip_id = $4")
                            .bind(&t.carriage)
                            .bind(t.seat_row)
                            .bind(person)
                            .bind(&t.trip_id)
                            .execute(&mut *tx)
                            .await?;
                        audit::record(
                            &mut tx,
                            actor,
                            "update",
                            "trip_seat",
                            &format!("{person}/{}", t.trip_id),
                            serde_json::json!({"after": t}),
                        )
                        .await?;
                        summary.updated += 1;
                    }
                }
                None => {
                    sqlx::query("INSERT INTO trip_seats (person_id, trip_id, carriage, seat_row, recorded_at, import_batch) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(person)
                        .bind(&t.trip_id)
                        .bind(&t.carriage)
                        .bind(t.seat_row)
                        .bind(now())
                        .bind(batch)
                        .execute(&mut *tx)
                        .await?;
                    summary.created += 1;
                }
            }
        }
        audit::conclude_import(tx, "trips", source, actor, summary, rejected, mode).await
    }

    /// Deletes check-ins that ended, and trip seats recorded, before `before`. Audited.
    pub async fn purge_movements(
        &self,
        before: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<PurgeSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        let cutoff = to_epoch(before);
        let checkins = sqlx::query("DELETE FROM checkins WHERE check_out < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let trip_seats = sqlx::query("DELETE FROM trip_seats WHERE recorded_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let summary = PurgeSummary {
            checkins,
            trip_seats,
        };
        audit::record(&mut tx, actor, "purge", "movements", &cutoff.to_string(), serde_json::json!({"before": before.to_rfc3339(), "checkins": checkins, "trip_seats": trip_seats})).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Check-ins of a person (by person id), in time order.
    pub async fn checkins_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<CheckinRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.person_id, p.document_number, c.venue_id, c.check_in, c.check_out, c.check_out_estimated
             FROM checkins c JOIN persons p ON p.id = c.person_id WHERE c.person_id = $1 ORDER BY c.check_in, c.venue_id",
        )
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CheckinRecord {
                    person_id: get_i64(r, "person_id")?,
                    document_number: get_str(r, "document_number")?,
                    venue_id: get_str(r, "venue_id")?,
                    check_in: get_i64(r, "check_in")?,
                    check_out: get_i64(r, "check_out")?,
                    check_out_estimated: get_i64(r, "check_out_estimated")? != 0,
                })
            })
            .collect()
    }

    /// How many check-ins and trip seats are stored.
    pub async fn movement_counts(&self) -> Result<(i64, i64), StoreError> {
        let c = get_i64(
            &sqlx::query("SELECT COUNT(*) AS n FROM checkins")
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        let t = get_i64(
            &sqlx::query("SELECT COUNT(*) AS n FROM trip_seats")
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        Ok((c, t))
    }
}

/// What tracing needs from the registry, loaded in one read.
#[derive(Debug, Clone, Default)]
pub struct TracingSnapshot {
    /// `(person id, venue id, check_in, check_out)`, in no particular order.
    pub stays: Vec<(i64, String, i64, i64)>,
    /// `(person id, household id)` for people with a household.
    pub households: Vec<(i64, String)>,
    /// `(person id, trip id, carriage, seat row)`.
    pub seats: Vec<(i64, String, String, Option<i64>)>,
}

impl Store {
    /// Every stay, household and seat, for building the tracing index.
    pub async fn tracing_snapshot(&self) -> Result<TracingSnapshot, StoreError> {
        let stays = self.stays_after_batch(None).await?;
        let (households, seats) = self.relations_snapshot().await?;
        Ok(TracingSnapshot {
            stays,
            households,
            seats,
        })
    }

    /// Stays `(person, venue, check_in, check_out)`: every one, or those of
    /// import batches after `batch`.
    pub(crate) async fn stays_after_batch(
        &self,
        batch: Option<i64>,
    ) -> Result<Vec<(i64, String, i64, i64)>, StoreError> {
        let q = match batch {
            None => sqlx::query("SELECT person_id, venue_id, check_in, check_out FROM checkins"),
            Some(b) => sqlx::query("SELECT person_id, venue_id, check_in, check_out FROM checkins WHERE import_batch > $1").bind(b),
        };
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    get_i64(r, "person_id")?,
                    get_str(r, "venue_id")?,
                    get_i64(r, "check_in")?,
                    get_i64(r, "check_out")?,
                ))
            })
            .collect()
    }

    /// Households `(person, household)` and trip seats `(person, trip, carriage, row)`.
    #[allow(clippy::type_complexity)]
    pub async fn relations_snapshot(
        &self,
    ) -> Result<(Vec<(i64, String)>, Vec<(i64, String, String, Option<i64>)>), StoreError> {
        let mut households = Vec::new();
        for r in sqlx::query("SELECT id, household_id FROM persons WHERE household_id IS NOT NULL AND merged_into IS NULL").fetch_all(&self.pool).await? {
            households.push((get_i64(&r, "id")?, get_str(&r, "household_id")?));
        }
        let mut seats = Vec::new();
        for r in sqlx::query("SELECT person_id, trip_id, carriage, seat_row FROM trip_seats")
            .fetch_all(&self.pool)
            .await?
        {
            seats.push((
                get_i64(&r, "person_id")?,
                get_str(&r, "trip_id")?,
                get_str(&r, "carriage")?,
                get_opt_i64(&r, "seat_row")?,
            ));
        }
        Ok((households, seats))
    }
}
