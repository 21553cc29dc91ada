//! The transmission-chain graph of a cluster, drawn on the server as SVG: a
//! layered layout by reference time (one column per day, earliest left),
//! nodes for cases, arrows for transmission links, dashed lines for shared
//! exposures; `<title>` and `<desc>` for the graph and a `<title>` on every
//! node and link. Large clusters are capped: only the earliest
//! [`MAX_NODES`] cases are drawn (the page says so and lists every link in
//! its table). Text is escaped here; the page inserts the SVG as is.

use super::charts::esc;
use closedloop_domain::time::from_epoch;
use closedloop_store::ClusterReport;
use std::collections::{BTreeMap, HashMap};

/// The most cases drawn.
pub(crate) const MAX_NODES: usize = 150;
/// The most cases stacked in one column before a day wraps into another.
const PER_COLUMN: usize = 20;
const COL_W: i64 = 120;
const ROW_H: i64 = 34;
const MARGIN: i64 = 24;
const TOP: i64 = 44;
const R: i64 = 9;

/// How a case is named on the graph.
pub(crate) struct NodeLabel {
    /// The case id inside the jurisdiction, a masked one outside.
    pub text: String,
    pub outside: bool,
}

/// Words the graph uses, in the reader's language.
pub(crate) struct ChainWords<'a> {
    pub title: &'a str,
    pub desc: &'a str,
    pub transmission: &'a str,
    pub shared: &'a str,
    pub outside: &'a str,
}

/// The drawn graph and how many cases it shows.
pub(crate) struct ChainSvg {
    pub svg: String,
    pub drawn: usize,
    pub capped: bool,
}

