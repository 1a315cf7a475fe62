//! A streaming walk over one JSON record that hands every leaf to a callback with its
//! lower-cased, dot-joined path (`properties.httpstatuscode`, `identity.claim.upn`).
//!
//! Why a walk and not typed structs: field-name case varies between producers
//! (`callerIpAddress`, `CallerIPAddress`), Elastic documents mix nested objects and dotted
//! keys (`{"azure":{"platformlogs":{...}}}` and `"azure.platformlogs.x"` give the same path), and
//! Managed HSM nests claim URIs as objects. One walk turns all of these into one path
//! spelling; strings are handed over borrowed from the input when they carry no escapes. No
//! map is built: the only allocation is the path buffer (and arrays, kept as JSON text).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// A scalar found in a record (arrays come as their JSON text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Leaf<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An array, as compact JSON text.
    Json(String),
}

impl<'a> Leaf<'a> {
    /// The value as text (`None` for null), borrowing where it can.
    pub(crate) fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Leaf::Null => None,
            Leaf::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Leaf::U64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::I64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::F64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::Str(s) => Some(s),
            Leaf::Json(s) => Some(Cow::Owned(s)),
        }
    }

    pub(crate) fn into_owned(self) -> Leaf<'static> {
        match self {
            Leaf::Null => Leaf::Null,
            Leaf::Bool(b) => Leaf::Bool(b),
            Leaf::U64(n) => Leaf::U64(n),
            Leaf::I64(n) => Leaf::I64(n),
            Leaf::F64(n) => Leaf::F64(n),
            Leaf::Str(s) => Leaf::Str(Cow::Owned(s.into_owned())),
            Leaf::Json(s) => Leaf::Json(s),
        }
    }

    /// A non-negative whole number from a number or a numeric string (`"200"`, `"200.0"`);
    /// `None` for `"None"`, empty, negative or fractional values.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Leaf::U64(n) => Some(*n),
            Leaf::I64(n) => u64::try_from(*n).ok(),
            Leaf::F64(f) => f64_to_u64(*f),
            Leaf::Str(s) => {
                let t = s.trim();
                t.parse::<u64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().and_then(f64_to_u64))
            }
            _ => None,
        }
    }

    /// As [`Leaf::as_u64`], but a fractional value is rounded (durations).
    pub(crate) fn as_u64_rounded(&self) -> Option<u64> {
        self.as_u64().or_else(|| {
            let f = match self {
                Leaf::F64(f) => *f,
                Leaf::Str(s) => s.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            f64_to_u64(f.round())
        })
    }
}

fn f64_to_u64(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

/// The callback a walk calls for every leaf: `(path, value)`.
pub(crate) type LeafFn<'f, 'de> = dyn FnMut(&str, Leaf<'de>) + 'f;

/// Walks the JSON value in `text`, calling `f` for each leaf under `prefix`. A value that is
/// not an object is handed over whole at `prefix` itself.
pub(crate) fn walk_text<'de>(
    text: &'de str,
    prefix: &str,
    f: &mut LeafFn<'_, 'de>,
) -> Result<(), serde_json::Error> {
    let mut path = String::with_capacity(prefix.len() + 96);
    path.push_str(prefix);
    let mut de = serde_json::Deserializer::from_str(text);
    Walk { path: &mut path, f }.deserialize(&mut de)?;
    de.end()
}

struct Walk<'p, 'f, 'de> {
    path: &'p mut String,
    f: &'p mut LeafFn<'f, 'de>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let base = self.path.len();
        while map
            .next_key_seed(KeySeed {
                path: &mut *self.path,
            })?
            .is_some()
        {
            map.next_value_seed(Walk {
                path: &mut *self.path,
                f: &mut *self.f,
            })?;
            self.path.truncate(base);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            items.push(v);
        }
        let text = serde_json::Value::Array(items).to_string();
        (self.f)(self.path, Leaf::Json(text));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Owned(v.to_string())));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        (self.f)(self.path, Leaf::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        (self.f)(self.path, Leaf::U64(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        (self.f)(self.path, Leaf::I64(v));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        (self.f)(self.path, Leaf::F64(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        (self.f)(self.path, Leaf::Bool(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        (self.f)(self.path, Leaf::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        (self.f)(self.path, Leaf::Null);
        Ok(())
    }
}

/// Appends `.key` (lower-cased) to the path.
struct KeySeed<'p> {
    path: &'p mut String,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if !self.path.is_empty() {
            self.path.push('.');
        }
        for c in v.chars() {
            self.path.push(c.to_ascii_lowercase());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(text: &str) -> Vec<(String, Leaf<'_>)> {
        let mut out = Vec::new();
        walk_text(text, "", &mut |p, l| out.push((p.to_string(), l))).unwrap();
        out
    }

    #[test]
    fn walks_nested_and_dotted_keys_to_one_path() {
        let text =
            r#"{"A":{"B.C":"x","D":[1,"y"],"E":null,"F":2.5,"G":-3,"H":true},"I\"j":"e\"s"}"#;
        let got = leaves(text);
        assert_eq!(
            got,
            vec![
                ("a.b.c".to_string(), Leaf::Str(Cow::Borrowed("x"))),
                ("a.d".to_string(), Leaf::Json(r#"[1,"y"]"#.to_string())),
                ("a.e".to_string(), Leaf::Null),
                ("a.f".to_string(), Leaf::F64(2.5)),
                ("a.g".to_string(), Leaf::I64(-3)),
                ("a.h".to_string(), Leaf::Bool(true)),
                (
                    "i\"j".to_string(),
                    Leaf::Str(Cow::Owned("e\"s".to_string()))
                ),
            ]
        );
        assert!(matches!(&got[0].1, Leaf::Str(Cow::Borrowed(_))));
    }

    #[test]
    fn numbers_from_anything() {
        assert_eq!(Leaf::Str("200".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("200.0".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("None".into()).as_u64(), None);
        assert_eq!(Leaf::F64(41.0).as_u64(), Some(41));
        assert_eq!(Leaf::F64(41.5).as_u64(), None);
        assert_eq!(Leaf::I64(-1).as_u64(), None);
        assert_eq!(Leaf::U64(488).as_u64(), Some(488));
        assert_eq!(Leaf::F64(12.6).as_u64_rounded(), Some(13));
        assert_eq!(Leaf::Str("12.4".into()).as_u64_rounded(), Some(12));
        assert_eq!(Leaf::Str("None".into()).as_u64_rounded(), None);
        assert_eq!(Leaf::F64(-2.0).as_u64_rounded(), None);
    }

    #[test]
    fn errors_on_broken_json() {
        let mut n = 0;
        assert!(walk_text(r#"{"a":"b""#, "", &mut |_, _| n += 1).is_err());
        assert!(walk_text(r#"{"a":1} x"#, "", &mut |_, _| n += 1).is_err());
    }
}
