//! The closed loop (闭环管理): the lifecycle of every managed person, as a
//! state machine checked before anything is stored.
//!
//! Contacts: identified → notified → placement_ordered → in_transfer →
//! under_quarantine (centralized or at home) → home_health_monitoring →
//! released; or converted_to_case, or lost (失联).
//! Cases: reported → transfer_ordered → in_transfer → admitted (designated
//! hospital or fangcang) → discharged → home_health_monitoring → released; or died.

use crate::i18n::Lang;
use crate::profile::Profile;
use crate::protocol::{SecondaryRelease, Setting};
use crate::ErrorCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

crate::vocabulary!(
    /// Who is managed in the loop.
    ManagedCategory {
        Case = "case", "感染者", "Case";
        CloseContact = "close_contact", "密切接触者", "Close contact";
        SecondaryContact = "secondary_contact", "密接的密接", "Secondary close contact";
        VenueExposed = "venue_exposed", "涉疫场所暴露人员", "Exposed at an outbreak venue";
        RiskAreaArrival = "risk_area_arrival", "中高风险地区来返人员", "Arrival from a risk area";
    }
);

crate::vocabulary!(
    /// Where a managed person is in the loop.
    LoopState {
        Identified = "identified", "已判定", "Identified";
        Notified = "notified", "已告知", "Notified";
        PlacementOrdered = "placement_ordered", "已下达隔离安置", "Placement ordered";
        Reported = "reported", "已报告", "Reported";
        TransferOrdered = "transfer_ordered", "已下达转运", "Transfer ordered";
        InTransfer = "in_transfer", "转运中", "In transfer";
        UnderQuarantine = "under_quarantine", "隔离医学观察中", "Under quarantine";
        Admitted = "admitted", "已收治", "Admitted";
        Discharged = "discharged", "已出院", "Discharged";
        HomeHealthMonitoring = "home_health_monitoring", "居家健康监测", "Home health monitoring";
        Released = "released", "已解除", "Released";
        ConvertedToCase = "converted_to_case", "已转为感染者", "Converted to a case";
        Lost = "lost", "失联", "Lost";
        Died = "died", "死亡", "Died";
    }
);

crate::vocabulary!(
    /// A place in the facility register.
    FacilityKind {
        QuarantineHotel = "quarantine_hotel", "集中隔离点", "Quarantine hotel";
        Fangcang = "fangcang", "方舱医院", "Fangcang hospital";
        DesignatedHospital = "designated_hospital", "定点医院", "Designated hospital";
        Home = "home", "居家", "Home";
    }
);

crate::vocabulary!(
    /// The part of a stay a test belongs to (treatment: a case in hospital, tests not scheduled).
    Stage {
        Quarantine = "quarantine", "隔离期", "Quarantine";
        Monitoring = "monitoring", "健康监测期", "Monitoring";
        Treatment = "treatment", "治疗期", "Treatment";
    }
);

impl ManagedCategory {
    pub fn is_case(self) -> bool {
        self == ManagedCategory::Case
    }

    /// The first state of a new record.
    pub fn initial_state(self) -> LoopState {
        if self.is_case() {
            LoopState::Reported
        } else {
            LoopState::Identified
        }
    }

    /// A contact category from the tracing vocabulary.
    pub fn from_contact(c: crate::contact::ContactCategory) -> ManagedCategory {
        use crate::contact::ContactCategory as C;
        match c {
            C::CloseContact => ManagedCategory::CloseContact,
            C::SecondaryContact => ManagedCategory::SecondaryContact,
            C::VenueExposed => ManagedCategory::VenueExposed,
        }
    }
}

impl LoopState {
    /// Nothing follows: the record is closed.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            LoopState::Released | LoopState::ConvertedToCase | LoopState::Died
        )
    }

    /// Under control: the person can no longer expose anyone in the community.
    pub fn is_controlled(self) -> bool {
        matches!(
            self,
            LoopState::InTransfer
                | LoopState::UnderQuarantine
                | LoopState::Admitted
                | LoopState::Discharged
                | LoopState::HomeHealthMonitoring
        ) || self.is_terminal()
    }

    /// States a record in this category may be in.
    pub fn fits(self, category: ManagedCategory) -> bool {
        use LoopState::*;
        match self {
            Identified | Notified | PlacementOrdered | UnderQuarantine | ConvertedToCase | Lost => {
                !category.is_case()
            }
            Reported | TransferOrdered | Admitted | Discharged | Died => category.is_case(),
            InTransfer | HomeHealthMonitoring | Released => true,
        }
    }
}

