//! MISP: feed directories (`manifest.json` + `<uuid>.json` event files), single event JSON
//! files, and the MISP CSV export (`uuid,event_id,category,type,value,comment,to_ids,date,…`).
//!
//! IP attribute types: `ip-src`, `ip-dst`, `ip-src|port`, `ip-dst|port` (`ip|port`, IPv6
//! too), `domain|ip` (the IP half). Other types are counted as "no IP". Attributes with
//! `to_ids: false` are not meant for detection: excluded and counted unless
//! [`super::LoadOptions::misp_include_non_ids`]. Event `info` (plus the attribute comment in
//! parentheses) is the description, the category the threat type, `tlp:` tags the TLP,
//! `misp-galaxy:threat-actor="X"` / `misp-galaxy:mitre-intrusion-set="X"` the activity
//! groups, the attribute `timestamp` the version time. Origins are `file#attribute-uuid`.

use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;

use super::csv_records::for_each_csv_record;
use super::csv_table::CsvTable;
use super::ctx::Ctx;
use super::report::{MAX_PROBLEMS_LISTED, Problem};
use crate::error::IntelError;
use kvsentry_model::net::parse_network;

use crate::model::{Indicator, parse_bool, parse_list};
use crate::set::{IndicatorSet, SKIP_NO_IP, SKIP_UNPARSEABLE_IP};
use crate::time::{parse_epoch, parse_time};

/// Skip reason for `to_ids: false` attributes.
pub const SKIP_NOT_IDS: &str = "MISP to_ids=false";
/// Skip reason for deleted attributes.
pub const SKIP_DELETED: &str = "MISP deleted attribute";

/// The IP half of an attribute value by type, or `None` for a type that carries no IP.
pub fn ip_of(attr_type: &str, value: &str) -> Option<String> {
    match attr_type {
        "ip-src" | "ip-dst" => Some(value.trim().to_string()),
        "ip-src|port" | "ip-dst|port" => {
            value.rsplit_once('|').map(|(ip, _)| ip.trim().to_string())
        }
        "domain|ip" => value.split_once('|').map(|(_, ip)| ip.trim().to_string()),
        _ => None,
    }
}

pub(crate) fn load_feed_dir(
    dir: &Path,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let manifest_path = dir.join("manifest.json");
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| IntelError::Io { path: p, source: e }
    };
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| IntelError::Json {
        path: manifest_path.clone(),
        source: e,
    })?;
    let Some(events) = manifest.as_object() else {
        return Err(IntelError::Format {
            path: manifest_path,
            message: "manifest.json is not an object of event uuids".to_string(),
        });
    };
    let mut uuids: Vec<&String> = events.keys().collect();
    uuids.sort();
    for uuid in uuids {
        let p = dir.join(format!("{uuid}.json"));
        let name = p.display().to_string();
        let text = match std::fs::read(&p) {
            Ok(b) => String::from_utf8_lossy(kvsentry_read::strip_bom(&b)).into_owned(),
            Err(e) => {
                ctx.problem(
                    set,
                    0,
                    "MISP event file listed in manifest.json is missing",
                    &format!("{name}: {e}"),
                );
                continue;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => load_event(&v, &name, ctx, set),
            Err(e) => ctx.problem(
                set,
                0,
                "MISP event file is not valid JSON",
                &format!("{name}: {e}"),
            ),
        }
    }
    Ok(())
}

/// A file given directly: an event JSON or a MISP CSV export.
pub(crate) fn load_file(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        let v: Value = serde_json::from_str(t).map_err(|e| IntelError::Json {
            path: ctx.path().to_path_buf(),
            source: e,
        })?;
        let name = ctx.name.clone();
        match &v {
            Value::Array(a) => a.iter().for_each(|e| load_event(e, &name, ctx, set)),
            Value::Object(o) if o.contains_key("Event") => load_event(&v, &name, ctx, set),
            _ => {
                return Err(IntelError::Format {
                    path: ctx.path().to_path_buf(),
                    message: "not a MISP event (no `Event`); for a feed, load its directory"
                        .to_string(),
                });
            }
        }
        return Ok(());
    }
    load_csv(text, ctx, set)
}

fn epoch(v: Option<&Value>) -> Option<Timestamp> {
    match v? {
        Value::String(s) => parse_epoch(s).or_else(|| parse_time(s, None)),
        Value::Number(n) => n.as_i64().and_then(|s| Timestamp::from_second(s).ok()),
        _ => None,
    }
}

