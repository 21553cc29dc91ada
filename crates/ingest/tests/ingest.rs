//! Behaviour of closedloop-ingest as the CLI sees it: files in, domain values
//! or located errors out, and exports that import back unchanged.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use closedloop_domain::case::{
    CaseDraft, Classification, ClinicalType, DiscoveryChannel, Origin, Outcome,
};
use closedloop_domain::person::{
    resident_id_check_digit, Document, DocumentType, PersonDraft, Sex,
};
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_domain::{ErrorCode, Lang};
use closedloop_ingest::*;
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

fn complete(first17: &str) -> String {
    format!("{first17}{}", resident_id_check_digit(first17).unwrap())
}

fn csv(name: &str, text: &str) -> Table {
    read_table_from(text.as_bytes(), FileFormat::Csv, name).unwrap()
}

fn csv_err(text: &[u8]) -> FileError {
    read_table_from(text, FileFormat::Csv, "f.csv").unwrap_err()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// (line, column, code) of each error, for compact assertions.
fn located(errors: &[RowError]) -> Vec<(u64, &str, &str)> {
    errors
        .iter()
        .map(|e| (e.line, e.column.as_str(), e.code()))
        .collect()
}

fn only_error<T>(p: &Parsed<T>) -> &RowError {
    assert!(p.records.is_empty(), "expected no records");
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    &p.errors[0]
}

// ---------------------------------------------------------------- good files

#[test]
fn a_good_regions_file_parses_to_exactly_its_regions() {
    // Column order free, header case and spaces free, BOM, labels for the level.
    let t = csv(
        "regions.csv",
        "\u{feff} Name_ZH ,CODE,level,parent_code,population,name_en\n\
         吉林省,220000,province,,24073453,Jilin\n\
         长春市, 220100 ,地市级,220000,,Changchun\n\
         \n\
         南关区,220102,District,220100,0,\n",
    );
    let p = parse_regions(&t).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let region = |code: &str, parent: Option<&str>, level, zh: &str, en: &str, population| Region {
        code: code.into(),
        parent_code: parent.map(Into::into),
        level,
        name_zh: zh.into(),
        name_en: en.into(),
        population,
    };
    assert_eq!(
        p.records,
        vec![
            (
                2,
                region(
                    "220000",
                    None,
                    RegionLevel::Province,
                    "吉林省",
                    "Jilin",
                    24_073_453
                )
            ),
            (
                3,
                region(
                    "220100",
                    Some("220000"),
                    RegionLevel::City,
                    "长春市",
                    "Changchun",
                    0
                )
            ),
            (
                5,
                region(
                    "220102",
                    Some("220100"),
                    RegionLevel::District,
                    "南关区",
                    "",
                    0
                )
            ),
        ]
    );
}

#[test]
fn a_good_persons_file_parses_to_exactly_its_people() {
    let id = complete("22010219900101123");
    let text = format!(
        "document_type,document_number,name,sex,birth_date,phone,address,region_code,household_id\n\
         resident_id,{id},张三,,,139-1234-5678,\"长春市南关区\n人民大街1号\",220102001,H-1\n\
         护照,e1234567,John Smith,female,1985-06-15,,,,\n\
         居民身份证,11010519491231002x,李四,女,1949-12-31,+86 10 1234,,,\n"
    );
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let zhang = PersonDraft {
        document: Document {
            kind: DocumentType::ResidentId,
            number: id,
        },
        name: "张三".into(),
        sex: Some(Sex::Male),
        birth_date: Some(date(1990, 1, 1)),
        phone: Some("13912345678".into()),
        address: Some("长春市南关区\n人民大街1号".into()),
        region_code: Some("220102001".into()),
        household_id: Some("H-1".into()),
    };
    let smith = PersonDraft {
        document: Document {
            kind: DocumentType::Passport,
            number: "E1234567".into(),
        },
        name: "John Smith".into(),
        sex: Some(Sex::Female),
        birth_date: Some(date(1985, 6, 15)),
        phone: None,
        address: None,
        region_code: None,
        household_id: None,
    };
    let li = PersonDraft {
        document: Document {
            kind: DocumentType::ResidentId,
            number: "11010519491231002X".into(),
        },
        name: "李四".into(),
        sex: Some(Sex::Female),
        birth_date: Some(date(1949, 12, 31)),
        phone: Some("+86101234".into()),
        address: None,
        region_code: None,
        household_id: None,
    };
    // The quoted address spans lines 2–3, so the next record starts on line 4.
    assert_eq!(p.records, vec![(2, zhang), (4, smith), (5, li)]);
}

fn case_header() -> &'static str {
    "case_id,document_type,document_number,name,sex,birth_date,residence_region,reporting_region,\
     classification,clinical_type,origin,discovery_channel,onset_date,sample_time,report_time,\
     reclassified_at,outcome,outcome_time"
}

