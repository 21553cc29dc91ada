//! A synthetic province modelled on Jilin in March 2022, for `closedloop demo`
//! and the benchmarks.
//!
//! [`generate`] builds, from a scale and a seed, the real region tree of Jilin
//! Province (with a few synthetic subdistricts and communities), a month of
//! local cases whose daily bulletin figures follow [`daily_local_counts`], a
//! handful of imported cases, background residents in households, and a few
//! planted duplicate persons for the duplicate review. For contact tracing it
//! adds venues across the districts with cases, venue check-ins (each case's
//! stays in the days before its sample, people who were there with it,
//! residents' everyday stays and a few crowded days) and seats on a few
//! trains. The same configuration always gives the same data; nothing here
//! does I/O.
//!
//! Bulletin counting rule the cases obey: an asymptomatic infection later
//! reclassified as confirmed counts among the new asymptomatic on the day it
//! was reported and among the new confirmed on the day it was reclassified; it
//! is one infection, never two.

pub mod closed_loop;
mod curve;
mod generate;
mod movement;
mod people;
mod regions;

use closedloop_domain::case::CaseDraft;
use closedloop_domain::movement::{CheckinDraft, TripSeat, Venue};
use closedloop_domain::person::PersonDraft;
use closedloop_domain::region::Region;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoConfig {
    /// Multiplies every daily count (`round(count × scale)`) and the background
    /// population; 1.0 gives the real magnitudes, about 50,000 cases.
    pub scale: f64,
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            scale: 0.1,
            seed: 2022,
        }
    }
}

/// The generated province.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    /// Province first, then prefectures, districts, subdistricts and communities;
    /// every parent comes before its children.
    pub regions: Vec<Region>,
    /// People who are not cases: household members of cases, other residents,
    /// and the second half of each planted duplicate pair.
    pub persons: Vec<PersonDraft>,
    /// Local and imported cases, ordered by report time.
    pub cases: Vec<CaseDraft>,
    /// Places with a venue code, mostly in the districts with the most cases,
    /// ordered by district.
    pub venues: Vec<Venue>,
    /// Venue check-ins of cases and persons (`person_id` is the document
    /// number), ordered by check-in. About one in ten has no check-out.
    pub checkins: Vec<CheckinDraft>,
    /// Seats on a few trains that carried a case, by trip.
    pub trips: Vec<TripSeat>,
}

/// Generates the demo province. A negative or non-finite scale counts as 0.
pub fn generate(cfg: &DemoConfig) -> DemoData {
    generate::run(cfg, true)
}

/// [`generate`] without the movement data: the same regions, persons and
/// cases, with no venues, check-ins or trips. Movement is most of the work at
/// large scales, and callers that count cases or review duplicates need none of it.
pub fn generate_without_movement(cfg: &DemoConfig) -> DemoData {
    generate::run(cfg, false)
}

/// `(day of March 2022, new local confirmed including reclassified, new local
/// asymptomatic)` at scale 1.0: the curve [`generate`] follows. Only 9, 14, 22
/// and 31 March are published bulletin figures; the other days are interpolated.
pub fn daily_local_counts() -> &'static [(u32, u32, u32)] {
    &curve::DAILY_LOCAL
}
