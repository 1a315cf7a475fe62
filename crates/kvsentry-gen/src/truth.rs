//! Ground truth: what each injected scenario is, and which rule variants must alert on it.
//!
//! Computed from the scenario's own events with a deliberately naive evaluator (sort, count),
//! independent of any engine. Each scenario has a dedicated identity that background traffic
//! never uses, so its own events decide alone whether a per-identity rule fires.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::Scenario;
use crate::error::GenError;
use crate::event::Event;
use crate::fmt::{TICKS_PER_MIN, timestamp_of};
use crate::world::World;

/// kvsentry's built-in Elastic rule (a user's burst, grouped by UPN).
pub const ELASTIC_RULE_ID: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
/// kvsentry's built-in burst rule for service principals and managed identities.
pub const APP_RULE_ID: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
/// kvsentry's built-in Sentinel rule matching caller IPs against threat intelligence.
pub const TI_RULE_ID: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";

/// The seed rule's thresholds: at least this many read calls ...
pub const MIN_CALLS: usize = 5;
/// ... of at least this many distinct read operations, by one identity in one window.
pub const MIN_DISTINCT_OPS: usize = 2;

/// Who a scenario's calls come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthIdentity {
    /// `user`, `service_principal` or `managed_identity`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    pub app_id: String,
    pub object_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity_id: Option<String>,
    /// UPN, else app id: the key a principal-grouped rule uses.
    pub principal: String,
}

/// Which rule variants must fire on the scenario. Windows are per identity: the scenario's
/// principal (UPN, else app id), which background traffic never uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedAlert {
    /// Summary: `tumbling` (a `DATE_TRUNC(1 minute)` window qualifies, so a sliding window
    /// does too), `sliding` (only a 60-second sliding window qualifies), `ti` (no burst; the
    /// calls are for indicator matching) or `none`.
    pub rule: String,
    /// A tumbling 1-minute window has >= 5 read calls of >= 2 operations.
    pub tumbling: bool,
    /// Some 60-second window `[t, t+60s)` has >= 5 read calls of >= 2 operations.
    pub sliding: bool,
    /// The Elastic proposal as written (grouped by `identity.claim.upn`, tumbling) fires:
    /// false for service principals and managed identities, which have no UPN.
    pub elastic_upn_rule: bool,
    /// Starts of the tumbling windows that qualify.
    pub tumbling_windows: Vec<Timestamp>,
    /// The built-in rules that must fire on the scenario's calls: [`ELASTIC_RULE_ID`] for a
    /// user's qualifying tumbling window, [`APP_RULE_ID`] for one without a UPN (service
    /// principal, managed identity), [`TI_RULE_ID`] when `ti`. Empty: none may fire (near
    /// misses; a straddle, which only a sliding rule catches).
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// The threat-intelligence rule must fire on the scenario's calls: the indicator export
    /// written with the logs holds an active, unexpired, public indicator of one of its
    /// addresses (see [`apply_indicators`](crate::apply_indicators)). False when no indicators were generated.
    #[serde(default)]
    pub ti: bool,
}

impl ExpectedAlert {
    pub(crate) fn set_rule_ids(&mut self, has_upn: bool) {
        self.rule_ids.clear();
        if self.tumbling {
            let id = if has_upn {
                ELASTIC_RULE_ID
            } else {
                APP_RULE_ID
            };
            self.rule_ids.push(id.to_string());
        }
        if self.ti {
            self.rule_ids.push(TI_RULE_ID.to_string());
        }
    }
}

/// One record per injected scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Position in `GenConfig::scenarios`.
    pub scenario: usize,
    /// Snake-case scenario kind, e.g. `retrieval_burst`.
    pub kind: String,
    pub identity: TruthIdentity,
    /// Resource id of the vault called.
    pub vault: String,
    pub expected_alert: ExpectedAlert,
    /// The first qualifying tumbling window, else the minute of the first event.
    pub window_start: Timestamp,
    /// Time of the first event of the first qualifying sliding window, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_start: Option<Timestamp>,
    pub first_event: Timestamp,
    pub last_event: Timestamp,
    /// Number of events injected.
    pub events: usize,
    /// Read events among them (all of them for bursts).
    pub read_events: usize,
    /// Events that failed (they still count for the rule).
    pub failed_events: usize,
    /// Distinct operations, sorted.
    pub operations: Vec<String>,
    /// Caller addresses used, as written in the records.
    pub ips: Vec<String>,
}

/// Does some window `[t, t + 60 s)` hold enough read calls of enough operations? Returns the
/// start (first event time) of the first one.
pub fn sliding_hit(reads: &[(i64, &str)]) -> Option<i64> {
    let mut sorted: Vec<(i64, &str)> = reads.to_vec();
    sorted.sort();
    for (i, &(t, _)) in sorted.iter().enumerate() {
        let window: Vec<&(i64, &str)> = sorted[i..]
            .iter()
            .take_while(|(u, _)| *u < t + TICKS_PER_MIN)
            .collect();
        let ops: BTreeSet<&str> = window.iter().map(|(_, o)| *o).collect();
        if window.len() >= MIN_CALLS && ops.len() >= MIN_DISTINCT_OPS {
            return Some(t);
        }
    }
    None
}

