//! The body of a `kind: indicator_match` rule: events whose address field is covered by a
//! threat-intelligence indicator, after Sentinel's "TI map IP entity to ..." analytics.
//!
//! ```yaml
//! kind: indicator_match
//! detection:
//!   filter: { field: vault.resource_type, iequals: VAULTS }   # ResourceType =~ "VAULTS"
//!   match: { field: caller.ip, indicator: ip }
//!   ioc_lookback: 14d        # indicators generated in the last 14 days (as-of runs)
//!   query_frequency: 1h      # Sentinel schedule: metadata
//!   query_period: 14d        # Sentinel schedule: metadata
//!   trigger: { operator: gt, threshold: 0 }
//!   sentinel_compat: false   # true reproduces the KQL to the letter
//!   evidence: 20
//!   entities: { ip: caller.ip, azure_resource: vault.resource_id }
//! ```
//!
//! The indicators themselves are not part of the rule: the engine is given an indicator set
//! (`kvsentry-intel`) and each indicator_match rule selects from it. See `kvsentry-engine`'s
//! `indicator` module for the semantics, step by step against the KQL.

use std::fmt;

use kvsentry_model::Field;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::threshold::EntityMapping;
use crate::duration::Dur;
use crate::filter::{FieldName, Filter};

/// What kind of indicator an event field is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorType {
    /// IP address and network indicators (Sentinel `NetworkIP`, `NetworkDestinationIP`,
    /// `NetworkSourceIP`, `EmailSourceIpAddress`; STIX `ipv4-addr`/`ipv6-addr`).
    Ip,
}

/// `match: { field: caller.ip, indicator: ip }`: the event field compared with indicators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    pub field: FieldName,
    pub indicator: IndicatorType,
}

/// Sentinel's trigger operators (`triggerOperator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerOp {
    Gt,
    Lt,
    Eq,
    Ne,
}

impl TriggerOp {
    /// The name rule files use (`operator: gt`).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerOp::Gt => "gt",
            TriggerOp::Lt => "lt",
            TriggerOp::Eq => "eq",
            TriggerOp::Ne => "ne",
        }
    }
}

/// `trigger: { operator: gt, threshold: 0 }`: a run alerts when its number of result rows
/// (matched indicator and IP pairs) compares true with the threshold (Sentinel's
/// `triggerOperator` / `triggerThreshold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    pub operator: TriggerOp,
    pub threshold: u64,
}

impl Default for Trigger {
    /// `gt 0`: any result alerts.
    fn default() -> Self {
        Trigger {
            operator: TriggerOp::Gt,
            threshold: 0,
        }
    }
}

impl Trigger {
    /// True when a run with `results` result rows alerts.
    pub fn fires(&self, results: u64) -> bool {
        match self.operator {
            TriggerOp::Gt => results > self.threshold,
            TriggerOp::Lt => results < self.threshold,
            TriggerOp::Eq => results == self.threshold,
            TriggerOp::Ne => results != self.threshold,
        }
    }
}

fn default_lookback() -> Dur {
    // The seed's `ioc_lookBack = 14d`; the literal is valid, the fallback never runs.
    Dur::parse("14d").unwrap_or_else(|_| Dur::from_nanos(14 * 86_400_000_000_000))
}
fn default_evidence() -> usize {
    20
}
fn is_default_entities(e: &EntityMapping) -> bool {
    *e == EntityMapping::default()
}
fn is_default_trigger(t: &Trigger) -> bool {
    *t == Trigger::default()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicatorMatch {
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(rename = "match")]
    match_: MatchSpec,
    #[serde(default = "default_lookback")]
    ioc_lookback: Dur,
    #[serde(default)]
    query_frequency: Option<Dur>,
    #[serde(default)]
    query_period: Option<Dur>,
    #[serde(default)]
    trigger: Trigger,
    #[serde(default)]
    sentinel_compat: bool,
    #[serde(default = "default_evidence")]
    evidence: usize,
    #[serde(default)]
    entities: EntityMapping,
}

/// A validated indicator_match detection.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorMatchDetection {
    /// Events the rule looks at (`None`: every event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// The event field compared with the indicators, and their type.
    #[serde(rename = "match")]
    pub match_: MatchSpec,
    /// As-of runs: only indicator versions generated within this period before the run
    /// (the seed's `ioc_lookBack`). Retro hunts use every version.
    pub ioc_lookback: Dur,
    /// Sentinel schedule (metadata; a future `serve` flushes alerts at this period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_frequency: Option<Dur>,
    /// Sentinel data period (metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_period: Option<Dur>,
    #[serde(skip_serializing_if = "is_default_trigger")]
    pub trigger: Trigger,
    /// Reproduce the KQL to the letter (string equality of IPs, IPv4-only private filter,
    /// one indicator per IP) instead of the stricter default.
    pub sentinel_compat: bool,
    /// Max evidence references per alert besides the kept (latest) event.
    pub evidence: usize,
    #[serde(skip_serializing_if = "is_default_entities")]
    pub entities: EntityMapping,
}

impl<'de> Deserialize<'de> for IndicatorMatchDetection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IndicatorMatchDetection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an indicator_match detection mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let raw =
                    RawIndicatorMatch::deserialize(de::value::MapAccessDeserializer::new(map))?;
                IndicatorMatchDetection::validate(raw).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl IndicatorMatchDetection {
    fn validate(raw: RawIndicatorMatch) -> Result<IndicatorMatchDetection, String> {
        let f = raw.match_.field.0;
        if !matches!(f, Field::CallerIp | Field::IdentityIpAddr) {
            return Err(format!(
                "in `match`: `{}` is not an address field; IP indicators match `caller.ip` or `identity.ipaddr`",
                f.name()
            ));
        }
        if raw.ioc_lookback.as_nanos() <= 0 {
            return Err("in `ioc_lookback`: must be more than 0".into());
        }
        Ok(IndicatorMatchDetection {
            filter: raw.filter,
            match_: raw.match_,
            ioc_lookback: raw.ioc_lookback,
            query_frequency: raw.query_frequency,
            query_period: raw.query_period,
            trigger: raw.trigger,
            sentinel_compat: raw.sentinel_compat,
            evidence: raw.evidence,
            entities: raw.entities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_operators() {
        let t = |operator, threshold| Trigger {
            operator,
            threshold,
        };
        assert!(Trigger::default().fires(1));
        assert!(!Trigger::default().fires(0));
        assert!(t(TriggerOp::Lt, 2).fires(1) && !t(TriggerOp::Lt, 2).fires(2));
        assert!(t(TriggerOp::Eq, 2).fires(2) && !t(TriggerOp::Eq, 2).fires(3));
        assert!(t(TriggerOp::Ne, 2).fires(3) && !t(TriggerOp::Ne, 2).fires(2));
        assert_eq!(default_lookback().as_nanos(), 14 * 86_400_000_000_000);
    }
}
