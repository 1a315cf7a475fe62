//! The engine on realistic Key Vault audit events (shaped like the records of Microsoft's
//! logging page and a 2022 attack emulation), with the built-in rules.

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineOptions, evidence_from_names};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Entity, Origin, Timestamp, Vault};
use kvsentry_rules::RuleSet;
use serde_json::json;

const SEED: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const APP: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
const VAULT_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT";
const VAULT2_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/PAYROLL-KV";
const ALICE: &str = "alice@contoso.com";
const BOB: &str = "bob@contoso.com";

#[derive(Clone, Copy)]
enum Who {
    User(&'static str),
    Sp(&'static str, &'static str),
    Mi(&'static str, &'static str),
    AppOnly(&'static str),
    Nobody,
}

/// A data-plane read as Key Vault logs it; `line` is its line in the (imaginary) input file.
fn ev(time: &str, op: &'static str, who: Who, line: u64) -> AuditEvent<'static> {
    let t: Timestamp = time.parse().unwrap();
    let mut e = AuditEvent::new(t, "AuditEvent".into(), op.into());
    e.operation_version = Some("7.4".into());
    e.result_type = Some("Success".into());
    e.result_signature = Some("OK".into());
    e.http_status = Some(200);
    e.duration_ms = Some(41);
    e.caller_ip = CallerIp::parse("104.40.82.76".into());
    e.vault = Vault::from_resource_id(VAULT_ID);
    e.correlation_id = Some(format!("a6c3d2e1-0000-4000-8000-{line:012}").into());
    e.client_info = Some("AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0 Python/3.12.10".into());
    e.request_uri =
        Some("https://securaallkeyvault.vault.azure.net/secrets/?api-version=7.4".into());
    e.tls_version = Some("TLS1_3".into());
    e.identity.tenant_id = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
    match who {
        Who::User(upn) => {
            e.identity.upn = Some(upn.into());
            e.identity.object_id = Some(format!("oid-{upn}").into());
            e.identity.app_id = Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46".into());
            e.identity.identity_type = Some("user".into());
        }
        Who::Sp(app, oid) => {
            e.identity.app_id = Some(app.into());
            e.identity.object_id = Some(oid.into());
            e.identity.identity_type = Some("app".into());
            e.identity.app_id_acr = Some("1".into());
        }
        Who::Mi(app, oid) => {
            e.identity.app_id = Some(app.into());
            e.identity.object_id = Some(oid.into());
            e.identity.managed_identity_id = Some("/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourcegroups/securaallrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/batch-mi".into());
        }
        Who::AppOnly(app) => {
            e.identity.app_id = Some(app.into());
        }
        Who::Nobody => {}
    }
    e.origin = Origin { source: 0, line };
    e
}

fn run_with(
    rules: &RuleSet,
    opts: EngineOptions,
    events: &[AuditEvent<'_>],
) -> (Vec<Alert>, Engine) {
    let mut engine = Engine::new(rules, opts).unwrap();
    let mut out = Vec::new();
    for e in events {
        engine.push(e, &mut out);
    }
    engine.finish(&mut out);
    (out, engine)
}

fn run(events: &[AuditEvent<'_>]) -> Vec<Alert> {
    run_with(&RuleSet::builtin(), EngineOptions::default(), events).0
}

fn of_rule<'a>(alerts: &'a [Alert], id: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule.id == id).collect()
}

/// Five reads by Alice within 10:00, two kinds.
fn alice_burst(minute: &str, first_line: u64) -> Vec<AuditEvent<'static>> {
    let ops = [
        "SecretList",
        "SecretGet",
        "SecretGet",
        "SecretGet",
        "SecretList",
    ];
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            ev(
                &format!("2026-01-05T{minute}:{:02}.1234567Z", 5 + i * 10),
                op,
                Who::User(ALICE),
                first_line + i as u64,
            )
        })
        .collect()
}

/// The seed rule with a sliding window (and a new id).
fn sliding_rules(suppression: &str) -> RuleSet {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace(SEED, "sliding-seed")
        .replace("type: tumbling", "type: sliding")
        .replace("suppression: 0", &format!("suppression: {suppression}"));
    RuleSet::from_yaml_str(&y, "sliding.yml").unwrap()
}

#[test]
fn seed_alerts_on_exactly_five_calls_of_two_operations() {
    let events = alice_burst("10:00", 1);
    let opts = EngineOptions {
        evidence_source: Some(evidence_from_names(vec!["logs/PT1H.json".into()])),
        ..EngineOptions::default()
    };
    let (alerts, engine) = run_with(&RuleSet::builtin(), opts, &events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule.id, SEED);
    assert_eq!(
        a.rule.name,
        "Azure Key Vault Excessive Secret or Key Retrieved"
    );
    assert_eq!(a.rule.severity, "medium");
    assert_eq!(a.rule.tactics, vec!["CredentialAccess"]);
    assert_eq!(a.rule.techniques, vec!["T1555", "T1555.006"]);
    let w = a.window.unwrap();
    assert_eq!(w.start.to_string(), "2026-01-05T10:00:00Z");
    assert_eq!(w.end.to_string(), "2026-01-05T10:01:00Z");
    assert_eq!(a.time, w.end);
    assert_eq!(
        serde_json::Value::Object(a.group.clone()),
        json!({"identity.upn": ALICE})
    );
    assert_eq!(
        serde_json::Value::Object(a.fields.clone()),
        json!({
            "actor_name": [ALICE],
            "actor_unique_count": 1,
            "app_id": ["04b07795-8ddb-461a-bbee-02f9e1bf7b46"],
            "object_id": ["oid-alice@contoso.com"],
            "source_ip": ["104.40.82.76"],
            "city_name": [],
            "region_name": [],
            "country_name": [],
            "as_org": [],
            "actions": ["SecretGet", "SecretList"],
            "action_count": 5,
            "distinct_actions": 2,
            "vaults_accessed": 1,
            "vault_names": ["SECURAALLKEYVAULT"],
            "result_type": ["Success"],
            "cloud_region": [],
            "agent_name": [],
            "subscription_id": ["A921D5D4-BDB7-43C3-AA01-88C6AE24992F"],
            "resource_group": ["SECURAALLRG"],
            "resource_ids": [VAULT_ID],
        })
    );
    // The id is a pure function of rule, window start and group: stable across runs.
    assert_eq!(
        a.alert_id,
        Alert::compute_id(SEED, &["2026-01-05T10:00:00Z", ALICE])
    );
    assert_eq!(a.alert_id, "f4b6a46f-37e2-596d-b082-d3cdba490314");
    assert_eq!(
        a.entities,
        vec![
            Entity::Account {
                upn: Some(ALICE.into()),
                object_id: Some("oid-alice@contoso.com".into()),
                app_id: Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46".into()),
            },
            Entity::Ip {
                address: "104.40.82.76".into()
            },
            Entity::AzureResource {
                resource_id: VAULT_ID.into()
            },
        ]
    );
    assert_eq!(a.evidence.len(), 5);
    assert_eq!(a.evidence[0].operation, "SecretList");
    assert_eq!(
        a.evidence[0].time.to_string(),
        "2026-01-05T10:00:05.1234567Z"
    );
    assert_eq!(a.evidence[0].source.as_deref(), Some("logs/PT1H.json:1"));
    assert_eq!(
        a.evidence[4].correlation_id.as_deref(),
        Some("a6c3d2e1-0000-4000-8000-000000000005")
    );
    let s = engine.stats();
    assert_eq!(s.events_seen, 5);
    assert_eq!(s.rule(SEED).unwrap().events_matched, 5);
    assert_eq!(s.rule(SEED).unwrap().alerts, 1);
    assert_eq!(s.rule(APP).unwrap().events_matched, 0);
}

