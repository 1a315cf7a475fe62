//! `kind: indicator_match`: the built-in Sentinel rule "TI map IP entity to Azure Key Vault
//! logs" on Key Vault audit events shaped like real records, with indicators loaded from
//! Sentinel `ThreatIntelligenceIndicator` exports (written by the tests) or built with the
//! intel crate's API.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kvsentry_engine::{Engine, EngineOptions, EngineStats, TiMode, evidence_from_names};
use kvsentry_intel::{Indicator, IndicatorSet, TiFormat, load_path, parse_network};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Entity, Origin, Timestamp, Vault};
use kvsentry_rules::RuleSet;
use serde_json::{Value, json};

const TI: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";
const VAULT_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT";
const HSM_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM";
const APP: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const OID: &str = "9c3f1a2b-4d5e-4f60-8a7b-1c2d3e4f5a6b";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A data-plane SecretGet as Key Vault logs it; `line` is its line in the input file.
fn kv(time: &str, ip: &str, line: u64) -> AuditEvent<'static> {
    kv_op(time, ip, "SecretGet", line)
}

fn kv_op(time: &str, ip: &str, op: &'static str, line: u64) -> AuditEvent<'static> {
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
fn ti_row(id: &str, generated: &str, ip_col: &str, ip: &str, expires: &str) -> Value {
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

static FILES: AtomicU64 = AtomicU64::new(0);

/// Loads rows through the intel crate's Sentinel loader (a temporary file per call).
fn load(rows: &[Value]) -> IndicatorSet {
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

fn opts(set: IndicatorSet, mode: TiMode) -> EngineOptions {
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
fn ti_rules(edit: impl Fn(String) -> String) -> RuleSet {
    let y = edit(RuleSet::builtin().get(TI).unwrap().to_yaml());
    RuleSet::from_yaml_str(&y, "ti.yml").unwrap()
}

fn compat(y: String) -> String {
    y.replace("sentinel_compat: false", "sentinel_compat: true")
}

fn run(rules: &RuleSet, o: EngineOptions, events: &[AuditEvent<'_>]) -> (Vec<Alert>, EngineStats) {
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
fn summary(alerts: &[Alert]) -> Vec<(String, String, String, u64)> {
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

fn s(id: &str, ip: &str, t: &str, n: u64) -> (String, String, String, u64) {
    (id.into(), ip.into(), t.into(), n)
}

const EXP: &str = "2026-03-01T00:00:00Z";

#[test]
fn latest_version_per_indicator_id_wins() {
    let set = load(&[
        ti_row(
            "ind-A",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "104.40.82.76",
            EXP,
        ),
        ti_row(
            "ind-A",
            "2026-01-03T00:00:00Z",
            "NetworkIP",
            "52.178.10.1",
            EXP,
        ),
        // An older version loaded after the newer one does not win.
        ti_row(
            "ind-A",
            "2026-01-02T00:00:00Z",
            "NetworkIP",
            "52.178.10.2",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-05T10:00:00.1234567Z", "104.40.82.76", 1),
        kv("2026-01-05T10:05:00.1234567Z", "52.178.10.1", 2),
        kv("2026-01-05T10:06:00.1234567Z", "52.178.10.2", 3),
    ];
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-A", "52.178.10.1", "2026-01-05T10:05:00.1234567Z", 1)]
    );
    let ti = stats.rule(TI).unwrap().indicator.as_ref().unwrap();
    assert_eq!(ti.mode, "retro");
    assert_eq!(ti.indicators, 1);
    assert_eq!(ti.selection.as_ref().unwrap().superseded, 2);
    assert_eq!(ti.indicator_matches, 1);
    assert_eq!(ti.pairs, 1);
    assert_eq!(ti.triggered, Some(true));
    assert_eq!(stats.rule(TI).unwrap().events_matched, 3);
    assert_eq!(stats.rule(TI).unwrap().alerts, 1);
}

#[test]
fn a_deactivated_latest_version_disables_the_indicator() {
    let mut off = ti_row(
        "ind-B",
        "2026-01-04T00:00:00Z",
        "NetworkIP",
        "52.178.10.3",
        EXP,
    );
    off["Active"] = json!(false);
    let set = load(&[
        ti_row(
            "ind-B",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.10.3",
            EXP,
        ),
        off,
    ]);
    let events = [kv("2026-01-05T10:00:00Z", "52.178.10.3", 1)];
    for mode in [TiMode::Retro, TiMode::AsOf(ts("2026-01-05T11:00:00Z"))] {
        let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), mode), &events);
        assert!(alerts.is_empty(), "{mode:?}");
        let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
        assert_eq!(ti.selection.unwrap().inactive, 1, "{mode:?}");
        assert_eq!(ti.indicators, 0);
        assert_eq!(
            ti.note.as_deref(),
            Some("no indicator survived the selection: the rule cannot alert")
        );
    }
}

#[test]
fn expired_indicator_as_of_excludes_retro_keeps_events_before_expiry() {
    // Expires during the log span: events at or after the expiration never match, and the
    // alert keeps the latest event before it.
    let set = load(&[ti_row(
        "ind-C",
        "2025-12-30T00:00:00Z",
        "NetworkIP",
        "52.178.10.4",
        "2026-01-06T00:00:00Z",
    )]);
    let events = [
        kv("2026-01-05T10:00:00.0000000Z", "52.178.10.4", 1),
        kv("2026-01-06T10:00:00.0000000Z", "52.178.10.4", 2),
        kv("2026-01-05T23:59:59.9999999Z", "52.178.10.4", 3),
        kv("2026-01-06T00:00:00.0000000Z", "52.178.10.4", 4),
    ];
    let (alerts, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
    assert_eq!(alerts[0].fields["first_event_time"], "2026-01-05T10:00:00Z");
    assert_eq!(alerts[0].fields["expiration"], "2026-01-06T00:00:00Z");
    assert_eq!(
        alerts[0].fields["correlation_id"],
        "a6c3d2e1-0000-4000-8000-000000000003"
    );
    // The same in compat mode (string equality on an IPv4 address).
    let (alerts, _) = run(&ti_rules(compat), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
    // A run on Jan 7: `ExpirationDateTime > now()` drops it.
    let (alerts, stats) = run(
        &ti_rules(|y| y),
        opts(set.clone(), TiMode::AsOf(ts("2026-01-07T00:00:00Z"))),
        &events,
    );
    assert!(alerts.is_empty());
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!(ti.mode, "as-of 2026-01-07T00:00:00Z");
    assert_eq!(ti.selection.unwrap().expired, 1);
    // A run on Jan 5 at noon keeps it; the event of Jan 6 still does not match.
    let (alerts, _) = run(
        &ti_rules(|y| y),
        opts(set, TiMode::AsOf(ts("2026-01-05T12:00:00Z"))),
        &events,
    );
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
}

#[test]
fn as_of_ignores_indicator_records_older_than_the_lookback() {
    let set = load(&[
        ti_row(
            "ind-old",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.11.1",
            EXP,
        ),
        ti_row(
            "ind-new",
            "2026-01-10T00:00:00Z",
            "NetworkIP",
            "52.178.11.2",
            EXP,
        ),
        // Generated after the run: did not exist yet.
        ti_row(
            "ind-later",
            "2026-01-21T00:00:00Z",
            "NetworkIP",
            "52.178.11.3",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-19T10:00:00Z", "52.178.11.1", 1),
        kv("2026-01-19T10:01:00Z", "52.178.11.2", 2),
        kv("2026-01-19T10:02:00Z", "52.178.11.3", 3),
    ];
    let at = TiMode::AsOf(ts("2026-01-20T00:00:00Z"));
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), at), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-new", "52.178.11.2", "2026-01-19T10:01:00Z", 1)]
    );
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!((sel.outside_lookback, sel.after_as_of, sel.kept), (1, 1, 1));
    // The rule's ioc_lookback applies: 30 days reaches the Jan 1 record.
    let (alerts, _) = run(
        &ti_rules(|y| y.replace("ioc_lookback: 14d", "ioc_lookback: 30d")),
        opts(set.clone(), at),
        &events,
    );
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-old", "52.178.11.1", "2026-01-19T10:00:00Z", 1),
            s("ind-new", "52.178.11.2", "2026-01-19T10:01:00Z", 1)
        ]
    );
    // Retro uses every record, whatever its age.
    let (alerts, _) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(alerts.len(), 3);
}

#[test]
fn private_loopback_and_link_local_indicators_never_alert() {
    let bad = [
        "10.1.2.3",
        "192.168.7.7",
        "172.16.0.9",
        "127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "::1",
    ];
    let rows: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            ti_row(
                &format!("ind-p{i}"),
                "2026-01-01T00:00:00Z",
                "NetworkIP",
                ip,
                EXP,
            )
        })
        .collect();
    let set = load(&rows);
    let events: Vec<AuditEvent<'static>> = bad
        .iter()
        .enumerate()
        .map(|(i, ip)| kv("2026-01-05T10:00:00Z", ip, i as u64 + 1))
        .collect();
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert!(alerts.is_empty(), "{}", summary(&alerts).len());
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!(sel.non_global.values().sum::<usize>(), 7);
    assert_eq!(sel.kept, 0);
    // Compat: the KQL's own filter; 169.254/16 passes it (ipv4_is_private is RFC 1918 only),
    // which is what Sentinel does: it is the only one left.
    let (alerts, stats) = run(&ti_rules(compat), opts(set, TiMode::Retro), &events);
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!(sel.kept, 1);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-p4", "169.254.169.254", "2026-01-05T10:00:00Z", 1)]
    );
}

#[test]
fn ip_column_precedence_follows_the_iff_chain() {
    let mut all4 = ti_row(
        "ind-dst",
        "2026-01-01T00:00:00Z",
        "NetworkDestinationIP",
        "52.178.20.1",
        EXP,
    );
    all4["NetworkSourceIP"] = json!("52.178.20.2");
    all4["EmailSourceIpAddress"] = json!("52.178.20.3");
    all4["NetworkIP"] = json!("");
    let mut src = ti_row(
        "ind-src",
        "2026-01-01T00:00:00Z",
        "NetworkSourceIP",
        "52.178.21.1",
        EXP,
    );
    src["EmailSourceIpAddress"] = json!("52.178.21.2");
    let email = ti_row(
        "ind-email",
        "2026-01-01T00:00:00Z",
        "EmailSourceIpAddress",
        "52.178.22.1",
        EXP,
    );
    let mut net = ti_row(
        "ind-net",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "52.178.23.1",
        EXP,
    );
    net["NetworkDestinationIP"] = json!("52.178.23.2");
    let set = load(&[all4, src, email, net]);
    let ips = [
        "52.178.20.1",
        "52.178.20.2",
        "52.178.20.3",
        "52.178.21.1",
        "52.178.21.2",
        "52.178.22.1",
        "52.178.23.1",
        "52.178.23.2",
    ];
    let events: Vec<AuditEvent<'static>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| kv(&format!("2026-01-05T10:0{i}:00Z"), ip, i as u64 + 1))
        .collect();
    let (alerts, _) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-dst", "52.178.20.1", "2026-01-05T10:00:00Z", 1),
            s("ind-src", "52.178.21.1", "2026-01-05T10:03:00Z", 1),
            s("ind-email", "52.178.22.1", "2026-01-05T10:05:00Z", 1),
            s("ind-net", "52.178.23.1", "2026-01-05T10:06:00Z", 1),
        ]
    );
    let cols: Vec<&str> = alerts
        .iter()
        .map(|a| a.fields["indicator_ip_column"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "NetworkDestinationIP",
            "NetworkSourceIP",
            "EmailSourceIpAddress",
            "NetworkIP"
        ]
    );
}

