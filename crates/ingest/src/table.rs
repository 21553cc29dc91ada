//! Reading a CSV or XLSX file into a [`Table`] of trimmed text cells.

use crate::error::{FileError, ValueError};
use calamine::{Data, Reader, SheetType, Xlsx};
use chrono::{NaiveDateTime, Timelike};
use std::io::{self, Cursor, Read};
use std::path::Path;

/// The longest physical CSV line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Numeric cells from this size on (16 digits) may not hold what was typed:
/// Excel keeps 15 significant digits and silently zeroes the rest, and an
/// `f64` is exact only up to 2^53. Such a cell is refused rather than guessed.
const NUMBER_EXACT_BELOW: f64 = 1e15;

/// Format of an exchange file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    /// From the file's extension: `.csv`/`.txt` are CSV, `.xlsx`/`.xlsm` are XLSX.
    pub fn from_path(path: &Path) -> Result<FileFormat, FileError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        FileFormat::from_name(ext).ok_or_else(|| FileError::UnsupportedFormat {
            file: display_name(path),
        })
    }

    /// From an extension or a `--format` value (case-insensitive).
    pub fn from_name(name: &str) -> Option<FileFormat> {
        match name
            .trim()
            .trim_start_matches('.')
            .to_ascii_lowercase()
            .as_str()
        {
            "csv" | "txt" => Some(FileFormat::Csv),
            "xlsx" | "xlsm" => Some(FileFormat::Xlsx),
            _ => None,
        }
    }

    /// The usual extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }
}

/// A whole file as text: a header row and data rows, cells trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// File name, for messages.
    pub source: String,
    /// Header cells as written (trimmed, BOM removed).
    pub headers: Vec<String>,
    /// Data rows; blank rows are left out.
    pub rows: Vec<Row>,
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// CSV: 1-based physical line where the record starts (the header is line 1
    /// when it is the first line). XLSX: the sheet's row number.
    pub line: u64,
    /// One trimmed cell per header.
    pub cells: Vec<String>,
    /// Cells whose text is not the value the sender meant (XLSX only): a number
    /// that lost digits, an error value. Parsing refuses these cells.
    pub problems: Vec<CellProblem>,
}

/// A cell of a [`Row`] that could not be read faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    /// Index into [`Row::cells`].
    pub index: usize,
    /// Why the cell's text cannot be trusted.
    pub error: ValueError,
}

impl Row {
    /// A row without cell problems.
    pub fn new(line: u64, cells: Vec<String>) -> Row {
        Row {
            line,
            cells,
            problems: Vec::new(),
        }
    }
}

/// The name used for `path` in messages: the file name.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads a whole file; its format comes from its extension. Any problem fails the whole file.
pub fn read_table(path: &Path) -> Result<Table, FileError> {
    let format = FileFormat::from_path(path)?;
    let source = display_name(path);
    let file = std::fs::File::open(path).map_err(|e| FileError::Unreadable {
        file: source.clone(),
        source: e,
    })?;
    read_table_from(file, format, &source)
}

/// Reads a whole file from `reader`; `source_name` names it in messages.
pub fn read_table_from(
    reader: impl Read,
    format: FileFormat,
    source_name: &str,
) -> Result<Table, FileError> {
    match format {
        FileFormat::Csv => read_csv(reader, source_name, MAX_LINE_BYTES),
        FileFormat::Xlsx => read_xlsx(reader, source_name),
    }
}

/// Marker carried inside an `io::Error` so the CSV reader's error can be told apart.
#[derive(Debug)]
struct LineTooLongAt {
    line: u64,
    limit: usize,
}

impl std::fmt::Display for LineTooLongAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is longer than {} bytes", self.line, self.limit)
    }
}

impl std::error::Error for LineTooLongAt {}