#[test]
fn four_calls_do_not_alert_and_nor_do_five_of_one_operation() {
    let mut four = alice_burst("10:00", 1);
    four.pop();
    assert!(run(&four).is_empty());
    let same: Vec<_> = (0..5)
        .map(|i| {
            ev(
                &format!("2026-01-05T10:00:{:02}Z", i * 10),
                "SecretGet",
                Who::User(ALICE),
                i,
            )
        })
        .collect();
    assert!(run(&same).is_empty());
}

#[test]
fn a_burst_straddling_a_minute_is_missed_by_tumbling_but_caught_by_sliding() {
    let ops = [
        "SecretList",
        "SecretGet",
        "SecretGet",
        "KeyList",
        "KeyGet",
        "KeyGet",
    ];
    let times = [
        "10:00:50",
        "10:00:55",
        "10:00:59.9",
        "10:01:00",
        "10:01:05",
        "10:01:10",
    ];
    let events: Vec<_> = ops
        .iter()
        .zip(times)
        .enumerate()
        .map(|(i, (op, t))| {
            ev(
                &format!("2026-01-05T{t}Z"),
                op,
                Who::User(ALICE),
                i as u64 + 1,
            )
        })
        .collect();
    assert!(
        run(&events).is_empty(),
        "3 + 3 calls in two minutes: no tumbling alert"
    );
    let (alerts, _) = run_with(&sliding_rules("0"), EngineOptions::default(), &events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    let w = a.window.unwrap();
    // The first satisfying span ends at the 5th call; it starts at the 1st.
    assert_eq!(w.start.to_string(), "2026-01-05T10:00:50Z");
    assert_eq!(w.end.to_string(), "2026-01-05T10:01:50Z");
    assert_eq!(a.fields["action_count"], 6);
    assert_eq!(a.fields["distinct_actions"], 4);
    assert_eq!(
        a.fields["actions"],
        json!(["KeyGet", "KeyList", "SecretGet", "SecretList"])
    );
    assert_eq!(
        a.alert_id,
        Alert::compute_id("sliding-seed", &["2026-01-05T10:00:50Z", ALICE])
    );
}

#[test]
fn sliding_spans_are_half_open_on_the_left() {
    // 5 calls where the 1st and 5th are exactly one window apart: span (t - 1m, t] excludes
    // the 1st, so no burst.
    let events: Vec<_> = ["10:00:00", "10:00:20", "10:00:30", "10:00:40", "10:01:00"]
        .iter()
        .zip([
            "SecretGet",
            "SecretList",
            "SecretGet",
            "SecretGet",
            "SecretList",
        ])
        .enumerate()
        .map(|(i, (t, op))| ev(&format!("2026-01-05T{t}Z"), op, Who::User(ALICE), i as u64))
        .collect();
    let (alerts, _) = run_with(&sliding_rules("0"), EngineOptions::default(), &events);
    assert!(alerts.is_empty());
}

#[test]
fn an_event_exactly_on_the_boundary_belongs_to_the_next_window() {
    let mut events = vec![ev(
        "2026-01-05T10:00:59.9999999Z",
        "SecretGet",
        Who::User(ALICE),
        1,
    )];
    for (i, (t, op)) in [
        ("10:01:00.0000000", "SecretGet"),
        ("10:01:10", "SecretList"),
        ("10:01:20", "SecretGet"),
        ("10:01:30", "SecretList"),
    ]
    .iter()
    .enumerate()
    {
        events.push(ev(
            &format!("2026-01-05T{t}Z"),
            op,
            Who::User(ALICE),
            i as u64 + 2,
        ));
    }
    // 4 in the 10:01 window (with the boundary event) and 1 in 10:00: no alert.
    assert!(run(&events).is_empty());
    events.push(ev(
        "2026-01-05T10:01:59.9999999Z",
        "SecretGet",
        Who::User(ALICE),
        9,
    ));
    let alerts = run(&events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].window.unwrap().start.to_string(),
        "2026-01-05T10:01:00Z"
    );
    assert_eq!(alerts[0].fields["action_count"], 5);
    assert_eq!(
        alerts[0].evidence[0].time.to_string(),
        "2026-01-05T10:01:00Z"
    );
}

