//! `closedloop trace`, the standalone contract: the real binary on a small,
//! hand-checked city, as CSV and as Parquet, and on bad files.

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int64Array, LargeStringArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_closedloop");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name)
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        std::fs::write(self.path(name), content).unwrap();
        self.path(name)
    }

    /// Runs `closedloop trace` with the given files and extra flags.
    fn trace(&self, checkins: &Path, cases: &Path, out: &str, extra: &[&str]) -> Output {
        Command::new(BIN)
            .arg("trace")
            .arg("--checkins")
            .arg(checkins)
            .arg("--cases")
            .arg(cases)
            .arg("--out")
            .arg(self.path(out))
            .args(extra)
            .env_remove("CLOSEDLOOP_LANG")
            .env_remove("CLOSEDLOOP_CONFIG")
            .env_remove("CLOSEDLOOP_TIME_ZONE")
            .current_dir(self.0.path())
            .output()
            .unwrap()
    }

    fn ok(&self, checkins: &Path, cases: &Path, out: &str, extra: &[&str]) -> String {
        let o = self.trace(checkins, cases, out, extra);
        assert!(
            o.status.success(),
            "trace failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read_to_string(self.path(out)).unwrap()
    }

    /// Runs a failing trace; returns its stderr, checking no output was left.
    fn fails(&self, checkins: &Path, cases: &Path, extra: &[&str]) -> String {
        let o = self.trace(checkins, cases, "out.csv", extra);
        assert!(!o.status.success(), "trace should have failed");
        assert!(
            !self.path("out.csv").exists(),
            "a failed run left its output"
        );
        let leftovers: Vec<_> = std::fs::read_dir(self.0.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "a failed run left {leftovers:?}");
        String::from_utf8(o.stderr).unwrap()
    }
}

#[test]
fn the_small_city_gives_the_hand_checked_contacts() {
    let dir = Dir::new();
    let (checkins, cases) = (fixture("checkins.csv"), fixture("cases.csv"));
    let expected = std::fs::read_to_string(fixture("expected.csv")).unwrap();
    assert_eq!(
        dir.ok(&checkins, &cases, "a.csv", &["--secondary"]),
        expected
    );
    // The defaults spelled out give the same file.
    let spelled = [
        "--secondary",
        "--lookback-days",
        "2",
        "--buffer-minutes",
        "30",
        "--min-overlap-minutes",
        "0",
        "--as-of",
        "2022-03-06T02:00:00Z",
    ];
    assert_eq!(dir.ok(&checkins, &cases, "b.csv", &spelled), expected);
    // Without --secondary: the close contacts only.
    let close: String = expected
        .lines()
        .filter(|l| !l.contains(",2,"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(dir.ok(&checkins, &cases, "c.csv", &[]), close);
    // An earlier "now" ends the secondary windows before the 5th.
    assert_eq!(
        dir.ok(
            &checkins,
            &cases,
            "d.csv",
            &["--secondary", "--as-of", "2022-03-05T08:00:00+08:00"]
        ),
        std::fs::read_to_string(fixture("expected_as_of.csv")).unwrap()
    );
}

/// The fixture's rows, with times as seconds since the epoch (floored).
fn fixture_rows() -> Vec<(String, String, i64, i64)> {
    let text = std::fs::read_to_string(fixture("checkins.csv")).unwrap();
    let micros = |t: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        t.timestamp_micros()
    };
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            // Sub-second parts are kept, as microseconds, to be floored by the reader.
            (
                f[0].to_string(),
                f[1].to_string(),
                micros(f[2]),
                micros(f[3]),
            )
        })
        .collect()
}

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, dictionary: bool) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let props = WriterProperties::builder()
        .set_dictionary_enabled(dictionary)
        .set_max_row_group_row_count(Some(7))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_in_any_usual_layout_gives_the_same_bytes_as_csv() {
    let dir = Dir::new();
    let cases = fixture("cases.csv");
    let from_csv = dir.ok(
        &fixture("checkins.csv"),
        &cases,
        "csv.csv",
        &["--secondary"],
    );
    let rows = fixture_rows();
    let persons: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let venues: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let ins: Vec<i64> = rows.iter().map(|r| r.2).collect();
    let outs: Vec<i64> = rows.iter().map(|r| r.3).collect();

    // Strings and UTC microsecond timestamps, dictionary pages, an extra column.
    let a = dir.path("a.parquet");
    write_parquet(
        &a,
        vec![
            (
                "note",
                Arc::new(StringArray::from(vec!["x"; rows.len()])) as ArrayRef,
            ),
            ("venue_id", Arc::new(StringArray::from(venues.clone()))),
            ("person_id", Arc::new(StringArray::from(persons.clone()))),
            (
                "check_in",
                Arc::new(TimestampMicrosecondArray::from(ins.clone()).with_timezone("UTC")),
            ),
            (
                "check_out",
                Arc::new(TimestampMicrosecondArray::from(outs.clone()).with_timezone("UTC")),
            ),
        ],
        true,
    );
    // Large strings, plain pages, millisecond timestamps without a time zone.
    let b = dir.path("b.parquet");
    let millis = |v: &[i64]| {
        TimestampMillisecondArray::from(v.iter().map(|t| t.div_euclid(1000)).collect::<Vec<_>>())
    };
    write_parquet(
        &b,
        vec![
            (
                "person_id",
                Arc::new(LargeStringArray::from(persons.clone())) as ArrayRef,
            ),
            ("venue_id", Arc::new(LargeStringArray::from(venues.clone()))),
            ("check_in", Arc::new(millis(&ins))),
            ("check_out", Arc::new(millis(&outs))),
        ],
        false,
    );
    // Dictionary arrays and int64 microseconds since the epoch.
    let c = dir.path("c.parquet");
    write_parquet(
        &c,
        vec![
            (
                "person_id",
                Arc::new(
                    persons
                        .iter()
                        .copied()
                        .collect::<DictionaryArray<Int32Type>>(),
                ) as ArrayRef,
            ),
            (
                "venue_id",
                Arc::new(
                    venues
                        .iter()
                        .copied()
                        .collect::<DictionaryArray<Int32Type>>(),
                ),
            ),
            ("check_in", Arc::new(Int64Array::from(ins.clone()))),
            ("check_out", Arc::new(Int64Array::from(outs.clone()))),
        ],
        true,
    );
    for file in [a, b, c] {
        assert_eq!(
            dir.ok(&file, &cases, "pq.csv", &["--secondary"]),
            from_csv,
            "{}",
            file.display()
        );
    }
}

