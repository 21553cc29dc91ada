//! Crowd caps and sizes (`Tracer::set_crowd_cap`, `Tracer::sizes`) against a
//! brute-force reading of the rule on random small cities: an exposure with
//! more than `cap` qualifying stays of others (not the source, not a case)
//! makes no contacts, only venue-exposed people.

use closedloop_trace::{
    CaseInput, Contact, Ids, Rules, SecondaryMode, Sizes, Stay, StayIndex, Stays, Tracer,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

type Raw = (u32, u32, i64, i64); // person, venue, in, out

/// person -> (first exposure, via, sources)
type Found = BTreeMap<u32, (i64, u32, BTreeSet<u32>)>;

struct Reference {
    contacts: Vec<(u32, u8, i64, u32, u32)>,
    venue_exposed: usize,
}

#[allow(clippy::too_many_arguments)]
fn exposures(
    stays: &[Raw],
    source: u32,
    window: (i64, i64),
    rules: &Rules,
    cap: Option<u32>,
    is_case: &dyn Fn(u32) -> bool,
    eligible: &dyn Fn(u32) -> bool,
    rank: &dyn Fn(u32) -> u32,
    found: &mut Found,
    exposed: &mut BTreeSet<u32>,
) {
    let min = rules.min_overlap.max(1);
    for &(sp, sv, sin, sout) in stays {
        if sp != source || sout.min(window.1) - sin.max(window.0) <= 0 {
            continue;
        }
        let (es, ee) = (sin.max(window.0), sout.min(window.1) + rules.buffer);
        let hits: Vec<(u32, i64)> = stays
            .iter()
            .filter(|&&(p, v, pin, pout)| {
                v == sv && p != source && !is_case(p) && pout.min(ee) - pin.max(es) >= min
            })
            .map(|&(p, _, pin, _)| (p, pin.max(es)))
            .collect();
        let crowded = cap.is_some_and(|c| hits.len() > c as usize);
        for (p, t) in hits {
            if !eligible(p) {
                continue;
            }
            if crowded {
                exposed.insert(p);
                continue;
            }
            let e = found.entry(p).or_insert((t, source, BTreeSet::new()));
            if (t, rank(source)) < (e.0, rank(e.1)) {
                e.0 = t;
                e.1 = source;
            }
            e.2.insert(source);
        }
    }
}

fn reference(
    stays: &[Raw],
    cases: &[CaseInput],
    rules: &Rules,
    as_of: i64,
    secondary: bool,
    cap: Option<u32>,
    ids: &Ids,
) -> Reference {
    let case_set: BTreeSet<u32> = cases.iter().map(|c| c.person).collect();
    let is_case = |p: u32| case_set.contains(&p);
    let names: Vec<u32> = {
        let mut all: Vec<u32> = (0..ids.len() as u32).collect();
        all.sort_by(|a, b| ids.name(*a).cmp(ids.name(*b)));
        let mut rank = vec![0; all.len()];
        for (r, &p) in all.iter().enumerate() {
            rank[p as usize] = r as u32;
        }
        rank
    };
    let rank = |p: u32| names[p as usize];
    let mut close = Found::new();
    let mut exposed = BTreeSet::new();
    for c in cases {
        let window = (
            c.reference_time - rules.lookback,
            c.isolated_at.unwrap_or(as_of),
        );
        exposures(
            stays,
            c.person,
            window,
            rules,
            cap,
            &is_case,
            &|_| true,
            &rank,
            &mut close,
            &mut exposed,
        );
    }
    let mut second = Found::new();
    if secondary {
        let close_set: BTreeSet<u32> = close.keys().copied().collect();
        for (&k, &(first, _, _)) in &close {
            exposures(
                stays,
                k,
                (first, as_of),
                rules,
                cap,
                &is_case,
                &|p| !close_set.contains(&p),
                &rank,
                &mut second,
                &mut exposed,
            );
        }
    }
    let mut contacts: Vec<(u32, u8, i64, u32, u32)> = close
        .iter()
        .map(|(&p, (t, via, s))| (p, 1, *t, *via, s.len() as u32))
        .chain(
            second
                .iter()
                .map(|(&p, (t, via, s))| (p, 2, *t, *via, s.len() as u32)),
        )
        .collect();
    contacts.sort_by(|a, b| ids.name(a.0).cmp(ids.name(b.0)));
    let venue_exposed = exposed
        .iter()
        .filter(|p| !close.contains_key(p) && !second.contains_key(p))
        .count();
    Reference {
        contacts,
        venue_exposed,
    }
}

fn tuples(contacts: &[Contact]) -> Vec<(u32, u8, i64, u32, u32)> {
    contacts
        .iter()
        .map(|c| (c.person, c.degree, c.first_exposure, c.via, c.sources))
        .collect()
}

/// Stays, cases (person, reference time, isolated after), rules, cap, secondary.
type City = (Vec<Raw>, Vec<(u32, i64, Option<i64>)>, Rules, u32, bool);

fn city() -> impl Strategy<Value = City> {
    (
        prop::collection::vec(
            (0u32..40, 0u32..5, 0i64..2000, 0i64..500)
                .prop_map(|(p, v, cin, d)| (p, v, cin, cin + d)),
            1..150,
        ),
        prop::collection::vec((0u32..40, 0i64..2500, prop::option::of(0i64..800)), 1..4),
        (0i64..600, 0i64..60, 0i64..40).prop_map(|(lookback, buffer, min_overlap)| Rules {
            lookback,
            buffer,
            min_overlap,
        }),
        0u32..8,
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn crowd_caps_match_the_rule((stays, cases, rules, cap, secondary) in city()) {
        let mut ids = Ids::new();
        for p in 0..40 {
            ids.intern(&format!("P{:02}", (p * 17) % 41)).unwrap();
        }
        let list: Vec<Stay> = stays
            .iter()
            .map(|&(person, venue, check_in, check_out)| Stay { person, venue, check_in, check_out })
            .collect();
        let index = StayIndex::build(Stays::try_from(list).unwrap());
        let cases: Vec<CaseInput> = cases
            .iter()
            .map(|&(person, reference_time, iso)| CaseInput {
                person,
                reference_time,
                isolated_at: iso.map(|d| reference_time + d),
            })
            .collect();
        let as_of = 2600;
        for cap in [None, Some(cap)] {
            let want = reference(&stays, &cases, &rules, as_of, secondary, cap, &ids);
            for (mode, split) in [
                (SecondaryMode::Auto, false),
                (SecondaryMode::BySource, false),
                (SecondaryMode::ByTarget, false),
                (SecondaryMode::BySource, true),
                (SecondaryMode::ByTarget, true),
            ] {
                // Splitting the close contacts over two threads (only without a cap).
                let mut tracer = Tracer::with_strategy(mode).with_split(split);
                tracer.set_crowd_cap(cap);
                let got = tracer.trace(&index, &ids, &cases, &rules, as_of, secondary);
                prop_assert_eq!(&tuples(&got), &want.contacts, "{:?} {:?} {}", cap, mode, split);
                prop_assert_eq!(tracer.venue_exposed(), want.venue_exposed);
                let sizes = tracer.sizes(&index, &ids, &cases, &rules, as_of, secondary);
                let close = want.contacts.iter().filter(|c| c.1 == 1).count();
                prop_assert_eq!(sizes, Sizes {
                    close,
                    secondary: want.contacts.len() - close,
                    venue_exposed: want.venue_exposed,
                }, "{:?} {:?}", cap, mode);
                // The same tracer, again: nothing leaks from one run to the next.
                let again = tracer.trace(&index, &ids, &cases, &rules, as_of, secondary);
                prop_assert_eq!(tuples(&again), tuples(&got));
            }
        }
    }
}
