//! Clusters (聚集性疫情) and transmission chains from traced contacts. Pure.
//!
//! Two cases are **linked** when one was recorded as the other's close
//! contact (same venue, household or trip, under the contact rules). The
//! link is a **transmission edge** `source → case` when the source's
//! reference time is earlier and the exposure came before the later case's
//! own reference time; otherwise it is a **shared exposure**, undirected.
//! Cases joined by links, directly or through others, form a cluster.
//!
//! A case's **candidate infectors** are the sources of its transmission
//! edges. Its **likely infector** is the candidate whose exposure came
//! earliest (the first time the case was exposed to an earlier case is when
//! it most likely caught it; later exposures found it already infected), ties
//! going to the candidate with the later reference time (the one nearer in
//! time, so more likely infectious then), then to the smaller index. As every
//! transmission edge points from an earlier reference time to a strictly
//! later one, the likely infectors form a forest: the **transmission tree**.

use std::collections::HashMap;

/// A case, as clustering sees it. `person` is any id that names the person
/// the same way [`Exposure::person`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterCase {
    pub person: u64,
    /// Seconds since the epoch: onset, else first positive sampling.
    pub reference_time: i64,
}

/// One recorded close contact: the case at `source` (an index into the
/// cases) exposed `person` first at `at`. `place` is carried to the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub source: usize,
    pub person: u64,
    pub at: i64,
    pub place: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinkKind {
    /// `from` exposed `to` before `to`'s reference time: a transmission edge.
    Transmission,
    /// An overlap between two cases that orders neither: undirected.
    Shared,
}

/// A link between two cases (indices). For shared exposures `from < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub kind: LinkKind,
    /// The earliest exposure behind the link.
    pub at: i64,
    /// The place of that exposure.
    pub place: u32,
}

/// The links between cases: one per pair of cases, a transmission edge when
/// any exposure between them is one (the earliest such), else the earliest
/// shared exposure. Sorted by `(from, to)`.
pub fn links(cases: &[ClusterCase], exposures: &[Exposure]) -> Vec<Link> {
    let mut by_person: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, c) in cases.iter().enumerate() {
        by_person.entry(c.person).or_default().push(i);
    }
    let mut best: HashMap<(usize, usize), Link> = HashMap::new();
    for e in exposures {
        let Some(source) = cases.get(e.source) else {
            continue;
        };
        for &to in by_person.get(&e.person).into_iter().flatten() {
            if to == e.source || cases[to].person == source.person {
                continue;
            }
            let target = cases[to];
            let transmission =
                source.reference_time < target.reference_time && e.at < target.reference_time;
            let link = if transmission {
                Link {
                    from: e.source,
                    to,
                    kind: LinkKind::Transmission,
                    at: e.at,
                    place: e.place,
                }
            } else {
                Link {
                    from: e.source.min(to),
                    to: e.source.max(to),
                    kind: LinkKind::Shared,
                    at: e.at,
                    place: e.place,
                }
            };
            let key = (e.source.min(to), e.source.max(to));
            let slot = best.entry(key).or_insert(link);
            if (link.kind, link.at, link.place, link.from)
                < (slot.kind, slot.at, slot.place, slot.from)
            {
                *slot = link;
            }
        }
    }
    let mut out: Vec<Link> = best.into_values().collect();
    out.sort_by_key(|l| (l.from, l.to));
    out
}

/// A case's likely infector: the transmission edge chosen, and the other
/// candidates' edges, earliest exposure first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Infector {
    pub link: Link,
    pub others: Vec<Link>,
}

/// The order of candidates for one case: earliest exposure, then the later
/// source reference time, then the smaller source index.
fn candidate_key(cases: &[ClusterCase], l: &Link) -> (i64, std::cmp::Reverse<i64>, usize) {
    (
        l.at,
        std::cmp::Reverse(cases[l.from].reference_time),
        l.from,
    )
}

