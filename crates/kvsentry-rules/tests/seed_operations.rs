//! The read operations of the two burst rules, pinned name by name to the 20 of Elastic's
//! ES|QL proposal (its `event.action IN (...)` list, in its order), and what the compiled
//! filter does with each of them.

use kvsentry_model::{AuditEvent, Timestamp};
use kvsentry_rules::RuleSet;
use kvsentry_rules::filter::Scalar;

const SEED_ID: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const APP_ID: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";

/// Copied from the seed query: a change to the rule's list must show up here.
const SEED_READ_OPERATIONS: [&str; 20] = [
    "VaultGet",
    "KeyGet",
    "KeyList",
    "KeyListVersions",
    "KeyGetDeleted",
    "KeyListDeleted",
    "SecretGet",
    "SecretList",
    "SecretListVersions",
    "SecretGetDeleted",
    "SecretListDeleted",
    "CertificateGet",
    "CertificateList",
    "CertificateListVersions",
    "CertificateGetDeleted",
    "CertificateListDeleted",
    "CertificatePolicyGet",
    "CertificateContactsGet",
    "CertificateIssuerGet",
    "CertificateIssuersList",
];

/// The `in:` list of the rule's `operation` test, as written in the rule file.
fn operation_list(rule_id: &str) -> Vec<String> {
    let set = RuleSet::builtin();
    let t = set.get(rule_id).unwrap().threshold().unwrap();
    let clauses = t.filter.source.all.as_ref().expect("filter is an `all`");
    let tests: Vec<_> = clauses
        .iter()
        .filter(|c| {
            c.source
                .field
                .as_ref()
                .is_some_and(|f| f.0.name() == "operation")
        })
        .collect();
    assert_eq!(tests.len(), 1, "{rule_id}: one test on `operation`");
    tests[0]
        .source
        .in_
        .as_ref()
        .expect("an `in` list")
        .iter()
        .map(|s| match s {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => panic!("{rule_id}: integer {i} in the operation list"),
        })
        .collect()
}

fn read_by_user(op: &str) -> AuditEvent<'static> {
    let t: Timestamp = "2025-06-30T10:00:00Z".parse().unwrap();
    let mut e = AuditEvent::new(t, "AuditEvent".into(), op.to_string().into());
    e.identity.upn = Some("alice@contoso.com".into());
    e.identity.object_id = Some("0b7e6f6c-5f59-4b0a-9d8e-2f6a9c1d3e4f".into());
    e
}

fn read_by_app(op: &str) -> AuditEvent<'static> {
    let mut e = read_by_user(op);
    e.identity.upn = None;
    e.identity.app_id = Some("2a1f5c3e-7b9d-4e6f-8a0b-1c2d3e4f5a6b".into());
    e
}

#[test]
fn both_burst_rules_list_the_seed_operations_in_order() {
    for id in [SEED_ID, APP_ID] {
        assert_eq!(operation_list(id), SEED_READ_OPERATIONS, "{id}");
    }
}

#[test]
fn the_compiled_filters_take_exactly_the_seed_operations() {
    let set = RuleSet::builtin();
    let seed = &set.get(SEED_ID).unwrap().threshold().unwrap().filter;
    let app = &set.get(APP_ID).unwrap().threshold().unwrap().filter;
    for op in SEED_READ_OPERATIONS {
        assert!(seed.matches(&read_by_user(op)), "seed rule rejects {op}");
        assert!(app.matches(&read_by_app(op)), "app rule rejects {op}");
        // Case-sensitive, like ES|QL's IN.
        let lower = op.to_ascii_lowercase();
        assert!(
            !seed.matches(&read_by_user(&lower)),
            "seed rule takes {lower}"
        );
        assert!(!app.matches(&read_by_app(&lower)), "app rule takes {lower}");
    }
    // Writes, crypto operations and near names are not reads.
    for op in [
        "SecretSet",
        "KeyUnwrap",
        "KeySign",
        "CertificateIssuerSet",
        "CertificateContactsSet",
        "KeyListDeletedX",
        "Authentication",
        "VaultPut",
    ] {
        assert!(!seed.matches(&read_by_user(op)), "seed rule takes {op}");
        assert!(!app.matches(&read_by_app(op)), "app rule takes {op}");
    }
}
