//! The body of a `kind: threshold` rule: filter, window, group-by, aggregates, condition.

use std::fmt;

use kvsentry_model::Field;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::condition::{Condition, Operand};
use crate::duration::Dur;
use crate::error::suggestions;
use crate::filter::{FieldName, Filter};

/// Tumbling windows are aligned to the Unix epoch (like ES|QL `DATE_TRUNC`); sliding windows
/// catch a burst in any span of the window's length (see the engine for the exact rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    Tumbling,
    Sliding,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    #[serde(rename = "type")]
    pub kind: WindowType,
    pub size: Dur,
}

/// One aggregate over a group's events in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Number of events (`count`), or of events where the field is present (`{count: f}`).
    Count(Option<Field>),
    /// Number of distinct present values (missing values are not counted, like ES|QL).
    CountDistinct(Field),
    /// Distinct present values, sorted, capped at `values_cap`.
    Values(Field),
    Min(Field),
    Max(Field),
}

impl Aggregate {
    /// The field this aggregate reads, if any.
    pub fn field(&self) -> Option<Field> {
        match *self {
            Aggregate::Count(f) => f,
            Aggregate::CountDistinct(f)
            | Aggregate::Values(f)
            | Aggregate::Min(f)
            | Aggregate::Max(f) => Some(f),
        }
    }

    /// True when the aggregate is a number a condition can compare.
    pub fn is_numeric(&self) -> bool {
        match *self {
            Aggregate::Count(_) | Aggregate::CountDistinct(_) => true,
            Aggregate::Min(f) | Aggregate::Max(f) => {
                matches!(f, Field::HttpStatus | Field::DurationMs)
            }
            Aggregate::Values(_) => false,
        }
    }

    fn op_name(&self) -> &'static str {
        match self {
            Aggregate::Count(_) => "count",
            Aggregate::CountDistinct(_) => "count_distinct",
            Aggregate::Values(_) => "values",
            Aggregate::Min(_) => "min",
            Aggregate::Max(_) => "max",
        }
    }
}

impl Serialize for Aggregate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, self.field()) {
            (Aggregate::Count(None), _) | (_, None) => s.serialize_str("count"),
            (a, Some(f)) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(a.op_name(), f.name())?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Aggregate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const OPS: &[&str] = &["count", "count_distinct", "values", "min", "max"];
        impl<'de> Visitor<'de> for V {
            type Value = Aggregate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`count`, or one of `{count_distinct: field}`, `{values: field}`, `{min: field}`, `{max: field}`, `{count: field}`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Aggregate, E> {
                if v == "count" {
                    Ok(Aggregate::Count(None))
                } else {
                    Err(E::custom(format!(
                        "unknown aggregate `{v}`: write `count`, or `{{count_distinct: field}}`, `{{values: field}}`, `{{min: field}}`, `{{max: field}}`"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Aggregate, A::Error> {
                let Some(op) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("an aggregate needs one operation"));
                };
                let field = map.next_value::<FieldName>()?.0;
                let agg = match op.as_str() {
                    "count" => Aggregate::Count(Some(field)),
                    "count_distinct" => Aggregate::CountDistinct(field),
                    "values" => Aggregate::Values(field),
                    "min" => Aggregate::Min(field),
                    "max" => Aggregate::Max(field),
                    other => return Err(de::Error::unknown_variant(other, OPS)),
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom("an aggregate has exactly one operation"));
                }
                if matches!(agg, Aggregate::Min(_) | Aggregate::Max(_))
                    && !matches!(field, Field::Time | Field::HttpStatus | Field::DurationMs)
                {
                    return Err(de::Error::custom(format!(
                        "`{op}` works on time, http.status or duration_ms, not `{}`",
                        field.name()
                    )));
                }
                Ok(agg)
            }
        }
        d.deserialize_any(V)
    }
}

/// Named aggregates, in the order written (alerts list them in that order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Aggregates(pub Vec<(String, Aggregate)>);

impl Aggregates {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|(n, _)| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(String, Aggregate)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Aggregates {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Aggregates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Aggregates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of aggregate names to aggregates")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Aggregates, A::Error> {
                let mut v: Vec<(String, Aggregate)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if v.iter().any(|(n, _)| *n == k) {
                        return Err(de::Error::custom(format!("duplicate aggregate `{k}`")));
                    }
                    if k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
                        || k.starts_with(|c: char| c.is_ascii_digit())
                    {
                        return Err(de::Error::custom(format!(
                            "aggregate name `{k}`: use letters, digits and `_` (not starting with a digit)"
                        )));
                    }
                    let a = map.next_value::<Aggregate>()?;
                    v.push((k, a));
                }
                Ok(Aggregates(v))
            }
        }
        d.deserialize_map(V)
    }
}

