//! Reading and writing closedloop's exchange files (CSV and XLSX).
//!
//! An adapter: it reads a file into a [`Table`] of text cells, checks the
//! header against a [`Contract`], and turns each row into a validated domain
//! value or into [`RowError`]s naming line, column and reason. It writes
//! records back in a form that imports unchanged. It knows nothing of storage.

mod contract;
mod error;
mod export;
pub mod movement;
mod table;

pub use contract::{
    parse_cases, parse_checkins, parse_facilities, parse_persons, parse_regions, parse_trips,
    parse_venues, Contract, Parsed, CASE_ID_MAX,
};
pub use error::{FileError, RowError, ValueError, RAW_LIMIT};
pub use export::{
    case_record, facility_record, person_record, region_record, write_csv, write_rejects,
    write_row_errors, write_xlsx, write_xlsx_to, Rejection,
};
pub use table::{
    display_name, read_table, read_table_from, CellProblem, FileFormat, Row, Table, MAX_LINE_BYTES,
};