/// Fails as soon as the current physical line exceeds `limit` bytes, so a
/// huge line is never held in memory: the CSV parser would buffer it whole.
struct LineLimit<R> {
    inner: R,
    limit: usize,
    line: u64,
    current: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in buf.get(..n).unwrap_or_default() {
            if b == b'\n' {
                self.line += 1;
                self.current = 0;
            } else {
                self.current += 1;
                if self.current > self.limit {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        LineTooLongAt {
                            line: self.line,
                            limit: self.limit,
                        },
                    ));
                }
            }
        }
        Ok(n)
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn read_csv(reader: impl Read, source: &str, limit: usize) -> Result<Table, FileError> {
    let file = || source.to_string();
    // The whole file is read first: import is all-or-nothing anyway, and with
    // the bytes at hand lines can be counted exactly (csv's own count leaves
    // out the blank lines it skips before a record).
    let mut bytes = Vec::new();
    LineLimit {
        inner: reader,
        limit,
        line: 1,
        current: 0,
    }
    .read_to_end(&mut bytes)
    .map_err(
        |e| match e.get_ref().and_then(|i| i.downcast_ref::<LineTooLongAt>()) {
            Some(&LineTooLongAt { line, limit }) => FileError::LineTooLong {
                file: file(),
                line,
                limit,
            },
            None => FileError::Unreadable {
                file: file(),
                source: e,
            },
        },
    )?;
    let body = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let text = std::str::from_utf8(body).map_err(|e| FileError::NotUtf8 {
        file: file(),
        line: 1 + count_newlines(body.get(..e.valid_up_to()).unwrap_or_default()),
    })?;

    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::None)
        .from_reader(text.as_bytes());
    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let at = csv.position().clone();
        let more = csv
            .read_record(&mut record)
            .map_err(|e| FileError::CsvMalformed {
                file: file(),
                line: e.position().map_or(at.line(), |p| p.line()),
                reason: e.to_string(),
            })?;
        if !more {
            break;
        }
        let skipped = text
            .as_bytes()
            .get(usize::try_from(at.byte()).unwrap_or(usize::MAX)..)
            .unwrap_or_default();
        let blank = skipped.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
        let line = at.line() + blank.filter(|&&b| b == b'\n').count() as u64;
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        match &headers {
            None => headers = Some(cells),
            Some(h) if h.len() != cells.len() => {
                return Err(FileError::CsvMalformed {
                    file: file(),
                    line,
                    reason: format!("{} fields where the header has {}", cells.len(), h.len()),
                });
            }
            Some(_) => rows.push(Row::new(line, cells)),
        }
    }
    let headers = headers.ok_or_else(|| FileError::Empty { file: file() })?;
    Ok(Table {
        source: file(),
        headers,
        rows,
    })
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn read_xlsx(mut reader: impl Read, source: &str) -> Result<Table, FileError> {
    let invalid = |reason: String| FileError::XlsxInvalid {
        file: source.to_string(),
        reason,
    };
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::Unreadable {
            file: source.to_string(),
            source: e,
        })?;
    if bytes.is_empty() {
        return Err(FileError::Empty {
            file: source.to_string(),
        });
    }
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| invalid(e.to_string()))?;
    let sheet = book
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .ok_or_else(|| invalid("no worksheet".into()))?;
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| invalid(e.to_string()))?;
    let first_row = u64::from(range.start().map_or(0, |(r, _)| r));

    let mut headers: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let line = first_row + i as u64 + 1;
        let mut row = Row::new(line, Vec::with_capacity(cells.len()));
        for (index, cell) in cells.iter().enumerate() {
            let (text, problem) = cell_text(cell);
            if let Some(error) = problem {
                row.problems.push(CellProblem { index, error });
            }
            row.cells.push(text);
        }
        if row.cells.iter().all(String::is_empty) && row.problems.is_empty() {
            continue;
        }
        match headers {
            None => headers = Some(row.cells),
            Some(_) => rows.push(row),
        }
    }
    let mut headers = headers.ok_or_else(|| FileError::Empty {
        file: source.to_string(),
    })?;
    if let Some(first) = headers.first_mut() {
        *first = first.trim_start_matches('\u{feff}').trim().to_string();
    }
    Ok(Table {
        source: source.to_string(),
        headers,
        rows,
    })
}

