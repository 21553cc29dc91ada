//! Movement files for contact tracing: check-ins (CSV or Parquet), the cases
//! to trace (CSV) and the contacts found (CSV).
//!
//! Check-in files are large (tens of millions of rows), so they are streamed:
//! ids are interned as they are read ([`Ids`]) and each row becomes a 16-byte
//! stay; no row keeps a `String`. Times are whole seconds: sub-second parts are
//! dropped (floored). Every refused value stops the file with its line (CSV) or
//! row (Parquet) and column.

use crate::table::display_name;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono_tz::Tz;
use closedloop_domain::{ErrorCode, Lang};
use closedloop_trace::{CaseInput, Contact, Ids, Stay, Stays};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::basic::Encoding;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

/// Columns of a check-in file.
pub const CHECKIN_COLUMNS: [&str; 4] = ["person_id", "venue_id", "check_in", "check_out"];
/// Columns of a cases file for tracing; `isolated_at` may be left out or empty.
pub const TRACE_CASE_COLUMNS: [&str; 3] = ["person_id", "reference_time", "isolated_at"];
/// Header of the contacts file.
pub const CONTACT_COLUMNS: [&str; 5] = ["person_id", "degree", "first_exposure", "via", "sources"];

/// 1970-01-01T00:00:00Z: no earlier time is accepted.
pub const EARLIEST: i64 = 0;
/// 2100-01-01T00:00:00Z: this and later times are refused as mistakes.
pub const END: i64 = 4_102_444_800;

/// Rows read per Parquet batch.
const BATCH_ROWS: usize = 256 * 1024;

/// Where in a file a value sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A CSV line (the header is line 1).
    Line(u64),
    /// A Parquet row, counted from 1.
    Row(u64),
}

/// What is wrong with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Missing,
    InvalidTime,
    TimeOutOfRange,
    CheckOutBeforeCheckIn,
}

/// A movement file that cannot be used. Nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum MovementError {
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: unsupported file type; use {expected}")]
    UnsupportedFormat {
        file: String,
        expected: &'static str,
    },
    #[error("{file} is empty: it has no header row")]
    Empty { file: String },
    #[error("{file} has no column {column}")]
    MissingColumn { file: String, column: &'static str },
    #[error("{file} names column {column} twice")]
    DuplicateColumn { file: String, column: &'static str },
    #[error("{file}: column {column} holds {found}, not {expected}")]
    ColumnType {
        file: String,
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("{file} line {line}: {reason}")]
    CsvMalformed {
        file: String,
        line: u64,
        reason: String,
    },
    #[error("{file} is not UTF-8 text (invalid bytes on line {line}); save it as \"CSV UTF-8\"")]
    NotUtf8 { file: String, line: u64 },
    #[error("{file} is not a readable Parquet file: {reason}")]
    Parquet { file: String, reason: String },
    #[error("{file} holds more stays, people or venues than one index takes (about 4.29 billion)")]
    TooMany { file: String },
    #[error("{}", value_message(.file, *.place, .column, *.problem, .raw, Lang::En))]
    Value {
        file: String,
        place: Place,
        column: &'static str,
        problem: Problem,
        raw: String,
    },
}

fn value_message(
    file: &str,
    place: Place,
    column: &str,
    problem: Problem,
    raw: &str,
    lang: Lang,
) -> String {
    let reason = match (problem, lang) {
        (Problem::Missing, Lang::En) => "required value is missing",
        (Problem::Missing, Lang::Zh) => "缺少必填值",
        (Problem::InvalidTime, Lang::En) => {
            "invalid time: use RFC 3339 (2022-03-09T08:30:00+08:00) or a local YYYY-MM-DD HH:MM"
        }
        (Problem::InvalidTime, Lang::Zh) => {
            "时间无效，请使用RFC 3339（2022-03-09T08:30:00+08:00）或本地时间YYYY-MM-DD HH:MM"
        }
        (Problem::TimeOutOfRange, Lang::En) => "time outside 1970..2099",
        (Problem::TimeOutOfRange, Lang::Zh) => "时间超出1970至2099年的范围",
        (Problem::CheckOutBeforeCheckIn, Lang::En) => "check_out is before check_in",
        (Problem::CheckOutBeforeCheckIn, Lang::Zh) => {
            "离开时间（check_out）早于进入时间（check_in）"
        }
    };
    let raw: String = crate::error::truncate(raw, crate::RAW_LIMIT)
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let at = match (place, lang) {
        (Place::Line(n), Lang::En) => format!("line {n}"),
        (Place::Row(n), Lang::En) => format!("row {n}"),
        (Place::Line(n), Lang::Zh) => format!("第{n}行"),
        (Place::Row(n), Lang::Zh) => format!("第{n}条记录"),
    };
    match (lang, raw.is_empty()) {
        (Lang::En, true) => format!("{file} {at}, column {column}: {reason}"),
        (Lang::En, false) => format!("{file} {at}, column {column}: {reason} (\"{raw}\")"),
        (Lang::Zh, true) => format!("{file} {at}，{column}列：{reason}"),
        (Lang::Zh, false) => format!("{file} {at}，{column}列：{reason}（“{raw}”）"),
    }
}

impl ErrorCode for MovementError {
    fn code(&self) -> &'static str {
        use MovementError::*;
        match self {
            Unreadable { .. } => "file_unreadable",
            UnsupportedFormat { .. } => "unsupported_format",
            Empty { .. } => "file_empty",
            MissingColumn { .. } => "missing_column",
            DuplicateColumn { .. } => "duplicate_column",
            ColumnType { .. } => "column_type",
            CsvMalformed { .. } => "csv_malformed",
            NotUtf8 { .. } => "file_not_utf8",
            Parquet { .. } => "parquet_invalid",
            TooMany { .. } => "too_many_records",
            Value { problem, .. } => match problem {
                Problem::Missing => "missing_value",
                Problem::InvalidTime => "invalid_time",
                Problem::TimeOutOfRange => "time_out_of_range",
                Problem::CheckOutBeforeCheckIn => "check_out_before_check_in",
            },
        }
    }

    fn message(&self, lang: Lang) -> String {
        use MovementError::*;
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Unreadable { file, source } => format!("无法读取文件{file}：{source}"),
            UnsupportedFormat { file, expected } => {
                format!("{file}：不支持的文件类型，请使用{expected}")
            }
            Empty { file } => format!("{file}是空文件：没有表头行"),
            MissingColumn { file, column } => format!("{file}缺少{column}列"),
            DuplicateColumn { file, column } => format!("{file}中{column}列出现了两次"),
            ColumnType {
                file,
                column,
                found,
                expected,
            } => format!("{file}的{column}列类型为{found}，应为{expected}"),
            CsvMalformed { file, line, reason } => format!("{file}第{line}行格式错误：{reason}"),
            NotUtf8 { file, line } => format!(
                "{file}不是UTF-8编码的文本（第{line}行有无效字节）：请另存为“CSV UTF-8”格式"
            ),
            Parquet { file, reason } => format!("{file}不是可读取的Parquet文件：{reason}"),
            TooMany { file } => {
                format!("{file}的停留记录、人员或场所超过单个索引的上限（约42.9亿）")
            }
            Value {
                file,
                place,
                column,
                problem,
                raw,
            } => value_message(file, *place, column, *problem, raw, lang),
        }
    }
}

