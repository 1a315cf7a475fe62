//! The stateful stage: the rules' states, event time (the watermark and the clock), the
//! counters, and the order alerts go out in.

use std::fmt;
use std::sync::Arc;

use kvsentry_model::{Alert, AuditEvent};
use kvsentry_rules::{Rule, RuleKind, RuleSet};

use crate::env::{Emitted, Env};
use crate::evidence::EvidenceSource;
use crate::explain::Explanation;
use crate::kinds::indicator::{SelectionCache, TiMode};
use crate::kinds::{Compiled, Compiler, RuleRow, State};
use crate::options::{EngineError, EngineOptions};
use crate::prepare::{Prepared, Preparer};
use crate::stats::EngineStats;
use crate::time::{nanos, timestamp};

/// The engine: compiled rules plus their state.
pub struct Engine {
    pub(crate) prep: Arc<Preparer>,
    /// State per rule, in the rules' order.
    pub(crate) states: Vec<State>,
    pub(crate) lateness: i64,
    pub(crate) max_seen: Option<i64>,
    pub(crate) watermark: Option<i64>,
    pub(crate) seq: u64,
    pub(crate) stats: EngineStats,
    pub(crate) explanations: Vec<Explanation>,
    pub(crate) explain_rejected: Vec<u64>,
    source: Option<EvidenceSource>,
    form: Option<EvidenceSource>,
    buf: Vec<f64>,
    pub(crate) finished: bool,
    /// Set by [`Engine::finish_into_report`]: closed state is kept for the caller to free
    /// off its critical path, not freed as it closes.
    defer_drop: bool,
    max_groups: Option<usize>,
    /// `EngineOptions::max_ahead` in nanoseconds.
    max_ahead: Option<i64>,
    /// Events after this are refused (`EngineOptions::max_ahead`): set by `advance_to`.
    pub(crate) ahead_limit: Option<i64>,
    /// The preparer's generation (see `Prepared`), held here to be compared without
    /// reaching into the preparer.
    generation: u64,
    /// Per rule, a fingerprint of its definition (see `snapshot.rs`).
    pub(crate) fingerprints: Vec<u64>,
}

/// What a finished run leaves for its report (see [`Engine::finish_into_report`]).
#[derive(Debug, Clone, Default)]
pub struct FinalReport {
    pub stats: EngineStats,
    /// As [`Engine::explanations`].
    pub explanations: Vec<Explanation>,
    /// As [`Engine::explain_rejections`].
    pub explain_rejections: Vec<(String, u64)>,
}

