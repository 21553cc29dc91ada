//! The real binary on real files, against every backend under test.

use closedloop_store::testing::TestDatabase;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_closedloop");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

struct Run {
    url: String,
    dir: tempfile::TempDir,
}

impl Run {
    fn new(url: &str) -> Run {
        Run {
            url: url.to_string(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("CLOSEDLOOP_DATABASE_URL", &self.url)
            .env_remove("CLOSEDLOOP_LANG")
            .env_remove("CLOSEDLOOP_CONFIG")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            !out.status.success(),
            "{args:?} should fail, printed {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> String {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        self.path(name)
    }

    fn seed(&self) {
        for (kind, file) in [
            ("regions", "regions.csv"),
            ("persons", "persons.csv"),
            ("cases", "cases.csv"),
        ] {
            self.ok(&["import", kind, fixture(file).to_str().unwrap()]);
        }
    }

    fn count(&self, kind: &str) -> usize {
        self.ok(&["export", kind]).lines().count().saturating_sub(1)
    }
}

async fn each(name: &str) -> Vec<TestDatabase> {
    TestDatabase::each(name).await
}

#[tokio::test]
async fn bulletin_matches_the_imported_records_in_both_languages() {
    for db in each("cli_bulletin").await {
        let run = Run::new(&db.url);
        run.seed();
        let json: Value = serde_json::from_str(&run.ok(&[
            "bulletin",
            "--date",
            "2022-03-09",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(json["date"], "2022-03-09");
        assert_eq!(json["region"]["code"], "220000");
        assert_eq!(json["new_local_confirmed"], 6);
        assert_eq!(json["new_local_confirmed_reclassified"], 1);
        assert_eq!(json["new_local_asymptomatic"], 4);
        assert_eq!(json["new_imported_confirmed"], 1);
        assert_eq!(json["new_imported_asymptomatic"], 1);
        let t = &json["new_local_confirmed_by_clinical_type"];
        assert_eq!(
            (
                t["mild"].as_u64(),
                t["moderate"].as_u64(),
                t["severe"].as_u64(),
                t["unknown"].as_u64()
            ),
            (Some(3), Some(1), Some(1), Some(1))
        );
        assert_eq!(json["new_local_found_under_control"]["confirmed"], 3);
        assert_eq!(json["new_local_found_under_control"]["asymptomatic"], 3);
        assert_eq!(json["new_local_found_in_community"]["confirmed"], 2);
        assert_eq!(json["new_local_found_in_community"]["asymptomatic"], 1);
        assert_eq!(json["outcomes"]["discharged"], 1);
        let c = &json["cumulative"];
        assert_eq!(
            (
                c["local_confirmed"].as_u64(),
                c["local_asymptomatic"].as_u64()
            ),
            (Some(7), Some(5))
        );
        assert_eq!(
            (c["in_hospital"].as_u64(), c["under_observation"].as_u64()),
            (Some(7), Some(6))
        );
        let by_region = json["by_region"].as_array().unwrap();
        let line = |code: &str| {
            by_region
                .iter()
                .find(|r| r["code"] == code)
                .unwrap()
                .clone()
        };
        assert_eq!(line("220100")["name"], "长春市");
        assert_eq!(
            (
                line("220100")["new_local_confirmed"].as_u64(),
                line("220100")["new_local_asymptomatic"].as_u64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(
            (
                line("220200")["new_local_confirmed"].as_u64(),
                line("220200")["new_local_asymptomatic"].as_u64()
            ),
            (Some(5), Some(3))
        );

        let zh = run.ok(&["bulletin", "--date", "2022-03-09"]);
        assert!(
            zh.contains(
                "吉林省卫生健康委员会关于新型冠状病毒肺炎疫情情况通报（2022年3月10日公布）"
            ),
            "{zh}"
        );
        assert!(
            zh.contains("3月9日0—24时，全省新增本地确诊病例6例（含1例无症状感染者转为确诊病例），其中长春市1例、吉林市5例（含1例无症状感染者转为确诊病例）；新增本地无症状感染者4例，其中长春市1例、吉林市3例。新增境外输入确诊病例1例，新增境外输入无症状感染者1例。"),
            "{zh}"
        );
        assert!(
            zh.contains("轻型3例、普通型1例、重型1例、分型待定1例"),
            "{zh}"
        );
        let en = run.ok(&["--lang", "en", "bulletin", "--date", "2022-03-09"]);
        assert!(en.contains("From 0:00 to 24:00 on 9 March 2022, the province reported 6 new local confirmed cases, including 1 asymptomatic infection reclassified as confirmed (Changchun 1, Jilin City 5 (including 1 reclassified))"), "{en}");

        // A city bulletin says 全市 and breaks down by district; the next day sees the late reclassification.
        let city = run.ok(&["bulletin", "--date", "2022-03-10", "--region", "220200"]);
        assert!(city.contains("3月10日0—24时，全市新增本地确诊病例1例（含1例无症状感染者转为确诊病例），其中船营区1例"), "{city}");
        let md = run.ok(&[
            "bulletin",
            "--date",
            "2022-03-09",
            "--format",
            "markdown",
            "--lang",
            "en",
        ]);
        assert!(md.starts_with("# Jilin Province Health Commission"), "{md}");
        assert!(md.contains("| Jilin City | 220200 | 5 | 1 | 3 |"), "{md}");

        let err = run.fails(&["bulletin", "--date", "2022-02-30"]);
        assert!(err.contains("2022-02-30"), "{err}");
        let err = run.fails(&[
            "bulletin",
            "--date",
            "2022-03-09",
            "--region",
            "999999",
            "--lang",
            "en",
        ]);
        assert!(err.contains("999999") && err.contains("not_found"), "{err}");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn imports_are_idempotent_and_conflicts_need_update() {
    for db in each("cli_idempotent").await {
        let run = Run::new(&db.url);
        run.seed();
        let again = run.ok(&[
            "--lang",
            "en",
            "import",
            "cases",
            fixture("cases.csv").to_str().unwrap(),
        ]);
        assert!(
            again.contains("0 created, 0 updated, 16 unchanged"),
            "{again}"
        );

        let original = std::fs::read_to_string(fixture("cases.csv")).unwrap();
        let changed = original.replace(
            "C004,resident_id,220202197001010419,病例4,,,220202,220202,confirmed,mild",
            "C004,resident_id,220202197001010419,病例4,,,220202,220202,confirmed,moderate",
        );
        assert_ne!(changed, original);
        let file = run.write("changed.csv", &changed);
        let err = run.fails(&["--lang", "en", "import", "cases", &file]);
        assert!(
            err.contains("changed.csv line 5, column clinical_type"),
            "{err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
        let done = run.ok(&["--lang", "en", "import", "cases", &file, "--update"]);
        assert!(done.contains("1 updated"), "{done}");
        let json: Value = serde_json::from_str(&run.ok(&[
            "bulletin",
            "--date",
            "2022-03-09",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(json["new_local_confirmed_by_clinical_type"]["moderate"], 2);
        db.cleanup().await;
    }
}

const CASE_HEADER: &str = "case_id,document_type,document_number,name,sex,birth_date,residence_region,reporting_region,classification,clinical_type,origin,discovery_channel,onset_date,sample_time,report_time,reclassified_at,outcome,outcome_time\n";
const GOOD_ROW: &str = "N1,resident_id,11010519491231002X,甲,,,220102,220102,confirmed,mild,local,other,,,2022-03-09 10:00,,,\n";

#[tokio::test]
async fn bad_input_names_file_line_and_field_and_writes_nothing() {
    for db in each("cli_bad").await {
        let run = Run::new(&db.url);
        run.seed();
        let before = run.count("cases");
        let cases: [(&str, String, &str); 5] = [
            ("check.csv", "N2,resident_id,110105194912310021,乙,,,220102,220102,confirmed,mild,local,other,,,2022-03-09 10:00,,,\n".into(), "check.csv line 3, column document_number"),
            ("date.csv", "N2,passport,E1,乙,,,220102,220102,confirmed,mild,local,other,2022-02-30,,2022-03-09 10:00,,,\n".into(), "date.csv line 3, column onset_date"),
            ("region.csv", "N2,passport,E1,乙,,,220102,229999,confirmed,mild,local,other,,,2022-03-09 10:00,,,\n".into(), "region.csv line 3, column reporting_region"),
            ("reclass.csv", "N2,passport,E1,乙,,,220102,220102,confirmed,mild,local,other,,,2022-03-09 10:00,2022-03-08 10:00,,\n".into(), "reclass.csv line 3, column reclassified_at"),
            ("vocab.csv", "N2,passport,E1,乙,,,220102,220102,probable,,local,other,,,2022-03-09 10:00,,,\n".into(), "vocab.csv line 3, column classification"),
        ];
        for (name, row, expected) in &cases {
            let file = run.write(name, format!("{CASE_HEADER}{GOOD_ROW}{row}"));
            let err = run.fails(&["--lang", "en", "import", "cases", &file]);
            assert!(err.contains(expected), "{name}: {err}");
            assert_eq!(run.count("cases"), before, "{name}: partial write");
        }
        let zh = run.fails(&["import", "cases", &run.path("check.csv")]);
        assert!(
            zh.contains(
                "check.csv 第3行，document_number列：居民身份证号码校验码错误：应为X，实为1"
            ),
            "{zh}"
        );

        let mut latin1 = CASE_HEADER.as_bytes().to_vec();
        latin1.extend_from_slice(b"N3,passport,E1,caf\xe9,,,220102,220102,confirmed,mild,local,other,,,2022-03-09 10:00,,,\n");
        let file = run.write("latin1.csv", latin1);
        let err = run.fails(&["--lang", "en", "import", "cases", &file]);
        assert!(
            err.contains("latin1.csv")
                && err.contains("line 2")
                && err.to_lowercase().contains("utf-8"),
            "{err}"
        );

        let file = run.write("empty.csv", "");
        let err = run.fails(&["--lang", "en", "import", "cases", &file]);
        assert!(err.contains("empty.csv") && err.contains("empty"), "{err}");

        let err = run.fails(&["--lang", "en", "import", "cases", &run.path("missing.csv")]);
        assert!(err.contains("missing.csv"), "{err}");

        // A 100 MB line is refused without reading it whole.
        let big = run.path("big.csv");
        {
            use std::io::Write;
            let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
            f.write_all(CASE_HEADER.as_bytes()).unwrap();
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..100 {
                f.write_all(&chunk).unwrap();
            }
            f.write_all(b"\n").unwrap();
        }
        let err = run.fails(&["--lang", "en", "import", "cases", &big]);
        assert!(err.contains("big.csv") && err.contains("line 2"), "{err}");
        assert_eq!(run.count("cases"), before);

        // --skip-bad-rows loads the good row and writes the bad one with its reason.
        let file = run.write(
            "mixed.csv",
            format!("{CASE_HEADER}{GOOD_ROW}{}", cases[2].1),
        );
        let out = run.ok(&["--lang", "en", "import", "cases", &file, "--skip-bad-rows"]);
        assert!(
            out.contains("1 created") && out.contains("1 rejected"),
            "{out}"
        );
        let rejects = std::fs::read_to_string(format!("{file}.rejects.csv")).unwrap();
        assert!(
            rejects.contains("3,reporting_region,unknown_region"),
            "{rejects}"
        );
        assert_eq!(run.count("cases"), before + 1);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn exports_import_back_unchanged() {
    for db in each("cli_export").await {
        let run = Run::new(&db.url);
        run.seed();
        let cases_csv = run.ok(&["export", "cases"]);
        let persons_csv = run.ok(&["export", "persons"]);
        assert_eq!(cases_csv.lines().count(), 17);
        run.ok(&["export", "cases", "--format", "xlsx", "--out", "cases.xlsx"]);
        run.ok(&[
            "export",
            "persons",
            "--format",
            "xlsx",
            "--out",
            "persons.xlsx",
        ]);
        let city = run.ok(&["export", "cases", "--region", "220100"]);
        assert_eq!(city.lines().count(), 1 + 7, "{city}");

        // Into a fresh database: from XLSX, then the CSV export is identical.
        let fresh = tempfile::tempdir().unwrap();
        let copy = Run::new(&format!(
            "sqlite://{}",
            fresh.path().join("copy.db").display()
        ));
        copy.ok(&[
            "import",
            "regions",
            fixture("regions.csv").to_str().unwrap(),
        ]);
        copy.ok(&["import", "persons", &run.path("persons.xlsx")]);
        copy.ok(&["import", "cases", &run.path("cases.xlsx")]);
        assert_eq!(copy.ok(&["export", "cases"]), cases_csv);
        assert_eq!(copy.ok(&["export", "persons"]), persons_csv);
        // And the exported CSV re-imports into the original as a no-op.
        let file = run.write("exported.csv", &cases_csv);
        assert!(run
            .ok(&["--lang", "en", "import", "cases", &file])
            .contains("0 created, 0 updated, 16 unchanged"));
        db.cleanup().await;
    }
}

#[test]
fn demo_creates_the_province_and_its_bulletin_follows_the_curve() {
    let run = Run::new("");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--no-serve",
            "--scale",
            "0.05",
            "--seed",
            "7",
            "--lang",
            "en",
        ])
        .current_dir(run.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("closedloop-data"));
    let bulletin = |date: &str| -> Value {
        let out = Command::new(BIN)
            .args(["bulletin", "--date", date, "--format", "json"])
            .current_dir(run.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The curve's cases, plus the positives the demo's loop found in
    // quarantine (registered as `Q-` cases when the contact converted).
    let exported = Command::new(BIN)
        .args(["export", "cases"])
        .current_dir(run.dir.path())
        .output()
        .unwrap();
    assert!(exported.status.success());
    let exported = String::from_utf8(exported.stdout).unwrap();
    let found_in_quarantine = |date: &str, class: &str| -> u64 {
        exported
            .lines()
            .filter(|l| l.starts_with("Q-"))
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[8] == class && f[14].starts_with(date))
            .count() as u64
    };
    for &(day, confirmed, asymptomatic) in closedloop_demo::daily_local_counts() {
        if ![9, 14, 22, 31].contains(&day) {
            continue;
        }
        let date = format!("2022-03-{day:02}");
        let b = bulletin(&date);
        assert_eq!(
            b["new_local_confirmed"].as_u64(),
            Some(
                (confirmed as f64 * 0.05).round() as u64 + found_in_quarantine(&date, "confirmed")
            ),
            "day {day}"
        );
        assert_eq!(
            b["new_local_asymptomatic"].as_u64(),
            Some(
                (asymptomatic as f64 * 0.05).round() as u64
                    + found_in_quarantine(&date, "asymptomatic")
            ),
            "day {day}"
        );
    }
    let peak = bulletin("2022-03-14");
    let jilin = peak["by_region"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "220200")
        .unwrap()
        .clone();
    assert!(
        jilin["new_local_confirmed"].as_u64().unwrap() * 2
            > peak["new_local_confirmed"].as_u64().unwrap()
    );

    // A second demo replaces its own database; an unrelated one is protected.
    let again = Command::new(BIN)
        .args(["demo", "--no-serve", "--scale", "0.01"])
        .current_dir(run.dir.path())
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let other = run.dir.path().join("other.db");
    std::fs::write(&other, b"").unwrap();
    let refused = Command::new(BIN)
        .args([
            "--database-url",
            &format!("sqlite://{}", other.display()),
            "demo",
            "--no-serve",
            "--lang",
            "en",
        ])
        .current_dir(run.dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
}

#[test]
fn every_subcommand_has_complete_help_and_config_layers() {
    for sub in ["serve", "demo", "migrate", "import", "export", "bulletin"] {
        let out = Command::new(BIN).args([sub, "--help"]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("--database-url")
                && text.contains("--lang")
                && text.contains("--time-zone"),
            "{sub}: {text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("closedloop.toml"),
        "lang = \"en\"\ntime_zone = \"Mars/Olympus\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["bulletin", "--date", "2022-03-09"])
        .current_dir(dir.path())
        .env_remove("CLOSEDLOOP_LANG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown time zone \"Mars/Olympus\""),
        "file value used in English"
    );
    let out = Command::new(BIN)
        .args(["--tz", "Asia/Tokyo", "--lang", "zh", "migrate"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flags override the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("已是最新"));

    // Profiles: unknown names and bad overrides are refused, naming the key.
    let out = Command::new(BIN)
        .args([
            "--lang",
            "en",
            "--tz",
            "UTC",
            "--profile",
            "china-10th",
            "migrate",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown profile \"china-10th\""));
    std::fs::write(
        dir.path().join("local.toml"),
        "[tracing]\nlookback_days = 99\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--lang",
            "en",
            "--tz",
            "UTC",
            "--profile-overrides",
            "local.toml",
            "migrate",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tracing.lookback_days"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn movement_data_imports_once_and_expires() {
    for db in each("cli_movements").await {
        let run = Run::new(&db.url);
        run.seed();
        for (kind, file) in [
            ("venues", "venues.csv"),
            ("checkins", "checkins.csv"),
            ("trips", "trips.csv"),
        ] {
            let out = run.ok(&[
                "--lang",
                "en",
                "import",
                kind,
                fixture(file).to_str().unwrap(),
            ]);
            assert!(!out.contains(" 0 created"), "{kind}: {out}");
            let again = run.ok(&[
                "--lang",
                "en",
                "import",
                kind,
                fixture(file).to_str().unwrap(),
            ]);
            assert!(
                again.contains("0 created, 0 updated"),
                "{kind} re-import: {again}"
            );
        }
        // The person unknown to the registry now exists, known only by the document.
        let persons = run.ok(&["export", "persons"]);
        assert!(
            persons.contains("resident_id,220102199901011234,,"),
            "{persons}"
        );

        let bad = run.write(
            "bad.csv",
            "person_id,venue_id,check_in,check_out\nE1,V001,2022-03-07 12:00,2022-03-07 11:00\n",
        );
        let err = run.fails(&["--lang", "en", "import", "checkins", &bad]);
        assert!(err.contains("bad.csv line 2, column check_out"), "{err}");
        let unknown = run.write(
            "unknown.csv",
            "person_id,venue_id,check_in,check_out\nE1,V404,2022-03-07 12:00,\n",
        );
        let err = run.fails(&["--lang", "en", "import", "checkins", &unknown]);
        assert!(
            err.contains("unknown.csv line 2, column venue_id") && err.contains("V404"),
            "{err}"
        );

        // 28 days back from 4 April 10:30 is 7 March 10:30: only the stay of 6 March ended before.
        let out = run.ok(&[
            "--lang",
            "en",
            "purge",
            "--now",
            "2022-04-04T10:30:00+08:00",
        ]);
        assert!(out.contains(": 1 check-ins, 0 trip seats"), "{out}");
        let out = run.ok(&[
            "--lang",
            "en",
            "purge",
            "--now",
            "2022-04-05T00:00:00+08:00",
            "--retention-days",
            "28",
        ]);
        assert!(out.contains(": 3 check-ins"), "{out}");
        let soon = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
        let out = run.ok(&[
            "--lang",
            "en",
            "purge",
            "--retention-days",
            "0",
            "--now",
            &soon,
        ]);
        assert!(
            out.contains(": 0 check-ins, 2 trip seats"),
            "seats expire from when they were recorded: {out}"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_case_contacts_are_traced_stored_and_explained() {
    for db in each("cli_contacts").await {
        let run = Run::new(&db.url);
        run.seed();
        for (kind, file) in [
            ("venues", "venues.csv"),
            ("checkins", "checkins.csv"),
            ("trips", "trips.csv"),
        ] {
            run.ok(&["import", kind, fixture(file).to_str().unwrap()]);
        }
        // C001 shared a restaurant with C002 (reported two hours later: C001's close contact
        // before it was a case) and a carriage, two rows apart, with a stranger.
        let out = run.ok(&[
            "--lang",
            "en",
            "contacts",
            "--case",
            "C001",
            "--as-of",
            "2022-03-12T00:00:00+08:00",
        ]);
        assert!(
            out.contains("2 close contacts, 0 secondary contacts, 0 venue-exposed ("),
            "{out}"
        );
        assert!(
            out.contains("220102199901011234\tClose contact")
                && out.contains("trip G1234-20220305 carriage 05, source row 12, contact row 14"),
            "{out}"
        );
        let again = run.ok(&[
            "--lang",
            "en",
            "contacts",
            "--case",
            "C001",
            "--as-of",
            "2022-03-12T00:00:00+08:00",
        ]);
        assert!(
            again.contains("(0 new, 0 updated, 2 unchanged, 0 removed"),
            "{again}"
        );
        let json: Value = serde_json::from_str(&run.ok(&[
            "contacts",
            "--case",
            "C001",
            "--format",
            "json",
            "--as-of",
            "2022-03-12T00:00:00+08:00",
        ]))
        .unwrap();
        assert_eq!(json[0]["category"], "close_contact");
        assert_eq!(json[0]["explanations"][0]["kind"], "co_travel");
        let err = run.fails(&["--lang", "en", "contacts", "--case", "NOPE"]);
        assert!(err.contains("NOPE"), "{err}");
        db.cleanup().await;
    }
}

/// Regions and persons, then the movements, then the cases (traced as they register).
fn seed_with_movements(run: &Run) -> std::process::Output {
    for (kind, file) in [
        ("regions", "regions.csv"),
        ("persons", "persons.csv"),
        ("venues", "venues.csv"),
        ("checkins", "checkins.csv"),
        ("trips", "trips.csv"),
    ] {
        run.ok(&["import", kind, fixture(file).to_str().unwrap()]);
    }
    let out = run.cmd(&[
        "--lang",
        "en",
        "import",
        "cases",
        fixture("cases.csv").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn importing_cases_traces_them_and_an_update_of_the_window_retraces() {
    for db in each("cli_autotrace").await {
        let run = Run::new(&db.url);
        let out = seed_with_movements(&run);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("traced the contacts of 16 cases"), "{err}");
        // C001 exposed C002 at the restaurant and a stranger on the train.
        let contacts = |run: &Run| -> Value {
            serde_json::from_str(&run.ok(&[
                "contacts",
                "--case",
                "C001",
                "--format",
                "json",
                "--as-of",
                "2022-03-12T00:00:00+08:00",
            ]))
            .unwrap()
        };
        assert_eq!(contacts(&run).as_array().unwrap().len(), 2);
        // Isolated before the restaurant: C002 is no longer C001's contact.
        let cases = std::fs::read_to_string(fixture("cases.csv")).unwrap();
        let mut lines = cases.lines();
        let header = lines.next().unwrap();
        let c001 = lines.next().unwrap();
        let file = run.write(
            "isolated.csv",
            format!("{header},isolated_at\n{c001},2022-03-07 11:00\n"),
        );
        let out = run.cmd(&["--lang", "en", "import", "cases", &file, "--update"]);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("traced the contacts of 1 cases") && err.contains("1 removed"),
            "{err}"
        );
        let exported = run.ok(&["export", "cases"]);
        assert!(
            exported.lines().next().unwrap().ends_with(",isolated_at")
                && exported.contains("C001,")
                && exported.contains("2022-03-07T11:00:00+08:00"),
            "{exported}"
        );
        // The same file again changes nothing and traces nothing.
        let out = run.cmd(&["--lang", "en", "import", "cases", &file, "--update"]);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("traced"));
        let left = contacts(&run);
        assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
        assert_eq!(left[0]["explanations"][0]["kind"], "co_travel");
        db.cleanup().await;
    }
}

#[tokio::test]
async fn clusters_and_chains_of_the_fixture() {
    for db in each("cli_clusters").await {
        let run = Run::new(&db.url);
        seed_with_movements(&run);
        // By hand: C001 (reported 03-08 10:00) and C002 (03-08 12:00) ate at V001 on
        // 03-07 from 12:30; C002 was C001's close contact before its own reference
        // time, so C001 → C002 is a transmission edge. No other case met another.
        let text = run.ok(&["--lang", "en", "clusters"]);
        assert!(text.starts_with("1 clusters"), "{text}");
        assert!(
            text.contains("C001: 2 cases; first C001")
                && text.contains("last C002")
                && text.contains("1 transmission edges, 0 shared exposures")
                && text.contains("V001")
                && text.contains("institutions: none"),
            "{text}"
        );
        let json: Value = serde_json::from_str(&run.ok(&["clusters", "--format", "json"])).unwrap();
        assert_eq!(json[0]["size"], 2);
        assert_eq!(json[0]["regions"][0][0], "220202");
        assert_eq!(json[0]["places"][0]["venue_type"], "restaurant");
        // Before C002 was reported there is no cluster yet.
        let early = run.ok(&[
            "--lang",
            "en",
            "clusters",
            "--as-of",
            "2022-03-08T11:00:00+08:00",
        ]);
        assert!(early.starts_with("0 clusters"), "{early}");
        let chain: Value =
            serde_json::from_str(&run.ok(&["chain", "--cluster", "C001", "--format", "json"]))
                .unwrap();
        assert_eq!(chain["links"][0]["from"], "C001");
        assert_eq!(chain["links"][0]["to"], "C002");
        assert_eq!(chain["links"][0]["kind"], "transmission");
        // The tree: C001 is the root, C002's likely infector is C001.
        let tree: Value = serde_json::from_str(&run.ok(&[
            "chain",
            "--cluster",
            "C001",
            "--format",
            "json",
            "--tree",
        ]))
        .unwrap();
        assert_eq!(tree["tree"][0]["case_id"], "C001");
        assert!(tree["tree"][0]["infector"].is_null(), "{tree}");
        assert_eq!(tree["tree"][1]["infector"]["case_id"], "C001");
        assert_eq!(tree["tree"][1]["other_candidates"], serde_json::json!([]));
        let dot = run.ok(&["chain", "--cluster", "C001", "--format", "dot", "--tree"]);
        assert!(dot.contains("\"C001\" -> \"C002\" [label="), "{dot}");
        let out = run.path("chain.dot");
        run.ok(&[
            "chain",
            "--cluster",
            "C001",
            "--format",
            "dot",
            "--out",
            &out,
        ]);
        let dot = std::fs::read_to_string(&out).unwrap();
        assert!(
            dot.starts_with("digraph \"C001\"") && dot.contains("\"C001\" -> \"C002\""),
            "{dot}"
        );
        let err = run.fails(&["--lang", "en", "chain", "--cluster", "C009"]);
        assert!(err.contains("[not_found]") && err.contains("C009"), "{err}");
        db.cleanup().await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let db = TestDatabase::sqlite("cli_pipe").await;
    let run = Run::new(&db.url);
    run.seed();
    let mut child = Command::new(BIN)
        .args(["export", "cases"])
        .env("CLOSEDLOOP_DATABASE_URL", &db.url)
        .current_dir(run.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing: close the pipe at once, like `| head -0`.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.success() || status.signal() == Some(libc_sigpipe()),
        "{status:?} {err}"
    );
}

/// SIGPIPE's number on Linux and the BSDs.
#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13
}

/// Writes columns (nullable) to a Parquet file.
fn write_parquet(path: &str, columns: Vec<(&str, arrow_array::ArrayRef)>) {
    use arrow_schema::{Field, Schema};
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let schema = std::sync::Arc::new(Schema::new(fields));
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|c| c.1).collect(),
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn local(t: &str) -> i64 {
    use chrono::TimeZone;
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").unwrap())
        .unwrap()
        .timestamp()
}

/// Every stored stay and seat, by document number, sorted.
async fn movements(
    url: &str,
) -> (
    Vec<(String, String, i64, i64)>,
    Vec<(String, String, String, Option<i64>)>,
) {
    let store = closedloop_store::Store::open(url).await.unwrap();
    let snap = store.tracing_snapshot().await.unwrap();
    let mut doc = std::collections::HashMap::new();
    for id in snap
        .stays
        .iter()
        .map(|s| s.0)
        .chain(snap.seats.iter().map(|s| s.0))
    {
        let p = store.person(id).await.unwrap().unwrap();
        doc.insert(id, p.person.document.number);
    }
    let mut stays: Vec<_> = snap
        .stays
        .into_iter()
        .map(|(p, v, a, b)| (doc[&p].clone(), v, a, b))
        .collect();
    let mut seats: Vec<_> = snap
        .seats
        .into_iter()
        .map(|(p, t, c, r)| (doc[&p].clone(), t, c, r))
        .collect();
    stays.sort();
    seats.sort();
    store.close().await;
    (stays, seats)
}

#[tokio::test]
async fn parquet_movement_imports_equal_csv_imports() {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampSecondArray};
    use std::sync::Arc;
    let csv_db = TestDatabase::sqlite("cli_pq_csv").await;
    let pq_db = TestDatabase::sqlite("cli_pq").await;
    let (csv, pq) = (Run::new(&csv_db.url), Run::new(&pq_db.url));
    for run in [&csv, &pq] {
        run.ok(&[
            "import",
            "regions",
            fixture("regions.csv").to_str().unwrap(),
        ]);
    }
    for kind in ["venues", "checkins", "trips"] {
        csv.ok(&[
            "import",
            kind,
            fixture(&format!("{kind}.csv")).to_str().unwrap(),
        ]);
    }
    let s = |v: &[&str]| -> ArrayRef { Arc::new(StringArray::from(v.to_vec())) };
    let venues = pq.path("venues.parquet");
    write_parquet(
        &venues,
        vec![
            ("venue_id", s(&["V001", "V002", "V003"])),
            (
                "name",
                s(&["桂林路美食街餐馆", "吉林农业大学食堂", "欧亚卖场"]),
            ),
            ("type", s(&["restaurant", "school", "mall"])),
            ("region_code", s(&["220102", "220102", "220104"])),
            (
                "lat",
                Arc::new(Float64Array::from(vec![43.871, 43.81, 43.88])),
            ),
            (
                "lon",
                Arc::new(Float64Array::from(vec![125.338, 125.41, 125.28])),
            ),
        ],
    );
    let checkins = pq.path("checkins.parquet");
    write_parquet(
        &checkins,
        vec![
            (
                "person_id",
                s(&[
                    "22020219700101011x",
                    "220202197001010216",
                    "E12345678",
                    "220102199901011234",
                ]),
            ),
            ("venue_id", s(&["V001", "V001", "V003", "V002"])),
            (
                "check_in",
                Arc::new(TimestampSecondArray::from(vec![
                    local("2022-03-07 12:00"),
                    local("2022-03-07 12:30"),
                    local("2022-03-07 10:00"),
                    local("2022-03-06 11:30"),
                ])),
            ),
            (
                "check_out",
                Arc::new(TimestampSecondArray::from(vec![
                    Some(local("2022-03-07 13:00")),
                    None,
                    Some(local("2022-03-07 11:30")),
                    Some(local("2022-03-06 12:10")),
                ])),
            ),
        ],
    );
    let trips = pq.path("trips.parquet");
    write_parquet(
        &trips,
        vec![
            (
                "person_id",
                s(&["22020219700101011X", "220102199901011234"]),
            ),
            ("trip_id", s(&["G1234-20220305", "G1234-20220305"])),
            ("carriage", s(&["05", "05"])),
            ("seat_row", Arc::new(Int64Array::from(vec![12, 14]))),
        ],
    );
    for (kind, file) in [
        ("venues", &venues),
        ("checkins", &checkins),
        ("trips", &trips),
    ] {
        pq.ok(&["import", kind, file]);
    }
    let (a, b) = (movements(&csv_db.url).await, movements(&pq_db.url).await);
    assert_eq!(a.0.len(), 4);
    assert_eq!(a, b);
    // The same file again changes nothing.
    let again = pq.ok(&["--lang", "en", "import", "checkins", &checkins]);
    assert!(again.contains("0 created"), "{again}");

    // A bad row: file, line and column named; nothing written.
    let bad = pq.path("bad.parquet");
    write_parquet(
        &bad,
        vec![
            ("person_id", s(&["E1", "E2"])),
            ("venue_id", s(&["V001", "V009"])),
            (
                "check_in",
                Arc::new(TimestampSecondArray::from(vec![
                    local("2022-03-07 12:00"),
                    local("2022-03-07 12:00"),
                ])),
            ),
            (
                "check_out",
                Arc::new(TimestampSecondArray::from(vec![
                    local("2022-03-07 11:00"),
                    local("2022-03-07 13:00"),
                ])),
            ),
        ],
    );
    let err = pq.fails(&["--lang", "en", "import", "checkins", &bad]);
    assert!(
        err.contains("bad.parquet line 2, column check_out"),
        "{err}"
    );
    assert_eq!(movements(&pq_db.url).await.0.len(), 4);
    let err = pq.fails(&["--lang", "en", "import", "cases", &bad]);
    assert!(
        err.contains("unsupported") || err.contains("bad.parquet"),
        "{err}"
    );
    csv_db.cleanup().await;
    pq_db.cleanup().await;
}

/// The demo never replaces data it did not make: an existing SQLite file
/// needs --force, and on PostgreSQL it fills an empty database only.
#[tokio::test]
async fn the_demo_fills_only_an_empty_database() {
    for db in each("cli_demo_target").await {
        let run = Run::new(&db.url);
        let demo = ["demo", "--no-serve", "--scale", "0.02", "--lang", "en"];
        if db.url.starts_with("postgres") {
            let out = run.ok(&demo);
            assert!(!out.contains("password@"), "the URL is redacted: {out}");
            assert!(run.count("persons") > 100, "the demo filled the database");
            let cases = run.count("cases");
            assert!(cases > 10);
            let err = run.fails(&demo);
            assert!(err.contains("database_not_empty"), "{err}");
            assert_eq!(run.count("cases"), cases, "a refused demo writes nothing");
        } else {
            run.seed();
            let before = run.count("persons");
            let err = run.fails(&demo);
            assert!(err.contains("database_exists"), "{err}");
            assert_eq!(
                run.count("persons"),
                before,
                "a refused demo writes nothing"
            );
        }
    }
}
