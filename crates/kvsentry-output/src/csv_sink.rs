//! One alert per CSV row, for spreadsheets.

use std::io::{self, Write};

use kvsentry_model::Alert;

use crate::{AlertSink, human};

const HEADER: &[&str] = &[
    "alert_id",
    "rule_id",
    "rule_name",
    "severity",
    "time",
    "window_start",
    "window_end",
    "group",
    "fields",
    "entities",
];

/// Group and fields are rendered `name=value` joined by `; ` (multi-valued fields joined by
/// `, `), so the sheet stays readable; entities as compact JSON.
pub struct CsvSink<W: Write> {
    out: csv::Writer<W>,
    header_written: bool,
}

impl<W: Write> CsvSink<W> {
    pub fn new(out: W) -> Self {
        CsvSink {
            out: csv::Writer::from_writer(out),
            header_written: false,
        }
    }
}

fn pairs(m: &serde_json::Map<String, serde_json::Value>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", human(v)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn to_io(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

impl<W: Write> AlertSink for CsvSink<W> {
    fn write(&mut self, a: &Alert) -> io::Result<()> {
        if !self.header_written {
            self.out.write_record(HEADER).map_err(to_io)?;
            self.header_written = true;
        }
        let (ws, we) = match a.window {
            Some(w) => (w.start.to_string(), w.end.to_string()),
            None => (String::new(), String::new()),
        };
        let entities = serde_json::to_string(&a.entities)?;
        self.out
            .write_record([
                a.alert_id.as_str(),
                &a.rule.id,
                &a.rule.name,
                &a.rule.severity,
                &a.time.to_string(),
                &ws,
                &we,
                &pairs(&a.group),
                &pairs(&a.fields),
                &entities,
            ])
            .map_err(to_io)
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_record(HEADER).map_err(to_io)?;
            self.header_written = true;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_header_and_row() {
        let mut buf = Vec::new();
        {
            let mut s = CsvSink::new(&mut buf);
            s.write(&crate::testutil::alert()).unwrap();
            s.finish().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][5], "2022-06-30T11:56:00Z");
        assert_eq!(
            &rows[0][7],
            "identity.upn=attacker@securathesis.onmicrosoft.com"
        );
        assert!(
            rows[0][8].starts_with(
                "action_count=6; distinct_actions=3; actions=KeyGet, KeyList, SecretGet"
            )
        );
    }
}
