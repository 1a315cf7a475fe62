//! The terminal table: one line per alert, fitted to the terminal's width, then counts per
//! rule, per identity and per vault.
//!
//! A line never wraps: cells too long for their column are cut with `…` (the JSON output and
//! `--format table-detail` have everything), so `sort`, `grep` and the eye can take one alert
//! per line.

use std::collections::BTreeMap;
use std::io::{self, Write};

use kvsentry_model::{Alert, Entity};
use serde_json::Value;

use super::Encoder;

/// Keeps alerts and renders at [`Encoder::finish`]: the columns are sized over every row.
#[derive(Debug)]
pub struct Table {
    alerts: Vec<Alert>,
    width: usize,
    color: bool,
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    /// A table 120 columns wide, without colour; see [`Table::with_width`].
    pub fn new() -> Self {
        Table {
            alerts: Vec::new(),
            width: 120,
            color: false,
        }
    }

    /// Fits every line into `width` columns (at least 60, below which nothing is readable).
    pub fn with_width(mut self, width: u16) -> Self {
        self.width = usize::from(width).max(60);
        self
    }

    /// Colours the severity (for a terminal; never for a file or a pipe).
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }
}

/// Text of a field: strings bare, lists joined with `, `.
fn text(v: Option<&Value>) -> String {
    v.map_or_else(String::new, super::human)
}

fn first_text(a: &Alert, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| text(a.group.get(*n).or_else(|| a.fields.get(*n))))
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

/// The rule's name without the product prefix every built-in shares.
fn short_rule(a: &Alert) -> String {
    if let Some(s) = &a.rule.short_name {
        return s.clone();
    }
    let n = a.rule.name.as_str();
    n.strip_prefix("Azure Key Vault ").unwrap_or(n).to_string()
}

/// Who: the UPN, else the managed identity's name, else the app id, else the object id.
fn who(a: &Alert) -> String {
    let upn = first_text(a, &["identity.upn", "actor_name"]);
    if !upn.is_empty() {
        return upn;
    }
    let account = a.entities.iter().find_map(|e| match e {
        Entity::Account {
            upn,
            object_id,
            app_id,
        } => Some((upn.clone(), object_id.clone(), app_id.clone())),
        _ => None,
    });
    if let Some(upn) = account.as_ref().and_then(|a| a.0.clone()) {
        return upn;
    }
    let mi = first_text(a, &["identity.managed_identity", "managed_identity"]);
    if let Some(name) = mi.rsplit('/').next().filter(|n| !n.is_empty()) {
        return format!("mi:{name}");
    }
    let app = first_text(a, &["identity.app_id", "app_id"]);
    let app = if app.is_empty() {
        account
            .as_ref()
            .and_then(|a| a.2.clone())
            .unwrap_or_default()
    } else {
        app
    };
    if !app.is_empty() {
        return format!("app:{app}");
    }
    let oid = first_text(a, &["identity.object_id", "object_id", "caller_object_id"]);
    let oid = if oid.is_empty() {
        account.and_then(|a| a.1).unwrap_or_default()
    } else {
        oid
    };
    if oid.is_empty() {
        "-".into()
    } else {
        format!("oid:{oid}")
    }
}

