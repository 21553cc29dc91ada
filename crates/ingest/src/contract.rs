//! Column contracts and turning rows into validated domain values.

use crate::error::{FileError, RowError, ValueError};
use crate::table::{Row, Table};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::facility::{parse_capacity, Facility};
use closedloop_domain::lifecycle::FacilityKind;
use closedloop_domain::movement::{parse_place_id, CheckinDraft, TripSeat, Venue, VenueType};
use closedloop_domain::person::{parse_phone, Document, DocumentType, PersonDraft, Sex};
use closedloop_domain::region::{parse_region_code, Region, RegionLevel};
use closedloop_domain::time::{parse_date, parse_instant};
use closedloop_domain::DomainError;

/// The longest case ID accepted, in characters.
pub const CASE_ID_MAX: usize = 64;

/// Which kind of records a file holds, and so which columns it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contract {
    Regions,
    Persons,
    Cases,
    Venues,
    Trips,
    Checkins,
    Facilities,
}

const FACILITY_COLUMNS: &[&str] = &[
    "facility_id",
    "name",
    "kind",
    "region_code",
    "address",
    "capacity",
];
const FACILITY_REQUIRED: &[&str] = &["facility_id", "name", "kind", "capacity"];

const CHECKIN_COLUMNS: &[&str] = &["person_id", "venue_id", "check_in", "check_out"];
const CHECKIN_REQUIRED: &[&str] = &["person_id", "venue_id", "check_in"];

const VENUE_COLUMNS: &[&str] = &["venue_id", "name", "type", "region_code", "lat", "lon"];
const VENUE_REQUIRED: &[&str] = &["venue_id", "type"];

const TRIP_COLUMNS: &[&str] = &["person_id", "trip_id", "carriage", "seat_row"];
const TRIP_REQUIRED: &[&str] = &["person_id", "trip_id"];

const REGION_COLUMNS: &[&str] = &[
    "code",
    "parent_code",
    "level",
    "name_zh",
    "name_en",
    "population",
];
const REGION_REQUIRED: &[&str] = &["code", "level", "name_zh"];

const PERSON_COLUMNS: &[&str] = &[
    "document_type",
    "document_number",
    "name",
    "sex",
    "birth_date",
    "phone",
    "address",
    "region_code",
    "household_id",
];
const PERSON_REQUIRED: &[&str] = &["document_type", "document_number", "name"];

const CASE_COLUMNS: &[&str] = &[
    "case_id",
    "document_type",
    "document_number",
    "name",
    "sex",
    "birth_date",
    "residence_region",
    "reporting_region",
    "classification",
    "clinical_type",
    "origin",
    "discovery_channel",
    "onset_date",
    "sample_time",
    "report_time",
    "reclassified_at",
    "outcome",
    "outcome_time",
    "isolated_at",
];
const CASE_REQUIRED: &[&str] = &[
    "case_id",
    "document_type",
    "document_number",
    "name",
    "reporting_region",
    "classification",
    "origin",
    "report_time",
];

impl Contract {
    /// Every column the contract knows, in export order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Contract::Regions => REGION_COLUMNS,
            Contract::Persons => PERSON_COLUMNS,
            Contract::Cases => CASE_COLUMNS,
            Contract::Venues => VENUE_COLUMNS,
            Contract::Trips => TRIP_COLUMNS,
            Contract::Checkins => CHECKIN_COLUMNS,
            Contract::Facilities => FACILITY_COLUMNS,
        }
    }

    /// Columns a file must have (their cells must also be non-empty).
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Contract::Regions => REGION_REQUIRED,
            Contract::Persons => PERSON_REQUIRED,
            Contract::Cases => CASE_REQUIRED,
            Contract::Venues => VENUE_REQUIRED,
            Contract::Trips => TRIP_REQUIRED,
            Contract::Checkins => CHECKIN_REQUIRED,
            Contract::Facilities => FACILITY_REQUIRED,
        }
    }

    /// `regions`, `persons` or `cases`.
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::Regions => "regions",
            Contract::Persons => "persons",
            Contract::Cases => "cases",
            Contract::Venues => "venues",
            Contract::Trips => "trips",
            Contract::Checkins => "checkins",
            Contract::Facilities => "facilities",
        }
    }
}

/// Good rows and every refused value. Parsing a row never stops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// Each good row with its line.
    pub records: Vec<(u64, T)>,
    /// Every refused value; a row with any is not among the records.
    pub errors: Vec<RowError>,
}

impl<T> Parsed<T> {
    /// How many distinct rows were refused.
    pub fn rejected_rows(&self) -> usize {
        let mut lines: Vec<u64> = self.errors.iter().map(|e| e.line).collect();
        lines.dedup();
        lines.len()
    }
}

