//! tracebench: the engine's in-memory benchmarks of issue 3 (scale at L,
//! extend at M, one new case on a warm index), timed inside one process.
//!
//! ```text
//! tracebench scale  --checkins F --cases F [--reps 5]
//! tracebench extend --checkins F --cases F [--batch 100000] [--reps 5]
//! tracebench serve  --checkins F             # queries on stdin, see below
//! tracebench primary --checkins F --cases F --cache DIR [--reps 9]
//! ```
//!
//! `primary` times the 1,000 cases' close contacts alone, phase by phase
//! (`Tracer::profile`), each path in turn on the same index; it keeps the
//! stays and the person names in DIR after the first run, so later runs
//! skip the Parquet read.
//!
//! `serve` reads the check-ins, builds the index and computes the id ranks
//! (a warm server), prints `ready`, then answers lines
//! `person_id,reference_epoch_s,isolated_epoch_s_or_empty,as_of_epoch_s` with
//! `ok MICROS N` followed by N lines `person_id,first_exposure,via,sources`
//! (close contacts of that one case, sorted by id; lookback 2 days, buffer
//! 30 min, minimum overlap 0). MICROS is the engine's time for the query
//! alone (the id lookup and tracing, not the I/O). bench/incremental.py
//! drives it against DuckDB.
//!
//! Every figure is printed as one JSON object per line on stdout.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use closedloop_ingest::movement;
use closedloop_trace::{CaseInput, Ids, PrimaryMode, Rules, StayIndex, Stays, Tracer};
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read, build, 1,000 cases primary (the scale targets).
    Scale {
        #[arg(long)]
        checkins: PathBuf,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Extend an index built from all but the last BATCH stays with them.
    Extend {
        #[arg(long)]
        checkins: PathBuf,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long, default_value_t = 100_000)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// Secondary contacts of the first N cases: the list, the counts, and
    /// both with a crowd cap (the engine's time, index built).
    Secondary {
        #[arg(long)]
        checkins: PathBuf,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long, default_value_t = 100)]
        n: usize,
        #[arg(long, default_value_t = 50)]
        cap: u32,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// The index build alone, REPS times, from the stays of CHECKINS saved
    /// once as raw records in RAW (read back before each build, untimed).
    Build {
        #[arg(long)]
        checkins: PathBuf,
        #[arg(long)]
        raw: PathBuf,
        #[arg(long, default_value_t = 3)]
        reps: usize,
    },
    /// The cases' close contacts alone, by phase, each path in turn (the
    /// stays and names cached in CACHE, which must not hold other data).
    Primary {
        #[arg(long)]
        checkins: PathBuf,
        #[arg(long)]
        cases: PathBuf,
        #[arg(long)]
        cache: PathBuf,
        #[arg(long, default_value_t = 9)]
        reps: usize,
        /// The paths to time, by name (buckets, buckets_two_threads, slots;
        /// buckets_15, _16, _17: buckets of 2^15.. people).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "buckets,buckets_two_threads,slots"
        )]
        paths: Vec<String>,
    },
    /// A warm index answering one case at a time from stdin.
    Serve {
        #[arg(long)]
        checkins: PathBuf,
    },
}

const RULES: Rules = Rules {
    lookback: 2 * 86_400,
    buffer: 1800,
    min_overlap: 0,
};

/// The peak and current resident set of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU seconds this process has used (user and system, all threads), from
/// /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of the calling thread, to the nanosecond (the scheduler's
/// own count, /proc/thread-self/schedstat): on a shared machine the wall
/// time of a single-threaded run includes waiting for a core, this does not.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e9)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn read(checkins: &Path, people: &mut Ids) -> Result<(Stays, Ids, f64)> {
    let mut venues = Ids::new();
    let t = Instant::now();
    let stays = movement::read_checkins(checkins, chrono_tz::UTC, people, &mut venues)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("reading {}", checkins.display()))?;
    Ok((stays, venues, secs(t)))
}

