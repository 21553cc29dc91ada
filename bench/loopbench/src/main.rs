//! Benchmark of the closed loop at Jilin's scale (BENCHMARKS.md). Run with
//! `cargo run --release -p loopbench` (PostgreSQL too when
//! CLOSEDLOOP_TEST_POSTGRES_URL is set; each backend gets a fresh database). Sizes:
//! CLOSEDLOOP_BENCH_PERSONS (default 1,000,000; half of them managed) and
//! CLOSEDLOOP_BENCH_AUDIT (default 1,000,000 audit records). With
//! CLOSEDLOOP_BENCH_KEEP=1 the filled databases are kept (their URLs printed)
//! for `EXPLAIN`, `sqlite3` and `psql`; CLOSEDLOOP_BENCH_REUSE=<url> times
//! the reads again (overdue list, audit verify; 7 and 3 runs) on such a kept
//! database without filling one (CLOSEDLOOP_BENCH_VERIFY=0: the list only).

use closedloop_domain::profile::Profile;
use closedloop_domain::region::{Region, RegionLevel};
use closedloop_store::testing::TestDatabase;
use closedloop_store::{link_hash, Actor, ImportMode, Link};
use std::time::Instant;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The reads again on a kept database: the overdue list and audit verify.
async fn reuse(url: &str) {
    // Not migrated: the kept database is read as it was filled.
    let store = closedloop_store::Store::connect(url).await.unwrap();
    let profile = Profile::shipped("china-8th").unwrap();
    let now = 1648742400;
    let mut overdue = Vec::new();
    let mut items = 0;
    for _ in 0..7 {
        let t = Instant::now();
        items = store.overdue(&profile, now, None).await.unwrap().len();
        overdue.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut verify = Vec::new();
    let mut records = 0;
    let runs = if std::env::var("CLOSEDLOOP_BENCH_VERIFY").as_deref() == Ok("0") {
        0
    } else {
        3
    };
    for _ in 0..runs {
        let t = Instant::now();
        let r = store.verify_audit_chain().await.unwrap();
        verify.push(t.elapsed().as_secs_f64());
        assert_eq!(r.first_break, None);
        records = r.records;
    }
    println!(
        "REUSE {:?}: overdue ({items} items) median {:.1} ms (min {:.1}); audit verify of {records} records: median {:.2} s (min {:.2})",
        store.backend(),
        median(&overdue),
        min(&overdue),
        if verify.is_empty() { f64::NAN } else { median(&verify) },
        min(&verify)
    );
    store.close().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(url) = std::env::var("CLOSEDLOOP_BENCH_REUSE") {
        return reuse(&url).await;
    }
    let persons = env("CLOSEDLOOP_BENCH_PERSONS", 1_000_000);
    let managed = persons / 2;
    let audit = env("CLOSEDLOOP_BENCH_AUDIT", 1_000_000);
    for db in TestDatabase::each("bench").await {
        let store = db.open().await;
        let a = Actor::system();
        let region = Region {
            code: "220000".into(),
            parent_code: None,
            level: RegionLevel::Province,
            name_zh: "吉林省".into(),
            name_en: String::new(),
            population: 24_000_000,
        };
        store
            .import_regions(&[(2, region)], ImportMode::default(), "r", &a)
            .await
            .unwrap();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        let t = Instant::now();
        let series = |n: i64| {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "
            )
        };
        let run = |sql: String| {
            let pool = pool.clone();
            async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
        };
        run(format!("INSERT INTO persons (document_type, document_number, name, region_code, created_at, updated_at) {} SELECT 'other', 'B' || CAST(i AS TEXT), 'P', '220000', 0, 0 FROM n", series(persons))).await;
        // 20% cases admitted; contacts: 1% of all not under control (overdue),
        // under quarantine, in home monitoring (10,000 of them due for release), released.
        run(format!("INSERT INTO managed (person_id, category, state, setting, region_code, profile, last_exposure, quarantine_end, monitoring_end, identified_at, control_due, controlled_at, state_since, created_at, updated_at)
             SELECT id,
               CASE WHEN id % 10 < 2 THEN 'case' ELSE 'close_contact' END,
               CASE WHEN id % 10 < 2 THEN 'admitted' WHEN id % 100 = 2 THEN 'identified' WHEN id % 10 < 5 THEN 'under_quarantine'
                    WHEN id % 10 < 7 THEN 'home_health_monitoring' ELSE 'released' END,
               'centralized', '220000', 'china-8th@1', '2022-03-01', '2022-03-15',
               CASE WHEN id % 100 IN (5, 6) THEN '2022-03-20' ELSE '2022-04-30' END,
               1646784000, 1646784000 + 28800,
               CASE WHEN id % 100 = 2 THEN NULL ELSE 1646790000 END, 1646790000, 0, 0
             FROM persons WHERE id <= {managed}")).await;
        run("INSERT INTO tasks (kind, managed_id, person_id, subject, region_code, priority, created_at, due_at, status)
             SELECT 'place', id, person_id, '', region_code, 1, identified_at, control_due, CASE WHEN state = 'identified' THEN 'open' ELSE 'done' END
             FROM managed WHERE category <> 'case'".into()).await;
        run("INSERT INTO loop_tests (managed_id, stage, day, due_date, sampled_at, result)
             SELECT id, 'quarantine', 1, '2022-03-02', 1646870400, 'negative' FROM managed WHERE state = 'under_quarantine'".into()).await;
        run("INSERT INTO loop_tests (managed_id, stage, day, due_date)
             SELECT id, 'quarantine', 4, '2022-03-05' FROM managed WHERE state = 'under_quarantine'".into()).await;
        let setup = t.elapsed().as_secs_f64();
        // The fill wrote records behind the store's back: rebuild the loop's counters.
        let t = Instant::now();
        let wrong = store.recount_loop(&a).await.unwrap();
        let recount = t.elapsed().as_secs_f64();
        assert!(
            !wrong.is_consistent(),
            "the raw fill left the counters behind"
        );
        assert!(store.check_loop_counts().await.unwrap().is_consistent());
        let profile = Profile::shipped("china-8th").unwrap();
        let now = 1648742400; // 2022-04-01
        let today: chrono::NaiveDate = "2022-04-01".parse().unwrap();
        // The reference (every record scanned), once: same answer, and its time.
        let t = Instant::now();
        let scan = store
            .loop_status_by_scan(&profile, now, today, Some("220000"))
            .await
            .unwrap();
        let scan_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut fast = store
            .loop_status(&profile, now, today, Some("220000"))
            .await
            .unwrap();
        fast.scope = scan.scope.clone();
        assert_eq!(fast, scan);
        let mut status = Vec::new();
        let mut overdue = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            let s = store
                .loop_status(&profile, now, today, Some("220000"))
                .await
                .unwrap();
            status.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(s.overdue_tasks, persons / 200);
            let t = Instant::now();
            let o = store.overdue(&profile, now, None).await.unwrap();
            overdue.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(o.len() as i64, persons / 200);
        }
        let t = Instant::now();
        let released = store
            .release_due("2022-03-25".parse().unwrap(), now, None, &a)
            .await
            .unwrap();
        let release = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(released as i64, managed / 50);

        // A valid audit chain of `audit` records after what is there.
        let (mut seq, mut prev) = store.audit_chain_head().await.unwrap();
        let t = Instant::now();
        let mut left = audit;
        while left > 0 {
            let n = left.min(2000);
            left -= n;
            let mut sql = String::from("INSERT INTO audit_log (at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) VALUES ");
            for i in 0..n {
                seq += 1;
                let detail = format!("{{\"n\":{seq}}}");
                let hash = link_hash(&Link {
                    seq,
                    prev_hash: &prev,
                    at: 1_648_000_000 + seq,
                    actor: "bench",
                    action: "transition",
                    entity: "managed",
                    entity_id: &seq.to_string(),
                    detail: &detail,
                });
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("({}, 'bench', 'transition', 'managed', '{seq}', '{detail}', {seq}, '{prev}', '{hash}')", 1_648_000_000 + seq));
                prev = hash;
            }
            run(sql).await;
        }
        run(format!(
            "UPDATE audit_head SET seq = {seq}, hash = '{prev}' WHERE id = 1"
        ))
        .await;
        let fill = t.elapsed().as_secs_f64();
        let mut verify = Vec::new();
        let mut report = None;
        for _ in 0..2 {
            let t = Instant::now();
            let r = store.verify_audit_chain().await.unwrap();
            verify.push(t.elapsed().as_secs_f64());
            assert_eq!(r.first_break, None);
            report = Some(r);
        }
        let report = report.unwrap();
        println!(
            "BENCH {:?}: {persons} persons, {managed} managed, setup {setup:.1} s, recount {recount:.1} s; loop status by scan {scan_ms:.0} ms, from the counters median {:.1} ms (min {:.1}); overdue ({} items) median {:.1} ms (min {:.1}); bulk release of {released}: {release:.0} ms; audit verify of {} records: {:.2} s, again {:.2} s (filling took {fill:.1} s)",
            db.backend,
            median(&status),
            min(&status),
            persons / 200,
            median(&overdue),
            min(&overdue),
            report.records,
            verify[0],
            verify[1]
        );
        pool.close().await;
        store.close().await;
        if env("CLOSEDLOOP_BENCH_KEEP", 0) == 1 {
            println!("kept: {}", db.url);
            std::mem::forget(db);
        } else {
            db.cleanup().await;
        }
    }
}
