//! Escalation through the real binary: the demo leaves notices (some
//! acknowledged), `tasks escalate --now` adds the rungs reached since and
//! nothing when run again, `tasks notices` lists them scoped and unacknowledged
//! first, `tasks acknowledge` is audited and refuses a notice outside `--region`.

use serde_json::Value;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_closedloop");

struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env_remove("CLOSEDLOOP_DATABASE_URL")
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

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(args)).unwrap();
        v.as_array().unwrap().clone()
    }
}

#[test]
fn overdue_tasks_escalate_and_their_notices_are_kept_and_acknowledged() {
    let d = Demo {
        dir: tempfile::tempdir().unwrap(),
    };
    d.ok(&["demo", "--no-serve", "--scale", "0.03", "--seed", "11"]);
    let all = ["tasks", "notices", "--limit", "100000", "--format", "json"];
    let kept = d.json(&all);
    assert!(!kept.is_empty(), "the demo leaves notices");
    let acked = kept
        .iter()
        .filter(|n| !n["acknowledged_at"].is_null())
        .count();
    assert!(acked > 0 && acked < kept.len(), "{acked} of {}", kept.len());
    // Unacknowledged first.
    let first_acked = kept
        .iter()
        .position(|n| !n["acknowledged_at"].is_null())
        .unwrap();
    assert!(kept[first_acked..]
        .iter()
        .all(|n| !n["acknowledged_at"].is_null()));

    // Four days later each task still open has a notice for every rung it
    // has reached (the overdue list's level), once; the same instant again adds nothing.
    let now = "2022-04-04T00:00:00+08:00";
    let out = d.ok(&["tasks", "escalate", "--now", now, "--lang", "en"]);
    assert!(out.contains("new notices"), "{out}");
    let again = d.ok(&["tasks", "escalate", "--now", now, "--lang", "en"]);
    assert!(again.contains(": 0 new notices"), "{again}");
    let overdue: Vec<Value> = d.json(&[
        "tasks",
        "list",
        "--overdue",
        "--now",
        now,
        "--limit",
        "100000",
        "--format",
        "json",
    ]);
    // --unit: exactly that unit's tasks, overdue or all.
    let unit = overdue
        .iter()
        .find_map(|o| o["task"]["unit_id"].as_i64())
        .expect("an overdue task with a unit");
    let want: Vec<&Value> = overdue
        .iter()
        .filter(|o| o["task"]["unit_id"] == unit)
        .collect();
    assert!(
        want.len() < overdue.len(),
        "other units' tasks are overdue too"
    );
    let unit_s = unit.to_string();
    let of_unit: Vec<Value> = d.json(&[
        "tasks",
        "list",
        "--overdue",
        "--now",
        now,
        "--unit",
        &unit_s,
        "--limit",
        "100000",
        "--format",
        "json",
    ]);
    assert_eq!(of_unit.iter().collect::<Vec<_>>(), want);
    let every: Vec<Value> = d.json(&["tasks", "list", "--limit", "100000", "--format", "json"]);
    let unit_tasks: Vec<Value> = d.json(&[
        "tasks", "list", "--unit", &unit_s, "--limit", "100000", "--format", "json",
    ]);
    assert!(!unit_tasks.is_empty());
    assert_eq!(
        unit_tasks,
        every
            .iter()
            .filter(|t| t["unit_id"] == unit)
            .cloned()
            .collect::<Vec<_>>()
    );
    let notices = d.json(&all);
    for o in &overdue {
        let task = o["task"]["id"].as_i64().unwrap();
        let levels: Vec<&str> = notices
            .iter()
            .filter(|n| n["task_id"].as_i64() == Some(task))
            .map(|n| n["level"].as_str().unwrap())
            .collect();
        let reached = match o["level"].as_str() {
            Some("assignee") => 1,
            Some("unit_head") => 2,
            _ => 3,
        };
        assert_eq!(
            levels.len(),
            reached,
            "task {task}: every rung reached, once: {levels:?}"
        );
    }

    // Scoped: a region's notices are all within it.
    let region = notices
        .iter()
        .find_map(|n| n["region_code"].as_str())
        .unwrap()
        .to_string();
    let scoped = d.json(&[
        "tasks", "notices", "--region", &region, "--limit", "100000", "--format", "json",
    ]);
    assert!(!scoped.is_empty());
    assert!(scoped.len() <= notices.len());

    // Acknowledge one: outside the named region it is not found; inside it is kept.
    let open = d.json(&[
        "tasks",
        "notices",
        "--unacknowledged",
        "--region",
        &region,
        "--format",
        "json",
    ]);
    let id = open[0]["id"].as_i64().unwrap().to_string();
    let other = if region.starts_with("2202") {
        "220100"
    } else {
        "220200"
    };
    let out = d.cmd(&["tasks", "acknowledge", &id, "--region", other]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
    let text = d.ok(&[
        "tasks",
        "acknowledge",
        &id,
        "--region",
        &region,
        "--actor",
        "officer",
        "--lang",
        "en",
    ]);
    assert!(
        text.contains("acknowledged") && text.contains("officer"),
        "{text}"
    );
    let after = d.json(&all);
    let n = after
        .iter()
        .find(|n| n["id"].as_i64().map(|i| i.to_string()) == Some(id.clone()))
        .unwrap();
    assert_eq!(n["acknowledged_by"], "officer");
    let ok = d.ok(&["audit", "verify", "--lang", "en"]);
    assert!(ok.contains("audit chain intact"), "{ok}");
}
