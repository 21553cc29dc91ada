//! `clusters` and `chain`: cases linked through shared exposures, and the
//! transmission chain inside one cluster.

use crate::cli::open_store;
use crate::config::Config;
use crate::exchange::write_atomically;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, ValueEnum};
use closedloop_domain::time::{format_instant, from_epoch, parse_instant};
use closedloop_domain::{DomainError, ErrorCode, Lang};
use closedloop_store::{ClusterPlace, ClusterReport};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClustersFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ClustersArgs {
    #[arg(long, value_enum, default_value_t = ClustersFormat::Text)]
    pub format: ClustersFormat,
    /// Only cases reported, and exposures begun, by this instant (RFC 3339; default now)
    #[arg(long)]
    pub as_of: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChainFormat {
    Json,
    Dot,
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The cluster: the case id of its first case (as `closedloop clusters` lists it)
    #[arg(long)]
    pub cluster: String,
    #[arg(long, value_enum, default_value_t = ChainFormat::Json)]
    pub format: ChainFormat,
    /// Output file (standard output when absent)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only cases reported, and exposures begun, by this instant (RFC 3339; default now)
    #[arg(long)]
    pub as_of: Option<String>,
    /// The transmission tree instead of every link: each case's likely
    /// infector (earliest exposure) and the other candidates
    #[arg(long)]
    pub tree: bool,
}

fn as_of(raw: &Option<String>, config: &Config) -> Result<i64> {
    match raw {
        None => Ok(chrono::Utc::now().timestamp()),
        Some(raw) => parse_instant(raw, config.time_zone)
            .map(|t| t.timestamp())
            .ok_or_else(|| {
                Failure::Coded {
                    code: "invalid_time",
                    message: format!(
                        "--as-of: {}",
                        DomainError::InvalidTime(raw.clone()).message(config.lang)
                    ),
                }
                .into()
            }),
    }
}

fn place(p: &ClusterPlace, lang: Lang) -> String {
    match (&p.name, p.venue_type) {
        (Some(name), Some(t)) if !name.is_empty() => {
            format!("{name}（{}，{}）", p.id, t.label(lang))
        }
        _ => format!("{} {}", p.kind.label(lang), p.id),
    }
}

pub async fn clusters(args: ClustersArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let at = as_of(&args.as_of, config)?;
    let store = open_store(config).await?;
    let found = store
        .clusters(config.time_zone, at)
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    let tree = store
        .region_tree()
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    if args.format == ClustersFormat::Json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    let tz = config.time_zone;
    let time = |t: i64| format_instant(from_epoch(t), tz);
    println!(
        "{}",
        lang.text(
            format!("聚集性疫情{}起（截至{}）", found.len(), time(at)),
            format!("{} clusters (as of {})", found.len(), time(at))
        )
    );
    for c in &found {
        let regions: Vec<String> = c
            .regions
            .iter()
            .map(|(code, n)| {
                let name = tree.get(code).map(|r| r.name(lang)).unwrap_or(code);
                format!("{name} {n}")
            })
            .collect();
        let places: Vec<String> = c.places.iter().map(|p| place(p, lang)).collect();
        let institutions: Vec<String> = c.institutions.iter().map(|p| place(p, lang)).collect();
        let none = lang.pick("无", "none");
        let join = |v: &[String]| {
            if v.is_empty() {
                none.to_string()
            } else {
                v.join(lang.pick("、", "; "))
            }
        };
        println!(
            "{}",
            lang.text(
                format!(
                    "{}：{}例；首例{}（{}），末例{}（{}）；传播链{}条、共同暴露{}处；场所：{}；机构：{}；地区：{}",
                    c.id,
                    c.size,
                    c.first_case.case_id,
                    time(c.first_case.reference_time),
                    c.last_case.case_id,
                    time(c.last_case.reference_time),
                    c.transmission_edges,
                    c.shared_exposures,
                    join(&places),
                    join(&institutions),
                    join(&regions)
                ),
                format!(
                    "{}: {} cases; first {} ({}), last {} ({}); {} transmission edges, {} shared exposures; places: {}; institutions: {}; regions: {}",
                    c.id,
                    c.size,
                    c.first_case.case_id,
                    time(c.first_case.reference_time),
                    c.last_case.case_id,
                    time(c.last_case.reference_time),
                    c.transmission_edges,
                    c.shared_exposures,
                    join(&places),
                    join(&institutions),
                    join(&regions)
                )
            )
        );
    }
    Ok(())
}

pub async fn chain(args: ChainArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let at = as_of(&args.as_of, config)?;
    let store = open_store(config).await?;
    let cluster: Result<ClusterReport, _> = store
        .cluster(args.cluster.trim(), config.time_zone, at)
        .await;
    store.close().await;
    let cluster = cluster.map_err(|e| Failure::coded(&e, lang))?;
    let text = match args.format {
        ChainFormat::Json if args.tree => {
            serde_json::to_string_pretty(&serde_json::json!({
                "cluster": cluster.id,
                "cases": cluster.cases,
                "tree": cluster.tree(),
            }))? + "\n"
        }
        ChainFormat::Dot if args.tree => cluster.tree_dot(config.time_zone),
        ChainFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "cluster": cluster.id,
                "cases": cluster.cases,
                "links": cluster.chain,
            }))? + "\n"
        }
        ChainFormat::Dot => cluster.dot(config.time_zone),
    };
    match &args.out {
        None => std::io::stdout().write_all(text.as_bytes())?,
        Some(path) => write_atomically(path, |out| Ok(out.write_all(text.as_bytes())?))?,
    }
    Ok(())
}
