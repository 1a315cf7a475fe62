//! STIX 2.1 bundles (and object lists, single objects, TAXII envelopes) through
//! `kvsentry-stix`, and the conversion of its [`StixIndicator`] into [`Indicator`]s.

use kvsentry_stix::{IpNet, StixIndicator, parse_bundle, parse_objects};
use serde_json::Value;

use super::ctx::Ctx;
use super::report::{MAX_PROBLEMS_LISTED, Problem};
use crate::error::IntelError;
use crate::model::Indicator;
use crate::set::IndicatorSet;

/// Tag added when the pattern needs more than the IP (AND, FOLLOWEDBY, ...): matching the IP
/// alone over-approximates the indicator, and an analyst should know.
pub const TAG_REQUIRES_MORE: &str = "stix:requires-more";

/// Load-time skip reason: an older version of a STIX indicator that a later `modified` in
/// the same file replaces.
pub const SKIP_SUPERSEDED: &str = "STIX indicator replaced by a later version in the file";
/// Load-time skip reason: a STIX object that is not an indicator (relationship, malware,
/// identity, marking definition, ...).
pub const SKIP_NOT_INDICATOR: &str = "STIX object that is not an indicator";

/// The IP text of a network: the bare address for a single address, else CIDR.
fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

/// One [`Indicator`] per network of a STIX indicator. With one network the id is the STIX
/// id; with several (`[ipv4-addr:value = 'a' OR ipv4-addr:value = 'b']`) each gets
/// `<stix id>#<network>`, so that per-id versioning (seed line 27) keeps all of them.
/// Version time is `modified`; `valid_until` is the expiration; description falls back to
/// `name`; the first `indicator_types` entry is the threat type; labels become tags.
pub fn indicators_from_stix(s: &StixIndicator, source: &str, origin: &str) -> Vec<Indicator> {
    let several = s.networks.len() > 1;
    s.networks
        .iter()
        .map(|net| {
            let id = if several {
                format!("{}#{}", s.id, net)
            } else {
                s.id.clone()
            };
            let mut ind = Indicator::new(
                id,
                kvsentry_model::net::parse_network(&net.to_string()).unwrap_or(*net),
                net_text(net),
                source,
                s.modified,
                origin,
            );
            ind.description = s.description.clone().or_else(|| s.name.clone());
            ind.threat_type = s.indicator_types.first().cloned();
            ind.confidence = s.confidence;
            ind.tags = s.labels.clone();
            if s.requires_more {
                ind.tags.push(TAG_REQUIRES_MORE.to_string());
            }
            ind.tlp = s.tlp.map(|t| t.as_str().to_string());
            ind.url = s.external_references.iter().find_map(|r| r.url.clone());
            ind.valid_from = Some(s.valid_from);
            ind.expiration = s.valid_until;
            ind.revoked = s.revoked;
            ind
        })
        .collect()
}

impl Indicator {
    /// The conversion `StixIndicator -> Indicator` (see [`indicators_from_stix`]): one
    /// indicator per network, with source `stix` and the STIX id as origin.
    pub fn from_stix(s: &StixIndicator) -> Vec<Indicator> {
        indicators_from_stix(s, "stix", &s.id)
    }
}

/// OpenCTI exports indicator entities without the STIX `type` (an object, or an array of
/// them, with `standard_id`, `pattern`, `pattern_type`): give them `type: indicator` and their
/// STIX id so kvsentry-stix reads them. `None` when the text is not such an export.
fn opencti_entities(text: &str) -> Option<Vec<Value>> {
    let v: Value = serde_json::from_str(text).ok()?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return None,
    };
    let is_entity = |o: &Value| {
        o.get("type").is_none() && o.get("pattern").is_some() && o.get("pattern_type").is_some()
    };
    if items.is_empty() || !items.iter().all(is_entity) {
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|mut o| {
                if let Some(m) = o.as_object_mut() {
                    m.insert("type".into(), Value::String("indicator".into()));
                    if let Some(id) = m.get("standard_id").cloned() {
                        m.insert("id".into(), id);
                    }
                }
                o
            })
            .collect(),
    )
}

pub(crate) fn load(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<(), IntelError> {
    let loaded = match opencti_entities(text) {
        Some(objects) => parse_objects(objects),
        None => parse_bundle(text).map_err(|e| IntelError::Format {
            path: ctx.path().to_path_buf(),
            message: e.to_string(),
        })?,
    };
    let source = ctx.file_name();
    // Every object read is accounted for: older versions and objects other than indicators
    // are counted (not listed: they are not faults), unusable indicators are listed.
    ctx.skip_n(set, SKIP_SUPERSEDED, loaded.superseded_versions);
    let others: usize = loaded.skipped_objects_by_type.values().sum();
    ctx.skip_n(set, SKIP_NOT_INDICATOR, others);
    for p in &loaded.problems {
        let reason = p.reason.label();
        ctx.skip(set, reason);
        if ctx.report.problems.len() < MAX_PROBLEMS_LISTED {
            ctx.report.problems.push(Problem {
                origin: format!("{}#{}", ctx.name, p.id),
                reason: reason.to_string(),
                value: p.detail.clone(),
            });
        }
    }
    for s in &loaded.indicators {
        let origin = format!("{}#{}", ctx.name, s.id);
        for ind in indicators_from_stix(s, &source, &origin) {
            ctx.push(set, ind);
        }
    }
    Ok(())
}