#[test]
fn one_alert_per_indicator_and_ip_with_the_latest_event_whatever_the_order() {
    let set = load(&[ti_row(
        "ind-A",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "104.40.82.76",
        EXP,
    )]);
    let mut events = vec![
        kv_op(
            "2026-01-05T10:00:00.1000000Z",
            "104.40.82.76",
            "SecretList",
            10,
        ),
        kv_op(
            "2026-01-05T10:20:00.5000000Z",
            "104.40.82.76",
            "SecretGet",
            11,
        ),
        // Same time as line 11, later line: the later origin is the latest.
        kv_op("2026-01-05T10:20:00.5000000Z", "104.40.82.76", "KeyGet", 12),
        kv_op("2026-01-05T10:10:00Z", "104.40.82.76", "VaultGet", 13),
        // Another caller, no indicator.
        kv_op("2026-01-05T10:30:00Z", "104.40.82.77", "SecretGet", 14),
    ];
    let (a, stats) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&a),
        vec![s("ind-A", "104.40.82.76", "2026-01-05T10:20:00.5Z", 4)]
    );
    assert_eq!(a[0].fields["operation"], "KeyGet");
    assert_eq!(a[0].fields["first_event_time"], "2026-01-05T10:00:00.1Z");
    let ev: Vec<(String, &str, Option<&str>)> = a[0]
        .evidence
        .iter()
        .map(|e| {
            (
                e.time.to_string(),
                e.operation.as_str(),
                e.source.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        ev,
        vec![
            (
                "2026-01-05T10:00:00.1Z".into(),
                "SecretList",
                Some("insights-logs-auditevent/PT1H.json:10")
            ),
            (
                "2026-01-05T10:10:00Z".into(),
                "VaultGet",
                Some("insights-logs-auditevent/PT1H.json:13")
            ),
            (
                "2026-01-05T10:20:00.5Z".into(),
                "SecretGet",
                Some("insights-logs-auditevent/PT1H.json:11")
            ),
            (
                "2026-01-05T10:20:00.5Z".into(),
                "KeyGet",
                Some("insights-logs-auditevent/PT1H.json:12")
            ),
        ]
    );
    assert_eq!(stats.rule(TI).unwrap().events_matched, 5);
    // Reversed arrival: the same alert.
    events.reverse();
    let (b, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(a, b);
    // Evidence capped at 2: the first two, plus the kept event.
    let (c, _) = run(
        &ti_rules(|y| y.replace("evidence: 20", "evidence: 2")),
        opts(set, TiMode::Retro),
        &events,
    );
    let ops: Vec<&str> = c[0].evidence.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(ops, vec!["SecretList", "VaultGet", "KeyGet"]);
}

#[test]
fn two_indicators_on_one_ip_alert_twice_by_default_once_in_compat() {
    let set = load(&[
        ti_row(
            "ind-Y",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.50.5",
            EXP,
        ),
        ti_row(
            "ind-X",
            "2026-01-02T00:00:00Z",
            "NetworkIP",
            "52.178.50.5",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-05T10:00:00Z", "52.178.50.5", 1),
        kv("2026-01-05T11:00:00Z", "52.178.50.5", 2),
    ];
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-X", "52.178.50.5", "2026-01-05T11:00:00Z", 2),
            s("ind-Y", "52.178.50.5", "2026-01-05T11:00:00Z", 2)
        ]
    );
    assert_ne!(alerts[0].alert_id, alerts[1].alert_id);
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!((ti.indicator_matches, ti.pairs), (4, 2));
    // innerunique: one indicator per IP; the intel crate keeps the highest IndicatorId.
    let (alerts, stats) = run(&ti_rules(compat), opts(set, TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-Y", "52.178.50.5", "2026-01-05T11:00:00Z", 2)]
    );
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!(ti.mode, "retro (compat)");
    assert_eq!(ti.selection.unwrap().duplicate_ip, 1);
}

#[test]
fn ipv6_spelling_and_cidr_match_by_default_not_in_compat() {
    let set = load(&[
        ti_row(
            "ind-v6",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "2A01:111:F400:0:0:0:0:1A",
            EXP,
        ),
        ti_row(
            "ind-net",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.179.0.0/16",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-05T10:00:00Z", "2a01:111:f400::1a", 1),
        kv("2026-01-05T10:01:00Z", "52.179.3.4", 2),
        kv("2026-01-05T10:02:00Z", "52.180.3.4", 3),
    ];
    let (alerts, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-v6", "2a01:111:f400::1a", "2026-01-05T10:00:00Z", 1),
            s("ind-net", "52.179.3.4", "2026-01-05T10:01:00Z", 1)
        ]
    );
    let threats: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            let t = a.threat.as_ref().unwrap();
            (t.indicator_type.as_str(), t.indicator_value.as_str())
        })
        .collect();
    assert_eq!(
        threats,
        vec![
            ("ipv6-addr", "2A01:111:F400:0:0:0:0:1A"),
            ("ipv4-addr-cidr", "52.179.0.0/16")
        ]
    );
    assert_eq!(alerts[0].fields["indicator_ip"], "2A01:111:F400:0:0:0:0:1A");
    let (alerts, stats) = run(&ti_rules(compat), opts(set, TiMode::Retro), &events);
    assert!(alerts.is_empty());
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    // IPv6 fails `ipv4_is_private(x) == false`; the CIDR passes it but never equals an IP.
    assert_eq!(sel.kept, 1);
    assert_eq!(
        sel.non_global.get("not IPv4 (ipv4_is_private is null)"),
        Some(&1)
    );
}

#[test]
fn the_alert_carries_the_seed_projection_entities_and_threat() {
    let mut row = ti_row(
        "ind-full",
        "2026-01-02T08:00:00Z",
        "NetworkIP",
        "104.40.82.76",
        EXP,
    );
    row["ActivityGroupNames"] = json!("[\"Storm-0558\"]");
    row["Url"] = json!("https://ti.example.com/indicators/ind-full");
    row["IndicatorProvider"] = json!("Microsoft Defender Threat Intelligence");
    let set = load(&[row]);
    let mut e = kv("2026-01-05T10:00:00.1234567Z", "104.40.82.76", 42);
    e.http_status = Some(403);
    e.result_signature = Some("Forbidden".into());
    let mut other_vault = kv("2026-01-05T09:00:00Z", "104.40.82.76", 41);
    other_vault.vault = Vault::from_resource_id(HSM_ID);
    let (alerts, _) = run(
        &ti_rules(|y| y),
        opts(set, TiMode::Retro),
        &[other_vault, e],
    );
    assert_eq!(alerts.len(), 1, "the Managed HSM event is filtered out");
    let a = &alerts[0];
    assert_eq!(
        a.alert_id,
        Alert::compute_id(TI, &["ind-full", "104.40.82.76"])
    );
    assert_eq!(a.alert_id, "371e9dc6-4eff-521a-99ed-3581d5a6f9d5");
    assert_eq!(a.rule.id, TI);
    assert_eq!(a.rule.name, "TI map IP entity to Azure Key Vault logs");
    assert_eq!(a.rule.severity, "medium");
    assert_eq!(a.rule.tactics, vec!["CommandAndControl"]);
    assert_eq!(a.rule.techniques, vec!["T1071"]);
    assert_eq!(a.rule.version, "1.3.4");
    assert_eq!(a.time.to_string(), "2026-01-05T10:00:00.1234567Z");
    assert_eq!(a.window, None);
    assert_eq!(
        Value::Object(a.group.clone()),
        json!({"indicator_id": "ind-full", "caller.ip": "104.40.82.76"})
    );
    assert_eq!(
        serde_json::to_string(&a.fields).unwrap(),
        json!({
            "event_time": "2026-01-05T10:00:00.1234567Z",
            "description": "indicator ind-full",
            "activity_groups": ["Storm-0558"],
            "indicator_id": "ind-full",
            "threat_type": "C2",
            "url": "https://ti.example.com/indicators/ind-full",
            "expiration": "2026-03-01T00:00:00Z",
            "confidence": 80,
            "indicator_ip": "104.40.82.76",
            "indicator_ip_column": "NetworkIP",
            "client_ip": "104.40.82.76",
            "resource_id": VAULT_ID,
            "subscription_id": "A921D5D4-BDB7-43C3-AA01-88C6AE24992F",
            "operation": "SecretGet",
            "result_type": "Success",
            "correlation_id": "a6c3d2e1-0000-4000-8000-000000000042",
            "object_id": "https://securaallkeyvault.vault.azure.net/secrets/db-password/5b1e2f0c9d8a4b7e9f1a2b3c4d5e6f70",
            "client_info": "AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0 Python/3.12.10",
            "http_status": 403,
            "app_id": APP,
            "caller_object_id": OID,
            "type": "storage",
            "event_count": 1,
            "first_event_time": "2026-01-05T10:00:00.1234567Z"
        })
        .to_string()
    );
    assert_eq!(
        a.entities,
        vec![
            Entity::Ip {
                address: "104.40.82.76".into()
            },
            Entity::AzureResource {
                resource_id: VAULT_ID.into()
            },
            Entity::Account {
                upn: Some("mallory@contoso.com".into()),
                object_id: Some(OID.into()),
                app_id: Some(APP.into())
            }
        ]
    );
    assert_eq!(
        serde_json::to_value(a.threat.as_ref().unwrap()).unwrap(),
        json!({
            "matched_atomic": "104.40.82.76",
            "matched_field": "caller.ip",
            "matched_type": "indicator_match_rule",
            "indicator_id": "ind-full",
            "indicator_type": "ipv4-addr",
            "indicator_value": "104.40.82.76",
            "feed": "Microsoft Defender Threat Intelligence"
        })
    );
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(
        a.evidence[0].source.as_deref(),
        Some("insights-logs-auditevent/PT1H.json:42")
    );
}

#[test]
fn alert_ids_are_stable_across_runs_and_more_events() {
    let set = load(&[ti_row(
        "ind-A",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "104.40.82.76",
        EXP,
    )]);
    let one = [kv("2026-01-05T10:00:00Z", "104.40.82.76", 1)];
    let two = [
        kv("2026-01-05T10:00:00Z", "104.40.82.76", 1),
        kv("2026-01-05T11:00:00Z", "104.40.82.76", 2),
    ];
    let (a, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &one);
    let (b, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &one);
    let (c, _) = run(
        &ti_rules(|y| y),
        opts(set, TiMode::AsOf(ts("2026-01-05T12:00:00Z"))),
        &two,
    );
    assert_eq!(a[0].alert_id, "6423a40b-a89c-5d29-8b66-631e7c57a317");
    assert_eq!(a[0].alert_id, b[0].alert_id);
    assert_eq!(a[0].alert_id, c[0].alert_id);
    assert_ne!(a[0].time, c[0].time);
}

#[test]
fn indicators_built_with_the_api_and_a_hunt_without_intel() {
    let mut set = IndicatorSet::new();
    let mut ind = Indicator::new(
        "feodo:52.178.60.6",
        parse_network("52.178.60.6").unwrap(),
        "52.178.60.6",
        "feodo_ipblocklist.txt",
        ts("2026-01-01T00:00:00Z"),
        "feodo_ipblocklist.txt:7",
    );
    ind.threat_type = Some("botnet_cc".into());
    set.push(ind);
    let events = [kv("2026-01-05T10:00:00Z", "52.178.60.6", 1)];
    let (alerts, _) = run(&RuleSet::builtin(), opts(set, TiMode::Retro), &events);
    let a: Vec<&Alert> = alerts.iter().filter(|a| a.rule.id == TI).collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].fields["expiration"], Value::Null);
    assert_eq!(a[0].fields["confidence"], Value::Null);
    assert!(a[0].fields.get("indicator_ip_column").is_none());
    assert_eq!(
        a[0].threat.as_ref().unwrap().feed.as_deref(),
        Some("feodo_ipblocklist.txt")
    );
    // The same hunt without threat intelligence: no error, no alert, and the stats say why.
    let (alerts, stats) = run(&RuleSet::builtin(), EngineOptions::default(), &events);
    assert!(alerts.is_empty());
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!(ti.mode, "none");
    assert_eq!(ti.indicators, 0);
    assert_eq!(ti.selection, None);
    assert_eq!(
        ti.note.as_deref(),
        Some(
            "no threat intelligence loaded: the rule has no indicators and cannot alert (mode would be retro)"
        )
    );
    assert_eq!(ti.triggered, Some(false));
    // Threshold rules carry no indicator stats.
    assert!(
        stats
            .rules
            .iter()
            .filter(|r| r.rule_id != TI)
            .all(|r| r.indicator.is_none())
    );
}

