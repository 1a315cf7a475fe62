//! End-to-end: `kvsentry serve` over a followed directory gives exactly `hunt`'s alerts,
//! also when the data arrives in parts with a `--once` run after each, and never repeats one.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/serve.rs"]
mod support;
use support::{
    accepted_headers, bin, files, hour, ok, run, same_alerts, same_alerts_over_parts,
    webhook_receiver,
};

/// Six hours of Storage-layout blobs (40 vaults, one file per vault and hour) with every
/// attack scenario injected, and a Sentinel indicator export some callers match.
fn generate(dir: &Path) -> (PathBuf, PathBuf) {
    support::generate(dir, 4000, 5, 300)
}

/// `hunt`'s alerts over `logs`, as JSON lines.
fn hunt(logs: &Path, ti: &Path) -> BTreeSet<String> {
    let out = ok(run(&[
        "hunt",
        logs.to_str().unwrap(),
        "--ti",
        ti.to_str().unwrap(),
        "-f",
        "jsonl",
        "-q",
    ]));
    let lines: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 10, "hunt found {} alerts", lines.len());
    lines
}

fn write_config(dir: &Path, logs: &Path, ti: &Path) -> PathBuf {
    let config = dir.join("kvsentry.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             allowed_lateness = \"15m\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             [[input]]\n\
             name = \"logs\"\n\
             type = \"files\"\n\
             path = {logs:?}\n\
             [[output]]\n\
             type = \"file\"\n\
             path = \"out/alerts.jsonl\"\n",
            ti = ti.to_str().unwrap(),
            logs = logs.to_str().unwrap(),
        ),
    )
    .unwrap();
    config
}

/// One `--once` run; its report on stderr.
fn serve_report(config: &Path, flush: bool) -> String {
    let mut args = vec!["serve", "--config", config.to_str().unwrap(), "--once"];
    if flush {
        args.push("--flush");
    }
    String::from_utf8(ok(run(&args)).stderr).unwrap()
}

/// One `--once` run over data that arrives in order within each file: no event is late,
/// although each vault's files are read one after the other.
fn serve(config: &Path, flush: bool) {
    let report = serve_report(config, flush);
    assert!(!report.contains("late"), "{report}");
}

/// The output file's lines, each required to be a distinct alert.
fn delivered(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out/alerts.jsonl")).unwrap_or_default();
    text.lines().map(String::from).collect()
}

fn alert_ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["alert_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn once_flush_over_a_directory_writes_exactly_hunts_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, ti) = generate(dir.path());
    let want = hunt(&logs, &ti);
    let config = write_config(dir.path(), &logs, &ti);
    serve(&config, true);
    let got = delivered(dir.path());
    let ids = alert_ids(&got);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    same_alerts(&got, &want);
    // Nothing new: nothing repeated, the file untouched.
    let before = std::fs::read(dir.path().join("out/alerts.jsonl")).unwrap();
    serve(&config, false);
    serve(&config, true);
    assert_eq!(
        std::fs::read(dir.path().join("out/alerts.jsonl")).unwrap(),
        before
    );
    // Alerts queued again that the file already holds (as after a crash between writing
    // them and recording them delivered) are reconciled, not written twice.
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    serve(&config, true);
    assert_eq!(
        std::fs::read(dir.path().join("out/alerts.jsonl")).unwrap(),
        before
    );
}