/// Check-in file formats, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementFormat {
    Csv,
    Parquet,
}

impl MovementFormat {
    pub fn from_path(path: &Path) -> Option<MovementFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(MovementFormat::Csv),
            "parquet" | "parq" => Some(MovementFormat::Parquet),
            _ => None,
        }
    }
}

/// Reads a check-in file (`.csv` or `.parquet`) into stays, interning person
/// and venue ids. CSV times are RFC 3339, or local times read in `tz`; Parquet
/// times are timestamp columns (any unit, with or without a time zone) or
/// int64 microseconds since the epoch. Columns other than the four are ignored.
pub fn read_checkins(
    path: &Path,
    tz: Tz,
    people: &mut Ids,
    venues: &mut Ids,
) -> Result<Stays, MovementError> {
    let file = display_name(path);
    let format = MovementFormat::from_path(path).ok_or(MovementError::UnsupportedFormat {
        file: file.clone(),
        expected: ".csv or .parquet",
    })?;
    let unreadable = |source| MovementError::Unreadable {
        file: file.clone(),
        source,
    };
    let handle = std::fs::File::open(path).map_err(unreadable)?;
    let mut stays = Stays::new();
    match format {
        MovementFormat::Csv => read_checkins_csv(handle, &file, tz, people, venues, &mut stays)?,
        MovementFormat::Parquet => {
            read_checkins_parquet(handle, &file, people, venues, &mut stays)?
        }
    }
    Ok(stays)
}

/// Reads check-ins in CSV from `reader`; `file` names it in messages.
pub fn read_checkins_csv(
    reader: impl Read,
    file: &str,
    tz: Tz,
    people: &mut Ids,
    venues: &mut Ids,
    stays: &mut Stays,
) -> Result<(), MovementError> {
    let mut csv = Csv::open(reader, file, &CHECKIN_COLUMNS, 4)?;
    // Ids are interned a batch at a time (see `Ids::intern_all`).
    let mut batch = CsvBatch::default();
    while let Some(at) = csv.next_record()? {
        let person = csv.text(0, &at)?;
        let venue = csv.text(1, &at)?;
        let check_in = csv.time(2, &at, tz)?;
        let check_out = csv.time(3, &at, tz)?;
        if check_out < check_in {
            return Err(csv.value_error(3, &at, Problem::CheckOutBeforeCheckIn));
        }
        batch.persons.push_str(person);
        batch.venues.push_str(venue);
        batch
            .rows
            .push((batch.persons.len(), batch.venues.len(), check_in, check_out));
        if batch.rows.len() >= BATCH_ROWS {
            batch.flush(people, venues, stays, file)?;
        }
    }
    batch.flush(people, venues, stays, file)
}

/// Rows of a CSV check-in file waiting for their ids.
#[derive(Default)]
struct CsvBatch {
    persons: String,
    venues: String,
    /// Per row: where its person and venue end in the texts, and its times.
    rows: Vec<(usize, usize, i64, i64)>,
    person_ids: Vec<u32>,
    venue_ids: Vec<u32>,
}

impl CsvBatch {
    fn flush(
        &mut self,
        people: &mut Ids,
        venues: &mut Ids,
        stays: &mut Stays,
        file: &str,
    ) -> Result<(), MovementError> {
        let full = |_| MovementError::TooMany {
            file: file.to_string(),
        };
        let mut names: Vec<&str> = Vec::with_capacity(self.rows.len());
        let mut start = 0;
        for &(end, ..) in &self.rows {
            names.push(self.persons.get(start..end).unwrap_or_default());
            start = end;
        }
        self.person_ids.clear();
        people
            .intern_all(&names, &mut self.person_ids)
            .map_err(full)?;
        names.clear();
        let mut start = 0;
        for &(_, end, ..) in &self.rows {
            names.push(self.venues.get(start..end).unwrap_or_default());
            start = end;
        }
        self.venue_ids.clear();
        venues
            .intern_all(&names, &mut self.venue_ids)
            .map_err(full)?;
        for ((&person, &venue), &(_, _, check_in, check_out)) in
            self.person_ids.iter().zip(&self.venue_ids).zip(&self.rows)
        {
            push(
                stays,
                file,
                Stay {
                    person,
                    venue,
                    check_in,
                    check_out,
                },
            )?;
        }
        self.persons.clear();
        self.venues.clear();
        self.rows.clear();
        Ok(())
    }
}