fn tag_names(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Applies tags: all kept as tags; `tlp:x` → TLP `x`; galaxy threat actors → groups.
fn apply_tags(ind: &mut Indicator, tags: Vec<String>) {
    for t in &tags {
        let lower = t.to_ascii_lowercase();
        if let Some(level) = lower.strip_prefix("tlp:") {
            ind.tlp = Some(level.trim().to_string());
        }
        for prefix in [
            "misp-galaxy:threat-actor=",
            "misp-galaxy:mitre-intrusion-set=",
        ] {
            if lower.starts_with(prefix) {
                let name = t[prefix.len()..].trim().trim_matches('"').to_string();
                if !name.is_empty() && !ind.activity_groups.contains(&name) {
                    ind.activity_groups.push(name);
                }
            }
        }
    }
    for t in tags {
        if !ind.tags.contains(&t) {
            ind.tags.push(t);
        }
    }
}

fn load_event(v: &Value, file: &str, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) {
    let e = v.get("Event").unwrap_or(v);
    let info = e
        .get("info")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let org = e
        .get("Orgc")
        .and_then(|o| o.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("MISP")
        .to_string();
    let event_tags = tag_names(e.get("Tag"));
    let event_time = epoch(e.get("timestamp"));
    let mut attrs: Vec<&Value> = e
        .get("Attribute")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if let Some(objs) = e.get("Object").and_then(Value::as_array) {
        for o in objs {
            if let Some(a) = o.get("Attribute").and_then(Value::as_array) {
                attrs.extend(a.iter());
            }
        }
    }
    for (n, a) in attrs.into_iter().enumerate() {
        let s = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
        let uuid = s("uuid");
        let origin = if uuid.is_empty() {
            format!("{file}#attribute[{n}]")
        } else {
            format!("{file}#{uuid}")
        };
        if a.get("deleted").is_some_and(flag) {
            ctx.skip(set, SKIP_DELETED);
            continue;
        }
        let Some(ip) = ip_of(s("type"), s("value")) else {
            ctx.skip(set, SKIP_NO_IP);
            continue;
        };
        let to_ids = a.get("to_ids").is_none_or(flag);
        if !to_ids && !ctx.opts.misp_include_non_ids {
            ctx.skip(set, SKIP_NOT_IDS);
            continue;
        }
        let Some(network) = parse_network(&ip) else {
            problem_at(ctx, set, &origin, SKIP_UNPARSEABLE_IP, &ip);
            continue;
        };
        let version = epoch(a.get("timestamp"))
            .or(event_time)
            .unwrap_or(ctx.file_time);
        let id = if uuid.is_empty() {
            origin.clone()
        } else {
            uuid.to_string()
        };
        let mut ind = Indicator::new(id, network, ip, org.clone(), version, origin);
        let comment = s("comment").trim();
        ind.description = match (info.is_empty(), comment.is_empty()) {
            (false, false) => Some(format!("{info} ({comment})")),
            (false, true) => Some(info.clone()),
            (true, false) => Some(comment.to_string()),
            (true, true) => None,
        };
        ind.threat_type = Some(s("category"))
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        ind.valid_from = epoch(a.get("first_seen"));
        let mut tags = event_tags.clone();
        tags.extend(tag_names(a.get("Tag")));
        apply_tags(&mut ind, tags);
        ctx.push(set, ind);
    }
}

fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => parse_bool(s),
        _ => false,
    }
}

fn problem_at(ctx: &mut Ctx<'_>, set: &mut IndicatorSet, origin: &str, reason: &str, value: &str) {
    ctx.skip(set, reason);
    if ctx.report.problems.len() < MAX_PROBLEMS_LISTED {
        ctx.report.problems.push(Problem {
            origin: origin.to_string(),
            reason: reason.to_string(),
            value: value.to_string(),
        });
    }
}

fn load_csv(text: &str, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) -> Result<(), IntelError> {
    // The csv reader takes a `#` comment on a last line without newline for a record.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    let table = CsvTable::new(text, ctx, b'#')?;
    let (Some(ti), Some(vi)) = (table.find("type"), table.find("value")) else {
        return Err(IntelError::Format {
            path: ctx.path().to_path_buf(),
            message: "MISP CSV needs `type` and `value` columns".to_string(),
        });
    };
    let idx = |n: &str| table.find(n);
    let (ui, ci, ki, ii, di, gi) = (
        idx("uuid"),
        idx("comment"),
        idx("category"),
        idx("to_ids"),
        idx("date"),
        idx("attribute_tag"),
    );
    let source = ctx.file_name();
    for_each_csv_record(text, &table, ctx, set, |rec, line, ctx, set| {
        let get = |i: Option<usize>| i.and_then(|i| rec.get(i)).map(str::trim).unwrap_or("");
        let Some(ip) = ip_of(get(Some(ti)), get(Some(vi))) else {
            ctx.skip(set, SKIP_NO_IP);
            return;
        };
        if ii.is_some() && !parse_bool(get(ii)) && !ctx.opts.misp_include_non_ids {
            ctx.skip(set, SKIP_NOT_IDS);
            return;
        }
        let Some(network) = parse_network(&ip) else {
            ctx.problem(set, line, SKIP_UNPARSEABLE_IP, &ip);
            return;
        };
        let version = parse_time(get(di), None).unwrap_or(ctx.file_time);
        let uuid = get(ui);
        let id = if uuid.is_empty() {
            format!("{source}:{ip}")
        } else {
            uuid.to_string()
        };
        let mut ind = Indicator::new(id, network, ip, source.clone(), version, ctx.origin(line));
        ind.description = Some(get(ci)).filter(|c| !c.is_empty()).map(str::to_string);
        ind.threat_type = Some(get(ki)).filter(|c| !c.is_empty()).map(str::to_string);
        apply_tags(&mut ind, parse_list(get(gi)));
        ctx.push(set, ind);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_half_by_type() {
        assert_eq!(
            ip_of("ip-dst", " 52.178.1.1 ").as_deref(),
            Some("52.178.1.1")
        );
        assert_eq!(
            ip_of("ip-dst|port", "52.178.1.1|8443").as_deref(),
            Some("52.178.1.1")
        );
        assert_eq!(
            ip_of("ip-src|port", "2a01:111:f400::10|4444").as_deref(),
            Some("2a01:111:f400::10")
        );
        assert_eq!(
            ip_of("domain|ip", "bad.example|52.178.1.2").as_deref(),
            Some("52.178.1.2")
        );
        assert_eq!(ip_of("domain", "bad.example"), None);
        assert_eq!(ip_of("md5", "abc"), None);
    }
}
