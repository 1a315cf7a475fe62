//! End-to-end: the real binary over generated logs in every form, pinned against the
//! generator's ground truth, plus bad input and exit codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kvsentry_gen::{Form, GenConfig, GroundTruth, Scenario};
use serde_json::Value;

const SEED_RULE: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const SP_RULE: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run kvsentry")
}

fn config() -> GenConfig {
    GenConfig {
        seed: 7,
        events: 6_000,
        duration: jiff::SignedDuration::from_hours(2),
        scenarios: Scenario::standard_set(),
        mixed_records: true,
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

/// Alerts as (rule id, window start, group) triples, and the alert ids.
fn alerts(out: &Output) -> (BTreeSet<(String, String, String)>, BTreeSet<String>) {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut set = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for line in String::from_utf8(out.stdout.clone()).unwrap().lines() {
        let a: Value = serde_json::from_str(line).unwrap();
        set.insert((
            a["rule"]["id"].as_str().unwrap().to_string(),
            a["window"]["start"].as_str().unwrap().to_string(),
            a["group"].to_string(),
        ));
        ids.insert(a["alert_id"].as_str().unwrap().to_string());
    }
    (set, ids)
}

/// What the ground truth says the two built-in rules must report.
fn expected(truth: &[GroundTruth]) -> BTreeSet<(String, String, String)> {
    let mut want = BTreeSet::new();
    for t in truth {
        let e = &t.expected_alert;
        if !e.tumbling {
            continue;
        }
        for w in &e.tumbling_windows {
            if let Some(upn) = &t.identity.upn {
                let group = serde_json::json!({ "identity": { "upn": upn } });
                want.insert((SEED_RULE.to_string(), w.to_string(), group.to_string()));
            } else {
                let group = serde_json::json!({ "identity": {
                    "app_id": t.identity.app_id,
                    "object_id": t.identity.object_id,
                }});
                want.insert((SP_RULE.to_string(), w.to_string(), group.to_string()));
            }
        }
    }
    want
}

#[test]
fn every_form_gives_the_ground_truth_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let mut first: Option<BTreeSet<String>> = None;
    for form in [
        "storage",
        "storage.gz",
        "eventhub",
        "array",
        "azure-diagnostics",
        "azure-diagnostics-jsonl",
        "azure-diagnostics-csv",
        "azkv",
        "azkv-jsonl",
        "azkv-csv",
        "ecs",
        "ecs-search",
    ] {
        let (path, truth) = generate(dir.path(), form);
        let out = run(&[
            "hunt",
            path.to_str().unwrap(),
            "--format",
            "jsonl",
            "--quiet",
        ]);
        let (got, ids) = alerts(&out);
        let want = expected(&truth);
        // The standard set holds a user burst, an SP burst and an MI burst that fire, and
        // near misses and a straddle that must not.
        assert_eq!(want.len(), 3, "{form}: ground truth changed: {want:?}");
        assert_eq!(got, want, "{form}");
        match &first {
            None => first = Some(ids),
            Some(f) => assert_eq!(&ids, f, "{form}: alert ids differ from the storage form"),
        }
    }
}

#[test]
fn thread_counts_give_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = generate(dir.path(), "storage");
    let p = path.to_str().unwrap();
    let one = run(&["hunt", p, "--format", "jsonl", "--threads", "1", "--quiet"]);
    let four = run(&["hunt", p, "--format", "jsonl", "--threads", "4", "--quiet"]);
    assert!(one.status.success() && four.status.success());
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, four.stdout);
}