/// Reads the cases to trace (`person_id,reference_time,isolated_at`, CSV),
/// interning their persons among `people`.
pub fn read_trace_cases(
    path: &Path,
    tz: Tz,
    people: &mut Ids,
) -> Result<Vec<CaseInput>, MovementError> {
    let file = display_name(path);
    if MovementFormat::from_path(path) != Some(MovementFormat::Csv) {
        return Err(MovementError::UnsupportedFormat {
            file,
            expected: ".csv",
        });
    }
    let handle = std::fs::File::open(path).map_err(|source| MovementError::Unreadable {
        file: file.clone(),
        source,
    })?;
    read_trace_cases_csv(handle, &file, tz, people)
}

/// [`read_trace_cases`] from any reader.
pub fn read_trace_cases_csv(
    reader: impl Read,
    file: &str,
    tz: Tz,
    people: &mut Ids,
) -> Result<Vec<CaseInput>, MovementError> {
    let mut csv = Csv::open(reader, file, &TRACE_CASE_COLUMNS, 2)?;
    let mut cases = Vec::new();
    while let Some(at) = csv.next_record()? {
        let person = csv.id(people, 0, &at)?;
        let reference_time = csv.time(1, &at, tz)?;
        let isolated_at = if csv.cell(2).is_empty() {
            None
        } else {
            Some(csv.time(2, &at, tz)?)
        };
        cases.push(CaseInput {
            person,
            reference_time,
            isolated_at,
        });
    }
    Ok(cases)
}

