//! End-to-end: `kvsentry serve` over a Storage container in Azurite (started by the test),
//! laid out as the diagnostic setting writes it, gives exactly `hunt`'s alerts over the same
//! records as files, also when the blobs grow in parts with a `--once` run after each, and
//! reads no record twice.

#[path = "support/serve.rs"]
mod support;
use support::{alert_id, bin, ok, same_alerts, same_alerts_over_parts};

#[path = "../../kvsentry-runtime/tests/azurite/mod.rs"]
mod azurite;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use azurite::{Azurite, CONTAINER};

/// Six hours of Storage-layout blobs (40 vaults, one per vault and hour) with every attack
/// scenario injected, under `<dir>/all/insights-logs-auditevent/`, and a Sentinel indicator
/// export some callers match.
fn generate(dir: &Path) -> (PathBuf, PathBuf) {
    support::generate(dir, 4000, 5, 300)
}

/// `hunt`'s alerts over the container's copy as files, run from its parent so that evidence
/// names `insights-logs-auditevent/<blob>` as serve's does.
fn hunt(all: &Path, ti: &Path) -> BTreeSet<String> {
    let out = ok(bin()
        .current_dir(all)
        .args(["hunt", CONTAINER, "--ti"])
        .arg(ti)
        .args(["-f", "jsonl", "-q"])
        .output()
        .unwrap());
    let lines: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 10, "hunt found {} alerts", lines.len());
    lines
}

/// Every blob's name (its path below the container's directory), in name order.
fn blobs(all: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    let root = all.join(CONTAINER);
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn hour(blob: &str) -> u32 {
    let i = blob.find("/h=").unwrap();
    blob[i + 3..i + 5].parse().unwrap()
}

/// How serve signs in: the connection string, or the account with a SAS and the endpoint.
enum Auth {
    ConnectionString,
    Sas,
}

/// A configuration reading the container, with the environment its secret is in.
fn write_config(dir: &Path, az: &Azurite, ti: &Path, auth: Auth) -> (PathBuf, (String, String)) {
    write_config_with(dir, az, ti, auth, "15m", "")
}

/// [`write_config`] with another lateness and more keys for the input.
fn write_config_with(
    dir: &Path,
    az: &Azurite,
    ti: &Path,
    auth: Auth,
    lateness: &str,
    more: &str,
) -> (PathBuf, (String, String)) {
    let config = dir.join("kvsentry.toml");
    let (input, env) = match auth {
        Auth::ConnectionString => (
            "connection_string_env = \"KV_STORAGE_CONN\"\n".to_string(),
            ("KV_STORAGE_CONN".to_string(), az.connection_string()),
        ),
        Auth::Sas => (
            format!(
                "account = \"{}\"\nsas_env = \"KV_STORAGE_SAS\"\nendpoint = \"{}\"\n",
                azurite::ACCOUNT,
                az.endpoint()
            ),
            ("KV_STORAGE_SAS".to_string(), az.container_sas(CONTAINER)),
        ),
    };
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             allowed_lateness = \"{lateness}\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             [[input]]\n\
             name = \"storage\"\n\
             type = \"azure_blob\"\n\
             container = \"{CONTAINER}\"\n\
             {input}\
             {more}\
             [[output]]\n\
             type = \"file\"\n\
             path = \"out/alerts.jsonl\"\n",
            ti = ti.to_str().unwrap(),
        ),
    )
    .unwrap();
    (config, env)
}

/// One `--once` run; the number of events it read (from its report on stderr).
fn serve(config: &Path, env: &(String, String), flush: bool) -> u64 {
    let mut cmd = bin();
    cmd.current_dir(config.parent().unwrap())
        .args(["serve", "--config"])
        .arg(config)
        .arg("--once")
        .env(&env.0, &env.1);
    if flush {
        cmd.arg("--flush");
    }
    let out = ok(cmd.output().unwrap());
    let report = String::from_utf8(out.stderr).unwrap();
    assert!(!report.contains("late"), "{report}");
    assert!(
        !report.contains("warning") && !report.contains("WARN"),
        "{report}"
    );
    assert!(!report.contains(&env.1), "a secret in the report: {report}");
    let read = report
        .lines()
        .find_map(|l| l.split_once("serve: ")?.1.split_once(" event(s) read"))
        .unwrap_or_else(|| panic!("no count of events read: {report}"));
    read.0.parse().unwrap()
}

/// The output file's lines.
fn delivered(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out/alerts.jsonl")).unwrap_or_default();
    text.lines().map(String::from).collect()
}

fn records_in(all: &Path) -> u64 {
    blobs(all)
        .iter()
        .map(|b| {
            let text = std::fs::read(all.join(CONTAINER).join(b)).unwrap();
            text.iter().filter(|&&c| c == b'\n').count() as u64
        })
        .sum()
}