#[test]
fn trigger_compares_the_number_of_result_rows() {
    let set = load(&[
        ti_row(
            "ind-A",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "104.40.82.76",
            EXP,
        ),
        ti_row(
            "ind-B",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.10.3",
            EXP,
        ),
    ]);
    let one = [kv("2026-01-05T10:00:00Z", "104.40.82.76", 1)];
    let rules = ti_rules(|y| {
        y.replace(
            "detection:\n",
            "detection:\n  trigger:\n    operator: gt\n    threshold: 1\n",
        )
    });
    let (alerts, stats) = run(&rules, opts(set.clone(), TiMode::Retro), &one);
    assert!(alerts.is_empty());
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!((ti.pairs, ti.triggered), (1, Some(false)));
    let two = [
        kv("2026-01-05T10:00:00Z", "104.40.82.76", 1),
        kv("2026-01-05T10:00:01Z", "52.178.10.3", 2),
    ];
    let (alerts, _) = run(&rules, opts(set, TiMode::Retro), &two);
    assert_eq!(alerts.len(), 2);
}

#[test]
fn explain_says_why_events_did_not_match() {
    let set = load(&[
        ti_row(
            "ind-A",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "104.40.82.76",
            EXP,
        ),
        ti_row(
            "ind-C",
            "2025-12-30T00:00:00Z",
            "NetworkIP",
            "52.178.10.4",
            "2026-01-05T00:00:00Z",
        ),
    ]);
    let mut hsm = kv("2026-01-05T10:00:00Z", "104.40.82.76", 1);
    hsm.vault = Vault::from_resource_id(HSM_ID);
    let mut redacted = kv("2026-01-05T10:00:01Z", "104.40.82.76", 2);
    redacted.caller_ip = CallerIp::parse("<Redacted>".into());
    let events = [
        hsm,
        redacted,
        kv("2026-01-05T10:00:02Z", "52.178.99.99", 3),
        kv("2026-01-05T10:00:03Z", "52.178.10.4", 4),
        kv("2026-01-05T10:00:04Z", "104.40.82.76", 5),
    ];
    let mut o = opts(set, TiMode::Retro);
    o.explain = Some(TI.into());
    let mut engine = Engine::new(&ti_rules(|y| y), o).unwrap();
    let mut out = Vec::new();
    for e in &events {
        engine.push(e, &mut out);
    }
    engine.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        engine.explain_rejections(),
        vec![
            (
                "{ field: vault.resource_type, iequals: VAULTS }".to_string(),
                1
            ),
            ("no caller.ip address".to_string(), 1),
            ("no selected indicator covers the address".to_string(), 1),
            (
                "covering indicators expired before the event".to_string(),
                1
            ),
        ]
    );
    assert_eq!(engine.stats().rule(TI).unwrap().events_matched, 3);
}

