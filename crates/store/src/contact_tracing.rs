//! Tracing registered cases: the one code path that loads the registry's
//! movements into the engine's index ([`WarmIndex`]), traces cases under a
//! profile's rules and records their contacts. The CLI (`contacts`, `import
//! cases`, `demo`) and the server (which keeps a [`WarmIndex`] in memory and
//! extends it as movement imports arrive) both call it.
//!
//! The engine (`closedloop-trace`) stays pure: this module turns rows into
//! dense numbers, calls it, and turns its answers back into contact records.

use crate::{get_i64, get_opt_i64, Actor, CaseRecord, ContactChanges, ContactDraft};
use crate::{Store, StoreError};
use chrono_tz::Tz;
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::profile::Profile;
use closedloop_trace::explain::{trace_case, Category, RegistryRules, Relations, Route, Source};
use closedloop_trace::{Ids, Stay, StayIndex, Stays};
use std::collections::HashMap;

/// Cases traced and recorded per transaction.
const TRACE_CHUNK: usize = 128;

/// What tracing a registered case needs besides the data: the profile's
/// rules, its name for the records, and the zone of onset days.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    pub rules: RegistryRules,
    /// `name@version`, stored with every contact.
    pub profile: String,
    pub tz: Tz,
}

impl TraceSettings {
    pub fn from_profile(profile: &Profile, tz: Tz) -> TraceSettings {
        let t = &profile.tracing;
        let minutes = |m: u32| i64::from(m) * 60;
        TraceSettings {
            rules: RegistryRules {
                lookback: i64::from(t.lookback_days) * 86_400,
                buffer: minutes(t.buffer_minutes),
                min_overlap: minutes(t.min_overlap_minutes),
                crowd_cap: t.crowd_cap,
                long_overlap: minutes(t.long_overlap_minutes),
                co_travel_rows: i64::from(t.co_travel_rows),
                secondary: t.secondary,
            },
            profile: format!("{}@{}", profile.name, profile.version),
            tz,
        }
    }
}

/// The stay index of a [`WarmIndex`]: built once, then grown in place with
/// [`StayIndex::extend`] as imports arrive (no rebuild).
#[derive(Debug, Clone, Default)]
struct LiveStays {
    index: StayIndex,
}

impl LiveStays {
    fn build(stays: Stays) -> LiveStays {
        LiveStays {
            index: StayIndex::build(stays),
        }
    }

    fn extend(&mut self, more: &[Stay]) -> Result<(), StoreError> {
        let mut stays = Stays::with_capacity(more.len());
        for s in more {
            stays.push(*s).map_err(engine_error)?;
        }
        self.index.extend(stays).map_err(engine_error)
    }
}

fn engine_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("tracing index: {e}"))
}

/// How far a [`WarmIndex`] has read the store, to notice what came after.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Mark {
    /// The newest import batch whose check-ins and seats are in the index.
    batch: i64,
    /// Check-ins in the index; fewer in the store means a purge, more a merge or import.
    checkins: i64,
    /// The newest person merge seen (a merge moves check-ins to the survivor).
    merge: i64,
}

/// What [`WarmIndex::refresh`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Stays added without a rebuild.
    pub added: usize,
    /// Whether the index was rebuilt from the store (after a purge or a merge).
    pub rebuilt: bool,
}

/// The registry's movements as the engine sees them, kept in memory between
/// tracings: stays by venue and person, households and trip seats, and who is
/// a case since when.
#[derive(Debug, Clone, Default)]
pub struct WarmIndex {
    live: LiveStays,
    relations: Relations,
    person_ix: HashMap<i64, u32>,
    person_id: Vec<i64>,
    venues: Ids,
    places: Ids,
    /// Person (dense) → the earliest report time of their cases.
    reported: HashMap<u32, i64>,
    mark: Mark,
}

impl WarmIndex {
    /// Loads every stay, household, seat and case from the store.
    pub async fn load(store: &Store) -> Result<WarmIndex, StoreError> {
        let mut w = WarmIndex::default();
        let mark = store.movement_mark().await?;
        let snap = store.tracing_snapshot().await?;
        let stays = w.stays(&snap.stays)?;
        let mut all = Stays::with_capacity(stays.len());
        for s in stays {
            all.push(s).map_err(engine_error)?;
        }
        w.live = LiveStays::build(all);
        w.mark = Mark {
            batch: mark.0,
            checkins: snap.stays.len() as i64,
            merge: mark.1,
        };
        w.reload_relations(store).await?;
        Ok(w)
    }

