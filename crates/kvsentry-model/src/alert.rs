//! What a rule emits.
//!
//! An [`Alert`] is self-contained: the rule's metadata, the window or event that fired, the
//! group it concerns, the rule's named aggregates, Sentinel-style entities and references to
//! the evidence. Its `alert_id` is a UUIDv5 of the rule id and the alert's identifying key, so
//! the same input gives the same id in `hunt` and `serve`, and a restarted service can
//! recognise alerts it already sent.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Namespace of alert ids (a fixed random UUID; changing it changes every alert id).
const ALERT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6b1f_4a5e_92c3_4d1e_8f0a_7c2b_9e41_d3a7);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic: see [`Alert::compute_id`].
    pub alert_id: String,
    pub rule: AlertRule,
    /// When the alert's activity happened: the window end, or the matched event's time.
    pub time: Timestamp,
    /// The aggregation window, for windowed rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// Each group-by field name to its value; dotted names are written as nested objects
    /// (see [`crate::nest`]).
    #[serde(default, with = "crate::nest")]
    pub group: Map<String, Value>,
    /// The rule's named outputs (aggregates, projected fields), nested like `group`.
    #[serde(default, with = "crate::nest")]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Up to the rule's evidence cap of event references.
    #[serde(default)]
    pub evidence: Vec<EvidenceRef>,
    /// For indicator matches: what matched, in the style of Elastic's `threat.enrichments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threat: Option<ThreatEnrichment>,
}

impl Alert {
    /// The deterministic alert id for a rule and the parts that identify one alert of it
    /// (window start and group values; indicator id and IP; ...).
    pub fn compute_id<S: AsRef<str>>(rule_id: &str, key: &[S]) -> String {
        let mut name = String::with_capacity(64);
        name.push_str(rule_id);
        for part in key {
            // A separator that cannot appear unescaped keeps ("a|b","c") apart from ("a","b|c").
            name.push('\u{1f}');
            name.push_str(part.as_ref());
        }
        uuid::Uuid::new_v5(&ALERT_NAMESPACE, name.as_bytes()).to_string()
    }
}

/// The rule's metadata as carried by each alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: String,
    pub name: String,
    /// A few words for one-line views; the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    pub severity: String,
    #[serde(default)]
    pub tactics: Vec<String>,
    #[serde(default)]
    pub techniques: Vec<String>,
    pub version: String,
}

/// `[start, end)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Sentinel-style entities, so an alert can be pivoted on in a SIEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entity {
    Account {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upn: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        object_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_id: Option<String>,
    },
    Ip {
        address: String,
    },
    AzureResource {
        resource_id: String,
    },
}

/// A reference to one event behind an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    pub time: Timestamp,
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `file:line` of the record, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What matched a threat-intelligence indicator (after ECS `threat.enrichments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatEnrichment {
    /// The value that matched, e.g. the caller IP.
    pub matched_atomic: String,
    /// The event field that matched, e.g. `caller.ip`.
    pub matched_field: String,
    /// `indicator_match_rule`.
    pub matched_type: String,
    pub indicator_id: String,
    /// `ipv4-addr`, `ipv6-addr`, or `*-cidr` for network indicators.
    pub indicator_type: String,
    /// The indicator as written by its feed (address or CIDR).
    pub indicator_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_id_is_deterministic_and_separates_parts() {
        let a = Alert::compute_id("r", &["a|b", "c"]);
        assert_eq!(a, Alert::compute_id("r", &["a|b", "c"]));
        assert_ne!(a, Alert::compute_id("r", &["a", "b|c"]));
        assert_ne!(a, Alert::compute_id("r2", &["a|b", "c"]));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn entities_serialise_tagged() {
        let e = Entity::Ip {
            address: "1.2.3.4".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"ip","address":"1.2.3.4"}"#
        );
    }
}
