//! JSON forms of the full [`Alert`] model: one alert per line, or one array of every alert.
//!
//! Both write each alert as it comes, so a consumer downstream of a pipe sees alerts while the
//! hunt runs.

use std::io;

use kvsentry_model::Alert;

use super::Encoder;

/// One alert per line (`--format jsonl`), or one indented document per alert.
#[derive(Debug, Default)]
pub struct JsonLines {
    pretty: bool,
}

impl JsonLines {
    /// Compact, one alert per line.
    pub fn new() -> Self {
        JsonLines { pretty: false }
    }

    /// Indented over several lines (one alert shown alone, `hunt --alert ID -f json`).
    pub fn pretty() -> Self {
        JsonLines { pretty: true }
    }
}

impl Encoder for JsonLines {
    fn encode(&mut self, alert: &Alert, out: &mut Vec<u8>) -> io::Result<()> {
        if self.pretty {
            serde_json::to_writer_pretty(&mut *out, alert)?;
        } else {
            serde_json::to_writer(&mut *out, alert)?;
        }
        out.push(b'\n');
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
}

/// A JSON array of alerts, one per line inside the brackets; written as they come, closed at
/// the end (so an interrupted hunt leaves an unterminated array, not a wrong one).
#[derive(Debug, Default)]
pub struct JsonArray {
    count: usize,
}

impl JsonArray {
    pub fn new() -> Self {
        JsonArray { count: 0 }
    }
}

impl Encoder for JsonArray {
    fn encode(&mut self, alert: &Alert, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(if self.count == 0 { b"[\n" } else { b",\n" });
        serde_json::to_writer(&mut *out, alert)?;
        self.count += 1;
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.extend_from_slice(if self.count == 0 { b"[]\n" } else { b"\n]\n" });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::render;

    #[test]
    fn jsonl_round_trips() {
        let a = crate::testutil::alert();
        let text = render(&mut JsonLines::new(), &[a.clone(), a.clone()]);
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
    fn pretty_is_one_document() {
        let a = crate::testutil::alert();
        let text = render(&mut JsonLines::pretty(), std::slice::from_ref(&a));
        assert!(text.starts_with("{\n  \"alert_id\""), "{text}");
        assert!(text.ends_with("}\n"), "{text}");
        let back: Alert = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn json_array_parses() {
        let a = crate::testutil::alert();
        for n in [0, 1, 3] {
            let text = render(&mut JsonArray::new(), &vec![a.clone(); n]);
            let back: Vec<Alert> = serde_json::from_str(&text).unwrap();
            assert_eq!(back.len(), n);
        }
    }
}
