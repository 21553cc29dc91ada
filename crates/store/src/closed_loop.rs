//! The closed loop in storage: the facility register, managed records, their
//! transitions (all through [`Store::transition`], which checks the state
//! machine and writes the audit record in the same transaction), scheduled
//! tests, and the set-based steps: enrol contacts, enrol cases, bulk release.

use crate::loop_counts::{self, Tally};
use crate::{audit, get_i64, get_opt_i64, get_opt_str, get_str, Actor, Store, StoreError};
use chrono::{NaiveDate, Utc};
use closedloop_domain::case::{Classification, DiscoveryChannel, Origin};
use closedloop_domain::lifecycle::{
    check_transition, FacilityKind, LoopError, LoopState, ManagedCategory, Stage, TestResult,
    TransitionContext,
};
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::Setting;
use closedloop_domain::time::from_epoch;
use closedloop_domain::{ErrorCode, Lang};
use serde::Serialize;
use sqlx::any::AnyRow;
use std::str::FromStr;

/// Rows per multi-row INSERT: well under both backends' bind-parameter limits.
const CHUNK: usize = 500;

/// `name@version`, as records remember the profile that governed them.
pub fn profile_tag(p: &Profile) -> String {
    format!("{}@{}", p.name, p.version)
}

/// A place in the facility register (the domain's, validated there).
pub use closedloop_domain::facility::Facility;

/// A person managed in the loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedRecord {
    pub id: i64,
    pub person_id: i64,
    pub category: ManagedCategory,
    pub state: LoopState,
    pub setting: Option<Setting>,
    pub facility_id: Option<String>,
    pub region_code: Option<String>,
    pub profile: String,
    pub last_exposure: Option<NaiveDate>,
    pub quarantine_end: Option<NaiveDate>,
    pub monitoring_end: Option<NaiveDate>,
    pub case_pk: Option<i64>,
    pub source_case_pk: Option<i64>,
    pub source_person: Option<i64>,
    pub identified_at: i64,
    pub control_due: i64,
    pub controlled_at: Option<i64>,
    pub state_since: i64,
    pub converted_to: Option<i64>,
}

const MANAGED_COLUMNS: &str = "id, person_id, category, state, setting, facility_id, region_code, profile, last_exposure, quarantine_end, monitoring_end, case_pk, source_case_pk, source_person, identified_at, control_due, controlled_at, state_since, converted_to";

fn corrupt(s: &str) -> StoreError {
    StoreError::Corrupt(s.chars().take(40).collect())
}

fn opt_date(row: &AnyRow, col: &str) -> Result<Option<NaiveDate>, StoreError> {
    get_opt_str(row, col)?
        .map(|s| NaiveDate::from_str(&s).map_err(|_| corrupt(&s)))
        .transpose()
}

fn managed_from_row(r: &AnyRow) -> Result<ManagedRecord, StoreError> {
    Ok(ManagedRecord {
        id: get_i64(r, "id")?,
        person_id: get_i64(r, "person_id")?,
        category: crate::decode(&get_str(r, "category")?, ManagedCategory::parse)?,
        state: crate::decode(&get_str(r, "state")?, LoopState::parse)?,
        setting: get_opt_str(r, "setting")?
            .map(|s| crate::decode(&s, Setting::parse))
            .transpose()?,
        facility_id: get_opt_str(r, "facility_id")?,
        region_code: get_opt_str(r, "region_code")?,
        profile: get_str(r, "profile")?,
        last_exposure: opt_date(r, "last_exposure")?,
        quarantine_end: opt_date(r, "quarantine_end")?,
        monitoring_end: opt_date(r, "monitoring_end")?,
        case_pk: get_opt_i64(r, "case_pk")?,
        source_case_pk: get_opt_i64(r, "source_case_pk")?,
        source_person: get_opt_i64(r, "source_person")?,
        identified_at: get_i64(r, "identified_at")?,
        control_due: get_i64(r, "control_due")?,
        controlled_at: get_opt_i64(r, "controlled_at")?,
        state_since: get_i64(r, "state_since")?,
        converted_to: get_opt_i64(r, "converted_to")?,
    })
}

/// A change of state asked for: to what, when, where, why.
#[derive(Debug, Clone)]
pub struct TransitionRequest {
    pub managed_id: i64,
    pub to: LoopState,
    pub at: i64,
    pub facility_id: Option<String>,
    pub reason: String,
}

/// Why a transition or a loop step was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error(transparent)]
    Loop(#[from] LoopError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the record is governed by profile {record}, not {given}")]
    ProfileMismatch { record: String, given: String },
    #[error("the record changed meanwhile (now {0}); try again")]
    Concurrent(LoopState),
}

impl From<sqlx::Error> for TransitionError {
    fn from(e: sqlx::Error) -> Self {
        TransitionError::Store(e.into())
    }
}

impl ErrorCode for TransitionError {
    fn code(&self) -> &'static str {
        match self {
            TransitionError::Loop(e) => e.code(),
            TransitionError::Store(e) => e.code(),
            TransitionError::ProfileMismatch { .. } => "profile_mismatch",
            TransitionError::Concurrent(_) => "concurrent_change",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (lang, self) {
            (_, TransitionError::Loop(e)) => e.message(lang),
            (_, TransitionError::Store(e)) => e.message(lang),
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, TransitionError::ProfileMismatch { record, given }) => {
                format!("该记录适用防控方案{record}，而非{given}")
            }
            (Lang::Zh, TransitionError::Concurrent(s)) => {
                format!("记录已被他人修改（现为“{}”），请重试", s.label(lang))
            }
        }
    }
}

/// What enrolment did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EnrolSummary {
    pub enrolled: u64,
    pub converted: u64,
    pub tests_scheduled: u64,
    pub tasks_created: u64,
    /// Release assessments (`assess_release` tasks) created, due after each
    /// contact's quarantine ends; not counted in `tasks_created`.
    pub release_assessments: u64,
}

/// One scheduled test of a managed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopTest {
    pub id: i64,
    pub managed_id: i64,
    pub stage: Stage,
    pub day: i64,
    pub due_date: NaiveDate,
    pub sampled_at: Option<i64>,
    pub positive: Option<bool>,
}

fn test_from_row(r: &AnyRow) -> Result<LoopTest, StoreError> {
    let due = get_str(r, "due_date")?;
    Ok(LoopTest {
        id: get_i64(r, "id")?,
        managed_id: get_i64(r, "managed_id")?,
        stage: crate::decode(&get_str(r, "stage")?, Stage::parse)?,
        day: get_i64(r, "day")?,
        due_date: NaiveDate::from_str(&due).map_err(|_| corrupt(&due))?,
        sampled_at: get_opt_i64(r, "sampled_at")?,
        positive: match get_opt_str(r, "result")?.as_deref() {
            None => None,
            Some("positive") => Some(true),
            Some("negative") => Some(false),
            Some(other) => return Err(corrupt(other)),
        },
    })
}

