//! The generator: one seeded random stream, consumed in a fixed order.

use crate::curve::{
    apportion, asymptomatic_split, confirmed_split, reclassified_target, scaled, DAILY_LOCAL,
    GROUPS, GROUP_CHANGCHUN, GROUP_JILIN_CITY,
};
use crate::movement;
use crate::people::{household_size, reference_date, Documents, Household};
use crate::regions::{Geography, CHANGCHUN, JILIN_CITY};
use crate::{DemoConfig, DemoData};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::person::PersonDraft;
use closedloop_domain::time::DEFAULT_TIME_ZONE;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashSet, VecDeque};

/// An asymptomatic infection is reclassified, if at all, within this many days
/// of its report: symptoms of Omicron show within days.
const RECLASSIFY_WITHIN_DAYS: u32 = 7;

/// Chance that a new case lives with an earlier case of the same district:
/// household spread was the commonest chain once people were locked in.
const JOIN_HOUSEHOLD: f64 = 0.2;
const RECENT_HOUSEHOLDS: usize = 30;
const HOUSEHOLD_OPEN_DAYS: u32 = 6;

/// Share of cases found while already under quarantine or control, by day.
/// Early cases walked into fever clinics or turned up in screening; by late
/// March nearly all were found inside the loop.
const UNDER_CONTROL: &[(u32, f64)] = &[
    (1, 0.15),
    (8, 0.35),
    (12, 0.6),
    (16, 0.8),
    (22, 0.85),
    (31, 0.9),
];
/// Of those found outside control, the share found at fever clinics.
const FEVER_CLINIC: &[(u32, f64)] = &[(1, 0.4), (9, 0.25), (14, 0.1), (31, 0.08)];

/// Share of cases whose outcome, once due before the month ends, is recorded:
/// some stay longer or their release is not yet entered.
const OUTCOME_RECORDED: f64 = 0.9;

/// Background residents at scale 1.0, and the part of them living with cases.
const BACKGROUND_AT_SCALE_1: u32 = 20_000;
const BACKGROUND_WITH_CASES: f64 = 0.4;

/// Jilin reported the wave's first two deaths on 19 March.
const DEATHS_AT_SCALE_1: u32 = 2;
const DEATH_DAY: u32 = 19;

struct Built {
    case: CaseDraft,
    /// Day of March of the first report.
    day: u32,
    age: u32,
}

struct Gen<'a> {
    rng: ChaCha8Rng,
    geo: &'a Geography,
    docs: Documents,
    households: Vec<Household>,
    /// Per district, the latest case households that others may join.
    recent: Vec<VecDeque<usize>>,
    cases: Vec<Built>,
}

pub(crate) fn march(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 3, day).unwrap_or_else(reference_date)
}

/// `secs` seconds after local midnight of `date`, as a UTC instant.
pub(crate) fn at_local(date: NaiveDate, secs: u32) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::seconds(i64::from(secs));
    DEFAULT_TIME_ZONE
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

fn local_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&DEFAULT_TIME_ZONE).date_naive()
}

fn lerp(points: &[(u32, f64)], day: u32) -> f64 {
    let after = points
        .iter()
        .position(|(d, _)| *d >= day)
        .unwrap_or(points.len() - 1);
    let (d1, v1) = points[after];
    if after == 0 || d1 <= day {
        return v1;
    }
    let (d0, v0) = points[after - 1];
    v0 + (v1 - v0) * f64::from(day - d0) / f64::from(d1 - d0)
}

fn pick_cumulative<T: PartialOrd + Copy>(cumulative: &[T], x: T) -> usize {
    cumulative
        .partition_point(|&c| c <= x)
        .min(cumulative.len() - 1)
}

pub(crate) fn run(cfg: &DemoConfig, with_movement: bool) -> DemoData {
    let scale = if cfg.scale.is_finite() {
        cfg.scale.max(0.0)
    } else {
        0.0
    };
    let geo = Geography::jilin();
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
        geo: &geo,
        docs: Documents::default(),
        households: Vec::new(),
        recent: vec![VecDeque::new(); geo.districts.len()],
        cases: Vec::new(),
    };
    g.local_wave(scale);
    g.imported(scale);
    g.outcomes(scale);
    let mut persons = g.background(scale);
    g.duplicates(scale, &mut persons);
    let cases = g.finish();
    let mut data = DemoData {
        regions: geo.regions.clone(),
        persons,
        cases,
        venues: Vec::new(),
        checkins: Vec::new(),
        trips: Vec::new(),
    };
    if with_movement {
        let movement = movement::run(&geo, &data.persons, &data.cases, scale, cfg.seed);
        data.venues = movement.venues;
        data.checkins = movement.checkins;
        data.trips = movement.trips;
    }
    data
}

