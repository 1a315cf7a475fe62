//! One rule: its metadata, its detection, and how it is read from YAML.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{RuleError, find_key, pos_of_index, suggestions};
use crate::kinds::indicator::IndicatorMatchDetection;
use crate::kinds::threshold::ThresholdDetection;
use crate::kinds::{Detection, RuleKind};

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
        self.detection.threshold()
    }

    pub fn indicator_match(&self) -> Option<&IndicatorMatchDetection> {
        self.detection.indicator_match()
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
pub(crate) fn more_unknown_keys(
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