#[test]
fn a_good_cases_file_parses_to_exactly_its_cases() {
    let id = complete("22010219900101123");
    let text = format!(
        "{}\n\
         JL-0001,resident_id,{id},张三,,,220102,220100,confirmed,mild,local,,2022-03-07,2022-03-08 20:00,2022-03-09T08:30:00+08:00,,,\n\
         JL-0002,passport,E1234567,John Smith,女,1985-06-15,,220102,确诊病例,普通型,境外输入,落地检,,,2022-03-09 10:00,2022-03-11T09:00,discharged,2022-03-25T10:00:00Z\n",
        case_header()
    );
    let p = parse_cases(&csv("cases.csv", &text), SHANGHAI).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let mut zhang = PersonDraft::new(
        Document {
            kind: DocumentType::ResidentId,
            number: id,
        },
        "张三",
    );
    zhang.region_code = Some("220102".into());
    let first = CaseDraft {
        case_id: "JL-0001".into(),
        person: zhang,
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Mild),
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::Other,
        onset_date: Some(date(2022, 3, 7)),
        sample_time: Some(utc(2022, 3, 8, 12, 0)),
        report_time: utc(2022, 3, 9, 0, 30),
        reporting_region: "220100".into(),
        residence_region: Some("220102".into()),
        reclassified_at: None,
        outcome: None,
        outcome_time: None,
        isolated_at: None,
    };
    let mut smith = PersonDraft::new(
        Document {
            kind: DocumentType::Passport,
            number: "E1234567".into(),
        },
        "John Smith",
    );
    smith.sex = Some(Sex::Female);
    smith.birth_date = Some(date(1985, 6, 15));
    let second = CaseDraft {
        case_id: "JL-0002".into(),
        person: smith,
        classification: Classification::Confirmed,
        clinical_type: Some(ClinicalType::Moderate),
        origin: Origin::Imported,
        discovery_channel: DiscoveryChannel::ArrivalTest,
        onset_date: None,
        sample_time: None,
        report_time: utc(2022, 3, 9, 2, 0),
        reporting_region: "220102".into(),
        residence_region: None,
        reclassified_at: Some(utc(2022, 3, 11, 1, 0)),
        outcome: Some(Outcome::Discharged),
        outcome_time: Some(utc(2022, 3, 25, 10, 0)),
        isolated_at: None,
    };
    assert_eq!(p.records, vec![(2, first), (3, second)]);
}

#[test]
fn the_time_zone_decides_times_without_offset_only() {
    let text = format!(
        "{}\nC1,passport,E1,A,,,,220100,asymptomatic,,local,,,,2022-03-09 08:00,,,\n\
         C2,passport,E2,B,,,,220100,asymptomatic,,local,,,,2022-03-09T08:00:00+08:00,,,\n",
        case_header()
    );
    let t = csv("cases.csv", &text);
    let utc_read = parse_cases(&t, chrono_tz::UTC).unwrap();
    let times: Vec<_> = utc_read
        .records
        .iter()
        .map(|(_, c)| c.report_time)
        .collect();
    assert_eq!(times, [utc(2022, 3, 9, 8, 0), utc(2022, 3, 9, 0, 0)]);
    let shanghai_read = parse_cases(&t, SHANGHAI).unwrap();
    assert_eq!(
        shanghai_read.records[0].1.report_time,
        utc(2022, 3, 9, 0, 0)
    );
}

// ---------------------------------------------------------------- XLSX

fn write_book(path: &Path, build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) {
    let mut book = rust_xlsxwriter::Workbook::new();
    build(book.add_worksheet());
    book.save(path).unwrap();
}

#[test]
fn an_xlsx_file_with_numeric_and_date_cells_parses() {
    use rust_xlsxwriter::{ExcelDateTime, Format};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persons.xlsx");
    let id = complete("22010219900101123");
    write_book(&path, |s| {
        let date_format = Format::new().set_num_format("yyyy-mm-dd");
        for (col, h) in [
            "Document_Type",
            "document_number",
            "name",
            "birth_date",
            "phone",
            "region_code",
        ]
        .iter()
        .enumerate()
        {
            s.write_string(0, col as u16, *h).unwrap();
        }
        s.write_string(1, 0, "resident_id").unwrap();
        s.write_string(1, 1, &id).unwrap();
        s.write_string(1, 2, " 张三 ").unwrap();
        s.write_datetime_with_format(
            1,
            3,
            ExcelDateTime::from_ymd(1990, 1, 1).unwrap(),
            &date_format,
        )
        .unwrap();
        s.write_number(1, 4, 13_912_345_678.0).unwrap();
        s.write_number(1, 5, 220_102.0).unwrap();
        // Row 3 left empty: skipped, but rows keep their sheet numbers.
        s.write_string(3, 0, "other").unwrap();
        s.write_number(3, 1, 123_456.0).unwrap();
        s.write_string(3, 2, "王五").unwrap();
        // 18 digits as a number: Excel keeps 15 significant digits, so it is not the ID that was typed.
        s.write_string(4, 0, "other").unwrap();
        s.write_number(4, 1, 110_105_194_912_310_021.0).unwrap();
        s.write_string(4, 2, "赵六").unwrap();
    });
    let t = read_table(&path).unwrap();
    assert_eq!(t.source, "persons.xlsx");
    assert_eq!(
        t.rows[0].cells,
        [
            "resident_id",
            id.as_str(),
            "张三",
            "1990-01-01",
            "13912345678",
            "220102"
        ]
    );
    let p = parse_persons(&t).unwrap();
    let mut zhang = PersonDraft::new(
        Document {
            kind: DocumentType::ResidentId,
            number: id,
        },
        "张三",
    );
    zhang.phone = Some("13912345678".into());
    zhang.region_code = Some("220102".into());
    let wang = PersonDraft::new(
        Document {
            kind: DocumentType::Other,
            number: "123456".into(),
        },
        "王五",
    );
    assert_eq!(p.records, vec![(2, zhang), (4, wang)]);
    assert_eq!(
        located(&p.errors),
        [(5, "document_number", "number_lost_precision")]
    );
}

