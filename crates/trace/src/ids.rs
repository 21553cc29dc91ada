//! Interning of identifiers: each distinct string gets a dense `u32`, so the
//! engine works on numbers and the strings are stored once.

use std::cmp::Ordering;

/// Why an identifier could not be interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdsError {
    /// More than `u32::MAX - 1` identifiers, or more than 4 GiB of their text.
    Full,
}

impl std::fmt::Display for IdsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many identifiers (at most 4,294,967,294 and 4 GiB of text)")
    }
}

impl std::error::Error for IdsError {}

/// Orders persons by their identifier, as the output and the tie rules need.
pub trait IdOrder {
    /// Sorts `persons` by the byte order of their identifiers.
    fn sort(&self, persons: &mut [u32]);

    /// The precomputed ranks, when this order is one: a tracer then sorts
    /// its output by radix instead of by comparison.
    fn ranks(&self) -> Option<&Ranks> {
        None
    }
}

/// An interner: string → dense `u32` and back.
///
/// Open addressing (linear probing, at most half full). A slot is 32 bytes,
/// aligned to half a cache line: half the hash, the id, and the first 23
/// bytes of the name. So looking up a known name of up to 23 bytes (a resident
/// ID number has 18) reads one slot and nothing else: on a city of millions
/// that is one cache miss per check-in row instead of three (slot, text
/// offsets, text). [`Ids::intern_all`] also loads the slots of a group of
/// names before comparing any, so their misses overlap.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    text: String,
    /// End of each id's text in `text`; it starts where the previous one ends.
    ends: Vec<u32>,
    /// Its length is a power of two (or zero).
    table: Vec<Slot>,
    /// Working memory of [`Ids::intern_all`].
    hashes: Vec<u64>,
    probes: Vec<Probe>,
}

/// A name about to be looked up, as [`Ids::intern_all`] lays it out: its hash,
/// its row, and its first bytes in the same form as a [`Slot`].
#[derive(Debug, Clone, Copy, Default)]
struct Probe {
    hash: u64,
    row: u32,
    len: u8,
    prefix: [u8; INLINE],
}

impl Probe {
    fn new(name: &str, hash: u64, row: u32) -> Probe {
        let bytes = name.as_bytes();
        let mut prefix = [0u8; INLINE];
        let n = bytes.len().min(INLINE);
        if let (Some(dst), Some(src)) = (prefix.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        Probe {
            hash,
            row,
            len: bytes.len().min(255) as u8,
            prefix,
        }
    }

    /// Whether `slot` surely holds this name (false also when unsure: a name
    /// longer than the prefix needs the full comparison).
    #[inline]
    fn matches(&self, slot: &Slot) -> bool {
        slot.id != 0
            && slot.tag == self.hash as u32
            && slot.len == self.len
            && usize::from(self.len) <= INLINE
            && slot.prefix == self.prefix
    }
}

/// One slot of the table; `id == 0` is empty, else it holds id + 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(32))]
struct Slot {
    tag: u32,
    id: u32,
    len: u8,
    prefix: [u8; INLINE],
}

/// How many bytes of a name a slot keeps.
const INLINE: usize = 23;

impl Slot {
    fn new(name: &str, hash: u64, id: u32) -> Slot {
        let bytes = name.as_bytes();
        let mut prefix = [0u8; INLINE];
        let n = bytes.len().min(INLINE);
        if let (Some(dst), Some(src)) = (prefix.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        Slot {
            tag: hash as u32,
            id: id + 1,
            len: bytes.len().min(255) as u8,
            prefix,
        }
    }

    /// Whether the slot surely holds `name` (`Some(true)`), surely not
    /// (`Some(false)`), or the name is too long to tell from the slot alone.
    #[inline]
    fn holds(&self, name: &str, hash: u64) -> Option<bool> {
        let bytes = name.as_bytes();
        if self.id == 0 || self.tag != hash as u32 || usize::from(self.len) != bytes.len().min(255)
        {
            return Some(false);
        }
        if bytes.len() > INLINE {
            return None;
        }
        Some(self.prefix.get(..bytes.len()) == Some(bytes))
    }
}

impl Ids {
    pub fn new() -> Ids {
        Ids::default()
    }