#[test]
fn a_check_out_before_the_check_in_names_the_file_line_and_column() {
    let dir = Dir::new();
    let cases = fixture("cases.csv");
    let bad = dir.write(
        "bad.csv",
        "person_id,venue_id,check_in,check_out\n\
         A,V1,2022-03-04T11:30:00Z,2022-03-04T12:30:00Z\n\
         \n\
         B,V1,2022-03-04T12:20:00Z,2022-03-04T12:19:59Z\n",
    );
    let en = dir.fails(&bad, &cases, &["--lang", "en"]);
    assert!(
        en.contains("[check_out_before_check_in]")
            && en.contains("bad.csv line 4, column check_out: check_out is before check_in"),
        "{en}"
    );
    let zh = dir.fails(&bad, &cases, &[]);
    assert!(zh.contains("bad.csv 第4行，check_out列"), "{zh}");

    // In Parquet, the row.
    let pq = dir.path("bad.parquet");
    write_parquet(
        &pq,
        vec![
            (
                "person_id",
                Arc::new(StringArray::from(vec!["A", "B"])) as ArrayRef,
            ),
            ("venue_id", Arc::new(StringArray::from(vec!["V1", "V1"]))),
            (
                "check_in",
                Arc::new(Int64Array::from(vec![
                    1_646_393_400_000_000,
                    1_646_396_400_000_000,
                ])),
            ),
            (
                "check_out",
                Arc::new(Int64Array::from(vec![
                    1_646_397_000_000_000,
                    1_646_396_399_000_000,
                ])),
            ),
        ],
        true,
    );
    let en = dir.fails(&pq, &cases, &["--lang", "en"]);
    assert!(en.contains("bad.parquet row 2, column check_out"), "{en}");
}