impl Engine {
    /// Compiles the enabled rules of `rules`.
    pub fn new(rules: &RuleSet, opts: EngineOptions) -> Result<Engine, EngineError> {
        if opts.max_lateness.is_negative() {
            return Err(EngineError::NegativeLateness(format!(
                "{:?}",
                opts.max_lateness
            )));
        }
        let max_ahead = match opts.max_ahead {
            Some(d) if d.is_negative() => {
                return Err(EngineError::NegativeMaxAhead(format!("{d:?}")));
            }
            d => d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        };
        if opts.max_groups_per_rule == Some(0) {
            return Err(EngineError::BadMaxGroups);
        }
        let indicator_schedule = match opts.indicator_schedule {
            None => None,
            Some(d) if d.is_positive() => Some(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Some(d) => return Err(EngineError::BadSchedule(format!("{d:?}"))),
        };
        let mut compiler = Compiler {
            intel: opts.intel.as_deref(),
            ti_mode: opts.ti_mode,
            selections: SelectionCache::default(),
            indicator_schedule,
        };
        let mut compiled = Vec::new();
        let mut fingerprints = Vec::new();
        for r in rules.enabled() {
            fingerprints.push(fingerprint(r, &opts));
            let c = Compiled::compile(r, &mut compiler);
            compiled.push(c.ok_or_else(|| EngineError::UnsupportedRule(r.meta.id.clone()))?);
        }
        let explain = match &opts.explain {
            None => None,
            Some(id) => Some(
                compiled
                    .iter()
                    .position(|r| r.id() == id.as_str())
                    .ok_or_else(|| EngineError::UnknownExplainRule(id.clone()))?,
            ),
        };
        let states = compiled.iter().map(Compiled::new_state).collect();
        let stats = EngineStats {
            rules: compiled.iter().map(|r| r.new_stats(opts.ti_mode)).collect(),
            ..EngineStats::default()
        };
        let n_reasons = explain
            .and_then(|i| compiled.get(i))
            .map_or(0, Compiled::n_reasons);
        let lateness = i64::try_from(opts.max_lateness.as_nanos()).unwrap_or(i64::MAX);
        let prep = Preparer::new(compiled, explain);
        Ok(Engine {
            generation: prep.generation,
            prep: Arc::new(prep),
            states,
            lateness,
            max_seen: None,
            watermark: None,
            seq: 0,
            stats,
            explanations: Vec::new(),
            explain_rejected: vec![0; n_reasons],
            source: opts.evidence_source,
            form: opts.source_form,
            buf: Vec::new(),
            finished: false,
            defer_drop: false,
            max_groups: opts.max_groups_per_rule,
            max_ahead,
            ahead_limit: None,
            fingerprints,
        })
    }

    /// The stateless stage, to run on other threads.
    pub fn preparer(&self) -> Arc<Preparer> {
        Arc::clone(&self.prep)
    }

    /// Runs the filters on one event (see [`Preparer::prepare`]).
    pub fn prepare(&self, ev: &AuditEvent<'_>) -> Prepared {
        self.prep.prepare(ev)
    }

    /// Counts an event that contributes nothing to any rule's state
    /// ([`Prepared::is_empty`]) without moving event time: the counters `observe` would
    /// update (events seen, explain rejections, rules' filter passes without a row). For a
    /// caller that replays the contributing events in time order and tallies the rest aside.
    pub fn tally(&mut self, prepared: &Prepared) {
        if prepared.generation != self.generation {
            self.stats.foreign_prepared += 1;
            return;
        }
        self.count(prepared);
    }

    fn count(&mut self, prepared: &Prepared) {
        self.stats.events_seen += 1;
        if let Some(i) = prepared.explain_reject
            && let Some(c) = self.explain_rejected.get_mut(i)
        {
            *c += 1;
        }
        if !prepared.counted.is_empty() {
            for i in prepared.counted.iter() {
                if let Some(s) = self.stats.rules.get_mut(i) {
                    s.events_matched += 1;
                }
            }
        }
    }

    /// True when `prepared` would arrive behind the watermark (see the crate docs on
    /// lateness): a caller that needs exact windows can reorder instead.
    pub fn is_late(&self, prepared: &Prepared) -> bool {
        self.watermark.is_some_and(|w| prepared.time < w)
    }

    /// Feeds one prepared event; alerts whose windows closed are appended to `out`.
    ///
    /// An event whose time the engine cannot represent (see [`EngineStats::out_of_range`])
    /// or too far ahead of the clock ([`EngineOptions::max_ahead`]) is refused: counted,
    /// and it reaches no rule and moves no watermark. So is one made by another engine's
    /// preparer ([`EngineStats::foreign_prepared`]; see [`Prepared`]).
    pub fn observe(&mut self, prepared: Prepared, out: &mut Vec<Alert>) {
        let t = prepared.time;
        // Times past the `i64` range are saturated when prepared (see `time::nanos`).
        if t == i64::MAX
            || t == i64::MIN
            || self.ahead_limit.is_some_and(|l| t > l)
            || prepared.generation != self.generation
        {
            self.refuse(&prepared);
            return;
        }
        self.count(&prepared);
        let late = self.watermark.is_some_and(|w| t < w);
        if late {
            self.stats.late_events += 1;
        }
        let mut emitted = Vec::new();
        // Rows of kinds with windows, and whether any was taken.
        let mut windowed = false;
        let mut applied_any = false;
        // The first row is applied from where it lies (no chained iterator to move it
        // through: a row is over a hundred bytes).
        if let Some((i, row)) = prepared.first {
            if let Some(taken) = self.apply(i, row, late, &mut emitted) {
                windowed = true;
                applied_any |= taken;
            }
            for (i, row) in prepared.rows {
                if let Some(taken) = self.apply(i, row, late, &mut emitted) {
                    windowed = true;
                    applied_any |= taken;
                }
            }
        }
        if late && windowed && !applied_any {
            self.stats.late_dropped += 1;
        }
        if self.max_seen.is_none_or(|m| t > m) {
            self.max_seen = Some(t);
            let w = t.saturating_sub(self.lateness);
            if self.watermark.is_none_or(|old| w > old) {
                self.watermark = Some(w);
                self.advance(w, &mut emitted);
            }
        }
        Self::flush(emitted, out);
    }

    #[cold]
    fn refuse(&mut self, prepared: &Prepared) {
        if prepared.generation != self.generation {
            // Not this engine's: not counted as an event of its input.
            self.stats.foreign_prepared += 1;
            return;
        }
        self.stats.events_seen += 1;
        self.stats.out_of_range += 1;
    }

    /// Moves the watermark to `watermark` from a clock (a long-running caller's idea of
    /// "now minus the lateness"): every window it passes closes and its alerts are appended
    /// to `out`, exactly as if an event at `watermark + max_lateness` had arrived. The
    /// watermark never moves back: an earlier `watermark` does nothing. Events then behind
    /// it are late (see the crate docs).
    pub fn advance_to(&mut self, watermark: jiff::Timestamp, out: &mut Vec<Alert>) {
        let w = nanos(watermark);
        if let Some(a) = self.max_ahead {
            let limit = w.saturating_add(self.lateness).saturating_add(a);
            if self.ahead_limit.is_none_or(|l| limit > l) {
                self.ahead_limit = Some(limit);
            }
        }
        if self.watermark.is_some_and(|old| w <= old) {
            return;
        }
        self.watermark = Some(w);
        let mut emitted = Vec::new();
        self.advance(w, &mut emitted);
        Self::flush(emitted, out);
    }

    /// Applies one row to rule `i`'s state (see [`State::apply`]).
    #[inline]
    fn apply(
        &mut self,
        i: usize,
        row: RuleRow,
        late: bool,
        emitted: &mut Vec<Emitted>,
    ) -> Option<bool> {
        self.seq += 1;
        let seq = self.seq;
        let (rule, state, mut env) = self.env(i, emitted)?;
        state.apply(rule, row, seq, late, &mut env)
    }

    /// `prepare` then `observe`.
    pub fn push(&mut self, ev: &AuditEvent<'_>, out: &mut Vec<Alert>) {
        let p = self.prepare(ev);
        self.observe(p, out);
    }

    /// For a stream that never ends (serve), at the end of each batch of input: every
    /// (indicator, address) pair an `indicator_match` rule (without a schedule) holds goes
    /// out now as an alert carrying its latest event so far, without ending the run. A
    /// later match of a pair gone out raises nothing (its alert would repeat the id; it is
    /// counted in `IndicatorRuleStats::repeats`), so over a stream the alerts are those of
    /// a run over the whole stream (one per indicator and address, the same ids), each
    /// raised as soon as its first batch ends. The memory of pairs gone out is part of the
    /// snapshot.
    pub fn release_indicator_matches(&mut self, out: &mut Vec<Alert>) {
        let mut emitted = Vec::new();
        for i in 0..self.states.len() {
            if let Some((rule, state, mut env)) = self.env(i, &mut emitted) {
                state.release(rule, &mut env);
            }
        }
        Self::flush(emitted, out);
    }

    /// The indicators the `indicator_match` rules selected from the intel, as (id, value):
    /// before intel is loaded anew, what [`Engine::retro_match`] needs to know as old.
    pub fn selected_indicators(&self) -> std::collections::BTreeSet<(String, String)> {
        self.prep
            .rules
            .iter()
            .flat_map(State::selected_indicators)
            .collect()
    }

    /// Retro-matching, after intel was loaded anew (a restored engine): every indicator
    /// selected now and not in `known` (see [`Engine::selected_indicators`]) is matched
    /// against `history`, the caller addresses seen before with their last sighting. A
    /// match live at that sighting raises the alert of its (indicator, address) pair, once
    /// (the id a run over the events would give), with no event columns and
    /// `"retro": true`; a pair already alerted or held raises nothing.
    pub fn retro_match(
        &mut self,
        known: &std::collections::BTreeSet<(String, String)>,
        history: &[(std::net::IpAddr, jiff::Timestamp)],
        out: &mut Vec<Alert>,
    ) {
        let history: Vec<(std::net::IpAddr, i64)> =
            history.iter().map(|(ip, t)| (*ip, nanos(*t))).collect();
        let mut emitted = Vec::new();
        for i in 0..self.states.len() {
            if let Some((rule, state, mut env)) = self.env(i, &mut emitted) {
                state.retro(rule, known, &history, &mut env);
            }
        }
        Self::flush(emitted, out);
    }

    /// End of a finite stream: closes every open window and ends the indicator_match rules'
    /// run. Alerts come out sorted by (window start or event time, rule id, group); an
    /// indicator_match rule's alerts by (event time, indicator id, address). A second
    /// `finish` emits nothing new.
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        let mut emitted = Vec::new();
        self.watermark = Some(i64::MAX);
        self.advance(i64::MAX, &mut emitted);
        if !self.finished {
            for i in 0..self.states.len() {
                if let Some((rule, state, mut env)) = self.env(i, &mut emitted) {
                    state.finish(rule, &mut env);
                }
            }
        }
        self.finished = true;
        Self::flush(emitted, out);
    }