/// Writes contacts as CSV (`person_id,degree,first_exposure,via,sources`),
/// times in UTC to the second, in the order given.
pub fn write_contacts(mut out: impl Write, contacts: &[Contact], people: &Ids) -> io::Result<()> {
    let mut line = Vec::with_capacity(128);
    line.extend_from_slice(CONTACT_COLUMNS.join(",").as_bytes());
    line.push(b'\n');
    out.write_all(&line)?;
    for c in contacts {
        line.clear();
        csv_field(&mut line, people.name(c.person));
        line.push(b',');
        line.extend_from_slice(c.degree.to_string().as_bytes());
        line.push(b',');
        format_utc(&mut line, c.first_exposure);
        line.push(b',');
        csv_field(&mut line, people.name(c.via));
        line.push(b',');
        line.extend_from_slice(c.sources.to_string().as_bytes());
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()
}

fn csv_field(out: &mut Vec<u8>, value: &str) {
    if value
        .bytes()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        || value.starts_with(' ')
        || value.ends_with(' ')
    {
        out.push(b'"');
        for b in value.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`. Hand-written: a secondary run writes about a
/// million of these and chrono's formatter would dominate the output.
pub fn format_utc(out: &mut Vec<u8>, t: i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    if (0..10_000).contains(&y) {
        two(out, y / 100);
        two(out, y % 100);
    } else {
        out.extend_from_slice(y.to_string().as_bytes());
    }
    out.push(b'-');
    two(out, m);
    out.push(b'-');
    two(out, d);
    out.push(b'T');
    two(out, secs / 3600);
    out.push(b':');
    two(out, secs / 60 % 60);
    out.push(b':');
    two(out, secs % 60);
    out.push(b'Z');
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads a time: RFC 3339 (fast path for the usual
/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`), or anything the domain's
/// [`parse_instant`](closedloop_domain::time::parse_instant) accepts, such as
/// a local time in `tz`. Whole seconds, floored. `None` when unreadable.
pub fn parse_time(raw: &str, tz: Tz) -> Option<i64> {
    fast_rfc3339(raw.as_bytes())
        .or_else(|| closedloop_domain::time::parse_instant(raw, tz).map(|t| t.timestamp()))
}

fn fast_rfc3339(s: &[u8]) -> Option<i64> {
    fn num(s: &[u8], from: usize, len: usize) -> Option<i64> {
        let mut v = 0i64;
        for &b in s.get(from..from + len)? {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(b - b'0');
        }
        Some(v)
    }
    let sep = |i: usize, c: u8| s.get(i) == Some(&c);
    if s.len() < 20 || !sep(4, b'-') || !sep(7, b'-') || !sep(13, b':') || !sep(16, b':') {
        return None;
    }
    if !matches!(s.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d) = (num(s, 0, 4)?, num(s, 5, 2)?, num(s, 8, 2)?);
    let (h, mi, sec) = (num(s, 11, 2)?, num(s, 14, 2)?, num(s, 17, 2)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (:60) goes to the slow path, which knows what to do with it.
    if d < 1 || d > month_days || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    if sep(i, b'.') {
        i += 1;
        let digits = s
            .get(i..)?
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        i += digits;
    }
    let offset = match s.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest.get(2) == Some(&b':') => {
            let (oh, om) = (num(rest, 0, 2)?, num(rest, 3, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

fn push(stays: &mut Stays, file: &str, stay: Stay) -> Result<(), MovementError> {
    stays.push(stay).map_err(|_| MovementError::TooMany {
        file: file.to_string(),
    })
}

/// The reader under the CSV parser: it keeps the last few chunks it handed
/// over, with how many lines came before each, so that the line of a recent
/// byte can be found exactly. (The parser's own line count lags behind blank
/// lines it skips, and a message must name the line a person sees.)
struct Window<R> {
    inner: R,
    /// `(offset of the chunk, newlines before it, bytes)`, oldest first.
    chunks: std::collections::VecDeque<(u64, u64, Vec<u8>)>,
    offset: u64,
    newlines: u64,
}

/// How many chunks a [`Window`] keeps (each up to the parser's buffer).
const WINDOW_CHUNKS: usize = 4;

impl<R: Read> Read for Window<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = buf.get(..n).unwrap_or_default();
        if n > 0 {
            let mut kept = if self.chunks.len() >= WINDOW_CHUNKS {
                self.chunks.pop_front().map(|c| c.2).unwrap_or_default()
            } else {
                Vec::new()
            };
            kept.clear();
            kept.extend_from_slice(chunk);
            self.chunks.push_back((self.offset, self.newlines, kept));
        }
        self.offset += n as u64;
        self.newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(n)
    }
}

impl<R> Window<R> {
    fn new(inner: R) -> Window<R> {
        Window {
            inner,
            chunks: std::collections::VecDeque::new(),
            offset: 0,
            newlines: 0,
        }
    }

    /// The line (from 1) of the first byte at or after `byte` that is not a
    /// line break: where a record the parser placed at `byte` really starts.
    fn line_at(&self, byte: u64) -> Option<u64> {
        let (k, (start, before, _)) = self
            .chunks
            .iter()
            .enumerate()
            .find(|(_, (start, _, bytes))| *start <= byte && byte < start + bytes.len() as u64)?;
        let into = (byte - start) as usize;
        let first = self.chunks.get(k)?.2.get(..into)?;
        let mut line = before + 1 + first.iter().filter(|&&b| b == b'\n').count() as u64;
        // Blank lines the parser skipped before the record.
        let after = self
            .chunks
            .iter()
            .skip(k)
            .enumerate()
            .flat_map(|(i, c)| c.2.get(if i == 0 { into } else { 0 }..).unwrap_or_default());
        for &b in after {
            match b {
                b'\n' => line += 1,
                b'\r' => {}
                _ => break,
            }
        }
        Some(line)
    }
}

/// A streaming CSV reader bound to a column contract: the first `required`
/// columns must be present, the others may be; unknown columns are ignored.
struct Csv<R: Read> {
    reader: csv::Reader<Window<R>>,
    record: csv::ByteRecord,
    file: String,
    columns: &'static [&'static str],
    /// Per contract column, its index in the file.
    index: Vec<Option<usize>>,
    width: usize,
}

impl<R: Read> Csv<R> {
    fn open(
        reader: R,
        file: &str,
        columns: &'static [&'static str],
        required: usize,
    ) -> Result<Csv<R>, MovementError> {
        let mut csv = Csv {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(1 << 20)
                .from_reader(Window::new(reader)),
            record: csv::ByteRecord::new(),
            file: file.to_string(),
            columns,
            index: vec![None; columns.len()],
            width: 0,
        };
        if !csv.read()? {
            return Err(MovementError::Empty {
                file: file.to_string(),
            });
        }
        csv.width = csv.record.len();
        for (position, raw) in csv.record.iter().enumerate() {
            let raw = if position == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            let name = raw.trim_ascii();
            let Some(k) = columns
                .iter()
                .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
            else {
                continue;
            };
            if let Some(slot) = csv.index.get_mut(k) {
                if slot.replace(position).is_some() {
                    return Err(MovementError::DuplicateColumn {
                        file: file.to_string(),
                        column: columns.get(k).copied().unwrap_or_default(),
                    });
                }
            }
        }
        for (k, column) in columns.iter().enumerate().take(required) {
            if csv.index.get(k).copied().flatten().is_none() {
                return Err(MovementError::MissingColumn {
                    file: file.to_string(),
                    column,
                });
            }
        }
        Ok(csv)
    }

    /// The next record that is not blank; false at the end.
    fn read(&mut self) -> Result<bool, MovementError> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| MovementError::CsvMalformed {
                    file: self.file.clone(),
                    line: e.position().map_or(0, |p| self.line(p)),
                    reason: e.to_string(),
                })?;
            if !more {
                return Ok(false);
            }
            if self.record.iter().any(|c| !c.trim_ascii().is_empty()) {
                return Ok(true);
            }
        }
    }

    /// The line of a record the parser placed at `at`.
    fn line(&self, at: &csv::Position) -> u64 {
        self.reader
            .get_ref()
            .line_at(at.byte())
            .unwrap_or(at.line())
    }

    /// The next data record, with where it is.
    fn next_record(&mut self) -> Result<Option<csv::Position>, MovementError> {
        if !self.read()? {
            return Ok(None);
        }
        let at = self
            .record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        if self.record.len() != self.width {
            return Err(MovementError::CsvMalformed {
                file: self.file.clone(),
                line: self.line(&at),
                reason: format!(
                    "{} fields where the header has {}",
                    self.record.len(),
                    self.width
                ),
            });
        }
        Ok(Some(at))
    }

    /// The trimmed bytes of contract column `k` (empty if the file lacks it).
    fn bytes(&self, k: usize) -> &[u8] {
        self.index
            .get(k)
            .copied()
            .flatten()
            .and_then(|i| self.record.get(i))
            .map_or(&[][..], <[u8]>::trim_ascii)
    }

    fn cell(&self, k: usize) -> &str {
        std::str::from_utf8(self.bytes(k)).unwrap_or_default()
    }

    fn text(&self, k: usize, at: &csv::Position) -> Result<&str, MovementError> {
        let text = std::str::from_utf8(self.bytes(k)).map_err(|_| MovementError::NotUtf8 {
            file: self.file.clone(),
            line: self.line(at),
        })?;
        if text.is_empty() {
            return Err(self.value_error(k, at, Problem::Missing));
        }
        Ok(text)
    }

    fn id(&self, ids: &mut Ids, k: usize, at: &csv::Position) -> Result<u32, MovementError> {
        let text = self.text(k, at)?;
        ids.intern(text).map_err(|_| MovementError::TooMany {
            file: self.file.clone(),
        })
    }

    fn time(&self, k: usize, at: &csv::Position, tz: Tz) -> Result<i64, MovementError> {
        let text = self.text(k, at)?;
        let t =
            parse_time(text, tz).ok_or_else(|| self.value_error(k, at, Problem::InvalidTime))?;
        if !(EARLIEST..END).contains(&t) {
            return Err(self.value_error(k, at, Problem::TimeOutOfRange));
        }
        Ok(t)
    }

    fn value_error(&self, k: usize, at: &csv::Position, problem: Problem) -> MovementError {
        MovementError::Value {
            file: self.file.clone(),
            place: Place::Line(self.line(at)),
            column: self.columns.get(k).copied().unwrap_or_default(),
            problem,
            raw: String::from_utf8_lossy(self.bytes(k)).into_owned(),
        }
    }
}