/// Draws the cluster's chain. `label` names each case for the reader;
/// `day` writes a day (the column headings).
pub(crate) fn draw(
    cluster: &ClusterReport,
    tz: chrono_tz::Tz,
    words: &ChainWords<'_>,
    label: impl Fn(&str) -> NodeLabel,
    day: impl Fn(chrono::NaiveDate) -> String,
) -> ChainSvg {
    // The earliest cases (the report lists them by reference time).
    let mut members: Vec<_> = cluster.cases.iter().collect();
    members.sort_by(|a, b| (a.reference_time, &a.case_id).cmp(&(b.reference_time, &b.case_id)));
    let capped = members.len() > MAX_NODES;
    members.truncate(MAX_NODES);

    // Columns: one per day, wrapped every PER_COLUMN cases.
    let mut by_day: BTreeMap<chrono::NaiveDate, Vec<&str>> = BTreeMap::new();
    for m in &members {
        let d = from_epoch(m.reference_time).with_timezone(&tz).date_naive();
        by_day.entry(d).or_default().push(m.case_id.as_str());
    }
    let mut pos: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut headings: Vec<(i64, String)> = Vec::new();
    let mut col: i64 = 0;
    let mut max_rows: i64 = 1;
    for (d, ids) in &by_day {
        headings.push((MARGIN + col * COL_W + COL_W / 2, day(*d)));
        for chunk in ids.chunks(PER_COLUMN) {
            for (row, id) in chunk.iter().enumerate() {
                let row = row as i64;
                pos.insert(
                    id,
                    (MARGIN + col * COL_W + COL_W / 2, TOP + R + 8 + row * ROW_H),
                );
                max_rows = max_rows.max(row + 1);
            }
            col += 1;
        }
    }
    let width = (2 * MARGIN + col.max(1) * COL_W).max(320);
    let height = TOP + max_rows * ROW_H + MARGIN;

    let mut svg = String::new();
    svg.push_str(&format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="max-width:{width}px" role="img" aria-labelledby="chain-title chain-desc" class="chain" data-testid="chain-svg">"#
    ));
    svg.push_str(&format!(
        r#"<title id="chain-title">{}</title><desc id="chain-desc">{}</desc>"#,
        esc(words.title),
        esc(words.desc)
    ));
    svg.push_str(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b42318"/></marker></defs>"##,
    );
    for (x, text) in &headings {
        svg.push_str(&format!(
            r##"<text x="{x}" y="{}" text-anchor="middle" font-size="12" fill="#57606a">{}</text>"##,
            TOP - 18,
            esc(text)
        ));
    }
    // Links first, under the nodes.
    for l in &cluster.chain {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(l.from.as_str()), pos.get(l.to.as_str()))
        else {
            continue;
        };
        let transmission = l.kind == "transmission";
        // Stop the arrow at the target's edge.
        let (dx, dy) = ((x2 - x1) as f64, (y2 - y1) as f64);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let shorten = (R + 2) as f64;
        let (ex, ey) = (
            x2 as f64 - dx / len * shorten,
            y2 as f64 - dy / len * shorten,
        );
        let (from, to) = (label(&l.from), label(&l.to));
        let kind = if transmission {
            words.transmission
        } else {
            words.shared
        };
        let style = if transmission {
            r##"stroke="#b42318" stroke-width="1.6" marker-end="url(#arrow)""##
        } else {
            r##"stroke="#57606a" stroke-width="1.2" stroke-dasharray="4 3""##
        };
        svg.push_str(&format!(
            r#"<line x1="{x1}" y1="{y1}" x2="{ex:.1}" y2="{ey:.1}" {style}><title>{} → {} · {} · {}</title></line>"#,
            esc(&from.text),
            esc(&to.text),
            esc(kind),
            esc(&format!("{} {}", l.place_kind.as_str(), l.place)),
        ));
    }
    for m in &members {
        let Some(&(x, y)) = pos.get(m.case_id.as_str()) else {
            continue;
        };
        let name = label(&m.case_id);
        let fill = if name.outside { "#d0d7de" } else { "#0b5cad" };
        let title = if name.outside {
            format!("{} ({})", name.text, words.outside)
        } else {
            name.text.clone()
        };
        svg.push_str(&format!(
            r##"<g class="node" data-case="{}"><circle cx="{x}" cy="{y}" r="{R}" fill="{fill}"><title>{}</title></circle><text x="{}" y="{}" font-size="11" fill="#1b1f24">{}</text></g>"##,
            esc(&name.text),
            esc(&title),
            x + R + 3,
            y + 4,
            esc(&name.text)
        ));
    }
    svg.push_str("</svg>");
    ChainSvg {
        svg,
        drawn: members.len(),
        capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closedloop_domain::contact::ExposureKind;
    use closedloop_store::{ChainLink, ClusterMember};

    fn member(id: &str, t: i64) -> ClusterMember {
        ClusterMember {
            case_id: id.into(),
            person_id: 1,
            reference_time: t,
            report_time: t,
            reporting_region: "220102".into(),
            pseudonymised: false,
        }
    }

    fn cluster(n: usize) -> ClusterReport {
        let cases: Vec<ClusterMember> = (0..n)
            .map(|i| member(&format!("C<{i}>"), 1_646_000_000 + (i as i64) * 3_600 * 5))
            .collect();
        let chain = (1..n)
            .map(|i| ChainLink {
                from: format!("C<{}>", i - 1),
                to: format!("C<{i}>"),
                kind: if i % 2 == 0 {
                    "transmission"
                } else {
                    "shared_exposure"
                },
                at: 0,
                place_kind: ExposureKind::Venue,
                place: "V&1".into(),
            })
            .collect();
        ClusterReport {
            id: "C<0>".into(),
            size: n,
            first_case: cases[0].clone(),
            last_case: cases[n - 1].clone(),
            places: vec![],
            institutions: vec![],
            regions: vec![],
            transmission_edges: 0,
            shared_exposures: 0,
            cases,
            chain,
        }
    }

    fn words() -> ChainWords<'static> {
        ChainWords {
            title: "Chain <x>",
            desc: "desc",
            transmission: "Transmission",
            shared: "Shared",
            outside: "outside",
        }
    }

    #[test]
    fn the_graph_is_well_formed_escaped_and_titled() {
        let c = cluster(12);
        let out = draw(
            &c,
            chrono_tz::Asia::Shanghai,
            &words(),
            |id| NodeLabel {
                text: id.to_string(),
                outside: id == "C<3>",
            },
            |d| d.to_string(),
        );
        assert_eq!(out.drawn, 12);
        assert!(!out.capped);
        assert!(out
            .svg
            .contains("<title id=\"chain-title\">Chain &lt;x&gt;</title>"));
        assert!(!out.svg.contains("C<3>"), "ids are escaped");
        assert_eq!(out.svg.matches("<circle").count(), 12);
        assert_eq!(out.svg.matches("<line").count(), 11);
        assert_eq!(out.svg.matches("marker-end").count(), 5);
        let mut reader = quick_xml::Reader::from_str(&out.svg);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed: {e}"),
            }
        }
    }

    #[test]
    fn large_clusters_are_capped() {
        let c = cluster(MAX_NODES + 40);
        let out = draw(
            &c,
            chrono_tz::Asia::Shanghai,
            &words(),
            |id| NodeLabel {
                text: id.to_string(),
                outside: false,
            },
            |d| d.to_string(),
        );
        assert!(out.capped);
        assert_eq!(out.drawn, MAX_NODES);
        assert_eq!(out.svg.matches("<circle").count(), MAX_NODES);
        // Links to undrawn cases are left out of the picture.
        assert_eq!(out.svg.matches("<line").count(), MAX_NODES - 1);
    }
}
