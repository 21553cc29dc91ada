//! `StayIndex::extend` against `StayIndex::build`: an index built from some
//! stays and extended with the rest, batch by batch (new people and venues
//! included), answers every query as one built from all the stays at once.

use closedloop_trace::{
    trace, CaseInput, Ids, Rules, SecondaryMode, Stay, StayIndex, Stays, Tracer,
};
use proptest::prelude::*;

fn stays(list: &[Stay]) -> Stays {
    Stays::try_from(list.to_vec()).unwrap()
}

/// Everything a query can tell about two indexes, compared.
fn assert_same(got: &StayIndex, want: &StayIndex, all: &[Stay], ids: &Ids, queries: &[Query]) {
    assert_eq!(got.len(), want.len());
    assert_eq!(got.is_empty(), want.is_empty());
    assert_eq!(got.people(), want.people());
    assert_eq!(got.venues(), want.venues());
    assert_eq!(got.latest_check_out(), want.latest_check_out());
    for p in 0..want.people() as u32 + 2 {
        let mut a: Vec<Stay> = got.stays_of(p).collect();
        let mut b: Vec<Stay> = want.stays_of(p).collect();
        a.sort_by_key(|s| (s.venue, s.check_in, s.check_out));
        b.sort_by_key(|s| (s.venue, s.check_in, s.check_out));
        assert_eq!(a, b, "stays of {p}");
    }
    for q in queries {
        let collect = |index: &StayIndex| {
            let mut v = Vec::new();
            index.overlapping_stays(q.venue, q.a, q.a + q.len, q.min, |p, i, o| {
                v.push((p, i, o))
            });
            v.sort_unstable();
            v
        };
        assert_eq!(collect(got), collect(want), "{q:?}");
    }
    // Tracing: close and secondary contacts, both secondary strategies.
    let people = want.people() as u32;
    if people == 0 {
        return;
    }
    let cases: Vec<CaseInput> = all
        .iter()
        .step_by(7)
        .map(|s| CaseInput {
            person: s.person,
            reference_time: s.check_out,
            isolated_at: (s.person % 2 == 0).then_some(s.check_out + 500),
        })
        .collect();
    let rules = Rules {
        lookback: 400,
        buffer: 30,
        min_overlap: 5,
    };
    let as_of = want.latest_check_out().unwrap_or(0);
    let expected = trace(want, ids, &cases, &rules, as_of, true);
    assert_eq!(trace(got, ids, &cases, &rules, as_of, true), expected);
    for mode in [SecondaryMode::BySource, SecondaryMode::ByTarget] {
        let forced = Tracer::with_strategy(mode).trace(got, ids, &cases, &rules, as_of, true);
        assert_eq!(forced, expected, "{mode:?}");
    }
}

#[derive(Debug, Clone)]
struct Query {
    venue: u32,
    a: i64,
    len: i64,
    min: i64,
}

fn stay_strategy(people: u32, venues: u32) -> impl Strategy<Value = Stay> {
    (0..people, 0..venues, 0i64..3000, 0i64..400).prop_map(|(person, venue, check_in, d)| Stay {
        person,
        venue,
        check_in,
        check_out: check_in + if d > 300 { d * 4 } else { d },
    })
}

fn query_strategy() -> impl Strategy<Value = Query> {
    (0u32..14, 0i64..3200, 0i64..600, 0i64..40).prop_map(|(venue, a, len, min)| Query {
        venue,
        a,
        len,
        min,
    })
}

/// People 0..30 and venues 0..12: later batches bring people and venues the
/// first did not have.
fn city() -> impl Strategy<Value = (Vec<Stay>, Vec<usize>, Vec<Query>)> {
    (
        prop::collection::vec(stay_strategy(30, 12), 0..160),
        prop::collection::vec(0usize..60, 0..6),
        prop::collection::vec(query_strategy(), 1..30),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn extend_answers_as_a_build_of_all_stays((all, cuts, queries) in city()) {
        let mut ids = Ids::new();
        for p in 0..32 {
            ids.intern(&format!("P{:03}", (p * 37) % 101)).unwrap();
        }
        // Sort by person so that early batches miss the later people.
        let mut all = all;
        all.sort_by_key(|s| (s.person, s.venue));
        let want = StayIndex::build(stays(&all));
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| c * all.len() / 60).collect();
        bounds.push(0);
        bounds.push(all.len());
        bounds.sort_unstable();
        // From a build of the first batch, and from an empty index.
        for from_empty in [false, true] {
            let mut got = if from_empty {
                StayIndex::default()
            } else {
                StayIndex::build(stays(&all[..bounds[1]]))
            };
            let skip = if from_empty { 0 } else { 1 };
            for w in bounds.windows(2).skip(skip) {
                got.extend(stays(&all[w[0]..w[1]])).unwrap();
            }
            assert_same(&got, &want, &all, &ids, &queries);
        }
    }
}

/// A large index takes small batches into its delta (not merged), and the
/// answers still agree; a batch past an eighth of it merges.
#[test]
fn a_delta_below_an_eighth_stays_apart_and_agrees() {
    let mut all = Vec::new();
    for i in 0..4000i64 {
        all.push(Stay {
            person: (i * 7919 % 500) as u32,
            venue: (i % 37) as u32,
            check_in: i * 13 % 5000,
            check_out: i * 13 % 5000 + (i * 31 % 700),
        });
    }
    let mut ids = Ids::new();
    for p in 0..600 {
        ids.intern(&format!("{p:05}")).unwrap();
    }
    let queries: Vec<Query> = (0..200)
        .map(|k| Query {
            venue: k % 40,
            a: i64::from(k) * 25,
            len: 300,
            min: i64::from(k % 3) * 20,
        })
        .collect();
    let mut got = StayIndex::build(stays(&all[..3000]));
    let bytes = got.memory_bytes();
    for chunk in all[3000..3300].chunks(100) {
        got.extend(stays(chunk)).unwrap();
    }
    // 300 stays: a delta, not a rebuild of the main arrays.
    assert!(got.memory_bytes() > bytes);
    let want = StayIndex::build(stays(&all[..3300]));
    assert_same(&got, &want, &all[..3300], &ids, &queries);
    // New people and venues beyond all earlier ones.
    let extra = [
        Stay {
            person: 590,
            venue: 45,
            check_in: 100,
            check_out: 900,
        },
        Stay {
            person: 0,
            venue: 45,
            check_in: 200,
            check_out: 300,
        },
    ];
    got.extend(stays(&extra)).unwrap();
    got.extend(stays(&all[3300..])).unwrap();
    let mut everything = all.clone();
    everything.extend(extra);
    let want = StayIndex::build(stays(&everything));
    assert_same(&got, &want, &everything, &ids, &queries);
    got.extend(Stays::new()).unwrap();
    assert_same(&got, &want, &everything, &ids, &queries);
}