/// Where each contract column sits in a table.
struct ColumnMap {
    contract: Contract,
    /// Per contract column (same order as `columns()`), the table column index.
    index: Vec<Option<usize>>,
}

impl ColumnMap {
    fn new(table: &Table, contract: Contract) -> Result<ColumnMap, FileError> {
        let file = || table.source.clone();
        let columns = contract.columns();
        let mut index = vec![None; columns.len()];
        for (position, header) in table.headers.iter().enumerate() {
            let name = header.trim_start_matches('\u{feff}').trim();
            if name.is_empty() {
                // Spreadsheets often carry empty trailing columns; only refuse a nameless column with values.
                if table
                    .rows
                    .iter()
                    .any(|r| r.cells.get(position).is_some_and(|c| !c.is_empty()))
                {
                    return Err(FileError::UnnamedColumn {
                        file: file(),
                        position: position + 1,
                    });
                }
                continue;
            }
            let Some((known, canonical)) = columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.eq_ignore_ascii_case(name))
            else {
                return Err(FileError::UnknownColumn {
                    file: file(),
                    column: name.to_string(),
                    expected: columns.join(", "),
                });
            };
            if index
                .get_mut(known)
                .and_then(|slot| slot.replace(position))
                .is_some()
            {
                return Err(FileError::DuplicateColumn {
                    file: file(),
                    column: canonical.to_string(),
                });
            }
        }
        for &required in contract.required() {
            if columns
                .iter()
                .position(|c| *c == required)
                .and_then(|k| index.get(k).copied().flatten())
                .is_none()
            {
                return Err(FileError::MissingColumn {
                    file: file(),
                    column: required,
                });
            }
        }
        Ok(ColumnMap { contract, index })
    }

    fn position(&self, column: &str) -> Option<usize> {
        let known = self.contract.columns().iter().position(|c| *c == column)?;
        self.index.get(known).copied().flatten()
    }
}

/// The cells of one row as the contract sees them, collecting every refused value.
struct Cells<'a> {
    source: &'a str,
    map: &'a ColumnMap,
    row: &'a Row,
    errors: Vec<RowError>,
}

impl<'a> Cells<'a> {
    fn new(table: &'a Table, map: &'a ColumnMap, row: &'a Row) -> Self {
        Cells {
            source: &table.source,
            map,
            row,
            errors: Vec::new(),
        }
    }

    /// The trimmed cell of `column`; empty when the file lacks the column.
    fn raw(&self, column: &str) -> &'a str {
        let row: &'a Row = self.row;
        self.map
            .position(column)
            .and_then(|i| row.cells.get(i))
            .map_or("", |c| c.trim())
    }

    fn fail(&mut self, column: &str, error: impl Into<ValueError>) {
        let raw = self.raw(column);
        self.errors.push(RowError::new(
            self.source,
            self.row.line,
            column,
            error.into(),
            raw,
        ));
    }

    /// `Some(None)` for an empty cell, `None` after recording an error.
    fn optional<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Option<Option<T>> {
        if let Some(problem) = self
            .map
            .position(column)
            .and_then(|i| self.row.problems.iter().find(|p| p.index == i))
        {
            let error = problem.error.clone();
            self.fail(column, error);
            return None;
        }
        let raw = self.raw(column);
        if raw.is_empty() {
            return Some(None);
        }
        match parse(raw) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.fail(column, e);
                None
            }
        }
    }

    fn required<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, DomainError>,
    ) -> Option<T> {
        match self.optional(column, parse)? {
            Some(v) => Some(v),
            None => {
                self.fail(column, DomainError::Missing);
                None
            }
        }
    }

    fn text(&mut self, column: &str) -> Option<Option<String>> {
        self.optional(column, |s| Ok(s.to_string()))
    }
}

fn date(raw: &str) -> Result<NaiveDate, DomainError> {
    parse_date(raw).ok_or_else(|| DomainError::InvalidDate(crate::error::truncate(raw, 40)))
}

fn instant(tz: Tz) -> impl Fn(&str) -> Result<DateTime<Utc>, DomainError> {
    move |raw| {
        parse_instant(raw, tz)
            .ok_or_else(|| DomainError::InvalidTime(crate::error::truncate(raw, 40)))
    }
}

fn population(raw: &str) -> Result<i64, DomainError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| DomainError::InvalidNumber(crate::error::truncate(raw, 40)))
}

fn case_id(raw: &str) -> Result<String, DomainError> {
    if raw.chars().count() > CASE_ID_MAX {
        return Err(DomainError::TooLong(CASE_ID_MAX));
    }
    Ok(raw.to_string())
}

