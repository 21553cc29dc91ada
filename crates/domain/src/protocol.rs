//! The closed-loop part of a protocol profile: quarantine and monitoring per
//! category, test days, release criteria, the secondary-contact release rule,
//! deadlines per step and the escalation chain, with the arithmetic on them.
//!
//! Days are counted from the last exposure: quarantine day `n` is the date
//! `last_exposure + n`. Quarantine ends at the end of day `quarantine_days`;
//! home health monitoring day `n` is `quarantine_end + n` and ends at the end
//! of day `monitoring_days`.

use crate::lifecycle::{ManagedCategory, Stage};
use crate::profile::Profile;
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

crate::vocabulary!(
    /// Where quarantine is served.
    Setting {
        Centralized = "centralized", "集中隔离", "Centralized quarantine";
        Home = "home", "居家隔离", "Home quarantine";
    }
);

/// Quarantine and monitoring of one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRules {
    pub setting: Setting,
    pub quarantine_days: u32,
    pub monitoring_days: u32,
    /// Days of quarantine with a test (核酸检测), counted from last exposure.
    pub test_days: Vec<u32>,
    /// Days of home health monitoring with a test, counted from the end of quarantine.
    pub monitoring_test_days: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRules {
    pub close_contact: CategoryRules,
    pub secondary_contact: Option<CategoryRules>,
    pub venue_exposed: Option<CategoryRules>,
    pub risk_area_arrival: Option<CategoryRules>,
}

/// What ends quarantine (and discharges a case): negative tests, far enough apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRules {
    /// Negative tests needed, the last ones of the stay (0: none).
    pub negative_tests: u32,
    /// Hours between consecutive qualifying negatives (e.g. 24).
    pub min_hours_apart: u32,
}

/// 次密接: released on `release_day` only if the paired close contact's first
/// `paired_first_tests` tests are negative; a positive among them makes the
/// secondary contact a close contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondaryRelease {
    pub release_day: u32,
    pub paired_first_tests: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatmentRules {
    /// Home health monitoring after discharge (出院后居家健康监测).
    pub post_discharge_monitoring_days: u32,
}

/// Minutes allowed for each step, from the moment the step became due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    /// A positive in a designated hospital or fangcang, from the report.
    pub case_admission: u32,
    /// Core epidemiological information (track, contacts), from the report.
    pub core_investigation: u32,
    /// The full case investigation, from the report.
    pub full_investigation: u32,
    /// A close contact under quarantine, from identification.
    pub close_contact_control: u32,
    /// A secondary contact under quarantine, from identification.
    pub secondary_contact_control: u32,
    /// A venue-exposed person or an arrival under control, from identification.
    pub other_control: u32,
    /// Terminal disinfection (终末消毒) of a venue in a case's window, from the report.
    pub terminal_disinfection: u32,
    /// A scheduled test sampled, from the start of its day.
    pub sampling: u32,
    /// Release assessed, from the end of the stay.
    pub release_assessment: u32,
}

crate::vocabulary!(
    /// A rung of the escalation ladder.
    EscalationLevel {
        Assignee = "assignee", "责任人", "Assignee";
        UnitHead = "unit_head", "单位负责人", "Unit head";
        CommandAbove = "command_above", "上一级指挥部", "Command one level up";
    }
);

/// Who hears of an overdue task: `chain[i]` from `after_minutes[i]` past the due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub chain: Vec<EscalationLevel>,
    pub after_minutes: Vec<u32>,
}

impl Escalation {
    /// The highest rung reached `minutes_late` after the due time (None before it).
    pub fn level(&self, minutes_late: i64) -> Option<EscalationLevel> {
        if minutes_late < 0 {
            return None;
        }
        self.chain
            .iter()
            .zip(&self.after_minutes)
            .rev()
            .find(|(_, after)| minutes_late >= i64::from(**after))
            .map(|(level, _)| *level)
    }
}

