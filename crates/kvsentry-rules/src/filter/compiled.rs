//! The compiled filter and its matching: no allocation per event.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use foldhash::{HashSet, HashSetExt};
use jiff::Timestamp;
use kvsentry_model::{AuditEvent, Field, FieldValue, net};

use super::value::Cidr;
use crate::condition::CmpOp;

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
    pub(crate) fn new(items: Vec<String>) -> StrSet {
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
    CmpInt(CmpOp, i64),
    CmpTime(CmpOp, Timestamp),
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
                        CmpOp::Ge => a >= b,
                        CmpOp::Gt => a > b,
                        CmpOp::Le => a <= b,
                        CmpOp::Lt => a < b,
                        CmpOp::Eq => a == b,
                        CmpOp::Ne => a != b,
                    }
                }
                _ => false,
            },
        }
    }
}