fn parse_all<T>(
    table: &Table,
    contract: Contract,
    mut parse_row: impl FnMut(&mut Cells<'_>) -> Option<T>,
) -> Result<Parsed<T>, FileError> {
    let map = ColumnMap::new(table, contract)?;
    let mut parsed = Parsed {
        records: Vec::new(),
        errors: Vec::new(),
    };
    for row in &table.rows {
        let mut cells = Cells::new(table, &map, row);
        let record = parse_row(&mut cells);
        // Report in the contract's column order, not in the order the checks ran.
        cells
            .errors
            .sort_by_key(|e| contract.columns().iter().position(|c| *c == e.column));
        match record {
            Some(r) if cells.errors.is_empty() => parsed.records.push((row.line, r)),
            _ => parsed.errors.append(&mut cells.errors),
        }
    }
    Ok(parsed)
}

/// Reads regions. `Err` only when the header does not fit the contract.
pub fn parse_regions(table: &Table) -> Result<Parsed<Region>, FileError> {
    parse_all(table, Contract::Regions, |c| {
        let code = c.required("code", parse_region_code);
        let parent_code = c.optional("parent_code", parse_region_code);
        let level = c.required("level", RegionLevel::parse);
        let name_zh = c.required("name_zh", |s| Ok(s.to_string()));
        let name_en = c.text("name_en");
        let population = c.optional("population", population);
        let region = Region {
            code: code?,
            parent_code: parent_code?,
            level: level?,
            name_zh: name_zh?,
            name_en: name_en?.unwrap_or_default(),
            population: population?.unwrap_or(0),
        };
        match region.check() {
            Ok(()) => Some(region),
            Err(e) => {
                // The code alone has a valid shape here, so it is the level that does not fit it.
                let column = if matches!(e, DomainError::RegionLevelMismatch { .. }) {
                    "level"
                } else {
                    "code"
                };
                c.fail(column, e);
                None
            }
        }
    })
}

/// The person columns shared by the persons and cases contracts; `region_code`
/// is read by the caller, since cases take it from their residence column.
fn person(c: &mut Cells<'_>, region_code: Option<Option<String>>) -> Option<PersonDraft> {
    let kind = c.required("document_type", DocumentType::parse);
    let document = match kind {
        Some(kind) => c.required("document_number", |s| Document::parse(kind, s)),
        None => None,
    };
    let name = c.required("name", |s| Ok(s.to_string()));
    let sex = c.optional("sex", Sex::parse);
    let birth_date = c.optional("birth_date", date);
    let phone = c.optional("phone", parse_phone);
    let address = c.text("address");
    let household_id = c.text("household_id");
    let mut person = PersonDraft {
        document: document?,
        name: name?,
        sex: sex?,
        birth_date: birth_date?,
        phone: phone?.flatten(),
        address: address?,
        region_code: region_code?,
        household_id: household_id?,
    };
    if let Err(e) = person.reconcile_with_document() {
        let column = match e {
            DomainError::SexMismatch { .. } => "sex",
            _ => "birth_date",
        };
        c.fail(column, e);
        return None;
    }
    Some(person)
}

/// Reads persons. `Err` only when the header does not fit the contract.
pub fn parse_persons(table: &Table) -> Result<Parsed<PersonDraft>, FileError> {
    parse_all(table, Contract::Persons, |c| {
        let region_code = c.optional("region_code", parse_region_code);
        person(c, region_code)
    })
}

/// Reads cases; times without an offset are read in `tz`. `Err` only when the
/// header does not fit the contract.
pub fn parse_cases(table: &Table, tz: Tz) -> Result<Parsed<CaseDraft>, FileError> {
    parse_all(table, Contract::Cases, |c| {
        let case_id = c.required("case_id", case_id);
        let residence_region = c.optional("residence_region", parse_region_code);
        let person = person(c, residence_region.clone());
        let reporting_region = c.required("reporting_region", parse_region_code);
        let classification = c.required("classification", Classification::parse);
        let clinical_type = c.optional("clinical_type", ClinicalType::parse);
        let origin = c.required("origin", Origin::parse);
        let discovery_channel = c.optional("discovery_channel", DiscoveryChannel::parse);
        let onset_date = c.optional("onset_date", date);
        let sample_time = c.optional("sample_time", instant(tz));
        let report_time = c.required("report_time", instant(tz));
        let reclassified_at = c.optional("reclassified_at", instant(tz));
        let outcome = c.optional("outcome", Outcome::parse);
        let outcome_time = c.optional("outcome_time", instant(tz));
        let isolated_at = c.optional("isolated_at", instant(tz));
        let case = CaseDraft {
            case_id: case_id?,
            person: person?,
            classification: classification?,
            clinical_type: clinical_type?,
            origin: origin?,
            discovery_channel: discovery_channel?.unwrap_or(DiscoveryChannel::Other),
            onset_date: onset_date?,
            sample_time: sample_time?,
            report_time: report_time?,
            reporting_region: reporting_region?,
            residence_region: residence_region?,
            reclassified_at: reclassified_at?,
            outcome: outcome?,
            outcome_time: outcome_time?,
            isolated_at: isolated_at?,
        };
        match case.check_in(tz) {
            Ok(()) => Some(case),
            Err((column, e)) => {
                c.fail(column, e);
                None
            }
        }
    })
}

fn coordinate(raw: &str) -> Result<f64, DomainError> {
    raw.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| DomainError::InvalidNumber(crate::error::truncate(raw, 40)))
}