/// A test of a managed person: when it was sampled and whether it was positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub sampled_at: DateTime<Utc>,
    pub positive: bool,
}

/// What a transition needs to be checked, beyond the two states.
#[derive(Debug, Clone, Default)]
pub struct TransitionContext<'a> {
    /// The facility the person goes to or is in, for placements and admissions.
    pub facility: Option<FacilityKind>,
    /// The setting of quarantine the profile gives the category.
    pub setting: Option<Setting>,
    /// The day of the transition (in the command's time zone).
    pub today: Option<NaiveDate>,
    /// Last day of the stay now ending (quarantine or monitoring), when known.
    pub stay_ends: Option<NaiveDate>,
    /// Tests of the stay so far, any order.
    pub tests: &'a [TestResult],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoopError {
    #[error("a {category} cannot go from {from} to {to}")]
    InvalidTransition {
        category: ManagedCategory,
        from: LoopState,
        to: LoopState,
    },
    #[error("the record is closed ({0}); nothing follows")]
    Closed(LoopState),
    #[error("{to} needs a facility of kind {expected}, not {found}")]
    WrongFacility {
        to: LoopState,
        expected: &'static str,
        found: String,
    },
    #[error("{0} needs a facility")]
    FacilityMissing(LoopState),
    #[error("the stay ends on {0}; it cannot be ended before")]
    TooEarly(NaiveDate),
    #[error("a test of the stay is positive: convert the person to a case instead")]
    PositiveTest,
    #[error("release needs {needed} negative tests at least {hours} h apart at the end of the stay; {found} qualify")]
    MissingNegatives { needed: u32, hours: u32, found: u32 },
    #[error("the profile does not manage the category {0}")]
    CategoryNotManaged(ManagedCategory),
}

impl ErrorCode for LoopError {
    fn code(&self) -> &'static str {
        match self {
            LoopError::InvalidTransition { .. } => "invalid_transition",
            LoopError::Closed(_) => "record_closed",
            LoopError::WrongFacility { .. } => "wrong_facility_kind",
            LoopError::FacilityMissing(_) => "facility_missing",
            LoopError::TooEarly(_) => "release_too_early",
            LoopError::PositiveTest => "release_with_positive_test",
            LoopError::MissingNegatives { .. } => "release_criteria_not_met",
            LoopError::CategoryNotManaged(_) => "category_not_managed",
        }
    }

    fn message(&self, lang: Lang) -> String {
        let l = lang;
        match (lang, self) {
            (Lang::En, e) => e.to_string(),
            (Lang::Zh, LoopError::InvalidTransition { category, from, to }) => format!(
                "{}不能由“{}”转为“{}”",
                category.label(l),
                from.label(l),
                to.label(l)
            ),
            (Lang::Zh, LoopError::Closed(s)) => {
                format!("该记录已闭环（{}），不能再变更", s.label(l))
            }
            (
                Lang::Zh,
                LoopError::WrongFacility {
                    to,
                    expected,
                    found,
                },
            ) => {
                format!("“{}”需要{expected}类场所，而不是{found}", to.label(l))
            }
            (Lang::Zh, LoopError::FacilityMissing(s)) => format!("“{}”须指定场所", s.label(l)),
            (Lang::Zh, LoopError::TooEarly(d)) => format!("本阶段至{d}结束，不能提前解除"),
            (Lang::Zh, LoopError::PositiveTest) => {
                "本阶段有阳性检测结果，应转为感染者而非解除".into()
            }
            (
                Lang::Zh,
                LoopError::MissingNegatives {
                    needed,
                    hours,
                    found,
                },
            ) => {
                format!("解除需要期末连续{needed}次间隔至少{hours}小时的阴性结果，现符合{found}次")
            }
            (Lang::Zh, LoopError::CategoryNotManaged(c)) => {
                format!("当前防控方案不管理“{}”", c.label(l))
            }
        }
    }
}

