//! The command structure (指挥体系) and what it is answerable for: commands per
//! region, their working groups and teams (专项工作组), officials with
//! effective dates, tasks and their responsible units, the overdue list with
//! escalation, leaks, the loop's counts, and the accountability record (问责).

use crate::{audit, get_i64, get_opt_i64, get_opt_str, get_str, Actor, Store, StoreError};
use closedloop_domain::lifecycle::ManagedCategory;
use closedloop_domain::profile::Profile;
use closedloop_domain::protocol::EscalationLevel;
use closedloop_domain::region::RegionTree;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

closedloop_domain::vocabulary!(
    /// What a working group does: tasks go to the unit of their function.
    UnitFunction {
        Command = "command", "指挥部", "Command";
        Investigation = "investigation", "流调溯源组", "Investigation and tracing";
        Transfer = "transfer", "转运组", "Transfer";
        Quarantine = "quarantine", "隔离管控组", "Quarantine management";
        Treatment = "treatment", "医疗救治组", "Medical treatment";
        Testing = "testing", "核酸检测组", "Testing";
        Disinfection = "disinfection", "消杀组", "Disinfection";
        Supplies = "supplies", "物资保障组", "Supplies";
        Information = "information", "信息发布组", "Information release";
    }
);

closedloop_domain::vocabulary!(
    /// A step of the loop that becomes a task.
    TaskKind {
        Place = "place", "隔离管控", "Bring under quarantine";
        Admit = "admit", "转运收治", "Transfer to hospital";
        InvestigateCore = "investigate_core", "核心信息流调", "Core investigation";
        InvestigateFull = "investigate_full", "完整流调", "Full investigation";
        Disinfect = "disinfect", "终末消毒", "Terminal disinfection";
        Sample = "sample", "核酸采样", "Sample";
        AssessRelease = "assess_release", "解除评估", "Assess release";
    }
);

closedloop_domain::vocabulary!(
    /// A post in a unit.
    Role {
        Head = "head", "负责人", "Head";
        Assignee = "assignee", "责任人", "Assignee";
    }
);

closedloop_domain::vocabulary!(
    /// A hole in the loop.
    LeakKind {
        NotUnderControl = "not_under_control", "超时未管控", "Not under control after the deadline";
        NotAdmitted = "not_admitted", "超时未收治", "Not admitted after the deadline";
        Lost = "lost", "失联", "Lost";
        ReleasedWithoutTests = "released_without_tests", "未检测即解除", "Released without the required tests";
        TestMissed = "test_missed", "漏检", "Test missed";
    }
);

impl TaskKind {
    pub fn function(self) -> UnitFunction {
        match self {
            TaskKind::Place | TaskKind::AssessRelease => UnitFunction::Quarantine,
            TaskKind::Admit => UnitFunction::Transfer,
            TaskKind::InvestigateCore | TaskKind::InvestigateFull => UnitFunction::Investigation,
            TaskKind::Disinfect => UnitFunction::Disinfection,
            TaskKind::Sample => UnitFunction::Testing,
        }
    }
}

/// A task's subject as people read it: the label of the category a place or
/// assess-release task is about, else as stored (a case id, `venue:` and a
/// venue id).
pub fn task_subject_label(raw: &str, lang: closedloop_domain::Lang) -> String {
    ManagedCategory::parse(raw)
        .map(|c| c.label(lang).to_string())
        .unwrap_or_else(|_| raw.to_string())
}

/// A task's status as people read it.
pub fn task_status_label(status: &str, lang: closedloop_domain::Lang) -> &str {
    match status {
        "open" => lang.pick("未完成", "Open"),
        "done" => lang.pick("已完成", "Done"),
        "cancelled" => lang.pick("已取消", "Cancelled"),
        other => other,
    }
}

/// A task with its responsible unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRecord {
    pub id: i64,
    pub kind: TaskKind,
    pub managed_id: Option<i64>,
    pub person_id: Option<i64>,
    pub subject: String,
    pub region_code: Option<String>,
    pub unit_id: Option<i64>,
    pub priority: i64,
    pub created_at: i64,
    pub due_at: i64,
    pub status: String,
    pub done_at: Option<i64>,
    pub reply: String,
}

/// Filters of the task list; every one is applied in SQL, before the limit.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only this region and below.
    pub scope: Option<String>,
    /// Only tasks about a managed record placed in this facility: a facility
    /// operator's jurisdiction, on top of `scope` (see `store::access`).
    pub facility: Option<String>,
    pub status: Option<String>,
    /// Only this unit's tasks.
    pub unit: Option<i64>,
    /// Only tasks open and past due at this instant (epoch seconds).
    pub overdue_at: Option<i64>,
    /// Most tasks returned, soonest due first; 0 or less is 1,000.
    pub limit: i64,
}

/// An overdue task and who hears of it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overdue {
    pub task: TaskRecord,
    pub unit: Option<String>,
    pub minutes_late: i64,
    pub level: EscalationLevel,
    /// The official (or command) the escalation has reached.
    pub notify: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    pub kind: LeakKind,
    pub managed_id: Option<i64>,
    pub person: String,
    pub category: Option<ManagedCategory>,
    pub region_code: Option<String>,
    /// The deadline or day missed, or when the person was lost (epoch seconds or date).
    pub since: String,
}

/// Counts of the loop in a jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoopStatus {
    pub scope: Option<String>,
    pub by_category: BTreeMap<String, BTreeMap<String, i64>>,
    pub overdue_tasks: i64,
    pub leaks: BTreeMap<String, i64>,
}

/// One lapse (失职) for the accountability record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lapse {
    pub step: String,
    pub managed_id: Option<i64>,
    /// Pseudonymised person.
    pub person: String,
    pub region_code: Option<String>,
    pub unit: String,
    /// The official responsible at the deadline (assignee, else unit head).
    pub official: String,
    pub due_at: i64,
    pub done_at: Option<i64>,
    pub minutes_late: i64,
    /// Contacts the person exposed while uncontrolled, and how many of them became cases.
    pub contacts_exposed: i64,
    pub cases_linked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LapseGroup {
    pub name: String,
    pub lapses: i64,
    pub minutes_late: i64,
    pub cases_linked: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accountability {
    pub from: i64,
    pub to: i64,
    pub lapses: Vec<Lapse>,
    pub by_unit: Vec<LapseGroup>,
    pub by_official: Vec<LapseGroup>,
}

/// A pseudonym for a person in reports that leave the command: stable, not
/// reversible without the registry (it hashes the id and the document).
pub fn pseudonym(person_id: i64, document: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("closedloop-person:{person_id}:{document}"));
    format!("P-{}", &hex::encode(h.finalize())[..10])
}

#[derive(Debug, Clone)]
struct Unit {
    id: i64,
    command_id: i64,
    function: String,
    name: String,
}

#[derive(Debug, Clone)]
struct Command {
    name: String,
    region_code: String,
    parent_id: Option<i64>,
}

#[derive(Debug, Clone)]
struct Appointment {
    unit_id: i64,
    role: String,
    official: String,
    from: i64,
    to: Option<i64>,
}

