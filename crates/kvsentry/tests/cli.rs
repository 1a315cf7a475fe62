//! The real binary's options, each against an answer computed here without kvsentry's
//! readers or engine: the Elastic rule evaluated naively over the raw records (serde_json),
//! `--since/--until`, `-f csv`, `--no-builtin`, `--strict` and exit code 1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kvsentry_gen::{Form, GenConfig, Scenario};
use serde_json::Value;

const SEED_RULE: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";

/// The Elastic rule's read operations, as its ES|QL lists them.
const READS: [&str; 20] = [
    "VaultGet",
    "KeyGet",
    "KeyList",
    "KeyListVersions",
    "KeyGetDeleted",
    "KeyListDeleted",
    "SecretGet",
    "SecretList",
    "SecretListVersions",
    "SecretGetDeleted",
    "SecretListDeleted",
    "CertificateGet",
    "CertificateList",
    "CertificateListVersions",
    "CertificateGetDeleted",
    "CertificateListDeleted",
    "CertificatePolicyGet",
    "CertificateContactsGet",
    "CertificateIssuerGet",
    "CertificateIssuersList",
];

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(args)
        .output()
        .expect("run kvsentry")
}

fn generate(dir: &Path) -> PathBuf {
    let config = GenConfig {
        seed: 23,
        events: 6_000,
        duration: jiff::SignedDuration::from_hours(3),
        scenarios: Scenario::standard_set(),
        mixed_records: true,
        ..GenConfig::default()
    };
    let form: Form = "storage".parse().unwrap();
    let path = dir.join("logs.jsonl");
    let f = std::fs::File::create(&path).unwrap();
    kvsentry_gen::write(form, &config, std::io::BufWriter::new(f)).unwrap();
    path
}

/// One window's aggregates as the ES|QL computes them.
#[derive(Debug, Default, PartialEq)]
struct Window {
    count: u64,
    actions: BTreeSet<String>,
    ips: BTreeSet<String>,
    vaults: BTreeSet<String>,
}