/// Reads check-ins from Parquet, batch by batch, projecting the four columns.
/// An id column whose pages are all dictionary-encoded is read as a
/// dictionary, so each distinct id is interned once per row group instead
/// of once per row; other id columns are read as string views (no copy).
pub fn read_checkins_parquet(
    file_handle: std::fs::File,
    file: &str,
    people: &mut Ids,
    venues: &mut Ids,
    stays: &mut Stays,
) -> Result<(), MovementError> {
    let invalid = |e: parquet::errors::ParquetError| MovementError::Parquet {
        file: file.to_string(),
        reason: e.to_string(),
    };
    let meta =
        ArrowReaderMetadata::load(&file_handle, ArrowReaderOptions::new()).map_err(invalid)?;
    let schema = meta.schema().clone();
    let mut roots = Vec::with_capacity(4);
    for column in CHECKIN_COLUMNS {
        let mut found = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name().trim().eq_ignore_ascii_case(column));
        let Some((i, field)) = found.next() else {
            return Err(MovementError::MissingColumn {
                file: file.to_string(),
                column,
            });
        };
        if found.next().is_some() {
            return Err(MovementError::DuplicateColumn {
                file: file.to_string(),
                column,
            });
        }
        check_type(file, column, field.data_type())?;
        roots.push(i);
    }

    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut hinted = false;
    for &root in roots.iter().take(2) {
        let Some(field) = fields.get_mut(root) else {
            continue;
        };
        if !matches!(
            field.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            continue;
        }
        let parquet_schema = meta.parquet_schema();
        let leaves: Vec<usize> = (0..parquet_schema.num_columns())
            .filter(|&leaf| parquet_schema.get_column_root_idx(leaf) == root)
            .collect();
        let dictionary = !meta.metadata().row_groups().is_empty()
            && meta.metadata().row_groups().iter().all(|rg| {
                leaves.iter().all(|&leaf| {
                    rg.columns().get(leaf).is_some_and(|c| {
                        c.dictionary_page_offset().is_some()
                            && c.page_encoding_stats_mask().is_some_and(|m| {
                                m.is_only(Encoding::PLAIN_DICTIONARY)
                                    || m.is_only(Encoding::RLE_DICTIONARY)
                            })
                    })
                })
            });
        let t = if dictionary {
            DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(field.data_type().clone()),
            )
        } else {
            DataType::Utf8View
        };
        *field = field.clone().with_data_type(t);
        hinted = true;
    }
    let meta = if hinted {
        let hint = Schema::new_with_metadata(fields, schema.metadata().clone());
        ArrowReaderMetadata::try_new(
            meta.metadata().clone(),
            ArrowReaderOptions::new().with_schema(std::sync::Arc::new(hint)),
        )
        .map_err(invalid)?
    } else {
        meta
    };

    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file_handle, meta);
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(invalid)?;
    // Decoding (decompression, page decoding, time conversion) on one
    // thread, interning on this one: the two take about as long.
    let (send, receive) = std::sync::mpsc::sync_channel::<Result<Decoded, MovementError>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut rows_before: u64 = 0;
            for batch in reader {
                let decoded = batch
                    .map_err(|e| MovementError::Parquet {
                        file: file.to_string(),
                        reason: e.to_string(),
                    })
                    .and_then(|batch| decode(batch, file, rows_before));
                let failed = decoded.is_err();
                if let Ok(d) = &decoded {
                    rows_before += d.batch.num_rows() as u64;
                }
                // A closed channel: the reader stopped at an error.
                if send.send(decoded).is_err() || failed {
                    return;
                }
            }
        });
        let mut batch_ids = BatchIds::default();
        for decoded in receive {
            let Decoded {
                batch,
                rows_before,
                check_in,
                check_out,
            } = decoded?;
            let column = |name: &str| column_of(&batch, file, name);
            let persons =
                batch_ids.intern(column("person_id")?, people, file, "person_id", rows_before)?;
            let places =
                batch_ids.intern(column("venue_id")?, venues, file, "venue_id", rows_before)?;
            for (((&person, &venue), &cin), &cout) in
                persons.iter().zip(&places).zip(&check_in).zip(&check_out)
            {
                push(
                    stays,
                    file,
                    Stay {
                        person,
                        venue,
                        check_in: cin,
                        check_out: cout,
                    },
                )?;
            }
            batch_ids.give_back(persons, places);
        }
        Ok(())
    })
}

/// A batch with its times read and checked.
struct Decoded {
    batch: arrow_array::RecordBatch,
    rows_before: u64,
    check_in: Vec<i64>,
    check_out: Vec<i64>,
}

fn column_of<'a>(
    batch: &'a arrow_array::RecordBatch,
    file: &str,
    name: &str,
) -> Result<&'a ArrayRef, MovementError> {
    batch
        .schema_ref()
        .fields()
        .iter()
        .position(|f| f.name().trim().eq_ignore_ascii_case(name))
        .and_then(|i| batch.columns().get(i))
        .ok_or(MovementError::Parquet {
            file: file.to_string(),
            reason: format!("column {name} vanished from a batch"),
        })
}

/// Reads the times of a batch and checks that no stay ends before it starts.
fn decode(
    batch: arrow_array::RecordBatch,
    file: &str,
    rows_before: u64,
) -> Result<Decoded, MovementError> {
    let check_in = seconds(
        column_of(&batch, file, "check_in")?,
        file,
        "check_in",
        rows_before,
    )?;
    let check_out = seconds(
        column_of(&batch, file, "check_out")?,
        file,
        "check_out",
        rows_before,
    )?;
    if let Some(row) = check_in
        .iter()
        .zip(&check_out)
        .position(|(cin, cout)| cout < cin)
    {
        return Err(MovementError::Value {
            file: file.to_string(),
            place: Place::Row(rows_before + row as u64 + 1),
            column: "check_out",
            problem: Problem::CheckOutBeforeCheckIn,
            raw: String::new(),
        });
    }
    Ok(Decoded {
        batch,
        rows_before,
        check_in,
        check_out,
    })
}