#[test]
fn principals_without_upn_alert_from_the_app_rule_only() {
    let sp = Who::Sp(
        "7b2f1e0a-1111-4c4c-9d9d-0123456789ab",
        "c0ffee00-2222-4d4d-8e8e-0123456789ab",
    );
    let mi = Who::Mi(
        "9a8b7c6d-3333-4e4e-8f8f-0123456789ab",
        "d00dfeed-4444-4f4f-9a9a-0123456789ab",
    );
    let ops = [
        "SecretGet",
        "SecretGet",
        "SecretList",
        "KeyGet",
        "SecretGet",
    ];
    let mut events = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}Z", i * 5),
            op,
            sp,
            i as u64 * 3,
        ));
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}.5Z", i * 5),
            op,
            mi,
            i as u64 * 3 + 1,
        ));
        // No identity at all: never alerts (excluded by the app rule, null bucket of the seed).
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}.7Z", i * 5),
            op,
            Who::Nobody,
            i as u64 * 3 + 2,
        ));
    }
    let alerts = run(&events);
    assert!(
        of_rule(&alerts, SEED).is_empty(),
        "no UPN: the seed's null bucket never alerts"
    );
    let app = of_rule(&alerts, APP);
    assert_eq!(app.len(), 2);
    assert_eq!(
        serde_json::Value::Object(app[0].group.clone()),
        json!({"identity.app_id": "7b2f1e0a-1111-4c4c-9d9d-0123456789ab", "identity.object_id": "c0ffee00-2222-4d4d-8e8e-0123456789ab"})
    );
    assert_eq!(app[0].fields["identity_kind"], json!(["service_principal"]));
    assert_eq!(app[0].fields["action_count"], 5);
    assert_eq!(app[0].fields["distinct_actions"], 3);
    assert_eq!(
        serde_json::Value::Object(app[1].group.clone()),
        json!({"identity.app_id": "9a8b7c6d-3333-4e4e-8f8f-0123456789ab", "identity.object_id": "d00dfeed-4444-4f4f-9a9a-0123456789ab"})
    );
    assert_eq!(app[1].fields["identity_kind"], json!(["managed_identity"]));
    assert_eq!(
        app[1].entities[0],
        Entity::Account {
            upn: None,
            object_id: Some("d00dfeed-4444-4f4f-9a9a-0123456789ab".into()),
            app_id: Some("9a8b7c6d-3333-4e4e-8f8f-0123456789ab".into()),
        }
    );
}

#[test]
fn a_missing_group_value_is_a_group_of_its_own() {
    let who = Who::AppOnly("5e5e5e5e-5555-4a4a-8b8b-0123456789ab");
    let events: Vec<_> = [
        "SecretGet",
        "SecretList",
        "SecretGet",
        "SecretGet",
        "KeyGet",
    ]
    .iter()
    .enumerate()
    .map(|(i, op)| {
        ev(
            &format!("2026-01-05T10:00:{:02}Z", i * 5),
            op,
            who,
            i as u64,
        )
    })
    .collect();
    let alerts = run(&events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        serde_json::Value::Object(alerts[0].group.clone()),
        json!({"identity.app_id": "5e5e5e5e-5555-4a4a-8b8b-0123456789ab", "identity.object_id": null})
    );
    assert_eq!(
        alerts[0].alert_id,
        Alert::compute_id(
            APP,
            &[
                "2026-01-05T10:00:00Z",
                "5e5e5e5e-5555-4a4a-8b8b-0123456789ab",
                ""
            ]
        )
    );
}

#[test]
fn writes_and_lower_case_operation_names_are_ignored() {
    let mut events = alice_burst("10:00", 1);
    events.pop();
    events.push(ev(
        "2026-01-05T10:00:50Z",
        "SecretSet",
        Who::User(ALICE),
        10,
    ));
    events.push(ev("2026-01-05T10:00:51Z", "VaultPut", Who::User(ALICE), 11));
    events.push(ev(
        "2026-01-05T10:00:52Z",
        "secretget",
        Who::User(ALICE),
        12,
    ));
    events.push(ev(
        "2026-01-05T10:00:53Z",
        "SECRETLIST",
        Who::User(ALICE),
        13,
    ));
    let (alerts, engine) = run_with(&RuleSet::builtin(), EngineOptions::default(), &events);
    assert!(alerts.is_empty());
    assert_eq!(engine.stats().rule(SEED).unwrap().events_matched, 4);
    assert_eq!(engine.stats().events_seen, 8);
}

#[test]
fn interleaved_users_are_counted_apart() {
    let mut events = Vec::new();
    let ops = ["SecretGet", "KeyGet", "SecretGet", "SecretList", "KeyList"];
    for (i, op) in ops.iter().enumerate() {
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}Z", i * 10),
            op,
            Who::User(BOB),
            i as u64 * 2,
        ));
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}Z", i * 10 + 5),
            op,
            Who::User(ALICE),
            i as u64 * 2 + 1,
        ));
    }
    let alerts = run(&events);
    assert_eq!(alerts.len(), 2);
    // Sorted by (window start, rule id, group).
    assert_eq!(alerts[0].group["identity.upn"], ALICE);
    assert_eq!(alerts[1].group["identity.upn"], BOB);
    assert_eq!(alerts[0].fields["action_count"], 5);
    assert_eq!(alerts[1].fields["action_count"], 5);
    assert_eq!(alerts[1].fields["actor_name"], json!([BOB]));
    // Bob's fourth call removed: only Alice alerts.
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| !(e.identity.upn.as_deref() == Some(BOB) && e.operation == "SecretList"))
        .collect();
    let alerts = run(&events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].group["identity.upn"], ALICE);
}