    /// [`Engine::finish`] for the end of a run: returns the run's report and hands back,
    /// unfreed, the rest of the engine's memory (the groups closed by this last call with
    /// their deferred rows and accumulators, the window state, the compiled rules and the
    /// indicator selection) as [`Leftovers`].
    ///
    /// Why: at the end of a large hunt, tearing down millions of small allocations costs a
    /// visible slice of the run. The caller decides when that cost is paid: drop the
    /// leftovers later, or on another thread ([`Leftovers::drop_in_background`]). Alerts
    /// and stats are exactly those of `finish`.
    pub fn finish_into_report(mut self, out: &mut Vec<Alert>) -> (FinalReport, Leftovers) {
        self.defer_drop = true;
        self.finish(out);
        let report = FinalReport {
            stats: std::mem::take(&mut self.stats),
            explanations: std::mem::take(&mut self.explanations),
            explain_rejections: self.explain_rejections(),
        };
        (report, Leftovers { _engine: self })
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// For the explained rule: every closed window and group that passed its filter.
    pub fn explanations(&self) -> &[Explanation] {
        &self.explanations
    }

    /// For the explained rule: how many events each top-level filter clause rejected
    /// (clause text, count); for a filter that is not an `all`, one entry for the whole.
    /// An indicator_match rule adds why events that passed its filter did not match: no
    /// address, no selected indicator covering it, or covering indicators all expired
    /// before the event.
    pub fn explain_rejections(&self) -> Vec<(String, u64)> {
        let Some(rule) = self.prep.explain.and_then(|i| self.prep.rules.get(i)) else {
            return Vec::new();
        };
        self.explain_rejected
            .iter()
            .enumerate()
            .map(|(i, n)| (rule.reason_text(i), *n))
            .collect()
    }

    /// The current watermark (newest event time minus the lateness, or where
    /// [`Engine::advance_to`] moved it), if any.
    pub fn watermark(&self) -> Option<jiff::Timestamp> {
        self.watermark.map(timestamp)
    }

    /// Rule `i`, its state and what the state is handed while it works.
    fn env<'a>(
        &'a mut self,
        i: usize,
        emitted: &'a mut Vec<Emitted>,
    ) -> Option<(&'a Compiled, &'a mut State, Env<'a>)> {
        let rule = self.prep.rules.get(i)?;
        let state = self.states.get_mut(i)?;
        let stats = self.stats.rules.get_mut(i)?;
        let explain = if self.prep.explain == Some(i) {
            Some(&mut self.explanations)
        } else {
            None
        };
        Some((
            rule,
            state,
            Env {
                rule_idx: i,
                stats,
                out: emitted,
                explain,
                source: self.source.as_ref(),
                form: self.form.as_ref(),
                buf: &mut self.buf,
                defer_drop: self.defer_drop,
                max_groups: self.max_groups,
            },
        ))
    }

