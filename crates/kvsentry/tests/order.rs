//! End-to-end: a hunt's answer does not depend on the order of records or files, on file
//! names, on records read more than once, on the form they were read in, on the thread
//! count or on the memory limit (sorting on disk).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kvsentry_gen::{Form, GenConfig, GroundTruth, Scenario};
use serde_json::Value;

const SEED_RULE: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const SP_RULE: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
const SLIDING_RULE: &str = "6f1d2e9a-0000-4000-8000-0000000000aa";

/// A sliding rule with suppression: its bursts, spans and suppressed repeats all depend on
/// which events it sees in which order, if anything does.
const SLIDING_YAML: &str = r#"
id: 6f1d2e9a-0000-4000-8000-0000000000aa
name: Reads in any two minutes
severity: low
version: "1"
kind: threshold
detection:
  filter:
    all:
      - { field: operation, in: [SecretGet, SecretList, KeyGet, KeyList, CertificateGet, CertificateList] }
  window: { type: sliding, size: 2m }
  group_by: [identity.principal]
  aggregates:
    reads: count
    objects: { count_distinct: object.id }
    ips: { values: caller.ip }
  condition: reads >= 5
  suppression: 10m
"#;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
}

fn config() -> GenConfig {
    GenConfig {
        seed: 11,
        events: 5_000,
        duration: jiff::SignedDuration::from_hours(3),
        scenarios: Scenario::standard_set(),
        ..GenConfig::default()
    }
}

fn generate(dir: &Path, form: &str) -> (PathBuf, Vec<GroundTruth>) {
    let form: Form = form.parse().unwrap();
    let path = dir.join(form.file_name());
    let f = std::fs::File::create(&path).unwrap();
    let summary = kvsentry_gen::write(form, &config(), std::io::BufWriter::new(f)).unwrap();
    (path, summary.ground_truth)
}

struct Hunt {
    /// Every alert as canonical JSON, evidence included but without its `file:line` (which
    /// names where a record was read, and so changes with the files).
    alerts: BTreeSet<String>,
    stderr: String,
}

