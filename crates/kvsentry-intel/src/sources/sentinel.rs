//! Microsoft Sentinel exports: the classic `ThreatIntelligenceIndicator` table (the one the
//! seed rule reads) and the STIX-based `ThreatIntelIndicators` table, as JSON (array, wrapped
//! array or lines) or portal CSV (BOM, zone in headers, US-locale times).

use std::borrow::Cow;

use serde_json::Value;

use super::TiFormat;
use super::csv_records::for_each_csv_record;
use super::csv_table::{CsvRow, CsvTable};
use super::ctx::Ctx;
use super::jsonrow::Element;
use super::rows::{JsonRow, Row, is_blank, json_rows};
use crate::error::IntelError;
use crate::model::{
    Indicator, IpColumn, SentinelColumns, parse_bool, parse_confidence, parse_list, parse_network,
};
use crate::set::{IndicatorSet, SKIP_NO_IP, SKIP_UNPARSEABLE_IP};
use crate::store::ClassicRow;

pub(crate) mod json_lines;

/// Loads a Sentinel export (`format` is `Sentinel` or `SentinelStix`).
pub(crate) fn load(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let t = text.trim_start();
    if t.starts_with('[') && load_json_array(t, format, ctx, set) {
        return Ok(());
    }
    if t.starts_with('[') || t.starts_with('{') {
        for (line, obj) in json_rows(text, ctx, set)? {
            row_to_indicator(&JsonRow(&obj), line, format, ctx, set);
        }
        return Ok(());
    }
    // The csv reader takes a `#` comment on a last line without newline for a record.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    let table = CsvTable::new(text, ctx, b'#')?;
    for_each_csv_record(text, &table, ctx, set, |rec, line, ctx, set| {
        let row = CsvRow { rec, table: &table };
        row_to_indicator(&row, line, format, ctx, set);
    });
    Ok(())
}

/// [`load`] for JSON as it was before the array and line fast paths: a `Value` per row.
/// The tests compare the fast paths with it.
#[cfg(test)]
pub(crate) fn load_via_values(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    for (line, obj) in json_rows(text, ctx, set)? {
        row_to_indicator(&JsonRow(&obj), line, format, ctx, set);
    }
    Ok(())
}

/// Loads a JSON array export element by element as [`SparseRow`]s (no `Value` per row),
/// with the same indicators, counts and problems as [`json_rows`]. False, with `ctx` and
/// `set` untouched, when the text is no valid JSON: [`json_rows`] then says why.
fn load_json_array(
    text: &str,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> bool {
    let before = ctx.report.clone();
    // Rows go to a set of their own until the whole text is known to be valid JSON.
    let mut rows = IndicatorSet::new();
    let mut element_problems = Vec::new();
    let read = super::jsonrow::for_each_element(text, |i, e| match e {
        Element::Row(r) => row_to_indicator(&r, i, format, ctx, &mut rows),
        Element::Other(v) => ctx.problem_into(
            &mut element_problems,
            &mut rows,
            i,
            "not a JSON object",
            &v.to_string(),
        ),
    });
    if read.is_err() {
        ctx.report = before;
        return false;
    }
    // [`json_rows`] names every element that is no object before reading any row.
    ctx.list_first(element_problems);
    set.absorb(rows);
    true
}

/// Generic over the row type (not `&dyn Row`): for the JSON-lines scanner's rows the column
/// lookups by name then resolve at compile time instead of matching names per row.
fn row_to_indicator<R: Row>(
    row: &R,
    line: usize,
    format: TiFormat,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) {
    match format {
        TiFormat::SentinelStix => stix_table_row(row, line, ctx, set),
        _ => classic_row(row, line, ctx, set),
    }
}

/// Seed lines 21 and 23-25: the IP column chain, literally. `isempty` is true for null and
/// for `""` (not for whitespace).
pub(crate) fn ip_chain<'r, R: Row + ?Sized>(row: &'r R) -> Option<(IpColumn, Cow<'r, str>)> {
    let nonempty = |c: &str| row.get(c).filter(|v| !v.is_empty());
    // 23: TI_ipEntity = iff(isnotempty(NetworkIP), NetworkIP, NetworkDestinationIP)
    let mut e: Option<(IpColumn, Cow<'r, str>)> = match nonempty("NetworkIP") {
        Some(v) => Some((IpColumn::NetworkIP, v)),
        None => row
            .get("NetworkDestinationIP")
            .map(|v| (IpColumn::NetworkDestinationIP, v)),
    };
    let is_empty =
        |e: &Option<(IpColumn, Cow<'r, str>)>| e.as_ref().is_none_or(|(_, v)| v.is_empty());
    // 24: iff(isempty(TI_ipEntity) and isnotempty(NetworkSourceIP), NetworkSourceIP, TI_ipEntity)
    if is_empty(&e)
        && let Some(v) = nonempty("NetworkSourceIP")
    {
        e = Some((IpColumn::NetworkSourceIP, v));
    }
    // 25: iff(isempty(TI_ipEntity) and isnotempty(EmailSourceIpAddress), EmailSourceIpAddress, TI_ipEntity)
    if is_empty(&e)
        && let Some(v) = nonempty("EmailSourceIpAddress")
    {
        e = Some((IpColumn::EmailSourceIpAddress, v));
    }
    // 21: rows where all four are empty were never selected.
    e.filter(|(_, v)| !v.is_empty())
}

fn text(row: &dyn Row, col: &str) -> Option<String> {
    text_ref(row, col).map(Cow::into_owned)
}

/// The column's text when not blank, borrowed from the row where it can be.
fn text_ref<'r, R: Row + ?Sized>(row: &'r R, col: &str) -> Option<Cow<'r, str>> {
    row.get(col).filter(|v| !is_blank(v))
}