#[test]
fn xlsx_regions_with_numeric_codes_and_datetimes_in_cases() {
    use rust_xlsxwriter::{ExcelDateTime, Format};
    let dir = tempfile::tempdir().unwrap();
    let regions = dir.path().join("regions.xlsm");
    write_book(&regions, |s| {
        for (col, h) in ["code", "level", "name_zh", "population"]
            .iter()
            .enumerate()
        {
            s.write_string(0, col as u16, *h).unwrap();
        }
        s.write_number(1, 0, 220_100.0).unwrap();
        s.write_string(1, 1, "city").unwrap();
        s.write_string(1, 2, "长春市").unwrap();
        s.write_number(1, 3, 9_066_906.0).unwrap();
    });
    let p = parse_regions(&read_table(&regions).unwrap()).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.records[0].1.code, "220100");
    assert_eq!(p.records[0].1.population, 9_066_906);

    let cases = dir.path().join("cases.xlsx");
    write_book(&cases, |s| {
        let when = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (col, h) in [
            "case_id",
            "document_type",
            "document_number",
            "name",
            "reporting_region",
            "classification",
            "origin",
            "report_time",
        ]
        .iter()
        .enumerate()
        {
            s.write_string(0, col as u16, *h).unwrap();
        }
        for (col, v) in ["C1", "passport", "E1", "甲"].iter().enumerate() {
            s.write_string(1, col as u16, *v).unwrap();
        }
        s.write_number(1, 4, 220_100.0).unwrap();
        s.write_string(1, 5, "asymptomatic").unwrap();
        s.write_string(1, 6, "local").unwrap();
        let t = ExcelDateTime::from_ymd(2022, 3, 9)
            .unwrap()
            .and_hms(8, 30, 0)
            .unwrap();
        s.write_datetime_with_format(1, 7, t, &when).unwrap();
    });
    let t = read_table(&cases).unwrap();
    assert_eq!(t.rows[0].cells[7], "2022-03-09 08:30:00");
    let p = parse_cases(&t, SHANGHAI).unwrap();
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(p.records[0].1.report_time, utc(2022, 3, 9, 0, 30));
    assert_eq!(p.records[0].1.reporting_region, "220100");
}

#[test]
fn xlsx_rows_keep_their_sheet_numbers_when_the_table_starts_lower() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regions.xlsx");
    write_book(&path, |s| {
        for (col, h) in ["code", "level", "name_zh", ""].iter().enumerate() {
            s.write_string(2, col as u16 + 1, *h).unwrap();
        }
        for (col, v) in ["220100", "city", "长春市"].iter().enumerate() {
            s.write_string(3, col as u16 + 1, *v).unwrap();
        }
        for (col, v) in ["220200", "town", "吉林市"].iter().enumerate() {
            s.write_string(5, col as u16 + 1, *v).unwrap();
        }
    });
    let t = read_table(&path).unwrap();
    assert_eq!(t.headers, ["code", "level", "name_zh"]);
    let p = parse_regions(&t).unwrap();
    assert_eq!(p.records.iter().map(|r| r.0).collect::<Vec<_>>(), [4]);
    assert_eq!(located(&p.errors), [(6, "level", "unknown_value")]);
    assert!(p.errors[0]
        .message(Lang::En)
        .starts_with("regions.xlsx line 6, column level:"));
}

#[test]
fn a_file_that_is_not_a_workbook_is_xlsx_invalid() {
    let err = read_table_from(&b"code,level\n"[..], FileFormat::Xlsx, "regions.xlsx").unwrap_err();
    assert_eq!(err.code(), "xlsx_invalid");
    assert!(err.message(Lang::En).contains("regions.xlsx"));
}

// ---------------------------------------------------------------- row errors

fn persons_header() -> &'static str {
    "document_type,document_number,name,sex,birth_date,phone,address,region_code,household_id"
}

#[test]
fn a_wrong_check_digit_names_line_column_and_value_in_both_languages() {
    let text = format!(
        "{}\n\n passport,E1,A,,,,,,\n\n\npassport,E2,\"B\nC\",,,,,,\nresident_id,110105194912310021,李四,,,,,,\n",
        persons_header()
    );
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    assert_eq!(p.records.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 6]);
    let e = &p.errors[0];
    assert_eq!(p.errors.len(), 1);
    assert_eq!(e.code(), "resident_id_check_digit");
    assert_eq!(
        e.message(Lang::En),
        r#"persons.csv line 8, column document_number: resident ID check digit is wrong: expected X, found 1 ("110105194912310021")"#
    );
    assert_eq!(
        e.message(Lang::Zh),
        "persons.csv 第8行，document_number列：居民身份证号码校验码错误：应为X，实为1（“110105194912310021”）"
    );
}

#[test]
fn a_message_stays_on_one_line_when_the_value_spans_several() {
    let text = format!("{}\npassport,E1,A,\"ma\nle\",,,,,\n", persons_header());
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    let e = only_error(&p);
    assert_eq!(e.raw, "ma\nle");
    assert!(e.message(Lang::En).ends_with("(\"ma\\nle\")"), "{e}");
    assert!(
        e.message(Lang::Zh).ends_with("（“ma\\nle”）"),
        "{}",
        e.message(Lang::Zh)
    );
}