fn cases(path: &Path, people: &mut Ids) -> Result<Vec<CaseInput>> {
    movement::read_trace_cases(path, chrono_tz::UTC, people).map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn main() -> Result<()> {
    match Args::parse().cmd {
        Cmd::Scale {
            checkins,
            cases: case_file,
            reps,
        } => scale(&checkins, &case_file, reps),
        Cmd::Extend {
            checkins,
            cases: case_file,
            batch,
            reps,
        } => extend(&checkins, &case_file, batch, reps),
        Cmd::Serve { checkins } => serve(&checkins),
        Cmd::Primary {
            checkins,
            cases: case_file,
            cache,
            reps,
            paths,
        } => primary(&checkins, &case_file, &cache, reps, &paths),
        Cmd::Build {
            checkins,
            raw,
            reps,
        } => build(&checkins, &raw, reps),
        Cmd::Secondary {
            checkins,
            cases: case_file,
            n,
            cap,
            reps,
        } => secondary(&checkins, &case_file, n, cap, reps),
    }
}

fn scale(checkins: &Path, case_file: &Path, reps: usize) -> Result<()> {
    let mut people = Ids::new();
    let cases = cases(case_file, &mut people)?;
    let (stays, _venues, read_s) = read(checkins, &mut people)?;
    let n = stays.len();
    let (hwm_read, rss_read) = memory();
    println!(
        "{}",
        json!({"step": "read", "stays": n, "seconds": read_s, "peak_rss": hwm_read, "rss": rss_read})
    );
    people.freeze();
    let cpu = cpu_seconds();
    let t = Instant::now();
    let index = StayIndex::build(stays);
    let build_s = secs(t);
    let build_cpu = cpu_seconds() - cpu;
    let (hwm, rss) = memory();
    println!(
        "{}",
        json!({"step": "build", "stays": n, "seconds": build_s, "cpu_seconds": build_cpu,
               "index_bytes": index.memory_bytes(),
               "bytes_per_stay": index.memory_bytes() as f64 / n.max(1) as f64,
               "peak_rss": hwm, "rss_after_build": rss})
    );
    let as_of = index.latest_check_out().unwrap_or(0);
    let t = Instant::now();
    let ranks = people.ranks();
    println!("{}", json!({"step": "ranks", "seconds": secs(t)}));
    // The default reduction (by person bucket; on one thread, and split over
    // two) and the per-person slots it replaced (session 4), each on its own
    // warm tracer; their answers must be equal.
    let mut answers = Vec::new();
    for (mode, primary, split) in [
        ("", PrimaryMode::Auto, false),
        ("_two_threads", PrimaryMode::Auto, true),
        ("_slots", PrimaryMode::Slots, false),
    ] {
        let mut tracer = Tracer::new().with_primary(primary).with_split(split);
        for (label, by_rank) in [("primary_ranks", true), ("primary_ids", false)] {
            let mut times = Vec::new();
            let mut found = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                found = if by_rank {
                    tracer.trace(&index, &ranks, &cases, &RULES, as_of, false)
                } else {
                    tracer.trace(&index, &people, &cases, &RULES, as_of, false)
                };
                times.push(secs(t));
            }
            println!(
                "{}",
                json!({"step": format!("{label}{mode}"), "cases": cases.len(), "contacts": found.len(),
                       "median_s": median(times.clone()), "first_s": times.first(), "all_s": times})
            );
            answers.push(found);
        }
    }
    // Into a list kept between runs, as a long-lived server can.
    let mut tracer = Tracer::new();
    let mut kept = Vec::new();
    let mut times = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        tracer.trace_into(&index, &ranks, &cases, &RULES, as_of, false, &mut kept);
        times.push(secs(t));
    }
    println!(
        "{}",
        json!({"step": "primary_ranks_kept_list", "cases": cases.len(), "contacts": kept.len(),
               "median_s": median(times.clone()), "first_s": times.first(), "all_s": times})
    );
    answers.push(kept);
    let equal = answers.windows(2).all(|w| w.first() == w.last());
    println!(
        "{}",
        json!({"step": "primary_answers_equal", "equal": equal})
    );
    if !equal {
        bail!("the reductions disagree");
    }
    drop(answers);
    // Counting, by bucket (one thread, two) and by slot, in turn (the same
    // load for each).
    let mut one = Tracer::new().with_split(false);
    let mut two = Tracer::new().with_split(true);
    let mut slots = Tracer::new().with_primary(PrimaryMode::Slots);
    let (mut t1, mut t2, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        for (tracer, times) in [
            (&mut one, &mut t1),
            (&mut two, &mut t2),
            (&mut slots, &mut ts),
        ] {
            let t = Instant::now();
            let c = tracer.count(&index, &ranks, &cases, &RULES, as_of, false);
            times.push(secs(t));
            std::hint::black_box(c);
        }
    }
    println!(
        "{}",
        json!({"step": "primary_count", "one_thread_median_s": median(t1.clone()),
               "two_threads_median_s": median(t2.clone()), "slots_median_s": median(ts.clone()),
               "one_thread_s": t1, "two_threads_s": t2, "slots_s": ts})
    );
    let (hwm, rss) = memory();
    println!("{}", json!({"step": "end", "peak_rss": hwm, "rss": rss}));
    Ok(())
}

