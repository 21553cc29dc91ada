//! The engine against the rules: hand-checked cases for each rule, then random
//! small cities compared field by field with a brute-force reading of the
//! rules that loops over every pair of stays.

use closedloop_trace::{
    count, trace, CaseInput, Contact, Counts, Ids, PrimaryMode, Rules, SecondaryMode, Stay,
    StayIndex, Stays, Tracer,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// A contact as the output file shows it: names instead of numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    person: String,
    degree: u8,
    first_exposure: i64,
    via: String,
    sources: u32,
}

/// A small city described with names.
#[derive(Debug, Clone)]
struct City {
    /// (person, venue, check_in, check_out)
    stays: Vec<(String, u32, i64, i64)>,
    /// (person, reference_time, isolated_at)
    cases: Vec<(String, i64, Option<i64>)>,
    rules: Rules,
    as_of: i64,
    secondary: bool,
}

fn rows(contacts: &[Contact], ids: &Ids) -> Vec<Row> {
    contacts
        .iter()
        .map(|c| Row {
            person: ids.name(c.person).to_string(),
            degree: c.degree,
            first_exposure: c.first_exposure,
            via: ids.name(c.via).to_string(),
            sources: c.sources,
        })
        .collect()
}

fn run(city: &City) -> (Vec<Row>, Counts) {
    let mut ids = Ids::new();
    let mut stays = Stays::new();
    for (p, v, cin, cout) in &city.stays {
        let person = ids.intern(p).unwrap();
        stays
            .push(Stay {
                person,
                venue: *v,
                check_in: *cin,
                check_out: *cout,
            })
            .unwrap();
    }
    let cases: Vec<CaseInput> = city
        .cases
        .iter()
        .map(|(p, r, i)| CaseInput {
            person: ids.intern(p).unwrap(),
            reference_time: *r,
            isolated_at: *i,
        })
        .collect();
    let index = StayIndex::build(stays);
    let contacts = trace(
        &index,
        &ids,
        &cases,
        &city.rules,
        city.as_of,
        city.secondary,
    );
    let counts = count(
        &index,
        &ids,
        &cases,
        &city.rules,
        city.as_of,
        city.secondary,
    );
    // Both ways of finding secondary contacts give the same answer.
    for mode in [SecondaryMode::BySource, SecondaryMode::ByTarget] {
        let forced = Tracer::with_strategy(mode).trace(
            &index,
            &ids,
            &cases,
            &city.rules,
            city.as_of,
            city.secondary,
        );
        assert_eq!(rows(&forced, &ids), rows(&contacts, &ids), "{mode:?}");
    }
    // Both reductions of the close contacts, each sorted by names and by
    // precomputed ranks, on one warm tracer (each run must leave it clean).
    let ranks = ids.ranks();
    for (primary, split) in [
        (PrimaryMode::Buckets, false),
        (PrimaryMode::Slots, false),
        (PrimaryMode::TinyBuckets, false),
        (PrimaryMode::TinyBuckets, true),
        (PrimaryMode::Buckets, true),
    ] {
        let mut tracer = Tracer::new().with_primary(primary).with_split(split);
        // Stale content, which a run into it must replace.
        let mut kept: Vec<Contact> = contacts.iter().rev().chain(&contacts).copied().collect();
        for _ in 0..2 {
            let by_name = tracer.trace(
                &index,
                &ids,
                &cases,
                &city.rules,
                city.as_of,
                city.secondary,
            );
            assert_eq!(by_name, contacts, "{primary:?} by name");
            let by_rank = tracer.trace(
                &index,
                &ranks,
                &cases,
                &city.rules,
                city.as_of,
                city.secondary,
            );
            assert_eq!(by_rank, contacts, "{primary:?} by rank");
            // Into a list kept from the run before.
            tracer.trace_into(
                &index,
                &ranks,
                &cases,
                &city.rules,
                city.as_of,
                city.secondary,
                &mut kept,
            );
            assert_eq!(kept, contacts, "{primary:?} into a kept list");
            let counted = tracer.count(
                &index,
                &ranks,
                &cases,
                &city.rules,
                city.as_of,
                city.secondary,
            );
            assert_eq!(counted, counts, "{primary:?} count");
        }
    }
    (rows(&contacts, &ids), counts)
}