/// The text of a spreadsheet cell as a person would have typed it.
fn cell_text(cell: &Data) -> (String, Option<ValueError>) {
    match cell {
        Data::Empty => (String::new(), None),
        Data::String(s) => (s.trim().to_string(), None),
        Data::Int(i) => (i.to_string(), None),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => (b.to_string(), None),
        Data::DateTime(d) if d.is_datetime() => match d.as_datetime() {
            Some(t) => (datetime_text(t), None),
            None => float_text(d.as_f64()),
        },
        Data::DateTime(d) => float_text(d.as_f64()),
        Data::DateTimeIso(s) => match NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            Ok(t) => (datetime_text(t), None),
            Err(_) => (s.trim().to_string(), None),
        },
        Data::DurationIso(s) => (s.trim().to_string(), None),
        Data::Error(e) => (
            e.to_string(),
            Some(ValueError::SpreadsheetError(e.to_string())),
        ),
    }
}

fn float_text(f: f64) -> (String, Option<ValueError>) {
    if f.is_finite() && f.fract() == 0.0 {
        let text = format!("{f:.0}");
        if f.abs() < NUMBER_EXACT_BELOW {
            return (text, None);
        }
        return (text, Some(ValueError::NumberLostPrecision));
    }
    (f.to_string(), None)
}

/// Local date-time without offset: a date alone when it is midnight. Rounded
/// to the second, since Excel's day fractions land a hair off whole seconds.
fn datetime_text(t: NaiveDateTime) -> String {
    let t = if t.nanosecond() >= 500_000_000 {
        t + chrono::Duration::seconds(1)
    } else {
        t
    };
    let t = t.with_nanosecond(0).unwrap_or(t);
    if t.time() == chrono::NaiveTime::MIN {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &[u8]) -> Result<Table, FileError> {
        read_csv(text, "t.csv", 16)
    }

    #[test]
    fn lines_count_physical_lines_and_skip_blank_ones() {
        let t = csv(b"a,b\n\n1,\"x\ny\"\n , \n2,z\r\n").unwrap();
        let lines: Vec<u64> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 6]);
        assert_eq!(t.rows[0].cells, ["1", "x\ny"]);
    }

    #[test]
    fn the_line_limit_counts_from_the_last_newline() {
        assert!(csv(b"a\n0123456789abcdef\n").is_ok());
        let err = csv(b"a\n0123456789abcdefg\n").unwrap_err();
        assert!(
            matches!(err, FileError::LineTooLong { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line_inside_a_quoted_field() {
        let err = csv(b"a,b\n1,\"x\ny\xff\"\n").unwrap_err();
        assert!(matches!(err, FileError::NotUtf8 { line: 3, .. }), "{err:?}");
    }

    #[test]
    fn a_bom_before_a_quoted_header_is_dropped() {
        let t = csv(b"\xEF\xBB\xBF\"a\",b\n1,2\n").unwrap();
        assert_eq!(t.headers, ["a", "b"]);
    }

    #[test]
    fn floats_keep_integers_plain_and_flag_lost_digits() {
        assert_eq!(float_text(220100.0), ("220100".into(), None));
        assert_eq!(float_text(1.5), ("1.5".into(), None));
        assert_eq!(
            float_text(999_999_999_999_999.0),
            ("999999999999999".into(), None)
        );
        assert_eq!(
            float_text(1_234_567_890_123_450.0).1,
            Some(ValueError::NumberLostPrecision)
        );
        assert_eq!(
            float_text(110105194912310021.0).1,
            Some(ValueError::NumberLostPrecision)
        );
    }

    #[test]
    fn excel_times_round_to_the_second() {
        let t = NaiveDateTime::parse_from_str("2022-03-09 08:29:59.9996", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(datetime_text(t), "2022-03-09 08:30:00");
        let t = NaiveDateTime::parse_from_str("1949-12-31 00:00:00.0004", "%Y-%m-%d %H:%M:%S%.f")
            .unwrap();
        assert_eq!(datetime_text(t), "1949-12-31");
    }
}
