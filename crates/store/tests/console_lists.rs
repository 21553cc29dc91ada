//! The console's lists in storage, on SQLite and (when configured)
//! PostgreSQL: every filter and sort of the case list against a reference
//! (the full list filtered and sorted in Rust), the count and the page
//! agreeing, the person list's region, households, a person's timeline and tasks.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use closedloop_domain::case::{CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin};
use closedloop_domain::lifecycle::{LoopState, ManagedCategory};
use closedloop_domain::person::{resident_id_check_digit, Document, DocumentType, PersonDraft};
use closedloop_domain::profile::Profile;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use closedloop_store::testing::TestDatabase;
use closedloop_store::{
    Actor, CaseFilter, CaseListOptions, CaseRecord, CaseSort, ImportMode, PersonFilter, Store,
    TransitionRequest,
};

const TZ: chrono_tz::Tz = DEFAULT_TIME_ZONE;
const STRICT: ImportMode = ImportMode {
    skip_bad_rows: false,
    update: false,
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

fn person(seq: u32, district: &str) -> PersonDraft {
    let first17 = format!("22010219800101{:03}", seq % 1000);
    let id = format!("{first17}{}", resident_id_check_digit(&first17).unwrap());
    let mut p = PersonDraft::new(
        Document::parse(DocumentType::ResidentId, &id).unwrap(),
        format!("{}{seq}", if seq.is_multiple_of(2) { "张" } else { "李" }),
    );
    p.region_code = Some(district.into());
    p.phone = Some(format!("1380000{seq:04}"));
    // Households of three by key; people from 30 share an address instead
    // (three by three, each in another district), and from 40 one address.
    if seq < 30 {
        p.household_id = Some(format!("H{}", seq / 3));
    } else if seq < 40 {
        p.address = Some(format!("{}号", seq / 3));
    } else {
        p.address = Some("40号".into());
    }
    p
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    TZ.with_ymd_and_hms(2022, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Case `i`: varied classification, channel, region, onset and report time
/// (several share a report time, so ties must break on the case id).
fn case(i: u32) -> CaseDraft {
    let district = DISTRICTS[(i % 3) as usize];
    let confirmed = i % 4 != 1;
    let channels = [
        DiscoveryChannel::CommunityScreening,
        DiscoveryChannel::FeverClinic,
        DiscoveryChannel::CentralizedQuarantine,
        DiscoveryChannel::ArrivalTest,
    ];
    CaseDraft {
        case_id: format!("C{:02}", (i * 7) % 40),
        person: person(i, district),
        classification: if confirmed {
            Classification::Confirmed
        } else {
            Classification::Asymptomatic
        },
        clinical_type: confirmed.then_some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: channels[(i % 4) as usize],
        onset_date: (confirmed && !i.is_multiple_of(5))
            .then(|| NaiveDate::from_ymd_opt(2022, 3, 1 + i % 9).unwrap()),
        sample_time: None,
        report_time: at(5 + i % 6, 8 + (i % 2) * 4),
        reporting_region: district.into(),
        residence_region: Some(district.into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    }
}

async fn world(store: &Store) {
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
    let cases: Vec<(u64, CaseDraft)> = (0..40).map(|i| (u64::from(i) + 2, case(i))).collect();
    store
        .import_cases(&cases, STRICT, "c.csv", &a)
        .await
        .unwrap();
    let people: Vec<(u64, PersonDraft)> = (40..46)
        .map(|i| (u64::from(i), person(i, DISTRICTS[(i % 3) as usize])))
        .collect();
    store
        .import_persons(&people, STRICT, "p.csv", &a)
        .await
        .unwrap();
}

/// The reference: every case, filtered and sorted in Rust.
fn reference(
    all: &[CaseRecord],
    states: &std::collections::HashMap<i64, LoopState>,
    f: &CaseFilter,
    o: &CaseListOptions,
) -> Vec<String> {
    let inside =
        |set: &Option<Vec<String>>, code: &String| set.as_ref().is_none_or(|s| s.contains(code));
    let mut keep: Vec<&CaseRecord> = all
        .iter()
        .filter(|c| inside(&f.scope, &c.case.reporting_region))
        .filter(|c| inside(&o.regions, &c.case.reporting_region))
        .filter(|c| f.classification.is_none_or(|x| x == c.case.classification))
        .filter(|c| {
            f.discovery_channel
                .is_none_or(|x| x == c.case.discovery_channel)
        })
        .filter(|c| f.reported_from.is_none_or(|t| c.case.report_time >= t))
        .filter(|c| f.reported_to.is_none_or(|t| c.case.report_time < t))
        .filter(|c| o.loop_state.is_none_or(|s| states.get(&c.id) == Some(&s)))
        .collect();
    keep.sort_by(|a, b| {
        let (a, b) = (&a.case, &b.case);
        let key = match o.sort {
            CaseSort::ReportTime => a.report_time.cmp(&b.report_time),
            CaseSort::CaseId => std::cmp::Ordering::Equal,
            CaseSort::Classification => a.classification.as_str().cmp(b.classification.as_str()),
            CaseSort::DiscoveryChannel => a
                .discovery_channel
                .as_str()
                .cmp(b.discovery_channel.as_str()),
            CaseSort::ReportingRegion => a.reporting_region.cmp(&b.reporting_region),
            // An empty date is greater than every date.
            CaseSort::OnsetDate => {
                (a.onset_date.is_none(), a.onset_date).cmp(&(b.onset_date.is_none(), b.onset_date))
            }
        };
        let key = key.then_with(|| a.case_id.cmp(&b.case_id));
        if o.descending {
            key.reverse()
        } else {
            key
        }
    });
    keep.iter().map(|c| c.case.case_id.clone()).collect()
}

#[tokio::test]
async fn every_filter_and_sort_of_the_case_list_matches_the_reference() {
    for db in TestDatabase::each("console_cases").await {
        let store = db.open().await;
        world(&store).await;
        let profile = Profile::shipped("china-8th").unwrap();
        store
            .enrol_cases(&profile, None, &Actor::system())
            .await
            .unwrap();
        // A third of the cases move on to transfer_ordered.
        let (all, total) = store.cases(&CaseFilter::default()).await.unwrap();
        assert_eq!((all.len(), total), (40, 40));
        for c in all.iter().filter(|c| c.id % 3 == 0) {
            let m = store
                .managed_of_person(c.person_id)
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.category == ManagedCategory::Case)
                .unwrap();
            store
                .transition(
                    &profile,
                    TZ,
                    &TransitionRequest {
                        managed_id: m.id,
                        to: LoopState::TransferOrdered,
                        at: at(12, 9).timestamp(),
                        facility_id: None,
                        reason: "派车".into(),
                    },
                    &Actor("user:dispatcher".into()),
                )
                .await
                .unwrap();
        }
        let ids: Vec<i64> = all.iter().map(|c| c.id).collect();
        let states = store.case_loop_states(&ids).await.unwrap();
        assert_eq!(states.len(), 40, "every case is in the loop");
        let moved = states
            .values()
            .filter(|s| **s == LoopState::TransferOrdered)
            .count();
        assert!(moved > 5 && moved < 40);

        let scopes = [
            None,
            Some(vec!["220100".to_string(), "220102".into(), "220103".into()]),
            Some(vec![]),
        ];
        let regions = [
            None,
            Some(vec!["220102".to_string()]),
            Some(vec!["220202".to_string()]),
        ];
        let mut checked = 0;
        let mut nonempty = 0;
        for (n, scope) in scopes.iter().enumerate() {
            for (m, region) in regions.iter().enumerate() {
                for sort in CaseSort::ALL {
                    for descending in [false, true] {
                        let k = n * 100 + m * 10 + sort as usize + usize::from(descending);
                        let filter = CaseFilter {
                            scope: scope.clone(),
                            classification: (k % 3 == 1).then_some(Classification::Confirmed),
                            discovery_channel: (k % 4 == 2)
                                .then_some(DiscoveryChannel::FeverClinic),
                            reported_from: (k % 5 == 3).then(|| at(6, 0)),
                            reported_to: (k % 2 == 1).then(|| at(9, 0)),
                            ..Default::default()
                        };
                        let options = CaseListOptions {
                            regions: region.clone(),
                            loop_state: (k % 7 == 4).then_some(LoopState::TransferOrdered),
                            sort,
                            descending,
                            ..Default::default()
                        };
                        let want = reference(&all, &states, &filter, &options);
                        let (got, total) = store.case_list(&filter, &options).await.unwrap();
                        let got: Vec<String> = got.iter().map(|c| c.case.case_id.clone()).collect();
                        assert_eq!(got, want, "{filter:?} {options:?}");
                        assert_eq!(total as usize, want.len());
                        // A page of 3 from the second: the same order, the same total.
                        let paged = CaseFilter {
                            limit: 3,
                            offset: 1,
                            ..filter.clone()
                        };
                        let (page, page_total) = store.case_list(&paged, &options).await.unwrap();
                        let page: Vec<String> =
                            page.iter().map(|c| c.case.case_id.clone()).collect();
                        let expected: Vec<String> = want.iter().skip(1).take(3).cloned().collect();
                        assert_eq!(page, expected, "page of {filter:?} {options:?}");
                        assert_eq!(page_total, total);
                        // A capped count: exact up to the cap, the cap plus
                        // one ("N+") beyond it; the page is unchanged.
                        for cap in [0_i64, 2, 5, 100] {
                            let capped = CaseListOptions {
                                count_cap: Some(cap),
                                ..options.clone()
                            };
                            let (page, n) = store.case_list(&paged, &capped).await.unwrap();
                            let page: Vec<String> =
                                page.iter().map(|c| c.case.case_id.clone()).collect();
                            assert_eq!(page, expected, "capped page of {filter:?}");
                            let reference = (want.len() as i64).min(cap + 1);
                            assert_eq!(n, reference, "count capped at {cap}: {filter:?}");
                        }
                        checked += 1;
                        nonempty += usize::from(!want.is_empty());
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 3 * 6 * 2);
        assert!(
            nonempty > checked / 3,
            "the reference is not mostly empty: {nonempty}"
        );

        // The loop state alone: exactly the moved ones.
        let (only, n) = store
            .case_list(
                &CaseFilter::default(),
                &CaseListOptions {
                    loop_state: Some(LoopState::TransferOrdered),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((only.len(), n as usize), (moved, moved));
        store.close().await;
        db.cleanup().await;
    }
}

/// Every page of the person list over sets of regions (a jurisdiction and a
/// chosen subtree, which the store merges region by region) equals the
/// reference: everyone, filtered and paged in Rust.
#[tokio::test]
async fn every_page_of_the_person_list_by_region_matches_the_reference() {
    for db in TestDatabase::each("console_person_pages").await {
        let store = db.open().await;
        world(&store).await;
        // One person merged away: no list shows them.
        let (before, _) = store.persons(&PersonFilter::default()).await.unwrap();
        store
            .merge_persons(before[0].id, before[7].id, "same person", &Actor::system())
            .await
            .unwrap();
        let (everyone, _) = store.persons(&PersonFilter::default()).await.unwrap();
        assert_eq!(everyone.len() + 1, before.len());
        let codes = |c: &[&str]| c.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let sets: Vec<Option<Vec<String>>> = vec![
            None,
            Some(codes(&["220102"])),
            Some(codes(&["220100", "220102", "220103"])),
            Some(codes(&["220102", "220103", "220202"])),
            Some(codes(&["220202", "220103"])),
            Some(codes(&["220100"])),
        ];
        for scope in &sets {
            for chosen in &sets {
                let within = |p: &closedloop_store::PersonRecord| {
                    [scope, chosen].iter().all(|set| {
                        set.as_ref().is_none_or(|codes| {
                            codes
                                .iter()
                                .any(|c| p.person.region_code.as_deref() == Some(c))
                        })
                    })
                };
                let want: Vec<i64> = everyone
                    .iter()
                    .filter(|p| within(p))
                    .map(|p| p.id)
                    .collect();
                for limit in [1, 4, 50] {
                    for offset in (0..=want.len() as i64 + 1).step_by(limit as usize) {
                        let filter = PersonFilter {
                            scope: scope.clone(),
                            limit,
                            offset,
                            ..Default::default()
                        };
                        let (got, n) = store
                            .person_list(&filter, chosen.as_deref(), None)
                            .await
                            .unwrap();
                        assert_eq!(n as usize, want.len(), "{scope:?} {chosen:?}");
                        assert_eq!(
                            got.iter().map(|p| p.id).collect::<Vec<_>>(),
                            want.iter()
                                .skip(offset as usize)
                                .take(limit as usize)
                                .copied()
                                .collect::<Vec<_>>(),
                            "{scope:?} {chosen:?} limit {limit} offset {offset}"
                        );
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn persons_by_region_households_timeline_and_tasks() {
    for db in TestDatabase::each("console_persons").await {
        let store = db.open().await;
        world(&store).await;
        let (everyone, total) = store.persons(&PersonFilter::default()).await.unwrap();
        assert_eq!((everyone.len(), total), (46, 46));

        // A region within the scope: both apply.
        let scope = PersonFilter {
            scope: Some(vec!["220102".into(), "220103".into()]),
            limit: 5,
            offset: 2,
            ..Default::default()
        };
        let want: Vec<i64> = everyone
            .iter()
            .filter(|p| p.person.region_code.as_deref() == Some("220103"))
            .map(|p| p.id)
            .collect();
        let (got, n) = store
            .person_list(&scope, Some(&["220103".to_string()]), None)
            .await
            .unwrap();
        assert_eq!(n as usize, want.len());
        assert_eq!(
            got.iter().map(|p| p.id).collect::<Vec<_>>(),
            want.iter().skip(2).take(5).copied().collect::<Vec<_>>()
        );
        let (none, n) = store
            .person_list(&scope, Some(&["220202".to_string()]), None)
            .await
            .unwrap();
        assert_eq!((none.len(), n), (0, 0));
        // Search by name prefix within the region.
        let (zhang, n) = store
            .person_list(
                &PersonFilter {
                    query: Some("张".into()),
                    ..Default::default()
                },
                Some(&["220102".to_string()]),
                None,
            )
            .await
            .unwrap();
        assert!(n > 0);
        assert!(zhang.iter().all(|p| p.person.name.starts_with('张')
            && p.person.region_code.as_deref() == Some("220102")));

        // A capped count stops past the cap; the page is the same.
        let all = PersonFilter {
            limit: 10,
            ..Default::default()
        };
        let (capped, n) = store.person_list(&all, None, Some(20)).await.unwrap();
        assert_eq!(n, 21, "past the cap");
        assert_eq!(capped, store.person_list(&all, None, None).await.unwrap().0);
        let (_, n) = store.person_list(&all, None, Some(100)).await.unwrap();
        assert_eq!(n, 46, "under the cap: exact");

        // Households: by key, else by address in the same region.
        let p3 = store
            .person_by_document(&person(3, "x").document)
            .await
            .unwrap()
            .unwrap();
        let mut house: Vec<String> = store
            .household_of(&p3)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.person.name)
            .collect();
        house.sort();
        assert_eq!(house, vec!["张4".to_string(), "李5".into()]);
        let p33 = store
            .person_by_document(&person(33, "x").document)
            .await
            .unwrap()
            .unwrap();
        // 33, 34 and 35 share "11号" but live in three districts.
        assert!(store.household_of(&p33).await.unwrap().is_empty());
        let p42 = store
            .person_by_document(&person(42, "x").document)
            .await
            .unwrap()
            .unwrap();
        let p45 = store
            .person_by_document(&person(45, "x").document)
            .await
            .unwrap()
            .unwrap();
        let same: Vec<i64> = store
            .household_of(&p42)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(same, vec![p45.id], "40号 in 220102");

        // A case's timeline and tasks.
        let profile = Profile::shipped("china-8th").unwrap();
        store
            .enrol_cases(&profile, None, &Actor::system())
            .await
            .unwrap();
        let m = store.managed_of_person(p3.id).await.unwrap()[0].clone();
        assert!(store.transitions_of_person(p3.id).await.unwrap().is_empty());
        for (to, hour) in [(LoopState::TransferOrdered, 9), (LoopState::InTransfer, 10)] {
            store
                .transition(
                    &profile,
                    TZ,
                    &TransitionRequest {
                        managed_id: m.id,
                        to,
                        at: (at(12, 0) + Duration::hours(hour)).timestamp(),
                        facility_id: None,
                        reason: format!("step {hour}"),
                    },
                    &Actor("user:dispatcher".into()),
                )
                .await
                .unwrap();
        }
        let timeline = store.transitions_of_person(p3.id).await.unwrap();
        assert_eq!(timeline.len(), 2);
        assert_eq!(
            (timeline[0].from, timeline[0].to),
            (LoopState::Reported, LoopState::TransferOrdered)
        );
        assert_eq!(timeline[1].to, LoopState::InTransfer);
        assert_eq!(timeline[1].actor, "user:dispatcher");
        assert_eq!(timeline[1].reason, "step 10");
        assert_eq!(timeline[1].category, ManagedCategory::Case);
        let tasks = store.tasks_of_person(p3.id).await.unwrap();
        assert!(!tasks.is_empty());
        assert!(tasks.iter().all(|t| t.person_id == Some(p3.id)));
        assert!(tasks.windows(2).all(|w| w[0].due_at <= w[1].due_at));
        let others = store.tasks_of_person(p42.id).await.unwrap();
        assert!(others.is_empty(), "42 is no case");

        let found = store.persons_by_id(&[p45.id, p3.id, p45.id]).await.unwrap();
        assert_eq!(
            found.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![p3.id.min(p45.id), p3.id.max(p45.id)]
        );
        store.close().await;
        db.cleanup().await;
    }
}
