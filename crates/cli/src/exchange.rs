//! `import` and `export`: files in, files out, through the ingest contracts.

use crate::cli::{open_store, ExportArgs, ExportKind, FileFormatArg, ImportArgs, ImportKind};
use crate::config::Config;
use crate::report::Failure;
use anyhow::Result;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_ingest::{Contract, Parsed, Rejection};
use closedloop_store::{
    Actor, CaseFilter, ImportMode, ImportSummary, RowRejection, Store, StoreError,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};

fn progress_bar(len: u64, lang: Lang) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = lang.pick(
        "{msg} [{bar:40}] {pos}/{len} 行 ({eta})",
        "{msg} [{bar:40}] {pos}/{len} rows ({eta})",
    );
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(lang.pick("写入", "writing").to_string());
    bar
}

fn store_rejection(source: &str, r: &RowRejection, lang: Lang) -> Rejection {
    Rejection {
        line: r.line,
        column: r.column.clone(),
        code: r.error.code(),
        reason: r.error.message(lang),
        source: source.to_string(),
    }
}

/// Imports one file; all-or-nothing unless `--skip-bad-rows`.
pub async fn import(args: ImportArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let parquet = closedloop_ingest::movement::MovementFormat::from_path(&args.file)
        == Some(closedloop_ingest::movement::MovementFormat::Parquet);
    let movement = matches!(
        args.kind,
        ImportKind::Venues | ImportKind::Checkins | ImportKind::Trips
    );
    // Movement files may be Parquet too: read into the same table, same contract, same errors.
    let table = if parquet && movement {
        closedloop_ingest::movement::read_parquet_table(&args.file)
            .map_err(|e| Failure::coded(&e, lang))?
    } else {
        closedloop_ingest::read_table(&args.file).map_err(|e| Failure::coded(&e, lang))?
    };
    let store = open_store(config).await?;
    let mode = ImportMode {
        skip_bad_rows: args.skip_bad_rows,
        update: args.update,
    };
    let actor = Actor(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let source = table.source.clone();
    let outcome = match args.kind {
        ImportKind::Regions => {
            let parsed =
                closedloop_ingest::parse_regions(&table).map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            store
                .import_regions(records, mode, &source, &actor)
                .await
                .map(|s| (s, parsed.errors))
        }
        ImportKind::Persons => {
            let parsed =
                closedloop_ingest::parse_persons(&table).map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            let bar = progress_bar(records.len() as u64, lang);
            let r = store
                .import_persons_with_progress(records, mode, &source, &actor, &|n| {
                    bar.set_position(n)
                })
                .await;
            bar.finish_and_clear();
            r.map(|s| (s, parsed.errors))
        }
        ImportKind::Venues => {
            let parsed =
                closedloop_ingest::parse_venues(&table).map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            store
                .import_venues(records, mode, &source, &actor)
                .await
                .map(|s| (s, parsed.errors))
        }
        ImportKind::Facilities => {
            let parsed = closedloop_ingest::parse_facilities(&table)
                .map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            store
                .import_facilities(records, mode, &source, &actor)
                .await
                .map(|s| (s, parsed.errors))
        }
        ImportKind::Trips => {
            let parsed =
                closedloop_ingest::parse_trips(&table).map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            store
                .import_trips(records, mode, &source, &actor)
                .await
                .map(|s| (s, parsed.errors))
        }
        ImportKind::Checkins => {
            let parsed = closedloop_ingest::parse_checkins(&table, config.time_zone)
                .map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            let bar = progress_bar(records.len() as u64, lang);
            let r = store
                .import_checkins_with_progress(records, mode, &source, &actor, &|n| {
                    bar.set_position(n)
                })
                .await;
            bar.finish_and_clear();
            r.map(|s| (s, parsed.errors))
        }
        ImportKind::Cases => {
            let parsed = closedloop_ingest::parse_cases(&table, config.time_zone)
                .map_err(|e| Failure::coded(&e, lang))?;
            let records = usable(&parsed, mode, lang)?;
            let bar = progress_bar(records.len() as u64, lang);
            let r = store
                .import_cases_with_progress(records, mode, &source, &actor, &|n| {
                    bar.set_position(n)
                })
                .await;
            bar.finish_and_clear();
            r.map(|s| (s, parsed.errors))
        }
    };
    if let Ok((summary, _)) = &outcome {
        // Registering a case (or moving its window) traces it at once.
        let traced =
            crate::contacts::trace_registered(&store, config, &summary.to_trace, &actor).await;
        if let Err(e) = traced {
            store.close().await;
            return Err(e);
        }
    }
    store.close().await;
    let (summary, parse_errors) = match outcome {
        Ok(ok) => ok,
        Err(StoreError::Rejected(n, rows)) => {
            let lines = rows
                .iter()
                .map(|r| store_rejection(&source, r, lang).message(lang))
                .collect();
            let summary = lang.text(
                format!("{source}：{n}行被拒绝，未写入任何数据（可用 --skip-bad-rows 只导入正确的行）"),
                format!("{source}: {n} rows refused; nothing was written (--skip-bad-rows loads the good rows)"),
            );
            return Err(Failure::Rows { lines, summary }.into());
        }
        Err(e) => return Err(Failure::coded(&e, lang).into()),
    };
    let mut rejects: Vec<Rejection> = parse_errors
        .iter()
        .map(|e| Rejection::from_row_error(e, lang))
        .collect();
    rejects.extend(
        summary
            .rejected
            .iter()
            .map(|r| store_rejection(&source, r, lang)),
    );
    rejects.sort_by_key(|r| r.line);
    if !rejects.is_empty() {
        let path = args
            .rejects
            .clone()
            .unwrap_or_else(|| default_rejects_path(&args.file));
        write_atomically(&path, |out| {
            closedloop_ingest::write_rejects(out, &table, &rejects)
                .map_err(|e| Failure::coded(&e, lang).into())
        })?;
        eprintln!(
            "{}",
            lang.pick(
                &format!(
                    "{}行被拒绝，原因见 {}",
                    rejected_rows(&rejects),
                    path.display()
                ),
                &format!(
                    "{} rows refused; reasons in {}",
                    rejected_rows(&rejects),
                    path.display()
                )
            )
        );
    }
    print_summary(&source, &summary, rejected_rows(&rejects), lang);
    Ok(())
}

fn rejected_rows(rejects: &[Rejection]) -> usize {
    let mut lines: Vec<u64> = rejects.iter().map(|r| r.line).collect();
    lines.dedup();
    lines.len()
}

/// The good records, or the failure listing every bad row when all-or-nothing.
fn usable<T>(parsed: &Parsed<T>, mode: ImportMode, lang: Lang) -> Result<&[(u64, T)]> {
    if parsed.errors.is_empty() || mode.skip_bad_rows {
        return Ok(&parsed.records);
    }
    let lines = parsed.errors.iter().map(|e| e.message(lang)).collect();
    let n = parsed.rejected_rows();
    let source = parsed
        .errors
        .first()
        .map(|e| e.source.clone())
        .unwrap_or_default();
    let summary = lang.text(
        format!("{source}：{n}行有误，未写入任何数据（可用 --skip-bad-rows 只导入正确的行）"),
        format!(
            "{source}: {n} bad rows; nothing was written (--skip-bad-rows loads the good rows)"
        ),
    );
    Err(Failure::Rows { lines, summary }.into())
}

fn print_summary(source: &str, s: &ImportSummary, rejected: usize, lang: Lang) {
    println!(
        "{}",
        lang.pick(
            &format!(
                "{source}：新增{}条，更新{}条，未变{}条，拒绝{}行（批次{}）",
                s.created,
                s.updated,
                s.unchanged,
                rejected,
                s.batch.unwrap_or(0)
            ),
            &format!(
                "{source}: {} created, {} updated, {} unchanged, {} rejected (batch {})",
                s.created,
                s.updated,
                s.unchanged,
                rejected,
                s.batch.unwrap_or(0)
            )
        )
    );
}

fn default_rejects_path(file: &Path) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".rejects.csv");
    file.with_file_name(name)
}

