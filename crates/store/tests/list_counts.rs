//! The person and case lists' counts read from the counters the database
//! keeps (migration 0016), on SQLite and (when configured) PostgreSQL: after
//! imports, updates that move people and cases between regions,
//! classifications and channels, and a merge, every count equals the number
//! of rows the same filter lists (a limit of 0 lists every match), capped the
//! same way.

use chrono::{DateTime, TimeZone, Utc};
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{Actor, CaseFilter, CaseListOptions, ImportMode, PersonFilter, Store};

const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
};
const UPDATE: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: true,
};
const DISTRICTS: [&str; 3] = ["220102", "220103", "220202"];

fn region(code: &str, parent: Option<&str>, level: RegionLevel) -> (u64, Region) {
    (
        2,
        Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: code.into(),
            name_en: code.into(),
            population: 1000,
        },
    )
}

/// Person `seq`: in a district, except every seventh, who has no region.
fn person(seq: u32) -> PersonDraft {
    let first17 = format!("22010219800101{:03}", seq % 1000);
    let id = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let mut p = PersonDraft::new(
        Document::parse(DocumentType::ResidentId, &id).unwrap(),
        format!("张{seq}"),
    );
    p.region_code = (!seq.is_multiple_of(7)).then(|| DISTRICTS[(seq % 3) as usize].to_string());
    p
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 3, day, 2, 0, 0).unwrap()
}

