//! The filter as written, and its compilation.

use std::fmt;

use jiff::Timestamp;
use kvsentry_model::{AuditEvent, Field, net};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::compiled::{CompiledFilter, StrSet, Test};
use super::value::{CidrSrc, FieldName, RegexSrc, Scalar};

/// The filter as written (what `rules show` prints back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<FieldName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iequals: Option<Scalar>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_: Option<Vec<Scalar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startswith: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endswith: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexSrc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<Vec<CidrSrc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
}

/// A filter: its source form and its compiled form.
#[derive(Debug, Clone)]
pub struct Filter {
    pub source: RawExpr,
    pub compiled: CompiledFilter,
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Validating inside `visit_map` makes the YAML parser attach the mapping's position
        // to a structural error (e.g. two operators in one test).
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Filter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a filter mapping (all, any, not, exists, or field with an operator)")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Filter, A::Error> {
                let raw = RawExpr::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let compiled = compile(&raw).map_err(de::Error::custom)?;
                Ok(Filter {
                    source: raw,
                    compiled,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl Filter {
    pub fn matches(&self, ev: &AuditEvent<'_>) -> bool {
        self.compiled.matches(ev)
    }
}

impl RawExpr {
    /// Short text of a top-level clause, for explanations.
    pub fn clause_text(&self, index: usize) -> String {
        let clause = match &self.all {
            Some(v) => v.get(index).map(|f| &f.source),
            None => Some(self),
        };
        clause
            .and_then(|c| yaml_serde::to_value(c).ok())
            .map(|v| flow(&v))
            .unwrap_or_default()
    }
}

/// A value on one line as a rule file's flow style writes it:
/// `{ field: operation, in: [SecretGet, SecretList] }`.
fn flow(v: &yaml_serde::Value) -> String {
    use yaml_serde::Value as V;
    match v {
        V::Mapping(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", flow(k), flow(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        V::Sequence(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        V::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':')) =>
        {
            s.clone()
        }
        V::String(s) => format!("{s:?}"),
        V::Number(n) => n.to_string(),
        V::Bool(b) => b.to_string(),
        V::Null => "null".to_string(),
        other => yaml_serde::to_string(other)
            .map(|t| t.trim().replace('\n', " "))
            .unwrap_or_default(),
    }
}

fn is_numeric(f: Field) -> bool {
    matches!(f, Field::HttpStatus | Field::DurationMs)
}

fn parse_time(s: &Scalar, field: Field) -> Result<Timestamp, String> {
    match s {
        Scalar::Str(t) => t.parse::<Timestamp>().map_err(|e| {
            format!(
                "`{t}` is not an RFC 3339 time for field `{}`: {e}",
                field.name()
            )
        }),
        Scalar::Int(i) => Err(format!(
            "`{i}` is not an RFC 3339 time for field `{}`",
            field.name()
        )),
    }
}

fn int_of(s: &Scalar, field: Field) -> Result<i64, String> {
    match s {
        Scalar::Int(i) => Ok(*i),
        Scalar::Str(t) => t.trim().parse().map_err(|_| {
            format!(
                "`{t}` is not a number, and field `{}` is numeric",
                field.name()
            )
        }),
    }
}

/// Checks a filter's shape and compiles it.
pub fn compile(raw: &RawExpr) -> Result<CompiledFilter, String> {
    let mut heads = Vec::new();
    if raw.all.is_some() {
        heads.push("all");
    }
    if raw.any.is_some() {
        heads.push("any");
    }
    if raw.not.is_some() {
        heads.push("not");
    }
    if raw.exists.is_some() {
        heads.push("exists");
    }
    if raw.field.is_some() {
        heads.push("field");
    }
    let ops: Vec<&str> = [
        ("equals", raw.equals.is_some()),
        ("iequals", raw.iequals.is_some()),
        ("in", raw.in_.is_some()),
        ("contains", raw.contains.is_some()),
        ("startswith", raw.startswith.is_some()),
        ("endswith", raw.endswith.is_some()),
        ("regex", raw.regex.is_some()),
        ("cidr", raw.cidr.is_some()),
        ("gt", raw.gt.is_some()),
        ("gte", raw.gte.is_some()),
        ("lt", raw.lt.is_some()),
        ("lte", raw.lte.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, set)| set.then_some(n))
    .collect();
    if heads.len() != 1 {
        return Err(if heads.is_empty() {
            "a filter needs one of `all`, `any`, `not`, `exists` or `field`".to_string()
        } else {
            format!(
                "a filter mapping holds one of `all`, `any`, `not`, `exists` or `field`, found {}",
                heads.join(", ")
            )
        });
    }
    let head = heads.first().copied().unwrap_or("");
    if head != "field" && (!ops.is_empty() || raw.case_insensitive.is_some()) {
        return Err(format!(
            "`{}` belongs with `field`, not with `{head}`",
            ops.first().copied().unwrap_or("case_insensitive")
        ));
    }
    match head {
        "all" | "any" => {
            let items = raw.all.as_ref().or(raw.any.as_ref()).map_or(&[][..], |v| v);
            if items.is_empty() {
                return Err(format!("`{head}` needs at least one filter"));
            }
            let v = items.iter().map(|f| f.compiled.clone()).collect();
            Ok(if head == "all" {
                CompiledFilter::All(v)
            } else {
                CompiledFilter::Any(v)
            })
        }
        "not" => Ok(CompiledFilter::Not(Box::new(
            raw.not
                .as_ref()
                .map(|f| f.compiled.clone())
                .ok_or("`not` needs a filter")?,
        ))),
        "exists" => Ok(CompiledFilter::Exists(
            raw.exists.map(|f| f.0).ok_or("`exists` needs a field")?,
        )),
        _ => {
            let field = raw.field.map(|f| f.0).ok_or("`field` needs a name")?;
            if ops.len() != 1 {
                return Err(if ops.is_empty() {
                    format!(
                        "the test on `{}` needs an operator: equals, iequals, in, contains, startswith, endswith, regex, cidr, gt, gte, lt or lte",
                        field.name()
                    )
                } else {
                    format!(
                        "one operator per test, found {} (use `all` to combine)",
                        ops.join(", ")
                    )
                });
            }
            let ci = raw.case_insensitive.unwrap_or(false);
            let test = compile_test(raw, field, ci)?;
            Ok(CompiledFilter::Test { field, test })
        }
    }
}

fn compile_test(raw: &RawExpr, field: Field, ci: bool) -> Result<Test, String> {
    use crate::condition::CmpOp;
    let lower = |s: &Scalar| -> Box<str> {
        let t = s.text();
        if ci {
            t.to_ascii_lowercase().into()
        } else {
            t.into()
        }
    };
    let numeric_ops = [
        (CmpOp::Gt, &raw.gt),
        (CmpOp::Ge, &raw.gte),
        (CmpOp::Lt, &raw.lt),
        (CmpOp::Le, &raw.lte),
    ];
    for (op, v) in numeric_ops {
        if let Some(v) = v {
            if ci {
                return Err("`case_insensitive` applies to string operators only".into());
            }
            return if field == Field::Time {
                Ok(Test::CmpTime(op, parse_time(v, field)?))
            } else if is_numeric(field) {
                Ok(Test::CmpInt(op, int_of(v, field)?))
            } else {
                Err(format!(
                    "`{}` compares numbers: use it on http.status, duration_ms or time, not `{}`",
                    op.as_str(),
                    field.name()
                ))
            };
        }
    }
    if let Some(v) = &raw.equals {
        if field == Field::Time {
            return Ok(Test::EqTime(parse_time(v, field)?));
        }
        if is_numeric(field) {
            return Ok(Test::EqInt(int_of(v, field)?));
        }
        if matches!(field, Field::CallerIp | Field::IdentityIpAddr)
            && !ci
            && let Some(ip) = net::parse_ip(&v.text())
        {
            return Ok(Test::EqIp(ip));
        }
        return Ok(Test::EqStr {
            value: lower(v),
            ci,
        });
    }
    if let Some(v) = &raw.iequals {
        return Ok(Test::EqStr {
            value: v.text().to_ascii_lowercase().into(),
            ci: true,
        });
    }
    if let Some(items) = &raw.in_ {
        if items.is_empty() {
            return Err("`in` needs at least one value".into());
        }
        let mut ints = Vec::new();
        let mut ips = Vec::new();
        if is_numeric(field) {
            for i in items {
                ints.push(int_of(i, field)?);
            }
        }
        if field == Field::CallerIp {
            ips = items
                .iter()
                .filter_map(|i| net::parse_ip(&i.text()))
                .collect();
        }
        let strs = items.iter().map(|s| lower(s).into_string()).collect();
        return Ok(Test::In {
            strs: StrSet::new(strs),
            ints,
            ips,
            ci,
        });
    }
    if let Some(v) = &raw.contains {
        return Ok(Test::Contains {
            needle: lower(v),
            ci,
        });
    }
    if let Some(v) = &raw.startswith {
        return Ok(Test::StartsWith {
            needle: lower(v),
            ci,
        });
    }
    if let Some(v) = &raw.endswith {
        return Ok(Test::EndsWith {
            needle: lower(v),
            ci,
        });
    }
    if let Some(r) = &raw.regex {
        let re = regex::RegexBuilder::new(&r.0)
            .case_insensitive(ci)
            .build()
            .map_err(|e| format!("bad regex `{}`: {e}", r.0))?;
        return Ok(Test::Regex(re));
    }
    if let Some(c) = &raw.cidr {
        if ci {
            return Err("`case_insensitive` applies to string operators only".into());
        }
        if c.is_empty() {
            return Err("`cidr` needs at least one network".into());
        }
        return Ok(Test::Cidr(c.iter().map(|c| c.1).collect()));
    }
    Err("no operator".into())
}