#[test]
fn an_impossible_date_is_refused_where_it_stands() {
    let text = format!("{}\npassport,E1,A,,2022-02-30,,,,\n", persons_header());
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    let e = only_error(&p);
    assert_eq!(
        (e.line, e.column.as_str(), e.code(), e.raw.as_str()),
        (2, "birth_date", "invalid_date", "2022-02-30")
    );

    let text = format!(
        "{}\nC1,passport,E1,A,,,,220100,confirmed,,local,,2022-02-30,,2022-03-09 08:00,,,\n\
         C2,passport,E1,A,,,,220100,confirmed,,local,,,,2022-02-30 08:00,,,\n",
        case_header()
    );
    let p = parse_cases(&csv("cases.csv", &text), SHANGHAI).unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "onset_date", "invalid_date"),
            (3, "report_time", "invalid_time")
        ]
    );
}

#[test]
fn a_reclassification_before_the_report_is_refused_on_its_column() {
    let text = format!(
        "{}\nC1,passport,E1,A,,,,220100,confirmed,,local,,,,2022-03-09 08:00,2022-03-08 08:00,,\n",
        case_header()
    );
    let p = parse_cases(&csv("cases.csv", &text), SHANGHAI).unwrap();
    let e = only_error(&p);
    assert_eq!(
        (e.line, e.column.as_str(), e.code()),
        (2, "reclassified_at", "reclassification_before_report")
    );
    assert_eq!(e.raw, "2022-03-08 08:00");
}

#[test]
fn other_cross_field_rules_name_their_column() {
    let text = format!(
        "{}\n\
         C1,passport,E1,A,,,,220100,asymptomatic,mild,local,,,,2022-03-09 08:00,,,\n\
         C2,passport,E1,A,,,,220100,asymptomatic,,local,,,,2022-03-09 08:00,,discharged,2022-03-19 08:00\n\
         C3,passport,E1,A,,,,220100,asymptomatic,,local,,,,2022-03-09 08:00,,released,\n\
         C4,passport,E1,A,,,,220100,asymptomatic,,local,,,,2022-03-09 08:00,,died,2022-03-01 08:00\n",
        case_header()
    );
    let p = parse_cases(&csv("cases.csv", &text), SHANGHAI).unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "clinical_type", "clinical_type_on_asymptomatic"),
            (3, "outcome", "outcome_mismatch"),
            (4, "outcome_time", "outcome_without_time"),
            (5, "outcome_time", "outcome_before_report"),
        ]
    );
}

#[test]
fn a_bad_region_code_shape_is_refused() {
    let text = format!("{}\npassport,E1,A,,,,,22010,\n", persons_header());
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    let e = only_error(&p);
    assert_eq!(
        (e.line, e.column.as_str(), e.code()),
        (2, "region_code", "invalid_region_code")
    );

    let p = parse_regions(&csv(
        "regions.csv",
        "code,level,name_zh\n22A100,city,x\n220100001,city,y\n",
    ))
    .unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "code", "invalid_region_code"),
            (3, "level", "region_level_mismatch")
        ]
    );
}

#[test]
fn an_unknown_vocabulary_value_is_refused() {
    let text = format!(
        "{}\npassport,E1,A,unknown,,,,,\nidcard,E1,A,,,,,,\n",
        persons_header()
    );
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "sex", "unknown_value"),
            (3, "document_type", "unknown_value")
        ]
    );
    assert!(
        p.errors[0].message(Lang::En).contains("male female"),
        "{}",
        p.errors[0]
    );
}

#[test]
fn a_row_reports_every_bad_value_in_column_order_and_good_rows_still_parse() {
    let text = format!(
        "{}\npassport,E1,,x,1990-13-01,abc,,1,\npassport,E2,B,,,,,,\n",
        persons_header()
    );
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "name", "missing_value"),
            (2, "sex", "unknown_value"),
            (2, "birth_date", "invalid_date"),
            (2, "phone", "invalid_phone"),
            (2, "region_code", "invalid_region_code"),
        ]
    );
    assert_eq!(p.rejected_rows(), 1);
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.records[0].0, 3);
}

#[test]
fn sex_and_birth_date_that_contradict_the_id_are_refused_on_their_column() {
    let id = complete("22010219900101123");
    let text = format!(
        "{}\nresident_id,{id},A,female,,,,,\nresident_id,{id},B,,1990-01-02,,,,\n",
        persons_header()
    );
    let p = parse_persons(&csv("persons.csv", &text)).unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "sex", "sex_mismatch"),
            (3, "birth_date", "birth_date_mismatch")
        ]
    );
    assert_eq!(p.errors[0].raw, "female");
}

#[test]
fn case_ids_are_trimmed_and_at_most_64_characters() {
    let long = "X".repeat(65);
    let text = format!(
        "{}\n{long},passport,E1,A,,,,220100,confirmed,,local,,,,2022-03-09 08:00,,,\n\
         \"  C-1 \",passport,E1,A,,,,220100,confirmed,,local,,,,2022-03-09 08:00,,,\n\
         ,passport,E1,A,,,,220100,confirmed,,local,,,,2022-03-09 08:00,,,\n",
        case_header()
    );
    let p = parse_cases(&csv("cases.csv", &text), SHANGHAI).unwrap();
    assert_eq!(
        located(&p.errors),
        [(2, "case_id", "too_long"), (4, "case_id", "missing_value")]
    );
    assert_eq!(
        p.errors[0].raw.chars().count(),
        61,
        "60 characters and an ellipsis"
    );
    assert_eq!(p.records[0].1.case_id, "C-1");
}