/// Writes `path` through a temporary file in the same folder, so a failure leaves nothing half-written.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("closedloop")
    ));
    let result = (|| {
        let mut file =
            std::fs::File::create(&tmp).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
        write(&mut file)?;
        file.flush()?;
        std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The codes of `region` and below, or `None` for everything.
pub(crate) async fn scope(
    store: &Store,
    region: Option<&str>,
    lang: Lang,
) -> Result<Option<Vec<String>>> {
    let Some(code) = region else { return Ok(None) };
    let tree = store
        .region_tree()
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    if tree.get(code).is_none() {
        let e = StoreError::NotFound {
            entity: "region",
            id: code.to_string(),
        };
        return Err(Failure::coded(&e, lang).into());
    }
    Ok(Some(tree.subtree_codes(code)))
}

pub async fn export(args: ExportArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let store = open_store(config).await?;
    let scope = scope(&store, args.region.as_deref(), lang).await?;
    let (contract, rows): (Contract, Vec<Vec<String>>) = match args.kind {
        ExportKind::Persons => {
            let persons = store
                .export_persons(scope.as_deref())
                .await
                .map_err(|e| Failure::coded(&e, lang))?;
            (
                Contract::Persons,
                persons
                    .iter()
                    .map(|p| closedloop_ingest::person_record(&p.person))
                    .collect(),
            )
        }
        ExportKind::Cases => {
            let filter = CaseFilter {
                scope,
                ..Default::default()
            };
            let (cases, _) = store
                .cases(&filter)
                .await
                .map_err(|e| Failure::coded(&e, lang))?;
            (
                Contract::Cases,
                cases
                    .iter()
                    .map(|c| closedloop_ingest::case_record(&c.case, config.time_zone))
                    .collect(),
            )
        }
        ExportKind::Facilities => {
            let facilities = store
                .facility_occupancy_for(scope.as_deref())
                .await
                .map_err(|e| Failure::coded(&e, lang))?;
            (
                Contract::Facilities,
                facilities
                    .iter()
                    .map(|f| closedloop_ingest::facility_record(&f.facility))
                    .collect(),
            )
        }
    };
    store.close().await;
    let count = rows.len();
    match (args.format, &args.out) {
        (FileFormatArg::Csv, None) => {
            let stdout = std::io::stdout();
            closedloop_ingest::write_csv(stdout.lock(), contract, rows.into_iter())
                .map_err(|e| Failure::coded(&e, lang))?;
        }
        (FileFormatArg::Csv, Some(path)) => write_atomically(path, |out| {
            closedloop_ingest::write_csv(out, contract, rows.into_iter())
                .map_err(|e| Failure::coded(&e, lang).into())
        })?,
        (FileFormatArg::Xlsx, Some(path)) => write_atomically(path, |out| {
            closedloop_ingest::write_xlsx_to(out, contract, rows.into_iter())
                .map_err(|e| Failure::coded(&e, lang).into())
        })?,
        (FileFormatArg::Xlsx, None) => {
            return Err(Failure::Coded {
                code: "out_required",
                message: lang
                    .pick(
                        "XLSX 导出需要 --out 文件",
                        "an XLSX export needs --out FILE",
                    )
                    .to_string(),
            }
            .into())
        }
    }
    if let Some(path) = &args.out {
        eprintln!(
            "{}",
            lang.pick(
                &format!("已导出{count}条到 {}", path.display()),
                &format!("exported {count} records to {}", path.display())
            )
        );
    }
    Ok(())
}

/// Deletes movement data that ended before the retention period.
pub async fn purge(args: crate::cli::PurgeArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let now = match &args.now {
        None => chrono::Utc::now(),
        Some(raw) => {
            closedloop_domain::time::parse_instant(raw, config.time_zone).ok_or_else(|| {
                let e = closedloop_domain::DomainError::InvalidTime(raw.clone());
                Failure::Coded {
                    code: "invalid_time",
                    message: format!("--now: {}", e.message(lang)),
                }
            })?
        }
    };
    let days = args
        .retention_days
        .unwrap_or(config.profile.retention.movement_days);
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let store = open_store(config).await?;
    let actor = Actor(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let purged = store
        .purge_movements(cutoff, &actor)
        .await
        .map_err(|e| Failure::coded(&e, lang))?;
    store.close().await;
    let at = closedloop_domain::time::format_instant(cutoff, config.time_zone);
    println!(
        "{}",
        lang.text(
            format!(
                "已清除{at}之前的行程数据：场所扫码{}条，乘车座位{}条",
                purged.checkins, purged.trip_seats
            ),
            format!(
                "purged movement data before {at}: {} check-ins, {} trip seats",
                purged.checkins, purged.trip_seats
            )
        )
    );
    Ok(())
}
