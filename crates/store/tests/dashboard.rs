//! The dashboard's epidemic curve counts what the bulletin counts, day by day.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use closedloop_domain::bulletin;
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::{day_bounds, DEFAULT_TIME_ZONE};
use closedloop_domain::Lang;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, ImportMode};

const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};

fn region(code: &str, parent: Option<&str>, level: RegionLevel) -> Region {
    Region {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name_zh: format!("区{code}"),
        name_en: format!("R{code}"),
        population: 1000,
    }
}

fn at(day: u32, minute: i64) -> DateTime<Utc> {
    DEFAULT_TIME_ZONE
        .with_ymd_and_hms(2022, 3, day, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(minute)
}

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
async fn the_epi_curve_is_the_bulletins_new_local_figures_day_by_day() {
    let regions: Vec<(u64, Region)> = vec![
        region("220000", None, RegionLevel::Province),
        region("220100", Some("220000"), RegionLevel::City),
        region("220102", Some("220100"), RegionLevel::District),
        region("220200", Some("220000"), RegionLevel::City),
        region("220202", Some("220200"), RegionLevel::District),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, r)| (i as u64 + 2, r))
    .collect();
    let districts = ["220102", "220202", "220100"];
    let mut rng = Rng(0x5eed_2022);
    let mut cases = Vec::new();
    for i in 0..300u32 {
        let first17 = format!("22010219800101{:03}", i);
        let number = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
        let doc = Document::parse(DocumentType::ResidentId, &number).unwrap();
        let reported = at(1 + rng.next(12) as u32, rng.next(24 * 60) as i64);
        let class = if rng.next(2) == 0 {
            Classification::Confirmed
        } else {
            Classification::Asymptomatic
        };
        let region = districts[rng.next(3) as usize];
        let mut c = CaseDraft {
            case_id: format!("D{i}"),
            person: PersonDraft::new(doc, "测试"),
            classification: class,
            clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
            origin: if rng.next(8) == 0 {
                Origin::Imported
            } else {
                Origin::Local
            },
            discovery_channel: DiscoveryChannel::CommunityScreening,
            onset_date: None,
            sample_time: Some(reported - Duration::hours(6)),
            report_time: reported,
            reporting_region: region.into(),
            residence_region: Some(region.into()),
            reclassified_at: None,
            outcome: None,
            outcome_time: None,
            isolated_at: None,
        };
        if class == Classification::Confirmed && rng.next(3) == 0 {
            c.reclassified_at = Some(reported + Duration::hours(rng.next(72) as i64));
        }
        if c.origin == Origin::Imported {
            c.discovery_channel = DiscoveryChannel::ArrivalTest;
        }
        c.check().unwrap();
        cases.push((i as u64 + 2, c));
    }
    for db in TestDatabase::each("dashboard").await {
        let store = db.open().await;
        store
            .import_regions(&regions, STRICT, "r.csv", &Actor::system())
            .await
            .unwrap();
        store
            .import_cases(&cases, STRICT, "c.csv", &Actor::system())
            .await
            .unwrap();
        let tree = store.region_tree().await.unwrap();
        let from = NaiveDate::from_ymd_opt(2022, 3, 2).unwrap();
        let to = NaiveDate::from_ymd_opt(2022, 3, 14).unwrap();
        for scope in ["220000", "220100", "220202"] {
            let codes = tree.subtree_codes(scope);
            let curve = store
                .epi_curve(Some(&codes), from, to, DEFAULT_TIME_ZONE)
                .await
                .unwrap();
            assert_eq!(curve.len(), 13);
            let mut total = 0;
            for day in &curve {
                let (start, end) = day_bounds(day.day, DEFAULT_TIME_ZONE);
                let facts = store.bulletin_facts(start, end).await.unwrap();
                let b = bulletin::compute(&tree, scope, day.day, &facts, Lang::Zh).unwrap();
                assert_eq!(
                    (day.confirmed, day.reclassified, day.asymptomatic),
                    (
                        b.new_local_confirmed,
                        b.new_local_confirmed_reclassified,
                        b.new_local_asymptomatic
                    ),
                    "{:?} {scope} {}",
                    db.backend,
                    day.day
                );
                total += day.confirmed + day.asymptomatic;
            }
            assert!(total > 0, "{scope}: the fixture has cases");
        }
        let everywhere = store
            .epi_curve(None, from, to, DEFAULT_TIME_ZONE)
            .await
            .unwrap();
        let root = store
            .epi_curve(
                Some(&tree.subtree_codes("220000")),
                from,
                to,
                DEFAULT_TIME_ZONE,
            )
            .await
            .unwrap();
        assert_eq!(everywhere, root);
        assert!(store
            .epi_curve(Some(&[]), from, to, DEFAULT_TIME_ZONE)
            .await
            .unwrap()
            .iter()
            .all(|d| d.confirmed + d.asymptomatic == 0));
        let last = store.last_report_time(None).await.unwrap().unwrap();
        assert_eq!(
            last,
            cases.iter().map(|(_, c)| c.report_time).max().unwrap()
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn capacity_sums_by_kind_and_the_audit_page_filters_and_counts() {
    use closedloop_domain::lifecycle::FacilityKind;
    use closedloop_store::{AuditPageFilter, Facility};
    for db in TestDatabase::each("dashboard_capacity").await {
        let store = db.open().await;
        let regions: Vec<(u64, Region)> = vec![
            region("220000", None, RegionLevel::Province),
            region("220100", Some("220000"), RegionLevel::City),
            region("220200", Some("220000"), RegionLevel::City),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i as u64 + 2, r))
        .collect();
        store
            .import_regions(&regions, STRICT, "r.csv", &Actor::system())
            .await
            .unwrap();
        let f = |id: &str, kind, region: &str, capacity| Facility {
            facility_id: id.into(),
            name: id.into(),
            kind,
            region_code: Some(region.into()),
            address: String::new(),
            capacity,
        };
        store
            .upsert_facilities(
                &[
                    f("H1", FacilityKind::QuarantineHotel, "220100", 100),
                    f("H2", FacilityKind::QuarantineHotel, "220200", 50),
                    f("D1", FacilityKind::DesignatedHospital, "220100", 30),
                ],
                &Actor("tester".into()),
            )
            .await
            .unwrap();
        let all = store.capacity_by_kind(None).await.unwrap();
        let hotel = all.iter().find(|r| r.kind == "quarantine_hotel").unwrap();
        assert_eq!(
            (hotel.facilities, hotel.capacity, hotel.occupied),
            (2, 150, 0)
        );
        let changchun = store
            .capacity_by_kind(Some(&["220100".to_string()]))
            .await
            .unwrap();
        assert_eq!(changchun.len(), 2);
        assert!(changchun
            .iter()
            .all(|r| r.kind != "quarantine_hotel" || r.capacity == 100));
        assert!(store.capacity_by_kind(Some(&[])).await.unwrap().is_empty());
        assert!(store.managed_by_region(None).await.unwrap().is_empty());

        // The audit page: the imports and the facility registration are there.
        let everything = AuditPageFilter {
            limit: 1,
            ..Default::default()
        };
        let (page, total) = store.audit_page(&everything).await.unwrap();
        assert!(total >= 2, "{total}");
        assert_eq!(page.len(), 1);
        let (second, _) = store
            .audit_page(&AuditPageFilter {
                limit: 1,
                offset: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(second[0].id < page[0].id, "newest first, paged");
        let (mine, n) = store
            .audit_page(&AuditPageFilter {
                actor: Some("tester".into()),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(mine[0].entity, "facility");
        let (none, n) = store
            .audit_page(&AuditPageFilter {
                actor: Some("tester".into()),
                to: Some(0),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((none.len(), n), (0, 0), "nothing before 1970");
        store.close().await;
        db.cleanup().await;
    }
}