/// The rules, read literally: every case stay against every stay.
fn reference(city: &City) -> Vec<Row> {
    let Rules {
        lookback,
        buffer,
        min_overlap,
    } = city.rules;
    let cases: BTreeSet<&str> = city.cases.iter().map(|c| c.0.as_str()).collect();
    // person -> (first exposure, sources that reached them at that time, all sources)
    type Found<'a> = BTreeMap<&'a str, (i64, BTreeSet<&'a str>, BTreeSet<&'a str>)>;
    fn reach<'a>(
        stays: &'a [(String, u32, i64, i64)],
        source: &'a str,
        window: (i64, i64),
        buffer: i64,
        min_overlap: i64,
        excluded: &dyn Fn(&str) -> bool,
        found: &mut Found<'a>,
    ) {
        for (sp, sv, sin, sout) in stays {
            if sp != source || sout.min(&window.1) - sin.max(&window.0) <= 0 {
                continue;
            }
            let exposure = (*sin.max(&window.0), sout.min(&window.1) + buffer);
            for (p, v, pin, pout) in stays {
                if v != sv || excluded(p) {
                    continue;
                }
                let overlap = pout.min(&exposure.1) - pin.max(&exposure.0);
                if overlap > 0 && overlap >= min_overlap {
                    let t = *pin.max(&exposure.0);
                    let e =
                        found
                            .entry(p.as_str())
                            .or_insert((t, BTreeSet::new(), BTreeSet::new()));
                    if t < e.0 {
                        *e = (t, BTreeSet::new(), std::mem::take(&mut e.2));
                    }
                    if t == e.0 {
                        e.1.insert(source);
                    }
                    e.2.insert(source);
                }
            }
        }
    }
    let mut close: Found = BTreeMap::new();
    for (c, reference_time, isolated_at) in &city.cases {
        let window = (reference_time - lookback, isolated_at.unwrap_or(city.as_of));
        reach(
            &city.stays,
            c,
            window,
            buffer,
            min_overlap,
            &|p| cases.contains(p),
            &mut close,
        );
    }
    let mut second: Found = BTreeMap::new();
    if city.secondary {
        for (c, (first, _, _)) in &close {
            reach(
                &city.stays,
                c,
                (*first, city.as_of),
                buffer,
                min_overlap,
                &|p| cases.contains(p) || close.contains_key(p),
                &mut second,
            );
        }
    }
    let mut out: Vec<Row> = close
        .iter()
        .map(|f| (1, f))
        .chain(second.iter().map(|f| (2, f)))
        .map(|(degree, (p, (first, at_first, all)))| Row {
            person: p.to_string(),
            degree,
            first_exposure: *first,
            via: at_first
                .iter()
                .next()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            sources: all.len() as u32,
        })
        .collect();
    out.sort_by(|a, b| a.person.as_bytes().cmp(b.person.as_bytes()));
    out
}

fn check(city: &City) {
    let (got, counts) = run(city);
    let want = reference(city);
    assert_eq!(got, want, "{city:#?}");
    let close = want.iter().filter(|r| r.degree == 1).count();
    assert_eq!(
        counts,
        Counts {
            close,
            secondary: want.len() - close
        }
    );
}

const H: i64 = 3600;
const T0: i64 = 1_646_092_800; // 2022-03-01T00:00:00Z

fn rules(lookback: i64, buffer: i64, min_overlap: i64) -> Rules {
    Rules {
        lookback,
        buffer,
        min_overlap,
    }
}

fn s(p: &str, v: u32, cin: i64, cout: i64) -> (String, u32, i64, i64) {
    (p.to_string(), v, T0 + cin, T0 + cout)
}

fn case(p: &str, reference_time: i64, isolated_at: Option<i64>) -> (String, i64, Option<i64>) {
    (
        p.to_string(),
        T0 + reference_time,
        isolated_at.map(|t| T0 + t),
    )
}

fn row(person: &str, degree: u8, first: i64, via: &str, sources: u32) -> Row {
    Row {
        person: person.into(),
        degree,
        first_exposure: T0 + first,
        via: via.into(),
        sources,
    }
}

fn city(
    stays: Vec<(String, u32, i64, i64)>,
    cases: Vec<(String, i64, Option<i64>)>,
    r: Rules,
) -> City {
    City {
        stays,
        cases,
        rules: r,
        as_of: T0 + 100 * H,
        secondary: false,
    }
}

fn expect(c: &City, want: Vec<Row>) {
    check(c);
    assert_eq!(run(c).0, want);
}

