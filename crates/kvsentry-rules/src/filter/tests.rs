//! Filters read from YAML, matched against events.

use super::*;
use kvsentry_model::AuditEvent;
use kvsentry_model::{CallerIp, Timestamp};

fn ev() -> AuditEvent<'static> {
    let mut e = AuditEvent::new(
        "2025-06-30T17:33:25.0331812Z".parse().unwrap(),
        "AuditEvent".into(),
        "SecretGet".into(),
    );
    e.caller_ip = CallerIp::parse("2a01:111:f400::5".into());
    e.client_info = Some("AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0".into());
    e.identity.identity_type = Some("App".into());
    e.http_status = Some(403);
    e
}

fn f(yaml: &str) -> Filter {
    yaml_serde::from_str(yaml).unwrap()
}

#[test]
fn operators_match() {
    let e = ev();
    let cases = [
        ("{ field: operation, equals: SecretGet }", true),
        ("{ field: operation, equals: secretget }", false),
        (
            "{ field: operation, equals: secretget, case_insensitive: true }",
            true,
        ),
        ("{ field: identity.type, iequals: app }", true),
        ("{ not: { field: identity.type, iequals: app } }", false),
        ("{ not: { field: identity.upn, equals: x } }", true),
        ("{ exists: identity.upn }", false),
        ("{ exists: caller.ip }", true),
        (
            "{ field: caller.ip, cidr: [10.0.0.0/8, \"2a01:111::/32\"] }",
            true,
        ),
        ("{ field: caller.ip, cidr: [10.0.0.0/8] }", false),
        ("{ field: caller.ip, equals: \"2A01:111:F400::5\" }", true),
        ("{ field: caller.ip, startswith: \"2a01:\" }", true),
        (
            "{ field: client_info, contains: azurecli, case_insensitive: true }",
            true,
        ),
        ("{ field: client_info, contains: azurecli }", false),
        ("{ field: client_info, endswith: \"1.31.0\" }", true),
        ("{ field: client_info, regex: \"^AZURECLI/2\\\\.\" }", true),
        ("{ field: http.status, gte: 400 }", true),
        ("{ field: http.status, lt: 400 }", false),
        ("{ field: http.status, in: [401, 403] }", true),
        ("{ field: time, gt: \"2025-06-30T17:33:25Z\" }", true),
        ("{ field: time, lt: \"2025-06-30T17:33:25Z\" }", false),
        (
            "{ any: [ { field: caller.ip, cidr: [10.0.0.0/8] }, { field: client_info, contains: AZURECLI } ] }",
            true,
        ),
        (
            "{ all: [ { field: category, equals: AuditEvent }, { field: operation, in: [KeyGet, VaultGet] } ] }",
            false,
        ),
    ];
    for (y, want) in cases {
        assert_eq!(f(y).matches(&e), want, "{y}");
    }
}

#[test]
fn long_in_lists_hash_and_fold_case() {
    let ops: Vec<String> = (0..20).map(|i| format!("Op{i}")).collect();
    let y = format!(
        "{{ field: operation, in: [{}, SecretGet] }}",
        ops.join(", ")
    );
    let fl = f(&y);
    assert!(matches!(
        fl.compiled,
        CompiledFilter::Test {
            test: Test::In {
                strs: StrSet::Many(_),
                ..
            },
            ..
        }
    ));
    assert!(fl.matches(&ev()));
    let y = format!(
        "{{ field: operation, in: [{}, SECRETGET], case_insensitive: true }}",
        ops.join(", ")
    );
    assert!(f(&y).matches(&ev()));
    let y = format!(
        "{{ field: operation, in: [{}, SECRETGET] }}",
        ops.join(", ")
    );
    assert!(!f(&y).matches(&ev()));
}

#[test]
fn shape_errors() {
    for (y, msg) in [
        ("{ field: operation }", "needs an operator"),
        (
            "{ field: operation, equals: a, contains: b }",
            "one operator per test",
        ),
        ("{ exists: operation, equals: a }", "belongs with `field`"),
        ("{ field: operation, gt: 3 }", "compares numbers"),
        ("{ field: http.status, equals: abc }", "is not a number"),
        ("{ field: caller.ip, cidr: [10.0.0.0/33] }", "bad CIDR"),
        ("{ field: operation, regex: \"(\" }", "bad regex"),
        (
            "{ field: identity.upm, equals: a }",
            "did you mean `identity.upn`",
        ),
        ("{ feld: operation }", "unknown field `feld`"),
        ("{ }", "needs one of"),
    ] {
        let e = yaml_serde::from_str::<Filter>(y).unwrap_err().to_string();
        assert!(e.contains(msg), "{y}: {e}");
    }
}

#[test]
fn cidr_contains() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains("10.255.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.1.1.1".parse().unwrap()));
    assert!(!c.contains("11.0.0.1".parse().unwrap()));
    assert!(
        Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!(
        Cidr::parse("::/0")
            .unwrap()
            .contains("2a01::1".parse().unwrap())
    );
    let _ = Timestamp::UNIX_EPOCH;
}

#[test]
fn round_trips_to_yaml() {
    let fl =
        f("{ all: [ { field: operation, in: [KeyGet, 5] }, { not: { exists: identity.upn } } ] }");
    let y = yaml_serde::to_string(&fl).unwrap();
    let back: Filter = yaml_serde::from_str(&y).unwrap();
    assert_eq!(yaml_serde::to_string(&back).unwrap(), y);
    assert!(y.contains("identity.upn"), "{y}");
}
