//! Checkpoints: the engine's mutable state as bytes, and an engine rebuilt from them.
//!
//! A snapshot holds event time (the newest event, the watermark, the arrival counter), the
//! run's counters, and per rule, by id with a fingerprint of the rule's definition, its
//! state (windows, groups and their accumulators, the sliding reorder buffer, indicator
//! pairs) and its counters. Restoring compiles the given rules: a rule whose id and
//! definition match continues from its state, any other starts fresh; the report says
//! which. Not kept: explanations (a debugging aid of one run) and the memory a caller had
//! handed back (`Engine::finish_into_report`).

use std::collections::HashMap;

use kvsentry_rules::RuleSet;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::kinds::{StateIn, StateOut};
use crate::options::{EngineError, EngineOptions};
use crate::stats::RuleStats;

/// The layout of snapshots this engine writes and reads.
const VERSION: u32 = 2;

/// Which rules a restored engine continued and which started fresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Rules whose id and definition match the snapshot's: their state continues.
    pub continued: Vec<String>,
    /// Rules new, or whose definition changed, or whose state's hashes this build cannot
    /// read back (its hashers, given the snapshot's seeds, hash otherwise): fresh state.
    pub fresh: Vec<String>,
    /// Rules of the snapshot the engine no longer has: their state is dropped.
    pub dropped: Vec<String>,
    /// Continued indicator_match rules' pairs dropped because the rule no longer selects
    /// their indicator (e.g. intel loaded anew without it), by rule id; absent when none.
    pub dropped_pairs: Vec<(String, u64)>,
}

/// A rule's counters as a snapshot holds them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Counters {
    events_matched: u64,
    alerts: u64,
    suppressed: u64,
    max_open_windows: u64,
    max_open_groups: u64,
    max_buffered: u64,
    max_window_rows: u64,
    evicted: u64,
    evicted_rows: u64,
    indicator_matches: u64,
    pairs: u64,
    triggered: Option<bool>,
}

impl Counters {
    fn of(s: &RuleStats) -> Counters {
        let ti = s.indicator.as_ref();
        Counters {
            events_matched: s.events_matched,
            alerts: s.alerts,
            suppressed: s.suppressed,
            max_open_windows: s.max_open_windows,
            max_open_groups: s.max_open_groups,
            max_buffered: s.max_buffered,
            max_window_rows: s.max_window_rows,
            evicted: s.evicted,
            evicted_rows: s.evicted_rows,
            indicator_matches: ti.map_or(0, |t| t.indicator_matches),
            pairs: ti.map_or(0, |t| t.pairs),
            triggered: ti.and_then(|t| t.triggered),
        }
    }

    fn apply(self, s: &mut RuleStats) {
        s.events_matched = self.events_matched;
        s.alerts = self.alerts;
        s.suppressed = self.suppressed;
        s.max_open_windows = self.max_open_windows;
        s.max_open_groups = self.max_open_groups;
        s.max_buffered = self.max_buffered;
        s.max_window_rows = self.max_window_rows;
        s.evicted = self.evicted;
        s.evicted_rows = self.evicted_rows;
        if let Some(t) = s.indicator.as_mut() {
            t.indicator_matches = self.indicator_matches;
            t.pairs = self.pairs;
            t.triggered = self.triggered;
        }
    }
}

/// Event time and the run's counters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Clock {
    version: u32,
    max_seen: Option<i64>,
    watermark: Option<i64>,
    seq: u64,
    events_seen: u64,
    late_events: u64,
    late_dropped: u64,
    out_of_range: u64,
    finished: bool,
}

#[derive(Serialize)]
struct SnapOut<'a> {
    clock: Clock,
    rules: Vec<RuleOut<'a>>,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    id: &'a str,
    fingerprint: u64,
    counters: Counters,
    state: StateOut<'a>,
}

/// [`SnapOut`]'s layout, owned.
#[derive(Deserialize)]
struct SnapIn {
    clock: Clock,
    rules: Vec<RuleIn>,
}

