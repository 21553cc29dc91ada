//! Properties of the generated demo province, checked from the outside.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use closedloop_demo::{
    daily_local_counts, generate, generate_without_movement, DemoConfig, DemoData,
};
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::movement::{CheckinDraft, TripSeat, Venue, VenueType};
use closedloop_domain::person::{duplicate_key, Document, DocumentType, PersonDraft};
use closedloop_domain::region::{RegionLevel, RegionTree};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

fn default_data() -> &'static DemoData {
    static DATA: OnceLock<DemoData> = OnceLock::new();
    DATA.get_or_init(|| generate(&DemoConfig::default()))
}

fn full_scale() -> &'static DemoData {
    static DATA: OnceLock<DemoData> = OnceLock::new();
    DATA.get_or_init(|| {
        generate(&DemoConfig {
            scale: 1.0,
            seed: 7,
        })
    })
}

fn shanghai_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive()
}

fn march_day(t: DateTime<Utc>) -> u32 {
    let d = shanghai_date(t);
    assert_eq!(
        (d.year(), d.month()),
        (2022, 3),
        "{t} is outside March 2022"
    );
    d.day()
}

fn all_people(data: &DemoData) -> impl Iterator<Item = &PersonDraft> {
    data.cases
        .iter()
        .map(|c| &c.person)
        .chain(data.persons.iter())
}

/// The bulletin figures recounted from the cases: a reclassified case is new
/// asymptomatic on its report day and new confirmed on its reclassification day.
fn bulletin(cases: &[CaseDraft], only: impl Fn(&CaseDraft) -> bool) -> BTreeMap<u32, (u32, u32)> {
    let mut out: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for c in cases
        .iter()
        .filter(|c| c.origin == Origin::Local && only(c))
    {
        let reported = march_day(c.report_time);
        match (c.classification, c.reclassified_at) {
            (Classification::Confirmed, Some(at)) => {
                out.entry(march_day(at)).or_default().0 += 1;
                out.entry(reported).or_default().1 += 1;
            }
            (Classification::Confirmed, None) => out.entry(reported).or_default().0 += 1,
            (Classification::Asymptomatic, None) => out.entry(reported).or_default().1 += 1,
            (Classification::Asymptomatic, Some(_)) => {
                panic!("{}: asymptomatic yet reclassified", c.case_id)
            }
        }
    }
    out
}

fn expected_bulletin(scale: f64) -> BTreeMap<u32, (u32, u32)> {
    daily_local_counts()
        .iter()
        .map(|&(d, c, a)| {
            (
                d,
                (
                    (c as f64 * scale).round() as u32,
                    (a as f64 * scale).round() as u32,
                ),
            )
        })
        .filter(|(_, v)| *v != (0, 0))
        .collect()
}

fn reclassified_on(cases: &[CaseDraft], day: u32) -> usize {
    cases
        .iter()
        .filter(|c| {
            c.origin == Origin::Local && c.reclassified_at.is_some_and(|t| march_day(t) == day)
        })
        .count()
}

fn in_city(c: &CaseDraft, city: &str) -> bool {
    c.reporting_region[..4] == city[..4]
}

#[test]
fn the_same_config_gives_the_same_data_and_another_seed_other_people() {
    let a = generate(&DemoConfig::default());
    assert_eq!(&a, default_data());
    let b = generate(&DemoConfig {
        seed: 2023,
        ..DemoConfig::default()
    });
    assert_eq!(a.regions, b.regions);
    let ids = |d: &DemoData| {
        d.cases
            .iter()
            .map(|c| c.person.document.number.clone())
            .collect::<HashSet<_>>()
    };
    let (ia, ib) = (ids(&a), ids(&b));
    assert!(
        ia.intersection(&ib).count() < ia.len() / 100,
        "seeds share people"
    );
    // Different people, same bulletin.
    assert_eq!(bulletin(&a.cases, |_| true), bulletin(&b.cases, |_| true));
}

#[test]
fn the_default_config_is_scale_one_tenth_seed_2022() {
    assert_eq!(
        DemoConfig::default(),
        DemoConfig {
            scale: 0.1,
            seed: 2022
        }
    );
}

