//! The closed loop in storage, on SQLite and (when configured) PostgreSQL:
//! enrolment, transitions, tests and conversion, bulk release, deadlines and
//! escalation with an injected clock, accountability against a hand-built
//! scenario, and the audit hash chain under tampering.

use chrono::{DateTime, TimeZone, Utc};
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::lifecycle::{FacilityKind, LoopState, ManagedCategory};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::EscalationLevel;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_domain::ErrorCode;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{
    Actor, BreakKind, ContactDraft, Facility, ImportMode, Role, SecondaryOutcome, Store, TaskKind,
    TransitionRequest, UnitFunction,
};

const TZ: chrono_tz::Tz = DEFAULT_TIME_ZONE;

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

fn case(id: &str, p: PersonDraft, reported: DateTime<Utc>) -> CaseDraft {
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: None,
        report_time: reported,
        reporting_region: "220102".into(),
        residence_region: Some("220102".into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};

struct World {
    store: Store,
    profile: Profile,
    /// Person ids by sequence number.
    ids: std::collections::HashMap<u32, i64>,
}

/// Case K1 (person 41) reported 9 March 08:00; close contacts 42 and 44,
/// secondary contact 43 (through 42); person 45, exposed by 42 on 9 March
/// 22:00 while 42 was not yet under control, became case K2.
async fn world(db: &TestDatabase) -> World {
    let store = db.open().await;
    let a = Actor::system();
    store
        .import_regions(
            &[
                region("220000", None, RegionLevel::Province, "吉林省"),
                region("220100", Some("220000"), RegionLevel::City, "长春市"),
                region("220102", Some("220100"), RegionLevel::District, "南关区"),
            ],
            STRICT,
            "r.csv",
            &a,
        )
        .await
        .unwrap();
    store
        .import_cases(
            &[(2, case("K1", person(41), at(9, 8)))],
            STRICT,
            "c.csv",
            &a,
        )
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
    store
        .import_cases(
            &[(2, case("K2", person(45), at(12, 8)))],
            STRICT,
            "c2.csv",
            &a,
        )
        .await
        .unwrap();
    let mut ids = std::collections::HashMap::new();
    for seq in 41..=45 {
        let id = store
            .person_by_document(&person(seq).document)
            .await
            .unwrap()
            .unwrap()
            .id;
        ids.insert(seq, id);
    }
    let why = |through| Explanation::at(ExposureKind::Household, through, "H");
    let contact = |seq: u32, category, degree, via: u32, exposed: i64| ContactDraft {
        person_id: ids[&seq],
        category,
        degree,
        first_exposure: exposed,
        via_person: ids[&via],
        explanations: vec![why(ids[&via])],
    };
    let k1 = store.case("K1").await.unwrap().unwrap().id;
    store
        .record_contacts(
            k1,
            &[
                contact(42, ContactCategory::CloseContact, 1, 41, ts(8, 20)),
                contact(44, ContactCategory::CloseContact, 1, 41, ts(8, 20)),
                contact(43, ContactCategory::SecondaryContact, 2, 42, ts(8, 21)),
                contact(45, ContactCategory::SecondaryContact, 2, 42, ts(9, 22)),
            ],
            "china-8th@1",
            &a,
        )
        .await
        .unwrap();
    store
        .upsert_facilities(
            &[
                Facility {
                    facility_id: "H1".into(),
                    name: "南关区隔离酒店".into(),
                    kind: FacilityKind::QuarantineHotel,
                    region_code: Some("220102".into()),
                    address: String::new(),
                    capacity: 300,
                },
                Facility {
                    facility_id: "D1".into(),
                    name: "定点医院".into(),
                    kind: FacilityKind::DesignatedHospital,
                    region_code: Some("220100".into()),
                    address: String::new(),
                    capacity: 800,
                },
            ],
            &a,
        )
        .await
        .unwrap();
    World {
        store,
        profile: Profile::shipped("china-8th").unwrap(),
        ids,
    }
}

async fn managed_of(w: &World, seq: u32, category: ManagedCategory) -> i64 {
    w.store
        .managed_of_person(w.ids[&seq])
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.category == category)
        .unwrap()
        .id
}

