//! The command line: every subcommand and its flags.

use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use closedloop_domain::bulletin::Format;
use closedloop_domain::time::parse_date;
use closedloop_store::Store;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "closedloop",
    version,
    about = "closedloop: the epidemic command's registry, tracing and closed-loop system / 疫情防控指挥闭环管理系统",
    long_about = "closedloop keeps the registry of people and cases of an outbreak command, imports and exports its files, \
publishes the official daily bulletin and serves the JSON API.\n\
Configuration comes from an optional TOML file (--config, or ./closedloop.toml), then environment variables, then flags.\n\
closedloop 保存疫情防控指挥部的人员与病例登记，导入导出数据文件，生成官方每日疫情通报，并提供 JSON API。"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database: sqlite://PATH (embedded, default ./closedloop-data/closedloop.db) or postgres://USER@HOST/DB
    #[arg(
        long,
        global = true,
        env = "CLOSEDLOOP_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// TOML configuration file (keys: database_url, lang, time_zone, bind); default ./closedloop.toml if present
    #[arg(long, global = true, env = "CLOSEDLOOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Language of messages and output: zh (default) or en
    #[arg(long, global = true, env = "CLOSEDLOOP_LANG")]
    pub lang: Option<String>,
    /// IANA time zone of days and of times without an offset (default Asia/Shanghai)
    #[arg(
        long = "time-zone",
        visible_alias = "tz",
        global = true,
        env = "CLOSEDLOOP_TIME_ZONE"
    )]
    pub time_zone: Option<String>,
    /// Address the server listens on (default 127.0.0.1:8080)
    #[arg(long, global = true, env = "CLOSEDLOOP_BIND")]
    pub bind: Option<String>,
    /// Protocol profile: china-8th (default), china-9th or who-2021
    #[arg(long, global = true, env = "CLOSEDLOOP_PROFILE")]
    pub profile: Option<String>,
    /// TOML file overriding values of the profile (e.g. [tracing] lookback_days = 3)
    #[arg(long, global = true, env = "CLOSEDLOOP_PROFILE_OVERRIDES")]
    pub profile_overrides: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the JSON API (health at /health, OpenAPI at /api/openapi.json) / 启动服务
    Serve(ServeArgs),
    /// Create a fresh embedded database with a synthetic province (Jilin, March 2022), then serve it / 创建演示数据库并启动服务
    Demo(DemoArgs),
    /// Apply pending database migrations and list them / 执行数据库迁移
    Migrate,
    /// Import regions, persons or cases from CSV or XLSX; all-or-nothing unless --skip-bad-rows / 导入数据
    Import(ImportArgs),
    /// Export persons or cases as CSV or XLSX that import back unchanged / 导出数据
    Export(ExportArgs),
    /// Print the daily bulletin (0–24 h of a day) for a region and everything below it / 生成每日疫情通报
    Bulletin(BulletinArgs),
    /// Delete movement data (check-ins, trip seats) older than the retention period / 清除过期行程数据
    Purge(PurgeArgs),
    /// Trace a registered case under the profile (venues, households, co-travel, secondary), store and show its contacts with why / 判定并登记病例的密接、次密接
    Contacts(crate::contacts::ContactsArgs),
    /// Clusters: cases linked through shared exposures, with size, places, institutions, first and last case, regions / 聚集性疫情
    Clusters(crate::clusters::ClustersArgs),
    /// The transmission chain of one cluster as JSON or GraphViz DOT / 传播链
    Chain(crate::clusters::ChainArgs),
    /// Close and secondary contacts of cases from a check-in file (CSV or Parquet), without a database / 由场所码记录判定密接、次密接
    Trace(crate::trace::TraceArgs),
    /// The closed loop: status, enrolment, bulk release, test results / 闭环管理：状态、纳管、批量解除、核酸结果
    Loop(crate::closed_loop::LoopArgs),
    /// Tasks of the loop: list (with overdue escalation), done / 闭环任务
    Tasks(crate::closed_loop::TasksArgs),
    /// Move a managed person to a new state, checked against the state machine / 闭环状态变更
    Transition(crate::closed_loop::TransitionArgs),
    /// Lapses in a period with the responsible unit and official, grouped / 问责记录
    Accountability(crate::closed_loop::AccountabilityArgs),
    /// The audit log: verify its hash chain / 审计日志
    Audit(crate::closed_loop::AuditArgs),
    /// Users of the web console and the API, and their API tokens / 用户与API令牌
    User(crate::users::UserArgs),
    /// The facility register with occupancy against capacity / 隔离场所和收治机构
    Facilities(crate::facilities::FacilitiesArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Mark the session cookie Secure: the console is served over TLS (directly or behind a proxy)
    #[arg(long, env = "CLOSEDLOOP_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the synthetic data: 1.0 gives the real daily magnitudes of March 2022 (default 0.1)
    #[arg(long, default_value_t = 0.1)]
    pub scale: f64,
    /// Seed of the generator: the same seed gives the same data
    #[arg(long, default_value_t = 2022)]
    pub seed: u64,
    /// Only prepare the database and print where it is
    #[arg(long)]
    pub no_serve: bool,
    /// Password of the demo's admin account in the web console (generated when absent; at least 10 characters, letters and digits)
    #[arg(long, env = "CLOSEDLOOP_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Replace an existing database that the demo did not create
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    Regions,
    Persons,
    Cases,
    /// venue_id,name,type,region_code,lat,lon
    Venues,
    /// person_id,venue_id,check_in,check_out (check_out may be empty: the venue type's typical stay)
    Checkins,
    /// person_id,trip_id,carriage,seat_row
    Trips,
    /// facility_id,name,kind,region_code,address,capacity (the facility register)
    Facilities,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// What the file holds
    pub kind: ImportKind,
    /// CSV (UTF-8, with or without BOM) or XLSX file
    pub file: PathBuf,
    /// Load the good rows and write the rejected ones, with reasons, to --rejects
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Where rejected rows go with --skip-bad-rows (default FILE.rejects.csv)
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Overwrite stored records that the file contradicts
    #[arg(long)]
    pub update: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Keep movement data of the last N days (default: the profile's retention, 28 days in the shipped ones)
    #[arg(long)]
    pub retention_days: Option<u32>,
    /// Count back from this instant instead of now (RFC 3339)
    #[arg(long)]
    pub now: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportKind {
    Persons,
    Cases,
    /// The facility register (by the facility's region with --region)
    Facilities,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormatArg {
    Csv,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub kind: ExportKind,
    #[arg(long, value_enum, default_value_t = FileFormatArg::Csv)]
    pub format: FileFormatArg,
    /// Only this region and everything below it (persons by residence, cases by reporting region)
    #[arg(long)]
    pub region: Option<String>,
    /// Output file (CSV goes to standard output when absent; XLSX needs a file)
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BulletinFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
pub struct BulletinArgs {
    /// The day, YYYY-MM-DD (0–24 h in the configured time zone)
    #[arg(long)]
    pub date: String,
    /// Region code (default: the root region)
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long, value_enum, default_value_t = BulletinFormat::Text)]
    pub format: BulletinFormat,
    /// Also print the audit chain's head (sequence and hash), so tampering after publication shows
    #[arg(long)]
    pub audit_head: bool,
}

pub async fn open_store(config: &Config) -> Result<Store> {
    Store::open(&config.database_url)
        .await
        .map_err(|e| Failure::coded(&e, config.lang).into())
}

pub async fn run(command: Command, config: Config) -> Result<()> {
    match command {
        Command::Serve(args) => {
            let store = open_store(&config).await?;
            crate::demo::serve(store, &config, args.secure_cookies).await
        }
        Command::Demo(args) => crate::demo::run(args, config).await,
        Command::Migrate => {
            let store = Store::connect(&config.database_url)
                .await
                .map_err(|e| Failure::coded(&e, config.lang))?;
            let applied = store
                .migrate()
                .await
                .map_err(|e| Failure::coded(&e, config.lang))?;
            let lang = config.lang;
            for (version, description) in store.known_migrations() {
                let state = if applied.contains(&version) {
                    lang.pick("本次应用", "applied now")
                } else {
                    lang.pick("已应用", "already applied")
                };
                println!("{version} {description}: {state}");
            }
            println!(
                "{}",
                lang.pick(
                    &format!(
                        "数据库 {} 已是最新",
                        closedloop_store::redact(&config.database_url)
                    ),
                    &format!(
                        "database {} is up to date",
                        closedloop_store::redact(&config.database_url)
                    )
                )
            );
            Ok(())
        }
        Command::Import(args) => crate::exchange::import(args, &config).await,
        Command::Purge(args) => crate::exchange::purge(args, &config).await,
        Command::Contacts(args) => crate::contacts::run(args, &config).await,
        Command::Clusters(args) => crate::clusters::clusters(args, &config).await,
        Command::Chain(args) => crate::clusters::chain(args, &config).await,
        Command::Trace(args) => crate::trace::run(args, &config),
        Command::Loop(args) => crate::closed_loop::run_loop(args, &config).await,
        Command::Tasks(args) => crate::closed_loop::run_tasks(args, &config).await,
        Command::Transition(args) => crate::closed_loop::run_transition(args, &config).await,
        Command::Accountability(args) => {
            crate::closed_loop::run_accountability(args, &config).await
        }
        Command::Audit(args) => crate::closed_loop::run_audit(args, &config).await,
        Command::User(args) => crate::users::run(args, &config).await,
        Command::Facilities(args) => crate::facilities::run(args, &config).await,
        Command::Export(args) => crate::exchange::export(args, &config).await,
        Command::Bulletin(args) => {
            let lang = config.lang;
            let Some(date) = parse_date(&args.date) else {
                let e = closedloop_domain::DomainError::InvalidDate(args.date.clone());
                return Err(Failure::Coded {
                    code: "invalid_date",
                    message: format!(
                        "--date: {}",
                        closedloop_domain::ErrorCode::message(&e, lang)
                    ),
                }
                .into());
            };
            let store = open_store(&config).await?;
            let bulletin = store
                .bulletin(date, args.region.as_deref(), config.time_zone, lang)
                .await
                .map_err(|e| Failure::coded(&e, lang))?;
            let format = match args.format {
                BulletinFormat::Text => Format::Text,
                BulletinFormat::Markdown => Format::Markdown,
                BulletinFormat::Json => Format::Json,
            };
            println!("{}", bulletin.render(format, lang));
            if args.audit_head {
                let (seq, hash) = store
                    .audit_chain_head()
                    .await
                    .map_err(|e| Failure::coded(&e, lang))?;
                println!(
                    "{}",
                    lang.pick(
                        &format!("审计链链头：{seq} {hash}"),
                        &format!("audit chain head: {seq} {hash}")
                    )
                );
            }
            Ok(())
        }
    }
}
