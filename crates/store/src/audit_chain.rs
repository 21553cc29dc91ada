//! The audit log as a hash chain: each record holds its sequence number, the
//! previous record's hash and its own SHA-256 over both and its content, so an
//! edit, an insertion or a removal breaks the chain where it happened.
//!
//! Anyone who knows the algorithm can rebuild a whole forged chain; what
//! protects against that is the head hash printed in published bulletins
//! (`chain_head`): a later rewrite no longer ends in the published hash.
//!
//! `audit verify` splits the log into id ranges walked at once on threads of
//! their own. A record's hash covers only its own row (the previous hash is
//! stored in it), so each range can be checked alone; it starts from the
//! state the walk would have reached before it (the last record below the
//! range: its sequence number and hash), which is exact whenever the ranges
//! before it are intact, and when one is not, its break is the first.

use crate::{Backend, Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a record's hash covers.
pub struct Link<'a> {
    pub seq: i64,
    pub prev_hash: &'a str,
    pub at: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub detail: &'a str,
}

/// Hex SHA-256 of the link; every text field is length-prefixed so no two
/// different records encode the same.
pub fn link_hash(l: &Link<'_>) -> String {
    let mut out = [0u8; 64];
    hash_into(
        l.seq,
        l.at,
        [
            l.prev_hash.as_bytes(),
            l.actor.as_bytes(),
            l.action.as_bytes(),
            l.entity.as_bytes(),
            l.entity_id.as_bytes(),
            l.detail.as_bytes(),
        ],
        &mut Vec::with_capacity(256),
        &mut out,
    );
    out.iter().map(|&b| char::from(b)).collect()
}

/// The hash of a link as 64 lowercase hex digits in `out`, its input built in
/// `scratch` (kept by the walk: no allocation per record). Fields in the order
/// prev_hash, actor, action, entity, entity_id, detail.
fn hash_into(seq: i64, at: i64, fields: [&[u8]; 6], scratch: &mut Vec<u8>, out: &mut [u8; 64]) {
    scratch.clear();
    scratch.extend_from_slice(b"closedloop-audit-v1\n");
    push_decimal(scratch, seq);
    scratch.push(b'\n');
    push_decimal(scratch, at);
    scratch.push(b'\n');
    for field in fields {
        push_decimal(scratch, field.len() as i64);
        scratch.push(b':');
        scratch.extend_from_slice(field);
        scratch.push(b'\n');
    }
    let digest = Sha256::digest(&scratch[..]);
    // A 32-byte digest always fits 64 hex digits.
    let _ = hex::encode_to_slice(digest, out);
}

/// `n` in decimal as `format!("{n}")` writes it (the formatter costs more
/// than the hash's share of a record).
fn push_decimal(buf: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&digits[i..]);
}

/// How the chain is broken at a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record's content no longer matches its hash.
    Altered,
    /// A record that is not part of the chain (no hash, or a sequence number already used).
    Inserted,
    /// Records are missing before this one (or at the end of the log).
    Removed,
}

/// The first place the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub kind: BreakKind,
    /// The audit record at fault (for a removal: the first record after the gap; none at the end).
    pub id: Option<i64>,
    /// The sequence number the chain expected there.
    pub expected_seq: i64,
}

/// The result of `audit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub records: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub first_break: Option<ChainBreak>,
}

/// Logs shorter than this are walked in one part (a thread and a connection
/// per part cost more than they save).
const PARTS_FROM: i64 = 100_000;
/// Records between looks at whether an earlier part has already broken.
const STOP_CHECK: u64 = 8_192;

/// One audit record as the walk reads it, borrowed from the reader's buffer.
/// Texts are bytes: the hash covers bytes, and a record edited to invalid
/// UTF-8 is then simply altered.
struct Entry<'r> {
    id: i64,
    seq: Option<i64>,
    at: i64,
    actor: &'r [u8],
    action: &'r [u8],
    entity: &'r [u8],
    entity_id: &'r [u8],
    detail: &'r [u8],
    prev_hash: Option<&'r [u8]>,
    hash: Option<&'r [u8]>,
}

