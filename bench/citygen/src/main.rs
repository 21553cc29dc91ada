//! citygen: a seeded synthetic city for the contact-tracing benchmarks.
//!
//! `citygen --size S|M|L --seed N --out DIR [--cases 1000] [--days 14]` writes
//! `checkins.parquet`, `checkins.csv` (S and M), `cases.csv`, `venues.csv` and
//! `meta.json` into DIR. See bench/README.md.

mod city;
mod rng;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use clap::{Parser, ValueEnum};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use city::{civil_from_days, City, Role, Stay, VenueType, DAY, T0};
use rng::{hash, Rng};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Size {
    #[value(name = "S", alias = "s")]
    S,
    #[value(name = "M", alias = "m")]
    M,
    #[value(name = "L", alias = "l")]
    L,
}

impl Size {
    fn people(self) -> usize {
        match self {
            Size::S => 100_000,
            Size::M => 1_000_000,
            Size::L => 9_000_000,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
        }
    }
}

/// Seeded synthetic city: venues, check-ins and cases for the tracing benchmarks.
#[derive(Parser, Debug)]
#[command(name = "citygen")]
struct Args {
    /// S: 100k people (~2M stays); M: 1M (~20M); L: 9M (~180M, Parquet only).
    #[arg(long, value_enum)]
    size: Size,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Number of cases in cases.csv.
    #[arg(long, default_value_t = 1000)]
    cases: usize,
    /// Days of check-ins from 1 March 2022 (Asia/Shanghai), 1 to 31.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=31))]
    days: u32,
    /// Override the number of people of the size (for quick experiments).
    #[arg(long, hide = true)]
    people: Option<usize>,
    /// Skip checkins.csv (always skipped for L).
    #[arg(long)]
    no_csv: bool,
}

/// Rows per Parquet row group.
const ROW_GROUP: usize = 1_000_000;

fn main() -> Result<()> {
    let args = Args::parse();
    let people = args.people.unwrap_or(args.size.people());
    let write_csv = !args.no_csv && !matches!(args.size, Size::L);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let started = Instant::now();

    let city = Arc::new(City::new(args.seed, people));
    let setup = started.elapsed().as_secs_f64();
    eprintln!(
        "citygen: size {} seed {}: {} people, {} venues ({:.2} s)",
        args.size.name(),
        args.seed,
        people,
        city.venues.len(),
        setup
    );
    write_venues(&city, &args.out.join("venues.csv"))?;

    // Writers run in their own threads; the generator hands them one day at a time.
    let (pq_tx, pq_rx) = sync_channel::<Arc<Vec<Stay>>>(1);
    let pq_city = city.clone();
    let pq_path = args.out.join("checkins.parquet");
    let pq = std::thread::spawn(move || write_parquet(&pq_city, &pq_path, pq_rx));
    let csv = if write_csv {
        let (tx, rx) = sync_channel::<Arc<Vec<Stay>>>(1);
        let c = city.clone();
        let path = args.out.join("checkins.csv");
        Some((
            tx,
            std::thread::spawn(move || write_checkins_csv(&c, &path, rx)),
        ))
    } else {
        let _ = std::fs::remove_file(args.out.join("checkins.csv"));
        None
    };

    let mut has_stay = vec![false; people];
    let mut stays = 0u64;
    let mut zero_length = 0u64;
    let mut per_type = vec![0u64; VenueType::ALL.len()];
    let mut first_in = u32::MAX;
    let mut last_out = 0u32;
    let half = (people / 2) as u32;
    for d in 0..args.days {
        let c = &city;
        let mut day = std::thread::scope(|s| {
            let other = s.spawn(move || {
                let mut v = Vec::with_capacity(people);
                c.stays_of_day(d, half..people as u32, &mut v);
                v
            });
            let mut v = Vec::with_capacity(people * 2);
            c.stays_of_day(d, 0..half, &mut v);
            v.extend(other.join().expect("generator thread"));
            v
        });
        // The order a venue-code system logs them: by check-in time.
        day.sort_unstable();
        for s in &day {
            has_stay[s.person as usize] = true;
            zero_length += (s.check_in == s.check_out) as u64;
            per_type[city.venues[s.venue as usize].kind as usize] += 1;
            last_out = last_out.max(s.check_out);
        }
        if let Some(s) = day.first() {
            first_in = first_in.min(s.check_in);
        }
        stays += day.len() as u64;
        let day = Arc::new(day);
        pq_tx.send(day.clone()).context("parquet writer stopped")?;
        if let Some((tx, _)) = &csv {
            tx.send(day).context("csv writer stopped")?;
        }
        eprintln!(
            "  day {:>2}: {:>10} stays, {:.1} s",
            d + 1,
            stays,
            started.elapsed().as_secs_f64()
        );
    }
    drop(pq_tx);
    pq.join().expect("parquet writer")?;
    if let Some((tx, h)) = csv {
        drop(tx);
        h.join().expect("csv writer")?;
    }
    let cases = write_cases(
        &city,
        &has_stay,
        args.cases,
        args.days,
        &args.out.join("cases.csv"),
    )?;
    let elapsed = started.elapsed().as_secs_f64();

    let mut files = serde_json::Map::new();
    let mut total_bytes = 0u64;
    for name in [
        "checkins.parquet",
        "checkins.csv",
        "cases.csv",
        "venues.csv",
    ] {
        if let Ok(m) = std::fs::metadata(args.out.join(name)) {
            files.insert(name.into(), m.len().into());
            total_bytes += m.len();
        }
    }
    let mut venues = serde_json::Map::new();
    let mut stays_by_type = serde_json::Map::new();
    for t in VenueType::ALL {
        let n = city.venues.iter().filter(|v| v.kind == t).count();
        venues.insert(t.name().into(), n.into());
        stays_by_type.insert(t.name().into(), per_type[t as usize].into());
    }
    let meta = serde_json::json!({
        "generator": "citygen",
        "size": args.size.name(),
        "seed": args.seed,
        "people": people,
        "people_with_stays": has_stay.iter().filter(|&&b| b).count(),
        "venues": city.venues.len(),
        "venues_by_type": venues,
        "stays": stays,
        "stays_by_venue_type": stays_by_type,
        "zero_length_stays": zero_length,
        "cases": cases,
        "days": args.days,
        "period_start": rfc3339(T0),
        "period_end": rfc3339(T0 + (args.days * DAY) as i64),
        "first_check_in": rfc3339(T0 + first_in as i64),
        "last_check_out": rfc3339(T0 + last_out as i64),
        "time_zone": "Asia/Shanghai",
        "parquet_row_group_rows": ROW_GROUP,
        "files": files,
        "generation_seconds": (elapsed * 100.0).round() / 100.0,
    });
    std::fs::write(
        args.out.join("meta.json"),
        serde_json::to_string_pretty(&meta)? + "\n",
    )?;
    eprintln!(
        "citygen: {} stays ({:.1} per person) in {:.2} s: {:.2} M stays/s, {:.0} MB/s written; {} cases",
        stays,
        stays as f64 / people as f64,
        elapsed,
        stays as f64 / elapsed / 1e6,
        total_bytes as f64 / elapsed / 1e6,
        cases
    );
    for (name, size) in &files {
        eprintln!(
            "  {:<18} {:>10.1} MB",
            name,
            size.as_u64().unwrap_or(0) as f64 / 1e6
        );
    }
    Ok(())
}

