//! The generator emits every one of the seed rule's 20 read operations, in background traffic
//! of modest size and in a burst that asks for all of them, with request URIs of their shape.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::bytes;
use kvsentry_gen::{GenConfig, Generator, READ_OPERATIONS, Scenario};
use serde_json::Value;

/// Storage records of the written output, as JSON.
fn records(c: &GenConfig) -> Vec<Value> {
    String::from_utf8(bytes("storage", c))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn background_traffic_uses_all_20_read_operations() {
    let c = GenConfig::default().events(20_000);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in records(&c) {
        *seen
            .entry(r["operationName"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for op in READ_OPERATIONS {
        assert!(seen.contains_key(op), "{op} missing from {seen:?}");
    }
    // A realistic mix: everyday reads dominate, reads of deleted items and of the
    // certificate contacts and issuers are rare.
    let n = |op: &str| seen.get(op).copied().unwrap_or(0);
    assert!(n("SecretGet") > 20 * n("SecretGetDeleted"), "{seen:?}");
    assert!(n("SecretList") > 5 * n("KeyListDeleted"), "{seen:?}");
    assert!(
        n("CertificateGet") > n("CertificateContactsGet"),
        "{seen:?}"
    );
}

#[test]
fn a_burst_of_20_operations_uses_each_once() {
    let c = GenConfig::default().events(0).scenario(
        "burst:user:20:20@2025-06-30T10:00:00Z"
            .parse::<Scenario>()
            .unwrap(),
    );
    let recs = records(&c);
    let ops: BTreeSet<&str> = recs
        .iter()
        .map(|r| r["operationName"].as_str().unwrap())
        .collect();
    assert_eq!(recs.len(), 20);
    assert_eq!(ops, READ_OPERATIONS.iter().copied().collect());
    let g = Generator::new(&c).unwrap();
    assert_eq!(g.ground_truth()[0].operations.len(), 20);
    // Request URIs and object ids follow each operation's REST path.
    for r in &recs {
        let op = r["operationName"].as_str().unwrap();
        let uri = r["properties"]["requestUri"].as_str().unwrap();
        let path = uri
            .split_once(".vault.azure.net/")
            .map(|(_, p)| p)
            .unwrap_or(uri);
        let expect_prefix = match op {
            "VaultGet" => "https://management.azure.com/subscriptions/",
            "KeyGetDeleted" | "KeyListDeleted" => "deletedkeys",
            "SecretGetDeleted" | "SecretListDeleted" => "deletedsecrets",
            "CertificateGetDeleted" | "CertificateListDeleted" => "deletedcertificates",
            "CertificateContactsGet" => "certificates/contacts?",
            "CertificateIssuerGet" => "certificates/issuers/",
            "CertificateIssuersList" => "certificates/issuers?",
            o if o.starts_with("Key") => "keys",
            o if o.starts_with("Secret") => "secrets",
            _ => "certificates",
        };
        assert!(path.starts_with(expect_prefix), "{op}: {uri}");
        if op.ends_with("GetDeleted") || op == "CertificateIssuerGet" {
            let id = r["properties"]["id"].as_str().unwrap_or("");
            assert!(
                id.contains(".vault.azure.net/deleted") || id.contains("/certificates/issuers/"),
                "{op}: {id}"
            );
        }
    }
}