/// Stays from raw little-endian records `[venue, person, in, out]`.
fn load_raw(raw: &Path) -> Result<Stays> {
    use std::io::Read;
    let file = std::fs::File::open(raw).with_context(|| format!("opening {}", raw.display()))?;
    let len = file.metadata()?.len() as usize;
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let mut stays = Stays::with_capacity(len / 16);
    let mut r = [0u8; 16];
    for _ in 0..len / 16 {
        input.read_exact(&mut r)?;
        let x = |i: usize| {
            r.get(4 * i..4 * i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_le_bytes)
        };
        stays.push(closedloop_trace::Stay {
            venue: x(0),
            person: x(1),
            check_in: i64::from(x(2)),
            check_out: i64::from(x(3)),
        })?;
    }
    Ok(stays)
}

/// The stays and person ids of `checkins` (cases interned first, as `scale`
/// does), read once and then from `cache`.
fn cached(checkins: &Path, case_file: &Path, cache: &Path) -> Result<(Stays, Ids)> {
    let (raw, names) = (cache.join("stays.raw"), cache.join("people.txt"));
    if raw.exists() && names.exists() {
        let mut people = Ids::new();
        for name in std::fs::read_to_string(&names)?.lines() {
            people.intern(name)?;
        }
        return Ok((load_raw(&raw)?, people));
    }
    std::fs::create_dir_all(cache)?;
    let mut people = Ids::new();
    cases(case_file, &mut people)?;
    let (stays, _venues, _) = read(checkins, &mut people)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&raw)?);
    for r in stays.as_records() {
        for x in r {
            out.write_all(&x.to_le_bytes())?;
        }
    }
    out.flush()?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&names)?);
    for p in 0..people.len() as u32 {
        writeln!(out, "{}", people.name(p))?;
    }
    out.flush()?;
    Ok((stays, people))
}

