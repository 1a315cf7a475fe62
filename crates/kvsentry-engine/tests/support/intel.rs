//! Key Vault audit events and Sentinel `ThreatIntelligenceIndicator` exports (written by
//! the tests) for the indicator_match tests, and the runs of the engine over them.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kvsentry_engine::{Engine, EngineOptions, EngineStats, TiMode, evidence_from_names};
use kvsentry_intel::{IndicatorSet, TiFormat, load_path};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Origin, Timestamp, Vault};
use kvsentry_rules::RuleSet;
use serde_json::{Value, json};

pub const TI: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";
pub const VAULT_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT";
pub const HSM_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM";
pub const APP: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
pub const OID: &str = "9c3f1a2b-4d5e-4f60-8a7b-1c2d3e4f5a6b";

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A data-plane SecretGet as Key Vault logs it; `line` is its line in the input file.
pub fn kv(time: &str, ip: &str, line: u64) -> AuditEvent<'static> {
    kv_op(time, ip, "SecretGet", line)
}

pub fn kv_op(time: &str, ip: &str, op: &'static str, line: u64) -> AuditEvent<'static> {
    let mut e = AuditEvent::new(ts(time), "AuditEvent".into(), op.into());
    e.operation_version = Some("7.4".into());
    e.result_type = Some("Success".into());
    e.result_signature = Some("OK".into());
    e.http_status = Some(200);
    e.duration_ms = Some(41);
    e.caller_ip = CallerIp::parse(ip.to_string().into());
    e.vault = Vault::from_resource_id(VAULT_ID);
    e.correlation_id = Some(format!("a6c3d2e1-0000-4000-8000-{line:012}").into());
    e.client_info = Some("AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0 Python/3.12.10".into());
    e.request_uri = Some(
        "https://securaallkeyvault.vault.azure.net/secrets/db-password/?api-version=7.4".into(),
    );
    e.object_id = Some(
        "https://securaallkeyvault.vault.azure.net/secrets/db-password/5b1e2f0c9d8a4b7e9f1a2b3c4d5e6f70"
            .into(),
    );
    e.tls_version = Some("TLS1_3".into());
    e.identity.upn = Some("mallory@contoso.com".into());
    e.identity.object_id = Some(OID.into());
    e.identity.app_id = Some(APP.into());
    e.identity.identity_type = Some("user".into());
    e.identity.tenant_id = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
    e.origin = Origin { source: 0, line };
    e
}

/// One `ThreatIntelligenceIndicator` row as a Sentinel JSON export writes it.
pub fn ti_row(id: &str, generated: &str, ip_col: &str, ip: &str, expires: &str) -> Value {
    json!({
        "TenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "TimeGenerated": generated,
        "SourceSystem": "SecurityGraph",
        "IndicatorId": id,
        "Action": "alert",
        "Active": true,
        "ExpirationDateTime": expires,
        "ThreatType": "C2",
        "ConfidenceScore": 80,
        "Description": format!("indicator {id}"),
        "TrafficLightProtocolLevel": "Amber",
        ip_col: ip,
        "Type": "ThreatIntelligenceIndicator"
    })
}

pub static FILES: AtomicU64 = AtomicU64::new(0);

/// Loads rows through the intel crate's Sentinel loader (a temporary file per call).
pub fn load(rows: &[Value]) -> IndicatorSet {
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "kvsentry-engine-ti-{}-{n}.json",
        std::process::id()
    ));
    std::fs::write(&path, serde_json::to_string_pretty(rows).unwrap()).unwrap();
    let mut set = IndicatorSet::new();
    let rep = load_path(&path, Some(TiFormat::Sentinel), &mut set);
    std::fs::remove_file(&path).unwrap();
    rep.unwrap();
    set
}

pub fn opts(set: IndicatorSet, mode: TiMode) -> EngineOptions {
    EngineOptions {
        intel: Some(Arc::new(set)),
        ti_mode: mode,
        evidence_source: Some(evidence_from_names(vec![
            "insights-logs-auditevent/PT1H.json".into(),
        ])),
        source_form: Some(Arc::new(|_: &kvsentry_model::Origin| {
            Some("storage".to_string())
        })),
        ..EngineOptions::default()
    }
}

/// The built-in TI rule alone, optionally edited (e.g. compat).
pub fn ti_rules(edit: impl Fn(String) -> String) -> RuleSet {
    let y = edit(RuleSet::builtin().get(TI).unwrap().to_yaml());
    RuleSet::from_yaml_str(&y, "ti.yml").unwrap()
}

pub fn compat(y: String) -> String {
    y.replace("sentinel_compat: false", "sentinel_compat: true")
}

pub fn run(
    rules: &RuleSet,
    o: EngineOptions,
    events: &[AuditEvent<'_>],
) -> (Vec<Alert>, EngineStats) {
    let mut engine = Engine::new(rules, o).unwrap();
    let mut out = Vec::new();
    for e in events {
        engine.push(e, &mut out);
    }
    // Nothing before the end of the run.
    assert!(out.is_empty());
    engine.finish(&mut out);
    (out, engine.stats().clone())
}

/// (indicator id, client ip, event time, event_count) of each alert.
pub fn summary(alerts: &[Alert]) -> Vec<(String, String, String, u64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a.fields["indicator_id"].as_str().unwrap().to_string(),
                a.fields["client_ip"].as_str().unwrap().to_string(),
                a.time.to_string(),
                a.fields["event_count"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub fn s(id: &str, ip: &str, t: &str, n: u64) -> (String, String, String, u64) {
    (id.into(), ip.into(), t.into(), n)
}

pub const EXP: &str = "2026-03-01T00:00:00Z";
