//! The threat-intel formats and their detection from a file's content.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::{jsonrow, text};
use crate::error::IntelError;

/// Threat-intel file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TiFormat {
    /// Sentinel `ThreatIntelligenceIndicator` export (JSON array, JSON lines or CSV).
    Sentinel,
    /// Sentinel STIX-based `ThreatIntelIndicators` export (JSON array, JSON lines or CSV).
    SentinelStix,
    /// STIX 2.1 bundle.
    Stix,
    /// MISP feed directory (manifest.json + event files), event JSON or MISP CSV export.
    Misp,
    /// Plain IP/CIDR list (`#`/`;` comments, FireHOL, Spamhaus, Feodo) or Spamhaus NDJSON.
    Text,
    /// CSV with a header naming the IP column.
    Csv,
}

impl TiFormat {
    pub fn name(self) -> &'static str {
        match self {
            TiFormat::Sentinel => "sentinel",
            TiFormat::SentinelStix => "sentinel-stix",
            TiFormat::Stix => "stix",
            TiFormat::Misp => "misp",
            TiFormat::Text => "text",
            TiFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for TiFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TiFormat {
    type Err = IntelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sentinel" => TiFormat::Sentinel,
            "sentinel-stix" => TiFormat::SentinelStix,
            "stix" => TiFormat::Stix,
            "misp" => TiFormat::Misp,
            "text" => TiFormat::Text,
            "csv" => TiFormat::Csv,
            _ => return Err(IntelError::UnknownFormat(s.to_string())),
        })
    }
}

/// The first line that is not blank or a `#`/`;` comment.
fn first_data_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
}

/// Guesses a file's format from its content.
pub fn detect(path: &Path, text: &str) -> Result<TiFormat, IntelError> {
    let unknown = |why: &str| IntelError::Format {
        path: path.to_path_buf(),
        message: format!("cannot tell the threat-intel format ({why}); name it with --ti-format"),
    };
    let Some(first) = first_data_line(text) else {
        return Ok(TiFormat::Text); // empty or only comments: an empty list
    };
    if first.starts_with('{') || first.starts_with('[') {
        let whole = text.trim();
        let sample: Option<Value> = if whole.starts_with('[') {
            // Only the first element decides (`json_kind`): no `Value` for the rest.
            jsonrow::first_element(whole)
                .ok()
                .map(|first| Value::Array(first.into_iter().collect()))
        } else {
            serde_json::from_str(whole).ok()
        };
        let sample = sample.or_else(|| serde_json::from_str(first).ok());
        let Some(sample) = sample else {
            return Err(unknown("JSON that does not parse"));
        };
        return json_kind(&sample).ok_or_else(|| unknown("unrecognised JSON"));
    }
    if let Some(v) = text::data_value(first)
        && kvsentry_model::net::parse_network(v).is_some()
    {
        return Ok(TiFormat::Text);
    }
    let header = first.to_ascii_lowercase();
    let has = |c: &str| {
        header
            .split([',', ';', '\t'])
            .any(|h| h.trim().trim_matches('"').split(" [").next() == Some(c))
    };
    if has("indicatorid") || has("threattype") || has("networkip") {
        return Ok(TiFormat::Sentinel);
    }
    if has("observablekey") || has("observablevalue") {
        return Ok(TiFormat::SentinelStix);
    }
    if has("uuid") && has("to_ids") && has("type") && has("value") {
        return Ok(TiFormat::Misp);
    }
    if header.contains(',') || header.contains(';') || header.contains('\t') {
        return Ok(TiFormat::Csv);
    }
    Ok(TiFormat::Text)
}

/// The format a JSON value (or its first element or row) is a row or document of.
pub(super) fn json_kind(v: &Value) -> Option<TiFormat> {
    match v {
        Value::Array(a) => a.first().and_then(json_kind),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("bundle") || o.contains_key("objects")
            {
                return Some(TiFormat::Stix);
            }
            // One STIX object (`"type": "indicator", "id": "indicator--..."`): its identifier
            // says what it is whatever other properties it carries (a custom `value` or `ip`
            // must not make it another feed's row).
            if let (Some(ty), Some(id)) = (
                o.get("type").and_then(Value::as_str),
                o.get("id").and_then(Value::as_str),
            ) && id
                .strip_prefix(ty)
                .is_some_and(|rest| rest.starts_with("--"))
            {
                return Some(TiFormat::Stix);
            }
            if o.contains_key("Event") {
                return Some(TiFormat::Misp);
            }
            for k in ["rows", "value"] {
                if let Some(Value::Array(a)) = o.get(k) {
                    return a.first().and_then(json_kind);
                }
            }
            if let Some(Value::Array(tables)) = o.get("tables") {
                // Log Analytics query API: decide by the column names.
                let cols: serde_json::Map<String, Value> = tables
                    .iter()
                    .filter_map(|t| t.get("columns").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(|n| (n.to_string(), Value::Null))
                    .collect();
                return json_kind(&Value::Object(cols));
            }
            if ["IndicatorId", "NetworkIP", "ThreatType", "NetworkSourceIP"]
                .iter()
                .any(|k| o.contains_key(*k))
            {
                return Some(TiFormat::Sentinel);
            }
            if o.contains_key("ObservableKey") || o.contains_key("ObservableValue") {
                return Some(TiFormat::SentinelStix);
            }
            if o.contains_key("cidr") || o.contains_key("ip") {
                return Some(TiFormat::Text);
            }
            if o.get("type").and_then(Value::as_str) == Some("indicator")
                || (o.contains_key("pattern") && o.contains_key("pattern_type"))
            {
                return Some(TiFormat::Stix);
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> TiFormat {
        detect(Path::new("x"), text).unwrap()
    }

    #[test]
    fn detects_by_content() {
        assert_eq!(d("; comment\r\n1.10.16.0/20 ; SBL1\r\n"), TiFormat::Text);
        assert_eq!(d("# DstIP\n8.8.8.8\n"), TiFormat::Text);
        assert_eq!(d("{\"cidr\":\"1.10.16.0/20\"}\n"), TiFormat::Text);
        assert_eq!(
            d("TenantId,TimeGenerated [UTC],IndicatorId\n"),
            TiFormat::Sentinel
        );
        assert_eq!(d("[{\"IndicatorId\":\"x\"}]"), TiFormat::Sentinel);
        assert_eq!(
            d("{\"rows\":[{\"ObservableKey\":\"k\"}]}"),
            TiFormat::SentinelStix
        );
        assert_eq!(d("{\"type\":\"bundle\",\"objects\":[]}"), TiFormat::Stix);
        assert_eq!(d("{\"Event\":{}}"), TiFormat::Misp);
        assert_eq!(
            d("uuid,event_id,category,type,value,comment,to_ids,date\n"),
            TiFormat::Misp
        );
        assert_eq!(d("# c\n\"first_seen_utc\",\"dst_ip\"\n"), TiFormat::Csv);
        assert_eq!(d(""), TiFormat::Text);
        assert!(detect(Path::new("x"), "{\"hello\":1}").is_err());
        // Arrays: the first element decides, if the whole text is valid JSON.
        assert_eq!(
            d("[{\"ObservableKey\":\"k\"},\n{\"IndicatorId\":\"x\"}]"),
            TiFormat::SentinelStix
        );
        for bad in [
            "[]",
            "[{\"IndicatorId\":\"x\"},\n{\"x\":1e400}]",
            "[{\"IndicatorId\":\"x\"},\n",
        ] {
            assert!(detect(Path::new("x"), bad).is_err(), "{bad}");
        }
    }
}