/// From where: the caller IP(s).
fn from(a: &Alert) -> String {
    let ip = first_text(a, &["caller.ip", "source_ip", "client_ip"]);
    if !ip.is_empty() {
        return ip;
    }
    a.entities
        .iter()
        .filter_map(|e| match e {
            Entity::Ip { address } => Some(address.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The vaults an alert concerns (names, else the last segment of resource ids).
fn vaults(a: &Alert) -> Vec<String> {
    let names = first_text(a, &["vault.name", "vault_names"]);
    if !names.is_empty() {
        return names.split(", ").map(String::from).collect();
    }
    let ids = first_text(a, &["resource_id", "resource_ids", "vault.resource_id"]);
    ids.split(", ")
        .filter_map(|id| id.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect()
}

/// What: vaults and operations, or for an indicator match its threat type and feed.
fn what(a: &Alert) -> String {
    if let Some(t) = &a.threat {
        let kind = first_text(a, &["threat_type"]);
        let kind = if kind.is_empty() {
            t.indicator_type.clone()
        } else {
            kind
        };
        return match &t.feed {
            Some(feed) if !feed.is_empty() => format!("{kind} ({feed})"),
            _ => kind,
        };
    }
    let vaults = vaults(a).join(", ");
    let ops = first_text(a, &["actions", "operation", "operations"]);
    match (vaults.is_empty(), ops.is_empty()) {
        (false, false) => format!("{vaults}: {ops}"),
        (false, true) => vaults,
        _ => ops,
    }
}

fn count(a: &Alert) -> String {
    first_text(a, &["action_count", "event_count", "count"])
}

/// Cuts `s` to `w` characters, marking the cut with `…`.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return format!("{s:<w$}");
    }
    if w == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(w - 1).collect();
    t.push('…');
    t
}

fn severity_color(sev: &str) -> &'static str {
    match sev.to_ascii_lowercase().as_str() {
        "critical" | "high" => "\x1b[1;31m",
        "medium" => "\x1b[33m",
        "low" => "\x1b[36m",
        _ => "\x1b[2m",
    }
}

/// Column widths for `want` (each column's widest cell) within `room`: columns that fit
/// their share keep their width, the rest split what is left evenly.
fn share(want: &[usize], room: usize) -> Vec<usize> {
    let mut out = vec![0; want.len()];
    let mut open: Vec<usize> = (0..want.len()).collect();
    let mut left = room;
    loop {
        if open.is_empty() {
            break;
        }
        let each = left / open.len();
        let (small, big): (Vec<usize>, Vec<usize>) = open.iter().partition(|&&i| want[i] <= each);
        if small.is_empty() {
            for (k, &i) in big.iter().enumerate() {
                // The remainder goes to the first columns, one each.
                out[i] = each + usize::from(k < left % big.len());
            }
            break;
        }
        for &i in &small {
            out[i] = want[i];
            left -= want[i];
        }
        open = big;
    }
    out
}

const SEP: &str = "  ";

impl Table {
    fn render(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let width = self.width;
        let mut alerts = std::mem::take(&mut self.alerts);
        alerts.sort_by(|a, b| {
            (a.time, &a.rule.id, &a.alert_id).cmp(&(b.time, &b.rule.id, &b.alert_id))
        });
        // Seconds only when there is room: windows are whole minutes anyway.
        let time_fmt = if width >= 100 {
            "%Y-%m-%d %H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M"
        };
        let header = [
            "Time (UTC)",
            "Severity",
            "Rule",
            "Who",
            "From",
            "What",
            "Count",
            "Alert",
        ];
        let rows: Vec<[String; 8]> = alerts
            .iter()
            .map(|a| {
                [
                    a.time.strftime(time_fmt).to_string(),
                    a.rule.severity.clone(),
                    short_rule(a),
                    who(a),
                    from(a),
                    what(a),
                    count(a),
                    a.alert_id.chars().take(8).collect(),
                ]
            })
            .collect();
        let mut want = [0usize; 8];
        for (i, h) in header.iter().enumerate() {
            want[i] = h.chars().count();
        }
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                want[i] = want[i].max(c.chars().count());
            }
        }
        want[1] = want[1].min(8);
        // Time, severity, count and id keep their width; rule, who, from and what share the rest.
        let fixed = want[0] + want[1] + want[6] + want[7] + SEP.len() * 7;
        let mut flexible = share(
            &[want[2], want[3], want[4], want[5]],
            width.saturating_sub(fixed),
        );
        // An IPv4 address is what an analyst pivots on: it is shown whole, taking room from
        // the widest of the other shared columns (which keep at least 8).
        let ip_room = want[4].min(15);
        while flexible[2] < ip_room {
            let Some(widest) = [0, 1, 3]
                .into_iter()
                .filter(|&i| flexible[i] > 8)
                .max_by_key(|&i| flexible[i])
            else {
                break;
            };
            flexible[widest] -= 1;
            flexible[2] += 1;
        }
        let widths = [
            want[0],
            want[1],
            flexible[0],
            flexible[1],
            flexible[2],
            flexible[3],
            want[6],
            want[7],
        ];
        let line = |cells: &[String; 8], color: Option<&str>| -> String {
            let mut out = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(SEP);
                }
                let cell = if i == 6 {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    fit(c, widths[i])
                };
                match color {
                    Some(code) if i == 1 => {
                        out.push_str(code);
                        out.push_str(&cell);
                        out.push_str("\x1b[0m");
                    }
                    _ => out.push_str(&cell),
                }
            }
            out.trim_end().to_string()
        };
        let header_cells = header.map(String::from);
        writeln!(out, "{}", line(&header_cells, None))?;
        for r in &rows {
            let color = self.color.then(|| severity_color(&r[1]));
            writeln!(out, "{}", line(r, color))?;
        }

        let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_who: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_vault: BTreeMap<String, usize> = BTreeMap::new();
        for (a, r) in alerts.iter().zip(&rows) {
            *per_rule.entry(a.rule.name.clone()).or_default() += 1;
            *per_who.entry(r[3].clone()).or_default() += 1;
            for v in vaults(a) {
                *per_vault.entry(v).or_default() += 1;
            }
        }
        for (title, counts) in [
            ("Rule", per_rule),
            ("Identity", per_who),
            ("Vault", per_vault),
        ] {
            if counts.is_empty() {
                continue;
            }
            let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
            // Most alerts first, then by name.
            counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let room = width.saturating_sub("Alerts".len() + SEP.len());
            writeln!(out)?;
            writeln!(out, "{:>6}{SEP}{}", "Alerts", fit(title, room).trim_end())?;
            for (name, n) in counts {
                writeln!(out, "{n:>6}{SEP}{}", fit(&name, room).trim_end())?;
            }
        }
        Ok(())
    }
}