#[test]
fn missing_columns_and_bad_times_are_refused_with_their_place() {
    let dir = Dir::new();
    let cases = fixture("cases.csv");
    let checkins = fixture("checkins.csv");

    let no_out = dir.write(
        "no_out.csv",
        "person_id,venue_id,check_in\nA,V1,2022-03-04T11:30:00Z\n",
    );
    let en = dir.fails(&no_out, &cases, &["--lang", "en"]);
    assert!(
        en.contains("[missing_column]") && en.contains("no_out.csv has no column check_out"),
        "{en}"
    );

    let pq = dir.path("no_venue.parquet");
    write_parquet(
        &pq,
        vec![
            (
                "person_id",
                Arc::new(StringArray::from(vec!["A"])) as ArrayRef,
            ),
            (
                "check_in",
                Arc::new(Int64Array::from(vec![1_646_393_400_000_000])),
            ),
            (
                "check_out",
                Arc::new(Int64Array::from(vec![1_646_397_000_000_000])),
            ),
        ],
        true,
    );
    let en = dir.fails(&pq, &cases, &["--lang", "en"]);
    assert!(
        en.contains("no_venue.parquet has no column venue_id"),
        "{en}"
    );

    let bad_time = dir.write(
        "bad_time.csv",
        "person_id,venue_id,check_in,check_out\n\
         A,V1,2022-03-04T11:30:00Z,2022-03-04T12:30:00Z\n\
         B,V1,2022-03-04T25:20:00Z,2022-03-04T12:30:00Z\n",
    );
    let en = dir.fails(&bad_time, &cases, &["--lang", "en"]);
    assert!(
        en.contains("[invalid_time]") && en.contains("bad_time.csv line 3, column check_in"),
        "{en}"
    );

    let too_early = dir.write(
        "too_early.csv",
        "person_id,venue_id,check_in,check_out\nA,V1,1969-12-31T23:59:59Z,2022-03-04T12:30:00Z\n",
    );
    let en = dir.fails(&too_early, &cases, &["--lang", "en"]);
    assert!(
        en.contains("[time_out_of_range]") && en.contains("line 2"),
        "{en}"
    );

    let bad_cases = dir.write(
        "bad_cases.csv",
        "person_id,reference_time,isolated_at\nC1,2022-03-05T12:00:00Z,soon\n",
    );
    let en = dir.fails(&checkins, &bad_cases, &["--lang", "en"]);
    assert!(
        en.contains("bad_cases.csv line 2, column isolated_at"),
        "{en}"
    );

    let en = dir.fails(&checkins, &cases, &["--lang", "en", "--as-of", "tomorrow"]);
    assert!(en.contains("--as-of"), "{en}");

    let unknown = dir.write("checkins.json", "{}");
    let en = dir.fails(&unknown, &cases, &["--lang", "en"]);
    assert!(en.contains("[unsupported_format]"), "{en}");
}

#[test]
fn a_failure_leaves_an_existing_output_alone() {
    let dir = Dir::new();
    let out = dir.write("kept.csv", "old\n");
    let bad = dir.write(
        "bad.csv",
        "person_id,venue_id,check_in,check_out\nA,V1,2022-03-04T11:30:00Z,yesterday\n",
    );
    let o = dir.trace(&bad, &fixture("cases.csv"), "kept.csv", &[]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read_to_string(out).unwrap(), "old\n");
}

#[test]
fn a_case_without_stays_and_unsorted_overlapping_stays_are_fine() {
    let dir = Dir::new();
    let checkins = dir.write(
        "c.csv",
        "person_id,venue_id,check_in,check_out\n\
         A,V1,2022-03-04T12:00:00Z,2022-03-04T13:00:00Z\n\
         C,V1,2022-03-04T11:00:00Z,2022-03-04T12:30:00Z\n\
         A,V1,2022-03-04T11:00:00Z,2022-03-04T12:30:00Z\n\
         A,V1,2022-03-04T12:00:00Z,2022-03-04T13:00:00Z\n",
    );
    let cases = dir.write(
        "cases.csv",
        "person_id,reference_time,isolated_at\nC,2022-03-05T00:00:00Z,\nNOBODY,2022-03-05T00:00:00Z,\n",
    );
    assert_eq!(
        dir.ok(&checkins, &cases, "o.csv", &[]),
        "person_id,degree,first_exposure,via,sources\nA,1,2022-03-04T11:00:00Z,C,1\n"
    );
}