fn check_type(file: &str, column: &'static str, t: &DataType) -> Result<(), MovementError> {
    let ok = match column {
        "person_id" | "venue_id" => is_string(t),
        _ => matches!(t, DataType::Timestamp(_, _) | DataType::Int64),
    };
    if ok {
        return Ok(());
    }
    Err(MovementError::ColumnType {
        file: file.to_string(),
        column,
        found: t.to_string(),
        expected: match column {
            "person_id" | "venue_id" => "a string",
            _ => "a timestamp or int64 microseconds since the epoch",
        },
    })
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(
            **v,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        _ => false,
    }
}

/// Buffers reused from batch to batch, and the ids of the last dictionary
/// seen per column, so a dictionary-encoded column is interned once per
/// dictionary rather than once per row.
#[derive(Default)]
struct BatchIds {
    free: Vec<Vec<u32>>,
    dictionaries: Vec<(ArrayRef, Vec<u32>)>,
}

/// A dictionary value that cannot be an id (null or blank).
const NO_ID: u32 = u32::MAX;

impl BatchIds {
    fn give_back(&mut self, a: Vec<u32>, b: Vec<u32>) {
        self.free.push(a);
        self.free.push(b);
    }

    fn intern(
        &mut self,
        array: &ArrayRef,
        ids: &mut Ids,
        file: &str,
        column: &'static str,
        rows_before: u64,
    ) -> Result<Vec<u32>, MovementError> {
        let mut out = self.free.pop().unwrap_or_default();
        out.clear();
        out.reserve(array.len());
        let missing = |row: usize, raw: &str| MovementError::Value {
            file: file.to_string(),
            place: Place::Row(rows_before + row as u64 + 1),
            column,
            problem: Problem::Missing,
            raw: raw.to_string(),
        };
        let full = || MovementError::TooMany {
            file: file.to_string(),
        };
        let mut names: Vec<&str> = Vec::with_capacity(array.len());
        let plain = if let Some(a) = array.as_string_opt::<i32>() {
            collect_names(a.iter(), &mut names)
        } else if let Some(a) = array.as_string_opt::<i64>() {
            collect_names(a.iter(), &mut names)
        } else if let Some(a) = array.as_string_view_opt() {
            collect_names(a.iter(), &mut names)
        } else {
            Ok(false)
        };
        let plain = plain.map_err(|(row, raw)| missing(row, &raw))?;
        if plain {
            ids.intern_all(&names, &mut out).map_err(|_| full())?;
        } else if let Some(d) = array.as_any_dictionary_opt() {
            let values = d.values();
            // Batches of one column chunk share their dictionary: intern it once.
            let cached = self
                .dictionaries
                .iter()
                .position(|(d, _)| std::sync::Arc::ptr_eq(d, values));
            let map = match cached {
                Some(i) => self.dictionaries.swap_remove(i).1,
                None => {
                    let mut map = Vec::with_capacity(values.len());
                    let mut add = |v: Option<&str>| -> Result<(), MovementError> {
                        let text = v.map(str::trim).unwrap_or_default();
                        map.push(if text.is_empty() {
                            NO_ID
                        } else {
                            ids.intern(text).map_err(|_| full())?
                        });
                        Ok(())
                    };
                    if let Some(v) = values.as_string_opt::<i32>() {
                        v.iter().try_for_each(&mut add)?;
                    } else if let Some(v) = values.as_string_opt::<i64>() {
                        v.iter().try_for_each(&mut add)?;
                    } else if let Some(v) = values.as_string_view_opt() {
                        v.iter().try_for_each(&mut add)?;
                    }
                    map
                }
            };
            let keys = if values.is_empty() {
                Vec::new()
            } else {
                d.normalized_keys()
            };
            for row in 0..array.len() {
                let id = if d.is_null(row) {
                    NO_ID
                } else {
                    keys.get(row)
                        .and_then(|&k| map.get(k))
                        .copied()
                        .unwrap_or(NO_ID)
                };
                if id == NO_ID {
                    return Err(missing(row, ""));
                }
                out.push(id);
            }
            self.dictionaries.truncate(3);
            self.dictionaries.push((values.clone(), map));
        }
        Ok(out)
    }
}

/// Trimmed names of a string column into `names`; true when it was one.
/// Fails with the row and raw text of the first missing name.
fn collect_names<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    names: &mut Vec<&'a str>,
) -> Result<bool, (usize, String)> {
    for (row, value) in values.enumerate() {
        let text = value.map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Err((row, value.unwrap_or_default().to_string()));
        }
        names.push(text);
    }
    Ok(true)
}

/// A time column as whole seconds since the epoch, floored, checked for range.
fn seconds(
    array: &ArrayRef,
    file: &str,
    column: &'static str,
    rows_before: u64,
) -> Result<Vec<i64>, MovementError> {
    let per_second: i64 = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => 1,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => 1_000_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1_000_000_000,
        other => {
            return Err(MovementError::ColumnType {
                file: file.to_string(),
                column,
                found: other.to_string(),
                expected: "a timestamp or int64 microseconds since the epoch",
            })
        }
    };
    let raw: &[i64] = if let Some(a) = array.as_primitive_opt::<TimestampSecondType>() {
        a.values()
    } else if let Some(a) = array.as_primitive_opt::<TimestampMillisecondType>() {
        a.values()
    } else if let Some(a) = array.as_primitive_opt::<TimestampMicrosecondType>() {
        a.values()
    } else if let Some(a) = array.as_primitive_opt::<TimestampNanosecondType>() {
        a.values()
    } else if let Some(a) = array.as_primitive_opt::<Int64Type>() {
        a.values()
    } else {
        &[]
    };
    let error = |row: usize, problem: Problem, raw: String| MovementError::Value {
        file: file.to_string(),
        place: Place::Row(rows_before + row as u64 + 1),
        column,
        problem,
        raw,
    };
    let mut out = Vec::with_capacity(raw.len());
    let has_nulls = array.null_count() > 0;
    for (row, &v) in raw.iter().enumerate() {
        if has_nulls && array.is_null(row) {
            return Err(error(row, Problem::Missing, String::new()));
        }
        let t = v.div_euclid(per_second);
        if !(EARLIEST..END).contains(&t) {
            return Err(error(row, Problem::TimeOutOfRange, v.to_string()));
        }
        out.push(t);
    }
    Ok(out)
}