/// The command structure loaded once per report: small tables.
pub(crate) struct Structure {
    commands: HashMap<i64, Command>,
    units: HashMap<i64, Unit>,
    appointments: Vec<Appointment>,
}

impl Structure {
    /// The official holding `role` in `unit` at `at`.
    fn official(&self, unit: i64, role: Role, at: i64) -> Option<&str> {
        self.appointments
            .iter()
            .filter(|a| {
                a.unit_id == unit
                    && a.role == role.as_str()
                    && a.from <= at
                    && a.to.is_none_or(|t| at < t)
            })
            .max_by_key(|a| a.from)
            .map(|a| a.official.as_str())
    }

    /// Who hears of a task of `unit` overdue to `level` at `at`: the
    /// assignee or the unit head in office then (the unit's name when the
    /// post is empty), or the command one level above the unit's own.
    pub(crate) fn who_hears(&self, unit: Option<i64>, level: EscalationLevel, at: i64) -> String {
        let Some(u) = unit.and_then(|u| self.units.get(&u)) else {
            return "-".to_string();
        };
        match level {
            EscalationLevel::Assignee => self
                .official(u.id, Role::Assignee, at)
                .unwrap_or(&u.name)
                .to_string(),
            EscalationLevel::UnitHead => self
                .official(u.id, Role::Head, at)
                .unwrap_or(&u.name)
                .to_string(),
            EscalationLevel::CommandAbove => {
                let own = self.commands.get(&u.command_id);
                own.and_then(|c| c.parent_id)
                    .and_then(|p| self.commands.get(&p))
                    .or(own)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| "-".into())
            }
        }
    }

    fn responsible(&self, unit: Option<i64>, at: i64) -> (String, String) {
        let Some(u) = unit.and_then(|u| self.units.get(&u)) else {
            return ("-".into(), "-".into());
        };
        let official = self
            .official(u.id, Role::Assignee, at)
            .or_else(|| self.official(u.id, Role::Head, at))
            .unwrap_or("-");
        (u.name.clone(), official.to_string())
    }

    /// The unit of `function` in the command nearest above `region`.
    fn unit_for(&self, tree: &RegionTree, region: &str, function: UnitFunction) -> Option<i64> {
        let mut chain: Vec<String> = vec![region.to_string()];
        chain.extend(tree.ancestors(region).map(|r| r.code.clone()));
        for code in chain {
            for u in self.units.values() {
                if u.function == function.as_str()
                    && self
                        .commands
                        .get(&u.command_id)
                        .is_some_and(|c| c.region_code == code)
                {
                    return Some(u.id);
                }
            }
        }
        None
    }
}

/// A row of [`TASK_COLUMNS`], read by position (no column-name lookups: the
/// overdue list reads thousands), with any sqlx driver.
pub(crate) fn task_from_row<'r, R>(r: &'r R) -> Result<TaskRecord, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = r.try_get(1)?;
    Ok(TaskRecord {
        id: r.try_get(0)?,
        kind: crate::decode(&kind, TaskKind::parse)?,
        managed_id: r.try_get(2)?,
        person_id: r.try_get(3)?,
        subject: r.try_get(4)?,
        region_code: r.try_get(5)?,
        unit_id: r.try_get(6)?,
        priority: r.try_get(7)?,
        created_at: r.try_get(8)?,
        due_at: r.try_get(9)?,
        status: r.try_get(10)?,
        done_at: r.try_get(11)?,
        reply: r.try_get(12)?,
    })
}

/// Runs a task query (`$1` = an instant, then text binds) on a pool of the
/// backend's own driver.
pub(crate) async fn fetch_tasks<DB>(
    pool: &sqlx::Pool<DB>,
    sql: &str,
    first: i64,
    binds: &[String],
) -> Result<Vec<TaskRecord>, StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut <DB as sqlx::Database>::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: for<'r> sqlx::Decode<'r, DB>,
    String: for<'r> sqlx::Decode<'r, DB>,
{
    use sqlx::Arguments;
    let mut args = <DB as sqlx::Database>::Arguments::default();
    args.add(first).map_err(sqlx::Error::Encode)?;
    for b in binds {
        args.add(b.clone()).map_err(sqlx::Error::Encode)?;
    }
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query_with::<DB, _>(sql, args)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(task_from_row).collect()
}

/// A row of [`TASK_COLUMNS`] from SQLite's C API: the same checks as
/// [`task_from_row`] (integers and texts where sqlx wants them, NULL only
/// where the record allows it).
fn task_from_stmt(s: &crate::raw_sqlite::Stmt<'_>) -> Result<TaskRecord, StoreError> {
    let int = |col| {
        s.int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("tasks column {col} is NULL")))
    };
    let text = |col| {
        s.text(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("tasks column {col} is NULL")))
    };
    Ok(TaskRecord {
        id: int(0)?,
        kind: crate::decode(text(1)?, TaskKind::parse)?,
        managed_id: s.int(2)?,
        person_id: s.int(3)?,
        subject: text(4)?.to_string(),
        region_code: s.text(5)?.map(str::to_string),
        unit_id: s.int(6)?,
        priority: int(7)?,
        created_at: int(8)?,
        due_at: int(9)?,
        status: text(10)?.to_string(),
        done_at: s.int(11)?,
        reply: text(12)?.to_string(),
    })
}

/// Runs a task query (`$1` = an instant, then text binds `$2`, …) on a
/// connection of sqlx's SQLite pool through the C API: one statement stepped
/// in place on this thread (sqlx's driver hands each row over from its worker
/// thread and copies every value; 5,000 rows cost more in that than in SQLite).
async fn fetch_tasks_sqlite(
    pool: &sqlx::SqlitePool,
    sql: &str,
    first: i64,
    binds: &[String],
) -> Result<Vec<TaskRecord>, StoreError> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    let mut stmt = crate::raw_sqlite::Stmt::prepare(&mut handle, sql)?;
    stmt.bind_int("$1", first)?;
    for (i, b) in binds.iter().enumerate() {
        stmt.bind_text(&format!("${}", i + 2), b)?;
    }
    let mut out = Vec::new();
    while stmt.step()? {
        out.push(task_from_stmt(&stmt)?);
    }
    Ok(out)
}

pub(crate) const TASK_COLUMNS: &str = "t.id, t.kind, t.managed_id, t.person_id, t.subject, t.region_code, t.unit_id, t.priority, t.created_at, t.due_at, t.status, t.done_at, t.reply";

/// The overdue list's query (`$1` = now) and its binds: open tasks past due
/// in the area, soonest due first. The task row names its person
/// (migration 0015), so the list reads no managed record: with the person
/// read through `managed` by key, four fifths of the buffers PostgreSQL
/// visited for 5,000 overdue tasks at 1M were `managed`'s index and heap
/// (and with a join, once `managed` was analysed, it chose a hash join over
/// all of it: 60–290 ms).
fn overdue_sql(area: LoopScope<'_>, facility: Option<&str>) -> (String, Vec<String>) {
    let (cte, mut cond, mut binds) = area.sql("t.region_code", 2);
    if let Some(f) = facility {
        binds.push(f.to_string());
        cond.push_str(&in_facility("t.managed_id", binds.len() + 1));
    }
    let sql = format!(
        "{cte}SELECT {TASK_COLUMNS}
         FROM tasks t WHERE t.status = 'open' AND t.due_at < $1{cond} ORDER BY t.due_at, t.id"
    );
    (sql, binds)
}