    /// How many distinct ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id of `name`, adding it if new (as the next number).
    pub fn intern(&mut self, name: &str) -> Result<u32, IdsError> {
        self.intern_hashed(name, hash(name.as_bytes()))
    }

    /// Interns a batch of names, appending their ids to `out` in the same
    /// order: the same as [`Ids::intern`] on each in turn (except which new
    /// name gets which new number), much faster on a large table.
    ///
    /// The table of a city is tens of megabytes, and random probes into it
    /// miss the TLB as well as the cache (dearly, on a virtual machine). So
    /// the names are first copied, with their hashes, into 256 buckets by
    /// region of the table (one pass, 256 sequential write streams), then
    /// looked up bucket by bucket: each bucket's probes stay within a few
    /// hundred kilobytes of table, and read their names sequentially.
    pub fn intern_all(&mut self, names: &[&str], out: &mut Vec<u32>) -> Result<(), IdsError> {
        const GROUP: usize = 16;
        let base = out.len();
        out.resize(base + names.len(), 0);
        if self.table.is_empty() {
            self.rebuild_table(self.ends.len() + 1);
        }
        let mut probes = std::mem::take(&mut self.probes);
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        hashes.extend(names.iter().map(|n| hash(n.as_bytes())));
        // 2^bucket_bits buckets of at least 64 slots each.
        let table_bits = self.table.len().trailing_zeros();
        let bucket_bits = table_bits.saturating_sub(6).min(8);
        let shift = table_bits - bucket_bits;
        let mask = self.table.len() - 1;
        let bucket = |h: u64| slot_of(h, mask) >> shift;
        let mut next = [0u32; 257];
        for &h in &hashes {
            if let Some(c) = next.get_mut(bucket(h) + 1) {
                *c += 1;
            }
        }
        for i in 1..next.len() {
            let before = next.get(i - 1).copied().unwrap_or(0);
            if let Some(c) = next.get_mut(i) {
                *c += before;
            }
        }
        probes.clear();
        probes.resize(names.len(), Probe::default());
        for (row, (&h, name)) in hashes.iter().zip(names).enumerate() {
            if let Some(at) = next.get_mut(bucket(h)) {
                if let Some(p) = probes.get_mut(*at as usize) {
                    *p = Probe::new(name, h, row as u32);
                }
                *at += 1;
            }
        }
        let mut result = Ok(());
        'groups: for group in probes.chunks(GROUP) {
            // A name not in its home slot is usually in the next one.
            let mut slots = [[Slot::default(); 2]; GROUP];
            let mask = self.table.len().wrapping_sub(1);
            for (pair, probe) in slots.iter_mut().zip(group) {
                let home = slot_of(probe.hash, mask);
                for (k, slot) in pair.iter_mut().enumerate() {
                    if let Some(s) = self.table.get((home + k) & mask) {
                        *slot = *s;
                    }
                }
            }
            for (pair, probe) in slots.iter().zip(group) {
                let row = probe.row as usize;
                let id = if let Some(slot) = pair.iter().find(|s| probe.matches(s)) {
                    slot.id - 1
                } else {
                    let Some(&name) = names.get(row) else {
                        continue;
                    };
                    match self.intern_hashed(name, probe.hash) {
                        Ok(id) => id,
                        Err(e) => {
                            result = Err(e);
                            break 'groups;
                        }
                    }
                };
                if let Some(o) = out.get_mut(base + row) {
                    *o = id;
                }
            }
        }
        self.probes = probes;
        self.hashes = hashes;
        if result.is_err() {
            out.truncate(base);
        }
        result
    }