/// Starts (in ticks) of the calendar minutes with enough read calls of enough operations.
pub fn tumbling_hits(reads: &[(i64, &str)]) -> Vec<i64> {
    let mut per_min: BTreeMap<i64, (usize, BTreeSet<&str>)> = BTreeMap::new();
    for &(t, op) in reads {
        let e = per_min.entry(t.div_euclid(TICKS_PER_MIN)).or_default();
        e.0 += 1;
        e.1.insert(op);
    }
    per_min
        .into_iter()
        .filter(|(_, (n, ops))| *n >= MIN_CALLS && ops.len() >= MIN_DISTINCT_OPS)
        .map(|(m, _)| m * TICKS_PER_MIN)
        .collect()
}

/// One window a burst rule (>= `MIN_CALLS` read calls of >= `MIN_DISTINCT_OPS`
/// operations) alerts on, with the aggregates its alert must carry. Times in 100-ns ticks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NaiveWindow {
    /// `[start, end)`.
    pub start: i64,
    pub end: i64,
    /// Read calls in the window.
    pub calls: usize,
    /// Their distinct operations, sorted.
    pub operations: Vec<String>,
}

fn naive_window(sorted: &[(i64, &str)], start: i64, end: i64) -> NaiveWindow {
    let inside: Vec<&(i64, &str)> = sorted
        .iter()
        .filter(|(t, _)| *t >= start && *t < end)
        .collect();
    let ops: BTreeSet<&str> = inside.iter().map(|(_, o)| *o).collect();
    NaiveWindow {
        start,
        end,
        calls: inside.len(),
        operations: ops.into_iter().map(str::to_string).collect(),
    }
}

fn qualifies(calls: &[&(i64, &str)]) -> bool {
    let ops: BTreeSet<&str> = calls.iter().map(|(_, o)| *o).collect();
    calls.len() >= MIN_CALLS && ops.len() >= MIN_DISTINCT_OPS
}

/// The alerts of a tumbling rule of window `size` (ticks) over one group's read calls: every
/// epoch-aligned window `[floor(t, size), +size)` that qualifies (no suppression).
pub fn tumbling_windows(reads: &[(i64, &str)], size: i64) -> Vec<NaiveWindow> {
    let mut sorted = reads.to_vec();
    sorted.sort();
    let starts: BTreeSet<i64> = sorted
        .iter()
        .map(|(t, _)| t.div_euclid(size) * size)
        .collect();
    starts
        .into_iter()
        .map(|s| naive_window(&sorted, s, s + size))
        .filter(|w| w.calls >= MIN_CALLS && w.operations.len() >= MIN_DISTINCT_OPS)
        .collect()
}

/// The alerts of a sliding rule of window `size` (ticks) over one group's read calls, as
/// the rule format defines them (no suppression): after each call at `t`, in time order,
/// the span `(t - size, t]` is checked; when it qualifies, the alert's window is
/// `[s, s + size)` with `s` the span's earliest call, it covers every call in that window,
/// and calls before its end start no new span.
pub fn sliding_windows(reads: &[(i64, &str)], size: i64) -> Vec<NaiveWindow> {
    let mut sorted = reads.to_vec();
    sorted.sort();
    let mut out = Vec::new();
    let mut resume = i64::MIN;
    for &(t, _) in &sorted {
        if t < resume {
            continue;
        }
        let span: Vec<&(i64, &str)> = sorted
            .iter()
            .filter(|(u, _)| *u >= resume && *u > t - size && *u <= t)
            .collect();
        if qualifies(&span) {
            let s = span.iter().map(|(u, _)| *u).min().unwrap_or(t);
            out.push(naive_window(&sorted, s, s + size));
            resume = s + size;
        }
    }
    out
}

