//! The stateless stage of an indicator_match rule allocates nothing for an event whose
//! address no indicator covers, in the default and in the compat mode (counted with a global
//! allocator that tallies the measuring thread's calls).

use std::sync::Arc;

use kvsentry_engine::{Engine, EngineOptions};
use kvsentry_intel::{Indicator, IndicatorSet, parse_network};
use kvsentry_model::{AuditEvent, CallerIp, Timestamp, Vault};
use kvsentry_rules::RuleSet;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, count_this_thread};

const TI: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";

fn intel() -> Arc<IndicatorSet> {
    let mut set = IndicatorSet::new();
    let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    for (id, v) in [
        ("ind-a", "104.40.82.76"),
        ("ind-net", "52.179.0.0/16"),
        ("ind-v6", "2a01:111:f400::1a"),
        ("ind-v6net", "2a01:111:f500::/48"),
    ] {
        let mut i = Indicator::new(id, parse_network(v).unwrap(), v, "test", t, "test:1");
        i.expiration = Some("2026-03-01T00:00:00Z".parse().unwrap());
        set.push(i);
    }
    Arc::new(set)
}

fn allocs_for(engine: &Engine, e: &AuditEvent<'_>) -> (u64, bool) {
    let prep = engine.preparer();
    let _ = prep.prepare(e);
    let before = allocations();
    let mut empty = true;
    for _ in 0..1000 {
        empty &= prep.prepare(e).is_empty();
    }
    (allocations() - before, empty)
}

#[test]
fn prepare_allocates_nothing_for_uncovered_addresses() {
    count_this_thread();
    let opts = EngineOptions {
        intel: Some(intel()),
        ..EngineOptions::default()
    };
    let default = Engine::new(&RuleSet::builtin(), opts.clone()).unwrap();
    let y = RuleSet::builtin()
        .get(TI)
        .unwrap()
        .to_yaml()
        .replace("sentinel_compat: false", "sentinel_compat: true");
    let compat = Engine::new(&RuleSet::from_yaml_str(&y, "c.yml").unwrap(), opts).unwrap();
    let mut e = AuditEvent::new(
        "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap(),
        "AuditEvent".into(),
        "SecretSet".into(),
    );
    e.vault = Vault::from_resource_id(
        "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT",
    );
    e.identity.upn = Some("alice@contoso.com".into());
    for ip in ["52.178.1.2", "2a01:111:f400::1b", "2a01:111:f600::1"] {
        e.caller_ip = CallerIp::parse(ip.into());
        assert_eq!(allocs_for(&default, &e), (0, true), "default {ip}");
        assert_eq!(allocs_for(&compat, &e), (0, true), "compat {ip}");
    }
    // A covered address does allocate its row (and only then).
    e.caller_ip = CallerIp::parse("52.179.3.4".into());
    let (n, empty) = allocs_for(&default, &e);
    assert!(!empty && n > 0);
}
