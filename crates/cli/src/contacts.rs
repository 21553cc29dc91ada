//! `contacts`: trace one registered case under the profile's full rules, store
//! its contacts (known ones updated, not duplicated) and show them with why.

use crate::cli::open_store;
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, ValueEnum};
use closedloop_domain::contact::ContactCategory;
use closedloop_domain::time::{format_instant, from_epoch, parse_instant};
use closedloop_domain::ErrorCode;
use closedloop_store::contact_tracing::{TraceSettings, WarmIndex};
use closedloop_store::{Actor, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContactsFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ContactsArgs {
    /// The case (case_id)
    #[arg(long = "case")]
    pub case_id: String,
    /// Close windows still open at this instant (RFC 3339; default now)
    #[arg(long)]
    pub as_of: Option<String>,
    #[arg(long, value_enum, default_value_t = ContactsFormat::Text)]
    pub format: ContactsFormat,
}

/// Traces the cases `case_ids` (after an import registered or changed them)
/// on one index built for all of them, records their contacts and says so.
pub async fn trace_registered(
    store: &Store,
    config: &Config,
    case_ids: &[String],
    actor: &Actor,
) -> Result<()> {
    if case_ids.is_empty() {
        return Ok(());
    }
    let lang = config.lang;
    let started = std::time::Instant::now();
    let fail = |e: StoreError| Failure::coded(&e, lang);
    let index = WarmIndex::load(store).await.map_err(fail)?;
    let cases = store.cases_by_id(case_ids).await.map_err(fail)?;
    let settings = TraceSettings::from_profile(&config.profile, config.time_zone);
    let changes = store
        .trace_and_record(
            &index,
            &cases,
            &settings,
            chrono::Utc::now().timestamp(),
            actor,
        )
        .await
        .map_err(fail)?;
    eprintln!(
        "{}",
        lang.text(
            format!(
                "已判定{}例病例的接触者（方案{}）：新增{}，更新{}，未变{}，移除{}（用时{:.1}秒）",
                cases.len(),
                settings.profile,
                changes.created,
                changes.updated,
                changes.unchanged,
                changes.removed,
                started.elapsed().as_secs_f64()
            ),
            format!(
                "traced the contacts of {} cases (profile {}): {} new, {} updated, {} unchanged, {} removed ({:.1} s)",
                cases.len(),
                settings.profile,
                changes.created,
                changes.updated,
                changes.unchanged,
                changes.removed,
                started.elapsed().as_secs_f64()
            )
        )
    );
    Ok(())
}

pub async fn run(args: ContactsArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let as_of = match &args.as_of {
        None => chrono::Utc::now(),
        Some(raw) => parse_instant(raw, config.time_zone).ok_or_else(|| Failure::Coded {
            code: "invalid_time",
            message: format!(
                "--as-of: {}",
                closedloop_domain::DomainError::InvalidTime(raw.clone()).message(lang)
            ),
        })?,
    };
    let store = open_store(config).await?;
    let Some(case) = store
        .case(&args.case_id)
        .await
        .map_err(|e| Failure::coded(&e, lang))?
    else {
        return Err(Failure::coded(
            &StoreError::NotFound {
                entity: "case",
                id: args.case_id.clone(),
            },
            lang,
        )
        .into());
    };
    let index = WarmIndex::load(&store)
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    let settings = TraceSettings::from_profile(&config.profile, config.time_zone);
    let profile = settings.profile.clone();
    let actor = Actor(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let changes = store
        .trace_and_record(
            &index,
            std::slice::from_ref(&case),
            &settings,
            as_of.timestamp(),
            &actor,
        )
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    let stored = store
        .contacts_of_case(&args.case_id)
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    match args.format {
        ContactsFormat::Json => println!("{}", serde_json::to_string_pretty(&stored)?),
        ContactsFormat::Text => {
            let count =
                |c: ContactCategory| stored.iter().filter(|s| s.contact.category == c).count();
            println!(
                "{}",
                lang.text(
                    format!(
                        "病例{}（{}）：密切接触者{}人，密接的密接{}人，涉疫场所暴露人员{}人（新增{}，更新{}，未变{}，移除{}；方案{profile}）",
                        args.case_id,
                        case.case.person.name,
                        count(ContactCategory::CloseContact),
                        count(ContactCategory::SecondaryContact),
                        count(ContactCategory::VenueExposed),
                        changes.created,
                        changes.updated,
                        changes.unchanged,
                        changes.removed
                    ),
                    format!(
                        "case {} ({}): {} close contacts, {} secondary contacts, {} venue-exposed ({} new, {} updated, {} unchanged, {} removed; profile {profile})",
                        args.case_id,
                        case.case.person.name,
                        count(ContactCategory::CloseContact),
                        count(ContactCategory::SecondaryContact),
                        count(ContactCategory::VenueExposed),
                        changes.created,
                        changes.updated,
                        changes.unchanged,
                        changes.removed
                    )
                )
            );
            let tz = config.time_zone;
            let at = |s: i64| format_instant(from_epoch(s), tz);
            for c in &stored {
                let why = c.contact.explanations.first().map(|e| e.describe(lang, tz));
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.document_number,
                    c.contact.category.label(lang),
                    at(c.contact.first_exposure),
                    c.contact.via_person,
                    why.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
