//! Filters: an expression tree over dictionary fields, and its compiled form.
//!
//! ```yaml
//! all:
//!   - { field: category, equals: AuditEvent }
//!   - { field: operation, in: [VaultGet, KeyGet] }
//!   - { exists: identity.upn }
//!   - { not: { field: identity.type, iequals: app } }
//!   - any: [ { field: caller.ip, cidr: [10.0.0.0/8] }, { field: client_info, contains: AZURECLI, case_insensitive: true } ]
//! ```
//! Operators: `equals`, `iequals`, `in`, `contains`, `startswith`, `endswith`, `regex`,
//! `cidr`, and `gt`/`gte`/`lt`/`lte` for numeric fields (`http.status`, `duration_ms`) and
//! `time`. `case_insensitive: true` applies to the string operators. A missing field fails
//! every test (so `not` of a test on a missing field passes), like SQL's NULL in a WHERE.
//!
//! Field names are resolved to [`Field`] when the rule is read (a typo is an error with
//! suggestions, at its line), regexes are compiled once, long `in` lists become hash sets, and
//! matching compares borrowed strings: no allocation per event.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use foldhash::{HashSet, HashSetExt};
use jiff::Timestamp;
use kvsentry_model::{AuditEvent, Field, FieldValue, net};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::unknown_field_message;

/// A dictionary field name, resolved when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldName(pub Field);

