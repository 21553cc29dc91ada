//! Close and secondary contacts by venue, from a [`StayIndex`].

use std::time::{Duration, Instant};

use crate::ids::{IdOrder, Ranks};
use crate::index::{StayIndex, VenueIndex};

/// The rules of one tracing run, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How far before its reference time a case's window opens.
    pub lookback: i64,
    /// How long a source's stay still counts after the source left.
    pub buffer: i64,
    /// The shortest overlap that makes a contact; any overlap counts must be
    /// longer than zero whatever this says.
    pub min_overlap: i64,
}

/// A case as the engine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseInput {
    pub person: u32,
    /// Symptom onset, or the sampling time of the first positive sample.
    pub reference_time: i64,
    /// When the case was isolated; the window runs to `as_of` when `None`.
    pub isolated_at: Option<i64>,
}

/// One traced person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub person: u32,
    /// 1: close contact of a case; 2: secondary, a contact of a close contact.
    pub degree: u8,
    /// The earliest qualifying exposure (seconds since the epoch).
    pub first_exposure: i64,
    /// The case (degree 1) or close contact (degree 2) of that earliest
    /// exposure; on a tie, the one whose id sorts first.
    pub via: u32,
    /// How many distinct cases (degree 1) or close contacts (degree 2) gave a
    /// qualifying exposure.
    pub sources: u32,
}

/// How many contacts of each degree, without the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub close: usize,
    pub secondary: usize,
}

/// The size of a run with a crowd cap (see [`Tracer::set_crowd_cap`]):
/// contacts of each degree, and the people reached only through crowded
/// exposures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sizes {
    pub close: usize,
    pub secondary: usize,
    /// Reached only at crowded exposures: neither cases nor contacts.
    pub venue_exposed: usize,
}

/// What a person's slot says during a run.
const NONE: u32 = u32::MAX;
/// A case: never a contact, whatever they overlapped.
const EXCLUDED: u32 = u32::MAX - 1;
/// Reached only through crowded exposures so far: venue-exposed, and still
/// free to become a contact.
const VENUE_EXPOSED: u32 = u32::MAX - 2;

/// A contact being found. `via` is the rank of the source among its degree's
/// sources in id order; `stamp` is the rank of the last source that reached it,
/// so each source counts once however many of its stays overlapped.
#[derive(Debug, Clone, Copy)]
struct Entry {
    person: u32,
    first: i64,
    via: u32,
    sources: u32,
    stamp: u32,
}

/// One source's exposure windows: a case (possibly listed more than once) or
/// a close contact.
#[derive(Debug, Clone, Copy)]
struct Window {
    person: u32,
    start: i64,
    end: i64,
}

/// Reusable working memory of tracing, so that repeated runs on a warm index
/// allocate nothing and touch only what they find. Use one per thread.
#[derive(Debug, Clone, Default)]
pub struct Tracer {
    /// Per person: [`NONE`], [`EXCLUDED`] or an index into `entries`.
    slot: Vec<u32>,
    entries: Vec<Entry>,
    windows: Vec<(u32, Window)>,
    persons: Vec<u32>,
    /// Entries below this are close contacts.
    close: usize,
    /// Exposures of close contacts: `[venue, source rank, start, end]`.
    intervals: Vec<[u32; 4]>,
    /// One bit per source rank: met by the person being traced.
    seen: Vec<u64>,
    /// The sources the person being traced met.
    met: Vec<u32>,
    /// Eligible people, by main venue then id.
    order: Vec<u64>,
    /// Per person: `rank << 32 | first exposure` of a source, or `u64::MAX`.
    source_of: Vec<u64>,
    strategy: SecondaryMode,
    /// More overlapping stays than this make an exposure crowded.
    crowd_cap: Option<u32>,
    /// People whose slot was set to [`VENUE_EXPOSED`] during the run.
    exposed: Vec<u32>,
    /// How many people the last run left venue-exposed.
    last_venue_exposed: usize,
    /// A second tracer for the close contacts of the later half of the cases,
    /// on another thread (see [`Tracer::spread_split`]).
    helper: Option<Box<Tracer>>,
    /// Split the close contacts over two threads: `None` decides by size.
    split: Option<bool>,
    /// How close contacts are reduced; see [`Tracer::spread_by_bucket`].
    primary: PrimaryMode,
    /// People per bucket as a shift, when not the default (benchmarks).
    shift: Option<u32>,
    /// Working memory of [`Tracer::spread_by_bucket`].
    buckets: Buckets,
    /// Whether `slot` points at the entries (the bucketed path leaves it
    /// untouched unless something needs it).
    slots_filled: bool,
    /// Working memory of the list by rank.
    by_rank: RankBuckets,
    /// Where the last run's time went.
    profile: Profile,
    /// Where the last run's close contacts are.
    outcome: Outcome,
}

/// Where the last run of a [`Tracer`] spent its time, for benchmarks: a
/// few clock reads per run, nothing per stay. Phases a run skipped are zero.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Profile {
    /// Cases sorted and ranked, their windows.
    pub setup: Duration,
    /// Close contacts found: the cases' stays looked up, the venues'
    /// overlapping stays scanned, and each qualifying pair written (the
    /// bucketed path), or reduced at once (the slots).
    pub emit: Duration,
    /// The bucketed pairs reduced per person.
    pub reduce: Duration,
    /// Secondary contacts.
    pub secondary: Duration,
    /// The sorted list materialised.
    pub list: Duration,
    /// Working state cleared for the next run.
    pub reset: Duration,
    /// Qualifying pairs written by the bucketed path.
    pub pairs: u64,
}

/// Working memory of [`Tracer::contacts_by_rank`], kept warm between runs.
#[derive(Debug, Clone, Default)]
struct RankBuckets {
    /// Per range of ranks, its contacts with their rank within the range.
    buckets: Vec<Vec<(u32, Contact)>>,
    /// One range's contacts, by rank.
    slots: Vec<Contact>,
    /// One bit per rank of the range: a contact there.
    taken: Vec<u64>,
    /// Per range of ranks, the close contacts the bucketed reduction put
    /// there, packed by [`Found::ByRank`].
    packed: Vec<Vec<[u32; 4]>>,
    /// One range's packed contacts, by rank.
    packed_slots: Vec<[u32; 4]>,
}

/// What a run asks of the bucketed reduction, when it lists close contacts
/// only (no secondary): everything else needs the entries.
#[derive(Debug, Clone, Copy)]
enum Want<'a> {
    Entries,
    /// How many, without the list ([`Tracer::count`]).
    Count,
    /// The list by these ranks, which know every person of the index.
    ByRank(&'a Ranks),
}