#[test]
fn once_flush_over_a_container_writes_exactly_hunts_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let want = hunt(&all, &ti);
    let az = Azurite::start();
    az.create_container(CONTAINER);
    for b in blobs(&all) {
        az.write(
            &b,
            &std::fs::read(all.join(CONTAINER).join(&b)).unwrap(),
            true,
        );
    }
    let (config, env) = write_config(dir.path(), &az, &ti, Auth::ConnectionString);
    assert_eq!(serve(&config, &env, true), records_in(&all));
    let got = delivered(dir.path());
    same_alerts(&got, &want);
    // Nothing new: nothing read, nothing repeated.
    assert_eq!(serve(&config, &env, false), 0);
    assert_eq!(serve(&config, &env, true), 0);
    assert_eq!(delivered(dir.path()), got);
}

#[test]
fn blobs_growing_in_parts_give_hunts_alerts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let az = Azurite::start();
    az.create_container(CONTAINER);
    let (config, env) = write_config(dir.path(), &az, &ti, Auth::Sas);
    let names = blobs(&all);
    let data = |b: &str| std::fs::read(all.join(CONTAINER).join(b)).unwrap();
    // Every blob grows in two appends within its hour; the last hour's blob of the first
    // vault is cut mid-record between two runs.
    let split = names.iter().find(|b| hour(b) == 5).unwrap().clone();
    let whole = data(&split);
    let cut = whole.len() / 2;
    assert_ne!(whole[cut - 1], b'\n');
    let mut read = 0;

    // Part 1: hours 0-1, each blob in two appends.
    for b in names.iter().filter(|b| hour(b) <= 1) {
        let bytes = data(b);
        let mid = bytes.len() / 3;
        az.write(b, &bytes[..mid], true);
        az.append(CONTAINER, b, &bytes[mid..]);
    }
    read += serve(&config, &env, false);
    let first = delivered(dir.path());
    // Part 2: hours 2-4 and the first half of one blob of hour 5.
    for b in names.iter().filter(|b| (2..=4).contains(&hour(b))) {
        az.write(b, &data(b), true);
    }
    az.write(&split, &whole[..cut], true);
    read += serve(&config, &env, false);
    let second = delivered(dir.path());
    assert!(
        second.len() > first.len(),
        "windows the watermark passed are delivered before the end ({} then {})",
        first.len(),
        second.len()
    );
    // Part 3: the rest of hour 5, the half record completed.
    for b in names.iter().filter(|b| hour(b) == 5 && **b != split) {
        az.write(b, &data(b), true);
    }
    az.append(CONTAINER, &split, &whole[cut..]);
    read += serve(&config, &env, false);
    read += serve(&config, &env, true);
    // Every record read once: only new bytes were fetched.
    assert_eq!(read, records_in(&all));
    let got = delivered(dir.path());
    same_alerts_over_parts(&got, &hunt(&all, &ti));
    assert_eq!(got[..second.len()], second[..], "delivered in order");
    assert_eq!(serve(&config, &env, false), 0);
    assert_eq!(delivered(dir.path()), got);
}

/// Without `--once`, serve lists the container every `poll_interval` and reads the blobs as
/// they come (indicator matches are delivered at once); SIGTERM ends it with exit 0; a
/// final run closes what it left open.
#[cfg(unix)]
#[test]
fn serve_reads_blobs_as_they_come_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let az = Azurite::start();
    az.create_container(CONTAINER);
    let (config, env) = write_config_with(
        dir.path(),
        &az,
        &ti,
        Auth::ConnectionString,
        // Blobs are uploaded vault after vault, each with all its hours (unlike Azure, where
        // every vault's blob of the hour grows at once): no event may count as late.
        "7h",
        "poll_interval = \"1s\"\n",
    );
    let child = bin()
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&config)
        .env(&env.0, &env.1)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while !dir.path().join("state/state.redb").exists() {
        assert!(waited.elapsed().as_secs() < 30, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for b in blobs(&all) {
        az.write(
            &b,
            &std::fs::read(all.join(CONTAINER).join(&b)).unwrap(),
            true,
        );
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
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report = String::from_utf8(out.stderr).unwrap();
    assert!(!report.contains(&env.1), "a secret in the report: {report}");
    serve(&config, &env, true);
    // Vaults arrived one after the other, not in time order: an indicator alert carries the
    // first match read, which may not be the earliest; its id is hunt's all the same.
    let got = delivered(dir.path());
    let want = hunt(&all, &ti);
    let is_ti = |l: &String| l.contains("\"indicator_id\"");
    let windows = |v: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
        v.filter(|l| !is_ti(l)).cloned().collect()
    };
    same_alerts(
        &windows(&mut got.iter()).into_iter().collect::<Vec<_>>(),
        &windows(&mut want.iter()),
    );
    let ids = |v: &mut dyn Iterator<Item = &String>| -> Vec<String> {
        let mut ids: Vec<String> = v.filter(|l| is_ti(l)).map(|l| alert_id(l)).collect();
        ids.sort();
        ids
    };
    let ti_ids = ids(&mut want.iter());
    assert!(!ti_ids.is_empty());
    assert_eq!(ids(&mut got.iter()), ti_ids, "each indicator alert once");
}