    /// Brings the index up to date with the store: stays of import batches
    /// newer than the last one seen are added in place; a purge or a merge
    /// (stays removed or moved) rebuilds it. Households, seats and cases are
    /// read again (they are small).
    pub async fn refresh(&mut self, store: &Store) -> Result<Refresh, StoreError> {
        let (batch, merge) = store.movement_mark().await?;
        let (checkins, _) = store.movement_counts().await?;
        let mut done = Refresh::default();
        if merge != self.mark.merge || checkins < self.mark.checkins {
            *self = WarmIndex::load(store).await?;
            done.rebuilt = true;
            return Ok(done);
        }
        if batch != self.mark.batch {
            let rows = store.stays_after_batch(Some(self.mark.batch)).await?;
            let stays = self.stays(&rows)?;
            done.added = stays.len();
            if !stays.is_empty() {
                self.live.extend(&stays)?;
            }
            self.mark.checkins += rows.len() as i64;
            self.mark.batch = batch;
            if self.mark.checkins != checkins {
                // Rows written outside an import batch: read everything again.
                *self = WarmIndex::load(store).await?;
                done.rebuilt = true;
                return Ok(done);
            }
        }
        self.reload_relations(store).await?;
        Ok(done)
    }

    /// Stays in the index.
    pub fn len(&self) -> usize {
        self.live.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.index.is_empty()
    }

    fn person(&mut self, id: i64) -> u32 {
        let next = self.person_id.len() as u32;
        *self.person_ix.entry(id).or_insert_with(|| {
            self.person_id.push(id);
            next
        })
    }

    fn db_id(&self, ix: u32) -> i64 {
        self.person_id.get(ix as usize).copied().unwrap_or_default()
    }

