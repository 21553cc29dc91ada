//! `trace`: close and secondary contacts from a check-in file, standalone (no
//! database). The flags and the output file are a contract kept for
//! benchmarks and outside checks.

use crate::config::Config;
use crate::exchange::write_atomically;
use crate::report::Failure;
use anyhow::Result;
use clap::Args;
use closedloop_domain::Lang;
use closedloop_ingest::movement::{self, MovementError};
use closedloop_trace::{CaseInput, Ids, Rules, Sizes, StayIndex, Tracer};
use std::io::BufWriter;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
#[command(after_help = "\
Windows: a case's window is [reference_time − lookback, isolated_at or --as-of]. A case stay that \
overlaps it exposes its venue from max(check_in, window start) to min(check_out, window end) + buffer. \
Someone who is not a case, at the same venue, overlapping that for more than 0 seconds and at least \
the minimum overlap, is a close contact (degree 1), first exposed at the latest of their check-in and \
the exposure start. With --secondary, each close contact's stays from their first exposure to --as-of \
expose others the same way: secondary contacts (degree 2), who are neither cases nor close contacts.\n\
Output: person_id,degree,first_exposure,via,sources sorted by person_id (byte order); first_exposure \
in UTC to the second; via is the case or close contact of the earliest exposure (ties: smallest id); \
sources counts distinct cases or close contacts.\n\
Times are whole seconds: sub-second parts are dropped. Times before 1970 or from 2100 on are refused.\n\
Beyond the contract: --crowd-cap N makes an exposure with more than N qualifying stays of others (not \
the source, not cases) crowded: it makes no contacts, only venue-exposed people, who are counted but \
not listed. --count-only writes the counts instead of the list: \
scope,close_contacts,secondary_contacts,venue_exposed with the row `all`, and with --per-case one row \
per case traced alone.\n\
判定规则：病例的传染期为[参考时间−回溯期, 隔离时间或--as-of]；与病例同场所停留、重叠时间大于0且不少于最短重叠时间者为密接；\
加 --secondary 时，密接自首次暴露至--as-of的停留按同样规则判定次密接。")]
pub struct TraceArgs {
    /// Check-ins: CSV (RFC 3339 times; without an offset, read in --time-zone) or Parquet (timestamps
    /// of any unit, or int64 microseconds since the epoch) with person_id, venue_id, check_in, check_out;
    /// other columns are ignored
    #[arg(long)]
    pub checkins: PathBuf,
    /// Cases: CSV with person_id, reference_time, isolated_at (may be empty)
    #[arg(long)]
    pub cases: PathBuf,
    /// Output CSV: person_id,degree,first_exposure,via,sources (written only when all went well)
    #[arg(long)]
    pub out: PathBuf,
    /// Look-back before a case's reference time, in days
    #[arg(long, default_value_t = 2)]
    pub lookback_days: u32,
    /// How long a stay still counts after its source left, in minutes
    #[arg(long, default_value_t = 30)]
    pub buffer_minutes: u32,
    /// The shortest overlap that counts, in minutes (any overlap must also be longer than zero)
    #[arg(long, default_value_t = 0)]
    pub min_overlap_minutes: u32,
    /// Also find secondary contacts (contacts of close contacts)
    #[arg(long)]
    pub secondary: bool,
    /// "Now": the end of windows without isolation (RFC 3339; default: the latest check_out in the data)
    #[arg(long)]
    pub as_of: Option<String>,
    /// Not in the contract: an exposure with more than N qualifying stays of others is crowded and
    /// makes venue-exposed people (counted, not listed) instead of contacts
    #[arg(long, value_name = "N")]
    pub crowd_cap: Option<u32>,
    /// Not in the contract: write the counts (scope,close_contacts,secondary_contacts,venue_exposed)
    /// instead of the list
    #[arg(long)]
    pub count_only: bool,
    /// With --count-only: also one row per case, traced alone
    #[arg(long, requires = "count_only")]
    pub per_case: bool,
}