#[test]
fn bad_input_is_reported_and_the_rest_processed() {
    let dir = tempfile::tempdir().unwrap();
    let (good, truth) = generate(dir.path(), "storage");
    let text = std::fs::read_to_string(&good).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // A malformed line in the middle, and a record of another category.
    lines.insert(
        10,
        "{\"time\": \"2025-06-30T00:00:01Z\", \"operationName\": ",
    );
    lines.insert(20, r#"{"time":"2025-06-30T00:00:02.0000000Z","category":"AzurePolicyEvaluationDetails","operationName":"SecretGet","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V"}"#);
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, lines.join("\n")).unwrap();
    // A truncated gzip of the same data, and a file of no known form.
    let gz = dir.path().join("cut.json.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
    let full = enc.finish().unwrap();
    std::fs::write(&gz, &full[..full.len() / 2]).unwrap();
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "hello, these are not logs\n").unwrap();

    let out = run(&[
        "hunt",
        broken.to_str().unwrap(),
        gz.to_str().unwrap(),
        unknown.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let (got, _) = alerts(&out);
    // Every alert of the clean file is still found, and no other (the half gzip repeats
    // its records, each counted once).
    assert_eq!(got, expected(&truth), "{stderr}");
    assert!(stderr.contains("malformed JSON"), "{stderr}");
    assert!(stderr.contains("broken.jsonl:11"), "{stderr}");
    assert!(stderr.contains("other diagnostic categories"), "{stderr}");
    assert!(
        stderr.contains("cut.json.gz") && stderr.contains("gzip"),
        "{stderr}"
    );
    assert!(
        stderr.contains("notes.txt") && stderr.contains("unknown format"),
        "{stderr}"
    );

    let strict = run(&[
        "hunt",
        broken.to_str().unwrap(),
        "--strict",
        "--quiet",
        "--format",
        "jsonl",
    ]);
    assert_eq!(strict.status.code(), Some(3));
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = generate(dir.path(), "storage");
    let p = path.to_str().unwrap();
    let fired = run(&["hunt", p, "--fail-on-alert", "--quiet", "--format", "jsonl"]);
    assert_eq!(fired.status.code(), Some(4));
    let missing = run(&["hunt", "/nonexistent/logs", "--quiet"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/logs"));

    let bad_rule = dir.path().join("bad.yml");
    std::fs::write(
        &bad_rule,
        "id: x1\nname: bad\nseverity: high\nversion: '1'\nkind: threshold\ndetection:\n  filter: { field: identity.upnn, equals: a }\n  window: { type: tumbling, size: 1m }\n  group_by: [identity.upn]\n  aggregates: { n: count }\n  condition: n >= 1\n",
    )
    .unwrap();
    let out = run(&["hunt", p, "--rules", bad_rule.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml:7"), "{err}");
    assert!(err.contains("identity.upn"), "suggestion expected: {err}");
    let validate = run(&["rules", "validate", bad_rule.to_str().unwrap()]);
    assert_eq!(validate.status.code(), Some(2));
}

#[test]
fn events_prints_the_dictionary() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("one.json");
    std::fs::write(
        &f,
        r#"{ "time": "2025-06-30T17:33:25.0331812Z", "category": "AuditEvent", "operationName": "SecretGet", "resultType": "Success", "correlationId": "00000000-0000-0000-0000-000000000036", "callerIpAddress": "52.178.17.9", "identity": {"claim":{"oid":"00000000-0000-0000-0000-000000000037","appid":"00000000-0000-0000-0000-000000000038","appidacr":"1","idtyp":"app"}}, "properties": {"id":"https://acme-secrets-dev.vault.azure.net/secrets/jwt/6e62","clientInfo":"AZURECLI/2.74.0","httpStatusCode":200,"requestUri":"https://acme-secrets-dev.vault.azure.net/secrets/jwt/?api-version=7.4","tlsVersion":"TLS1_3"}, "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/SECRETS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV", "operationVersion": "7.4", "resultSignature": "OK", "durationMs": "41"}"#,
    )
    .unwrap();
    let out = run(&["events", f.to_str().unwrap()]);
    assert!(out.status.success());
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["time"], "2025-06-30T17:33:25.0331812Z");
    assert_eq!(ev["operation"], "SecretGet");
    assert_eq!(ev["identity"]["kind"], "service_principal");
    assert_eq!(
        ev["identity"]["app_id"],
        "00000000-0000-0000-0000-000000000038"
    );
    assert_eq!(ev["vault"]["name"], "ACME-SECRETS-DEV");
    assert_eq!(ev["http"]["status"], 200);
    assert_eq!(ev["source"], format!("{}:1", f.display()));
}

#[test]
fn rules_list_and_show() {
    let out = run(&["rules", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(SEED_RULE) && text.contains(SP_RULE), "{text}");
    let show = run(&["rules", "show", SEED_RULE]);
    let yaml = String::from_utf8_lossy(&show.stdout);
    assert!(yaml.contains("CertificateIssuersList"), "{yaml}");
}

const TI_RULE: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";

/// Logs plus a Sentinel indicator export whose known share of IPs are callers; the
/// generator's independent oracle says which (indicator, IP) pairs a Sentinel run at the end
/// of the span must report, with the latest event of each.
#[test]
fn ti_as_of_matches_the_sentinel_oracle_in_csv_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs.jsonl");
    let truth = dir.path().join("ti-truth.json");
    for (ext, form) in [("csv", "storage"), ("jsonl", "eventhub")] {
        let ti = dir.path().join(format!("ti.{ext}"));
        let gen_out = run(&[
            "gen",
            "--form",
            form,
            "--events",
            "8000",
            "--duration",
            "3h",
            "--seed",
            "11",
            "-o",
            logs.to_str().unwrap(),
            "--indicators",
            "2000",
            "--match-share",
            "0.05",
            "--indicators-output",
            ti.to_str().unwrap(),
            "--ti-truth",
            truth.to_str().unwrap(),
        ]);
        assert!(
            gen_out.status.success(),
            "{}",
            String::from_utf8_lossy(&gen_out.stderr)
        );
        let want: Vec<Value> = serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
        let want: BTreeSet<(String, String, String)> = want
            .iter()
            .map(|m| {
                let t: jiff::Timestamp = m["last_event"].as_str().unwrap().parse().unwrap();
                (
                    m["indicator_id"].as_str().unwrap().into(),
                    m["ip"].as_str().unwrap().into(),
                    t.to_string(),
                )
            })
            .collect();
        assert!(
            want.len() >= 10,
            "the oracle should expect some matches, got {}",
            want.len()
        );

        let out = run(&[
            "hunt",
            logs.to_str().unwrap(),
            "--ti",
            ti.to_str().unwrap(),
            "--as-of",
            "2025-06-30T03:00:00Z",
            "-f",
            "jsonl",
            "-q",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = BTreeSet::new();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let a: Value = serde_json::from_str(line).unwrap();
            if a["rule"]["id"] != TI_RULE {
                continue;
            }
            assert_eq!(a["rule"]["severity"], "medium");
            assert_eq!(
                a["rule"]["tactics"],
                serde_json::json!(["CommandAndControl"])
            );
            assert_eq!(a["rule"]["techniques"], serde_json::json!(["T1071"]));
            assert_eq!(a["rule"]["version"], "1.3.4");
            let types: Vec<&str> = a["entities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["type"].as_str().unwrap())
                .collect();
            assert!(
                types.contains(&"ip") && types.contains(&"azure_resource"),
                "{types:?}"
            );
            assert_eq!(a["threat"]["matched_field"], "caller.ip");
            // The form the matched event was read in.
            assert_eq!(a["fields"]["type"], form, "{ext}");
            let t: jiff::Timestamp = a["fields"]["event_time"].as_str().unwrap().parse().unwrap();
            got.insert((
                a["group"]["indicator_id"].as_str().unwrap().to_string(),
                a["group"]["caller"]["ip"].as_str().unwrap().to_string(),
                t.to_string(),
            ));
        }
        assert_eq!(got, want, "{ext}");
    }
}

#[test]
fn ti_without_intel_still_hunts_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = generate(dir.path(), "storage");
    let out = run(&["hunt", path.to_str().unwrap(), "-f", "jsonl"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("threat intel: none loaded"), "{err}");
}

/// `kvsentry ... | head`: the reader closing the pipe ends the run quietly, without a panic.
#[test]
fn closed_output_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    for args in [
        &["gen", "--events", "200000"][..],
        &["rules", "show", SEED_RULE][..],
    ] {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then dropped: closed
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// `--explain` of the indicator rule shows the (indicator, address) pairs that alerted,
/// one line each, as many as the run's alerts of that rule.
#[test]
fn explain_agrees_with_the_indicator_rule_alerts() {
    let out = run(&[
        "hunt",
        "../../examples/logs",
        "--ti",
        "../../examples/ti/sentinel-indicators.csv",
        "-f",
        "jsonl",
        "--no-progress",
        "--explain",
        TI_RULE,
    ]);
    assert!(out.status.success());
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains(TI_RULE))
        .count();
    assert!(alerts > 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let explained = stderr
        .lines()
        .filter(|l| l.contains("indicator_id=") && l.contains("=> alert"))
        .count();
    assert_eq!(explained, alerts, "{stderr}");
    assert!(!stderr.contains("no event passed"), "{stderr}");
}