/// Checks the closed-loop sections; the error is the key and the rule it breaks.
pub(crate) fn validate(p: &Profile) -> Result<(), (&'static str, &'static str)> {
    let q = &p.quarantine;
    check_category(&q.close_contact, keys::CLOSE)?;
    if let Some(c) = &q.secondary_contact {
        check_category(c, keys::SECONDARY)?;
    }
    if let Some(c) = &q.venue_exposed {
        check_category(c, keys::VENUE)?;
    }
    if let Some(c) = &q.risk_area_arrival {
        check_category(c, keys::ARRIVAL)?;
    }
    if p.release.negative_tests > 10 {
        return Err(("release.negative_tests", "at most 10"));
    }
    if p.release.min_hours_apart > 24 * 7 {
        return Err(("release.min_hours_apart", "at most 168"));
    }
    match (&p.secondary_release, &q.secondary_contact) {
        (Some(_), None) => {
            return Err((
                "secondary_release",
                "absent when there is no [quarantine.secondary_contact]",
            ))
        }
        (Some(r), Some(c)) => {
            if r.release_day == 0 || r.release_day > c.quarantine_days {
                return Err((
                    "secondary_release.release_day",
                    "1..=quarantine.secondary_contact.quarantine_days",
                ));
            }
            if !(1..=5).contains(&r.paired_first_tests) {
                return Err(("secondary_release.paired_first_tests", "1..=5"));
            }
        }
        _ => {}
    }
    if p.tracing.secondary && q.secondary_contact.is_none() {
        return Err((
            "quarantine.secondary_contact",
            "present when tracing.secondary is true",
        ));
    }
    if p.treatment.post_discharge_monitoring_days > 60 {
        return Err(("treatment.post_discharge_monitoring_days", "at most 60"));
    }
    let d = &p.deadlines;
    for (key, v) in [
        ("deadlines.case_admission", d.case_admission),
        ("deadlines.core_investigation", d.core_investigation),
        ("deadlines.full_investigation", d.full_investigation),
        ("deadlines.close_contact_control", d.close_contact_control),
        (
            "deadlines.secondary_contact_control",
            d.secondary_contact_control,
        ),
        ("deadlines.other_control", d.other_control),
        ("deadlines.terminal_disinfection", d.terminal_disinfection),
        ("deadlines.sampling", d.sampling),
        ("deadlines.release_assessment", d.release_assessment),
    ] {
        if !(1..=7 * 24 * 60).contains(&v) {
            return Err((key, "1..=10080 minutes"));
        }
    }
    if d.core_investigation > d.full_investigation {
        return Err((
            "deadlines.core_investigation",
            "at most deadlines.full_investigation",
        ));
    }
    let e = &p.escalation;
    if e.chain.is_empty() || e.chain.len() != e.after_minutes.len() {
        return Err((
            "escalation.after_minutes",
            "one value per entry of escalation.chain (at least one)",
        ));
    }
    if !e.after_minutes.windows(2).all(|w| w[0] < w[1]) {
        return Err(("escalation.after_minutes", "strictly increasing"));
    }
    Ok(())
}

mod keys {
    pub type Keys = [&'static str; 4];
    pub const CLOSE: Keys = [
        "quarantine.close_contact.quarantine_days",
        "quarantine.close_contact.monitoring_days",
        "quarantine.close_contact.test_days",
        "quarantine.close_contact.monitoring_test_days",
    ];
    pub const SECONDARY: Keys = [
        "quarantine.secondary_contact.quarantine_days",
        "quarantine.secondary_contact.monitoring_days",
        "quarantine.secondary_contact.test_days",
        "quarantine.secondary_contact.monitoring_test_days",
    ];
    pub const VENUE: Keys = [
        "quarantine.venue_exposed.quarantine_days",
        "quarantine.venue_exposed.monitoring_days",
        "quarantine.venue_exposed.test_days",
        "quarantine.venue_exposed.monitoring_test_days",
    ];
    pub const ARRIVAL: Keys = [
        "quarantine.risk_area_arrival.quarantine_days",
        "quarantine.risk_area_arrival.monitoring_days",
        "quarantine.risk_area_arrival.test_days",
        "quarantine.risk_area_arrival.monitoring_test_days",
    ];
}

fn check_category(c: &CategoryRules, k: keys::Keys) -> Result<(), (&'static str, &'static str)> {
    if !(1..=60).contains(&c.quarantine_days) {
        return Err((k[0], "1..=60"));
    }
    if c.monitoring_days > 60 {
        return Err((k[1], "at most 60"));
    }
    let days_ok = |days: &[u32], last: u32| {
        days.windows(2).all(|w| w[0] < w[1]) && days.iter().all(|d| (1..=last).contains(d))
    };
    if !days_ok(&c.test_days, c.quarantine_days) {
        return Err((k[2], "strictly increasing days within 1..=quarantine_days"));
    }
    if !days_ok(&c.monitoring_test_days, c.monitoring_days) {
        return Err((k[3], "strictly increasing days within 1..=monitoring_days"));
    }
    Ok(())
}

/// One scheduled test of a stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledTest {
    pub stage: Stage,
    /// The day number within its stage.
    pub day: u32,
    pub date: NaiveDate,
}