#[test]
fn regions_are_valid_and_form_one_tree() {
    let regions = &default_data().regions;
    let by_code: HashMap<&str, _> = regions.iter().map(|r| (r.code.as_str(), r)).collect();
    assert_eq!(by_code.len(), regions.len(), "duplicate codes");
    for (i, r) in regions.iter().enumerate() {
        r.check().unwrap_or_else(|e| panic!("{}: {e}", r.code));
        assert!(!r.name_zh.is_empty() && !r.name_en.is_empty(), "{}", r.code);
        assert!(r.population > 0, "{}", r.code);
        match &r.parent_code {
            None => assert_eq!(r.level, RegionLevel::Province),
            Some(p) => {
                let parent = by_code
                    .get(p.as_str())
                    .unwrap_or_else(|| panic!("{}: no parent {p}", r.code));
                assert_eq!(parent.level.depth() + 1, r.level.depth(), "{}", r.code);
                // A code repeats its parent's significant digits: 22 for the
                // province, 2201 for a prefecture, all of it below.
                let shared = match r.level {
                    RegionLevel::City => 2,
                    RegionLevel::District => 4,
                    _ => parent.code.len(),
                };
                assert_eq!(
                    r.code[..shared],
                    parent.code[..shared],
                    "{} under {}",
                    r.code,
                    parent.code
                );
                let parent_pos = regions.iter().position(|x| x.code == *p).unwrap();
                assert!(parent_pos < i, "{} comes before its parent", r.code);
            }
        }
    }
    let tree = RegionTree::new(regions.iter().cloned());
    assert_eq!(tree.single_root().map(|r| r.code.as_str()), Some("220000"));
    for r in regions {
        let kids: Vec<_> = tree.children(&r.code).collect();
        if !kids.is_empty() {
            assert_eq!(
                kids.iter().map(|k| k.population).sum::<i64>(),
                r.population,
                "{}",
                r.code
            );
        }
    }
    let cities: Vec<(&str, &str)> = tree
        .children("220000")
        .map(|r| (r.code.as_str(), r.name_zh.as_str()))
        .collect();
    assert_eq!(
        cities,
        [
            ("220100", "长春市"),
            ("220200", "吉林市"),
            ("220300", "四平市"),
            ("220400", "辽源市"),
            ("220500", "通化市"),
            ("220600", "白山市"),
            ("220700", "松原市"),
            ("220800", "白城市"),
            ("222400", "延边朝鲜族自治州"),
        ]
    );
    for (code, _) in &cities {
        assert!(
            tree.children(code).count() >= 2,
            "{code} has fewer than 2 districts"
        );
    }
    let kids = |code: &str| {
        let mut v: Vec<String> = tree
            .children(code)
            .map(|r| format!("{} {}", r.code, r.name_zh))
            .collect();
        v.sort();
        v.join(", ")
    };
    assert_eq!(
        kids("220100"),
        "220102 南关区, 220103 宽城区, 220104 朝阳区, 220105 二道区, 220106 绿园区, 220112 双阳区, \
         220113 九台区, 220122 农安县, 220182 榆树市, 220183 德惠市, 220184 公主岭市"
    );
    assert_eq!(
        kids("220200"),
        "220202 昌邑区, 220203 龙潭区, 220204 船营区, 220211 丰满区, 220221 永吉县, 220281 蛟河市, \
         220282 桦甸市, 220283 舒兰市, 220284 磐石市"
    );
    let pop = |code: &str| tree.get(code).unwrap().population;
    assert!((23_500_000..24_500_000).contains(&pop("220000")));
    assert!((8_800_000..9_300_000).contains(&pop("220100")));
    assert!((3_500_000..3_800_000).contains(&pop("220200")));
    assert!(regions
        .iter()
        .any(|r| r.level == RegionLevel::Subdistrict && r.code.len() == 9));
    assert!(regions
        .iter()
        .any(|r| r.level == RegionLevel::Community && r.code.len() == 12));
    assert_eq!(
        tree.get("222400").unwrap().name_en,
        "Yanbian Korean Autonomous Prefecture"
    );
}

#[test]
fn every_document_is_valid_and_used_once() {
    let data = default_data();
    let tree = RegionTree::new(data.regions.iter().cloned());
    let mut seen = HashSet::new();
    for p in all_people(data) {
        let parsed = Document::parse(p.document.kind, &p.document.number)
            .unwrap_or_else(|e| panic!("{}: {e}", p.document.number));
        assert_eq!(parsed, p.document);
        assert!(
            seen.insert(p.document.clone()),
            "{} used twice",
            p.document.number
        );
        let mut reconciled = p.clone();
        reconciled.reconcile_with_document().unwrap();
        assert_eq!(
            &reconciled, p,
            "sex or birth date disagree with {}",
            p.document.number
        );
        if p.document.kind == DocumentType::ResidentId {
            let district = tree
                .get(&p.document.number[..6])
                .expect("an ID from a known district");
            assert_eq!(district.level, RegionLevel::District);
        }
        let birth = p.birth_date.expect("a birth date");
        let age = NaiveDate::from_ymd_opt(2022, 3, 1)
            .unwrap()
            .years_since(birth)
            .expect("born before March");
        assert!(age <= 90, "{} is {age}", p.name);
        let name_len = p.name.chars().count();
        assert!((2..=3).contains(&name_len), "{}", p.name);
        assert!(
            p.name
                .chars()
                .all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{}",
            p.name
        );
        let phone = p.phone.as_deref().expect("a phone");
        assert!(
            phone.len() == 11 && phone.bytes().all(|b| b.is_ascii_digit()),
            "{phone}"
        );
        assert!(["13", "15", "18"].contains(&&phone[..2]), "{phone}");
        if let Some(code) = &p.region_code {
            assert!(tree.get(code).is_some(), "unknown region {code}");
        }
    }
}