#[test]
fn an_overlap_makes_a_close_contact_exposed_when_both_were_there() {
    let c = city(
        vec![
            s("case", 1, 10 * H, 12 * H),
            s("a", 1, 11 * H, 15 * H),
            s("b", 1, 9 * H, 10 * H + 60),
        ],
        vec![case("case", 20 * H, None)],
        rules(48 * H, 0, 0),
    );
    expect(
        &c,
        vec![
            row("a", 1, 11 * H, "case", 1),
            row("b", 1, 10 * H, "case", 1),
        ],
    );
}

#[test]
fn touching_is_not_overlapping_but_the_buffer_extends_the_case_stay() {
    let stays = vec![
        s("case", 1, 10 * H, 11 * H),
        s("after", 1, 11 * H, 12 * H),
        s("before", 1, 9 * H, 10 * H),
    ];
    let cases = vec![case("case", 20 * H, None)];
    expect(
        &city(stays.clone(), cases.clone(), rules(48 * H, 0, 0)),
        vec![],
    );
    // Arriving at 11:00 with a 30-minute buffer: 30 minutes of overlap, exposed at 11:00.
    expect(
        &city(stays.clone(), cases.clone(), rules(48 * H, 1800, 0)),
        vec![row("after", 1, 11 * H, "case", 1)],
    );
    // The buffer never reaches back: leaving at the case's arrival is no contact.
    expect(
        &city(stays, cases, rules(48 * H, 5 * H, 0)),
        vec![row("after", 1, 11 * H, "case", 1)],
    );
}

#[test]
fn zero_length_stays_never_count() {
    let c = city(
        vec![
            s("case", 1, 10 * H, 10 * H),
            s("a", 1, 9 * H, 12 * H),
            s("case2", 2, 10 * H, 12 * H),
            s("b", 2, 11 * H, 11 * H),
        ],
        vec![case("case", 20 * H, None), case("case2", 20 * H, None)],
        rules(48 * H, 3600, 0),
    );
    expect(&c, vec![]);
}

#[test]
fn the_window_clips_case_stays_at_both_ends() {
    // Window [20h − 10h, 30h]: the stay 8h–12h counts from 10h, the stay 29h–33h until 30h (+ buffer).
    let c = city(
        vec![
            s("case", 1, 8 * H, 12 * H),
            s("early", 1, 8 * H, 9 * H + 3000),
            s("morning", 1, 9 * H, 11 * H),
            s("case", 2, 29 * H, 33 * H),
            s("evening", 2, 30 * H + 600, 31 * H),
            s("late", 2, 31 * H, 32 * H),
        ],
        vec![case("case", 20 * H, Some(30 * H))],
        rules(10 * H, 1200, 0),
    );
    expect(
        &c,
        vec![
            row("evening", 1, 30 * H + 600, "case", 1),
            row("morning", 1, 10 * H, "case", 1),
        ],
    );
}

#[test]
fn isolation_before_the_window_opens_leaves_it_empty() {
    let c = city(
        vec![s("case", 1, 0, 100 * H), s("a", 1, 0, 100 * H)],
        vec![case("case", 50 * H, Some(10 * H))],
        rules(2 * H, 1800, 0),
    );
    expect(&c, vec![]);
}

#[test]
fn the_minimum_overlap_is_inclusive() {
    let stays = vec![
        s("case", 1, 10 * H, 11 * H),
        s("exact", 1, 10 * H + 2700, 12 * H),
        s("short", 1, 10 * H + 2701, 12 * H),
    ];
    let c = city(
        stays,
        vec![case("case", 20 * H, None)],
        rules(48 * H, 0, 900),
    );
    expect(&c, vec![row("exact", 1, 10 * H + 2700, "case", 1)]);
}

#[test]
fn ties_go_to_the_smallest_id_in_byte_order_and_sources_are_distinct() {
    // "c10" < "c9" in byte order although 9 < 10.
    let c = city(
        vec![
            s("c9", 1, 10 * H, 11 * H),
            s("c10", 1, 10 * H, 11 * H),
            s("c10", 1, 10 * H + 60, 11 * H),
            s("c9", 2, 0, H),
            s("x", 1, 10 * H, 10 * H + 900),
            s("x", 2, 0, H),
        ],
        vec![case("c9", 20 * H, None), case("c10", 20 * H, None)],
        rules(48 * H, 0, 0),
    );
    expect(&c, vec![row("x", 1, 0, "c9", 2)]);
    let c = City {
        stays: c.stays.into_iter().filter(|s| s.1 == 1).collect(),
        ..c
    };
    expect(&c, vec![row("x", 1, 10 * H, "c10", 2)]);
}

