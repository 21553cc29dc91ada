//! Charts drawn on the server as SVG: pure functions from figures to an SVG
//! string. Every chart has `role="img"`, a `<title>` and a `<desc>` named by
//! `aria-labelledby`, and every text in it is escaped; the page shows the
//! same figures in a table beside it (the table is the accessible reading).

use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every chart says about itself.
pub(crate) struct Labels<'a> {
    /// A prefix for element ids, unique on the page (letters, digits, `-`).
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
}

fn open(svg: &mut String, l: &Labels, width: u32, height: u32) {
    let id: String =
        l.id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc" class="chart" preserveAspectRatio="xMidYMid meet"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(l.title),
        esc(l.desc)
    );
}

/// A round step for an axis reaching `max` in about `ticks` steps: 1, 2, 5 × 10ⁿ.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let raw = max.div_ceil(ticks.max(1)).max(1);
    let mut pow = 1u64;
    while pow.saturating_mul(10) <= raw {
        pow *= 10;
    }
    for m in [1, 2, 5, 10] {
        if pow.saturating_mul(m) >= raw {
            return pow.saturating_mul(m);
        }
    }
    pow.saturating_mul(10)
}

/// One day of the epidemic curve.
pub(crate) struct EpiBar {
    /// The axis label (a short localised date).
    pub label: String,
    /// New local confirmed, reclassifications included.
    pub confirmed: u64,
    /// Of `confirmed`, reclassified from asymptomatic.
    pub reclassified: u64,
    pub asymptomatic: u64,
    /// The day the page is showing.
    pub selected: bool,
}

/// Legend texts of the epidemic curve.
pub(crate) struct EpiLegend<'a> {
    pub confirmed: &'a str,
    pub asymptomatic: &'a str,
    pub reclassified: &'a str,
}

pub(crate) const EPI_W: u32 = 960;
pub(crate) const EPI_H: u32 = 360;
const M_LEFT: u32 = 56;
const M_RIGHT: u32 = 12;
const M_TOP: u32 = 30;
const M_BOTTOM: u32 = 48;