impl Gen<'_> {
    /// Day by day: first the reclassifications among earlier asymptomatic
    /// infections, then the new confirmed, then the new asymptomatic, so that
    /// each day's bulletin figures are exactly the scaled curve.
    fn local_wave(&mut self, scale: f64) {
        let mut pools: [Vec<(usize, u32)>; GROUPS] = Default::default();
        for &(day, confirmed, asymptomatic) in DAILY_LOCAL.iter() {
            let confirmed = scaled(confirmed, scale);
            let asymptomatic = scaled(asymptomatic, scale);
            let c_by_group = apportion(confirmed, &confirmed_split(day));
            let a_by_group = apportion(asymptomatic, &asymptomatic_split(day));
            for pool in &mut pools {
                pool.retain(|&(_, reported)| reported + RECLASSIFY_WITHIN_DAYS >= day);
            }
            let r_by_group =
                split_reclassified(reclassified_target(day, confirmed), &c_by_group, &pools);
            for group in 0..GROUPS {
                for _ in 0..r_by_group[group] {
                    let i = self.rng.gen_range(0..pools[group].len());
                    let (idx, _) = pools[group].swap_remove(i);
                    self.reclassify(idx, day);
                }
                for _ in 0..c_by_group[group] - r_by_group[group] {
                    self.new_local(day, group, Classification::Confirmed);
                }
            }
            for (group, &n) in a_by_group.iter().enumerate() {
                for _ in 0..n {
                    let idx = self.new_local(day, group, Classification::Asymptomatic);
                    pools[group].push((idx, day));
                }
            }
        }
    }

    fn new_local(&mut self, day: u32, group: usize, classification: Classification) -> usize {
        let geo = self.geo;
        let city = match group {
            GROUP_JILIN_CITY => geo.city_index(JILIN_CITY),
            GROUP_CHANGCHUN => geo.city_index(CHANGCHUN),
            _ => {
                let top = *geo.remainder_cumulative.last().unwrap_or(&1.0);
                let x = self.rng.gen_range(0.0..top);
                geo.remainder_cities[pick_cumulative(&geo.remainder_cumulative, x)]
            }
        };
        let c = &geo.cities[city];
        let top = *c.case_cumulative.last().unwrap_or(&1.0);
        let x = self.rng.gen_range(0.0..top);
        let district = c.districts[pick_cumulative(&c.case_cumulative, x)];
        let household = self.case_household(day, district);
        let channel = self.channel(day, c.code);
        self.new_case(day, household, classification, Origin::Local, channel)
    }

    /// A household for a new case: often a recent case household of the same
    /// district, otherwise a new one.
    fn case_household(&mut self, day: u32, district: usize) -> usize {
        let recent = &mut self.recent[district];
        while let Some(&h) = recent.front() {
            if self.households[h].first_case_day + HOUSEHOLD_OPEN_DAYS < day {
                recent.pop_front();
            } else {
                break;
            }
        }
        if !recent.is_empty() && self.rng.gen_bool(JOIN_HOUSEHOLD) {
            let h = recent[self.rng.gen_range(0..recent.len())];
            if self.households[h].members < 5 {
                return h;
            }
        }
        let h = self.new_household(district);
        self.households[h].first_case_day = day;
        let recent = &mut self.recent[district];
        recent.push_back(h);
        if recent.len() > RECENT_HOUSEHOLDS {
            recent.pop_front();
        }
        h
    }

    fn new_household(&mut self, district: usize) -> usize {
        let seq = self.households.len() + 1;
        let h = Household::new(&mut self.rng, self.geo, district, seq);
        self.households.push(h);
        seq - 1
    }

    fn new_case(
        &mut self,
        day: u32,
        household: usize,
        classification: Classification,
        origin: Origin,
        channel: DiscoveryChannel,
    ) -> usize {
        let person = self.households[household].add_member(&mut self.rng, self.geo, &mut self.docs);
        let age = person
            .birth_date
            .and_then(|b| reference_date().years_since(b))
            .unwrap_or(40);
        let date = march(day);
        let report_time = at_local(date, self.rng.gen_range(3_600..84_600));
        let sample_time =
            report_time - Duration::seconds(self.rng.gen_range(6 * 3_600..=30 * 3_600));
        let (clinical_type, onset_date) = match classification {
            Classification::Confirmed => (
                Some(self.clinical_type(age)),
                Some(date - Duration::days(self.rng.gen_range(0..=3))),
            ),
            Classification::Asymptomatic => (None, None),
        };
        let district = self.geo.districts[self.households[household].district].code;
        let case = CaseDraft {
            case_id: String::new(),
            classification,
            clinical_type,
            origin,
            discovery_channel: channel,
            onset_date,
            sample_time: Some(sample_time),
            report_time,
            reporting_region: district.into(),
            residence_region: person.region_code.clone(),
            reclassified_at: None,
            outcome: None,
            outcome_time: None,
            // Positives go to hospital or isolation when reported.
            isolated_at: Some(report_time),
            person,
        };
        self.cases.push(Built { case, day, age });
        self.cases.len() - 1
    }

    /// Turns an earlier asymptomatic infection into a confirmed case on `day`.
    fn reclassify(&mut self, idx: usize, day: u32) {
        let at = at_local(march(day), self.rng.gen_range(6 * 3_600..23 * 3_600));
        let (reported, age) = (self.cases[idx].day, self.cases[idx].age);
        let clinical = self.clinical_type(age);
        // Symptoms began after the positive test, at most two days before the reclassification.
        let back = self.rng.gen_range(0..=(day - reported).min(2));
        let case = &mut self.cases[idx].case;
        case.classification = Classification::Confirmed;
        case.reclassified_at = Some(at);
        case.clinical_type = Some(clinical);
        case.onset_date = Some(march(day) - Duration::days(i64::from(back)));
    }

    /// Mostly mild; the old are likelier to be worse.
    fn clinical_type(&mut self, age: u32) -> ClinicalType {
        let (moderate, severe, critical) = match age {
            70.. => (0.18, 0.02, 0.006),
            60..=69 => (0.10, 0.006, 0.002),
            _ => (0.07, 0.001, 0.0003),
        };
        let x: f64 = self.rng.gen();
        if x < critical {
            ClinicalType::Critical
        } else if x < critical + severe {
            ClinicalType::Severe
        } else if x < critical + severe + moderate {
            ClinicalType::Moderate
        } else {
            ClinicalType::Mild
        }
    }

    fn channel(&mut self, day: u32, city: &str) -> DiscoveryChannel {
        let mut controlled = lerp(UNDER_CONTROL, day);
        // Jilin City announced that its late-March positives were all found under control.
        if city == JILIN_CITY && day >= 16 {
            controlled += 0.05;
        }
        if self.rng.gen_bool(controlled.min(0.97)) {
            match self.rng.gen_range(0..100) {
                0..=44 => DiscoveryChannel::CentralizedQuarantine,
                45..=84 => DiscoveryChannel::SealedOrControlledArea,
                _ => DiscoveryChannel::HomeQuarantine,
            }
        } else if self.rng.gen_bool(lerp(FEVER_CLINIC, day)) {
            DiscoveryChannel::FeverClinic
        } else {
            DiscoveryChannel::CommunityScreening
        }
    }

    /// Travellers found by the arrival test, mostly at the Hunchun land port
    /// on the Russian border, some through Yanji and Changchun.
    fn imported(&mut self, scale: f64) {
        let n = if scale > 0.0 {
            scaled(8, scale).max(3)
        } else {
            0
        };
        for _ in 0..n {
            let day = self.rng.gen_range(1..=31);
            let code = match self.rng.gen_range(0..10) {
                0..=5 => "222404",
                6..=7 => "222401",
                _ => "220102",
            };
            let district = self.geo.district_index(code);
            let household = self.new_household(district);
            self.households[household].first_case_day = day;
            let classification = if self.rng.gen_bool(0.4) {
                Classification::Confirmed
            } else {
                Classification::Asymptomatic
            };
            self.new_case(
                day,
                household,
                classification,
                Origin::Imported,
                DiscoveryChannel::ArrivalTest,
            );
        }
    }

    /// Deaths first, then discharges and releases due by the end of March.
    fn outcomes(&mut self, scale: f64) {
        let end = at_local(march(31), 86_399);
        let mut candidates: Vec<usize> = (0..self.cases.len())
            .filter(|&i| {
                let b = &self.cases[i];
                b.case.classification == Classification::Confirmed
                    && b.case.origin == Origin::Local
                    && b.age >= 70
                    && local_date(b.case.reclassified_at.unwrap_or(b.case.report_time))
                        <= march(DEATH_DAY - 3)
            })
            .collect();
        let mut dead = HashSet::new();
        for _ in 0..scaled(DEATHS_AT_SCALE_1, scale).min(candidates.len() as u32) {
            let idx = candidates.swap_remove(self.rng.gen_range(0..candidates.len()));
            let at = at_local(march(DEATH_DAY), self.rng.gen_range(2 * 3_600..20 * 3_600));
            let case = &mut self.cases[idx].case;
            case.clinical_type = Some(ClinicalType::Critical);
            case.outcome = Some(Outcome::Died);
            case.outcome_time = Some(at);
            dead.insert(idx);
        }
        for idx in 0..self.cases.len() {
            if dead.contains(&idx) {
                continue;
            }
            let case = &self.cases[idx].case;
            let since = local_date(case.reclassified_at.unwrap_or(case.report_time));
            let (outcome, days) = match (case.classification, case.clinical_type) {
                (Classification::Asymptomatic, _) => {
                    (Outcome::Released, self.rng.gen_range(9..=16))
                }
                (_, Some(ClinicalType::Severe | ClinicalType::Critical)) => {
                    (Outcome::Discharged, self.rng.gen_range(18..=30))
                }
                (_, Some(ClinicalType::Moderate)) => {
                    (Outcome::Discharged, self.rng.gen_range(12..=20))
                }
                _ => (Outcome::Discharged, self.rng.gen_range(10..=18)),
            };
            let at = at_local(
                since + Duration::days(days),
                self.rng.gen_range(9 * 3_600..18 * 3_600),
            );
            if at <= end && self.rng.gen_bool(OUTCOME_RECORDED) {
                let case = &mut self.cases[idx].case;
                case.outcome = Some(outcome);
                case.outcome_time = Some(at);
            }
        }
    }

    /// Family members of some cases, then other residents across the province
    /// by population.
    fn background(&mut self, scale: f64) -> Vec<PersonDraft> {
        let total = scaled(BACKGROUND_AT_SCALE_1, scale) as usize;
        let with_cases = (total as f64 * BACKGROUND_WITH_CASES).round() as usize;
        let mut persons = Vec::with_capacity(total);
        let mut order: Vec<usize> = (0..self.households.len()).collect();
        order.shuffle(&mut self.rng);
        for h in order {
            if persons.len() >= with_cases {
                break;
            }
            let target = household_size(&mut self.rng);
            while self.households[h].members < target && persons.len() < with_cases {
                persons.push(self.households[h].add_member(
                    &mut self.rng,
                    self.geo,
                    &mut self.docs,
                ));
            }
        }
        let geo = self.geo;
        let top = *geo.population_cumulative.last().unwrap_or(&1);
        while persons.len() < total {
            let district = pick_cumulative(&geo.population_cumulative, self.rng.gen_range(0..top));
            let h = self.new_household(district);
            let size = household_size(&mut self.rng);
            for _ in 0..size {
                if persons.len() >= total {
                    break;
                }
                persons.push(self.households[h].add_member(&mut self.rng, geo, &mut self.docs));
            }
        }
        persons
    }

    /// Plants pairs that the duplicate review should flag: the same name, birth
    /// date and phone under two documents, as when a hospital registers a
    /// patient by passport or by a mistyped or outdated resident ID.
    fn duplicates(&mut self, scale: f64, persons: &mut Vec<PersonDraft>) {
        let pairs = (5.0 * scale.max(1.0)).round() as usize;
        let mut taken = HashSet::new();
        for i in 0..pairs {
            // Half start from a case's person, as when a hospital registers a patient
            // again; those twins keep the address, the others have none, so the
            // review meets both shapes.
            let of_a_case = i % 2 == 1;
            let original = self.duplicate_original(of_a_case, persons, &mut taken);
            let sex = original.sex.unwrap_or(closedloop_domain::person::Sex::Male);
            let birth = original.birth_date.unwrap_or_else(reference_date);
            let document = match i % 3 {
                0 => self.docs.passport(&mut self.rng),
                1 => self.docs.other(&mut self.rng),
                _ => {
                    let own = &original.document.number[..6];
                    let others: Vec<&str> = self
                        .geo
                        .districts
                        .iter()
                        .map(|d| d.code)
                        .filter(|c| *c != own)
                        .collect();
                    let district = others[self.rng.gen_range(0..others.len())];
                    self.docs.resident_id(&mut self.rng, district, birth, sex)
                }
            };
            persons.push(PersonDraft {
                document,
                name: original.name.clone(),
                sex: Some(sex),
                birth_date: Some(birth),
                phone: original.phone.clone(),
                address: if of_a_case {
                    original.address.clone()
                } else {
                    None
                },
                region_code: original.region_code.clone(),
                household_id: None,
            });
        }
    }

    /// The first of a pair: a case's person or a resident, never the same one
    /// twice; a new resident when there is nobody yet.
    fn duplicate_original(
        &mut self,
        of_a_case: bool,
        persons: &mut Vec<PersonDraft>,
        taken: &mut HashSet<(bool, usize)>,
    ) -> PersonDraft {
        for _ in 0..100 {
            let from_cases = (of_a_case || persons.is_empty()) && !self.cases.is_empty();
            let len = if from_cases {
                self.cases.len()
            } else {
                persons.len()
            };
            if len == 0 {
                break;
            }
            let idx = self.rng.gen_range(0..len);
            if taken.insert((from_cases, idx)) {
                return if from_cases {
                    self.cases[idx].case.person.clone()
                } else {
                    persons[idx].clone()
                };
            }
        }
        let top = *self.geo.population_cumulative.last().unwrap_or(&1);
        let district = pick_cumulative(&self.geo.population_cumulative, self.rng.gen_range(0..top));
        let h = self.new_household(district);
        let person = self.households[h].add_member(&mut self.rng, self.geo, &mut self.docs);
        persons.push(person.clone());
        person
    }

    /// Orders cases by report time and numbers them per report day.
    fn finish(self) -> Vec<CaseDraft> {
        let mut built = self.cases;
        built.sort_by_key(|b| b.case.report_time);
        let mut last: Option<NaiveDate> = None;
        let mut seq = 0;
        built
            .into_iter()
            .map(|b| {
                let mut case = b.case;
                let date = local_date(case.report_time);
                if last != Some(date) {
                    last = Some(date);
                    seq = 0;
                }
                seq += 1;
                case.case_id = format!("JL-{}-{seq:06}", date.format("%Y%m%d"));
                case
            })
            .collect()
    }
}

