//! What alerts and explanations carry: capped values, addresses, overrides, `--explain`,
//! the order of alerts, the rule-format example end to end.

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineOptions};
use kvsentry_model::{CallerIp, Entity, Vault};
use kvsentry_rules::RuleSet;
use serde_json::json;

#[path = "support/audit.rs"]
mod audit;
use audit::*;

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

/// A prepared event is observed only by the engine whose preparer made it: another engine
/// (after a reload of the rules, say) refuses and counts it, where before it applied the
/// rows to whatever rule held the same position, with hashes of other seeds.
#[test]
fn another_engines_prepared_events_are_refused() {
    let rules = RuleSet::builtin();
    let old = Engine::new(&rules, EngineOptions::default()).unwrap();
    let mut new = Engine::new(&rules, EngineOptions::default()).unwrap();
    let prepared: Vec<_> = alice_burst("10:00", 1)
        .iter()
        .map(|e| old.prepare(e))
        .collect();
    let mut out = Vec::new();
    for p in prepared.iter().cloned() {
        new.observe(p, &mut out);
    }
    new.finish(&mut out);
    assert!(out.is_empty());
    assert_eq!(new.stats().foreign_prepared, 5);
    assert_eq!(new.stats().events_seen, 0);
    let mut old = old;
    for p in prepared {
        old.observe(p, &mut out);
    }
    old.finish(&mut out);
    assert_eq!(of_rule(&out, SEED).len(), 1);
}
