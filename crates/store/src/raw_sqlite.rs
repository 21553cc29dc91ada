//! SQLite's C API (the library sqlx links) for the few reads of thousands of
//! rows where sqlx's driver costs more than the query: it copies every value
//! of every row and hands rows across threads one by one. Here one statement
//! is stepped in place and texts are read where SQLite keeps them, valid
//! until the next step.

use crate::StoreError;
use libsqlite3_sys as ffi;
use std::ffi::{c_int, CStr, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Bytes of the database file read through a memory map (SQLite's own cap
/// is 2 GB unless built otherwise): no read() call per page.
pub(crate) const MMAP_SIZE: i64 = 1 << 31;

/// A read-only connection opened on a file; closed on drop.
pub(crate) struct Db(NonNull<ffi::sqlite3>);

impl Db {
    /// Opens `path` read-only; a busy reader waits like the pool's connections do.
    pub(crate) fn open_read_only(path: &str) -> Result<Db, StoreError> {
        let c_path =
            CString::new(path).map_err(|_| StoreError::Io(format!("sqlite: bad path {path}")))?;
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
            return Err(StoreError::Io("sqlite: out of memory".into()));
        };
        let db = Db(handle);
        if rc != ffi::SQLITE_OK {
            return Err(error(db.0, path));
        }
        // SAFETY: a valid connection.
        unsafe {
            ffi::sqlite3_busy_timeout(db.0.as_ptr(), 10_000);
        }
        let mut pragma = Stmt::prepare_on(db.0, &format!("PRAGMA mmap_size = {MMAP_SIZE}"))?;
        while pragma.step()? {}
        drop(pragma);
        Ok(db)
    }
}

/// A connection a statement can be prepared on, borrowed for the statement's life.
pub(crate) trait Handle {
    fn raw(&mut self) -> NonNull<ffi::sqlite3>;
}

impl Handle for Db {
    fn raw(&mut self) -> NonNull<ffi::sqlite3> {
        self.0
    }
}

/// A connection of sqlx's SQLite pool, locked from its worker thread.
impl Handle for sqlx::sqlite::LockedSqliteHandle<'_> {
    fn raw(&mut self) -> NonNull<ffi::sqlite3> {
        self.as_raw_handle()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // SAFETY: the handle came from sqlite3_open_v2; its statements borrow it
        // mutably (Stmt's lifetime), so they are finalized first.
        unsafe {
            ffi::sqlite3_close(self.0.as_ptr());
        }
    }
}

fn error(db: NonNull<ffi::sqlite3>, what: &str) -> StoreError {
    // SAFETY: sqlite3_errmsg returns a NUL-terminated string owned by the connection.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) };
    StoreError::Io(format!("sqlite: {what}: {}", msg.to_string_lossy()))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.chars().take(40).collect())
}

/// A prepared statement, finalized on drop. `'c` is the borrow of the
/// connection (a [`Db`] or sqlx's locked handle) that must outlive it.
pub(crate) struct Stmt<'c> {
    raw: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
    _conn: PhantomData<&'c mut ()>,
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        // SAFETY: a statement prepared on a connection that outlives it.
        unsafe {
            ffi::sqlite3_finalize(self.raw.as_ptr());
        }
    }
}

