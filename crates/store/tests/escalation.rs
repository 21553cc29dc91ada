//! Escalation notices and release assessments, on SQLite and (when
//! configured) PostgreSQL, with an injected clock: which rungs an overdue task
//! has reached, who hears of each (the official in office when it was
//! reached), idempotent re-runs, done tasks stop escalating, scoped reads and
//! acknowledgement; assess-release tasks from enrolment to their closing by a
//! transition or the bulk release, and the bulk release's audit record
//! checked against its transitions.

use chrono::{DateTime, TimeZone, Utc};
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::lifecycle::{FacilityKind, LoopState, ManagedCategory};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::EscalationLevel;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::{day_bounds, DEFAULT_TIME_ZONE};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{
    Actor, AuditFilter, ContactDraft, Facility, ImportMode, NoticeFilter, Role, Store, StoreError,
    TaskFilter, TaskKind, TaskRecord, TransitionRequest, UnitFunction,
};

const TZ: chrono_tz::Tz = DEFAULT_TIME_ZONE;

const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};

fn region(code: &str, parent: Option<&str>, level: RegionLevel, zh: &str) -> (u64, Region) {
    (
        2,
        Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: zh.into(),
            name_en: String::new(),
            population: 1000,
        },
    )
}

fn person(seq: u32) -> PersonDraft {
    let first17 = format!("22010219800101{:03}", seq % 1000);
    let id = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let mut p = PersonDraft::new(
        Document::parse(DocumentType::ResidentId, &id).unwrap(),
        format!("人员{seq}"),
    );
    p.region_code = Some("220102".into());
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn ts(day: u32, hour: u32) -> i64 {
    at(day, hour).timestamp()
}

/// Case K1 (person 41) reported 9 March 08:00 in 南关区 (220102), with close
/// contacts 42 and 44 and secondary contact 43; 朝阳区 (220104) has nothing.
/// Commands: the province's, and 南关区's below it, with a transfer group
/// (assignee 张三, head 王五), an investigation group (assignee 赵六
/// replaced by 钱七 at 11:00, head 孙八 replaced by 周九 at 14:00) and a
/// quarantine group without officials.
async fn world(db: &TestDatabase) -> (Store, Profile) {
    let store = db.open().await;
    let a = Actor::system();
    store
        .import_regions(
            &[
                region("220000", None, RegionLevel::Province, "吉林省"),
                region("220100", Some("220000"), RegionLevel::City, "长春市"),
                region("220102", Some("220100"), RegionLevel::District, "南关区"),
                region("220104", Some("220100"), RegionLevel::District, "朝阳区"),
            ],
            STRICT,
            "r.csv",
            &a,
        )
        .await
        .unwrap();
    store
        .add_command("220000", "吉林省指挥部", None, &a)
        .await
        .unwrap();
    store
        .add_command("220102", "南关区指挥部", Some("220000"), &a)
        .await
        .unwrap();
    let transfer = store
        .add_unit("220102", UnitFunction::Transfer, "南关区转运组", &a)
        .await
        .unwrap();
    let investigation = store
        .add_unit("220102", UnitFunction::Investigation, "南关区流调组", &a)
        .await
        .unwrap();
    store
        .add_unit("220102", UnitFunction::Quarantine, "南关区隔离管控组", &a)
        .await
        .unwrap();
    for (unit, role, official, from) in [
        (transfer, Role::Assignee, "张三", ts(1, 0)),
        (transfer, Role::Head, "王五", ts(1, 0)),
        (investigation, Role::Assignee, "赵六", ts(1, 0)),
        (investigation, Role::Assignee, "钱七", ts(9, 11)),
        (investigation, Role::Head, "孙八", ts(1, 0)),
        (investigation, Role::Head, "周九", ts(9, 14)),
    ] {
        store.appoint(unit, role, official, from, &a).await.unwrap();
    }
    let case = CaseDraft {
        case_id: "K1".into(),
        person: person(41),
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: None,
        report_time: at(9, 8),
        reporting_region: "220102".into(),
        residence_region: Some("220102".into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    };
    store
        .import_cases(&[(2, case)], STRICT, "c.csv", &a)
        .await
        .unwrap();
    store
        .import_persons(
            &[(2, person(42)), (3, person(43)), (4, person(44))],
            STRICT,
            "p.csv",
            &a,
        )
        .await
        .unwrap();
    (store, Profile::shipped("china-8th").unwrap())
}

async fn person_id(store: &Store, seq: u32) -> i64 {
    store
        .person_by_document(&person(seq).document)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn task(store: &Store, kind: TaskKind, managed: Option<i64>) -> TaskRecord {
    store
        .tasks(&TaskFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.kind == kind && (managed.is_none() || t.managed_id == managed))
        .unwrap()
}

async fn audit_len(store: &Store) -> usize {
    store
        .audit_log(&AuditFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_overdue_task_climbs_the_chain_and_names_who_was_in_office() {
    for db in TestDatabase::each("escalate").await {
        let (store, profile) = world(&db).await;
        let a = Actor::system();
        store.enrol_cases(&profile, None, &a).await.unwrap();
        // Admission due 10:00 (2 h), core investigation 12:00 (4 h); the
        // chain: assignee at once, unit head after 1 h, command above after 4 h.
        let admit = task(&store, TaskKind::Admit, None).await;
        let core = task(&store, TaskKind::InvestigateCore, None).await;
        assert_eq!((admit.due_at, core.due_at), (ts(9, 10), ts(9, 12)));

        // Not before the first rung: at the due time nothing is overdue yet.
        let s = store.escalate(&profile, ts(9, 10), &a).await.unwrap();
        assert_eq!(s.created, 0);
        let audited = audit_len(&store).await;

        // Rung 1: the assignee in office at the due time.
        let s = store
            .escalate(&profile, ts(9, 10) + 30 * 60, &a)
            .await
            .unwrap();
        assert_eq!(s.created, 1);
        assert_eq!(s.first_id, s.last_id);
        let all = store.notices(None, &NoticeFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1);
        let n = &all[0];
        assert_eq!(
            (
                n.task_id,
                n.rung,
                n.level,
                n.reached_at,
                n.recipient.as_str()
            ),
            (admit.id, 1, EscalationLevel::Assignee, ts(9, 10), "张三")
        );
        assert_eq!(n.recipient_unit.as_deref(), Some("南关区转运组"));
        assert_eq!(n.recipient_command.as_deref(), Some("南关区指挥部"));
        assert_eq!(n.region_code.as_deref(), Some("220102"));
        assert_eq!(n.created_at, ts(9, 10) + 30 * 60);
        assert_eq!(n.acknowledged_at, None);
        // One audit record for the batch.
        assert_eq!(audit_len(&store).await, audited + 1);
        let entry = &store
            .audit_log(&AuditFilter {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()[0];
        assert_eq!(
            (entry.action.as_str(), entry.entity.as_str()),
            ("escalate", "escalation_notice")
        );

        // Idempotent: the same instant again adds nothing and records nothing.
        let s = store
            .escalate(&profile, ts(9, 10) + 30 * 60, &a)
            .await
            .unwrap();
        assert_eq!(s.created, 0);
        assert_eq!(audit_len(&store).await, audited + 1);

        // Rung 2: the unit head.
        let s = store.escalate(&profile, ts(9, 11) + 60, &a).await.unwrap();
        assert_eq!(s.created, 1);
        let head = &store.notices(None, &NoticeFilter::default()).await.unwrap()[0];
        assert_eq!(
            (head.task_id, head.rung, head.level, head.recipient.as_str()),
            (admit.id, 2, EscalationLevel::UnitHead, "王五")
        );

        // First run after a gap: every rung reached meanwhile, each naming
        // who held the post when it was reached. The core investigation
        // reached its assignee at 12:00 (钱七, in office from 11:00) and its
        // unit head at 13:00 (孙八, relieved by 周九 only at 14:00); admission
        // reached the command above (the province's) at 14:00.
        let s = store
            .escalate(&profile, ts(9, 14) + 30 * 60, &a)
            .await
            .unwrap();
        assert_eq!(s.created, 3);
        assert_eq!(s.by_level.get("command_above"), Some(&1));
        let all = store.notices(None, &NoticeFilter::default()).await.unwrap();
        let find = |task: i64, level| {
            all.iter()
                .find(|n| n.task_id == task && n.level == level)
                .unwrap()
                .clone()
        };
        let above = find(admit.id, EscalationLevel::CommandAbove);
        assert_eq!((above.rung, above.reached_at), (3, ts(9, 14)));
        assert_eq!(above.recipient, "吉林省指挥部");
        assert_eq!(above.recipient_command.as_deref(), Some("吉林省指挥部"));
        assert_eq!(above.recipient_unit, None);
        assert_eq!(find(core.id, EscalationLevel::Assignee).recipient, "钱七");
        assert_eq!(find(core.id, EscalationLevel::UnitHead).recipient, "孙八");
        // The overdue list (computed on read) agrees on the rung reached now.
        let overdue = store
            .overdue(&profile, ts(9, 14) + 30 * 60, None)
            .await
            .unwrap();
        let o = overdue.iter().find(|o| o.task.id == admit.id).unwrap();
        assert_eq!(o.level, EscalationLevel::CommandAbove);

        // A task done stops escalating: no command-above notice for the core investigation.
        store
            .complete_task(core.id, "done", ts(9, 15), &a)
            .await
            .unwrap();
        let s = store.escalate(&profile, ts(9, 17), &a).await.unwrap();
        assert_eq!(s.created, 0);
        assert_eq!(
            store
                .notices(None, &NoticeFilter::default())
                .await
                .unwrap()
                .len(),
            5
        );

        // Scoped reads: the district and everything above it see them; another district nothing.
        for scope in ["220000", "220100", "220102"] {
            assert_eq!(
                store
                    .notices(Some(scope), &NoticeFilter::default())
                    .await
                    .unwrap()
                    .len(),
                5,
                "{scope}"
            );
        }
        assert!(store
            .notices(Some("220104"), &NoticeFilter::default())
            .await
            .unwrap()
            .is_empty());
        let other = vec!["220104".to_string()];
        assert!(store
            .notices_for(Some(&other), &NoticeFilter::default())
            .await
            .unwrap()
            .is_empty());
        let mine = vec!["220102".to_string()];
        assert_eq!(
            store
                .notices_for(Some(&mine), &NoticeFilter::default())
                .await
                .unwrap()
                .len(),
            5
        );

        // Acknowledge: outside the jurisdiction it is not found (nothing
        // changes); inside it is kept with who and when, audited, and goes
        // after the unacknowledged ones.
        let first = all
            .iter()
            .find(|n| n.level == EscalationLevel::Assignee && n.task_id == admit.id)
            .unwrap()
            .id;
        let before = audit_len(&store).await;
        let err = store
            .acknowledge_notice_for(first, Some(&other), ts(9, 17), &Actor("officer".into()))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
        assert!(matches!(
            store
                .acknowledge_notice(9_999_999, None, ts(9, 17), &a)
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(audit_len(&store).await, before);
        let acked = store
            .acknowledge_notice_for(first, Some(&mine), ts(9, 17), &Actor("officer".into()))
            .await
            .unwrap();
        assert_eq!(acked.acknowledged_at, Some(ts(9, 17)));
        assert_eq!(acked.acknowledged_by.as_deref(), Some("officer"));
        assert_eq!(audit_len(&store).await, before + 1);
        // Again: unchanged, not recorded twice.
        let again = store
            .acknowledge_notice(first, Some("220102"), ts(9, 18), &a)
            .await
            .unwrap();
        assert_eq!(again.acknowledged_at, Some(ts(9, 17)));
        assert_eq!(audit_len(&store).await, before + 1);
        let listed = store.notices(None, &NoticeFilter::default()).await.unwrap();
        assert_eq!(listed.last().unwrap().id, first);
        assert!(listed[..4].iter().all(|n| n.acknowledged_at.is_none()));
        let open = store
            .notices(
                None,
                &NoticeFilter {
                    unacknowledged: true,
                    limit: 0,
                },
            )
            .await
            .unwrap();
        assert_eq!(open.len(), 4);
        assert!(store
            .verify_audit_chain()
            .await
            .unwrap()
            .first_break
            .is_none());
    }
}

async fn go(
    store: &Store,
    profile: &Profile,
    id: i64,
    to: LoopState,
    when: i64,
    facility: Option<&str>,
) {
    store
        .transition(
            profile,
            TZ,
            &TransitionRequest {
                managed_id: id,
                to,
                at: when,
                facility_id: facility.map(Into::into),
                reason: "test".into(),
            },
            &Actor("officer".into()),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn release_assessments_are_due_when_quarantine_ends_and_close_with_the_release() {
    for db in TestDatabase::each("assess").await {
        let (store, profile) = world(&db).await;
        let a = Actor::system();
        store
            .upsert_facilities(
                &[Facility {
                    facility_id: "H1".into(),
                    name: "南关区隔离酒店".into(),
                    kind: FacilityKind::QuarantineHotel,
                    region_code: Some("220102".into()),
                    address: String::new(),
                    capacity: 300,
                }],
                &a,
            )
            .await
            .unwrap();
        let (p41, p42, p43, p44) = (
            person_id(&store, 41).await,
            person_id(&store, 42).await,
            person_id(&store, 43).await,
            person_id(&store, 44).await,
        );
        let why = |through| Explanation::at(ExposureKind::Household, through, "H");
        let contact = |pid, category, degree, via| ContactDraft {
            person_id: pid,
            category,
            degree,
            first_exposure: ts(8, 20),
            via_person: via,
            explanations: vec![why(via)],
        };
        let k1 = store.case("K1").await.unwrap().unwrap().id;
        store
            .record_contacts(
                k1,
                &[
                    contact(p42, ContactCategory::CloseContact, 1, p41),
                    contact(p44, ContactCategory::CloseContact, 1, p41),
                    contact(p43, ContactCategory::SecondaryContact, 2, p42),
                ],
                "china-8th@1",
                &a,
            )
            .await
            .unwrap();
        store.enrol_cases(&profile, None, &a).await.unwrap();
        let s = store
            .enrol_contacts(&profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        assert_eq!(
            (s.enrolled, s.tasks_created, s.release_assessments),
            (3, 3, 3)
        );
        let again = store
            .enrol_contacts(&profile, TZ, ts(9, 13), &a)
            .await
            .unwrap();
        assert_eq!(again.release_assessments, 0);
        let record = |pid| {
            let store = store.clone();
            async move {
                store
                    .managed_of_person(pid)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|m| m.category != ManagedCategory::Case)
                    .unwrap()
            }
        };
        let (m42, m43, m44) = (record(p42).await, record(p43).await, record(p44).await);
        for m in [&m42, &m43, &m44] {
            let t = task(&store, TaskKind::AssessRelease, Some(m.id)).await;
            let end = m.quarantine_end.unwrap();
            assert_eq!(
                t.due_at,
                day_bounds(end, TZ).0.timestamp()
                    + 60 * i64::from(profile.deadlines.release_assessment),
                "due from the end of quarantine on {end}"
            );
            assert_eq!((t.status.as_str(), t.created_at), ("open", ts(9, 12)));
            // The quarantine group of the district answers for it.
            assert!(t.unit_id.is_some());
        }
        assert_eq!(m44.quarantine_end.unwrap().to_string(), "2022-03-22");

        // 44 goes round the loop: its assessment is done when it moves to home monitoring.
        go(
            &store,
            &profile,
            m44.id,
            LoopState::Notified,
            ts(9, 13),
            None,
        )
        .await;
        go(
            &store,
            &profile,
            m44.id,
            LoopState::PlacementOrdered,
            ts(9, 14),
            None,
        )
        .await;
        go(
            &store,
            &profile,
            m44.id,
            LoopState::InTransfer,
            ts(9, 15),
            None,
        )
        .await;
        go(
            &store,
            &profile,
            m44.id,
            LoopState::UnderQuarantine,
            ts(9, 16),
            Some("H1"),
        )
        .await;
        for t in store.loop_tests(m44.id).await.unwrap() {
            if t.due_date.to_string().as_str() <= "2022-03-22" {
                let when = day_bounds(t.due_date, TZ).0.timestamp() + 8 * 3600;
                store
                    .record_test_result(&profile, t.id, when, false, &a)
                    .await
                    .unwrap();
            }
        }
        go(
            &store,
            &profile,
            m44.id,
            LoopState::HomeHealthMonitoring,
            ts(22, 20),
            None,
        )
        .await;
        let t44 = task(&store, TaskKind::AssessRelease, Some(m44.id)).await;
        assert_eq!(
            (t44.status.as_str(), t44.done_at),
            ("done", Some(ts(22, 20)))
        );

        // 43 is lost: its assessment is cancelled.
        go(&store, &profile, m43.id, LoopState::Lost, ts(9, 18), None).await;
        let t43 = task(&store, TaskKind::AssessRelease, Some(m43.id)).await;
        assert_eq!(t43.status, "cancelled");

        // 42 reached home monitoring outside the store's transitions (as a
        // database filled in bulk does), its assessment still open: the bulk
        // release closes it, set-based.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "UPDATE managed SET state = 'home_health_monitoring', controlled_at = $1 WHERE id = $2",
        )
        .bind(ts(10, 8))
        .bind(m42.id)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        store.recount_loop(&a).await.unwrap();
        let day: chrono::NaiveDate = "2022-03-31".parse().unwrap();
        let released = store
            .release_due(day, ts(31, 9), None, &Actor("officer".into()))
            .await
            .unwrap();
        assert_eq!(released, 2, "42 and 44, both past the end of monitoring");
        for m in [&m42, &m44] {
            let r = store.managed(m.id).await.unwrap().unwrap();
            assert_eq!(r.state, LoopState::Released);
        }
        let t42 = task(&store, TaskKind::AssessRelease, Some(m42.id)).await;
        assert_eq!(
            (t42.status.as_str(), t42.done_at),
            ("done", Some(ts(31, 9)))
        );
        // 44's was done at its own transition, and stays so.
        let t44 = task(&store, TaskKind::AssessRelease, Some(m44.id)).await;
        assert_eq!(t44.done_at, Some(ts(22, 20)));
        assert!(store.check_loop_counts().await.unwrap().is_consistent());

        // The audit record names the batch by its transitions; recomputed from them, it agrees.
        let entry = store
            .audit_log(&AuditFilter {
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.action == "release")
            .unwrap();
        let d = &entry.detail;
        assert_eq!(d["released"], 2);
        assert!(d.get("ids").is_none(), "no list of ids");
        let first = d["transitions"]["first_id"].as_i64().unwrap();
        let last = d["transitions"]["last_id"].as_i64().unwrap();
        let (n, digest) = store
            .release_batch_check(first, last, ts(31, 9))
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(d["managed_ids_sha256"].as_str(), Some(digest.as_str()));
        assert_eq!(digest, closedloop_store::release_digest(&[m44.id, m42.id]));
        // Nothing more to release: nothing written.
        assert_eq!(
            store.release_due(day, ts(31, 10), None, &a).await.unwrap(),
            0
        );
    }
}

/// The task list applies every filter in its query, before the limit (it read
/// every task and stopped at the limit, and the console filtered by unit and
/// by lateness after it): a unit's task beyond the first `limit` tasks is
/// found, and so are the overdue ones, in due order.
#[tokio::test]
async fn the_task_list_filters_before_its_limit() {
    for db in TestDatabase::each("task_filters").await {
        let (store, profile) = world(&db).await;
        let a = Actor::system();
        store.enrol_cases(&profile, None, &a).await.unwrap();
        let all = store
            .tasks(&TaskFilter {
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(all.len() >= 3, "{all:?}");
        let mut keys: Vec<(i64, i64)> = all.iter().map(|t| (t.due_at, t.id)).collect();
        keys.sort();
        assert_eq!(
            keys,
            all.iter().map(|t| (t.due_at, t.id)).collect::<Vec<_>>(),
            "soonest due first"
        );
        // The admission (transfer group) is due first; the investigation
        // group's first task is further down.
        let first = store
            .tasks(&TaskFilter {
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(first[0].kind, TaskKind::Admit);
        let investigation = task(&store, TaskKind::InvestigateCore, None)
            .await
            .unit_id
            .unwrap();
        assert_ne!(first[0].unit_id, Some(investigation));
        let of_unit = store
            .tasks(&TaskFilter {
                unit: Some(investigation),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(of_unit.len(), 1);
        assert_eq!(of_unit[0].kind, TaskKind::InvestigateCore);
        let want: Vec<_> = all
            .iter()
            .filter(|t| t.unit_id == Some(investigation))
            .cloned()
            .collect();
        let of_unit = store
            .tasks(&TaskFilter {
                unit: Some(investigation),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(of_unit, want);
        // Overdue at 11:00: the admission (due 10:00) only; once done, none.
        let overdue = |at| TaskFilter {
            overdue_at: Some(at),
            limit: 100,
            ..Default::default()
        };
        let late = store.tasks(&overdue(ts(9, 11))).await.unwrap();
        assert_eq!(
            late.iter().map(|t| t.kind).collect::<Vec<_>>(),
            vec![TaskKind::Admit]
        );
        store
            .complete_task(late[0].id, "done", ts(9, 11), &a)
            .await
            .unwrap();
        assert!(store.tasks(&overdue(ts(9, 11))).await.unwrap().is_empty());
        // Status, unit and region together.
        let done = store
            .tasks(&TaskFilter {
                status: Some("done".into()),
                scope: Some("220102".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(done.iter().map(|t| t.id).collect::<Vec<_>>(), [late[0].id]);
        let open_elsewhere = store
            .tasks(&TaskFilter {
                status: Some("open".into()),
                scope: Some("220104".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(open_elsewhere.is_empty(), "朝阳区 has no tasks");
        let open_of_unit = store
            .tasks(&TaskFilter {
                status: Some("open".into()),
                scope: Some("220000".into()),
                unit: Some(investigation),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(open_of_unit, want);
        db.cleanup().await;
    }
}