#[test]
fn every_case_passes_its_checks() {
    let data = default_data();
    let tree = RegionTree::new(data.regions.iter().cloned());
    let end = shanghai_date_end();
    let mut ids = HashSet::new();
    for c in &data.cases {
        c.check()
            .unwrap_or_else(|(field, e)| panic!("{} {field}: {e}", c.case_id));
        assert!(ids.insert(c.case_id.clone()), "{} twice", c.case_id);
        let day = march_day(c.report_time);
        assert_eq!(c.case_id.len(), "JL-20220309-000123".len(), "{}", c.case_id);
        assert!(
            c.case_id.starts_with(&format!("JL-202203{day:02}-")),
            "{}",
            c.case_id
        );
        assert_eq!(
            c.reporting_region,
            c.person.document.number[..6],
            "{}",
            c.case_id
        );
        assert_eq!(
            tree.get(&c.reporting_region).map(|r| r.level),
            Some(RegionLevel::District)
        );
        let home = c.residence_region.as_deref().expect("a residence");
        assert!(tree.is_within(home, &c.reporting_region), "{}", c.case_id);
        assert!(c.person.household_id.is_some() && c.person.address.is_some());
        let lead = c.report_time - c.sample_time.expect("a sample time");
        assert!(
            (6 * 3600..=30 * 3600).contains(&lead.num_seconds()),
            "{}",
            c.case_id
        );
        let confirmed_on = shanghai_date(c.reclassified_at.unwrap_or(c.report_time));
        match c.classification {
            Classification::Confirmed => {
                let onset = c.onset_date.expect("confirmed cases have an onset date");
                let before = (confirmed_on - onset).num_days();
                assert!(
                    (0..=3).contains(&before),
                    "{}: onset {before} days before",
                    c.case_id
                );
                assert!(onset >= shanghai_date(c.report_time) || c.reclassified_at.is_none());
                assert!(c.clinical_type.is_some());
            }
            Classification::Asymptomatic => {
                assert!(c.onset_date.is_none() && c.clinical_type.is_none())
            }
        }
        if let Some(at) = c.reclassified_at {
            assert!(
                march_day(at) > day,
                "{} reclassified on its report day",
                c.case_id
            );
            assert_eq!(c.origin, Origin::Local);
        }
        if let Some(t) = c.outcome_time {
            assert!(t <= end, "{} outcome after March", c.case_id);
            if c.outcome != Some(Outcome::Died) {
                assert!(
                    (shanghai_date(t) - confirmed_on).num_days() >= 9,
                    "{}",
                    c.case_id
                );
            }
        }
        assert_eq!(
            c.origin == Origin::Imported,
            c.discovery_channel == DiscoveryChannel::ArrivalTest
        );
    }
    let sorted = data
        .cases
        .windows(2)
        .all(|w| w[0].report_time <= w[1].report_time);
    assert!(sorted, "cases are ordered by report time");
}

fn shanghai_date_end() -> DateTime<Utc> {
    closedloop_domain::time::parse_instant("2022-03-31 23:59:59", chrono_tz::Asia::Shanghai)
        .unwrap()
}

#[test]
fn the_bulletin_recounted_from_the_cases_is_the_curve_times_the_scale() {
    for (data, scale) in [(default_data(), 0.1), (full_scale(), 1.0)] {
        assert_eq!(
            bulletin(&data.cases, |_| true),
            expected_bulletin(scale),
            "scale {scale}"
        );
    }
    let scale_03 = generate_without_movement(&DemoConfig {
        scale: 0.3,
        seed: 1,
    });
    assert_eq!(bulletin(&scale_03.cases, |_| true), expected_bulletin(0.3));
}

#[test]
fn the_curve_is_the_published_one_on_the_anchor_days() {
    let curve: HashMap<u32, (u32, u32)> = daily_local_counts()
        .iter()
        .map(|&(d, c, a)| (d, (c, a)))
        .collect();
    assert_eq!(curve.len(), 31);
    assert_eq!(curve[&9], (165, 179));
    assert_eq!(curve[&14], (3076, 991));
    assert_eq!(curve[&22], (2320, 528));
    assert_eq!(curve[&31], (1363, 871));
    assert!(
        curve.values().all(|&(c, _)| c <= 3076),
        "14 March is the peak"
    );
    assert!(
        (1..=4).all(|d| curve[&d].0 + curve[&d].1 < 20),
        "a small start"
    );
    assert!((23..=31)
        .all(|d| (1000..=2300).contains(&curve[&d].0) && (300..=1000).contains(&curve[&d].1)));
    let total: u32 = curve.values().map(|&(c, a)| c + a).sum();
    let cases = full_scale().cases.len() as u32;
    assert!(
        (30_000..60_000).contains(&cases) && cases < total,
        "{cases} cases, {total} counted"
    );
}