impl<'c> Stmt<'c> {
    /// Prepares `sql` on a connection, borrowed (so not otherwise used) while the statement lives.
    pub(crate) fn prepare(conn: &'c mut impl Handle, sql: &str) -> Result<Stmt<'c>, StoreError> {
        Stmt::prepare_on(conn.raw(), sql)
    }

    /// [`Stmt::prepare`] on a raw handle: the caller keeps the connection open while the statement lives.
    fn prepare_on(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Stmt<'c>, StoreError> {
        let c_sql = CString::new(sql).map_err(|_| corrupt("statement with a NUL"))?;
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        // SAFETY: a valid connection and a NUL-terminated statement (-1: read to the NUL).
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                c_sql.as_ptr(),
                -1,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        match NonNull::new(stmt) {
            Some(raw) if rc == ffi::SQLITE_OK => Ok(Stmt {
                raw,
                db,
                _conn: PhantomData,
            }),
            Some(raw) => {
                // SAFETY: finalizing what prepare returned before reporting its error.
                unsafe {
                    ffi::sqlite3_finalize(raw.as_ptr());
                }
                Err(error(db, "prepare"))
            }
            None => Err(error(db, "prepare")),
        }
    }

    /// The index of a `$n` parameter: SQLite numbers named parameters in the
    /// order they first appear, which need not be n.
    fn param(&self, name: &str) -> Result<c_int, StoreError> {
        let c_name = CString::new(name).map_err(|_| corrupt("parameter"))?;
        // SAFETY: a prepared statement and a NUL-terminated name.
        match unsafe { ffi::sqlite3_bind_parameter_index(self.raw.as_ptr(), c_name.as_ptr()) } {
            0 => Err(StoreError::Io(format!("sqlite: no parameter {name}"))),
            i => Ok(i),
        }
    }

    fn check(&self, rc: c_int, what: &str) -> Result<(), StoreError> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(error(self.db, what))
        }
    }

    /// Binds `$n` (as the portable SQL writes it) to an integer.
    pub(crate) fn bind_int(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        let i = self.param(name)?;
        // SAFETY: a prepared statement not being stepped (borrowed mutably) and a valid index.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.raw.as_ptr(), i, value) };
        self.check(rc, "bind")
    }

    /// Binds `$n` to a text, copied by SQLite.
    pub(crate) fn bind_text(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        let i = self.param(name)?;
        let len = c_int::try_from(value.len()).map_err(|_| corrupt("text too long"))?;
        // SAFETY: as in bind_int; SQLITE_TRANSIENT makes SQLite copy the bytes now.
        let rc = unsafe {
            ffi::sqlite3_bind_text(
                self.raw.as_ptr(),
                i,
                value.as_ptr().cast(),
                len,
                ffi::SQLITE_TRANSIENT(),
            )
        };
        self.check(rc, "bind")
    }

    /// Steps to the next row; `false` when there is none.
    pub(crate) fn step(&mut self) -> Result<bool, StoreError> {
        // SAFETY: a prepared statement of an open connection.
        match unsafe { ffi::sqlite3_step(self.raw.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            _ => Err(error(self.db, "step")),
        }
    }

    fn kind(&self, col: c_int) -> c_int {
        // SAFETY: the statement has a current row (step returned true) and col < column count.
        unsafe { ffi::sqlite3_column_type(self.raw.as_ptr(), col) }
    }

    /// An integer column, or `None` for NULL; anything else is refused as
    /// sqlx would refuse it.
    pub(crate) fn int(&self, col: c_int) -> Result<Option<i64>, StoreError> {
        match self.kind(col) {
            ffi::SQLITE_NULL => Ok(None),
            // SAFETY: as in kind.
            ffi::SQLITE_INTEGER => Ok(Some(unsafe {
                ffi::sqlite3_column_int64(self.raw.as_ptr(), col)
            })),
            _ => Err(corrupt("expected an integer")),
        }
    }

    /// An integer column as SQLite converts it (a text that is no number is
    /// 0), or `None` for NULL: the audit walk then finds such a record altered
    /// instead of stopping at it. Its type is asked only when the value is 0.
    pub(crate) fn coerced_int(&self, col: c_int) -> Option<i64> {
        // SAFETY: as in kind; reading an integer does not convert the stored value.
        let v = unsafe { ffi::sqlite3_column_int64(self.raw.as_ptr(), col) };
        (v != 0 || self.kind(col) != ffi::SQLITE_NULL).then_some(v)
    }

    /// The bytes of a column (a text as stored, a number as its decimal
    /// text), or `None` for NULL; borrowed until the next step. Two calls
    /// into SQLite, not three: its type is asked only when there is no text.
    pub(crate) fn bytes(&self, col: c_int) -> Result<Option<&[u8]>, StoreError> {
        // SAFETY: sqlite3_column_text then sqlite3_column_bytes (in that order, as the
        // SQLite docs require) give a buffer of that many bytes, valid until the next
        // step or finalize; the borrow of self keeps both from happening meanwhile.
        unsafe {
            let p = ffi::sqlite3_column_text(self.raw.as_ptr(), col);
            if p.is_null() {
                // NULL, or no memory to convert the value to text.
                return match self.kind(col) {
                    ffi::SQLITE_NULL => Ok(None),
                    _ => Err(error(self.db, "column")),
                };
            }
            let n = ffi::sqlite3_column_bytes(self.raw.as_ptr(), col);
            Ok(Some(if n <= 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, n as usize)
            }))
        }
    }

    /// A text column as `&str`, or `None` for NULL.
    pub(crate) fn text(&self, col: c_int) -> Result<Option<&str>, StoreError> {
        match self.kind(col) {
            ffi::SQLITE_NULL => Ok(None),
            ffi::SQLITE_TEXT => self
                .bytes(col)?
                .map(|b| std::str::from_utf8(b).map_err(|_| corrupt("text is not UTF-8")))
                .transpose(),
            _ => Err(corrupt("expected a text")),
        }
    }
}