/// A `ThreatIntelligenceIndicator` row. Kept compactly (no [`Indicator`] built): most
/// versions are never selected (`store.rs`).
fn classic_row<R: Row + ?Sized>(row: &R, line: usize, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) {
    let Some((col, ip_text)) = ip_chain(row) else {
        ctx.skip(set, SKIP_NO_IP);
        return;
    };
    let Some(network) = parse_network(&ip_text) else {
        ctx.problem(set, line, SKIP_UNPARSEABLE_IP, &ip_text);
        return;
    };
    let version_time = match row.time("TimeGenerated") {
        Ok(Some(t)) => t,
        Ok(None) => {
            ctx.problem(set, line, "missing TimeGenerated", "");
            return;
        }
        Err(v) => {
            ctx.problem(set, line, "unparseable TimeGenerated", &v);
            return;
        }
    };
    let expiration = match row.time("ExpirationDateTime") {
        Ok(t) => t,
        Err(v) => {
            ctx.problem(set, line, "unparseable ExpirationDateTime", &v);
            return;
        }
    };
    let id = row.get("IndicatorId");
    let source = text_ref(row, "IndicatorProvider").or_else(|| text_ref(row, "SourceSystem"));
    let expiration_text = text_ref(row, "ExpirationDateTime");
    let description = text_ref(row, "Description");
    let threat_type = text_ref(row, "ThreatType");
    let url = text_ref(row, "Url");
    let tags = text_ref(row, "Tags");
    let tlp = text_ref(row, "TrafficLightProtocolLevel");
    let activity_group_names = text_ref(row, "ActivityGroupNames");
    let confidence_score = text_ref(row, "ConfidenceScore");
    let row = ClassicRow {
        id: id.as_deref().unwrap_or(""),
        network,
        value_text: &ip_text,
        ip_column: col,
        version_time,
        expiration,
        expiration_text: expiration_text.as_deref(),
        active: row.get("Active").is_some_and(|v| parse_bool(&v)),
        source: source.as_deref(),
        description: description.as_deref(),
        threat_type: threat_type.as_deref(),
        url: url.as_deref(),
        tags: tags.as_deref(),
        tlp: tlp.as_deref(),
        activity_group_names: activity_group_names.as_deref(),
        confidence_score: confidence_score.as_deref(),
    };
    ctx.push_classic(set, &row, line);
}

const STIX_IP_KEYS: &[&str] = &[
    "ipv4-addr:value",
    "ipv6-addr:value",
    "network-traffic:dst_ref.value",
    "network-traffic:src_ref.value",
];