/// How a positive in quarantine is registered as a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conversion {
    /// Asymptomatic unless the result says confirmed.
    pub classification: Classification,
    /// When the result was reported (the case's report time).
    pub reported_at: i64,
}

/// The case id a positive scheduled test registers: `Q-` and the test's id,
/// the same every time for the same test.
pub fn conversion_case_id(test_id: i64) -> String {
    format!("Q-{test_id}")
}

/// What [`convert`] reads of a managed record and its person.
const CONVERT_COLUMNS: &str = "m.id AS managed_id, m.state, m.category, m.person_id, m.region_code, m.setting, m.facility_id, m.controlled_at, p.region_code AS home_region";

/// A positive test that converts a contact.
struct Positive<'a> {
    test_id: i64,
    sampled_at: i64,
    conv: &'a Conversion,
}

/// Converts the contact of `row` (read with [`CONVERT_COLUMNS`]) into a case
/// inside `tx`: registers the case in `cases` (audited), starts the case
/// record pointing to it, ends the contact record as `converted_to_case`,
/// cancels its open tasks and creates the admission task. Returns the case record.
async fn convert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    profile: &Profile,
    row: &AnyRow,
    positive: Positive<'_>,
    actor: &Actor,
) -> Result<ManagedRecord, TransitionError> {
    let Positive {
        test_id,
        sampled_at,
        conv,
    } = positive;
    let managed_id = get_i64(row, "managed_id")?;
    let state = crate::decode(&get_str(row, "state")?, LoopState::parse)?;
    let category = crate::decode(&get_str(row, "category")?, ManagedCategory::parse)?;
    if !closedloop_domain::lifecycle::is_edge(category, state, LoopState::ConvertedToCase) {
        return Err(LoopError::InvalidTransition {
            category,
            from: state,
            to: LoopState::ConvertedToCase,
        }
        .into());
    }
    let person_id = get_i64(row, "person_id")?;
    let region = get_opt_str(row, "region_code")?.or(get_opt_str(row, "home_region")?);
    let Some(region) = region else {
        return Err(StoreError::Invalid(format!(
            "managed record {managed_id}: no region to report the case in"
        ))
        .into());
    };
    let setting = get_opt_str(row, "setting")?
        .map(|s| crate::decode(&s, Setting::parse))
        .transpose()?;
    let channel = match setting {
        Some(Setting::Home) => DiscoveryChannel::HomeQuarantine,
        Some(Setting::Centralized) => DiscoveryChannel::CentralizedQuarantine,
        None if get_opt_str(row, "facility_id")?.is_some() => {
            DiscoveryChannel::CentralizedQuarantine
        }
        None => DiscoveryChannel::HomeQuarantine,
    };
    let case_id = conversion_case_id(test_id);
    let existing = sqlx::query("SELECT id FROM cases WHERE case_id = $1")
        .bind(&case_id)
        .fetch_optional(&mut **tx)
        .await?;
    let case_pk = match existing {
        Some(r) => get_i64(&r, "id")?,
        None => {
            let case_row = sqlx::query(
                    "INSERT INTO cases (case_id, person_id, classification, origin, discovery_channel, sample_time, report_time, reporting_region, isolated_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                )
                .bind(&case_id)
                .bind(person_id)
                .bind(conv.classification.as_str())
                .bind(Origin::Local.as_str())
                .bind(channel.as_str())
                .bind(sampled_at)
                .bind(conv.reported_at)
                .bind(&region)
                .bind(get_opt_i64(row, "controlled_at")?)
                .bind(crate::now())
                .fetch_one(&mut **tx)
                .await?;
            let pk = get_i64(&case_row, "id")?;
            sqlx::query("INSERT INTO case_classifications (case_pk, at, classification, clinical_type) VALUES ($1, $2, $3, NULL)")
                    .bind(pk)
                    .bind(conv.reported_at)
                    .bind(conv.classification.as_str())
                    .execute(&mut **tx)
                    .await?;
            audit::record(
                tx,
                actor,
                "register",
                "case",
                &case_id,
                serde_json::json!({
                    "after": {
                        "person_id": person_id,
                        "classification": conv.classification,
                        "discovery_channel": channel,
                        "sample_time": sampled_at,
                        "report_time": conv.reported_at,
                        "reporting_region": region,
                    },
                    "from": {"managed": managed_id, "test": test_id},
                }),
            )
            .await?;
            pk
        }
    };
    let due = sampled_at + 60 * i64::from(profile.deadlines.case_admission);
    let new = sqlx::query(
            "INSERT INTO managed (person_id, category, state, region_code, profile, case_pk, identified_at, control_due, state_since, created_at, updated_at)
             VALUES ($1, 'case', 'reported', $2, $3, $6, $4, $5, $4, $4, $4) RETURNING id",
        )
        .bind(person_id)
        .bind(get_opt_str(row, "region_code")?)
        .bind(profile_tag(profile))
        .bind(sampled_at)
        .bind(due)
        .bind(case_pk)
        .fetch_one(&mut **tx)
        .await?;
    let case_record = get_i64(&new, "id")?;
    sqlx::query("UPDATE managed SET state = 'converted_to_case', converted_to = $1, state_since = $2, updated_at = $2 WHERE id = $3")
            .bind(case_record)
            .bind(sampled_at)
            .bind(managed_id)
            .execute(&mut **tx)
            .await?;
    sqlx::query("INSERT INTO transitions (managed_id, from_state, to_state, at, actor, reason) VALUES ($1, $2, 'converted_to_case', $3, $4, $5)")
            .bind(managed_id)
            .bind(state.as_str())
            .bind(sampled_at)
            .bind(&actor.0)
            .bind(format!("positive test {test_id}"))
            .execute(&mut **tx)
            .await?;
    sqlx::query("UPDATE tasks SET status = 'cancelled', done_at = $1, reply = 'converted_to_case' WHERE managed_id = $2 AND status = 'open'")
            .bind(sampled_at)
            .bind(managed_id)
            .execute(&mut **tx)
            .await?;
    sqlx::query("INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, priority, created_at, due_at, status) VALUES ('admit', $1, (SELECT person_id FROM managed WHERE id = $1), $5, $2, 1, $3, $4, 'open')")
            .bind(case_record)
            .bind(get_opt_str(row, "region_code")?)
            .bind(sampled_at)
            .bind(due)
            .bind(&case_id)
            .execute(&mut **tx)
            .await?;
    audit::record(
            tx,
            actor,
            "transition",
            "managed",
            &managed_id.to_string(),
            serde_json::json!({"before": {"state": state}, "after": {"state": "converted_to_case", "case_record": case_record, "case_id": case_id}, "at": sampled_at}),
        )
        .await?;
    let row = sqlx::query(&format!(
        "SELECT {MANAGED_COLUMNS} FROM managed WHERE id = $1"
    ))
    .bind(case_record)
    .fetch_one(&mut **tx)
    .await?;
    Ok(managed_from_row(&row)?)
}

/// When a release assessment is due: the profile's `release_assessment`
/// minutes after the stay ends, at the start of its last day (the day a
/// release or the move to home monitoring becomes possible) in `tz`.
fn assessment_due(profile: &Profile, tz: chrono_tz::Tz, quarantine_end: NaiveDate) -> i64 {
    closedloop_domain::time::day_bounds(quarantine_end, tz)
        .0
        .timestamp()
        + 60 * i64::from(profile.deadlines.release_assessment)
}

/// Terminal states, as an SQL list.
const TERMINAL: &str = "('released', 'converted_to_case', 'died')";

impl Store {
    /// Adds or replaces facilities in the register (audited).
    pub async fn upsert_facilities(
        &self,
        facilities: &[Facility],
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let at = crate::now();
        for f in facilities {
            sqlx::query("DELETE FROM facilities WHERE facility_id = $1 AND NOT EXISTS (SELECT 1 FROM managed WHERE facility_id = $1) AND NOT EXISTS (SELECT 1 FROM transitions WHERE facility_id = $1)")
                .bind(&f.facility_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO facilities (facility_id, name, kind, region_code, address, capacity, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (facility_id) DO UPDATE SET name = $2, kind = $3, region_code = $4, address = $5, capacity = $6",
            )
            .bind(&f.facility_id)
            .bind(&f.name)
            .bind(f.kind.as_str())
            .bind(&f.region_code)
            .bind(&f.address)
            .bind(f.capacity)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            actor,
            "register",
            "facility",
            &facilities.len().to_string(),
            serde_json::json!({"facilities": facilities.iter().map(|f| &f.facility_id).collect::<Vec<_>>()}),
        )
        .await?;
        tx.commit().await?;
        Ok(facilities.len() as u64)
    }

    pub async fn facilities(&self) -> Result<Vec<Facility>, StoreError> {
        let rows = sqlx::query("SELECT facility_id, name, kind, region_code, address, capacity FROM facilities ORDER BY facility_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Facility {
                    facility_id: get_str(r, "facility_id")?,
                    name: get_str(r, "name")?,
                    kind: crate::decode(&get_str(r, "kind")?, FacilityKind::parse)?,
                    region_code: get_opt_str(r, "region_code")?,
                    address: get_str(r, "address")?,
                    capacity: get_i64(r, "capacity")?,
                })
            })
            .collect()
    }

    pub async fn managed(&self, id: i64) -> Result<Option<ManagedRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(managed_from_row).transpose()
    }

    /// The managed records of a person, oldest first.
    pub async fn managed_of_person(
        &self,
        person_id: i64,
    ) -> Result<Vec<ManagedRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed WHERE person_id = $1 ORDER BY id"
        ))
        .bind(person_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(managed_from_row).collect()
    }

    pub async fn loop_tests(&self, managed_id: i64) -> Result<Vec<LoopTest>, StoreError> {
        let rows = sqlx::query("SELECT id, managed_id, stage, day, due_date, sampled_at, result FROM loop_tests WHERE managed_id = $1 ORDER BY due_date, id")
            .bind(managed_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(test_from_row).collect()
    }

    /// Enrols into the loop every stored contact (table `contacts`) not already
    /// managed in an open record, under `profile`: one record per person (the
    /// closest category, the latest exposure), its quarantine dates and tests
    /// from the profile, and a placement task due at the control deadline.
    /// Categories the profile does not manage are left out. `at` is the
    /// instant of identification (the clock, injected): control is due from it.
    /// Batched multi-row statements, one transaction, one audit record.
    pub async fn enrol_contacts(
        &self,
        profile: &Profile,
        tz: chrono_tz::Tz,
        at: i64,
        actor: &Actor,
    ) -> Result<EnrolSummary, StoreError> {
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let rows = sqlx::query(&format!(
            "SELECT k.person_id,
                    CAST(MIN(CASE k.category WHEN 'close_contact' THEN 1 WHEN 'venue_exposed' THEN 2 ELSE 3 END) AS BIGINT) AS rank,
                    MAX(k.first_exposure) AS last_exposure,
                    MIN(k.case_pk) AS source_case, MIN(k.via_person) AS via, MIN(p.region_code) AS region_code
             FROM contacts k JOIN persons p ON p.id = k.person_id
             WHERE NOT EXISTS (SELECT 1 FROM managed m WHERE m.person_id = k.person_id AND m.state NOT IN {TERMINAL})
               AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.person_id = k.person_id)
             GROUP BY k.person_id ORDER BY k.person_id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let tag = profile_tag(profile);
        let now = at;
        struct New {
            person: i64,
            category: ManagedCategory,
            schedule: closedloop_domain::protocol::Schedule,
            setting: Setting,
            identified: i64,
            source_case: i64,
            via: i64,
            region: Option<String>,
        }
        let mut new = Vec::new();
        for r in &rows {
            let category = match get_i64(r, "rank")? {
                1 => ManagedCategory::CloseContact,
                2 => ManagedCategory::VenueExposed,
                _ => ManagedCategory::SecondaryContact,
            };
            let Some(rules) = profile.category_rules(category) else {
                continue;
            };
            let last = from_epoch(get_i64(r, "last_exposure")?)
                .with_timezone(&tz)
                .date_naive();
            let Some(schedule) = profile.schedule(category, last) else {
                continue;
            };
            new.push(New {
                person: get_i64(r, "person_id")?,
                category,
                schedule,
                setting: rules.setting,
                identified: at,
                source_case: get_i64(r, "source_case")?,
                via: get_i64(r, "via")?,
                region: get_opt_str(r, "region_code")?,
            });
        }
        let mut summary = EnrolSummary::default();
        let mut new_ids = Vec::with_capacity(new.len());
        // (record, person, category, region, due) of each release assessment.
        let mut assessments: Vec<(i64, i64, &'static str, Option<String>, i64)> = Vec::new();
        for chunk in new.chunks(CHUNK) {
            let mut sql = String::from("INSERT INTO managed (person_id, category, state, setting, region_code, profile, last_exposure, quarantine_end, monitoring_end, source_case_pk, source_person, identified_at, control_due, state_since, created_at, updated_at) VALUES ");
            const COLS: usize = 14;
            for i in 0..chunk.len() {
                let b = i * COLS;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                sql.push_str(&crate::placeholders(b + 1, COLS));
                sql.push_str(&format!(", ${}, ${})", b + COLS, b + COLS));
            }
            sql.push_str(" RETURNING id, person_id");
            let mut q = sqlx::query(&sql);
            for n in chunk {
                let due =
                    n.identified + 60 * i64::from(profile.control_deadline_minutes(n.category));
                q = q
                    .bind(n.person)
                    .bind(n.category.as_str())
                    .bind(LoopState::Identified.as_str())
                    .bind(n.setting.as_str())
                    .bind(n.region.clone())
                    .bind(tag.clone())
                    .bind(n.schedule.last_exposure.to_string())
                    .bind(n.schedule.quarantine_end.to_string())
                    .bind(n.schedule.monitoring_end.to_string())
                    .bind(n.source_case)
                    .bind(n.via)
                    .bind(n.identified)
                    .bind(due)
                    .bind(now);
            }
            let ids = q.fetch_all(&mut *tx).await?;
            let mut by_person = std::collections::HashMap::new();
            for r in &ids {
                by_person.insert(get_i64(r, "person_id")?, get_i64(r, "id")?);
                new_ids.push(get_i64(r, "id")?);
            }
            summary.enrolled += ids.len() as u64;
            let mut tests: Vec<(i64, &closedloop_domain::protocol::ScheduledTest)> = Vec::new();
            for n in chunk {
                if let Some(&id) = by_person.get(&n.person) {
                    tests.extend(n.schedule.tests.iter().map(|t| (id, t)));
                    assessments.push((
                        id,
                        n.person,
                        n.category.as_str(),
                        n.region.clone(),
                        assessment_due(profile, tz, n.schedule.quarantine_end),
                    ));
                }
            }
            for part in tests.chunks(CHUNK) {
                let mut sql = String::from(
                    "INSERT INTO loop_tests (managed_id, stage, day, due_date) VALUES ",
                );
                for i in 0..part.len() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('(');
                    sql.push_str(&crate::placeholders(i * 4 + 1, 4));
                    sql.push(')');
                }
                let mut q = sqlx::query(&sql);
                for (id, t) in part {
                    q = q
                        .bind(*id)
                        .bind(t.stage.as_str())
                        .bind(i64::from(t.day))
                        .bind(t.date.to_string());
                }
                summary.tests_scheduled += q.execute(&mut *tx).await?.rows_affected();
            }
        }
        summary.tasks_created = sqlx::query(
            "INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, priority, created_at, due_at, status)
             SELECT 'place', m.id, m.person_id, m.category, m.region_code, CASE m.category WHEN 'close_contact' THEN 1 ELSE 2 END, $1, m.control_due, 'open'
             FROM managed m WHERE m.category <> 'case' AND m.state = 'identified'
               AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.managed_id = m.id AND t.kind = 'place')",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The release assessment of each new record, due from the end of its quarantine.
        for part in assessments.chunks(CHUNK) {
            let values = (0..part.len())
                .map(|i| {
                    format!(
                        "('assess_release', {}, 2, $1, 'open')",
                        crate::placeholders(2 + i * 5, 5)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, due_at, priority, created_at, status) VALUES {values}");
            let mut q = sqlx::query(&sql).bind(now);
            for (id, person, category, region, due) in part {
                q = q
                    .bind(*id)
                    .bind(*person)
                    .bind(*category)
                    .bind(region.clone())
                    .bind(*due);
            }
            summary.release_assessments += q.execute(&mut *tx).await?.rows_affected();
        }
        let mut tally = Tally::default();
        tally.add(&mut tx, &new_ids, 1).await?;
        tally.apply(&mut tx).await?;
        if summary.enrolled > 0 {
            audit::record(
                &mut tx,
                actor,
                "enrol",
                "managed",
                "contacts",
                serde_json::json!({"profile": tag, "summary": summary}),
            )
            .await?;
        }
        self.assign_task_units_in(&mut tx).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Enrols every registered case without a managed record (state
    /// `reported`, admission due from the report), closes any open contact
    /// record of the same person as converted to a case, and creates the
    /// case's tasks: admission, core and full investigation, terminal
    /// disinfection of its home and of every venue in its window. Set-based
    /// statements, one transaction, one audit record.
    /// `only` limits enrolment to these case ids (at most 500).
    pub async fn enrol_cases(
        &self,
        profile: &Profile,
        only: Option<&[String]>,
        actor: &Actor,
    ) -> Result<EnrolSummary, StoreError> {
        let only_sql = match only {
            Some(ids) if ids.len() > CHUNK => {
                return Err(StoreError::Invalid(format!(
                    "at most {CHUNK} case ids at once"
                )))
            }
            Some([]) => return Ok(EnrolSummary::default()),
            Some(ids) => format!(" AND c.case_id IN ({})", crate::placeholders(4, ids.len())),
            None => String::new(),
        };
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let tag = profile_tag(profile);
        let now = crate::now();
        let d = &profile.deadlines;
        let sql = format!(
            "INSERT INTO managed (person_id, category, state, region_code, profile, case_pk, identified_at, control_due, state_since, created_at, updated_at)
             SELECT c.person_id, 'case', 'reported', COALESCE(c.residence_region, c.reporting_region), $1, c.id, c.report_time, c.report_time + $2, c.report_time, $3, $3
             FROM cases c WHERE c.outcome IS NULL AND NOT EXISTS (SELECT 1 FROM managed m WHERE m.case_pk = c.id)
               AND NOT EXISTS (SELECT 1 FROM managed m WHERE m.person_id = c.person_id AND m.category = 'case' AND m.state NOT IN ('released', 'died')){only_sql}
             RETURNING id"
        );
        let mut q = sqlx::query(&sql)
            .bind(&tag)
            .bind(60 * i64::from(d.case_admission))
            .bind(now);
        for id in only.unwrap_or_default() {
            q = q.bind(id.clone());
        }
        let new_ids: Vec<i64> = q
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| get_i64(r, "id"))
            .collect::<Result<_, _>>()?;
        let mut summary = EnrolSummary {
            enrolled: new_ids.len() as u64,
            ..Default::default()
        };
        // The contact records this enrolment ends, counted before and after.
        let converting: Vec<i64> = sqlx::query(&format!(
            "SELECT m.id FROM managed m WHERE m.category <> 'case' AND m.state NOT IN {TERMINAL}
               AND EXISTS (SELECT 1 FROM managed n WHERE n.person_id = m.person_id AND n.category = 'case' AND n.created_at = $1)"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| get_i64(r, "id"))
        .collect::<Result<_, _>>()?;
        let mut tally = Tally::default();
        tally.add(&mut tx, &converting, -1).await?;
        // Contacts who became cases: the contact record ends, pointing to the case record.
        sqlx::query(&format!(
            "INSERT INTO transitions (managed_id, from_state, to_state, at, actor, reason)
             SELECT m.id, m.state, 'converted_to_case', n.identified_at, $1, 'case registered'
             FROM managed m JOIN managed n ON n.person_id = m.person_id AND n.category = 'case' AND n.created_at = $2
             WHERE m.category <> 'case' AND m.state NOT IN {TERMINAL}"
        ))
        .bind(&actor.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        summary.converted = sqlx::query(&format!(
            "UPDATE managed SET state = 'converted_to_case', updated_at = $1,
                converted_to = (SELECT n.id FROM managed n WHERE n.person_id = managed.person_id AND n.category = 'case' AND n.created_at = $1),
                state_since = (SELECT n.identified_at FROM managed n WHERE n.person_id = managed.person_id AND n.category = 'case' AND n.created_at = $1)
             WHERE category <> 'case' AND state NOT IN {TERMINAL}
               AND EXISTS (SELECT 1 FROM managed n WHERE n.person_id = managed.person_id AND n.category = 'case' AND n.created_at = $1)"
        ))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        for (kind, minutes, priority) in [
            ("admit", d.case_admission, 1),
            ("investigate_core", d.core_investigation, 1),
            ("investigate_full", d.full_investigation, 2),
            ("disinfect", d.terminal_disinfection, 2),
        ] {
            summary.tasks_created += sqlx::query(
                "INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, priority, created_at, due_at, status)
                 SELECT $1, m.id, m.person_id, COALESCE(c.case_id, ''), m.region_code, $2, $3, m.identified_at + $4, 'open'
                 FROM managed m LEFT JOIN cases c ON c.id = m.case_pk
                 WHERE m.category = 'case' AND m.created_at = $3
                   AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.managed_id = m.id AND t.kind = $1)",
            )
            .bind(kind)
            .bind(priority as i64)
            .bind(now)
            .bind(60 * i64::from(minutes))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        // Terminal disinfection (终末消毒) of every venue the case checked in at
        // in its window too: from the look-back before its sample (or report)
        // to its isolation (or report); one task per venue.
        summary.tasks_created += sqlx::query(
            "INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, priority, created_at, due_at, status)
             SELECT 'disinfect', m.id, m.person_id, 'venue:' || v.venue_id, COALESCE(v.region_code, m.region_code), 2, $1, m.identified_at + $2, 'open'
             FROM managed m JOIN cases c ON c.id = m.case_pk JOIN venues v ON v.venue_id IN (
                 SELECT k.venue_id FROM checkins k WHERE k.person_id = m.person_id
                   AND k.check_out >= COALESCE(c.sample_time, c.report_time) - $3
                   AND k.check_in <= COALESCE(c.isolated_at, c.report_time))
             WHERE m.category = 'case' AND m.created_at = $1
               AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.managed_id = m.id AND t.kind = 'disinfect' AND t.subject = 'venue:' || v.venue_id)",
        )
        .bind(now)
        .bind(60 * i64::from(d.terminal_disinfection))
        .bind(86_400 * i64::from(profile.tracing.lookback_days))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tally.add(&mut tx, &converting, 1).await?;
        tally.add(&mut tx, &new_ids, 1).await?;
        tally.apply(&mut tx).await?;
        if summary.enrolled > 0 {
            audit::record(
                &mut tx,
                actor,
                "enrol",
                "managed",
                "cases",
                serde_json::json!({"profile": tag, "summary": summary}),
            )
            .await?;
        }
        self.assign_task_units_in(&mut tx).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// The one place a managed record changes state: checks the transition
    /// against the state machine and the profile (facility kind, release
    /// criteria), writes the new state, the transition (who, when, where,
    /// why), closes the tasks it fulfils, and the audit record, in one transaction.
    pub async fn transition(
        &self,
        profile: &Profile,
        tz: chrono_tz::Tz,
        req: &TransitionRequest,
        actor: &Actor,
    ) -> Result<ManagedRecord, TransitionError> {
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let mut tally = Tally::default();
        tally.add(&mut tx, &[req.managed_id], -1).await?;
        let row = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed WHERE id = $1"
        ))
        .bind(req.managed_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(m) = row.as_ref().map(managed_from_row).transpose()? else {
            return Err(StoreError::NotFound {
                entity: "managed",
                id: req.managed_id.to_string(),
            }
            .into());
        };
        let tag = profile_tag(profile);
        if m.profile != tag {
            return Err(TransitionError::ProfileMismatch {
                record: m.profile,
                given: tag,
            });
        }
        let facility = match &req.facility_id {
            Some(f) => {
                let row = sqlx::query("SELECT kind FROM facilities WHERE facility_id = $1")
                    .bind(f)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound {
                        entity: "facility",
                        id: f.clone(),
                    }
                    .into());
                };
                Some(crate::decode(&get_str(&row, "kind")?, FacilityKind::parse)?)
            }
            None => None,
        };
        let test_rows = sqlx::query("SELECT sampled_at, result FROM loop_tests WHERE managed_id = $1 AND sampled_at IS NOT NULL AND result IS NOT NULL")
            .bind(m.id)
            .fetch_all(&mut *tx)
            .await?;
        let mut tests = Vec::with_capacity(test_rows.len());
        for r in &test_rows {
            tests.push(TestResult {
                sampled_at: from_epoch(get_i64(r, "sampled_at")?),
                positive: get_str(r, "result")? == "positive",
            });
        }
        let stay_ends = match m.state {
            LoopState::UnderQuarantine => m.quarantine_end,
            LoopState::HomeHealthMonitoring => m.monitoring_end,
            _ => None,
        };
        let today = from_epoch(req.at).with_timezone(&tz).date_naive();
        check_transition(
            profile,
            m.category,
            m.state,
            req.to,
            &TransitionContext {
                facility,
                setting: m.setting,
                today: Some(today),
                stay_ends,
                tests: &tests,
            },
        )?;
        // A discharged case is monitored at home for the profile's days from discharge.
        let monitoring_end = if m.category.is_case() && req.to == LoopState::Discharged {
            today
                .checked_add_days(chrono::Days::new(u64::from(
                    profile.treatment.post_discharge_monitoring_days,
                )))
                .map(|d| d.to_string())
        } else {
            m.monitoring_end.map(|d| d.to_string())
        };
        let facility_id = req.facility_id.clone().or(m.facility_id.clone());
        // A case is under control once admitted; a contact once in closed-loop transfer or quarantine.
        let controlled = if m.category.is_case() {
            req.to == LoopState::Admitted
        } else {
            req.to.is_controlled()
        };
        let changed = sqlx::query(
            "UPDATE managed SET state = $1, facility_id = $2, state_since = $3, updated_at = $3, monitoring_end = $4,
                controlled_at = $5
             WHERE id = $6 AND state = $7",
        )
        .bind(req.to.as_str())
        .bind(&facility_id)
        .bind(req.at)
        .bind(monitoring_end)
        .bind(m.controlled_at.or(controlled.then_some(req.at)))
        .bind(m.id)
        .bind(m.state.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(TransitionError::Concurrent(m.state));
        }
        sqlx::query("INSERT INTO transitions (managed_id, from_state, to_state, at, actor, facility_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(m.id)
            .bind(m.state.as_str())
            .bind(req.to.as_str())
            .bind(req.at)
            .bind(&actor.0)
            .bind(&req.facility_id)
            .bind(&req.reason)
            .execute(&mut *tx)
            .await?;
        let fulfils: &[&str] = match req.to {
            LoopState::InTransfer | LoopState::UnderQuarantine if !m.category.is_case() => {
                &["place"]
            }
            LoopState::Admitted => &["admit"],
            LoopState::HomeHealthMonitoring | LoopState::Released => &["assess_release"],
            _ => &[],
        };
        for kind in fulfils {
            sqlx::query("UPDATE tasks SET status = 'done', done_at = $1, reply = $2 WHERE managed_id = $3 AND kind = $4 AND status = 'open'")
                .bind(req.at)
                .bind(format!("{} → {}", m.state, req.to))
                .bind(m.id)
                .bind(*kind)
                .execute(&mut *tx)
                .await?;
        }
        if req.to.is_terminal() || req.to == LoopState::Lost {
            sqlx::query("UPDATE tasks SET status = 'cancelled', done_at = $1, reply = $2 WHERE managed_id = $3 AND status = 'open' AND kind IN ('place', 'admit', 'assess_release')")
                .bind(req.at)
                .bind(req.to.as_str())
                .bind(m.id)
                .execute(&mut *tx)
                .await?;
        }
        audit::record(
            &mut tx,
            actor,
            "transition",
            "managed",
            &m.id.to_string(),
            serde_json::json!({
                "person_id": m.person_id,
                "category": m.category,
                "before": {"state": m.state, "facility_id": m.facility_id},
                "after": {"state": req.to, "facility_id": facility_id},
                "at": req.at,
                "reason": req.reason,
            }),
        )
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {MANAGED_COLUMNS} FROM managed WHERE id = $1"
        ))
        .bind(m.id)
        .fetch_one(&mut *tx)
        .await?;
        let updated = managed_from_row(&row)?;
        tally.add(&mut tx, &[m.id], 1).await?;
        tally.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Records the result of a scheduled test (audited), sampled and reported
    /// at `sampled_at`, a positive registered as asymptomatic: see
    /// [`Store::record_test_result_as`].
    pub async fn record_test_result(
        &self,
        profile: &Profile,
        test_id: i64,
        sampled_at: i64,
        positive: bool,
        actor: &Actor,
    ) -> Result<Option<ManagedRecord>, TransitionError> {
        self.record_test_result_as(
            profile,
            test_id,
            sampled_at,
            positive,
            &Conversion {
                classification: Classification::Asymptomatic,
                reported_at: sampled_at,
            },
            actor,
        )
        .await
    }

    /// Records the result of a scheduled test (audited). A positive converts the
    /// contact, in one transaction: the contact record ends as
    /// `converted_to_case`, the case is registered in `cases` (case id
    /// [`conversion_case_id`], classification from `conv`, discovered in
    /// centralized or home quarantine per the record's setting, reported at
    /// `conv.reported_at` in the record's region, sampled at `sampled_at`,
    /// isolated since the record came under control) and a case record starts
    /// (`reported`, admission due from the result) pointing to it, linked by
    /// `converted_to`. Returns the new case record, if any; the caller then
    /// traces the registered case through [`Store::trace_and_record`].
    /// A result for a closed record (a positive already recorded) is refused
    /// (`record_closed`).
    pub async fn record_test_result_as(
        &self,
        profile: &Profile,
        test_id: i64,
        sampled_at: i64,
        positive: bool,
        conv: &Conversion,
        actor: &Actor,
    ) -> Result<Option<ManagedRecord>, TransitionError> {
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let row = sqlx::query(&format!("SELECT {CONVERT_COLUMNS} FROM loop_tests t JOIN managed m ON m.id = t.managed_id JOIN persons p ON p.id = m.person_id WHERE t.id = $1"))
            .bind(test_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                entity: "test",
                id: test_id.to_string(),
            }
            .into());
        };
        let managed_id = get_i64(&row, "managed_id")?;
        let state = crate::decode(&get_str(&row, "state")?, LoopState::parse)?;
        if state.is_terminal() {
            return Err(LoopError::Closed(state).into());
        }
        let mut tally = Tally::default();
        tally.add(&mut tx, &[managed_id], -1).await?;
        let result = if positive { "positive" } else { "negative" };
        sqlx::query("UPDATE loop_tests SET sampled_at = $1, result = $2 WHERE id = $3")
            .bind(sampled_at)
            .bind(result)
            .bind(test_id)
            .execute(&mut *tx)
            .await?;
        loop_counts::refresh_negatives(&mut tx, managed_id).await?;
        audit::record(
            &mut tx,
            actor,
            "test_result",
            "managed",
            &managed_id.to_string(),
            serde_json::json!({"test": test_id, "sampled_at": sampled_at, "result": result}),
        )
        .await?;
        if !positive {
            tally.add(&mut tx, &[managed_id], 1).await?;
            tally.apply(&mut tx).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let record = convert(
            &mut tx,
            profile,
            &row,
            Positive {
                test_id,
                sampled_at,
                conv,
            },
            actor,
        )
        .await?;
        tally.add(&mut tx, &[managed_id, record.id], 1).await?;
        tally.apply(&mut tx).await?;
        self.assign_task_units_in(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Releases in bulk every contact in home health monitoring whose
    /// monitoring ended before `today` (optionally only `ids`): one INSERT of
    /// transitions, one UPDATE of the records, one of their open release
    /// assessments (done), and one audit record that names the batch by its
    /// transitions (their id range, count and a SHA-256 of the released
    /// record ids, see [`release_digest`]) rather than listing every id.
    pub async fn release_due(
        &self,
        today: NaiveDate,
        at: i64,
        ids: Option<&[i64]>,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let only = match ids {
            Some(ids) if !ids.is_empty() => format!(
                " AND managed.id IN ({})",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
            Some(_) => return Ok(0),
            None => String::new(),
        };
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        // Qualified, so that it also reads inside a join with the tests.
        let filter = format!(
            "managed.category <> 'case' AND managed.state = 'home_health_monitoring' AND managed.monitoring_end < $1{only}"
        );
        // The transitions first: what they return is the batch (no separate read of the ids).
        let written = sqlx::query(&format!(
            "INSERT INTO transitions (managed_id, from_state, to_state, at, actor, reason)
             SELECT id, state, 'released', $2, $3, '{RELEASE_REASON}' FROM managed WHERE {filter}
             RETURNING id, managed_id"
        ))
        .bind(today.to_string())
        .bind(at)
        .bind(&actor.0)
        .fetch_all(&mut *tx)
        .await?;
        if written.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut released: Vec<i64> = Vec::with_capacity(written.len());
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for r in &written {
            let id = get_i64(r, "id")?;
            first = first.min(id);
            last = last.max(id);
            released.push(get_i64(r, "managed_id")?);
        }
        let mut tally = Tally::default();
        tally
            .add_move(&mut tx, &filter, &today.to_string(), "released")
            .await?;
        sqlx::query(&format!(
            "UPDATE tasks SET status = 'done', done_at = $2, reply = 'home_health_monitoring → released'
             WHERE kind = 'assess_release' AND status = 'open' AND managed_id IN (SELECT managed.id FROM managed WHERE {filter})"
        ))
        .bind(today.to_string())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(&format!(
            "UPDATE managed SET state = 'released', state_since = $2, updated_at = $2 WHERE {filter}"
        ))
        .bind(today.to_string())
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tally.apply(&mut tx).await?;
        audit::record(
            &mut tx,
            actor,
            "release",
            "managed",
            &format!("{n} records"),
            serde_json::json!({
                "before": {"state": "home_health_monitoring"},
                "after": {"state": "released"},
                "at": at,
                "released": n,
                "transitions": {"first_id": first, "last_id": last, "reason": RELEASE_REASON},
                "managed_ids_sha256": release_digest(&released),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl Store {
    /// Recomputes what a bulk release's audit record says of its batch from
    /// the transitions it names: how many there are and their
    /// [`release_digest`], to compare with `released` and `managed_ids_sha256`.
    pub async fn release_batch_check(
        &self,
        first_id: i64,
        last_id: i64,
        at: i64,
    ) -> Result<(u64, String), StoreError> {
        let ids: Vec<i64> = sqlx::query(
            "SELECT managed_id FROM transitions WHERE id >= $1 AND id <= $2 AND to_state = 'released' AND reason = $3 AND at = $4",
        )
        .bind(first_id)
        .bind(last_id)
        .bind(RELEASE_REASON)
        .bind(at)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| get_i64(r, "managed_id"))
        .collect::<Result<_, _>>()?;
        Ok((ids.len() as u64, release_digest(&ids)))
    }
}

/// The reason a bulk release records on each transition.
pub const RELEASE_REASON: &str = "monitoring ended";

/// The check a bulk release's audit record carries instead of its ids: the
/// SHA-256 (hex) of the released records' ids, sorted ascending, written in
/// decimal and joined by commas. It is recomputed from the transitions the
/// record names (ids `first_id..=last_id` with the release reason and
/// instant), so an edited, added or removed transition shows.
pub fn release_digest(managed_ids: &[i64]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted = managed_ids.to_vec();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    for (i, id) in sorted.iter().enumerate() {
        if i > 0 {
            h.update(b",");
        }
        h.update(id.to_string().as_bytes());
    }
    hex::encode(h.finalize())
}

/// The current instant, for callers without an injected clock.
pub fn now_epoch() -> i64 {
    Utc::now().timestamp()
}

/// What [`Store::apply_secondary_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondaryOutcome {
    Released,
    Upgraded,
    Waiting,
}

impl Store {
    /// The secondary-release rule (次密接解除) for one secondary contact under
    /// quarantine at `at`: released on the profile's release day if the close
    /// contact it was exposed through has its first tests negative (through
    /// [`Store::transition`], so the release criteria apply too); upgraded to a
    /// close contact as soon as one of them is positive: category, quarantine
    /// dates and tests are recomputed from its last exposure, with a
    /// transition record and an audit record, in one transaction.
    pub async fn apply_secondary_rule(
        &self,
        profile: &Profile,
        tz: chrono_tz::Tz,
        managed_id: i64,
        at: i64,
        actor: &Actor,
    ) -> Result<SecondaryOutcome, TransitionError> {
        use closedloop_domain::lifecycle::{secondary_release, SecondaryDecision};
        let Some(m) = self.managed(managed_id).await? else {
            return Err(StoreError::NotFound {
                entity: "managed",
                id: managed_id.to_string(),
            }
            .into());
        };
        let Some(rule) = profile.secondary_release else {
            return Err(LoopError::CategoryNotManaged(ManagedCategory::SecondaryContact).into());
        };
        if m.category != ManagedCategory::SecondaryContact || m.state.is_terminal() {
            return Err(LoopError::InvalidTransition {
                category: m.category,
                from: m.state,
                to: LoopState::Released,
            }
            .into());
        }
        let paired = sqlx::query(
            "SELECT t.sampled_at, t.result FROM loop_tests t JOIN managed c ON c.id = t.managed_id
             WHERE c.person_id = $1 AND c.category = 'close_contact' AND t.result IS NOT NULL AND t.sampled_at IS NOT NULL",
        )
        .bind(m.source_person.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await?;
        let mut tests = Vec::new();
        for r in &paired {
            tests.push(TestResult {
                sampled_at: from_epoch(get_i64(r, "sampled_at")?),
                positive: get_str(r, "result")? == "positive",
            });
        }
        let today = from_epoch(at).with_timezone(&tz).date_naive();
        let day = m
            .last_exposure
            .map(|d| (today - d).num_days().max(0) as u32)
            .unwrap_or(0);
        match secondary_release(&rule, day, &tests) {
            SecondaryDecision::Wait => Ok(SecondaryOutcome::Waiting),
            SecondaryDecision::Release if m.state == LoopState::UnderQuarantine => {
                self.transition(
                    profile,
                    tz,
                    &TransitionRequest {
                        managed_id,
                        to: LoopState::Released,
                        at,
                        facility_id: None,
                        reason: "secondary-release rule: paired close contact negative".into(),
                    },
                    actor,
                )
                .await?;
                Ok(SecondaryOutcome::Released)
            }
            SecondaryDecision::Release => Ok(SecondaryOutcome::Waiting),
            SecondaryDecision::UpgradeToCloseContact => {
                let category = ManagedCategory::CloseContact;
                let (Some(last), Some(rules)) = (m.last_exposure, profile.category_rules(category))
                else {
                    return Err(LoopError::CategoryNotManaged(category).into());
                };
                let Some(schedule) = profile.schedule(category, last) else {
                    return Err(LoopError::CategoryNotManaged(category).into());
                };
                let mut tx = self.pool.begin().await?;
                loop_counts::lock(&mut tx).await?;
                let mut tally = Tally::default();
                tally.add(&mut tx, &[managed_id], -1).await?;
                sqlx::query("UPDATE managed SET category = $1, setting = $2, quarantine_end = $3, monitoring_end = $4, updated_at = $5 WHERE id = $6")
                    .bind(category.as_str())
                    .bind(rules.setting.as_str())
                    .bind(schedule.quarantine_end.to_string())
                    .bind(schedule.monitoring_end.to_string())
                    .bind(at)
                    .bind(managed_id)
                    .execute(&mut *tx)
                    .await?;
                // The open release assessment follows the new end of quarantine.
                sqlx::query("UPDATE tasks SET due_at = $1 WHERE managed_id = $2 AND kind = 'assess_release' AND status = 'open'")
                    .bind(assessment_due(profile, tz, schedule.quarantine_end))
                    .bind(managed_id)
                    .execute(&mut *tx)
                    .await?;
                // Tests not yet taken follow the new schedule; results stay.
                sqlx::query("DELETE FROM loop_tests WHERE managed_id = $1 AND sampled_at IS NULL")
                    .bind(managed_id)
                    .execute(&mut *tx)
                    .await?;
                for t in &schedule.tests {
                    sqlx::query("INSERT INTO loop_tests (managed_id, stage, day, due_date) SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM loop_tests WHERE managed_id = $1 AND stage = $2 AND day = $3)")
                        .bind(managed_id)
                        .bind(t.stage.as_str())
                        .bind(i64::from(t.day))
                        .bind(t.date.to_string())
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("INSERT INTO transitions (managed_id, from_state, to_state, at, actor, reason) VALUES ($1, $2, $2, $3, $4, 'upgraded to close contact: paired close contact positive')")
                    .bind(managed_id)
                    .bind(m.state.as_str())
                    .bind(at)
                    .bind(&actor.0)
                    .execute(&mut *tx)
                    .await?;
                audit::record(
                    &mut tx,
                    actor,
                    "upgrade",
                    "managed",
                    &managed_id.to_string(),
                    serde_json::json!({
                        "before": {"category": m.category, "quarantine_end": m.quarantine_end},
                        "after": {"category": category, "quarantine_end": schedule.quarantine_end},
                        "at": at,
                    }),
                )
                .await?;
                tally.add(&mut tx, &[managed_id], 1).await?;
                tally.apply(&mut tx).await?;
                tx.commit().await?;
                Ok(SecondaryOutcome::Upgraded)
            }
        }
    }
}

impl Store {
    /// Records a test that no schedule asked for, such as the tests of a case
    /// in hospital before discharge (stage `treatment`), or an extra test of a
    /// contact. It then counts for the release criteria like any other
    /// (audited). A positive test of a case changes nothing else; a positive
    /// of a contact is recorded but converts nothing here (see
    /// [`Store::record_unscheduled_test_as`]).
    pub async fn record_unscheduled_test(
        &self,
        managed_id: i64,
        sampled_at: i64,
        positive: bool,
        tz: chrono_tz::Tz,
        actor: &Actor,
    ) -> Result<LoopTest, StoreError> {
        let Some(m) = self.managed(managed_id).await? else {
            return Err(StoreError::NotFound {
                entity: "managed",
                id: managed_id.to_string(),
            });
        };
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let mut tally = Tally::default();
        tally.add(&mut tx, &[managed_id], -1).await?;
        let test = insert_unscheduled(&mut tx, &m, sampled_at, positive, tz, actor).await?;
        tally.add(&mut tx, &[managed_id], 1).await?;
        tally.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(test)
    }

    /// Like [`Store::record_unscheduled_test`] (`positive`: how a positive is
    /// registered, `None` for a negative), but a positive test of a
    /// contact in an open record converts it into a case exactly as a
    /// scheduled positive does ([`Store::record_test_result_as`]), case id
    /// [`conversion_case_id`] of the new test, in the same transaction.
    /// Returns the test and the new case record, if any.
    pub async fn record_unscheduled_test_as(
        &self,
        profile: &Profile,
        managed_id: i64,
        sampled_at: i64,
        positive: Option<&Conversion>,
        tz: chrono_tz::Tz,
        actor: &Actor,
    ) -> Result<(LoopTest, Option<ManagedRecord>), TransitionError> {
        let Some(m) = self.managed(managed_id).await? else {
            return Err(StoreError::NotFound {
                entity: "managed",
                id: managed_id.to_string(),
            }
            .into());
        };
        let conv = positive.filter(|_| !m.category.is_case());
        let converts = conv.is_some();
        if converts && m.state.is_terminal() {
            return Err(LoopError::Closed(m.state).into());
        }
        let mut tx = self.pool.begin().await?;
        loop_counts::lock(&mut tx).await?;
        let mut tally = Tally::default();
        tally.add(&mut tx, &[managed_id], -1).await?;
        let test =
            insert_unscheduled(&mut tx, &m, sampled_at, positive.is_some(), tz, actor).await?;
        let Some(conv) = conv else {
            tally.add(&mut tx, &[managed_id], 1).await?;
            tally.apply(&mut tx).await?;
            tx.commit().await?;
            return Ok((test, None));
        };
        let row = sqlx::query(&format!("SELECT {CONVERT_COLUMNS} FROM managed m JOIN persons p ON p.id = m.person_id WHERE m.id = $1"))
            .bind(managed_id)
            .fetch_one(&mut *tx)
            .await?;
        let record = convert(
            &mut tx,
            profile,
            &row,
            Positive {
                test_id: test.id,
                sampled_at,
                conv,
            },
            actor,
        )
        .await?;
        tally.add(&mut tx, &[managed_id, record.id], 1).await?;
        tally.apply(&mut tx).await?;
        self.assign_task_units_in(&mut tx).await?;
        tx.commit().await?;
        Ok((test, Some(record)))
    }
}

/// Inserts an unscheduled test of `m` and its audit record.
async fn insert_unscheduled(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    m: &ManagedRecord,
    sampled_at: i64,
    positive: bool,
    tz: chrono_tz::Tz,
    actor: &Actor,
) -> Result<LoopTest, StoreError> {
    let managed_id = m.id;
    let stage = if m.category.is_case() {
        Stage::Treatment
    } else if m.state == LoopState::HomeHealthMonitoring {
        Stage::Monitoring
    } else {
        Stage::Quarantine
    };
    let date = from_epoch(sampled_at).with_timezone(&tz).date_naive();
    // Unscheduled tests are numbered from 1000 in their stage, after any scheduled day.
    let row = sqlx::query(
        "INSERT INTO loop_tests (managed_id, stage, day, due_date, sampled_at, result)
         SELECT $1, $2, COALESCE(MAX(CASE WHEN day >= 1000 THEN day END), 999) + 1, $3, $4, $5 FROM loop_tests WHERE managed_id = $1 AND stage = $2
         RETURNING id, managed_id, stage, day, due_date, sampled_at, result",
    )
    .bind(managed_id)
    .bind(stage.as_str())
    .bind(date.to_string())
    .bind(sampled_at)
    .bind(if positive { "positive" } else { "negative" })
    .fetch_one(&mut **tx)
    .await?;
    let test = test_from_row(&row)?;
    loop_counts::refresh_negatives(tx, managed_id).await?;
    audit::record(
        tx,
        actor,
        "test_result",
        "managed",
        &managed_id.to_string(),
        serde_json::json!({"test": test.id, "stage": stage, "sampled_at": sampled_at, "result": if positive { "positive" } else { "negative" }}),
    )
    .await?;
    Ok(test)
}
