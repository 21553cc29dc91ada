//! The audit log as a hash chain: each record holds its sequence number, the
//! previous record's hash and its own SHA-256 over both and its content, so an
//! edit, an insertion or a removal breaks the chain where it happened.
//!
//! Anyone who knows the algorithm can rebuild a whole forged chain; what
//! protects against that is the head hash printed in published bulletins
//! (`chain_head`): a later rewrite no longer ends in the published hash.

use crate::{get_i64, get_str, Backend, Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};

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

/// Records per page read.
const PAGE: i64 = 50_000;
/// Pages read ahead of the walk.
const PAGES_AHEAD: usize = 2;

const PAGE_SQL: &str =
    "SELECT id, seq, at, actor, action, entity, entity_id, detail, prev_hash, hash
     FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2";

/// One audit record as the walk reads it, borrowed from the driver's row.
struct Entry<'r> {
    id: i64,
    seq: Option<i64>,
    at: i64,
    actor: &'r str,
    action: &'r str,
    entity: &'r str,
    entity_id: &'r str,
    detail: &'r str,
    prev_hash: Option<&'r str>,
    hash: Option<&'r str>,
}

/// Reads a row of [`PAGE_SQL`] with any sqlx driver (SQLite, PostgreSQL, Any).
fn entry<'r, R>(r: &'r R) -> Result<Entry<'r>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Entry {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        at: r.try_get(2)?,
        actor: r.try_get(3)?,
        action: r.try_get(4)?,
        entity: r.try_get(5)?,
        entity_id: r.try_get(6)?,
        detail: r.try_get(7)?,
        prev_hash: r.try_get(8)?,
        hash: r.try_get(9)?,
    })
}

/// The hash of a link written into `out` as hex, without allocating: the
/// same bytes as [`link_hash`].
fn link_hash_into(l: &Link<'_>, scratch: &mut Vec<u8>, out: &mut [u8; 64]) {
    use std::io::Write;
    scratch.clear();
    let _ = write!(scratch, "closedloop-audit-v1\n{}\n{}\n", l.seq, l.at);
    for field in [
        l.prev_hash,
        l.actor,
        l.action,
        l.entity,
        l.entity_id,
        l.detail,
    ] {
        let _ = write!(scratch, "{}:", field.len());
        scratch.extend_from_slice(field.as_bytes());
        scratch.push(b'\n');
    }
    let digest = Sha256::digest(&scratch[..]);
    // A 32-byte digest always fits 64 hex digits.
    let _ = hex::encode_to_slice(digest, out);
}

/// The walk along the chain: the one place its rule is checked, whatever
/// driver read the records.
struct Walk {
    report: ChainReport,
    expected: i64,
    prev: String,
    scratch: Vec<u8>,
}

impl Walk {
    fn new(head_seq: i64, head_hash: String) -> Walk {
        Walk {
            report: ChainReport {
                records: 0,
                head_seq,
                head_hash,
                first_break: None,
            },
            expected: 1,
            prev: String::new(),
            scratch: Vec::with_capacity(512),
        }
    }

    /// Checks the next record in id order; `false` once the chain is broken.
    fn step(&mut self, r: &Entry<'_>) -> bool {
        self.report.records += 1;
        let at_break = |kind, expected| {
            Some(ChainBreak {
                kind,
                id: Some(r.id),
                expected_seq: expected,
            })
        };
        let (Some(seq), Some(stored_prev), Some(hash)) = (r.seq, r.prev_hash, r.hash) else {
            self.report.first_break = at_break(BreakKind::Inserted, self.expected);
            return false;
        };
        if seq < self.expected {
            self.report.first_break = at_break(BreakKind::Inserted, self.expected);
            return false;
        }
        if seq > self.expected || stored_prev != self.prev {
            self.report.first_break = at_break(BreakKind::Removed, self.expected);
            return false;
        }
        let mut computed = [0u8; 64];
        link_hash_into(
            &Link {
                seq,
                prev_hash: stored_prev,
                at: r.at,
                actor: r.actor,
                action: r.action,
                entity: r.entity,
                entity_id: r.entity_id,
                detail: r.detail,
            },
            &mut self.scratch,
            &mut computed,
        );
        if &computed[..] != hash.as_bytes() {
            self.report.first_break = at_break(BreakKind::Altered, self.expected);
            return false;
        }
        self.prev.clear();
        self.prev.push_str(hash);
        self.expected += 1;
        true
    }

