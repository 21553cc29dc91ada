//! Clusters and chains, computed on read from the cases and their recorded
//! close contacts (see `closedloop_trace::clusters` for the rules). A cluster
//! is named by its first case (earliest reference time, then case id).

use crate::{decode, decode_date, get_i64, get_opt_i64, get_opt_str, get_str, Store, StoreError};
use chrono_tz::Tz;
use closedloop_domain::case::reference_time;
use closedloop_domain::contact::{Explanation, ExposureKind};
use closedloop_domain::movement::VenueType;
use closedloop_domain::time::from_epoch;
use closedloop_trace::clusters::{
    clusters, likely_infectors, links, ClusterCase, Exposure, Link, LinkKind,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A case in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMember {
    pub case_id: String,
    pub person_id: i64,
    /// Onset, else first positive sampling, else report (seconds).
    pub reference_time: i64,
    pub report_time: i64,
    pub reporting_region: String,
    /// Named by a pseudonym, with a stand-in person id: a case outside the
    /// reader's jurisdiction (see [`ClusterReport::masked`]).
    pub pseudonymised: bool,
}

/// Where cases of a cluster met: a venue, a household or a trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterPlace {
    /// venue, household or co_travel.
    pub kind: ExposureKind,
    /// Venue id, household id or trip id.
    pub id: String,
    /// The venue's name (venues only).
    pub name: Option<String>,
    /// The venue's type (venues only): school, workplace…
    pub venue_type: Option<VenueType>,
    /// Links between cases of the cluster made there.
    pub links: usize,
}

/// One link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainLink {
    /// The source for a transmission edge; for a shared exposure, the earlier of the two.
    pub from: String,
    pub to: String,
    /// `transmission` (directed) or `shared_exposure` (undirected).
    pub kind: &'static str,
    /// The earliest exposure behind the link (seconds).
    pub at: i64,
    pub place_kind: ExposureKind,
    pub place: String,
}

/// A cluster (聚集性疫情): cases linked through shared exposures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    /// The first case's id.
    pub id: String,
    pub size: usize,
    pub first_case: ClusterMember,
    pub last_case: ClusterMember,
    /// Every place where cases met, most links first.
    pub places: Vec<ClusterPlace>,
    /// Venues that are institutions (schools, workplaces, hospitals).
    pub institutions: Vec<ClusterPlace>,
    /// Reporting regions with their number of cases, by code.
    pub regions: Vec<(String, usize)>,
    pub transmission_edges: usize,
    pub shared_exposures: usize,
    /// The cases, by reference time.
    pub cases: Vec<ClusterMember>,
    /// Transmission edges and shared exposures inside the cluster.
    pub chain: Vec<ChainLink>,
}

/// A candidate infector of a case: the source of one of its transmission
/// edges, with the earliest exposure behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub case_id: String,
    /// The earliest exposure of the case to this source (seconds).
    pub at: i64,
    pub place_kind: ExposureKind,
    pub place: String,
}

/// A case in the transmission tree: its likely infector, if it has a
/// candidate, and the other candidates (earliest exposure first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeNode {
    pub case_id: String,
    pub reference_time: i64,
    pub infector: Option<Candidate>,
    pub other_candidates: Vec<Candidate>,
}

fn is_institution(t: VenueType) -> bool {
    matches!(
        t,
        VenueType::School | VenueType::Workplace | VenueType::Hospital
    )
}

