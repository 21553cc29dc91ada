//! Errors of ingest: [`FileError`] stops a whole file, [`RowError`] rejects one
//! row and lets the others through. Both carry stable codes and read in zh and en.

use closedloop_domain::{DomainError, ErrorCode, Lang};
use std::fmt;

/// A problem with a whole file: nothing of it is imported.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened or read.
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write {file}: {source}")]
    Unwritable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Bytes that are not UTF-8, starting on `line`.
    #[error("{file} is not UTF-8 text (invalid bytes on line {line}); save it as \"CSV UTF-8\"")]
    NotUtf8 { file: String, line: u64 },
    /// No bytes, or no header row.
    #[error("{file} is empty: it has no header row")]
    Empty { file: String },
    /// A physical line longer than `limit` bytes.
    #[error("{file} line {line} is longer than {limit} bytes")]
    LineTooLong {
        file: String,
        line: u64,
        limit: usize,
    },
    /// A required column is absent from the header.
    #[error("{file} has no column {column}")]
    MissingColumn { file: String, column: &'static str },
    /// A header names a column the contract does not know.
    #[error("{file} has an unknown column {column:?}; expected columns: {expected}")]
    UnknownColumn {
        file: String,
        column: String,
        expected: String,
    },
    /// Two headers name the same column.
    #[error("{file} names column {column} twice")]
    DuplicateColumn { file: String, column: String },
    /// A column with an empty header holds values.
    #[error("{file} column {position} holds values but has no header")]
    UnnamedColumn { file: String, position: usize },
    /// The file name does not end in a known extension.
    #[error("{file}: unsupported file type; use .csv or .xlsx")]
    UnsupportedFormat { file: String },
    /// The spreadsheet could not be read.
    #[error("{file} is not a readable XLSX workbook: {reason}")]
    XlsxInvalid { file: String, reason: String },
    /// The spreadsheet could not be written.
    #[error("cannot write the workbook {file}: {reason}")]
    XlsxWrite { file: String, reason: String },
    /// A CSV record that does not fit the header.
    #[error("{file} line {line}: {reason}")]
    CsvMalformed {
        file: String,
        line: u64,
        reason: String,
    },
}

impl ErrorCode for FileError {
    fn code(&self) -> &'static str {
        use FileError::*;
        match self {
            Unreadable { .. } => "file_unreadable",
            Unwritable { .. } => "file_unwritable",
            NotUtf8 { .. } => "file_not_utf8",
            Empty { .. } => "file_empty",
            LineTooLong { .. } => "line_too_long",
            MissingColumn { .. } => "missing_column",
            UnknownColumn { .. } => "unknown_column",
            DuplicateColumn { .. } => "duplicate_column",
            UnnamedColumn { .. } => "unnamed_column",
            UnsupportedFormat { .. } => "unsupported_format",
            XlsxInvalid { .. } => "xlsx_invalid",
            XlsxWrite { .. } => "xlsx_write_failed",
            CsvMalformed { .. } => "csv_malformed",
        }
    }

    fn message(&self, lang: Lang) -> String {
        use FileError::*;
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            Unreadable { file, source } => format!("无法读取文件{file}：{source}"),
            Unwritable { file, source } => format!("无法写入{file}：{source}"),
            NotUtf8 { file, line } => {
                format!(
                    "{file}不是UTF-8编码的文本（第{line}行有无效字节）：请另存为“CSV UTF-8”格式"
                )
            }
            Empty { file } => format!("{file}是空文件：没有表头行"),
            LineTooLong { file, line, limit } => format!("{file}第{line}行超过{limit}字节"),
            MissingColumn { file, column } => format!("{file}缺少{column}列"),
            UnknownColumn {
                file,
                column,
                expected,
            } => {
                format!("{file}含有无法识别的列“{column}”；可用的列：{expected}")
            }
            DuplicateColumn { file, column } => format!("{file}中{column}列出现了两次"),
            UnnamedColumn { file, position } => format!("{file}第{position}列有内容但没有表头"),
            UnsupportedFormat { file } => format!("{file}：不支持的文件类型，请使用.csv或.xlsx"),
            XlsxInvalid { file, reason } => format!("{file}不是可读取的XLSX工作簿：{reason}"),
            XlsxWrite { file, reason } => format!("无法写入工作簿{file}：{reason}"),
            CsvMalformed { file, line, reason } => format!("{file}第{line}行格式错误：{reason}"),
        }
    }
}

/// Why one value of a row was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The domain refused the value.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A spreadsheet stored a long number as a float, which cannot hold all its
    /// digits: importing it would store a different number.
    #[error("the spreadsheet stored this number as a floating-point value and lost digits; format the column as text and type it again")]
    NumberLostPrecision,
    /// A spreadsheet cell holds an error value such as `#N/A`.
    #[error("the spreadsheet cell holds the error value {0}")]
    SpreadsheetError(String),
}

impl ErrorCode for ValueError {
    fn code(&self) -> &'static str {
        match self {
            ValueError::Domain(e) => e.code(),
            ValueError::NumberLostPrecision => "number_lost_precision",
            ValueError::SpreadsheetError(_) => "spreadsheet_cell_error",
        }
    }

    fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (ValueError::Domain(e), _) => e.message(lang),
            (_, Lang::En) => self.to_string(),
            (ValueError::NumberLostPrecision, Lang::Zh) => {
                "表格以数值形式保存了该数字，已丢失部分位数：请将该列设为文本格式后重新录入".into()
            }
            (ValueError::SpreadsheetError(v), Lang::Zh) => format!("单元格为错误值{v}"),
        }
    }
}

/// One refused value: where it is, why, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// File name, for messages.
    pub source: String,
    /// CSV: physical line where the record starts (header = 1). XLSX: sheet row number.
    pub line: u64,
    /// Contract column name (lower case).
    pub column: String,
    /// Why the value was refused.
    pub error: ValueError,
    /// The offending cell, cut to [`RAW_LIMIT`] characters.
    pub raw: String,
}

/// How many characters of an offending value a [`RowError`] keeps.
pub const RAW_LIMIT: usize = 60;

impl RowError {
    pub(crate) fn new(source: &str, line: u64, column: &str, error: ValueError, raw: &str) -> Self {
        RowError {
            source: source.to_string(),
            line,
            column: column.to_string(),
            error,
            raw: truncate(raw, RAW_LIMIT),
        }
    }
}

pub(crate) fn truncate(s: &str, limit: usize) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(limit).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

impl ErrorCode for RowError {
    fn code(&self) -> &'static str {
        self.error.code()
    }

    fn message(&self, lang: Lang) -> String {
        let RowError {
            source,
            line,
            column,
            error,
            raw,
        } = self;
        let reason = error.message(lang);
        // A message is one line on a terminal, even when the value spans several.
        let raw: String = raw
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
        match (lang, raw.is_empty()) {
            (Lang::En, true) => format!("{source} line {line}, column {column}: {reason}"),
            (Lang::En, false) => {
                format!("{source} line {line}, column {column}: {reason} (\"{raw}\")")
            }
            (Lang::Zh, true) => format!("{source} 第{line}行，{column}列：{reason}"),
            (Lang::Zh, false) => format!("{source} 第{line}行，{column}列：{reason}（“{raw}”）"),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for RowError {}