    fn intern_hashed(&mut self, name: &str, hash: u64) -> Result<u32, IdsError> {
        if self.table.is_empty() && !self.ends.is_empty() {
            self.rebuild_table(self.ends.len() + 1);
        }
        if let Some(id) = self.find(name, hash) {
            return Ok(id);
        }
        let id = u32::try_from(self.ends.len())
            .ok()
            .filter(|&id| id < u32::MAX - 1)
            .ok_or(IdsError::Full)?;
        let end = u32::try_from(self.text.len() + name.len()).map_err(|_| IdsError::Full)?;
        if (self.ends.len() + 1) * 2 > self.table.len() {
            self.rebuild_table(self.ends.len() + 1);
        }
        self.text.push_str(name);
        self.ends.push(end);
        self.place(Slot::new(name, hash, id), hash);
        Ok(id)
    }

    /// Where the text of `id` lies in `text`.
    fn bounds(&self, id: u32) -> (u32, u32) {
        let i = id as usize;
        let end = self.ends.get(i).copied().unwrap_or(0);
        let start = match i.checked_sub(1) {
            Some(j) => self.ends.get(j).copied().unwrap_or(0),
            None => 0,
        };
        (start, end)
    }

    /// The id of `name`, if it was interned.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.find(name, hash(name.as_bytes()))
    }

    /// The text of `id` (empty for an unknown id).
    pub fn name(&self, id: u32) -> &str {
        let (start, end) = self.bounds(id);
        self.text.get(start as usize..end as usize).unwrap_or("")
    }

    /// Bytes held, for reporting memory use.
    pub fn memory_bytes(&self) -> usize {
        self.text.capacity()
            + 4 * self.ends.capacity()
            + std::mem::size_of::<Slot>() * self.table.capacity()
    }

    /// Drops the lookup table (half of the memory) once no more names come;
    /// [`Ids::name`] still works, and interning again rebuilds it.
    pub fn freeze(&mut self) {
        self.table = Vec::new();
    }

    fn find(&self, name: &str, hash: u64) -> Option<u32> {
        if self.table.is_empty() {
            if self.ends.is_empty() {
                return None;
            }
            // Frozen: search the text (rare; interning rebuilds the table).
            return (0..self.ends.len() as u32).find(|&id| self.name(id) == name);
        }
        let mask = self.table.len() - 1;
        let mut at = slot_of(hash, mask);
        loop {
            let slot = self.table.get(at)?;
            if slot.id == 0 {
                return None;
            }
            let id = slot.id - 1;
            match slot.holds(name, hash) {
                Some(true) => return Some(id),
                None if self.name(id) == name => return Some(id),
                _ => {}
            }
            at = (at + 1) & mask;
        }
    }