#[test]
fn population_must_be_a_non_negative_integer() {
    let p = parse_regions(&csv(
        "regions.csv",
        "code,level,name_zh,population\n220100,city,a,-1\n220200,city,b,\"1,000\"\n220300,city,c,12.5\n",
    ))
    .unwrap();
    assert_eq!(
        located(&p.errors),
        [
            (2, "population", "invalid_number"),
            (3, "population", "invalid_number"),
            (4, "population", "invalid_number")
        ]
    );
}

// ---------------------------------------------------------------- header and file errors

#[test]
fn header_problems_fail_the_whole_file_and_name_the_column() {
    let err = parse_persons(&csv("p.csv", "document_type,name\npassport,A\n")).unwrap_err();
    assert_eq!(err.code(), "missing_column");
    assert!(err.message(Lang::En).contains("document_number"), "{err}");
    assert!(
        err.message(Lang::Zh).contains("缺少document_number列"),
        "{}",
        err.message(Lang::Zh)
    );

    let err = parse_persons(&csv(
        "p.csv",
        "document_type,document_number,name,nickname\n",
    ))
    .unwrap_err();
    assert_eq!(err.code(), "unknown_column");
    assert!(err.message(Lang::En).contains("\"nickname\""), "{err}");

    let err =
        parse_persons(&csv("p.csv", "document_type,document_number,Name,name \n")).unwrap_err();
    assert_eq!(err.code(), "duplicate_column");
    assert!(err.message(Lang::En).contains("name"), "{err}");

    let err =
        parse_regions(&csv("r.csv", "code,level,name_zh,\n220100,city,a,stray\n")).unwrap_err();
    assert_eq!(err.code(), "unnamed_column");
    assert!(err.message(Lang::En).contains("column 4"), "{err}");
    // An empty trailing column, as spreadsheets leave behind, is no problem.
    assert_eq!(
        parse_regions(&csv("r.csv", "code,level,name_zh,\n220100,city,a,\n"))
            .unwrap()
            .records
            .len(),
        1
    );
}

#[test]
fn a_non_utf8_file_is_refused_naming_the_line() {
    // "张三" in GBK, as Excel on a Chinese Windows saves "CSV".
    let err = csv_err(
        b"document_type,document_number,name\npassport,E1,A\npassport,E2,\xd5\xc5\xc8\xfd\n",
    );
    assert_eq!(err.code(), "file_not_utf8");
    assert!(matches!(err, FileError::NotUtf8 { line: 3, .. }), "{err:?}");
    assert!(err.message(Lang::Zh).contains("f.csv") && err.message(Lang::Zh).contains("第3行"));
}

#[test]
fn an_empty_file_has_no_header() {
    for text in [&b""[..], b"\xEF\xBB\xBF", b"\n\r\n\n", b" , ,\n"] {
        let err = csv_err(text);
        assert_eq!(err.code(), "file_empty", "{text:?}");
        assert!(err.message(Lang::En).contains("f.csv"));
    }
    let err = read_table_from(&b""[..], FileFormat::Xlsx, "x.xlsx").unwrap_err();
    assert_eq!(err.code(), "file_empty");
    // A header alone is a file without rows, not an error.
    let t = csv("p.csv", "document_type,document_number,name\n");
    assert!(parse_persons(&t).unwrap().records.is_empty());
}