/// Whether `from → to` is an edge of the state machine of `category`.
pub fn is_edge(category: ManagedCategory, from: LoopState, to: LoopState) -> bool {
    use LoopState::*;
    if !from.fits(category) || !to.fits(category) || from.is_terminal() {
        return false;
    }
    if category.is_case() {
        return matches!(
            (from, to),
            (Reported, TransferOrdered)
                | (TransferOrdered, InTransfer)
                | (InTransfer, Admitted)
                | (Admitted, Discharged)
                | (Discharged, HomeHealthMonitoring)
                | (Discharged, Released)
                | (HomeHealthMonitoring, Released)
        ) || (to == Died && from != Died);
    }
    match (from, to) {
        (Identified, Notified)
        | (Notified, PlacementOrdered)
        | (PlacementOrdered, InTransfer)
        | (InTransfer, UnderQuarantine)
        // Home quarantine needs no transfer.
        | (PlacementOrdered, UnderQuarantine)
        | (UnderQuarantine, HomeHealthMonitoring)
        | (UnderQuarantine, Released)
        | (HomeHealthMonitoring, Released)
        // Found again.
        | (Lost, Identified) => true,
        (_, ConvertedToCase) => true,
        (_, Lost) => from != Lost,
        _ => false,
    }
}

/// Checks a transition: the edge, the facility it needs, and for a release
/// (or a discharge) the profile's criteria.
pub fn check_transition(
    profile: &Profile,
    category: ManagedCategory,
    from: LoopState,
    to: LoopState,
    ctx: &TransitionContext<'_>,
) -> Result<(), LoopError> {
    if !category.is_case() && profile.category_rules(category).is_none() {
        return Err(LoopError::CategoryNotManaged(category));
    }
    if from.is_terminal() {
        return Err(LoopError::Closed(from));
    }
    if !is_edge(category, from, to) {
        return Err(LoopError::InvalidTransition { category, from, to });
    }
    use LoopState::*;
    if from == UnderQuarantine && matches!(to, HomeHealthMonitoring | Released) {
        let monitoring = profile
            .category_rules(category)
            .is_some_and(|r| r.monitoring_days > 0);
        if monitoring != (to == HomeHealthMonitoring) {
            return Err(LoopError::InvalidTransition { category, from, to });
        }
    }
    if category.is_case() && from == Discharged {
        let monitoring = profile.treatment.post_discharge_monitoring_days > 0;
        if monitoring != (to == HomeHealthMonitoring) && to != Died {
            return Err(LoopError::InvalidTransition { category, from, to });
        }
    }
    match to {
        UnderQuarantine => {
            let kind = ctx.facility.ok_or(LoopError::FacilityMissing(to))?;
            let home = ctx.setting == Some(Setting::Home);
            let fits = if home {
                kind == FacilityKind::Home
            } else {
                kind == FacilityKind::QuarantineHotel
            };
            if !fits {
                return Err(LoopError::WrongFacility {
                    to,
                    expected: if home { "home" } else { "quarantine_hotel" },
                    found: kind.as_str().into(),
                });
            }
            if from == PlacementOrdered && !home {
                return Err(LoopError::InvalidTransition { category, from, to });
            }
        }
        Admitted => {
            let kind = ctx.facility.ok_or(LoopError::FacilityMissing(to))?;
            if !matches!(
                kind,
                FacilityKind::DesignatedHospital | FacilityKind::Fangcang
            ) {
                return Err(LoopError::WrongFacility {
                    to,
                    expected: "designated_hospital|fangcang",
                    found: kind.as_str().into(),
                });
            }
        }
        Discharged => release_criteria(profile, None, ctx)?,
        HomeHealthMonitoring | Released if from == UnderQuarantine => {
            release_criteria(profile, ctx.stay_ends, ctx)?
        }
        Released if from == HomeHealthMonitoring => {
            if let (Some(today), Some(end)) = (ctx.today, ctx.stay_ends) {
                if today <= end {
                    return Err(LoopError::TooEarly(end));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The profile's release criteria: the stay is over (after its last day) and
/// the last `negative_tests` tests are negative, each at least
/// `min_hours_apart` after the one before; no test was positive.
pub fn release_criteria(
    profile: &Profile,
    stay_ends: Option<NaiveDate>,
    ctx: &TransitionContext<'_>,
) -> Result<(), LoopError> {
    if let (Some(today), Some(end)) = (ctx.today, stay_ends) {
        if today < end {
            return Err(LoopError::TooEarly(end));
        }
    }
    if ctx.tests.iter().any(|t| t.positive) {
        return Err(LoopError::PositiveTest);
    }
    let rules = profile.release;
    let found = qualifying_negatives(ctx.tests, rules.min_hours_apart);
    if found < rules.negative_tests {
        return Err(LoopError::MissingNegatives {
            needed: rules.negative_tests,
            hours: rules.min_hours_apart,
            found,
        });
    }
    Ok(())
}

/// Counts back from the latest negative the chain of negatives each at least
/// `hours` after the previous one.
fn qualifying_negatives(tests: &[TestResult], hours: u32) -> u32 {
    let mut negatives: Vec<DateTime<Utc>> = tests
        .iter()
        .filter(|t| !t.positive)
        .map(|t| t.sampled_at)
        .collect();
    negatives.sort_unstable();
    let Some(&last) = negatives.last() else {
        return 0;
    };
    let gap = chrono::Duration::hours(i64::from(hours));
    let mut count = 1;
    let mut after = last;
    for &t in negatives.iter().rev().skip(1) {
        if after - t >= gap {
            count += 1;
            after = t;
        }
    }
    count
}

/// What happens to a secondary contact on its release day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondaryDecision {
    /// The paired close contact's first tests were all negative.
    Release,
    /// One of them was positive: manage as a close contact (升级为密接).
    UpgradeToCloseContact,
    /// Not yet: the release day has not come, or the results are not all in.
    Wait,
}

/// The secondary-release rule (次密接解除): released on the release day only
/// if the paired close contact's first tests are negative; upgraded to close
/// contact as soon as one of them is positive. `quarantine_day` is the day
/// number counted from last exposure; `paired` are the close contact's tests.
pub fn secondary_release(
    rule: &SecondaryRelease,
    quarantine_day: u32,
    paired: &[TestResult],
) -> SecondaryDecision {
    let mut first = paired.to_vec();
    first.sort_by_key(|t| t.sampled_at);
    first.truncate(rule.paired_first_tests as usize);
    if first.iter().any(|t| t.positive) {
        return SecondaryDecision::UpgradeToCloseContact;
    }
    if first.len() < rule.paired_first_tests as usize || quarantine_day < rule.release_day {
        return SecondaryDecision::Wait;
    }
    SecondaryDecision::Release
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use LoopState::*;

    fn p8() -> Profile {
        Profile::shipped("china-8th").unwrap()
    }

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 3, day, hour, 0, 0).unwrap()
    }

    fn neg(day: u32, hour: u32) -> TestResult {
        TestResult {
            sampled_at: at(day, hour),
            positive: false,
        }
    }

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2022, 3, day).unwrap()
    }

    #[test]
    fn every_valid_contact_transition_passes_and_every_other_is_refused() {
        let p = p8();
        let cat = ManagedCategory::CloseContact;
        let tests = [neg(14, 8), neg(15, 9)];
        let ok = |from, to, facility| {
            check_transition(
                &p,
                cat,
                from,
                to,
                &TransitionContext {
                    facility,
                    setting: Some(Setting::Centralized),
                    today: Some(d(16)),
                    stay_ends: Some(d(15)),
                    tests: &tests,
                },
            )
        };
        let hotel = Some(FacilityKind::QuarantineHotel);
        let valid = [
            (Identified, Notified, None),
            (Notified, PlacementOrdered, None),
            (PlacementOrdered, InTransfer, None),
            (InTransfer, UnderQuarantine, hotel),
            (UnderQuarantine, HomeHealthMonitoring, None),
            (HomeHealthMonitoring, Released, None),
            (Identified, ConvertedToCase, None),
            (UnderQuarantine, ConvertedToCase, None),
            (HomeHealthMonitoring, ConvertedToCase, None),
            (Lost, ConvertedToCase, None),
            (Identified, Lost, None),
            (InTransfer, Lost, None),
            (Lost, Identified, None),
        ];
        for (from, to, f) in valid {
            assert_eq!(ok(from, to, f), Ok(()), "{from} → {to}");
        }
        for &from in LoopState::ALL {
            for &to in LoopState::ALL {
                let fits = from.fits(cat) && !from.is_terminal();
                // Any open contact may test positive or be lost.
                if fits && (to == ConvertedToCase || (to == Lost && from != Lost)) {
                    assert_eq!(ok(from, to, None), Ok(()), "{from} → {to}");
                    continue;
                }
                if valid.iter().any(|(f, t, _)| (*f, *t) == (from, to)) {
                    continue;
                }
                let Err(e) = ok(from, to, hotel) else {
                    panic!("{from} → {to} passed")
                };
                let code = e.code();
                assert!(
                    matches!(code, "invalid_transition" | "record_closed"),
                    "{from} → {to}: {code}"
                );
                if from.is_terminal() {
                    assert_eq!(code, "record_closed");
                }
            }
        }
    }

    #[test]
    fn every_valid_case_transition_passes_and_every_other_is_refused() {
        let p = p8();
        let cat = ManagedCategory::Case;
        let tests = [neg(20, 8), neg(21, 9)];
        let check = |from, to, facility| {
            check_transition(
                &p,
                cat,
                from,
                to,
                &TransitionContext {
                    facility,
                    tests: &tests,
                    today: Some(d(28)),
                    stay_ends: Some(d(27)),
                    ..Default::default()
                },
            )
        };
        let hospital = Some(FacilityKind::DesignatedHospital);
        let valid = [
            (Reported, TransferOrdered, None),
            (TransferOrdered, InTransfer, None),
            (InTransfer, Admitted, hospital),
            (InTransfer, Admitted, Some(FacilityKind::Fangcang)),
            (Admitted, Discharged, None),
            (Discharged, HomeHealthMonitoring, None),
            (HomeHealthMonitoring, Released, None),
            (Reported, Died, None),
            (Admitted, Died, None),
        ];
        for (from, to, f) in valid {
            assert_eq!(check(from, to, f), Ok(()), "{from} → {to}");
        }
        for &from in LoopState::ALL {
            for &to in LoopState::ALL {
                if valid.iter().any(|(f, t, _)| (*f, *t) == (from, to))
                    || (to == Died && from.fits(cat) && !from.is_terminal())
                {
                    continue;
                }
                let code = check(from, to, hospital).unwrap_err().code();
                assert!(
                    matches!(code, "invalid_transition" | "record_closed"),
                    "{from} → {to}: {code}"
                );
            }
        }
    }

    #[test]
    fn placements_and_admissions_need_the_right_facility() {
        let p = p8();
        let cc = ManagedCategory::CloseContact;
        let ctx = |facility, setting| TransitionContext {
            facility,
            setting,
            ..Default::default()
        };
        let e = check_transition(
            &p,
            cc,
            InTransfer,
            UnderQuarantine,
            &ctx(None, Some(Setting::Centralized)),
        );
        assert_eq!(e.unwrap_err().code(), "facility_missing");
        let e = check_transition(
            &p,
            cc,
            InTransfer,
            UnderQuarantine,
            &ctx(Some(FacilityKind::Home), Some(Setting::Centralized)),
        );
        assert_eq!(e.unwrap_err().code(), "wrong_facility_kind");
        // Centralized quarantine goes through a transfer; home quarantine need not.
        let e = check_transition(
            &p,
            cc,
            PlacementOrdered,
            UnderQuarantine,
            &ctx(
                Some(FacilityKind::QuarantineHotel),
                Some(Setting::Centralized),
            ),
        );
        assert_eq!(e.unwrap_err().code(), "invalid_transition");
        let p9 = Profile::shipped("china-9th").unwrap();
        assert_eq!(
            check_transition(
                &p9,
                ManagedCategory::SecondaryContact,
                PlacementOrdered,
                UnderQuarantine,
                &ctx(Some(FacilityKind::Home), Some(Setting::Home))
            ),
            Ok(())
        );
        let e = check_transition(
            &p,
            ManagedCategory::Case,
            InTransfer,
            Admitted,
            &ctx(Some(FacilityKind::QuarantineHotel), None),
        );
        assert_eq!(e.unwrap_err().code(), "wrong_facility_kind");
        let who = Profile::shipped("who-2021").unwrap();
        let e = check_transition(
            &who,
            ManagedCategory::SecondaryContact,
            Identified,
            Notified,
            &ctx(None, None),
        );
        assert_eq!(e.unwrap_err().code(), "category_not_managed");
    }

    #[test]
    fn release_is_refused_without_the_profiles_criteria() {
        let p = p8();
        let cc = ManagedCategory::CloseContact;
        let release = |today, tests: &[TestResult]| {
            check_transition(
                &p,
                cc,
                UnderQuarantine,
                HomeHealthMonitoring,
                &TransitionContext {
                    today: Some(today),
                    stay_ends: Some(d(15)),
                    tests,
                    ..Default::default()
                },
            )
        };
        assert_eq!(release(d(15), &[neg(14, 8), neg(15, 8)]), Ok(()));
        assert_eq!(
            release(d(14), &[neg(13, 8), neg(14, 8)])
                .unwrap_err()
                .code(),
            "release_too_early"
        );
        // 23 hours apart: only one qualifies.
        assert_eq!(
            release(d(15), &[neg(14, 9), neg(15, 8)]),
            Err(LoopError::MissingNegatives {
                needed: 2,
                hours: 24,
                found: 1
            })
        );
        assert_eq!(
            release(d(15), &[neg(15, 8)]).unwrap_err().code(),
            "release_criteria_not_met"
        );
        let pos = TestResult {
            sampled_at: at(10, 8),
            positive: true,
        };
        assert_eq!(
            release(d(15), &[pos, neg(14, 8), neg(15, 8)])
                .unwrap_err()
                .code(),
            "release_with_positive_test"
        );
        // Three tests, the middle one too close: the first and last still qualify.
        assert_eq!(
            release(d(15), &[neg(13, 8), neg(14, 20), neg(15, 8)]),
            Ok(())
        );
        // Leaving home monitoring only waits for its last day.
        let leave = |today| {
            check_transition(
                &p,
                cc,
                HomeHealthMonitoring,
                Released,
                &TransitionContext {
                    today: Some(today),
                    stay_ends: Some(d(22)),
                    ..Default::default()
                },
            )
        };
        assert_eq!(leave(d(22)).unwrap_err().code(), "release_too_early");
        assert_eq!(leave(d(23)), Ok(()));
        // Without home monitoring (secondary contacts) quarantine ends in release.
        let sc = |to| {
            check_transition(
                &p,
                ManagedCategory::SecondaryContact,
                UnderQuarantine,
                to,
                &TransitionContext {
                    today: Some(d(8)),
                    stay_ends: Some(d(8)),
                    tests: &[neg(6, 8), neg(8, 8)],
                    ..Default::default()
                },
            )
        };
        assert_eq!(sc(Released), Ok(()));
        assert_eq!(
            sc(HomeHealthMonitoring).unwrap_err().code(),
            "invalid_transition"
        );
        // WHO asks for no test.
        let who = Profile::shipped("who-2021").unwrap();
        assert_eq!(
            check_transition(
                &who,
                cc,
                UnderQuarantine,
                Released,
                &TransitionContext {
                    today: Some(d(15)),
                    stay_ends: Some(d(15)),
                    ..Default::default()
                }
            ),
            Ok(())
        );
        // After discharge: 7 days of home monitoring under china-8th, none under WHO.
        let after = |p: &Profile, to| {
            check_transition(
                p,
                ManagedCategory::Case,
                Discharged,
                to,
                &TransitionContext::default(),
            )
        };
        assert_eq!(
            after(&p, Released).unwrap_err().code(),
            "invalid_transition"
        );
        assert_eq!(after(&who, Released), Ok(()));
        assert_eq!(
            after(&who, HomeHealthMonitoring).unwrap_err().code(),
            "invalid_transition"
        );
        // A case is discharged on two negatives too.
        let e = check_transition(
            &p,
            ManagedCategory::Case,
            Admitted,
            Discharged,
            &TransitionContext {
                tests: &[neg(20, 8)],
                ..Default::default()
            },
        );
        assert_eq!(e.unwrap_err().code(), "release_criteria_not_met");
    }

    #[test]
    fn secondary_contacts_go_on_day_7_only_if_their_close_contacts_first_two_tests_are_negative() {
        let rule = p8().secondary_release.unwrap();
        let pos = |day| TestResult {
            sampled_at: at(day, 8),
            positive: true,
        };
        assert_eq!(
            secondary_release(&rule, 7, &[neg(2, 8), neg(5, 8)]),
            SecondaryDecision::Release
        );
        assert_eq!(
            secondary_release(&rule, 6, &[neg(2, 8), neg(5, 8)]),
            SecondaryDecision::Wait
        );
        assert_eq!(
            secondary_release(&rule, 7, &[neg(2, 8)]),
            SecondaryDecision::Wait
        );
        assert_eq!(
            secondary_release(&rule, 3, &[pos(2)]),
            SecondaryDecision::UpgradeToCloseContact
        );
        assert_eq!(
            secondary_release(&rule, 7, &[neg(2, 8), pos(5)]),
            SecondaryDecision::UpgradeToCloseContact
        );
        // A positive third test is the close contact's own affair, not the rule's.
        assert_eq!(
            secondary_release(&rule, 7, &[pos(8), neg(2, 8), neg(5, 8)]),
            SecondaryDecision::Release
        );
    }

    #[test]
    fn states_belong_to_their_categories() {
        assert!(!LoopState::Admitted.fits(ManagedCategory::CloseContact));
        assert!(!LoopState::UnderQuarantine.fits(ManagedCategory::Case));
        assert!(LoopState::Released.fits(ManagedCategory::Case));
        assert!(LoopState::InTransfer.is_controlled());
        assert!(!LoopState::Notified.is_controlled());
        assert_eq!(ManagedCategory::Case.initial_state(), Reported);
    }
}