impl Serialize for FieldName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name from the dictionary")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldName, E> {
                Field::from_name(s)
                    .map(FieldName)
                    .ok_or_else(|| E::custom(unknown_field_message(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A literal in a filter: YAML strings and integers (booleans are read as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Str(String),
    Int(i64),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Str(v) => s.serialize_str(v),
            Scalar::Int(i) => s.serialize_i64(*i),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Err(E::custom(format!(
                    "`{v}`: write whole numbers, or quote the value to compare it as text"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A regex pattern, checked when read.
#[derive(Debug, Clone)]
pub struct RegexSrc(pub String);

impl Serialize for RegexSrc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RegexSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RegexSrc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a regular expression")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RegexSrc, E> {
                regex::Regex::new(s).map_err(|e| {
                    E::custom(format!(
                        "bad regex `{s}`: {}",
                        e.to_string().lines().last().unwrap_or("invalid")
                    ))
                })?;
                Ok(RegexSrc(s.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// An IP network `addr/prefix` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let t = text.trim();
        let (a, p) = match t.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (t, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("bad CIDR `{text}`: `{a}` is not an IP address"))?;
        let addr = net::canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad CIDR `{text}`: prefix must be 0..={max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, net::canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u32::from(n) & mask) == (u32::from(a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u128::from(n) & mask) == (u128::from(a) & mask)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CidrSrc(pub String, pub Cidr);

impl Serialize for CidrSrc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CidrSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CidrSrc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP network such as 10.0.0.0/8")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<CidrSrc, E> {
                let c = Cidr::parse(s).map_err(E::custom)?;
                Ok(CidrSrc(s.to_string(), c))
            }
        }
        d.deserialize_str(V)
    }
}

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

/// The compiled filter: fields resolved, regexes compiled, long lists hashed.
#[derive(Debug, Clone)]
pub enum CompiledFilter {
    All(Vec<CompiledFilter>),
    Any(Vec<CompiledFilter>),
    Not(Box<CompiledFilter>),
    Exists(Field),
    Test { field: Field, test: Test },
}

impl CompiledFilter {
    /// True when the event passes the filter.
    pub fn matches(&self, ev: &AuditEvent<'_>) -> bool {
        match self {
            CompiledFilter::All(v) => v.iter().all(|f| f.matches(ev)),
            CompiledFilter::Any(v) => v.iter().any(|f| f.matches(ev)),
            CompiledFilter::Not(f) => !f.matches(ev),
            CompiledFilter::Exists(field) => !ev.get(*field).is_missing(),
            CompiledFilter::Test { field, test } => test.matches(&ev.get(*field)),
        }
    }

    /// For a rejected event: the index of the first failing clause of a top-level `all`
    /// (0 for any other filter shape). `None` when the event passes.
    pub fn first_failing(&self, ev: &AuditEvent<'_>) -> Option<usize> {
        match self {
            CompiledFilter::All(v) => v.iter().position(|f| !f.matches(ev)),
            other => (!other.matches(ev)).then_some(0),
        }
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

/// Text a field holds, without allocating: borrowed for strings, formatted into a stack
/// buffer for addresses, numbers and times.
struct StackText {
    buf: [u8; 96],
    len: usize,
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn with_text(v: &FieldValue<'_>, f: impl FnOnce(&str) -> bool) -> bool {
    // Strings first: most tests read one, and the buffer below need not be filled for them.
    if let FieldValue::Str(s) = v {
        return f(s);
    }
    with_formatted(v, f)
}

#[inline(never)]
fn with_formatted(v: &FieldValue<'_>, f: impl FnOnce(&str) -> bool) -> bool {
    let mut st = StackText {
        buf: [0; 96],
        len: 0,
    };
    let ok = match v {
        FieldValue::Missing => return false,
        FieldValue::Str(s) => return f(s),
        FieldValue::Int(i) => write!(st, "{i}"),
        FieldValue::Ip(ip) => write!(st, "{ip}"),
        FieldValue::Time(t) => write!(st, "{t}"),
    };
    if ok.is_err() {
        return false;
    }
    match std::str::from_utf8(st.buf.get(..st.len).unwrap_or(&[])) {
        Ok(s) => f(s),
        Err(_) => false,
    }
}

/// A string set: a short list compared in turn, or a hash set when long.
#[derive(Debug, Clone)]
pub enum StrSet {
    Few(Vec<Box<str>>),
    Many(HashSet<Box<str>>),
}

impl StrSet {
    fn new(items: Vec<String>) -> StrSet {
        if items.len() <= 8 {
            StrSet::Few(items.into_iter().map(String::into_boxed_str).collect())
        } else {
            let mut s = HashSet::with_capacity(items.len());
            s.extend(items.into_iter().map(String::into_boxed_str));
            StrSet::Many(s)
        }
    }

    fn contains(&self, v: &str) -> bool {
        match self {
            StrSet::Few(v2) => v2.iter().any(|x| &**x == v),
            StrSet::Many(s) => s.contains(v),
        }
    }

    /// Case-insensitive lookup; items are stored lower case. Lower-cases into a stack
    /// buffer (values longer than 256 bytes are rare and allocate).
    fn contains_ci(&self, v: &str) -> bool {
        if let StrSet::Few(items) = self {
            return items.iter().any(|x| x.eq_ignore_ascii_case(v));
        }
        if !v.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.contains(v);
        }
        let mut buf = [0u8; 256];
        if let Some(dst) = buf.get_mut(..v.len()) {
            dst.copy_from_slice(v.as_bytes());
            dst.make_ascii_lowercase();
            return std::str::from_utf8(dst).is_ok_and(|s| self.contains(s));
        }
        self.contains(&v.to_ascii_lowercase())
    }
}

/// A compiled test on one field's value.
#[derive(Debug, Clone)]
pub enum Test {
    EqStr {
        value: Box<str>,
        ci: bool,
    },
    EqInt(i64),
    EqIp(IpAddr),
    EqTime(Timestamp),
    In {
        strs: StrSet,
        ints: Vec<i64>,
        ips: Vec<IpAddr>,
        ci: bool,
    },
    Contains {
        needle: Box<str>,
        ci: bool,
    },
    StartsWith {
        needle: Box<str>,
        ci: bool,
    },
    EndsWith {
        needle: Box<str>,
        ci: bool,
    },
    Regex(regex::Regex),
    Cidr(Vec<Cidr>),
    CmpInt(crate::condition::CmpOp, i64),
    CmpTime(crate::condition::CmpOp, Timestamp),
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

fn starts_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .get(..needle.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(needle.as_bytes()))
}

fn ends_ci(hay: &str, needle: &str) -> bool {
    hay.len() >= needle.len()
        && hay
            .as_bytes()
            .get(hay.len() - needle.len()..)
            .is_some_and(|p| p.eq_ignore_ascii_case(needle.as_bytes()))
}

impl Test {
    pub fn matches(&self, v: &FieldValue<'_>) -> bool {
        if v.is_missing() {
            return false;
        }
        match self {
            Test::EqStr { value, ci: false } => with_text(v, |s| s == &**value),
            Test::EqStr { value, ci: true } => with_text(v, |s| s.eq_ignore_ascii_case(value)),
            Test::EqInt(n) => match v {
                FieldValue::Int(i) => i == n,
                _ => with_text(v, |s| s.parse::<i64>().is_ok_and(|i| i == *n)),
            },
            Test::EqIp(ip) => match v {
                FieldValue::Ip(a) => a == ip,
                FieldValue::Str(s) => net::parse_ip(s) == Some(*ip),
                _ => false,
            },
            Test::EqTime(t) => matches!(v, FieldValue::Time(x) if x == t),
            Test::In {
                strs,
                ints,
                ips,
                ci,
            } => match v {
                FieldValue::Int(i) if !ints.is_empty() => ints.contains(i),
                FieldValue::Ip(a) if !ips.is_empty() => ips.contains(a),
                _ => with_text(v, |s| {
                    if *ci {
                        strs.contains_ci(s)
                    } else {
                        strs.contains(s)
                    }
                }),
            },
            Test::Contains { needle, ci } => with_text(v, |s| {
                if *ci {
                    contains_ci(s, needle)
                } else {
                    s.contains(&**needle)
                }
            }),
            Test::StartsWith { needle, ci } => with_text(v, |s| {
                if *ci {
                    starts_ci(s, needle)
                } else {
                    s.starts_with(&**needle)
                }
            }),
            Test::EndsWith { needle, ci } => with_text(v, |s| {
                if *ci {
                    ends_ci(s, needle)
                } else {
                    s.ends_with(&**needle)
                }
            }),
            Test::Regex(re) => with_text(v, |s| re.is_match(s)),
            Test::Cidr(nets) => {
                let ip = match v {
                    FieldValue::Ip(a) => Some(*a),
                    FieldValue::Str(s) => net::parse_ip(s),
                    _ => None,
                };
                ip.is_some_and(|ip| nets.iter().any(|n| n.contains(ip)))
            }
            Test::CmpInt(op, n) => match v {
                FieldValue::Int(i) => op.apply(*i as f64, *n as f64),
                FieldValue::Str(s) => s
                    .trim()
                    .parse::<i64>()
                    .is_ok_and(|i| op.apply(i as f64, *n as f64)),
                _ => false,
            },
            Test::CmpTime(op, t) => match v {
                FieldValue::Time(x) => {
                    let (a, b) = (x.as_nanosecond(), t.as_nanosecond());
                    match op {
                        crate::condition::CmpOp::Ge => a >= b,
                        crate::condition::CmpOp::Gt => a > b,
                        crate::condition::CmpOp::Le => a <= b,
                        crate::condition::CmpOp::Lt => a < b,
                        crate::condition::CmpOp::Eq => a == b,
                        crate::condition::CmpOp::Ne => a != b,
                    }
                }
                _ => false,
            },
        }
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
        if matches!(field, Field::CallerIp | Field::IdentityIpAddr) && !ci {
            if let Some(ip) = net::parse_ip(&v.text()) {
                return Ok(Test::EqIp(ip));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
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
        let fl = f(
            "{ all: [ { field: operation, in: [KeyGet, 5] }, { not: { exists: identity.upn } } ] }",
        );
        let y = yaml_serde::to_string(&fl).unwrap();
        let back: Filter = yaml_serde::from_str(&y).unwrap();
        assert_eq!(yaml_serde::to_string(&back).unwrap(), y);
        assert!(y.contains("identity.upn"), "{y}");
    }
}