pub(crate) fn evaluate(world: &World, k: usize, sc: &Scenario, evs: &[Event]) -> GroundTruth {
    let reads: Vec<(i64, &str)> = evs
        .iter()
        .filter(|e| e.op.is_read())
        .map(|e| (e.ticks, e.op.name()))
        .collect();
    let tumbling = tumbling_hits(&reads);
    let sliding = sliding_hit(&reads);
    let ident = evs.first().and_then(|e| world.idents.get(e.ident as usize));
    let identity = match ident {
        Some(i) => TruthIdentity {
            kind: i.kind.as_str().to_string(),
            upn: i.upn.clone(),
            app_id: i.app_id.clone(),
            object_id: i.oid.clone(),
            managed_identity_id: i.mirid.clone(),
            principal: i.upn.clone().unwrap_or_else(|| i.app_id.clone()),
        },
        None => TruthIdentity {
            kind: "none".into(),
            upn: None,
            app_id: String::new(),
            object_id: String::new(),
            managed_identity_id: None,
            principal: String::new(),
        },
    };
    let has_upn = identity.upn.is_some();
    let first = evs.iter().map(|e| e.ticks).min().unwrap_or(0);
    let last = evs.iter().map(|e| e.ticks).max().unwrap_or(0);
    let rule = if !tumbling.is_empty() {
        "tumbling"
    } else if sliding.is_some() {
        "sliding"
    } else if matches!(sc, Scenario::CallsFromIps { .. }) {
        "ti"
    } else {
        "none"
    };
    let mut ips: Vec<String> = Vec::new();
    for e in evs {
        let t = &world.ips[e.ip as usize].text;
        if !ips.contains(t) {
            ips.push(t.clone());
        }
    }
    let operations: BTreeSet<&str> = evs.iter().map(|e| e.op.name()).collect();
    let mut expected_alert = ExpectedAlert {
        rule: rule.to_string(),
        tumbling: !tumbling.is_empty(),
        sliding: sliding.is_some(),
        elastic_upn_rule: !tumbling.is_empty() && has_upn,
        tumbling_windows: tumbling.iter().map(|&t| timestamp_of(t)).collect(),
        rule_ids: Vec::new(),
        ti: false,
    };
    expected_alert.set_rule_ids(has_upn);
    GroundTruth {
        scenario: k,
        kind: sc.kind_name().to_string(),
        identity,
        vault: evs
            .first()
            .map(|e| world.vaults[e.vault as usize].resource_id.clone())
            .unwrap_or_default(),
        expected_alert,
        window_start: timestamp_of(
            tumbling
                .first()
                .copied()
                .unwrap_or(first.div_euclid(TICKS_PER_MIN) * TICKS_PER_MIN),
        ),
        sliding_window_start: sliding.map(timestamp_of),
        first_event: timestamp_of(first),
        last_event: timestamp_of(last),
        events: evs.len(),
        read_events: reads.len(),
        failed_events: evs.iter().filter(|e| e.status >= 400).count(),
        operations: operations.into_iter().map(str::to_string).collect(),
        ips,
    }
}

/// Writes ground truth as a pretty JSON array.
pub fn write_ground_truth(truth: &[GroundTruth], mut out: impl Write) -> Result<(), GenError> {
    serde_json::to_writer_pretty(&mut out, truth).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 10_000_000;

    #[test]
    fn windows_are_counted_naively() {
        let m = 1000 * TICKS_PER_MIN;
        // 3 at :50-:58 and 3 at :00-:08 of the next minute.
        let straddle: Vec<(i64, &str)> = [50, 53, 58, 60, 64, 68]
            .iter()
            .zip(["SecretList", "SecretGet", "KeyList"].iter().cycle())
            .map(|(s, o)| (m + s * S, *o))
            .collect();
        assert!(tumbling_hits(&straddle).is_empty());
        assert_eq!(sliding_hit(&straddle), Some(m + 50 * S));
        let single: Vec<(i64, &str)> = (0..6).map(|i| (m + i * S, "SecretGet")).collect();
        assert!(tumbling_hits(&single).is_empty());
        assert_eq!(sliding_hit(&single), None);
        let burst: Vec<(i64, &str)> = (0..5)
            .map(|i| (m + i * S, if i % 2 == 0 { "SecretGet" } else { "KeyGet" }))
            .collect();
        assert_eq!(tumbling_hits(&burst), vec![m]);
        assert_eq!(tumbling_hits(&burst[..4]), Vec::<i64>::new());
    }

    #[test]
    fn naive_windows_with_their_aggregates() {
        let m = 1000 * TICKS_PER_MIN;
        let at = |s: i64, op: &'static str| (m + s * S, op);
        // 3 + 3 across a minute boundary: sliding only.
        let straddle = [
            at(50, "SecretList"),
            at(53, "SecretGet"),
            at(58, "KeyList"),
            at(60, "SecretList"),
            at(64, "SecretGet"),
            at(68, "KeyList"),
        ];
        assert!(tumbling_windows(&straddle, TICKS_PER_MIN).is_empty());
        let w = sliding_windows(&straddle, TICKS_PER_MIN);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].start, w[0].end), (m + 50 * S, m + 110 * S));
        assert_eq!(w[0].calls, 6);
        assert_eq!(w[0].operations, ["KeyList", "SecretGet", "SecretList"]);
        assert_eq!(Some(w[0].start), sliding_hit(&straddle));
        // A call exactly `size` after another is not in its span; after an alert the next
        // span starts at the window's end.
        let mut two: Vec<(i64, &str)> = (0..5)
            .map(|i| at(i, if i == 0 { "KeyGet" } else { "SecretGet" }))
            .collect();
        two.extend((0..5).map(|i| at(60 + i, if i == 4 { "KeyGet" } else { "SecretGet" })));
        let w = sliding_windows(&two, TICKS_PER_MIN);
        assert_eq!(
            w.iter().map(|w| (w.start, w.calls)).collect::<Vec<_>>(),
            [(m, 5), (m + 60 * S, 5)]
        );
        let t = tumbling_windows(&two, TICKS_PER_MIN);
        assert_eq!(
            t.iter().map(|w| (w.start, w.calls)).collect::<Vec<_>>(),
            [(m, 5), (m + TICKS_PER_MIN, 5)]
        );
        assert_eq!(
            t.iter().map(|w| w.start).collect::<Vec<_>>(),
            tumbling_hits(&two)
        );
    }
}
