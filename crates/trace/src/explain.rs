//! Tracing for the registry: the contacts of one case under a protocol's full
//! rules (venues with crowd caps, households, co-travel, secondary contacts),
//! each with why. Built on the same stay index as the batch engine.

use crate::index::StayIndex;
use std::collections::HashMap;

/// The full rules of a profile, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryRules {
    pub lookback: i64,
    pub buffer: i64,
    pub min_overlap: i64,
    /// More people than this overlapping one stay of a source makes the venue crowded (0: no cap).
    pub crowd_cap: u32,
    /// At a crowded venue, an overlap at least this long still makes a close contact.
    pub long_overlap: i64,
    /// Seats within this many rows on the same carriage are close contacts.
    pub co_travel_rows: i64,
    pub secondary: bool,
}

/// How a person is managed after tracing; the order is precedence (strictest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Close,
    Secondary,
    VenueExposed,
}

/// Why someone was exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Venue {
        venue: u32,
        source_stay: [i64; 2],
        contact_stay: [i64; 2],
        overlap: i64,
        crowd: u32,
    },
    Household {
        household: u32,
    },
    CoTravel {
        trip: u32,
        carriage: u32,
        source_row: Option<i64>,
        contact_row: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The source: the case, or the close contact for secondary contacts.
    pub through: u32,
    /// When the exposure began (seconds); household and co-travel exposures use the window start.
    pub at: i64,
    pub route: Route,
}

/// One traced person with every exposure found (earliest first, at most [`MAX_EXPOSURES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    pub person: u32,
    pub category: Category,
    pub first_exposure: i64,
    pub via: u32,
    pub exposures: Vec<Exposure>,
}

/// How many exposures a contact keeps as its explanation.
pub const MAX_EXPOSURES: usize = 8;

/// Who sat in a carriage, and in which row.
type Seat = (u32, Option<i64>);

/// Households and trip seats, by person, in the index's person numbering.
#[derive(Debug, Clone, Default)]
pub struct Relations {
    household_of: HashMap<u32, u32>,
    members: HashMap<u32, Vec<u32>>,
    seats_of: HashMap<u32, Vec<(u32, u32, Option<i64>)>>,
    carriages: HashMap<(u32, u32), Vec<Seat>>,
}

impl Relations {
    pub fn add_household_member(&mut self, person: u32, household: u32) {
        if self.household_of.insert(person, household).is_none() {
            self.members.entry(household).or_default().push(person);
        }
    }

    pub fn add_seat(&mut self, person: u32, trip: u32, carriage: u32, row: Option<i64>) {
        self.seats_of
            .entry(person)
            .or_default()
            .push((trip, carriage, row));
        self.carriages
            .entry((trip, carriage))
            .or_default()
            .push((person, row));
    }
}

/// One case to trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub person: u32,
    pub reference_time: i64,
    pub isolated_at: Option<i64>,
}

#[derive(Default)]
struct Found {
    category: Option<Category>,
    first: i64,
    via: u32,
    exposures: Vec<Exposure>,
}

impl Found {
    fn add(&mut self, category: Category, e: Exposure, rank: &impl Fn(u32) -> u64) {
        let better = match self.category {
            None => true,
            Some(c) => {
                category < c
                    || category == c && (e.at, rank(e.through)) < (self.first, rank(self.via))
            }
        };
        if better {
            if self.category != Some(category) {
                self.exposures.clear();
            }
            self.category = Some(category);
            self.first = e.at;
            self.via = e.through;
        }
        if self.category == Some(category) && self.exposures.len() < MAX_EXPOSURES * 4 {
            self.exposures.push(e);
        }
    }
}

