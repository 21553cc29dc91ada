//! The audit log: who changed what, when, written in the same transaction as the change.

use crate::{get_i64, get_str, Actor, ImportSummary, Store, StoreError};
use serde::Serialize;
use sqlx::{Any, Transaction};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub limit: i64,
}

pub(crate) async fn record(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    record_on(tx, actor, action, entity, entity_id, detail).await
}

/// Records an import batch and its audit entry; sets `summary.batch`.
pub(crate) async fn finish_batch(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    source: &str,
    actor: &Actor,
    summary: &mut ImportSummary,
    at: i64,
) -> Result<i64, StoreError> {
    let id = match summary.batch {
        Some(id) => {
            sqlx::query("UPDATE import_batches SET created = $1, updated = $2, unchanged = $3, rejected = $4 WHERE id = $5")
                .bind(summary.created as i64)
                .bind(summary.updated as i64)
                .bind(summary.unchanged as i64)
                .bind(summary.rejected.len() as i64)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            id
        }
        None => start_batch(tx, kind, source, actor, at, summary).await?,
    };
    summary.batch = Some(id);
    record(
        tx,
        actor,
        "import",
        kind,
        &id.to_string(),
        serde_json::json!({
            "source": source,
            "created": summary.created,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "rejected": summary.rejected.len(),
        }),
    )
    .await?;
    Ok(id)
}

pub(crate) async fn start_batch(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    source: &str,
    actor: &Actor,
    at: i64,
    summary: &ImportSummary,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO import_batches (kind, source, actor, at, created, updated, unchanged, rejected) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(kind)
    .bind(source)
    .bind(&actor.0)
    .bind(at)
    .bind(summary.created as i64)
    .bind(summary.updated as i64)
    .bind(summary.unchanged as i64)
    .bind(summary.rejected.len() as i64)
    .fetch_one(&mut **tx)
    .await?;
    get_i64(&row, "id")
}

impl Store {
    /// Audit entries, newest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = if filter.limit <= 0 {
            100
        } else {
            filter.limit.min(10_000)
        };
        let rows = sqlx::query(
            "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log
             WHERE ($1 = '' OR entity = $1) AND ($2 = '' OR entity_id = $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(filter.entity.clone().unwrap_or_default())
        .bind(filter.entity_id.clone().unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: get_i64(r, "id")?,
                    at: get_i64(r, "at")?,
                    actor: get_str(r, "actor")?,
                    action: get_str(r, "action")?,
                    entity: get_str(r, "entity")?,
                    entity_id: get_str(r, "entity_id")?,
                    detail: serde_json::from_str(&get_str(r, "detail")?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}

/// Like [`record`], on a connection already inside a transaction. The entry
/// joins the hash chain: `audit_head` is updated first, which makes concurrent
/// writers take turns, then the entry is written with the previous hash and its own.
pub(crate) async fn record_on(
    conn: &mut sqlx::AnyConnection,
    actor: &Actor,
    action: &str,
    entity: &str,
    entity_id: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut *conn)
        .await?;
    let seq = get_i64(&head, "seq")?;
    let prev = get_str(&head, "hash")?;
    let at = crate::now();
    let detail = detail.to_string();
    let hash = crate::audit_chain::link_hash(&crate::audit_chain::Link {
        seq,
        prev_hash: &prev,
        at,
        actor: &actor.0,
        action,
        entity,
        entity_id,
        detail: &detail,
    });
    sqlx::query("INSERT INTO audit_log (at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(at)
        .bind(&actor.0)
        .bind(action)
        .bind(entity)
        .bind(entity_id)
        .bind(detail)
        .bind(seq)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends an import: with refused rows and no `skip_bad_rows`, rolls back at once
/// (a dropped transaction would keep its write lock until the pool reuses the
/// connection) and reports them; otherwise records the batch and commits.
pub(crate) async fn conclude_import(
    mut tx: Transaction<'_, Any>,
    kind: &str,
    source: &str,
    actor: &Actor,
    mut summary: ImportSummary,
    rejected: Vec<crate::RowRejection>,
    mode: crate::ImportMode,
) -> Result<ImportSummary, StoreError> {
    if !rejected.is_empty() && !mode.skip_bad_rows {
        tx.rollback().await?;
        return Err(StoreError::Rejected(rejected.len(), rejected));
    }
    summary.rejected = rejected;
    finish_batch(&mut tx, kind, source, actor, &mut summary, crate::now()).await?;
    tx.commit().await?;
    Ok(summary)
}

/// One entry for [`record_many`]: action, entity, entity id, detail.
pub(crate) struct Pending {
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: String,
    pub detail: serde_json::Value,
}

/// Rows per multi-row INSERT into the audit log (9 values each).
const AUDIT_ROWS_PER_INSERT: usize = 200;

/// [`record_on`] for many entries at once, in their order: the head moves by
/// their number in one update (so concurrent writers still take turns), the
/// entries are chained one after another from the old head and written in
/// multi-row INSERTs, and the head takes the last hash. The chain is the same
/// as writing them one by one.
pub(crate) async fn record_many(
    tx: &mut Transaction<'_, Any>,
    actor: &Actor,
    entries: &[Pending],
) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len() as i64;
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(&mut **tx)
        .await?;
    let first_seq = get_i64(&head, "seq")? - n + 1;
    let mut prev = get_str(&head, "hash")?;
    let at = crate::now();
    let mut rows = Vec::with_capacity(entries.len());
    for (k, e) in entries.iter().enumerate() {
        let seq = first_seq + k as i64;
        let detail = e.detail.to_string();
        let hash = crate::audit_chain::link_hash(&crate::audit_chain::Link {
            seq,
            prev_hash: &prev,
            at,
            actor: &actor.0,
            action: e.action,
            entity: e.entity,
            entity_id: &e.entity_id,
            detail: &detail,
        });
        rows.push((seq, prev, detail, hash.clone()));
        prev = hash;
    }
    for (chunk, rows) in entries
        .chunks(AUDIT_ROWS_PER_INSERT)
        .zip(rows.chunks(AUDIT_ROWS_PER_INSERT))
    {
        let values = (0..chunk.len())
            .map(|i| format!("({})", crate::placeholders(9 * i + 1, 9)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO audit_log (at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) VALUES {values}");
        let mut q = sqlx::query(&sql);
        for (e, (seq, prev_hash, detail, hash)) in chunk.iter().zip(rows) {
            q = q
                .bind(at)
                .bind(&actor.0)
                .bind(e.action)
                .bind(e.entity)
                .bind(&e.entity_id)
                .bind(detail)
                .bind(*seq)
                .bind(prev_hash)
                .bind(hash);
        }
        q.execute(&mut **tx).await?;
    }
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