/// The Elastic rule over raw Storage records, written from its ES|QL: Key Vault audit
/// events of the 20 read operations, by 1-minute window and UPN; >= 5 calls, >= 2
/// operations, a UPN present.
fn naive_elastic(
    path: &Path,
    since: Option<jiff::Timestamp>,
    until: Option<jiff::Timestamp>,
) -> BTreeMap<(String, String), Window> {
    let mut windows: BTreeMap<(String, String), Window> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["category"] != "AuditEvent"
            || !r["resourceId"]
                .as_str()
                .unwrap_or("")
                .to_ascii_uppercase()
                .contains("/VAULTS/")
        {
            continue;
        }
        let op = r["operationName"].as_str().unwrap();
        if !READS.contains(&op) {
            continue;
        }
        let t: jiff::Timestamp = r["time"].as_str().unwrap().parse().unwrap();
        if since.is_some_and(|s| t < s) || until.is_some_and(|u| t >= u) {
            continue;
        }
        let claims = &r["identity"]["claim"];
        let upn = claims["upn"]
            .as_str()
            .or(claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"].as_str());
        let Some(upn) = upn else { continue };
        let minute = jiff::Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap();
        let w = windows
            .entry((minute.to_string(), upn.to_string()))
            .or_default();
        w.count += 1;
        w.actions.insert(op.to_string());
        w.ips
            .insert(r["callerIpAddress"].as_str().unwrap().to_string());
        let vault = r["resourceId"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        w.vaults.insert(vault.to_string());
    }
    windows.retain(|_, w| w.count >= 5 && w.actions.len() >= 2);
    windows
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn elastic_alerts(out: &Output) -> BTreeMap<(String, String), Window> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = BTreeMap::new();
    for line in String::from_utf8(out.stdout.clone()).unwrap().lines() {
        let a: Value = serde_json::from_str(line).unwrap();
        if a["rule"]["id"] != SEED_RULE {
            continue;
        }
        let f = &a["fields"];
        let w = Window {
            count: f["action_count"].as_u64().unwrap(),
            actions: strings(&f["actions"]),
            ips: strings(&f["source_ip"]),
            vaults: strings(&f["vault_names"]),
        };
        assert_eq!(
            f["distinct_actions"].as_u64().unwrap(),
            w.actions.len() as u64
        );
        assert_eq!(
            f["vaults_accessed"].as_u64().unwrap(),
            w.vaults.len() as u64
        );
        let key = (
            a["window"]["start"].as_str().unwrap().to_string(),
            a["group"]["identity"]["upn"].as_str().unwrap().to_string(),
        );
        assert!(got.insert(key, w).is_none(), "two alerts for one window");
    }
    got
}

#[test]
fn elastic_rule_values_equal_a_naive_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let want = naive_elastic(&logs, None, None);
    assert!(!want.is_empty());
    let got = elastic_alerts(&run(&["hunt", p, "-f", "jsonl", "-q"]));
    assert_eq!(got, want);

    // --since/--until: only events in [since, until) count, the window that straddles
    // either bound included with what is inside.
    let (first, _) = want.keys().next().unwrap();
    let start: jiff::Timestamp = first.parse().unwrap();
    let since = start
        .checked_add(jiff::SignedDuration::from_secs(20))
        .unwrap();
    let until = start
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let want = naive_elastic(&logs, Some(since), Some(until));
    let out = run(&[
        "hunt",
        p,
        "-f",
        "jsonl",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(elastic_alerts(&out), want);
    assert!(stderr.contains("outside --since/--until"), "{stderr}");
}

#[test]
fn output_file_extension_picks_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let hunt = |name: &str, extra: &[&str]| {
        let file = dir.path().join(name);
        let mut args = vec!["hunt", p, "-q", "-o", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        assert!(run(&args).status.success(), "{name}");
        std::fs::read_to_string(file).unwrap()
    };
    let jsonl = hunt("a.jsonl", &[]);
    let n = jsonl.lines().count();
    assert!(n > 0);
    for l in jsonl.lines() {
        serde_json::from_str::<Value>(l).unwrap();
    }
    assert_eq!(hunt("a.ndjson", &[]), jsonl);
    let array: Vec<Value> = serde_json::from_str(&hunt("a.json", &[])).unwrap();
    assert_eq!(array.len(), n);
    let csv = hunt("a.csv", &[]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "alert_id");
    assert_eq!(reader.records().count(), n);
    // -f wins over the extension; an unknown extension is JSON lines (not a terminal).
    assert_eq!(hunt("b.csv", &["-f", "jsonl"]), jsonl);
    assert_eq!(hunt("alerts.out", &[]), jsonl);
}

#[test]
fn table_is_one_line_per_alert_within_columns() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let jsonl = run(&["hunt", p, "-f", "jsonl", "-q"]);
    let ids: Vec<String> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["alert_id"]
                .as_str()
                .unwrap()[..8]
                .to_string()
        })
        .collect();
    assert!(!ids.is_empty());
    for width in [80usize, 132] {
        let out = Command::new(env!("CARGO_BIN_EXE_kvsentry"))
            .args(["hunt", p, "-f", "table", "-q"])
            .env("COLUMNS", width.to_string())
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\x1b'), "no colour when piped");
        for l in text.lines() {
            assert!(l.chars().count() <= width, "{width}: {l:?}");
        }
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Time (UTC)"), "{text}");
        // The alert lines run up to the first blank line, each ending with its short id.
        let rows: Vec<&str> = lines[1..]
            .iter()
            .take_while(|l| !l.is_empty())
            .copied()
            .collect();
        assert_eq!(rows.len(), ids.len(), "{text}");
        for id in &ids {
            assert_eq!(
                rows.iter().filter(|r| r.ends_with(id.as_str())).count(),
                1,
                "{id}"
            );
        }
        assert!(text.contains("Identity"), "{text}");
    }
    let detail = run(&["hunt", p, "-f", "table-detail", "-q"]);
    assert!(
        String::from_utf8(detail.stdout)
            .unwrap()
            .contains("action_count: ")
    );
}

#[test]
fn alert_option_prints_one_alert_whole() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let jsonl = run(&["hunt", p, "-f", "jsonl", "-q"]);
    let alerts: Vec<Value> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(alerts.len() > 1);
    let a = &alerts[0];
    let id = a["alert_id"].as_str().unwrap();
    let out = run(&["hunt", p, "-q", "--alert", &id[..8].to_uppercase()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(id), "{text}");
    assert!(text.contains(a["rule"]["name"].as_str().unwrap()), "{text}");
    assert!(text.contains("Evidence ("), "{text}");
    let first = &a["evidence"][0];
    assert!(text.contains(first["source"].as_str().unwrap()), "{text}");
    // As JSON: the same alert.
    let out = run(&["hunt", p, "-q", "-f", "json", "--alert", &id[..8]]);
    let back: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(&back, a);
    // No match: exit 1; an ambiguous prefix: exit 2, naming the candidates.
    let none = run(&["hunt", p, "-q", "--alert", "zzzz"]);
    assert_eq!(none.status.code(), Some(1));
    let many = run(&["hunt", p, "-q", "--alert", ""]);
    assert_eq!(many.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&many.stderr).contains(id));
}