/// ` AND col IN (…)`, `col` a managed record's id, for the records placed in
/// the facility bound at `$n`: a task, test or managed record is in a
/// facility's scope when its managed record is placed there (as
/// `access::managed_in`). Read from `managed_facility_state` (migration 0009),
/// led by the facility.
pub(crate) fn in_facility(col: &str, n: usize) -> String {
    format!(" AND {col} IN (SELECT fm.id FROM managed fm WHERE fm.facility_id = ${n})")
}

/// The rung each overdue task has reached at `now` and who hears of it.
/// Everyone is named at the same instant, so each (unit, rung) is looked up
/// once, not once per task.
fn escalate(
    structure: &Structure,
    profile: &Profile,
    now: i64,
    tasks: Vec<TaskRecord>,
) -> Vec<Overdue> {
    let mut heard: HashMap<(Option<i64>, EscalationLevel), String> = HashMap::new();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let minutes_late = (now - task.due_at) / 60;
        let Some(level) = profile.escalation.level(minutes_late) else {
            continue;
        };
        let unit = task.unit_id.and_then(|u| structure.units.get(&u));
        let notify = heard
            .entry((task.unit_id, level))
            .or_insert_with(|| structure.who_hears(task.unit_id, level, now))
            .clone();
        out.push(Overdue {
            unit: unit.map(|u| u.name.clone()),
            task,
            minutes_late,
            level,
            notify,
        });
    }
    out
}

/// Where a count is taken: everywhere, a region and everything below it, or
/// a list of region codes (a viewer's jurisdiction).
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoopScope<'a> {
    All,
    Subtree(&'a str),
    Regions(&'a [String]),
}

impl<'a> LoopScope<'a> {
    /// A region and everything below it; `None` is everywhere.
    pub(crate) fn subtree(scope: Option<&'a str>) -> Self {
        scope.map_or(LoopScope::All, LoopScope::Subtree)
    }

    /// A jurisdiction given as its region codes; `None` is everywhere.
    pub(crate) fn regions(regions: Option<&'a [String]>) -> Self {
        regions.map_or(LoopScope::All, LoopScope::Regions)
    }

    /// A `WITH RECURSIVE` prefix, an ` AND col IN (…)` condition and their
    /// binds, numbered from `$first`. The column is compared as an expression
    /// (`col || ''`), so that no planner walks an index on the region (every
    /// record of a province) instead of the narrow partial indexes.
    pub(crate) fn sql(&self, col: &str, first: usize) -> (String, String, Vec<String>) {
        match self {
            LoopScope::All => (String::new(), String::new(), Vec::new()),
            LoopScope::Subtree(code) => (
                format!(
                    "WITH RECURSIVE sub(code) AS (SELECT code FROM regions WHERE code = ${first}
                     UNION ALL SELECT r.code FROM regions r JOIN sub ON r.parent_code = sub.code) "
                ),
                format!(" AND ({col} || '') IN (SELECT code FROM sub)"),
                vec![code.to_string()],
            ),
            LoopScope::Regions([]) => (String::new(), " AND 1 = 0".into(), Vec::new()),
            LoopScope::Regions(codes) => (
                String::new(),
                format!(
                    " AND ({col} || '') IN ({})",
                    crate::placeholders(first, codes.len())
                ),
                codes.to_vec(),
            ),
        }
    }

    /// [`LoopScope::sql`] on a managed record's columns (`prefix` names its
    /// table, as `m.`), and for a facility operator the facility too: the
    /// binds are the region codes, then the facility.
    pub(crate) fn managed_sql(
        &self,
        prefix: &str,
        facility: Option<&str>,
        first: usize,
    ) -> (String, String, Vec<String>) {
        let (cte, mut cond, mut binds) = self.sql(&format!("{prefix}region_code"), first);
        if let Some(f) = facility {
            binds.push(f.to_string());
            cond.push_str(&format!(
                " AND {prefix}facility_id = ${}",
                first + binds.len() - 1
            ));
        }
        (cte, cond, binds)
    }
}

fn within(tree: &RegionTree, code: Option<&str>, scope: Option<&str>) -> bool {
    match (scope, code) {
        (None, _) => true,
        (Some(s), Some(c)) => tree.is_within(c, s),
        (Some(_), None) => false,
    }
}

impl Store {
    /// The region tree when a scope needs it; without a scope nothing is filtered.
    async fn scope_tree(&self, scope: Option<&str>) -> Result<RegionTree, StoreError> {
        match scope {
            Some(_) => self.region_tree().await,
            None => Ok(RegionTree::default()),
        }
    }

    pub(crate) async fn structure(&self) -> Result<Structure, StoreError> {
        let mut s = Structure {
            commands: HashMap::new(),
            units: HashMap::new(),
            appointments: Vec::new(),
        };
        for r in sqlx::query("SELECT id, name, region_code, parent_id FROM commands")
            .fetch_all(&self.pool)
            .await?
        {
            s.commands.insert(
                get_i64(&r, "id")?,
                Command {
                    name: get_str(&r, "name")?,
                    region_code: get_str(&r, "region_code")?,
                    parent_id: get_opt_i64(&r, "parent_id")?,
                },
            );
        }
        for r in sqlx::query("SELECT id, command_id, function, name FROM units")
            .fetch_all(&self.pool)
            .await?
        {
            let id = get_i64(&r, "id")?;
            s.units.insert(
                id,
                Unit {
                    id,
                    command_id: get_i64(&r, "command_id")?,
                    function: get_str(&r, "function")?,
                    name: get_str(&r, "name")?,
                },
            );
        }
        for r in
            sqlx::query("SELECT unit_id, role, official, valid_from, valid_to FROM appointments")
                .fetch_all(&self.pool)
                .await?
        {
            s.appointments.push(Appointment {
                unit_id: get_i64(&r, "unit_id")?,
                role: get_str(&r, "role")?,
                official: get_str(&r, "official")?,
                from: get_i64(&r, "valid_from")?,
                to: get_opt_i64(&r, "valid_to")?,
            });
        }
        Ok(s)
    }

