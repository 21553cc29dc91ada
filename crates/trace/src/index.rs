//! The stay index: every stay grouped by venue, for overlap queries, and by
//! person, for walking one person's movements.

use std::fmt;

/// One stay of a person at a venue, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stay {
    pub person: u32,
    pub venue: u32,
    pub check_in: i64,
    pub check_out: i64,
}

/// Why a stay or a set of stays cannot be indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StayError {
    /// The check-out is before the check-in.
    CheckOutBeforeCheckIn,
    /// A time outside 1970-01-01 .. 2106-02-07 (seconds in `u32`).
    TimeOutOfRange,
    /// More than `u32::MAX - 1` stays, people or venues.
    TooMany,
}

impl fmt::Display for StayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StayError::CheckOutBeforeCheckIn => "check-out before check-in",
            StayError::TimeOutOfRange => "time outside 1970..2106",
            StayError::TooMany => "more than 4,294,967,294 stays, people or venues",
        })
    }
}

impl std::error::Error for StayError {}

/// The most stays, people or venues an index holds: positions are `u32`.
pub const MAX_ITEMS: usize = u32::MAX as usize - 1;

/// A stay as the index keeps it: `[venue, owner, check_in, check_out]`,
/// times as `u32` seconds. An array of `u32` so that a vector of them can be
/// allocated zeroed (lazily, by the operating system) and filled by several
/// threads, which then share the cost of the first touch of each page.
pub(crate) type Record = [u32; 4];
const VENUE: usize = 0;
const OWNER: usize = 1;
const IN: usize = 2;
const OUT: usize = 3;

/// Stays collected for [`StayIndex::build`], each checked on the way in and
/// kept in 16 bytes (the index's own form), so that collecting a large city
/// does not cost more memory than the index it becomes.
#[derive(Debug, Clone, Default)]
pub struct Stays {
    stays: Vec<Record>,
    people: u32,
    venues: u32,
}

impl Stays {
    pub fn new() -> Stays {
        Stays::default()
    }

    pub fn with_capacity(n: usize) -> Stays {
        Stays {
            stays: Vec::with_capacity(n),
            ..Stays::default()
        }
    }

    /// Adds one stay. A zero-length stay is valid; it can never overlap.
    pub fn push(&mut self, stay: Stay) -> Result<(), StayError> {
        let check_in = u32::try_from(stay.check_in).map_err(|_| StayError::TimeOutOfRange)?;
        let check_out = u32::try_from(stay.check_out).map_err(|_| StayError::TimeOutOfRange)?;
        if check_out < check_in {
            return Err(StayError::CheckOutBeforeCheckIn);
        }
        if self.stays.len() >= MAX_ITEMS || stay.person == u32::MAX || stay.venue == u32::MAX {
            return Err(StayError::TooMany);
        }
        self.people = self.people.max(stay.person + 1);
        self.venues = self.venues.max(stay.venue + 1);
        self.stays
            .push([stay.venue, stay.person, check_in, check_out]);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.stays.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stays.is_empty()
    }

    /// The stays as kept, `[venue, person, check_in, check_out]` each (for
    /// saving a collection, as the benchmarks do; push them back with
    /// [`Stays::push`]).
    #[doc(hidden)]
    pub fn as_records(&self) -> &[[u32; 4]] {
        &self.stays
    }

    /// Adds all of `other`'s stays after these.
    pub fn append(&mut self, mut other: Stays) -> Result<(), StayError> {
        if self.stays.len().saturating_add(other.stays.len()) > MAX_ITEMS {
            return Err(StayError::TooMany);
        }
        self.stays.append(&mut other.stays);
        self.people = self.people.max(other.people);
        self.venues = self.venues.max(other.venues);
        Ok(())
    }

    /// The stays from position `at` on (in the order they were pushed), which
    /// leave this collection: for example the latest import, to add with
    /// [`StayIndex::extend`]. Everything when `at` is 0, nothing past the end.
    pub fn split_off(&mut self, at: usize) -> Stays {
        let rest = self.stays.split_off(at.min(self.stays.len()));
        let mut out = Stays {
            stays: rest,
            people: 0,
            venues: 0,
        };
        for r in &out.stays {
            out.people = out.people.max(r[OWNER] + 1);
            out.venues = out.venues.max(r[VENUE] + 1);
        }
        out
    }
}

impl TryFrom<Vec<Stay>> for Stays {
    type Error = StayError;
    fn try_from(stays: Vec<Stay>) -> Result<Stays, StayError> {
        let mut out = Stays::with_capacity(stays.len());
        for s in stays {
            out.push(s)?;
        }
        Ok(out)
    }
}

/// Every stay, indexed twice. Times are `u32` seconds since the Unix epoch.
///
/// **By venue** (the overlap side, a [`VenueIndex`]): the stays of one venue
/// are contiguous and split into *segments* by duration class (powers of
/// two), each sorted by check-in and knowing its longest stay. A query "who
/// was at venue `v` during `[a, b]` for at least `m` seconds" searches each
/// segment for the first check-in that could still reach `a + m` (check-in ≥
/// `a + m − longest`) and scans until check-in > `b − m`. Within a duration
/// class the stays that end too early are at most about as many as the ones
/// found, so a long shift at a venue does not make every short query scan the
/// whole day (as a single prefix maximum of check-outs would).
///
/// **By person**: for each person, the positions of their stays in the venue
/// order.
///
/// Resident size: 16 bytes per stay by venue (venue, person, check-in,
/// check-out), 4 by person, plus 4 per person and 8 per segment (a venue has
/// one segment per duration class it sees): about 20–21 bytes per stay.
#[derive(Debug, Clone, Default)]
pub struct StayIndex {
    by_venue: VenueIndex,
    /// Person `p`'s stays are `person_pos[person_start[p]..person_start[p + 1]]`
    /// (positions four to a record, see [`person_index`]).
    person_start: Vec<u32>,
    person_pos: Vec<Record>,
    latest_check_out: Option<u32>,
    /// Stays added by [`StayIndex::extend`] since the last merge.
    delta: Delta,
}