/// Several bursts over two hours, for order and memory tests.
fn busy_day() -> Vec<AuditEvent<'static>> {
    let mut events = Vec::new();
    let mut line = 0;
    let ops = [
        "SecretGet",
        "SecretList",
        "KeyGet",
        "CertificateList",
        "VaultGet",
        "SecretSet",
    ];
    for minute in 0..120u64 {
        let who = match minute % 3 {
            0 => Who::User(ALICE),
            1 => Who::User(BOB),
            _ => Who::Sp(
                "7b2f1e0a-1111-4c4c-9d9d-0123456789ab",
                "c0ffee00-2222-4d4d-8e8e-0123456789ab",
            ),
        };
        for k in 0..(minute % 9) {
            let op = ops[((minute + k) % 6) as usize];
            let t = format!(
                "2026-01-05T{:02}:{:02}:{:02}.{:07}Z",
                10 + minute / 60,
                minute % 60,
                k * 6 + minute % 5,
                line
            );
            line += 1;
            events.push(ev(&t, op, who, line));
        }
    }
    events
}

fn shuffled(events: &[AuditEvent<'static>], max_shift: usize) -> Vec<AuditEvent<'static>> {
    // Deterministic local shuffle: reverse chunks, so no event moves more than `max_shift`.
    let mut v: Vec<_> = events.to_vec();
    for chunk in v.chunks_mut(max_shift) {
        chunk.reverse();
    }
    v
}

#[test]
fn out_of_order_input_within_lateness_gives_the_same_alerts() {
    let sorted = busy_day();
    let disordered = shuffled(&sorted, 13);
    assert_ne!(
        sorted.iter().map(|e| e.time).collect::<Vec<_>>(),
        disordered.iter().map(|e| e.time).collect::<Vec<_>>()
    );
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(10),
        ..EngineOptions::default()
    };
    let (a, e1) = run_with(&rules, opts.clone(), &sorted);
    let (b, e2) = run_with(&rules, opts, &disordered);
    assert_eq!(e1.stats().late_events, 0);
    assert_eq!(e2.stats().late_events, 0);
    assert_eq!(
        (
            of_rule(&a, SEED).len(),
            of_rule(&a, APP).len(),
            of_rule(&a, "sliding-seed").len()
        ),
        (26, 13, 26)
    );
    assert_eq!(a, b);
}

#[test]
fn memory_is_bounded_by_open_windows() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(5),
        ..EngineOptions::default()
    };
    let (_, engine) = run_with(&rules, opts, &events);
    let s = engine.stats().rule(SEED).unwrap();
    // 5 minutes of lateness over 1-minute windows: at most 6 or 7 windows open at once,
    // though the input spans 120 minutes.
    assert!(s.max_open_windows <= 7, "{s:?}");
    assert!(s.max_open_groups <= 7 * 3, "{s:?}");
    let sl = engine.stats().rule("sliding-seed").unwrap();
    assert!(sl.max_buffered <= 40, "{sl:?}");
    assert!(sl.max_open_groups <= 3, "{sl:?}");
}

#[test]
fn events_beyond_lateness_are_counted_and_applied_only_to_open_windows() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(1),
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&RuleSet::builtin(), opts).unwrap();
    let mut out = Vec::new();
    for e in alice_burst("10:00", 1) {
        engine.push(&e, &mut out);
    }
    assert!(out.is_empty(), "the 10:00 window is still open");
    // 10:02:30 moves the watermark to 10:01:30: the 10:00 window closes and alerts.
    engine.push(
        &ev("2026-01-05T10:02:30Z", "SecretGet", Who::User(BOB), 20),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["action_count"], 5);
    // A late call for the closed 10:00 window: counted, dropped.
    engine.push(
        &ev("2026-01-05T10:00:30Z", "KeyGet", Who::User(ALICE), 21),
        &mut out,
    );
    // A late call whose window (10:01) is still open: counted, applied.
    for (i, t) in ["10:01:10", "10:01:15", "10:01:20", "10:01:25"]
        .iter()
        .enumerate()
    {
        engine.push(
            &ev(
                &format!("2026-01-05T{t}Z"),
                "KeyList",
                Who::User(BOB),
                22 + i as u64,
            ),
            &mut out,
        );
    }
    engine.push(
        &ev("2026-01-05T10:01:20Z", "KeyGet", Who::User(BOB), 30),
        &mut out,
    );
    engine.finish(&mut out);
    let s = engine.stats();
    assert_eq!(s.late_events, 6);
    assert_eq!(s.late_dropped, 1);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].group["identity.upn"], BOB);
    assert_eq!(
        out[1].window.unwrap().start.to_string(),
        "2026-01-05T10:01:00Z"
    );
    assert_eq!(out[1].fields["action_count"], 5);
}

#[test]
fn suppression_allows_one_alert_per_group_per_period() {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace("suppression: 0", "suppression: 10m");
    let rules = RuleSet::from_yaml_str(&y, "s.yml").unwrap();
    let mut events = alice_burst("10:00", 1);
    events.extend(alice_burst("10:01", 10));
    events.extend(alice_burst("10:10", 20));
    events.extend(alice_burst("10:11", 30));
    let (alerts, engine) = run_with(&rules, EngineOptions::default(), &events);
    let starts: Vec<String> = alerts
        .iter()
        .map(|a| a.window.unwrap().start.to_string())
        .collect();
    // 10:00 alerts (suppressed until 10:01 + 10m = 10:11), 10:01 and 10:10 are suppressed,
    // 10:11 alerts.
    assert_eq!(starts, vec!["2026-01-05T10:00:00Z", "2026-01-05T10:11:00Z"]);
    assert_eq!(engine.stats().rule(SEED).unwrap().suppressed, 2);
    // Without suppression: one per window.
    assert_eq!(run(&events).len(), 4);
    // Sliding with suppression: the second burst is inside the suppression period.
    let (alerts, _) = run_with(&sliding_rules("10m"), EngineOptions::default(), &events);
    let starts: Vec<String> = alerts
        .iter()
        .map(|a| a.window.unwrap().start.to_string())
        .collect();
    assert_eq!(
        starts,
        vec![
            "2026-01-05T10:00:05.1234567Z",
            "2026-01-05T10:11:05.1234567Z"
        ]
    );
}

