//! STIX bundles, object lists, single objects and TAXII envelopes → [`StixIndicator`]s.
//!
//! Feeds arrive in several wrappers: a STIX `bundle`, a bare JSON array of objects (some
//! exporters), one object (a Sentinel `ThreatIntelIndicators.Data` cell, an OpenCTI entity),
//! or a TAXII 2.1 envelope (`{"objects": [...], "more": ..., "next": ...}`). All of them
//! are read by [`parse_bundle`].
//!
//! What comes out:
//! - [`StixLoad::indicators`]: the latest version of every `indicator` whose pattern names
//!   at least one IP network (see [`crate::extract`]). Revoked and expired ones are kept:
//!   a later version revoking an earlier one must reach the caller, who decides with
//!   [`StixIndicator::is_active_at`] at the evaluation time it chooses.
//! - [`StixLoad::problems`]: every other indicator, with a [`ProblemReason`]. Nothing is
//!   dropped silently: an analyst asking "why did indicator X not fire" finds it here.
//! - [`StixLoad::skipped_objects_by_type`]: counts of non-indicator objects.
//!
//! Versioning: objects sharing an `id` are versions of one object; the one with the latest
//! `modified` wins, and on a tie the later one in input order (a feed re-sending an object
//! means it is current). This happens before patterns are looked at, so an old version
//! with a broken pattern raises no problem once it is superseded.
//!
//! TLP: `object_marking_refs` are resolved against the predefined STIX 2.1 TLP 1.0 markings,
//! the OASIS TLP 2.0 markings, and any TLP `marking-definition` in the same input; a
//! `TLP:<level>` label counts too. The most restrictive level wins.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::extract::{NoIpReason, extract_ips};
use crate::pattern::{PatternError, parse_pattern};

/// A STIX `indicator` whose pattern names at least one IP network.
#[derive(Debug, Clone, PartialEq)]
pub struct StixIndicator {
    pub id: String,
    /// The object's `spec_version`, else the bundle's, else `"2.0"` (2.0 objects had none).
    pub spec_version: String,
    pub created: Timestamp,
    /// `modified`, or `created` when absent.
    pub modified: Timestamp,
    /// `valid_from`, or `created` when absent (STIX 2.0 feeds omit it).
    pub valid_from: Timestamp,
    pub valid_until: Option<Timestamp>,
    pub revoked: bool,
    pub name: Option<String>,
    pub description: Option<String>,
    pub indicator_types: Vec<String>,
    pub labels: Vec<String>,
    /// 0..=100; absent, fractional or out of range → `None`.
    pub confidence: Option<u8>,
    pub pattern: String,
    pub pattern_type: String,
    /// Canonical, sorted, de-duplicated; hosts as /32 or /128.
    pub networks: Vec<IpNet>,
    /// The pattern needs more than the IP (AND, FOLLOWEDBY, ...): an IP match over-approximates.
    pub requires_more: bool,
    pub external_references: Vec<ExternalReference>,
    pub object_marking_refs: Vec<String>,
    /// Most restrictive TLP found in `object_marking_refs` or `TLP:` labels.
    pub tlp: Option<Tlp>,
    pub created_by_ref: Option<String>,
}

impl StixIndicator {
    /// True when the indicator has ended at `now`: revoked, or `valid_until` is not after
    /// `now` (STIX: `valid_until` is the first instant it is no longer valid).
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.revoked || self.valid_until.is_some_and(|u| u <= now)
    }

    /// True when the indicator applies at `now`: not ended and `valid_from <= now`.
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        !self.is_expired_at(now) && self.valid_from <= now
    }
}

/// `external_references[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalReference {
    pub source_name: String,
    pub url: Option<String>,
    pub external_id: Option<String>,
}