/// Traces one case. `excluded` are people never counted as contacts (known cases);
/// `rank` orders people for ties (smaller first). `now` closes open windows.
pub fn trace_case(
    index: &StayIndex,
    relations: &Relations,
    case: Source,
    excluded: &dyn Fn(u32) -> bool,
    rank: &impl Fn(u32) -> u64,
    rules: &RegistryRules,
    now: i64,
) -> Vec<Traced> {
    let start = case.reference_time - rules.lookback;
    let end = case.isolated_at.unwrap_or(now).min(now);
    let mut found: HashMap<u32, Found> = HashMap::new();
    if end > start {
        expose(
            index,
            relations,
            case.person,
            start,
            end,
            excluded,
            rules,
            &mut found,
            rank,
            Category::Close,
        );
    }
    if rules.secondary {
        // Close contacts were exposed from their first exposure; without an isolation time they stay open until now.
        let mut close: Vec<(u32, i64)> = found
            .iter()
            .filter(|(_, f)| f.category == Some(Category::Close))
            .map(|(p, f)| (*p, f.first))
            .collect();
        // A fixed order keeps the kept explanations the same from run to run.
        close.sort_by_key(|&(p, first)| (first, rank(p)));
        let mut second: HashMap<u32, Found> = HashMap::new();
        for (contact, first) in close {
            if now > first {
                expose(
                    index,
                    relations,
                    contact,
                    first,
                    now,
                    excluded,
                    rules,
                    &mut second,
                    rank,
                    Category::Secondary,
                );
            }
        }
        // Every exposure through a close contact makes a secondary contact; precedence
        // keeps close contacts close.
        let mut second: Vec<(u32, Found)> = second.into_iter().collect();
        second.sort_by_key(|(p, _)| rank(*p));
        for (person, f) in second {
            if person == case.person {
                continue;
            }
            let entry = found.entry(person).or_default();
            for e in f.exposures {
                entry.add(Category::Secondary, e, rank);
            }
        }
    }
    let mut out: Vec<Traced> = found
        .into_iter()
        .filter_map(|(person, mut f)| {
            let category = f.category?;
            f.exposures.sort_by_key(|e| (e.at, rank(e.through)));
            f.exposures.truncate(MAX_EXPOSURES);
            Some(Traced {
                person,
                category,
                first_exposure: f.first,
                via: f.via,
                exposures: f.exposures,
            })
        })
        .collect();
    out.sort_by_key(|t| (t.category, t.first_exposure, rank(t.person)));
    out
}

/// Everyone `source` exposed during `[start, end]`, added to `found` as
/// `strongest` (or venue-exposed at crowded venues).
#[allow(clippy::too_many_arguments)]
fn expose(
    index: &StayIndex,
    relations: &Relations,
    source: u32,
    start: i64,
    end: i64,
    excluded: &dyn Fn(u32) -> bool,
    rules: &RegistryRules,
    found: &mut HashMap<u32, Found>,
    rank: &impl Fn(u32) -> u64,
    strongest: Category,
) {
    let weaker = if strongest == Category::Close {
        Category::VenueExposed
    } else {
        strongest
    };
    let mut hits: Vec<(u32, i64, [i64; 2], i64)> = Vec::new();
    for stay in index.stays_of(source) {
        let (a, b0) = (stay.check_in.max(start), stay.check_out.min(end));
        if b0 <= a {
            continue;
        }
        let b = b0 + rules.buffer;
        hits.clear();
        index.overlapping_stays(
            stay.venue,
            a,
            b,
            rules.min_overlap.max(1),
            |person, cin, cout| {
                if person != source && !excluded(person) {
                    let from = cin.max(a);
                    hits.push((person, from, [cin, cout], cout.min(b) - from));
                }
            },
        );
        let crowd = hits.len() as u32;
        let crowded = rules.crowd_cap > 0 && crowd > rules.crowd_cap;
        for &(person, at, contact_stay, overlap) in &hits {
            let category = if crowded && overlap < rules.long_overlap {
                weaker
            } else {
                strongest
            };
            let route = Route::Venue {
                venue: stay.venue,
                source_stay: [stay.check_in, stay.check_out],
                contact_stay,
                overlap,
                crowd,
            };
            found.entry(person).or_default().add(
                category,
                Exposure {
                    through: source,
                    at,
                    route,
                },
                rank,
            );
        }
    }
    if let Some(household) = relations.household_of.get(&source) {
        for &member in relations.members.get(household).into_iter().flatten() {
            if member != source && !excluded(member) {
                let e = Exposure {
                    through: source,
                    at: start,
                    route: Route::Household {
                        household: *household,
                    },
                };
                found.entry(member).or_default().add(strongest, e, rank);
            }
        }
    }
    for &(trip, carriage, row) in relations.seats_of.get(&source).into_iter().flatten() {
        for &(other, other_row) in relations
            .carriages
            .get(&(trip, carriage))
            .into_iter()
            .flatten()
        {
            if other == source || excluded(other) {
                continue;
            }
            let near = matches!((row, other_row), (Some(r), Some(o)) if (r - o).abs() <= rules.co_travel_rows);
            let category = if near { strongest } else { weaker };
            let e = Exposure {
                through: source,
                at: start,
                route: Route::CoTravel {
                    trip,
                    carriage,
                    source_row: row,
                    contact_row: other_row,
                },
            };
            found.entry(other).or_default().add(category, e, rank);
        }
    }
}