/// The close contacts of the cases, by phase: the bucketed reduction on one
/// thread and on two, and the per-person slots, in turn (so each sees the
/// same load), counted and listed by rank into a kept list.
fn primary(
    checkins: &Path,
    case_file: &Path,
    cache: &Path,
    reps: usize,
    names: &[String],
) -> Result<()> {
    let t = Instant::now();
    let (stays, mut people) = cached(checkins, case_file, cache)?;
    let cases = cases(case_file, &mut people)?;
    people.freeze();
    let ranks = people.ranks();
    let index = StayIndex::build(stays);
    let as_of = index.latest_check_out().unwrap_or(0);
    println!(
        "{}",
        json!({"step": "ready", "stays": index.len(), "cases": cases.len(), "seconds": secs(t)})
    );
    // Name, reduction, two threads, people per bucket as a shift.
    let paths: Vec<_> = [
        ("buckets", PrimaryMode::Auto, false, None),
        ("buckets_two_threads", PrimaryMode::Auto, true, None),
        ("slots", PrimaryMode::Slots, false, None),
        ("buckets_15", PrimaryMode::Auto, false, Some(15)),
        ("buckets_16", PrimaryMode::Auto, false, Some(16)),
        ("buckets_17", PrimaryMode::Auto, false, Some(17)),
    ]
    .into_iter()
    .filter(|p| names.iter().any(|n| n == p.0))
    .collect();
    let mut tracers: Vec<Tracer> = paths
        .iter()
        .map(|&(_, primary, split, shift)| {
            let tracer = Tracer::new().with_primary(primary).with_split(split);
            match shift {
                Some(s) => tracer.with_bucket_shift(s),
                None => tracer,
            }
        })
        .collect();
    let mut kept: Vec<Vec<closedloop_trace::Contact>> = vec![Vec::new(); paths.len()];
    // Per path and kind (count, list): wall, CPU (all threads, in ticks),
    // the main thread's CPU, and the profiles.
    type Run = (f64, f64, f64, closedloop_trace::Profile);
    type Runs = Vec<Run>;
    let mut runs: Vec<[Runs; 2]> = vec![[Vec::new(), Vec::new()]; paths.len()];
    let mut counts = vec![0; paths.len()];
    for _ in 0..reps {
        for (k, tracer) in tracers.iter_mut().enumerate() {
            for (list, done) in runs.get_mut(k).into_iter().flatten().enumerate() {
                let cpu = cpu_seconds();
                let own = thread_cpu_seconds();
                let t = Instant::now();
                if list == 1 {
                    if let Some(out) = kept.get_mut(k) {
                        tracer.trace_into(&index, &ranks, &cases, &RULES, as_of, false, out);
                    }
                } else if let Some(c) = counts.get_mut(k) {
                    *c = tracer
                        .count(&index, &ranks, &cases, &RULES, as_of, false)
                        .close;
                }
                let wall = secs(t);
                done.push((
                    wall,
                    cpu_seconds() - cpu,
                    thread_cpu_seconds() - own,
                    tracer.profile(),
                ));
            }
        }
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    for ((name, ..), (kinds, count)) in paths.iter().zip(runs.iter().zip(&counts)) {
        for (kind, done) in ["count", "list"].iter().zip(kinds) {
            let med = |f: &dyn Fn(&Run) -> f64| median(done.iter().map(f).collect());
            println!(
                "{}",
                json!({"step": format!("primary_{kind}_{name}"), "contacts": count,
                       "median_ms": med(&|r| r.0 * 1e3), "cpu_median_ms": med(&|r| r.1 * 1e3),
                       "main_thread_cpu_median_ms": med(&|r| r.2 * 1e3),
                       "setup_ms": med(&|r| ms(r.3.setup)), "emit_ms": med(&|r| ms(r.3.emit)),
                       "reduce_ms": med(&|r| ms(r.3.reduce)), "list_ms": med(&|r| ms(r.3.list)),
                       "reset_ms": med(&|r| ms(r.3.reset)),
                       "pairs": done.last().map(|r| r.3.pairs),
                       "all_ms": done.iter().map(|r| (r.0 * 1e3).round()).collect::<Vec<_>>()})
            );
        }
    }
    let equal = kept.windows(2).all(|w| w.first() == w.last())
        && counts.iter().zip(&kept).all(|(&c, k)| c == k.len());
    println!(
        "{}",
        json!({"step": "primary_answers_equal", "equal": equal,
               "contacts": kept.first().map(Vec::len),
               "contact_sources": kept.first().map(|k| k.iter().map(|c| u64::from(c.sources)).sum::<u64>())})
    );
    if !equal {
        bail!("the reductions disagree");
    }
    let (hwm, rss) = memory();
    println!("{}", json!({"step": "end", "peak_rss": hwm, "rss": rss}));
    Ok(())
}

/// Saves the stays of `checkins` as raw little-endian records in `raw` (the
/// first time), then builds the index `reps` times from them.
fn build(checkins: &Path, raw: &Path, reps: usize) -> Result<()> {
    if !raw.exists() {
        let mut people = Ids::new();
        let (stays, _venues, read_s) = read(checkins, &mut people)?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(raw)?);
        for r in stays.as_records() {
            for x in r {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        out.flush()?;
        println!(
            "{}",
            json!({"step": "read", "stays": stays.len(), "seconds": read_s})
        );
    }
    let load = || -> Result<Stays> {
        let bytes = std::fs::read(raw)?;
        let mut stays = Stays::with_capacity(bytes.len() / 16);
        for r in bytes.chunks_exact(16) {
            let x = |i: usize| {
                r.get(4 * i..4 * i + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, u32::from_le_bytes)
            };
            stays.push(closedloop_trace::Stay {
                venue: x(0),
                person: x(1),
                check_in: i64::from(x(2)),
                check_out: i64::from(x(3)),
            })?;
        }
        Ok(stays)
    };
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..reps {
        let stays = load()?;
        let n = stays.len();
        let cpu = cpu_seconds();
        let t = Instant::now();
        let index = StayIndex::build(stays);
        times.push(secs(t));
        cpus.push(cpu_seconds() - cpu);
        let (hwm, _) = memory();
        println!(
            "{}",
            json!({"step": "build", "stays": n, "seconds": times.last(), "cpu_seconds": cpus.last(),
                   "bytes_per_stay": index.memory_bytes() as f64 / n.max(1) as f64, "peak_rss": hwm})
        );
        drop(index);
    }
    println!(
        "{}",
        json!({"step": "build_summary", "median_s": median(times.clone()), "all_s": times,
               "cpu_median_s": median(cpus.clone()), "cpu_s": cpus})
    );
    Ok(())
}

fn extend(checkins: &Path, case_file: &Path, batch: usize, reps: usize) -> Result<()> {
    let mut people = Ids::new();
    let cases = cases(case_file, &mut people)?;
    let (mut stays, _venues, _) = read(checkins, &mut people)?;
    let n = stays.len();
    if batch > n {
        bail!("--batch {batch} is more than the {n} stays");
    }
    let ranks = people.ranks();
    let added = stays.split_off(n - batch);
    let all = {
        let mut all = stays.clone();
        all.append(added.clone())?;
        StayIndex::build(all)
    };
    let base = StayIndex::build(stays);
    let as_of = all.latest_check_out().unwrap_or(0);
    let mut times = Vec::new();
    let mut extended = None;
    for _ in 0..reps {
        let mut index = base.clone();
        let more = added.clone();
        let t = Instant::now();
        index.extend(more)?;
        times.push(secs(t));
        extended = Some(index);
    }
    let extended = extended.context("no repetitions")?;
    let mut tracer = Tracer::new();
    let got = tracer.trace(&extended, &ranks, &cases, &RULES, as_of, true);
    let want = tracer.trace(&all, &ranks, &cases, &RULES, as_of, true);
    println!(
        "{}",
        json!({"step": "extend", "base_stays": n - batch, "batch": batch,
               "median_s": median(times.clone()), "all_s": times,
               "index_bytes_before": base.memory_bytes(), "index_bytes_after": extended.memory_bytes(),
               "same_contacts_as_full_index": got == want, "contacts": got.len()})
    );
    Ok(())
}

fn secondary(checkins: &Path, case_file: &Path, n: usize, cap: u32, reps: usize) -> Result<()> {
    let mut people = Ids::new();
    let mut cases = cases(case_file, &mut people)?;
    cases.truncate(n);
    let (stays, _venues, _) = read(checkins, &mut people)?;
    people.freeze();
    let index = StayIndex::build(stays);
    let as_of = index.latest_check_out().unwrap_or(0);
    let mut tracer = Tracer::new();
    for crowd_cap in [None, Some(cap)] {
        tracer.set_crowd_cap(crowd_cap);
        for list in [true, false] {
            let mut times = Vec::new();
            let mut sizes = None;
            for _ in 0..reps {
                let t = Instant::now();
                if list {
                    let contacts = tracer.trace(&index, &people, &cases, &RULES, as_of, true);
                    times.push(secs(t));
                    let close = contacts.iter().filter(|c| c.degree == 1).count();
                    sizes = Some((close, contacts.len() - close, tracer.venue_exposed()));
                } else {
                    let s = tracer.sizes(&index, &people, &cases, &RULES, as_of, true);
                    times.push(secs(t));
                    sizes = Some((s.close, s.secondary, s.venue_exposed));
                }
            }
            let (close, second, exposed) = sizes.unwrap_or_default();
            println!(
                "{}",
                json!({"step": "secondary", "cases": cases.len(), "crowd_cap": crowd_cap,
                       "mode": if list { "list" } else { "count_only" },
                       "close": close, "secondary": second, "venue_exposed": exposed,
                       "median_s": median(times.clone()), "all_s": times})
            );
        }
    }
    Ok(())
}

fn serve(checkins: &Path) -> Result<()> {
    let mut people = Ids::new();
    let (stays, _venues, read_s) = read(checkins, &mut people)?;
    let t = Instant::now();
    let index = StayIndex::build(stays);
    let build_s = secs(t);
    let ranks = people.ranks();
    let mut tracer = Tracer::new();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    writeln!(
        out,
        "ready {}",
        json!({"read_s": read_s, "build_s": build_s, "stays": index.len()})
    )?;
    out.flush()?;
    let mut line = String::new();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let f: Vec<&str> = line.trim_end().split(',').collect();
        let [person, reference, isolated, as_of] = f[..] else {
            bail!("bad query line {line:?}");
        };
        let reference: i64 = reference.parse()?;
        let isolated: Option<i64> = if isolated.is_empty() {
            None
        } else {
            Some(isolated.parse()?)
        };
        let as_of: i64 = as_of.parse()?;
        let t = Instant::now();
        let contacts = match people.get(person) {
            Some(p) => {
                let case = [CaseInput {
                    person: p,
                    reference_time: reference,
                    isolated_at: isolated,
                }];
                tracer.trace(&index, &ranks, &case, &RULES, as_of, false)
            }
            None => Vec::new(),
        };
        let micros = t.elapsed().as_secs_f64() * 1e6;
        writeln!(out, "ok {micros:.1} {}", contacts.len())?;
        for c in &contacts {
            writeln!(
                out,
                "{},{},{},{}",
                people.name(c.person),
                c.first_exposure,
                people.name(c.via),
                c.sources
            )?;
        }
        out.flush()?;
    }
}
