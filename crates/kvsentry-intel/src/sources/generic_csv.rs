//! CSV lists with a header naming the IP column (abuse.ch Feodo `ipblocklist.csv` and the
//! like). `#` lines (before the header, or `# END 28 entries` after the rows) are comments.
//! The IP column is the one named by [`super::LoadOptions::ip_column`], else the first header
//! matching [`IP_COLUMNS`] (case-insensitive).

use jiff::Timestamp;

use super::csv_records::for_each_csv_record;
use super::csv_table::CsvTable;
use super::ctx::Ctx;
use crate::error::IntelError;
use kvsentry_model::net::parse_network;

use crate::model::{Indicator, parse_confidence, parse_list};
use crate::set::{IndicatorSet, SKIP_NO_IP, SKIP_UNPARSEABLE_IP};
use crate::time::parse_time;

/// Header names recognised as the IP column, in order of preference.
pub const IP_COLUMNS: &[&str] = &[
    "ip",
    "ip_address",
    "ipaddress",
    "ip address",
    "dst_ip",
    "dstip",
    "src_ip",
    "srcip",
    "ip_src",
    "ip_dst",
    "indicator",
    "value",
    "cidr",
    "network",
    "address",
    "ioc",
    "observable",
];

pub(crate) fn load(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    // The csv reader takes a `#` comment on a last line without newline for a record.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        owned.as_str()
    };
    let table = CsvTable::new(text, ctx, b'#')?;
    let ip_idx = match &ctx.opts.ip_column {
        Some(name) => table.find(name),
        None => IP_COLUMNS.iter().find_map(|c| table.find(c)),
    };
    // No IP column but a STIX `pattern` column (OpenCTI CSV export): the IP comes from the
    // pattern.
    let pattern_idx = if ip_idx.is_none() && ctx.opts.ip_column.is_none() {
        table.find("pattern")
    } else {
        None
    };
    let Some(ip_idx) = ip_idx.or(pattern_idx) else {
        if let Some(column) = &ctx.opts.ip_column {
            return Err(IntelError::IpColumnNotFound {
                path: ctx.path().to_path_buf(),
                column: column.clone(),
                headers: table.headers.join(", "),
            });
        }
        return Err(IntelError::NoIpColumn {
            path: ctx.path().to_path_buf(),
            headers: table.headers.join(", "),
        });
    };
    let col = |names: &[&str]| names.iter().find_map(|n| table.find(n));
    let desc_idx = col(&["description", "comment", "name"]);
    let tag_idx = col(&["malware", "malware_family", "threat", "tags", "tag"]);
    let from_idx = col(&["first_seen_utc", "first_seen", "valid_from", "firstseen"]);
    let exp_idx = col(&["expiration", "expires", "valid_until", "expiration_date"]);
    let conf_idx = col(&["confidence", "score"]);
    let revoked_idx = col(&["revoked"]);
    let id_idx = col(&["standard_id", "id"]);
    let source = ctx.file_name();
    for_each_csv_record(text, &table, ctx, set, |rec, line, ctx, set| {
        let get = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(cell) = get(Some(ip_idx)) else {
            ctx.skip(set, SKIP_NO_IP);
            return;
        };
        let pattern_values;
        let values: Vec<&str> = if pattern_idx.is_some() {
            match super::sentinel::pattern_networks(cell) {
                Ok((v, _)) => {
                    pattern_values = v;
                    pattern_values.iter().map(String::as_str).collect()
                }
                Err(super::sentinel::PatternOutcome::NoIp) => {
                    ctx.skip(set, SKIP_NO_IP);
                    return;
                }
                Err(super::sentinel::PatternOutcome::Refused(why)) => {
                    ctx.problem(set, line, &why, cell);
                    return;
                }
            }
        } else {
            vec![cell]
        };
        let several = values.len() > 1;
        for value in values {
            let Some(network) = parse_network(value) else {
                ctx.problem(set, line, SKIP_UNPARSEABLE_IP, value);
                continue;
            };
            let time = |i: Option<usize>| -> Option<Timestamp> {
                get(i).and_then(|t| parse_time(t, None))
            };
            let mut ind = Indicator::new(
                format!("{source}:{value}"),
                network,
                value,
                source.clone(),
                ctx.file_time,
                ctx.origin(line),
            );
            ind.description = get(desc_idx).map(str::to_string);
            ind.tags = get(tag_idx).map(parse_list).unwrap_or_default();
            ind.valid_from = time(from_idx);
            ind.expiration = time(exp_idx);
            ind.confidence = get(conf_idx).and_then(parse_confidence);
            ind.revoked = get(revoked_idx).is_some_and(crate::model::parse_bool);
            if let (Some(id), true) = (get(id_idx), pattern_idx.is_some()) {
                ind.id = if several {
                    format!("{id}#{network}")
                } else {
                    id.to_string()
                };
            }
            ctx.push(set, ind);
        }
    });
    Ok(())
}
