//! The path walks: every leaf of a record with its lower-cased, dot-joined path
//! (`properties.httpstatuscode`, `identity.claim.upn`).
//!
//! Why a walk and not typed structs: field-name case varies between producers
//! (`callerIpAddress`, `CallerIPAddress`), Elastic documents mix nested objects and dotted
//! keys (`{"azure":{"platformlogs":{...}}}` and `"azure.platformlogs.x"` give the same path), and
//! Managed HSM nests claim URIs as objects. One walk turns all of these into one path
//! spelling; strings are handed over borrowed from the input when they carry no escapes. No
//! map is built: the only allocation is the path buffer (and arrays, kept as JSON text).
//!
//! [`walk_text`] is the reference (serde_json's reading, exactly); [`walk_fast`] reads the
//! same leaves byte by byte, or gives up.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::leaf::Leaf;
use crate::scan::{FAST_MAX_DEPTH, Scan, Undecided};

/// The callback a walk calls for every leaf: `(path, value)`.
pub type LeafFn<'f, 'de> = dyn FnMut(&str, Leaf<'de>) + 'f;

/// Walks the JSON value in `text`, calling `f` for each leaf under `prefix`. A value that is
/// not an object is handed over whole at `prefix` itself.
pub fn walk_text<'de>(
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
        if claim_value_object(self.path) {
            let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            (self.f)(self.path, Leaf::Json(v.to_string()));
            return Ok(());
        }
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
        push_key(self.path, v);
        Ok(())
    }
}

/// True for the (lower-cased) path of an object that is a claim's value, such as
/// `identity.claim._claim_sources` (also under Elastic's `azure.platformlogs.`): every walk
/// hands it over whole, as JSON text, instead of reading its keys as part of the claim's key.
/// Not for a claim key starting with `http` (`is_uri_claim`): Managed HSM spells its URI
/// claims as objects (`http_schemas_microsoft_com_identity: {claims: {objectidentifier}}`).
pub fn claim_value_object(path: &str) -> bool {
    let rest = path.strip_prefix("azure.platformlogs.").unwrap_or(path);
    rest.strip_prefix("identity.claim.")
        .or_else(|| rest.strip_prefix("identity.claims."))
        .is_some_and(|k| !is_uri_claim(k))
}

/// True for the path of the claims object itself (`identity.claim`, `identity.claims`, also
/// under `azure.platformlogs.`): [`claim_value_object`] of its members, decided once.
fn is_claim_level(path: &str) -> bool {
    let rest = path.strip_prefix("azure.platformlogs.").unwrap_or(path);
    rest == "identity.claim" || rest == "identity.claims"
}

/// A claim key starting with `http` (any case): a URI claim, whose objects spell its key.
pub(crate) fn is_uri_claim(key: &str) -> bool {
    key.as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"http"))
}

/// Appends `.key` (`key` alone on an empty path) to `path`, lower-cased in place.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    let start = path.len();
    path.push_str(key);
    // Safe on any UTF-8: only ASCII bytes change, to other ASCII bytes.
    path[start..].make_ascii_lowercase();
}

/// Walks a record that is a JSON object, calling `f` exactly as [`walk_text`] with an empty
/// prefix would for the same text, but without serde's per-value machinery: strings are
/// found with `memchr`, keys lower-cased into the reused `path` buffer. Why: this walk is the
/// bulk of the cost of a hunt.
///
/// It accepts only what it can fully check: an object at the top, strings without raw control
/// characters, plain numbers, literals, arrays (parsed by serde_json, as the slow walk does).
/// Anything else, malformed or merely unusual (a top-level scalar, very deep nesting, a
/// broken escape), returns [`Undecided`] after possibly having called `f` for some leaves.
pub fn walk_fast<'de, F: FnMut(&str, Leaf<'de>)>(
    text: &'de str,
    path: &mut String,
    f: &mut F,
) -> Result<(), Undecided> {
    path.clear();
    let mut w = Fast {
        sc: Scan::new(text),
        path,
        f,
    };
    w.sc.open_top()?;
    w.object(1)?;
    w.sc.close_top()
}

/// Generic over the callback (not `dyn`, as the serde walk is) so that the mapping is inlined
/// into the walk.
struct Fast<'de, 'p, F> {
    sc: Scan<'de>,
    path: &'p mut String,
    f: &'p mut F,
}

