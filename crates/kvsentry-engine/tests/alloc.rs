//! The stateless stage allocates nothing for events that match no rule, and the compiled
//! filters compare borrowed strings (counted with a global allocator that tallies the
//! measuring thread's calls).

use kvsentry_engine::{Engine, EngineOptions};
use kvsentry_model::{AuditEvent, CallerIp, Timestamp, Vault};
use kvsentry_rules::RuleSet;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, count_this_thread};

const RULES: &str = r#"
id: many-operators
name: every operator on a non-matching path
kind: threshold
detection:
  filter:
    any:
      - { field: operation, in: [A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12], case_insensitive: true }
      - { field: client_info, contains: nothing-like-this, case_insensitive: true }
      - { field: caller.ip, cidr: [10.0.0.0/8] }
      - { field: caller.ip, startswith: "9.9." }
      - { field: http.status, gte: 500 }
      - { field: vault.name, regex: "^NOPE" }
      - { field: identity.upn, iequals: "Nobody@Contoso.com" }
  window: { type: tumbling, size: 1m }
  group_by: [identity.upn]
  aggregates: { n: count }
  condition: "n >= 1"
"#;

#[test]
fn prepare_allocates_nothing_for_events_that_match_no_rule() {
    let mut rules = RuleSet::builtin();
    rules.merge_override(RuleSet::from_yaml_str(RULES, "alloc.yml").unwrap());
    let engine = Engine::new(&rules, EngineOptions::default()).unwrap();
    let mut e = AuditEvent::new(
        "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap(),
        "AuditEvent".into(),
        "SecretSet".into(),
    );
    e.caller_ip = CallerIp::parse("2a01:111:f400::5".into());
    e.identity.upn = Some("alice@contoso.com".into());
    e.client_info = Some("AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0".into());
    e.http_status = Some(200);
    e.vault = Vault::from_resource_id(
        "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT",
    );
    let prep = engine.preparer();
    count_this_thread();
    // The first call warms the regex engine's per-thread cache.
    assert!(prep.prepare(&e).is_empty());
    let before = allocations();
    let mut empty = 0;
    for _ in 0..1000 {
        let p = prep.prepare(&e);
        empty += usize::from(p.is_empty());
    }
    let after = allocations();
    assert_eq!(empty, 1000);
    assert_eq!(after - before, 0, "allocations in 1000 prepare calls");
    // A matching event does allocate its small row (and only then).
    e.operation = "SecretGet".into();
    let before = allocations();
    let p = prep.prepare(&e);
    let after = allocations();
    assert_eq!(p.matched_rules(), 1);
    // The row's text and its slots (the first rule's row is held in place).
    assert_eq!(after - before, 2, "allocations for one matching event");
}