/// Traffic Light Protocol level (1.0 and 2.0 names), ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// TLP:CLEAR (2.0) / TLP:WHITE (1.0)
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    /// Parses `clear`, `white`, `green`, `amber`, `amber+strict`, `red`, with or without a
    /// `TLP:` prefix, any case.
    pub fn from_name(name: &str) -> Option<Tlp> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.strip_prefix("tlp:").unwrap_or(&n).trim();
        Some(match n {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" | "amber-strict" | "amber_strict" => Tlp::AmberStrict,
            "red" => Tlp::Red,
            _ => return None,
        })
    }

    /// The predefined marking ids: STIX 2.1 TLP 1.0 and the OASIS TLP 2.0 extension.
    pub fn from_marking_id(id: &str) -> Option<Tlp> {
        Some(match id {
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Tlp::Clear,
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Tlp::Green,
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Tlp::Amber,
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Tlp::Red,
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487" => Tlp::Clear,
            "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb" => Tlp::Green,
            "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421" => Tlp::Amber,
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003" => Tlp::AmberStrict,
            "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1" => Tlp::Red,
            _ => return None,
        })
    }

    /// `TLP:CLEAR`, `TLP:GREEN`, `TLP:AMBER`, `TLP:AMBER+STRICT`, `TLP:RED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }
}

/// Why an indicator (or object) was not turned into a [`StixIndicator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemReason {
    /// No comparison on an IP-bearing path (a domain, hash, URL ... indicator).
    NoIpComparison,
    /// The IP comparisons are all negated (`!=`, `NOT`).
    Negated,
    /// The IP comparisons use `LIKE`, `MATCHES`, `>` ...
    UnsupportedOperator,
    /// The IP comparisons' values are not addresses or CIDRs.
    InvalidIpValue,
    /// `pattern_type` is not `stix` (sigma, snort, yara, ...).
    NotStix,
    /// The pattern does not parse; the detail names the offset.
    MalformedPattern,
    /// A required property is missing or has the wrong form.
    InvalidObject,
}

impl ProblemReason {
    /// Stable snake_case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemReason::NoIpComparison => "no_ip_comparison",
            ProblemReason::Negated => "negated",
            ProblemReason::UnsupportedOperator => "unsupported_operator",
            ProblemReason::InvalidIpValue => "invalid_ip_value",
            ProblemReason::NotStix => "not_stix",
            ProblemReason::MalformedPattern => "malformed_pattern",
            ProblemReason::InvalidObject => "invalid_object",
        }
    }
}

impl ProblemReason {
    /// What is wrong, in words for a report (the reason a row is counted under).
    pub fn label(self) -> &'static str {
        match self {
            ProblemReason::NoIpComparison => "STIX pattern names no IP address",
            ProblemReason::Negated => "STIX pattern only excludes IP addresses (!= or NOT)",
            ProblemReason::UnsupportedOperator => {
                "STIX pattern compares IP addresses with LIKE, MATCHES, <, >, ..."
            }
            ProblemReason::InvalidIpValue => {
                "STIX pattern compares an IP address with a value that is not one"
            }
            ProblemReason::NotStix => "pattern is not a STIX pattern (sigma, snort, yara, ...)",
            ProblemReason::MalformedPattern => "STIX pattern does not parse",
            ProblemReason::InvalidObject => "STIX object is missing a property or malformed",
        }
    }
}

impl From<NoIpReason> for ProblemReason {
    fn from(r: NoIpReason) -> Self {
        match r {
            NoIpReason::NoIpComparison => ProblemReason::NoIpComparison,
            NoIpReason::Negated => ProblemReason::Negated,
            NoIpReason::UnsupportedOperator => ProblemReason::UnsupportedOperator,
            NoIpReason::InvalidIpValue => ProblemReason::InvalidIpValue,
        }
    }
}

/// One indicator (or object) that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StixProblem {
    /// The object id (`indicator--...`), or `#n` (0-based position) when it has none.
    pub id: String,
    pub reason: ProblemReason,
    /// Human-readable: names the id, and for a malformed pattern the character offset.
    pub detail: String,
}

/// The result of reading STIX text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StixLoad {
    pub indicators: Vec<StixIndicator>,
    pub problems: Vec<StixProblem>,
    /// Non-indicator objects by `type` (`relationship`, `malware`, `marking-definition` ...).
    pub skipped_objects_by_type: BTreeMap<String, usize>,
    /// Older versions of an indicator dropped because a later `modified` exists.
    pub superseded_versions: usize,
}

/// Errors that stop reading the whole input.
#[derive(Debug, thiserror::Error)]
pub enum StixError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not STIX: {0}")]
    NotStix(String),
    #[error("indicator {id}: malformed pattern {source}")]
    Pattern {
        id: String,
        #[source]
        source: PatternError,
    },
}

