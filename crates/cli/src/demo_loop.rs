//! Plays the demo's closed-loop script (`closedloop_demo::closed_loop`)
//! against the store, through the same calls an operator's commands make:
//! command structure, facilities, contacts, enrolment, transitions, task
//! replies, test results, the bulk release at the end of March, and the
//! escalation of what is still overdue then (a few notices acknowledged).

use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use closedloop_demo::closed_loop::{DemoStep, LoopDemo};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::lifecycle::{LoopState, ManagedCategory};
use closedloop_domain::time::day_bounds;
use closedloop_store::{
    profile_tag, Actor, ContactDraft, Facility, Role, Store, TaskFilter, TaskKind,
    TransitionRequest, UnitFunction,
};
use std::collections::HashMap;

/// What the play left in the database.
#[derive(Debug, Default)]
pub struct Played {
    pub cases: usize,
    pub contacts: u64,
    pub transitions: u64,
    pub refused: u64,
    pub conversions: u64,
    pub released: u64,
    /// Escalation notices kept at the end, and how many were acknowledged.
    pub notices: u64,
    pub acknowledged: u64,
}

pub async fn play(store: &Store, script: &LoopDemo, config: &Config) -> Result<Played> {
    let lang = config.lang;
    let fail = |e: &dyn closedloop_domain::ErrorCode| anyhow::Error::from(Failure::coded(e, lang));
    let profile = &config.profile;
    let tz = config.time_zone;
    let actor = Actor("demo".into());
    // Cases registered by positives in quarantine, traced once at the end.
    let mut converted_cases = Vec::new();
    let mut played = Played {
        cases: script.cases.len(),
        ..Default::default()
    };
    let facilities: Vec<Facility> = script
        .facilities
        .iter()
        .map(|f| Facility {
            facility_id: f.id.clone(),
            name: f.name.clone(),
            kind: f.kind,
            region_code: Some(f.region_code.clone()),
            address: String::new(),
            capacity: f.capacity,
        })
        .collect();
    // Through the same path as `closedloop import facilities FILE`: the
    // register written as a facilities CSV, read back under the contract, imported.
    let mut csv = Vec::new();
    closedloop_ingest::write_csv(
        &mut csv,
        closedloop_ingest::Contract::Facilities,
        facilities.iter().map(closedloop_ingest::facility_record),
    )
    .map_err(|e| fail(&e))?;
    let table = closedloop_ingest::read_table_from(
        csv.as_slice(),
        closedloop_ingest::FileFormat::Csv,
        "demo-facilities.csv",
    )
    .map_err(|e| fail(&e))?;
    let parsed = closedloop_ingest::parse_facilities(&table).map_err(|e| fail(&e))?;
    if let Some(e) = parsed.errors.first() {
        return Err(fail(e));
    }
    store
        .import_facilities(
            &parsed.records,
            closedloop_store::ImportMode::default(),
            &table.source,
            &actor,
        )
        .await
        .map_err(|e| fail(&e))?;
    for c in &script.commands {
        store
            .add_command(&c.region_code, &c.name, c.parent.as_deref(), &actor)
            .await
            .map_err(|e| fail(&e))?;
    }
    for u in &script.units {
        let function = UnitFunction::parse(u.function).map_err(|e| fail(&e))?;
        let id = store
            .add_unit(&u.region_code, function, &u.name, &actor)
            .await
            .map_err(|e| fail(&e))?;
        for (role, official, from) in &u.appointments {
            let role = Role::parse(role).map_err(|e| fail(&e))?;
            store
                .appoint(id, role, official, from.timestamp(), &actor)
                .await
                .map_err(|e| fail(&e))?;
        }
    }
    let mut person_ids: HashMap<String, i64> = HashMap::new();
    let ids: Vec<String> = script.cases.iter().map(|c| c.case_id.clone()).collect();
    store
        .enrol_cases(profile, Some(&ids), &actor)
        .await
        .map_err(|e| fail(&e))?;
    // Contacts, case by case in report order, enrolled when tracing found them.
    let mut contact_person: Vec<Vec<i64>> = Vec::new();
    for c in &script.cases {
        let Some(case) = store.case(&c.case_id).await.map_err(|e| fail(&e))? else {
            continue;
        };
        let mut drafts = Vec::new();
        let mut mine = Vec::new();
        for k in &c.contacts {
            let id = person_id(store, &mut person_ids, &k.document, lang).await?;
            let via = person_id(store, &mut person_ids, &k.via, lang).await?;
            mine.push(id);
            drafts.push(ContactDraft {
                person_id: id,
                category: k.category,
                degree: k.degree,
                first_exposure: k.first_exposure.timestamp(),
                via_person: via,
                explanations: vec![Explanation::at(
                    if k.category == ContactCategory::CloseContact {
                        ExposureKind::Household
                    } else {
                        ExposureKind::Venue
                    },
                    via,
                    "",
                )],
            });
        }
        store
            .record_contacts(case.id, &drafts, &profile_tag(profile), &actor)
            .await
            .map_err(|e| fail(&e))?;
        let s = store
            .enrol_contacts(profile, tz, c.identified_at.timestamp(), &actor)
            .await
            .map_err(|e| fail(&e))?;
        played.contacts += s.enrolled;
        contact_person.push(mine);
    }
    let tasks = store
        .tasks(&TaskFilter {
            limit: i64::MAX,
            ..Default::default()
        })
        .await
        .map_err(|e| fail(&e))?;
    let mut task_of: HashMap<(i64, TaskKind), Vec<i64>> = HashMap::new();
    for t in &tasks {
        if let Some(m) = t.managed_id {
            task_of.entry((m, t.kind)).or_default().push(t.id);
        }
    }
    let end = script.end;
    let go = |id: i64, step: &DemoStep| TransitionRequest {
        managed_id: id,
        to: step.to,
        at: step.at.timestamp(),
        facility_id: step.facility.clone(),
        reason: "demo".into(),
    };
    for (c, persons) in script.cases.iter().zip(&contact_person) {
        let Some(case) = store.case(&c.case_id).await.map_err(|e| fail(&e))? else {
            continue;
        };
        let records = store
            .managed_of_person(case.person_id)
            .await
            .map_err(|e| fail(&e))?;
        let Some(m) = records.iter().find(|m| m.case_pk == Some(case.id)) else {
            continue;
        };
        for step in c.steps.iter().filter(|s| s.at < end) {
            match store.transition(profile, tz, &go(m.id, step), &actor).await {
                Ok(_) => played.transitions += 1,
                Err(_) => played.refused += 1,
            }
        }
        for (kind, at) in &c.tasks {
            let (Ok(kind), Some(at)) = (TaskKind::parse(kind), at) else {
                continue;
            };
            if *at >= end {
                continue;
            }
            // Disinfection of the home and of every venue in the window is done the same day.
            for &task in task_of.get(&(m.id, kind)).into_iter().flatten() {
                store
                    .complete_task(task, "已完成", at.timestamp(), &actor)
                    .await
                    .map_err(|e| fail(&e))?;
            }
        }
        let fangcang = c
            .steps
            .last()
            .and_then(|s| s.facility.as_deref())
            .and_then(|f| f.split('-').next())
            .map(|city| format!("{city}-F1"));
        for (k, &pid) in c.contacts.iter().zip(persons) {
            let records = store.managed_of_person(pid).await.map_err(|e| fail(&e))?;
            let Some(m) = records
                .iter()
                .rev()
                .find(|m| m.category != ManagedCategory::Case)
            else {
                continue;
            };
            let mut placed = None;
            for step in k.steps.iter().filter(|s| s.at < end) {
                match store.transition(profile, tz, &go(m.id, step), &actor).await {
                    Ok(r) => {
                        played.transitions += 1;
                        if r.state == LoopState::UnderQuarantine {
                            placed = Some(step.at);
                        }
                    }
                    Err(_) => played.refused += 1,
                }
            }
            let Some(placed) = placed else { continue };
            let tests = store.loop_tests(m.id).await.map_err(|e| fail(&e))?;
            let mut positive = false;
            for (i, t) in tests.iter().enumerate() {
                let morning = day_bounds(t.due_date, tz).0 + Duration::hours(9);
                let at = morning.max(placed + Duration::hours(1));
                if at >= end || Some(i) == k.missed_test {
                    continue;
                }
                positive = Some(i) == k.positive_test;
                let converted = store
                    .record_test_result(profile, t.id, at.timestamp(), positive, &actor)
                    .await
                    .map_err(|e| fail(&e))?;
                if let Some(new) = converted {
                    played.conversions += 1;
                    converted_cases.push(closedloop_store::conversion_case_id(t.id));
                    let admitted = at + Duration::minutes(100 + 20 * (new.id % 7));
                    for (to, when, facility) in [
                        (LoopState::TransferOrdered, at + Duration::minutes(20), None),
                        (
                            LoopState::InTransfer,
                            admitted - Duration::minutes(30),
                            None,
                        ),
                        (LoopState::Admitted, admitted, fangcang.clone()),
                    ] {
                        let step = DemoStep {
                            to,
                            at: when,
                            facility,
                        };
                        if when < end
                            && store
                                .transition(profile, tz, &go(new.id, &step), &actor)
                                .await
                                .is_ok()
                        {
                            played.transitions += 1;
                        }
                    }
                    break;
                }
            }
            if positive {
                continue;
            }
            // End of quarantine on its last day, in the evening: to home monitoring, or released.
            if let Some(qend) = m.quarantine_end {
                let evening: DateTime<Utc> = day_bounds(qend, tz).0 + Duration::hours(20);
                let monitoring = profile
                    .category_rules(m.category)
                    .is_some_and(|r| r.monitoring_days > 0);
                let to = if monitoring {
                    LoopState::HomeHealthMonitoring
                } else {
                    LoopState::Released
                };
                if evening < end
                    && m.category == ManagedCategory::SecondaryContact
                    && profile.secondary_release.is_some()
                {
                    // 次密接: the secondary-release rule decides (released, upgraded or waiting).
                    match store
                        .apply_secondary_rule(profile, tz, m.id, evening.timestamp(), &actor)
                        .await
                    {
                        Ok(closedloop_store::SecondaryOutcome::Released) => played.transitions += 1,
                        Ok(_) => {}
                        Err(_) => played.refused += 1,
                    }
                } else if evening < end {
                    let step = DemoStep {
                        to,
                        at: evening,
                        facility: None,
                    };
                    match store
                        .transition(profile, tz, &go(m.id, &step), &actor)
                        .await
                    {
                        Ok(_) => played.transitions += 1,
                        Err(_) => played.refused += 1,
                    }
                }
            }
        }
    }
    let last_day = (end - Duration::seconds(1)).with_timezone(&tz).date_naive();
    played.released = store
        .release_due(
            last_day,
            (end - Duration::hours(1)).timestamp(),
            None,
            &actor,
        )
        .await
        .map_err(|e| fail(&e))?;
    // What is still overdue at the end climbs the chain; the assignees
    // acknowledged the notices that reached them in the month's first weeks.
    let escalated_at = (end - Duration::hours(1)).timestamp();
    played.notices = store
        .escalate(profile, escalated_at, &actor)
        .await
        .map_err(|e| fail(&e))?
        .created;
    let notices = store
        .notices(
            None,
            &closedloop_store::NoticeFilter {
                unacknowledged: true,
                limit: i64::MAX,
            },
        )
        .await
        .map_err(|e| fail(&e))?;
    let early = (end - Duration::days(7)).timestamp();
    for n in notices.iter().filter(|n| {
        n.level == closedloop_domain::protocol::EscalationLevel::Assignee && n.reached_at < early
    }) {
        store
            .acknowledge_notice(
                n.id,
                None,
                n.reached_at + 30 * 60,
                &Actor(n.recipient.clone()),
            )
            .await
            .map_err(|e| fail(&e))?;
        played.acknowledged += 1;
    }
    crate::contacts::trace_registered(store, config, &converted_cases, &actor).await?;
    Ok(played)
}

async fn person_id(
    store: &Store,
    cache: &mut HashMap<String, i64>,
    doc: &closedloop_domain::person::Document,
    lang: closedloop_domain::Lang,
) -> Result<i64> {
    if let Some(&id) = cache.get(&doc.number) {
        return Ok(id);
    }
    let p = store
        .person_by_document(doc)
        .await
        .map_err(|e| Failure::coded(&e, lang))?
        .ok_or_else(|| anyhow::anyhow!("demo person {} missing", doc.number))?;
    cache.insert(doc.number.clone(), p.id);
    Ok(p.id)
}