fn seat_row(raw: &str) -> Result<i64, DomainError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (0..=10_000).contains(n))
        .ok_or_else(|| DomainError::InvalidNumber(crate::error::truncate(raw, 40)))
}

/// Reads venues: `venue_id,name,type,region_code,lat,lon`.
pub fn parse_venues(table: &Table) -> Result<Parsed<Venue>, FileError> {
    parse_all(table, Contract::Venues, |c| {
        let venue_id = c.required("venue_id", parse_place_id);
        let name = c.text("name");
        let venue_type = c.required("type", VenueType::parse);
        let region_code = c.optional("region_code", parse_region_code);
        let lat = c.optional("lat", coordinate);
        let lon = c.optional("lon", coordinate);
        let venue = Venue {
            venue_id: venue_id?,
            name: name?.unwrap_or_default(),
            venue_type: venue_type?,
            region_code: region_code?,
            lat: lat?,
            lon: lon?,
        };
        match venue.check() {
            Ok(()) => Some(venue),
            Err((column, e)) => {
                c.fail(column, e);
                None
            }
        }
    })
}

/// Reads the facility register:
/// `facility_id,name,kind,region_code,address,capacity` (kind: the facility
/// kinds' wire names or labels; checked by [`Facility::check`]).
pub fn parse_facilities(table: &Table) -> Result<Parsed<Facility>, FileError> {
    parse_all(table, Contract::Facilities, |c| {
        let facility_id = c.required("facility_id", parse_place_id);
        let name = c.required("name", |s| Ok(s.trim().to_string()));
        let kind = c.required("kind", FacilityKind::parse);
        let region_code = c.optional("region_code", parse_region_code);
        let address = c.text("address");
        let capacity = c.required("capacity", parse_capacity);
        let facility = Facility {
            facility_id: facility_id?,
            name: name?,
            kind: kind?,
            region_code: region_code?,
            address: address?.unwrap_or_default(),
            capacity: capacity?,
        };
        match facility.check() {
            Ok(()) => Some(facility),
            Err((column, e)) => {
                c.fail(column, e);
                None
            }
        }
    })
}

/// Reads trip seats: `person_id,trip_id,carriage,seat_row`.
pub fn parse_trips(table: &Table) -> Result<Parsed<TripSeat>, FileError> {
    parse_all(table, Contract::Trips, |c| {
        let person_id = c.required("person_id", |s| {
            Document::parse(DocumentType::Other, s).map(|d| d.number)
        });
        let trip_id = c.required("trip_id", parse_place_id);
        let carriage = c.optional("carriage", parse_place_id);
        let seat_row = c.optional("seat_row", seat_row);
        Some(TripSeat {
            person_id: person_id?,
            trip_id: trip_id?,
            carriage: carriage?.unwrap_or_default(),
            seat_row: seat_row?,
        })
    })
}

/// Reads check-ins: `person_id,venue_id,check_in,check_out` (`check_out` may be empty).
pub fn parse_checkins(table: &Table, tz: Tz) -> Result<Parsed<CheckinDraft>, FileError> {
    parse_all(table, Contract::Checkins, |c| {
        let person_id = c.required("person_id", |s| {
            Document::parse(DocumentType::Other, s).map(|d| d.number)
        });
        let venue_id = c.required("venue_id", parse_place_id);
        let check_in = c.required("check_in", instant(tz));
        let check_out = c.optional("check_out", instant(tz));
        let checkin = CheckinDraft {
            person_id: person_id?,
            venue_id: venue_id?,
            check_in: check_in?,
            check_out: check_out?,
        };
        match checkin.check() {
            Ok(()) => Some(checkin),
            Err((column, e)) => {
                c.fail(column, e);
                None
            }
        }
    })
}