#[test]
fn values_are_capped_with_a_marker() {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace("values_cap: 100", "values_cap: 3");
    let rules = RuleSet::from_yaml_str(&y, "cap.yml").unwrap();
    let ops = [
        "SecretList",
        "KeyGet",
        "SecretGet",
        "CertificateList",
        "KeyList",
        "VaultGet",
    ];
    let events: Vec<_> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            ev(
                &format!("2026-01-05T10:00:{:02}Z", 50 - i * 5),
                op,
                Who::User(ALICE),
                i as u64,
            )
        })
        .collect();
    let (alerts, _) = run_with(&rules, EngineOptions::default(), &events);
    assert_eq!(alerts.len(), 1);
    let f = &alerts[0].fields;
    assert_eq!(
        f["actions"],
        json!(["CertificateList", "KeyGet", "KeyList"])
    );
    assert_eq!(f["actions_truncated"], true);
    assert_eq!(
        f["distinct_actions"], 6,
        "counts are exact whatever the cap"
    );
    assert!(!f.contains_key("vault_names_truncated"));
}

#[test]
fn ipv6_callers_are_reported_canonically() {
    let mut events = alice_burst("10:00", 1);
    events[1].caller_ip = CallerIp::parse("2A01:111:F400:0:0:0:0:5".into());
    events[2].vault = Vault::from_resource_id(VAULT2_ID);
    let alerts = run(&events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(
        a.fields["source_ip"],
        json!(["104.40.82.76", "2a01:111:f400::5"])
    );
    assert_eq!(
        a.fields["vault_names"],
        json!(["PAYROLL-KV", "SECURAALLKEYVAULT"])
    );
    assert_eq!(a.fields["vaults_accessed"], 2);
    assert!(a.entities.contains(&Entity::Ip {
        address: "2a01:111:f400::5".into()
    }));
    assert_eq!(
        a.entities
            .iter()
            .filter(|e| matches!(e, Entity::AzureResource { .. }))
            .count(),
        2
    );
}

#[test]
fn a_user_override_of_a_builtin_changes_the_threshold() {
    let mut rules = RuleSet::builtin();
    let y = rules
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace("action_count >= 5", "action_count >= 10");
    rules.merge_override(RuleSet::from_yaml_str(&y, "elastic-threshold.yml").unwrap());
    let (alerts, _) = run_with(&rules, EngineOptions::default(), &alice_burst("10:00", 1));
    assert!(alerts.is_empty());
    let mut ten = alice_burst("10:00", 1);
    ten.extend(alice_burst("10:00", 10).into_iter().map(|mut e| {
        e.time = e
            .time
            .checked_add(SignedDuration::from_millis(500))
            .unwrap();
        e
    }));
    let (alerts, _) = run_with(&rules, EngineOptions::default(), &ten);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].fields["action_count"], 10);
}

#[test]
fn explain_shows_a_near_miss_and_filter_rejections() {
    let mut events = alice_burst("10:00", 1);
    events.pop();
    events.push(ev("2026-01-05T10:00:50Z", "SecretSet", Who::User(ALICE), 9));
    let mut other = ev("2026-01-05T10:00:51Z", "SecretGet", Who::User(ALICE), 10);
    other.category = "AzurePolicyEvaluationDetails".into();
    events.push(other);
    let opts = EngineOptions {
        explain: Some(SEED.into()),
        ..EngineOptions::default()
    };
    let (alerts, engine) = run_with(&RuleSet::builtin(), opts, &events);
    assert!(alerts.is_empty());
    let ex = engine.explanations();
    assert_eq!(ex.len(), 1);
    let e = &ex[0];
    assert!(!e.passed && !e.alerted);
    let clauses: Vec<String> = e.clauses.iter().map(ToString::to_string).collect();
    assert_eq!(
        clauses,
        vec![
            "actor_unique_count == 1: 1 → true",
            "action_count >= 5: 4 → false",
            "distinct_actions >= 2: 2 → true",
        ]
    );
    assert_eq!(e.fields["action_count"], 4);
    assert_eq!(
        e.to_string(),
        "[2026-01-05T10:00:00Z .. 2026-01-05T10:01:00Z) identity.upn=\"alice@contoso.com\": actor_unique_count == 1: 1 → true; action_count >= 5: 4 → false; distinct_actions >= 2: 2 → true => no alert"
    );
    let rej = engine.explain_rejections();
    assert_eq!(rej.len(), 2);
    assert_eq!(
        rej[0],
        ("{ field: category, equals: AuditEvent }".to_string(), 1)
    );
    assert_eq!(rej[1].1, 1);
    assert!(
        rej[1]
            .0
            .starts_with("{ field: operation, in: [VaultGet, KeyGet,"),
        "{}",
        rej[1].0
    );
    assert!(
        Engine::new(
            &RuleSet::builtin(),
            EngineOptions {
                explain: Some("nope".into()),
                ..EngineOptions::default()
            }
        )
        .is_err()
    );
}