/// The dates of a contact's stay under the profile, counted from last exposure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub last_exposure: NaiveDate,
    /// Last day of quarantine.
    pub quarantine_end: NaiveDate,
    /// Last day of home health monitoring (equal to `quarantine_end` without monitoring).
    pub monitoring_end: NaiveDate,
    pub tests: Vec<ScheduledTest>,
}

impl Profile {
    /// The quarantine rules of a category; `None` for cases and for categories
    /// the profile does not manage.
    pub fn category_rules(&self, category: ManagedCategory) -> Option<&CategoryRules> {
        let q = &self.quarantine;
        match category {
            ManagedCategory::Case => None,
            ManagedCategory::CloseContact => Some(&q.close_contact),
            ManagedCategory::SecondaryContact => q.secondary_contact.as_ref(),
            ManagedCategory::VenueExposed => q.venue_exposed.as_ref(),
            ManagedCategory::RiskAreaArrival => q.risk_area_arrival.as_ref(),
        }
    }

    /// Quarantine, monitoring and test dates of a contact last exposed on `last_exposure`.
    pub fn schedule(
        &self,
        category: ManagedCategory,
        last_exposure: NaiveDate,
    ) -> Option<Schedule> {
        let r = self.category_rules(category)?;
        let day = |base: NaiveDate, n: u32| base.checked_add_days(Days::new(u64::from(n)));
        let quarantine_end = day(last_exposure, r.quarantine_days)?;
        let monitoring_end = day(quarantine_end, r.monitoring_days)?;
        let mut tests = Vec::new();
        for &d in &r.test_days {
            tests.push(ScheduledTest {
                stage: Stage::Quarantine,
                day: d,
                date: day(last_exposure, d)?,
            });
        }
        for &d in &r.monitoring_test_days {
            tests.push(ScheduledTest {
                stage: Stage::Monitoring,
                day: d,
                date: day(quarantine_end, d)?,
            });
        }
        Some(Schedule {
            last_exposure,
            quarantine_end,
            monitoring_end,
            tests,
        })
    }

