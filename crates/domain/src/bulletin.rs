//! The daily bulletin (疫情情况通报): the figures of one day, 0–24 h, for a region
//! and everything below it, and their rendering in the health commission's wording.
//!
//! Counting rules:
//! - A case is a new infection once, on the day it is reported: as confirmed if it is
//!   confirmed by the end of that day, otherwise as asymptomatic.
//! - A case reported asymptomatic on an earlier day and reclassified today counts among
//!   today's new confirmed, as one of the "含X例无症状感染者转为确诊病例"; it is not a new infection.
//! - Only what was known by the end of the day counts: later reclassifications and outcomes do not.

use crate::case::{Classification, ClinicalType, DiscoveryChannel, Origin, Outcome};
use crate::i18n::Lang;
use crate::region::{RegionLevel, RegionTree};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where an instant falls relative to the bulletin's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Period {
    Before,
    During,
    After,
}

impl Period {
    fn by_end_of_day(self) -> bool {
        self != Period::After
    }
}

/// A group of `count` cases alike in everything the bulletin looks at. Storage
/// produces these with one grouped query; the rules below are applied here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFact {
    pub reporting_region: String,
    pub origin: Origin,
    /// The classification now (after any reclassification).
    pub classification: Classification,
    pub clinical_type: Option<ClinicalType>,
    pub discovery_channel: DiscoveryChannel,
    pub reported: Period,
    pub reclassified: Option<Period>,
    pub outcome: Option<(Outcome, Period)>,
    pub count: u64,
}

impl CaseFact {
    fn confirmed_by_end_of_day(&self) -> bool {
        self.classification == Classification::Confirmed
            && self.reclassified.is_none_or(Period::by_end_of_day)
    }
}

/// Figures of one origin (local or imported) for one region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCases {
    pub confirmed: u64,
    /// Of `confirmed`, reported asymptomatic on an earlier day.
    pub confirmed_reclassified: u64,
    pub asymptomatic: u64,
}