fn hunt(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Hunt {
    let rules = dir.join("sliding.yml");
    std::fs::write(&rules, SLIDING_YAML).unwrap();
    let mut cmd = bin();
    cmd.arg("hunt")
        .args(args)
        .args(["--rules", rules.to_str().unwrap(), "-f", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        s.write_all(data).unwrap();
    }
    let out: Output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    let mut alerts = BTreeSet::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut a: Value = serde_json::from_str(line).unwrap();
        if let Some(ev) = a["evidence"].as_array_mut() {
            for e in ev {
                e.as_object_mut().unwrap().remove("source");
            }
        }
        alerts.insert(a.to_string());
    }
    Hunt { alerts, stderr }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) -> String {
    std::fs::write(path, lines.concat()).unwrap();
    path.to_str().unwrap().to_string()
}

fn gzip(path: &Path, lines: &[String]) -> String {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    enc.write_all(lines.concat().as_bytes()).unwrap();
    enc.finish().unwrap();
    path.to_str().unwrap().to_string()
}

/// A fixed permutation (no randomness crate: a small linear congruential generator).
fn shuffle<T>(v: &mut [T], mut state: u64) {
    for i in (1..v.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (state >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

fn rule_windows(h: &Hunt) -> BTreeSet<(String, String, String)> {
    h.alerts
        .iter()
        .map(|a| {
            let a: Value = serde_json::from_str(a).unwrap();
            (
                a["rule"]["id"].as_str().unwrap().to_string(),
                a["window"]["start"].as_str().unwrap().to_string(),
                a["group"].to_string(),
            )
        })
        .filter(|(r, _, _)| r == SEED_RULE || r == SP_RULE)
        .collect()
}

fn expected(truth: &[GroundTruth]) -> BTreeSet<(String, String, String)> {
    let mut want = BTreeSet::new();
    for t in truth.iter().filter(|t| t.expected_alert.tumbling) {
        for w in &t.expected_alert.tumbling_windows {
            let (rule, group) = match &t.identity.upn {
                Some(upn) => (SEED_RULE, serde_json::json!({ "identity": { "upn": upn } })),
                None => (
                    SP_RULE,
                    serde_json::json!({ "identity": {
                        "app_id": t.identity.app_id,
                        "object_id": t.identity.object_id,
                    }}),
                ),
            };
            want.insert((rule.to_string(), w.to_string(), group.to_string()));
        }
    }
    want
}

fn duplicates(h: &Hunt) -> u64 {
    h.stderr
        .lines()
        .find_map(|l| l.strip_suffix(" duplicate record(s) read more than once, counted once"))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn any_order_and_overlap_gives_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, truth) = generate(d, "storage");
    let all = lines(&path);
    let n = all.len();

    let ordered = hunt(d, &[path.to_str().unwrap()], None);
    assert_eq!(rule_windows(&ordered), expected(&truth));
    assert!(
        ordered.alerts.iter().any(|a| a.contains(SLIDING_RULE)),
        "the sliding rule never fired: the test would prove nothing for it"
    );
    assert!(!ordered.stderr.contains("sorted by time"));
    assert_eq!(duplicates(&ordered), 0);

    let mut rev = all.clone();
    rev.reverse();
    let mut shuf = all.clone();
    shuffle(&mut shuf, 5);
    let rev_p = write_lines(&d.join("rev.jsonl"), &rev);
    let shuf_p = write_lines(&d.join("shuf.jsonl"), &shuf);
    // Two "days" whose names sort against their times, given in reverse.
    let late = write_lines(&d.join("a-late.jsonl"), &all[n / 2..]);
    let early = write_lines(&d.join("b-early.jsonl"), &all[..n / 2]);
    // Two overlapping exports, one gzipped.
    let first = write_lines(&d.join("export1.jsonl"), &all[..2 * n / 3]);
    let second = gzip(&d.join("export2.jsonl.gz"), &all[n / 3..]);
    // The same file four times under other names.
    let copies: Vec<String> = (0..4)
        .map(|i| write_lines(&d.join(format!("copy{i}.jsonl")), &all))
        .collect();

    let cases: Vec<(&str, Vec<String>, u64)> = vec![
        ("reversed", vec![rev_p.clone()], 0),
        ("shuffled", vec![shuf_p.clone()], 0),
        ("days in reverse", vec![late.clone(), early.clone()], 0),
        ("days given reversed", vec![early, late], 0),
        ("overlapping exports", vec![second, first], 1),
        ("one file four times", copies, 3),
    ];
    for (name, files, copies_of_each) in cases {
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        let h = hunt(d, &args, None);
        assert_eq!(h.alerts, ordered.alerts, "{name}");
        if copies_of_each > 0 {
            assert!(duplicates(&h) > 0, "{name}: no duplicate counted");
        }
    }
    // Exact duplicate counts: every row of the four copies is repeated three times.
    let four = hunt(
        d,
        &[
            d.join("copy0.jsonl").to_str().unwrap(),
            d.join("copy1.jsonl").to_str().unwrap(),
        ],
        None,
    );
    let two = duplicates(&four);
    let copies: Vec<String> = (0..4)
        .map(|i| {
            d.join(format!("copy{i}.jsonl"))
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let args: Vec<&str> = copies.iter().map(String::as_str).collect();
    assert_eq!(duplicates(&hunt(d, &args, None)), 3 * two);

    // The same path named four times is one input, and the summary says so.
    let p = path.to_str().unwrap();
    let four_times = hunt(d, &[p, p, p, p], None);
    assert_eq!(four_times.alerts, ordered.alerts);
    assert!(
        four_times
            .stderr
            .contains("3 input file(s) named more than once, read once"),
        "{}",
        four_times.stderr
    );

    // Standard input (read once, so always sorted).
    let stdin = hunt(d, &["-"], Some(shuf.concat().as_bytes()));
    assert_eq!(stdin.alerts, ordered.alerts);
}

#[test]
fn sorting_on_disk_gives_the_same_alerts_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, _) = generate(d, "storage");
    let mut all = lines(&path);
    let ordered = hunt(d, &[path.to_str().unwrap()], None);
    shuffle(&mut all, 9);
    let shuf = write_lines(&d.join("shuf.jsonl"), &all);
    let tmp = tempfile::tempdir().unwrap();
    for threads in ["1", "2"] {
        let h = hunt(
            d,
            &[
                &shuf,
                path.to_str().unwrap(),
                "--memory-limit",
                "64KiB",
                "--temp-dir",
                tmp.path().to_str().unwrap(),
                "--threads",
                threads,
            ],
            None,
        );
        assert_eq!(h.alerts, ordered.alerts, "--threads {threads}");
        assert!(h.stderr.contains("spilled to disk"), "{}", h.stderr);
        assert!(duplicates(&h) > 0);
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
    // Ordered input denser than the limit allows streaming: sorted too, same answer.
    let dense = hunt(
        d,
        &[path.to_str().unwrap(), "--memory-limit", "64KiB"],
        None,
    );
    assert!(dense.stderr.contains("too dense"), "{}", dense.stderr);
    assert_eq!(dense.alerts, ordered.alerts);
}

#[test]
fn the_same_records_in_two_forms_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (storage, _) = generate(d, "storage");
    let (eventhub, _) = generate(d, "eventhub");
    let (diag, _) = generate(d, "azure-diagnostics-jsonl");
    let one = hunt(d, &[storage.to_str().unwrap()], None);
    let both = hunt(
        d,
        &[
            eventhub.to_str().unwrap(),
            storage.to_str().unwrap(),
            diag.to_str().unwrap(),
        ],
        None,
    );
    assert!(duplicates(&both) > 0, "{}", both.stderr);
    // Alert ids, windows, groups and counts are the same; field values of the form's own
    // spelling may differ (AzureDiagnostics lower-cases GUID columns), so compare ids.
    let ids = |h: &Hunt| -> BTreeSet<String> {
        h.alerts
            .iter()
            .map(|a| {
                let a: Value = serde_json::from_str(a).unwrap();
                format!(
                    "{} {} {}",
                    a["alert_id"], a["window"], a["fields"]["action_count"]
                )
            })
            .collect()
    };
    assert_eq!(ids(&both), ids(&one));
}

#[test]
fn memory_limit_is_checked() {
    let out = bin()
        .args(["hunt", "-", "--memory-limit", "lots"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'lots' is not a size"));
}

/// Every file below `dir`, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_storage_container_in_any_layout_gives_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let container = d.join("insights-logs-auditevent");
    let out = bin()
        .args([
            "gen",
            "--storage-layout",
            "--events",
            "6000",
            "--duration",
            "6h",
            "--seed",
            "4",
            "--scenario",
            "standard",
            "-o",
            container.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blobs: Vec<PathBuf> = files_below(&container)
        .into_iter()
        .filter(|p| p.ends_with("PT1H.json"))
        .collect();
    assert!(blobs.len() > 10, "{blobs:?}");

    // As the diagnostic setting lays it out: read hour by hour, streamed.
    let laid_out = hunt(d, &[container.to_str().unwrap()], None);
    assert!(!laid_out.alerts.is_empty());
    assert!(
        !laid_out.stderr.contains("sorted by time"),
        "{}",
        laid_out.stderr
    );

    // Flat names as download scripts write them: `<vault>-<YYYY-MM-DDTHH>-PT1H.json`, which
    // sort vault by vault.
    let flat = d.join("flat");
    std::fs::create_dir(&flat).unwrap();
    for b in &blobs {
        let parts: Vec<String> = b
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let at = |prefix: &str| {
            // The first `m=` is the month (the last is the minute).
            parts
                .iter()
                .find_map(|p| p.strip_prefix(prefix).map(str::to_string))
                .unwrap()
        };
        let vault = parts[parts.iter().position(|p| p == "VAULTS").unwrap() + 1].clone();
        let name = format!(
            "{vault}-{}-{}-{}T{}-PT1H.json",
            at("y="),
            at("m="),
            at("d="),
            at("h=")
        );
        std::fs::copy(b, flat.join(name)).unwrap();
    }
    let flat_hunt = hunt(d, &[flat.to_str().unwrap()], None);
    assert_eq!(flat_hunt.alerts, laid_out.alerts);

    // Everything in one shuffled export.
    let mut all: Vec<String> = blobs.iter().flat_map(|b| lines(b)).collect();
    shuffle(&mut all, 3);
    let one = write_lines(&d.join("export.json"), &all);
    assert_eq!(hunt(d, &[&one], None).alerts, laid_out.alerts);
}

/// The indicator rule keeps the latest event per (indicator, address), whatever the order
/// and however often a record is read.
#[test]
fn indicator_matches_do_not_depend_on_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let logs = d.join("logs.jsonl");
    let ti = d.join("ti.csv");
    let out = bin()
        .args([
            "gen",
            "--events",
            "6000",
            "--duration",
            "3h",
            "--seed",
            "8",
            "-o",
            logs.to_str().unwrap(),
            "--indicators",
            "1500",
            "--match-share",
            "0.05",
            "--indicators-output",
            ti.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = ti.to_str().unwrap();
    let all = lines(&logs);
    let ordered = hunt(d, &[logs.to_str().unwrap(), "--ti", t], None);
    let ti_alerts = ordered
        .alerts
        .iter()
        .filter(|a| a.contains("57c7e832-64eb-411f-8928-4133f01f4a25"))
        .count();
    assert!(
        ti_alerts > 3,
        "too few indicator alerts to prove anything: {ti_alerts}"
    );
    let mut shuf = all.clone();
    shuffle(&mut shuf, 21);
    let mut rev = all.clone();
    rev.reverse();
    let s = write_lines(&d.join("shuf.jsonl"), &shuf);
    let r = write_lines(&d.join("rev.jsonl"), &rev);
    assert_eq!(hunt(d, &[&s, "--ti", t], None).alerts, ordered.alerts);
    assert_eq!(hunt(d, &[&r, &s, "--ti", t], None).alerts, ordered.alerts);
    assert_eq!(
        hunt(d, &[&r, "--ti", t, "--as-of", "2025-06-30T04:00:00Z"], None).alerts,
        hunt(
            d,
            &[
                logs.to_str().unwrap(),
                "--ti",
                t,
                "--as-of",
                "2025-06-30T04:00:00Z"
            ],
            None
        )
        .alerts
    );
}
