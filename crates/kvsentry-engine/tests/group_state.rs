//! Group state on the edges: deferred values, never-alerting groups, compacted evidence,
//! windows found by search, shared value slots.

use kvsentry_engine::EngineOptions;
use kvsentry_model::{AuditEvent, Entity, Vault};
use kvsentry_rules::RuleSet;
use serde_json::json;

#[path = "support/audit.rs"]
mod audit;
use audit::*;

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