fn default_account() -> bool {
    true
}
fn default_ip() -> Option<FieldName> {
    Some(FieldName(Field::CallerIp))
}
fn default_resource() -> Option<FieldName> {
    Some(FieldName(Field::VaultResourceId))
}

/// Which entities an alert carries: an Account from the group's first identity, an Ip for
/// each distinct value of `ip`, an AzureResource for each distinct value of `azure_resource`
/// (each capped at 10). `ip: null` or `azure_resource: null` turns one off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityMapping {
    #[serde(default = "default_account")]
    pub account: bool,
    #[serde(default = "default_ip")]
    pub ip: Option<FieldName>,
    #[serde(default = "default_resource")]
    pub azure_resource: Option<FieldName>,
}

impl Default for EntityMapping {
    fn default() -> Self {
        EntityMapping {
            account: true,
            ip: default_ip(),
            azure_resource: default_resource(),
        }
    }
}

fn default_evidence() -> usize {
    20
}
fn default_values_cap() -> usize {
    100
}
fn is_default_entities(e: &EntityMapping) -> bool {
    *e == EntityMapping::default()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    filter: Filter,
    window: WindowSpec,
    #[serde(default)]
    group_by: Vec<FieldName>,
    aggregates: Aggregates,
    condition: Condition,
    #[serde(default)]
    suppression: Dur,
    #[serde(default = "default_evidence")]
    evidence: usize,
    #[serde(default = "default_values_cap")]
    values_cap: usize,
    #[serde(default, skip_serializing_if = "is_default_entities")]
    entities: EntityMapping,
}

/// A validated threshold detection.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdDetection {
    pub filter: Filter,
    pub window: WindowSpec,
    pub group_by: Vec<FieldName>,
    pub aggregates: Aggregates,
    /// Names resolved to aggregate indices.
    pub condition: Condition,
    /// At most one alert per group per this period (0: one per window).
    pub suppression: Dur,
    /// Max evidence references per alert.
    pub evidence: usize,
    /// Max values kept by each `values` aggregate.
    pub values_cap: usize,
    pub entities: EntityMapping,
}

impl<'de> Deserialize<'de> for ThresholdDetection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ThresholdDetection;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a threshold detection mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let raw = RawThreshold::deserialize(de::value::MapAccessDeserializer::new(map))?;
                ThresholdDetection::validate(raw).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl ThresholdDetection {
    fn validate(raw: RawThreshold) -> Result<ThresholdDetection, String> {
        if raw.window.size.as_nanos() <= 0 {
            return Err("in `window`: `size` must be more than 0".into());
        }
        if raw.aggregates.is_empty() {
            return Err("in `aggregates`: a threshold rule needs at least one aggregate".into());
        }
        let mut condition = raw.condition;
        let mut err = None;
        let aggs = &raw.aggregates;
        condition.expr.operands_mut(&mut |o| {
            if let Operand::Agg { name, index } = o {
                match aggs.index_of(name) {
                    Some(i) if aggs.0.get(i).is_some_and(|(_, a)| a.is_numeric()) => *index = i,
                    Some(_) => {
                        err.get_or_insert_with(|| {
                            format!(
                                "in `condition`: aggregate `{name}` is not a number (conditions compare count, count_distinct, or min/max of http.status or duration_ms)"
                            )
                        });
                    }
                    None => {
                        let close = suggestions(name, aggs.0.iter().map(|(n, _)| n.as_str()));
                        err.get_or_insert_with(|| {
                            let mut m = format!(
                                "in `condition`: unknown aggregate `{name}` in `{}`",
                                condition_source_placeholder()
                            );
                            if close.is_empty() {
                                m.push_str(&format!(
                                    "; the aggregates are {}",
                                    aggs.0
                                        .iter()
                                        .map(|(n, _)| format!("`{n}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ));
                            } else {
                                m.push_str(&format!("; did you mean `{}`?", close.join("` or `")));
                            }
                            m
                        });
                    }
                }
            }
        });
        if let Some(e) = err {
            return Err(e.replace(condition_source_placeholder(), &condition.source));
        }
        Ok(ThresholdDetection {
            filter: raw.filter,
            window: raw.window,
            group_by: raw.group_by,
            aggregates: raw.aggregates,
            condition,
            suppression: raw.suppression,
            evidence: raw.evidence,
            values_cap: raw.values_cap.max(1),
            entities: raw.entities,
        })
    }
}

fn condition_source_placeholder() -> &'static str {
    "\u{0}COND\u{0}"
}
