//! Detection rules: the YAML rule format, validation with `file:line:column` errors, and the
//! built-in pack.
//!
//! Rules are data a user tunes without recompiling. A file holds one rule, a YAML list of
//! rules, or a multi-document stream (`---`) of either. Example:
//!
//! ```yaml
//! id: 7d6f0f7e-0000-4000-8000-000000000001
//! name: Burst of secret reads
//! severity: medium
//! tactics: [CredentialAccess]
//! techniques: [T1555.006]
//! kind: threshold
//! detection:
//!   filter:
//!     all:
//!       - { field: category, equals: AuditEvent }
//!       - { field: operation, in: [SecretGet, SecretList] }
//!   window: { type: tumbling, size: 1m }
//!   group_by: [identity.upn]
//!   aggregates:
//!     action_count: count
//!     distinct_actions: { count_distinct: operation }
//!   condition: "action_count >= 5 and distinct_actions >= 2"
//! ```
//!
//! Unknown keys are errors (a typo must not silently disable a clause), dictionary field
//! names are checked with suggestions, and every error names the file, line and column.

pub mod condition;
pub mod duration;
pub mod error;
pub mod filter;
pub mod indicator;
mod mend;
pub mod threshold;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use condition::{ClauseOutcome, CmpOp, CondExpr, Condition, Operand};
pub use duration::Dur;
pub use error::{RuleError, RuleErrors};
pub use filter::{Cidr, CompiledFilter, FieldName, Filter, RawExpr};
pub use indicator::{IndicatorMatchDetection, IndicatorType, MatchSpec, Trigger, TriggerOp};
pub use threshold::{
    Aggregate, Aggregates, EntityMapping, ThresholdDetection, WindowSpec, WindowType,
};

use error::{find_key, index_of_line_col, pos_of_index, suggestions};

/// Alert severity, as Sentinel and Elastic grade it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The kinds of detection. Adding one means a variant here, one in [`Detection`], and one arm
/// in each of `Detection::read` and `Detection::from_value` (the compiler lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Count events per group in a time window and alert on a condition over aggregates.
    Threshold,
    /// Match an event field against threat-intelligence indicators (one alert per indicator
    /// and matched value, keeping the latest event).
    IndicatorMatch,
}

impl RuleKind {
    /// The name rule files use (`kind: indicator_match`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Threshold => "threshold",
            RuleKind::IndicatorMatch => "indicator_match",
        }
    }
}

/// The kind-specific body of a rule.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detection {
    Threshold(ThresholdDetection),
    IndicatorMatch(IndicatorMatchDetection),
}

impl Detection {
    pub fn kind(&self) -> RuleKind {
        match self {
            Detection::Threshold(_) => RuleKind::Threshold,
            Detection::IndicatorMatch(_) => RuleKind::IndicatorMatch,
        }
    }

    /// Reads the `detection` value of a rule whose `kind` is known.
    fn read<'de, A: MapAccess<'de>>(kind: RuleKind, map: &mut A) -> Result<Detection, A::Error> {
        Ok(match kind {
            RuleKind::Threshold => Detection::Threshold(map.next_value()?),
            RuleKind::IndicatorMatch => Detection::IndicatorMatch(map.next_value()?),
        })
    }

    /// As [`Detection::read`] for a `detection` written before `kind` (buffered).
    fn from_value(kind: RuleKind, v: yaml_serde::Value) -> Result<Detection, yaml_serde::Error> {
        Ok(match kind {
            RuleKind::Threshold => Detection::Threshold(yaml_serde::from_value(v)?),
            RuleKind::IndicatorMatch => Detection::IndicatorMatch(yaml_serde::from_value(v)?),
        })
    }
}

/// A rule's metadata (everything but the detection), in the spirit of Sentinel and Elastic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMeta {
    pub id: String,
    pub name: String,
    /// A few words for one-line views (the terminal table); the name when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_name: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub author: Vec<String>,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tactics: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    pub version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub false_positives: Vec<String>,
    /// Where the rule was read from (`file:line`), for messages.
    #[serde(skip)]
    pub origin: String,
}

