//! `contacts`: trace one registered case under the profile's full rules, store
//! its contacts (known ones updated, not duplicated) and show them with why.

use crate::cli::open_store;
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use clap::{Args, ValueEnum};
use closedloop_domain::contact::{ContactCategory, Explanation, ExposureKind};
use closedloop_domain::time::{format_instant, from_epoch, parse_instant};
use closedloop_domain::{ErrorCode, Lang};
use closedloop_store::{Actor, CaseFilter, ContactDraft, Store, StoreError};
use closedloop_trace::explain::{trace_case, Category, RegistryRules, Relations, Route, Source};
use closedloop_trace::{Ids, Stay, StayIndex, Stays};
use std::collections::{HashMap, HashSet};

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

/// The registry's movements as the engine sees them: dense numbers both ways.
struct Loaded {
    index: StayIndex,
    relations: Relations,
    person_ix: HashMap<i64, u32>,
    person_id: Vec<i64>,
    venues: Ids,
    places: Ids,
}

impl Loaded {
    fn person(&mut self, id: i64) -> u32 {
        let next = self.person_id.len() as u32;
        *self.person_ix.entry(id).or_insert_with(|| {
            self.person_id.push(id);
            next
        })
    }
}

async fn load(store: &Store, lang: Lang) -> Result<Loaded> {
    let snap = store
        .tracing_snapshot()
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    let mut loaded = Loaded {
        index: StayIndex::default(),
        relations: Relations::default(),
        person_ix: HashMap::new(),
        person_id: Vec::new(),
        venues: Ids::new(),
        places: Ids::new(),
    };
    let mut stays = Stays::with_capacity(snap.stays.len());
    let engine = |e: &dyn std::fmt::Display| Failure::Coded {
        code: "tracing_failed",
        message: e.to_string(),
    };
    for (person, venue, check_in, check_out) in &snap.stays {
        let person = loaded.person(*person);
        let venue = loaded.venues.intern(venue).map_err(|e| engine(&e))?;
        stays
            .push(Stay {
                person,
                venue,
                check_in: *check_in,
                check_out: *check_out,
            })
            .map_err(|e| engine(&e))?;
    }
    loaded.index = StayIndex::build(stays);
    for (person, household) in &snap.households {
        let person = loaded.person(*person);
        let household = loaded
            .places
            .intern(&format!("household:{household}"))
            .map_err(|e| engine(&e))?;
        loaded.relations.add_household_member(person, household);
    }
    for (person, trip, carriage, row) in &snap.seats {
        let person = loaded.person(*person);
        let trip = loaded
            .places
            .intern(&format!("trip:{trip}"))
            .map_err(|e| engine(&e))?;
        let carriage = loaded
            .places
            .intern(&format!("carriage:{carriage}"))
            .map_err(|e| engine(&e))?;
        loaded.relations.add_seat(person, trip, carriage, *row);
    }
    Ok(loaded)
}

fn category(c: Category) -> ContactCategory {
    match c {
        Category::Close => ContactCategory::CloseContact,
        Category::Secondary => ContactCategory::SecondaryContact,
        Category::VenueExposed => ContactCategory::VenueExposed,
    }
}