    /// Brings the states of rules `fresh` (started anew by a restore) to the watermark the
    /// others continue from: what it passed is closed for them too, as in an unbroken run.
    pub(crate) fn advance_fresh(&mut self, fresh: &[usize]) {
        let Some(w) = self.watermark else {
            return;
        };
        // Fresh states hold nothing: nothing goes out.
        let mut emitted = Vec::new();
        for &i in fresh {
            if let Some((rule, state, mut env)) = self.env(i, &mut emitted) {
                state.advance(rule, w, &mut env);
            }
        }
    }

    fn advance(&mut self, w: i64, emitted: &mut Vec<Emitted>) {
        for i in 0..self.states.len() {
            if let Some((rule, state, mut env)) = self.env(i, emitted) {
                state.advance(rule, w, &mut env);
            }
        }
    }

    fn flush(mut emitted: Vec<Emitted>, out: &mut Vec<Alert>) {
        if emitted.is_empty() {
            return;
        }
        emitted.sort_by(|a, b| (a.start, a.rule_idx, &a.key).cmp(&(b.start, b.rule_idx, &b.key)));
        out.extend(emitted.into_iter().map(|e| e.alert));
    }
}

/// A fingerprint of a rule's detection and of the options that change what its state
/// means, stable across processes (FNV-1a of its detection as JSON and those options).
/// Metadata (name, description, severity, tags) is left out: alerts take it from the rule
/// as it is when they go out, so editing it keeps the rule's open windows. An
/// indicator_match rule's pairs are one run's or one period's by the schedule, and were
/// selected by the mode's kind (retro or as-of; not its time, which a long-running caller
/// moves on each start): a state kept under other such options would be read wrongly, so
/// the rule starts fresh.
pub(crate) fn fingerprint(rule: &Rule, opts: &EngineOptions) -> u64 {
    // A detection JSON cannot print (none known) falls back on the whole rule's YAML.
    let mut text = serde_json::to_string(&(rule.detection.kind(), &rule.detection))
        .unwrap_or_else(|_| rule.to_yaml());
    if rule.detection.kind() == RuleKind::IndicatorMatch {
        let schedule = opts.indicator_schedule.map(|d| d.as_nanos());
        let mode = match opts.ti_mode {
            TiMode::Retro => "retro",
            TiMode::AsOf(_) => "as-of",
        };
        text.push_str(&format!("\n# schedule {schedule:?}, mode {mode}\n"));
    }
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What [`Engine::finish_into_report`] leaves: the finished engine's memory, freed when
/// this is dropped.
pub struct Leftovers {
    _engine: Engine,
}

impl Leftovers {
    /// Frees the memory on a thread of its own, so that the caller goes on at once (a
    /// process that exits first leaves the rest to the operating system).
    pub fn drop_in_background(self) {
        // A thread that cannot be started: the memory is freed here instead.
        let _ = std::thread::Builder::new()
            .name("kvsentry-engine-drop".into())
            .spawn(move || drop(self));
    }
}

impl fmt::Debug for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Leftovers").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preparer_is_send_and_sync() {
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<Preparer>();
        assert_sync::<Prepared>();
        assert_sync::<Engine>();
    }
}
