//! The detail views: the wrapped table of every alert with its key fields (`--format
//! table-detail`), and one alert whole (`hunt --alert ID`).

use std::io::{self, Write};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use kvsentry_model::Alert;

use super::{Encoder, human};

/// Keeps rows and renders one table at [`Encoder::finish`] (column widths need every row).
#[derive(Debug)]
pub struct DetailTable {
    rows: Vec<[String; 6]>,
    width: u16,
}

impl Default for DetailTable {
    fn default() -> Self {
        DetailTable::new()
    }
}

impl DetailTable {
    /// A table 200 columns wide at most; see [`DetailTable::with_width`].
    pub fn new() -> Self {
        DetailTable {
            rows: Vec::new(),
            width: 200,
        }
    }

    /// Wraps cells so the table fits `width` columns (the terminal's width, say).
    pub fn with_width(mut self, width: u16) -> Self {
        self.width = width.max(60);
        self
    }
}

/// The fields worth a glance, in the order an analyst reads them; the rest is in JSON output.
const DETAIL_FIELDS: &[&str] = &[
    // Threshold rules (the Elastic seed's names).
    "action_count",
    "distinct_actions",
    "actions",
    "source_ip",
    "vault_names",
    // Indicator matches (the Sentinel seed's projected columns, readable names).
    "threat_type",
    "confidence",
    "description",
    "operation",
    "http_status",
    "event_count",
    "expiration",
];

fn when(a: &Alert) -> String {
    match a.window {
        Some(w) => {
            let start = w.start.strftime("%Y-%m-%d %H:%M:%S").to_string();
            let end = w.end.strftime("%H:%M:%S").to_string();
            format!("{start} – {end}")
        }
        None => a.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

fn who(a: &Alert) -> String {
    a.group
        .iter()
        .map(|(k, v)| {
            let v = human(v);
            if a.group.len() == 1 {
                v
            } else {
                format!("{k}={v}")
            }
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn details(a: &Alert) -> String {
    let mut lines = Vec::new();
    for name in DETAIL_FIELDS {
        if let Some(v) = a.fields.get(*name) {
            let mut text = human(v);
            if text.is_empty() {
                continue;
            }
            if text.chars().count() > 80 {
                text = text.chars().take(77).collect::<String>() + "...";
            }
            lines.push(format!("{name}: {text}"));
        }
    }
    lines.join("\n")
}

impl Encoder for DetailTable {
    fn encode(&mut self, a: &Alert, _out: &mut Vec<u8>) -> io::Result<()> {
        self.rows.push([
            when(a),
            a.rule.name.clone(),
            a.rule.severity.clone(),
            who(a),
            details(a),
            a.alert_id.chars().take(8).collect(),
        ]);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.rows.is_empty() {
            return writeln!(out, "No alerts.");
        }
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(self.width)
            .set_header(["When (UTC)", "Rule", "Severity", "Who", "Details", "Alert"]);
        for row in self.rows.drain(..) {
            t.add_row(row);
        }
        writeln!(out, "{t}")
    }
}

/// One alert whole, as labelled lines: rule, times, every group value and field, entities,
/// threat enrichment and evidence (`kvsentry hunt --alert ID`). Nothing is cut.
#[derive(Debug, Default)]
pub struct AlertDetail;

impl Encoder for AlertDetail {
    fn encode(&mut self, alert: &Alert, out: &mut Vec<u8>) -> io::Result<()> {
        write_alert(out, alert)
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}

fn write_alert(out: &mut dyn Write, a: &Alert) -> io::Result<()> {
    let label = |out: &mut dyn Write, k: &str, v: &str| writeln!(out, "{k:<12}{v}");
    label(out, "Alert", &a.alert_id)?;
    label(
        out,
        "Rule",
        &format!(
            "{} ({}, version {})",
            a.rule.name, a.rule.id, a.rule.version
        ),
    )?;
    label(out, "Severity", &a.rule.severity)?;
    if !a.rule.tactics.is_empty() || !a.rule.techniques.is_empty() {
        label(
            out,
            "MITRE",
            &a.rule
                .tactics
                .iter()
                .chain(&a.rule.techniques)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        )?;
    }
    label(out, "Time", &a.time.to_string())?;
    if let Some(w) = a.window {
        label(out, "Window", &format!("{} – {}", w.start, w.end))?;
    }
    for (title, map) in [("Group", &a.group), ("Fields", &a.fields)] {
        if map.is_empty() {
            continue;
        }
        writeln!(out, "{title}")?;
        let w = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
        for (k, v) in map {
            writeln!(out, "{}", format!("  {k:<w$}  {}", human(v)).trim_end())?;
        }
    }
    if !a.entities.is_empty() {
        writeln!(out, "Entities")?;
        for e in &a.entities {
            let v = serde_json::to_value(e)?;
            let text = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={}", human(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            writeln!(out, "  {text}")?;
        }
    }
    if let Some(t) = &a.threat {
        writeln!(out, "Threat")?;
        if let serde_json::Value::Object(m) = serde_json::to_value(t)? {
            let w = m.keys().map(|k| k.chars().count()).max().unwrap_or(0);
            for (k, v) in &m {
                writeln!(out, "{}", format!("  {k:<w$}  {}", human(v)).trim_end())?;
            }
        }
    }
    writeln!(out, "Evidence ({} event(s))", a.evidence.len())?;
    for e in &a.evidence {
        let mut line = format!("  {}  {}", e.time, e.operation);
        if let Some(c) = &e.correlation_id {
            line.push_str(&format!("  correlation {c}"));
        }
        if let Some(s) = &e.source {
            line.push_str(&format!("  {s}"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::render;

    #[test]
    fn renders_key_facts() {
        let text = render(&mut DetailTable::new(), &[crate::testutil::alert()]);
        assert!(text.contains("2022-06-30 11:56:00 – 11:57:00"), "{text}");
        assert!(
            text.contains("attacker@securathesis.onmicrosoft.com"),
            "{text}"
        );
        assert!(text.contains("action_count: 6"), "{text}");
        assert!(
            text.contains("actions: KeyGet, KeyList, SecretGet"),
            "{text}"
        );
    }

    #[test]
    fn one_alert_whole() {
        let text = render(&mut AlertDetail, &[crate::testutil::alert()]);
        assert!(
            text.contains("identity.upn  attacker@securathesis.onmicrosoft.com"),
            "{text}"
        );
        assert!(text.contains("vault_names"), "{text}");
        assert!(text.contains("Evidence (1 event(s))"), "{text}");
        assert!(text.contains("KeyList  correlation 611c27bd"), "{text}");
        assert!(text.contains("logs/PT1H.json:3"), "{text}");
    }

    #[test]
    fn empty_says_so() {
        assert_eq!(render(&mut DetailTable::new(), &[]), "No alerts.\n");
    }
}