fn strip(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_string()
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
    let mut loaded = load(&store, lang).await?;
    // Known cases are never anyone's contacts.
    let (all_cases, _) = store
        .cases(&CaseFilter::default())
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    let case_people: HashSet<u32> = all_cases
        .iter()
        .map(|c| c.person_id)
        .collect::<Vec<_>>()
        .into_iter()
        .map(|id| loaded.person(id))
        .collect();
    let source = Source {
        person: loaded.person(case.person_id),
        reference_time: case.case.reference_time(config.time_zone).timestamp(),
        isolated_at: None,
    };
    let t = &config.profile.tracing;
    let minutes = |m: u32| i64::from(m) * 60;
    let rules = RegistryRules {
        lookback: i64::from(t.lookback_days) * 86_400,
        buffer: minutes(t.buffer_minutes),
        min_overlap: minutes(t.min_overlap_minutes),
        crowd_cap: t.crowd_cap,
        long_overlap: minutes(t.long_overlap_minutes),
        co_travel_rows: i64::from(t.co_travel_rows),
        secondary: t.secondary,
    };
    let person_id = loaded.person_id.clone();
    let db_id = |ix: u32| person_id.get(ix as usize).copied().unwrap_or_default();
    let traced = trace_case(
        &loaded.index,
        &loaded.relations,
        source,
        &|p| case_people.contains(&p),
        &|p| db_id(p) as u64,
        &rules,
        as_of.timestamp(),
    );
    let drafts: Vec<ContactDraft> = traced
        .iter()
        .map(|t| ContactDraft {
            person_id: db_id(t.person),
            category: category(t.category),
            degree: if t.category == Category::Secondary {
                2
            } else {
                1
            },
            first_exposure: t.first_exposure,
            via_person: db_id(t.via),
            explanations: t
                .exposures
                .iter()
                .map(|e| {
                    let mut x = Explanation {
                        kind: ExposureKind::Venue,
                        through: db_id(e.through),
                        place: String::new(),
                        source_stay: None,
                        contact_stay: None,
                        overlap_seconds: None,
                        crowd: None,
                        carriage: None,
                        source_row: None,
                        contact_row: None,
                    };
                    match &e.route {
                        Route::Venue {
                            venue,
                            source_stay,
                            contact_stay,
                            overlap,
                            crowd,
                        } => {
                            x.place = loaded.venues.name(*venue).to_string();
                            x.source_stay = Some(*source_stay);
                            x.contact_stay = Some(*contact_stay);
                            x.overlap_seconds = Some(*overlap);
                            x.crowd = Some(*crowd);
                        }
                        Route::Household { household } => {
                            x.kind = ExposureKind::Household;
                            x.place = strip(loaded.places.name(*household), "household:");
                        }
                        Route::CoTravel {
                            trip,
                            carriage,
                            source_row,
                            contact_row,
                        } => {
                            x.kind = ExposureKind::CoTravel;
                            x.place = strip(loaded.places.name(*trip), "trip:");
                            x.carriage = Some(strip(loaded.places.name(*carriage), "carriage:"));
                            x.source_row = *source_row;
                            x.contact_row = *contact_row;
                        }
                    }
                    x
                })
                .collect(),
        })
        .collect();
    let profile = format!("{}@{}", config.profile.name, config.profile.version);
    let actor = Actor(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let changes = store
        .record_contacts(case.id, &drafts, &profile, &actor)
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
                let why = c.contact.explanations.first().map(|e| match e.kind {
                    ExposureKind::Venue => {
                        let [si, so] = e.source_stay.unwrap_or_default();
                        let [ci, co] = e.contact_stay.unwrap_or_default();
                        lang.text(
                            format!("场所{}：传染源{}—{}，本人{}—{}，重叠{}分钟（同时在场{}人）", e.place, at(si), at(so), at(ci), at(co), e.overlap_seconds.unwrap_or(0) / 60, e.crowd.unwrap_or(0)),
                            format!("venue {}: source {}–{}, contact {}–{}, overlap {} min ({} present)", e.place, at(si), at(so), at(ci), at(co), e.overlap_seconds.unwrap_or(0) / 60, e.crowd.unwrap_or(0)),
                        )
                    }
                    ExposureKind::Household => lang.text(format!("同住（户{}）", e.place), format!("same household ({})", e.place)),
                    ExposureKind::CoTravel => lang.text(
                        format!("同乘{} {}车厢，传染源第{}排，本人第{}排", e.place, e.carriage.clone().unwrap_or_default(), e.source_row.unwrap_or(0), e.contact_row.unwrap_or(0)),
                        format!("trip {} carriage {}, source row {}, contact row {}", e.place, e.carriage.clone().unwrap_or_default(), e.source_row.unwrap_or(0), e.contact_row.unwrap_or(0)),
                    ),
                });
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