/// A walk along part of the chain: the one place its rule is checked,
/// whatever read the records.
struct Walk {
    records: u64,
    /// The sequence number the next record must have.
    expected: i64,
    /// The hash the next record must name as its previous.
    prev: Vec<u8>,
    first_break: Option<ChainBreak>,
    scratch: Vec<u8>,
}

impl Walk {
    /// A walk that continues after a record with `expected - 1` and `prev`.
    fn after(expected: i64, prev: &[u8]) -> Walk {
        Walk {
            records: 0,
            expected,
            prev: prev.to_vec(),
            first_break: None,
            scratch: Vec::with_capacity(512),
        }
    }

    /// Checks the next record in id order; `false` once the chain is broken.
    fn step(&mut self, r: &Entry<'_>) -> bool {
        self.records += 1;
        let brk = |kind, expected| {
            Some(ChainBreak {
                kind,
                id: Some(r.id),
                expected_seq: expected,
            })
        };
        let (Some(seq), Some(stored_prev), Some(hash)) = (r.seq, r.prev_hash, r.hash) else {
            self.first_break = brk(BreakKind::Inserted, self.expected);
            return false;
        };
        if seq < self.expected {
            self.first_break = brk(BreakKind::Inserted, self.expected);
            return false;
        }
        if seq > self.expected || stored_prev != self.prev.as_slice() {
            self.first_break = brk(BreakKind::Removed, self.expected);
            return false;
        }
        let mut computed = [0u8; 64];
        hash_into(
            seq,
            r.at,
            [
                stored_prev,
                r.actor,
                r.action,
                r.entity,
                r.entity_id,
                r.detail,
            ],
            &mut self.scratch,
            &mut computed,
        );
        if computed[..] != *hash {
            self.first_break = brk(BreakKind::Altered, self.expected);
            return false;
        }
        self.prev.clear();
        self.prev.extend_from_slice(hash);
        self.expected += 1;
        true
    }
}

/// A range of the log, `after < id <= last`, and where the chain stands before it.
#[derive(Debug, Clone)]
struct Part {
    index: usize,
    after: i64,
    last: i64,
    expected: i64,
    prev: String,
}

/// Lets later parts stop once an earlier one has broken: their result no
/// longer matters.
#[derive(Clone)]
struct Stop(Arc<AtomicUsize>);

impl Stop {
    fn new() -> Stop {
        Stop(Arc::new(AtomicUsize::new(usize::MAX)))
    }

    fn broke(&self, part: usize) {
        self.0.fetch_min(part, Ordering::Relaxed);
    }

    fn earlier_broke(&self, part: usize) -> bool {
        self.0.load(Ordering::Relaxed) < part
    }
}

/// The chain from its parts, walked in order: the first break of the first
/// broken part, else whether the last part ends at the head.
fn join(head_seq: i64, head_hash: String, walks: Vec<Walk>) -> ChainReport {
    let mut records = 0;
    let mut end = (1, Vec::new());
    for w in walks {
        records += w.records;
        if w.first_break.is_some() {
            return ChainReport {
                records,
                head_seq,
                head_hash,
                first_break: w.first_break,
            };
        }
        end = (w.expected, w.prev);
    }
    let (expected, prev) = end;
    let first_break =
        (expected - 1 != head_seq || prev != head_hash.as_bytes()).then_some(ChainBreak {
            kind: BreakKind::Removed,
            id: None,
            expected_seq: expected,
        });
    ChainReport {
        records,
        head_seq,
        head_hash,
        first_break,
    }
}

/// The audit chain's head: its sequence number and hash. Every audited write
/// moves it, so caches of what the data says are valid while it is unchanged.
pub type AuditHead = (i64, String);

