//! Rows read by column name: the [`Row`] trait, JSON object rows, and the rows of a JSON
//! export in any of its shapes.

use std::borrow::Cow;

use jiff::Timestamp;
use serde_json::Value;

use super::ctx::Ctx;
use crate::error::IntelError;
use crate::set::IndicatorSet;

/// `s.trim().is_empty()`, answered from the first byte when it is printable ASCII (what
/// nearly every cell starts with): `trim` decodes characters one by one, ten times a row.
pub(crate) fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        // Every whitespace `trim` removes is at or below 0x20 or outside ASCII.
        Some(&c) if c > 0x20 && c < 0x80 => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// A row of a table export, JSON object or CSV record, read by column name.
pub(crate) trait Row {
    /// The column's text: `None` for a missing column or JSON null; `""` stays `Some("")`.
    /// Numbers and booleans are rendered as text, objects and arrays as JSON text.
    fn get(&self, col: &str) -> Option<Cow<'_, str>>;
    /// The column as a timestamp: `Ok(None)` when missing or empty, `Err(text)` when the
    /// text is no timestamp.
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String>;
    /// The column as JSON (nested object in JSON exports, JSON text in CSV).
    fn json(&self, col: &str) -> Option<Value> {
        let t = self.get(col)?;
        serde_json::from_str(&t).ok()
    }
}

/// One JSON object (a table row).
pub(crate) type JsonObject = serde_json::Map<String, Value>;

pub(crate) struct JsonRow<'a>(pub &'a serde_json::Map<String, Value>);

impl Row for JsonRow<'_> {
    fn get(&self, col: &str) -> Option<Cow<'_, str>> {
        match self.0.get(col)? {
            Value::Null => None,
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String> {
        match self.get(col) {
            None => Ok(None),
            Some(t) if is_blank(&t) => Ok(None),
            Some(t) => crate::time::parse_time(&t, None)
                .map(Some)
                .ok_or_else(|| t.into_owned()),
        }
    }
    fn json(&self, col: &str) -> Option<Value> {
        match self.0.get(col)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Null => None,
            v => Some(v.clone()),
        }
    }
}

/// The Log Analytics query API answer (`{"tables":[{"columns":[{"name":…}],"rows":[[…]]}]}`)
/// as one object per row, keyed by column name.
fn log_analytics_rows(o: JsonObject) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(Value::Array(tables)) = o.get("tables") else {
        return out;
    };
    for t in tables {
        let names: Vec<&str> = t
            .get("columns")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .map(|c| c.get("name").and_then(Value::as_str).unwrap_or(""))
                    .collect()
            })
            .unwrap_or_default();
        for row in t
            .get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match row.as_array() {
                Some(cells) => out.push(Value::Object(
                    names
                        .iter()
                        .zip(cells)
                        .map(|(n, v)| (n.to_string(), v.clone()))
                        .collect(),
                )),
                None => out.push(row.clone()),
            }
        }
    }
    out
}

/// Rows of a JSON export: an array, an object wrapping an array in `rows`/`value`, a Log
/// Analytics API answer (`tables`), or JSON lines. Yields (line number, object); lines that are not objects are problems.
pub(crate) fn json_rows(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<Vec<(usize, JsonObject)>, IntelError> {
    let trimmed = text.trim_start();
    let whole: Option<Value> = if trimmed.starts_with('[') {
        Some(serde_json::from_str(trimmed).map_err(|e| IntelError::Json {
            path: ctx.path().to_path_buf(),
            source: e,
        })?)
    } else {
        // One object may be a wrapper ({"rows": [...]}) or the only JSON line.
        serde_json::from_str::<Value>(trimmed).ok()
    };
    let mut out = Vec::new();
    let take_array =
        |a: Vec<Value>, out: &mut Vec<_>, ctx: &mut Ctx<'_>, set: &mut IndicatorSet| {
            for (i, v) in a.into_iter().enumerate() {
                match v {
                    Value::Object(o) => out.push((i + 1, o)),
                    other => ctx.problem(set, i + 1, "not a JSON object", &other.to_string()),
                }
            }
        };
    match whole {
        Some(Value::Array(a)) => take_array(a, &mut out, ctx, set),
        Some(Value::Object(o)) if o.contains_key("tables") => {
            take_array(log_analytics_rows(o), &mut out, ctx, set)
        }
        Some(Value::Object(mut o)) => {
            let wrapped = ["rows", "value"]
                .into_iter()
                .find(|k| matches!(o.get(*k), Some(Value::Array(_))));
            match wrapped.and_then(|k| o.remove(k)) {
                Some(Value::Array(a)) => take_array(a, &mut out, ctx, set),
                _ => out.push((1, o)),
            }
        }
        _ => {
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(o)) => out.push((i + 1, o)),
                    Ok(other) => ctx.problem(set, i + 1, "not a JSON object", &other.to_string()),
                    Err(e) => ctx.problem(set, i + 1, "invalid JSON line", &e.to_string()),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_blank_is_trim_is_empty() {
        for s in [
            "",
            " ",
            "\t\n\x0B\x0C\r ",
            "\u{85}",
            "\u{A0}",
            "\u{3000}",
            "a",
            " a",
            "\x1F",
            "\x7F",
            "\u{A0}x",
            "é",
            "!",
            "~",
        ] {
            assert_eq!(super::is_blank(s), s.trim().is_empty(), "{s:?}");
        }
        assert!(super::is_blank("\u{2003}\t"));
        assert!(!super::is_blank("\x1F"));
    }
}