/// Reads a Parquet file (venues, check-ins or trip seats for `closedloop
/// import`) into a [`Table`](crate::Table) of text cells, so that it goes
/// through the same contract, and the same row errors, as a CSV file. Row
/// `n` of the file is line `n + 1` (the header counts as line 1, as in CSV
/// and XLSX). Strings (plain or dictionary) are trimmed; integers and floats
/// are written out; timestamps (any unit) become RFC 3339 UTC to the second,
/// through the same conversion as [`read_checkins_parquet`]; nulls are empty.
pub fn read_parquet_table(path: &Path) -> Result<crate::Table, MovementError> {
    let file = display_name(path);
    let handle = std::fs::File::open(path).map_err(|source| MovementError::Unreadable {
        file: file.clone(),
        source,
    })?;
    let invalid = |e: parquet::errors::ParquetError| MovementError::Parquet {
        file: file.clone(),
        reason: e.to_string(),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(invalid)?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(invalid)?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let headers: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().trim().to_string())
        .collect();
    let mut rows: Vec<crate::Row> = Vec::new();
    let mut done: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| MovementError::Parquet {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        let mut cells: Vec<Vec<String>> = vec![Vec::with_capacity(headers.len()); batch.num_rows()];
        for (column, array) in headers.iter().zip(batch.columns()) {
            for (row, text) in texts(array, &file, column, done)?.into_iter().enumerate() {
                if let Some(r) = cells.get_mut(row) {
                    r.push(text);
                }
            }
        }
        for (i, r) in cells.into_iter().enumerate() {
            rows.push(crate::Row::new(done + i as u64 + 2, r));
        }
        done += batch.num_rows() as u64;
    }
    Ok(crate::Table {
        source: file,
        headers,
        rows,
    })
}