impl Store {
    /// The head of the audit chain: its sequence number and hash.
    pub async fn audit_chain_head(&self) -> Result<AuditHead, StoreError> {
        let row =
            sqlx::query_as::<_, (i64, String)>("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(row)
    }

    /// Walks the whole audit log in order and checks every link; reports the
    /// first record that was altered, inserted or removed. The log is split
    /// into one id range per core (from [`PARTS_FROM`] records), each read
    /// through the backend's own reader and hashed on a thread of its own:
    /// SQLite's C API stepping one statement, PostgreSQL's binary `COPY`.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.verify_audit_chain_in(cores.min(4), PARTS_FROM).await
    }

    /// [`Store::verify_audit_chain`] in `parts` id ranges, or in one when the
    /// log spans fewer than `parts_from` ids.
    pub(crate) async fn verify_audit_chain_in(
        &self,
        parts: usize,
        parts_from: i64,
    ) -> Result<ChainReport, StoreError> {
        let (head_seq, head_hash, parts) = self.plan_parts(parts, parts_from).await?;
        let stop = Stop::new();
        let walks = match self.backend {
            Backend::Sqlite => {
                let Some(path) = crate::sqlite_path(&self.url) else {
                    return Err(StoreError::Io(
                        "audit verify: an in-memory SQLite database is not supported".into(),
                    ));
                };
                let tasks: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        let (path, stop) = (path.clone(), stop.clone());
                        tokio::task::spawn_blocking(move || {
                            raw_sqlite::walk_part(&path, &part, &stop)
                        })
                    })
                    .collect();
                let mut walks = Vec::with_capacity(tasks.len());
                for t in tasks {
                    walks.push(
                        t.await
                            .map_err(|e| StoreError::Io(format!("audit verify: {e}")))??,
                    );
                }
                walks
            }
            Backend::Postgres => {
                let tasks: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        let (url, stop) = (self.url.clone(), stop.clone());
                        tokio::spawn(async move { pg_copy::walk_part(&url, &part, &stop).await })
                    })
                    .collect();
                let mut walks = Vec::with_capacity(tasks.len());
                for t in tasks {
                    walks.push(
                        t.await
                            .map_err(|e| StoreError::Io(format!("audit verify: {e}")))??,
                    );
                }
                walks
            }
        };
        Ok(join(head_seq, head_hash, walks))
    }

    /// The head and the id ranges to walk, read so that they agree: the head
    /// and the highest id in one statement (one snapshot; a record written
    /// later has a higher id and is left for the next verify), then where the
    /// chain stands before each range.
    async fn plan_parts(
        &self,
        parts: usize,
        parts_from: i64,
    ) -> Result<(i64, String, Vec<Part>), StoreError> {
        let (head_seq, head_hash, first, last) = sqlx::query_as::<
            _,
            (i64, String, Option<i64>, Option<i64>),
        >(
            "SELECT h.seq, h.hash, (SELECT MIN(id) FROM audit_log), (SELECT MAX(id) FROM audit_log)
                 FROM audit_head h WHERE h.id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        let (Some(first), Some(last)) = (first, last) else {
            let empty = Part {
                index: 0,
                after: 0,
                last: 0,
                expected: 1,
                prev: String::new(),
            };
            return Ok((head_seq, head_hash, vec![empty]));
        };
        let span = i128::from(last) - i128::from(first) + 1;
        let n = if span < i128::from(parts_from) {
            1
        } else {
            parts.max(1)
        };
        // Bounds b_0 = first - 1 < b_1 <= … <= b_n = last; part k is (b_k, b_k+1].
        let bound = |k: usize| -> i64 {
            let b = i128::from(first) - 1 + span * k as i128 / n as i128;
            i64::try_from(b).unwrap_or(last)
        };
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let after = bound(k);
            let (expected, prev) = if k == 0 {
                (1, String::new())
            } else {
                // The last record before the range. None: the ranges before are
                // empty, so the chain starts here. A record without seq or hash
                // breaks an earlier range, so what this one assumes is moot.
                let before = sqlx::query_as::<_, (Option<i64>, Option<String>)>(
                    "SELECT seq, hash FROM audit_log WHERE id <= $1 ORDER BY id DESC LIMIT 1",
                )
                .bind(after)
                .fetch_optional(&self.pool)
                .await?;
                match before {
                    None => (1, String::new()),
                    Some((seq, hash)) => (
                        seq.map_or(1, |s| s.saturating_add(1)),
                        hash.unwrap_or_default(),
                    ),
                }
            };
            out.push(Part {
                index: k,
                after,
                last: bound(k + 1),
                expected,
                prev,
            });
        }
        Ok((head_seq, head_hash, out))
    }

    /// Chains audit records written before the chain existed (migration 0005),
    /// once, in id order. Does nothing once the chain has begun.
    pub(crate) async fn seal_unchained_audit(&self) -> Result<u64, StoreError> {
        use crate::{get_i64, get_str};
        let mut tx = self.pool.begin().await?;
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if get_i64(&head, "seq")? != 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        let rows = sqlx::query(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log WHERE hash IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let mut prev = String::new();
        let mut seq = 0i64;
        for r in &rows {
            seq += 1;
            let hash = link_hash(&Link {
                seq,
                prev_hash: &prev,
                at: get_i64(r, "at")?,
                actor: &get_str(r, "actor")?,
                action: &get_str(r, "action")?,
                entity: &get_str(r, "entity")?,
                entity_id: &get_str(r, "entity_id")?,
                detail: &get_str(r, "detail")?,
            });
            sqlx::query("UPDATE audit_log SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4")
                .bind(seq)
                .bind(&prev)
                .bind(&hash)
                .bind(get_i64(r, "id")?)
                .execute(&mut *tx)
                .await?;
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

/// A part of the audit log read straight from the SQLite file through its C
/// API (`crate::raw_sqlite`): one statement stepped from start to end, every
/// text read in place (no copy, no allocation per row), walked as it is read.
mod raw_sqlite {
    use super::{Entry, Part, Stop, Walk, STOP_CHECK};
    use crate::raw_sqlite::{Db, Stmt};
    use crate::StoreError;

    const SQL: &str =
        "SELECT id, seq, at, actor, action, entity, entity_id, detail, prev_hash, hash
                       FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id";

    /// Opens `path` read-only and walks one part of its audit log.
    pub(super) fn walk_part(path: &str, part: &Part, stop: &Stop) -> Result<Walk, StoreError> {
        let mut db = Db::open_read_only(path)?;
        let mut stmt = Stmt::prepare(&mut db, SQL)?;
        stmt.bind_int("$1", part.after)?;
        stmt.bind_int("$2", part.last)?;
        let mut walk = Walk::after(part.expected, part.prev.as_bytes());
        while stmt.step()? {
            let entry = Entry {
                id: stmt.coerced_int(0).unwrap_or_default(),
                seq: stmt.coerced_int(1),
                at: stmt.coerced_int(2).unwrap_or_default(),
                actor: stmt.bytes(3)?.unwrap_or_default(),
                action: stmt.bytes(4)?.unwrap_or_default(),
                entity: stmt.bytes(5)?.unwrap_or_default(),
                entity_id: stmt.bytes(6)?.unwrap_or_default(),
                detail: stmt.bytes(7)?.unwrap_or_default(),
                prev_hash: stmt.bytes(8)?,
                hash: stmt.bytes(9)?,
            };
            if !walk.step(&entry) {
                stop.broke(part.index);
                break;
            }
            if walk.records.is_multiple_of(STOP_CHECK) && stop.earlier_broke(part.index) {
                break;
            }
        }
        Ok(walk)
    }
}

/// A part of the audit log read from PostgreSQL as a binary `COPY` (no row
/// description, no text conversion of integers; one message per record),
/// parsed and walked on a thread of its own while the next records arrive.
mod pg_copy {
    use super::{Entry, Part, Stop, Walk, STOP_CHECK};
    use crate::StoreError;
    use sqlx::Connection;

    /// Messages handed to the walking thread at a time.
    const BATCH: usize = 4_096;
    /// Batches read ahead of the walk.
    const AHEAD: usize = 4;

    fn corrupt(what: &str) -> StoreError {
        StoreError::Io(format!("audit verify: unexpected COPY data ({what})"))
    }

    pub(super) async fn walk_part(url: &str, part: &Part, stop: &Stop) -> Result<Walk, StoreError> {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        // The range in key order through the primary key, whatever the
        // statistics say: a never-analysed 10M log was planned as a parallel
        // bitmap scan and a sort of the range (spilled to disk). This
        // connection serves this read only.
        sqlx::Executor::execute(
            &mut conn,
            "SET enable_sort = off; SET enable_bitmapscan = off; SET max_parallel_workers_per_gather = 0; SET jit = off",
        )
        .await?;
        // The bounds are integers formatted here: COPY takes no parameters.
        let sql = format!(
            "COPY (SELECT id, seq, at, actor, action, entity, entity_id, detail, prev_hash, hash
                   FROM audit_log WHERE id > {} AND id <= {} ORDER BY id) TO STDOUT (FORMAT binary)",
            part.after, part.last
        );
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        let walker = {
            let (part, stop) = (part.clone(), stop.clone());
            tokio::task::spawn_blocking(move || walk_messages(rx, &part, &stop))
        };
        let mut stream = conn.copy_out_raw(&sql).await?;
        let mut batch = Vec::with_capacity(BATCH);
        let mut read_error = None;
        loop {
            match std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                Some(Ok(message)) => {
                    batch.push(message);
                    if batch.len() == BATCH
                        && tx
                            .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                            .await
                            .is_err()
                    {
                        // The walk stopped (a break, or an earlier part broke).
                        break;
                    }
                }
                Some(Err(e)) => {
                    read_error = Some(e);
                    break;
                }
                None => {
                    if !batch.is_empty() {
                        let _ = tx.send(batch).await;
                    }
                    break;
                }
            }
        }
        drop(tx);
        let finished = read_error.is_none();
        drop(stream);
        let walk = walker
            .await
            .map_err(|e| StoreError::Io(format!("audit verify: {e}")))?;
        if let Some(e) = read_error {
            return Err(e.into());
        }
        if finished {
            conn.close().await?;
        }
        // Else the COPY was left half read: the connection is dropped, not reused.
        walk
    }

    /// Reads a big-endian integer of `N` bytes at `*at`, advancing it.
    fn take<const N: usize>(buf: &[u8], at: &mut usize) -> Result<[u8; N], StoreError> {
        let bytes = buf
            .get(*at..*at + N)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .ok_or_else(|| corrupt("short record"))?;
        *at += N;
        Ok(bytes)
    }

    /// The next field: `None` for SQL NULL.
    fn field<'b>(buf: &'b [u8], at: &mut usize) -> Result<Option<&'b [u8]>, StoreError> {
        let len = i32::from_be_bytes(take::<4>(buf, at)?);
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        let bytes = buf
            .get(*at..*at + len)
            .ok_or_else(|| corrupt("short field"))?;
        *at += len;
        Ok(Some(bytes))
    }

    fn int8(f: Option<&[u8]>) -> Result<Option<i64>, StoreError> {
        f.map(|b| {
            <[u8; 8]>::try_from(b)
                .map(i64::from_be_bytes)
                .map_err(|_| corrupt("bigint"))
        })
        .transpose()
    }

    /// One record (a tuple of the binary format) at `*at`; `None` at the trailer.
    fn record<'b>(buf: &'b [u8], at: &mut usize) -> Result<Option<Entry<'b>>, StoreError> {
        let fields = i16::from_be_bytes(take::<2>(buf, at)?);
        if fields == -1 {
            return Ok(None);
        }
        if fields != 10 {
            return Err(corrupt("field count"));
        }
        let id = int8(field(buf, at)?)?.ok_or_else(|| corrupt("id"))?;
        let seq = int8(field(buf, at)?)?;
        let at_ = int8(field(buf, at)?)?.unwrap_or_default();
        let mut text = || field(buf, at);
        Ok(Some(Entry {
            id,
            seq,
            at: at_,
            actor: text()?.unwrap_or_default(),
            action: text()?.unwrap_or_default(),
            entity: text()?.unwrap_or_default(),
            entity_id: text()?.unwrap_or_default(),
            detail: text()?.unwrap_or_default(),
            prev_hash: text()?,
            hash: text()?,
        }))
    }

    /// The binary format's header: signature, flags, extension.
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

    fn skip_header(buf: &[u8], at: &mut usize) -> Result<(), StoreError> {
        if !buf.starts_with(SIGNATURE) {
            return Err(corrupt("signature"));
        }
        *at = SIGNATURE.len();
        let _flags = take::<4>(buf, at)?;
        let extension = u32::from_be_bytes(take::<4>(buf, at)?) as usize;
        *at += extension;
        Ok(())
    }

    /// Walks the records in the messages. PostgreSQL sends one record per
    /// message (the header with the first); a record split across messages is
    /// joined in `carry`, so no layout is assumed.
    fn walk_messages<M: AsRef<[u8]>>(
        mut rx: tokio::sync::mpsc::Receiver<Vec<M>>,
        part: &Part,
        stop: &Stop,
    ) -> Result<Walk, StoreError> {
        let mut walk = Walk::after(part.expected, part.prev.as_bytes());
        let mut header = true;
        let mut carry: Vec<u8> = Vec::new();
        while let Some(batch) = rx.blocking_recv() {
            for message in &batch {
                let message = message.as_ref();
                let buf: &[u8] = if carry.is_empty() {
                    message
                } else {
                    carry.extend_from_slice(message);
                    &carry
                };
                let mut at = 0;
                if header {
                    if buf.len() < SIGNATURE.len() + 8 {
                        carry = buf.to_vec();
                        continue;
                    }
                    skip_header(buf, &mut at)?;
                    header = false;
                }
                let mut consumed = at;
                while consumed < buf.len() {
                    let mut next = consumed;
                    match record(buf, &mut next) {
                        Ok(Some(entry)) => {
                            if !walk.step(&entry) {
                                stop.broke(part.index);
                                return Ok(walk);
                            }
                            if walk.records.is_multiple_of(STOP_CHECK)
                                && stop.earlier_broke(part.index)
                            {
                                return Ok(walk);
                            }
                            consumed = next;
                        }
                        Ok(None) => return Ok(walk),
                        // Incomplete: wait for the next message.
                        Err(_) => break,
                    }
                }
                let rest = buf[consumed..].to_vec();
                carry = rest;
            }
        }
        if !carry.is_empty() {
            return Err(corrupt("truncated"));
        }
        Ok(walk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash as it was first written (formatter and all): stored chains must still verify.
    fn reference_hash(l: &Link<'_>) -> String {
        let mut h = Sha256::new();
        h.update(format!("closedloop-audit-v1\n{}\n{}\n", l.seq, l.at));
        for field in [
            l.prev_hash,
            l.actor,
            l.action,
            l.entity,
            l.entity_id,
            l.detail,
        ] {
            h.update(format!("{}:", field.len()));
            h.update(field.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    #[test]
    fn the_hash_is_the_one_first_written() {
        let texts = ["", "a", "审计", "{\"n\":1}\n\\", &"x".repeat(1000)];
        let ints = [0, 1, -1, 9, 10, 99, 1_648_000_000, i64::MAX, i64::MIN];
        for (i, &seq) in ints.iter().enumerate() {
            for (j, &at) in ints.iter().enumerate() {
                let t = |k: usize| texts[(i + j + k) % texts.len()];
                let l = Link {
                    seq,
                    prev_hash: t(0),
                    at,
                    actor: t(1),
                    action: t(2),
                    entity: t(3),
                    entity_id: t(4),
                    detail: t(5),
                };
                assert_eq!(link_hash(&l), reference_hash(&l), "seq {seq} at {at}");
            }
        }
    }

    /// A valid chain of `n` records with ids 10, 20, … (gaps to insert into).
    async fn chain(s: &Store, n: i64) {
        let mut prev = String::new();
        for seq in 1..=n {
            let detail = format!("{{\"n\":{seq},\"名\":\"审计\"}}");
            let hash = link_hash(&Link {
                seq,
                prev_hash: &prev,
                at: 1_648_000_000 + seq,
                actor: "bench",
                action: "transition",
                entity: "managed",
                entity_id: &seq.to_string(),
                detail: &detail,
            });
            sqlx::query("INSERT INTO audit_log (id, at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) VALUES ($1, $2, 'bench', 'transition', 'managed', $3, $4, $5, $6, $7)")
                .bind(seq * 10)
                .bind(1_648_000_000 + seq)
                .bind(seq.to_string())
                .bind(&detail)
                .bind(seq)
                .bind(&prev)
                .bind(&hash)
                .execute(&s.pool)
                .await
                .unwrap();
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(n)
            .bind(&prev)
            .execute(&s.pool)
            .await
            .unwrap();
    }

    /// Split into 1 to 5 ranges (boundaries on records, in gaps, at both
    /// ends), the walk finds the same first break as in one piece, for an
    /// edit, a removal and an insertion at each place.
    #[tokio::test]
    async fn every_split_of_the_log_finds_the_same_first_break() {
        for db in crate::testing::TestDatabase::each("chain_parts").await {
            let s = db.open().await;
            let empty = s.verify_audit_chain_in(3, 0).await.unwrap();
            assert_eq!((empty.records, empty.first_break), (0, None));
            chain(&s, 23).await;
            let exec = |sql: String| {
                let pool = s.pool.clone();
                async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
            };
            let check = |want: Option<(BreakKind, Option<i64>)>, what: String| {
                let s = s.clone();
                async move {
                    let whole = s.verify_audit_chain_in(1, 0).await.unwrap();
                    assert_eq!(
                        whole.first_break.as_ref().map(|b| (b.kind, b.id)),
                        want,
                        "{what}"
                    );
                    for parts in 2..=5 {
                        assert_eq!(
                            s.verify_audit_chain_in(parts, 0).await.unwrap(),
                            whole,
                            "{what} in {parts}"
                        );
                    }
                    whole
                }
            };
            let intact = check(None, "intact".into()).await;
            assert_eq!((intact.records, intact.head_seq), (23, 23));
            exec("CREATE TABLE saved AS SELECT * FROM audit_log".into()).await;
            for k in [1, 2, 5, 8, 12, 16, 22, 23] {
                let id = k * 10;
                let next = (k < 23).then_some(id + 10);
                exec(format!(
                    "UPDATE audit_log SET detail = detail || ' ' WHERE id = {id}"
                ))
                .await;
                check(Some((BreakKind::Altered, Some(id))), format!("edit {id}")).await;
                exec(format!("UPDATE audit_log SET detail = (SELECT detail FROM saved WHERE saved.id = {id}) WHERE id = {id}")).await;
                exec(format!("DELETE FROM audit_log WHERE id = {id}")).await;
                check(Some((BreakKind::Removed, next)), format!("removal {id}")).await;
                exec(format!(
                    "INSERT INTO audit_log SELECT * FROM saved WHERE id = {id}"
                ))
                .await;
                // A copy of the record just after it (same seq and hash).
                exec(format!("INSERT INTO audit_log SELECT id + 5, at, actor, action, entity, entity_id, detail, seq, prev_hash, hash FROM saved WHERE id = {id}")).await;
                check(
                    Some((BreakKind::Inserted, Some(id + 5))),
                    format!("copy after {id}"),
                )
                .await;
                exec(format!("DELETE FROM audit_log WHERE id = {}", id + 5)).await;
                // A record without a hash just before it.
                exec(format!("INSERT INTO audit_log (id, at, actor, action, entity, entity_id, detail) VALUES ({}, 1, 'mallory', 'update', 'case', 'K1', '{{}}')", id - 5)).await;
                check(
                    Some((BreakKind::Inserted, Some(id - 5))),
                    format!("insertion before {id}"),
                )
                .await;
                exec(format!("DELETE FROM audit_log WHERE id = {}", id - 5)).await;
                check(None, format!("restored {id}")).await;
            }
            exec("DROP TABLE saved".into()).await;
            s.close().await;
            db.cleanup().await;
        }
    }
}
