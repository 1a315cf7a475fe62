//! Alerts for the transport tests.

use kvsentry_model::{Alert, AlertRule, Entity, EvidenceRef, TimeWindow, Timestamp};
use serde_json::json;

/// An alert of the excessive-retrieval rule for caller `n`, with a real id.
pub fn alert(n: usize) -> Alert {
    let start: Timestamp = "2022-06-30T11:56:00Z".parse().unwrap();
    let end: Timestamp = "2022-06-30T11:57:00Z".parse().unwrap();
    let upn = format!("caller{n}@securathesis.onmicrosoft.com");
    let mut group = serde_json::Map::new();
    group.insert("identity.upn".into(), json!(upn));
    let mut fields = serde_json::Map::new();
    fields.insert("action_count".into(), json!(6));
    fields.insert("actions".into(), json!(["KeyGet", "KeyList", "SecretGet"]));
    Alert {
        alert_id: Alert::compute_id("r1", &["2022-06-30T11:56:00Z", upn.as_str()]),
        rule: AlertRule {
            id: "r1".into(),
            name: "Azure Key Vault Excessive Secret or Key Retrieved".into(),
            short_name: None,
            severity: "medium".into(),
            tactics: vec!["CredentialAccess".into()],
            techniques: vec!["T1555.006".into()],
            version: "1".into(),
        },
        time: end,
        window: Some(TimeWindow { start, end }),
        group,
        fields,
        entities: vec![Entity::Ip {
            address: "52.178.1.2".into(),
        }],
        evidence: vec![EvidenceRef {
            time: start,
            operation: "KeyList".into(),
            correlation_id: None,
            source: Some("logs/PT1H.json:3".into()),
        }],
        threat: None,
    }
}

/// The JSON line of an alert, as `JsonLines::new()` encodes it.
pub fn line(alert: &Alert) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(alert).unwrap();
    bytes.push(b'\n');
    bytes
}