async fn go(
    w: &World,
    id: i64,
    to: LoopState,
    when: i64,
    facility: Option<&str>,
) -> Result<(), String> {
    w.store
        .transition(
            &w.profile,
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
        .map(|_| ())
        .map_err(|e| e.code().to_string())
}

/// The loop's counters equal a recount, and loop status read from them equals
/// the status computed by scanning, at `now`, everywhere and per district.
async fn counters_agree(w: &World, now: i64) {
    let counts = w.store.check_loop_counts().await.unwrap();
    assert!(counts.is_consistent(), "{counts:?}");
    let today = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .with_timezone(&TZ)
        .date_naive();
    for scope in [None, Some("220000"), Some("220102")] {
        assert_eq!(
            w.store
                .loop_status(&w.profile, now, today, scope)
                .await
                .unwrap(),
            w.store
                .loop_status_by_scan(&w.profile, now, today, scope)
                .await
                .unwrap(),
            "scope {scope:?}"
        );
    }
    // Every task about a managed record names that record's person (the
    // writers copy it; the overdue list reads it from the task alone).
    let tasks = w
        .store
        .tasks(&closedloop_store::TaskFilter {
            limit: i64::MAX,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(tasks.iter().any(|t| t.managed_id.is_some()));
    for task in &tasks {
        let person = match task.managed_id {
            Some(id) => Some(w.store.managed(id).await.unwrap().unwrap().person_id),
            None => None,
        };
        assert_eq!(task.person_id, person, "{task:?}");
    }
    // The overdue list walks the scope in SQL: the same as filtering everything by the tree.
    let tree = w.store.region_tree().await.unwrap();
    let all = w.store.overdue(&w.profile, now, None).await.unwrap();
    for scope in ["220000", "220100", "220102"] {
        let want: Vec<_> = all
            .iter()
            .filter(|o| {
                o.task
                    .region_code
                    .as_deref()
                    .is_some_and(|c| tree.is_within(c, scope))
            })
            .cloned()
            .collect();
        assert_eq!(
            w.store.overdue(&w.profile, now, Some(scope)).await.unwrap(),
            want,
            "overdue in {scope}"
        );
    }
}

#[tokio::test]
async fn contacts_go_round_the_loop_and_a_positive_becomes_a_case() {
    for db in TestDatabase::each("loop").await {
        let w = world(&db).await;
        let a = Actor::system();
        let cases = w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
        // K1 and K2; each gets admission, two investigations and disinfection.
        assert_eq!((cases.enrolled, cases.tasks_created), (2, 8));
        let s = w
            .store
            .enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        // 45 is a case already; 42 and 44 close (6 tests each), 43 secondary (3 tests).
        assert_eq!((s.enrolled, s.tests_scheduled, s.tasks_created), (3, 15, 3));
        let again = w
            .store
            .enrol_contacts(&w.profile, TZ, ts(9, 13), &a)
            .await
            .unwrap();
        assert_eq!(again.enrolled, 0, "enrolment is idempotent");

        let c42 = managed_of(&w, 42, ManagedCategory::CloseContact).await;
        let m = w.store.managed(c42).await.unwrap().unwrap();
        assert_eq!(m.profile, "china-8th@1");
        assert_eq!(m.last_exposure.unwrap().to_string(), "2022-03-08");
        assert_eq!(m.quarantine_end.unwrap().to_string(), "2022-03-22");
        assert_eq!(m.monitoring_end.unwrap().to_string(), "2022-03-29");
        assert_eq!(m.control_due, ts(9, 20));

        // Refused transitions leave nothing behind.
        assert_eq!(
            go(&w, c42, LoopState::UnderQuarantine, ts(9, 13), Some("H1")).await,
            Err("invalid_transition".into())
        );
        assert_eq!(
            go(&w, c42, LoopState::Admitted, ts(9, 13), Some("D1")).await,
            Err("invalid_transition".into())
        );
        go(&w, c42, LoopState::Notified, ts(9, 13), None)
            .await
            .unwrap();
        go(&w, c42, LoopState::PlacementOrdered, ts(9, 14), None)
            .await
            .unwrap();
        go(&w, c42, LoopState::InTransfer, ts(10, 5), None)
            .await
            .unwrap();
        assert_eq!(
            go(&w, c42, LoopState::UnderQuarantine, ts(10, 6), Some("D1")).await,
            Err("wrong_facility_kind".into())
        );
        assert_eq!(
            go(&w, c42, LoopState::UnderQuarantine, ts(10, 6), Some("NOPE")).await,
            Err("not_found".into())
        );
        go(&w, c42, LoopState::UnderQuarantine, ts(10, 6), Some("H1"))
            .await
            .unwrap();
        let m = w.store.managed(c42).await.unwrap().unwrap();
        assert_eq!(
            (m.controlled_at, m.facility_id.as_deref()),
            (Some(ts(10, 5)), Some("H1"))
        );

        // Release before the end, or without the negatives, is refused.
        assert_eq!(
            go(&w, c42, LoopState::HomeHealthMonitoring, ts(20, 9), None).await,
            Err("release_too_early".into())
        );
        assert_eq!(
            go(&w, c42, LoopState::HomeHealthMonitoring, ts(22, 20), None).await,
            Err("release_criteria_not_met".into())
        );
        let tests = w.store.loop_tests(c42).await.unwrap();
        assert_eq!(
            tests.iter().map(|t| t.day).collect::<Vec<_>>(),
            vec![1, 4, 7, 14, 2, 7]
        );
        for t in tests
            .iter()
            .filter(|t| t.stage == closedloop_domain::lifecycle::Stage::Quarantine)
        {
            let day = t.due_date.format("%d").to_string().parse().unwrap();
            w.store
                .record_test_result(&w.profile, t.id, ts(day, 8), false, &a)
                .await
                .unwrap();
        }
        go(&w, c42, LoopState::HomeHealthMonitoring, ts(22, 20), None)
            .await
            .unwrap();
        assert_eq!(
            go(&w, c42, LoopState::Released, ts(29, 9), None).await,
            Err("release_too_early".into())
        );

        // Bulk release: only those whose monitoring ended.
        assert_eq!(
            w.store
                .release_due("2022-03-29".parse().unwrap(), ts(29, 9), None, &a)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            w.store
                .release_due("2022-03-30".parse().unwrap(), ts(30, 9), None, &a)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            w.store.managed(c42).await.unwrap().unwrap().state,
            LoopState::Released
        );
        assert_eq!(
            go(&w, c42, LoopState::Lost, ts(30, 10), None).await,
            Err("record_closed".into())
        );

        // 44 tests positive on day 4: the contact record ends, a case record starts.
        let c44 = managed_of(&w, 44, ManagedCategory::CloseContact).await;
        for to in [
            LoopState::Notified,
            LoopState::PlacementOrdered,
            LoopState::InTransfer,
        ] {
            go(&w, c44, to, ts(9, 15), None).await.unwrap();
        }
        go(&w, c44, LoopState::UnderQuarantine, ts(9, 18), Some("H1"))
            .await
            .unwrap();
        let day4 = w.store.loop_tests(c44).await.unwrap()[1].id;
        let new = w
            .store
            .record_test_result(&w.profile, day4, ts(12, 8), true, &a)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (new.category, new.state, new.control_due),
            (ManagedCategory::Case, LoopState::Reported, ts(12, 10))
        );
        let old = w.store.managed(c44).await.unwrap().unwrap();
        assert_eq!(
            (old.state, old.converted_to),
            (LoopState::ConvertedToCase, Some(new.id))
        );

        // 43 (secondary, through 42) goes on day 7: 42's first two tests were negative.
        let c43 = managed_of(&w, 43, ManagedCategory::SecondaryContact).await;
        for to in [
            LoopState::Notified,
            LoopState::PlacementOrdered,
            LoopState::InTransfer,
        ] {
            go(&w, c43, to, ts(9, 16), None).await.unwrap();
        }
        go(&w, c43, LoopState::UnderQuarantine, ts(9, 18), Some("H1"))
            .await
            .unwrap();
        let rule = |id, when| w.store.apply_secondary_rule(&w.profile, TZ, id, when, &a);
        assert_eq!(
            rule(c43, ts(12, 20)).await.unwrap(),
            SecondaryOutcome::Waiting
        );
        for t in w.store.loop_tests(c43).await.unwrap() {
            let day: u32 = t.due_date.format("%d").to_string().parse().unwrap();
            w.store
                .record_test_result(&w.profile, t.id, ts(day, 8), false, &a)
                .await
                .unwrap();
        }
        assert_eq!(
            rule(c43, ts(15, 20)).await.unwrap(),
            SecondaryOutcome::Released
        );
        assert_eq!(
            w.store.managed(c43).await.unwrap().unwrap().state,
            LoopState::Released
        );

        counters_agree(&w, ts(31, 12)).await;
        let report = w.store.verify_audit_chain().await.unwrap();
        assert_eq!(report.first_break, None);
        assert!(report.records > 20, "{report:?}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn deadlines_escalate_and_the_accountability_record_names_who_was_responsible() {
    for db in TestDatabase::each("accountability").await {
        let w = world(&db).await;
        let a = Actor::system();
        let s = &w.store;
        s.add_command("220000", "吉林省疫情防控指挥部", None, &a)
            .await
            .unwrap();
        s.add_command("220100", "长春市疫情防控指挥部", Some("220000"), &a)
            .await
            .unwrap();
        let quarantine = s
            .add_unit("220100", UnitFunction::Quarantine, "长春市隔离管控组", &a)
            .await
            .unwrap();
        let transfer = s
            .add_unit("220100", UnitFunction::Transfer, "长春市转运组", &a)
            .await
            .unwrap();
        s.appoint(quarantine, Role::Assignee, "王某", ts(1, 0), &a)
            .await
            .unwrap();
        s.appoint(quarantine, Role::Head, "张某", ts(1, 0), &a)
            .await
            .unwrap();
        s.appoint(transfer, Role::Assignee, "赵某", ts(1, 0), &a)
            .await
            .unwrap();
        s.appoint(transfer, Role::Head, "钱某", ts(1, 0), &a)
            .await
            .unwrap();
        // The assignee is replaced on 10 March: lapses before stay with 王某.
        s.appoint(quarantine, Role::Assignee, "李某", ts(10, 0), &a)
            .await
            .unwrap();

        s.enrol_cases(&w.profile, None, &a).await.unwrap();
        s.enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        let k1 = managed_of(&w, 41, ManagedCategory::Case).await;

        // Admission of K1 due 10:00: escalation with the injected clock.
        let admit = |o: &Vec<closedloop_store::Overdue>| {
            o.iter()
                .find(|x| x.task.kind == TaskKind::Admit && x.task.managed_id == Some(k1))
                .cloned()
        };
        assert!(admit(&s.overdue(&w.profile, ts(9, 10) - 60, None).await.unwrap()).is_none());
        let o = admit(
            &s.overdue(&w.profile, ts(9, 10) + 30 * 60, None)
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (o.level, o.notify.as_str(), o.minutes_late),
            (EscalationLevel::Assignee, "赵某", 30)
        );
        let o = admit(&s.overdue(&w.profile, ts(9, 11) + 60, None).await.unwrap()).unwrap();
        assert_eq!(
            (o.level, o.notify.as_str()),
            (EscalationLevel::UnitHead, "钱某")
        );
        let o = admit(&s.overdue(&w.profile, ts(9, 15), None).await.unwrap()).unwrap();
        assert_eq!(
            (o.level, o.notify.as_str()),
            (EscalationLevel::CommandAbove, "吉林省疫情防控指挥部")
        );

        // K1 admitted at 13:00 (3 h late); 42 under control at 05:00 next day
        // (9 h late); 44 in time; 43 never.
        for (to, h) in [(LoopState::TransferOrdered, 9), (LoopState::InTransfer, 12)] {
            go(&w, k1, to, ts(9, h), None).await.unwrap();
        }
        go(&w, k1, LoopState::Admitted, ts(9, 13), Some("D1"))
            .await
            .unwrap();
        let c42 = managed_of(&w, 42, ManagedCategory::CloseContact).await;
        for to in [LoopState::Notified, LoopState::PlacementOrdered] {
            go(&w, c42, to, ts(9, 14), None).await.unwrap();
        }
        go(&w, c42, LoopState::InTransfer, ts(10, 5), None)
            .await
            .unwrap();
        let c44 = managed_of(&w, 44, ManagedCategory::CloseContact).await;
        for to in [
            LoopState::Notified,
            LoopState::PlacementOrdered,
            LoopState::InTransfer,
        ] {
            go(&w, c44, to, ts(9, 15), None).await.unwrap();
        }
        // Investigations and disinfection done in time, for this scenario.
        for t in s.tasks(&Default::default()).await.unwrap() {
            if matches!(
                t.kind,
                TaskKind::InvestigateCore | TaskKind::InvestigateFull | TaskKind::Disinfect
            ) {
                s.complete_task(t.id, "done", t.due_at - 60, &a)
                    .await
                    .unwrap();
            }
        }

        let now = ts(11, 0);
        let r = s
            .accountability(ts(9, 0), ts(11, 0), now, None)
            .await
            .unwrap();
        let steps: Vec<(&str, i64, &str, &str, i64)> = r
            .lapses
            .iter()
            .map(|l| {
                (
                    l.step.as_str(),
                    l.minutes_late,
                    l.unit.as_str(),
                    l.official.as_str(),
                    l.cases_linked,
                )
            })
            .collect();
        assert_eq!(
            steps,
            vec![
                ("admit", 180, "长春市转运组", "赵某", 0),
                // 42: due 20:00, in transfer 05:00; exposed 45 at 22:00, who became a case.
                ("place", 540, "长春市隔离管控组", "王某", 1),
                // 43: secondary, due 9 March 24:00, still not under control at 11 March 00:00.
                // The assignee changed at its deadline: 李某 answers for it.
                ("place", 1440, "长春市隔离管控组", "李某", 0),
            ]
        );
        assert!(r
            .lapses
            .iter()
            .all(|l| l.person.starts_with("P-") && !l.person.contains("人员")));
        assert_eq!(r.lapses[1].contacts_exposed, 1);
        assert_eq!(r.by_unit[0].name, "长春市隔离管控组");
        assert_eq!((r.by_unit[0].lapses, r.by_unit[0].cases_linked), (2, 1));
        assert_eq!(
            r.by_official
                .iter()
                .map(|g| (g.name.as_str(), g.lapses))
                .collect::<Vec<_>>(),
            vec![("李某", 1), ("王某", 1), ("赵某", 1)]
        );

        // Leaks at the same instant: 43 not under control, K2 not admitted.
        let leaks = s
            .leaks(&w.profile, now, "2022-03-11".parse().unwrap(), None)
            .await
            .unwrap();
        let kinds: Vec<&str> = leaks.iter().map(|l| l.kind.as_str()).collect();
        assert!(kinds.contains(&"not_under_control"), "{kinds:?}");
        let status = s
            .loop_status(
                &w.profile,
                now,
                "2022-03-11".parse().unwrap(),
                Some("220100"),
            )
            .await
            .unwrap();
        assert_eq!(status.by_category["case"]["admitted"], 1);
        assert_eq!(status.by_category["close_contact"]["in_transfer"], 2);
        assert_eq!(status.leaks["not_under_control"], 1);
        let elsewhere = s
            .loop_status(
                &w.profile,
                now,
                "2022-03-11".parse().unwrap(),
                Some("220200"),
            )
            .await;
        assert!(elsewhere.is_ok());

        // 42's first test is positive: 43, exposed through 42, becomes a close contact, 14 + 7 from its last exposure.
        let first = s.loop_tests(c42).await.unwrap()[0].id;
        s.record_test_result(&w.profile, first, ts(10, 8), true, &a)
            .await
            .unwrap();
        let c43 = managed_of(&w, 43, ManagedCategory::SecondaryContact).await;
        let outcome = s
            .apply_secondary_rule(&w.profile, TZ, c43, ts(10, 12), &a)
            .await
            .unwrap();
        assert_eq!(outcome, SecondaryOutcome::Upgraded);
        let m = s.managed(c43).await.unwrap().unwrap();
        assert_eq!(
            (m.category, m.quarantine_end.unwrap().to_string()),
            (ManagedCategory::CloseContact, "2022-03-22".to_string())
        );
        assert_eq!(s.loop_tests(c43).await.unwrap().len(), 6);
        // Discharge needs two negatives 24 h apart, taken in hospital.
        assert_eq!(
            go(&w, k1, LoopState::Discharged, ts(20, 12), None).await,
            Err("release_criteria_not_met".into())
        );
        for day in [18, 19] {
            s.record_unscheduled_test(k1, ts(day, 8), false, TZ, &a)
                .await
                .unwrap();
        }
        go(&w, k1, LoopState::Discharged, ts(20, 12), None)
            .await
            .unwrap();
        let k1m = s.managed(k1).await.unwrap().unwrap();
        assert_eq!(k1m.monitoring_end.unwrap().to_string(), "2022-03-27");
        assert_eq!(
            go(&w, k1, LoopState::Released, ts(25, 12), None).await,
            Err("invalid_transition".into())
        );
        counters_agree(&w, ts(20, 13)).await;
        assert_eq!(s.verify_audit_chain().await.unwrap().first_break, None);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_audit_chain_finds_an_edited_a_removed_and_an_inserted_record() {
    for db in TestDatabase::each("chain").await {
        let w = world(&db).await;
        let s = &w.store;
        let ok = s.verify_audit_chain().await.unwrap();
        assert_eq!(ok.first_break, None);
        let (head_seq, head_hash) = s.audit_chain_head().await.unwrap();
        assert_eq!((ok.head_seq, ok.records as i64), (head_seq, head_seq));
        assert_eq!(head_hash.len(), 64);
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let exec = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query(sql).execute(&pool).await.unwrap() }
        };
        let ids: Vec<i64> = {
            use sqlx::Row;
            sqlx::query("SELECT id FROM audit_log ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<i64, _>(0))
                .collect()
        };
        let second = ids[1];
        let third = ids[2];
        let found = |r: closedloop_store::ChainReport| r.first_break.map(|b| (b.kind, b.id));

        // Edit one row, then put it back.
        exec("CREATE TABLE saved AS SELECT * FROM audit_log").await;
        exec("UPDATE audit_log SET actor = 'mallory' WHERE id = (SELECT MIN(id) + 1 FROM saved)")
            .await;
        assert_eq!(
            found(s.verify_audit_chain().await.unwrap()),
            Some((BreakKind::Altered, Some(second)))
        );
        exec(
            "UPDATE audit_log SET actor = (SELECT actor FROM saved WHERE saved.id = audit_log.id)",
        )
        .await;
        assert_eq!(s.verify_audit_chain().await.unwrap().first_break, None);

        // Delete one row.
        exec("DELETE FROM audit_log WHERE id = (SELECT MIN(id) + 1 FROM saved)").await;
        assert_eq!(
            found(s.verify_audit_chain().await.unwrap()),
            Some((BreakKind::Removed, Some(third)))
        );
        exec(
            "INSERT INTO audit_log SELECT * FROM saved WHERE id = (SELECT MIN(id) + 1 FROM saved)",
        )
        .await;
        assert_eq!(s.verify_audit_chain().await.unwrap().first_break, None);

        // Insert one row at the end, without a hash and with a copied one.
        exec("INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) VALUES (1, 'mallory', 'update', 'case', 'K1', '{}')").await;
        let last = found(s.verify_audit_chain().await.unwrap()).unwrap();
        assert_eq!(last.0, BreakKind::Inserted);
        exec("DELETE FROM audit_log WHERE actor = 'mallory'").await;
        exec("INSERT INTO audit_log (at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) SELECT 1, 'mallory', action, entity, entity_id, detail, seq, prev_hash, hash FROM saved WHERE id = (SELECT MAX(id) FROM saved)").await;
        assert_eq!(
            found(s.verify_audit_chain().await.unwrap()).map(|f| f.0),
            Some(BreakKind::Inserted)
        );
        exec("DELETE FROM audit_log WHERE actor = 'mallory'").await;

        // Removing the newest record shows at the end of the chain.
        exec("DELETE FROM audit_log WHERE id = (SELECT MAX(id) FROM saved)").await;
        assert_eq!(
            found(s.verify_audit_chain().await.unwrap()),
            Some((BreakKind::Removed, None))
        );
        pool.close().await;
        db.cleanup().await;
    }
}

/// A positive in quarantine registers its case (`Q-` and the test id) in the
/// same transaction as the conversion, and the one tracing path then records
/// the contacts the movement data gives it; a negative registers nothing; a
/// second result for the converted record is refused with `record_closed`.
#[tokio::test]
async fn a_positive_in_quarantine_registers_a_case_that_is_traced() {
    use closedloop_domain::movement::{CheckinDraft, Venue, VenueType};
    use closedloop_store::contact_tracing::{TraceSettings, WarmIndex};
    use closedloop_store::{conversion_case_id, Conversion};
    for db in TestDatabase::each("loop_positive").await {
        let w = world(&db).await;
        let a = Actor::system();
        w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
        w.store
            .enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        // 44 and 46 shared a restaurant on 9 March before 44 came under control.
        w.store
            .import_persons(&[(2, person(46))], STRICT, "p46.csv", &a)
            .await
            .unwrap();
        w.store
            .import_venues(
                &[(
                    2,
                    Venue {
                        venue_id: "V1".into(),
                        name: "餐馆".into(),
                        venue_type: VenueType::Restaurant,
                        region_code: Some("220102".into()),
                        lat: None,
                        lon: None,
                    },
                )],
                STRICT,
                "v.csv",
                &a,
            )
            .await
            .unwrap();
        let stay = |seq: u32| CheckinDraft {
            person_id: person(seq).document.number,
            venue_id: "V1".into(),
            check_in: at(9, 10),
            check_out: Some(at(9, 12)),
        };
        w.store
            .import_checkins_with_progress(
                &[(2, stay(44)), (3, stay(46))],
                STRICT,
                "k.csv",
                &a,
                &|_| {},
            )
            .await
            .unwrap();
        let p46 = w
            .store
            .person_by_document(&person(46).document)
            .await
            .unwrap()
            .unwrap()
            .id;

        let c44 = managed_of(&w, 44, ManagedCategory::CloseContact).await;
        for to in [
            LoopState::Notified,
            LoopState::PlacementOrdered,
            LoopState::InTransfer,
        ] {
            go(&w, c44, to, ts(9, 15), None).await.unwrap();
        }
        go(&w, c44, LoopState::UnderQuarantine, ts(9, 18), Some("H1"))
            .await
            .unwrap();

        // A negative (42's first test) registers nothing.
        let (_, total) = w.store.cases(&Default::default()).await.unwrap();
        let c42 = managed_of(&w, 42, ManagedCategory::CloseContact).await;
        let day1 = w.store.loop_tests(c42).await.unwrap()[0].id;
        assert!(w
            .store
            .record_test_result(&w.profile, day1, ts(10, 8), false, &a)
            .await
            .unwrap()
            .is_none());
        assert_eq!(w.store.cases(&Default::default()).await.unwrap().1, total);
        assert!(w
            .store
            .case(&conversion_case_id(day1))
            .await
            .unwrap()
            .is_none());

        // 44's first test positive, reported two hours after sampling, said
        // to be confirmed: its window (the profile's look-back before the
        // sample, to its control on 9 March 15:00) holds the restaurant.
        let first = w.store.loop_tests(c44).await.unwrap()[0].id;
        let conv = Conversion {
            classification: Classification::Confirmed,
            reported_at: ts(10, 10),
        };
        let new = w
            .store
            .record_test_result_as(&w.profile, first, ts(10, 8), true, &conv, &a)
            .await
            .unwrap()
            .unwrap();
        let case_id = conversion_case_id(first);
        let case = w.store.case(&case_id).await.unwrap().unwrap();
        assert_eq!(new.case_pk, Some(case.id));
        assert_eq!(case.person_id, w.ids[&44]);
        assert_eq!(
            (
                case.case.classification,
                case.case.discovery_channel,
                case.case.report_time.timestamp(),
                case.case.sample_time.map(|t| t.timestamp()),
                case.case.reporting_region.as_str(),
                case.case.isolated_at.map(|t| t.timestamp()),
            ),
            (
                Classification::Confirmed,
                DiscoveryChannel::CentralizedQuarantine,
                ts(10, 10),
                Some(ts(10, 8)),
                "220102",
                Some(ts(9, 15)),
            )
        );
        assert_eq!(
            w.store.cases(&Default::default()).await.unwrap().1,
            total + 1
        );
        // The case record is not enrolled a second time.
        let again = w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
        assert_eq!(again.enrolled, 0);

        // Tracing through the one path finds 46.
        let index = WarmIndex::load(&w.store).await.unwrap();
        let settings = TraceSettings::from_profile(&w.profile, TZ);
        let cases = w
            .store
            .cases_by_id(std::slice::from_ref(&case_id))
            .await
            .unwrap();
        let changes = w
            .store
            .trace_and_record(&index, &cases, &settings, ts(10, 11), &a)
            .await
            .unwrap();
        assert!(changes.created >= 1);
        let contacts = w.store.contacts_of_case(&case_id).await.unwrap();
        let c46 = contacts.iter().find(|c| c.person_id == p46).unwrap();
        assert_eq!(c46.contact.category, ContactCategory::CloseContact);

        // The same result again is refused with a stable code and writes nothing.
        let err = w
            .store
            .record_test_result_as(&w.profile, first, ts(10, 8), true, &conv, &a)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "record_closed");
        assert_eq!(
            w.store.cases(&Default::default()).await.unwrap().1,
            total + 1
        );
        assert_eq!(
            w.store.managed_of_person(w.ids[&44]).await.unwrap().len(),
            2
        );
        counters_agree(&w, ts(11, 12)).await;
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// The loop's counters (loop status's fast path) against a recount and
/// against the status computed by scanning the records, after every step of
/// random sequences of transitions, test results, unscheduled tests,
/// conversions, enrolments, bulk releases and the secondary rule, in two
/// jurisdictions, on both backends.
#[tokio::test]
async fn loop_counters_equal_a_recount_after_random_changes() {
    use closedloop_domain::lifecycle::is_edge;
    for db in TestDatabase::each("loopcounts").await {
        let w = world(&db).await;
        let a = Actor::system();
        w.store
            .import_regions(
                &[region(
                    "220104",
                    Some("220100"),
                    RegionLevel::District,
                    "朝阳区",
                )],
                STRICT,
                "r2.csv",
                &a,
            )
            .await
            .unwrap();
        // Twenty more contacts of K1: close, secondary and venue-exposed, half in another district.
        let mut more = Vec::new();
        for seq in 50..70u32 {
            let mut p = person(seq);
            if seq % 2 == 0 {
                p.region_code = Some("220104".into());
            }
            more.push((u64::from(seq), p));
        }
        w.store
            .import_persons(&more, STRICT, "p2.csv", &a)
            .await
            .unwrap();
        let k1 = w.store.case("K1").await.unwrap().unwrap().id;
        let k1_person = w.ids[&41];
        let mut drafts = Vec::new();
        for (i, (_, p)) in more.iter().enumerate() {
            let id = w
                .store
                .person_by_document(&p.document)
                .await
                .unwrap()
                .unwrap()
                .id;
            let (category, degree) = match i % 3 {
                0 => (ContactCategory::CloseContact, 1),
                1 => (ContactCategory::SecondaryContact, 2),
                _ => (ContactCategory::VenueExposed, 1),
            };
            drafts.push(ContactDraft {
                person_id: id,
                category,
                degree,
                first_exposure: ts(8, 10 + (i as u32 % 10)),
                via_person: k1_person,
                explanations: vec![Explanation::at(ExposureKind::Household, k1_person, "H")],
            });
        }
        w.store
            .record_contacts(k1, &drafts, "china-8th@1", &a)
            .await
            .unwrap();
        w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
        w.store
            .enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        let check = |w: &World, step: String, clock: i64| {
            let store = w.store.clone();
            let profile = w.profile.clone();
            async move {
                let counts = store.check_loop_counts().await.unwrap();
                assert!(counts.is_consistent(), "{step}: {counts:?}");
                for now in [clock, clock + 86_400 * 3, ts(31, 23)] {
                    let today = chrono::DateTime::from_timestamp(now, 0)
                        .unwrap()
                        .with_timezone(&TZ)
                        .date_naive();
                    for scope in [None, Some("220000"), Some("220102"), Some("220104")] {
                        let fast = store
                            .loop_status(&profile, now, today, scope)
                            .await
                            .unwrap();
                        let scan = store
                            .loop_status_by_scan(&profile, now, today, scope)
                            .await
                            .unwrap();
                        assert_eq!(fast, scan, "{step}, now {now}, scope {scope:?}");
                    }
                }
                let codes = vec!["220104".to_string()];
                let today = chrono::DateTime::from_timestamp(clock, 0)
                    .unwrap()
                    .with_timezone(&TZ)
                    .date_naive();
                let listed = store
                    .loop_status_for(&profile, clock, today, Some(&codes), None)
                    .await
                    .unwrap();
                let mut subtree = store
                    .loop_status(&profile, clock, today, Some("220104"))
                    .await
                    .unwrap();
                subtree.scope = None;
                assert_eq!(listed, subtree, "{step}: a list of codes");
            }
        };
        check(&w, "enrolled".into(), ts(9, 12)).await;
        for seed in 1..=4u64 {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
            let mut clock = ts(9, 13);
            for step in 0..50 {
                clock += 3600 * (1 + rng.below(30) as i64);
                let ids: Vec<i64> = {
                    let mut v = Vec::new();
                    for seq in (41..=45).chain(50..70) {
                        let pid = match w.ids.get(&seq) {
                            Some(id) => *id,
                            None => {
                                w.store
                                    .person_by_document(&person(seq).document)
                                    .await
                                    .unwrap()
                                    .unwrap()
                                    .id
                            }
                        };
                        v.extend(
                            w.store
                                .managed_of_person(pid)
                                .await
                                .unwrap()
                                .into_iter()
                                .map(|m| m.id),
                        );
                    }
                    v
                };
                let mut open = Vec::new();
                for id in &ids {
                    if !w
                        .store
                        .managed(*id)
                        .await
                        .unwrap()
                        .unwrap()
                        .state
                        .is_terminal()
                    {
                        open.push(*id);
                    }
                }
                // Mostly records still in the loop.
                let pool = if open.is_empty() || rng.below(5) == 0 {
                    &ids
                } else {
                    &open
                };
                let id = pool[rng.below(pool.len() as u64) as usize];
                let m = w.store.managed(id).await.unwrap().unwrap();
                let op = rng.below(12);
                let what = match op {
                    0..=5 => {
                        // Mostly forward: an exit (lost, converted, died) one time in six.
                        let exits = rng.below(6) == 0;
                        let next: Vec<LoopState> = LoopState::ALL
                            .iter()
                            .copied()
                            .filter(|to| is_edge(m.category, m.state, *to))
                            .filter(|to| {
                                exits
                                    || !matches!(
                                        to,
                                        LoopState::Lost
                                            | LoopState::ConvertedToCase
                                            | LoopState::Died
                                    )
                            })
                            .collect();
                        if next.is_empty() {
                            continue;
                        }
                        let to = next[rng.below(next.len() as u64) as usize];
                        let facility = match to {
                            LoopState::UnderQuarantine
                                if m.setting
                                    != Some(closedloop_domain::protocol::Setting::Home) =>
                            {
                                Some("H1")
                            }
                            LoopState::Admitted => Some("D1"),
                            _ => None,
                        };
                        let r = go(&w, id, to, clock, facility).await;
                        format!("transition {id} {} -> {to}: {r:?}", m.state)
                    }
                    6 | 7 => {
                        let open: Vec<_> = w
                            .store
                            .loop_tests(id)
                            .await
                            .unwrap()
                            .into_iter()
                            .filter(|t| t.sampled_at.is_none())
                            .collect();
                        if open.is_empty() {
                            continue;
                        }
                        let t = &open[rng.below(open.len() as u64) as usize];
                        let positive = rng.below(8) == 0;
                        let r = w
                            .store
                            .record_test_result(&w.profile, t.id, clock, positive, &a)
                            .await
                            .map(|c| c.map(|c| c.id))
                            .map_err(|e| e.code());
                        format!("result of test {} of {id} positive {positive}: {r:?}", t.id)
                    }
                    8 => {
                        let positive = rng.below(6) == 0;
                        let conv = closedloop_store::Conversion {
                            classification: Classification::Asymptomatic,
                            reported_at: clock,
                        };
                        let r = w
                            .store
                            .record_unscheduled_test_as(
                                &w.profile,
                                id,
                                clock,
                                positive.then_some(&conv),
                                TZ,
                                &a,
                            )
                            .await
                            .map(|(t, c)| (t.id, c.map(|c| c.id)))
                            .map_err(|e| e.code());
                        format!("unscheduled test of {id} positive {positive}: {r:?}")
                    }
                    9 => {
                        let today = chrono::DateTime::from_timestamp(clock, 0)
                            .unwrap()
                            .with_timezone(&TZ)
                            .date_naive()
                            + chrono::Days::new(rng.below(25));
                        let n = w.store.release_due(today, clock, None, &a).await.unwrap();
                        format!("bulk release before {today}: {n}")
                    }
                    10 => {
                        let r = w
                            .store
                            .apply_secondary_rule(&w.profile, TZ, id, clock, &a)
                            .await
                            .map_err(|e| e.code());
                        format!("secondary rule on {id}: {r:?}")
                    }
                    _ => {
                        let c = w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
                        let k = w
                            .store
                            .enrol_contacts(&w.profile, TZ, clock, &a)
                            .await
                            .unwrap();
                        format!("enrol: {c:?} {k:?}")
                    }
                };
                check(&w, format!("seed {seed} step {step}: {what}"), clock).await;
            }
        }
        // Counters damaged by hand are found, and rebuilt by the recount.
        assert!(w.store.recount_loop(&a).await.unwrap().is_consistent());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        for sql in [
            "UPDATE loop_counts SET n = n + 1 WHERE state = 'identified' OR state = 'released'",
            "INSERT INTO loop_due_tests (region_code, due_date, n) VALUES ('220102', '2000-01-01', 2)",
            "UPDATE managed SET negatives = negatives + 1 WHERE id = (SELECT MIN(id) FROM managed)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let damaged = w.store.check_loop_counts().await.unwrap();
        assert_eq!(damaged.negatives_off, 1, "{damaged:?}");
        assert!(
            damaged.record_keys_off > 0 && damaged.test_keys_off > 0,
            "{damaged:?}"
        );
        assert_eq!(w.store.recount_loop(&a).await.unwrap(), damaged);
        check(&w, "after the recount".into(), ts(31, 12)).await;
        assert!(w
            .store
            .verify_audit_chain()
            .await
            .unwrap()
            .first_break
            .is_none());
        db.cleanup().await;
    }
}

/// The facility register imports in one transaction, idempotently, refusing
/// unknown regions and contradictions (unless `update`), and lists occupancy
/// against capacity per jurisdiction.
#[tokio::test]
async fn facilities_import_idempotently_and_show_their_occupancy() {
    for db in TestDatabase::each("facilities").await {
        let w = world(&db).await;
        let a = Actor::system();
        let f = |id: &str, kind, region: &str, capacity| Facility {
            facility_id: id.into(),
            name: format!("场所{id}"),
            kind,
            region_code: Some(region.into()),
            address: String::new(),
            capacity,
        };
        let file = vec![
            (2, f("H2", FacilityKind::QuarantineHotel, "220102", 2)),
            (3, f("F2", FacilityKind::Fangcang, "220100", 500)),
        ];
        let first = w
            .store
            .import_facilities(&file, STRICT, "f.csv", &a)
            .await
            .unwrap();
        assert_eq!((first.created, first.unchanged), (2, 0));
        let again = w
            .store
            .import_facilities(&file, STRICT, "f.csv", &a)
            .await
            .unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2));
        // A contradiction and an unknown region refuse the whole file.
        let bad = vec![
            (2, f("H9", FacilityKind::QuarantineHotel, "220102", 5)),
            (3, f("H2", FacilityKind::QuarantineHotel, "220102", 3)),
            (4, f("H8", FacilityKind::QuarantineHotel, "999999", 5)),
        ];
        let err = w
            .store
            .import_facilities(&bad, STRICT, "bad.csv", &a)
            .await
            .unwrap_err();
        match &err {
            closedloop_store::StoreError::Rejected(n, rows) => {
                assert_eq!(*n, 2);
                assert_eq!(
                    rows.iter()
                        .map(|r| (r.line, r.column.as_str(), r.error.code()))
                        .collect::<Vec<_>>(),
                    vec![
                        (3, "facility_id", "conflict"),
                        (4, "region_code", "unknown_region")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(w
            .store
            .facility_occupancy(None)
            .await
            .unwrap()
            .iter()
            .all(|o| o.facility.facility_id != "H9"));
        let updated = w
            .store
            .import_facilities(
                &bad[1..2],
                ImportMode {
                    skip_bad_rows: false,
                    update: true,
                },
                "fix.csv",
                &a,
            )
            .await
            .unwrap();
        assert_eq!(updated.updated, 1);
        // Two contacts placed at H2 occupy it.
        w.store.enrol_cases(&w.profile, None, &a).await.unwrap();
        w.store
            .enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        for seq in [42, 44] {
            let id = managed_of(&w, seq, ManagedCategory::CloseContact).await;
            for (to, hour) in [
                (LoopState::Notified, 13),
                (LoopState::PlacementOrdered, 14),
                (LoopState::InTransfer, 15),
            ] {
                go(&w, id, to, ts(9, hour), None).await.unwrap();
            }
            go(&w, id, LoopState::UnderQuarantine, ts(9, 16), Some("H2"))
                .await
                .unwrap();
        }
        let all = w.store.facility_occupancy(None).await.unwrap();
        let h2 = all.iter().find(|o| o.facility.facility_id == "H2").unwrap();
        assert_eq!((h2.facility.capacity, h2.occupied, h2.free), (3, 2, 1));
        let district: Vec<String> = w
            .store
            .facility_occupancy(Some("220102"))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.facility.facility_id)
            .collect();
        assert_eq!(district, vec!["H1".to_string(), "H2".to_string()]);
        let listed = w
            .store
            .facility_occupancy_for(Some(&["220100".to_string()]))
            .await
            .unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|o| o.facility.facility_id.as_str())
                .collect::<Vec<_>>(),
            vec!["D1", "F2"]
        );
        assert_eq!(
            w.store.verify_audit_chain().await.unwrap().first_break,
            None
        );
        db.cleanup().await;
    }
}

/// A facility operator's lists (issue 5): people, cases, tasks, overdue
/// tasks, leaks and the loop's counts of a facility hold exactly the records
/// the by-id reads let them open (a person placed there, a case whose person
/// is, a task or test whose managed record is), with the region on top.
#[tokio::test]
async fn a_facility_scope_lists_only_the_people_placed_there() {
    use closedloop_store::access::Scope;
    use closedloop_store::{CaseFilter, CaseListOptions, PersonFilter, TaskFilter};
    use std::collections::BTreeSet;
    for db in TestDatabase::each("loop_facility").await {
        let w = world(&db).await;
        let s = &w.store;
        let a = Actor::system();
        s.enrol_cases(&w.profile, None, &a).await.unwrap();
        s.enrol_contacts(&w.profile, TZ, ts(9, 12), &a)
            .await
            .unwrap();
        // K1 (41) admitted to D1; 42 and 43 quarantined in H1; 44 and K2
        // (45) placed nowhere.
        let k1 = managed_of(&w, 41, ManagedCategory::Case).await;
        for to in [LoopState::TransferOrdered, LoopState::InTransfer] {
            go(&w, k1, to, ts(9, 9), None).await.unwrap();
        }
        go(&w, k1, LoopState::Admitted, ts(9, 13), Some("D1"))
            .await
            .unwrap();
        let c42 = managed_of(&w, 42, ManagedCategory::CloseContact).await;
        let c43 = managed_of(&w, 43, ManagedCategory::SecondaryContact).await;
        for m in [c42, c43] {
            for to in [
                LoopState::Notified,
                LoopState::PlacementOrdered,
                LoopState::InTransfer,
            ] {
                go(&w, m, to, ts(9, 14), None).await.unwrap();
            }
            go(&w, m, LoopState::UnderQuarantine, ts(9, 18), Some("H1"))
                .await
                .unwrap();
        }
        let in_h1: BTreeSet<i64> = [c42, c43].into();
        let placed_h1: BTreeSet<i64> = [w.ids[&42], w.ids[&43]].into();

        // People: exactly those placed there, counted directly; the region
        // still applies, and so does a search.
        let facility = |f: &str| PersonFilter {
            facility: Some(f.into()),
            limit: 50,
            ..Default::default()
        };
        let (people, total) = s.persons(&facility("H1")).await.unwrap();
        let ids: BTreeSet<i64> = people.iter().map(|p| p.id).collect();
        assert_eq!((ids, total), (placed_h1.clone(), 2));
        let (_, capped) = s
            .person_list(&facility("H1"), None, Some(10_000))
            .await
            .unwrap();
        assert_eq!(capped, 2, "the capped count of a facility");
        let (people, total) = s
            .person_list(&facility("H1"), Some(&["220102".to_string()]), None)
            .await
            .unwrap();
        assert_eq!((people.len(), total), (2, 2));
        let elsewhere = PersonFilter {
            scope: Some(vec!["220100".into()]),
            ..facility("H1")
        };
        assert_eq!(
            s.persons(&elsewhere).await.unwrap().1,
            0,
            "region AND facility"
        );
        let search = PersonFilter {
            query: Some("人员43".into()),
            ..facility("H1")
        };
        let (found, n) = s.persons(&search).await.unwrap();
        assert_eq!((found[0].id, n), (w.ids[&43], 1));
        let search = PersonFilter {
            query: Some("人员44".into()),
            ..facility("H1")
        };
        assert_eq!(
            s.persons(&search).await.unwrap().1,
            0,
            "44 is not placed there"
        );
        // Every person listed is one the by-id read lets them open.
        let scope = Scope {
            regions: None,
            facility: Some("H1"),
        };
        let everyone = s.persons(&PersonFilter::default()).await.unwrap().0;
        let all_ids: Vec<i64> = everyone.iter().map(|p| p.id).collect();
        let visible: BTreeSet<i64> = s
            .visible_persons(&all_ids, scope)
            .await
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(visible, placed_h1);

        // Cases: K1's person is in D1; nobody of H1 is a case.
        let cases = |f: &str| CaseFilter {
            facility: Some(f.into()),
            limit: 50,
            ..Default::default()
        };
        let (d1, n) = s.cases(&cases("D1")).await.unwrap();
        assert_eq!(
            (
                d1.iter()
                    .map(|c| c.case.case_id.as_str())
                    .collect::<Vec<_>>(),
                n
            ),
            (vec!["K1"], 1)
        );
        assert_eq!(s.cases(&cases("H1")).await.unwrap(), (Vec::new(), 0));
        let capped = CaseListOptions {
            count_cap: Some(10_000),
            ..Default::default()
        };
        let (d1, n) = s.case_list(&cases("D1"), &capped).await.unwrap();
        assert_eq!((d1.len(), n), (1, 1));
        let export = CaseFilter {
            limit: 0,
            ..cases("D1")
        };
        assert_eq!(s.cases(&export).await.unwrap().0.len(), 1, "the export");

        // Tasks: those of H1's records, and nothing else, whatever the region.
        let all_tasks = s
            .tasks(&TaskFilter {
                limit: i64::MAX,
                ..Default::default()
            })
            .await
            .unwrap();
        let want: Vec<_> = all_tasks
            .iter()
            .filter(|t| t.managed_id.is_some_and(|m| in_h1.contains(&m)))
            .cloned()
            .collect();
        assert!(!want.is_empty());
        assert!(want.len() < all_tasks.len());
        let h1_tasks = TaskFilter {
            facility: Some("H1".into()),
            limit: i64::MAX,
            ..Default::default()
        };
        assert_eq!(s.tasks(&h1_tasks).await.unwrap(), want);
        let in_region = TaskFilter {
            scope: Some("220102".into()),
            ..h1_tasks.clone()
        };
        assert_eq!(s.tasks(&in_region).await.unwrap(), want);
        let other_region = TaskFilter {
            scope: Some("220200".into()),
            ..h1_tasks.clone()
        };
        assert!(s.tasks(&other_region).await.unwrap().is_empty());

        // Overdue tasks, leaks and counts, judged when K1's investigations
        // and tests of 42 and 43 are late.
        let now = ts(15, 0);
        let today: chrono::NaiveDate = "2022-03-15".parse().unwrap();
        let all = s.overdue(&w.profile, now, None).await.unwrap();
        for (f, ids) in [("D1", BTreeSet::from([k1])), ("H1", in_h1.clone())] {
            let want: Vec<_> = all
                .iter()
                .filter(|o| o.task.managed_id.is_some_and(|m| ids.contains(&m)))
                .cloned()
                .collect();
            let got = s
                .overdue_within(&w.profile, now, Some("220000"), Some(f))
                .await
                .unwrap();
            assert_eq!(got, want, "overdue in {f}");
            let listed = s
                .overdue_for(&w.profile, now, Some(&["220102".to_string()]), Some(f))
                .await
                .unwrap();
            assert_eq!(listed, want, "overdue in {f} by codes");
        }
        assert!(
            all.iter().any(|o| o.task.managed_id == Some(k1)),
            "K1 has overdue tasks"
        );
        let leaks = s.leaks(&w.profile, now, today, None).await.unwrap();
        let leaks_h1 = s
            .leaks_within(&w.profile, now, today, None, Some("H1"))
            .await
            .unwrap();
        let want: Vec<_> = leaks
            .iter()
            .filter(|l| l.managed_id.is_some_and(|m| in_h1.contains(&m)))
            .cloned()
            .collect();
        assert_eq!(leaks_h1, want);
        let missed = want
            .iter()
            .filter(|l| l.kind == closedloop_store::LeakKind::TestMissed)
            .count() as i64;
        assert!(missed > 0, "42's and 43's tests were not sampled");
        assert!(
            leaks.len() > leaks_h1.len(),
            "44 and K2 are leaks elsewhere"
        );

        let status = s
            .loop_status_within(&w.profile, now, today, Some("220000"), Some("H1"))
            .await
            .unwrap();
        let by_category: Vec<(&str, &str, i64)> = status
            .by_category
            .iter()
            .flat_map(|(c, states)| {
                states
                    .iter()
                    .map(move |(st, n)| (c.as_str(), st.as_str(), *n))
            })
            .collect();
        assert_eq!(
            by_category,
            vec![
                ("close_contact", "under_quarantine", 1),
                ("secondary_contact", "under_quarantine", 1)
            ]
        );
        let overdue_h1 = all
            .iter()
            .filter(|o| o.task.managed_id.is_some_and(|m| in_h1.contains(&m)))
            .count() as i64;
        assert_eq!(status.overdue_tasks, overdue_h1);
        let mut want_leaks = std::collections::BTreeMap::new();
        for l in &leaks_h1 {
            *want_leaks.entry(l.kind.as_str().to_string()).or_insert(0) += 1;
        }
        assert_eq!(status.leaks, want_leaks);
        let d1 = s
            .loop_status_for(&w.profile, now, today, None, Some("D1"))
            .await
            .unwrap();
        assert_eq!(
            d1.by_category.get("case").and_then(|m| m.get("admitted")),
            Some(&1)
        );
        assert_eq!(d1.by_category.len(), 1);
        // No facility: the counters, unchanged (the whole region's records).
        let region = s
            .loop_status(&w.profile, now, today, Some("220000"))
            .await
            .unwrap();
        let everyone: i64 = region.by_category.values().flat_map(|m| m.values()).sum();
        assert!(everyone > 3, "{region:?}");
        db.cleanup().await;
    }
}