    fn place(&mut self, entry: Slot, hash: u64) {
        let mask = self.table.len().wrapping_sub(1);
        let mut at = slot_of(hash, mask);
        while let Some(slot) = self.table.get_mut(at) {
            if slot.id == 0 {
                *slot = entry;
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// A table for `n` names, filled with the ones already interned.
    fn rebuild_table(&mut self, n: usize) {
        let size = table_size(n.max(self.table.len()));
        self.table = vec![Slot::default(); size];
        for id in 0..self.ends.len() as u32 {
            let name = self.name(id);
            let h = hash(name.as_bytes());
            let entry = Slot::new(name, h, id);
            self.place(entry, h);
        }
    }

    /// The 8 bytes of `id` from `offset`, big-endian and zero-padded, so that
    /// comparing keys compares prefixes in byte order.
    fn chunk(&self, id: u32, offset: usize) -> u64 {
        let bytes = self.name(id).as_bytes();
        let mut key = [0u8; 8];
        if let Some(rest) = bytes.get(offset..) {
            let n = rest.len().min(8);
            if let (Some(dst), Some(src)) = (key.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
        }
        u64::from_be_bytes(key)
    }

    /// Sorts `keyed` (whose keys hold bytes `offset..offset + 8`) by full name.
    fn sort_keyed(&self, keyed: &mut [(u64, u32)], offset: usize) {
        keyed.sort_unstable_by_key(|&(k, _)| k);
        let mut start = 0;
        while start < keyed.len() {
            let key = keyed.get(start).map_or(0, |e| e.0);
            let len = keyed
                .get(start..)
                .map_or(0, |r| r.iter().take_while(|e| e.0 == key).count());
            let end = start + len;
            if len > 1 {
                if let Some(run) = keyed.get_mut(start..end) {
                    let longest = run
                        .iter()
                        .map(|&(_, id)| self.name(id).len())
                        .max()
                        .unwrap_or(0);
                    if run.len() <= 16 || longest <= offset + 8 {
                        // Short runs, and names that end here (zero padding
                        // would tie "a" with "a\0"), compare whole bytes.
                        run.sort_unstable_by(|x, y| self.compare(x.1, y.1));
                    } else {
                        for e in run.iter_mut() {
                            e.0 = self.chunk(e.1, offset + 8);
                        }
                        self.sort_keyed(run, offset + 8);
                    }
                }
            }
            start = end;
        }
    }

    /// Byte order of the names of `a` and `b`.
    pub fn compare(&self, a: u32, b: u32) -> Ordering {
        self.name(a).as_bytes().cmp(self.name(b).as_bytes())
    }
}

impl IdOrder for Ids {
    /// Sorts by 8-byte big-endian prefixes as integers and refines equal runs on
    /// the next 8 bytes: identifiers such as resident ID numbers share long
    /// prefixes, where plain string comparison would dominate.
    fn sort(&self, persons: &mut [u32]) {
        let mut keyed: Vec<(u64, u32)> = persons.iter().map(|&p| (self.chunk(p, 0), p)).collect();
        self.sort_keyed(&mut keyed, 0);
        for (dst, (_, id)) in persons.iter_mut().zip(keyed) {
            *dst = id;
        }
    }
}

impl Ids {
    /// The rank of every id in byte order of the names, computed once: for a
    /// long-lived index (a server) that traces case after case, sorting by
    /// rank is a sort of integers.
    pub fn ranks(&self) -> Ranks {
        let mut all: Vec<u32> = (0..self.len() as u32).collect();
        self.sort(&mut all);
        let mut rank = vec![0u32; all.len()];
        for (r, &id) in all.iter().enumerate() {
            if let Some(x) = rank.get_mut(id as usize) {
                *x = r as u32;
            }
        }
        Ranks(rank)
    }
}

/// Ranks of ids in byte order of their names (see [`Ids::ranks`]); ids it
/// does not know sort last, by number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranks(Vec<u32>);

impl Ranks {
    /// The rank of `id`.
    pub fn rank(&self, id: u32) -> u64 {
        self.0
            .get(id as usize)
            .map_or(u64::from(u32::MAX) + u64::from(id), |&r| u64::from(r))
    }

    /// The rank of `id`, when it has one.
    pub(crate) fn get(&self, id: u32) -> Option<u32> {
        self.0.get(id as usize).copied()
    }

    /// How many ids have a rank (ids `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl IdOrder for Ranks {
    fn sort(&self, persons: &mut [u32]) {
        persons.sort_unstable_by_key(|&p| self.rank(p));
    }

    fn ranks(&self) -> Option<&Ranks> {
        Some(self)
    }
}

/// A power of two at least twice `n`.
fn table_size(n: usize) -> usize {
    (n.max(8) * 2).next_power_of_two()
}

/// The high half picks the slot; the low half is the fingerprint kept per id.
fn slot_of(hash: u64, mask: usize) -> usize {
    (hash >> 32) as usize & mask
}

/// A fast, well-mixed hash of short byte strings (identifiers are 5–40 bytes):
/// 8 bytes at a time, multiply-fold, then a final avalanche.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        if let Some(dst) = w.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_reversible() {
        let mut ids = Ids::new();
        let names: Vec<String> = (0..1000).map(|i| format!("P{i:06}")).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ids.intern(n).unwrap(), i as u32);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(ids.intern(n).unwrap(), i as u32);
            assert_eq!(ids.get(n), Some(i as u32));
            assert_eq!(ids.name(i as u32), n);
        }
        assert_eq!(ids.get("nope"), None);
        assert_eq!(ids.name(5000), "");
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn interning_in_groups_agrees_with_one_by_one() {
        let names: Vec<String> = (0..5000).map(|i| format!("{}", (i * 7) % 3001)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut many = Ids::new();
        many.intern("42").unwrap();
        let mut got = vec![7];
        for chunk in refs.chunks(777) {
            many.intern_all(chunk, &mut got).unwrap();
        }
        assert_eq!(got.len(), 5001);
        assert_eq!(got[0], 7);
        for (name, &id) in refs.iter().zip(&got[1..]) {
            assert_eq!(many.name(id), *name);
            assert_eq!(many.get(name), Some(id));
        }
        assert_eq!(many.len(), 3001);
        assert_eq!(many.get("42"), Some(0));
    }

    #[test]
    fn a_large_table_is_swept_by_bucket_and_agrees_with_a_map() {
        let mut ids = Ids::new();
        let mut map = std::collections::HashMap::new();
        let names: Vec<String> = (0..200_000u64)
            .map(|i| {
                let k = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 60_000;
                if k % 7 == 0 {
                    format!("a-rather-long-identifier-number-{k}")
                } else {
                    format!("2201021990{k:08}")
                }
            })
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut got = Vec::new();
        for chunk in refs.chunks(50_000) {
            ids.intern_all(chunk, &mut got).unwrap();
        }
        assert_eq!(got.len(), refs.len());
        for (name, &id) in refs.iter().zip(&got) {
            assert_eq!(*map.entry(*name).or_insert(id), id);
            assert_eq!(ids.name(id), *name);
        }
        assert_eq!(ids.len(), map.len());
    }

    #[test]
    fn ranks_sort_like_names() {
        let mut ids = Ids::new();
        for n in ["b", "a10", "a9", "", "a1"] {
            ids.intern(n).unwrap();
        }
        let ranks = ids.ranks();
        let mut by_rank: Vec<u32> = vec![77, 0, 1, 2, 3, 4];
        ranks.sort(&mut by_rank);
        assert_eq!(by_rank, [3, 4, 1, 2, 0, 77]);
    }

    #[test]
    fn long_names_and_a_frozen_table() {
        let mut ids = Ids::new();
        let long: Vec<String> = (0..300)
            .map(|i| format!("{}-{i}", "x".repeat(i % 40)))
            .collect();
        let mut got = Vec::new();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        ids.intern_all(&refs, &mut got).unwrap();
        ids.intern_all(&refs, &mut got).unwrap();
        assert_eq!(got[..300], got[300..]);
        ids.freeze();
        for (n, &id) in refs.iter().zip(&got) {
            assert_eq!(ids.name(id), *n);
            assert_eq!(ids.get(n), Some(id));
        }
        assert_eq!(ids.intern(&long[7]).unwrap(), got[7]);
        assert_eq!(ids.intern("new").unwrap(), 300);
        assert_eq!(ids.get("new"), Some(300));
    }

    #[test]
    fn sorting_is_byte_order_even_with_shared_prefixes_and_nul() {
        let mut ids = Ids::new();
        let mut names: Vec<String> = vec![
            "a".into(),
            "a\0".into(),
            "".into(),
            "b".into(),
            "ab".into(),
            "中文".into(),
        ];
        for i in 0..300 {
            names.push(format!("22010219900307{:04}", (i * 7919) % 10000));
            names.push(format!("2201021990030712345{i}"));
        }
        names.sort();
        names.dedup();
        let mut persons: Vec<u32> = names.iter().map(|n| ids.intern(n).unwrap()).collect();
        persons.reverse();
        ids.sort(&mut persons);
        let sorted: Vec<&str> = persons.iter().map(|&p| ids.name(p)).collect();
        let expected: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(sorted, expected);
    }
}