#[derive(Deserialize)]
struct RuleIn {
    id: String,
    fingerprint: u64,
    counters: Counters,
    state: StateIn,
}

impl Engine {
    /// The engine's mutable state as bytes (see [`Engine::restore`]), e.g. for a
    /// long-running caller's checkpoints. The engine goes on unchanged.
    pub fn snapshot(&self) -> Result<Vec<u8>, EngineError> {
        let clock = Clock {
            version: VERSION,
            max_seen: self.max_seen,
            watermark: self.watermark,
            seq: self.seq,
            events_seen: self.stats.events_seen,
            late_events: self.stats.late_events,
            late_dropped: self.stats.late_dropped,
            out_of_range: self.stats.out_of_range,
            finished: self.finished,
        };
        let rules = self
            .prep
            .rules
            .iter()
            .zip(&self.states)
            .zip(self.stats.rules.iter().zip(&self.fingerprints))
            .filter_map(|((rule, state), (stats, fp))| {
                Some(RuleOut {
                    id: rule.id(),
                    fingerprint: *fp,
                    counters: Counters::of(stats),
                    state: state.snapshot(rule)?,
                })
            })
            .collect();
        postcard::to_allocvec(&SnapOut { clock, rules })
            .map_err(|e| EngineError::Snapshot(e.to_string()))
    }

    /// An engine for `rules` and `opts` that continues from `snapshot` (made by
    /// [`Engine::snapshot`]): a rule whose id and definition match the snapshot's takes
    /// its state and counters, any other starts fresh (see the report). Event time (the
    /// watermark) continues for every rule: a fresh rule's windows the watermark has passed
    /// are closed, as for the others. An indicator_match rule keeps the pairs of the
    /// indicators it still selects.
    pub fn restore(
        rules: &RuleSet,
        opts: EngineOptions,
        snapshot: &[u8],
    ) -> Result<(Engine, RestoreReport), EngineError> {
        let snap: SnapIn =
            postcard::from_bytes(snapshot).map_err(|e| EngineError::Snapshot(e.to_string()))?;
        if snap.clock.version != VERSION {
            return Err(EngineError::Snapshot(format!(
                "layout {} (this engine reads {VERSION})",
                snap.clock.version
            )));
        }
        let mut engine = Engine::new(rules, opts)?;
        let c = snap.clock;
        engine.max_seen = c.max_seen;
        engine.watermark = c.watermark;
        engine.seq = c.seq;
        engine.stats.events_seen = c.events_seen;
        engine.stats.late_events = c.late_events;
        engine.stats.late_dropped = c.late_dropped;
        engine.stats.out_of_range = c.out_of_range;
        engine.finished = c.finished;
        let mut saved: HashMap<String, RuleIn> =
            snap.rules.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut report = RestoreReport::default();
        let mut fresh = Vec::new();
        // Only this engine holds its rules yet: a continued rule's hashers are reseeded.
        let prep = std::sync::Arc::get_mut(&mut engine.prep)
            .ok_or_else(|| EngineError::Snapshot("the rules are shared already".into()))?;
        for (i, rule) in prep.rules.iter_mut().enumerate() {
            let id = rule.id().to_string();
            let fp = engine.fingerprints.get(i).copied();
            let continued = match saved.remove(&id) {
                Some(r) if Some(r.fingerprint) == fp => {
                    let counters = r.counters;
                    match (rule.restore(r.state), engine.states.get_mut(i)) {
                        (Some((state, dropped)), Some(slot)) => {
                            *slot = state;
                            if dropped > 0 {
                                report.dropped_pairs.push((id.clone(), dropped));
                            }
                            if let Some(s) = engine.stats.rules.get_mut(i) {
                                counters.apply(s);
                            }
                            true
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            if continued {
                report.continued.push(id);
            } else {
                report.fresh.push(id);
                fresh.push(i);
            }
        }
        engine.advance_fresh(&fresh);
        report.dropped = saved.into_keys().collect();
        report.dropped.sort();
        Ok((engine, report))
    }
}