#[test]
fn about_one_in_fifteen_confirmed_is_a_reclassification() {
    assert_eq!(
        reclassified_on(&full_scale().cases, 9),
        12,
        "the published 12 on 9 March"
    );
    for data in [default_data(), full_scale()] {
        let local = data.cases.iter().filter(|c| c.origin == Origin::Local);
        let confirmed = local
            .clone()
            .filter(|c| c.classification == Classification::Confirmed)
            .count();
        let reclassified = local.filter(|c| c.reclassified_at.is_some()).count();
        let share = reclassified as f64 / confirmed as f64;
        assert!((0.05..=0.10).contains(&share), "{share}");
    }
}

#[test]
fn the_peak_on_14_march_is_mostly_jilin_city() {
    let jilin = bulletin(&default_data().cases, |c| in_city(c, "220200"))[&14];
    let all = bulletin(&default_data().cases, |_| true)[&14];
    assert!(jilin.0 as f64 > 0.8 * all.0 as f64, "{jilin:?} of {all:?}");
    assert!(jilin.1 as f64 > 0.95 * all.1 as f64, "{jilin:?} of {all:?}");
    // At full scale the published split by city comes out exactly.
    assert_eq!(
        bulletin(&full_scale().cases, |c| in_city(c, "220200"))[&14],
        (2601, 979)
    );
    // Changchun overtakes Jilin City by the end of the month.
    let late = |city: &str| {
        bulletin(&full_scale().cases, |c| in_city(c, city))
            .range(25..)
            .map(|(_, v)| v.0)
            .sum::<u32>()
    };
    assert!(late("220100") > late("220200"));
    let elsewhere = bulletin(&full_scale().cases, |c| {
        !in_city(c, "220100") && !in_city(c, "220200")
    });
    let elsewhere: u32 = elsewhere.values().map(|v| v.0 + v.1).sum();
    assert!(
        elsewhere > 100 && elsewhere < 2_000,
        "{elsewhere} cases in other prefectures"
    );
}

#[test]
fn late_cases_are_found_under_control_and_early_ones_in_the_community() {
    let share = |days: std::ops::RangeInclusive<u32>| {
        let picked: Vec<_> = full_scale()
            .cases
            .iter()
            .filter(|c| c.origin == Origin::Local && days.contains(&march_day(c.report_time)))
            .collect();
        let controlled = picked
            .iter()
            .filter(|c| c.discovery_channel.under_control())
            .count();
        let fever = picked
            .iter()
            .filter(|c| c.discovery_channel == DiscoveryChannel::FeverClinic)
            .count();
        (controlled as f64 / picked.len() as f64, fever)
    };
    let (early, early_fever) = share(1..=8);
    let (late, late_fever) = share(20..=31);
    assert!(early < 0.5, "{early}");
    assert!((0.7..=0.95).contains(&late), "{late}");
    assert!(early_fever > 0 && late_fever > 0);
}

#[test]
fn confirmed_cases_are_mostly_mild_and_early_ones_recover() {
    let data = full_scale();
    let confirmed: Vec<_> = data
        .cases
        .iter()
        .filter(|c| c.classification == Classification::Confirmed)
        .collect();
    let of = |t: ClinicalType| {
        confirmed
            .iter()
            .filter(|c| c.clinical_type == Some(t))
            .count() as f64
    };
    let n = confirmed.len() as f64;
    assert!((0.85..=0.95).contains(&(of(ClinicalType::Mild) / n)));
    assert!(of(ClinicalType::Moderate) / n > 0.03);
    assert!((of(ClinicalType::Severe) + of(ClinicalType::Critical)) / n < 0.01);
    let outcome = |o: Outcome| data.cases.iter().filter(|c| c.outcome == Some(o)).count();
    assert!(outcome(Outcome::Discharged) > 1000 && outcome(Outcome::Released) > 1000);
    assert_eq!(outcome(Outcome::Died), 2);
    let early: Vec<_> = data
        .cases
        .iter()
        .filter(|c| march_day(c.report_time) <= 10)
        .collect();
    let recovered =
        early.iter().filter(|c| c.outcome.is_some()).count() as f64 / early.len() as f64;
    assert!(recovered > 0.5, "{recovered}");
    let late_recovered = data
        .cases
        .iter()
        .filter(|c| march_day(c.report_time) >= 23 && c.outcome.is_some());
    assert_eq!(late_recovered.count(), 0);
}

