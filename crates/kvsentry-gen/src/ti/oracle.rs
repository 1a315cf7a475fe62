//! The Sentinel rule restated plainly: which (indicator, caller IP) pairs it must report.

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::row::SentinelIndicatorRow;
use crate::generate::Generator;
use crate::truth::GroundTruth;

/// One (indicator, caller IP) pair the Sentinel rule must report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TiExpectedMatch {
    pub indicator_id: String,
    pub ip: IpAddr,
    /// Latest matching event time (`arg_max(KeyVaultEvents_TimeGenerated)`).
    pub last_event: Timestamp,
    pub expiration: Timestamp,
}

/// The Sentinel rule's semantics at evaluation time `at`, restated plainly:
/// 1. rows with an IP entity (see [`SentinelIndicatorRow::ti_ip_entity`]) and
///    `TimeGenerated >= at - 14 days`, whose address parses and is globally routable
///    (kvsentry's public-only filter; unlike KQL's `ipv4_is_private`, it keeps public IPv6);
/// 2. per `IndicatorId` the row with the latest `TimeGenerated`;
/// 3. kept when `Active` and `ExpirationDateTime > at`;
/// 4. joined with events on the address (compared as parsed addresses, so spelling and case
///    do not matter), keeping events with `since <= time <= at` (all events up to `at` when
///    `since` is `None`) and `time < ExpirationDateTime`;
/// 5. one result per (IndicatorId, IP) with the latest event time.
pub fn ti_expected_matches(
    rows: &[SentinelIndicatorRow],
    events: &[(IpAddr, Timestamp)],
    at: Timestamp,
    since: Option<Timestamp>,
) -> Vec<TiExpectedMatch> {
    let lookback = at - SignedDuration::from_hours(24 * 14);
    let mut latest: BTreeMap<&str, (&SentinelIndicatorRow, IpAddr)> = BTreeMap::new();
    for row in rows {
        let Some(text) = row.ti_ip_entity() else {
            continue;
        };
        if row.time_generated < lookback {
            continue;
        }
        let Some(ip) = kvsentry_model::net::parse_ip(text) else {
            continue;
        };
        if !kvsentry_model::net::is_global(ip) {
            continue;
        }
        match latest.get(row.indicator_id.as_str()) {
            Some((prev, _)) if prev.time_generated >= row.time_generated => {}
            _ => {
                latest.insert(&row.indicator_id, (row, ip));
            }
        }
    }
    let mut out = Vec::new();
    for (id, (row, ip)) in latest {
        if !row.active || row.expiration <= at {
            continue;
        }
        let last = events
            .iter()
            .filter(|(eip, t)| {
                kvsentry_model::net::canonical(*eip) == ip
                    && *t <= at
                    && since.is_none_or(|s| *t >= s)
                    && *t < row.expiration
            })
            .map(|(_, t)| *t)
            .max();
        if let Some(last_event) = last {
            out.push(TiExpectedMatch {
                indicator_id: id.to_string(),
                ip,
                last_event,
                expiration: row.expiration,
            });
        }
    }
    out.sort();
    out
}

/// Says, in each ground-truth record of `g`'s scenarios, whether the threat-intelligence
/// rule must fire on the scenario's calls given the indicator export `rows` evaluated at
/// `at` (the oracle [`ti_expected_matches`]), and updates its `rule_ids`.
pub fn apply_indicators(
    truth: &mut [GroundTruth],
    g: &Generator,
    rows: &[SentinelIndicatorRow],
    at: Timestamp,
) {
    let mut calls: BTreeMap<usize, Vec<(IpAddr, Timestamp)>> = BTreeMap::new();
    for e in g.scenario_events() {
        if let (Some(k), true) = (e.scenario(), e.is_key_vault_audit()) {
            calls.entry(k).or_default().push((e.caller_ip(), e.time()));
        }
    }
    for t in truth {
        let e = &mut t.expected_alert;
        e.ti = calls
            .get(&t.scenario)
            .is_some_and(|c| !ti_expected_matches(rows, c, at, None).is_empty());
        e.set_rule_ids(t.identity.upn.is_some());
    }
}
