//! What the binary says to a user: no Rust debug output, no internal names, no cause said
//! twice, and every hint naming something that exists.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run kvsentry")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kvsentry-msg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn a_missing_file_says_its_cause_once() {
    let o = run(&["ti", "stats", "no-such-indicators.csv"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("no-such-indicators.csv"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

#[test]
fn a_bad_severity_lists_the_allowed_values_in_plain_words() {
    let d = temp_dir("severity");
    let f = d.join("r.yml");
    std::fs::write(
        &f,
        "id: r1\nname: x\nseverity: hihg\nkind: threshold\ndetection:\n  filter: { field: operation, equals: SecretGet }\n  window: { type: sliding, size: 5m }\n  group_by: [identity.upn]\n  aggregates: { n: count }\n  condition: \"n >= 5\"\n",
    )
    .expect("write rule");
    let o = run(&["rules", "validate", f.to_str().expect("utf-8 path")]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("severity: 'hihg' is not one of"), "{e}");
    assert!(e.contains("low, medium, high, critical"), "{e}");
    assert!(!e.contains("unknown variant") && !e.contains('`'), "{e}");
}

#[test]
fn rules_list_names_kinds_as_rule_files_do() {
    let o = run(&["rules", "list"]);
    let out = stdout(&o);
    assert!(out.contains("indicator_match"), "{out}");
    assert!(!out.contains("indicatormatch"), "{out}");
}

#[test]
fn the_ti_rule_summary_counts_checked_and_matched_events() {
    let o = run(&[
        "hunt",
        "examples/logs",
        "-f",
        "jsonl",
        "-o",
        "/dev/null",
        "--no-progress",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    let line = e
        .lines()
        .find(|l| l.contains("57c7e832-64eb-411f-8928-4133f01f4a25"))
        .expect("TI rule line");
    assert!(
        line.contains("event(s) checked, 0 matched an indicator"),
        "{line}"
    );
    assert!(e.contains("threat intel: none loaded"), "{e}");
    assert!(
        !e.contains("none mode") && !e.contains("mode would be"),
        "{e}"
    );

    let o = run(&[
        "hunt",
        "examples/logs",
        "-f",
        "jsonl",
        "-o",
        "/dev/null",
        "--no-progress",
        "--ti",
        "examples/ti/sentinel-indicators.csv",
    ]);
    let e = stderr(&o);
    assert!(
        e.contains("threat intel: retro mode, 233 indicator(s)"),
        "{e}"
    );
    assert!(!e.contains("matching event(s), peak 0"), "{e}");
}