#[test]
fn events_matching_no_rule_prepare_to_nothing() {
    let engine = Engine::new(&RuleSet::builtin(), EngineOptions::default()).unwrap();
    let p = engine.prepare(&ev(
        "2026-01-05T10:00:00Z",
        "SecretSet",
        Who::User(ALICE),
        1,
    ));
    assert!(p.is_empty());
    let p = engine.prepare(&ev(
        "2026-01-05T10:00:00Z",
        "SecretGet",
        Who::User(ALICE),
        1,
    ));
    assert_eq!(p.matched_rules(), 1);
    let p = engine.prepare(&ev(
        "2026-01-05T10:00:00Z",
        "SecretGet",
        Who::AppOnly("x"),
        1,
    ));
    assert_eq!(
        p.matched_rules(),
        2,
        "the seed's null bucket and the app rule"
    );
    // The stateless stage runs on other threads.
    let prep = engine.preparer();
    let h = std::thread::spawn(move || {
        prep.prepare(&ev("2026-01-05T10:00:00Z", "KeyGet", Who::User(BOB), 2))
            .matched_rules()
    });
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn alerts_from_finish_are_sorted_by_window_rule_and_group() {
    let mut events = alice_burst("10:01", 1);
    events.extend(alice_burst("10:00", 10));
    let sp = Who::Sp(
        "7b2f1e0a-1111-4c4c-9d9d-0123456789ab",
        "c0ffee00-2222-4d4d-8e8e-0123456789ab",
    );
    for (i, op) in ["SecretGet", "KeyGet", "SecretGet", "SecretGet", "KeyGet"]
        .iter()
        .enumerate()
    {
        events.push(ev(
            &format!("2026-01-05T10:00:{:02}Z", i * 3),
            op,
            sp,
            40 + i as u64,
        ));
    }
    let (alerts, _) = run_with(
        &RuleSet::builtin(),
        EngineOptions {
            max_lateness: SignedDuration::from_hours(2),
            ..EngineOptions::default()
        },
        &events,
    );
    let keys: Vec<(String, String)> = alerts
        .iter()
        .map(|a| (a.window.unwrap().start.to_string(), a.rule.id.clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("2026-01-05T10:00:00Z".to_string(), APP.to_string()),
            ("2026-01-05T10:00:00Z".to_string(), SEED.to_string()),
            ("2026-01-05T10:01:00Z".to_string(), SEED.to_string()),
        ]
    );
}

/// The rule-format example of the design brief, end to end: every operator family.
const EXAMPLE_RULE: &str = r#"
id: example-threshold
name: Example with every operator
severity: low
kind: threshold
detection:
  filter:
    all:
      - { field: category, equals: AuditEvent }
      - { field: operation, in: [VaultGet, KeyGet, SecretGet, SecretList] }
      - { exists: identity.upn }
      - { not: { field: identity.type, iequals: app } }
      - any: [ { field: caller.ip, cidr: [10.0.0.0/8, "2a01:111::/32"] }, { field: client_info, contains: azurecli, case_insensitive: true } ]
      - { field: identity.upn, endswith: "@contoso.com" }
      - { field: request_uri, startswith: "https://securaallkeyvault." }
      - { field: vault.name, regex: "^SECURA" }
      - { field: http.status, lt: 300 }
  window: { type: tumbling, size: 5m }
  group_by: [identity.upn]
  aggregates:
    action_count: count
    distinct_actions: { count_distinct: operation }
    actions: { values: operation }
    with_correlation: { count: correlation_id }
    first_seen: { min: time }
    last_seen: { max: time }
    worst_status: { max: http.status }
  condition: "action_count >= 3 and (distinct_actions >= 2 or worst_status >= 400)"
  suppression: 10m
  evidence: 2
  entities: { account: true, ip: caller.ip, azure_resource: ~ }
"#;

#[test]
fn the_example_rule_runs_end_to_end() {
    let rules = RuleSet::from_yaml_str(EXAMPLE_RULE, "example.yml").unwrap();
    let mut events = vec![
        ev("2026-01-05T10:00:01Z", "SecretGet", Who::User(ALICE), 1),
        ev("2026-01-05T10:02:00Z", "SecretList", Who::User(ALICE), 2),
        ev("2026-01-05T10:04:59Z", "KeyGet", Who::User(ALICE), 3),
        // Rejected: a write, a 403, a user outside contoso.
        ev("2026-01-05T10:01:00Z", "SecretSet", Who::User(ALICE), 4),
        ev(
            "2026-01-05T10:03:00Z",
            "VaultGet",
            Who::User("eve@fabrikam.com"),
            6,
        ),
    ];
    let mut forbidden = ev("2026-01-05T10:03:30Z", "SecretGet", Who::User(ALICE), 5);
    forbidden.http_status = Some(403);
    events.push(forbidden);
    // Matches through the CIDR branch (no AZURECLI client).
    let mut v6 = ev("2026-01-05T10:04:00Z", "SecretGet", Who::User(ALICE), 7);
    v6.client_info = Some("Mozilla/5.0".into());
    v6.caller_ip = CallerIp::parse("2a01:111:f400::7".into());
    v6.correlation_id = None;
    events.push(v6);
    events.sort_by_key(|e| e.time);
    let (alerts, engine) = run_with(&rules, EngineOptions::default(), &events);
    assert_eq!(
        engine
            .stats()
            .rule("example-threshold")
            .unwrap()
            .events_matched,
        4
    );
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.window.unwrap().start.to_string(), "2026-01-05T10:00:00Z");
    assert_eq!(a.window.unwrap().end.to_string(), "2026-01-05T10:05:00Z");
    assert_eq!(
        serde_json::Value::Object(a.fields.clone()),
        json!({
            "action_count": 4,
            "distinct_actions": 3,
            "actions": ["KeyGet", "SecretGet", "SecretList"],
            "with_correlation": 3,
            "first_seen": "2026-01-05T10:00:01Z",
            "last_seen": "2026-01-05T10:04:59Z",
            "worst_status": 200,
        })
    );
    assert_eq!(a.evidence.len(), 2);
    assert_eq!(a.evidence[1].time.to_string(), "2026-01-05T10:02:00Z");
    assert_eq!(a.evidence[1].source, None);
    assert_eq!(
        a.entities[1..],
        [
            Entity::Ip {
                address: "104.40.82.76".into()
            },
            Entity::Ip {
                address: "2a01:111:f400::7".into()
            },
        ]
    );
    assert_eq!(a.entities.len(), 3, "azure_resource: ~ turns resources off");
}

#[test]
fn a_late_event_joins_an_open_sliding_burst() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::ZERO,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&sliding_rules("0"), opts).unwrap();
    let mut out = Vec::new();
    for e in alice_burst("10:00", 1) {
        engine.push(&e, &mut out);
    }
    // The burst [10:00:05.1234567, +1m) is found; late events inside it still count.
    engine.push(
        &ev("2026-01-05T10:00:20Z", "KeyGet", Who::User(ALICE), 30),
        &mut out,
    );
    // Late and outside any open burst: dropped.
    engine.push(
        &ev("2026-01-05T10:00:01Z", "KeyGet", Who::User(BOB), 31),
        &mut out,
    );
    assert!(out.is_empty());
    engine.push(
        &ev("2026-01-05T10:01:10Z", "KeyGet", Who::User(BOB), 32),
        &mut out,
    );
    assert_eq!(out.len(), 1, "the watermark passed the burst's end");
    engine.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["action_count"], 6);
    assert_eq!(out[0].fields["distinct_actions"], 3);
    let s = engine.stats();
    assert_eq!((s.late_events, s.late_dropped), (2, 1));
}