#[test]
fn a_few_imported_cases_come_through_arrival_tests() {
    let imported = |d: &DemoData| {
        d.cases
            .iter()
            .filter(|c| c.origin == Origin::Imported)
            .count()
    };
    assert!((3..=10).contains(&imported(default_data())));
    assert!((3..=10).contains(&imported(full_scale())));
}

#[test]
fn background_residents_live_in_households_some_with_cases() {
    let data = default_data();
    let background = data
        .persons
        .iter()
        .filter(|p| p.household_id.is_some())
        .count();
    assert_eq!(background, 2_000);
    let mut households: HashMap<&str, Vec<&PersonDraft>> = HashMap::new();
    for p in all_people(data) {
        if let Some(h) = &p.household_id {
            households.entry(h).or_default().push(p);
        }
    }
    for (h, members) in &households {
        assert!(
            (1..=5).contains(&members.len()),
            "{h} has {}",
            members.len()
        );
        assert!(members
            .iter()
            .all(|m| m.address == members[0].address && m.region_code == members[0].region_code));
    }
    let case_households: HashSet<&str> = data
        .cases
        .iter()
        .filter_map(|c| c.person.household_id.as_deref())
        .collect();
    let with_cases = data
        .persons
        .iter()
        .filter(|p| {
            p.household_id
                .as_deref()
                .is_some_and(|h| case_households.contains(h))
        })
        .count();
    assert!(with_cases > 200 && with_cases < 1_500, "{with_cases}");
    let sizes: Vec<usize> = households.values().map(Vec::len).collect();
    assert!((1..=5).all(|n| sizes.contains(&n)));
}

#[test]
fn likely_duplicates_are_planted() {
    for (data, pairs) in [(default_data(), 5), (full_scale(), 5)] {
        let mut by_key: HashMap<String, Vec<&PersonDraft>> = HashMap::new();
        for p in all_people(data) {
            if let Some(k) = duplicate_key(&p.name, p.birth_date, p.phone.as_deref()) {
                by_key.entry(k).or_default().push(p);
            }
        }
        let groups: Vec<_> = by_key.values().filter(|v| v.len() > 1).collect();
        assert!(groups.len() >= pairs, "{} groups", groups.len());
        let kinds: HashSet<DocumentType> = groups
            .iter()
            .flat_map(|g| g.iter().map(|p| p.document.kind))
            .collect();
        assert!(kinds.contains(&DocumentType::Passport) && kinds.contains(&DocumentType::Other));
        assert!(groups.iter().any(|g| g
            .iter()
            .all(|p| p.document.kind == DocumentType::ResidentId)));
    }
    let bigger = generate_without_movement(&DemoConfig {
        scale: 2.0,
        seed: 3,
    });
    let mut keys = HashMap::new();
    for p in all_people(&bigger) {
        if let Some(k) = duplicate_key(&p.name, p.birth_date, p.phone.as_deref()) {
            *keys.entry(k).or_insert(0) += 1;
        }
    }
    assert!(keys.values().filter(|&&n| n > 1).count() >= 10);
}

#[test]
fn scale_zero_gives_the_regions_and_no_cases() {
    let data = generate(&DemoConfig {
        scale: 0.0,
        seed: 1,
    });
    assert!(data.cases.is_empty());
    assert_eq!(data.regions, default_data().regions);
    // The planted duplicates are people even at scale 0, and go out; nobody took a train.
    assert!(data.trips.is_empty());
    let people: HashSet<&str> = data
        .persons
        .iter()
        .map(|p| p.document.number.as_str())
        .collect();
    assert!(data
        .checkins
        .iter()
        .all(|c| people.contains(c.person_id.as_str())));
    assert!(data.venues.len() >= 60);
    let nan = generate(&DemoConfig {
        scale: f64::NAN,
        seed: 1,
    });
    assert!(nan.cases.is_empty());
}

