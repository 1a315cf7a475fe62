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

#[test]
fn the_fields_command_prints_the_dictionary_the_hint_names() {
    let o = run(&["fields"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.starts_with("FIELD"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("caller.ip") && l.contains(" ip ")),
        "{out}"
    );
    assert!(out.contains("identity.upn"), "{out}");
}

#[test]
fn ti_commands_take_sentinel_compat_and_keep_compat() {
    for flag in ["--sentinel-compat", "--compat"] {
        let o = run(&["ti", "stats", "examples/ti/sentinel-indicators.csv", flag]);
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", stderr(&o));
    }
    let o = run(&["ti", "stats", "--help"]);
    let out = stdout(&o);
    assert!(out.contains("--sentinel-compat"), "{out}");
    assert!(!out.contains("--compat "), "{out}");
}

#[test]
fn a_named_ip_column_that_is_missing_is_not_told_to_name_it() {
    let d = temp_dir("ipcol");
    let f = d.join("iocs.csv");
    std::fs::write(&f, "address,comment\n203.0.113.9,x\n").expect("write csv");
    let p = f.to_str().expect("utf-8 path");
    let o = run(&[
        "ti",
        "stats",
        p,
        "--ti-format",
        "csv",
        "--ti-ip-column",
        "ipv4",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("no column `ipv4` (given with --ti-ip-column)"),
        "{e}"
    );
    assert!(!e.contains("name it with"), "{e}");
}

#[test]
fn strict_help_says_what_it_counts() {
    let o = run(&["hunt", "--help"]);
    let out = stdout(&o);
    assert!(out.contains("damaged"), "{out}");
    assert!(out.contains("do not count"), "{out}");
}

#[test]
fn an_unknown_ti_format_names_the_flag_that_forces_one() {
    let d = temp_dir("tiformat");
    let f = d.join("odd.json");
    std::fs::write(&f, "{\"a\":1}\n").expect("write json");
    let o = run(&["ti", "stats", f.to_str().expect("utf-8 path")]);
    let e = stderr(&o);
    assert!(e.contains("name it with --ti-format"), "{e}");
}

const RULE: &str = "id: r1
name: one
severity: high
kind: threshold
detection:
  filter: { field: operation, equals: SecretGet }
  window: { type: sliding, size: 5m }
  group_by: [identity.upn]
  aggregates: { n: count }
  condition: \"n >= 5\"
";

#[test]
fn validate_reports_every_error_of_a_file() {
    let d = temp_dir("validate-all");
    let f = d.join("a.yml");
    let first = RULE.replace(
        "severity: high",
        "severity: high\nauthr: me\nrefrences: [x]",
    );
    let second = RULE
        .replace("id: r1", "id: r2")
        .replace("severity: high", "severity: hihg");
    std::fs::write(&f, format!("{first}---\n{second}")).expect("write rules");
    let o = run(&["rules", "validate", f.to_str().expect("utf-8 path")]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("a.yml:4:1: unknown field `authr`"), "{e}");
    assert!(e.contains("a.yml:5:1: unknown field `refrences`"), "{e}");
    assert!(e.contains("a.yml:16:11: severity: 'hihg'"), "{e}");
}

#[test]
fn one_id_in_two_user_files_names_both_and_overrides_are_said_once() {
    let d = temp_dir("dup-ids");
    let (a, b) = (d.join("a.yml"), d.join("b.yml"));
    std::fs::write(&a, RULE).expect("write a");
    std::fs::write(&b, RULE).expect("write b");
    let (pa, pb) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    for args in [
        vec!["rules", "list", "--rules", pa, "--rules", pb],
        vec!["rules", "validate", pa, pb],
    ] {
        let o = run(&args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(
            e.contains(&format!(
                "{pb}:1: duplicate rule id `r1` (first defined at {pa}:1)"
            )),
            "{e}"
        );
        // Neither file is said to be fine.
        assert!(!stdout(&o).contains("OK"), "{}", stdout(&o));
    }

    let seed = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
    std::fs::write(&a, RULE.replace("id: r1", &format!("id: {seed}"))).expect("write a");
    let o = run(&["rules", "list", "--rules", pa]);
    let (e, out) = (stderr(&o), stdout(&o));
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert_eq!(e.matches("replaces the built-in rule").count(), 1, "{e}");
    assert!(e.contains(seed) && e.contains(pa), "{e}");
    let seed_line = out.lines().find(|l| l.starts_with(seed)).expect("seed row");
    assert!(seed_line.contains(&format!("{pa}:1")), "{seed_line}");
    assert!(
        out.lines().next().is_some_and(|h| h.contains("SOURCE")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("57c7e832") && l.contains("built-in")),
        "{out}"
    );
}

#[test]
fn rules_are_found_by_unique_prefix_or_name() {
    let o = run(&["rules", "show", "c07f7898"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("id: c07f7898-5dc3-11f0-9f27-f661ea17fbcd"));
    let o = run(&["rules", "show", "ti map ip entity to azure key vault logs"]);
    assert!(stdout(&o).starts_with("id: 57c7e832-64eb-411f-8928-4133f01f4a25"));

    let d = temp_dir("prefix");
    let f = d.join("r.yml");
    let two = format!(
        "{}---\n{}",
        RULE.replace("id: r1", "id: ab1"),
        RULE.replace("id: r1", "id: ab2")
            .replace("name: one", "name: two")
    );
    std::fs::write(&f, two).expect("write rules");
    let p = f.to_str().expect("utf-8 path");
    let o = run(&["rules", "show", "ab", "--rules", p]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("'ab' could be any of these rules"), "{e}");
    assert!(e.contains("ab1 (one)") && e.contains("ab2 (two)"), "{e}");

    let o = run(&["rules", "show", "zz"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("no rule matches 'zz'"), "{e}");
    assert!(e.contains("c07f7898-5dc3-11f0-9f27-f661ea17fbcd"), "{e}");

    let o = run(&[
        "hunt",
        "examples/logs",
        "-f",
        "jsonl",
        "-o",
        "/dev/null",
        "-q",
        "--explain",
        "c07f7898",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("── explain c07f7898-5dc3-11f0-9f27-f661ea17fbcd ──"),
        "{e}"
    );
    let o = run(&[
        "hunt",
        "examples/logs",
        "-o",
        "/dev/null",
        "--explain",
        "nope",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--explain: no rule matches 'nope'"));
}

#[test]
fn time_flags_take_ages_and_refuse_an_empty_range() {
    let o = run(&[
        "hunt",
        "examples/logs",
        "-f",
        "jsonl",
        "-o",
        "/dev/null",
        "--since",
        "7d",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    // The example logs are older than a week: every event is outside the range.
    assert!(e.contains("outside --since/--until"), "{e}");

    let o = run(&[
        "hunt",
        "examples/logs",
        "-o",
        "/dev/null",
        "--since",
        "2025-07-02",
        "--until",
        "2025-07-01",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(
        e.contains("--since (2025-07-02T00:00:00Z) is not before --until"),
        "{e}"
    );

    let o = run(&["hunt", "examples/logs", "--since", "soon"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("an age such as 1h or 7d"), "{e}");
}

#[test]
fn gen_ti_truth_needs_indicators() {
    let d = temp_dir("ti-truth");
    let t = d.join("truth.json");
    let o = run(&[
        "gen",
        "--events",
        "10",
        "-o",
        "/dev/null",
        "--ti-truth",
        t.to_str().expect("utf-8"),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--indicators"), "{e}");
}

#[test]
fn readme_ti_sync_takes_the_password_from_the_environment() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let sync = readme
        .lines()
        .find(|l| l.contains("kvsentry ti sync"))
        .expect("ti sync example");
    assert!(!sync.contains("--password"), "{sync}");
    assert!(sync.contains("KVSENTRY_TAXII_PASSWORD="), "{sync}");
    let o = run(&["ti", "sync", "--help"]);
    assert!(stdout(&o).contains("KVSENTRY_TAXII_PASSWORD"));
}

#[test]
fn every_command_help_has_examples_and_grouped_options() {
    let commands: [&[&str]; 13] = [
        &["hunt"],
        &["events"],
        &["rules"],
        &["rules", "list"],
        &["rules", "show"],
        &["rules", "validate"],
        &["gen"],
        &["ti"],
        &["ti", "stats"],
        &["ti", "list"],
        &["ti", "check"],
        &["ti", "sync"],
        &["fields"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let o = run(&args);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{c:?}");
        let examples = out.split("Examples:\n").nth(1).unwrap_or("");
        let n = examples
            .lines()
            .filter(|l| l.trim_start().starts_with("kvsentry ") || l.contains(" kvsentry "))
            .count();
        assert!((2..=3).contains(&n), "{c:?}: {n} examples\n{out}");
    }
    let out = stdout(&run(&["hunt", "--help"]));
    for heading in [
        "Input:",
        "Rules:",
        "Threat intel:",
        "Time:",
        "Output:",
        "Behaviour:",
    ] {
        assert!(out.lines().any(|l| l == heading), "{heading}\n{out}");
    }
    let out = stdout(&run(&["gen", "--help"]));
    for heading in ["Threat intel:", "Time:", "Output:", "Behaviour:"] {
        assert!(out.lines().any(|l| l == heading), "{heading}\n{out}");
    }
}

#[test]
fn events_refuses_an_empty_time_range_too() {
    let o = run(&[
        "events",
        "examples/logs",
        "--since",
        "2025-07-01",
        "--until",
        "2025-06-01",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not before --until"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn threat_intel_options_without_indicators_are_refused() {
    for flags in [
        &["--as-of", "2025-07-01T00:00:00Z"][..],
        &["--sentinel-compat"][..],
        &["--ti-format", "csv"][..],
        &["--ti-ip-column", "ip"][..],
    ] {
        let mut args = vec!["hunt", "examples/logs", "-q", "-f", "jsonl"];
        args.extend_from_slice(flags);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}");
        assert!(
            stderr(&o).contains("has no effect without indicators"),
            "{flags:?}: {}",
            stderr(&o)
        );
    }
    let o = run(&[
        "gen",
        "--events",
        "10",
        "--indicators-output",
        "/dev/null",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--indicators"), "{}", stderr(&o));
}

#[test]
fn a_terminal_of_no_width_gets_the_default_table() {
    let o = Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("COLUMNS", "0")
        .args(["hunt", "examples/logs", "-q", "-f", "table"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let header = out.lines().next().unwrap_or_default();
    assert!(header.chars().count() > 100, "{header}");
    assert!(out.lines().all(|l| l.chars().count() <= 120), "{out}");
}

#[test]
fn a_damaged_record_is_said_once() {
    let d = temp_dir("damaged-once");
    let f = d.join("m.json");
    std::fs::write(
        &f,
        "{\"time\":\"not-a-time\",\"category\":\"AuditEvent\",\"operationName\":\"SecretGet\",\"resourceId\":\"/SUBSCRIPTIONS/X/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V\"}\n",
    )
    .expect("write");
    let o = run(&["hunt", f.to_str().expect("utf-8"), "-f", "jsonl"]);
    let e = stderr(&o);
    let line = e
        .lines()
        .find(|l| l.contains("m.json:1:"))
        .unwrap_or_else(|| panic!("{e}"));
    assert_eq!(line.matches("unreadable time").count(), 1, "{line}");
}

#[test]
fn one_alert_as_csv() {
    let d = temp_dir("alert-csv");
    let f = d.join("one.csv");
    let o = run(&[
        "hunt",
        "examples/logs",
        "-q",
        "--alert",
        "d3c8",
        "-o",
        f.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut r = csv::Reader::from_path(&f).expect("csv");
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0][0].starts_with("d3c8"), "{:?}", &rows[0]);
}

#[test]
fn the_summary_names_each_rule() {
    let o = run(&["hunt", "examples/logs", "-f", "jsonl", "-o", "/dev/null"]);
    let e = stderr(&o);
    for name in [
        "Azure Key Vault Excessive Secret or Key Retrieved",
        "TI map IP entity to Azure Key Vault logs",
    ] {
        assert!(e.lines().any(|l| l.trim() == name), "{name}: {e}");
    }
}

#[test]
fn events_says_how_many_it_left_out() {
    let all = run(&["events", "examples/logs"]);
    let some = run(&["events", "examples/logs", "--where", "operation=SecretGet"]);
    let (n_all, n_some) = (stdout(&all).lines().count(), stdout(&some).lines().count());
    assert!(n_some > 0 && n_some < n_all);
    assert!(
        stderr(&some).contains(&format!(
            "{} event(s) left out by --since/--until/--where",
            n_all - n_some
        )),
        "{}",
        stderr(&some)
    );
}
