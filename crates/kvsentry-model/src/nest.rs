//! Dotted field names as nested JSON objects, the way ECS documents are written.
//!
//! In memory, events and alerts key their values by the dictionary's dotted names
//! (`caller.ip`, `identity.upn`). On the way out they become paths (`{"caller":{"ip":...}}`),
//! so `jq .caller.ip` finds them. [`nest`] and [`flatten`] are the only conversions.

use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{Map, Value};

/// Turns `{"a.b": 1, "a.c": 2, "d": 3}` into `{"a": {"b": 1, "c": 2}, "d": 3}`.
///
/// A key stays as written when it cannot be a path without losing a value: when one of its
/// prefixes is itself a key (`a` and `a.b`), or it has an empty segment (`a..b`, `.a`). The
/// order of first appearance is kept.
pub fn nest(flat: Map<String, Value>) -> Map<String, Value> {
    let keys: std::collections::HashSet<String> = flat.keys().cloned().collect();
    let mut out = Map::new();
    for (key, value) in flat {
        let parts: Vec<&str> = key.split('.').collect();
        let nestable = parts.len() > 1
            && parts.iter().all(|p| !p.is_empty())
            && !(1..parts.len()).any(|n| keys.contains(&parts[..n].join(".")));
        if !nestable {
            out.insert(key, value);
            continue;
        }
        insert_path(&mut out, &parts, value);
    }
    out
}

fn insert_path(map: &mut Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [last] => {
            map.insert((*last).to_string(), value);
        }
        [first, rest @ ..] => {
            let slot = map
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(inner) => insert_path(inner, rest, value),
                // Cannot happen after `nest`'s prefix check; keep the value rather than lose it.
                _ => {
                    map.insert(parts.join("."), value);
                }
            }
        }
    }
}

/// The inverse of [`nest`]: nested objects back to dotted keys. An empty object stays as a
/// value (it has no leaves to carry its name).
pub fn flatten(nested: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in nested {
        flatten_into(&mut out, key, value);
    }
    out
}

fn flatten_into(out: &mut Map<String, Value>, prefix: String, value: Value) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            for (k, v) in inner {
                flatten_into(out, format!("{prefix}.{k}"), v);
            }
        }
        other => {
            out.insert(prefix, other);
        }
    }
}

/// `serialize_with` for a flat map written nested.
pub fn serialize<S: Serializer>(map: &Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&nest(map.clone()), s)
}

/// `deserialize_with` reading nested (or flat) objects back into a flat map.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Map::<String, Value>::deserialize(d).map(flatten)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn nests_and_flattens_back() {
        let flat = obj(
            json!({"caller.ip": "1.2.3.4", "identity.upn": "a@b", "identity.kind": "user", "time": "t"}),
        );
        let nested = nest(flat.clone());
        assert_eq!(
            Value::Object(nested.clone()),
            json!({"caller": {"ip": "1.2.3.4"}, "identity": {"upn": "a@b", "kind": "user"}, "time": "t"})
        );
        assert_eq!(flatten(nested), flat);
    }

    #[test]
    fn conflicting_and_odd_keys_stay_flat() {
        let nested = nest(obj(json!({"a": 1, "a.b": 2, "x..y": 3, ".z": 4, "w.": 5})));
        assert_eq!(
            Value::Object(nested),
            json!({"a": 1, "a.b": 2, "x..y": 3, ".z": 4, "w.": 5})
        );
    }
}