/// Where the last run's close contacts are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Outcome {
    #[default]
    Entries,
    /// Counted only: `close` says how many.
    Counted,
    /// In `by_rank.packed` (and the helper's), for [`Tracer::list_by_rank`].
    ByRank,
}

/// Where [`reduce`] puts each close contact it finds.
enum Found<'a> {
    /// As an entry, `via` a person id, in person order.
    Entries(&'a mut Vec<Entry>),
    Count(&'a mut usize),
    /// Into the bucket of its rank's range: `[person, first exposure, via's
    /// case rank << shift | rank within the range, sources]` (a case rank
    /// fits the bits the shift leaves, as in a pair). Appending there
    /// costs one more write stream per range, and saves writing the 24-byte
    /// entries, reading them back and bucketing them by rank again.
    ByRank(&'a Ranks, &'a mut Vec<Vec<[u32; 4]>>),
}

/// How close contacts are reduced from the cases' exposures: into per-person
/// slots, or bucketed by person (see [`Tracer::spread_by_bucket`]). Only
/// tests and benchmarks force one: both must give the same answer.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrimaryMode {
    #[default]
    Auto,
    Slots,
    Buckets,
    /// Buckets of 4 people, so that small test cities span many.
    TinyBuckets,
}

/// People per bucket of [`Tracer::spread_by_bucket`], as a shift: 16,384
/// people's state (16 bytes each, 256 KB) stays in a core's L2 cache.
const BUCKET_SHIFT: u32 = 14;

/// A person's state within a bucket. `best` is `time << 32 | rank` of the
/// earliest exposure, the smallest rank on a tie (so a minimum); `stamp` the
/// rank of the last source counted. Updated without branches: whether a
/// pair is the person's first, a new source or an earlier time is a coin
/// toss for the branch predictor.
#[derive(Debug, Clone, Copy)]
struct Local {
    best: u64,
    stamp: u32,
    sources: u32,
}

/// No rank is `u32::MAX` (a pair packs the rank in at most 30 bits).
const FREE: Local = Local {
    best: u64::MAX,
    stamp: u32::MAX,
    sources: 0,
};

/// Working memory of [`Tracer::spread_by_bucket`], kept warm between runs.
#[derive(Debug, Clone, Default)]
struct Buckets {
    /// Per bucket of people, every qualifying pair in the order found (so
    /// in rank order), packed by [`emit`].
    hits: Vec<Vec<u64>>,
    work: BucketWork,
}

/// Working memory of [`reduce`], one per thread.
#[derive(Debug, Clone, Default)]
struct BucketWork {
    /// One bucket's people.
    local: Vec<Local>,
    /// One bit per person of the bucket: reached.
    touched: Vec<u64>,
}

/// How secondary contacts are found; see [`Tracer::secondary`]. Only tests
/// force one: both must give the same answer.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecondaryMode {
    #[default]
    Auto,
    BySource,
    ByTarget,
}

impl Tracer {
    pub fn new() -> Tracer {
        Tracer::default()
    }

    /// Splits (or not) the close contacts over two threads (by default, see
    /// [`Tracer::splits`]): both must give the same answer.
    #[doc(hidden)]
    pub fn with_split(mut self, split: bool) -> Tracer {
        self.split = Some(split);
        self
    }

    /// Whether this run splits the close contacts over two threads: as asked
    /// by [`Tracer::with_split`], else when the bucketed reduction has a
    /// batch of cases to do and there is a second core to do it. At L on a
    /// quiet 2-core machine, 1,000 cases took 52 ms counted and 73 ms listed
    /// on two threads against 96 and 127 ms on one (BENCHMARKS.md); with
    /// other processes loading both cores two threads were no faster. One new
    /// case (the slots) stays on one thread: a thread costs more than it.
    fn splits(&self, bucketed: bool) -> bool {
        self.split.unwrap_or_else(|| {
            bucketed && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        })
    }

    /// Forces how close contacts are reduced (tests and benchmarks).
    #[doc(hidden)]
    pub fn with_primary(mut self, primary: PrimaryMode) -> Tracer {
        self.primary = primary;
        self
    }

    /// Sets the people per bucket of the bucketed reduction, as a shift
    /// (benchmarks; 2 to 20).
    #[doc(hidden)]
    pub fn with_bucket_shift(mut self, shift: u32) -> Tracer {
        self.shift = Some(shift.clamp(2, 20));
        self
    }

    #[doc(hidden)]
    pub fn with_strategy(strategy: SecondaryMode) -> Tracer {
        Tracer {
            strategy,
            ..Tracer::default()
        }
    }

    /// Sets (or with `None`, removes) the crowd cap of later runs.
    ///
    /// An exposure (one source stay, clipped to the source's window, with
    /// the buffer) is *crowded* when more than `cap` stays at its venue
    /// qualify against it by the overlap rules, counting the stays of
    /// everyone but the source and the cases (as [`crate::explain`] does).
    /// A crowded exposure makes no close or secondary contacts: the people
    /// it reaches are *venue-exposed*, unless another exposure makes them
    /// contacts. Venue-exposed people are not listed by [`Tracer::trace`];
    /// [`Tracer::sizes`] counts them. Without a cap no exposure is crowded,
    /// which is the standalone contract.
    pub fn set_crowd_cap(&mut self, cap: Option<u32>) {
        self.crowd_cap = cap;
    }

    /// Like [`Tracer::count`], with the venue-exposed people of a crowd cap.
    pub fn sizes(
        &mut self,
        index: &StayIndex,
        order: &impl IdOrder,
        cases: &[CaseInput],
        rules: &Rules,
        as_of: i64,
        secondary: bool,
    ) -> Sizes {
        self.run(index, order, cases, rules, as_of, secondary, Want::Entries);
        let sizes = Sizes {
            close: self.close,
            secondary: self.entries.len() - self.close,
            venue_exposed: self.last_venue_exposed,
        };
        self.reset(cases);
        sizes
    }

    /// How many venue-exposed people the last run found (0 without a crowd
    /// cap): with [`Tracer::trace`], the people it does not list.
    pub fn venue_exposed(&self) -> usize {
        self.last_venue_exposed
    }

    /// Close contacts (and with `secondary`, their contacts), sorted by id.
    ///
    /// A case's window is `[reference_time − lookback, isolated_at or as_of]`.
    /// A case stay overlapping it for a positive length exposes its venue over
    /// `[max(in, start), min(out, end) + buffer]`; a stay of someone who is not
    /// a case overlapping that for more than zero and at least `min_overlap`
    /// seconds makes a close contact, exposed at `max(in, exposure start)`.
    /// Secondary contacts are found the same way from each close contact's
    /// stays over `[first exposure, as_of]`, among people who are neither
    /// cases nor close contacts.
    pub fn trace(
        &mut self,
        index: &StayIndex,
        order: &impl IdOrder,
        cases: &[CaseInput],
        rules: &Rules,
        as_of: i64,
        secondary: bool,
    ) -> Vec<Contact> {
        let mut out = Vec::new();
        self.trace_into(index, order, cases, rules, as_of, secondary, &mut out);
        out
    }