pub fn run(args: TraceArgs, config: &Config) -> Result<()> {
    let lang = config.lang;
    let tz = config.time_zone;
    let fail = |e: MovementError| Failure::coded(&e, lang);
    let started = Instant::now();

    let as_of = match &args.as_of {
        None => None,
        Some(raw) => Some(
            movement::parse_time(raw, tz)
                .filter(|t| (movement::EARLIEST..movement::END).contains(t))
                .ok_or_else(|| Failure::Coded {
                    code: "invalid_time",
                    message: lang.text(
                        format!("--as-of：时间“{raw}”无效，请使用RFC 3339（如2022-03-09T08:30:00+08:00），且在1970至2099年之间"),
                        format!("--as-of: invalid time {raw:?}: use RFC 3339 (2022-03-09T08:30:00+08:00), between 1970 and 2099"),
                    ),
                })?,
        ),
    };

    // Cases first: a mistake there is found before the long read.
    let mut people = Ids::new();
    let mut venues = Ids::new();
    let cases = movement::read_trace_cases(&args.cases, tz, &mut people).map_err(fail)?;
    let stays =
        movement::read_checkins(&args.checkins, tz, &mut people, &mut venues).map_err(fail)?;
    // No more names come: the lookup tables (half of the interners' memory)
    // can go before the index is built.
    people.freeze();
    venues.freeze();
    let read = started.elapsed();
    let index = StayIndex::build(stays);
    let built = started.elapsed();
    let as_of = as_of.or(index.latest_check_out()).unwrap_or(0);
    let rules = Rules {
        lookback: i64::from(args.lookback_days) * 86_400,
        buffer: i64::from(args.buffer_minutes) * 60,
        min_overlap: i64::from(args.min_overlap_minutes) * 60,
    };
    let unwritable = |e: std::io::Error| -> anyhow::Error {
        Failure::Coded {
            code: "file_unwritable",
            message: lang.text(
                format!("无法写入{}：{e}", args.out.display()),
                format!("cannot write {}: {e}", args.out.display()),
            ),
        }
        .into()
    };
    let mut tracer = Tracer::new();
    tracer.set_crowd_cap(args.crowd_cap);
    let sizes = if args.count_only {
        let all = tracer.sizes(&index, &people, &cases, &rules, as_of, args.secondary);
        let mut rows = vec![("all".to_string(), all)];
        if args.per_case {
            let mut persons: Vec<u32> = cases.iter().map(|c| c.person).collect();
            closedloop_trace::IdOrder::sort(&people, &mut persons);
            persons.dedup();
            for p in persons {
                let own: Vec<CaseInput> = cases.iter().copied().filter(|c| c.person == p).collect();
                let sizes = tracer.sizes(&index, &people, &own, &rules, as_of, args.secondary);
                rows.push((people.name(p).to_string(), sizes));
            }
        }
        write_atomically(&args.out, |file| {
            write_counts(BufWriter::new(file), &rows).map_err(unwritable)
        })?;
        all
    } else {
        let contacts = tracer.trace(&index, &people, &cases, &rules, as_of, args.secondary);
        write_atomically(&args.out, |file| {
            movement::write_contacts(BufWriter::with_capacity(1 << 20, file), &contacts, &people)
                .map_err(unwritable)
        })?;
        let close = contacts.iter().filter(|c| c.degree == 1).count();
        Sizes {
            close,
            secondary: contacts.len() - close,
            venue_exposed: tracer.venue_exposed(),
        }
    };
    let traced = started.elapsed();

    eprintln!(
        "{}",
        summary(
            lang,
            cases.len(),
            index.len(),
            sizes.close,
            sizes.secondary,
            &args.out
        )
    );
    if args.crowd_cap.is_some() {
        eprintln!(
            "{}",
            lang.text(
                format!(
                    "涉疫场所暴露人员{}人（拥挤场所，未列出）",
                    sizes.venue_exposed
                ),
                format!(
                    "{} venue-exposed people (crowded exposures; not listed)",
                    sizes.venue_exposed
                ),
            )
        );
    }
    tracing::info!(
        read_ms = read.as_millis() as u64,
        index_ms = (built - read).as_millis() as u64,
        trace_ms = (traced - built).as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        index_bytes = index.memory_bytes() as u64,
        "trace timings"
    );
    Ok(())
}

/// The counts of `--count-only`: one row per scope (`all`, then cases).
fn write_counts(mut out: impl Write, rows: &[(String, Sizes)]) -> std::io::Result<()> {
    writeln!(out, "scope,close_contacts,secondary_contacts,venue_exposed")?;
    for (scope, s) in rows {
        let scope = if scope.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", scope.replace('"', "\"\""))
        } else {
            scope.clone()
        };
        writeln!(
            out,
            "{scope},{},{},{}",
            s.close, s.secondary, s.venue_exposed
        )?;
    }
    out.flush()
}

fn summary(
    lang: Lang,
    cases: usize,
    stays: usize,
    close: usize,
    secondary: usize,
    out: &std::path::Path,
) -> String {
    lang.text(
        format!(
            "{cases}例病例，{stays}条停留记录：密接{close}人，次密接{secondary}人，已写入 {}",
            out.display()
        ),
        format!(
            "{cases} cases, {stays} stays: {close} close contacts, {secondary} secondary contacts, written to {}",
            out.display()
        ),
    )
}