impl RuleMeta {
    /// What an alert says about the rule that raised it.
    pub fn alert_rule(&self) -> kvsentry_model::AlertRule {
        kvsentry_model::AlertRule {
            id: self.id.clone(),
            name: self.name.clone(),
            short_name: self.short_name.clone(),
            severity: self.severity.as_str().to_string(),
            tactics: self.tactics.clone(),
            techniques: self.techniques.clone(),
            version: self.version.clone(),
        }
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    pub detection: Detection,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    #[serde(flatten)]
    meta: &'a RuleMeta,
    kind: RuleKind,
    detection: &'a Detection,
}

impl Rule {
    /// The rule as YAML, as `rules show` prints it (loadable again).
    pub fn to_yaml(&self) -> String {
        let out = RuleOut {
            meta: &self.meta,
            kind: self.detection.kind(),
            detection: &self.detection,
        };
        yaml_serde::to_string(&out).unwrap_or_else(|e| format!("# cannot print rule: {e}\n"))
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Where the rule comes from: `built-in`, or the file (and line) it was read from.
    pub fn source(&self) -> &str {
        if self.meta.origin.starts_with("<builtin:") {
            "built-in"
        } else {
            &self.meta.origin
        }
    }

    pub fn threshold(&self) -> Option<&ThresholdDetection> {
        match &self.detection {
            Detection::Threshold(t) => Some(t),
            Detection::IndicatorMatch(_) => None,
        }
    }

    pub fn indicator_match(&self) -> Option<&IndicatorMatchDetection> {
        match &self.detection {
            Detection::IndicatorMatch(m) => Some(m),
            Detection::Threshold(_) => None,
        }
    }
}

const RULE_KEYS: &[&str] = &[
    "id",
    "name",
    "short_name",
    "description",
    "author",
    "severity",
    "risk_score",
    "tactics",
    "techniques",
    "version",
    "references",
    "enabled",
    "tags",
    "false_positives",
    "kind",
    "detection",
];

/// "unknown field `x`" for a rule's top-level key, with close names or the full list.
fn unknown_rule_key(key: &str) -> String {
    let close = suggestions(key, RULE_KEYS.iter().copied());
    if close.is_empty() {
        format!(
            "unknown field `{key}`, expected one of {}",
            RULE_KEYS.join(", ")
        )
    } else {
        format!(
            "unknown field `{key}`; did you mean `{}`?",
            close.join("` or `")
        )
    }
}

/// Every unknown top-level key of the rules in a document after the one the parser stopped
/// at (it stops at the first), so that one `rules validate` run lists them all. `from` is
/// where the parser's error is, `reported` the key it named.
fn more_unknown_keys(
    text: &str,
    file: &str,
    doc: &yaml_serde::Value,
    from: usize,
    reported: Option<&str>,
) -> Vec<RuleError> {
    let rules: Vec<&yaml_serde::Value> = match doc {
        yaml_serde::Value::Sequence(s) => s.iter().collect(),
        v => vec![v],
    };
    let mut out = Vec::new();
    let mut at = from;
    let mut skipped_reported = false;
    for r in rules {
        let Some(m) = r.as_mapping() else { continue };
        for k in m.keys() {
            let Some(key) = k.as_str() else { continue };
            if RULE_KEYS.contains(&key) {
                continue;
            }
            if !skipped_reported && Some(key) == reported {
                skipped_reported = true;
                continue;
            }
            let Some(i) = find_key(text, at, key) else {
                continue;
            };
            // Keys before the parser's error were read without complaint.
            at = i + key.len();
            let p = pos_of_index(text, i);
            out.push(RuleError {
                file: file.to_string(),
                line: Some(p.line),
                column: Some(p.column),
                message: unknown_rule_key(key),
            });
        }
    }
    out
}

/// Reads one string or a list of strings (`author: Jane` or `author: [Jane, Joe]`).
#[derive(Default)]
struct StrList(Vec<String>);

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrList, E> {
                Ok(StrList(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<StrList, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = s.next_element::<String>()? {
                    v.push(x);
                }
                Ok(StrList(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A version written as a string or a number (`version: 1.0.0` or `version: 2`).
struct VersionText(String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VersionText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VersionText, E> {
                Ok(VersionText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The metadata keys are read by hand (not derived) so that `detection` can be read with the
/// parser's positions once `kind` is known; a `detection` written before `kind` is buffered.
impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Rule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule (a mapping with id, name, kind, detection, ...)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Rule, A::Error> {
                let mut seen: Vec<String> = Vec::new();
                let mut id = None;
                let mut name = None;
                let mut short_name = None;
                let mut description = String::new();
                let mut author = Vec::new();
                let mut severity = None;
                let mut risk_score = None;
                let mut tactics = Vec::new();
                let mut techniques = Vec::new();
                let mut version = None;
                let mut references = Vec::new();
                let mut enabled = true;
                let mut tags = Vec::new();
                let mut false_positives = Vec::new();
                let mut kind: Option<RuleKind> = None;
                let mut detection = None;
                let mut buffered: Option<yaml_serde::Value> = None;
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    seen.push(key.clone());
                    match key.as_str() {
                        "id" => {
                            let v: String = map.next_value()?;
                            if v.trim().is_empty() {
                                return Err(de::Error::custom("`id` must not be empty"));
                            }
                            id = Some(v);
                        }
                        "name" => name = Some(map.next_value::<String>()?),
                        "short_name" => short_name = Some(map.next_value::<String>()?),
                        "description" => description = map.next_value()?,
                        "author" => author = map.next_value::<StrList>()?.0,
                        "severity" => severity = Some(map.next_value::<Severity>()?),
                        "risk_score" => {
                            let r: u8 = map.next_value()?;
                            if r > 100 {
                                return Err(de::Error::custom("`risk_score` is 0..=100"));
                            }
                            risk_score = Some(r);
                        }
                        "tactics" => tactics = map.next_value::<StrList>()?.0,
                        "techniques" => techniques = map.next_value::<StrList>()?.0,
                        "version" => version = Some(map.next_value::<VersionText>()?.0),
                        "references" => references = map.next_value::<StrList>()?.0,
                        "enabled" => enabled = map.next_value()?,
                        "tags" => tags = map.next_value::<StrList>()?.0,
                        "false_positives" => false_positives = map.next_value::<StrList>()?.0,
                        "kind" => kind = Some(map.next_value::<RuleKind>()?),
                        "detection" => match kind {
                            Some(k) => detection = Some(Detection::read(k, &mut map)?),
                            None => buffered = Some(map.next_value()?),
                        },
                        other => return Err(de::Error::custom(unknown_rule_key(other))),
                    }
                }
                let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
                let kind = kind.ok_or_else(|| {
                    de::Error::custom(format!(
                        "rule `{id}`: missing field `kind` (threshold or indicator_match)"
                    ))
                })?;
                let detection = match (detection, buffered) {
                    (Some(d), _) => d,
                    (None, Some(v)) => Detection::from_value(kind, v)
                        .map_err(|e| de::Error::custom(format!("in `detection`: {e}")))?,
                    (None, None) => {
                        return Err(de::Error::custom(format!(
                            "rule `{id}`: missing field `detection`"
                        )));
                    }
                };
                Ok(Rule {
                    meta: RuleMeta {
                        name: name.unwrap_or_else(|| id.clone()),
                        short_name,
                        id,
                        description,
                        author,
                        severity: severity.unwrap_or(Severity::Medium),
                        risk_score,
                        tactics,
                        techniques,
                        version: version.unwrap_or_else(|| "1".into()),
                        references,
                        enabled,
                        tags,
                        false_positives,
                        origin: String::new(),
                    },
                    detection,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// One rule or a list of rules (one YAML document).
struct OneOrMany(Vec<Rule>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule or a list of rules")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                Ok(OneOrMany(vec![Rule::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(r) = s.next_element::<Rule>()? {
                    v.push(r);
                }
                Ok(OneOrMany(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OneOrMany, E> {
                Ok(OneOrMany(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Turns a parser error into a [`RuleError`] with the best position available.
fn locate(text: &str, file: &str, err: &yaml_serde::Error) -> RuleError {
    let msg = err.to_string();
    // yaml_serde appends " at line L column C" (and sometimes a path); keep the message alone.
    let message = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg.clone(),
    };
    let message = message
        .strip_prefix("detection: ")
        .map(str::to_string)
        .unwrap_or(message);
    let mut index = err
        .location()
        .map(|l| index_of_line_col(text, l.line(), l.column()));
    // Refine: the parser places errors about a key at its mapping; find the key itself.
    // Without a position at all (a `detection` read before its `kind`), scan from the top.
    if let Some(k) = key_hint(&message) {
        if let Some(at) = find_key(text, index.unwrap_or(0), k) {
            index = Some(at);
        }
    }
    let message = plain_words(&message);
    match index {
        Some(i) => {
            let p = pos_of_index(text, i);
            RuleError {
                file: file.to_string(),
                line: Some(p.line),
                column: Some(p.column),
                message,
            }
        }
        None => RuleError {
            file: file.to_string(),
            line: None,
            column: None,
            message,
        },
    }
}

/// serde's wording of a bad enum value (``unknown variant `hihg`, expected one of `low`,
/// ...``) in a user's: `'hihg' is not one of low, ...`. Other messages pass unchanged.
fn plain_words(message: &str) -> String {
    // serde's "invalid type: map, expected X": say what was written and what is wanted.
    if let Some(start) = message.find("invalid type: ") {
        let (head, rest) = message.split_at(start);
        let rest = rest.get("invalid type: ".len()..).unwrap_or("");
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let found = match found {
                "map" => "a mapping ({ ... })".to_string(),
                "sequence" => "a list ([ ... ])".to_string(),
                "unit value" => "nothing".to_string(),
                other => other.replace("string ", "the text "),
            };
            return format!("{head}{found} where {expected} is expected");
        }
    }
    let Some(start) = message.find("unknown variant `") else {
        return message.to_string();
    };
    let (head, rest) = message.split_at(start);
    let rest = rest.get("unknown variant `".len()..).unwrap_or("");
    let Some((value, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let expected = tail
        .strip_prefix(", expected one of ")
        .or_else(|| tail.strip_prefix(", expected "));
    match expected {
        Some(list) => {
            let names: Vec<&str> = list
                .split([',', ' '])
                .filter(|w| !w.is_empty() && *w != "or")
                .map(|w| w.trim_matches('`'))
                .collect();
            match names.as_slice() {
                [only] => format!("{head}'{value}' is not supported (only {only} is)"),
                _ => format!("{head}'{value}' is not one of {}", names.join(", ")),
            }
        }
        None => format!("{head}'{value}' is not a known value"),
    }
}

/// The key an error message is about, when the parser could only place it at the mapping.
fn key_hint(message: &str) -> Option<&str> {
    for prefix in ["unknown field `", "duplicate key `", "in `"] {
        if let Some(rest) = message
            .find(prefix)
            .and_then(|i| message.get(i + prefix.len()..))
        {
            if let Some(end) = rest.find('`') {
                return rest.get(..end);
            }
        }
    }
    None
}

/// Reads every rule in a YAML text (one rule, a list, or a multi-document stream).
pub fn parse_rules(text: &str, file: &str) -> Result<Vec<Rule>, RuleErrors> {
    let mut rules = Vec::new();
    let mut errors: Vec<RuleError> = Vec::new();
    // A syntax error first: the typed pass reads lazily and could report a semantic error
    // that precedes it, which would only confuse.
    let mut values = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        match yaml_serde::Value::deserialize(doc) {
            Ok(v) => values.push(v),
            Err(e) => return Err(RuleErrors(vec![locate(text, file, &e)])),
        }
    }
    let mut last_err: Option<String> = None;
    for (n, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        match OneOrMany::deserialize(doc) {
            Ok(OneOrMany(v)) => rules.extend(v),
            Err(e) => {
                let s = e.to_string();
                // After a syntax error the parser repeats it for every later document.
                if last_err.as_deref() == Some(s.as_str()) {
                    break;
                }
                let first = locate(text, file, &e);
                let reported = key_hint(&s).filter(|_| s.contains("unknown field `"));
                let from = first
                    .line
                    .map_or(0, |l| index_of_line_col(text, l, first.column.unwrap_or(1)));
                errors.push(first);
                if let Some(v) = values.get(n) {
                    let unknown = more_unknown_keys(text, file, v, from, reported);
                    errors.extend(unknown);
                    let further = mend::further_errors(text, file, v, doc_start(text, n), &errors);
                    errors.extend(further);
                }
                last_err = Some(s);
            }
        }
    }
    for r in &mut rules {
        let line = find_id_line(text, &r.meta.id);
        r.meta.origin = match line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(RuleErrors(errors))
    }
}

/// Byte index where the `n`-th YAML document of a text starts (documents are separated by
/// `---` lines; one that opens the text starts the first document).
fn doc_start(text: &str, n: usize) -> usize {
    let mut starts = vec![0];
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        at += line.len();
        if line.starts_with("---") {
            starts.push(at);
        }
    }
    let opens = text.trim_start().starts_with("---");
    starts.get(n + usize::from(opens)).copied().unwrap_or(0)
}

/// Line of `id: <id>` in a text (the first occurrence).
fn find_id_line(text: &str, id: &str) -> Option<usize> {
    nth_id_line(text, id, 1)
}

/// A rule asked for by id, prefix or name that is not one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleLookupError {
    #[error("no rule matches '{query}' (by id, id prefix or name); the rules are:\n  {}", .rules.join("\n  "))]
    Unknown { query: String, rules: Vec<String> },
    #[error("'{query}' could be any of these rules; give more of the id:\n  {}", .candidates.join("\n  "))]
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
}

/// Rules ordered by id.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: BTreeMap<String, Rule>,
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "excessive-keyvault-retrieval.yml",
        include_str!("../rules/excessive-keyvault-retrieval.yml"),
    ),
    (
        "excessive-keyvault-retrieval-app.yml",
        include_str!("../rules/excessive-keyvault-retrieval-app.yml"),
    ),
    (
        "ti-ip-keyvault.yml",
        include_str!("../rules/ti-ip-keyvault.yml"),
    ),
];

impl RuleSet {
    pub fn new() -> RuleSet {
        RuleSet::default()
    }

    /// The built-in pack, embedded in the binary.
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet::new();
        for (name, text) in BUILTIN {
            // The pack is tested; a broken built-in file is a build defect, reported as an
            // empty pack rather than a panic.
            if let Ok(rules) = parse_rules(text, &format!("<builtin:{name}>")) {
                for r in rules {
                    set.rules.insert(r.meta.id.clone(), r);
                }
            }
        }
        set
    }

    /// The built-in files as (name, YAML), for `rules show --builtin` or export.
    pub fn builtin_sources() -> &'static [(&'static str, &'static str)] {
        BUILTIN
    }

    /// Reads rules from YAML text; `file` labels messages.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<RuleSet, RuleErrors> {
        let rules = parse_rules(text, file)?;
        let mut set = RuleSet::new();
        let mut errors = Vec::new();
        set.add_all(rules, text, file, &mut errors);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    fn add_all(&mut self, rules: Vec<Rule>, text: &str, file: &str, errors: &mut Vec<RuleError>) {
        for r in rules {
            if let Some(first) = self.rules.get(&r.meta.id) {
                // The second occurrence: in the same text, the second `id:` line.
                let line = nth_id_line(
                    text,
                    &r.meta.id,
                    if first.meta.origin.starts_with(file) {
                        2
                    } else {
                        1
                    },
                );
                errors.push(RuleError {
                    file: file.to_string(),
                    line,
                    column: None,
                    message: format!(
                        "duplicate rule id `{}` (first defined at {})",
                        r.meta.id, first.meta.origin
                    ),
                });
                continue;
            }
            self.rules.insert(r.meta.id.clone(), r);
        }
    }

    /// Loads a rule file, or every `.yml`/`.yaml` file of a directory (sorted by name, not
    /// recursive). Duplicate ids across the files are errors.
    pub fn load_path(path: &Path) -> Result<RuleSet, RuleErrors> {
        RuleSet::load_paths(std::slice::from_ref(&path.to_path_buf()))
    }

    /// [`RuleSet::load_path`] over several paths into one set: an id defined in two files
    /// (wherever they are) is an error naming both, and every file's errors are reported.
    pub fn load_paths(paths: &[PathBuf]) -> Result<RuleSet, RuleErrors> {
        let mut set = RuleSet::new();
        let mut errors = Vec::new();
        for path in paths {
            let files: Vec<PathBuf> = if path.is_dir() {
                let rd = match std::fs::read_dir(path) {
                    Ok(rd) => rd,
                    Err(e) => {
                        errors.extend(io_err(path, &e).0);
                        continue;
                    }
                };
                let mut v: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml")
                    })
                    .collect();
                v.sort();
                v
            } else {
                vec![path.clone()]
            };
            for f in files {
                let label = f.display().to_string();
                let text = match std::fs::read_to_string(&f) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.extend(io_err(&f, &e).0);
                        continue;
                    }
                };
                match parse_rules(&text, &label) {
                    Ok(rules) => set.add_all(rules, &text, &label, &mut errors),
                    Err(e) => errors.extend(e.0),
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Adds `other`'s rules, replacing rules with the same id (user rules override built-ins).
    pub fn merge_override(&mut self, other: RuleSet) {
        for (id, r) in other.rules {
            self.rules.insert(id, r);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    /// The rule a user means: its id, a unique prefix of it (`c07f7898`), or its name (case
    /// does not matter for prefixes and names).
    pub fn resolve(&self, query: &str) -> Result<&Rule, RuleLookupError> {
        if let Some(r) = self.rules.get(query) {
            return Ok(r);
        }
        let q = query.trim().to_lowercase();
        let by_prefix: Vec<&Rule> = self
            .iter()
            .filter(|r| !q.is_empty() && r.meta.id.to_lowercase().starts_with(&q))
            .collect();
        let by_name: Vec<&Rule> = self
            .iter()
            .filter(|r| r.meta.name.trim().to_lowercase() == q)
            .collect();
        let found = if by_prefix.is_empty() {
            by_name
        } else {
            by_prefix
        };
        let list = |rules: &[&Rule]| {
            rules
                .iter()
                .map(|r| format!("{} ({})", r.meta.id, r.meta.name))
                .collect::<Vec<_>>()
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(RuleLookupError::Unknown {
                query: query.to_string(),
                rules: list(&self.iter().collect::<Vec<_>>()),
            }),
            many => Err(RuleLookupError::Ambiguous {
                query: query.to_string(),
                candidates: list(many),
            }),
        }
    }

    /// All rules, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// Enabled rules, by id.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values().filter(|r| r.meta.enabled)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn insert(&mut self, rule: Rule) -> Option<Rule> {
        self.rules.insert(rule.meta.id.clone(), rule)
    }

    /// Sets a rule's `enabled` flag; false when no rule has that id.
    pub fn set_enabled(&mut self, id: &str, enabled: bool) -> bool {
        match self.rules.get_mut(id) {
            Some(r) => {
                r.meta.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Advisory checks beyond what loading enforces (for `rules validate`): warnings that do
    /// not stop a run.
    pub fn validate(&self) -> Vec<String> {
        let mut w = Vec::new();
        for r in self.iter() {
            if !r.meta.enabled {
                w.push(format!(
                    "{}: rule `{}` is disabled",
                    r.meta.origin, r.meta.id
                ));
            }
            if let Some(t) = r.threshold() {
                if t.group_by.is_empty() {
                    w.push(format!(
                        "{}: rule `{}` has no group_by: all matching events form one group",
                        r.meta.origin, r.meta.id
                    ));
                }
                if t.evidence == 0 {
                    w.push(format!(
                        "{}: rule `{}` keeps no evidence (evidence: 0)",
                        r.meta.origin, r.meta.id
                    ));
                }
            }
            if let Some(m) = r.indicator_match() {
                if !m.trigger.fires(1) && !m.trigger.fires(u64::MAX) {
                    w.push(format!(
                        "{}: rule `{}`: its trigger ({} {}) never fires on a run with results",
                        r.meta.origin,
                        r.meta.id,
                        m.trigger.operator.as_str(),
                        m.trigger.threshold
                    ));
                }
                if m.filter.is_none() {
                    w.push(format!(
                        "{}: rule `{}` has no filter: every event is matched against the indicators",
                        r.meta.origin, r.meta.id
                    ));
                }
            }
        }
        w
    }
}

/// Line of the `n`th (1-based) `id: <id>` in a text.
fn nth_id_line(text: &str, id: &str, n: usize) -> Option<usize> {
    let mut from = 0;
    let mut count = 0;
    while let Some(at) = find_key(text, from, "id") {
        let rest = text.get(at + 2..).unwrap_or("");
        let value = rest
            .trim_start_matches(['"', '\'', ' ', ':'])
            .split(['\n', ',', '}', '"', '\''])
            .next()
            .unwrap_or("")
            .trim();
        if value == id {
            count += 1;
            if count == n {
                return Some(pos_of_index(text, at).line);
            }
        }
        from = at + 2;
    }
    None
}

fn io_err(path: &Path, e: &std::io::Error) -> RuleErrors {
    RuleErrors(vec![RuleError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message: format!("cannot read: {e}"),
    }])
}

#[cfg(test)]
mod tests;