fn write_venues(city: &City, path: &Path) -> Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "venue_id,name,type,region_code,lat,lon")?;
    for (i, v) in city.venues.iter().enumerate() {
        writeln!(
            w,
            "{},{},{},{},{:.6},{:.6}",
            venue_id(city, i as u32),
            v.name,
            v.kind.name(),
            city::DISTRICTS[v.region as usize].0,
            v.lat,
            v.lon
        )?;
    }
    w.flush()?;
    Ok(())
}

/// "V000123": six digits while there are fewer than a million venues.
fn venue_id(city: &City, v: u32) -> String {
    let width = venue_id_width(city);
    format!("V{:0width$}", v + 1)
}

fn venue_id_width(city: &City) -> usize {
    city.venues.len().to_string().len().max(6)
}

fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("person_id", DataType::Utf8, false),
        Field::new("venue_id", DataType::Utf8, false),
        Field::new("check_in", ts.clone(), false),
        Field::new("check_out", ts, false),
    ]))
}

fn write_parquet(city: &City, path: &Path, rx: Receiver<Arc<Vec<Stay>>>) -> Result<()> {
    let schema = schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_max_row_group_bytes(None)
        .build();
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(
        BufWriter::with_capacity(1 << 22, file),
        schema.clone(),
        Some(props),
    )?;
    let width = venue_id_width(city);
    let venue_ids: String = (0..city.venues.len() as u32)
        .map(|v| format!("V{:0width$}", v + 1))
        .collect();
    let ids = std::str::from_utf8(&city.ids)?;
    let us = |t: u32| (T0 + t as i64) * 1_000_000;
    for day in rx {
        for chunk in day.chunks(ROW_GROUP / 4) {
            let person = StringArray::from_iter_values(
                chunk
                    .iter()
                    .map(|s| &ids[s.person as usize * 18..s.person as usize * 18 + 18]),
            );
            let venue = StringArray::from_iter_values(chunk.iter().map(|s| {
                let i = s.venue as usize * (width + 1);
                &venue_ids[i..i + width + 1]
            }));
            let check_in =
                TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|s| us(s.check_in)))
                    .with_timezone("UTC");
            let check_out =
                TimestampMicrosecondArray::from_iter_values(chunk.iter().map(|s| us(s.check_out)))
                    .with_timezone("UTC");
            let columns: Vec<ArrayRef> = vec![
                Arc::new(person),
                Arc::new(venue),
                Arc::new(check_in),
                Arc::new(check_out),
            ];
            writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        }
    }
    writer.close()?;
    Ok(())
}