#[test]
fn explain_on_a_sliding_rule_reports_the_busiest_span() {
    let mut events = alice_burst("10:00", 1);
    events.truncate(4);
    let opts = EngineOptions {
        explain: Some("sliding-seed".into()),
        ..EngineOptions::default()
    };
    let (alerts, engine) = run_with(&sliding_rules("0"), opts, &events);
    assert!(alerts.is_empty());
    let ex = engine.explanations();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].fields["action_count"], 4);
    assert_eq!(
        ex[0].window.start.to_string(),
        "2026-01-05T10:00:05.1234567Z"
    );
    assert_eq!(ex[0].clauses[1].to_string(), "action_count >= 5: 4 → false");
}

/// Twelve reads by Alice in one minute, alternating two kinds and three vaults: more events
/// than a group defers, so its values are folded in part way and the rest added in full.
#[test]
fn a_group_past_the_deferral_limit_alerts_with_every_value() {
    let vaults = [
        VAULT_ID,
        VAULT2_ID,
        "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/OTHERRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ALPHA-KV",
    ];
    // Out of time order, so the earliest events (the evidence) arrive last.
    let events: Vec<AuditEvent<'static>> = (0..12u64)
        .rev()
        .map(|i| {
            let op = if i % 2 == 0 { "SecretGet" } else { "KeyList" };
            let mut e = ev(
                &format!("2026-01-05T10:00:{:02}Z", 10 + i * 3),
                op,
                Who::User(ALICE),
                100 + i,
            );
            e.vault = Vault::from_resource_id(vaults[(i % 3) as usize]);
            e
        })
        .collect();
    let alerts = run(&events);
    let seed = of_rule(&alerts, SEED);
    assert_eq!(seed.len(), 1);
    let a = seed[0];
    assert_eq!(a.fields["action_count"], 12);
    assert_eq!(a.fields["distinct_actions"], 2);
    assert_eq!(a.fields["vaults_accessed"], 3);
    assert_eq!(
        a.fields["vault_names"],
        json!(["ALPHA-KV", "PAYROLL-KV", "SECURAALLKEYVAULT"])
    );
    assert_eq!(a.fields["actions"], json!(["KeyList", "SecretGet"]));
    assert_eq!(a.evidence.len(), 12);
    assert_eq!(a.evidence[0].operation, "SecretGet");
    assert_eq!(
        a.evidence[0].correlation_id.as_deref(),
        Some("a6c3d2e1-0000-4000-8000-000000000100")
    );
    assert_eq!(a.evidence[11].operation, "KeyList");
    let resources: Vec<&Entity> = a
        .entities
        .iter()
        .filter(|e| matches!(e, Entity::AzureResource { .. }))
        .collect();
    assert_eq!(resources.len(), 3);
}

/// The seed rule's group of events without a UPN can never alert, so it keeps only its
/// numbers; explained, it is shown with all its values all the same.
#[test]
fn the_group_without_upn_is_explained_with_its_values() {
    let events: Vec<AuditEvent<'static>> = (0..10u64)
        .map(|i| {
            ev(
                &format!("2026-01-05T10:00:{:02}Z", 10 + i * 3),
                if i % 2 == 0 {
                    "SecretGet"
                } else {
                    "SecretList"
                },
                Who::Sp("11111111-2222-3333-4444-555555555555", "sp-object-id"),
                1 + i,
            )
        })
        .collect();
    let alerts = run(&events);
    assert!(of_rule(&alerts, SEED).is_empty());
    assert_eq!(of_rule(&alerts, APP).len(), 1);
    let opts = EngineOptions {
        explain: Some(SEED.into()),
        ..EngineOptions::default()
    };
    let (_, engine) = run_with(&RuleSet::builtin(), opts, &events);
    let ex = engine.explanations();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].group["identity.upn"], serde_json::Value::Null);
    assert_eq!(ex[0].fields["action_count"], 10);
    assert_eq!(ex[0].fields["actor_unique_count"], 0);
    assert_eq!(ex[0].fields["actions"], json!(["SecretGet", "SecretList"]));
    assert_eq!(
        ex[0].fields["app_id"],
        json!(["11111111-2222-3333-4444-555555555555"])
    );
}

/// Events arriving latest first replace the evidence again and again: the group's text is
/// compacted on the way, and the alert still names the earliest event and every value.
#[test]
fn evidence_replaced_many_times_keeps_the_earliest() {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace(SEED, "one-evidence")
        .replace("evidence: 20", "evidence: 1");
    let rules = RuleSet::from_yaml_str(&y, "one.yml").unwrap();
    let events: Vec<AuditEvent<'static>> = (0..400u64)
        .rev()
        .map(|i| {
            ev(
                &format!("2026-01-05T10:00:{:02}.{:07}Z", 1 + i / 10, i),
                if i % 3 == 0 {
                    "SecretGet"
                } else {
                    "SecretList"
                },
                Who::User(ALICE),
                1000 + i,
            )
        })
        .collect();
    let (alerts, _) = run_with(&rules, EngineOptions::default(), &events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.fields["action_count"], 400);
    assert_eq!(a.fields["actions"], json!(["SecretGet", "SecretList"]));
    assert_eq!(a.fields["actor_name"], json!([ALICE]));
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(a.evidence[0].operation, "SecretGet");
    assert_eq!(
        a.evidence[0].correlation_id.as_deref(),
        Some("a6c3d2e1-0000-4000-8000-000000001000")
    );
    assert!(matches!(
        &a.entities[0],
        Entity::Account { upn: Some(u), .. } if u == ALICE
    ));
}