impl<'de, F: FnMut(&str, Leaf<'de>)> Fast<'de, '_, F> {
    /// The members of an object, after its `{`.
    fn object(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            let base = self.path.len();
            let key = self.sc.key()?;
            push_key(self.path, &key);
            if self.sc.peek() == Some(b'{') {
                // In `identity.claim` an object is a claim's value (`claim_value_object`); the
                // length of the path before the key rules out nearly every other object.
                if matches!(base, 14 | 15 | 33 | 34)
                    && is_claim_level(self.path.get(..base).unwrap_or(""))
                    && !is_uri_claim(&key)
                {
                    let v = self.sc.json_value_text()?;
                    (self.f)(self.path, Leaf::Json(v));
                } else {
                    self.sc.pos += 1;
                    self.object(depth + 1)?;
                }
            } else {
                let leaf = self.sc.scalar(depth, true)?;
                (self.f)(self.path, leaf);
            }
            self.path.truncate(base);
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
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

    fn fast_leaves(text: &str) -> Result<Vec<(String, Leaf<'_>)>, Undecided> {
        let mut out = Vec::new();
        let mut path = String::from("left over");
        walk_fast(text, &mut path, &mut |p, l| out.push((p.to_string(), l)))?;
        Ok(out)
    }

    /// Wherever the fast walk decides, it hands over exactly what the serde walk does, and it
    /// never accepts what serde_json refuses.
    #[test]
    fn fast_walk_agrees_with_the_serde_walk() {
        let deep_ok = format!("{}1{}", "{\"a\":".repeat(60), "}".repeat(60));
        let deep_bad = format!("{}1{}", "{\"a\":".repeat(130), "}".repeat(130));
        let deep_arr = format!("{{\"a\":{}{}}}", "[".repeat(120), "]".repeat(120));
        let decided = [
            r#"{"A":{"B.C":"x","D":[1,"y"],"E":null,"F":2.5,"G":-3,"H":true},"I\"j":"e\"s"}"#,
            r#" { "Time" : "2024-01-01T00:00:00Z" , "n" : 0 , "big" : 18446744073709551615 } "#,
            "{\"a\":[],\"b\":[ ],\"c\":[{\"z\":1,\"a\":2}],\"d\":{},\"e\":\"\"}\r\n",
            r#"{"neg0":-0,"e":1e3,"E":2E-2,"f":0.5,"m":-9223372036854775808,"u":12345678901234567890}"#,
            r#"{"esc":"a\u00e9\n\/b","K\u0045Y":1,"":{"":2},"ÄÖ":"ü"}"#,
            r#"{"x":false,"y":null,"z":true}"#,
            &deep_ok,
        ];
        for text in decided {
            let fast = fast_leaves(text);
            assert_eq!(fast.as_ref().ok(), Some(&leaves(text)), "{text}");
        }
        let refused = [
            r#"{"a":"b""#,
            r#"{"a":1} x"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":truex}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"bad \q escape"}"#,
            r#"{"a":"\"#,
            r#"{"a":[1,]}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1}{"b":2}"#,
            "[1,2]",
            "\"str\"",
            "12",
            "",
            &deep_bad,
            &deep_arr,
        ];
        for text in refused {
            assert_eq!(fast_leaves(text).err(), Some(Undecided), "{text}");
        }
        // Those refused because they are unusual, not broken, still read right the slow way.
        assert!(walk_text(&deep_arr, "", &mut |_, _| {}).is_ok());
        assert!(walk_text("[1,2]", "", &mut |_, _| {}).is_ok());
        assert!(walk_text(&deep_bad, "", &mut |_, _| {}).is_err());
    }

    /// Random damage to real records: wherever the fast walk still decides, the serde walk
    /// accepts the text too and hands over the same leaves.
    #[test]
    fn fast_walk_agrees_on_damaged_records() {
        let fixture = include_str!("../../kvsentry-ingest/tests/fixtures/storage.jsonl");
        let recs: Vec<&str> = fixture.lines().filter(|l| l.starts_with('{')).collect();
        let alphabet = b"{}[],:\"\\ \t\r\nx0-.eE+nutfals1\x01\x1f\x7f";
        let mut next = crate::xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut decided, mut refused) = (0, 0);
        for round in 0..4000 {
            let mut b = recs[round % recs.len()].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(b.len());
                match next(3) {
                    0 => b[at] = alphabet[next(alphabet.len())],
                    1 => {
                        b.insert(at, alphabet[next(alphabet.len())]);
                    }
                    _ => {
                        b.remove(at);
                    }
                }
            }
            let Ok(text) = String::from_utf8(b) else {
                continue;
            };
            match fast_leaves(&text) {
                Ok(fast) => {
                    decided += 1;
                    let mut slow = Vec::new();
                    let r = walk_text(&text, "", &mut |p, l| slow.push((p.to_string(), l)));
                    assert!(r.is_ok(), "{text}");
                    assert_eq!(fast, slow, "{text}");
                }
                Err(Undecided) => refused += 1,
            }
        }
        assert!(decided > 500 && refused > 500, "{decided} {refused}");
    }

    #[test]
    fn keys_are_appended_lower_cased() {
        let mut path = String::new();
        for key in [
            "Identity",
            "CLAIM",
            "ÄÖü-É.x",
            "",
            "http://Schemas/UPN",
            "OperationNameÀZ@[`{",
        ] {
            let before = path.clone();
            push_key(&mut path, key);
            let sep = if before.is_empty() { "" } else { "." };
            assert_eq!(path, format!("{before}{sep}{}", key.to_ascii_lowercase()));
        }
        assert_eq!(
            path,
            "identity.claim.ÄÖü-É.x..http://schemas/upn.operationnameÀz@[`{"
        );
    }

    #[test]
    fn errors_on_broken_json() {
        let mut n = 0;
        assert!(walk_text(r#"{"a":"b""#, "", &mut |_, _| n += 1).is_err());
        assert!(walk_text(r#"{"a":1} x"#, "", &mut |_, _| n += 1).is_err());
    }
}