/// Formats whole seconds since the epoch as `2022-03-04T05:49:46Z`.
struct TimeFormat {
    /// "YYYY-MM-DDT" for each UTC day from `first_day`.
    dates: Vec<[u8; 11]>,
    first_day: i64,
}

impl TimeFormat {
    fn new() -> TimeFormat {
        let first_day = T0.div_euclid(86_400) - 1;
        let dates = (0..40)
            .map(|i| {
                let (y, m, d) = civil_from_days(first_day + i);
                let mut b = [0u8; 11];
                b.copy_from_slice(format!("{y:04}-{m:02}-{d:02}T").as_bytes());
                b
            })
            .collect();
        TimeFormat { dates, first_day }
    }

    fn push(&self, out: &mut Vec<u8>, t: i64) {
        let day = t.div_euclid(86_400);
        let sod = t.rem_euclid(86_400) as u32;
        out.extend_from_slice(&self.dates[(day - self.first_day) as usize]);
        let two = |out: &mut Vec<u8>, x: u32| {
            out.extend_from_slice(&[b'0' + (x / 10) as u8, b'0' + (x % 10) as u8])
        };
        two(out, sod / 3600);
        out.push(b':');
        two(out, sod / 60 % 60);
        out.push(b':');
        two(out, sod % 60);
        out.push(b'Z');
    }
}

fn rfc3339(t: i64) -> String {
    let mut b = Vec::new();
    TimeFormat::new().push(&mut b, t);
    String::from_utf8(b).expect("ascii")
}

fn write_checkins_csv(city: &City, path: &Path, rx: Receiver<Arc<Vec<Stay>>>) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let fmt = TimeFormat::new();
    let width = venue_id_width(city);
    let venue_ids: Vec<u8> = (0..city.venues.len() as u32)
        .flat_map(|v| format!("V{:0width$}", v + 1).into_bytes())
        .collect();
    let mut buf = Vec::with_capacity(1 << 23);
    buf.extend_from_slice(b"person_id,venue_id,check_in,check_out\n");
    for day in rx {
        for s in day.iter() {
            buf.extend_from_slice(city.person_id(s.person));
            buf.push(b',');
            let i = s.venue as usize * (width + 1);
            buf.extend_from_slice(&venue_ids[i..i + width + 1]);
            buf.push(b',');
            fmt.push(&mut buf, T0 + s.check_in as i64);
            buf.push(b',');
            fmt.push(&mut buf, T0 + s.check_out as i64);
            buf.push(b'\n');
            if buf.len() > (1 << 23) - 128 {
                file.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    file.write_all(&buf)?;
    file.flush()?;
    Ok(())
}

/// Picks the cases among people with stays: a fifth from the universities (an
/// outbreak on a campus, as at the agricultural university in March 2022),
/// the rest anywhere. Reference times fall in the last week of the period;
/// half the cases are isolated one to three days later.
fn write_cases(city: &City, has_stay: &[bool], n: usize, days: u32, path: &Path) -> Result<usize> {
    let with_stays = has_stay.iter().filter(|&&b| b).count();
    if n > with_stays / 2 {
        bail!("--cases {n} is too many for {with_stays} people with stays");
    }
    let mut rng = Rng::new(hash(city.seed, 99, 0, 0));
    let mut chosen = vec![false; city.people];
    let mut cases = Vec::with_capacity(n);
    let students = (0..city.people as u32).any(|p| city.role(p) == Role::Student);
    let mut tries = 0u64;
    while cases.len() < n {
        tries += 1;
        let p = rng.below(city.people as u64) as u32;
        let campus = students && cases.len() < n / 5 && tries < 1_000_000_000;
        if chosen[p as usize] || !has_stay[p as usize] || (campus && city.role(p) != Role::Student)
        {
            continue;
        }
        chosen[p as usize] = true;
        cases.push(p);
    }
    let end = days * DAY;
    let from = end.saturating_sub(7 * DAY);
    let fmt = TimeFormat::new();
    let mut out = Vec::new();
    out.extend_from_slice(b"person_id,reference_time,isolated_at\n");
    for p in cases {
        let reference = rng.range(from, end);
        out.extend_from_slice(city.person_id(p));
        out.push(b',');
        fmt.push(&mut out, T0 + reference as i64);
        out.push(b',');
        if rng.chance(0.5) {
            let isolated = reference + rng.range(DAY, 3 * DAY + 1);
            fmt.push(&mut out, T0 + isolated as i64);
        }
        out.push(b'\n');
    }
    std::fs::write(path, out)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(T0), "2022-02-28T16:00:00Z");
        assert_eq!(rfc3339(1_646_372_986), "2022-03-04T05:49:46Z");
        assert_eq!(rfc3339(T0 + (31 * DAY) as i64 - 1), "2022-03-31T15:59:59Z");
    }
}
