//! The storage story: the same suite on SQLite and (when configured) PostgreSQL.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use closedloop_domain::bulletin;
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::person::{
    resident_id_check_digit, Document, DocumentType, PersonDraft, Sex,
};
use closedloop_domain::region::{Region, RegionLevel, RegionTree};
use closedloop_domain::time::{day_bounds, DEFAULT_TIME_ZONE};
use closedloop_domain::Lang;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{
    Actor, AuditFilter, CaseFilter, ImportMode, PersonFilter, Store, StoreError, StoreRowError,
};

fn region(code: &str, parent: Option<&str>, level: RegionLevel, zh: &str, en: &str) -> Region {
    Region {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name_zh: zh.into(),
        name_en: en.into(),
        population: 1000,
    }
}

fn regions() -> Vec<(u64, Region)> {
    vec![
        (
            2,
            region(
                "220000",
                None,
                RegionLevel::Province,
                "吉林省",
                "Jilin Province",
            ),
        ),
        (
            3,
            region(
                "220100",
                Some("220000"),
                RegionLevel::City,
                "长春市",
                "Changchun",
            ),
        ),
        (
            4,
            region(
                "220102",
                Some("220100"),
                RegionLevel::District,
                "南关区",
                "Nanguan District",
            ),
        ),
        (
            5,
            region(
                "220200",
                Some("220000"),
                RegionLevel::City,
                "吉林市",
                "Jilin City",
            ),
        ),
        (
            6,
            region(
                "220202",
                Some("220200"),
                RegionLevel::District,
                "昌邑区",
                "Changyi District",
            ),
        ),
    ]
}

fn resident_id(seq: u32) -> String {
    let first17 = format!("220102198{}0101{:03}", seq % 10, seq % 1000);
    let first17 = format!("{}{}", &first17[..14], &format!("{:03}", seq % 1000));
    format!("{first17}{}", resident_id_check_digit(&first17).unwrap())
}

