//! A synthetic province modelled on Jilin in March 2022, for `closedloop demo`
//! and the benchmarks.
//!
//! [`generate`] builds, from a scale and a seed, the real region tree of Jilin
//! Province (with a few synthetic subdistricts and communities), a month of
//! local cases whose daily bulletin figures follow [`daily_local_counts`], a
//! handful of imported cases, background residents in households, and a few
//! planted duplicate persons for the duplicate review. The same configuration
//! always gives the same data; nothing here does I/O.
//!
//! Bulletin counting rule the cases obey: an asymptomatic infection later
//! reclassified as confirmed counts among the new asymptomatic on the day it
//! was reported and among the new confirmed on the day it was reclassified; it
//! is one infection, never two.

mod curve;
mod generate;
mod people;
mod regions;

use closedloop_domain::case::CaseDraft;
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
}

/// Generates the demo province. A negative or non-finite scale counts as 0.
pub fn generate(cfg: &DemoConfig) -> DemoData {
    generate::run(cfg)
}

/// `(day of March 2022, new local confirmed including reclassified, new local
/// asymptomatic)` at scale 1.0: the curve [`generate`] follows. Only 9, 14, 22
/// and 31 March are published bulletin figures; the other days are interpolated.
pub fn daily_local_counts() -> &'static [(u32, u32, u32)] {
    &curve::DAILY_LOCAL
}
