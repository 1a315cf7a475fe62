//! `serve` with `[ti] taxii`: collections synced from a real TAXII 2.1 server (medallion,
//! started by the test; see crates/kvsentry-stix/tests/setup_medallion.sh) into the state
//! directory, and matched like any intel; the password never shows.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

#[path = "../../kvsentry-stix/tests/support/medallion.rs"]
mod medallion;
use medallion::{Medallion, PASSWORD, USER};

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
const PASSWORD_ENV: &str = "KVSENTRY_TEST_TAXII_PASSWORD";

fn run(args: &[&str], dir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(args)
        .current_dir(dir)
        .env(PASSWORD_ENV, PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The caller addresses of hunt's indicator alerts over generated logs with the
/// generator's own indicator export.
fn matched_addresses(dir: &Path) -> BTreeSet<String> {
    let logs = dir.join("logs");
    let ti = dir.join("ti.csv");
    run(
        &[
            "gen",
            "--storage-layout",
            "-o",
            logs.to_str().unwrap(),
            "--events",
            "3000",
            "--duration",
            "3h",
            "--seed",
            "9",
            "--scenario",
            "standard",
            "--indicators",
            "200",
            "--match-share",
            "0.05",
            "--indicators-output",
            ti.to_str().unwrap(),
        ],
        dir,
    );
    let out = run(
        &[
            "hunt",
            logs.to_str().unwrap(),
            "--ti",
            ti.to_str().unwrap(),
            "-f",
            "jsonl",
            "-q",
        ],
        dir,
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Some(v["fields"].get("client_ip")?.as_str()?.to_string())
        })
        .collect()
}

fn collection(port: u16, ips: &BTreeSet<String>) -> Value {
    let objects: Vec<Value> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let kind = if ip.contains(':') {
                "ipv6-addr"
            } else {
                "ipv4-addr"
            };
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--a0000000-0000-4000-8000-{i:012}"),
                "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
                "name": format!("bad {ip}"), "indicator_types": ["malicious-activity"],
                "pattern_type": "stix", "pattern": format!("[{kind}:value = '{ip}']"),
                "valid_from": "2024-01-01T00:00:00Z",
            })
        })
        .collect();
    let manifest: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({"id": o["id"], "date_added": "2024-01-01T00:00:01.000000Z",
                   "version": o["modified"], "media_type": "application/stix+json;version=2.1"})
        })
        .collect();
    json!({
        "/discovery": {
            "title": "kvsentry serve test", "default": format!("http://127.0.0.1:{port}/api1/"),
            "api_roots": [format!("http://127.0.0.1:{port}/api1/")],
        },
        "api1": {
            "information": {"title": "intel", "versions": ["application/taxii+json;version=2.1"],
                            "max_content_length": 9765625},
            "status": [],
            "collections": [{
                "id": COLLECTION, "title": "IP indicators", "can_read": true, "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects, "manifest": manifest,
            }],
        },
    })
}

#[test]
fn taxii_collections_are_synced_and_matched() {
    let dir = tempfile::tempdir().unwrap();
    let ips = matched_addresses(dir.path());
    assert!(ips.len() >= 2, "{ips:?}");
    let Some(server) = Medallion::start(&|port| collection(port, &ips)) else {
        return;
    };
    std::fs::write(
        dir.path().join("kvsentry.toml"),
        format!(
            "state_dir = \"state\"\n\
             [ti]\n\
             taxii = [{{ url = \"{base}\", collection = \"{COLLECTION}\", user = \"{USER}\", password_env = \"{PASSWORD_ENV}\" }}]\n\
             [[input]]\ntype = \"files\"\npath = \"logs\"\n\
             [[output]]\ntype = \"file\"\npath = \"alerts.jsonl\"\n",
            base = server.base(),
        ),
    )
    .unwrap();
    let out = run(
        &["serve", "--config", "kvsentry.toml", "--once", "--flush"],
        dir.path(),
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains(PASSWORD));
    }
    assert!(dir.path().join("state/taxii/state.json").exists());
    let alerts = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
    let got: BTreeSet<String> = alerts
        .lines()
        .filter_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let id = v["fields"].get("indicator_id")?.as_str()?;
            assert!(id.starts_with("indicator--a0000000"), "{id}");
            Some(v["fields"]["client_ip"].as_str()?.to_string())
        })
        .collect();
    assert_eq!(got, ips, "every address of the collection matched");
}