#[test]
fn data_in_three_parts_gives_hunts_alerts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = write_config(dir.path(), &logs, &ti);
    let copy = |rel: &Path| {
        let to = logs.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(all.join(rel), to).unwrap();
    };
    let rels = files(&all);
    // The last hour's file of the first vault arrives in two halves, cut mid-record.
    let split = rels.iter().find(|r| hour(r) == 5).unwrap().clone();
    let bytes = std::fs::read(all.join(&split)).unwrap();
    let cut = bytes.len() / 2;
    assert_ne!(bytes[cut - 1], b'\n');

    // Part 1: hours 0-1. Part 2: hours 2-4 and the first half. Part 3: the rest.
    for r in rels.iter().filter(|r| hour(r) <= 1) {
        copy(r);
    }
    serve(&config, false);
    let first = delivered(dir.path());
    for r in rels.iter().filter(|r| (2..=4).contains(&hour(r))) {
        copy(r);
    }
    let half = logs.join(&split);
    std::fs::create_dir_all(half.parent().unwrap()).unwrap();
    std::fs::write(&half, &bytes[..cut]).unwrap();
    serve(&config, false);
    let second = delivered(dir.path());
    assert!(
        second.len() > first.len(),
        "windows the watermark passed are delivered before the end ({} then {})",
        first.len(),
        second.len()
    );
    for r in rels.iter().filter(|r| hour(r) == 5 && **r != split) {
        copy(r);
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(&half)
        .unwrap()
        .write_all(&bytes[cut..])
        .unwrap();
    serve(&config, false);
    serve(&config, true);
    // hunt over the same files, complete (evidence names the files read).
    let want = hunt(&logs, &ti);
    let got = delivered(dir.path());
    let ids = alert_ids(&got);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "an alert delivered twice"
    );
    same_alerts_over_parts(&got, &want);
    // Delivered in order: the earlier runs' lines are the file's first lines.
    assert_eq!(got[..second.len()], second[..]);

    // A run with no new data adds nothing.
    serve(&config, false);
    assert_eq!(delivered(dir.path()), got);
}

/// A `--flush` run in the middle does not end the state: data arriving after it is not
/// late, and in the end every alert hunt finds over all the data has been delivered, each id
/// once.
#[test]
fn a_flush_before_more_data_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = write_config(dir.path(), &logs, &ti);
    let rels = files(&all);
    let copy = |rel: &Path| {
        let to = logs.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(all.join(rel), to).unwrap();
    };
    for r in rels.iter().filter(|r| hour(r) <= 2) {
        copy(r);
    }
    serve(&config, true);
    for r in rels.iter().filter(|r| hour(r) > 2) {
        copy(r);
    }
    // `serve` asserts that no event was late.
    serve(&config, false);
    serve(&config, true);
    let got = delivered(dir.path());
    let ids = alert_ids(&got);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an alert delivered twice");
    let want = alert_ids(&hunt(&logs, &ti).into_iter().collect::<Vec<_>>());
    for id in &want {
        assert!(unique.contains(id), "hunt's alert {id} was not delivered");
    }
}

/// Lateness is judged per file, against what earlier runs read: an event more than
/// `allowed_lateness` behind its own file's newest event of before is late — left out,
/// counted and written to the dead-letter file as a record `hunt` reads — while disorder
/// within one run loses nothing, and another file with older events is not late (its own
/// watermark is behind).
#[test]
fn events_late_within_their_own_file_are_counted_and_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let first = all.join(&files(&all)[0]);
    let text = std::fs::read_to_string(first).unwrap();
    let template = text.lines().next().unwrap();
    let start = template.find("\"time\":\"").unwrap() + 8;
    let end = start + template[start..].find('"').unwrap();
    let record = |t: &str| {
        format!(
            "{}2025-06-30T00:{t}:00.0000000Z{}\n",
            &template[..start],
            &template[end..]
        )
    };
    let logs = dir.path().join("logs");
    for (name, minutes) in [
        // Out of order within one run: nothing is late.
        ("a", &["00", "05", "40", "10", "20", "30"][..]),
        ("b", &["01", "02", "03"][..]),
    ] {
        std::fs::create_dir_all(logs.join(name)).unwrap();
        let body: String = minutes.iter().map(|m| record(m)).collect();
        std::fs::write(logs.join(name).join("PT1H.json"), body).unwrap();
    }
    let config = write_config(dir.path(), &logs, &ti);
    let report = serve_report(&config, false);
    assert!(report.contains("serve: 9 event(s) read"), "{report}");
    assert!(!report.contains("late"), "{report}");
    // Each file's newest event time is part of the checkpoint: lines appended later are
    // judged against their file's 00:40 (the combined watermark, held back by `b`, is not):
    // 00:24 is late, 00:26 is not.
    std::fs::OpenOptions::new()
        .append(true)
        .open(logs.join("a").join("PT1H.json"))
        .unwrap()
        .write_all(format!("{}{}", record("24"), record("26")).as_bytes())
        .unwrap();
    let report = serve_report(&config, false);
    assert!(report.contains("serve: 2 event(s) read"), "{report}");
    assert!(report.contains("serve: 1 late event(s)"), "{report}");
    let dead = dir.path().join("state/dead-letter/late-events.jsonl");
    let text = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("PT1H.json:7"), "where it was read: {text}");
    // The dead letter reads back as the event it was.
    let out = ok(run(&["events", dead.to_str().unwrap()]));
    let events = String::from_utf8(out.stdout).unwrap();
    assert_eq!(events.lines().count(), 1, "{events}");
    let got: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    let want_out = ok(run(&["events", logs.join("a/PT1H.json").to_str().unwrap()]));
    let want_text = String::from_utf8(want_out.stdout).unwrap();
    let want: serde_json::Value = serde_json::from_str(want_text.lines().nth(6).unwrap()).unwrap();
    for f in [
        "time",
        "category",
        "operation",
        "operation_version",
        "caller",
        "identity",
        "vault",
        "correlation_id",
        "http",
        "result",
        "client_info",
        "request_uri",
        "duration_ms",
        "tls_version",
    ] {
        assert!(!want[f].is_null(), "{f} is in the record");
        assert_eq!(got[f], want[f], "{f}");
    }
}

