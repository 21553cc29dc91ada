//! Persistence for closedloop: one code path over SQLite (the embedded default)
//! and PostgreSQL (production), through sqlx's `Any` driver.
//!
//! Portability rules that keep one code path: `$n` placeholders (both backends
//! accept them), instants as BIGINT seconds since the epoch, dates as ISO text,
//! enums as their wire names, integers as BIGINT. Only the DDL differs per
//! backend (`migrations/sqlite`, `migrations/postgres`); no query does.

pub mod access;
pub mod accounts;
mod audit;
mod audit_chain;
mod cases;
mod closed_loop;
mod clusters;
mod command;
pub mod contact_tracing;
mod contacts;
mod dashboard;
mod error;
mod escalation;
mod facilities;
mod loop_counts;
mod movements;
mod persons;
mod raw_sqlite;
mod regions;
pub mod testing;

pub use audit::{AuditEntry, AuditFilter};
pub use audit_chain::{link_hash, AuditHead, BreakKind, ChainBreak, ChainReport, Link};
pub use cases::{CaseFilter, CaseListOptions, CaseRecord, CaseSort};
pub use closed_loop::*;
pub use clusters::{Candidate, ChainLink, ClusterMember, ClusterPlace, ClusterReport, TreeNode};
pub use command::*;
pub use contacts::{ContactChanges, ContactDraft, ContactRecord};
pub use dashboard::{AuditPageFilter, CapacityRow, EpiDay, ManagedInRegion};
pub use error::{RowRejection, StoreError, StoreRowError};
pub use escalation::*;
pub use facilities::FacilityOccupancy;
pub use loop_counts::LoopCountCheck;
pub use movements::{CheckinRecord, PurgeSummary, TracingSnapshot};
pub use persons::{
    DuplicateGroup, MergeOutcome, PersonFilter, PersonRecord, TransitionRecord, HOUSEHOLD_LIMIT,
};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::str::FromStr;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }
}

/// The URL with any password hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// How an import treats rows that are bad or conflict with what is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportMode {
    /// Load the good rows and report the bad ones, instead of refusing the whole file.
    pub skip_bad_rows: bool,
    /// Overwrite stored records that the file contradicts, instead of refusing them.
    pub update: bool,
}

/// What an import did. `rejected` is non-empty only with `skip_bad_rows`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub batch: Option<i64>,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    #[serde(skip)]
    pub rejected: Vec<RowRejection>,
    /// Cases whose contacts are to be computed: created, or whose reference or
    /// isolation time changed (case imports only).
    #[serde(skip)]
    pub to_trace: Vec<String>,
}

/// Who makes a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Actor {
        Actor("system".into())
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL connected to, for the backend's own driver where `Any` is too
    /// slow (reading the whole audit chain).
    url: String,
    /// A small pool of the backend's own driver, opened on first use, for
    /// reads of thousands of rows (`Any` converts every value of every row).
    native: std::sync::Arc<tokio::sync::OnceCell<Native>>,
}

/// The backend's own pool.
#[derive(Debug)]
pub(crate) enum Native {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite
    /// file and its folder when missing. Does not migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new();
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(url) {
                if let Some(dir) = Path::new(&path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
                }
            }
            // WAL lets readers (the server) go on while an import writes.
            options = options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        } else {
            options = options.max_connections(8);
        }
        let url = if backend == Backend::Sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_string()
        };
        let pool = options.connect(&url).await.map_err(StoreError::connect)?;
        Ok(Store {
            pool,
            backend,
            url,
            native: Default::default(),
        })
    }

    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations; returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let before = self.applied_migrations().await.unwrap_or_default();
        self.migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let after = self.applied_migrations().await?;
        self.seal_unchained_audit().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    /// Versions of the migrations applied so far.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// Every migration this build knows, as (version, description).
    pub fn known_migrations(&self) -> Vec<(i64, String)> {
        self.migrator()
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    pub async fn close(&self) {
        match self.native.get() {
            Some(Native::Sqlite(p)) => p.close().await,
            Some(Native::Postgres(p)) => p.close().await,
            None => {}
        }
        self.pool.close().await;
    }

    /// The backend's own pool (two connections), opened on first use.
    pub(crate) async fn native(&self) -> Result<&Native, StoreError> {
        self.native
            .get_or_try_init(|| async {
                Ok(match self.backend {
                    Backend::Sqlite => {
                        // Memory-mapped reads: a list of thousands of rows
                        // touches thousands of pages, each a read() call
                        // through SQLite's 2 MB page cache otherwise.
                        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                            .map_err(StoreError::connect)?
                            .busy_timeout(std::time::Duration::from_secs(10))
                            .pragma("mmap_size", crate::raw_sqlite::MMAP_SIZE.to_string());
                        Native::Sqlite(
                            sqlx::sqlite::SqlitePoolOptions::new()
                                .max_connections(2)
                                .connect_with(options)
                                .await
                                .map_err(StoreError::connect)?,
                        )
                    }
                    Backend::Postgres => Native::Postgres(
                        sqlx::postgres::PgPoolOptions::new()
                            .max_connections(2)
                            .connect(&self.url)
                            .await
                            .map_err(StoreError::connect)?,
                    ),
                })
            })
            .await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The file path of a `sqlite:` URL.
pub fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// The default embedded database: `./closedloop-data/closedloop.db`.
pub fn default_sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("closedloop.db").display())
}

pub(crate) fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn get_str(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn get_i64(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

/// Parses a stored wire value; a bad one means the database was edited by hand.
pub(crate) fn decode<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, closedloop_domain::DomainError>,
) -> Result<T, StoreError> {
    parse(raw).map_err(|_| StoreError::Corrupt(raw.chars().take(40).collect()))
}

pub(crate) fn decode_date(raw: Option<String>) -> Result<Option<chrono::NaiveDate>, StoreError> {
    raw.map(|s| chrono::NaiveDate::from_str(&s).map_err(|_| StoreError::Corrupt(s)))
        .transpose()
}

/// `$first, $first+1, …` for `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
