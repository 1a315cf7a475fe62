//! `kind: indicator_match` (the built-in Sentinel rule "TI map IP entity to Azure Key Vault
//! logs") on Key Vault audit events shaped like real records: matching, the alerts, their
//! ids, the trigger, explanations, threads, a second finish.

use kvsentry_engine::{Engine, EngineOptions, TiMode};
use kvsentry_intel::{Indicator, IndicatorSet, parse_network};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Entity, Vault};
use kvsentry_rules::RuleSet;
use serde_json::{Value, json};

#[path = "support/intel.rs"]
mod intel;
use intel::*;

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

/// Any number of indicator_match rules count and alert: seventy copies of the built-in rule,
/// with and without intel, each count the events that passed their filter with an address
/// and, with intel, each alert on the covered address.
#[test]
fn seventy_indicator_rules_each_count_and_alert() {
    let base = RuleSet::builtin().get(TI).unwrap().to_yaml();
    let mut rules = RuleSet::new();
    let ids: Vec<String> = (0..70).map(|i| format!("ti-copy-{i:02}")).collect();
    for id in &ids {
        let y = base.replace(TI, id);
        rules.merge_override(RuleSet::from_yaml_str(&y, "ti.yml").unwrap());
    }
    let mut set = IndicatorSet::new();
    let mut ind = Indicator::new(
        "ind-1",
        parse_network("52.178.60.6").unwrap(),
        "52.178.60.6",
        "test",
        ts("2026-01-01T00:00:00Z"),
        "test:1",
    );
    ind.expiration = Some(ts(EXP));
    set.push(ind);
    let events = [
        kv("2026-01-05T10:00:00Z", "52.178.60.6", 1),
        kv("2026-01-05T10:01:00Z", "104.40.82.76", 2),
    ];
    let (alerts, stats) = run(&rules, opts(set, TiMode::Retro), &events);
    let (_, without) = run(&rules, EngineOptions::default(), &events);
    assert_eq!(alerts.len(), 70);
    for id in &ids {
        assert_eq!(stats.rule(id).unwrap().events_matched, 2, "{id}");
        assert_eq!(stats.rule(id).unwrap().alerts, 1, "{id}");
        assert_eq!(without.rule(id).unwrap().events_matched, 2, "{id}");
    }
}
