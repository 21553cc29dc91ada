//! The audit log as a hash chain: each record holds its sequence number, the
//! previous record's hash and its own SHA-256 over both and its content, so an
//! edit, an insertion or a removal breaks the chain where it happened.
//!
//! Anyone who knows the algorithm can rebuild a whole forged chain; what
//! protects against that is the head hash printed in published bulletins
//! (`chain_head`): a later rewrite no longer ends in the published hash.

use crate::{get_i64, get_opt_i64, get_opt_str, get_str, Store, StoreError};
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

const PAGE: i64 = 20_000;

impl Store {
    /// The head of the audit chain: its sequence number and hash.
    pub async fn audit_chain_head(&self) -> Result<(i64, String), StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok((get_i64(&row, "seq")?, get_str(&row, "hash")?))
    }

    /// Walks the whole audit log in order and checks every link; reports the
    /// first record that was altered, inserted or removed.
    pub async fn verify_audit_chain(&self) -> Result<ChainReport, StoreError> {
        let (head_seq, head_hash) = self.audit_chain_head().await?;
        let mut report = ChainReport {
            records: 0,
            head_seq,
            head_hash: head_hash.clone(),
            first_break: None,
        };
        let mut expected = 1i64;
        let mut prev = String::new();
        let mut after_id = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT id, seq, at, actor, action, entity, entity_id, detail, prev_hash, hash
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after_id = get_i64(last, "id")?;
            for r in &rows {
                report.records += 1;
                let id = get_i64(r, "id")?;
                let at_break = |kind| {
                    Some(ChainBreak {
                        kind,
                        id: Some(id),
                        expected_seq: expected,
                    })
                };
                let (Some(seq), Some(stored_prev), Some(hash)) = (
                    get_opt_i64(r, "seq")?,
                    get_opt_str(r, "prev_hash")?,
                    get_opt_str(r, "hash")?,
                ) else {
                    report.first_break = at_break(BreakKind::Inserted);
                    return Ok(report);
                };
                if seq < expected {
                    report.first_break = at_break(BreakKind::Inserted);
                    return Ok(report);
                }
                if seq > expected || stored_prev != prev {
                    report.first_break = at_break(BreakKind::Removed);
                    return Ok(report);
                }
                let detail = get_str(r, "detail")?;
                let computed = link_hash(&Link {
                    seq,
                    prev_hash: &stored_prev,
                    at: get_i64(r, "at")?,
                    actor: &get_str(r, "actor")?,
                    action: &get_str(r, "action")?,
                    entity: &get_str(r, "entity")?,
                    entity_id: &get_str(r, "entity_id")?,
                    detail: &detail,
                });
                if computed != hash {
                    report.first_break = at_break(BreakKind::Altered);
                    return Ok(report);
                }
                prev = hash;
                expected += 1;
            }
        }
        if expected - 1 != head_seq || prev != head_hash {
            report.first_break = Some(ChainBreak {
                kind: BreakKind::Removed,
                id: None,
                expected_seq: expected,
            });
        }
        Ok(report)
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