impl NewCases {
    /// New infections: new confirmed not previously reported, plus new asymptomatic.
    pub fn infections(&self) -> u64 {
        self.confirmed - self.confirmed_reclassified + self.asymptomatic
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByClinicalType {
    pub mild: u64,
    pub moderate: u64,
    pub severe: u64,
    pub critical: u64,
    pub unknown: u64,
}

impl ByClinicalType {
    fn add(&mut self, t: Option<ClinicalType>, n: u64) {
        *match t {
            Some(ClinicalType::Mild) => &mut self.mild,
            Some(ClinicalType::Moderate) => &mut self.moderate,
            Some(ClinicalType::Severe) => &mut self.severe,
            Some(ClinicalType::Critical) => &mut self.critical,
            None => &mut self.unknown,
        } += n;
    }
}

/// New local infections found through one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelFigures {
    pub channel: DiscoveryChannel,
    pub confirmed: u64,
    pub asymptomatic: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedAsymptomatic {
    pub confirmed: u64,
    pub asymptomatic: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    /// Confirmed cases discharged (治愈出院).
    pub discharged: u64,
    /// Asymptomatic infections released from medical observation (解除隔离医学观察).
    pub released: u64,
    pub died: u64,
}

impl Outcomes {
    fn add(&mut self, o: Outcome, n: u64) {
        *match o {
            Outcome::Discharged => &mut self.discharged,
            Outcome::Released => &mut self.released,
            Outcome::Died => &mut self.died,
        } += n;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cumulative {
    pub local_confirmed: u64,
    pub local_asymptomatic: u64,
    pub imported_confirmed: u64,
    pub imported_asymptomatic: u64,
    pub discharged: u64,
    pub released: u64,
    pub died: u64,
    /// Confirmed cases without an outcome at the end of the day (在院治疗).
    pub in_hospital: u64,
    /// Asymptomatic infections without an outcome at the end of the day (在院医学观察).
    pub under_observation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRef {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
}

/// One child region's line in the bulletin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionFigures {
    pub code: String,
    pub name: String,
    pub new_local_confirmed: u64,
    pub new_local_confirmed_reclassified: u64,
    pub new_local_asymptomatic: u64,
    pub new_imported_confirmed: u64,
    pub new_imported_asymptomatic: u64,
    pub discharged: u64,
    pub released: u64,
}

/// The bulletin's figures. Field names are the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulletin {
    pub date: NaiveDate,
    pub region: RegionRef,
    pub new_local_confirmed: u64,
    pub new_local_confirmed_reclassified: u64,
    pub new_local_confirmed_by_clinical_type: ByClinicalType,
    pub new_local_asymptomatic: u64,
    pub new_imported_confirmed: u64,
    pub new_imported_confirmed_reclassified: u64,
    pub new_imported_asymptomatic: u64,
    /// New local infections found while under quarantine or control (在隔离管控中发现).
    pub new_local_found_under_control: ConfirmedAsymptomatic,
    /// New local infections found in community and risk-group screening (社会面筛查中发现).
    pub new_local_found_in_community: ConfirmedAsymptomatic,
    pub new_local_by_discovery_channel: Vec<ChannelFigures>,
    pub outcomes: Outcomes,
    pub cumulative: Cumulative,
    /// Child regions with any figure on the day, in code order; a line with the
    /// region's own code holds cases reported at its own level.
    pub by_region: Vec<RegionFigures>,
}

#[derive(Default)]
struct Tally {
    local: NewCases,
    imported: NewCases,
    outcomes: Outcomes,
}

impl Tally {
    fn add(&mut self, f: &CaseFact) {
        let n = f.count;
        let new = match f.origin {
            Origin::Local => &mut self.local,
            Origin::Imported => &mut self.imported,
        };
        let confirmed = f.confirmed_by_end_of_day();
        match (f.reported, f.reclassified) {
            (Period::During, _) if confirmed => new.confirmed += n,
            (Period::During, _) => new.asymptomatic += n,
            (Period::Before, Some(Period::During)) => {
                new.confirmed += n;
                new.confirmed_reclassified += n;
            }
            _ => {}
        }
        if let Some((o, Period::During)) = f.outcome {
            self.outcomes.add(o, n);
        }
    }
}

/// Computes the bulletin of `date` for `scope` from grouped case facts. Facts
/// reported outside `scope` are ignored. `None` if `scope` is not in the tree.
pub fn compute(
    tree: &RegionTree,
    scope: &str,
    date: NaiveDate,
    facts: &[CaseFact],
    lang: Lang,
) -> Option<Bulletin> {
    let region = tree.get(scope)?;
    let mut total = Tally::default();
    let mut by_type = ByClinicalType::default();
    let mut by_channel: BTreeMap<DiscoveryChannel, ConfirmedAsymptomatic> = BTreeMap::new();
    let mut cumulative = Cumulative::default();
    let mut by_child: BTreeMap<String, Tally> = BTreeMap::new();

    for f in facts {
        if !tree.is_within(&f.reporting_region, scope) {
            continue;
        }
        let n = f.count;
        let confirmed = f.confirmed_by_end_of_day();
        total.add(f);
        let line = tree
            .child_of_scope_holding(scope, &f.reporting_region)
            .map_or_else(|| scope.to_string(), |c| c.code.clone());
        by_child.entry(line).or_default().add(f);

        if f.origin == Origin::Local {
            let new_confirmed_today = f.reported == Period::During && confirmed
                || f.reported == Period::Before && f.reclassified == Some(Period::During);
            if new_confirmed_today {
                by_type.add(f.clinical_type, n);
            }
            if f.reported == Period::During {
                let c = by_channel.entry(f.discovery_channel).or_default();
                if confirmed {
                    c.confirmed += n;
                } else {
                    c.asymptomatic += n;
                }
            }
        }

        if f.reported.by_end_of_day() {
            match (f.origin, confirmed) {
                (Origin::Local, true) => cumulative.local_confirmed += n,
                (Origin::Local, false) => cumulative.local_asymptomatic += n,
                (Origin::Imported, true) => cumulative.imported_confirmed += n,
                (Origin::Imported, false) => cumulative.imported_asymptomatic += n,
            }
            match f.outcome {
                Some((o, p)) if p.by_end_of_day() => match o {
                    Outcome::Discharged => cumulative.discharged += n,
                    Outcome::Released => cumulative.released += n,
                    Outcome::Died => cumulative.died += n,
                },
                _ if confirmed => cumulative.in_hospital += n,
                _ => cumulative.under_observation += n,
            }
        }
    }

    let mut under_control = ConfirmedAsymptomatic::default();
    let mut in_community = ConfirmedAsymptomatic::default();
    for (channel, c) in &by_channel {
        let side = if channel.under_control() {
            &mut under_control
        } else {
            &mut in_community
        };
        side.confirmed += c.confirmed;
        side.asymptomatic += c.asymptomatic;
    }

    let by_region = by_child
        .into_iter()
        .filter(|(_, t)| {
            t.local.confirmed
                + t.local.asymptomatic
                + t.imported.confirmed
                + t.imported.asymptomatic
                + t.outcomes.discharged
                + t.outcomes.released
                > 0
        })
        .map(|(code, t)| RegionFigures {
            name: tree
                .get(&code)
                .map(|r| r.name(lang).to_string())
                .unwrap_or_default(),
            code,
            new_local_confirmed: t.local.confirmed,
            new_local_confirmed_reclassified: t.local.confirmed_reclassified,
            new_local_asymptomatic: t.local.asymptomatic,
            new_imported_confirmed: t.imported.confirmed,
            new_imported_asymptomatic: t.imported.asymptomatic,
            discharged: t.outcomes.discharged,
            released: t.outcomes.released,
        })
        .collect();

    Some(Bulletin {
        date,
        region: RegionRef {
            code: region.code.clone(),
            name: region.name(lang).to_string(),
            level: region.level,
        },
        new_local_confirmed: total.local.confirmed,
        new_local_confirmed_reclassified: total.local.confirmed_reclassified,
        new_local_confirmed_by_clinical_type: by_type,
        new_local_asymptomatic: total.local.asymptomatic,
        new_imported_confirmed: total.imported.confirmed,
        new_imported_confirmed_reclassified: total.imported.confirmed_reclassified,
        new_imported_asymptomatic: total.imported.asymptomatic,
        new_local_found_under_control: under_control,
        new_local_found_in_community: in_community,
        new_local_by_discovery_channel: by_channel
            .into_iter()
            .map(|(channel, c)| ChannelFigures {
                channel,
                confirmed: c.confirmed,
                asymptomatic: c.asymptomatic,
            })
            .collect(),
        outcomes: total.outcomes,
        cumulative,
        by_region,
    })
}

/// Output formats of a bulletin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

impl Bulletin {
    /// Renders the bulletin. JSON is the serialised figures; text and markdown
    /// follow the health commission's wording in zh and say the same in en.
    pub fn render(&self, format: Format, lang: Lang) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default(),
            Format::Text => self.paragraphs(lang).join("\n"),
            Format::Markdown => {
                let mut out = String::new();
                let paras = self.paragraphs(lang);
                if let Some((title, body)) = paras.split_first() {
                    let _ = writeln!(out, "# {title}\n");
                    for p in body {
                        let _ = writeln!(out, "{p}\n");
                    }
                }
                out.push_str(&self.markdown_table(lang));
                out
            }
        }
    }

    fn paragraphs(&self, lang: Lang) -> Vec<String> {
        match lang {
            Lang::Zh => self.paragraphs_zh(),
            Lang::En => self.paragraphs_en(),
        }
    }

    fn lines_zh(&self, pick: impl Fn(&RegionFigures) -> (u64, u64)) -> String {
        let parts: Vec<String> = self
            .by_region
            .iter()
            .filter_map(|r| {
                let (n, reclassified) = pick(r);
                (n > 0).then(|| match reclassified {
                    0 => format!("{}{n}例", r.name),
                    x => format!("{}{n}例（含{x}例无症状感染者转为确诊病例）", r.name),
                })
            })
            .collect();
        if parts.is_empty()
            || self.by_region.len() == 1 && self.by_region[0].code == self.region.code
        {
            String::new()
        } else {
            format!("，其中{}", parts.join("、"))
        }
    }

    fn lines_en(&self, pick: impl Fn(&RegionFigures) -> (u64, u64)) -> String {
        let parts: Vec<String> = self
            .by_region
            .iter()
            .filter_map(|r| {
                let (n, reclassified) = pick(r);
                (n > 0).then(|| match reclassified {
                    0 => format!("{} {n}", r.name),
                    x => format!("{} {n} (including {x} reclassified)", r.name),
                })
            })
            .collect();
        if parts.is_empty()
            || self.by_region.len() == 1 && self.by_region[0].code == self.region.code
        {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }

    fn paragraphs_zh(&self) -> Vec<String> {
        let (m, d) = (self.date.month(), self.date.day());
        let published = self.date.succ_opt().unwrap_or(self.date);
        let whole = self.region.level.whole_of(Lang::Zh);
        let mut out = vec![format!(
            "{}卫生健康委员会关于新型冠状病毒肺炎疫情情况通报（{}年{}月{}日公布）",
            self.region.name,
            published.year(),
            published.month(),
            published.day()
        )];

        let mut p = format!(
            "{m}月{d}日0—24时，{whole}新增本地确诊病例{}例",
            self.new_local_confirmed
        );
        if self.new_local_confirmed_reclassified > 0 {
            let _ = write!(
                p,
                "（含{}例无症状感染者转为确诊病例）",
                self.new_local_confirmed_reclassified
            );
        }
        p += &self.lines_zh(|r| (r.new_local_confirmed, r.new_local_confirmed_reclassified));
        let _ = write!(p, "；新增本地无症状感染者{}例", self.new_local_asymptomatic);
        p += &self.lines_zh(|r| (r.new_local_asymptomatic, 0));
        let _ = write!(p, "。新增境外输入确诊病例{}例", self.new_imported_confirmed);
        if self.new_imported_confirmed_reclassified > 0 {
            let _ = write!(
                p,
                "（含{}例无症状感染者转为确诊病例）",
                self.new_imported_confirmed_reclassified
            );
        }
        let _ = write!(
            p,
            "，新增境外输入无症状感染者{}例。",
            self.new_imported_asymptomatic
        );
        out.push(p);

        let t = &self.new_local_confirmed_by_clinical_type;
        if self.new_local_confirmed > 0 {
            let mut kinds = Vec::new();
            for (n, label) in [
                (t.mild, "轻型"),
                (t.moderate, "普通型"),
                (t.severe, "重型"),
                (t.critical, "危重型"),
                (t.unknown, "分型待定"),
            ] {
                if n > 0 {
                    kinds.push(format!("{label}{n}例"));
                }
            }
            let mut p = format!("新增本地确诊病例中，{}。", kinds.join("、"));
            let (c, a) = (
                &self.new_local_found_under_control,
                &self.new_local_found_in_community,
            );
            if c.confirmed + c.asymptomatic + a.confirmed + a.asymptomatic > 0 {
                let _ = write!(
                    p,
                    "新增本地感染者中，{}例确诊病例和{}例无症状感染者在隔离管控中发现，{}例确诊病例和{}例无症状感染者在社会面筛查中发现。",
                    c.confirmed, c.asymptomatic, a.confirmed, a.asymptomatic
                );
            }
            out.push(p);
        } else if self.new_local_asymptomatic > 0 {
            let (c, a) = (
                &self.new_local_found_under_control,
                &self.new_local_found_in_community,
            );
            out.push(format!(
                "新增本地无症状感染者中，{}例在隔离管控中发现，{}例在社会面筛查中发现。",
                c.asymptomatic, a.asymptomatic
            ));
        }

        let o = &self.outcomes;
        let mut p = format!(
            "当日新增治愈出院确诊病例{}例{}，解除隔离医学观察无症状感染者{}例{}",
            o.discharged,
            self.lines_zh(|r| (r.discharged, 0)),
            o.released,
            self.lines_zh(|r| (r.released, 0)),
        );
        if o.died > 0 {
            let _ = write!(p, "，死亡{}例", o.died);
        }
        p.push('。');
        out.push(p);

        let c = &self.cumulative;
        out.push(format!(
            "截至{m}月{d}日24时，{whole}累计报告本地确诊病例{}例、本地无症状感染者{}例，累计报告境外输入确诊病例{}例、境外输入无症状感染者{}例；累计治愈出院{}例，解除隔离医学观察{}例，死亡{}例；现有在院治疗确诊病例{}例，在院医学观察无症状感染者{}例。",
            c.local_confirmed, c.local_asymptomatic, c.imported_confirmed, c.imported_asymptomatic,
            c.discharged, c.released, c.died, c.in_hospital, c.under_observation
        ));
        out
    }

    fn paragraphs_en(&self) -> Vec<String> {
        let date = self.date.format("%-d %B %Y");
        let published = self
            .date
            .succ_opt()
            .unwrap_or(self.date)
            .format("%-d %B %Y");
        let whole = self.region.level.whole_of(Lang::En);
        let cases =
            |n: u64, kind: &str| counted(n, &format!("{kind} case"), &format!("{kind} cases"));
        let infections = |n: u64, kind: &str| {
            counted(
                n,
                &format!("{kind} infection"),
                &format!("{kind} infections"),
            )
        };
        let mut out = vec![format!(
            "{} Health Commission: COVID-19 situation report (published {published})",
            self.region.name
        )];

        let mut p = format!(
            "From 0:00 to 24:00 on {date}, {whole} reported {}",
            cases(self.new_local_confirmed, "new local confirmed")
        );
        if self.new_local_confirmed_reclassified > 0 {
            let _ = write!(
                p,
                ", including {} reclassified as confirmed",
                infections(self.new_local_confirmed_reclassified, "asymptomatic")
            );
        }
        p += &self.lines_en(|r| (r.new_local_confirmed, r.new_local_confirmed_reclassified));
        let _ = write!(
            p,
            "; and {}",
            infections(self.new_local_asymptomatic, "new local asymptomatic")
        );
        p += &self.lines_en(|r| (r.new_local_asymptomatic, 0));
        let _ = write!(
            p,
            ". There were {}",
            cases(self.new_imported_confirmed, "new imported confirmed")
        );
        if self.new_imported_confirmed_reclassified > 0 {
            let _ = write!(
                p,
                " (including {} reclassified)",
                self.new_imported_confirmed_reclassified
            );
        }
        let _ = write!(
            p,
            " and {}.",
            infections(self.new_imported_asymptomatic, "new imported asymptomatic")
        );
        out.push(p);

        let t = &self.new_local_confirmed_by_clinical_type;
        let (c, a) = (
            &self.new_local_found_under_control,
            &self.new_local_found_in_community,
        );
        if self.new_local_confirmed > 0 {
            let kinds: Vec<String> = [
                (t.mild, "mild"),
                (t.moderate, "moderate"),
                (t.severe, "severe"),
                (t.critical, "critical"),
                (t.unknown, "type pending"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, l)| format!("{n} {l}"))
            .collect();
            let mut p = format!("Of the new local confirmed cases, {}.", kinds.join(", "));
            if c.confirmed + c.asymptomatic + a.confirmed + a.asymptomatic > 0 {
                let _ = write!(
                    p,
                    " Of the new local infections, {} and {} were found under quarantine or control, and {} and {} in community screening.",
                    cases(c.confirmed, "confirmed"),
                    infections(c.asymptomatic, "asymptomatic"),
                    cases(a.confirmed, "confirmed"),
                    infections(a.asymptomatic, "asymptomatic"),
                );
            }
            out.push(p);
        } else if self.new_local_asymptomatic > 0 {
            out.push(format!(
                "Of the new local asymptomatic infections, {} found under quarantine or control and {} in community screening.",
                counted(c.asymptomatic, "was", "were"),
                a.asymptomatic
            ));
        }

        let o = &self.outcomes;
        let mut p = format!(
            "On the day, {} discharged{} and {} released from medical observation{}",
            with_verb(cases(o.discharged, "confirmed"), o.discharged),
            self.lines_en(|r| (r.discharged, 0)),
            with_verb(infections(o.released, "asymptomatic"), o.released),
            self.lines_en(|r| (r.released, 0)),
        );
        if o.died > 0 {
            let _ = write!(p, "; {} died", o.died);
        }
        p.push('.');
        out.push(p);

        let m = &self.cumulative;
        out.push(format!(
            "As of 24:00 on {date}, {whole} had reported {} and {} in total, and {} and {}; {} discharged, {} released from medical observation and {} in total; {} in hospital and {} under medical observation.",
            cases(m.local_confirmed, "local confirmed"),
            infections(m.local_asymptomatic, "local asymptomatic"),
            cases(m.imported_confirmed, "imported confirmed"),
            infections(m.imported_asymptomatic, "imported asymptomatic"),
            m.discharged,
            m.released,
            counted(m.died, "death", "deaths"),
            with_be(cases(m.in_hospital, "confirmed"), m.in_hospital),
            with_be(infections(m.under_observation, "asymptomatic"), m.under_observation),
        ));
        out
    }

    fn markdown_table(&self, lang: Lang) -> String {
        if self.by_region.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        let head = match lang {
            Lang::Zh => "| 地区 | 代码 | 新增本地确诊 | 其中无症状转确诊 | 新增本地无症状 | 新增境外输入确诊 | 新增境外输入无症状 | 治愈出院 | 解除医学观察 |",
            Lang::En => "| Region | Code | New local confirmed | Of which reclassified | New local asymptomatic | New imported confirmed | New imported asymptomatic | Discharged | Released |",
        };
        let _ = writeln!(out, "{head}\n|---|---|--:|--:|--:|--:|--:|--:|--:|");
        for r in &self.by_region {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                r.code,
                r.new_local_confirmed,
                r.new_local_confirmed_reclassified,
                r.new_local_asymptomatic,
                r.new_imported_confirmed,
                r.new_imported_asymptomatic,
                r.discharged,
                r.released
            );
        }
        out
    }
}

/// "1 case", "2 cases".
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn with_verb(subject: String, n: u64) -> String {
    format!("{subject} {}", if n == 1 { "was" } else { "were" })
}

fn with_be(subject: String, n: u64) -> String {
    format!("{subject} {}", if n == 1 { "is" } else { "are" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Region;

    fn tree() -> RegionTree {
        let r = |code: &str, parent: Option<&str>, level, zh: &str, en: &str| Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: zh.into(),
            name_en: en.into(),
            population: 0,
        };
        RegionTree::new([
            r(
                "220000",
                None,
                RegionLevel::Province,
                "吉林省",
                "Jilin Province",
            ),
            r(
                "220100",
                Some("220000"),
                RegionLevel::City,
                "长春市",
                "Changchun",
            ),
            r(
                "220102",
                Some("220100"),
                RegionLevel::District,
                "南关区",
                "Nanguan",
            ),
            r(
                "220200",
                Some("220000"),
                RegionLevel::City,
                "吉林市",
                "Jilin City",
            ),
        ])
    }

    fn fact(
        region: &str,
        class: Classification,
        reported: Period,
        reclassified: Option<Period>,
        count: u64,
    ) -> CaseFact {
        CaseFact {
            reporting_region: region.into(),
            origin: Origin::Local,
            classification: class,
            clinical_type: (class == Classification::Confirmed).then_some(ClinicalType::Mild),
            discovery_channel: DiscoveryChannel::CommunityScreening,
            reported,
            reclassified,
            outcome: None,
            count,
        }
    }

    #[test]
    fn reclassification_counts_as_confirmed_once_and_never_as_a_new_infection() {
        use Classification::*;
        use Period::*;
        let facts = [
            fact("220102", Confirmed, During, None, 10),
            fact("220102", Confirmed, Before, Some(During), 3),
            fact("220200", Confirmed, During, Some(During), 2),
            fact("220200", Confirmed, During, Some(After), 4),
            fact("220200", Asymptomatic, During, None, 5),
            fact("220200", Confirmed, Before, Some(Before), 7),
        ];
        let d = NaiveDate::from_ymd_opt(2022, 3, 9).unwrap();
        let b = compute(&tree(), "220000", d, &facts, Lang::Zh).unwrap();
        assert_eq!(b.new_local_confirmed, 15);
        assert_eq!(b.new_local_confirmed_reclassified, 3);
        assert_eq!(b.new_local_asymptomatic, 9);
        assert_eq!(b.by_region.len(), 2);
        assert_eq!(b.by_region[0].code, "220100");
        assert_eq!(b.by_region[0].new_local_confirmed, 13);
        assert_eq!(b.by_region[1].new_local_asymptomatic, 9);
        assert_eq!(b.cumulative.local_confirmed, 22);
        assert_eq!(b.cumulative.local_asymptomatic, 9);
        let text = b.render(Format::Text, Lang::Zh);
        assert!(
            text.contains("3月9日0—24时，全省新增本地确诊病例15例（含3例无症状感染者转为确诊病例），其中长春市13例（含3例无症状感染者转为确诊病例）、吉林市2例；新增本地无症状感染者9例，其中吉林市9例。"),
            "{text}"
        );
        let city = compute(&tree(), "220100", d, &facts, Lang::En).unwrap();
        assert_eq!(city.new_local_confirmed, 13);
        let text = city.render(Format::Text, Lang::En);
        assert!(
            text.contains(
                "the city reported 13 new local confirmed cases, including 3 asymptomatic"
            ),
            "{text}"
        );
    }
}