    fn stays(&mut self, rows: &[(i64, String, i64, i64)]) -> Result<Vec<Stay>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for (person, venue, check_in, check_out) in rows {
            let person = self.person(*person);
            let venue = self.venues.intern(venue).map_err(engine_error)?;
            out.push(Stay {
                person,
                venue,
                check_in: *check_in,
                check_out: *check_out,
            });
        }
        Ok(out)
    }

    async fn reload_relations(&mut self, store: &Store) -> Result<(), StoreError> {
        let (households, seats) = store.relations_snapshot().await?;
        let mut relations = Relations::default();
        for (person, household) in &households {
            let person = self.person(*person);
            let household = self
                .places
                .intern(&format!("household:{household}"))
                .map_err(engine_error)?;
            relations.add_household_member(person, household);
        }
        for (person, trip, carriage, row) in &seats {
            let person = self.person(*person);
            let trip = self
                .places
                .intern(&format!("trip:{trip}"))
                .map_err(engine_error)?;
            let carriage = self
                .places
                .intern(&format!("carriage:{carriage}"))
                .map_err(engine_error)?;
            relations.add_seat(person, trip, carriage, *row);
        }
        self.relations = relations;
        self.reported.clear();
        for (person, reported) in store.case_reports().await? {
            let person = self.person(person);
            let slot = self.reported.entry(person).or_insert(reported);
            *slot = (*slot).min(reported);
        }
        Ok(())
    }

    /// Marks a person as a case reported at `report_time` (a case registered
    /// after the index was loaded).
    pub fn add_case(&mut self, case: &CaseRecord) {
        let person = self.person(case.person_id);
        let reported = case.case.report_time.timestamp();
        let slot = self.reported.entry(person).or_insert(reported);
        *slot = (*slot).min(reported);
    }

    /// The contacts of one case: everyone it exposed during its infectious
    /// window (reference time minus the look-back, to its isolation or
    /// `as_of`), with why. People already reported as cases before this case
    /// was are never its contacts; a case reported later may be (it was this
    /// case's contact first: a transmission edge).
    pub fn trace(
        &self,
        case: &CaseRecord,
        settings: &TraceSettings,
        as_of: i64,
    ) -> Vec<ContactDraft> {
        let Some(&person) = self.person_ix.get(&case.person_id) else {
            // Neither stays, household nor seats: nobody to find.
            return Vec::new();
        };
        let reported = case.case.report_time.timestamp();
        let source = Source {
            person,
            reference_time: case.case.reference_time(settings.tz).timestamp(),
            isolated_at: case.case.isolated_at.map(|t| t.timestamp()),
        };
        let excluded = |p: u32| self.reported.get(&p).is_some_and(|&r| r < reported);
        let rank = |p: u32| self.db_id(p) as u64;
        let traced = trace_case(
            &self.live.index,
            &self.relations,
            source,
            &excluded,
            &rank,
            &settings.rules,
            as_of,
        );
        traced
            .iter()
            .map(|t| ContactDraft {
                person_id: self.db_id(t.person),
                category: match t.category {
                    Category::Close => ContactCategory::CloseContact,
                    Category::Secondary => ContactCategory::SecondaryContact,
                    Category::VenueExposed => ContactCategory::VenueExposed,
                },
                degree: if t.category == Category::Secondary {
                    2
                } else {
                    1
                },
                first_exposure: t.first_exposure,
                via_person: self.db_id(t.via),
                explanations: t
                    .exposures
                    .iter()
                    .map(|e| self.explain(e.through, &e.route))
                    .collect(),
            })
            .collect()
    }

    fn explain(&self, through: u32, route: &Route) -> Explanation {
        let strip =
            |name: &str, prefix: &str| name.strip_prefix(prefix).unwrap_or(name).to_string();
        let mut x = Explanation::at(ExposureKind::Venue, self.db_id(through), "");
        match route {
            Route::Venue {
                venue,
                source_stay,
                contact_stay,
                overlap,
                crowd,
            } => {
                x.place = self.venues.name(*venue).to_string();
                x.source_stay = Some(*source_stay);
                x.contact_stay = Some(*contact_stay);
                x.overlap_seconds = Some(*overlap);
                x.crowd = Some(*crowd);
            }
            Route::Household { household } => {
                x.kind = ExposureKind::Household;
                x.place = strip(self.places.name(*household), "household:");
            }
            Route::CoTravel {
                trip,
                carriage,
                source_row,
                contact_row,
            } => {
                x.kind = ExposureKind::CoTravel;
                x.place = strip(self.places.name(*trip), "trip:");
                x.carriage = Some(strip(self.places.name(*carriage), "carriage:"));
                x.source_row = *source_row;
                x.contact_row = *contact_row;
            }
        }
        x
    }
}

impl Store {
    /// Traces `cases` on `index` and records their contacts (known ones
    /// updated, new ones added, stale ones removed), all in one transaction,
    /// each changed case audited. Returns the changes summed over the cases.
    pub async fn trace_and_record(
        &self,
        index: &WarmIndex,
        cases: &[CaseRecord],
        settings: &TraceSettings,
        as_of: i64,
        actor: &Actor,
    ) -> Result<ContactChanges, StoreError> {
        let mut total = ContactChanges::default();
        // A transaction per chunk keeps memory bounded on large imports.
        for chunk in cases.chunks(TRACE_CHUNK) {
            let found: Vec<(i64, Vec<ContactDraft>)> = chunk
                .iter()
                .map(|c| (c.id, index.trace(c, settings, as_of)))
                .collect();
            let c = self
                .record_contacts_of(&found, &settings.profile, actor)
                .await?;
            total.created += c.created;
            total.updated += c.updated;
            total.unchanged += c.unchanged;
            total.removed += c.removed;
        }
        Ok(total)
    }

    /// The newest import batch and the newest person merge (0 when none).
    async fn movement_mark(&self) -> Result<(i64, i64), StoreError> {
        let batch = get_opt_i64(
            &sqlx::query("SELECT MAX(id) AS n FROM import_batches")
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        let merge = get_opt_i64(
            &sqlx::query("SELECT MAX(id) AS n FROM person_merges")
                .fetch_one(&self.pool)
                .await?,
            "n",
        )?;
        Ok((batch.unwrap_or(0), merge.unwrap_or(0)))
    }

    /// Every case's person and report time.
    async fn case_reports(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        sqlx::query("SELECT person_id, report_time FROM cases")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((get_i64(r, "person_id")?, get_i64(r, "report_time")?)))
            .collect()
    }
}