/// The stays added by [`StayIndex::extend`] and not yet merged into the main
/// arrays: a small index of the same form, queried after the main one.
#[derive(Debug, Clone, Default)]
struct Delta {
    by_venue: VenueIndex,
    /// `person << 32 | position in by_venue.records`, sorted.
    by_person: Vec<u64>,
    /// One more than the largest person id among these stays.
    people: usize,
}

impl Delta {
    fn len(&self) -> usize {
        self.by_person.len()
    }

    /// Positions of `person`'s stays in `by_venue.records`.
    fn positions(&self, person: u32) -> impl Iterator<Item = u32> + '_ {
        let key = u64::from(person) << 32;
        let from = if self.by_person.is_empty() {
            0
        } else {
            self.by_person.partition_point(|&k| k < key)
        };
        self.by_person
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(move |&&k| k >> 32 == u64::from(person))
            .map(|&k| k as u32)
    }

    fn from_venue_index(by_venue: VenueIndex) -> Delta {
        let mut by_person: Vec<u64> = by_venue
            .records
            .iter()
            .enumerate()
            .map(|(pos, r)| (u64::from(r[OWNER]) << 32) | pos as u64)
            .collect();
        by_person.sort_unstable();
        let people = by_person.last().map_or(0, |&k| (k >> 32) as usize + 1);
        Delta {
            by_venue,
            by_person,
            people,
        }
    }
}

/// Intervals grouped by venue and duration class, sorted by start: the
/// overlap side of a [`StayIndex`], and of the exposures of many sources.
/// Each interval carries a `u32` owner (a person, or a source).
#[derive(Debug, Clone, Default)]
pub(crate) struct VenueIndex {
    records: Vec<Record>,
    /// Segment `g` is `seg_start[g]..seg_start[g + 1]`; one sentinel at the end.
    seg_start: Vec<u32>,
    seg_longest: Vec<u32>,
    /// Venue `v`'s segments are `venue_seg[v]..venue_seg[v + 1]`.
    venue_seg: Vec<u32>,
}

/// Duration class of a stay: one class below 128 s, then one per power of two.
fn class(duration: u32) -> u32 {
    (32 - duration.leading_zeros()).saturating_sub(7)
}

fn sort_key(r: &Record) -> u64 {
    (u64::from(class(r[OUT].saturating_sub(r[IN]))) << 32) | u64::from(r[IN])
}

/// How many threads the build uses for `n` items: one below a few hundred
/// thousand, where a thread costs more than it saves.
fn threads_for(n: usize) -> usize {
    if n < 1 << 18 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |t| t.get().clamp(1, 8))
    }
}

/// Splits `0..items` into `parts` contiguous ranges of about equal weight,
/// where `start` holds the prefix sums of the weights (`start[i]` before
/// item `i`, one more entry than items).
fn balanced(start: &[u32], parts: usize) -> Vec<usize> {
    let items = start.len().saturating_sub(1);
    let total = start.last().copied().unwrap_or(0) as usize;
    let mut bounds: Vec<usize> = (0..=parts)
        .map(|k| {
            let target = (total * k / parts.max(1)) as u32;
            start.partition_point(|&s| s < target).min(items)
        })
        .collect();
    if let Some(b) = bounds.first_mut() {
        *b = 0;
    }
    if let Some(b) = bounds.last_mut() {
        *b = items;
    }
    bounds
}

/// Prefix sums of counts, in place: `c[i]` becomes the sum of `c[..i]`
/// (the slice has one more entry than there are counts).
fn prefix_sums(c: &mut [u32]) {
    let mut sum = 0u32;
    for x in c.iter_mut() {
        let n = *x;
        *x = sum;
        sum = sum.wrapping_add(n);
    }
}

