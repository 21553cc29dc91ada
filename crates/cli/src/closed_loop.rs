//! The closed loop on the command line: `loop status|enrol|release|result`,
//! `tasks list|done|escalate|notices|acknowledge`, `transition`,
//! `accountability` and `audit verify`.

use crate::cli::open_store;
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use closedloop_domain::case::Classification;
use closedloop_domain::lifecycle::LoopState;
use closedloop_domain::protocol::EscalationLevel;
use closedloop_domain::time::{day_bounds, format_instant, from_epoch, parse_date, parse_instant};
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::{
    conversion_case_id, Actor, BreakKind, Conversion, Notice, NoticeFilter, Store, TaskFilter,
    TaskKind, TransitionRequest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct LoopArgs {
    #[command(subcommand)]
    pub command: LoopCommand,
}

#[derive(Debug, Subcommand)]
pub enum LoopCommand {
    /// Counts per category and state, overdue tasks and leaks / 闭环状态：分类分状态人数、逾期任务、漏洞
    Status {
        /// Region code: this region and everything below it
        #[arg(long)]
        region: Option<String>,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
        /// Evaluate deadlines at this instant instead of now (RFC 3339 or local YYYY-MM-DD HH:MM)
        #[arg(long)]
        now: Option<String>,
    },
    /// Enrol registered cases and stored contacts not yet in the loop / 将病例和已判定的密接纳入闭环
    Enrol {
        /// Instant of identification (default now): control deadlines run from it
        #[arg(long)]
        at: Option<String>,
    },
    /// Check the loop's counters against the records, and rebuild them (unless --check) / 核对并重建闭环计数
    Recount {
        /// Only compare; exit non-zero when they differ
        #[arg(long)]
        check: bool,
    },
    /// Release in bulk everyone whose home health monitoring has ended / 批量解除健康监测期满人员
    Release {
        /// The day of release (default today)
        #[arg(long)]
        date: Option<String>,
    },
    /// Apply the secondary-release rule to a secondary contact: release on the release day if the paired close contact's first tests are negative, upgrade to close contact if one is positive / 次密接解除或升级
    Secondary {
        /// The managed record of the secondary contact (id)
        #[arg(long)]
        managed: i64,
        #[arg(long)]
        at: Option<String>,
    },
    /// Record a test no schedule asked for (a case in hospital before discharge, an extra test); a positive contact becomes a case and is traced / 录入计划外核酸结果，密接阳性即转为感染者并流调
    Test {
        /// The managed record (id)
        #[arg(long)]
        managed: i64,
        #[arg(long, value_parser = ["negative", "positive"])]
        result: String,
        /// When the sample was taken (default now)
        #[arg(long)]
        at: Option<String>,
        /// A positive contact's case: asymptomatic (default) or confirmed (zh or en labels) / 阳性者分类：无症状感染者（默认）或确诊病例
        #[arg(long)]
        classification: Option<String>,
        /// When the result was reported (the case's report time; default the sample time)
        #[arg(long)]
        reported_at: Option<String>,
    },
    /// Record the result of a scheduled test; a positive converts the contact to a registered case and traces it / 录入核酸结果，阳性即登记为病例并流调
    Result {
        /// The scheduled test (id)
        #[arg(long)]
        test: i64,
        #[arg(long, value_parser = ["negative", "positive"])]
        result: String,
        /// When the sample was taken (default now)
        #[arg(long)]
        at: Option<String>,
        /// A positive contact's case: asymptomatic (default) or confirmed (zh or en labels) / 阳性者分类：无症状感染者（默认）或确诊病例
        #[arg(long)]
        classification: Option<String>,
        /// When the result was reported (the case's report time; default the sample time)
        #[arg(long)]
        reported_at: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub command: TasksCommand,
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks, soonest due first / 任务列表
    List {
        /// Region code: this region and everything below it
        #[arg(long)]
        region: Option<String>,
        /// open, done or cancelled
        #[arg(long)]
        status: Option<String>,
        /// Only open tasks past their due time, with their escalation
        #[arg(long)]
        overdue: bool,
        /// Judge deadlines at this instant instead of now (RFC 3339 or local YYYY-MM-DD HH:MM)
        #[arg(long)]
        now: Option<String>,
        /// Only the tasks of this responsible unit (its id) / 仅该责任单位的任务
        #[arg(long)]
        unit: Option<i64>,
        /// Only the tasks about people placed in this facility / 仅该场所人员的任务
        #[arg(long)]
        facility: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Send the escalation notices due: every overdue task notifies its assignee, then the unit head, then the command one level up, along the profile's chain; each notice is kept / 逾期任务逐级上报（责任人、单位负责人、上一级指挥部），通知留存
    Escalate {
        /// Judge deadlines at this instant instead of now (RFC 3339 or local YYYY-MM-DD HH:MM)
        #[arg(long)]
        now: Option<String>,
    },
    /// Escalation notices kept, those not yet acknowledged first / 上报通知（未确认的在前）
    Notices {
        /// Region code: this region and everything below it
        #[arg(long)]
        region: Option<String>,
        /// Only notices not yet acknowledged
        #[arg(long)]
        unacknowledged: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
    /// Acknowledge an escalation notice (recorded in the audit log) / 确认收到上报通知
    Acknowledge {
        /// The notice (id)
        id: i64,
        /// Only within this region: a notice elsewhere is not found
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        at: Option<String>,
        /// Who acknowledges (recorded in the audit log)
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Mark a task done with a reply / 完成任务并回复
    Done {
        id: i64,
        #[arg(long, default_value = "")]
        reply: String,
        #[arg(long)]
        at: Option<String>,
        /// Who answers (recorded in the audit log)
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

#[derive(Debug, Args)]
pub struct TransitionArgs {
    /// The managed record (id)
    #[arg(long)]
    pub managed: i64,
    /// The new state (e.g. notified, placement_ordered, in_transfer, under_quarantine, admitted, released, lost)
    #[arg(long)]
    pub to: String,
    /// Where: the facility id (placements and admissions)
    #[arg(long)]
    pub facility: Option<String>,
    /// Why
    #[arg(long, default_value = "")]
    pub reason: String,
    /// When (default now)
    #[arg(long)]
    pub at: Option<String>,
    /// Who (recorded with the transition and in the audit log)
    #[arg(long, default_value = "cli")]
    pub actor: String,
}

#[derive(Debug, Args)]
pub struct AccountabilityArgs {
    /// First day, YYYY-MM-DD
    #[arg(long)]
    pub from: String,
    /// Last day, YYYY-MM-DD (included)
    #[arg(long)]
    pub to: String,
    /// Region code: lapses in this region and everything below it
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Judge open items at this instant instead of now
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain of the audit log; exits non-zero naming the first altered, inserted or removed record / 校验审计日志哈希链
    Verify {
        #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
        format: TextOrJson,
    },
}

fn bad(code: &'static str, message: String) -> anyhow::Error {
    Failure::Coded { code, message }.into()
}

fn instant(raw: Option<&str>, flag: &str, config: &Config) -> Result<i64> {
    match raw {
        None => Ok(chrono::Utc::now().timestamp()),
        Some(s) => parse_instant(s, config.time_zone)
            .map(|t| t.timestamp())
            .ok_or_else(|| {
                let e = closedloop_domain::DomainError::InvalidTime(s.chars().take(40).collect());
                bad(
                    "invalid_time",
                    format!("{flag}: {}", e.message(config.lang)),
                )
            }),
    }
}

fn day(raw: &str, flag: &str, lang: Lang) -> Result<chrono::NaiveDate> {
    parse_date(raw).ok_or_else(|| {
        let e = closedloop_domain::DomainError::InvalidDate(raw.chars().take(20).collect());
        bad("invalid_date", format!("{flag}: {}", e.message(lang)))
    })
}

fn today(now: i64, config: &Config) -> chrono::NaiveDate {
    from_epoch(now)
        .with_timezone(&config.time_zone)
        .date_naive()
}

async fn region(store: &Store, raw: &Option<String>, lang: Lang) -> Result<Option<String>> {
    let Some(code) = raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let tree = store
        .region_tree()
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    if tree.get(code).is_none() {
        let e = closedloop_store::StoreRowError::UnknownRegion(code.to_string());
        return Err(bad(
            "unknown_region",
            format!("--region: {}", e.message(lang)),
        ));
    }
    Ok(Some(code.to_string()))
}

fn time(t: i64, config: &Config) -> String {
    format_instant(from_epoch(t), config.time_zone)
}

fn json(v: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

pub async fn run_loop(args: LoopArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let store = open_store(config).await?;
    let fail = |e: &dyn ErrorCode| anyhow::Error::from(Failure::coded(e, lang));
    match args.command {
        LoopCommand::Status {
            region: r,
            format,
            now,
        } => {
            let now = instant(now.as_deref(), "--now", config)?;
            let scope = region(&store, &r, lang).await?;
            let status = store
                .loop_status(&config.profile, now, today(now, config), scope.as_deref())
                .await
                .map_err(|e| fail(&e))?;
            let overdue = store
                .overdue(&config.profile, now, scope.as_deref())
                .await
                .map_err(|e| fail(&e))?;
            let leaks = store
                .leaks(&config.profile, now, today(now, config), scope.as_deref())
                .await
                .map_err(|e| fail(&e))?;
            if format == TextOrJson::Json {
                println!(
                    "{}",
                    json(
                        &serde_json::json!({"status": status, "overdue": overdue, "leaks": leaks})
                    )?
                );
                return Ok(());
            }
            println!(
                "{}",
                lang.pick(
                    &format!(
                        "闭环管理状态（{}，截至{}，防控方案{}）",
                        scope.as_deref().unwrap_or("全辖区"),
                        time(now, config),
                        config.profile.title_zh
                    ),
                    &format!(
                        "Closed loop ({}, at {}, {})",
                        scope.as_deref().unwrap_or("whole jurisdiction"),
                        time(now, config),
                        config.profile.title_en
                    ),
                )
            );
            for (category, states) in &status.by_category {
                let label = closedloop_domain::lifecycle::ManagedCategory::parse(category)
                    .map(|c| c.label(lang).to_string())
                    .unwrap_or_else(|_| category.clone());
                let parts: Vec<String> = states
                    .iter()
                    .map(|(s, n)| {
                        let l = LoopState::parse(s).map(|s| s.label(lang)).unwrap_or(s);
                        format!("{l} {n}")
                    })
                    .collect();
                println!("  {label}: {}", parts.join(lang.pick("，", ", ")));
            }
            println!(
                "{}",
                lang.pick(
                    &format!("逾期任务：{}", status.overdue_tasks),
                    &format!("overdue tasks: {}", status.overdue_tasks)
                )
            );
            for o in overdue.iter().take(20) {
                println!(
                    "  #{} {} {} {} → {} {}",
                    o.task.id,
                    o.task.kind.label(lang),
                    o.unit.as_deref().unwrap_or("-"),
                    lang.pick(
                        &format!("逾期{}分钟", o.minutes_late),
                        &format!("{} min late", o.minutes_late)
                    ),
                    o.level.label(lang),
                    o.notify
                );
            }
            let total: i64 = status.leaks.values().sum();
            println!(
                "{}",
                lang.pick(&format!("漏洞：{total}"), &format!("leaks: {total}"))
            );
            for l in leaks.iter().take(20) {
                println!(
                    "  {} {} {} {}",
                    l.kind.label(lang),
                    l.managed_id
                        .map(|i| format!("#{i}"))
                        .unwrap_or_else(|| "-".into()),
                    l.person,
                    l.region_code.as_deref().unwrap_or("-")
                );
            }
            if leaks.len() > 20 {
                println!(
                    "  {}",
                    lang.pick(
                        &format!("……另有{}项", leaks.len() - 20),
                        &format!("… and {} more", leaks.len() - 20)
                    )
                );
            }
        }
        LoopCommand::Enrol { at } => {
            let at = instant(at.as_deref(), "--at", config)?;
            let actor = Actor("cli".into());
            let cases = store
                .enrol_cases(&config.profile, None, &actor)
                .await
                .map_err(|e| fail(&e))?;
            let contacts = store
                .enrol_contacts(&config.profile, config.time_zone, at, &actor)
                .await
                .map_err(|e| fail(&e))?;
            println!(
                "{}",
                lang.pick(
                    &format!("纳入闭环：病例{}例（其中{}名原密接转为病例），密接等{}人，排定核酸{}次，新建任务{}项", cases.enrolled, cases.converted, contacts.enrolled, contacts.tests_scheduled, cases.tasks_created + contacts.tasks_created + contacts.release_assessments),
                    &format!("enrolled: {} cases ({} of them contacts converted), {} contacts, {} tests scheduled, {} tasks created", cases.enrolled, cases.converted, contacts.enrolled, contacts.tests_scheduled, cases.tasks_created + contacts.tasks_created + contacts.release_assessments),
                )
            );
        }
        LoopCommand::Recount { check } => {
            let found = if check {
                store.check_loop_counts().await
            } else {
                store.recount_loop(&Actor("cli".into())).await
            }
            .map_err(|e| fail(&e))?;
            let summary = lang
                .pick(
                &format!(
                    "闭环计数：{}条记录的阴性数、{}个分类状态计数、{}个待检计数与记录不符",
                    found.negatives_off, found.record_keys_off, found.test_keys_off
                ),
                &format!(
                    "loop counters: {} records' negatives, {} category/state counts, {} due-test counts differed from the records",
                    found.negatives_off, found.record_keys_off, found.test_keys_off
                ),
            )
                .to_string();
            println!(
                "{summary}{}",
                match (check, found.is_consistent()) {
                    (true, _) => "",
                    (false, true) => lang.pick("；无需重建", "; nothing to rebuild"),
                    (false, false) => lang.pick("；已重建", "; rebuilt"),
                }
            );
            if check && !found.is_consistent() {
                return Err(Failure::Coded {
                    code: "loop_counts_differ",
                    message: lang
                        .pick(
                            "闭环计数与记录不符，请运行 loop recount",
                            "the loop's counters differ from the records: run loop recount",
                        )
                        .to_string(),
                }
                .into());
            }
        }
        LoopCommand::Release { date } => {
            let now = chrono::Utc::now().timestamp();
            let d = match date {
                Some(s) => day(&s, "--date", lang)?,
                None => today(now, config),
            };
            let at = day_bounds(d, config.time_zone).0.timestamp().max(0);
            let n = store
                .release_due(d, at, None, &Actor("cli".into()))
                .await
                .map_err(|e| fail(&e))?;
            println!(
                "{}",
                lang.pick(&format!("解除{n}人"), &format!("released {n}"))
            );
        }
        LoopCommand::Secondary { managed, at } => {
            let at = instant(at.as_deref(), "--at", config)?;
            let outcome = store
                .apply_secondary_rule(
                    &config.profile,
                    config.time_zone,
                    managed,
                    at,
                    &Actor("cli".into()),
                )
                .await
                .map_err(|e| fail(&e))?;
            let (zh, en) = match outcome {
                closedloop_store::SecondaryOutcome::Released => ("已解除", "released"),
                closedloop_store::SecondaryOutcome::Upgraded => {
                    ("已升级为密接", "upgraded to close contact")
                }
                closedloop_store::SecondaryOutcome::Waiting => (
                    "暂不能解除：未到解除日或密接结果未出",
                    "not yet: before the release day or the close contact's results are not in",
                ),
            };
            println!("#{managed} {}", lang.pick(zh, en));
        }
        LoopCommand::Test {
            managed,
            result,
            at,
            classification,
            reported_at,
        } => {
            let at = instant(at.as_deref(), "--at", config)?;
            let conv = conversion(classification, reported_at, at, config)?;
            let (t, converted) = store
                .record_unscheduled_test_as(
                    &config.profile,
                    managed,
                    at,
                    (result == "positive").then_some(&conv),
                    config.time_zone,
                    &Actor("cli".into()),
                )
                .await
                .map_err(|e| fail(&e))?;
            println!(
                "{}",
                lang.pick(
                    &format!("已记录，检测#{}", t.id),
                    &format!("recorded as test #{}", t.id)
                )
            );
            if let Some(m) = converted {
                converted_and_traced(&store, config, &m, t.id).await?;
            }
        }
        LoopCommand::Result {
            test,
            result,
            at,
            classification,
            reported_at,
        } => {
            let at = instant(at.as_deref(), "--at", config)?;
            let conv = conversion(classification, reported_at, at, config)?;
            let converted = store
                .record_test_result_as(
                    &config.profile,
                    test,
                    at,
                    result == "positive",
                    &conv,
                    &Actor("cli".into()),
                )
                .await
                .map_err(|e| fail(&e))?;
            match converted {
                Some(m) => converted_and_traced(&store, config, &m, test).await?,
                None => println!("{}", lang.pick("已记录", "recorded")),
            }
        }
    }
    store.close().await;
    Ok(())
}

/// How a positive is registered: `--classification` (asymptomatic unless
/// given) and `--reported-at` (default the sample time).
fn conversion(
    classification: Option<String>,
    reported_at: Option<String>,
    sampled_at: i64,
    config: &Config,
) -> Result<Conversion> {
    let classification = match classification {
        None => Classification::Asymptomatic,
        Some(raw) => Classification::parse(&raw).map_err(|e| Failure::Coded {
            code: e.code(),
            message: format!("--classification: {}", e.message(config.lang)),
        })?,
    };
    let reported_at = match reported_at {
        None => sampled_at,
        Some(raw) => instant(Some(&raw), "--reported-at", config)?,
    };
    Ok(Conversion {
        classification,
        reported_at,
    })
}

/// Says a positive converted the contact into case `conversion_case_id(test)`,
/// then traces that case through the one tracing path.
async fn converted_and_traced(
    store: &Store,
    config: &Config,
    m: &closedloop_store::ManagedRecord,
    test: i64,
) -> Result<()> {
    let lang = config.lang;
    let case_id = conversion_case_id(test);
    println!(
        "{}",
        lang.pick(
            &format!(
                "阳性：已转为感染者并登记为病例{case_id}，闭环记录#{}，须于{}前收治",
                m.id,
                time(m.control_due, config)
            ),
            &format!(
                "positive: converted to a case, registered as {case_id}, loop record #{}, to be admitted by {}",
                m.id,
                time(m.control_due, config)
            ),
        )
    );
    crate::contacts::trace_registered(store, config, &[case_id], &Actor("cli".into())).await
}

pub async fn run_tasks(args: TasksArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let store = open_store(config).await?;
    let fail = |e: &dyn ErrorCode| anyhow::Error::from(Failure::coded(e, lang));
    match args.command {
        TasksCommand::List {
            region: r,
            status,
            overdue,
            now,
            unit,
            facility,
            limit,
            format,
        } => {
            let now = instant(now.as_deref(), "--now", config)?;
            let scope = region(&store, &r, lang).await?;
            if overdue {
                let mut items = store
                    .overdue_within(&config.profile, now, scope.as_deref(), facility.as_deref())
                    .await
                    .map_err(|e| fail(&e))?;
                items.retain(|o| unit.is_none() || o.task.unit_id == unit);
                items.truncate(limit.max(0) as usize);
                if format == TextOrJson::Json {
                    println!("{}", json(&items)?);
                } else {
                    for o in &items {
                        println!(
                            "#{} {} {} {} {} → {} {}",
                            o.task.id,
                            o.task.kind.label(lang),
                            closedloop_store::task_subject_label(&o.task.subject, lang),
                            o.unit.as_deref().unwrap_or("-"),
                            lang.pick(
                                &format!("逾期{}分钟", o.minutes_late),
                                &format!("{} min late", o.minutes_late)
                            ),
                            o.level.label(lang),
                            o.notify
                        );
                    }
                }
            } else {
                let tasks = store
                    .tasks(&TaskFilter {
                        scope,
                        status,
                        facility,
                        unit,
                        limit,
                        ..TaskFilter::default()
                    })
                    .await
                    .map_err(|e| fail(&e))?;
                if format == TextOrJson::Json {
                    println!("{}", json(&tasks)?);
                } else {
                    for t in &tasks {
                        println!(
                            "#{} {} {} P{} {} {} {}",
                            t.id,
                            t.kind.label(lang),
                            closedloop_store::task_subject_label(&t.subject, lang),
                            t.priority,
                            lang.pick("截止", "due"),
                            time(t.due_at, config),
                            closedloop_store::task_status_label(&t.status, lang)
                        );
                    }
                }
            }
        }
        TasksCommand::Escalate { now } => {
            let now = instant(now.as_deref(), "--now", config)?;
            let s = store
                .escalate(&config.profile, now, &Actor("cli".into()))
                .await
                .map_err(|e| fail(&e))?;
            let level = |l: EscalationLevel| s.by_level.get(l.as_str()).copied().unwrap_or(0);
            println!(
                "{}",
                lang.pick(
                    &format!(
                        "逐级上报（截至{}）：新通知{}条（责任人{}，单位负责人{}，上一级指挥部{}）",
                        time(now, config),
                        s.created,
                        level(EscalationLevel::Assignee),
                        level(EscalationLevel::UnitHead),
                        level(EscalationLevel::CommandAbove)
                    ),
                    &format!(
                        "escalation at {}: {} new notices ({} to assignees, {} to unit heads, {} to the command above)",
                        time(now, config),
                        s.created,
                        level(EscalationLevel::Assignee),
                        level(EscalationLevel::UnitHead),
                        level(EscalationLevel::CommandAbove)
                    ),
                )
            );
        }
        TasksCommand::Notices {
            region: r,
            unacknowledged,
            limit,
            format,
        } => {
            let scope = region(&store, &r, lang).await?;
            let notices = store
                .notices(
                    scope.as_deref(),
                    &NoticeFilter {
                        unacknowledged,
                        limit: limit.max(1),
                    },
                )
                .await
                .map_err(|e| fail(&e))?;
            if format == TextOrJson::Json {
                println!("{}", json(&notices)?);
            } else {
                for n in &notices {
                    print_notice(n, config);
                }
            }
        }
        TasksCommand::Acknowledge {
            id,
            region: r,
            at,
            actor,
        } => {
            let at = instant(at.as_deref(), "--at", config)?;
            let scope = region(&store, &r, lang).await?;
            let n = store
                .acknowledge_notice(id, scope.as_deref(), at, &Actor(actor))
                .await
                .map_err(|e| fail(&e))?;
            print_notice(&n, config);
        }
        TasksCommand::Done {
            id,
            reply,
            at,
            actor,
        } => {
            let at = instant(at.as_deref(), "--at", config)?;
            store
                .complete_task(id, &reply, at, &Actor(actor))
                .await
                .map_err(|e| fail(&e))?;
            println!(
                "{}",
                lang.pick(&format!("任务#{id}已完成"), &format!("task #{id} done"))
            );
        }
    }
    store.close().await;
    Ok(())
}

/// One notice on a line: who heard of which task at which rung, and whether it was acknowledged.
fn print_notice(n: &Notice, config: &Config) {
    let lang = config.lang;
    let whom = n
        .recipient_unit
        .as_deref()
        .or(n.recipient_command.as_deref())
        .filter(|w| *w != n.recipient)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let ack = match (n.acknowledged_at, &n.acknowledged_by) {
        (Some(t), by) => lang
            .pick(
                &format!(
                    "已确认 {} {}",
                    time(t, config),
                    by.as_deref().unwrap_or("-")
                ),
                &format!(
                    "acknowledged {} by {}",
                    time(t, config),
                    by.as_deref().unwrap_or("-")
                ),
            )
            .to_string(),
        (None, _) => lang.pick("未确认", "not acknowledged").to_string(),
    };
    println!(
        "#{} {} {} {} #{} {} {} → {} {}{whom} [{ack}]",
        n.id,
        time(n.reached_at, config),
        n.level.label(lang),
        lang.pick("任务", "task"),
        n.task_id,
        n.task_kind.label(lang),
        closedloop_store::task_subject_label(&n.task_subject, lang),
        lang.pick("通知", "notified"),
        n.recipient,
    );
}

pub async fn run_transition(args: TransitionArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let to = LoopState::parse(&args.to)
        .map_err(|e| bad(e.code(), format!("--to: {}", e.message(lang))))?;
    let at = instant(args.at.as_deref(), "--at", config)?;
    let store = open_store(config).await?;
    let m = store
        .transition(
            &config.profile,
            config.time_zone,
            &TransitionRequest {
                managed_id: args.managed,
                to,
                at,
                facility_id: args.facility.clone(),
                reason: args.reason.clone(),
            },
            &Actor(args.actor.clone()),
        )
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    println!(
        "{}",
        lang.pick(
            &format!(
                "#{} {}：{}",
                m.id,
                m.category.label(lang),
                m.state.label(lang)
            ),
            &format!(
                "#{} {}: {}",
                m.id,
                m.category.label(lang),
                m.state.label(lang)
            ),
        )
    );
    store.close().await;
    Ok(())
}

pub async fn run_accountability(args: AccountabilityArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let from = day(&args.from, "--from", lang)?;
    let to = day(&args.to, "--to", lang)?;
    if to < from {
        return Err(bad(
            "invalid_period",
            lang.pick("--to 早于 --from", "--to is before --from")
                .into(),
        ));
    }
    let now = instant(args.now.as_deref(), "--now", config)?;
    let store = open_store(config).await?;
    let scope = region(&store, &args.region, lang).await?;
    let start = day_bounds(from, config.time_zone).0.timestamp();
    let end = day_bounds(to, config.time_zone).1.timestamp();
    let r = store
        .accountability(start, end, now, scope.as_deref())
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    let step = |s: &str| {
        TaskKind::parse(s)
            .map(|k| k.label(lang).to_string())
            .unwrap_or_else(|_| s.to_string())
    };
    match args.format {
        ReportFormat::Json => println!("{}", json(&r)?),
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "step",
                "person",
                "region_code",
                "unit",
                "official",
                "due_at",
                "done_at",
                "minutes_late",
                "contacts_exposed",
                "cases_linked",
            ])?;
            for l in &r.lapses {
                w.write_record([
                    l.step.clone(),
                    l.person.clone(),
                    l.region_code.clone().unwrap_or_default(),
                    l.unit.clone(),
                    l.official.clone(),
                    time(l.due_at, config),
                    l.done_at.map(|t| time(t, config)).unwrap_or_default(),
                    l.minutes_late.to_string(),
                    l.contacts_exposed.to_string(),
                    l.cases_linked.to_string(),
                ])?;
            }
            w.flush()?;
        }
        ReportFormat::Text => {
            println!(
                "{}",
                lang.pick(
                    &format!("问责记录 {from} 至 {to}：失职{}项", r.lapses.len()),
                    &format!("Accountability {from} to {to}: {} lapses", r.lapses.len())
                )
            );
            for l in &r.lapses {
                let done = l
                    .done_at
                    .map(|t| time(t, config))
                    .unwrap_or_else(|| lang.pick("未完成", "not done").into());
                println!(
                    "  {} {} {} {} / {} {} {} {} {}",
                    step(&l.step),
                    l.person,
                    l.region_code.as_deref().unwrap_or("-"),
                    l.unit,
                    l.official,
                    lang.pick(
                        &format!("截止{}", time(l.due_at, config)),
                        &format!("due {}", time(l.due_at, config))
                    ),
                    done,
                    lang.pick(
                        &format!("迟{}分钟", l.minutes_late),
                        &format!("{} min late", l.minutes_late)
                    ),
                    lang.pick(
                        &format!(
                            "失控期间暴露{}人，其中{}人成为感染者",
                            l.contacts_exposed, l.cases_linked
                        ),
                        &format!(
                            "exposed {} while uncontrolled, {} became cases",
                            l.contacts_exposed, l.cases_linked
                        )
                    ),
                );
            }
            for (title, groups) in [
                (lang.pick("按单位", "by unit"), &r.by_unit),
                (lang.pick("按责任人", "by official"), &r.by_official),
            ] {
                println!("{title}:");
                for g in groups {
                    println!(
                        "  {} {}",
                        g.name,
                        lang.pick(
                            &format!(
                                "失职{}项，累计迟{}分钟，关联感染者{}人",
                                g.lapses, g.minutes_late, g.cases_linked
                            ),
                            &format!(
                                "{} lapses, {} min late in all, {} cases linked",
                                g.lapses, g.minutes_late, g.cases_linked
                            )
                        )
                    );
                }
            }
        }
    }
    Ok(())
}

pub async fn run_audit(args: AuditArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let AuditCommand::Verify { format } = args.command;
    let store = open_store(config).await?;
    let report = store
        .verify_audit_chain()
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    if format == TextOrJson::Json {
        println!("{}", json(&report)?);
    }
    match &report.first_break {
        None => {
            if format == TextOrJson::Text {
                println!(
                    "{}",
                    lang.pick(
                        &format!(
                            "审计链完整：{}条记录，链头序号{}，哈希{}",
                            report.records, report.head_seq, report.head_hash
                        ),
                        &format!(
                            "audit chain intact: {} records, head {} {}",
                            report.records, report.head_seq, report.head_hash
                        )
                    )
                );
            }
            Ok(())
        }
        Some(b) => {
            let at = b.id.map(|i| i.to_string());
            let message = match (b.kind, lang) {
                (BreakKind::Altered, Lang::Zh) => format!(
                    "审计链断裂：第{}条记录（序号{}）被篡改",
                    at.unwrap_or_default(),
                    b.expected_seq
                ),
                (BreakKind::Inserted, Lang::Zh) => format!(
                    "审计链断裂：第{}条记录是插入的（应为序号{}）",
                    at.unwrap_or_default(),
                    b.expected_seq
                ),
                (BreakKind::Removed, Lang::Zh) => match at {
                    Some(id) => format!(
                        "审计链断裂：第{id}条记录之前有记录被删除（缺序号{}）",
                        b.expected_seq
                    ),
                    None => format!("审计链断裂：末尾记录被删除（自序号{}起）", b.expected_seq),
                },
                (BreakKind::Altered, Lang::En) => format!(
                    "audit chain broken: record {} (seq {}) was altered",
                    at.unwrap_or_default(),
                    b.expected_seq
                ),
                (BreakKind::Inserted, Lang::En) => format!(
                    "audit chain broken: record {} was inserted (seq {} expected)",
                    at.unwrap_or_default(),
                    b.expected_seq
                ),
                (BreakKind::Removed, Lang::En) => match at {
                    Some(id) => format!(
                        "audit chain broken: records removed before record {id} (seq {} missing)",
                        b.expected_seq
                    ),
                    None => format!(
                        "audit chain broken: records removed at the end (from seq {})",
                        b.expected_seq
                    ),
                },
            };
            Err(bad("audit_chain_broken", message))
        }
    }
}