/// The epidemic curve: per day a bar of new confirmed (its reclassified part
/// at the base, marked in another colour) with new asymptomatic stacked on top.
pub(crate) fn epi_curve(l: &Labels, legend: &EpiLegend, days: &[EpiBar]) -> String {
    let mut svg = String::new();
    open(&mut svg, l, EPI_W, EPI_H);
    let plot_w = (EPI_W - M_LEFT - M_RIGHT) as f64;
    let plot_h = (EPI_H - M_TOP - M_BOTTOM) as f64;
    let base = (EPI_H - M_BOTTOM) as f64;
    let max = days
        .iter()
        .map(|d| d.confirmed + d.asymptomatic)
        .max()
        .unwrap_or(0);
    let step = nice_step(max, 5);
    let top = (max.div_ceil(step).max(1)) * step;
    let scale = plot_h / top as f64;
    // Grid and y axis labels.
    let mut v = 0;
    while v <= top {
        let y = base - v as f64 * scale;
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{M_LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#57606a">{v}</text>"##,
            EPI_W - M_RIGHT,
            M_LEFT - 6,
            y + 4.0
        );
        v += step;
    }
    let n = days.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.8).max(1.0);
    // About ten labels, whatever the number of days.
    let label_every = days.len().div_ceil(10).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = M_LEFT as f64 + i as f64 * slot + (slot - bar_w) / 2.0;
        let h_rec = d.reclassified as f64 * scale;
        let h_conf = d.confirmed.saturating_sub(d.reclassified) as f64 * scale;
        let h_asym = d.asymptomatic as f64 * scale;
        let tip = format!(
            "{}: {} {}, {} {}, {} {}",
            d.label,
            legend.confirmed,
            d.confirmed,
            legend.reclassified,
            d.reclassified,
            legend.asymptomatic,
            d.asymptomatic
        );
        let _ = write!(
            svg,
            r#"<g class="day{}"><title>{}</title>"#,
            if d.selected { " selected" } else { "" },
            esc(&tip)
        );
        if d.selected {
            let _ = write!(
                svg,
                r##"<rect class="selected-day" x="{:.1}" y="{M_TOP}" width="{:.1}" height="{plot_h:.1}" fill="#fff4d6"/>"##,
                M_LEFT as f64 + i as f64 * slot,
                slot
            );
        }
        let mut y = base;
        for (class, h, fill) in [
            ("bar-reclassified", h_rec, "#5b2c83"),
            ("bar-confirmed", h_conf, "#c0392b"),
            ("bar-asymptomatic", h_asym, "#e69f00"),
        ] {
            if h > 0.0 {
                y -= h;
                let _ = write!(
                    svg,
                    r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{fill}"/>"#
                );
            }
        }
        svg.push_str("</g>");
        if i.is_multiple_of(label_every) || d.selected {
            let cx = x + bar_w / 2.0;
            let _ = write!(
                svg,
                r##"<text x="{cx:.1}" y="{}" text-anchor="middle" font-size="11" fill="#1b1f24">{}</text>"##,
                base + 16.0,
                esc(&d.label)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="{M_LEFT}" x2="{}" y1="{base}" y2="{base}" stroke="#1b1f24" stroke-width="1"/>"##,
        EPI_W - M_RIGHT
    );
    // Legend along the top.
    let mut lx = M_LEFT as f64;
    for (text, fill) in [
        (legend.confirmed, "#c0392b"),
        (legend.reclassified, "#5b2c83"),
        (legend.asymptomatic, "#e69f00"),
    ] {
        let _ = write!(
            svg,
            r##"<rect x="{lx:.1}" y="8" width="12" height="12" fill="{fill}"/><text x="{:.1}" y="18" font-size="12" fill="#1b1f24">{}</text>"##,
            lx + 16.0,
            esc(text)
        );
        lx += 30.0 + text.chars().count() as f64 * 12.0;
    }
    svg.push_str("</svg>");
    svg
}

/// One bar of a horizontal bar chart (the funnel).
pub(crate) struct HBar {
    pub label: String,
    pub value: u64,
}

pub(crate) const HBAR_W: u32 = 520;
const HBAR_ROW: u32 = 28;
const HBAR_LABEL: u32 = 170;