/// A GraphViz quoted string: backslashes and quotes escaped, line breaks as
/// the `\n` escape GraphViz draws as a new line.
fn dot_quote(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

impl ClusterReport {
    /// This cluster as a reader sees it who may see only the cases `shown`
    /// accepts: each other case is named `alias(case)` everywhere (the
    /// cluster's id when it is the first case, the chain's links, the
    /// tree), and its person id is replaced by a negative stand-in, the same
    /// for the same person (so the tree, which never links two cases of one
    /// person, is unchanged). Every view of a cluster (JSON, DOT, the
    /// console's pages and SVG) is drawn from the masked report, so none can
    /// show a case id from outside.
    pub fn masked(
        &self,
        shown: impl Fn(&ClusterMember) -> bool,
        alias: impl Fn(&ClusterMember) -> String,
    ) -> ClusterReport {
        let mut names: HashMap<String, String> = HashMap::new();
        let mut stand_in: HashMap<i64, i64> = HashMap::new();
        let mask = |m: &ClusterMember,
                    names: &mut HashMap<String, String>,
                    stand_in: &mut HashMap<i64, i64>| {
            if shown(m) {
                return m.clone();
            }
            let name = alias(m);
            names.insert(m.case_id.clone(), name.clone());
            let next = -(stand_in.len() as i64) - 1;
            let person_id = *stand_in.entry(m.person_id).or_insert(next);
            ClusterMember {
                case_id: name,
                person_id,
                pseudonymised: true,
                ..m.clone()
            }
        };
        let cases: Vec<ClusterMember> = self
            .cases
            .iter()
            .map(|m| mask(m, &mut names, &mut stand_in))
            .collect();
        let first_case = mask(&self.first_case, &mut names, &mut stand_in);
        let last_case = mask(&self.last_case, &mut names, &mut stand_in);
        let rename = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
        ClusterReport {
            id: rename(&self.id),
            first_case,
            last_case,
            cases,
            chain: self
                .chain
                .iter()
                .map(|l| ChainLink {
                    from: rename(&l.from),
                    to: rename(&l.to),
                    ..l.clone()
                })
                .collect(),
            ..self.clone()
        }
    }

    /// The transmission tree: each case of the cluster (by reference time)
    /// with its likely infector among the sources of its transmission edges
    /// (`closedloop_trace::clusters::likely_infectors`: the earliest
    /// exposure, then the source nearer in time, then the earlier source) and
    /// the other candidates. Cases without a transmission edge into them are
    /// the roots.
    pub fn tree(&self) -> Vec<TreeNode> {
        let index: HashMap<&str, usize> = self
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.case_id.as_str(), i))
            .collect();
        let cases: Vec<ClusterCase> = self
            .cases
            .iter()
            .map(|c| ClusterCase {
                person: c.person_id as u64,
                reference_time: c.reference_time,
            })
            .collect();
        // The chain's transmission edges, with their position in the chain
        // as the place so the candidate can name it.
        let edges: Vec<Link> = self
            .chain
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == "transmission")
            .filter_map(|(k, l)| {
                Some(Link {
                    from: *index.get(l.from.as_str())?,
                    to: *index.get(l.to.as_str())?,
                    kind: LinkKind::Transmission,
                    at: l.at,
                    place: k as u32,
                })
            })
            .collect();
        let candidate = |l: &Link| {
            let c = &self.chain[l.place as usize];
            Candidate {
                case_id: c.from.clone(),
                at: c.at,
                place_kind: c.place_kind,
                place: c.place.clone(),
            }
        };
        likely_infectors(&cases, &edges)
            .into_iter()
            .zip(&self.cases)
            .map(|(parent, c)| TreeNode {
                case_id: c.case_id.clone(),
                reference_time: c.reference_time,
                infector: parent.as_ref().map(|p| candidate(&p.link)),
                other_candidates: parent
                    .map(|p| p.others.iter().map(candidate).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The transmission tree as GraphViz DOT: each case's likely infector as
    /// a solid arrow labelled with place and time, the other candidates as
    /// dotted grey arrows that do not shape the layout.
    pub fn tree_dot(&self, tz: Tz) -> String {
        let day = |t: i64| {
            from_epoch(t)
                .with_timezone(&tz)
                .format("%m-%d %H:%M")
                .to_string()
        };
        let mut out = format!("digraph {} {{\n  rankdir=TB;\n", dot_quote(&self.id));
        let tree = self.tree();
        for n in &tree {
            out.push_str(&format!(
                "  {} [label={}];\n",
                dot_quote(&n.case_id),
                dot_quote(&format!("{}\n{}", n.case_id, day(n.reference_time)))
            ));
        }
        for n in &tree {
            if let Some(p) = &n.infector {
                let label = dot_quote(&format!("{} {}\n{}", p.place_kind, p.place, day(p.at)));
                out.push_str(&format!(
                    "  {} -> {} [label={label}];\n",
                    dot_quote(&p.case_id),
                    dot_quote(&n.case_id)
                ));
            }
            for o in &n.other_candidates {
                out.push_str(&format!(
                    "  {} -> {} [style=dotted, color=gray, constraint=false];\n",
                    dot_quote(&o.case_id),
                    dot_quote(&n.case_id)
                ));
            }
        }
        out.push_str("}\n");
        out
    }

    /// The chain as GraphViz DOT: transmission edges as arrows, shared
    /// exposures as dashed undirected lines, labelled with place and time.
    pub fn dot(&self, tz: Tz) -> String {
        let day = |t: i64| {
            from_epoch(t)
                .with_timezone(&tz)
                .format("%m-%d %H:%M")
                .to_string()
        };
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", dot_quote(&self.id));
        for c in &self.cases {
            out.push_str(&format!(
                "  {} [label={}];\n",
                dot_quote(&c.case_id),
                dot_quote(&format!("{}\n{}", c.case_id, day(c.reference_time)))
            ));
        }
        for l in &self.chain {
            let label = dot_quote(&format!("{} {}\n{}", l.place_kind, l.place, day(l.at)));
            let style = if l.kind == "transmission" {
                String::new()
            } else {
                ", dir=none, style=dashed".into()
            };
            out.push_str(&format!(
                "  {} -> {} [label={label}{style}];\n",
                dot_quote(&l.from),
                dot_quote(&l.to)
            ));
        }
        out.push_str("}\n");
        out
    }
}

impl Store {
    /// Every cluster as of `as_of` (cases reported and exposures begun by
    /// then), first cases first. `tz` places onset days.
    pub async fn clusters(&self, tz: Tz, as_of: i64) -> Result<Vec<ClusterReport>, StoreError> {
        let mut members: Vec<(ClusterMember, i64)> = Vec::new();
        for r in sqlx::query(
            "SELECT id, case_id, person_id, onset_date, sample_time, report_time, reporting_region FROM cases WHERE report_time <= $1",
        )
        .bind(as_of)
        .fetch_all(&self.pool)
        .await?
        {
            let report = get_i64(&r, "report_time")?;
            let reference = reference_time(
                decode_date(get_opt_str(&r, "onset_date")?)?,
                get_opt_i64(&r, "sample_time")?.map(from_epoch),
                from_epoch(report),
                tz,
            );
            members.push((
                ClusterMember {
                    case_id: get_str(&r, "case_id")?,
                    person_id: get_i64(&r, "person_id")?,
                    reference_time: reference.timestamp(),
                    report_time: report,
                    reporting_region: get_str(&r, "reporting_region")?,
                    pseudonymised: false,
                },
                get_i64(&r, "id")?,
            ));
        }
        members.sort_by(|(a, _), (b, _)| {
            (a.reference_time, &a.case_id).cmp(&(b.reference_time, &b.case_id))
        });
        let position: HashMap<i64, usize> = members
            .iter()
            .enumerate()
            .map(|(i, (_, pk))| (*pk, i))
            .collect();
        // Places get dense numbers for the engine; (kind, id) here.
        let mut places: Vec<(ExposureKind, String)> = Vec::new();
        let mut place_ix: HashMap<(ExposureKind, String), u32> = HashMap::new();
        let mut exposures = Vec::new();
        for r in sqlx::query(
            "SELECT k.case_pk, k.person_id, k.first_exposure, k.place_kind, k.place,
                    CASE WHEN k.place_kind IS NULL THEN k.explanation END AS explanation FROM contacts k
             WHERE k.degree = 1 AND k.category = 'close_contact' AND k.first_exposure <= $1
               AND k.person_id IN (SELECT person_id FROM cases WHERE report_time <= $1)",
        )
        .bind(as_of)
        .fetch_all(&self.pool)
        .await?
        {
            let Some(&source) = position.get(&get_i64(&r, "case_pk")?) else {
                continue;
            };
            let key = match (get_opt_str(&r, "place_kind")?, get_opt_str(&r, "place")?) {
                (Some(kind), place) => (
                    decode(&kind, ExposureKind::parse)?,
                    place.unwrap_or_default(),
                ),
                // Traced before the place had its own column.
                (None, _) => {
                    let raw = get_opt_str(&r, "explanation")?.unwrap_or_default();
                    let explanations: Vec<Explanation> = serde_json::from_str(&raw)
                        .map_err(|_| StoreError::Corrupt(raw.chars().take(40).collect()))?;
                    explanations
                        .first()
                        .map(|e| (e.kind, e.place.clone()))
                        .unwrap_or((ExposureKind::Venue, String::new()))
                }
            };
            let next = places.len() as u32;
            let place = *place_ix.entry(key.clone()).or_insert_with(|| {
                places.push(key);
                next
            });
            exposures.push(Exposure {
                source,
                person: get_i64(&r, "person_id")? as u64,
                at: get_i64(&r, "first_exposure")?,
                place,
            });
        }
        let cases: Vec<ClusterCase> = members
            .iter()
            .map(|(m, _)| ClusterCase {
                person: m.person_id as u64,
                reference_time: m.reference_time,
            })
            .collect();
        let all_links = links(&cases, &exposures);
        let groups = clusters(cases.len(), &all_links);
        let mut group_of = vec![usize::MAX; cases.len()];
        for (g, group) in groups.iter().enumerate() {
            for &i in group {
                group_of[i] = g;
            }
        }
        let mut chains: Vec<Vec<_>> = vec![Vec::new(); groups.len()];
        for l in &all_links {
            if let Some(chain) = chains.get_mut(group_of[l.from]) {
                chain.push(*l);
            }
        }
        let venues: HashMap<String, (String, VenueType)> =
            sqlx::query("SELECT venue_id, name, venue_type FROM venues")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        get_str(r, "venue_id")?,
                        (
                            get_str(r, "name")?,
                            decode(&get_str(r, "venue_type")?, VenueType::parse)?,
                        ),
                    ))
                })
                .collect::<Result<_, StoreError>>()?;
        let mut out = Vec::with_capacity(groups.len());
        for (group, chain) in groups.iter().zip(chains) {
            let list: Vec<ClusterMember> = group.iter().map(|&i| members[i].0.clone()).collect();
            let mut regions: BTreeMap<String, usize> = BTreeMap::new();
            for m in &list {
                *regions.entry(m.reporting_region.clone()).or_default() += 1;
            }
            let mut counted: BTreeMap<u32, usize> = BTreeMap::new();
            for l in &chain {
                *counted.entry(l.place).or_default() += 1;
            }
            let mut found: Vec<ClusterPlace> = counted
                .into_iter()
                .filter_map(|(p, n)| {
                    let (kind, id) = places.get(p as usize)?.clone();
                    let venue = (kind == ExposureKind::Venue)
                        .then(|| venues.get(&id))
                        .flatten();
                    Some(ClusterPlace {
                        kind,
                        name: venue.map(|v| v.0.clone()),
                        venue_type: venue.map(|v| v.1),
                        id,
                        links: n,
                    })
                })
                .collect();
            found.sort_by(|a, b| b.links.cmp(&a.links).then_with(|| a.id.cmp(&b.id)));
            let transmission_edges = chain
                .iter()
                .filter(|l| l.kind == LinkKind::Transmission)
                .count();
            let (Some(first), Some(last)) = (list.first().cloned(), list.last().cloned()) else {
                continue;
            };
            out.push(ClusterReport {
                id: first.case_id.clone(),
                size: list.len(),
                first_case: first,
                last_case: last,
                institutions: found
                    .iter()
                    .filter(|p| p.venue_type.is_some_and(is_institution))
                    .cloned()
                    .collect(),
                places: found,
                regions: regions.into_iter().collect(),
                transmission_edges,
                shared_exposures: chain.len() - transmission_edges,
                chain: chain
                    .iter()
                    .map(|l| {
                        let (kind, place) = places
                            .get(l.place as usize)
                            .cloned()
                            .unwrap_or((ExposureKind::Venue, String::new()));
                        ChainLink {
                            from: members[l.from].0.case_id.clone(),
                            to: members[l.to].0.case_id.clone(),
                            kind: match l.kind {
                                LinkKind::Transmission => "transmission",
                                LinkKind::Shared => "shared_exposure",
                            },
                            at: l.at,
                            place_kind: kind,
                            place,
                        }
                    })
                    .collect(),
                cases: list,
            });
        }
        // Largest first, then the earliest.
        out.sort_by(|a, b| {
            b.size.cmp(&a.size).then_with(|| {
                (a.first_case.reference_time, &a.id).cmp(&(b.first_case.reference_time, &b.id))
            })
        });
        Ok(out)
    }

    /// The instants between which [`Store::clusters`] gives the same answer
    /// as at `as_of`, as long as nothing is written: `[from, until)`, from
    /// the latest report time or close-contact exposure at or before
    /// `as_of` (or `i64::MIN`) to the next one after it (or `i64::MAX`). A
    /// server caches the clusters computed "now" for every later "now" in
    /// this span.
    pub async fn clusters_span(&self, as_of: i64) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT (SELECT MAX(report_time) FROM cases WHERE report_time <= $1) AS case_from,
                    (SELECT MIN(report_time) FROM cases WHERE report_time > $1) AS case_until,
                    (SELECT MAX(first_exposure) FROM contacts
                      WHERE degree = 1 AND category = 'close_contact' AND first_exposure <= $1) AS contact_from,
                    (SELECT MIN(first_exposure) FROM contacts
                      WHERE degree = 1 AND category = 'close_contact' AND first_exposure > $1) AS contact_until",
        )
        .bind(as_of)
        .fetch_one(&self.pool)
        .await?;
        let from = get_opt_i64(&r, "case_from")?
            .into_iter()
            .chain(get_opt_i64(&r, "contact_from")?)
            .max()
            .unwrap_or(i64::MIN);
        let until = get_opt_i64(&r, "case_until")?
            .into_iter()
            .chain(get_opt_i64(&r, "contact_until")?)
            .min()
            .unwrap_or(i64::MAX);
        Ok((from, until))
    }

    /// The cluster named by its first case, as of `as_of`.
    pub async fn cluster(&self, id: &str, tz: Tz, as_of: i64) -> Result<ClusterReport, StoreError> {
        self.clusters(tz, as_of)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| StoreError::NotFound {
                entity: "cluster",
                id: id.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(case_id: &str, person_id: i64, reference_time: i64) -> ClusterMember {
        ClusterMember {
            case_id: case_id.into(),
            person_id,
            reference_time,
            report_time: reference_time + 10,
            reporting_region: "220102".into(),
            pseudonymised: false,
        }
    }

    fn link(from: &str, to: &str, kind: &'static str, at: i64, place: &str) -> ChainLink {
        ChainLink {
            from: from.into(),
            to: to.into(),
            kind,
            at,
            place_kind: ExposureKind::Venue,
            place: place.into(),
        }
    }

    #[test]
    fn the_tree_names_each_case_likely_infector_and_the_other_candidates() {
        let cases = vec![
            member("A", 1, 100),
            member("B", 2, 150),
            member("C", 3, 400),
        ];
        let report = ClusterReport {
            id: "A".into(),
            size: 3,
            first_case: cases[0].clone(),
            last_case: cases[2].clone(),
            places: Vec::new(),
            institutions: Vec::new(),
            regions: Vec::new(),
            transmission_edges: 3,
            shared_exposures: 1,
            chain: vec![
                link("A", "B", "transmission", 120, "V1"),
                link("A", "C", "transmission", 300, "V2"),
                link("B", "C", "transmission", 200, "V3"),
                link("A", "B", "shared_exposure", 90, "V4"),
            ],
            cases,
        };
        let tree = report.tree();
        assert_eq!(tree.len(), 3);
        assert_eq!(tree[0].infector, None);
        assert_eq!(
            tree[1].infector.as_ref().map(|c| c.place.as_str()),
            Some("V1")
        );
        let c = &tree[2];
        let parent = c.infector.as_ref().expect("a parent");
        assert_eq!((parent.case_id.as_str(), parent.at), ("B", 200));
        assert_eq!(c.other_candidates.len(), 1);
        assert_eq!(c.other_candidates[0].case_id, "A");
        let dot = report.tree_dot(chrono_tz::Asia::Shanghai);
        assert!(dot.contains("\"B\" -> \"C\" [label="), "{dot}");
        assert!(dot.contains("\"A\" -> \"C\" [style=dotted"), "{dot}");
        assert!(!dot.contains("\"A\" -> \"B\" [style"), "{dot}");
        // Labels break lines with GraphViz's one-backslash escape, in both graphs.
        for graph in [dot, report.dot(chrono_tz::Asia::Shanghai)] {
            assert!(graph.contains("[label=\"B\\n"), "{graph}");
            assert!(!graph.contains("\\\\n"), "double-escaped: {graph}");
        }
    }

    #[test]
    fn dot_strings_escape_quotes_backslashes_and_line_breaks() {
        assert_eq!(dot_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
