//! Escalation notices: an overdue task notifies its assignee, then the unit
//! head, then the command one level up, along the profile's chain, and each
//! notice is kept (who heard, when, acknowledged by whom).
//!
//! [`Store::escalate`] is run by `closedloop serve` every minute and by
//! `closedloop tasks escalate`; it adds the notices of the rungs reached since
//! the last run (one per task and level, so a re-run adds nothing), naming the
//! recipient in office when the rung was reached ([`Structure::who_hears`],
//! the same answer as the overdue list's). Reads and acknowledgements are
//! scoped like the overdue list: a region subtree, or the server viewer's
//! region codes; a notice outside the scope is not found.

use crate::command::{LoopScope, TaskKind};
use crate::{audit, get_i64, get_opt_i64, get_opt_str, get_str, Actor, Store, StoreError};
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::EscalationLevel;
use serde::Serialize;
use std::collections::BTreeMap;

/// Rows per multi-row INSERT of notices (9 values each).
const NOTICES_PER_INSERT: usize = 500;

/// A kept escalation notice, with its task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub id: i64,
    pub task_id: i64,
    pub task_kind: TaskKind,
    pub task_subject: String,
    /// open, done or cancelled: the task's status now.
    pub task_status: String,
    pub task_due_at: i64,
    pub managed_id: Option<i64>,
    pub person_id: Option<i64>,
    /// Position in the profile's chain, from 1.
    pub rung: i64,
    pub level: EscalationLevel,
    /// When the task reached the rung (its due time plus the rung's minutes).
    pub reached_at: i64,
    /// The official notified (in office at `reached_at`), else the unit or command.
    pub recipient: String,
    pub recipient_unit_id: Option<i64>,
    pub recipient_unit: Option<String>,
    pub recipient_command_id: Option<i64>,
    pub recipient_command: Option<String>,
    pub region_code: Option<String>,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
}

/// What [`Store::escalate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EscalationSummary {
    /// Notices created by this run.
    pub created: u64,
    /// Of them, per level (wire name).
    pub by_level: BTreeMap<String, u64>,
    /// Ids of the notices created: one contiguous range (`None` when none).
    pub first_id: Option<i64>,
    pub last_id: Option<i64>,
}

/// Which notices to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoticeFilter {
    /// Only those not yet acknowledged.
    pub unacknowledged: bool,
    /// Most notices (default 1,000).
    pub limit: i64,
}

const NOTICE_COLUMNS: &str = "n.id, n.task_id, t.kind, t.subject, t.status, t.due_at, t.managed_id, t.person_id, n.rung, n.level, n.reached_at, n.recipient, n.recipient_unit_id, u.name AS unit_name, n.recipient_command_id, c.name AS command_name, n.region_code, n.created_at, n.acknowledged_at, n.acknowledged_by";

const NOTICE_FROM: &str = "escalation_notices n JOIN tasks t ON t.id = n.task_id
     LEFT JOIN units u ON u.id = n.recipient_unit_id
     LEFT JOIN commands c ON c.id = n.recipient_command_id";

fn notice_from_row(r: &sqlx::any::AnyRow) -> Result<Notice, StoreError> {
    Ok(Notice {
        id: get_i64(r, "id")?,
        task_id: get_i64(r, "task_id")?,
        task_kind: crate::decode(&get_str(r, "kind")?, TaskKind::parse)?,
        task_subject: get_str(r, "subject")?,
        task_status: get_str(r, "status")?,
        task_due_at: get_i64(r, "due_at")?,
        managed_id: get_opt_i64(r, "managed_id")?,
        person_id: get_opt_i64(r, "person_id")?,
        rung: get_i64(r, "rung")?,
        level: crate::decode(&get_str(r, "level")?, EscalationLevel::parse)?,
        reached_at: get_i64(r, "reached_at")?,
        recipient: get_str(r, "recipient")?,
        recipient_unit_id: get_opt_i64(r, "recipient_unit_id")?,
        recipient_unit: get_opt_str(r, "unit_name")?,
        recipient_command_id: get_opt_i64(r, "recipient_command_id")?,
        recipient_command: get_opt_str(r, "command_name")?,
        region_code: get_opt_str(r, "region_code")?,
        created_at: get_i64(r, "created_at")?,
        acknowledged_at: get_opt_i64(r, "acknowledged_at")?,
        acknowledged_by: get_opt_str(r, "acknowledged_by")?,
    })
}

