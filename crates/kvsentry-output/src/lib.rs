//! Alert output of kvsentry: what form an alert takes, and where it goes.
//!
//! Output is an [`Encoder`] (the form) joined to a [`Transport`] (the delivery) by a
//! [`Sink`], which is the [`AlertSink`] a hunt writes its alerts to:
//!
//! | encoders ([`encode`]) | |
//! |---|---|
//! | [`JsonLines`](encode::JsonLines) | one alert per line, as it comes (`-f jsonl`); or indented, one alert alone |
//! | [`JsonArray`](encode::JsonArray) | one JSON array of every alert (`-f json`) |
//! | [`Csv`](encode::Csv) | one row per alert under one header, at the end (`-f csv`) |
//! | [`Table`](encode::Table) | one line per alert fitted to a width, then counts, at the end (`-f table`) |
//! | [`DetailTable`](encode::DetailTable) | every alert with its key fields, wrapped, at the end (`-f table-detail`) |
//! | [`AlertDetail`](encode::AlertDetail) | one alert whole with its evidence (`--alert ID`) |
//!
//! | transports ([`sink`]) | |
//! |---|---|
//! | [`Writer`](sink::Writer) | any byte stream: standard output, a file |
//! | [`FileTransport`](sink::FileTransport) | a JSON-lines alert file rotated by size, reconciled after a crash |
//! | `WebhookTransport` (feature `webhook`) | one HTTP POST per alert, `Idempotency-Key` = alert id, retries with backoff |
//!
//! Delivery is per alert: a transport answers for each alert; a [`Sink`] keeps a [`Failure`]
//! (with the alert's id) for each one not delivered, goes on with the next, and stops writing
//! only when the transport is closed (the reader of a pipe went away, say).
//!
//! Where to add things: a new form is a module in `encode/` implementing [`Encoder`] (and an
//! [`OutputFormat`] arm if `hunt -f` should offer it); a new destination (Kafka, say)
//! is a module in `sink/` implementing [`Transport`]:
//!
//! ```
//! use std::io;
//! use kvsentry_output::{AlertSink, DeliveryError, Sink, Transport, encode::JsonLines};
//!
//! /// Keeps each alert's bytes by id (a webhook would POST them, retrying as it sees fit).
//! #[derive(Default)]
//! struct Collect(Vec<(String, Vec<u8>)>);
//!
//! impl Transport for Collect {
//!     fn deliver(
//!         &mut self,
//!         alert: &kvsentry_model::Alert,
//!         bytes: &[u8],
//!     ) -> Result<(), DeliveryError> {
//!         self.0.push((alert.alert_id.clone(), bytes.to_vec()));
//!         Ok(())
//!     }
//!
//!     fn finish(&mut self, _trailer: &[u8]) -> io::Result<()> {
//!         Ok(())
//!     }
//! }
//!
//! let mut sink = Sink::new(JsonLines::new(), Collect::default());
//! // A hunt calls sink.write(&alert) for each alert, then:
//! sink.finish()?;
//! assert!(sink.failures().is_empty());
//! # Ok::<(), io::Error>(())
//! ```

use std::io;
use std::path::Path;

use kvsentry_model::Alert;

pub mod encode;
pub mod sink;

pub use encode::Encoder;
pub use sink::{DeliveryError, Failure, Sink, Transport};

/// A destination for alerts: what a hunt writes to.
pub trait AlertSink {
    /// Takes one alert. An error ends the writing (the hunt reports it); an alert that alone
    /// failed is the sink's to keep and report (see [`Sink::failures`]).
    fn write(&mut self, alert: &Alert) -> io::Result<()>;
    /// Flushes buffered output; called once after the last alert.
    fn finish(&mut self) -> io::Result<()>;
}

/// The width of the terminal on standard output, when it is one (for [`TableStyle::width`]).
pub fn terminal_width() -> Option<u16> {
    comfy_table::Table::new().width()
}

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

/// How the table forms fit their reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStyle {
    /// Columns to fit every line into (a terminal's width).
    pub width: u16,
    /// Colour the severity (for a terminal; never for a file or a pipe).
    pub color: bool,
}

impl OutputFormat {
    /// The form a file name asks for by its extension (`.csv`, `.jsonl`/`.ndjson`, `.json`),
    /// case aside; `None` for any other name.
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(OutputFormat::Csv),
            "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
            "json" => Some(OutputFormat::Json),
            _ => None,
        }
    }

    /// The encoder of this form; `style` shapes the tables.
    pub fn encoder(self, style: TableStyle) -> Box<dyn Encoder + Send> {
        use encode::{Csv, DetailTable, JsonArray, JsonLines, Table};
        match self {
            OutputFormat::Table => {
                Box::new(Table::new().with_width(style.width).with_color(style.color))
            }
            OutputFormat::TableDetail => Box::new(DetailTable::new().with_width(style.width)),
            OutputFormat::Jsonl => Box::new(JsonLines::new()),
            OutputFormat::Json => Box::new(JsonArray::new()),
            OutputFormat::Csv => Box::new(Csv::new()),
        }
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

    #[test]
    fn each_format_has_its_encoder() {
        use encode::{Csv, DetailTable, JsonArray, JsonLines, Table, render};
        let alerts = [testutil::alert()];
        let style = TableStyle {
            width: 90,
            color: true,
        };
        let cases: [(OutputFormat, Box<dyn Encoder>); 5] = [
            (
                OutputFormat::Table,
                Box::new(Table::new().with_width(90).with_color(true)),
            ),
            (
                OutputFormat::TableDetail,
                Box::new(DetailTable::new().with_width(90)),
            ),
            (OutputFormat::Jsonl, Box::new(JsonLines::new())),
            (OutputFormat::Json, Box::new(JsonArray::new())),
            (OutputFormat::Csv, Box::new(Csv::new())),
        ];
        for (format, mut want) in cases {
            let got = render(&mut format.encoder(style), &alerts);
            assert_eq!(got, render(&mut want, &alerts), "{format:?}");
        }
    }
}
