//! Writing exchange files. Every record written here imports back unchanged.

use crate::contract::Contract;
use crate::error::{FileError, RowError};
use crate::table::{display_name, Table};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use closedloop_domain::case::CaseDraft;
use closedloop_domain::facility::Facility;
use closedloop_domain::person::PersonDraft;
use closedloop_domain::region::Region;
use closedloop_domain::time::format_instant;
use closedloop_domain::{ErrorCode, Lang};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

fn opt(v: Option<&str>) -> String {
    v.unwrap_or_default().to_string()
}

fn day(d: Option<NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn time(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map(|t| format_instant(t, tz)).unwrap_or_default()
}

/// A region as a row of [`Contract::Regions`].
pub fn region_record(r: &Region) -> Vec<String> {
    vec![
        r.code.clone(),
        opt(r.parent_code.as_deref()),
        r.level.as_str().to_string(),
        r.name_zh.clone(),
        r.name_en.clone(),
        r.population.to_string(),
    ]
}

/// A facility as a row of [`Contract::Facilities`].
pub fn facility_record(f: &Facility) -> Vec<String> {
    vec![
        f.facility_id.clone(),
        f.name.clone(),
        f.kind.as_str().to_string(),
        opt(f.region_code.as_deref()),
        f.address.clone(),
        f.capacity.to_string(),
    ]
}

/// A person as a row of [`Contract::Persons`].
pub fn person_record(p: &PersonDraft) -> Vec<String> {
    vec![
        p.document.kind.as_str().to_string(),
        p.document.number.clone(),
        p.name.clone(),
        opt(p.sex.map(|s| s.as_str())),
        day(p.birth_date),
        opt(p.phone.as_deref()),
        opt(p.address.as_deref()),
        opt(p.region_code.as_deref()),
        opt(p.household_id.as_deref()),
    ]
}

/// A case as a row of [`Contract::Cases`]; times are RFC 3339 in `tz`, to the
/// second. The contract has no place for the person's phone, address or
/// household: those travel in a persons file.
pub fn case_record(c: &CaseDraft, tz: Tz) -> Vec<String> {
    let p = &c.person;
    vec![
        c.case_id.clone(),
        p.document.kind.as_str().to_string(),
        p.document.number.clone(),
        p.name.clone(),
        opt(p.sex.map(|s| s.as_str())),
        day(p.birth_date),
        opt(c.residence_region.as_deref().or(p.region_code.as_deref())),
        c.reporting_region.clone(),
        c.classification.as_str().to_string(),
        opt(c.clinical_type.map(|t| t.as_str())),
        c.origin.as_str().to_string(),
        c.discovery_channel.as_str().to_string(),
        day(c.onset_date),
        time(c.sample_time, tz),
        time(Some(c.report_time), tz),
        time(c.reclassified_at, tz),
        opt(c.outcome.map(|o| o.as_str())),
        time(c.outcome_time, tz),
        time(c.isolated_at, tz),
    ]
}

fn csv_write_error(e: csv::Error, file: &str) -> FileError {
    let file = file.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => FileError::Unwritable { file, source },
        other => FileError::Unwritable {
            file,
            source: std::io::Error::other(format!("{other:?}")),
        },
    }
}

/// Writes a CSV file: UTF-8 without BOM, the contract's header first. Each row
/// must have one cell per column.
pub fn write_csv(
    out: impl Write,
    contract: Contract,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), FileError> {
    let name = format!("{}.csv", contract.as_str());
    let mut w = csv::WriterBuilder::new().from_writer(out);
    w.write_record(contract.columns())
        .map_err(|e| csv_write_error(e, &name))?;
    for row in rows {
        w.write_record(&row)
            .map_err(|e| csv_write_error(e, &name))?;
    }
    w.flush().map_err(|e| FileError::Unwritable {
        file: name,
        source: e,
    })
}