#[test]
fn cases_are_never_contacts_and_lonely_venues_find_no_one() {
    let c = city(
        vec![
            s("a", 1, 10 * H, 11 * H),
            s("b", 1, 10 * H, 11 * H),
            s("a", 7, 0, 5 * H),
        ],
        vec![
            case("a", 20 * H, None),
            case("b", 20 * H, None),
            case("nobody-knows", 20 * H, None),
        ],
        rules(48 * H, 1800, 0),
    );
    expect(&c, vec![]);
}

#[test]
fn secondary_contacts_follow_close_contacts_from_their_first_exposure() {
    let mut c = city(
        vec![
            s("case", 1, 10 * H, 11 * H),
            s("close", 1, 10 * H + 1800, 12 * H),
            // Before the close contact's first exposure: not counted.
            s("close", 2, 8 * H, 9 * H),
            s("too-early", 2, 8 * H, 9 * H),
            // After it: the secondary contact.
            s("close", 3, 20 * H, 21 * H),
            s("second", 3, 20 * H + 600, 22 * H),
            s("case", 3, 20 * H, 22 * H),
            // Another close contact meeting the first one is not secondary.
            s("close2", 1, 9 * H, 10 * H + 60),
            s("close2", 3, 20 * H, 20 * H + 700),
            s("second", 4, 30 * H, 31 * H),
            s("close2", 4, 30 * H, 31 * H),
            // After as_of: not counted.
            s("close", 5, 99 * H, 120 * H),
            s("beyond", 5, 100 * H, 120 * H),
        ],
        vec![case("case", 10 * H + 1800, Some(11 * H))],
        rules(48 * H, 0, 0),
    );
    c.secondary = true;
    expect(
        &c,
        vec![
            row("close", 1, 10 * H + 1800, "case", 1),
            row("close2", 1, 10 * H, "case", 1),
            row("second", 2, 20 * H + 600, "close", 2),
        ],
    );
}

#[test]
fn a_tracer_is_reusable() {
    let stays = vec![
        Stay {
            person: 0,
            venue: 0,
            check_in: T0,
            check_out: T0 + H,
        },
        Stay {
            person: 1,
            venue: 0,
            check_in: T0,
            check_out: T0 + H,
        },
        Stay {
            person: 2,
            venue: 1,
            check_in: T0,
            check_out: T0 + H,
        },
        Stay {
            person: 1,
            venue: 1,
            check_in: T0,
            check_out: T0 + H,
        },
    ];
    let mut ids = Ids::new();
    for n in ["a", "b", "c"] {
        ids.intern(n).unwrap();
    }
    let index = StayIndex::build(Stays::try_from(stays).unwrap());
    let r = rules(48 * H, 0, 0);
    let mut tracer = Tracer::new();
    let case = |p| {
        [CaseInput {
            person: p,
            reference_time: T0 + H,
            isolated_at: None,
        }]
    };
    for _ in 0..3 {
        for p in 0..3 {
            let warm = tracer.trace(&index, &ids, &case(p), &r, T0 + 2 * H, true);
            assert_eq!(warm, trace(&index, &ids, &case(p), &r, T0 + 2 * H, true));
            assert_eq!(warm.len(), 2);
        }
    }
}

