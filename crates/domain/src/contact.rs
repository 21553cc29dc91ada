//! Contacts: people exposed to a case, and why.

use crate::vocabulary;
use serde::{Deserialize, Serialize};

vocabulary!(
    /// How a contact is managed.
    ContactCategory {
        CloseContact = "close_contact", "密切接触者", "Close contact";
        SecondaryContact = "secondary_contact", "密接的密接", "Secondary close contact";
        VenueExposed = "venue_exposed", "涉疫场所暴露人员", "Exposed at an outbreak venue";
    }
);

vocabulary!(
    /// Through what a contact was exposed.
    ExposureKind {
        Venue = "venue", "同场所", "Same venue";
        Household = "household", "同住", "Same household";
        CoTravel = "co_travel", "同乘", "Same trip";
    }
);

/// Why a person is a contact: one exposure, with everything an investigator
/// needs to check it. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub kind: ExposureKind,
    /// The person they were exposed to (a case, or a close contact for secondary contacts): a person id.
    pub through: i64,
    /// Venue id, household id or trip id.
    pub place: String,
    /// The source's stay (venue) as `[check_in, check_out]`.
    pub source_stay: Option<[i64; 2]>,
    /// The contact's own stay (venue).
    pub contact_stay: Option<[i64; 2]>,
    /// Seconds of overlap (venue, counting the buffer after the source left).
    pub overlap_seconds: Option<i64>,
    /// People who overlapped the source's stay there (venue); above the crowd cap the venue counts as crowded.
    pub crowd: Option<u32>,
    /// Carriage and rows (co-travel).
    pub carriage: Option<String>,
    pub source_row: Option<i64>,
    pub contact_row: Option<i64>,
}

impl Explanation {
    /// An exposure through `through` at `place` with no stay, overlap or seat
    /// details yet: a household, or a record entered by hand. Routes that know
    /// more fill the rest in.
    pub fn at(kind: ExposureKind, through: i64, place: impl Into<String>) -> Explanation {
        Explanation {
            kind,
            through,
            place: place.into(),
            source_stay: None,
            contact_stay: None,
            overlap_seconds: None,
            crowd: None,
            carriage: None,
            source_row: None,
            contact_row: None,
        }
    }

    /// One line for people: where, when and how long, in `lang`, times in `tz`.
    pub fn describe(&self, lang: crate::Lang, tz: chrono_tz::Tz) -> String {
        let at = |s: i64| crate::time::format_instant(crate::time::from_epoch(s), tz);
        match self.kind {
            ExposureKind::Venue => {
                let [si, so] = self.source_stay.unwrap_or_default();
                let [ci, co] = self.contact_stay.unwrap_or_default();
                let (minutes, crowd) = (
                    self.overlap_seconds.unwrap_or(0) / 60,
                    self.crowd.unwrap_or(0),
                );
                lang.text(
                    format!(
                        "场所{}：传染源{}—{}，本人{}—{}，重叠{minutes}分钟（同时在场{crowd}人）",
                        self.place,
                        at(si),
                        at(so),
                        at(ci),
                        at(co)
                    ),
                    format!(
                        "venue {}: source {}–{}, contact {}–{}, overlap {minutes} min ({crowd} present)",
                        self.place,
                        at(si),
                        at(so),
                        at(ci),
                        at(co)
                    ),
                )
            }
            ExposureKind::Household => lang.text(
                format!("同住（户{}）", self.place),
                format!("same household ({})", self.place),
            ),
            ExposureKind::CoTravel => {
                let carriage = self.carriage.clone().unwrap_or_default();
                let (s, c) = (self.source_row.unwrap_or(0), self.contact_row.unwrap_or(0));
                lang.text(
                    format!(
                        "同乘{} {carriage}车厢，传染源第{s}排，本人第{c}排",
                        self.place
                    ),
                    format!(
                        "trip {} carriage {carriage}, source row {s}, contact row {c}",
                        self.place
                    ),
                )
            }
        }
    }
}
