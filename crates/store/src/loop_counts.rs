//! Counters of the closed loop, so that `loop status` reads a few hundred rows
//! instead of scanning every managed record and scheduled test.
//!
//! - `loop_counts`: managed records per (jurisdiction, category, state,
//!   negative results); the per-state counts, the lost and the
//!   released-without-tests leaks are sums over it.
//! - `loop_due_tests`: tests not yet sampled of records under quarantine or in
//!   home health monitoring, per (jurisdiction, due date); the missed tests
//!   are those due before today.
//! - `managed.negatives`: each record's negative results.
//!
//! Every writer that changes what they count does it in the same transaction
//! as the change: it takes the loop's lock first ([`lock`]), reads the
//! counted rows of the records it touches before the change ([`Tally::add`]
//! with −1) and after it (+1), and applies the difference ([`Tally::apply`]).
//! Set-based paths read and apply grouped counts, never one row per record.
//! [`Store::recount_loop`] rebuilds the counters from the records;
//! [`Store::check_loop_counts`] compares them without writing.

use crate::{audit, get_i64, get_str, Actor, Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// States whose unsampled tests are counted (missed once due).
pub(crate) const TESTED_STATES: &str = "('under_quarantine', 'home_health_monitoring')";

/// Ids per `IN (…)` list.
const IDS_PER_QUERY: usize = 5_000;
/// Rows per multi-row upsert.
const ROWS_PER_UPSERT: usize = 200;

/// Makes the transaction the only writer of the loop's counters until it
/// ends: every counted change locks the audit chain's head row first (which
/// every audited writer updates anyway), so the counts it reads before and
/// after its change are not moved by anyone else meanwhile (PostgreSQL, read
/// committed), and counter rows are never locked in two orders (no deadlock).
pub(crate) async fn lock(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Sets `managed.negatives` of one record from its tests.
pub(crate) async fn refresh_negatives(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    managed_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE managed SET negatives = (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = $1 AND t.result = 'negative') WHERE id = $1")
        .bind(managed_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

type RecordKey = (String, String, String, i64);
type TestKey = (String, String);

/// A change to the counters, gathered before it is applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    records: BTreeMap<RecordKey, i64>,
    tests: BTreeMap<TestKey, i64>,
}

impl Tally {
    /// Adds `sign` × what the records `ids` count for now (grouped reads).
    pub(crate) async fn add(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        ids: &[i64],
        sign: i64,
    ) -> Result<(), StoreError> {
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let list = chunk
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rows = sqlx::query(&format!(
                "SELECT COALESCE(region_code, '') AS region_code, category, state, negatives, COUNT(*) AS n
                 FROM managed WHERE id IN ({list})
                 GROUP BY COALESCE(region_code, ''), category, state, negatives"
            ))
            .fetch_all(&mut **tx)
            .await?;
            for r in &rows {
                *self
                    .records
                    .entry((
                        get_str(r, "region_code")?,
                        get_str(r, "category")?,
                        get_str(r, "state")?,
                        get_i64(r, "negatives")?,
                    ))
                    .or_default() += sign * get_i64(r, "n")?;
            }
            let rows = sqlx::query(&format!(
                "SELECT COALESCE(m.region_code, '') AS region_code, t.due_date, COUNT(*) AS n
                 FROM loop_tests t JOIN managed m ON m.id = t.managed_id
                 WHERE t.managed_id IN ({list}) AND t.sampled_at IS NULL AND m.state IN {TESTED_STATES}
                 GROUP BY COALESCE(m.region_code, ''), t.due_date"
            ))
            .fetch_all(&mut **tx)
            .await?;
            for r in &rows {
                *self
                    .tests
                    .entry((get_str(r, "region_code")?, get_str(r, "due_date")?))
                    .or_default() += sign * get_i64(r, "n")?;
            }
        }
        Ok(())
    }

    /// Counts a bulk move of every record matching `filter` (a condition on
    /// `managed` alone with qualified column names, `$1` bound to `arg`) into `to`, which must not be a
    /// state whose tests are counted: two grouped reads before the change,
    /// nothing per record. Exact because the change moves only the state and
    /// the lock keeps the set of matching records still.
    pub(crate) async fn add_move(
        &mut self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        filter: &str,
        arg: &str,
        to: &str,
    ) -> Result<(), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT COALESCE(region_code, '') AS region_code, category, state, negatives, COUNT(*) AS n
             FROM managed WHERE {filter}
             GROUP BY COALESCE(region_code, ''), category, state, negatives"
        ))
        .bind(arg)
        .fetch_all(&mut **tx)
        .await?;
        for r in &rows {
            let (region, category, state, negatives, n) = (
                get_str(r, "region_code")?,
                get_str(r, "category")?,
                get_str(r, "state")?,
                get_i64(r, "negatives")?,
                get_i64(r, "n")?,
            );
            *self
                .records
                .entry((region.clone(), category.clone(), state, negatives))
                .or_default() -= n;
            *self
                .records
                .entry((region, category, to.to_string(), negatives))
                .or_default() += n;
        }
        let rows = sqlx::query(&format!(
            "SELECT COALESCE(m.region_code, '') AS region_code, t.due_date, COUNT(*) AS n
             FROM loop_tests t JOIN managed m ON m.id = t.managed_id
             WHERE t.managed_id IN (SELECT managed.id FROM managed WHERE {filter})
               AND t.sampled_at IS NULL AND m.state IN {TESTED_STATES}
             GROUP BY COALESCE(m.region_code, ''), t.due_date"
        ))
        .bind(arg)
        .fetch_all(&mut **tx)
        .await?;
        for r in &rows {
            *self
                .tests
                .entry((get_str(r, "region_code")?, get_str(r, "due_date")?))
                .or_default() -= get_i64(r, "n")?;
        }
        Ok(())
    }

    /// Writes the change: one multi-row upsert per table (per 200 keys).
    pub(crate) async fn apply(
        self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        let records: Vec<_> = self.records.into_iter().filter(|(_, n)| *n != 0).collect();
        for chunk in records.chunks(ROWS_PER_UPSERT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", crate::placeholders(i * 5 + 1, 5)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO loop_counts (region_code, category, state, negatives, n) VALUES {values}
                 ON CONFLICT (region_code, category, state, negatives) DO UPDATE SET n = loop_counts.n + excluded.n"
            );
            let mut q = sqlx::query(&sql);
            for ((region, category, state, negatives), n) in chunk {
                q = q
                    .bind(region.clone())
                    .bind(category.clone())
                    .bind(state.clone())
                    .bind(*negatives)
                    .bind(*n);
            }
            q.execute(&mut **tx).await?;
        }
        let tests: Vec<_> = self.tests.into_iter().filter(|(_, n)| *n != 0).collect();
        for chunk in tests.chunks(ROWS_PER_UPSERT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", crate::placeholders(i * 3 + 1, 3)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO loop_due_tests (region_code, due_date, n) VALUES {values}
                 ON CONFLICT (region_code, due_date) DO UPDATE SET n = loop_due_tests.n + excluded.n"
            );
            let mut q = sqlx::query(&sql);
            for ((region, due), n) in chunk {
                q = q.bind(region.clone()).bind(due.clone()).bind(*n);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Where the stored counters and the records disagree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoopCountCheck {
    /// Records whose `negatives` is not their number of negative results.
    pub negatives_off: i64,
    /// (jurisdiction, category, state, negatives) keys whose count is wrong.
    pub record_keys_off: u64,
    /// (jurisdiction, due date) keys whose count of unsampled tests is wrong.
    pub test_keys_off: u64,
}

impl LoopCountCheck {
    pub fn is_consistent(&self) -> bool {
        self.negatives_off == 0 && self.record_keys_off == 0 && self.test_keys_off == 0
    }
}

/// Counts computed from the records themselves (the reference).
const RECOUNT_RECORDS: &str = "SELECT COALESCE(m.region_code, '') AS region_code, m.category, m.state,
        (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = m.id AND t.result = 'negative') AS negatives
     FROM managed m";

fn recount_tests_sql() -> String {
    format!(
        "SELECT COALESCE(m.region_code, '') AS region_code, t.due_date, COUNT(*) AS n
         FROM loop_tests t JOIN managed m ON m.id = t.managed_id
         WHERE t.sampled_at IS NULL AND m.state IN {TESTED_STATES}
         GROUP BY COALESCE(m.region_code, ''), t.due_date"
    )
}

impl Store {
    /// Compares the stored counters with counts computed from the records
    /// (read only; see [`Store::recount_loop`]).
    pub async fn check_loop_counts(&self) -> Result<LoopCountCheck, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let negatives_off = get_i64(
            &sqlx::query(
                "SELECT COUNT(*) AS n FROM managed m WHERE m.negatives <> (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = m.id AND t.result = 'negative')",
            )
            .fetch_one(&mut *conn)
            .await?,
            "n",
        )?;
        let mut want: BTreeMap<RecordKey, i64> = BTreeMap::new();
        for r in sqlx::query(&format!(
            "SELECT region_code, category, state, negatives, COUNT(*) AS n FROM ({RECOUNT_RECORDS}) x GROUP BY region_code, category, state, negatives"
        ))
        .fetch_all(&mut *conn)
        .await?
        {
            want.insert(
                (
                    get_str(&r, "region_code")?,
                    get_str(&r, "category")?,
                    get_str(&r, "state")?,
                    get_i64(&r, "negatives")?,
                ),
                get_i64(&r, "n")?,
            );
        }
        let mut have: BTreeMap<RecordKey, i64> = BTreeMap::new();
        for r in sqlx::query(
            "SELECT region_code, category, state, negatives, n FROM loop_counts WHERE n <> 0",
        )
        .fetch_all(&mut *conn)
        .await?
        {
            have.insert(
                (
                    get_str(&r, "region_code")?,
                    get_str(&r, "category")?,
                    get_str(&r, "state")?,
                    get_i64(&r, "negatives")?,
                ),
                get_i64(&r, "n")?,
            );
        }
        let mut want_tests: BTreeMap<TestKey, i64> = BTreeMap::new();
        for r in sqlx::query(&recount_tests_sql())
            .fetch_all(&mut *conn)
            .await?
        {
            want_tests.insert(
                (get_str(&r, "region_code")?, get_str(&r, "due_date")?),
                get_i64(&r, "n")?,
            );
        }
        let mut have_tests: BTreeMap<TestKey, i64> = BTreeMap::new();
        for r in sqlx::query("SELECT region_code, due_date, n FROM loop_due_tests WHERE n <> 0")
            .fetch_all(&mut *conn)
            .await?
        {
            have_tests.insert(
                (get_str(&r, "region_code")?, get_str(&r, "due_date")?),
                get_i64(&r, "n")?,
            );
        }
        Ok(LoopCountCheck {
            negatives_off,
            record_keys_off: differing(&want, &have),
            test_keys_off: differing(&want_tests, &have_tests),
        })
    }

    /// Rebuilds the loop's counters from the records, in one transaction
    /// (audited with what was found wrong). Returns what was wrong before.
    pub async fn recount_loop(&self, actor: &Actor) -> Result<LoopCountCheck, StoreError> {
        let before = self.check_loop_counts().await?;
        let mut tx = self.pool.begin().await?;
        lock(&mut tx).await?;
        sqlx::query(
            "UPDATE managed SET negatives = (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = managed.id AND t.result = 'negative')
             WHERE negatives <> (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = managed.id AND t.result = 'negative')",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM loop_counts")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO loop_counts (region_code, category, state, negatives, n)
             SELECT COALESCE(region_code, ''), category, state, negatives, COUNT(*) FROM managed
             GROUP BY COALESCE(region_code, ''), category, state, negatives",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM loop_due_tests")
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO loop_due_tests (region_code, due_date, n) {}",
            recount_tests_sql()
        ))
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            actor,
            "recount",
            "loop_counts",
            "all",
            serde_json::json!({"before": before}),
        )
        .await?;
        tx.commit().await?;
        Ok(before)
    }
}

fn differing<K: Ord>(want: &BTreeMap<K, i64>, have: &BTreeMap<K, i64>) -> u64 {
    let mut off = 0;
    for (k, n) in want {
        if have.get(k) != Some(n) {
            off += 1;
        }
    }
    for k in have.keys() {
        if !want.contains_key(k) {
            off += 1;
        }
    }
    off
}