fn person(seq: u32, name: &str) -> PersonDraft {
    let doc = Document::parse(DocumentType::ResidentId, &resident_id(seq)).unwrap();
    let mut p = PersonDraft::new(doc, name);
    p.region_code = Some("220102".into());
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn case(
    id: &str,
    p: PersonDraft,
    class: Classification,
    region: &str,
    reported: DateTime<Utc>,
) -> CaseDraft {
    CaseDraft {
        case_id: id.into(),
        person: p,
        classification: class,
        clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: Some(reported - Duration::hours(8)),
        report_time: reported,
        reporting_region: region.into(),
        residence_region: Some(region.into()),
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

async fn seeded(db: &TestDatabase) -> Store {
    let store = db.open().await;
    store
        .import_regions(&regions(), STRICT, "regions.csv", &Actor::system())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn migrations_apply_once() {
    for db in TestDatabase::each("migrations").await {
        let store = db.open().await;
        let known = store.known_migrations();
        assert!(!known.is_empty());
        assert_eq!(store.applied_migrations().await.unwrap().len(), known.len());
        assert!(
            store.migrate().await.unwrap().is_empty(),
            "{:?}: second migrate applied something",
            db.backend
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn regions_import_is_idempotent_and_refuses_conflicts() {
    for db in TestDatabase::each("regions").await {
        let store = db.open().await;
        let first = store
            .import_regions(&regions(), STRICT, "r.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(first.created, 5);
        let again = store
            .import_regions(&regions(), STRICT, "r.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 5));

        let mut changed = regions();
        changed[1].1.population = 9_000_000;
        let err = store
            .import_regions(&changed, STRICT, "r.csv", &Actor::system())
            .await
            .unwrap_err();
        match err {
            StoreError::Rejected(1, rows) => {
                assert_eq!(rows[0].line, 3);
                assert!(matches!(rows[0].error, StoreRowError::Conflict { .. }));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(
            store
                .region_tree()
                .await
                .unwrap()
                .get("220100")
                .unwrap()
                .population,
            1000
        );
        let updated = store
            .import_regions(
                &changed,
                ImportMode {
                    update: true,
                    ..STRICT
                },
                "r.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        assert_eq!(updated.updated, 1);
        assert_eq!(
            store
                .region_tree()
                .await
                .unwrap()
                .get("220100")
                .unwrap()
                .population,
            9_000_000
        );

        let orphan = vec![(
            2,
            region(
                "220302",
                Some("220300"),
                RegionLevel::District,
                "铁西区",
                "Tiexi",
            ),
        )];
        let err = store
            .import_regions(&orphan, STRICT, "r.csv", &Actor::system())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Rejected(1, ref rows) if rows[0].column == "parent_code"),
            "{err:?}"
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn persons_are_keyed_on_their_document() {
    for db in TestDatabase::each("persons").await {
        let store = seeded(&db).await;
        let mut a = person(1, "张三");
        a.phone = Some("13800000001".into());
        let b = person(2, "李四");
        let rows = vec![(2, a.clone()), (3, b.clone())];
        let s = store
            .import_persons(&rows, STRICT, "p.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(s.created, 2);
        let s = store
            .import_persons(&rows, STRICT, "p.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!((s.created, s.updated, s.unchanged), (0, 0, 2));

        // A gap filled is an update, not a conflict.
        let mut b2 = b.clone();
        b2.address = Some("人民大街1号".into());
        let s = store
            .import_persons(&[(2, b2.clone())], STRICT, "p.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(s.updated, 1);
        let stored = store
            .person_by_document(&b.document)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.person.address.as_deref(), Some("人民大街1号"));

        // A contradiction is refused, and nothing of the file is written.
        let mut a2 = a.clone();
        a2.name = "张叁".into();
        let c = person(3, "王五");
        let err = store
            .import_persons(
                &[(2, c.clone()), (3, a2.clone())],
                STRICT,
                "p.csv",
                &Actor::system(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Rejected(1, ref r) if r[0].line == 3 && r[0].column == "name"),
            "{err:?}"
        );
        assert!(
            store
                .person_by_document(&c.document)
                .await
                .unwrap()
                .is_none(),
            "partial write after a refused import"
        );

        // Unknown regions are refused; with skip_bad_rows the good rows land.
        let mut d = person(4, "赵六");
        d.region_code = Some("229999".into());
        let skip = ImportMode {
            skip_bad_rows: true,
            update: false,
        };
        let s = store
            .import_persons(&[(2, c.clone()), (3, d)], skip, "p.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(s.created, 1);
        assert_eq!(s.rejected.len(), 1);
        assert_eq!(s.rejected[0].column, "region_code");

        let (found, total) = store
            .persons(&PersonFilter {
                query: Some("张".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((found.len(), total), (1, 1));
        let (found, _) = store
            .persons(&PersonFilter {
                query: Some("13800000001".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(found[0].person.name, "张三");
        let (_, total) = store
            .persons(&PersonFilter {
                scope: Some(vec!["220202".into()]),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 0);
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn cases_import_matches_persons_and_is_all_or_nothing() {
    for db in TestDatabase::each("cases").await {
        let store = seeded(&db).await;
        let mut late = case(
            "C2",
            person(11, "钱七"),
            Classification::Confirmed,
            "220202",
            at(9, 10),
        );
        late.reclassified_at = Some(at(10, 9));
        let rows = vec![
            (
                2,
                case(
                    "C1",
                    person(10, "孙八"),
                    Classification::Confirmed,
                    "220102",
                    at(9, 8),
                ),
            ),
            (3, late.clone()),
        ];
        let s = store
            .import_cases(&rows, STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(s.created, 2);
        let s = store
            .import_cases(&rows, STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();
        assert_eq!(
            (s.created, s.updated, s.unchanged),
            (0, 0, 2),
            "re-import changed something"
        );

        let stored = store.case("C2").await.unwrap().unwrap();
        assert_eq!(stored.case, late);
        let history = store.classification_history(stored.id).await.unwrap();
        assert_eq!(
            history.iter().map(|h| h.1.as_str()).collect::<Vec<_>>(),
            ["asymptomatic", "confirmed"]
        );

        // Same case_id, other data: refused without --update, applied with it.
        let mut changed = late.clone();
        changed.discovery_channel = DiscoveryChannel::FeverClinic;
        let err = store
            .import_cases(&[(2, changed.clone())], STRICT, "c.csv", &Actor::system())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Rejected(1, ref r) if r[0].column == "discovery_channel"),
            "{err:?}"
        );
        let s = store
            .import_cases(
                &[(2, changed.clone())],
                ImportMode {
                    update: true,
                    ..STRICT
                },
                "c.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        assert_eq!(s.updated, 1);
        assert_eq!(
            store
                .case("C2")
                .await
                .unwrap()
                .unwrap()
                .case
                .discovery_channel,
            DiscoveryChannel::FeverClinic
        );
        let audit = store
            .audit_log(&AuditFilter {
                entity: Some("case".into()),
                entity_id: Some("C2".into()),
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "update");

        // One bad row: nothing of the file lands.
        let bad = vec![
            (
                2,
                case(
                    "C3",
                    person(12, "周九"),
                    Classification::Asymptomatic,
                    "220102",
                    at(11, 8),
                ),
            ),
            (
                3,
                case(
                    "C4",
                    person(13, "吴十"),
                    Classification::Asymptomatic,
                    "999999",
                    at(11, 8),
                ),
            ),
        ];
        let err = store
            .import_cases(&bad, STRICT, "c.csv", &Actor::system())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Rejected(1, ref r) if r[0].line == 3 && r[0].column == "reporting_region"),
            "{err:?}"
        );
        assert!(store.case("C3").await.unwrap().is_none());
        assert!(store
            .person_by_document(&bad[0].1.person.document)
            .await
            .unwrap()
            .is_none());

        let (all, total) = store
            .cases(&CaseFilter {
                scope: Some(vec!["220102".into()]),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((all.len(), total), (1, 1));
        assert_eq!(all[0].case.case_id, "C1");
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn duplicates_are_listed_and_merged_with_a_trace() {
    for db in TestDatabase::each("merge").await {
        let store = seeded(&db).await;
        let mut a = person(21, "郑一");
        a.phone = Some("13900000021".into());
        let mut b = PersonDraft::new(
            Document::parse(DocumentType::Passport, "E7654321").unwrap(),
            "郑一",
        );
        b.birth_date = a.birth_date;
        b.sex = Some(Sex::Male);
        b.phone = a.phone.clone();
        b.address = Some("重庆路5号".into());
        store
            .import_persons(
                &[(2, a.clone()), (3, b.clone())],
                STRICT,
                "p.csv",
                &Actor::system(),
            )
            .await
            .unwrap();
        let c = case(
            "C9",
            b.clone(),
            Classification::Asymptomatic,
            "220102",
            at(12, 9),
        );
        store
            .import_cases(&[(2, c)], STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();

        let groups = store.duplicate_groups(None, 10).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].persons.len(), 2);
        let kept = store
            .person_by_document(&a.document)
            .await
            .unwrap()
            .unwrap()
            .id;
        let gone = store
            .person_by_document(&b.document)
            .await
            .unwrap()
            .unwrap()
            .id;

        let merge = store
            .merge_persons(
                kept,
                gone,
                "same person, two documents",
                &Actor("investigator-7".into()),
            )
            .await
            .unwrap();
        assert_eq!(merge.moved_cases, 1);
        assert!(store.duplicate_groups(None, 10).await.unwrap().is_empty());
        assert_eq!(store.cases_of_person(kept).await.unwrap().len(), 1);
        // The passport now finds the kept person, whose gaps were filled from the merged one.
        let found = store
            .person_by_document(&b.document)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, kept);
        assert_eq!(found.person.address.as_deref(), Some("重庆路5号"));
        assert_eq!(
            store.person(gone).await.unwrap().unwrap().merged_into,
            Some(kept)
        );
        assert_eq!(store.merges_of(gone).await.unwrap().len(), 1);
        let audit = store
            .audit_log(&AuditFilter {
                entity: Some("person".into()),
                entity_id: Some(kept.to_string()),
                limit: 10,
            })
            .await
            .unwrap();
        assert!(audit
            .iter()
            .any(|e| e.action == "merge" && e.actor == "investigator-7"));
        assert!(store
            .merge_persons(kept, gone, "again", &Actor::system())
            .await
            .is_err());
        store.close().await;
        db.cleanup().await;
    }
}

/// Reference: the bulletin's headline figures by looking at each case on its own.
fn reference(
    cases: &[CaseDraft],
    tree: &RegionTree,
    scope: &str,
    date: NaiveDate,
) -> (u64, u64, u64, u64, u64, u64) {
    let (start, end) = day_bounds(date, DEFAULT_TIME_ZONE);
    let during = |t: DateTime<Utc>| t >= start && t < end;
    let (
        mut confirmed,
        mut reclassified,
        mut asymptomatic,
        mut discharged,
        mut cum_confirmed,
        mut in_hospital,
    ) = (0, 0, 0, 0, 0, 0);
    for c in cases
        .iter()
        .filter(|c| tree.is_within(&c.reporting_region, scope))
    {
        let confirmed_at_end = c.classification == Classification::Confirmed
            && c.reclassified_at.is_none_or(|r| r < end);
        if c.report_time < end && confirmed_at_end && c.outcome_time.is_none_or(|t| t >= end) {
            in_hospital += 1;
        }
        if c.outcome == Some(Outcome::Discharged) && c.outcome_time.is_some_and(during) {
            discharged += 1;
        }
        if c.origin != Origin::Local {
            continue;
        }
        if during(c.report_time) {
            if confirmed_at_end {
                confirmed += 1;
            } else {
                asymptomatic += 1;
            }
        } else if c.report_time < start && c.reclassified_at.is_some_and(during) {
            confirmed += 1;
            reclassified += 1;
        }
        if c.report_time < end && confirmed_at_end {
            cum_confirmed += 1;
        }
    }
    (
        confirmed,
        reclassified,
        asymptomatic,
        discharged,
        cum_confirmed,
        in_hospital,
    )
}

/// A small xorshift so the fixture is deterministic without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test]
async fn bulletin_figures_equal_a_case_by_case_count() {
    let mut rng = Rng(0x2022_0309);
    let districts = ["220102", "220202", "220100", "220000"];
    let mut cases = Vec::new();
    for i in 0..400u32 {
        let day = 1 + rng.next(20) as u32;
        let reported = at(day, 0) + Duration::minutes(rng.next(24 * 60) as i64);
        let class = if rng.next(2) == 0 {
            Classification::Confirmed
        } else {
            Classification::Asymptomatic
        };
        let mut c = case(
            &format!("R{i}"),
            person(100 + i, "测试"),
            class,
            districts[rng.next(4) as usize],
            reported,
        );
        if class == Classification::Confirmed && rng.next(4) == 0 {
            c.reclassified_at = Some(reported + Duration::hours(rng.next(96) as i64));
        }
        if rng.next(3) == 0 {
            let base = c.reclassified_at.unwrap_or(reported);
            c.outcome = Some(if class == Classification::Confirmed {
                Outcome::Discharged
            } else {
                Outcome::Released
            });
            c.outcome_time = Some(base + Duration::hours(24 + rng.next(24 * 12) as i64));
        }
        if rng.next(10) == 0 {
            c.origin = Origin::Imported;
            c.discovery_channel = DiscoveryChannel::ArrivalTest;
        }
        c.check().unwrap();
        cases.push(c);
    }
    let numbered: Vec<(u64, CaseDraft)> = cases
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| (i as u64 + 2, c))
        .collect();
    for db in TestDatabase::each("bulletin").await {
        let store = seeded(&db).await;
        store
            .import_cases(&numbered, STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();
        let tree = store.region_tree().await.unwrap();
        // One region by code is the tree's region; an unknown code is none.
        for code in ["220000", "220100", "220202"] {
            assert_eq!(store.region(code).await.unwrap().as_ref(), tree.get(code));
        }
        assert_eq!(store.region("999999").await.unwrap(), None);
        for scope in ["220000", "220100", "220202"] {
            for day in 1..=31 {
                let date = NaiveDate::from_ymd_opt(2022, 3, day).unwrap();
                let (start, end) = day_bounds(date, DEFAULT_TIME_ZONE);
                let facts = store.bulletin_facts(start, end).await.unwrap();
                let b = bulletin::compute(&tree, scope, date, &facts, Lang::Zh).unwrap();
                let got = (
                    b.new_local_confirmed,
                    b.new_local_confirmed_reclassified,
                    b.new_local_asymptomatic,
                    b.outcomes.discharged,
                    b.cumulative.local_confirmed,
                    b.cumulative.in_hospital,
                );
                assert_eq!(
                    got,
                    reference(&cases, &tree, scope, date),
                    "{:?} {scope} {date}",
                    db.backend
                );
                let by_region_sum: u64 = b.by_region.iter().map(|r| r.new_local_confirmed).sum();
                assert_eq!(
                    by_region_sum, b.new_local_confirmed,
                    "by_region must add up"
                );
            }
        }
        store.close().await;
        db.cleanup().await;
    }
}

mod movements {
    use super::*;
    use closedloop_domain::movement::{CheckinDraft, TripSeat, Venue, VenueType};

    fn venue(id: &str, t: VenueType) -> Venue {
        Venue {
            venue_id: id.into(),
            name: format!("场所{id}"),
            venue_type: t,
            region_code: Some("220102".into()),
            lat: Some(43.88),
            lon: Some(125.32),
        }
    }

    fn checkin(person: &str, venue: &str, day: u32, hour: u32, out: Option<u32>) -> CheckinDraft {
        CheckinDraft {
            person_id: person.into(),
            venue_id: venue.into(),
            check_in: at(day, hour),
            check_out: out.map(|h| at(day, h)),
        }
    }

    #[tokio::test]
    async fn checkins_are_idempotent_create_unknown_people_and_expire() {
        for db in TestDatabase::each("movements").await {
            let store = seeded(&db).await;
            let venues = vec![
                (2, venue("V1", VenueType::Restaurant)),
                (3, venue("V2", VenueType::Workplace)),
            ];
            assert_eq!(
                store
                    .import_venues(&venues, STRICT, "v.csv", &Actor::system())
                    .await
                    .unwrap()
                    .created,
                2
            );
            assert_eq!(
                store
                    .import_venues(&venues, STRICT, "v.csv", &Actor::system())
                    .await
                    .unwrap()
                    .unchanged,
                2
            );
            let mut moved = venues.clone();
            moved[0].1.venue_type = VenueType::Mall;
            assert!(matches!(
                store
                    .import_venues(&moved, STRICT, "v.csv", &Actor::system())
                    .await,
                Err(StoreError::Rejected(1, _))
            ));

            let known = person(31, "冯二");
            store
                .import_persons(&[(2, known.clone())], STRICT, "p.csv", &Actor::system())
                .await
                .unwrap();
            let stranger = resident_id(32);
            let rows = vec![
                (2, checkin(&known.document.number, "V1", 8, 12, Some(13))),
                (3, checkin(&stranger, "V1", 8, 11, None)),
                (4, checkin(&stranger, "V2", 20, 9, Some(17))),
            ];
            let s = store
                .import_checkins_with_progress(&rows, STRICT, "c.csv", &Actor::system(), &|_| {})
                .await
                .unwrap();
            assert_eq!((s.created, s.unchanged), (3, 0));
            let s = store
                .import_checkins_with_progress(&rows, STRICT, "c.csv", &Actor::system(), &|_| {})
                .await
                .unwrap();
            assert_eq!((s.created, s.unchanged), (0, 3), "re-import added stays");

            // The stranger became a person known only by the document; the restaurant's typical stay filled the check-out.
            let p = store
                .person_by_document(&Document::parse(DocumentType::ResidentId, &stranger).unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(p.person.name, "");
            let stays = store.checkins_of_person(p.id).await.unwrap();
            assert_eq!(stays.len(), 2);
            assert!(stays[0].check_out_estimated);
            assert_eq!(
                stays[0].check_out - stays[0].check_in,
                VenueType::Restaurant.typical_stay_minutes() * 60
            );

            let bad = vec![(2, checkin(&stranger, "V9", 9, 8, Some(9)))];
            let err = store
                .import_checkins_with_progress(&bad, STRICT, "c.csv", &Actor::system(), &|_| {})
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Rejected(1, ref r) if r[0].column == "venue_id"),
                "{err:?}"
            );

            let seats = vec![(
                2,
                TripSeat {
                    person_id: stranger.clone(),
                    trip_id: "G1234-20220308".into(),
                    carriage: "05".into(),
                    seat_row: Some(12),
                },
            )];
            assert_eq!(
                store
                    .import_trips(&seats, STRICT, "t.csv", &Actor::system())
                    .await
                    .unwrap()
                    .created,
                1
            );
            assert_eq!(
                store
                    .import_trips(&seats, STRICT, "t.csv", &Actor::system())
                    .await
                    .unwrap()
                    .unchanged,
                1
            );

            // A merge carries the stays along.
            let kept = store
                .person_by_document(&known.document)
                .await
                .unwrap()
                .unwrap()
                .id;
            store
                .merge_persons(kept, p.id, "same person", &Actor::system())
                .await
                .unwrap();
            assert_eq!(store.checkins_of_person(kept).await.unwrap().len(), 3);

            // Purge drops what ended before the cutoff and keeps the rest.
            let purged = store
                .purge_movements(at(15, 0), &Actor::system())
                .await
                .unwrap();
            assert_eq!(purged.checkins, 2);
            assert_eq!(store.movement_counts().await.unwrap().0, 1);
            let audit = store
                .audit_log(&AuditFilter {
                    entity: Some("movements".into()),
                    entity_id: None,
                    limit: 5,
                })
                .await
                .unwrap();
            assert_eq!(audit[0].action, "purge");
            store.close().await;
            db.cleanup().await;
        }
    }
}

#[tokio::test]
async fn contacts_of_a_case_are_updated_not_duplicated() {
    use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
    use closedloop_store::ContactDraft;
    for db in TestDatabase::each("contacts").await {
        let store = seeded(&db).await;
        let c = case(
            "K1",
            person(41, "陈一"),
            Classification::Asymptomatic,
            "220102",
            at(9, 8),
        );
        store
            .import_cases(&[(2, c)], STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();
        let others = vec![(2, person(42, "陈二")), (3, person(43, "陈三"))];
        store
            .import_persons(&others, STRICT, "p.csv", &Actor::system())
            .await
            .unwrap();
        let case_pk = store.case("K1").await.unwrap().unwrap().id;
        let source = store
            .person_by_document(&person(41, "").document)
            .await
            .unwrap()
            .unwrap()
            .id;
        let ids: Vec<i64> = {
            let mut v = Vec::new();
            for (_, p) in &others {
                v.push(
                    store
                        .person_by_document(&p.document)
                        .await
                        .unwrap()
                        .unwrap()
                        .id,
                );
            }
            v
        };
        let why = Explanation {
            kind: ExposureKind::Venue,
            through: source,
            place: "V1".into(),
            source_stay: Some([100, 200]),
            contact_stay: Some([150, 400]),
            overlap_seconds: Some(50),
            crowd: Some(2),
            carriage: None,
            source_row: None,
            contact_row: None,
        };
        let draft = |person_id, degree| ContactDraft {
            person_id,
            category: if degree == 1 {
                ContactCategory::CloseContact
            } else {
                ContactCategory::SecondaryContact
            },
            degree,
            first_exposure: 150,
            via_person: source,
            explanations: vec![why.clone()],
        };
        let first = vec![draft(ids[0], 1), draft(ids[1], 2)];
        let ch = store
            .record_contacts(case_pk, &first, "china-8th@1", &Actor::system())
            .await
            .unwrap();
        assert_eq!(
            (ch.created, ch.updated, ch.unchanged, ch.removed),
            (2, 0, 0, 0)
        );
        let ch = store
            .record_contacts(case_pk, &first, "china-8th@1", &Actor::system())
            .await
            .unwrap();
        assert_eq!((ch.created, ch.unchanged), (0, 2));
        let mut second = vec![draft(ids[0], 1)];
        second[0].first_exposure = 120;
        let ch = store
            .record_contacts(case_pk, &second, "china-8th@1", &Actor::system())
            .await
            .unwrap();
        assert_eq!((ch.updated, ch.removed), (1, 1));
        let stored = store.contacts_of_case("K1").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].contact, second[0]);
        assert_eq!(stored[0].contact.explanations[0], why);
        assert_eq!(
            store.exposures_of_person(ids[0]).await.unwrap()[0].case_id,
            "K1"
        );
        store.close().await;
        db.cleanup().await;
    }
}