#[test]
fn a_100_mb_line_is_refused_quickly_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persons.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(b"document_type,document_number,name\npassport,E1,")
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n").unwrap();
    }
    let started = Instant::now();
    let err = read_table(&path).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            FileError::LineTooLong {
                line: 2,
                limit: MAX_LINE_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "line_too_long");
    assert!(
        err.message(Lang::En).contains("persons.csv line 2"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn a_line_just_under_the_limit_is_fine() {
    let text = format!(
        "code,level,name_zh\n220100,city,{}\n",
        "x".repeat(MAX_LINE_BYTES - 12)
    );
    let t = csv("r.csv", &text);
    assert_eq!(t.rows[0].cells[2].len(), MAX_LINE_BYTES - 12);
}

#[test]
fn a_wrong_field_count_is_malformed_csv_naming_the_line() {
    let err = csv_err(b"code,level,name_zh\n220100,city,a\n\n220200,city\n");
    assert_eq!(err.code(), "csv_malformed");
    assert!(
        matches!(err, FileError::CsvMalformed { line: 4, .. }),
        "{err:?}"
    );
    assert!(
        err.message(Lang::En)
            .contains("f.csv line 4: 2 fields where the header has 3"),
        "{err}"
    );
}

#[test]
fn formats_come_from_the_extension() {
    assert_eq!(
        FileFormat::from_path(Path::new("a/B.CSV")).unwrap(),
        FileFormat::Csv
    );
    assert_eq!(
        FileFormat::from_path(Path::new("b.txt")).unwrap(),
        FileFormat::Csv
    );
    assert_eq!(
        FileFormat::from_path(Path::new("c.xlsm")).unwrap(),
        FileFormat::Xlsx
    );
    let err = FileFormat::from_path(Path::new("d.xls")).unwrap_err();
    assert_eq!(err.code(), "unsupported_format");
    assert!(err.message(Lang::Zh).contains("d.xls"));
    assert_eq!(
        read_table(Path::new("e")).unwrap_err().code(),
        "unsupported_format"
    );
}

#[test]
fn a_missing_file_is_unreadable_naming_it() {
    let err = read_table(Path::new("/nonexistent/dir/regions.csv")).unwrap_err();
    assert_eq!(err.code(), "file_unreadable");
    assert!(err.message(Lang::En).contains("regions.csv"), "{err}");
}

// ---------------------------------------------------------------- export and rejects

#[test]
fn exported_csv_has_the_header_first_and_no_bom() {
    let r = Region {
        code: "220000".into(),
        parent_code: None,
        level: RegionLevel::Province,
        name_zh: "吉林省".into(),
        name_en: "Jilin, China".into(),
        population: 5,
    };
    let mut out = Vec::new();
    write_csv(&mut out, Contract::Regions, [region_record(&r)].into_iter()).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "code,parent_code,level,name_zh,name_en,population\n220000,,province,吉林省,\"Jilin, China\",5\n"
    );
}

#[test]
fn exported_case_times_carry_the_offset_of_the_zone() {
    let mut person = PersonDraft::new(
        Document {
            kind: DocumentType::Passport,
            number: "E1".into(),
        },
        "A",
    );
    person.region_code = Some("220102".into());
    let case = CaseDraft {
        case_id: "C1".into(),
        person,
        classification: Classification::Asymptomatic,
        clinical_type: None,
        origin: Origin::Local,
        discovery_channel: DiscoveryChannel::CommunityScreening,
        onset_date: None,
        sample_time: None,
        report_time: utc(2022, 3, 9, 0, 30),
        reporting_region: "220100".into(),
        residence_region: Some("220102".into()),
        reclassified_at: None,
        outcome: Some(Outcome::Released),
        outcome_time: Some(utc(2022, 3, 20, 2, 0)),
        isolated_at: Some(utc(2022, 3, 9, 1, 0)),
    };
    let rec = case_record(&case, SHANGHAI);
    assert_eq!(rec.len(), Contract::Cases.columns().len());
    assert_eq!(rec[14], "2022-03-09T08:30:00+08:00");
    assert_eq!(rec[17], "2022-03-20T10:00:00+08:00");
    assert_eq!(rec[18], "2022-03-09T09:00:00+08:00");
    assert_eq!(rec[11], "community_screening");
}

#[test]
fn the_rejects_file_lists_each_error_with_its_original_row() {
    let text = format!(
        "{}\npassport,E1,A,,,,,,\npassport,E2,,x,,,,,\nresident_id,110105194912310021,李四,,,,\"a,b\",,\n",
        persons_header()
    );
    let t = csv("persons.csv", &text);
    let p = parse_persons(&t).unwrap();
    let mut out = Vec::new();
    write_row_errors(&mut out, &t, &p.errors, Lang::En).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "line,column,code,reason,{}\n\
             3,name,missing_value,required value is missing,passport,E2,,x,,,,,\n\
             3,sex,unknown_value,\"unknown value \"\"x\"\"; expected one of: male female\",passport,E2,,x,,,,,\n\
             4,document_number,resident_id_check_digit,\"resident ID check digit is wrong: expected X, found 1\",resident_id,110105194912310021,李四,,,,\"a,b\",,\n",
            persons_header()
        )
    );
    let mut zh = Vec::new();
    write_row_errors(&mut zh, &t, &p.errors[..1], Lang::Zh).unwrap();
    assert!(String::from_utf8(zh)
        .unwrap()
        .contains("3,name,missing_value,缺少必填值,passport,E2"));
}

#[test]
fn rejections_from_elsewhere_share_the_rejects_file() {
    let t = csv(
        "regions.csv",
        "code,level,name_zh,parent_code\n220100,city,长春市,229900\n220200,town,吉林市,\n",
    );
    let p = parse_regions(&t).unwrap();
    // As the store reports a row it refuses: already rendered, no raw value.
    let from_store = Rejection {
        source: t.source.clone(),
        line: 2,
        column: "parent_code".into(),
        code: "unknown_region",
        reason: "unknown region code 229900".into(),
    };
    assert_eq!(
        from_store.message(Lang::Zh),
        "regions.csv 第2行，parent_code列：unknown region code 229900"
    );
    let mut rejects = vec![from_store];
    rejects.extend(
        p.errors
            .iter()
            .map(|e| Rejection::from_row_error(e, Lang::En)),
    );
    let mut out = Vec::new();
    write_rejects(&mut out, &t, &rejects).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "line,column,code,reason,code,level,name_zh,parent_code"
    );
    assert_eq!(
        lines[1],
        "2,parent_code,unknown_region,unknown region code 229900,220100,city,长春市,229900"
    );
    assert!(
        lines[2].starts_with("3,level,unknown_value,"),
        "{}",
        lines[2]
    );
    assert!(lines[2].ends_with(",220200,town,吉林市,"), "{}", lines[2]);
    assert_eq!(lines.len(), 3);
}