fn case(i: u32) -> CaseDraft {
    let confirmed = i % 3 != 1;
    CaseDraft {
        case_id: format!("K{i:02}"),
        person: person(i),
        classification: if confirmed {
            Classification::Confirmed
        } else {
            Classification::Asymptomatic
        },
        clinical_type: confirmed.then_some(ClinicalType::Mild),
        origin: if i.is_multiple_of(5) {
            Origin::Imported
        } else {
            Origin::Local
        },
        discovery_channel: [
            DiscoveryChannel::CommunityScreening,
            DiscoveryChannel::FeverClinic,
            DiscoveryChannel::CentralizedQuarantine,
        ][(i % 3) as usize],
        onset_date: None,
        sample_time: None,
        report_time: at(5 + i % 6),
        reporting_region: DISTRICTS[(i % 3) as usize].into(),
        residence_region: None,
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

fn sets() -> Vec<Option<Vec<String>>> {
    let v = |codes: &[&str]| Some(codes.iter().map(|c| c.to_string()).collect::<Vec<_>>());
    vec![
        None,
        v(&["220102"]),
        v(&["220100", "220102", "220103"]),
        v(&["220202", "220200"]),
        v(&[]),
        v(&["220999"]),
    ]
}

/// Every count of the lists against the rows the same filter lists.
async fn check(store: &Store, when: &str) {
    let mut nonzero = 0;
    for scope in sets() {
        for regions in sets() {
            let filter = PersonFilter {
                scope: scope.clone(),
                ..Default::default()
            };
            let (rows, total) = store
                .person_list(&filter, regions.as_deref(), None)
                .await
                .unwrap();
            assert_eq!(
                total as usize,
                rows.len(),
                "{when}: persons {scope:?} {regions:?}"
            );
            nonzero += usize::from(total > 0);
            for cap in [0_i64, 2, 100] {
                let paged = PersonFilter {
                    limit: 2,
                    ..filter.clone()
                };
                let (_, capped) = store
                    .person_list(&paged, regions.as_deref(), Some(cap))
                    .await
                    .unwrap();
                assert_eq!(
                    capped,
                    total.min(cap + 1),
                    "{when}: persons capped at {cap}"
                );
            }
            for k in 0..8 {
                let filter = CaseFilter {
                    scope: scope.clone(),
                    classification: (k % 2 == 1).then_some(Classification::Confirmed),
                    discovery_channel: (k % 4 >= 2).then_some(DiscoveryChannel::FeverClinic),
                    origin: (k >= 4).then_some(Origin::Local),
                    ..Default::default()
                };
                let options = CaseListOptions {
                    regions: regions.clone(),
                    ..Default::default()
                };
                let (rows, total) = store.case_list(&filter, &options).await.unwrap();
                assert_eq!(
                    total as usize,
                    rows.len(),
                    "{when}: cases {filter:?} {options:?}"
                );
                nonzero += usize::from(total > 0);
                for cap in [0_i64, 3, 100] {
                    let capped = CaseListOptions {
                        count_cap: Some(cap),
                        ..options.clone()
                    };
                    let paged = CaseFilter {
                        limit: 2,
                        ..filter.clone()
                    };
                    let (_, n) = store.case_list(&paged, &capped).await.unwrap();
                    assert_eq!(n, total.min(cap + 1), "{when}: cases capped at {cap}");
                }
            }
        }
    }
    if when != "empty" {
        assert!(
            nonzero > 40,
            "{when}: the counts are mostly zero ({nonzero})"
        );
    }
}

#[tokio::test]
async fn list_counts_follow_every_change() {
    for db in TestDatabase::each("list_counts").await {
        let store = db.open().await;
        let a = Actor::system();
        store
            .import_regions(
                &[
                    region("220000", None, RegionLevel::Province),
                    region("220100", Some("220000"), RegionLevel::City),
                    region("220102", Some("220100"), RegionLevel::District),
                    region("220103", Some("220100"), RegionLevel::District),
                    region("220200", Some("220000"), RegionLevel::City),
                    region("220202", Some("220200"), RegionLevel::District),
                ],
                STRICT,
                "r.csv",
                &a,
            )
            .await
            .unwrap();
        check(&store, "empty").await;
        let cases: Vec<(u64, CaseDraft)> = (0..24).map(|i| (u64::from(i) + 2, case(i))).collect();
        store
            .import_cases(&cases, STRICT, "c.csv", &a)
            .await
            .unwrap();
        let people: Vec<(u64, PersonDraft)> = (24..40).map(|i| (u64::from(i), person(i))).collect();
        store
            .import_persons(&people, STRICT, "p.csv", &a)
            .await
            .unwrap();
        check(&store, "imported").await;

        // People move: one to another district, one without a region gets one.
        let mut moved = person(1);
        moved.region_code = Some("220202".into());
        let mut placed = person(14);
        placed.region_code = Some("220103".into());
        store
            .import_persons(&[(2, moved), (3, placed)], UPDATE, "p2.csv", &a)
            .await
            .unwrap();
        // Cases change classification, channel, origin and region.
        let mut reclassified = case(1);
        reclassified.classification = Classification::Confirmed;
        reclassified.clinical_type = Some(ClinicalType::Moderate);
        reclassified.reclassified_at = Some(at(12));
        let mut elsewhere = case(2);
        elsewhere.reporting_region = "220103".into();
        elsewhere.discovery_channel = DiscoveryChannel::FeverClinic;
        elsewhere.origin = Origin::Imported;
        store
            .import_cases(&[(2, reclassified), (3, elsewhere)], UPDATE, "c2.csv", &a)
            .await
            .unwrap();
        check(&store, "updated").await;

        // A merge takes the merged person out of the count.
        let (everyone, before) = store.persons(&PersonFilter::default()).await.unwrap();
        let merged = everyone[4].id;
        store
            .merge_persons(everyone[3].id, merged, "same person", &a)
            .await
            .unwrap();
        let (_, after) = store.persons(&PersonFilter::default()).await.unwrap();
        assert_eq!(after, before - 1);
        check(&store, "merged").await;

        // Filters the counters do not hold (dates, loop state) count rows.
        let filter = CaseFilter {
            reported_from: Some(at(7)),
            ..Default::default()
        };
        let (rows, total) = store
            .case_list(&filter, &CaseListOptions::default())
            .await
            .unwrap();
        assert_eq!(total as usize, rows.len());
        assert!(total > 0 && total < 24);
        store.close().await;
        db.cleanup().await;
    }
}