/// Reads a bundle, a bare array of objects, one object, or a TAXII envelope.
///
/// A malformed pattern is a [`ProblemReason::MalformedPattern`] problem (one bad indicator
/// must not hide ten thousand good ones); use [`parse_bundle_strict`] to fail instead.
pub fn parse_bundle(text: &str) -> Result<StixLoad, StixError> {
    let (objects, spec) = unwrap_container(serde_json::from_str(text)?)?;
    Ok(load(objects, spec.as_deref()).0)
}

/// Like [`parse_bundle`], but the first malformed pattern is an error naming the indicator
/// id and the character offset.
pub fn parse_bundle_strict(text: &str) -> Result<StixLoad, StixError> {
    let (objects, spec) = unwrap_container(serde_json::from_str(text)?)?;
    let (load, mut malformed) = load(objects, spec.as_deref());
    if !malformed.is_empty() {
        let (id, source) = malformed.remove(0);
        return Err(StixError::Pattern { id, source });
    }
    Ok(load)
}

/// Converts already-decoded STIX objects (for example the `Data` column of Sentinel's
/// `ThreatIntelIndicators`, or objects a TAXII client collected).
pub fn parse_objects(objects: Vec<Value>) -> StixLoad {
    load(objects, None).0
}

/// Keeps the latest `modified` of each id (ties: the later in input order), preserving the
/// position of each id's first appearance.
pub fn latest_versions(indicators: Vec<StixIndicator>) -> Vec<StixIndicator> {
    keep_latest(indicators, |i| (i.id.clone(), Some(i.modified))).0
}

/// Generic versioning: `key` gives (id, modified). Items whose modified is `None` compare
/// as older than any timestamp. Returns the kept items and how many were dropped.
fn keep_latest<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> (String, Option<Timestamp>),
) -> (Vec<T>, usize) {
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<(Option<Timestamp>, T)> = Vec::new();
    let mut dropped = 0;
    for item in items {
        let (id, modified) = key(&item);
        match slot.get(&id).and_then(|&k| kept.get_mut(k)) {
            Some(existing) => {
                dropped += 1;
                if modified >= existing.0 {
                    *existing = (modified, item);
                }
            }
            None => {
                slot.insert(id, kept.len());
                kept.push((modified, item));
            }
        }
    }
    (kept.into_iter().map(|(_, t)| t).collect(), dropped)
}

pub(crate) type Container = (Vec<Value>, Option<String>);