fn round_trip_csv(contract: Contract, records: Vec<Vec<String>>, name: &str) -> Table {
    let mut out = Vec::new();
    write_csv(&mut out, contract, records.into_iter()).unwrap();
    read_table_from(out.as_slice(), FileFormat::Csv, name).unwrap()
}

fn round_trip_xlsx(contract: Contract, records: Vec<Vec<String>>) -> Table {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.xlsx", contract.as_str()));
    write_xlsx(&path, contract, records.into_iter()).unwrap();
    let from_path = read_table(&path).unwrap();
    let mut bytes = Vec::new();
    write_xlsx_to(&mut bytes, contract, std::iter::empty()).unwrap();
    assert!(
        read_table_from(bytes.as_slice(), FileFormat::Xlsx, "x.xlsx")
            .unwrap()
            .rows
            .is_empty()
    );
    from_path
}

#[test]
fn exported_xlsx_cells_are_text_so_long_ids_survive() {
    let id = complete("22010219900101123");
    let p = PersonDraft::new(
        Document {
            kind: DocumentType::ResidentId,
            number: id.clone(),
        },
        "张三",
    );
    let t = round_trip_xlsx(Contract::Persons, vec![person_record(&p)]);
    assert_eq!(t.headers, Contract::Persons.columns());
    assert_eq!(t.rows[0].cells[1], id);
    assert_eq!(parse_persons(&t).unwrap().records, vec![(2, p)]);
}

