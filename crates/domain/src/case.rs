//! Cases: positive people, their classification history and outcomes.

use crate::error::DomainError;
use crate::person::PersonDraft;
use crate::time::format_instant;
use crate::vocabulary;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

vocabulary!(
    /// Confirmed (确诊病例) or asymptomatic infection (无症状感染者).
    Classification {
        Confirmed = "confirmed", "确诊病例", "Confirmed";
        Asymptomatic = "asymptomatic", "无症状感染者", "Asymptomatic";
    }
);

vocabulary!(
    /// Clinical type of a confirmed case (临床分型).
    ClinicalType {
        Mild = "mild", "轻型", "Mild";
        Moderate = "moderate", "普通型", "Moderate";
        Severe = "severe", "重型", "Severe";
        Critical = "critical", "危重型", "Critical";
    }
);

vocabulary!(
    /// Local (本土) or imported (境外输入).
    Origin {
        Local = "local", "本土", "Local";
        Imported = "imported", "境外输入", "Imported";
    }
);

vocabulary!(
    /// How the positive was found (发现途径).
    DiscoveryChannel {
        CentralizedQuarantine = "centralized_quarantine", "集中隔离", "Centralized quarantine";
        HomeQuarantine = "home_quarantine", "居家隔离", "Home quarantine";
        SealedOrControlledArea = "sealed_or_controlled_area", "封控管控区", "Sealed or controlled area";
        CommunityScreening = "community_screening", "社区筛查", "Community screening";
        FeverClinic = "fever_clinic", "发热门诊", "Fever clinic";
        ArrivalTest = "arrival_test", "落地检", "Arrival test";
        Other = "other", "其他", "Other";
    }
);

impl DiscoveryChannel {
    /// Found while already under quarantine or control (在隔离管控中发现): such a
    /// positive did not circulate in the community.
    pub fn under_control(self) -> bool {
        matches!(
            self,
            DiscoveryChannel::CentralizedQuarantine
                | DiscoveryChannel::HomeQuarantine
                | DiscoveryChannel::SealedOrControlledArea
        )
    }
}

vocabulary!(
    /// How a case ended: discharged (治愈出院, confirmed), released from medical
    /// observation (解除隔离医学观察, asymptomatic) or died (死亡).
    Outcome {
        Discharged = "discharged", "治愈出院", "Discharged";
        Released = "released", "解除医学观察", "Released";
        Died = "died", "死亡", "Died";
    }
);

/// A case as entered or imported, validated together with its person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDraft {
    pub case_id: String,
    pub person: PersonDraft,
    /// The classification now. A case first reported asymptomatic and later
    /// reclassified is `Confirmed` with `reclassified_at` set.
    pub classification: Classification,
    pub clinical_type: Option<ClinicalType>,
    pub origin: Origin,
    pub discovery_channel: DiscoveryChannel,
    pub onset_date: Option<NaiveDate>,
    pub sample_time: Option<DateTime<Utc>>,
    pub report_time: DateTime<Utc>,
    pub reporting_region: String,
    pub residence_region: Option<String>,
    pub reclassified_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub outcome_time: Option<DateTime<Utc>>,
    /// When the case was isolated: its infectious window ends there (else now).
    #[serde(default)]
    pub isolated_at: Option<DateTime<Utc>>,
}

/// A case's reference time from its fields: see [`CaseDraft::reference_time`].
pub fn reference_time(
    onset_date: Option<NaiveDate>,
    sample_time: Option<DateTime<Utc>>,
    report_time: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> DateTime<Utc> {
    match (onset_date, sample_time) {
        (Some(onset), _) => crate::time::day_bounds(onset, tz).0,
        (None, Some(sample)) => sample,
        (None, None) => report_time,
    }
}

impl CaseDraft {
    /// The classification under which the case was first reported.
    pub fn initial_classification(&self) -> Classification {
        if self.reclassified_at.is_some() {
            Classification::Asymptomatic
        } else {
            self.classification
        }
    }

    /// Where the infectious window is counted back from: symptom onset (its local
    /// midnight, since only the day is known), else the sampling time of the
    /// positive sample, else the report.
    pub fn reference_time(&self, tz: chrono_tz::Tz) -> DateTime<Utc> {
        reference_time(self.onset_date, self.sample_time, self.report_time, tz)
    }

    /// Checks the rules that tie the fields together. Returns the name of the
    /// offending field with the error.
    pub fn check(&self) -> Result<(), (&'static str, DomainError)> {
        self.check_in(crate::time::DEFAULT_TIME_ZONE)
    }

    /// Like [`CaseDraft::check`], with times in messages shown in `tz`.
    pub fn check_in(&self, tz: chrono_tz::Tz) -> Result<(), (&'static str, DomainError)> {
        if let Some(at) = self.reclassified_at {
            if self.classification != Classification::Confirmed {
                return Err((
                    "reclassified_at",
                    DomainError::ReclassificationOfAsymptomatic,
                ));
            }
            if at < self.report_time {
                return Err((
                    "reclassified_at",
                    DomainError::ReclassificationBeforeReport {
                        reclassified: format_instant(at, tz),
                        reported: format_instant(self.report_time, tz),
                    },
                ));
            }
        }
        if self.classification == Classification::Asymptomatic && self.clinical_type.is_some() {
            return Err(("clinical_type", DomainError::ClinicalTypeOnAsymptomatic));
        }
        match (self.outcome, self.outcome_time) {
            (None, None) => {}
            (Some(o), Some(t)) => {
                let fits = match o {
                    Outcome::Discharged => self.classification == Classification::Confirmed,
                    Outcome::Released => self.classification == Classification::Asymptomatic,
                    Outcome::Died => true,
                };
                if !fits {
                    return Err((
                        "outcome",
                        DomainError::OutcomeMismatch {
                            outcome: o.as_str(),
                            classification: self.classification.as_str(),
                        },
                    ));
                }
                if t < self.report_time || self.reclassified_at.is_some_and(|r| t < r) {
                    return Err((
                        "outcome_time",
                        DomainError::OutcomeBeforeReport {
                            outcome: format_instant(t, tz),
                            reported: format_instant(
                                self.reclassified_at
                                    .unwrap_or(self.report_time)
                                    .max(self.report_time),
                                tz,
                            ),
                        },
                    ));
                }
            }
            (Some(_), None) => return Err(("outcome_time", DomainError::OutcomeWithoutTime)),
            (None, Some(_)) => return Err(("outcome", DomainError::OutcomeWithoutTime)),
        }
        Ok(())
    }
}