/// FNV-1a over a canonical text of the regions, persons and cases, naming each
/// field so that a new field on a domain type does not change the fingerprint.
fn fingerprint(data: &DemoData) -> u64 {
    use std::fmt::Write;
    let mut text = String::new();
    for r in &data.regions {
        let _ = writeln!(
            text,
            "R|{}|{:?}|{}|{}|{}|{}",
            r.code,
            r.parent_code,
            r.level.as_str(),
            r.name_zh,
            r.name_en,
            r.population
        );
    }
    let person = |text: &mut String, p: &PersonDraft| {
        let _ = writeln!(
            text,
            "P|{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            p.document.kind.as_str(),
            p.document.number,
            p.name,
            p.sex.map(|s| s.as_str()),
            p.birth_date,
            p.phone,
            p.address,
            p.region_code,
            p.household_id
        );
    };
    for p in &data.persons {
        person(&mut text, p);
    }
    let ts = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp());
    for c in &data.cases {
        let _ = writeln!(
            text,
            "C|{}|{}|{:?}|{}|{}|{:?}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}",
            c.case_id,
            c.classification.as_str(),
            c.clinical_type.map(|t| t.as_str()),
            c.origin.as_str(),
            c.discovery_channel.as_str(),
            c.onset_date,
            ts(c.sample_time),
            c.report_time.timestamp(),
            c.reporting_region,
            c.residence_region,
            ts(c.reclassified_at),
            c.outcome.map(|o| o.as_str()),
            ts(c.outcome_time)
        );
        person(&mut text, &c.person);
    }
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn movement_data_leaves_regions_persons_and_cases_as_they_were() {
    // Recorded from the generator before it made venues, check-ins and trips:
    // movement draws from its own stream, so these must never move.
    assert_eq!(fingerprint(default_data()), 0xa567_5d1d_17ad_3cd4);
    assert_eq!(fingerprint(full_scale()), 0xda1e_20b1_8d76_b085);
    assert_eq!(
        (default_data().persons.len(), default_data().cases.len()),
        (2_005, 5_115)
    );
    // The tests that need only cases or persons at larger scales skip movement.
    let without = generate_without_movement(&DemoConfig::default());
    assert_eq!(fingerprint(&without), fingerprint(default_data()));
    assert_eq!(without.persons, default_data().persons);
    assert_eq!(without.cases, default_data().cases);
    assert!(without.venues.is_empty() && without.checkins.is_empty() && without.trips.is_empty());
}

/// Shanghai has no daylight saving: seconds since the epoch order instants.
fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn venues_by_id(data: &DemoData) -> HashMap<&str, &Venue> {
    data.venues
        .iter()
        .map(|v| (v.venue_id.as_str(), v))
        .collect()
}

/// When a stay ends for tracing: its check-out, or the venue type's typical stay.
fn stay_end(c: &CheckinDraft, venues: &HashMap<&str, &Venue>) -> i64 {
    c.check_out.map(secs).unwrap_or_else(|| {
        secs(c.check_in)
            + venues[c.venue_id.as_str()]
                .venue_type
                .typical_stay_minutes()
                * 60
    })
}

/// For every check-in, whether someone else was at the same venue at the same time.
fn overlapped(data: &DemoData) -> Vec<bool> {
    let venues = venues_by_id(data);
    let mut by_venue: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in data.checkins.iter().enumerate() {
        by_venue.entry(&c.venue_id).or_default().push(i);
    }
    let mut out = vec![false; data.checkins.len()];
    for list in by_venue.values() {
        // Check-ins are ordered by check-in, so each list is too.
        for (k, &i) in list.iter().enumerate() {
            let end = stay_end(&data.checkins[i], &venues);
            for &j in &list[k + 1..] {
                if secs(data.checkins[j].check_in) >= end {
                    break;
                }
                if data.checkins[j].person_id != data.checkins[i].person_id {
                    out[i] = true;
                    out[j] = true;
                }
            }
        }
    }
    out
}

#[test]
fn movement_data_is_deterministic_and_follows_the_seed() {
    let a = default_data();
    let b = generate(&DemoConfig::default());
    assert_eq!(a.venues, b.venues);
    assert_eq!(a.checkins, b.checkins);
    assert_eq!(a.trips, b.trips);
    let other = generate(&DemoConfig {
        seed: 2023,
        ..DemoConfig::default()
    });
    assert_ne!(a.checkins, other.checkins);
    assert_ne!(a.trips, other.trips);
}