    /// [`Tracer::trace`] into `out` (cleared first). A long-lived caller that
    /// keeps `out` between runs saves allocating, and faulting in, a fresh
    /// list each time (46 MB for the 1.9 million contacts of 1,000 cases at
    /// L: about 45 ms).
    #[allow(clippy::too_many_arguments)]
    pub fn trace_into(
        &mut self,
        index: &StayIndex,
        order: &impl IdOrder,
        cases: &[CaseInput],
        rules: &Rules,
        as_of: i64,
        secondary: bool,
        out: &mut Vec<Contact>,
    ) {
        out.clear();
        let want = match order.ranks() {
            Some(ranks) if ranks.len() >= index.people() => Want::ByRank(ranks),
            _ => Want::Entries,
        };
        self.run(index, order, cases, rules, as_of, secondary, want);
        let clock = Instant::now();
        if self.outcome == Outcome::ByRank {
            self.list_by_rank(out);
            self.profile.list = clock.elapsed();
            self.reset(cases);
            return;
        }
        if let Some(ranks) = order.ranks() {
            if self.contacts_by_rank(ranks, out) {
                self.profile.list = clock.elapsed();
                self.reset(cases);
                return;
            }
        }
        self.fill_slots();
        let mut persons = std::mem::take(&mut self.persons);
        persons.clear();
        persons.extend(self.entries.iter().map(|e| e.person));
        order.sort(&mut persons);
        out.reserve(persons.len());
        out.extend(persons.iter().filter_map(|&p| {
            let s = *self.slot.get(p as usize)? as usize;
            let e = self.entries.get(s)?;
            let degree = if s < self.close { 1 } else { 2 };
            Some(Contact {
                person: p,
                degree,
                first_exposure: e.first,
                via: e.via,
                sources: e.sources,
            })
        }));
        self.persons = persons;
        self.profile.list = clock.elapsed();
        self.reset(cases);
    }

    /// The entries as contacts in rank order into `out`, or false (and
    /// nothing) when an entry's id has no rank.
    ///
    /// Like the reduction, without random access into memory larger than
    /// the cache: each contact is appended to the bucket of its rank's
    /// range (16,384 ranks), then each bucket is laid out by rank in a small
    /// array and read back through a bitmap (ranks are distinct), so the
    /// list comes out sorted with no comparison sort.
    fn contacts_by_rank(&mut self, ranks: &Ranks, out: &mut Vec<Contact>) -> bool {
        let shift = self.bucket_shift();
        let mask = (1u32 << shift) - 1;
        let size = 1usize << shift;
        let RankBuckets {
            buckets,
            slots,
            taken,
            ..
        } = &mut self.by_rank;
        for b in buckets.iter_mut() {
            b.clear();
        }
        let close = self.close;
        for (i, e) in self.entries.iter().enumerate() {
            let Some(r) = ranks.get(e.person) else {
                return false;
            };
            let b = (r >> shift) as usize;
            if buckets.len() <= b {
                buckets.resize_with(b + 1, Vec::new);
            }
            if let Some(bucket) = buckets.get_mut(b) {
                bucket.push((
                    r & mask,
                    Contact {
                        person: e.person,
                        degree: if i < close { 1 } else { 2 },
                        first_exposure: e.first,
                        via: e.via,
                        sources: e.sources,
                    },
                ));
            }
        }
        if slots.len() != size {
            slots.clear();
            slots.resize(
                size,
                Contact {
                    person: 0,
                    degree: 0,
                    first_exposure: 0,
                    via: 0,
                    sources: 0,
                },
            );
            taken.clear();
            taken.resize(size.div_ceil(64), 0);
        }
        // Sized once: growing by doubling would copy and fault in fresh
        // pages several times.
        out.reserve(self.entries.len());
        for bucket in buckets.iter() {
            for &(r, c) in bucket {
                if let (Some(slot), Some(w)) =
                    (slots.get_mut(r as usize), taken.get_mut(r as usize / 64))
                {
                    *slot = c;
                    *w |= 1 << (r % 64);
                }
            }
            for (k, w) in taken.iter_mut().enumerate() {
                let mut x = std::mem::take(w);
                while x != 0 {
                    if let Some(c) = slots.get(k * 64 + x.trailing_zeros() as usize) {
                        out.push(*c);
                    }
                    x &= x - 1;
                }
            }
        }
        true
    }