impl Encoder for Table {
    fn encode(&mut self, a: &Alert, _out: &mut Vec<u8>) -> io::Result<()> {
        self.alerts.push(a.clone());
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if self.alerts.is_empty() {
            writeln!(out, "No alerts.")
        } else {
            self.render(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(alerts: &[Alert], width: u16, color: bool) -> String {
        let mut table = Table::new().with_width(width).with_color(color);
        crate::encode::render(&mut table, alerts)
    }

    #[test]
    fn one_line_per_alert_within_the_width() {
        let a = crate::testutil::alert();
        let mut b = a.clone();
        b.alert_id = "ffffffff-0000".into();
        b.time = "2022-06-30T10:00:00Z".parse().unwrap();
        for width in [60u16, 80, 120, 200] {
            let text = render(&[a.clone(), b.clone()], width, false);
            for l in text.lines() {
                assert!(l.chars().count() <= usize::from(width), "{width}: {l:?}");
            }
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[0].starts_with("Time (UTC)"), "{text}");
            // Sorted by time: the earlier alert first.
            assert!(lines[1].ends_with("ffffffff"), "{text}");
            assert!(lines[2].ends_with(&a.alert_id[..8]), "{text}");
            assert_eq!(lines[3], "", "{text}");
        }
        let wide = render(std::slice::from_ref(&a), 200, false);
        assert!(
            wide.contains("attacker@securathesis.onmicrosoft.com"),
            "{wide}"
        );
        assert!(wide.contains("52.178.1.2"), "{wide}");
        assert!(
            wide.contains("SECURAALLKEYVAULT: KeyGet, KeyList, SecretGet"),
            "{wide}"
        );
        assert!(wide.contains("Excessive Secret or Key Retrieved"), "{wide}");
        assert!(!wide.contains('\x1b'));
        assert!(render(&[a], 120, true).contains("\x1b[33mmedium"));
    }

    #[test]
    fn addresses_are_not_cut_at_100_columns() {
        let mut a = crate::testutil::alert();
        a.group
            .insert("caller.ip".into(), Value::String("203.111.222.133".into()));
        a.fields
            .insert("source_ip".into(), serde_json::json!(["203.111.222.133"]));
        let text = render(&[a], 100, false);
        let line = text.lines().nth(1).unwrap_or_default();
        assert!(line.contains("203.111.222.133"), "{text}");
    }

    #[test]
    fn rules_show_their_short_name() {
        let mut a = crate::testutil::alert();
        a.rule.short_name = Some("Burst (user)".into());
        let text = render(&[a], 100, false);
        let line = text.lines().nth(1).unwrap_or_default();
        assert!(line.contains("Burst (user)"), "{text}");
    }

    #[test]
    fn shares_fit_the_room() {
        assert_eq!(share(&[5, 50, 5, 50], 40), vec![5, 15, 5, 15]);
        assert_eq!(share(&[5, 5], 40), vec![5, 5]);
        assert_eq!(share(&[30, 30, 30], 10).iter().sum::<usize>(), 10);
    }

    #[test]
    fn empty_says_so() {
        assert_eq!(render(&[], 120, false), "No alerts.\n");
    }
}