#[test]
fn a_row_of_the_wrong_width_is_not_written() {
    let mut out = Vec::new();
    let err = write_csv(
        &mut out,
        Contract::Regions,
        [vec!["x".to_string()]].into_iter(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "file_unwritable");
    let dir = tempfile::tempdir().unwrap();
    let err = write_xlsx(
        &dir.path().join("r.xlsx"),
        Contract::Regions,
        [vec![]].into_iter(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "xlsx_write_failed");
}

// ---------------------------------------------------------------- round trips

/// Text as people type it: no surrounding blanks, but commas, quotes and line breaks inside.
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z一-龥0-9]([A-Za-z一-龥0-9 ,\"'\n=+-]{0,12}[A-Za-z一-龥0-9.])?"
}

fn region_code() -> impl Strategy<Value = String> {
    "[1-6][0-9]{5}([0-9]{3}([0-9]{3})?)?"
}

fn day() -> impl Strategy<Value = NaiveDate> {
    (1930i32..2022, 1u32..=365).prop_map(|(y, d)| NaiveDate::from_yo_opt(y, d).unwrap())
}

fn document() -> impl Strategy<Value = Document> {
    prop_oneof![
        (
            region_code().prop_map(|c| c[..6].to_string()),
            day(),
            0u32..1000
        )
            .prop_map(|(area, birth, seq)| {
                let number = complete(&format!("{area}{}{seq:03}", birth.format("%Y%m%d")));
                Document {
                    kind: DocumentType::ResidentId,
                    number,
                }
            }),
        "[A-Z][0-9]{7,9}".prop_map(|number| Document {
            kind: DocumentType::Passport,
            number
        }),
        "[A-Z0-9-]{1,64}".prop_map(|number| Document {
            kind: DocumentType::Other,
            number
        }),
    ]
}

fn person() -> impl Strategy<Value = PersonDraft> {
    (
        document(),
        text(),
        prop::option::of(prop::sample::select(Sex::ALL.to_vec())),
        prop::option::of(day()),
        prop::option::of("\\+?[0-9]{5,15}"),
        prop::option::of(text()),
        prop::option::of(region_code()),
        prop::option::of("[A-Za-z0-9-]{1,20}"),
    )
        .prop_map(
            |(document, name, sex, birth_date, phone, address, region_code, household_id)| {
                let mut p = PersonDraft::new(document, name);
                if p.document.kind != DocumentType::ResidentId {
                    p.sex = sex;
                    p.birth_date = birth_date;
                }
                p.phone = phone;
                p.address = address;
                p.region_code = region_code;
                p.household_id = household_id;
                p
            },
        )
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (1_577_836_800i64..1_700_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn case() -> impl Strategy<Value = (CaseDraft, Tz)> {
    let person = (person(), prop::option::of(region_code())).prop_map(|(mut p, residence)| {
        p.phone = None;
        p.address = None;
        p.household_id = None;
        p.region_code = residence;
        p
    });
    let kinds = (
        any::<bool>(),
        prop::option::of(prop::sample::select(ClinicalType::ALL.to_vec())),
        prop::sample::select(Origin::ALL.to_vec()),
        prop::sample::select(DiscoveryChannel::ALL.to_vec()),
        prop::option::of(any::<bool>()),
    );
    let times = (
        instant(),
        prop::option::of(0i64..2_000_000),
        prop::option::of(0i64..2_000_000),
        prop::option::of(0i64..5_000_000),
        prop::option::of(day()),
    );
    (
        "[A-Za-z0-9-]([A-Za-z0-9 _-]{0,62}[A-Za-z0-9])?",
        person,
        region_code(),
        kinds,
        times,
        prop::sample::select(vec![
            SHANGHAI,
            chrono_tz::UTC,
            chrono_tz::America::New_York,
            chrono_tz::Asia::Kolkata,
        ]),
    )
        .prop_map(|(case_id, person, reporting_region, kinds, times, tz)| {
            let (confirmed, clinical, origin, channel, outcome) = kinds;
            let (report, sample_before, reclass_after, outcome_after, onset) = times;
            let secs = chrono::Duration::seconds;
            let classification = if confirmed {
                Classification::Confirmed
            } else {
                Classification::Asymptomatic
            };
            let reclassified_at = reclass_after
                .filter(|_| confirmed)
                .map(|d| report + secs(d));
            let outcome = outcome.map(|died| match (died, confirmed) {
                (true, _) => Outcome::Died,
                (false, true) => Outcome::Discharged,
                (false, false) => Outcome::Released,
            });
            let outcome_time = outcome
                .map(|_| reclassified_at.unwrap_or(report) + secs(outcome_after.unwrap_or(0)));
            let case = CaseDraft {
                case_id,
                residence_region: person.region_code.clone(),
                person,
                classification,
                clinical_type: clinical.filter(|_| confirmed),
                origin,
                discovery_channel: channel,
                onset_date: onset,
                sample_time: sample_before.map(|d| report - secs(d)),
                report_time: report,
                reporting_region,
                reclassified_at,
                outcome,
                outcome_time,
                isolated_at: sample_before.map(|d| report + secs(d)),
            };
            (case, tz)
        })
}

fn regions() -> impl Strategy<Value = Vec<Region>> {
    let region = (
        prop::sample::select(RegionLevel::ALL.to_vec()),
        "[1-6][0-9]{11}",
        prop::option::of(region_code()),
        text(),
        prop::option::of(text()),
        0i64..2_000_000_000,
    )
        .prop_map(
            |(level, digits, parent_code, name_zh, name_en, population)| Region {
                code: digits[..level.code_digits()].to_string(),
                parent_code,
                level,
                name_zh,
                name_en: name_en.unwrap_or_default(),
                population,
            },
        );
    prop::collection::vec(region, 0..8)
}

/// Each record at its line: one per row, from line 2, whatever the line breaks inside fields.
fn numbered<T>(table: &Table, records: Vec<T>) -> Vec<(u64, T)> {
    table.rows.iter().map(|r| r.line).zip(records).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn persons_round_trip_through_csv(people in prop::collection::vec(person(), 0..8)) {
        let t = round_trip_csv(Contract::Persons, people.iter().map(person_record).collect(), "persons.csv");
        let p = parse_persons(&t).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        prop_assert_eq!(p.records, numbered(&t, people));
    }

    #[test]
    fn cases_round_trip_through_csv(cases in prop::collection::vec(case(), 0..6)) {
        for (c, _) in &cases {
            prop_assert_eq!(c.check(), Ok(()));
        }
        for (c, tz) in &cases {
            let t = round_trip_csv(Contract::Cases, vec![case_record(c, *tz)], "cases.csv");
            let p = parse_cases(&t, *tz).unwrap();
            prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
            prop_assert_eq!(&p.records, &vec![(t.rows[0].line, c.clone())]);
        }
        // Offsets make the zone irrelevant to reading exported times back.
        let all: Vec<CaseDraft> = cases.iter().map(|(c, _)| c.clone()).collect();
        let t = round_trip_csv(Contract::Cases, cases.iter().map(|(c, tz)| case_record(c, *tz)).collect(), "cases.csv");
        let p = parse_cases(&t, chrono_tz::America::Sao_Paulo).unwrap();
        prop_assert_eq!(p.records, numbered(&t, all));
    }

    #[test]
    fn regions_round_trip_through_csv(regions in regions()) {
        let t = round_trip_csv(Contract::Regions, regions.iter().map(region_record).collect(), "regions.csv");
        let p = parse_regions(&t).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        prop_assert_eq!(p.records, numbered(&t, regions));
    }
}

proptest! {
    // Each case writes a workbook to disk.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn persons_round_trip_through_xlsx(people in prop::collection::vec(person(), 1..8)) {
        let t = round_trip_xlsx(Contract::Persons, people.iter().map(person_record).collect());
        let p = parse_persons(&t).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        let lines: Vec<u64> = (2..).take(people.len()).collect();
        prop_assert_eq!(p.records, lines.into_iter().zip(people).collect::<Vec<_>>());
    }

    #[test]
    fn cases_round_trip_through_xlsx(cases in prop::collection::vec(case(), 1..6)) {
        let t = round_trip_xlsx(Contract::Cases, cases.iter().map(|(c, tz)| case_record(c, *tz)).collect());
        let p = parse_cases(&t, SHANGHAI).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        let expected: Vec<(u64, CaseDraft)> = (2..).zip(cases.into_iter().map(|(c, _)| c)).collect();
        prop_assert_eq!(p.records, expected);
    }

    #[test]
    fn regions_round_trip_through_xlsx(regions in regions()) {
        let t = round_trip_xlsx(Contract::Regions, regions.iter().map(region_record).collect());
        let p = parse_regions(&t).unwrap();
        prop_assert!(p.errors.is_empty(), "{:?}", p.errors);
        prop_assert_eq!(p.records, (2..).zip(regions).collect::<Vec<_>>());
    }
}

proptest! {
    #[test]
    fn parsing_any_text_never_panics(text in "[a-z_,\"\n 0-9一-龥:T+-]{0,200}") {
        let header = format!("{}\n", case_header());
        if let Ok(t) = read_table_from(format!("{header}{text}").as_bytes(), FileFormat::Csv, "c.csv") {
            let _ = parse_cases(&t, SHANGHAI);
        }
    }
}
