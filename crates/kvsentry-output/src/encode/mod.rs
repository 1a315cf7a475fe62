//! Encoders: how an alert becomes bytes, whatever carries them.
//!
//! An [`Encoder`] appends one alert's bytes to a buffer as the alert comes ([`Encoder::encode`])
//! and whatever follows the last alert at the end ([`Encoder::finish`]). Forms that need every
//! alert before writing anything keep the alerts and write at the end: the tables (column
//! widths are sized over every row) and CSV (one header, the union of every alert's columns).
//!
//! To add a form: a module here with a type implementing [`Encoder`], re-exported below, and
//! an arm in [`OutputFormat::encoder`](crate::OutputFormat::encoder) when `hunt -f` should
//! offer it.

use std::io;

use kvsentry_model::Alert;

mod csv;
mod detail;
mod json;
mod table;

pub use csv::Csv;
pub use detail::{AlertDetail, DetailTable};
pub use json::{JsonArray, JsonLines};
pub use table::Table;

/// Turns alerts into bytes.
pub trait Encoder {
    /// Appends the bytes of one alert to `out`; a form written at the end keeps the alert and
    /// appends nothing.
    fn encode(&mut self, alert: &Alert, out: &mut Vec<u8>) -> io::Result<()>;

    /// Appends what comes after the last alert (a table, a CSV document, a JSON array's
    /// closing bracket); called once.
    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()>;
}

impl<E: Encoder + ?Sized> Encoder for Box<E> {
    fn encode(&mut self, alert: &Alert, out: &mut Vec<u8>) -> io::Result<()> {
        (**self).encode(alert, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        (**self).finish(out)
    }
}

/// Renders a JSON value compactly for humans: strings bare, arrays joined with ", ".
fn human(v: &serde_json::Value) -> String {
    joined(v, ", ")
}

/// A JSON value as text: strings bare, null empty, list items joined with `sep` (empty items
/// left out), anything else as compact JSON.
fn joined(v: &serde_json::Value, sep: &str) -> String {
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

/// Every alert through `encoder`, and its end, as one text.
#[cfg(test)]
pub(crate) fn render(encoder: &mut dyn Encoder, alerts: &[Alert]) -> String {
    let mut out = Vec::new();
    for a in alerts {
        encoder.encode(a, &mut out).unwrap();
    }
    encoder.finish(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}