/// A `ThreatIntelIndicators` (STIX-based) row: IP from `ObservableValue` when
/// `ObservableKey` names an address, else from the STIX `Pattern`.
fn stix_table_row(row: &dyn Row, line: usize, ctx: &mut Ctx<'_>, set: &mut IndicatorSet) {
    let data = row.json("Data");
    let data_str = |k: &str| {
        data.as_ref()
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    let key = row.get("ObservableKey").unwrap_or_default();
    let mut requires_more = false;
    let values: Vec<(IpColumn, String)> = if STIX_IP_KEYS.contains(&key.trim())
        && row.get("ObservableValue").is_some_and(|v| !v.is_empty())
    {
        vec![(
            IpColumn::ObservableValue,
            row.get("ObservableValue").unwrap_or_default().into_owned(),
        )]
    } else if let Some(p) = text(row, "Pattern").or_else(|| data_str("pattern")) {
        match pattern_networks(&p) {
            Ok((nets, more)) => {
                requires_more = more;
                nets.into_iter().map(|s| (IpColumn::Pattern, s)).collect()
            }
            Err(PatternOutcome::NoIp) => {
                ctx.skip(set, SKIP_NO_IP);
                return;
            }
            Err(PatternOutcome::Refused(why)) => {
                ctx.problem(set, line, &why, &p);
                return;
            }
        }
    } else {
        ctx.skip(set, SKIP_NO_IP);
        return;
    };
    let version_time = match row.time("TimeGenerated") {
        Ok(Some(t)) => t,
        Ok(None) => match row.time("Modified") {
            Ok(Some(t)) => t,
            _ => {
                ctx.problem(set, line, "missing TimeGenerated and Modified", "");
                return;
            }
        },
        Err(v) => {
            ctx.problem(set, line, "unparseable TimeGenerated", &v);
            return;
        }
    };
    let (valid_from, expiration) = match (row.time("ValidFrom"), row.time("ValidUntil")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(v), _) | (_, Err(v)) => {
            ctx.problem(set, line, "unparseable ValidFrom/ValidUntil", &v);
            return;
        }
    };
    let Some(base_id) = text(row, "Id").or_else(|| data_str("id")) else {
        ctx.problem(set, line, "missing Id", "");
        return;
    };
    let several = values.len() > 1;
    for (col, value) in values {
        let Some(network) = parse_network(&value) else {
            ctx.problem(set, line, SKIP_UNPARSEABLE_IP, &value);
            continue;
        };
        let id = if several {
            format!("{base_id}#{network}")
        } else {
            base_id.clone()
        };
        let source = text(row, "Source")
            .or_else(|| text(row, "SourceSystem"))
            .unwrap_or_else(|| ctx.file_name());
        let mut ind = Indicator::new(id, network, value, source, version_time, ctx.origin(line));
        ind.description = data_str("description").or_else(|| data_str("name"));
        ind.threat_type = data
            .as_ref()
            .and_then(|d| d.get("indicator_types"))
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .map(str::to_string);
        let confidence_raw = text(row, "Confidence");
        ind.confidence = confidence_raw.as_deref().and_then(parse_confidence);
        ind.tags = text(row, "Tags")
            .as_deref()
            .map(parse_list)
            .unwrap_or_default();
        if let Some(labels) = data
            .as_ref()
            .and_then(|d| d.get("labels"))
            .and_then(Value::as_array)
        {
            ind.tags
                .extend(labels.iter().filter_map(Value::as_str).map(str::to_string));
        }
        if requires_more {
            ind.tags.push(super::stix::TAG_REQUIRES_MORE.to_string());
        }
        ind.tlp = row.json("AdditionalFields").and_then(|a| {
            a.get("TLPLevel")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        ind.valid_from = valid_from;
        ind.expiration = expiration;
        ind.active = row.get("IsActive").is_some_and(|v| parse_bool(&v))
            && !row.get("IsDeleted").is_some_and(|v| parse_bool(&v));
        ind.revoked = row.get("Revoked").is_some_and(|v| parse_bool(&v));
        ind.sentinel = Some(SentinelColumns {
            activity_group_names: None,
            expiration_date_time: text(row, "ValidUntil"),
            confidence_score: confidence_raw,
            ip_column: Some(col),
        });
        ctx.push(set, ind);
    }
}

pub(crate) enum PatternOutcome {
    NoIp,
    Refused(String),
}

/// The networks a STIX pattern names (via `kvsentry-stix`), as text, and whether the pattern
/// needs more than the IP.
pub(crate) fn pattern_networks(p: &str) -> Result<(Vec<String>, bool), PatternOutcome> {
    let parsed = kvsentry_stix::parse_pattern(p)
        .map_err(|e| PatternOutcome::Refused(format!("STIX pattern does not parse: {e}")))?;
    match kvsentry_stix::extract_ips(&parsed) {
        Ok(x) => Ok((
            x.networks
                .iter()
                .map(|n| {
                    if n.prefix_len() == n.max_prefix_len() {
                        n.addr().to_string()
                    } else {
                        n.to_string()
                    }
                })
                .collect(),
            x.requires_more,
        )),
        Err(kvsentry_stix::NoIpReason::NoIpComparison) => Err(PatternOutcome::NoIp),
        Err(r) => Err(PatternOutcome::Refused(
            kvsentry_stix::ProblemReason::from(r).label().to_string(),
        )),
    }
}