    /// Minutes to bring a person of this category under control (a case: into hospital).
    pub fn control_deadline_minutes(&self, category: ManagedCategory) -> u32 {
        let d = &self.deadlines;
        match category {
            ManagedCategory::Case => d.case_admission,
            ManagedCategory::CloseContact => d.close_contact_control,
            ManagedCategory::SecondaryContact => d.secondary_contact_control,
            ManagedCategory::VenueExposed | ManagedCategory::RiskAreaArrival => d.other_control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, ProfileError};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn china_8th_is_14_plus_7_from_last_exposure() {
        let p = Profile::shipped("china-8th").unwrap();
        let s = p
            .schedule(ManagedCategory::CloseContact, date("2022-03-01"))
            .unwrap();
        assert_eq!(s.quarantine_end, date("2022-03-15"));
        assert_eq!(s.monitoring_end, date("2022-03-22"));
        let days: Vec<_> = s.tests.iter().map(|t| (t.stage, t.day, t.date)).collect();
        assert_eq!(
            days,
            vec![
                (Stage::Quarantine, 1, date("2022-03-02")),
                (Stage::Quarantine, 4, date("2022-03-05")),
                (Stage::Quarantine, 7, date("2022-03-08")),
                (Stage::Quarantine, 14, date("2022-03-15")),
                (Stage::Monitoring, 2, date("2022-03-17")),
                (Stage::Monitoring, 7, date("2022-03-22")),
            ]
        );
        let s = p
            .schedule(ManagedCategory::SecondaryContact, date("2022-03-01"))
            .unwrap();
        assert_eq!(
            (s.quarantine_end, s.monitoring_end),
            (date("2022-03-08"), date("2022-03-08"))
        );
        assert_eq!(s.tests.len(), 3);
        assert_eq!(
            p.category_rules(ManagedCategory::SecondaryContact)
                .unwrap()
                .setting,
            Setting::Centralized
        );
        assert!(p
            .schedule(ManagedCategory::VenueExposed, date("2022-03-01"))
            .is_none());
        assert_eq!(p.secondary_release.unwrap().release_day, 7);
        assert_eq!(
            (p.release.negative_tests, p.release.min_hours_apart),
            (2, 24)
        );
        assert_eq!(p.deadlines.case_admission, 120);
        assert_eq!(
            p.control_deadline_minutes(ManagedCategory::CloseContact),
            8 * 60
        );
        assert_eq!(
            p.control_deadline_minutes(ManagedCategory::SecondaryContact),
            12 * 60
        );
        assert_eq!(p.treatment.post_discharge_monitoring_days, 7);
    }

    #[test]
    fn china_9th_is_7_plus_3_and_secondary_contacts_stay_home() {
        let p = Profile::shipped("china-9th").unwrap();
        let s = p
            .schedule(ManagedCategory::CloseContact, date("2022-07-10"))
            .unwrap();
        assert_eq!(s.quarantine_end, date("2022-07-17"));
        assert_eq!(s.monitoring_end, date("2022-07-20"));
        let q: Vec<u32> = s
            .tests
            .iter()
            .filter(|t| t.stage == Stage::Quarantine)
            .map(|t| t.day)
            .collect();
        assert_eq!(q, vec![1, 2, 3, 5, 7]);
        assert_eq!(s.tests.last().unwrap().date, date("2022-07-20"));
        assert_eq!(
            p.category_rules(ManagedCategory::SecondaryContact)
                .unwrap()
                .setting,
            Setting::Home
        );
        // 3天2检 for people exposed at a crowded venue.
        let v = p
            .schedule(ManagedCategory::VenueExposed, date("2022-07-10"))
            .unwrap();
        assert_eq!((v.quarantine_end, v.tests.len()), (date("2022-07-13"), 2));
        let a = p
            .schedule(ManagedCategory::RiskAreaArrival, date("2022-07-10"))
            .unwrap();
        assert_eq!(a.quarantine_end, date("2022-07-17"));
    }

    #[test]
    fn who_2021_follows_contacts_14_days_without_tests_or_secondary_contacts() {
        let p = Profile::shipped("who-2021").unwrap();
        let s = p
            .schedule(ManagedCategory::CloseContact, date("2021-03-01"))
            .unwrap();
        assert_eq!(
            (s.quarantine_end, s.monitoring_end),
            (date("2021-03-15"), date("2021-03-15"))
        );
        assert!(s.tests.is_empty());
        assert_eq!(p.release.negative_tests, 0);
        assert!(p.secondary_release.is_none());
        assert!(p
            .schedule(ManagedCategory::SecondaryContact, date("2021-03-01"))
            .is_none());
    }

    #[test]
    fn escalation_climbs_the_chain_with_lateness() {
        let p = Profile::shipped("china-8th").unwrap();
        let e = &p.escalation;
        assert_eq!(e.level(-1), None);
        assert_eq!(e.level(0), Some(EscalationLevel::Assignee));
        assert_eq!(
            e.level(i64::from(e.after_minutes[1])),
            Some(EscalationLevel::UnitHead)
        );
        assert_eq!(e.level(10_000), Some(EscalationLevel::CommandAbove));
    }

    #[test]
    fn invalid_closed_loop_values_name_their_key() {
        let bad = |o: &str| {
            let e = Profile::with_overrides("china-8th", o, "local.toml").unwrap_err();
            assert!(
                matches!(
                    e,
                    ProfileError::OutOfRange { .. } | ProfileError::Invalid { .. }
                ),
                "{e}"
            );
            e.to_string()
        };
        assert!(bad("[quarantine.close_contact]\ntest_days = [1, 15]\n")
            .contains("quarantine.close_contact.test_days"));
        assert!(bad("[quarantine.close_contact]\ntest_days = [4, 1]\n")
            .contains("quarantine.close_contact.test_days"));
        assert!(bad("[quarantine.secondary_contact]\nquarantine_days = 0\n")
            .contains("quarantine.secondary_contact.quarantine_days"));
        assert!(
            bad("[secondary_release]\nrelease_day = 8\n").contains("secondary_release.release_day")
        );
        assert!(bad("[deadlines]\ncase_admission = 0\n").contains("deadlines.case_admission"));
        assert!(bad("[escalation]\nafter_minutes = [0, 60]\n").contains("escalation.after_minutes"));
        assert!(
            bad("[escalation]\nchain = [\"assignee\", \"mayor\", \"command_above\"]\n")
                .contains("mayor")
        );
        assert!(bad("[quarantine.close_contact]\nsetting = \"hotel\"\n").contains("hotel"));
        let p = Profile::with_overrides(
            "china-8th",
            "[quarantine.close_contact]\nquarantine_days = 21\n",
            "x",
        )
        .unwrap();
        assert_eq!(p.quarantine.close_contact.quarantine_days, 21);
    }
}