#[test]
fn venues_are_valid_named_and_placed_in_districts_with_cases() {
    for (data, scale) in [(default_data(), 0.1), (full_scale(), 1.0)] {
        let tree = RegionTree::new(data.regions.iter().cloned());
        let expected = ((12_000.0 * scale) as usize).max(60);
        let n = data.venues.len();
        assert!(n >= expected && n <= expected + 10, "{n} venues at {scale}");
        let mut ids = HashSet::new();
        for v in &data.venues {
            v.check()
                .unwrap_or_else(|(f, e)| panic!("{} {f}: {e}", v.venue_id));
            assert!(ids.insert(v.venue_id.as_str()), "{} twice", v.venue_id);
            let region = v.region_code.as_deref().expect("a region");
            assert_eq!(
                tree.get(region).map(|r| r.level),
                Some(RegionLevel::District),
                "{}",
                v.venue_id
            );
            assert_eq!(v.venue_id.len(), "V-220202-0001".len(), "{}", v.venue_id);
            assert!(v.venue_id.starts_with(&format!("V-{region}-")));
            let (lat, lon) = (v.lat.expect("lat"), v.lon.expect("lon"));
            assert!((41.0..=46.0).contains(&lat) && (122.0..=131.0).contains(&lon));
            assert!(v.name.chars().count() >= 3, "{}", v.name);
        }
        let in_big_cities = data
            .venues
            .iter()
            .filter(|v| {
                let r = v.region_code.as_deref().unwrap_or_default();
                r.starts_with("2201") || r.starts_with("2202")
            })
            .count();
        assert!(in_big_cities * 10 >= n * 7, "{in_big_cities} of {n}");
        let districts_with_cases: HashSet<&str> = data
            .cases
            .iter()
            .map(|c| c.reporting_region.as_str())
            .collect();
        let districts_with_venues: HashSet<&str> = data
            .venues
            .iter()
            .filter_map(|v| v.region_code.as_deref())
            .collect();
        // Only the anchor ports and stations may stand where no case was reported.
        assert!(
            districts_with_venues
                .difference(&districts_with_cases)
                .count()
                <= 3
        );
        let canteen = data
            .venues
            .iter()
            .find(|v| v.name == "吉林农业大学第一食堂")
            .expect("the university canteen");
        assert_eq!(canteen.venue_type, VenueType::School);
        assert_eq!(canteen.region_code.as_deref(), Some("220102"));
        assert!(data.venues.iter().any(|v| v.name == "欧亚商都"));
    }
    let types: HashSet<VenueType> = full_scale().venues.iter().map(|v| v.venue_type).collect();
    for t in [
        VenueType::Workplace,
        VenueType::School,
        VenueType::Restaurant,
        VenueType::Supermarket,
        VenueType::Market,
        VenueType::Mall,
        VenueType::Transit,
        VenueType::Hospital,
    ] {
        assert!(types.contains(&t), "no {t:?}");
    }
    let names = |t: VenueType| {
        full_scale()
            .venues
            .iter()
            .filter(|v| v.venue_type == t)
            .count()
    };
    assert!(names(VenueType::Workplace) > names(VenueType::Mall));
}

#[test]
fn check_ins_are_valid_in_march_and_nobody_is_in_two_places_at_once() {
    let march_start = secs(
        closedloop_domain::time::parse_instant("2022-03-01 00:00:00", chrono_tz::Asia::Shanghai)
            .unwrap(),
    );
    let march_end = secs(shanghai_date_end());
    // Who was where is checked at the default scale; the full scale, with a
    // million check-ins, only record by record, to keep the debug tests quick.
    for (data, thorough) in [(default_data(), true), (full_scale(), false)] {
        let venues = venues_by_id(data);
        let people: HashSet<&str> = all_people(data)
            .filter(|_| thorough)
            .map(|p| p.document.number.as_str())
            .collect();
        let report: HashMap<&str, i64> = data
            .cases
            .iter()
            .filter(|_| thorough)
            .map(|c| (c.person.document.number.as_str(), secs(c.report_time)))
            .collect();
        let mut stays: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
        let mut open = 0;
        for c in &data.checkins {
            c.check()
                .unwrap_or_else(|(f, e)| panic!("{} {f}: {e}", c.person_id));
            assert!(venues.contains_key(c.venue_id.as_str()), "{}", c.venue_id);
            let (start, end) = (secs(c.check_in), stay_end(c, &venues));
            assert!(start < end, "{c:?}");
            assert!(start >= march_start && end <= march_end + 1, "{c:?}");
            open += usize::from(c.check_out.is_none());
            if !thorough {
                continue;
            }
            assert!(people.contains(c.person_id.as_str()), "{}", c.person_id);
            if let Some(report) = report.get(c.person_id.as_str()) {
                assert!(end <= *report, "a case out after its report: {c:?}");
            }
            stays.entry(&c.person_id).or_default().push((start, end));
        }
        let share = open as f64 / data.checkins.len() as f64;
        assert!((0.05..=0.15).contains(&share), "{share} without check-out");
        for (person, mut list) in stays {
            list.sort_unstable();
            assert!(
                list.windows(2).all(|w| w[0].1 <= w[1].0),
                "{person} in two places at once"
            );
        }
        assert!(data
            .checkins
            .windows(2)
            .all(|w| w[0].check_in <= w[1].check_in));
        let target = 25 * data.cases.len() + 5 * data.persons.len();
        let n = data.checkins.len();
        assert!(
            n * 10 >= target * 7 && n * 10 <= target * 13,
            "{n} check-ins, about {target} wanted"
        );
    }
}