    fn finish(mut self) -> ChainReport {
        if self.report.first_break.is_none()
            && (self.expected - 1 != self.report.head_seq || self.prev != self.report.head_hash)
        {
            self.report.first_break = Some(ChainBreak {
                kind: BreakKind::Removed,
                id: None,
                expected_seq: self.expected,
            });
        }
        self.report
    }
}

/// Reads the log in pages on `conn` and walks them on a thread of its own,
/// a page or two behind: reading (the driver, the server) and hashing
/// overlap on two cores.
async fn walk_pages<DB>(
    conn: &mut <DB as sqlx::Database>::Connection,
    walk: Walk,
) -> Result<ChainReport, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: for<'r> sqlx::Decode<'r, DB>,
    for<'r> &'r str: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<DB::Row>>(PAGES_AHEAD);
    let walker = tokio::task::spawn_blocking(move || -> Result<ChainReport, StoreError> {
        let mut walk = walk;
        while let Some(rows) = rx.blocking_recv() {
            for r in &rows {
                if !walk.step(&entry(r)?) {
                    return Ok(walk.report);
                }
            }
        }
        Ok(walk.finish())
    });
    let mut after = i64::MIN;
    loop {
        let rows = sqlx::query_with::<DB, _>(PAGE_SQL, {
            let mut args = <DB as sqlx::Database>::Arguments::default();
            use sqlx::Arguments;
            args.add(after).map_err(sqlx::Error::Encode)?;
            args.add(PAGE).map_err(sqlx::Error::Encode)?;
            args
        })
        .fetch_all(&mut *conn)
        .await?;
        let Some(last) = rows.last() else { break };
        after = sqlx::Row::try_get::<i64, _>(last, 0)?;
        let full = rows.len() as i64 == PAGE;
        if tx.send(rows).await.is_err() || !full {
            // The walk stopped at a break, or that was the last page.
            break;
        }
    }
    drop(tx);
    walker
        .await
        .map_err(|e| StoreError::Io(format!("audit verify: {e}")))?
}

impl Store {
    /// The head of the audit chain: its sequence number and hash.
    pub async fn audit_chain_head(&self) -> Result<(i64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((get_i64(&row, "seq")?, get_str(&row, "hash")?))
    }