/// Horizontal bars, one per row, longest = the largest value: the loop funnel.
pub(crate) fn hbars(l: &Labels, rows: &[HBar]) -> String {
    let height = M_TOP.max(10) + rows.len() as u32 * HBAR_ROW + 10;
    let mut svg = String::new();
    open(&mut svg, l, HBAR_W, height);
    let max = rows.iter().map(|r| r.value).max().unwrap_or(0).max(1);
    let plot_w = (HBAR_W - HBAR_LABEL - 70) as f64;
    for (i, r) in rows.iter().enumerate() {
        let y = 10 + i as u32 * HBAR_ROW;
        let w = r.value as f64 / max as f64 * plot_w;
        let _ = write!(
            svg,
            r##"<g class="hbar"><text x="{}" y="{}" text-anchor="end" font-size="14" fill="#1b1f24">{}</text><rect class="bar" x="{HBAR_LABEL}" y="{}" width="{w:.1}" height="{}" fill="#0b5cad"/><text x="{:.1}" y="{}" font-size="14" fill="#1b1f24">{}</text></g>"##,
            HBAR_LABEL - 8,
            y + 18,
            esc(&r.label),
            y + 4,
            HBAR_ROW - 8,
            HBAR_LABEL as f64 + w + 6.0,
            y + 18,
            r.value
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One bar of the capacity chart: people held against the capacity.
pub(crate) struct CapBar {
    pub label: String,
    pub used: u64,
    pub capacity: u64,
}

pub(crate) const CAP_W: u32 = 640;
pub(crate) const CAP_H: u32 = 280;

/// Vertical bars: the capacity as an outline, the people held filled inside
/// it (red when over capacity).
pub(crate) fn capacity(l: &Labels, rows: &[CapBar]) -> String {
    let mut svg = String::new();
    open(&mut svg, l, CAP_W, CAP_H);
    let base = (CAP_H - M_BOTTOM) as f64;
    let plot_h = (CAP_H - M_BOTTOM - M_TOP) as f64;
    let max = rows
        .iter()
        .map(|r| r.used.max(r.capacity))
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = plot_h / max as f64;
    let n = rows.len().max(1) as f64;
    let slot = (CAP_W - M_LEFT - M_RIGHT) as f64 / n;
    let bar_w = (slot * 0.6).max(1.0);
    for (i, r) in rows.iter().enumerate() {
        let x = M_LEFT as f64 + i as f64 * slot + (slot - bar_w) / 2.0;
        let hc = r.capacity as f64 * scale;
        let hu = r.used as f64 * scale;
        let fill = if r.used > r.capacity {
            "#b42318"
        } else {
            "#0b5cad"
        };
        let _ = write!(
            svg,
            r##"<g class="cap"><title>{title}</title><rect class="capacity" x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{hc:.1}" fill="none" stroke="#57606a" stroke-dasharray="4 2"/><rect class="bar used" x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{hu:.1}" fill="{fill}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12" fill="#1b1f24">{used}/{cap}</text><text x="{:.1}" y="{}" text-anchor="middle" font-size="12" fill="#1b1f24">{label}</text></g>"##,
            base - hc,
            base - hu,
            x + bar_w / 2.0,
            base - hc.max(hu) - 4.0,
            x + bar_w / 2.0,
            base + 16.0,
            title = esc(&format!("{}: {}/{}", r.label, r.used, r.capacity)),
            used = r.used,
            cap = r.capacity,
            label = esc(&r.label),
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{M_LEFT}" x2="{}" y1="{base}" y2="{base}" stroke="#1b1f24"/>"##,
        CAP_W - M_RIGHT
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// An element's name and attributes.
    type Element = (String, Vec<(String, String)>);

    /// Parses the SVG (failing on malformed XML) and returns every element
    /// with its attributes, and all text.
    fn parse(svg: &str) -> (Vec<Element>, String) {
        let mut reader = Reader::from_str(svg);
        reader.config_mut().check_end_names = true;
        let mut elements = Vec::new();
        let mut text = String::new();
        loop {
            match reader.read_event().expect("well-formed SVG") {
                Event::Start(e) | Event::Empty(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.expect("attribute");
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.decode_and_unescape_value(reader.decoder())
                                    .expect("escaped value")
                                    .into_owned(),
                            )
                        })
                        .collect();
                    elements.push((name, attrs));
                }
                Event::Text(t) => text.push_str(&t.unescape().expect("escaped text")),
                Event::Eof => break,
                _ => {}
            }
        }
        (elements, text)
    }

    fn attr<'a>(e: &'a Element, k: &str) -> Option<&'a str> {
        e.1.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn heights(elements: &[Element], class: &str) -> Vec<f64> {
        elements
            .iter()
            .filter(|e| {
                e.0 == "rect" && attr(e, "class").is_some_and(|c| c.split(' ').any(|c| c == class))
            })
            .map(|e| attr(e, "height").unwrap().parse::<f64>().unwrap())
            .collect()
    }

    const L: Labels = Labels {
        id: "t",
        title: "Curve <&> \"quoted\"",
        desc: "desc",
    };

    fn legend() -> EpiLegend<'static> {
        EpiLegend {
            confirmed: "confirmed",
            asymptomatic: "asymptomatic",
            reclassified: "reclassified",
        }
    }

    #[test]
    fn the_epi_curve_is_well_formed_labelled_and_scaled() {
        let days = vec![
            EpiBar {
                label: "3/1 <b>".into(),
                confirmed: 10,
                reclassified: 2,
                asymptomatic: 5,
                selected: false,
            },
            EpiBar {
                label: "3/2".into(),
                confirmed: 20,
                reclassified: 0,
                asymptomatic: 10,
                selected: true,
            },
            EpiBar {
                label: "3/3".into(),
                confirmed: 0,
                reclassified: 0,
                asymptomatic: 0,
                selected: false,
            },
        ];
        let svg = epi_curve(&L, &legend(), &days);
        let (els, text) = parse(&svg);
        let root = &els[0];
        assert_eq!(root.0, "svg");
        assert_eq!(attr(root, "viewBox"), Some("0 0 960 360"));
        assert_eq!(attr(root, "role"), Some("img"));
        assert_eq!(attr(root, "aria-labelledby"), Some("t-title t-desc"));
        assert_eq!(els[1].0, "title");
        assert_eq!(attr(&els[1], "id"), Some("t-title"));
        assert_eq!(els[2].0, "desc");
        assert!(
            text.contains("Curve <&> \"quoted\""),
            "the title survives escaping"
        );
        assert!(text.contains("3/1 <b>"));
        assert!(!svg.contains("<b>"), "labels are escaped");
        let conf = heights(&els, "bar-confirmed");
        let asym = heights(&els, "bar-asymptomatic");
        let rec = heights(&els, "bar-reclassified");
        assert_eq!(conf.len(), 2, "no bar for an empty day");
        assert_eq!(rec.len(), 1);
        // Day 2 has twice day 1's asymptomatic; confirmed 20 vs 8 not reclassified.
        assert!((asym[1] / asym[0] - 2.0).abs() < 0.01, "{asym:?}");
        assert!((conf[1] / conf[0] - 20.0 / 8.0).abs() < 0.01, "{conf:?}");
        assert!((rec[0] / asym[0] - 2.0 / 5.0).abs() < 0.01);
        assert_eq!(
            els.iter()
                .filter(|e| attr(e, "class") == Some("selected-day"))
                .count(),
            1
        );
    }

    #[test]
    fn an_empty_curve_is_still_a_chart() {
        let (els, _) = parse(&epi_curve(&L, &legend(), &[]));
        assert_eq!(els[0].0, "svg");
        assert!(heights(&els, "bar-confirmed").is_empty());
    }

    #[test]
    fn funnel_bars_scale_with_their_values() {
        let rows = vec![
            HBar {
                label: "已判定 & <x>".into(),
                value: 100,
            },
            HBar {
                label: "隔离".into(),
                value: 50,
            },
            HBar {
                label: "解除".into(),
                value: 0,
            },
        ];
        let svg = hbars(&L, &rows);
        let (els, text) = parse(&svg);
        let widths: Vec<f64> = els
            .iter()
            .filter(|e| e.0 == "rect" && attr(e, "class") == Some("bar"))
            .map(|e| attr(e, "width").unwrap().parse().unwrap())
            .collect();
        assert_eq!(widths.len(), 3);
        assert!((widths[0] / widths[1] - 2.0).abs() < 0.01);
        assert_eq!(widths[2], 0.0);
        assert!(text.contains("已判定 & <x>"));
        assert!(attr(&els[0], "viewBox").is_some());
    }

    #[test]
    fn capacity_bars_scale_and_mark_overflow() {
        let rows = vec![
            CapBar {
                label: "hotel".into(),
                used: 30,
                capacity: 60,
            },
            CapBar {
                label: "hospital".into(),
                used: 90,
                capacity: 60,
            },
        ];
        let svg = capacity(&L, &rows);
        let (els, _) = parse(&svg);
        let used = heights(&els, "used");
        let cap = heights(&els, "capacity");
        assert!((used[1] / used[0] - 3.0).abs() < 0.01);
        assert!((cap[0] - cap[1]).abs() < 0.01);
        let fills: Vec<&str> = els
            .iter()
            .filter(|e| attr(e, "class") == Some("bar used"))
            .map(|e| attr(e, "fill").unwrap())
            .collect();
        assert_eq!(fills, vec!["#0b5cad", "#b42318"]);
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0, 5), 1);
        assert_eq!(nice_step(7, 5), 2);
        assert_eq!(nice_step(1400, 5), 500);
        assert_eq!(nice_step(100, 5), 20);
    }
}