/// Small random cities: few people, venues and minutes, so that touching
/// intervals, zero-length stays, ties and crowded venues are common.
fn arb_city() -> impl Strategy<Value = City> {
    let names: Vec<&str> = vec![
        "a", "b", "c", "d", "e", "f", "g", "aa", "b1", "b10", "b9", "z",
    ];
    let name = proptest::sample::select(names);
    let stay = (
        name.clone(),
        0u32..4,
        0i64..120,
        prop_oneof![Just(0i64), 0i64..40, 0i64..200],
    );
    let case = (
        name,
        0i64..200,
        prop_oneof![Just(None), (0i64..200).prop_map(Some)],
    );
    (
        proptest::collection::vec(stay, 0..40),
        proptest::collection::vec(case, 0..4),
        (
            0i64..100,
            prop_oneof![Just(0i64), 0i64..40],
            prop_oneof![Just(0i64), 0i64..30],
        ),
        0i64..250,
        any::<bool>(),
    )
        .prop_map(
            |(stays, cases, (lookback, buffer, min_overlap), as_of, secondary)| City {
                stays: stays
                    .into_iter()
                    .map(|(p, v, cin, d)| (p.to_string(), v, T0 + cin, T0 + cin + d))
                    .collect(),
                cases: cases
                    .into_iter()
                    .map(|(p, r, i)| (p.to_string(), T0 + r, i.map(|i| T0 + i)))
                    .collect(),
                rules: Rules {
                    lookback,
                    buffer,
                    min_overlap,
                },
                as_of: T0 + as_of,
                secondary,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_engine_agrees_with_the_rules(city in arb_city()) {
        let (got, counts) = run(&city);
        let want = reference(&city);
        prop_assert_eq!(&got, &want);
        let close = want.iter().filter(|r| r.degree == 1).count();
        prop_assert_eq!(counts, Counts { close, secondary: want.len() - close });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Stays longer than a duration class, at one crowded venue, with long
    /// shifts among short visits.
    #[test]
    fn crowded_venues_with_mixed_durations(
        stays in proptest::collection::vec((0u32..60, 0i64..40_000, prop_oneof![0i64..300, 0i64..5000, 0i64..30_000]), 1..160),
        cases in proptest::collection::vec((0u32..60, 0i64..40_000, prop_oneof![Just(None), (0i64..40_000).prop_map(Some)]), 1..5),
        lookback in 0i64..20_000,
        buffer in 0i64..3000,
        min_overlap in prop_oneof![Just(0i64), 0i64..2000],
    ) {
        let city = City {
            stays: stays.into_iter().map(|(p, cin, d)| (format!("p{p}"), 0, T0 + cin, T0 + cin + d)).collect(),
            cases: cases.into_iter().map(|(p, r, i)| (format!("p{p}"), T0 + r, i.map(|i| T0 + i))).collect(),
            rules: Rules { lookback, buffer, min_overlap },
            as_of: T0 + 45_000,
            secondary: true,
        };
        let (got, _) = run(&city);
        prop_assert_eq!(got, reference(&city));
    }
}

/// A city large enough for the threaded paths of the build and of secondary
/// tracing: the same answers whatever the input order and the path taken,
/// and the close contacts of the rules read literally.
#[test]
fn a_large_city_gives_the_same_answers_on_every_path() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let people = 30_000u64;
    let mut stays: Vec<(String, u32, i64, i64)> = Vec::new();
    for p in 0..people {
        let work = next(400) as u32;
        for day in 0..10 {
            let t = T0 + day * 86_400;
            if next(3) > 0 {
                let start = t + 8 * H + next(3600) as i64;
                stays.push((
                    format!("p{p}"),
                    work,
                    start,
                    start + 8 * H - next(7200) as i64,
                ));
            }
            let shop = 400 + next(100) as u32;
            let start = t + 18 * H + next(4 * 3600) as i64;
            stays.push((format!("p{p}"), shop, start, start + next(5400) as i64));
        }
    }
    let mut shuffled = stays.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, next(i as u64 + 1) as usize);
    }
    stays.sort_by_key(|s| s.2);
    assert!(stays.len() > 1 << 18);
    let cases: Vec<(String, i64, Option<i64>)> = (0..12)
        .map(|k| {
            (
                format!("p{}", next(people)),
                T0 + (3 + k % 5) * 86_400,
                None,
            )
        })
        .collect();
    let city = |stays: Vec<(String, u32, i64, i64)>| City {
        stays,
        cases: cases.clone(),
        rules: rules(2 * 86_400, 1800, 600),
        as_of: T0 + 10 * 86_400,
        secondary: true,
    };
    // Time-ordered and shuffled input, each on both secondary paths (in `run`).
    let (sorted, _) = run(&city(stays.clone()));
    let (mixed, _) = run(&city(shuffled));
    assert_eq!(sorted, mixed);
    assert!(sorted.iter().filter(|r| r.degree == 2).count() > 1000);
    // Close contacts against the literal rules (secondary ones are compared
    // on small cities: the literal reading is quadratic).
    let primary = City {
        secondary: false,
        ..city(stays)
    };
    let want = reference(&primary);
    let got: Vec<Row> = sorted.into_iter().filter(|r| r.degree == 1).collect();
    assert_eq!(got, want);
}