#[test]
fn help_states_the_rules_and_whole_seconds() {
    let o = Command::new(BIN)
        .args(["trace", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(o.stdout).unwrap();
    for needle in [
        "--checkins",
        "--lookback-days",
        "--secondary",
        "--as-of",
        "sub-second",
        "[default: 30]",
    ] {
        assert!(help.contains(needle), "{needle} not in {help}");
    }
}

#[test]
fn fixture_times_keep_a_fraction_that_is_floored() {
    // The fixture holds one check-in at .750 s: floored, it is A's first exposure.
    assert!(fixture_rows().iter().any(|r| r.2 % 1_000_000 == 750_000));
}

/// Beyond the contract: `--crowd-cap` and `--count-only` (`--per-case`), on
/// the hand-checked city. The contract's output is unchanged without them.
#[test]
fn crowd_caps_and_counts_beyond_the_contract() {
    let dir = Dir::new();
    let (checkins, cases) = (fixture("checkins.csv"), fixture("cases.csv"));
    let header = "person_id,degree,first_exposure,via,sources\n";
    // Cap 1: every case exposure has two others (A and B at V1, A and E at
    // V2), so none makes a contact; A, B and E are venue-exposed.
    let o = dir.trace(
        &checkins,
        &cases,
        "cap1.csv",
        &["--secondary", "--crowd-cap", "1"],
    );
    assert!(o.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.path("cap1.csv")).unwrap(),
        header
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("暴露人员3人") || stderr.contains("3 venue-exposed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Cap 2: the case exposures stand; A's stay at V3 overlaps four others
    // (F, G, B, H) and is crowded, so G and H are reached through B only and
    // F is venue-exposed.
    let capped = dir.ok(
        &checkins,
        &cases,
        "cap2.csv",
        &["--secondary", "--crowd-cap", "2"],
    );
    assert_eq!(
        capped,
        format!(
            "{header}A,1,2022-03-04T01:00:00Z,C2,2\nB,1,2022-03-04T12:20:00Z,C1,2\n\
             D,2,2022-03-04T12:30:00Z,A,2\nE,1,2022-03-04T08:00:00Z,C2,1\n\
             G,2,2022-03-05T10:40:00Z,B,1\nH,2,2022-03-05T10:40:00Z,B,1\n"
        )
    );
    let counts_header = "scope,close_contacts,secondary_contacts,venue_exposed\n";
    assert_eq!(
        dir.ok(
            &checkins,
            &cases,
            "n2.csv",
            &["--secondary", "--crowd-cap", "2", "--count-only"]
        ),
        format!("{counts_header}all,3,3,1\n")
    );
    // Without a cap the counts are the list's.
    assert_eq!(
        dir.ok(&checkins, &cases, "n.csv", &["--secondary", "--count-only"]),
        format!("{counts_header}all,3,4,0\n")
    );
    // Per case: each case traced alone, as a run with only that case.
    let per_case = dir.ok(
        &checkins,
        &cases,
        "per.csv",
        &[
            "--secondary",
            "--crowd-cap",
            "2",
            "--count-only",
            "--per-case",
        ],
    );
    let mut lines = per_case.lines();
    assert_eq!(lines.next(), Some(counts_header.trim_end()));
    assert_eq!(lines.next(), Some("all,3,3,1"));
    let all_cases = std::fs::read_to_string(&cases).unwrap();
    for (k, case) in ["C1", "C2"].iter().enumerate() {
        let row = all_cases.lines().find(|l| l.starts_with(case)).unwrap();
        let one = dir.write(
            &format!("one{k}.csv"),
            &format!("person_id,reference_time,isolated_at\n{row}\n"),
        );
        let alone = dir.ok(
            &checkins,
            &one,
            &format!("alone{k}.csv"),
            &["--secondary", "--crowd-cap", "2", "--count-only"],
        );
        let alone = alone.lines().nth(1).unwrap().replacen("all", case, 1);
        assert_eq!(lines.next(), Some(alone.as_str()));
    }
    assert_eq!(lines.next(), None);
    // --per-case needs --count-only.
    let o = dir.trace(&checkins, &cases, "x.csv", &["--per-case"]);
    assert!(!o.status.success());
}
