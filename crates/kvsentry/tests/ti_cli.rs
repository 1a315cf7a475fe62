//! The `ti` commands and `hunt --ti` through the real binary: what a user reads about the
//! threat intelligence they load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(args)
        .output()
        .expect("run kvsentry")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two Key Vault audit records as a Storage account writes them (one hour's blob).
const KEY_VAULT_BLOB: &str = r#"{"time": "2025-06-30T01:32:01.2691226Z","resourceId": "/SUBSCRIPTIONS/0D7E2412-C993-47C3-B62F-9AB31EC27070/RESOURCEGROUPS/RG-API-DEV/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KVAPIDEV603","operationName": "SecretGet","operationVersion": "7.4","category": "AuditEvent","resultType": "Success","resultSignature": "OK","resultDescription": "","durationMs": "12","callerIpAddress": "52.178.17.9","correlationId": "8e0f9d0e-1f4a-4b8a-9a57-2d6c5e0b7c11","identity": {"claim": {"oid": "d9da5048-2737-4770-bd64-4b2f0e6c1a22","upn": "ana@contoso.com","appid": "1950a258-227b-4e31-a9cf-717495945fc2"}},"properties": {"clientInfo": "azsdk-python-keyvault-secrets/4.8.0","requestUri": "https://kvapidev603.vault.azure.net/secrets/db-password?api-version=7.4","id": "https://kvapidev603.vault.azure.net/secrets/db-password","httpStatusCode": 200}}
{"time": "2025-06-30T01:33:56.5264523Z","resourceId": "/SUBSCRIPTIONS/0D7E2412-C993-47C3-B62F-9AB31EC27070/RESOURCEGROUPS/RG-API-DEV/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KVAPIDEV603","operationName": "SecretList","operationVersion": "7.4","category": "AuditEvent","resultType": "Success","resultSignature": "OK","resultDescription": "","durationMs": "30","callerIpAddress": "52.178.17.9","correlationId": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f","identity": {"claim": {"oid": "d9da5048-2737-4770-bd64-4b2f0e6c1a22","upn": "ana@contoso.com","appid": "1950a258-227b-4e31-a9cf-717495945fc2"}},"properties": {"clientInfo": "azsdk-python-keyvault-secrets/4.8.0","requestUri": "https://kvapidev603.vault.azure.net/secrets?api-version=7.4","id": "https://kvapidev603.vault.azure.net/secrets","httpStatusCode": 200}}
"#;

/// A Sentinel `ThreatIntelligenceIndicator` export (JSON lines) with one indicator per fate.
const SENTINEL_ROWS: &str = r#"{"TimeGenerated":"2025-06-20T00:00:00Z","IndicatorId":"ti-selected","NetworkIP":"52.178.17.9","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence","Description":"C2 server","ThreatType":"C2"}
{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"ti-moved","NetworkIP":"52.178.17.10","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence","Description":"scanner"}
{"TimeGenerated":"2025-06-25T00:00:00Z","IndicatorId":"ti-moved","NetworkIP":"52.178.20.1","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence","Description":"scanner"}
{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"ti-retired","NetworkIP":"52.178.17.11","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence"}
{"TimeGenerated":"2025-06-26T00:00:00Z","IndicatorId":"ti-retired","NetworkIP":"52.178.17.11","Active":false,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence"}
{"TimeGenerated":"2025-06-20T00:00:00Z","IndicatorId":"ti-expiring","NetworkIP":"52.178.17.12","Active":true,"ExpirationDateTime":"2025-06-29T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence"}
{"TimeGenerated":"2025-06-20T00:00:00Z","IndicatorId":"ti-private","NetworkIP":"10.20.30.40","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence"}
{"TimeGenerated":"2025-06-20T00:00:00Z","IndicatorId":"ti-url","Url":"http://bad.example/x","Active":true,"ExpirationDateTime":"2099-01-01T00:00:00Z","SourceSystem":"Microsoft Defender Threat Intelligence"}
"#;

/// A STIX bundle whose indicator on 52.178.17.13 was revoked by its latest version.
const REVOKED_BUNDLE: &str = r#"{"type":"bundle","id":"bundle--6c3a9f0e-4d1b-4a7e-9c2f-1b2c3d4e5f60","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","created":"2025-06-01T00:00:00.000Z","modified":"2025-06-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '52.178.17.13']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"},
{"type":"indicator","spec_version":"2.1","id":"indicator--5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d","created":"2025-06-01T00:00:00.000Z","modified":"2025-06-15T00:00:00.000Z","pattern":"[ipv4-addr:value = '52.178.17.13']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z","revoked":true}
]}"#;

/// `ti check` says, per indicator naming the IP, why it is not selected; it exits 0 when
/// a selected indicator covers the IP and 1 when none does.
#[test]
fn ti_check_says_why_and_exits_like_grep() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "sentinel.jsonl", SENTINEL_ROWS);
    let bundle = write(dir.path(), "revoked.json", REVOKED_BUNDLE);
    let check = |ip: &str, extra: &[&str]| {
        let mut args = vec!["ti", "check", ip, s(&feed), s(&bundle)];
        args.extend_from_slice(extra);
        let out = run(&args);
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };

    let (code, out, err) = check("52.178.17.9", &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("indicator ti-selected (52.178.17.9)"), "{out}");
    assert!(
        out.contains(": selected, expires 2099-01-01T00:00:00Z"),
        "{out}"
    );

    let cases: [(&str, &[&str], &str); 6] = [
        (
            "52.178.17.10",
            &[],
            "indicator ti-moved (52.178.17.10) from Microsoft Defender Threat Intelligence: not selected: superseded by a later version (2025-06-25T00:00:00Z) naming 52.178.20.1",
        ),
        (
            "52.178.17.11",
            &[],
            "indicator ti-retired (52.178.17.11) from Microsoft Defender Threat Intelligence: not selected: its latest version is inactive",
        ),
        (
            "52.178.17.12",
            &["--as-of", "2025-06-30T02:00:00Z"],
            "indicator ti-expiring (52.178.17.12) from Microsoft Defender Threat Intelligence: not selected: expired at 2025-06-29T00:00:00Z",
        ),
        (
            "52.178.17.13",
            &[],
            "indicator indicator--5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d (52.178.17.13) from revoked.json: not selected: revoked",
        ),
        (
            "10.20.30.40",
            &[],
            "indicator ti-private (10.20.30.40) from Microsoft Defender Threat Intelligence: not selected: not a public address: private (RFC 1918)",
        ),
        ("8.8.8.8", &[], "8.8.8.8: no indicator names it"),
    ];
    for (ip, extra, says) in cases {
        let (code, out, err) = check(ip, extra);
        assert_eq!(code, Some(1), "{ip}: {out}{err}");
        assert!(out.contains(says), "{ip}: wanted {says:?} in\n{out}");
        assert!(!out.contains(": selected"), "{ip}: {out}");
    }
    // The same expiring indicator is selected when hunting past logs (retro), and an event
    // after its expiration does not match it.
    let (code, out, _) = check("52.178.17.12", &[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = check("52.178.17.12", &["--at", "2025-06-30T00:00:00Z"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("expired before that time"), "{out}");
}

/// The header of each file and the table count the same records, and every label is
/// words: no internal field names, no debug output.
#[test]
fn ti_stats_counts_agree_and_read_as_words() {
    let dir = tempfile::tempdir().unwrap();
    let feed = write(dir.path(), "sentinel.jsonl", SENTINEL_ROWS);
    let bundle = write(dir.path(), "revoked.json", REVOKED_BUNDLE);
    let csv = write(
        dir.path(),
        "c2.csv",
        "ip,malware\n52.178.30.1,Emotet\n52.178.30.2,\"QakBot\n52.178.30.3,Pikabot\nnot-an-ip,x\n",
    );
    let out = run(&["ti", "stats", s(&feed), s(&bundle), s(&csv)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for internal in [
        "loaded_records",
        "distinct_ids",
        "no_ip",
        "skipped_at_load",
        "non_global",
        "Problem {",
        "FailedFile",
        "malformed_pattern",
        "no_ip_comparison",
    ] {
        assert!(!stdout.contains(internal), "{internal} in\n{stdout}");
    }
    // Per file: "N record(s) read: V indicator version(s), S skipped", with N = V + S.
    let mut read = 0;
    let mut versions = 0;
    for line in stdout.lines().filter(|l| l.contains(" record(s) read: ")) {
        let nums: Vec<usize> = line
            .rsplit(": ")
            .take(2)
            .flat_map(|part| part.split([' ', ',']).filter_map(|w| w.parse().ok()))
            .collect();
        let (v, s, n) = (nums[0], nums[1], nums[2]);
        assert_eq!(n, v + s, "{line}");
        read += n;
        versions += v;
    }
    assert_eq!((read, versions), (8 + 2 + 4, 7 + 1 + 2), "{stdout}");
    assert!(
        stdout.contains("c2.csv:3: unterminated quote: 52.178.30.2,\"QakBot"),
        "{stdout}"
    );
    // The table: the same totals, each the one above less the indented counts.
    let table: Vec<(String, usize)> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("selection: "))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let (label, n) = l.trim_end().rsplit_once(' ').unwrap();
            (label.to_string(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(table.first().map(|r| r.1), Some(read), "{stdout}");
    let mut total = None;
    let mut less = 0;
    for (label, n) in &table {
        if label.starts_with("    ") {
            less += n;
        } else {
            if let Some(t) = total {
                assert_eq!(t - less, *n, "{label} in\n{stdout}");
            }
            total = Some(*n);
            less = 0;
        }
    }
    let get = |l: &str| {
        table
            .iter()
            .find(|(x, _)| x.trim().starts_with(l))
            .map(|r| r.1)
    };
    assert_eq!(get("indicator versions"), Some(versions), "{stdout}");
    assert_eq!(
        get("skipped at load: unterminated quote"),
        Some(1),
        "{stdout}"
    );
    // ti-selected, ti-moved (its latest address), ti-expiring (retro), two CSV rows.
    assert_eq!(get("selected indicators"), Some(5), "{stdout}");
}

/// A `--ti` path from which nothing reads as threat intelligence (a folder of Key Vault
/// logs given by mistake) is an error naming it; a feed read without a usable IP indicator
/// is a warning naming it, and the run goes on.
#[test]
fn ti_paths_without_intel_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    write(
        &logs,
        "insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/0D7E2412-C993-47C3-B62F-9AB31EC27070/RESOURCEGROUPS/RG-API-DEV/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KVAPIDEV603/y=2025/m=06/d=30/h=01/m=00/PT1H.json",
        KEY_VAULT_BLOB,
    );
    for args in [
        vec!["hunt", s(&logs), "--ti", s(&logs), "-f", "jsonl"],
        vec!["ti", "stats", s(&logs)],
        vec!["ti", "check", "52.178.17.9", s(&logs)],
    ] {
        let out = run(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "{}: no threat intelligence could be read from it: 1 file(s) in no threat-intelligence format",
                logs.display()
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(
                ", 1 of them logs in a form hunt reads (storage), to give as PATH, not --ti"
            ),
            "{err}"
        );
        assert!(err.contains("PT1H.json"), "{err}");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&["ti", "stats", s(&empty)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no threat intelligence could be read from it: no files"));

    // Read, but no usable IP: a domain-only STIX feed next to a good one.
    let domains = write(
        dir.path(),
        "domains.json",
        r#"{"type":"bundle","id":"bundle--0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b3a","created":"2025-06-01T00:00:00.000Z","modified":"2025-06-01T00:00:00.000Z","pattern":"[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"}
]}"#,
    );
    let good = write(dir.path(), "sentinel.jsonl", SENTINEL_ROWS);
    let out = run(&[
        "hunt",
        s(&logs),
        "--ti",
        s(&domains),
        "--ti",
        s(&good),
        "-f",
        "jsonl",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {} (read as stix) holds no usable IP indicator: 1 record(s) skipped, most for: STIX pattern names no IP address",
            domains.display()
        )),
        "{err}"
    );
    assert!(!err.contains("sentinel.jsonl (read as"), "{err}");
    let alerts = text(&out.stdout);
    assert!(alerts.contains("\"ti-selected\""), "{alerts}");
}

/// `==` in a lone STIX indicator (no bundle) is equality: the indicator loads and lists.
#[test]
fn lone_stix_indicator_with_double_equals_lists() {
    let dir = tempfile::tempdir().unwrap();
    let lone = write(
        dir.path(),
        "indicator.json",
        r#"{
  "type": "indicator",
  "spec_version": "2.1",
  "id": "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
  "created": "2025-05-08T09:00:00.000Z",
  "modified": "2025-05-08T09:00:00.000Z",
  "name": "IP Address for known C2 channel",
  "indicator_types": ["malicious-activity"],
  "pattern": "[ipv4-addr:value == '52.178.17.9']",
  "pattern_type": "stix",
  "valid_from": "2025-05-08T09:00:00Z"
}"#,
    );
    let out = run(&["ti", "list", s(&lone)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["id"], "indicator--33fe3b22-0201-47cf-85d0-97c02164528d");
    assert_eq!(v["value"], "52.178.17.9");
}

/// A feed that cannot be loaded is named once in its line.
#[test]
fn a_failed_feed_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.json"), "{\"bad json").unwrap();
    std::fs::write(dir.path().join("y.csv.gz"), b"\x1f\x8b\x08\x00").unwrap();
    std::fs::write(dir.path().join("ok.txt"), "52.178.17.9\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(["ti", "stats", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("not loaded")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        let name = if l.contains("x.json") {
            "x.json"
        } else {
            "y.csv.gz"
        };
        assert_eq!(l.matches(name).count(), 1, "{l}");
    }
}