/// For each case (by index), its likely infector among the sources of its
/// transmission edges (see the module's documentation), or `None` when it has
/// none. The parents form a forest: no cycles, at most one parent each.
/// Links naming a case outside `cases` are ignored.
pub fn likely_infectors(cases: &[ClusterCase], links: &[Link]) -> Vec<Option<Infector>> {
    let mut incoming: Vec<Vec<Link>> = vec![Vec::new(); cases.len()];
    for l in links {
        if l.kind == LinkKind::Transmission && l.from < cases.len() && l.to < cases.len() {
            incoming[l.to].push(*l);
        }
    }
    incoming
        .into_iter()
        .map(|mut candidates| {
            candidates.sort_by_key(|l| candidate_key(cases, l));
            let mut rest = candidates.into_iter();
            rest.next().map(|link| Infector {
                link,
                others: rest.collect(),
            })
        })
        .collect()
}

/// Cases joined by links, directly or through others: every group of at least
/// two cases, each sorted by index, groups ordered by their first index.
pub fn clusters(n: usize, links: &[Link]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for l in links {
        if l.from >= n || l.to >= n {
            continue;
        }
        let (a, b) = (root(&mut parent, l.from), root(&mut parent, l.to));
        if a != b {
            // The smaller index becomes the root: groups come out ordered.
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = groups.into_values().filter(|g| g.len() >= 2).collect();
    out.sort_by_key(|g| g[0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn case(person: u64, reference_time: i64) -> ClusterCase {
        ClusterCase {
            person,
            reference_time,
        }
    }

    fn exposure(source: usize, person: u64, at: i64) -> Exposure {
        Exposure {
            source,
            person,
            at,
            place: 0,
        }
    }

    #[test]
    fn an_exposure_before_the_later_case_reference_is_a_transmission_edge() {
        let cases = [case(10, 100), case(20, 200), case(30, 300)];
        let l = links(&cases, &[exposure(0, 20, 150), exposure(1, 30, 300)]);
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].from, l[0].to, l[0].kind),
            (0, 1, LinkKind::Transmission)
        );
        // At the later case's reference time itself: not before it, so shared.
        assert_eq!((l[1].from, l[1].to, l[1].kind), (1, 2, LinkKind::Shared));
    }

    #[test]
    fn a_later_source_never_transmits_to_an_earlier_case() {
        let cases = [case(10, 100), case(20, 200)];
        let l = links(&cases, &[exposure(1, 10, 50)]);
        assert_eq!((l[0].from, l[0].to, l[0].kind), (0, 1, LinkKind::Shared));
    }

    #[test]
    fn one_link_per_pair_and_transmission_wins() {
        let cases = [case(10, 100), case(20, 200)];
        let l = links(
            &cases,
            &[
                exposure(0, 20, 250),
                exposure(0, 20, 120),
                exposure(1, 10, 90),
            ],
        );
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].kind, l[0].at), (LinkKind::Transmission, 120));
    }

    #[test]
    fn two_cases_of_one_person_are_not_linked_to_each_other() {
        let cases = [case(10, 100), case(10, 300)];
        assert!(links(&cases, &[exposure(0, 10, 150)]).is_empty());
    }

    /// The reference: breadth-first search over the links as an undirected graph.
    fn bfs(n: usize, links: &[Link]) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); n];
        for l in links {
            adj[l.from].push(l.to);
            adj[l.to].push(l.from);
        }
        let mut seen = vec![false; n];
        let mut out = Vec::new();
        for start in 0..n {
            if seen[start] {
                continue;
            }
            seen[start] = true;
            let mut group = vec![start];
            let mut queue = std::collections::VecDeque::from([start]);
            while let Some(x) = queue.pop_front() {
                for &y in &adj[x] {
                    if !seen[y] {
                        seen[y] = true;
                        group.push(y);
                        queue.push_back(y);
                    }
                }
            }
            group.sort_unstable();
            if group.len() >= 2 {
                out.push(group);
            }
        }
        out
    }

    #[test]
    fn the_earliest_exposure_names_the_likely_infector() {
        let cases = [case(10, 100), case(20, 150), case(30, 400)];
        let l = links(
            &cases,
            &[
                exposure(0, 30, 300),
                exposure(1, 30, 200),
                exposure(0, 20, 120),
            ],
        );
        let tree = likely_infectors(&cases, &l);
        assert!(tree[0].is_none());
        assert_eq!(tree[1].as_ref().map(|p| p.link.from), Some(0));
        let third = tree[2].as_ref().expect("a parent");
        assert_eq!((third.link.from, third.link.at), (1, 200));
        assert_eq!(third.others.iter().map(|o| o.from).collect::<Vec<_>>(), [0]);
        // The same exposure time: the source nearer in time wins.
        let l = links(&cases, &[exposure(0, 30, 300), exposure(1, 30, 300)]);
        assert_eq!(
            likely_infectors(&cases, &l)[2]
                .as_ref()
                .map(|p| p.link.from),
            Some(1)
        );
    }

    proptest! {
        #[test]
        fn likely_infectors_form_a_forest_and_match_brute_force(
            refs in proptest::collection::vec((0u64..10, 0i64..40), 0..14),
            raw in proptest::collection::vec((0usize..14, 0u64..10, 0i64..40), 0..30),
        ) {
            let cases: Vec<ClusterCase> = refs.iter().map(|&(p, t)| case(p, t)).collect();
            let exposures: Vec<Exposure> = raw.iter().map(|&(s, p, at)| exposure(s, p, at)).collect();
            let l = links(&cases, &exposures);
            let tree = likely_infectors(&cases, &l);
            prop_assert_eq!(tree.len(), cases.len());
            for (i, parent) in tree.iter().enumerate() {
                // Brute force: every exposure from an earlier case to this
                // case's person before its reference time makes a candidate;
                // per candidate its earliest such exposure; then the order.
                let mut best: Option<(i64, std::cmp::Reverse<i64>, usize)> = None;
                let mut candidates = std::collections::BTreeSet::new();
                for e in &exposures {
                    let Some(src) = cases.get(e.source) else { continue };
                    if e.source != i && src.person != cases[i].person && e.person == cases[i].person
                        && src.reference_time < cases[i].reference_time && e.at < cases[i].reference_time {
                        candidates.insert(e.source);
                        let key = (e.at, std::cmp::Reverse(src.reference_time), e.source);
                        if best.is_none_or(|b| key < b) {
                            best = Some(key);
                        }
                    }
                }
                match parent {
                    None => prop_assert!(best.is_none()),
                    Some(p) => {
                        prop_assert_eq!(p.link.to, i);
                        prop_assert_eq!(Some((p.link.at, p.link.from)), best.map(|b| (b.0, b.2)));
                        let mut all: Vec<usize> = p.others.iter().map(|o| o.from).collect();
                        all.push(p.link.from);
                        all.sort_unstable();
                        prop_assert_eq!(all, candidates.into_iter().collect::<Vec<_>>());
                        prop_assert!(p.others.iter().all(|o| o.to == i && o.kind == LinkKind::Transmission));
                    }
                }
            }
            // No cycles: following parents from any case ends within n steps.
            for start in 0..cases.len() {
                let mut at = start;
                let mut steps = 0;
                while let Some(p) = &tree[at] {
                    at = p.link.from;
                    steps += 1;
                    prop_assert!(steps <= cases.len());
                }
            }
        }

        #[test]
        fn union_find_agrees_with_breadth_first_search(
            refs in proptest::collection::vec((0u64..8, 0i64..50), 0..14),
            raw in proptest::collection::vec((0usize..14, 0u64..8, 0i64..50), 0..24),
        ) {
            let cases: Vec<ClusterCase> = refs.iter().map(|&(p, t)| case(p, t)).collect();
            let exposures: Vec<Exposure> = raw.iter().map(|&(s, p, at)| exposure(s, p, at)).collect();
            let l = links(&cases, &exposures);
            // Every link joins two distinct people; transmission edges follow time.
            for link in &l {
                prop_assert!(cases[link.from].person != cases[link.to].person);
                if link.kind == LinkKind::Transmission {
                    prop_assert!(cases[link.from].reference_time < cases[link.to].reference_time);
                    prop_assert!(link.at < cases[link.to].reference_time);
                }
            }
            // Brute force: a pair is linked iff some exposure joins them.
            for a in 0..cases.len() {
                for b in a + 1..cases.len() {
                    let joined = cases[a].person != cases[b].person && exposures.iter().any(|e| {
                        (e.source == a && e.person == cases[b].person)
                            || (e.source == b && e.person == cases[a].person)
                    });
                    let found = l.iter().any(|x| (x.from.min(x.to), x.from.max(x.to)) == (a, b));
                    prop_assert_eq!(joined, found);
                }
            }
            prop_assert_eq!(clusters(cases.len(), &l), bfs(cases.len(), &l));
        }
    }
}
