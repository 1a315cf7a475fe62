//! Serve's passes through the library: a backlog read in bounded passes, each committed,
//! gives the alerts of one unbounded pass; the idle rule closes the last windows.

use std::collections::BTreeSet;
use std::path::Path;

use jiff::SignedDuration;
use kvsentry_gen::{GenConfig, Scenario};
use kvsentry_runtime::serve::config::ServeConfig;
use kvsentry_runtime::serve::{PassOptions, Server, load};

fn generate(dir: &Path) {
    let config = GenConfig {
        seed: 11,
        events: 3000,
        duration: SignedDuration::from_hours(3),
        scenarios: Scenario::standard_set(),
        ..GenConfig::default()
    };
    kvsentry_gen::write_dir("storage".parse().unwrap(), &config, dir).unwrap();
}

fn server(dir: &Path, state: &str, extra: &str) -> Server {
    let text = format!(
        "state_dir = {state:?}\nallowed_lateness = \"15m\"\n{extra}\n[[input]]\nname = \"logs\"\ntype = \"files\"\npath = {logs:?}\n[[output]]\ntype = \"file\"\npath = {out:?}\n",
        state = dir.join(state).to_str().unwrap(),
        logs = dir.join("logs").to_str().unwrap(),
        out = dir.join(format!("{state}.jsonl")).to_str().unwrap(),
    );
    let config = ServeConfig::from_str(&text, "test.toml").unwrap();
    let loaded = load(&config).unwrap();
    Server::open(config, &loaded).unwrap()
}

fn alert_ids(dir: &Path, state: &str) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join(format!("{state}.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["alert_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_backlog_in_bounded_passes_gives_the_alerts_of_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("logs"));
    let flush = PassOptions {
        flush: true,
        threads: 2,
        ..PassOptions::default()
    };
    let whole = server(dir.path(), "whole", "").catch_up(&flush).unwrap();
    assert_eq!(whole.passes, 1);
    assert!(whole.caught_up);
    let want = alert_ids(dir.path(), "whole");
    assert!(want.len() >= 3, "{} alerts", want.len());

    let small = PassOptions {
        max_bytes: 64 << 10,
        ..flush.clone()
    };
    let mut s = server(dir.path(), "small", "");
    let first = s.pass(&small).unwrap();
    assert!(!first.caught_up, "64 KiB is not the whole backlog");
    assert!(first.committed, "a pass cut short is committed");
    assert_eq!(first.alerts, 0, "a pass cut short concludes nothing");
    drop(s);
    // A restart goes on from the pass that was committed.
    let rest = server(dir.path(), "small", "").catch_up(&small).unwrap();
    assert!(rest.passes > 2, "{} passes", rest.passes);
    assert!(rest.caught_up);
    assert_eq!(first.events + rest.events, whole.events);
    assert_eq!(alert_ids(dir.path(), "small"), want);
}

/// A quiet input's last windows close once it has been idle for `idle_timeout`: the
/// watermark moves on with the wall clock from the newest event.
#[test]
fn an_idle_input_moves_its_watermark_with_the_wall_clock() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("logs"));
    let opts = PassOptions {
        threads: 2,
        ..PassOptions::default()
    };
    let mut s = server(dir.path(), "idle", "idle_timeout = \"1s\"");
    let first = s.pass(&opts).unwrap();
    assert!(first.events > 0);
    // Nothing new: every file is settled, the watermark is the newest file's.
    let second = s.pass(&opts).unwrap();
    assert_eq!(second.events, 0);
    let settled = s.watermark().unwrap();
    let third = s.pass(&opts).unwrap();
    assert_eq!(third.events, 0);
    assert_eq!(s.watermark().unwrap(), settled, "not idle long enough");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.pass(&opts).unwrap();
    let moved = s.watermark().unwrap();
    assert!(
        moved >= settled + SignedDuration::from_millis(1100),
        "{settled} then {moved}"
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    s.pass(&opts).unwrap();
    assert!(s.watermark().unwrap() > moved, "it keeps moving");
}