/// `finish_and_leak` (for a process about to exit) gives exactly `finish`'s alerts, stats
/// and explanations, with a large lateness so that every window is still open at the end.
#[test]
fn finish_and_leak_reports_what_finish_does() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_hours(48),
        explain: Some(SEED.into()),
        ..EngineOptions::default()
    };
    let (want, engine) = run_with(&rules, opts.clone(), &events);
    let mut leaking = Engine::new(&rules, opts).unwrap();
    let mut got = Vec::new();
    for e in &events {
        leaking.push(e, &mut got);
    }
    assert!(got.is_empty());
    let report = leaking.finish_and_leak(&mut got);
    assert_eq!(
        (
            of_rule(&got, SEED).len(),
            of_rule(&got, APP).len(),
            of_rule(&got, "sliding-seed").len()
        ),
        (26, 13, 26)
    );
    assert_eq!(got, want);
    assert_eq!(&report.stats, engine.stats());
    assert_eq!(report.stats.events_seen, events.len() as u64);
    assert_eq!(report.explanations, engine.explanations());
    // One group a minute, in the 106 minutes with events the seed reads.
    assert_eq!(report.explanations.len(), 106);
    assert_eq!(report.explain_rejections, engine.explain_rejections());
}

/// A new group's text is its first row's (the key is that text's prefix): min/max, values
/// and evidence read right after folding, with the key unchanged.
#[test]
fn group_state_from_the_first_rows_text_reads_right() {
    let rule = r#"
id: str-min-max
name: string min and max
kind: threshold
detection:
  filter: { field: category, equals: AuditEvent }
  window: { type: tumbling, size: 1m }
  group_by: [identity.upn]
  aggregates:
    n: count
    first_seen: { min: time }
    last_seen: { max: time }
    ops: { values: operation }
  condition: "n >= 3"
  evidence: 1
"#;
    let rules = RuleSet::from_yaml_str(rule, "minmax.yml").unwrap();
    let events = vec![
        ev("2026-01-05T10:00:01Z", "SecretGet", Who::User(ALICE), 1),
        ev("2026-01-05T10:00:02Z", "KeyGet", Who::User(BOB), 2),
        ev("2026-01-05T10:00:03Z", "VaultGet", Who::User(ALICE), 3),
        ev(
            "2026-01-05T10:00:04Z",
            "CertificateGet",
            Who::User(ALICE),
            4,
        ),
        ev("2026-01-05T10:00:05Z", "SecretList", Who::User(ALICE), 5),
    ];
    let (alerts, _) = run_with(&rules, EngineOptions::default(), &events);
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.group.get("identity.upn"), Some(&json!(ALICE)));
    assert_eq!(a.fields.get("n"), Some(&json!(4)));
    assert_eq!(
        a.fields.get("first_seen"),
        Some(&json!("2026-01-05T10:00:01Z"))
    );
    assert_eq!(
        a.fields.get("last_seen"),
        Some(&json!("2026-01-05T10:00:05Z"))
    );
    assert_eq!(
        a.fields.get("ops"),
        Some(&json!([
            "CertificateGet",
            "SecretGet",
            "SecretList",
            "VaultGet"
        ]))
    );
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(a.evidence[0].operation, "SecretGet");
}

/// Events alternating between an older open window and the newest one (the newest is found
/// without a search, the older one searched): each counts in its own window.
#[test]
fn events_alternating_between_two_open_windows_count_apart() {
    let older = alice_burst("10:00", 1);
    let newer = alice_burst("10:01", 100);
    let mut events = Vec::new();
    for (a, b) in older.iter().zip(&newer) {
        events.push(b.clone());
        events.push(a.clone());
    }
    let alerts = run(&events);
    let seed = of_rule(&alerts, SEED);
    let windows: Vec<String> = seed
        .iter()
        .map(|a| a.window.as_ref().unwrap().start.to_string())
        .collect();
    assert_eq!(windows, ["2026-01-05T10:00:00Z", "2026-01-05T10:01:00Z"]);
    for a in seed {
        assert_eq!(a.fields["action_count"], 5);
        assert_eq!(a.fields["distinct_actions"], 2);
    }
}

/// Two `count_distinct` aggregates of the same field share one value slot; each must still
/// count (the second once read as 0 because only the first got its hash), in tumbling and
/// sliding windows alike.
#[test]
fn two_distinct_counts_of_one_field_both_count() {
    for window in ["tumbling", "sliding"] {
        let yaml = format!(
            r#"
id: twice-distinct
name: Two distinct counts of the operation
severity: low
kind: threshold
detection:
  filter: {{ field: category, equals: AuditEvent }}
  window: {{ type: {window}, size: 1m }}
  group_by: [identity.upn]
  aggregates:
    ops_a: {{ count_distinct: operation }}
    ops_b: {{ count_distinct: operation }}
    vaults: {{ count_distinct: vault.name }}
  condition: "ops_b >= 2 and ops_a >= 2 and vaults >= 1"
  suppression: 0
"#
        );
        let rules = RuleSet::from_yaml_str(&yaml, "twice.yml").unwrap();
        let events = vec![
            ev("2026-01-05T10:00:01Z", "SecretGet", Who::User(ALICE), 1),
            ev("2026-01-05T10:00:02Z", "SecretList", Who::User(ALICE), 2),
            ev("2026-01-05T10:00:03Z", "SecretGet", Who::User(ALICE), 3),
            // One operation only: never alerts.
            ev("2026-01-05T10:00:04Z", "KeyGet", Who::User(BOB), 4),
            ev("2026-01-05T10:00:05Z", "KeyGet", Who::User(BOB), 5),
        ];
        let (alerts, _) = run_with(&rules, EngineOptions::default(), &events);
        assert_eq!(alerts.len(), 1, "{window}: {alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.group["identity.upn"], ALICE, "{window}");
        assert_eq!(a.fields["ops_a"], 2, "{window}");
        assert_eq!(a.fields["ops_b"], 2, "{window}");
        assert_eq!(a.fields["vaults"], 1, "{window}");
    }
}