#[test]
fn prepare_runs_on_other_threads() {
    let set = load(&[ti_row(
        "ind-A",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "104.40.82.76",
        EXP,
    )]);
    let mut engine = Engine::new(&ti_rules(|y| y), opts(set, TiMode::Retro)).unwrap();
    let prep = engine.preparer();
    let events: Vec<AuditEvent<'static>> = (0..100)
        .map(|i| {
            kv(
                &format!("2026-01-05T10:{:02}:00Z", i % 60),
                "104.40.82.76",
                i + 1,
            )
        })
        .collect();
    let prepared = std::thread::scope(|s| {
        let h = s.spawn(|| events.iter().map(|e| prep.prepare(e)).collect::<Vec<_>>());
        h.join().unwrap()
    });
    assert!(prepared.iter().all(|p| p.matched_rules() == 1));
    let mut out = Vec::new();
    for p in prepared {
        engine.observe(p, &mut out);
    }
    engine.finish(&mut out);
    assert_eq!(
        summary(&out),
        vec![s("ind-A", "104.40.82.76", "2026-01-05T10:59:00Z", 100)]
    );
}

#[test]
fn a_rule_on_the_token_address_claim_and_a_second_finish() {
    let set = load(&[ti_row(
        "ind-T",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "52.178.70.7",
        EXP,
    )]);
    let y = RuleSet::builtin()
        .get(TI)
        .unwrap()
        .to_yaml()
        .replace(TI, "ti-ipaddr")
        .replace(
            "field: caller.ip\n    indicator: ip",
            "field: identity.ipaddr\n    indicator: ip",
        );
    let rules = RuleSet::from_yaml_str(&y, "ipaddr.yml").unwrap();
    // The token was issued to the listed address; the call came through another one.
    let mut e = kv("2026-01-05T10:00:00Z", "104.40.82.80", 1);
    e.identity.ip_claim = Some("52.178.70.7".into());
    let mut engine = Engine::new(&rules, opts(set, TiMode::Retro)).unwrap();
    let mut out = Vec::new();
    engine.push(&e, &mut out);
    engine.finish(&mut out);
    assert_eq!(out.len(), 1);
    let a = &out[0];
    assert_eq!(
        Value::Object(a.group.clone()),
        json!({"indicator_id": "ind-T", "identity.ipaddr": "52.178.70.7"})
    );
    assert_eq!(
        a.alert_id,
        Alert::compute_id("ti-ipaddr", &["ind-T", "52.178.70.7"])
    );
    let t = a.threat.as_ref().unwrap();
    assert_eq!(
        (t.matched_field.as_str(), t.matched_atomic.as_str()),
        ("identity.ipaddr", "52.178.70.7")
    );
    // The Ip entity follows the rule's entity mapping (caller.ip by default).
    assert_eq!(
        a.entities[0],
        Entity::Ip {
            address: "104.40.82.80".into()
        }
    );
    // A second finish ends no second run.
    engine.finish(&mut out);
    assert_eq!(out.len(), 1);
    let ti = engine
        .stats()
        .rule("ti-ipaddr")
        .unwrap()
        .indicator
        .clone()
        .unwrap();
    assert_eq!(ti.triggered, Some(true));
    assert_eq!(engine.stats().rule("ti-ipaddr").unwrap().alerts, 1);
}