    /// Adds the command of a region, below the command of `parent_region` (audited).
    pub async fn add_command(
        &self,
        region_code: &str,
        name: &str,
        parent_region: Option<&str>,
        actor: &Actor,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (parent, depth) = match parent_region {
            Some(p) => {
                let row = sqlx::query("SELECT id, depth FROM commands WHERE region_code = $1")
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "command",
                        id: p.to_string(),
                    })?;
                (Some(get_i64(&row, "id")?), get_i64(&row, "depth")? + 1)
            }
            None => (None, 0),
        };
        let row = sqlx::query("INSERT INTO commands (name, region_code, depth, parent_id) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(name)
            .bind(region_code)
            .bind(depth)
            .bind(parent)
            .fetch_one(&mut *tx)
            .await?;
        let id = get_i64(&row, "id")?;
        audit::record(&mut tx, actor, "create", "command", &id.to_string(), serde_json::json!({"after": {"name": name, "region_code": region_code, "parent": parent}})).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a working group or team to the command of `region_code` (audited).
    pub async fn add_unit(
        &self,
        region_code: &str,
        function: UnitFunction,
        name: &str,
        actor: &Actor,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("INSERT INTO units (command_id, function, name) SELECT id, $1, $2 FROM commands WHERE region_code = $3 RETURNING id")
            .bind(function.as_str())
            .bind(name)
            .bind(region_code)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "command",
                id: region_code.to_string(),
            })?;
        let id = get_i64(&row, "id")?;
        audit::record(&mut tx, actor, "create", "unit", &id.to_string(), serde_json::json!({"after": {"function": function, "name": name, "region_code": region_code}})).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Appoints `official` to `role` in a unit from `from`: whoever held the
    /// post is relieved at that instant, so the record shows who was
    /// responsible at each moment (audited).
    pub async fn appoint(
        &self,
        unit_id: i64,
        role: Role,
        official: &str,
        from: i64,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let before = sqlx::query("SELECT official FROM appointments WHERE unit_id = $1 AND role = $2 AND valid_to IS NULL AND valid_from <= $3")
            .bind(unit_id)
            .bind(role.as_str())
            .bind(from)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| get_str(&r, "official"))
            .transpose()?;
        sqlx::query("UPDATE appointments SET valid_to = $1 WHERE unit_id = $2 AND role = $3 AND valid_to IS NULL AND valid_from <= $1")
            .bind(from)
            .bind(unit_id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO appointments (unit_id, role, official, valid_from) VALUES ($1, $2, $3, $4)")
            .bind(unit_id)
            .bind(role.as_str())
            .bind(official)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            actor,
            "appoint",
            "unit",
            &unit_id.to_string(),
            serde_json::json!({"role": role, "before": before, "after": official, "from": from}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives every task without a unit the unit of its function in the command
    /// nearest above its region: one UPDATE per (region, kind).
    pub async fn assign_task_units(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = self.assign_task_units_in(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// [`Store::assign_task_units`] inside the transaction that created the
    /// tasks, so that no task is ever stored without its responsible unit.
    pub(crate) async fn assign_task_units_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<u64, StoreError> {
        let structure = self.structure().await?;
        if structure.units.is_empty() {
            return Ok(0);
        }
        let tree = self.region_tree().await?;
        let pending = sqlx::query("SELECT DISTINCT region_code, kind FROM tasks WHERE unit_id IS NULL AND region_code IS NOT NULL")
            .fetch_all(&mut **tx)
            .await?;
        let mut n = 0;
        for r in &pending {
            let region = get_str(r, "region_code")?;
            let kind = crate::decode(&get_str(r, "kind")?, TaskKind::parse)?;
            if let Some(unit) = structure.unit_for(&tree, &region, kind.function()) {
                n += sqlx::query("UPDATE tasks SET unit_id = $1 WHERE unit_id IS NULL AND region_code = $2 AND kind = $3")
                    .bind(unit)
                    .bind(&region)
                    .bind(kind.as_str())
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
            }
        }
        Ok(n)
    }

    /// Tasks matching the filter, soonest due first (then by id), up to its
    /// limit: every condition is in the statement, so a filter finds tasks
    /// however far down the list they are. Read by [`Store::read_tasks`].
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError> {
        let limit = if filter.limit <= 0 {
            1000
        } else {
            filter.limit
        };
        let area = LoopScope::subtree(filter.scope.as_deref());
        let (cte, mut cond, mut binds) = area.sql("t.region_code", 2);
        // `$1` is the instant the overdue filter judges at; without it, the
        // greatest instant, which no due time reaches (the reader always
        // binds `$1`).
        let first = match filter.overdue_at {
            Some(at) => {
                cond.push_str(" AND t.status = 'open'");
                at
            }
            None => i64::MAX,
        };
        if let Some(status) = &filter.status {
            binds.push(status.clone());
            cond.push_str(&format!(" AND t.status = ${}", binds.len() + 1));
        }
        if let Some(f) = &filter.facility {
            binds.push(f.clone());
            cond.push_str(&in_facility("t.managed_id", binds.len() + 1));
        }
        if let Some(unit) = filter.unit {
            // An integer, written in the statement: the reader binds texts
            // after `$1`, and PostgreSQL compares no text with a BIGINT.
            cond.push_str(&format!(" AND t.unit_id = {unit}"));
        }
        let sql = format!(
            "{cte}SELECT {TASK_COLUMNS} FROM tasks t
             WHERE t.due_at < $1{cond} ORDER BY t.due_at, t.id LIMIT {limit}"
        );
        self.read_tasks(&sql, first, &binds).await
    }

    /// Marks a task done with a reply (audited).
    pub async fn complete_task(
        &self,
        id: i64,
        reply: &str,
        at: i64,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE tasks SET status = 'done', done_at = $1, reply = $2 WHERE id = $3 AND status = 'open'")
            .bind(at)
            .bind(reply)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Err(StoreError::NotFound {
                entity: "open task",
                id: id.to_string(),
            });
        }
        audit::record(&mut tx, actor, "complete", "task", &id.to_string(), serde_json::json!({"before": {"status": "open"}, "after": {"status": "done", "reply": reply, "at": at}})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A task query of thousands of rows (`$1` = an instant, then text binds)
    /// through the backend's own reader: `Any` converts every value of every
    /// row. SQLite through its C API on the native pool (memory-mapped reads),
    /// PostgreSQL through sqlx's own driver.
    pub(crate) async fn read_tasks(
        &self,
        sql: &str,
        first: i64,
        binds: &[String],
    ) -> Result<Vec<TaskRecord>, StoreError> {
        if self.backend == crate::Backend::Sqlite && crate::sqlite_path(&self.url).is_none() {
            // In memory: only the `Any` pool's connection sees that database.
            return fetch_tasks(&self.pool, sql, first, binds).await;
        }
        match self.native().await? {
            crate::Native::Postgres(pool) => fetch_tasks(pool, sql, first, binds).await,
            crate::Native::Sqlite(pool) => fetch_tasks_sqlite(pool, sql, first, binds).await,
        }
    }

    /// Open tasks past their due time at `now`, with the rung of the
    /// profile's escalation chain each has reached and who hears of it; in
    /// `scope` (a region and everything below it) when given.
    pub async fn overdue(
        &self,
        profile: &Profile,
        now: i64,
        scope: Option<&str>,
    ) -> Result<Vec<Overdue>, StoreError> {
        self.overdue_within(profile, now, scope, None).await
    }

    /// [`Store::overdue`] of the tasks about records placed in `facility`
    /// when given (a facility operator's jurisdiction, on top of `scope`).
    pub async fn overdue_within(
        &self,
        profile: &Profile,
        now: i64,
        scope: Option<&str>,
        facility: Option<&str>,
    ) -> Result<Vec<Overdue>, StoreError> {
        let area = LoopScope::subtree(scope);
        self.overdue_in(profile, now, area, facility).await
    }

    /// [`Store::overdue`] for a jurisdiction given as its region codes (the
    /// server's `Viewer::region_scope`); `None` is everywhere.
    pub async fn overdue_for(
        &self,
        profile: &Profile,
        now: i64,
        regions: Option<&[String]>,
        facility: Option<&str>,
    ) -> Result<Vec<Overdue>, StoreError> {
        let area = LoopScope::regions(regions);
        self.overdue_in(profile, now, area, facility).await
    }

    /// Reads the open tasks past due through the partial index on open tasks
    /// by due time, the scope applied in SQL.
    async fn overdue_in(
        &self,
        profile: &Profile,
        now: i64,
        area: LoopScope<'_>,
        facility: Option<&str>,
    ) -> Result<Vec<Overdue>, StoreError> {
        let structure = self.structure().await?;
        let (sql, binds) = overdue_sql(area, facility);
        let tasks = self.read_tasks(&sql, now, &binds).await?;
        Ok(escalate(&structure, profile, now, tasks))
    }

    /// Holes in the loop at `now` (`today` in the command's zone), in
    /// `scope` (a region and everything below it) when given.
    pub async fn leaks(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        scope: Option<&str>,
    ) -> Result<Vec<Leak>, StoreError> {
        self.leaks_within(profile, now, today, scope, None).await
    }

    /// [`Store::leaks`] of the records placed in `facility` when given (a
    /// facility operator's jurisdiction, on top of `scope`); the scope and
    /// the facility are conditions of each query.
    pub async fn leaks_within(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        scope: Option<&str>,
        facility: Option<&str>,
    ) -> Result<Vec<Leak>, StoreError> {
        let area = LoopScope::subtree(scope);
        let scoped = |first: usize| area.managed_sql("m.", facility, first);
        let mut out = Vec::new();
        let mut push = |kind, r: &sqlx::any::AnyRow, since: String| -> Result<(), StoreError> {
            let category = get_opt_str(r, "category")?
                .map(|c| crate::decode(&c, ManagedCategory::parse))
                .transpose()?;
            out.push(Leak {
                kind,
                managed_id: get_opt_i64(r, "managed_id")?,
                person: pseudonym(get_i64(r, "person_id")?, &get_str(r, "document_number")?),
                category,
                region_code: get_opt_str(r, "region_code")?,
                since,
            });
            Ok(())
        };
        // Each kind in its order, ties broken by record (and test), so that
        // a narrower scope lists its leaks in the same order as a wider one.
        let base = "SELECT m.id AS managed_id, m.person_id, p.document_number, m.category, m.region_code, m.control_due, m.state_since FROM managed m JOIN persons p ON p.id = m.person_id";
        let (cte, cond, binds) = scoped(2);
        let sql = format!("{cte}{base} WHERE m.state NOT IN ('released', 'converted_to_case', 'died', 'lost') AND m.controlled_at IS NULL AND m.control_due < $1{cond} ORDER BY m.control_due, m.id");
        let mut q = sqlx::query(&sql).bind(now);
        for b in &binds {
            q = q.bind(b.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let kind = if get_str(&r, "category")? == "case" {
                LeakKind::NotAdmitted
            } else {
                LeakKind::NotUnderControl
            };
            let due = get_i64(&r, "control_due")?;
            push(kind, &r, due.to_string())?;
        }
        let (cte, cond, binds) = scoped(1);
        let sql = format!("{cte}{base} WHERE m.state = 'lost'{cond} ORDER BY m.state_since, m.id");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let since = get_i64(&r, "state_since")?;
            push(LeakKind::Lost, &r, since.to_string())?;
        }
        if profile.release.negative_tests > 0 {
            let (cte, cond, binds) = scoped(2);
            let sql = format!("{cte}{base} WHERE m.category <> 'case' AND m.state = 'released'
                     AND (SELECT COUNT(*) FROM loop_tests t WHERE t.managed_id = m.id AND t.result = 'negative') < $1{cond} ORDER BY m.state_since, m.id");
            let mut q = sqlx::query(&sql).bind(i64::from(profile.release.negative_tests));
            for b in &binds {
                q = q.bind(b.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                let since = get_i64(&r, "state_since")?;
                push(LeakKind::ReleasedWithoutTests, &r, since.to_string())?;
            }
        }
        let (cte, cond, binds) = scoped(2);
        let sql = format!("{cte}SELECT m.id AS managed_id, m.person_id, p.document_number, m.category, m.region_code, t.due_date
                 FROM loop_tests t JOIN managed m ON m.id = t.managed_id JOIN persons p ON p.id = m.person_id
                 WHERE t.sampled_at IS NULL AND t.due_date < $1 AND m.state IN ('under_quarantine', 'home_health_monitoring'){cond} ORDER BY t.due_date, m.id, t.id");
        let mut q = sqlx::query(&sql).bind(today.to_string());
        for b in &binds {
            q = q.bind(b.clone());
        }
        for r in q.fetch_all(&self.pool).await? {
            let due = get_str(&r, "due_date")?;
            push(LeakKind::TestMissed, &r, due)?;
        }
        Ok(out)
    }

    /// Counts per category and state in `scope` (a region and everything
    /// below it), with the overdue tasks and leaks: read from the loop's
    /// counters (`loop_counts`, `loop_due_tests`) and two small index range
    /// counts (open overdue tasks, open records past their control deadline),
    /// the scope walked in SQL. Equal to [`Store::loop_status_by_scan`].
    pub async fn loop_status(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        scope: Option<&str>,
    ) -> Result<LoopStatus, StoreError> {
        self.loop_status_within(profile, now, today, scope, None)
            .await
    }

    /// [`Store::loop_status`] of the records placed in `facility` when given
    /// (a facility operator's jurisdiction, on top of `scope`): those
    /// records and their tasks and tests are counted from the records
    /// themselves, since the counters are kept by region (and a facility's
    /// records are few).
    pub async fn loop_status_within(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        scope: Option<&str>,
        facility: Option<&str>,
    ) -> Result<LoopStatus, StoreError> {
        let area = LoopScope::subtree(scope);
        let mut status = self
            .loop_status_in(profile, now, today, area, facility)
            .await?;
        status.scope = scope.map(str::to_string);
        Ok(status)
    }

    /// [`Store::loop_status`] for a jurisdiction given as its region codes
    /// (the server's `Viewer::region_scope`); `None` is everywhere.
    pub async fn loop_status_for(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        regions: Option<&[String]>,
        facility: Option<&str>,
    ) -> Result<LoopStatus, StoreError> {
        let area = LoopScope::regions(regions);
        self.loop_status_in(profile, now, today, area, facility)
            .await
    }

    async fn loop_status_in(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        area: LoopScope<'_>,
        facility: Option<&str>,
    ) -> Result<LoopStatus, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let needed = i64::from(profile.release.negative_tests);
        let mut by_category: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut leaks: BTreeMap<String, i64> = BTreeMap::new();
        let scoped = |prefix: &str, first: usize| area.managed_sql(prefix, facility, first);
        // Per category, state and number of negatives, summed over the scope:
        // from the counters, or for a facility from its records.
        let (cte, cond, binds) = scoped("", 1);
        let sql = match facility {
            None => format!(
                "{cte}SELECT category, state, negatives, CAST(SUM(n) AS BIGINT) FROM loop_counts WHERE n <> 0{cond} GROUP BY category, state, negatives"
            ),
            Some(_) => format!(
                "{cte}SELECT category, state, negatives, CAST(COUNT(*) AS BIGINT) FROM managed WHERE 1 = 1{cond} GROUP BY category, state, negatives"
            ),
        };
        let mut q = sqlx::query_as::<_, (String, String, i64, i64)>(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        for (category, state, negatives, n) in q.fetch_all(&mut *conn).await? {
            if n == 0 {
                continue;
            }
            if state == "lost" {
                *leaks.entry(LeakKind::Lost.as_str().into()).or_default() += n;
            }
            if state == "released" && category != "case" && negatives < needed {
                *leaks
                    .entry(LeakKind::ReleasedWithoutTests.as_str().into())
                    .or_default() += n;
            }
            *by_category
                .entry(category)
                .or_default()
                .entry(state)
                .or_default() += n;
        }
        by_category.retain(|_, states| {
            states.retain(|_, n| *n != 0);
            !states.is_empty()
        });
        // Open tasks past due (partial index on open tasks by due time).
        let (cte, mut cond, mut binds) = area.sql("region_code", 2);
        if let Some(f) = facility {
            binds.push(f.to_string());
            cond.push_str(&in_facility("managed_id", binds.len() + 1));
        }
        let sql =
            format!("{cte}SELECT COUNT(*) FROM tasks WHERE status = 'open' AND due_at < $1{cond}");
        let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(now);
        for b in &binds {
            q = q.bind(b.clone());
        }
        let (overdue,) = q.fetch_one(&mut *conn).await?;
        // Open records not under control past their deadline (partial index).
        let (cte, cond, binds) = scoped("", 2);
        let sql = format!(
            "{cte}SELECT CAST(CASE WHEN category = 'case' THEN 1 ELSE 0 END AS BIGINT), COUNT(*) FROM managed
             WHERE controlled_at IS NULL AND state NOT IN ('released', 'converted_to_case', 'died', 'lost') AND control_due < $1{cond}
             GROUP BY CASE WHEN category = 'case' THEN 1 ELSE 0 END"
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(&sql).bind(now);
        for b in &binds {
            q = q.bind(b.clone());
        }
        for (is_case, n) in q.fetch_all(&mut *conn).await? {
            let kind = if is_case == 1 {
                LeakKind::NotAdmitted
            } else {
                LeakKind::NotUnderControl
            };
            *leaks.entry(kind.as_str().into()).or_default() += n;
        }
        // Tests due before today and not sampled, of records under quarantine
        // or monitoring: from the counters, or for a facility from its tests.
        let (cte, cond, binds) = scoped("m.", 2);
        let sql = match facility {
            None => format!(
                "{cte}SELECT CAST(SUM(n) AS BIGINT) FROM loop_due_tests m WHERE due_date < $1{cond}"
            ),
            Some(_) => format!(
                "{cte}SELECT CAST(COUNT(*) AS BIGINT) FROM loop_tests t JOIN managed m ON m.id = t.managed_id
                 WHERE t.sampled_at IS NULL AND t.due_date < $1 AND m.state IN ('under_quarantine', 'home_health_monitoring'){cond}"
            ),
        };
        let mut q = sqlx::query_as::<_, (Option<i64>,)>(&sql).bind(today.to_string());
        for b in &binds {
            q = q.bind(b.clone());
        }
        let (missed,) = q.fetch_one(&mut *conn).await?;
        *leaks
            .entry(LeakKind::TestMissed.as_str().into())
            .or_default() += missed.unwrap_or(0);
        if profile.release.negative_tests == 0 {
            leaks.remove(LeakKind::ReleasedWithoutTests.as_str());
        }
        leaks.retain(|_, n| *n > 0);
        Ok(LoopStatus {
            scope: None,
            by_category,
            overdue_tasks: overdue,
            leaks,
        })
    }

    /// Loop status computed by scanning the records, tests and tasks (the
    /// reference [`Store::loop_status`] is checked against; slow at scale).
    pub async fn loop_status_by_scan(
        &self,
        profile: &Profile,
        now: i64,
        today: chrono::NaiveDate,
        scope: Option<&str>,
    ) -> Result<LoopStatus, StoreError> {
        let tree = self.scope_tree(scope).await?;
        let rows = sqlx::query("SELECT region_code, category, state, COUNT(*) AS n FROM managed GROUP BY region_code, category, state")
            .fetch_all(&self.pool)
            .await?;
        let mut by_category: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for r in &rows {
            if within(&tree, get_opt_str(r, "region_code")?.as_deref(), scope) {
                *by_category
                    .entry(get_str(r, "category")?)
                    .or_default()
                    .entry(get_str(r, "state")?)
                    .or_default() += get_i64(r, "n")?;
            }
        }
        // Counts only: grouped by region in SQL, the scope applied to the groups.
        let mut overdue = 0;
        for r in sqlx::query("SELECT region_code, COUNT(*) AS n FROM tasks WHERE status = 'open' AND due_at < $1 GROUP BY region_code")
            .bind(now)
            .fetch_all(&self.pool)
            .await?
        {
            if within(&tree, get_opt_str(&r, "region_code")?.as_deref(), scope) {
                overdue += get_i64(&r, "n")?;
            }
        }
        let mut leaks: BTreeMap<String, i64> = BTreeMap::new();
        let counts: [(LeakKind, String, bool); 5] = [
            (LeakKind::NotAdmitted, "SELECT m.region_code, COUNT(*) AS n FROM managed m WHERE m.category = 'case' AND m.state NOT IN ('released', 'converted_to_case', 'died', 'lost') AND m.controlled_at IS NULL AND m.control_due < $1 GROUP BY m.region_code".into(), true),
            (LeakKind::NotUnderControl, "SELECT m.region_code, COUNT(*) AS n FROM managed m WHERE m.category <> 'case' AND m.state NOT IN ('released', 'converted_to_case', 'died', 'lost') AND m.controlled_at IS NULL AND m.control_due < $1 GROUP BY m.region_code".into(), true),
            (LeakKind::Lost, "SELECT m.region_code, COUNT(*) AS n FROM managed m WHERE m.state = 'lost' GROUP BY m.region_code".into(), false),
            (LeakKind::ReleasedWithoutTests, "SELECT m.region_code, COUNT(*) AS n FROM managed m WHERE m.state = 'released' AND m.category <> 'case'
                AND m.id NOT IN (SELECT t.managed_id FROM loop_tests t WHERE t.result = 'negative' GROUP BY t.managed_id HAVING COUNT(*) >= $1) GROUP BY m.region_code".into(), true),
            (LeakKind::TestMissed, "SELECT m.region_code, COUNT(*) AS n FROM loop_tests t JOIN managed m ON m.id = t.managed_id
                WHERE t.sampled_at IS NULL AND t.due_date < $1 AND m.state IN ('under_quarantine', 'home_health_monitoring') GROUP BY m.region_code".into(), true),
        ];
        for (kind, sql, bound) in counts {
            if kind == LeakKind::ReleasedWithoutTests && profile.release.negative_tests == 0 {
                continue;
            }
            let mut q = sqlx::query(&sql);
            if bound {
                q = match kind {
                    LeakKind::ReleasedWithoutTests => {
                        q.bind(i64::from(profile.release.negative_tests))
                    }
                    LeakKind::TestMissed => q.bind(today.to_string()),
                    _ => q.bind(now),
                };
            }
            for r in q.fetch_all(&self.pool).await? {
                if within(&tree, get_opt_str(&r, "region_code")?.as_deref(), scope) {
                    *leaks.entry(kind.as_str().to_string()).or_default() += get_i64(&r, "n")?;
                }
            }
        }
        leaks.retain(|_, n| *n > 0);
        Ok(LoopStatus {
            scope: scope.map(str::to_string),
            by_category,
            overdue_tasks: overdue,
            leaks,
        })
    }

    /// Every lapse with its deadline in `[from, to)`: a person brought under
    /// control (a case admitted) late or not at all, and tasks done late or
    /// not at all; with the responsible unit and official at the deadline, how
    /// late, and the consequence: contacts the person exposed while
    /// uncontrolled and how many of them became cases. Grouped by unit and official.
    pub async fn accountability(
        &self,
        from: i64,
        to: i64,
        now: i64,
        scope: Option<&str>,
    ) -> Result<Accountability, StoreError> {
        let structure = self.structure().await?;
        let tree = self.scope_tree(scope).await?;
        let mut lapses = Vec::new();
        // Control and admission: the record's own deadline, owned by its place/admit task's unit.
        let rows = sqlx::query(
            "SELECT m.id, m.person_id, p.document_number, m.category, m.region_code, m.control_due, m.controlled_at,
                    (SELECT MIN(t.unit_id) FROM tasks t WHERE t.managed_id = m.id AND t.kind IN ('place', 'admit')) AS unit_id,
                    (SELECT COUNT(*) FROM contacts k WHERE k.via_person = m.person_id AND k.first_exposure >= m.control_due AND k.first_exposure < COALESCE(m.controlled_at, $3)) AS exposed,
                    (SELECT COUNT(*) FROM contacts k WHERE k.via_person = m.person_id AND k.first_exposure >= m.control_due AND k.first_exposure < COALESCE(m.controlled_at, $3)
                        AND (EXISTS (SELECT 1 FROM cases c WHERE c.person_id = k.person_id)
                             OR EXISTS (SELECT 1 FROM managed n WHERE n.person_id = k.person_id AND n.category = 'case'))) AS linked
             FROM managed m JOIN persons p ON p.id = m.person_id
             WHERE m.control_due >= $1 AND m.control_due < $2
               AND ((m.controlled_at IS NULL AND m.control_due < $3 AND m.state NOT IN ('converted_to_case', 'died')) OR m.controlled_at > m.control_due)
             ORDER BY m.control_due, m.id",
        )
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let region = get_opt_str(r, "region_code")?;
            if !within(&tree, region.as_deref(), scope) {
                continue;
            }
            let due = get_i64(r, "control_due")?;
            let done = get_opt_i64(r, "controlled_at")?;
            let (unit, official) = structure.responsible(get_opt_i64(r, "unit_id")?, due);
            let step = if get_str(r, "category")? == "case" {
                TaskKind::Admit
            } else {
                TaskKind::Place
            };
            lapses.push(Lapse {
                step: step.as_str().into(),
                managed_id: Some(get_i64(r, "id")?),
                person: pseudonym(get_i64(r, "person_id")?, &get_str(r, "document_number")?),
                region_code: region,
                unit,
                official,
                due_at: due,
                done_at: done,
                minutes_late: (done.unwrap_or(now) - due) / 60,
                contacts_exposed: get_i64(r, "exposed")?,
                cases_linked: get_i64(r, "linked")?,
            });
        }
        // Other tasks: investigations, disinfection, release assessment.
        let rows = sqlx::query(
            "SELECT t.id, t.kind, t.managed_id, t.unit_id, t.region_code, t.due_at, t.done_at, t.status, t.person_id, p.document_number
             FROM tasks t LEFT JOIN persons p ON p.id = t.person_id
             WHERE t.kind NOT IN ('place', 'admit') AND t.due_at >= $1 AND t.due_at < $2 AND t.status <> 'cancelled'
               AND ((t.done_at IS NULL AND t.due_at < $3) OR t.done_at > t.due_at)
             ORDER BY t.due_at, t.id",
        )
        .bind(from)
        .bind(to)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let region = get_opt_str(r, "region_code")?;
            if !within(&tree, region.as_deref(), scope) {
                continue;
            }
            let due = get_i64(r, "due_at")?;
            let done = get_opt_i64(r, "done_at")?;
            let (unit, official) = structure.responsible(get_opt_i64(r, "unit_id")?, due);
            let person = match (
                get_opt_i64(r, "person_id")?,
                get_opt_str(r, "document_number")?,
            ) {
                (Some(id), Some(doc)) => pseudonym(id, &doc),
                _ => "-".into(),
            };
            lapses.push(Lapse {
                step: get_str(r, "kind")?,
                managed_id: get_opt_i64(r, "managed_id")?,
                person,
                region_code: region,
                unit,
                official,
                due_at: due,
                done_at: done,
                minutes_late: (done.unwrap_or(now) - due) / 60,
                contacts_exposed: 0,
                cases_linked: 0,
            });
        }
        lapses.sort_by_key(|l| (l.due_at, l.managed_id));
        let group = |key: &dyn Fn(&Lapse) -> String| {
            let mut m: BTreeMap<String, LapseGroup> = BTreeMap::new();
            for l in &lapses {
                let name = key(l);
                let g = m.entry(name.clone()).or_insert(LapseGroup {
                    name,
                    lapses: 0,
                    minutes_late: 0,
                    cases_linked: 0,
                });
                g.lapses += 1;
                g.minutes_late += l.minutes_late;
                g.cases_linked += l.cases_linked;
            }
            let mut v: Vec<LapseGroup> = m.into_values().collect();
            v.sort_by(|a, b| b.lapses.cmp(&a.lapses).then(a.name.cmp(&b.name)));
            v
        };
        let by_unit = group(&|l| l.unit.clone());
        let by_official = group(&|l| l.official.clone());
        Ok(Accountability {
            from,
            to,
            lapses,
            by_unit,
            by_official,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use crate::{Actor, ImportMode};
    use closedloop_domain::region::{Region, RegionLevel};

    #[test]
    fn task_subjects_and_statuses_read_in_either_language() {
        use closedloop_domain::Lang;
        let place = task_subject_label("close_contact", Lang::Zh);
        assert_eq!(place, ManagedCategory::CloseContact.label(Lang::Zh));
        assert_ne!(place, task_subject_label("close_contact", Lang::En));
        assert_eq!(task_subject_label("venue:V-17", Lang::En), "venue:V-17");
        for status in ["open", "done", "cancelled"] {
            assert_ne!(task_status_label(status, Lang::Zh), status);
            assert_ne!(task_status_label(status, Lang::En), status);
        }
    }

    fn region(code: &str, parent: Option<&str>, level: RegionLevel) -> (u64, Region) {
        let region = Region {
            code: code.into(),
            parent_code: parent.map(Into::into),
            level,
            name_zh: format!("区域{code}"),
            name_en: String::new(),
            population: 1000,
        };
        (2, region)
    }

    /// The overdue list read through the backend's own reader is the list
    /// read through `Any` (the reference), row for row: order, rung and
    /// who hears, in every scope; with units, appointments changing hands,
    /// tasks without unit, region or record, and texts beyond ASCII.
    #[tokio::test]
    async fn the_overdue_list_is_the_one_read_through_any() {
        for db in TestDatabase::each("overdue_reader").await {
            let s = db.open().await;
            let a = Actor::system();
            let regions = [
                region("220000", None, RegionLevel::Province),
                region("220100", Some("220000"), RegionLevel::City),
                region("220102", Some("220100"), RegionLevel::District),
                region("220200", Some("220000"), RegionLevel::City),
            ];
            s.import_regions(&regions, ImportMode::default(), "t", &a)
                .await
                .unwrap();
            s.add_command("220000", "省指挥部", None, &a).await.unwrap();
            s.add_command("220100", "市指挥部", Some("220000"), &a)
                .await
                .unwrap();
            s.add_command("220102", "区指挥部", Some("220100"), &a)
                .await
                .unwrap();
            let now = 1_648_742_400;
            let q = s
                .add_unit("220102", UnitFunction::Quarantine, "区隔离管控组", &a)
                .await
                .unwrap();
            let t = s
                .add_unit("220100", UnitFunction::Transfer, "市转运组", &a)
                .await
                .unwrap();
            // The head changes an hour before now; the transfer group has no one.
            s.appoint(q, Role::Assignee, "张三", now - 86_400, &a)
                .await
                .unwrap();
            s.appoint(q, Role::Head, "李四", now - 86_400, &a)
                .await
                .unwrap();
            s.appoint(q, Role::Head, "王五", now - 3_600, &a)
                .await
                .unwrap();
            let exec = |sql: String| {
                let pool = s.pool.clone();
                async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
            };
            exec("INSERT INTO persons (document_type, document_number, name, region_code, created_at, updated_at)
                  VALUES ('other', 'A1', '甲', '220102', 0, 0), ('other', 'A2', '乙', '220200', 0, 0)".into()).await;
            exec("INSERT INTO managed (person_id, category, state, region_code, profile, identified_at, control_due, state_since, created_at, updated_at)
                  SELECT id, 'close_contact', 'identified', region_code, 'china-8th@1', 0, 0, 0, 0, 0 FROM persons".into()).await;
            // 60 tasks: due from 10 h before now to 1 h after it, open or done,
            // in three regions or none, with either unit or none, with or without a record.
            let mut values = Vec::new();
            for i in 0..60i64 {
                let due = now - 36_000 + i * 700;
                let status = if i % 7 == 3 { "done" } else { "open" };
                let region = ["'220102'", "'220200'", "'220100'", "NULL"][(i % 4) as usize];
                let unit = [q.to_string(), t.to_string(), "NULL".into()][(i % 3) as usize].clone();
                let (managed, person) = if i % 5 == 0 {
                    ("NULL".into(), "NULL".into())
                } else {
                    let id = format!("(SELECT MIN(id) + {} FROM managed)", i % 2);
                    let person = format!("(SELECT person_id FROM managed WHERE id = {id})");
                    (id, person)
                };
                let kind = if i % 2 == 0 { "place" } else { "admit" };
                values.push(format!(
                    "('{kind}', {managed}, {person}, '任务 {i} “引号”', {region}, {unit}, {p}, {c}, {due}, '{status}', {done}, '{reply}')",
                    p = i % 3,
                    c = due - 3_600,
                    done = if status == "done" { (due + 60).to_string() } else { "NULL".into() },
                    reply = if status == "done" { "已完成" } else { "" },
                ));
            }
            exec(format!(
                "INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, unit_id, priority, created_at, due_at, status, done_at, reply) VALUES {}",
                values.join(", ")
            ))
            .await;
            let profile = Profile::shipped("china-8th").unwrap();
            let structure = s.structure().await.unwrap();
            let codes = vec!["220200".to_string(), "220102".to_string()];
            let areas = [
                LoopScope::All,
                LoopScope::Subtree("220000"),
                LoopScope::Subtree("220100"),
                LoopScope::Subtree("220200"),
                LoopScope::Regions(&codes),
                LoopScope::Regions(&[]),
            ];
            let mut levels = std::collections::BTreeSet::new();
            for area in areas {
                // The list as it was read before (a join, through `Any`, who
                // hears named per task): the reference.
                let (cte, cond, binds) = area.sql("t.region_code", 2);
                let sql = format!(
                    "{cte}SELECT t.id, t.kind, t.managed_id, m.person_id, t.subject, t.region_code, t.unit_id, t.priority, t.created_at, t.due_at, t.status, t.done_at, t.reply
                     FROM tasks t LEFT JOIN managed m ON m.id = t.managed_id
                     WHERE t.status = 'open' AND t.due_at < $1{cond} ORDER BY t.due_at, t.id"
                );
                let mut reference = Vec::new();
                for task in fetch_tasks(&s.pool, &sql, now, &binds).await.unwrap() {
                    let minutes_late = (now - task.due_at) / 60;
                    let Some(level) = profile.escalation.level(minutes_late) else {
                        continue;
                    };
                    let unit = task.unit_id.and_then(|u| structure.units.get(&u));
                    let notify = structure.who_hears(task.unit_id, level, now);
                    reference.push(Overdue {
                        unit: unit.map(|u| u.name.clone()),
                        task,
                        minutes_late,
                        level,
                        notify,
                    });
                }
                let fast = s.overdue_in(&profile, now, area, None).await.unwrap();
                assert_eq!(fast, reference, "{area:?}");
                levels.extend(fast.iter().map(|o| o.level.as_str()));
            }
            // The scenario reaches every rung and names someone at each.
            assert_eq!(levels.len(), 3, "{levels:?}");
            let all = s.overdue(&profile, now, None).await.unwrap();
            assert_eq!(all.len(), 45);
            let notified: std::collections::BTreeSet<_> =
                all.iter().map(|o| o.notify.as_str()).collect();
            for who in ["张三", "王五", "市指挥部", "省指挥部", "市转运组", "-"] {
                assert!(notified.contains(who), "{who} in {notified:?}");
            }
            s.close().await;
            db.cleanup().await;
        }
    }
}