impl VenueIndex {
    /// Groups `items` by venue, keeping their order within a venue, then
    /// sorts each venue's run by (duration class, start). `venues` is one
    /// more than the largest venue. Returns where each venue's run starts.
    /// The grouping is a stable counting sort in two passes, so that no pass
    /// writes to more than a few hundred places at once (one pass over 277k
    /// venues misses the cache and the TLB on nearly every record): first
    /// into ranges of consecutive venues (each thread writing its own share
    /// of each range, after the earlier shares'), into fresh memory; then,
    /// a range of ranges per thread, by venue back into `items`' own memory,
    /// already paged in. The fresh memory comes back (its contents
    /// undefined), for reuse.
    fn build(mut items: Vec<Record>, venues: usize) -> (VenueIndex, Vec<u32>, Vec<Record>) {
        let n = items.len();
        let threads = threads_for(n);
        let share = n.div_ceil(threads).max(1);
        let counts: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let workers: Vec<_> = items
                .chunks(share)
                .map(|part| {
                    scope.spawn(move || {
                        let mut count = vec![0u32; venues];
                        for r in part {
                            if let Some(c) = count.get_mut(r[VENUE] as usize) {
                                *c += 1;
                            }
                        }
                        count
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut venue_start = vec![0u32; venues + 1];
        for count in &counts {
            for (s, c) in venue_start.iter_mut().zip(count) {
                *s += c;
            }
        }
        prefix_sums(&mut venue_start);
        // Stays of venues out of range (none, from the callers) are dropped.
        let total = venue_start.last().copied().unwrap_or(0) as usize;

        // Ranges of 2^shift consecutive venues, at most 512 of them.
        let bits = usize::BITS - venues.saturating_sub(1).leading_zeros();
        let shift = bits.saturating_sub(9);
        let ranges = (venues.saturating_sub(1) >> shift) + 1;
        let first_venue = |g: usize| (g << shift).min(venues);
        let range_start: Vec<u32> = (0..=ranges)
            .map(|g| venue_start.get(first_venue(g)).copied().unwrap_or(0))
            .collect();

        // Pass 1: by range of venues, into fresh memory (zeroed lazily by
        // the system: the threads that fill it share the first touch).
        let mut grouped: Vec<Record> = vec![[0u32; 4]; n];
        {
            let mut lists: Vec<Vec<&mut [Record]>> =
                counts.iter().map(|_| Vec::with_capacity(ranges)).collect();
            let mut tail: &mut [Record] = grouped.get_mut(..total).unwrap_or_default();
            for g in 0..ranges {
                for (list, count) in lists.iter_mut().zip(&counts) {
                    let len: u32 = count
                        .get(first_venue(g)..first_venue(g + 1))
                        .unwrap_or_default()
                        .iter()
                        .sum();
                    let (head, rest) = std::mem::take(&mut tail).split_at_mut(len as usize);
                    tail = rest;
                    list.push(head);
                }
            }
            std::thread::scope(|scope| {
                for (part, mut list) in items.chunks(share).zip(lists) {
                    scope.spawn(move || {
                        let mut at = vec![0u32; list.len()];
                        for r in part {
                            let v = r[VENUE] as usize;
                            if v >= venues {
                                continue;
                            }
                            let g = v >> shift;
                            if let (Some(slice), Some(k)) = (list.get_mut(g), at.get_mut(g)) {
                                if let Some(slot) = slice.get_mut(*k as usize) {
                                    *slot = *r;
                                }
                                *k += 1;
                            }
                        }
                    });
                }
            });
        }
        drop(counts);

        // Pass 2: each thread groups a range of ranges by venue, into the
        // same positions of `items`, then sorts each venue's run.
        items.truncate(total);
        // The input may have room to spare (a vector grown by doubling);
        // shrinking gives it back in place.
        items.shrink_to_fit();
        let bounds = balanced(&range_start, threads);
        let found: Vec<Segments>;
        {
            let mut rest: &mut [Record] = &mut items;
            let mut parts = Vec::with_capacity(threads);
            for w in bounds.windows(2) {
                let (lo, hi) = (first_venue(w[0]), first_venue(w[1]));
                let from = venue_start.get(lo).copied().unwrap_or(0) as usize;
                let to = venue_start.get(hi).copied().unwrap_or(0) as usize;
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(to - from);
                rest = tail;
                parts.push((w[0], w[1], from, part));
            }
            let (venue_start, grouped) = (&venue_start, &grouped);
            found = std::thread::scope(|scope| {
                let workers: Vec<_> = parts
                    .into_iter()
                    .map(|(g_lo, g_hi, from, part)| {
                        scope.spawn(move || {
                            let mut segments: Segments = (Vec::new(), Vec::new(), Vec::new());
                            let mut work = ClassCounts::default();
                            for g in g_lo..g_hi {
                                let (lo, hi) = (first_venue(g), first_venue(g + 1));
                                let at =
                                    |v: usize| venue_start.get(v).copied().unwrap_or(0) as usize;
                                let (r_from, r_to) = (at(lo), at(hi));
                                let src = grouped.get(r_from..r_to).unwrap_or_default();
                                let dst =
                                    part.get_mut(r_from - from..r_to - from).unwrap_or_default();
                                work.place(src, dst, lo, hi - lo, r_from, &mut segments);
                            }
                            segments
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            });
        }
        let index = VenueIndex::assemble(items, &venue_start, found);
        (index, venue_start, grouped)
    }

    /// Where venue `v`'s stays lie in `records` (empty for an unknown venue).
    fn venue_run(&self, v: usize) -> std::ops::Range<usize> {
        let at = |g: Option<&u32>| {
            g.and_then(|&g| self.seg_start.get(g as usize))
                .copied()
                .unwrap_or(0) as usize
        };
        let (lo, hi) = (at(self.venue_seg.get(v)), at(self.venue_seg.get(v + 1)));
        lo..hi.max(lo)
    }

    /// One more than the largest venue.
    fn venues(&self) -> usize {
        self.venue_seg.len().saturating_sub(1)
    }

    /// The segments of `records`, grouped by venue (`venue_start`, one more
    /// entry than venues) and sorted by (duration class, start) in each.
    fn with_segments(records: Vec<Record>, venue_start: &[u32]) -> VenueIndex {
        let n = records.len();
        let threads = threads_for(n);
        let bounds = balanced(venue_start, threads);
        // Each thread finds the segments of a range of venues.
        let found: Vec<Segments> = std::thread::scope(|scope| {
            let records = &records;
            let workers: Vec<_> = bounds
                .windows(2)
                .map(|w| {
                    let starts = venue_start.get(w[0]..=w[1]).unwrap_or_default();
                    scope.spawn(move || segments_of(records, starts, 0))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        VenueIndex::assemble(records, venue_start, found)
    }

    /// The index of `records` from the segments of consecutive ranges of
    /// venues (in venue order, covering every venue of `venue_start` that
    /// has stays).
    fn assemble(records: Vec<Record>, venue_start: &[u32], found: Vec<Segments>) -> VenueIndex {
        let venues = venue_start.len().saturating_sub(1);
        let n = records.len();
        let segments: usize = found.iter().map(|f| f.0.len()).sum();
        let mut index = VenueIndex {
            records,
            seg_start: Vec::with_capacity(segments + 1),
            seg_longest: Vec::with_capacity(segments),
            venue_seg: Vec::with_capacity(venues + 1),
        };
        for (seg_start, seg_longest, venue_seg) in found {
            let base = index.seg_start.len() as u32;
            index.venue_seg.extend(venue_seg.iter().map(|&g| g + base));
            index.seg_start.extend(seg_start);
            index.seg_longest.extend(seg_longest);
        }
        index.venue_seg.resize(venues, index.seg_start.len() as u32);
        index.venue_seg.push(index.seg_start.len() as u32);
        index.seg_start.push(n as u32);
        index
    }

    /// The union of two indexes, venue by venue: each venue's two runs
    /// (both sorted by duration class and start) merged in one linear pass,
    /// on several threads for a large index. Returns where each venue's run
    /// starts.
    fn merge(a: &VenueIndex, b: &VenueIndex, venues: usize) -> (VenueIndex, Vec<u32>) {
        let mut venue_start = vec![0u32; venues + 1];
        for (v, c) in venue_start.iter_mut().take(venues).enumerate() {
            *c = (a.venue_run(v).len() + b.venue_run(v).len()) as u32;
        }
        prefix_sums(&mut venue_start);
        let n = a.records.len() + b.records.len();
        let mut records: Vec<Record> = vec![[0u32; 4]; n];
        let threads = threads_for(n);
        let bounds = balanced(&venue_start, threads);
        {
            let mut rest: &mut [Record] = &mut records;
            let mut parts = Vec::with_capacity(threads);
            for w in bounds.windows(2) {
                let (lo, hi) = (w[0], w[1]);
                let from = venue_start.get(lo).copied().unwrap_or(0) as usize;
                let to = venue_start.get(hi).copied().unwrap_or(0) as usize;
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(to - from);
                rest = tail;
                parts.push((lo, hi, part));
            }
            std::thread::scope(|scope| {
                for (lo, hi, part) in parts {
                    scope.spawn(move || {
                        let mut k = 0usize;
                        for v in lo..hi {
                            let x = a.records.get(a.venue_run(v)).unwrap_or_default();
                            let y = b.records.get(b.venue_run(v)).unwrap_or_default();
                            let (mut i, mut j) = (0, 0);
                            while i < x.len() || j < y.len() {
                                let take_x = match (x.get(i), y.get(j)) {
                                    (Some(rx), Some(ry)) => sort_key(rx) <= sort_key(ry),
                                    (Some(_), None) => true,
                                    _ => false,
                                };
                                let r = if take_x {
                                    i += 1;
                                    x.get(i - 1)
                                } else {
                                    j += 1;
                                    y.get(j - 1)
                                };
                                if let (Some(r), Some(slot)) = (r, part.get_mut(k)) {
                                    *slot = *r;
                                }
                                k += 1;
                            }
                        }
                    });
                }
            });
        }
        (
            VenueIndex::with_segments(records, &venue_start),
            venue_start,
        )
    }

    /// Intervals of `[venue, owner, start, end]`, ends at or after starts.
    pub(crate) fn from_intervals(items: Vec<Record>, venues: usize) -> VenueIndex {
        VenueIndex::build(items, venues).0
    }

    fn memory_bytes(&self) -> usize {
        16 * self.records.capacity()
            + 4 * (self.seg_start.capacity()
                + self.seg_longest.capacity()
                + self.venue_seg.capacity())
    }

    /// Calls `hit(record, exposure time)` for every interval at `venue` whose
    /// overlap with `[a, b]`, `min(end, b) − max(start, a)`, is at least
    /// `min_len` (≥ 1). The exposure time is `max(start, a)`.
    #[inline]
    pub(crate) fn overlaps(
        &self,
        venue: u32,
        a: i64,
        b: i64,
        min_len: i64,
        mut hit: impl FnMut(&Record, i64),
    ) {
        self.overlaps_while(venue, a, b, min_len, |r, t| {
            hit(r, t);
            true
        });
    }

    /// [`VenueIndex::overlaps`] until `hit` returns false; returns false when
    /// it stopped early.
    #[inline]
    pub(crate) fn overlaps_while(
        &self,
        venue: u32,
        a: i64,
        b: i64,
        min_len: i64,
        mut hit: impl FnMut(&Record, i64) -> bool,
    ) -> bool {
        let v = venue as usize;
        let (Some(&g0), Some(&g1)) = (self.venue_seg.get(v), self.venue_seg.get(v + 1)) else {
            return true;
        };
        let last_in = b.saturating_sub(min_len);
        for g in g0 as usize..g1 as usize {
            let (Some(&lo), Some(&hi), Some(&longest)) = (
                self.seg_start.get(g),
                self.seg_start.get(g + 1),
                self.seg_longest.get(g),
            ) else {
                continue;
            };
            // Earlier check-ins leave before a + min_len even when longest.
            let first_in = a.saturating_add(min_len) - i64::from(longest);
            if first_in > last_in {
                continue;
            }
            let Some(segment) = self.records.get(lo as usize..hi as usize) else {
                continue;
            };
            let start = first_at_or_after(segment, first_in);
            for r in segment.get(start..).unwrap_or_default() {
                let cin = i64::from(r[IN]);
                if cin > last_in {
                    break;
                }
                let from = cin.max(a);
                if i64::from(r[OUT]).min(b) - from >= min_len && !hit(r, from) {
                    return false;
                }
            }
        }
        true
    }
}

impl StayIndex {
    /// Builds the index: see [`StayIndex`].
    pub fn build(stays: Stays) -> StayIndex {
        let Stays {
            stays,
            people,
            venues,
        } = stays;
        let venues = venues as usize;
        let people = people as usize;
        let (by_venue, _, spare) = VenueIndex::build(stays, venues);
        let (person_start, person_pos, latest_check_out) =
            person_index(&by_venue.records, people, spare);
        StayIndex {
            by_venue,
            person_start,
            person_pos,
            latest_check_out,
            delta: Delta::default(),
        }
    }

    /// Adds `stays` (which may bring new people and venues) to the index
    /// without rebuilding it: every query afterwards answers as an index
    /// built from all the stays at once would (the same stays; the order in
    /// which a query visits them is not part of its answer).
    ///
    /// The new stays go into a *delta*, a small index of the same form that
    /// queries consult after the main one: extending costs about as much as
    /// indexing the new stays plus one linear pass over the delta. When the
    /// delta outgrows an eighth of the main index it is merged into it, venue
    /// by venue, in one linear pass (no sort), so the amortised cost of a
    /// stay stays a small multiple of its share of a build.
    pub fn extend(&mut self, stays: Stays) -> Result<(), StayError> {
        if stays.is_empty() {
            return Ok(());
        }
        if self.len().saturating_add(stays.len()) > MAX_ITEMS {
            return Err(StayError::TooMany);
        }
        let Stays {
            stays,
            people,
            venues,
        } = stays;
        let venues = self.venues().max(venues as usize);
        let people = self.people().max(people as usize);
        let (batch, _, _) = VenueIndex::build(stays, venues);
        let latest = batch.records.iter().map(|r| r[OUT]).max();
        self.latest_check_out = self.latest_check_out.max(latest);
        let delta = std::mem::take(&mut self.delta);
        let added = if delta.len() == 0 {
            batch
        } else {
            VenueIndex::merge(&delta.by_venue, &batch, venues).0
        };
        drop(delta);
        if added.records.len().saturating_mul(8) <= self.by_venue.records.len() {
            self.delta = Delta::from_venue_index(added);
            return Ok(());
        }
        let (by_venue, _) = VenueIndex::merge(&self.by_venue, &added, venues);
        drop(added);
        let spare = std::mem::replace(&mut self.by_venue, by_venue).records;
        self.person_pos = Vec::new();
        self.person_start = Vec::new();
        let (person_start, person_pos, _) = person_index(&self.by_venue.records, people, spare);
        self.person_start = person_start;
        self.person_pos = person_pos;
        Ok(())
    }

    /// Number of stays.
    pub fn len(&self) -> usize {
        self.by_venue.records.len() + self.delta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One more than the largest person id with a stay.
    pub fn people(&self) -> usize {
        self.person_start
            .len()
            .saturating_sub(1)
            .max(self.delta.people)
    }

    /// One more than the largest venue id with a stay.
    pub fn venues(&self) -> usize {
        self.by_venue.venues().max(self.delta.by_venue.venues())
    }

    /// The latest check-out of any stay.
    pub fn latest_check_out(&self) -> Option<i64> {
        self.latest_check_out.map(i64::from)
    }

    /// Bytes the index holds (its vectors' capacities).
    pub fn memory_bytes(&self) -> usize {
        self.by_venue.memory_bytes()
            + 4 * self.person_start.capacity()
            + 16 * self.person_pos.capacity()
            + self.delta.by_venue.memory_bytes()
            + 8 * self.delta.by_person.capacity()
    }

    /// The stays of `person`, grouped by venue (after [`StayIndex::extend`],
    /// the stays not merged yet come after the others, grouped in turn).
    pub fn stays_of(&self, person: u32) -> impl Iterator<Item = Stay> + '_ {
        self.person_records(person).map(move |r| Stay {
            person,
            venue: r[VENUE],
            check_in: i64::from(r[IN]),
            check_out: i64::from(r[OUT]),
        })
    }

    /// Calls `f(person, check_in, check_out)` for every stay at `venue` whose
    /// overlap with `[a, b]`, `min(check_out, b) − max(check_in, a)`, is at
    /// least `min_len` seconds (taken as 1 when smaller: an overlap must be
    /// longer than zero).
    pub fn overlapping_stays(
        &self,
        venue: u32,
        a: i64,
        b: i64,
        min_len: i64,
        mut f: impl FnMut(u32, i64, i64),
    ) {
        let mut hit = |r: &Record, _| f(r[OWNER], i64::from(r[IN]), i64::from(r[OUT]));
        self.by_venue
            .overlaps(venue, a, b, min_len.max(1), &mut hit);
        if self.delta.len() > 0 {
            self.delta
                .by_venue
                .overlaps(venue, a, b, min_len.max(1), &mut hit);
        }
    }

    /// Calls `f(venue, person, check_in, check_out)` for every stay, venue by venue.
    pub(crate) fn for_each_stay(&self, mut f: impl FnMut(u32, u32, i64, i64)) {
        for r in self
            .by_venue
            .records
            .iter()
            .chain(&self.delta.by_venue.records)
        {
            f(r[VENUE], r[OWNER], i64::from(r[IN]), i64::from(r[OUT]));
        }
    }

    /// The venue where `person` has the most stays (the smallest on a tie);
    /// with stays not merged yet, nearly so (a hint for ordering work).
    pub(crate) fn main_venue(&self, person: u32) -> Option<u32> {
        // A person's stays are grouped by venue, in venue order.
        let mut best: Option<(usize, u32)> = None;
        let mut run: Option<(usize, u32)> = None;
        for r in self.person_records(person) {
            run = match run {
                Some((k, v)) if v == r[VENUE] => Some((k + 1, v)),
                _ => Some((1, r[VENUE])),
            };
            if let Some((k, v)) = run {
                if best.is_none_or(|(n, _)| k > n) {
                    best = Some((k, v));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// How many stays `person` has.
    pub(crate) fn stay_count(&self, person: u32) -> usize {
        self.positions(person).len()
            + if self.delta.len() > 0 {
                self.delta.positions(person).count()
            } else {
                0
            }
    }

    fn positions(&self, person: u32) -> &[u32] {
        let p = person as usize;
        let lo = self.person_start.get(p).copied().unwrap_or(0) as usize;
        let hi = self.person_start.get(p + 1).copied().unwrap_or(0) as usize;
        self.person_pos
            .as_flattened()
            .get(lo..hi)
            .unwrap_or_default()
    }

    /// The stays of `person` as `(venue, check_in, check_out)`.
    pub(crate) fn person_records(&self, person: u32) -> impl Iterator<Item = &Record> + '_ {
        let delta = &self.delta;
        let added = (delta.len() > 0).then(|| {
            delta
                .positions(person)
                .filter_map(|pos| delta.by_venue.records.get(pos as usize))
        });
        self.positions(person)
            .iter()
            .filter_map(|&pos| self.by_venue.records.get(pos as usize))
            .chain(added.into_iter().flatten())
    }

    /// [`StayIndex::overlaps`] until `hit` returns false.
    #[inline]
    pub(crate) fn overlaps_while(
        &self,
        venue: u32,
        a: i64,
        b: i64,
        min_len: i64,
        mut hit: impl FnMut(u32, i64) -> bool,
    ) {
        if self
            .by_venue
            .overlaps_while(venue, a, b, min_len, |r, t| hit(r[OWNER], t))
            && self.delta.len() > 0
        {
            self.delta
                .by_venue
                .overlaps_while(venue, a, b, min_len, |r, t| hit(r[OWNER], t));
        }
    }

    /// See [`VenueIndex::overlaps`]; the owner is the person.
    #[inline]
    pub(crate) fn overlaps(
        &self,
        venue: u32,
        a: i64,
        b: i64,
        min_len: i64,
        mut hit: impl FnMut(u32, i64),
    ) {
        self.by_venue
            .overlaps(venue, a, b, min_len, |r, t| hit(r[OWNER], t));
        if self.delta.len() > 0 {
            self.delta
                .by_venue
                .overlaps(venue, a, b, min_len, |r, t| hit(r[OWNER], t));
        }
    }
}

/// The person side of the index: where each person's run starts (one more
/// entry than people), each person's positions in `records` (in increasing
/// order, so grouped by venue), four to a [`Record`], and the latest check-out.
///
/// Writing each position straight to its person's run would touch millions
/// of runs at random, each write a likely TLB miss. Instead a first pass
/// sorts `(person, position)` pairs into at most 512 buckets of consecutive
/// people (512 write streams); a second pass counts each bucket's people
/// (in the cache) and places its positions, every bucket writing within its
/// own run. Both passes, and the count of each bucket before them, run on
/// several threads (over shares of the records, then ranges of buckets).
/// The pairs
/// and the positions both live in `spare` (the build's input, no longer
/// needed: no fresh pages to touch), which is then shrunk in place to the
/// positions alone.
fn person_index(
    records: &[Record],
    people: usize,
    spare: Vec<Record>,
) -> (Vec<u32>, Vec<Record>, Option<u32>) {
    let n = records.len();
    let threads = threads_for(n);
    let share = n.div_ceil(threads).max(1);
    let shares: Vec<&[Record]> = records.chunks(share).collect();

    let bits = usize::BITS - people.saturating_sub(1).leading_zeros();
    let shift = bits.saturating_sub(9);
    let buckets = (people.saturating_sub(1) >> shift) + 1;
    let first_person = |b: usize| (b << shift).min(people);

    // Per share, how many of its records fall in each bucket (a histogram
    // that stays in the cache), and the latest check-out.
    let per_bucket: Vec<(Vec<u32>, Option<u32>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .iter()
            .map(|&part| {
                scope.spawn(move || {
                    let mut count = vec![0u32; buckets];
                    let mut latest = None;
                    for r in part {
                        latest = latest.max(Some(r[OUT]));
                        let person = r[OWNER] as usize;
                        if person < people {
                            if let Some(c) = count.get_mut(person >> shift) {
                                *c += 1;
                            }
                        }
                    }
                    (count, latest)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let latest = per_bucket.iter().filter_map(|c| c.1).max();
    let mut bucket_start = vec![0u32; buckets + 1];
    for (count, _) in &per_bucket {
        for (s, c) in bucket_start.iter_mut().zip(count) {
            *s += c;
        }
    }
    prefix_sums(&mut bucket_start);
    let placed = bucket_start.last().copied().unwrap_or(0) as usize;

    // The spare memory: positions first (n / 4 records), then the pairs
    // (n / 2 records, two u32 each).
    let quads = n.div_ceil(4);
    let mut memory = spare;
    let needed = quads + n.div_ceil(2);
    if memory.len() < needed {
        memory.resize(needed, [0; 4]);
    }
    let mut person_start: Vec<u32> = Vec::with_capacity(people + 1);
    {
        let flat = memory.as_flattened_mut();
        let (positions, rest) = flat.split_at_mut(4 * quads);
        let pairs = rest.get_mut(..2 * n).unwrap_or_default();

        // Pass 1: each share writes its pairs into its own slice of each
        // bucket (shares in order, so positions stay increasing).
        let mut slices: Vec<Vec<&mut [u32]>> = (0..shares.len()).map(|_| Vec::new()).collect();
        let mut tail: &mut [u32] = pairs;
        for b in 0..buckets {
            for (t, list) in slices.iter_mut().enumerate() {
                let len = per_bucket
                    .get(t)
                    .and_then(|c| c.0.get(b))
                    .copied()
                    .unwrap_or(0) as usize;
                let (head, rest) = std::mem::take(&mut tail).split_at_mut(2 * len);
                tail = rest;
                list.push(head);
            }
        }
        std::thread::scope(|scope| {
            for (t, (part, mut list)) in shares.iter().zip(slices).enumerate() {
                let base = t * share;
                scope.spawn(move || {
                    let mut at = vec![0usize; list.len()];
                    for (i, r) in part.iter().enumerate() {
                        let person = r[OWNER] as usize;
                        if person >= people {
                            continue;
                        }
                        let b = person >> shift;
                        if let (Some(slice), Some(k)) = (list.get_mut(b), at.get_mut(b)) {
                            if let Some(cell) = slice.get_mut(*k..*k + 2) {
                                cell[0] = person as u32;
                                cell[1] = (base + i) as u32;
                            }
                            *k += 2;
                        }
                    }
                });
            }
        });
        drop(per_bucket);

        // Pass 2: each thread takes a range of buckets: counts each
        // person's pairs (within the cache), then places the positions.
        let bounds = balanced(&bucket_start, threads);
        let mut rest: &mut [u32] = positions.get_mut(..placed).unwrap_or_default();
        let mut parts = Vec::with_capacity(threads);
        for w in bounds.windows(2) {
            let (b_lo, b_hi) = (w[0], w[1]);
            let from = bucket_start.get(b_lo).copied().unwrap_or(0) as usize;
            let to = bucket_start.get(b_hi).copied().unwrap_or(0) as usize;
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(to - from);
            rest = tail;
            parts.push((first_person(b_lo), first_person(b_hi), from, to, part));
        }
        let pairs = &*pairs;
        let starts: Vec<Vec<u32>> = std::thread::scope(|scope| {
            let workers: Vec<_> = parts
                .into_iter()
                .map(|(p_lo, p_hi, from, to, part)| {
                    scope.spawn(move || {
                        let pairs = pairs.get(2 * from..2 * to).unwrap_or_default();
                        let mut next = vec![0u32; p_hi - p_lo + 1];
                        for pair in pairs.chunks_exact(2) {
                            if let Some(c) = (pair[0] as usize)
                                .checked_sub(p_lo)
                                .and_then(|k| next.get_mut(k))
                            {
                                *c += 1;
                            }
                        }
                        prefix_sums(&mut next);
                        let starts: Vec<u32> = next
                            .iter()
                            .take(p_hi - p_lo)
                            .map(|&s| s + from as u32)
                            .collect();
                        for pair in pairs.chunks_exact(2) {
                            let (person, pos) = (pair[0] as usize, pair[1]);
                            let Some(at) = person.checked_sub(p_lo).and_then(|k| next.get_mut(k))
                            else {
                                continue;
                            };
                            if let Some(slot) = part.get_mut(*at as usize) {
                                *slot = pos;
                            }
                            *at += 1;
                        }
                        starts
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for s in starts {
            person_start.extend(s);
        }
    }
    person_start.resize(people, placed as u32);
    person_start.push(placed as u32);
    // Shrinking a large allocation gives its tail back in place.
    memory.truncate(quads);
    memory.shrink_to_fit();
    (person_start, memory, latest)
}

/// The number of records in `sorted` (by start) that start before `t`.
/// Crowded venues have segments of thousands of stays spread fairly evenly
/// over the days, so the search starts where `t` would fall if they were even
/// and gallops from there: a few neighbouring cache lines instead of a dozen
/// scattered binary-search probes.
#[inline]
fn first_at_or_after(sorted: &[Record], t: i64) -> usize {
    let n = sorted.len();
    let (Some(lo), Some(hi)) = (sorted.first(), sorted.last()) else {
        return 0;
    };
    let below = |i: usize| sorted.get(i).is_some_and(|r| i64::from(r[IN]) < t);
    if n <= 64 || t <= i64::from(lo[IN]) {
        return sorted.partition_point(|r| i64::from(r[IN]) < t);
    }
    if t > i64::from(hi[IN]) {
        return n;
    }
    let (lo, hi) = (i64::from(lo[IN]), i64::from(hi[IN]));
    // lo < t <= hi, so the guess is inside.
    let guess = ((t - lo) as u128 * (n - 1) as u128 / (hi - lo).max(1) as u128) as usize;
    let guess = guess.min(n - 1);
    // Bracket the answer in [a, b], galloping from the guess.
    let (mut a, mut b);
    if below(guess) {
        let mut step = 1;
        a = guess + 1;
        b = (guess + step).min(n);
        while b < n && below(b) {
            a = b + 1;
            step *= 2;
            b = (b + step).min(n);
        }
    } else {
        let mut step = 1;
        b = guess;
        a = guess.saturating_sub(step);
        while a > 0 && !below(a) {
            b = a;
            step *= 2;
            a = a.saturating_sub(step);
        }
        if below(a) {
            a += 1;
        }
    }
    a + sorted
        .get(a..b)
        .map_or(0, |r| r.partition_point(|r| i64::from(r[IN]) < t))
}

/// The segments of a range of venues: where each starts (positions in the
/// whole index), its longest stay, and each venue's first segment (counted
/// from the range's first). The venues' runs start at `starts[i] - base` in
/// `part` (`starts.len() - 1` venues), each sorted by (duration class, start).
type Segments = (Vec<u32>, Vec<u32>, Vec<u32>);

fn segments_of(part: &[Record], starts: &[u32], base: usize) -> Segments {
    let (mut seg_start, mut seg_longest) = (Vec::new(), Vec::new());
    let mut venue_seg = Vec::with_capacity(starts.len().saturating_sub(1));
    for w in starts.windows(2) {
        venue_seg.push(seg_start.len() as u32);
        let (lo, hi) = (w[0] as usize, w[1] as usize);
        let mut current = u32::MAX;
        let run = part
            .get(lo.saturating_sub(base)..hi.saturating_sub(base))
            .unwrap_or_default();
        for (i, r) in run.iter().enumerate() {
            let duration = r[OUT].saturating_sub(r[IN]);
            let c = class(duration);
            if c != current {
                current = c;
                seg_start.push((lo + i) as u32);
                seg_longest.push(duration);
            } else if let Some(l) = seg_longest.last_mut() {
                *l = (*l).max(duration);
            }
        }
    }
    (seg_start, seg_longest, venue_seg)
}

/// Duration classes: `class` of any `u32` duration is below this.
const CLASSES: usize = 26;

/// Working memory of [`ClassCounts::place`], reused from range to range.
#[derive(Default)]
struct ClassCounts {
    /// Per (venue, class): how many, then where each starts.
    start: Vec<u32>,
    longest: Vec<u32>,
    next: Vec<u32>,
}

impl ClassCounts {
    /// Places `src` (the stays of venues `lo..lo + venues`, in input order)
    /// into `dst` by (venue, duration class), keeping the input order within
    /// each (a stable counting sort), then sorts by start each one that is
    /// not already (check-ins usually come in time order), and appends the
    /// segments (every non-empty (venue, class)) to `segments`. `base` is
    /// the position of `dst[0]` in the whole index.
    fn place(
        &mut self,
        src: &[Record],
        dst: &mut [Record],
        lo: usize,
        venues: usize,
        base: usize,
        segments: &mut Segments,
    ) {
        let keys = venues * CLASSES;
        let key = |r: &Record| {
            (r[VENUE] as usize)
                .checked_sub(lo)
                .map(|v| v * CLASSES + class(r[OUT].saturating_sub(r[IN])) as usize)
        };
        self.start.clear();
        self.start.resize(keys + 1, 0);
        self.longest.clear();
        self.longest.resize(keys, 0);
        for r in src {
            if let Some(k) = key(r) {
                if let (Some(c), Some(l)) = (self.start.get_mut(k), self.longest.get_mut(k)) {
                    *c += 1;
                    *l = (*l).max(r[OUT].saturating_sub(r[IN]));
                }
            }
        }
        prefix_sums(&mut self.start);
        self.next.clear();
        self.next.extend_from_slice(&self.start);
        for r in src {
            if let Some(at) = key(r).and_then(|k| self.next.get_mut(k)) {
                if let Some(slot) = dst.get_mut(*at as usize) {
                    *slot = *r;
                }
                *at += 1;
            }
        }
        let (seg_start, seg_longest, venue_seg) = segments;
        for v in 0..venues {
            venue_seg.push(seg_start.len() as u32);
            for k in v * CLASSES..(v + 1) * CLASSES {
                let (Some(&a), Some(&b)) = (self.start.get(k), self.start.get(k + 1)) else {
                    continue;
                };
                if b <= a {
                    continue;
                }
                if let Some(run) = dst.get_mut(a as usize..b as usize) {
                    if !run.windows(2).all(|p| p[0][IN] <= p[1][IN]) {
                        run.sort_unstable_by_key(|r| r[IN]);
                    }
                }
                seg_start.push((base + a as usize) as u32);
                seg_longest.push(self.longest.get(k).copied().unwrap_or(0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stay(person: u32, venue: u32, check_in: i64, check_out: i64) -> Stay {
        Stay {
            person,
            venue,
            check_in,
            check_out,
        }
    }

    #[test]
    fn stays_are_checked_on_the_way_in() {
        let mut s = Stays::new();
        assert_eq!(
            s.push(stay(0, 0, 10, 5)),
            Err(StayError::CheckOutBeforeCheckIn)
        );
        assert_eq!(s.push(stay(0, 0, -1, 5)), Err(StayError::TimeOutOfRange));
        assert_eq!(
            s.push(stay(0, 0, 0, 1 << 32)),
            Err(StayError::TimeOutOfRange)
        );
        assert_eq!(s.push(stay(u32::MAX, 0, 0, 1)), Err(StayError::TooMany));
        assert_eq!(s.push(stay(0, 0, 7, 7)), Ok(()));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn each_person_finds_their_stays_back() {
        let input = vec![
            stay(2, 1, 100, 5000),
            stay(0, 1, 50, 60),
            stay(2, 0, 10, 20),
            stay(1, 3, 0, 1_000_000),
            stay(2, 1, 100, 5000),
        ];
        let index = StayIndex::build(Stays::try_from(input.clone()).unwrap());
        assert_eq!((index.len(), index.people(), index.venues()), (5, 3, 4));
        assert_eq!(index.latest_check_out(), Some(1_000_000));
        for p in 0..3 {
            let mut got: Vec<Stay> = index.stays_of(p).collect();
            let mut want: Vec<Stay> = input.iter().copied().filter(|s| s.person == p).collect();
            got.sort_by_key(|s| (s.venue, s.check_in, s.check_out));
            want.sort_by_key(|s| (s.venue, s.check_in, s.check_out));
            assert_eq!(got, want);
        }
        assert_eq!(index.stays_of(9).count(), 0);
    }

    /// Large enough for the build's threads (see `threads_for`): every
    /// person's stays and sampled venue queries against the input.
    #[test]
    fn a_large_build_on_threads_agrees_with_its_input() {
        let n = 300_000u64;
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let input: Vec<Stay> = (0..n)
            .map(|_| {
                let cin = (next() % 100_000) as i64;
                stay(
                    (next() % 40_000) as u32,
                    (next() % 900) as u32,
                    cin,
                    cin + (next() % 5000) as i64,
                )
            })
            .collect();
        agrees_with_its_input(&input);
        // In check-in order, as files usually come (no sort, only the
        // stable split by duration class).
        let mut sorted = input;
        sorted.sort_by_key(|s| s.check_in);
        agrees_with_its_input(&sorted);
    }

    fn agrees_with_its_input(input: &[Stay]) {
        let index = StayIndex::build(Stays::try_from(input.to_vec()).unwrap());
        assert_eq!(index.len(), input.len());
        let mut by_person: Vec<Vec<Stay>> = vec![Vec::new(); 40_000];
        for s in input {
            by_person[s.person as usize].push(*s);
        }
        let key = |s: &Stay| (s.venue, s.check_in, s.check_out);
        for (p, want) in by_person.iter_mut().enumerate() {
            let got: Vec<Stay> = index.stays_of(p as u32).collect();
            // Grouped by venue, in venue order.
            assert!(got.windows(2).all(|w| w[0].venue <= w[1].venue));
            let mut got = got;
            got.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(&got, want);
        }
        for k in 0..200i64 {
            let venue = (k * 37 % 900) as u32;
            let (a, b, m) = (k * 499, k * 499 + 2000, k % 3 * 100 + 1);
            let mut got = Vec::new();
            index.overlapping_stays(venue, a, b, m, |p, i, o| got.push((p, i, o)));
            got.sort_unstable();
            let mut want: Vec<(u32, i64, i64)> = input
                .iter()
                .filter(|s| s.venue == venue && s.check_out.min(b) - s.check_in.max(a) >= m)
                .map(|s| (s.person, s.check_in, s.check_out))
                .collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn galloping_search_agrees_with_binary_search() {
        let mut v: Vec<Record> = (0..3000u32)
            .map(|i| [0, 0, (i * i) % 100_003 / 7, 0])
            .collect();
        v.sort_unstable_by_key(|r| r[IN]);
        for t in (-5i64..16_000).step_by(7).chain([i64::MIN, i64::MAX]) {
            assert_eq!(
                first_at_or_after(&v, t),
                v.partition_point(|r| i64::from(r[IN]) < t),
                "{t}"
            );
        }
        let flat = vec![[0, 0, 5, 5]; 200];
        for t in [4, 5, 6] {
            assert_eq!(
                first_at_or_after(&flat, t),
                flat.partition_point(|r| i64::from(r[IN]) < t)
            );
        }
    }

    #[test]
    fn overlap_queries_see_long_and_short_stays() {
        // A long shift and many short visits at one venue.
        let mut input = vec![stay(0, 0, 0, 40_000)];
        for i in 0..200 {
            input.push(stay(1 + i, 0, i64::from(i) * 200, i64::from(i) * 200 + 150));
        }
        let index = StayIndex::build(Stays::try_from(input.clone()).unwrap());
        for (a, b, m) in [
            (10_000, 10_400, 1),
            (0, 0, 1),
            (5, 40_000, 100),
            (39_999, 50_000, 1),
        ] {
            let mut got = Vec::new();
            index.overlaps(0, a, b, m, |p, t| got.push((p, t)));
            got.sort_unstable();
            let mut want: Vec<(u32, i64)> = input
                .iter()
                .filter(|s| s.check_out.min(b) - s.check_in.max(a) >= m)
                .map(|s| (s.person, s.check_in.max(a)))
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "{a} {b} {m}");
        }
    }
}