/// One column as text cells (see [`read_parquet_table`]).
fn texts(
    array: &ArrayRef,
    file: &str,
    column: &str,
    rows_before: u64,
) -> Result<Vec<String>, MovementError> {
    use arrow_array::types::{Float32Type, Float64Type, Int32Type};
    let n = array.len();
    let null = |i: usize| array.is_null(i);
    let strings = |values: &mut dyn Iterator<Item = Option<&str>>| -> Vec<String> {
        values
            .map(|v| v.unwrap_or_default().trim().to_string())
            .collect()
    };
    let out: Vec<String> = match array.data_type() {
        DataType::Utf8 => strings(&mut array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => strings(&mut array.as_string::<i64>().iter()),
        DataType::Utf8View => strings(&mut array.as_string_view().iter()),
        DataType::Dictionary(_, v)
            if is_string(&DataType::Dictionary(Box::new(DataType::Int32), v.clone())) =>
        {
            let Some(d) = array.as_any_dictionary_opt() else {
                return Ok(vec![String::new(); n]);
            };
            let values = d.values();
            let names: Vec<String> = if let Some(v) = values.as_string_opt::<i32>() {
                strings(&mut v.iter())
            } else if let Some(v) = values.as_string_opt::<i64>() {
                strings(&mut v.iter())
            } else if let Some(v) = values.as_string_view_opt() {
                strings(&mut v.iter())
            } else {
                Vec::new()
            };
            let keys = if values.is_empty() {
                Vec::new()
            } else {
                d.normalized_keys()
            };
            (0..n)
                .map(|i| {
                    if null(i) {
                        String::new()
                    } else {
                        keys.get(i)
                            .and_then(|&k| names.get(k))
                            .cloned()
                            .unwrap_or_default()
                    }
                })
                .collect()
        }
        DataType::Int64 => array
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect(),
        DataType::Int32 => array
            .as_primitive::<Int32Type>()
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect(),
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect(),
        DataType::Float32 => array
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.map(|x| x.to_string()).unwrap_or_default())
            .collect(),
        DataType::Timestamp(_, _) => {
            // `seconds` refuses nulls; an empty cell is the contract's business (optional check_out).
            let name: &'static str = match column {
                "check_in" => "check_in",
                "check_out" => "check_out",
                _ => "time",
            };
            let filled = if array.null_count() > 0 {
                None
            } else {
                Some(seconds(array, file, name, rows_before)?)
            };
            match filled {
                Some(secs) => secs
                    .into_iter()
                    .map(|t| {
                        let mut out = Vec::with_capacity(20);
                        format_utc(&mut out, t);
                        String::from_utf8(out).unwrap_or_default()
                    })
                    .collect(),
                None => (0..n)
                    .map(|i| {
                        if null(i) {
                            return Ok(String::new());
                        }
                        let one = array.slice(i, 1);
                        let t = seconds(&one, file, name, rows_before + i as u64)?;
                        let mut out = Vec::with_capacity(20);
                        format_utc(&mut out, t.first().copied().unwrap_or_default());
                        Ok(String::from_utf8(out).unwrap_or_default())
                    })
                    .collect::<Result<_, MovementError>>()?,
            }
        }
        other => {
            return Err(MovementError::ColumnType {
                file: file.to_string(),
                column: match column {
                    "person_id" => "person_id",
                    "venue_id" => "venue_id",
                    "trip_id" => "trip_id",
                    _ => "column",
                },
                found: other.to_string(),
                expected: "text, a number or a timestamp",
            })
        }
    };
    Ok(out)
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Row(n) => write!(f, "row {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: Tz = chrono_tz::Asia::Shanghai;

    #[test]
    fn times_parse_fast_and_slow_the_same_way() {
        for s in [
            "2022-03-04T05:49:46Z",
            "2022-03-04T05:49:46.999Z",
            "2022-03-04t13:49:46+08:00",
            "2022-03-04 00:19:46-05:30",
            "2000-02-29T00:00:00Z",
            "1970-01-01T00:00:00Z",
        ] {
            let slow = chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
            assert_eq!(fast_rfc3339(s.as_bytes()), Some(slow), "{s}");
        }
        for s in [
            "2022-02-29T00:00:00Z",
            "2022-03-04T24:00:00Z",
            "2022-03-04T05:49:46",
            "2022-03-04T05:49:46+8:00",
            "2022-03-04T05:49:46.Z",
        ] {
            assert_eq!(fast_rfc3339(s.as_bytes()), None, "{s}");
        }
        assert_eq!(parse_time("2022-03-04 13:49:46", TZ), Some(1_646_372_986));
        assert_eq!(parse_time("yesterday", TZ), None);
    }

    #[test]
    fn utc_times_format_to_the_second() {
        let mut out = Vec::new();
        format_utc(&mut out, 1_646_372_986);
        assert_eq!(out, b"2022-03-04T05:49:46Z");
        for t in [0, 951_782_400, 4_102_444_799, 1_709_164_800] {
            let mut out = Vec::new();
            format_utc(&mut out, t);
            let want = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    fn read(text: &str) -> Result<(Stays, Ids), MovementError> {
        let (mut people, mut venues, mut stays) = (Ids::new(), Ids::new(), Stays::new());
        read_checkins_csv(
            text.as_bytes(),
            "c.csv",
            TZ,
            &mut people,
            &mut venues,
            &mut stays,
        )?;
        Ok((stays, people))
    }

    #[test]
    fn csv_check_ins_name_the_line_and_column_of_a_bad_value() {
        let ok = "\u{feff}Person_ID,venue_id,check_in,check_out,extra\n\
                  a,v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z,x\n\n\
                  \"b\",v,2022-03-04T05:49:46Z,2022-03-04T05:49:46Z,\n";
        let (stays, people) = read(ok).unwrap();
        assert_eq!((stays.len(), people.len()), (2, 2));

        let bad = "person_id,venue_id,check_in,check_out\n\
                   a,v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z\n\
                   \n\
                   \"b\nc\",v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z\n\
                   a,v,2022-03-04T05:49:46Z,2022-03-04T04:49:46Z\n";
        let e = read(bad).unwrap_err();
        assert_eq!(e.code(), "check_out_before_check_in");
        assert_eq!(
            e.message(Lang::En),
            "c.csv line 6, column check_out: check_out is before check_in (\"2022-03-04T04:49:46Z\")"
        );
        assert!(
            e.message(Lang::Zh).contains("第6行"),
            "{}",
            e.message(Lang::Zh)
        );

        let e = read("person_id,venue_id,check_in\na,v,2022-03-04T05:49:46Z\n").unwrap_err();
        assert_eq!(e.to_string(), "c.csv has no column check_out");
        let e = read("person_id,venue_id,check_in,check_out\na,v,2022-03-04T25:49:46Z,x\n")
            .unwrap_err();
        assert_eq!(e.code(), "invalid_time");
        assert!(e.to_string().contains("line 2, column check_in"), "{e}");
        let e = read("person_id,venue_id,check_in,check_out\na,v,2100-01-01T00:00:00Z,2100-01-01T00:00:00Z\n").unwrap_err();
        assert_eq!(e.code(), "time_out_of_range");
        let e = read(
            "person_id,venue_id,check_in,check_out\n,v,2022-03-04T05:49:46Z,2022-03-04T05:49:46Z\n",
        )
        .unwrap_err();
        assert_eq!(e.code(), "missing_value");
        let e =
            read("person_id,venue_id,check_in,check_out\na,v,2022-03-04T05:49:46Z\n").unwrap_err();
        assert_eq!(e.code(), "csv_malformed");
    }

    #[test]
    fn lines_count_the_blank_lines_the_parser_skips() {
        for (text, line) in [
            ("person_id,venue_id,check_in,check_out\na,v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z\n\nb,v,x,y\n", 4),
            ("person_id,venue_id,check_in,check_out\r\n\r\n\r\nb,v,x,y\r\n", 4),
            ("person_id,venue_id,check_in,check_out\n\n\n\n\nb,v,x,y", 6),
            ("person_id,venue_id,check_in,check_out\n\"a\n\",v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z\n\n\nb,v,x,y\n", 6),
        ] {
            let e = read(text).unwrap_err();
            assert_eq!(e.code(), "invalid_time", "{e}");
            assert!(e.to_string().contains(&format!("line {line},")), "{text:?}: {e}");
        }
        // Far into a file, past the parser's first buffers.
        let mut text = String::from("person_id,venue_id,check_in,check_out\n");
        for i in 0..100_000 {
            text.push_str(&format!(
                "p{i},v,2022-03-04T05:49:46Z,2022-03-04T06:49:46Z\n"
            ));
            if i % 1000 == 0 {
                text.push('\n');
            }
        }
        text.push_str("late,v,2022-03-04T05:49:46Z,2022-03-04T04:49:46Z\n");
        let e = read(&text).unwrap_err();
        assert!(e.to_string().contains("line 100102,"), "{e}");
    }

    #[test]
    fn cases_may_leave_isolation_empty_or_out() {
        let mut people = Ids::new();
        let cases = read_trace_cases_csv(
            "person_id,reference_time,isolated_at\na,2022-03-04T05:49:46Z,\nb,2022-03-04T05:49:46Z,2022-03-05T05:49:46Z\n".as_bytes(),
            "cases.csv",
            TZ,
            &mut people,
        )
        .unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].isolated_at, None);
        assert_eq!(cases[1].isolated_at, Some(1_646_459_386));
        let cases = read_trace_cases_csv(
            "person_id,reference_time\na,2022-03-04T05:49:46Z\n".as_bytes(),
            "cases.csv",
            TZ,
            &mut people,
        )
        .unwrap();
        assert_eq!(cases[0].isolated_at, None);
    }
}