fn build_workbook(
    contract: Contract,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Workbook, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(contract.as_str())?;
    // Text format on every column, so values typed in later keep their
    // leading zeros and long digits too.
    let text = Format::new().set_num_format("@");
    let header = Format::new().set_bold().set_num_format("@");
    let width = contract.columns().len();
    for (col, name) in contract.columns().iter().enumerate() {
        let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
        sheet.set_column_format(col, &text)?;
        sheet.write_string_with_format(0, col, *name, &header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, row) in rows.enumerate() {
        let r = u32::try_from(i + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        if row.len() != width {
            return Err(XlsxError::ParameterError(format!(
                "row {} has {} cells where the header has {width}",
                i + 2,
                row.len()
            )));
        }
        for (col, value) in row.iter().enumerate() {
            if value.is_empty() {
                continue;
            }
            let col = u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)?;
            // Strings, never numbers: an 18-digit ID as a number would lose digits.
            sheet.write_string_with_format(r, col, value, &text)?;
        }
    }
    Ok(book)
}

/// Writes an XLSX workbook to `path`: one sheet, a header row, every cell text.
pub fn write_xlsx(
    path: &Path,
    contract: Contract,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), FileError> {
    let file = display_name(path);
    let fail = |e: XlsxError| match e {
        XlsxError::IoError(source) => FileError::Unwritable {
            file: file.clone(),
            source,
        },
        other => FileError::XlsxWrite {
            file: file.clone(),
            reason: other.to_string(),
        },
    };
    build_workbook(contract, rows)
        .and_then(|mut b| b.save(path))
        .map_err(fail)
}

/// Writes an XLSX workbook to `out` (e.g. stdout); like [`write_xlsx`].
pub fn write_xlsx_to(
    mut out: impl Write,
    contract: Contract,
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<(), FileError> {
    let file = format!("{}.xlsx", contract.as_str());
    let bytes = build_workbook(contract, rows)
        .and_then(|mut b| b.save_to_buffer())
        .map_err(|e| FileError::XlsxWrite {
            file: file.clone(),
            reason: e.to_string(),
        })?;
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(|source| FileError::Unwritable { file, source })
}

/// One refused row value, its reason already in the reader's language: what
/// a rejects file lists. Refusals from parsing and from the store share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// File name, for messages.
    pub source: String,
    pub line: u64,
    pub column: String,
    /// Stable snake_case code.
    pub code: &'static str,
    pub reason: String,
}

impl Rejection {
    /// A parse error rendered in `lang`.
    pub fn from_row_error(e: &RowError, lang: Lang) -> Rejection {
        Rejection {
            source: e.source.clone(),
            line: e.line,
            column: e.column.clone(),
            code: e.code(),
            reason: e.error.message(lang),
        }
    }

    /// `file line N, column C: reason`, located in `lang` (the reason keeps its own language).
    pub fn message(&self, lang: Lang) -> String {
        let Rejection {
            source,
            line,
            column,
            reason,
            ..
        } = self;
        match lang {
            Lang::En => format!("{source} line {line}, column {column}: {reason}"),
            Lang::Zh => format!("{source} 第{line}行，{column}列：{reason}"),
        }
    }
}

/// Writes the refused rows as CSV: `line,column,code,reason`, then the
/// original row's cells under the original headers. A row refused for several
/// values appears once per value.
pub fn write_rejects(
    out: impl Write,
    table: &Table,
    rejects: &[Rejection],
) -> Result<(), FileError> {
    let name = format!("{} rejects", table.source);
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let header = ["line", "column", "code", "reason"]
        .into_iter()
        .map(str::to_string)
        .chain(table.headers.iter().cloned());
    w.write_record(header)
        .map_err(|e| csv_write_error(e, &name))?;
    let rows: HashMap<u64, &crate::table::Row> = table.rows.iter().map(|r| (r.line, r)).collect();
    let width = table.headers.len();
    for r in rejects {
        let cells = rows
            .get(&r.line)
            .map(|r| r.cells.as_slice())
            .unwrap_or_default();
        let record = [
            r.line.to_string(),
            r.column.clone(),
            r.code.to_string(),
            r.reason.clone(),
        ]
        .into_iter()
        .chain(
            cells
                .iter()
                .cloned()
                .chain(std::iter::repeat(String::new()))
                .take(width),
        );
        w.write_record(record)
            .map_err(|e| csv_write_error(e, &name))?;
    }
    w.flush().map_err(|e| FileError::Unwritable {
        file: name,
        source: e,
    })
}

/// [`write_rejects`] for parse errors alone, their reasons in `lang`.
pub fn write_row_errors(
    out: impl Write,
    table: &Table,
    errors: &[RowError],
    lang: Lang,
) -> Result<(), FileError> {
    let rejects: Vec<Rejection> = errors
        .iter()
        .map(|e| Rejection::from_row_error(e, lang))
        .collect();
    write_rejects(out, table, &rejects)
}