#[test]
fn check_config_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "state_dir = \"state\"\n[[input]]\ntype = \"files\"\npath = \"logs\"\n[[output]]\ntype = \"stdout\"\n",
    )
    .unwrap();
    let out = ok(run(&[
        "serve",
        "--config",
        good.to_str().unwrap(),
        "--check-config",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("good.toml: OK"), "{text}");
    assert!(text.contains("input files-1: files"), "{text}");
    // --check-config opens no state.
    assert!(!dir.path().join("state").exists());

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "state_dir = \"state\"\n[[input]]\ntype = \"files\"\npth = \"logs\"\n[[output]]\ntype = \"stdout\"\n",
    )
    .unwrap();
    let out = run(&["serve", "--config", bad.to_str().unwrap(), "--check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("bad.toml:4:1: `input[0].pth`: unknown key"),
        "{err}"
    );
}

/// An option serve does not run yet is refused at start by name, exit 2.
#[test]
fn options_serve_cannot_run_yet_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    let config = dir.path().join("flat.toml");
    std::fs::write(
        &config,
        "state_dir = \"state\"\n[[input]]\nname = \"flat\"\ntype = \"files\"\npath = \"logs\"\nrecursive = false\n[[output]]\ntype = \"stdout\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--config", config.to_str().unwrap(), "--once"])
        .output()
        .expect("run kvsentry");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "input flat: recursive = false and glob is not supported by serve in this version"
        ),
        "{err}"
    );
}

/// Without `--once`, serve keeps following the directory; a second serve on the same state
/// is refused while it runs; SIGTERM ends it after its pass, with exit 0.
#[cfg(unix)]
#[test]
fn serve_follows_until_sigterm_and_holds_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = write_config(dir.path(), &logs, &ti);
    let config = config.to_str().unwrap();
    let mut child = bin()
        .args(["serve", "--config", config])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = dir.path().join("state");
    let waited = std::time::Instant::now();
    while !state.join("state.redb").exists() {
        assert!(waited.elapsed().as_secs() < 30, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let second = run(&["serve", "--config", config, "--once"]);
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8(second.stderr).unwrap();
    assert!(err.contains("state.redb"), "{err}");

    // Data arriving while it runs is read on a later pass.
    for r in files(&all) {
        let to = logs.join(&r);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(all.join(&r), to).unwrap();
    }
    let waited = std::time::Instant::now();
    while delivered(dir.path()).is_empty() {
        assert!(waited.elapsed().as_secs() < 60, "serve delivered nothing");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));

    // What it left open closes on a final run: hunt's alerts, each once.
    serve(Path::new(config), true);
    let got = delivered(dir.path());
    let ids = alert_ids(&got);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    same_alerts(&got, &hunt(&logs, &ti));
}

