//! `write_dir` layouts, and the Sentinel indicator export against generated callers.

mod common;

use std::collections::HashSet;
use std::net::IpAddr;

use common::cfg;
use jiff::Timestamp;
use kvsentry_gen::ti::{write_indicators_csv, write_indicators_jsonl};
use kvsentry_gen::{Generator, gen_indicators, ti_expected_matches, write_dir};
use serde_json::Value;

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kvsentry-gen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn storage_dir_has_one_blob_per_resource_and_hour() {
    let dir = tmp("blobs");
    let c = cfg(3000);
    let s = write_dir("storage".parse().unwrap(), &c, &dir).unwrap();
    // Logs only: a hunt over the directory must not meet the ground truth.
    assert!(!dir.join("ground-truth.json").exists());
    assert_eq!(s.ground_truth.len(), 7);
    let mut on_disk = Vec::new();
    let mut todo = vec![dir.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                on_disk.push(p);
            }
        }
    }
    assert!(
        on_disk.iter().all(|p| p.ends_with("PT1H.json")),
        "{on_disk:?}"
    );
    assert_eq!(on_disk.len(), s.files.len());
    let blobs: Vec<_> = s
        .files
        .iter()
        .filter(|p| p.ends_with("PT1H.json"))
        .collect();
    assert!(blobs.len() > 24, "{}", blobs.len());
    let mut lines = 0u64;
    for p in &blobs {
        let rel = p
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        assert!(
            rel.starts_with("insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/")
                || rel.starts_with(
                    "insights-logs-azurepolicyevaluationdetails/resourceId=/SUBSCRIPTIONS/"
                ),
            "{rel}"
        );
        assert!(rel.contains("/PROVIDERS/MICROSOFT.KEYVAULT/"), "{rel}");
        let text = std::fs::read_to_string(p).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let rid = v["resourceId"].as_str().unwrap();
            assert!(
                rel.contains(&format!("resourceId={rid}/y=")),
                "{rel} holds {rid}"
            );
            let t = v["time"].as_str().unwrap();
            let hour = format!(
                "/y={}/m={}/d={}/h={}/m=00/",
                &t[0..4],
                &t[5..7],
                &t[8..10],
                &t[11..13]
            );
            assert!(rel.contains(&hour), "{rel} holds {t}");
            lines += 1;
        }
    }
    assert_eq!(lines, s.records);
    assert!(
        blobs
            .iter()
            .any(|p| p.to_string_lossy().contains("/MANAGEDHSMS/"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn other_forms_write_one_file() {
    let dir = tmp("single");
    let s = write_dir("azure-diagnostics-csv.gz".parse().unwrap(), &cfg(500), &dir).unwrap();
    assert_eq!(s.files.len(), 1);
    assert!(dir.join("AzureDiagnostics.csv.gz").is_file());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn indicators_match_generated_callers_per_the_oracle() {
    let c = cfg(5000);
    let g = Generator::new(&c).unwrap();
    let end: Timestamp = c.start + c.duration;
    // Observed (ip, time) of Key Vault records, as a rule would see them.
    let obs: Vec<(IpAddr, Timestamp)> = g
        .events()
        .filter(|e| e.is_key_vault_audit())
        .map(|e| (e.caller_ip(), e.time()))
        .collect();
    let mut callers: Vec<IpAddr> = obs
        .iter()
        .map(|o| o.0)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    callers.sort();
    let rows = gen_indicators(5, 300, 0.2, &callers, end);
    let ids: HashSet<&str> = rows.iter().map(|r| r.indicator_id.as_str()).collect();
    assert!(rows.len() > ids.len(), "several versions per indicator");
    let m = ti_expected_matches(&rows, &obs, end, None);
    assert!(m.len() >= 20, "{}", m.len());
    for x in &m {
        let row = rows
            .iter()
            .filter(|r| r.indicator_id == x.indicator_id)
            .max_by_key(|r| r.time_generated)
            .unwrap();
        assert!(row.active);
        assert!(row.expiration > end);
        assert!(obs.iter().any(|(ip, t)| *ip == x.ip && *t == x.last_event));
    }
    // Pinned for this seed: changes mean the generator or the oracle changed.
    assert_eq!(
        m.len(),
        rows.iter()
            .filter(|r| (r.note == "live" || r.note == "reactivated")
                && r.ti_ip_entity()
                    .and_then(kvsentry_model::net::parse_ip)
                    .is_some_and(|ip| callers.contains(&ip)))
            .map(|r| &r.indicator_id)
            .collect::<HashSet<_>>()
            .len()
    );

    // CSV: portal style.
    let mut csv_out = Vec::new();
    write_indicators_csv(&rows, &mut csv_out).unwrap();
    assert!(
        csv_out.starts_with("\u{feff}TenantId,\"TimeGenerated [UTC]\",SourceSystem".as_bytes())
    );
    let mut rdr = csv::Reader::from_reader(csv_out.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header.len(), 64);
    assert!(header.contains(&"ExpirationDateTime [UTC]".to_string()));
    let tg = header
        .iter()
        .position(|h| h == "TimeGenerated [UTC]")
        .unwrap();
    let nip = header.iter().position(|h| h == "NetworkIP").unwrap();
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), rows.len());
    for (rec, row) in recs.iter().zip(&rows) {
        let t = &rec[tg];
        // e.g. 7/1/2025, 12:00:00.000 AM
        assert!(t.ends_with(" AM") || t.ends_with(" PM"), "{t}");
        assert!(t.contains(", ") && t.matches('/').count() == 2, "{t}");
        assert_eq!(&rec[nip], row.network_ip);
    }
    // JSON lines with ISO times.
    let mut jl = Vec::new();
    write_indicators_jsonl(&rows, &mut jl).unwrap();
    let text = String::from_utf8(jl).unwrap();
    for (line, row) in text.lines().zip(&rows) {
        let v: Value = serde_json::from_str(line).unwrap();
        let t: Timestamp = v["TimeGenerated"].as_str().unwrap().parse().unwrap();
        assert_eq!(t, row.time_generated);
        assert_eq!(v["Active"], row.active);
        assert_eq!(v["IndicatorId"], row.indicator_id.as_str());
        assert_eq!(v["Type"], "ThreatIntelligenceIndicator");
    }
}

#[test]
fn rewriting_a_directory_replaces_blobs() {
    let dir = tmp("rewrite");
    let c = cfg(800);
    let a = write_dir("storage".parse().unwrap(), &c, &dir).unwrap();
    let b = write_dir("storage".parse().unwrap(), &c, &dir).unwrap();
    assert_eq!(a.files, b.files);
    let lines: usize = b
        .files
        .iter()
        .filter(|p| p.ends_with("PT1H.json"))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(lines as u64, b.records);
    let _ = std::fs::remove_dir_all(&dir);
}