/// Splits a day's reclassifications across the groups in proportion to their
/// confirmed cases, never taking more than a group has in its pool of recent
/// asymptomatic infections or more than its confirmed count.
fn split_reclassified(
    target: u32,
    confirmed: &[u32],
    pools: &[Vec<(usize, u32)>; GROUPS],
) -> [u32; GROUPS] {
    let weights: Vec<u64> = confirmed.iter().map(|&c| u64::from(c)).collect();
    let wanted = apportion(target, &weights);
    let cap: Vec<u32> = (0..GROUPS)
        .map(|g| confirmed[g].min(pools[g].len() as u32))
        .collect();
    let mut out = [0u32; GROUPS];
    let mut short = 0;
    for g in 0..GROUPS {
        out[g] = wanted[g].min(cap[g]);
        short += wanted[g] - out[g];
    }
    for g in 0..GROUPS {
        let more = (cap[g] - out[g]).min(short);
        out[g] += more;
        short -= more;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclassifications_move_to_groups_that_have_a_pool() {
        let pools: [Vec<(usize, u32)>; GROUPS] = [vec![(0, 1); 2], vec![(0, 1); 10], vec![]];
        assert_eq!(split_reclassified(6, &[50, 50, 10], &pools), [2, 4, 0]);
        assert_eq!(split_reclassified(20, &[50, 50, 10], &pools), [2, 10, 0]);
        assert_eq!(split_reclassified(3, &[1, 1, 1], &pools), [1, 1, 0]);
    }

    #[test]
    fn interpolation_holds_the_ends() {
        assert_eq!(lerp(UNDER_CONTROL, 1), 0.15);
        assert_eq!(lerp(UNDER_CONTROL, 31), 0.9);
        assert!((lerp(UNDER_CONTROL, 10) - 0.475).abs() < 1e-9);
    }

    #[test]
    fn local_times_are_shanghai() {
        let t = at_local(march(9), 8 * 3_600 + 30 * 60);
        assert_eq!(t.to_rfc3339(), "2022-03-09T00:30:00+00:00");
        assert_eq!(local_date(t), march(9));
    }
}
