//! One alert per CSV row, one column per value, for spreadsheets and `csv`-reading tools.
//!
//! Fixed columns first, then one column per group-by field (`group.identity.upn`), rule field
//! (`fields.action_count`), entity attribute (`entities.ip.address`) and threat enrichment
//! (`threat.indicator_id`). Different rules have different fields, and a spreadsheet wants one
//! header: the encoder keeps the alerts (they are few) and writes at the end, under the union of
//! every alert's columns in order of first appearance; a cell an alert has no value for is
//! empty. Lists are joined with `; ` in one cell; quoting follows RFC 4180.

use std::io;

use kvsentry_model::{Alert, Entity};
use serde_json::Value;

use super::Encoder;

const FIXED: &[&str] = &[
    "alert_id",
    "rule_id",
    "rule_name",
    "severity",
    "time",
    "window_start",
    "window_end",
];

/// Keeps alerts and writes them all, under one header, at [`Encoder::finish`].
#[derive(Debug, Default)]
pub struct Csv {
    alerts: Vec<Alert>,
}

impl Csv {
    pub fn new() -> Self {
        Csv { alerts: Vec::new() }
    }
}

/// A cell: strings bare, lists joined with `; `, nothing for null, other JSON compact.
fn cell(v: &Value) -> String {
    super::joined(v, "; ")
}

/// The alert's variable columns, `(dotted name, cell)`, in a stable order.
fn variable_cells(a: &Alert) -> Vec<(String, String)> {
    let mut cells = Vec::new();
    for (k, v) in &a.group {
        cells.push((format!("group.{k}"), cell(v)));
    }
    for (k, v) in &a.fields {
        cells.push((format!("fields.{k}"), cell(v)));
    }
    // Several entities of one kind (two IPs, say) share a column, joined like a list.
    let mut push_entity =
        |name: String, value: &str| match cells.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) if !existing.is_empty() => {
                existing.push_str("; ");
                existing.push_str(value);
            }
            Some((_, existing)) => existing.push_str(value),
            None => cells.push((name, value.to_string())),
        };
    for e in &a.entities {
        match e {
            Entity::Account {
                upn,
                object_id,
                app_id,
            } => {
                for (attr, v) in [("upn", upn), ("object_id", object_id), ("app_id", app_id)] {
                    if let Some(v) = v {
                        push_entity(format!("entities.account.{attr}"), v);
                    }
                }
            }
            Entity::Ip { address } => push_entity("entities.ip.address".into(), address),
            Entity::AzureResource { resource_id } => {
                push_entity("entities.azure_resource.resource_id".into(), resource_id)
            }
        }
    }
    if let Some(t) = &a.threat {
        let mut threat = vec![
            ("matched_atomic", Some(&t.matched_atomic)),
            ("matched_field", Some(&t.matched_field)),
            ("matched_type", Some(&t.matched_type)),
            ("indicator_id", Some(&t.indicator_id)),
            ("indicator_type", Some(&t.indicator_type)),
            ("indicator_value", Some(&t.indicator_value)),
        ];
        threat.push(("feed", t.feed.as_ref()));
        for (attr, v) in threat {
            if let Some(v) = v {
                cells.push((format!("threat.{attr}"), v.clone()));
            }
        }
    }
    cells
}

fn to_io(e: ::csv::Error) -> io::Error {
    io::Error::other(e)
}

impl Encoder for Csv {
    fn encode(&mut self, a: &Alert, _out: &mut Vec<u8>) -> io::Result<()> {
        self.alerts.push(a.clone());
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut writer = ::csv::Writer::from_writer(out);
        let rows: Vec<(&Alert, Vec<(String, String)>)> =
            self.alerts.iter().map(|a| (a, variable_cells(a))).collect();
        let mut columns: Vec<String> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for (_, cells) in &rows {
            for (name, _) in cells {
                if !seen.contains_key(name) {
                    seen.insert(name.clone(), columns.len());
                    columns.push(name.clone());
                }
            }
        }
        let header = FIXED
            .iter()
            .map(|s| s.to_string())
            .chain(columns.iter().cloned());
        writer.write_record(header).map_err(to_io)?;
        for (a, cells) in rows {
            let (ws, we) = match a.window {
                Some(w) => (w.start.to_string(), w.end.to_string()),
                None => (String::new(), String::new()),
            };
            let mut record = vec![
                a.alert_id.clone(),
                a.rule.id.clone(),
                a.rule.name.clone(),
                a.rule.severity.clone(),
                a.time.to_string(),
                ws,
                we,
            ];
            let mut variable = vec![String::new(); columns.len()];
            for (name, value) in cells {
                if let Some(&i) = seen.get(&name) {
                    variable[i] = value;
                }
            }
            record.extend(variable);
            writer.write_record(&record).map_err(to_io)?;
        }
        self.alerts.clear();
        writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_back(buf: &[u8]) -> Vec<std::collections::HashMap<String, String>> {
        let mut r = ::csv::Reader::from_reader(buf);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                assert_eq!(rec.len(), header.len());
                header
                    .iter()
                    .cloned()
                    .zip(rec.iter().map(String::from))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn one_column_per_value_and_a_union_header() {
        let first = crate::testutil::alert();
        let mut second = crate::testutil::alert();
        second.rule.id = "r2".into();
        second.group.clear();
        second
            .group
            .insert("caller.ip".into(), json!("203.0.113.9"));
        second.fields.clear();
        second
            .fields
            .insert("client_info".into(), json!(r#"curl/8.0; "quoted" agent"#));
        second.entities.push(Entity::Ip {
            address: "2001:db8::1".into(),
        });
        let text = crate::encode::render(&mut Csv::new(), &[first, second]);
        let rows = read_back(text.as_bytes());
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(a["window_start"], "2022-06-30T11:56:00Z");
        assert_eq!(
            a["group.identity.upn"],
            "attacker@securathesis.onmicrosoft.com"
        );
        assert_eq!(a["fields.action_count"], "6");
        assert_eq!(a["fields.actions"], "KeyGet; KeyList; SecretGet");
        assert_eq!(a["entities.ip.address"], "52.178.1.2");
        assert_eq!(a["group.caller.ip"], "", "a column of the other rule");
        let b = &rows[1];
        assert_eq!(b["rule_id"], "r2");
        assert_eq!(b["group.caller.ip"], "203.0.113.9");
        assert_eq!(b["fields.client_info"], r#"curl/8.0; "quoted" agent"#);
        assert_eq!(b["fields.action_count"], "");
        assert_eq!(b["entities.ip.address"], "52.178.1.2; 2001:db8::1");
    }

    #[test]
    fn no_alerts_is_a_header() {
        assert_eq!(
            crate::encode::render(&mut Csv::new(), &[]),
            "alert_id,rule_id,rule_name,severity,time,window_start,window_end\n"
        );
    }
}
