//! The contact-tracing engine. Pure compute: no I/O.
//!
//! Identifiers become dense `u32`s through [`Ids`]; stays go into a
//! [`StayIndex`] (built once, queried many times); a [`Tracer`] finds close
//! and secondary contacts of a set of cases under [`Rules`], sorted and with
//! ties broken by id through an [`IdOrder`] ([`Ids`] itself, or [`Ranks`]
//! computed once for a long-lived index). [`Tracer::count`] gives the size
//! of a run without the list.
//!
//! Times are seconds since the Unix epoch; stays must lie within
//! 1970..2106 (they are kept as `u32`). Everything is exact: whole seconds,
//! no sampling, no approximate counting.
//!
//! ```
//! use closedloop_trace::{trace, CaseInput, Ids, Rules, Stay, StayIndex, Stays};
//! let mut ids = Ids::new();
//! let (case, other) = (ids.intern("case").unwrap(), ids.intern("other").unwrap());
//! let mut stays = Stays::new();
//! stays.push(Stay { person: case, venue: 0, check_in: 1000, check_out: 2000 }).unwrap();
//! stays.push(Stay { person: other, venue: 0, check_in: 1500, check_out: 3000 }).unwrap();
//! let index = StayIndex::build(stays);
//! let rules = Rules { lookback: 2 * 86_400, buffer: 1800, min_overlap: 0 };
//! let cases = [CaseInput { person: case, reference_time: 2000, isolated_at: None }];
//! let contacts = trace(&index, &ids, &cases, &rules, 3000, false);
//! assert_eq!(contacts.len(), 1);
//! assert_eq!((contacts[0].person, contacts[0].first_exposure, contacts[0].via), (other, 1500, case));
//! ```

pub mod clusters;
mod engine;
pub mod explain;
mod ids;
mod index;

pub use engine::{
    count, trace, CaseInput, Contact, Counts, PrimaryMode, Profile, Rules, SecondaryMode, Sizes,
    Tracer,
};
pub use ids::{IdOrder, Ids, IdsError, Ranks};
pub use index::{Stay, StayError, StayIndex, Stays, MAX_ITEMS};