#[test]
fn events_since_until_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let events = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["events", p];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{extra:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = events(&[]);
    let pick = &all[all.len() / 2];
    let ip = pick["caller"]["ip"].as_str().unwrap().to_string();
    let op = pick["operation"].as_str().unwrap().to_string();
    // AND of both, in input order; the value's case does not matter.
    let want: Vec<&Value> = all
        .iter()
        .filter(|e| e["caller"]["ip"] == ip.as_str() && e["operation"] == op.as_str())
        .collect();
    let got = events(&[
        "--where",
        &format!("caller.ip={ip}"),
        "--where",
        &format!("operation={}", op.to_lowercase()),
    ]);
    assert!(!got.is_empty());
    assert_eq!(got.iter().collect::<Vec<_>>(), want);

    let time = |e: &Value| {
        e["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    let since = time(&all[all.len() / 4]);
    let until = time(&all[all.len() / 2]);
    let want: Vec<&Value> = all
        .iter()
        .filter(|e| time(e) >= since && time(e) < until)
        .collect();
    let got = events(&["--since", &since.to_string(), "--until", &until.to_string()]);
    assert!(!got.is_empty());
    assert_eq!(got.iter().collect::<Vec<_>>(), want);

    let bad = run(&["events", p, "--where", "caller_ip=1.2.3.4"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("caller_ip"));
}

#[test]
fn csv_has_one_record_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let jsonl = run(&["hunt", p, "-f", "jsonl", "-q"]);
    let ids: BTreeSet<String> = String::from_utf8(jsonl.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["alert_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(!ids.is_empty());
    let csv_out = run(&["hunt", p, "-f", "csv", "-q"]);
    assert!(csv_out.status.success());
    let mut reader = csv::Reader::from_reader(&csv_out.stdout[..]);
    let header = reader.headers().unwrap().clone();
    let id_col = header.iter().position(|h| h == "alert_id").unwrap();
    // One column per value, named by its dotted path.
    for col in [
        "group.identity.upn",
        "fields.action_count",
        "entities.ip.address",
    ] {
        assert!(header.iter().any(|h| h == col), "{col} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let csv_ids: BTreeSet<String> = rows.iter().map(|r| r[id_col].to_string()).collect();
    assert_eq!(rows.len(), ids.len());
    assert_eq!(csv_ids, ids);
}

#[test]
fn no_builtin_runs_only_the_given_rules() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let rule = dir.path().join("reads.yml");
    std::fs::write(
        &rule,
        "id: 6f1d2e9a-0000-4000-8000-0000000000bb\nname: many reads\nseverity: low\nversion: '1'\nkind: threshold\ndetection:\n  filter: { field: operation, in: [SecretGet] }\n  window: { type: tumbling, size: 1h }\n  group_by: [vault.name]\n  aggregates: { n: count }\n  condition: n >= 1\n",
    )
    .unwrap();
    let out = run(&[
        "hunt",
        p,
        "--no-builtin",
        "--rules",
        rule.to_str().unwrap(),
        "-f",
        "jsonl",
        "-q",
    ]);
    assert!(out.status.success());
    let rules: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["rule"]["id"].to_string())
        .collect();
    assert_eq!(
        rules,
        BTreeSet::from(["\"6f1d2e9a-0000-4000-8000-0000000000bb\"".to_string()])
    );
    // Without any rule file there is nothing to run: a usage error.
    let none = run(&["hunt", p, "--no-builtin", "-q"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no enabled rules"));
}

#[test]
fn strict_fails_on_a_failed_file_and_unwritable_output_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    // A gzip cut in half: its first records are read, then the file fails.
    let text = std::fs::read(&logs).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &text).unwrap();
    let full = enc.finish().unwrap();
    let cut = dir.path().join("cut.jsonl.gz");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let c = cut.to_str().unwrap();
    let lenient = run(&["hunt", c, "-f", "jsonl", "-q"]);
    assert_eq!(lenient.status.code(), Some(0));
    let strict = run(&["hunt", c, "--strict", "-f", "jsonl", "-q"]);
    assert_eq!(strict.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("cut.jsonl.gz"));
    // Clean input stays 0 under --strict.
    assert_eq!(
        run(&["hunt", p, "--strict", "-f", "jsonl", "-q"])
            .status
            .code(),
        Some(0)
    );

    let unwritable = dir.path().join("no-such-dir").join("alerts.jsonl");
    let out = run(&["hunt", p, "-q", "-o", unwritable.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts.jsonl"));
}

/// One Storage record of a SecretGet from `ip` at `time`.
fn record(time: &str, ip: &str, n: u32) -> String {
    format!(
        r#"{{"time":"{time}","resourceId":"/SUBSCRIPTIONS/8375B821-2237-4337-9D03-AF96EFE330F5/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-APP-PROD","operationName":"SecretGet","operationVersion":"7.4","category":"AuditEvent","resultType":"Success","resultSignature":"OK","durationMs":"11","callerIpAddress":"{ip}","correlationId":"b588806e-6993-4c26-9251-00000000{n:04}","identity":{{"claim":{{"oid":"951417d0-eb46-46e8-ac4a-1b8f8abc2ffa","upn":"eve@contoso.com","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}}}},"properties":{{"id":"https://kv-app-prod.vault.azure.net/secrets/db/1","clientInfo":"curl/8.5","httpStatusCode":200}}}}"#
    )
}

/// One Sentinel `ThreatIntelligenceIndicator` row (JSON lines export).
fn indicator(id: &str, generated: &str, expires: &str, active: bool, ip: &str) -> String {
    serde_json::json!({
        "TimeGenerated": generated,
        "IndicatorId": id,
        "ExpirationDateTime": expires,
        "Active": active,
        "ThreatType": "C2",
        "ConfidenceScore": 80,
        "Description": "test indicator",
        "NetworkIP": ip,
        "Type": "ThreatIntelligenceIndicator",
    })
    .to_string()
}

/// The TI rule's modes at the binary: retro-hunt (default), one Sentinel run at `--as-of`,
/// and `--sentinel-compat`, on indicators whose versions, expirations and addresses decide
/// every match.
#[test]
fn ti_modes_and_sentinel_compat() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs.jsonl");
    let lines = [
        record("2025-06-30T10:00:00.1000000Z", "52.1.2.3", 1),
        record("2025-06-30T10:05:00.1000000Z", "52.1.2.3", 2),
        record("2025-06-30T10:01:00.1000000Z", "52.1.2.4", 3),
        record("2025-06-30T10:02:00.1000000Z", "2a01:4f8::1234", 4),
        record("2025-06-30T10:03:00.1000000Z", "10.1.2.3", 5),
        record("2025-06-30T10:04:00.1000000Z", "52.1.2.5", 6),
    ];
    std::fs::write(&logs, lines.join("\n")).unwrap();
    let ti = dir.path().join("ti.jsonl");
    let rows = [
        // A: active; expires a day after the events.
        indicator(
            "A",
            "2025-06-25T00:00:00Z",
            "2025-07-01T00:00:00Z",
            true,
            "52.1.2.3",
        ),
        // B: its latest version is inactive.
        indicator(
            "B",
            "2025-06-20T00:00:00Z",
            "2026-01-01T00:00:00Z",
            true,
            "52.1.2.4",
        ),
        indicator(
            "B",
            "2025-06-28T00:00:00Z",
            "2026-01-01T00:00:00Z",
            false,
            "52.1.2.4",
        ),
        // C: an IPv6 address (Sentinel's query drops IPv6 indicators).
        indicator(
            "C",
            "2025-06-29T00:00:00Z",
            "2026-01-01T00:00:00Z",
            true,
            "2a01:4f8::1234",
        ),
        // D: a private address.
        indicator(
            "D",
            "2025-06-29T00:00:00Z",
            "2026-01-01T00:00:00Z",
            true,
            "10.1.2.3",
        ),
        // E: expired an hour before the event.
        indicator(
            "E",
            "2025-06-25T00:00:00Z",
            "2025-06-30T09:00:00Z",
            true,
            "52.1.2.5",
        ),
    ];
    std::fs::write(&ti, rows.join("\n")).unwrap();
    let (l, t) = (logs.to_str().unwrap(), ti.to_str().unwrap());
    let pairs = |extra: &[&str]| -> BTreeSet<(String, String, String)> {
        let mut args = vec!["hunt", l, "--ti", t, "-f", "jsonl", "-q"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|x| serde_json::from_str::<Value>(x).unwrap())
            .filter(|a| a["rule"]["id"] == "57c7e832-64eb-411f-8928-4133f01f4a25")
            .map(|a| {
                (
                    a["group"]["indicator_id"].as_str().unwrap().to_string(),
                    a["group"]["caller"]["ip"].as_str().unwrap().to_string(),
                    a["fields"]["event_time"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let p = |i: &str, ip: &str, t: &str| (i.to_string(), ip.to_string(), t.to_string());
    let a = p("A", "52.1.2.3", "2025-06-30T10:05:00.1Z");
    let c = p("C", "2a01:4f8::1234", "2025-06-30T10:02:00.1Z");
    // Retro-hunt: each event judged by what the intel says of its time; A has expired by
    // now but had not when the events happened. The latest event of the pair is kept.
    assert_eq!(pairs(&[]), BTreeSet::from([a.clone(), c.clone()]));
    assert_eq!(pairs(&["--sentinel-compat"]), BTreeSet::from([a.clone()]));
    // One Sentinel run on the day: both; ten days later A has expired.
    assert_eq!(
        pairs(&["--as-of", "2025-06-30T12:00:00Z"]),
        BTreeSet::from([a, c.clone()])
    );
    assert_eq!(
        pairs(&["--as-of", "2025-07-10T00:00:00Z"]),
        BTreeSet::from([c])
    );
}

/// On a terminal (a pseudo-terminal from `script`, util-linux), the progress bar is cleared
/// before the table prints: no stale frame is left in front of it.
#[test]
fn progress_bar_is_cleared_before_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = GenConfig {
        seed: 5,
        events: 30_000,
        duration: jiff::SignedDuration::from_hours(6),
        scenarios: Scenario::standard_set(),
        ..GenConfig::default()
    };
    let logs = dir.path().join("logs.jsonl");
    let f = std::fs::File::create(&logs).unwrap();
    kvsentry_gen::write(
        "storage".parse().unwrap(),
        &config,
        std::io::BufWriter::new(f),
    )
    .unwrap();
    let cmd = format!(
        "COLUMNS=100 {} hunt {} -f table",
        env!("CARGO_BIN_EXE_kvsentry"),
        logs.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .expect("`script` (util-linux) runs the hunt on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    let at = screen.find("Time (UTC)").expect("a table");
    let before = &screen[..at];
    assert!(
        before.contains("eta"),
        "no progress bar was drawn: {before:?}"
    );
    // The last frame is followed by a line clear, then the table.
    assert!(
        before.ends_with("\r\u{1b}[2K"),
        "stale frame: {:?}",
        &before[before.len().saturating_sub(80)..]
    );
}

/// `--explain` narrowed to one group value and to near misses.
#[test]
fn explain_narrows_to_a_group_and_to_near_misses() {
    let dir = tempfile::tempdir().unwrap();
    let logs = generate(dir.path());
    let p = logs.to_str().unwrap();
    let explained = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["hunt", p, "-f", "jsonl", "--explain", "c07f7898"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with('['))
            .map(str::to_string)
            .collect()
    };
    let all = explained(&[]);
    let near = explained(&["--near-misses"]);
    assert!(
        !near.is_empty() && near.len() < all.len() / 10,
        "{}",
        near.len()
    );
    for l in &near {
        assert!(l.ends_with("=> no alert"), "{l}");
        assert_eq!(l.matches("→ false").count(), 1, "{l}");
        assert!(
            !l.contains("identity.upn=null"),
            "the null bucket is not near: {l}"
        );
    }
    // Every window the naive evaluation alerts on is one group's; narrowed to that group,
    // the alerting window is among its lines and every line is that group's.
    let want = naive_elastic(&logs, None, None);
    let ((_, upn), _) = want.iter().next().unwrap();
    let group = explained(&["--explain-group", &upn.to_uppercase()]);
    assert!(group.iter().any(|l| l.ends_with("=> alert")), "{group:?}");
    assert!(group.iter().all(|l| l.contains(upn.as_str())), "{group:?}");
    // Either flag without --explain is a usage error.
    assert_eq!(run(&["hunt", p, "--near-misses"]).status.code(), Some(2));
}
