//! Test support: a fresh database per test on every backend under test.
//! SQLite always; PostgreSQL when `CLOSEDLOOP_TEST_POSTGRES_URL` is set, in a
//! schema of its own so tests never see each other's rows.

use crate::{Backend, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};

pub const POSTGRES_ENV: &str = "CLOSEDLOOP_TEST_POSTGRES_URL";

/// A database made for one test; dropped (PostgreSQL schema) or deleted (SQLite file) afterwards.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<TempDir>,
    schema: Option<(String, String)>,
}

/// A directory removed on drop (no dependency on `tempfile` outside tests).
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_lowercase();
    format!(
        "t_{}_{}_{}_{}",
        clean,
        std::process::id(),
        n,
        chrono::Utc::now().timestamp_subsec_nanos()
    )
}

impl TestDatabase {
    pub async fn sqlite(name: &str) -> TestDatabase {
        let dir = std::env::temp_dir().join(unique(name));
        let _ = std::fs::create_dir_all(&dir);
        TestDatabase {
            url: format!("sqlite://{}", dir.join("test.db").display()),
            backend: Backend::Sqlite,
            _dir: Some(TempDir(dir)),
            schema: None,
        }
    }

    pub async fn postgres(base: &str, name: &str) -> Result<TestDatabase, StoreError> {
        let schema = unique(name);
        let admin = Store::connect(base).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin.pool)
            .await?;
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(TestDatabase {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            backend: Backend::Postgres,
            _dir: None,
            schema: Some((base.to_string(), schema)),
        })
    }

    /// One database per backend under test.
    pub async fn each(name: &str) -> Vec<TestDatabase> {
        let mut out = vec![TestDatabase::sqlite(name).await];
        if let Ok(base) = std::env::var(POSTGRES_ENV) {
            if !base.trim().is_empty() {
                match TestDatabase::postgres(base.trim(), name).await {
                    Ok(db) => out.push(db),
                    Err(e) => panic!("{POSTGRES_ENV} is set but PostgreSQL is unusable: {e}"),
                }
            }
        }
        out
    }

    pub async fn open(&self) -> Store {
        match Store::open(&self.url).await {
            Ok(s) => s,
            Err(e) => panic!("cannot open test database {}: {e}", self.url),
        }
    }

    /// Drops the PostgreSQL schema now (SQLite files go with the value).
    pub async fn cleanup(self) {
        if let Some((base, schema)) = &self.schema {
            if let Ok(admin) = Store::connect(base).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin.pool)
                    .await;
                admin.close().await;
            }
        }
    }
}