/// A webhook that fails keeps its alerts pending in the state; the next run delivers them,
/// each with its id as the `Idempotency-Key`.
#[test]
fn webhook_alerts_wait_for_a_receiver_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, ti) = generate(dir.path());
    let (url, requests) = webhook_receiver(1);
    let config = dir.path().join("hook.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             allowed_lateness = \"1h\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             [[input]]\n\
             type = \"files\"\n\
             path = {logs:?}\n\
             [[output]]\n\
             type = \"webhook\"\n\
             url = {url:?}\n\
             max_retries = 0\n",
            ti = ti.to_str().unwrap(),
            logs = logs.to_str().unwrap(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = ok(run(&["serve", "--config", config, "--once", "--flush"]));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("alerts wait for the next pass"), "{err}");
    assert!(accepted_headers(&requests, "idempotency-key").is_empty());
    ok(run(&["serve", "--config", config, "--once"]));
    let got = accepted_headers(&requests, "idempotency-key");
    let want: Vec<String> = {
        let lines: Vec<String> = hunt(&logs, &ti).into_iter().collect();
        let mut ids = alert_ids(&lines);
        ids.sort();
        ids
    };
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, want, "each alert once, by id");
}

/// Intel that grows between runs: indicators new to the second run are matched against
/// the caller addresses the first run saw (retro-matching), their alerts marked so, with
/// hunt's ids; in the end every indicator alert hunt finds was delivered once.
#[test]
fn new_intel_is_matched_against_addresses_seen_before() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, full_ti) = generate(dir.path());
    let want = hunt(&logs, &full_ti);
    let ti_ids = |lines: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
        lines
            .filter_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["fields"].get("indicator_id")?;
                Some(v["alert_id"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let want_ti = ti_ids(&mut want.iter());
    assert!(want_ti.len() >= 2, "the data has indicator matches");
    // First run: one indicator only.
    let text = std::fs::read_to_string(&full_ti).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let ti = dir.path().join("intel.csv");
    std::fs::write(&ti, format!("{header}\n{}\n", lines.next().unwrap())).unwrap();
    let config = write_config(dir.path(), &logs, &ti);
    serve(&config, false);
    let first = delivered(dir.path());
    assert!(
        first.iter().all(|l| !l.contains("\"retro\":true")),
        "nothing is retro in a first run"
    );
    // Second run: the whole feed; no new logs.
    std::fs::copy(&full_ti, &ti).unwrap();
    let report = serve_report(&config, false);
    let second = delivered(dir.path());
    let retro: Vec<&String> = second[first.len()..]
        .iter()
        .filter(|l| l.contains("\"retro\":true"))
        .collect();
    assert!(!retro.is_empty(), "retro alerts expected: {report}");
    let retro_ids = ti_ids(&mut retro.into_iter());
    assert!(
        retro_ids.is_subset(&want_ti),
        "retro alerts have hunt's ids"
    );
    serve(&config, true);
    let all = delivered(dir.path());
    let ids = alert_ids(&all);
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "an alert delivered twice"
    );
    assert_eq!(ti_ids(&mut all.iter()), want_ti);
}

/// The same records read twice — a file copied within the followed directory, and the
/// whole directory given as a second input — count once: the alerts are hunt's over the
/// data once, each delivered once.
#[test]
fn records_read_twice_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, ti) = generate(dir.path());
    let want = hunt(&logs, &ti);
    let rels = files(&logs);
    let copy = logs.join("copy-of-first.json");
    std::fs::copy(logs.join(&rels[0]), &copy).unwrap();
    let config = write_config(dir.path(), &logs, &ti);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[[input]]\nname = \"again\"\ntype = \"files\"\npath = {:?}\n",
        logs.to_str().unwrap()
    ));
    std::fs::write(&config, text).unwrap();
    let report = serve_report(&config, true);
    let got = delivered(dir.path());
    let ids = alert_ids(&got);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    // hunt over the directory as it is now (with the copy) finds the same: it reads each
    // record once too; its evidence may name either copy.
    let ids_of = |lines: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
        alert_ids(&lines.cloned().collect::<Vec<_>>())
            .into_iter()
            .collect()
    };
    assert_eq!(
        ids_of(&mut got.iter()),
        ids_of(&mut want.iter()),
        "{report}"
    );
}
