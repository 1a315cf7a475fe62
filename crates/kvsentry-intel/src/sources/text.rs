//! Plain IP/CIDR lists: one value per line, `#` and `;` comments (full-line and trailing:
//! Spamhaus `1.10.16.0/20 ; SBL256894` keeps `SBL256894` as a tag), CRLF, FireHOL
//! `.ipset`/`.netset`, abuse.ch Feodo `ipblocklist_recommended.txt`; and Spamhaus DROP NDJSON
//! (`{"cidr":…,"sblid":…}` lines ending with a `{"type":"metadata",…}` line whose timestamp
//! becomes the version time). Lists carry no expiry: every entry is active, never expires,
//! has the file's time as version time and `source:value` as id.

use serde_json::Value;

use super::ctx::Ctx;
use crate::error::IntelError;
use kvsentry_model::net::parse_network;

use crate::model::Indicator;
use crate::set::{IndicatorSet, SKIP_UNPARSEABLE_IP};
use crate::time::parse_epoch;

/// The value part of a list line (before a trailing `;`/`#` comment), or `None` for a blank
/// or comment line.
pub(crate) fn data_value(line: &str) -> Option<&str> {
    let l = line.trim();
    let v = l.split([';', '#']).next().unwrap_or("").trim();
    (!v.is_empty()).then_some(v)
}

fn comment_of(line: &str) -> Option<&str> {
    let l = line.trim();
    let i = l.find([';', '#'])?;
    let c = l[i + 1..].trim();
    (!c.is_empty()).then_some(c)
}

pub(crate) fn load(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    if first.is_some_and(|l| l.starts_with('{')) {
        return load_ndjson(text, ctx, set);
    }
    let source = ctx.file_name();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let Some(value) = data_value(raw) else {
            continue;
        };
        let Some(network) = parse_network(value) else {
            ctx.problem(set, line, SKIP_UNPARSEABLE_IP, value);
            continue;
        };
        let mut ind = Indicator::new(
            format!("{source}:{value}"),
            network,
            value,
            source.clone(),
            ctx.file_time,
            ctx.origin(line),
        );
        if let Some(c) = comment_of(raw) {
            ind.tags.push(c.to_string());
        }
        ctx.push(set, ind);
    }
    Ok(())
}

fn load_ndjson(text: &str, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) -> Result<(), IntelError> {
    let source = ctx.file_name();
    let mut pending: Vec<Indicator> = Vec::new();
    let mut meta_time = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let v: Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(e) => {
                ctx.problem(set, line, "invalid JSON line", &e.to_string());
                continue;
            }
        };
        if v.get("type").and_then(Value::as_str) == Some("metadata") {
            meta_time = v.get("timestamp").and_then(|t| match t {
                Value::Number(n) => n
                    .as_i64()
                    .and_then(|s| jiff::Timestamp::from_second(s).ok()),
                Value::String(s) => parse_epoch(s),
                _ => None,
            });
            continue;
        }
        let Some(value) = ["cidr", "ip", "network", "value"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
        else {
            ctx.problem(set, line, "no cidr/ip field", l);
            continue;
        };
        let Some(network) = parse_network(value) else {
            ctx.problem(set, line, SKIP_UNPARSEABLE_IP, value);
            continue;
        };
        let mut ind = Indicator::new(
            format!("{source}:{value}"),
            network,
            value,
            source.clone(),
            ctx.file_time,
            ctx.origin(line),
        );
        if let Some(sbl) = v.get("sblid").and_then(Value::as_str) {
            ind.tags.push(sbl.to_string());
        }
        pending.push(ind);
    }
    for mut ind in pending {
        if let Some(t) = meta_time {
            ind.version_time = t;
        }
        ctx.push(set, ind);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_comments() {
        assert_eq!(
            data_value("1.10.16.0/20 ; SBL256894\r"),
            Some("1.10.16.0/20")
        );
        assert_eq!(comment_of("1.10.16.0/20 ; SBL256894\r"), Some("SBL256894"));
        assert_eq!(data_value("8.8.8.8 # google"), Some("8.8.8.8"));
        assert_eq!(data_value("; EOF"), None);
        assert_eq!(data_value("# DstIP"), None);
        assert_eq!(data_value("   "), None);
        assert_eq!(comment_of("8.8.8.8"), None);
    }
}
