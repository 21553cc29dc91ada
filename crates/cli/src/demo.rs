//! `demo` and `serve`.

use crate::cli::DemoArgs;
use crate::config::{Config, DEFAULT_DATA_DIR};
use crate::report::Failure;
use anyhow::Result;
use closedloop_demo::{generate, DemoConfig};
use closedloop_domain::access::Role;
use closedloop_store::accounts::{generate_password, NewUser};
use closedloop_store::contact_tracing::{TraceSettings, WarmIndex};
use closedloop_store::{Actor, ImportMode, Store};
use std::path::{Path, PathBuf};

/// The demo clock stops at 2022-04-01 00:00 in Jilin (UTC+8): windows still
/// open are traced up to then.
const DEMO_CLOCK_END: i64 = 1_648_742_400;

/// Marks a database the demo made, so a later demo may replace it without --force.
const DEMO_MARKER: &str = ".closedloop-demo";

pub async fn run(args: DemoArgs, config: Config) -> Result<()> {
    let lang = config.lang;
    // On SQLite the demo makes its own file; on PostgreSQL (for benchmarks
    // and trying the production database) it fills an empty database and
    // never replaces anything.
    let db_path = closedloop_store::sqlite_path(&config.database_url).map(PathBuf::from);
    if !(args.scale.is_finite() && args.scale > 0.0 && args.scale <= 10.0) {
        return Err(Failure::Coded {
            code: "invalid_scale",
            message: lang
                .pick(
                    "--scale 须在 0 到 10 之间",
                    "--scale must be above 0 and at most 10",
                )
                .into(),
        }
        .into());
    }
    if let Some(db_path) = &db_path {
        let marker = marker_path(db_path);
        if db_path.exists() && !marker.exists() && !args.force {
            return Err(Failure::Coded {
                code: "database_exists",
                message: lang
                    .pick(
                        &format!(
                            "{} 已存在且不是演示创建的；如要替换请加 --force",
                            db_path.display()
                        ),
                        &format!(
                            "{} exists and was not made by the demo; add --force to replace it",
                            db_path.display()
                        ),
                    )
                    .into(),
            }
            .into());
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = db_path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    let started = std::time::Instant::now();
    let data = generate(&DemoConfig {
        scale: args.scale,
        seed: args.seed,
    });
    let loop_script = closedloop_demo::closed_loop::loop_script(
        &data,
        args.seed,
        (1000.0 * args.scale).clamp(20.0, 300.0) as usize,
    );
    let store = Store::open(&config.database_url)
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    match &db_path {
        Some(db_path) => std::fs::write(
            marker_path(db_path),
            format!("seed={} scale={}\n", args.seed, args.scale),
        )?,
        None => {
            let regions = store
                .regions()
                .await
                .map_err(|e| Failure::coded(&e, lang))?;
            if !regions.is_empty() {
                return Err(Failure::Coded {
                    code: "database_not_empty",
                    message: lang
                        .pick(
                            &format!(
                                "{} 已有数据；在 PostgreSQL 上演示只写入空数据库",
                                closedloop_store::redact(&config.database_url)
                            ),
                            &format!(
                                "{} already holds data; on PostgreSQL the demo only fills an empty database",
                                closedloop_store::redact(&config.database_url)
                            ),
                        )
                        .into(),
                }
                .into());
            }
        }
    }
    let actor = Actor("demo".into());
    let mode = ImportMode::default();
    let regions = numbered(data.regions);
    let persons = numbered(data.persons);
    let cases = numbered(data.cases);
    let fail = |e: closedloop_store::StoreError| Failure::coded(&e, lang);
    store
        .import_regions(&regions, mode, "demo:regions", &actor)
        .await
        .map_err(fail)?;
    store
        .import_persons(&persons, mode, "demo:persons", &actor)
        .await
        .map_err(fail)?;
    let bar = indicatif::ProgressBar::new(cases.len() as u64);
    store
        .import_cases_with_progress(&cases, mode, "demo:cases", &actor, &|n| bar.set_position(n))
        .await
        .map_err(fail)?;
    bar.finish_and_clear();
    let venues = numbered(data.venues);
    let checkins = numbered(data.checkins);
    let trips = numbered(data.trips);
    store
        .import_venues(&venues, mode, "demo:venues", &actor)
        .await
        .map_err(fail)?;
    store
        .import_checkins_with_progress(&checkins, mode, "demo:checkins", &actor, &|_| {})
        .await
        .map_err(fail)?;
    store
        .import_trips(&trips, mode, "demo:trips", &actor)
        .await
        .map_err(fail)?;
    let loop_started = std::time::Instant::now();
    let played = crate::demo_loop::play(&store, &loop_script, &config).await?;
    let loop_seconds = loop_started.elapsed().as_secs_f64();
    // The other cases are traced through the one path (`Store::trace_and_record`)
    // on one index, up to the demo clock's end, so contacts, clusters and
    // chains have content at once. After the loop: the loop enrols every stored
    // contact when it plays, and its sample of cases keeps the contacts its
    // script gave them (its positives in quarantine were traced as it played).
    let trace_started = std::time::Instant::now();
    let scripted: std::collections::HashSet<&str> = loop_script
        .cases
        .iter()
        .map(|c| c.case_id.as_str())
        .collect();
    let case_ids: Vec<String> = cases
        .iter()
        .map(|(_, c)| c.case_id.clone())
        .filter(|id| !scripted.contains(id.as_str()))
        .collect();
    let index = WarmIndex::load(&store).await.map_err(fail)?;
    let registered = store.cases_by_id(&case_ids).await.map_err(fail)?;
    // Close contacts and venue-exposed people only: secondary contacts of five
    // thousand cases reach most of the demo's seven thousand people (2.0
    // million records, ten minutes); `closedloop contacts --case ID` traces
    // one case with them.
    let mut settings = TraceSettings::from_profile(&config.profile, config.time_zone);
    settings.rules.secondary = false;
    let traced = store
        .trace_and_record(&index, &registered, &settings, DEMO_CLOCK_END, &actor)
        .await
        .map_err(fail)?;
    drop(index);
    let trace_seconds = trace_started.elapsed().as_secs_f64();

    println!(
        "{}",
        lang.pick(
            &format!(
                "流调：{}例病例的接触者已判定（方案{}）：{}条接触记录，用时{:.1}秒；试试 closedloop clusters",
                registered.len(),
                settings.profile,
                traced.created + traced.updated + traced.unchanged,
                trace_seconds
            ),
            &format!(
                "tracing: the contacts of {} cases (profile {}): {} contact records, {:.1} s; try closedloop clusters",
                registered.len(),
                settings.profile,
                traced.created + traced.updated + traced.unchanged,
                trace_seconds
            )
        )
    );
    let location = match &db_path {
        Some(p) => p.canonicalize().unwrap_or(p.clone()).display().to_string(),
        None => closedloop_store::redact(&config.database_url),
    };
    println!(
        "{}",
        lang.pick(
            &format!(
                "演示数据库已创建：{}（{}个区划、{}名人员、{}例病例、{}个场所、{}条扫码记录，种子{}，规模{}，用时{:.1}秒）",
                location,
                regions.len(),
                persons.len() + cases.len(),
                cases.len(),
                venues.len(),
                checkins.len(),
                args.seed,
                args.scale,
                started.elapsed().as_secs_f64()
            ),
            &format!(
                "demo database ready: {} ({} regions, {} people, {} cases, {} venues, {} check-ins; seed {}, scale {}, {:.1} s)",
                location,
                regions.len(),
                persons.len() + cases.len(),
                cases.len(),
                venues.len(),
                checkins.len(),
                args.seed,
                args.scale,
                started.elapsed().as_secs_f64()
            )
        )
    );
    println!(
        "{}",
        lang.pick(
            &format!(
                "闭环演示：{}例病例、{}名密接等纳入闭环，{}次状态变更（{}次被拒），{}人转为感染者，{}人解除，用时{:.1}秒；演示时钟止于2022-03-31 24:00",
                played.cases, played.contacts, played.transitions, played.refused, played.conversions, played.released, loop_seconds
            ),
            &format!(
                "closed loop: {} cases and {} contacts enrolled, {} transitions ({} refused), {} converted to cases, {} released, {:.1} s; the demo clock stops at 2022-03-31 24:00",
                played.cases, played.contacts, played.transitions, played.refused, played.conversions, played.released, loop_seconds
            )
        )
    );
    println!(
        "{}",
        lang.pick(
            "闭环：closedloop loop status --now 2022-04-01T00:00，closedloop accountability --from 2022-03-10 --to 2022-03-31 --now 2022-04-01T00:00，closedloop audit verify",
            "closed loop: closedloop loop status --now 2022-04-01T00:00, closedloop accountability --from 2022-03-10 --to 2022-03-31 --now 2022-04-01T00:00, closedloop audit verify"
        )
    );
    println!(
        "{}",
        lang.pick(
            "试试：closedloop bulletin --date 2022-03-14（通报）或 closedloop export cases（导出）",
            "try: closedloop bulletin --date 2022-03-14 --lang en, or closedloop export cases"
        )
    );
    let accounts = demo_accounts(&store, args.admin_password.clone(), lang).await?;
    println!(
        "{}",
        lang.pick(
            "控制台登录（密码仅显示这一次）：",
            "console sign-in (passwords shown this once):"
        )
    );
    for (login, role, region, password) in &accounts {
        println!("  {login} / {password}  ({}, {region})", role.label(lang));
    }
    if args.no_serve {
        store.close().await;
        return Ok(());
    }
    serve_with(store, &config, false, false).await
}

/// The demo's accounts: an admin, the provincial commander, a city and a
/// district commander and an investigator, each with a generated password
/// (the admin's may be given). Returns (login, role, region, password).
async fn demo_accounts(
    store: &Store,
    admin_password: Option<String>,
    lang: closedloop_domain::Lang,
) -> Result<Vec<(String, Role, String, String)>> {
    let wanted = [
        ("admin", "系统管理员", Role::Admin, "220000"),
        (
            "province",
            "省指挥部值班",
            Role::ProvincialCommander,
            "220000",
        ),
        (
            "changchun",
            "长春市指挥部值班",
            Role::CityCommander,
            "220100",
        ),
        (
            "nanguan",
            "南关区指挥部值班",
            Role::DistrictCommander,
            "220102",
        ),
        ("investigator", "南关区流调员", Role::Investigator, "220102"),
    ];
    let mut out = Vec::new();
    for (login, display, role, region) in wanted {
        let password = match (&admin_password, role) {
            (Some(p), Role::Admin) => p.clone(),
            _ => generate_password(),
        };
        store
            .create_user(
                &NewUser {
                    login: login.into(),
                    display_name: display.into(),
                    role,
                    region_code: region.into(),
                    facility_id: None,
                    lang,
                    password: password.clone(),
                },
                &Actor("demo".into()),
            )
            .await
            .map_err(|e| Failure::coded(&e, lang))?;
        out.push((login.to_string(), role, region.to_string(), password));
    }
    Ok(out)
}

/// Records with the line they would have in a file (header on line 1), as imports expect.
fn numbered<T>(items: Vec<T>) -> Vec<(u64, T)> {
    items
        .into_iter()
        .zip(2u64..)
        .map(|(t, line)| (line, t))
        .collect()
}

fn marker_path(db: &Path) -> PathBuf {
    db.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new(DEFAULT_DATA_DIR))
        .join(DEMO_MARKER)
}

/// `serve`: the API over the configured database, purging expired movement data daily.
pub async fn serve(store: Store, config: &Config, secure_cookies: bool) -> Result<()> {
    serve_with(store, config, true, secure_cookies).await
}

/// Serves; `purge` runs the daily retention purge and the escalation of
/// overdue tasks (not for the demo, whose movements and loop are from March
/// 2022 and would all go or escalate at once).
async fn serve_with(
    store: Store,
    config: &Config,
    purge: bool,
    secure_cookies: bool,
) -> Result<()> {
    let lang = config.lang;
    let bind = config.bind.parse().map_err(|_| Failure::Coded {
        code: "invalid_bind",
        message: lang
            .pick(
                &format!("监听地址“{}”无效，应为 主机:端口", config.bind),
                &format!("invalid bind address {:?}: use HOST:PORT", config.bind),
            )
            .into(),
    })?;
    let server_config = closedloop_server::ServerConfig {
        bind,
        time_zone: config.time_zone,
        lang,
        profile: config.profile.clone(),
        ..closedloop_server::ServerConfig::default()
    };
    let server_config = closedloop_server::ServerConfig {
        purge_every: server_config.purge_every.filter(|_| purge),
        // The demo's loop is March 2022: escalating it against today's clock
        // would send every open task's notices at all rungs at once.
        escalate_every: server_config.escalate_every.filter(|_| purge),
        secure_cookies,
        ..server_config
    };
    println!(
        "{}",
        lang.pick(
            &format!("服务地址：http://{bind}（健康检查 /health，接口文档 /api/openapi.json）"),
            &format!("serving on http://{bind} (health /health, API document /api/openapi.json)")
        )
    );
    closedloop_server::serve(
        store.clone(),
        server_config,
        closedloop_server::shutdown_signal(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.close().await;
    Ok(())
}