/// A notice about to be written.
struct NewNotice {
    task_id: i64,
    rung: i64,
    level: EscalationLevel,
    reached_at: i64,
    recipient: String,
    unit_id: Option<i64>,
    command_id: Option<i64>,
    region_code: Option<String>,
}

impl Store {
    /// Creates the notices due at `now`: for every open task past its due
    /// time and every rung of `profile.escalation` it has reached, the notice
    /// not yet kept, naming who hears of it as resolved when the rung was
    /// reached (an official replaced since is not named for a rung reached
    /// under the predecessor). A done or cancelled task stops escalating.
    /// Candidates are read per rung in one statement, written in multi-row
    /// INSERTs, with one audit record for the batch in the same transaction
    /// (none when nothing is new, so re-running changes nothing).
    pub async fn escalate(
        &self,
        profile: &Profile,
        now: i64,
        actor: &Actor,
    ) -> Result<EscalationSummary, StoreError> {
        let structure = self.structure().await?;
        let mut tx = self.pool.begin().await?;
        // Takes turns with every audited writer, so a batch's ids are contiguous.
        crate::loop_counts::lock(&mut tx).await?;
        let mut new = Vec::new();
        let chain = &profile.escalation;
        for (i, (level, after)) in chain.chain.iter().zip(&chain.after_minutes).enumerate() {
            let after = 60 * i64::from(*after);
            let rows = sqlx::query(
                "SELECT t.id, t.unit_id, t.due_at, t.region_code, u.command_id, c.parent_id
                 FROM tasks t LEFT JOIN units u ON u.id = t.unit_id LEFT JOIN commands c ON c.id = u.command_id
                 WHERE t.status = 'open' AND t.due_at < $1 AND t.due_at <= $2
                   AND NOT EXISTS (SELECT 1 FROM escalation_notices n WHERE n.task_id = t.id AND n.level = $3)
                 ORDER BY t.id",
            )
            .bind(now)
            .bind(now - after)
            .bind(level.as_str())
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let unit = get_opt_i64(r, "unit_id")?;
                let command = get_opt_i64(r, "command_id")?;
                let reached_at = get_i64(r, "due_at")? + after;
                let (unit_id, command_id) = match level {
                    EscalationLevel::CommandAbove => {
                        (None, get_opt_i64(r, "parent_id")?.or(command))
                    }
                    _ => (unit, command),
                };
                new.push(NewNotice {
                    task_id: get_i64(r, "id")?,
                    rung: i as i64 + 1,
                    level: *level,
                    reached_at,
                    recipient: structure.who_hears(unit, *level, reached_at),
                    unit_id,
                    command_id,
                    region_code: get_opt_str(r, "region_code")?,
                });
            }
        }
        let mut summary = EscalationSummary::default();
        for chunk in new.chunks(NOTICES_PER_INSERT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", crate::placeholders(9 * i + 1, 9)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO escalation_notices (task_id, rung, level, reached_at, recipient, recipient_unit_id, recipient_command_id, region_code, created_at)
                 VALUES {values} ON CONFLICT (task_id, level) DO NOTHING RETURNING id, level"
            );
            let mut q = sqlx::query(&sql);
            for n in chunk {
                q = q
                    .bind(n.task_id)
                    .bind(n.rung)
                    .bind(n.level.as_str())
                    .bind(n.reached_at)
                    .bind(n.recipient.clone())
                    .bind(n.unit_id)
                    .bind(n.command_id)
                    .bind(n.region_code.clone())
                    .bind(now);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let id = get_i64(&r, "id")?;
                summary.created += 1;
                *summary.by_level.entry(get_str(&r, "level")?).or_default() += 1;
                summary.first_id = Some(summary.first_id.map_or(id, |f| f.min(id)));
                summary.last_id = Some(summary.last_id.map_or(id, |l| l.max(id)));
            }
        }
        if summary.created == 0 {
            tx.rollback().await?;
            return Ok(summary);
        }
        // The batch by its id range: the notices are rows of their own, so the
        // record can be checked against them without listing every id.
        audit::record(
            &mut tx,
            actor,
            "escalate",
            "escalation_notice",
            &format!(
                "{}-{}",
                summary.first_id.unwrap_or_default(),
                summary.last_id.unwrap_or_default()
            ),
            serde_json::json!({"at": now, "summary": summary}),
        )
        .await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Kept notices in `scope` (a region and everything below it; `None`
    /// everywhere): those not acknowledged first, then the latest rung reached first.
    pub async fn notices(
        &self,
        scope: Option<&str>,
        filter: &NoticeFilter,
    ) -> Result<Vec<Notice>, StoreError> {
        self.notices_in(LoopScope::subtree(scope), filter, None)
            .await
    }

    /// [`Store::notices`] for a jurisdiction given as its region codes (the
    /// server's `Viewer::region_scope`); `None` is everywhere.
    pub async fn notices_for(
        &self,
        regions: Option<&[String]>,
        filter: &NoticeFilter,
    ) -> Result<Vec<Notice>, StoreError> {
        self.notices_in(LoopScope::regions(regions), filter, None)
            .await
    }

    async fn notices_in(
        &self,
        area: LoopScope<'_>,
        filter: &NoticeFilter,
        only: Option<i64>,
    ) -> Result<Vec<Notice>, StoreError> {
        let limit = if filter.limit <= 0 {
            1000
        } else {
            filter.limit
        };
        let (cte, cond, binds) = area.sql("n.region_code", 3);
        let unack = if filter.unacknowledged {
            " AND n.acknowledged_at IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "{cte}SELECT {NOTICE_COLUMNS} FROM {NOTICE_FROM}
             WHERE ($2 < 0 OR n.id = $2){unack}{cond}
             ORDER BY CASE WHEN n.acknowledged_at IS NULL THEN 0 ELSE 1 END, n.reached_at DESC, n.id DESC
             LIMIT $1"
        );
        let mut q = sqlx::query(&sql).bind(limit).bind(only.unwrap_or(-1));
        for b in binds {
            q = q.bind(b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(notice_from_row)
            .collect()
    }

    /// Acknowledges notice `id` in `scope` (see [`Store::notices`]) at `at`
    /// (audited). A notice outside the scope is not found, like an unknown
    /// one; one already acknowledged stays as it was (no change, no record).
    pub async fn acknowledge_notice(
        &self,
        id: i64,
        scope: Option<&str>,
        at: i64,
        actor: &Actor,
    ) -> Result<Notice, StoreError> {
        self.acknowledge_in(id, LoopScope::subtree(scope), at, actor)
            .await
    }

    /// [`Store::acknowledge_notice`] for a jurisdiction given as its region codes.
    pub async fn acknowledge_notice_for(
        &self,
        id: i64,
        regions: Option<&[String]>,
        at: i64,
        actor: &Actor,
    ) -> Result<Notice, StoreError> {
        self.acknowledge_in(id, LoopScope::regions(regions), at, actor)
            .await
    }

    async fn acknowledge_in(
        &self,
        id: i64,
        area: LoopScope<'_>,
        at: i64,
        actor: &Actor,
    ) -> Result<Notice, StoreError> {
        let not_found = || StoreError::NotFound {
            entity: "escalation notice",
            id: id.to_string(),
        };
        let mut tx = self.pool.begin().await?;
        let (cte, cond, binds) = area.sql("region_code", 4);
        let sql = format!(
            "{cte}UPDATE escalation_notices SET acknowledged_at = $1, acknowledged_by = $2
             WHERE id = $3 AND acknowledged_at IS NULL{cond}"
        );
        let mut q = sqlx::query(&sql).bind(at).bind(&actor.0).bind(id);
        for b in binds {
            q = q.bind(b);
        }
        let changed = q.execute(&mut *tx).await?.rows_affected();
        if changed == 1 {
            audit::record(
                &mut tx,
                actor,
                "acknowledge",
                "escalation_notice",
                &id.to_string(),
                serde_json::json!({"before": {"acknowledged_at": null}, "after": {"acknowledged_at": at, "acknowledged_by": actor.0}}),
            )
            .await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        let filter = NoticeFilter {
            unacknowledged: false,
            limit: 1,
        };
        self.notices_in(area, &filter, Some(id))
            .await?
            .pop()
            .ok_or_else(not_found)
    }
}