#[test]
fn cases_have_stays_before_their_sample_and_others_were_there_with_them() {
    let data = default_data();
    let venues = venues_by_id(data);
    let overlapped = overlapped(data);
    let mut of_person: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in data.checkins.iter().enumerate() {
        of_person.entry(&c.person_id).or_default().push(i);
    }
    let (mut local, mut traced, mut with_contacts) = (0, 0, 0);
    for case in &data.cases {
        let mine = of_person
            .get(case.person.document.number.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        if case.origin == Origin::Imported {
            assert!(
                mine.iter()
                    .all(|&i| venues[data.checkins[i].venue_id.as_str()].venue_type
                        == VenueType::Transit),
                "{} was abroad before its arrival test",
                case.case_id
            );
            continue;
        }
        let sample = secs(case.sample_time.unwrap());
        if march_day(case.sample_time.unwrap()) < 5 {
            continue;
        }
        local += 1;
        let window: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&i| {
                let t = secs(data.checkins[i].check_in);
                (sample - 4 * 86_400..sample).contains(&t)
            })
            .collect();
        if window.len() >= 3 {
            traced += 1;
        }
        if window.iter().any(|&i| overlapped[i]) {
            with_contacts += 1;
        }
    }
    assert!(traced * 10 >= local * 9, "{traced} of {local} traced");
    assert!(
        with_contacts * 10 >= local * 8,
        "{with_contacts} of {local} met someone"
    );
    // Contacts are household members, residents and later cases alike.
    let cases: HashSet<&str> = data
        .cases
        .iter()
        .map(|c| c.person.document.number.as_str())
        .collect();
    let met_persons = data
        .checkins
        .iter()
        .zip(&overlapped)
        .filter(|(c, &o)| o && !cases.contains(c.person_id.as_str()))
        .count();
    assert!(met_persons > 1_000, "{met_persons}");
    // Not everything overlaps: residents' everyday stays are mostly alone.
    let alone = overlapped.iter().filter(|&&o| !o).count();
    assert!(alone > 1_000, "{alone} stays alone");
}

#[test]
fn a_few_venues_are_crowded_on_a_few_days() {
    let data = default_data();
    let venues = venues_by_id(data);
    let mut peak: HashMap<(&str, NaiveDate), usize> = HashMap::new();
    let mut events: HashMap<(&str, NaiveDate), Vec<(i64, i32)>> = HashMap::new();
    for c in &data.checkins {
        let key = (c.venue_id.as_str(), shanghai_date(c.check_in));
        let e = events.entry(key).or_default();
        e.push((secs(c.check_in), 1));
        e.push((stay_end(c, &venues), -1));
    }
    for (key, mut e) in events {
        e.sort_unstable();
        let mut now = 0i32;
        let mut most = 0;
        for (_, d) in e {
            now += d;
            most = most.max(now);
        }
        peak.insert(key, most as usize);
    }
    let crowded: Vec<_> = peak.iter().filter(|(_, &n)| n >= 24).collect();
    assert!(crowded.len() >= 3, "{crowded:?}");
    let names: HashSet<&str> = crowded
        .iter()
        .map(|((v, _), _)| venues[v].name.as_str())
        .collect();
    assert!(names.contains("欧亚商都"), "{names:?}");
}

#[test]
fn trains_carry_cases_near_and_far_from_others() {
    let data = default_data();
    let people: HashSet<&str> = all_people(data)
        .map(|p| p.document.number.as_str())
        .collect();
    let cases: HashSet<&str> = data
        .cases
        .iter()
        .map(|c| c.person.document.number.as_str())
        .collect();
    let mut trips: BTreeMap<&str, Vec<&TripSeat>> = BTreeMap::new();
    for s in &data.trips {
        assert!(people.contains(s.person_id.as_str()), "{}", s.person_id);
        let (train, date) = s.trip_id.split_once('-').expect("train-date");
        assert!(train.starts_with(['G', 'D', 'C']) && train.len() >= 2);
        assert!(
            date.starts_with("202203") && date.len() == 8,
            "{}",
            s.trip_id
        );
        assert!(
            s.carriage.len() == 2 && s.carriage.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            s.carriage
        );
        assert!(s.seat_row.is_none_or(|r| (1..=20).contains(&r)));
        trips.entry(&s.trip_id).or_default().push(s);
    }
    assert!((3..=8).contains(&trips.len()), "{} trips", trips.len());
    for (trip, seats) in &trips {
        let ids: HashSet<&str> = seats.iter().map(|s| s.person_id.as_str()).collect();
        assert_eq!(ids.len(), seats.len(), "someone twice on {trip}");
        let near_a_case = |near: bool| {
            seats.iter().any(|a| {
                cases.contains(a.person_id.as_str())
                    && seats.iter().any(|b| {
                        let gap = match (a.seat_row, b.seat_row) {
                            (Some(x), Some(y)) => (x - y).abs(),
                            _ => return false,
                        };
                        b.person_id != a.person_id
                            && b.carriage == a.carriage
                            && if near { gap <= 3 } else { gap >= 8 }
                    })
            })
        };
        assert!(near_a_case(true), "nobody near a case on {trip}");
        assert!(near_a_case(false), "nobody far from a case on {trip}");
    }
}