    /// Points each entry's person's slot at it (the bucketed reduction
    /// leaves the slots alone).
    fn fill_slots(&mut self) {
        if self.slots_filled {
            return;
        }
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(s) = self.slot.get_mut(e.person as usize) {
                *s = i as u32;
            }
        }
        self.slots_filled = true;
    }

    /// How many contacts [`Tracer::trace`] would list, without sorting or
    /// materialising them: the size of a run before asking for the list.
    pub fn count(
        &mut self,
        index: &StayIndex,
        order: &impl IdOrder,
        cases: &[CaseInput],
        rules: &Rules,
        as_of: i64,
        secondary: bool,
    ) -> Counts {
        self.run(index, order, cases, rules, as_of, secondary, Want::Count);
        let counts = Counts {
            close: self.close,
            secondary: match self.outcome {
                Outcome::Entries => self.entries.len() - self.close,
                Outcome::Counted | Outcome::ByRank => 0,
            },
        };
        self.reset(cases);
        counts
    }

    /// Leaves `entries` filled (close contacts first, `via` as a person id) and
    /// `slot` pointing at them; [`Tracer::reset`] undoes it. Without
    /// secondary contacts, the bucketed reduction may instead count the
    /// close contacts or put them by rank, as `want` asks: `outcome` says.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        index: &StayIndex,
        order: &impl IdOrder,
        cases: &[CaseInput],
        rules: &Rules,
        as_of: i64,
        secondary: bool,
        want: Want<'_>,
    ) {
        self.profile = Profile::default();
        let clock = Instant::now();
        let people = index.people();
        if self.slot.len() < people {
            self.slot.resize(people, NONE);
        }
        self.entries.clear();
        self.exposed.clear();
        self.close = 0;
        let min_len = rules.min_overlap.max(1);

        // Cases in id order; the same person listed twice is one source.
        let mut persons = std::mem::take(&mut self.persons);
        persons.clear();
        persons.extend(cases.iter().map(|c| c.person));
        order.sort(&mut persons);
        persons.dedup();
        for &p in &persons {
            if let Some(s) = self.slot.get_mut(p as usize) {
                *s = EXCLUDED;
            }
        }
        let case_stays: usize = persons.iter().map(|&p| index.stay_count(p)).sum();
        let mut rank_of_case: Vec<(u32, u32)> = persons
            .iter()
            .enumerate()
            .map(|(r, &p)| (p, r as u32))
            .collect();
        rank_of_case.sort_unstable();
        let mut windows = std::mem::take(&mut self.windows);
        windows.clear();
        windows.extend(cases.iter().filter_map(|c| {
            let r = rank_of_case
                .binary_search_by_key(&c.person, |&(p, _)| p)
                .ok()
                .and_then(|i| rank_of_case.get(i))?
                .1;
            Some((
                r,
                Window {
                    person: c.person,
                    start: c.reference_time.saturating_sub(rules.lookback),
                    end: c.isolated_at.unwrap_or(as_of),
                },
            ))
        }));
        windows.sort_unstable_by_key(|&(r, _)| r);
        let split = self.splits(false);
        // Bucketing pays for itself once the cases reach many people; one
        // new case (a few dozen stays) is cheaper through the slots.
        let bucketed = self.crowd_cap.is_none()
            && match self.primary {
                PrimaryMode::Auto => case_stays >= 256,
                PrimaryMode::Slots => false,
                PrimaryMode::Buckets | PrimaryMode::TinyBuckets => true,
            }
            // A pair packs the rank in the bits the bucket leaves.
            && persons.len() <= 1 << (32 - self.bucket_shift());
        self.profile.setup = clock.elapsed();
        if bucketed {
            let want = if secondary { Want::Entries } else { want };
            self.spread_by_bucket(
                index,
                &windows,
                &rank_of_case,
                &persons,
                rules.buffer,
                min_len,
                want,
            );
        } else {
            let clock = Instant::now();
            self.outcome = Outcome::Entries;
            if split && self.crowd_cap.is_none() {
                self.spread_split(index, &persons, &windows, rules.buffer, min_len);
            } else {
                self.spread(index, &windows, rules.buffer, min_len, 0);
            }
            self.profile.emit = clock.elapsed();
            let clock = Instant::now();
            self.close = self.entries.len();
            for e in self.entries.iter_mut() {
                e.via = persons.get(e.via as usize).copied().unwrap_or(e.via);
            }
            self.profile.reduce = clock.elapsed();
        }

        if secondary {
            let clock = Instant::now();
            self.fill_slots();
            persons.clear();
            persons.extend(self.entries.iter().map(|e| e.person));
            order.sort(&mut persons);
            let close = self.close;
            let ordered = std::mem::take(&mut persons);
            let excluded_stays =
                case_stays + ordered.iter().map(|&p| index.stay_count(p)).sum::<usize>();
            self.secondary(index, &ordered, rules, as_of, excluded_stays, &mut windows);
            persons = ordered;
            if let Some(found) = self.entries.get_mut(close..) {
                for e in found {
                    e.via = persons.get(e.via as usize).copied().unwrap_or(e.via);
                }
            }
            self.profile.secondary = clock.elapsed();
        }
        self.persons = persons;
        self.windows = windows;
        self.last_venue_exposed = self
            .exposed
            .iter()
            .filter(|&&q| self.slot.get(q as usize) == Some(&VENUE_EXPOSED))
            .count();
    }

    /// Secondary contacts from the close contacts `sources` (in id order, so
    /// a source's position is its rank). Returns true when it went target by
    /// target.
    ///
    /// Close contacts can be most of a city, and then nearly every stay at a
    /// venue they visited belongs to a case or a close contact, who cannot be
    /// secondary: going source by source would scan all those stays for each
    /// of millions of exposures. Instead the exposures are indexed by venue
    /// (like stays) and each eligible person's stays query them, counting
    /// each source once per person with one bit per source. Only the pairs
    /// that count are visited, and the work splits over threads by person.
    /// With few exposures (one new case), source by source is cheaper: it
    /// touches only the venues involved.
    fn secondary(
        &mut self,
        index: &StayIndex,
        sources: &[u32],
        rules: &Rules,
        as_of: i64,
        excluded_stays: usize,
        windows: &mut Vec<(u32, Window)>,
    ) -> bool {
        let close = self.close;
        let buffer = rules.buffer;
        let min_len = rules.min_overlap.max(1);
        let eligible_stays = index.len().saturating_sub(excluded_stays);
        let source_stays: usize = sources.iter().map(|&p| index.stay_count(p)).sum();
        let by_target = match self.strategy {
            SecondaryMode::Auto => source_stays.saturating_mul(32) >= eligible_stays,
            SecondaryMode::BySource => false,
            SecondaryMode::ByTarget => true,
        };
        let mut intervals = std::mem::take(&mut self.intervals);
        intervals.clear();
        if by_target {
            // The exposures, read venue by venue: the stay arrays in order, and
            // already grouped as the exposure index wants them.
            // Per person, its rank and first exposure when it is a source:
            // one lookup per stay in an array of 8 bytes per person.
            let mut source_of = std::mem::take(&mut self.source_of);
            source_of.clear();
            source_of.resize(index.people(), u64::MAX);
            for (rank, &p) in sources.iter().enumerate() {
                let first = self
                    .slot
                    .get(p as usize)
                    .and_then(|&s| self.entries.get(s as usize))
                    .map(|e| e.first);
                if let (Some(first), Some(x)) = (first, source_of.get_mut(p as usize)) {
                    // A first exposure is a stay time, within u32.
                    *x = ((rank as u64) << 32)
                        | u64::from(first.clamp(0, i64::from(u32::MAX)) as u32);
                }
            }
            index.for_each_stay(|venue, owner, cin, cout| {
                let Some(&x) = source_of.get(owner as usize) else {
                    return;
                };
                if x == u64::MAX {
                    return;
                }
                let (rank, first) = ((x >> 32) as u32, i64::from(x as u32));
                let start = cin.max(first);
                let end = cout.min(as_of);
                if end - start <= 0 {
                    return;
                }
                let end = end.saturating_add(buffer);
                if end - start < min_len {
                    return;
                }
                // Stays end within u32, so clipping the exposure's end there
                // changes no overlap.
                intervals.push([
                    venue,
                    rank,
                    start.clamp(0, i64::from(u32::MAX)) as u32,
                    end.clamp(0, i64::from(u32::MAX)) as u32,
                ]);
            });
            self.source_of = source_of;
        }
        if by_target {
            // With a crowd cap, crowded exposures go to an index of their own:
            // they only make people venue-exposed.
            let crowded = self.crowd_cap.map(|cap| {
                let slot = &self.slot;
                let mut crowded = Vec::new();
                intervals.retain(|e| {
                    let source = sources.get(e[1] as usize).copied().unwrap_or(u32::MAX);
                    let crowd = crowd_of(index, slot, source, e[0], e[2], e[3], min_len, cap);
                    if crowd > cap {
                        crowded.push(*e);
                    }
                    crowd <= cap
                });
                VenueIndex::from_intervals(crowded, index.venues())
            });
            let crowded = crowded.as_ref();
            let exposures =
                VenueIndex::from_intervals(std::mem::take(&mut intervals), index.venues());
            // Eligible people ordered by the venue they visit most (a
            // workplace, a school): consecutive people then query the same
            // venue's exposures and stays, which are still in cache.
            let mut order = std::mem::take(&mut self.order);
            order.clear();
            order.extend((0..index.people() as u32).filter_map(|q| {
                if !matches!(self.slot.get(q as usize), Some(&NONE | &VENUE_EXPOSED)) {
                    return None;
                }
                let main = index.main_venue(q)?;
                Some((u64::from(main) << 32) | u64::from(q))
            }));
            order.sort_unstable();
            let people = order.len();
            let threads = if eligible_stays < 1 << 16 {
                1
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
            };
            let found: Vec<Reached> = if threads <= 1 {
                let mut found = (Vec::new(), Vec::new());
                let mut scratch = Scratch {
                    seen: std::mem::take(&mut self.seen),
                    met: std::mem::take(&mut self.met),
                };
                reach_targets(
                    index,
                    &exposures,
                    crowded,
                    &order,
                    min_len,
                    sources.len(),
                    &mut scratch,
                    &mut found,
                );
                self.seen = scratch.seen;
                self.met = scratch.met;
                vec![found]
            } else {
                // Work per person varies a lot (crowded venues), so the
                // threads take small chunks in turn rather than one share each.
                let chunk = people.div_ceil(threads * 64).max(1);
                let chunks: Vec<&[u64]> = order.chunks(chunk).collect();
                let taken = std::sync::atomic::AtomicUsize::new(0);
                let mut done: Vec<(usize, Reached)> = std::thread::scope(|scope| {
                    let workers: Vec<_> = (0..threads)
                        .map(|_| {
                            let (chunks, taken, exposures) = (&chunks, &taken, &exposures);
                            scope.spawn(move || {
                                let mut scratch = Scratch::default();
                                let mut done = Vec::new();
                                loop {
                                    let k =
                                        taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let Some(part) = chunks.get(k) else {
                                        return done;
                                    };
                                    let mut found = (Vec::new(), Vec::new());
                                    reach_targets(
                                        index,
                                        exposures,
                                        crowded,
                                        part,
                                        min_len,
                                        sources.len(),
                                        &mut scratch,
                                        &mut found,
                                    );
                                    done.push((k, found));
                                }
                            })
                        })
                        .collect();
                    workers
                        .into_iter()
                        .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                        .collect()
                });
                done.sort_unstable_by_key(|d| d.0);
                done.into_iter().map(|d| d.1).collect()
            };
            for (entries, exposed) in found {
                for e in entries {
                    if let Some(s) = self.slot.get_mut(e.person as usize) {
                        *s = self.entries.len() as u32;
                    }
                    self.entries.push(e);
                }
                for q in exposed {
                    if let Some(s) = self.slot.get_mut(q as usize) {
                        if *s == NONE {
                            *s = VENUE_EXPOSED;
                            self.exposed.push(q);
                        }
                    }
                }
            }
            self.order = order;
        } else {
            windows.clear();
            for (rank, &p) in sources.iter().enumerate() {
                if let Some(e) = self
                    .slot
                    .get(p as usize)
                    .and_then(|&s| self.entries.get(s as usize))
                {
                    windows.push((
                        rank as u32,
                        Window {
                            person: p,
                            start: e.first,
                            end: as_of,
                        },
                    ));
                }
            }
            self.spread(index, windows, buffer, min_len, close);
        }
        self.intervals = intervals;
        by_target
    }

    /// [`Tracer::spread`] of the close contacts (no crowd cap), the later
    /// half of the sources (by rank) on a helper tracer in another thread:
    /// both halves reach people independently, then the helper's entries are
    /// folded in. Sources are disjoint between the halves, so their counts
    /// add up; an earlier exposure from the later half replaces the first
    /// half's (a tie keeps the first half's, whose ranks are smaller).
    fn spread_split(
        &mut self,
        index: &StayIndex,
        cases: &[u32],
        windows: &[(u32, Window)],
        buffer: i64,
        min_len: i64,
    ) {
        let mut mid = windows.len() / 2;
        while mid > 0
            && mid < windows.len()
            && windows.get(mid - 1).map(|w| w.0) == windows.get(mid).map(|w| w.0)
        {
            mid += 1;
        }
        let (first, second) = windows.split_at(mid.min(windows.len()));
        let mut helper = self.helper.take().unwrap_or_default();
        if helper.slot.len() < self.slot.len() {
            helper.slot.resize(self.slot.len(), NONE);
        }
        for &p in cases {
            if let Some(s) = helper.slot.get_mut(p as usize) {
                *s = EXCLUDED;
            }
        }
        helper.entries.clear();
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| helper.spread(index, second, buffer, min_len, 0));
            self.spread(index, first, buffer, min_len, 0);
            worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
        for e in &helper.entries {
            if let Some(s) = helper.slot.get_mut(e.person as usize) {
                *s = NONE;
            }
            let Some(s) = self.slot.get_mut(e.person as usize) else {
                continue;
            };
            if *s == NONE {
                *s = self.entries.len() as u32;
                self.entries.push(*e);
            } else if let Some(x) = self.entries.get_mut(*s as usize) {
                x.sources += e.sources;
                if e.first < x.first {
                    x.first = e.first;
                    x.via = e.via;
                }
            }
        }
        for &p in cases {
            if let Some(s) = helper.slot.get_mut(p as usize) {
                *s = NONE;
            }
        }
        helper.entries.clear();
        self.helper = Some(helper);
    }

    /// Adds an entry for everyone the sources' windows reach. `windows` is
    /// sorted by source rank; a slot below `first_new` (an earlier degree) or
    /// [`EXCLUDED`] is never reached.
    fn spread(
        &mut self,
        index: &StayIndex,
        windows: &[(u32, Window)],
        buffer: i64,
        min_len: i64,
        first_new: usize,
    ) {
        self.slots_filled = true;
        let slot = &mut self.slot;
        let entries = &mut self.entries;
        let exposed = &mut self.exposed;
        let cap = self.crowd_cap;
        let first_new = first_new as u32;
        for &(rank, w) in windows {
            // Sources go in rank order, so a tie in time keeps the earlier
            // (smaller id) source: only a strictly earlier time replaces it.
            let stamp = rank;
            for_each_exposure(index, &w, buffer, min_len, |venue, start, end| {
                if let Some(cap) = cap {
                    if crowd_of(index, slot, w.person, venue, start, end, min_len, cap) > cap {
                        index.overlaps(venue, start, end, min_len, |q, _| {
                            if let Some(s) = slot.get_mut(q as usize) {
                                if *s == NONE {
                                    *s = VENUE_EXPOSED;
                                    exposed.push(q);
                                }
                            }
                        });
                        return;
                    }
                }
                index.overlaps(venue, start, end, min_len, |q, t| {
                    let Some(s) = slot.get_mut(q as usize) else {
                        return;
                    };
                    if *s == NONE || *s == VENUE_EXPOSED {
                        *s = entries.len() as u32;
                        entries.push(Entry {
                            person: q,
                            first: t,
                            via: rank,
                            sources: 1,
                            stamp,
                        });
                    } else if *s >= first_new && *s != EXCLUDED {
                        if let Some(e) = entries.get_mut(*s as usize) {
                            if e.stamp != stamp {
                                e.stamp = stamp;
                                e.sources += 1;
                            }
                            if t < e.first {
                                e.first = t;
                                e.via = rank;
                            }
                        }
                    }
                });
            });
        }
    }

    /// [`Tracer::spread`] of the cases without a crowd cap, for many cases:
    /// leaves the close contacts where `want` asks (`entries` in person
    /// order, `via` a person id; a count; or bucketed by rank) and `slot`
    /// untouched; sets `close` and `outcome`.
    ///
    /// Updating per-person state for every qualifying stay is a random
    /// access into an array as large as the city (9 million people at L,
    /// far beyond the caches). Instead each pair `(person, time, source)`
    /// is appended, in the order found, to the bucket of its person's range
    /// of 16,384 ids (a few hundred write streams), and each bucket is then
    /// reduced in a small array that stays in cache. The order within a
    /// bucket is the sources' rank order, so the tie rules of `spread` hold:
    /// a source counts once per person (its pairs are consecutive), and only
    /// a strictly earlier time replaces the first source. `cases` is
    /// `(person, rank)` sorted by person: they are never contacts; `persons`
    /// the cases by rank.
    #[allow(clippy::too_many_arguments)]
    fn spread_by_bucket(
        &mut self,
        index: &StayIndex,
        windows: &[(u32, Window)],
        cases: &[(u32, u32)],
        persons: &[u32],
        buffer: i64,
        min_len: i64,
        want: Want<'_>,
    ) {
        self.slots_filled = false;
        let shift = self.bucket_shift();
        let count = (index.people() >> shift) + 1;
        let split = self.splits(true) && windows.len() > 1;
        let mut helper = self.helper.take();
        if let Want::ByRank(_) = want {
            let theirs = helper.as_deref_mut().map(|h| &mut h.by_rank.packed);
            for set in [Some(&mut self.by_rank.packed), theirs]
                .into_iter()
                .flatten()
            {
                for b in set.iter_mut() {
                    b.clear();
                }
            }
        }
        self.outcome = match want {
            Want::Entries => Outcome::Entries,
            Want::Count => Outcome::Counted,
            Want::ByRank(_) => Outcome::ByRank,
        };
        let clock = Instant::now();
        if !split {
            self.helper = helper;
            emit(
                index,
                windows,
                shift,
                buffer,
                min_len,
                count,
                &mut self.buckets.hits,
            );
            self.profile.emit = clock.elapsed();
            self.profile.pairs = self.buckets.hits.iter().map(|h| h.len() as u64).sum();
            let clock = Instant::now();
            let sets = [self.buckets.hits.as_slice()];
            let mut counted = 0;
            let mut found = match want {
                Want::Entries => Found::Entries(&mut self.entries),
                Want::Count => Found::Count(&mut counted),
                Want::ByRank(ranks) => Found::ByRank(ranks, &mut self.by_rank.packed),
            };
            reduce(
                &sets,
                0..count,
                cases,
                persons,
                shift,
                &mut self.buckets.work,
                &mut found,
            );
            self.close = self.found_count(counted, None);
            self.profile.reduce = clock.elapsed();
            return;
        }
        // Two threads: each emits the pairs of half the sources (a source's
        // windows stay together), then each reduces half the buckets, reading
        // the first half's pairs before the second's (rank order).
        let mut mid = windows.len() / 2;
        while mid < windows.len()
            && windows.get(mid - 1).map(|w| w.0) == windows.get(mid).map(|w| w.0)
        {
            mid += 1;
        }
        let (first, second) = windows.split_at(mid);
        let mut helper = helper.unwrap_or_default();
        std::thread::scope(|scope| {
            let other = &mut helper.buckets.hits;
            let worker =
                scope.spawn(move || emit(index, second, shift, buffer, min_len, count, other));
            emit(
                index,
                first,
                shift,
                buffer,
                min_len,
                count,
                &mut self.buckets.hits,
            );
            worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
        self.profile.emit = clock.elapsed();
        let clock = Instant::now();
        // Halve the buckets by pairs.
        let total: usize = self.buckets.hits.iter().map(Vec::len).sum::<usize>()
            + helper.buckets.hits.iter().map(Vec::len).sum::<usize>();
        self.profile.pairs = total as u64;
        let mut half = 0;
        let mut seen = 0;
        while half < count && seen * 2 < total {
            seen += self.buckets.hits.get(half).map_or(0, Vec::len)
                + helper.buckets.hits.get(half).map_or(0, Vec::len);
            half += 1;
        }
        let mut theirs = std::mem::take(&mut helper.entries);
        theirs.clear();
        let mut their_packed = std::mem::take(&mut helper.by_rank.packed);
        let mut work = std::mem::take(&mut helper.buckets.work);
        let (mut mine_counted, mut their_counted) = (0, 0);
        {
            let sets = [self.buckets.hits.as_slice(), helper.buckets.hits.as_slice()];
            let work_mine = &mut self.buckets.work;
            let (entries, packed) = (&mut self.entries, &mut self.by_rank.packed);
            let (mine_counted, their_counted) = (&mut mine_counted, &mut their_counted);
            let (theirs, their_packed) = (&mut theirs, &mut their_packed);
            std::thread::scope(|scope| {
                let worker = scope.spawn(|| {
                    let mut found = match want {
                        Want::Entries => Found::Entries(theirs),
                        Want::Count => Found::Count(their_counted),
                        Want::ByRank(ranks) => Found::ByRank(ranks, their_packed),
                    };
                    reduce(
                        &sets,
                        half..count,
                        cases,
                        persons,
                        shift,
                        &mut work,
                        &mut found,
                    );
                    work
                });
                let mut found = match want {
                    Want::Entries => Found::Entries(entries),
                    Want::Count => Found::Count(mine_counted),
                    Want::ByRank(ranks) => Found::ByRank(ranks, packed),
                };
                reduce(&sets, 0..half, cases, persons, shift, work_mine, &mut found);
                helper.buckets.work = worker
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
            });
        }
        if self.outcome == Outcome::Entries {
            self.entries.extend_from_slice(&theirs);
        }
        helper.entries = theirs;
        helper.by_rank.packed = their_packed;
        self.close = self.found_count(mine_counted + their_counted, Some(&helper));
        self.helper = Some(helper);
        self.profile.reduce = clock.elapsed();
    }

    /// How many close contacts the bucketed reduction found: `counted` when
    /// it only counted, else what it put in the entries or by rank (here and
    /// in `helper`'s).
    fn found_count(&self, counted: usize, helper: Option<&Tracer>) -> usize {
        match self.outcome {
            Outcome::Entries => self.entries.len(),
            Outcome::Counted => counted,
            Outcome::ByRank => [Some(self), helper]
                .into_iter()
                .flatten()
                .map(|t| t.by_rank.packed.iter().map(Vec::len).sum::<usize>())
                .sum(),
        }
    }

    /// The close contacts the bucketed reduction put by rank, as contacts in
    /// rank order into `out` (see [`Found::ByRank`]): each range of ranks is
    /// laid out in a small array and read back through its bits (ranks are
    /// distinct), so the list comes out sorted with no comparison sort.
    fn list_by_rank(&mut self, out: &mut Vec<Contact>) {
        let shift = self.bucket_shift();
        let mask = (1u32 << shift) - 1;
        let size = 1usize << shift;
        let persons = &self.persons;
        let helper = self.helper.as_deref().map(|h| h.by_rank.packed.as_slice());
        let RankBuckets {
            packed,
            packed_slots: slots,
            taken,
            ..
        } = &mut self.by_rank;
        let sets = [Some(packed.as_slice()), helper];
        if slots.len() != size {
            slots.clear();
            slots.resize(size, [0; 4]);
            taken.clear();
            taken.resize(size.div_ceil(64), 0);
        }
        // Sized once: growing by doubling would copy and fault in fresh
        // pages several times.
        out.reserve(self.close);
        let ranges = sets.iter().flatten().map(|s| s.len()).max().unwrap_or(0);
        for b in 0..ranges {
            for set in sets.iter().flatten() {
                for &c in set.get(b).map(Vec::as_slice).unwrap_or_default() {
                    let r = (c[2] & mask) as usize;
                    if let (Some(slot), Some(w)) = (slots.get_mut(r), taken.get_mut(r / 64)) {
                        *slot = c;
                        *w |= 1 << (r % 64);
                    }
                }
            }
            for (k, w) in taken.iter_mut().enumerate() {
                let mut x = std::mem::take(w);
                while x != 0 {
                    if let Some(&[person, first, via, sources]) =
                        slots.get(k * 64 + x.trailing_zeros() as usize)
                    {
                        let via = via >> shift;
                        out.push(Contact {
                            person,
                            degree: 1,
                            first_exposure: i64::from(first),
                            via: persons.get(via as usize).copied().unwrap_or(via),
                            sources,
                        });
                    }
                    x &= x - 1;
                }
            }
        }
    }

    /// People per bucket of [`Tracer::spread_by_bucket`], as a shift.
    fn bucket_shift(&self) -> u32 {
        if self.primary == PrimaryMode::TinyBuckets {
            2
        } else {
            self.shift.unwrap_or(BUCKET_SHIFT)
        }
    }

    fn reset(&mut self, cases: &[CaseInput]) {
        let clock = Instant::now();
        if self.slots_filled {
            for e in &self.entries {
                if let Some(s) = self.slot.get_mut(e.person as usize) {
                    *s = NONE;
                }
            }
        }
        for c in cases {
            if let Some(s) = self.slot.get_mut(c.person as usize) {
                *s = NONE;
            }
        }
        for &q in &self.exposed {
            if let Some(s) = self.slot.get_mut(q as usize) {
                *s = NONE;
            }
        }
        self.exposed.clear();
        self.entries.clear();
        self.close = 0;
        self.profile.reset = clock.elapsed();
    }

    /// Where the last run's time went.
    #[doc(hidden)]
    pub fn profile(&self) -> Profile {
        self.profile
    }
}

/// Appends every qualifying pair of the sources' `windows` (in rank order)
/// to the bucket of its person: `exposure time << 32 | rank << shift |
/// person's place in the bucket` (the bucket gives the rest of the id).
fn emit(
    index: &StayIndex,
    windows: &[(u32, Window)],
    shift: u32,
    buffer: i64,
    min_len: i64,
    count: usize,
    hits: &mut Vec<Vec<u64>>,
) {
    if hits.len() < count {
        hits.resize_with(count, Vec::new);
    }
    for h in hits.iter_mut() {
        h.clear();
    }
    let mask = (1u32 << shift) - 1;
    for &(rank, w) in windows {
        let low = rank << shift;
        for_each_exposure(index, &w, buffer, min_len, |venue, start, end| {
            index.overlaps(venue, start, end, min_len, |q, t| {
                if let Some(h) = hits.get_mut((q >> shift) as usize) {
                    // An exposure time is a check-in or later: within u32.
                    h.push((t as u64) << 32 | u64::from(low | (q & mask)));
                }
            });
        });
    }
}

/// Reduces the buckets `range` of the pair sets `sets` (read in that order
/// for each bucket, so in rank order) into `found`, in person order; see
/// [`Tracer::spread_by_bucket`]. `cases` are never contacts; `persons` are
/// the cases by rank.
fn reduce(
    sets: &[&[Vec<u64>]],
    range: std::ops::Range<usize>,
    cases: &[(u32, u32)],
    persons: &[u32],
    shift: u32,
    work: &mut BucketWork,
    found: &mut Found<'_>,
) {
    let BucketWork { local, touched } = work;
    let mask = (1u32 << shift) - 1;
    let size = 1usize << shift;
    if local.len() != size {
        local.clear();
        local.resize(size, FREE);
        touched.clear();
        touched.resize(size.div_ceil(64), 0);
    }
    for b in range {
        if sets
            .iter()
            .all(|set| set.get(b).is_none_or(|h| h.is_empty()))
        {
            continue;
        }
        let base = (b as u32) << shift;
        for set in sets {
            for &h in set.get(b).map(Vec::as_slice).unwrap_or_default() {
                let low = h as u32;
                let (i, rank) = ((low & mask) as usize, low >> shift);
                let (Some(l), Some(w)) = (local.get_mut(i), touched.get_mut(i / 64)) else {
                    continue;
                };
                // A source's pairs are consecutive in a bucket (sources are
                // emitted one after the other), so a change of rank is a new
                // source for this person.
                l.best = l.best.min((h & !u64::from(u32::MAX)) | u64::from(rank));
                l.sources += u32::from(l.stamp != rank);
                l.stamp = rank;
                *w |= 1 << (i % 64);
            }
        }
        // Cases are never contacts, whatever they overlapped.
        let from = cases.partition_point(|&(p, _)| p < base);
        let to = cases.partition_point(|&(p, _)| (p >> shift) as usize <= b);
        for &(p, _) in cases.get(from..to).unwrap_or_default() {
            let i = (p & mask) as usize;
            if let (Some(l), Some(w)) = (local.get_mut(i), touched.get_mut(i / 64)) {
                *l = FREE;
                *w &= !(1 << (i % 64));
            }
        }
        // In person order, through the bits.
        for (k, w) in touched.iter_mut().enumerate() {
            let mut x = std::mem::take(w);
            while x != 0 {
                let i = k * 64 + x.trailing_zeros() as usize;
                x &= x - 1;
                let Some(l) = local.get_mut(i) else {
                    continue;
                };
                let (person, first, via) = (base | i as u32, (l.best >> 32) as u32, l.best as u32);
                match found {
                    Found::Entries(entries) => entries.push(Entry {
                        person,
                        first: i64::from(first),
                        via: persons.get(via as usize).copied().unwrap_or(via),
                        sources: l.sources,
                        stamp: l.stamp,
                    }),
                    Found::Count(n) => **n += 1,
                    Found::ByRank(ranks, packed) => {
                        // Every person has a rank (`Want::ByRank`).
                        if let Some(r) = ranks.get(person) {
                            let b = (r >> shift) as usize;
                            if packed.len() <= b {
                                packed.resize_with(b + 1, Vec::new);
                            }
                            if let Some(p) = packed.get_mut(b) {
                                p.push([person, first, via << shift | (r & mask), l.sources]);
                            }
                        }
                    }
                }
                *l = FREE;
            }
        }
    }
}

/// Calls `f(venue, start, end)` for each exposure of the source `w`: each
/// stay of its person overlapping its window for a positive length, clipped
/// to the window, extended by the buffer, and long enough for `min_len`.
#[inline]
fn for_each_exposure(
    index: &StayIndex,
    w: &Window,
    buffer: i64,
    min_len: i64,
    mut f: impl FnMut(u32, i64, i64),
) {
    for r in index.person_records(w.person) {
        let (venue, cin, cout) = (r[0], i64::from(r[2]), i64::from(r[3]));
        let start = cin.max(w.start);
        let end = cout.min(w.end);
        if end - start <= 0 {
            continue;
        }
        let end = end.saturating_add(buffer);
        if end - start < min_len {
            continue;
        }
        f(venue, start, end);
    }
}

/// How many stays at `venue` qualify against the exposure `[a, b]` of
/// `source`, not counting the source's own nor the cases' ([`EXCLUDED`]),
/// counted up to `cap + 1` (enough to tell whether it is crowded).
#[allow(clippy::too_many_arguments)]
#[inline]
fn crowd_of(
    index: &StayIndex,
    slot: &[u32],
    source: u32,
    venue: u32,
    a: impl Into<i64>,
    b: impl Into<i64>,
    min_len: i64,
    cap: u32,
) -> u32 {
    let mut crowd = 0u32;
    index.overlaps_while(venue, a.into(), b.into(), min_len, |q, _| {
        if q != source && slot.get(q as usize) != Some(&EXCLUDED) {
            crowd += 1;
        }
        crowd <= cap
    });
    crowd
}

/// What [`reach_targets`] finds: contacts, and people reached only at
/// crowded exposures.
type Reached = (Vec<Entry>, Vec<u32>);

/// Working memory of [`reach_targets`].
#[derive(Debug, Default)]
struct Scratch {
    /// One bit per source: met by the person being traced.
    seen: Vec<u64>,
    /// The sources the person being traced met.
    met: Vec<u32>,
}

/// Target by target (see [`Tracer::secondary`]): everyone in `people` (the
/// low half of each) who overlapped an exposure becomes an entry in `found`,
/// with `via` as the source's rank.
#[allow(clippy::too_many_arguments)]
fn reach_targets(
    index: &StayIndex,
    exposures: &VenueIndex,
    crowded: Option<&VenueIndex>,
    people: &[u64],
    min_len: i64,
    sources: usize,
    scratch: &mut Scratch,
    (found, exposed): &mut Reached,
) {
    // One bit per source (a few hundred kilobytes even for a million
    // sources, so it stays in cache), cleared after each person through the
    // list of sources that person met.
    let Scratch { seen, met } = scratch;
    seen.clear();
    seen.resize(sources.div_ceil(64), 0);
    met.clear();
    for &key in people {
        let q = key as u32;
        let (mut first, mut via) = (i64::MAX, u32::MAX);
        for r in index.person_records(q) {
            let (venue, cin, cout) = (r[0], i64::from(r[2]), i64::from(r[3]));
            if cout - cin < min_len {
                continue;
            }
            exposures.overlaps(venue, cin, cout, min_len, |exposure, t| {
                let source = exposure[1];
                if let Some(word) = seen.get_mut(source as usize / 64) {
                    let bit = 1u64 << (source % 64);
                    if *word & bit == 0 {
                        *word |= bit;
                        met.push(source);
                    }
                }
                if (t, source) < (first, via) {
                    first = t;
                    via = source;
                }
            });
        }
        if met.is_empty() {
            // Reached only at crowded exposures, if at all.
            if let Some(crowded) = crowded {
                let reached = index.person_records(q).any(|r| {
                    let (venue, cin, cout) = (r[0], i64::from(r[2]), i64::from(r[3]));
                    cout - cin >= min_len
                        && !crowded.overlaps_while(venue, cin, cout, min_len, |_, _| false)
                });
                if reached {
                    exposed.push(q);
                }
            }
        } else {
            found.push(Entry {
                person: q,
                first,
                via,
                sources: met.len() as u32,
                stamp: 0,
            });
            for &source in met.iter() {
                if let Some(word) = seen.get_mut(source as usize / 64) {
                    *word = 0;
                }
            }
            met.clear();
        }
    }
}

/// [`Tracer::trace`] with fresh working memory.
pub fn trace(
    index: &StayIndex,
    order: &impl IdOrder,
    cases: &[CaseInput],
    rules: &Rules,
    as_of: i64,
    secondary: bool,
) -> Vec<Contact> {
    Tracer::new().trace(index, order, cases, rules, as_of, secondary)
}

/// [`Tracer::count`] with fresh working memory.
pub fn count(
    index: &StayIndex,
    order: &impl IdOrder,
    cases: &[CaseInput],
    rules: &Rules,
    as_of: i64,
    secondary: bool,
) -> Counts {
    Tracer::new().count(index, order, cases, rules, as_of, secondary)
}