pub(crate) fn unwrap_container(v: Value) -> Result<Container, StixError> {
    match v {
        Value::Array(items) => Ok((items, None)),
        Value::Object(mut map) => {
            let spec = map
                .get("spec_version")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let ty = map.get("type").and_then(Value::as_str).map(str::to_owned);
            if ty.as_deref() == Some("bundle") {
                return match map.remove("objects") {
                    None | Some(Value::Null) => Ok((Vec::new(), spec)),
                    Some(Value::Array(items)) => Ok((items, spec)),
                    Some(_) => Err(StixError::NotStix(
                        "bundle `objects` is not an array".into(),
                    )),
                };
            }
            if ty.is_none() {
                if let Some(objects) = map.get_mut("objects") {
                    // A TAXII envelope: objects (+ more, next).
                    return match objects.take() {
                        Value::Array(items) => Ok((items, None)),
                        Value::Null => Ok((Vec::new(), None)),
                        _ => Err(StixError::NotStix(
                            "envelope `objects` is not an array".into(),
                        )),
                    };
                }
                if map.get("entity_type").and_then(Value::as_str) != Some("Indicator") {
                    let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
                    return Err(StixError::NotStix(format!(
                        "expected a bundle, an array of objects, a STIX object or a TAXII \
                         envelope; found an object without `type` (keys: {})",
                        keys.join(", ")
                    )));
                }
            }
            Ok((vec![Value::Object(map)], None))
        }
        other => Err(StixError::NotStix(format!(
            "expected a JSON object or array, found {}",
            json_kind(&other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Object type, accepting OpenCTI entities (`entity_type: "Indicator"`, no `type`).
fn object_type(m: &Map<String, Value>) -> Option<String> {
    if let Some(t) = m.get("type").and_then(Value::as_str) {
        return Some(t.to_owned());
    }
    match m.get("entity_type").and_then(Value::as_str) {
        Some("Indicator") => Some("indicator".into()),
        _ => None,
    }
}

/// Object id, accepting OpenCTI's `standard_id`.
fn object_id(m: &Map<String, Value>) -> Option<String> {
    m.get("id")
        .or_else(|| m.get("standard_id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(crate) fn load(
    objects: Vec<Value>,
    bundle_spec: Option<&str>,
) -> (StixLoad, Vec<(String, PatternError)>) {
    let mut out = StixLoad::default();
    let mut markings: HashMap<String, Tlp> = HashMap::new();
    let mut indicators: Vec<(usize, Map<String, Value>)> = Vec::new();
    for (pos, v) in objects.into_iter().enumerate() {
        let Value::Object(m) = v else {
            out.problems.push(StixProblem {
                id: format!("#{pos}"),
                reason: ProblemReason::InvalidObject,
                detail: format!("object #{pos} is {}, not a JSON object", json_kind(&v)),
            });
            continue;
        };
        let ty = object_type(&m);
        match ty.as_deref() {
            Some("indicator") => indicators.push((pos, m)),
            Some(other) => {
                if other == "marking-definition"
                    && let (Some(id), Some(tlp)) = (object_id(&m), marking_tlp(&m))
                {
                    markings.insert(id, tlp);
                }
                *out.skipped_objects_by_type
                    .entry(other.to_owned())
                    .or_default() += 1;
            }
            None => {
                out.problems.push(StixProblem {
                    id: object_id(&m).unwrap_or_else(|| format!("#{pos}")),
                    reason: ProblemReason::InvalidObject,
                    detail: format!("object #{pos} has no `type`"),
                });
            }
        }
    }
    let (indicators, dropped) = keep_latest(indicators, |(pos, m)| {
        (
            object_id(m).unwrap_or_else(|| format!("#{pos}")),
            timestamp(m, "modified")
                .ok()
                .flatten()
                .or(timestamp(m, "created").ok().flatten()),
        )
    });
    out.superseded_versions = dropped;
    let mut malformed = Vec::new();
    for (pos, m) in indicators {
        match indicator(pos, &m, bundle_spec, &markings) {
            Ok(i) => out.indicators.push(i),
            Err((problem, pattern_error)) => {
                if let Some(e) = pattern_error {
                    malformed.push((problem.id.clone(), e));
                }
                out.problems.push(problem);
            }
        }
    }
    (out, malformed)
}

/// TLP level of a `marking-definition` object: 2.1 `definition_type: tlp`, the TLP 2.0
/// extension's `tlp_2_0`, or a `TLP:` name.
fn marking_tlp(m: &Map<String, Value>) -> Option<Tlp> {
    if let Some(t) = m
        .get("definition")
        .and_then(|d| d.get("tlp"))
        .and_then(Value::as_str)
        .and_then(Tlp::from_name)
    {
        return Some(t);
    }
    if let Some(exts) = m.get("extensions").and_then(Value::as_object) {
        for e in exts.values() {
            if let Some(t) = e
                .get("tlp_2_0")
                .and_then(Value::as_str)
                .and_then(Tlp::from_name)
            {
                return Some(t);
            }
        }
    }
    m.get("name")
        .and_then(Value::as_str)
        .filter(|n| n.to_ascii_lowercase().starts_with("tlp:"))
        .and_then(Tlp::from_name)
}

fn timestamp(m: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse::<Timestamp>()
            .map(Some)
            .map_err(|e| format!("`{key}` is not an RFC 3339 timestamp ({s:?}): {e}")),
        Some(other) => Err(format!(
            "`{key}` is {}, not a timestamp string",
            json_kind(other)
        )),
    }
}

fn string(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings(m: &Map<String, Value>, key: &str) -> Vec<String> {
    m.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

type IndicatorError = (StixProblem, Option<PatternError>);

fn indicator(
    pos: usize,
    m: &Map<String, Value>,
    bundle_spec: Option<&str>,
    markings: &HashMap<String, Tlp>,
) -> Result<StixIndicator, IndicatorError> {
    let id = object_id(m).unwrap_or_else(|| format!("#{pos}"));
    let problem = |reason: ProblemReason, detail: String| {
        (
            StixProblem {
                id: id.clone(),
                reason,
                detail,
            },
            None,
        )
    };
    let invalid = |detail: String| {
        problem(
            ProblemReason::InvalidObject,
            format!("indicator {id}: {detail}"),
        )
    };
    if !id.starts_with("indicator--") {
        return Err(invalid("missing or malformed `id`".into()));
    }
    let created = timestamp(m, "created")
        .map_err(&invalid)?
        .ok_or_else(|| invalid("missing `created`".into()))?;
    let modified = timestamp(m, "modified")
        .map_err(&invalid)?
        .unwrap_or(created);
    let valid_from = timestamp(m, "valid_from")
        .map_err(&invalid)?
        .unwrap_or(created);
    let valid_until = timestamp(m, "valid_until").map_err(&invalid)?;
    let pattern_type = string(m, "pattern_type").unwrap_or_else(|| "stix".into());
    let Some(pattern) = string(m, "pattern") else {
        return Err(invalid("missing `pattern`".into()));
    };
    if !pattern_type.eq_ignore_ascii_case("stix") {
        return Err(problem(
            ProblemReason::NotStix,
            format!(
                "indicator {id}: pattern_type is {pattern_type:?}, only STIX patterns are read"
            ),
        ));
    }
    let parsed = match parse_pattern(&pattern) {
        Ok(p) => p,
        Err(e) => {
            let detail = format!("indicator {id}: malformed pattern {e}: {pattern}");
            let (p, _) = problem(ProblemReason::MalformedPattern, detail);
            return Err((p, Some(e)));
        }
    };
    let ips = extract_ips(&parsed).map_err(|r| {
        problem(
            r.into(),
            format!("indicator {id}: {}: {pattern}", describe_no_ip(r)),
        )
    })?;
    let labels = strings(m, "labels");
    let object_marking_refs = strings(m, "object_marking_refs");
    let tlp = object_marking_refs
        .iter()
        .filter_map(|r| Tlp::from_marking_id(r).or_else(|| markings.get(r).copied()))
        .chain(
            labels
                .iter()
                .filter(|l| l.to_ascii_lowercase().starts_with("tlp:"))
                .filter_map(|l| Tlp::from_name(l)),
        )
        .max();
    let confidence = m
        .get("confidence")
        .and_then(Value::as_u64)
        .filter(|c| *c <= 100)
        .and_then(|c| u8::try_from(c).ok());
    let external_references = m
        .get("external_references")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| {
                    let r = r.as_object()?;
                    Some(ExternalReference {
                        source_name: string(r, "source_name")?,
                        url: string(r, "url"),
                        external_id: string(r, "external_id"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(StixIndicator {
        spec_version: string(m, "spec_version")
            .or_else(|| bundle_spec.map(str::to_owned))
            .unwrap_or_else(|| "2.0".into()),
        created,
        modified,
        valid_from,
        valid_until,
        revoked: m.get("revoked").and_then(Value::as_bool).unwrap_or(false),
        name: string(m, "name"),
        description: string(m, "description"),
        indicator_types: strings(m, "indicator_types"),
        labels,
        confidence,
        pattern,
        pattern_type,
        networks: ips.networks,
        requires_more: ips.requires_more,
        external_references,
        object_marking_refs,
        tlp,
        created_by_ref: string(m, "created_by_ref"),
        id,
    })
}

fn describe_no_ip(r: NoIpReason) -> &'static str {
    match r {
        NoIpReason::NoIpComparison => {
            "no comparison on an IP address (ipv4-addr, ipv6-addr, network-traffic src_ref/dst_ref)"
        }
        NoIpReason::Negated => {
            "its IP comparisons are all negated (!= or NOT), which matches almost every address"
        }
        NoIpReason::UnsupportedOperator => {
            "its IP comparisons use an operator other than =, IN or ISSUBSET"
        }
        NoIpReason::InvalidIpValue => "its IP comparisons' values are not IP addresses or CIDRs",
    }
}