    /// Walks the whole audit log in order and checks every link; reports the
    /// first record that was altered, inserted or removed. Reads through the
    /// backend's own driver (`Any` converts every value of every row, 5–10 µs
    /// a record), the walk on a second thread.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError> {
        use sqlx::Connection;
        let (head_seq, head_hash) = self.audit_chain_head().await?;
        let walk = Walk::new(head_seq, head_hash);
        match self.backend {
            Backend::Sqlite if crate::sqlite_path(&self.url).is_some() => {
                let path = crate::sqlite_path(&self.url).unwrap_or_default();
                tokio::task::spawn_blocking(move || raw_sqlite::walk_file(&path, walk))
                    .await
                    .map_err(|e| StoreError::Io(format!("audit verify: {e}")))?
            }
            Backend::Sqlite => {
                use std::str::FromStr;
                // Rows cross from SQLite's worker thread in a channel: a page
                // at a time rather than 50 (a thread wake-up every few rows).
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
                    .row_buffer_size(PAGE as usize);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                let report = walk_pages::<sqlx::Sqlite>(&mut conn, walk).await;
                conn.close().await?;
                report
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                let report = walk_pages::<sqlx::Postgres>(&mut conn, walk).await;
                conn.close().await?;
                report
            }
        }
    }

    /// Chains audit records written before the chain existed (migration 0005),
    /// once, in id order. Does nothing once the chain has begun.
    pub(crate) async fn seal_unchained_audit(&self) -> Result<u64, StoreError> {
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

/// The audit log read straight from the SQLite file through the C API that
/// sqlx links: one statement stepped from start to end, every text read in
/// place (no copy, no allocation per row), walked as it is read.
mod raw_sqlite {
    use super::{Entry, Walk};
    use crate::StoreError;
    use libsqlite3_sys as ffi;
    use std::ffi::{c_int, CStr, CString};
    use std::ptr::NonNull;

    const SQL: &CStr = c"SELECT id, seq, at, actor, action, entity, entity_id, detail, prev_hash, hash FROM audit_log ORDER BY id";

    /// An open read-only connection; closed on drop.
    struct Db(NonNull<ffi::sqlite3>);

    impl Drop for Db {
        fn drop(&mut self) {
            // SAFETY: the handle came from sqlite3_open_v2 and its one statement is finalized first (Stmt borrows Db).
            unsafe {
                ffi::sqlite3_close(self.0.as_ptr());
            }
        }
    }

    /// A prepared statement of a [`Db`]; finalized on drop.
    struct Stmt<'db> {
        raw: NonNull<ffi::sqlite3_stmt>,
        _db: &'db Db,
    }

    impl Drop for Stmt<'_> {
        fn drop(&mut self) {
            // SAFETY: a statement prepared on a connection that outlives it.
            unsafe {
                ffi::sqlite3_finalize(self.raw.as_ptr());
            }
        }
    }

    fn error(db: &Db, what: &str) -> StoreError {
        // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection.
        let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.0.as_ptr())) };
        StoreError::Io(format!("audit verify: {what}: {}", msg.to_string_lossy()))
    }

    impl Stmt<'_> {
        fn is_null(&self, col: c_int) -> bool {
            // SAFETY: the statement has a current row (step returned SQLITE_ROW) and col < column count.
            unsafe { ffi::sqlite3_column_type(self.raw.as_ptr(), col) == ffi::SQLITE_NULL }
        }

        fn int(&self, col: c_int) -> Option<i64> {
            if self.is_null(col) {
                return None;
            }
            // SAFETY: as in is_null.
            Some(unsafe { ffi::sqlite3_column_int64(self.raw.as_ptr(), col) })
        }

        /// The text of a column, borrowed until the next step.
        fn text(&self, col: c_int) -> Result<Option<&str>, StoreError> {
            if self.is_null(col) {
                return Ok(None);
            }
            // SAFETY: sqlite3_column_text then sqlite3_column_bytes (in that order, as the
            // SQLite docs require) give a buffer of that many bytes, valid until the next
            // step or finalize; the borrow of self keeps both from happening meanwhile.
            let bytes = unsafe {
                let p = ffi::sqlite3_column_text(self.raw.as_ptr(), col);
                let n = ffi::sqlite3_column_bytes(self.raw.as_ptr(), col);
                if p.is_null() || n <= 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(p, n as usize)
                }
            };
            std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| StoreError::Corrupt("audit_log text is not UTF-8".into()))
        }
    }

    /// Opens `path` read-only and walks its audit log.
    pub(super) fn walk_file(path: &str, mut walk: Walk) -> Result<super::ChainReport, StoreError> {
        let c_path = CString::new(path)
            .map_err(|_| StoreError::Io(format!("audit verify: bad path {path}")))?;
        let mut raw: *mut ffi::sqlite3 = std::ptr::null_mut();
        // SAFETY: a valid NUL-terminated path and an out-pointer; a handle is returned even on error and closed by Db.
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                c_path.as_ptr(),
                &mut raw,
                ffi::SQLITE_OPEN_READONLY | ffi::SQLITE_OPEN_NOMUTEX,
                std::ptr::null(),
            )
        };
        let Some(handle) = NonNull::new(raw) else {
            return Err(StoreError::Io("audit verify: out of memory".into()));
        };
        let db = Db(handle);
        if rc != ffi::SQLITE_OK {
            return Err(error(&db, path));
        }
        // SAFETY: a valid connection; a busy reader waits like the pool's connections do.
        unsafe {
            ffi::sqlite3_busy_timeout(db.0.as_ptr(), 10_000);
        }
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: a valid connection and a NUL-terminated statement (-1: read to the NUL).
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db.0.as_ptr(),
                SQL.as_ptr(),
                -1,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        let Some(stmt) = NonNull::new(stmt).filter(|_| rc == ffi::SQLITE_OK) else {
            return Err(error(&db, "prepare"));
        };
        let stmt = Stmt {
            raw: stmt,
            _db: &db,
        };
        loop {
            // SAFETY: a prepared statement of an open connection.
            match unsafe { ffi::sqlite3_step(stmt.raw.as_ptr()) } {
                ffi::SQLITE_ROW => {}
                ffi::SQLITE_DONE => break,
                _ => return Err(error(&db, "step")),
            }
            let entry = Entry {
                id: stmt.int(0).unwrap_or_default(),
                seq: stmt.int(1),
                at: stmt.int(2).unwrap_or_default(),
                actor: stmt.text(3)?.unwrap_or_default(),
                action: stmt.text(4)?.unwrap_or_default(),
                entity: stmt.text(5)?.unwrap_or_default(),
                entity_id: stmt.text(6)?.unwrap_or_default(),
                detail: stmt.text(7)?.unwrap_or_default(),
                prev_hash: stmt.text(8)?,
                hash: stmt.text(9)?,
            };
            if !walk.step(&entry) {
                return Ok(walk.report);
            }
        }
        Ok(walk.finish())
    }
}
