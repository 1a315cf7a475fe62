//! Alert sinks: where alerts go once a rule has fired.
//!
//! Every sink takes alerts one at a time ([`AlertSink::write`]) and is closed once
//! ([`AlertSink::finish`]). JSON lines are written as each alert comes, so a consumer
//! downstream of a pipe sees alerts while the hunt runs; the table needs all rows to size its
//! columns, and CSV every alert's columns for its one header, so both write at `finish`.

use std::io::{self, Write};

use kvsentry_model::Alert;

mod csv_sink;
mod table;
mod table_detail;

pub use csv_sink::CsvSink;
pub use table::{TableSink, terminal_width};
pub use table_detail::{DetailTableSink, write_alert};

/// The output forms of `kvsentry hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line per alert, then counts (the default on a terminal).
    Table,
    /// Every alert with its key fields, wrapped.
    TableDetail,
    /// One alert per line as JSON (the default when piped).
    Jsonl,
    /// One JSON array of every alert.
    Json,
    /// One alert per row, one column per group-by field, rule field and entity attribute.
    Csv,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "table-detail" => Ok(OutputFormat::TableDetail),
            "jsonl" | "ndjson" => Ok(OutputFormat::Jsonl),
            "json" => Ok(OutputFormat::Json),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(format!(
                "unknown output format '{other}' (expected table, table-detail, jsonl, json or csv)"
            )),
        }
    }
}

/// A destination for alerts.
pub trait AlertSink {
    fn write(&mut self, alert: &Alert) -> io::Result<()>;
    /// Flushes buffered output; called once after the last alert.
    fn finish(&mut self) -> io::Result<()>;
}

/// Builds the sink for a format over any writer.
pub fn sink_for<'w>(format: OutputFormat, out: Box<dyn Write + 'w>) -> Box<dyn AlertSink + 'w> {
    match format {
        OutputFormat::Table => Box::new(TableSink::new(out)),
        OutputFormat::TableDetail => Box::new(DetailTableSink::new(out)),
        OutputFormat::Jsonl => Box::new(JsonlSink::new(out)),
        OutputFormat::Json => Box::new(JsonArraySink::new(out)),
        OutputFormat::Csv => Box::new(CsvSink::new(out)),
    }
}

/// One alert per line, the full [`Alert`] model.
pub struct JsonlSink<W: Write> {
    out: W,
}

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        JsonlSink { out }
    }
}

impl<W: Write> AlertSink for JsonlSink<W> {
    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, alert)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl OutputFormat {
    /// The form a file name asks for by its extension (`.csv`, `.jsonl`/`.ndjson`, `.json`),
    /// case aside; `None` for any other name.
    pub fn from_path(path: &std::path::Path) -> Option<OutputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(OutputFormat::Csv),
            "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
            "json" => Some(OutputFormat::Json),
            _ => None,
        }
    }
}

/// A JSON array of alerts, one per line inside the brackets; written as they come, closed at
/// `finish` (so an interrupted hunt leaves an unterminated array, not a wrong one).
pub struct JsonArraySink<W: Write> {
    out: W,
    count: usize,
}

impl<W: Write> JsonArraySink<W> {
    pub fn new(out: W) -> Self {
        JsonArraySink { out, count: 0 }
    }
}

impl<W: Write> AlertSink for JsonArraySink<W> {
    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        self.out
            .write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
        serde_json::to_writer(&mut self.out, alert)?;
        self.count += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out
            .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()
    }
}

/// Renders a JSON value compactly for humans: strings bare, arrays joined with ", ".
pub(crate) fn human(v: &serde_json::Value) -> String {
    joined(v, ", ")
}

/// A JSON value as text: strings bare, null empty, list items joined with `sep` (empty items
/// left out), anything else as compact JSON.
pub(crate) fn joined(v: &serde_json::Value, sep: &str) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| joined(i, sep))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(sep),
        other => other.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use kvsentry_model::{Alert, AlertRule, Entity, EvidenceRef, TimeWindow};
    use serde_json::json;

    pub fn alert() -> Alert {
        let start: kvsentry_model::Timestamp = "2022-06-30T11:56:00Z".parse().unwrap();
        let end: kvsentry_model::Timestamp = "2022-06-30T11:57:00Z".parse().unwrap();
        let mut group = serde_json::Map::new();
        group.insert(
            "identity.upn".into(),
            json!("attacker@securathesis.onmicrosoft.com"),
        );
        let mut fields = serde_json::Map::new();
        fields.insert("action_count".into(), json!(6));
        fields.insert("distinct_actions".into(), json!(3));
        fields.insert("actions".into(), json!(["KeyGet", "KeyList", "SecretGet"]));
        fields.insert("vault_names".into(), json!(["SECURAALLKEYVAULT"]));
        Alert {
            alert_id: Alert::compute_id("r1", &["2022-06-30T11:56:00Z", "attacker"]),
            rule: AlertRule {
                id: "r1".into(),
                name: "Azure Key Vault Excessive Secret or Key Retrieved".into(),
                short_name: None,
                severity: "medium".into(),
                tactics: vec!["CredentialAccess".into()],
                techniques: vec!["T1555.006".into()],
                version: "1".into(),
            },
            time: end,
            window: Some(TimeWindow { start, end }),
            group,
            fields,
            entities: vec![Entity::Ip {
                address: "52.178.1.2".into(),
            }],
            evidence: vec![EvidenceRef {
                time: start,
                operation: "KeyList".into(),
                correlation_id: Some("611c27bd-7fed-4393-a4f6-9b5b223795af".into()),
                source: Some("logs/PT1H.json:3".into()),
            }],
            threat: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips() {
        let a = testutil::alert();
        let mut buf = Vec::new();
        {
            let mut s = JsonlSink::new(&mut buf);
            s.write(&a).unwrap();
            s.write(&a).unwrap();
            s.finish().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: Alert = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, a);
        assert!(
            lines[0].contains(
                r#""window":{"start":"2022-06-30T11:56:00Z","end":"2022-06-30T11:57:00Z"}"#
            )
        );
        // Dotted names nested, so `jq .group.identity.upn` finds the value.
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(
            v["group"]["identity"]["upn"],
            "attacker@securathesis.onmicrosoft.com"
        );
    }

    #[test]
    fn json_array_parses() {
        let a = testutil::alert();
        for n in [0, 1, 3] {
            let mut buf = Vec::new();
            {
                let mut s = JsonArraySink::new(&mut buf);
                for _ in 0..n {
                    s.write(&a).unwrap();
                }
                s.finish().unwrap();
            }
            let back: Vec<Alert> = serde_json::from_slice(&buf).unwrap();
            assert_eq!(back.len(), n);
        }
    }

    #[test]
    fn format_names() {
        assert_eq!("TABLE".parse::<OutputFormat>(), Ok(OutputFormat::Table));
        assert_eq!("json".parse::<OutputFormat>(), Ok(OutputFormat::Json));
        assert_eq!("ndjson".parse::<OutputFormat>(), Ok(OutputFormat::Jsonl));
        let of = |p: &str| OutputFormat::from_path(std::path::Path::new(p));
        assert_eq!(of("a.CSV"), Some(OutputFormat::Csv));
        assert_eq!(of("a.ndjson"), Some(OutputFormat::Jsonl));
        assert_eq!(of("dir/a.json"), Some(OutputFormat::Json));
        assert_eq!(of("alerts"), None);
        assert!("xml".parse::<OutputFormat>().is_err());
    }
}
