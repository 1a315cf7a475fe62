//! Push-based evaluation of kvsentry rules over audit events.
//!
//! Events arrive one at a time; each rule keeps bounded state; windows close on *event time*,
//! so the same engine serves `hunt` (a file is a finite stream: call [`Engine::finish`]) and a
//! long-running `serve`.
//!
//! Two stages, so a parallel reader can run the first on many threads:
//! - [`Preparer::prepare`] (`&self`, `Sync`): runs every rule's filter and copies, for the
//!   rules an event passes, its group key and the few values the rule's aggregates need into
//!   a small owned [`Prepared`]. An event that matches no rule allocates nothing.
//! - [`Engine::observe`] (`&mut self`): feeds the prepared rows to the rules' windows and
//!   emits the alerts whose windows the watermark has passed.
//!
//! ## Event time, lateness and the watermark
//! The watermark is the newest event time seen minus `max_lateness`. Events at or after it
//! are handled exactly, whatever their arrival order. Events before it are *late*: they are
//! counted ([`EngineStats::late_events`]) and still applied where their window is open
//! (a tumbling window whose end is after the watermark, a sliding burst not yet emitted),
//! else dropped and counted ([`EngineStats::late_dropped`]). Memory is bounded by the open
//! windows and, for sliding rules, the reorder buffer of the last `max_lateness` of rows.
//!
//! ## Windows
//! - Tumbling: `[floor(t, size), +size)` aligned to the Unix epoch (like ES|QL `DATE_TRUNC`);
//!   an event at exactly 10:01:00.0000000 belongs to the 10:01 window.
//! - Sliding: a burst is caught in any span of the window's length. After each event at `t`
//!   (in time order) the span `(t - size, t]` is evaluated; when the condition holds, the
//!   alert's window is `[s, s + size)` where `s` is the time of the span's earliest event,
//!   its aggregates cover all the group's events in that window, and it is emitted when the
//!   watermark passes the window's end. No new alert for the group until that end plus the
//!   suppression period (events before then start no burst).
//!
//! ## Groups
//! A missing group-by value is a value of its own (null), like ES|QL's null bucket: events
//! without a UPN form one group under a rule grouped by UPN. Rules decide whether such a
//! group may alert (the seed rule's `actor_unique_count == 1` makes it never alert).
//!
//! ## Indicator matches
//! `kind: indicator_match` rules (see [`indicator`] for the step-by-step mapping to
//! Sentinel's KQL) select their indicators from [`EngineOptions::intel`] at [`Engine::new`]
//! ([`EngineOptions::ti_mode`]), match in the stateless stage, keep the latest event per
//! (indicator, address) and emit at [`Engine::finish`]: a hunt is one scheduled run.
//! Without intel such a rule has no indicators (said in [`IndicatorRuleStats::note`]).
//!
//! ## Suppression
//! At most one alert per group per suppression period: a group that alerted for a window
//! ending at `e` does not alert again for windows starting before `e + suppression`
//! (with the default 0, one alert per window).

mod acc;
mod filters;
pub mod indicator;
mod plan;
mod window;

use std::fmt;
use std::sync::Arc;

use jiff::SignedDuration;
use kvsentry_model::{Alert, AuditEvent, Origin, TimeWindow};
use kvsentry_rules::{ClauseOutcome, RuleKind, RuleSet};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::filters::{FilterSet, Memo, Node};
pub use crate::indicator::{IndicatorRuleStats, TiMode};
use crate::indicator::{SelectionCache, TiOutcome, TiRow, TiRule, TiState, WHY_COUNT};
use crate::plan::{CompiledRule, Row, nanos};
use crate::window::{Ctx, Emitted, RuleState};

/// Names the source of an evidence event (`file:line`) from its origin.
pub type EvidenceSource = Arc<dyn Fn(&Origin) -> Option<String> + Send + Sync>;

/// A source naming function from the run's list of inputs: origin `{source: i, line: n}`
/// becomes `"<names[i]>:<n>"`.
pub fn evidence_from_names(names: Vec<String>) -> EvidenceSource {
    Arc::new(move |o: &Origin| {
        let name = names.get(usize::try_from(o.source).ok()?)?;
        Some(if o.line > 0 {
            format!("{name}:{}", o.line)
        } else {
            name.clone()
        })
    })
}

#[derive(Clone)]
pub struct EngineOptions {
    /// How far behind the newest event time an event may arrive and still be handled
    /// exactly (default 1 hour).
    pub max_lateness: SignedDuration,
    /// Record, for this rule id, every closed window and group that passed its filter.
    pub explain: Option<String>,
    /// Names evidence sources; `None` leaves `EvidenceRef::source` empty.
    pub evidence_source: Option<EvidenceSource>,
    /// Names the form an event was read in from its origin (an indicator alert's `type`);
    /// `None` leaves it null.
    pub source_form: Option<EvidenceSource>,
    /// Threat intelligence for `indicator_match` rules; `None`: those rules have no
    /// indicators (they run and cannot alert; their stats say so).
    pub intel: Option<Arc<kvsentry_intel::IndicatorSet>>,
    /// Which indicators `indicator_match` rules select (default: retro hunting).
    pub ti_mode: TiMode,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_lateness: SignedDuration::from_hours(1),
            explain: None,
            evidence_source: None,
            source_form: None,
            intel: None,
            ti_mode: TiMode::default(),
        }
    }
}

impl fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineOptions")
            .field("max_lateness", &self.max_lateness)
            .field("explain", &self.explain)
            .field("evidence_source", &self.evidence_source.is_some())
            .field("intel", &self.intel.as_ref().map(|s| s.len()))
            .field("ti_mode", &self.ti_mode)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("--explain: no enabled rule has id `{0}`")]
    UnknownExplainRule(String),
    #[error("max lateness must not be negative (got {0})")]
    NegativeLateness(String),
    #[error("rule `{0}`: its kind is not supported by this engine")]
    UnsupportedRule(String),
}

/// Counters of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleStats {
    pub rule_id: String,
    /// Events that passed the filter (indicator_match rules: and carried an address; counted
    /// for the first 64 indicator_match rules of a run).
    pub events_matched: u64,
    pub alerts: u64,
    /// Windows whose condition held but which were suppressed.
    pub suppressed: u64,
    /// Most tumbling windows open at once.
    pub max_open_windows: u64,
    /// Most groups held at once (over all open windows).
    pub max_open_groups: u64,
    /// Most rows held in the sliding reorder buffer.
    pub max_buffered: u64,
    /// Most rows held in one sliding group's span.
    pub max_window_rows: u64,
    /// For indicator_match rules: the selection (mode, what was excluded and why) and matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator: Option<IndicatorRuleStats>,
}

/// Counters of a run, showing that memory stays bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    pub events_seen: u64,
    /// Events older than the watermark when they arrived.
    pub late_events: u64,
    /// Late events that no open window could take.
    pub late_dropped: u64,
    pub rules: Vec<RuleStats>,
}

impl EngineStats {
    pub fn rule(&self, id: &str) -> Option<&RuleStats> {
        self.rules.iter().find(|r| r.rule_id == id)
    }
}

/// One closed window and group of the explained rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub rule_id: String,
    pub window: TimeWindow,
    pub group: Map<String, Value>,
    /// The aggregates, as an alert would carry them.
    pub fields: Map<String, Value>,
    /// Each comparison of the condition with its values and outcome.
    #[serde(serialize_with = "ser_clauses")]
    pub clauses: Vec<ClauseOutcome>,
    /// The condition held.
    pub passed: bool,
    /// An alert went out (false when the condition failed or the alert was suppressed).
    pub alerted: bool,
    pub note: Option<String>,
}

fn ser_clauses<S: serde::Serializer>(c: &[ClauseOutcome], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(c.iter().map(ToString::to_string))
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = self
            .group
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, "[{} .. {}) {group}", self.window.start, self.window.end)?;
        if !self.clauses.is_empty() {
            let clauses: Vec<String> = self.clauses.iter().map(ToString::to_string).collect();
            write!(f, ": {}", clauses.join("; "))?;
        }
        write!(
            f,
            " => {}",
            if self.alerted {
                "alert"
            } else if self.passed {
                "suppressed"
            } else {
                "no alert"
            }
        )?;
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// What one event contributes: a row for each rule whose filter it passed.
///
/// Serialisable (e.g. with `postcard`) so that a caller that must reorder a large input can
/// hold rows on disk in their compact form; only the engine that prepared it (same rules,
/// same intel) may observe it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    time: i64,
    /// The first rule's row held in place (an event usually passes one or two rules'
    /// filters), the others in `rows`.
    first: Option<(usize, Row)>,
    rows: Vec<(usize, Row)>,
    /// Indicator matches, one entry per indicator_match rule the event matched.
    ti: Vec<TiRow>,
    /// Bit `n`: the event passed the filter of the `n`-th indicator_match rule and carried
    /// an address (counts without allocating).
    ti_passed: u64,
    /// For the explained rule: the top-level filter clause that rejected the event (for an
    /// indicator_match rule, then the reasons it did not match, see `indicator::WHY_*`).
    explain_reject: Option<usize>,
}

impl Prepared {
    /// True when the event contributes nothing to any rule (passed no threshold rule's
    /// filter, matched no indicator).
    pub fn is_empty(&self) -> bool {
        self.first.is_none() && self.ti.is_empty()
    }

    /// Number of rules the event contributes to.
    pub fn matched_rules(&self) -> usize {
        usize::from(self.first.is_some()) + self.rows.len() + self.ti.len()
    }

    /// The event's time, in nanoseconds since the Unix epoch.
    pub fn time_nanos(&self) -> i64 {
        self.time
    }

    /// Bytes this value holds on the heap (an estimate within a few words), for memory
    /// budgets of callers that hold many.
    pub fn heap_bytes(&self) -> usize {
        let row = |r: &Row| r.text.capacity() + r.slots.capacity() * size_of::<plan::Packed>();
        self.first.as_ref().map_or(0, |(_, r)| row(r))
            + self.rows.capacity() * size_of::<(usize, Row)>()
            + self.rows.iter().map(|(_, r)| row(r)).sum::<usize>()
            + self.ti.capacity() * size_of::<TiRow>()
            + self.ti.iter().map(TiRow::heap_bytes).sum::<usize>()
    }
}

/// A compiled rule of any kind (one per rule: their sizes do not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Compiled {
    Threshold(CompiledRule),
    Indicator(TiRule),
}

impl Compiled {
    fn id(&self) -> &str {
        match self {
            Compiled::Threshold(r) => &r.id,
            Compiled::Indicator(r) => &r.id,
        }
    }

    /// Entries of `explain_rejections` for this rule.
    fn n_reasons(&self) -> usize {
        match self {
            Compiled::Threshold(r) => match &r.filter {
                kvsentry_rules::CompiledFilter::All(v) => v.len(),
                _ => 1,
            },
            Compiled::Indicator(r) => r.n_clauses() + WHY_COUNT,
        }
    }

    fn reason_text(&self, i: usize) -> String {
        match self {
            Compiled::Threshold(r) => r.filter_source.clause_text(i),
            Compiled::Indicator(r) => r.reason_text(i),
        }
    }
}

/// The stateless stage: compiled rules. `Send + Sync`; share it across reader threads.
#[derive(Debug)]
pub struct Preparer {
    rules: Vec<Compiled>,
    explain: Option<usize>,
    /// Every rule's filter over one set of shared tests.
    filters: FilterSet,
    /// Each rule's filter (`None`: an indicator_match rule without one).
    nodes: Vec<Option<Node>>,
}

impl Preparer {
    fn new(rules: Vec<Compiled>, explain: Option<usize>) -> Preparer {
        let mut filters = FilterSet::default();
        let nodes = rules
            .iter()
            .map(|r| match r {
                Compiled::Threshold(r) => Some(filters.add(&r.filter)),
                Compiled::Indicator(r) => r.filter.as_ref().map(|f| filters.add(f)),
            })
            .collect();
        Preparer {
            rules,
            explain,
            filters,
            nodes,
        }
    }

    /// Rule `i`'s filter on `ev` (shared tests evaluated once per event through `memo`).
    #[inline]
    fn passes(&self, i: usize, ev: &AuditEvent<'_>, memo: &mut Memo) -> bool {
        match self.nodes.get(i) {
            Some(Some(n)) => self.filters.eval(n, ev, memo),
            _ => true,
        }
    }
}

impl Preparer {
    /// Runs the filters on one event, and the indicator lookups of indicator_match rules.
    pub fn prepare(&self, ev: &AuditEvent<'_>) -> Prepared {
        let mut first = None;
        let mut rows = Vec::new();
        let mut ti = Vec::new();
        let mut ti_passed = 0u64;
        let mut explain_reject = None;
        let mut memo = Memo::default();
        for (i, r) in self.rules.iter().enumerate() {
            let explained = self.explain == Some(i);
            match r {
                Compiled::Threshold(r) => {
                    if self.passes(i, ev, &mut memo) {
                        // One call site, inlined: the row is built where it is kept.
                        let row = r.row(ev, explained);
                        if first.is_none() {
                            first = Some((i, row));
                        } else {
                            rows.push((i, row));
                        }
                    } else if explained {
                        explain_reject = r.filter.first_failing(ev);
                    }
                }
                Compiled::Indicator(r) if r.selected.is_none() && !explained => {
                    // No indicators (no intel loaded): the event is only counted.
                    if self.passes(i, ev, &mut memo) && r.address(ev).is_some() {
                        if let Some(b) = r.bit {
                            ti_passed |= 1 << b;
                        }
                    }
                }
                Compiled::Indicator(r) => {
                    let outcome = r.prepare(ev, self.passes(i, ev, &mut memo), i, explained);
                    if !matches!(outcome, TiOutcome::Filtered(_) | TiOutcome::NoAddress) {
                        if let Some(b) = r.bit {
                            ti_passed |= 1 << b;
                        }
                    }
                    match outcome {
                        TiOutcome::Filtered(c) => {
                            if c.is_some() {
                                explain_reject = c;
                            }
                        }
                        TiOutcome::NoAddress => {
                            if explained {
                                explain_reject = Some(r.n_clauses() + indicator::WHY_NO_ADDRESS);
                            }
                        }
                        TiOutcome::NoMatch(why) => {
                            if let Some(w) = why {
                                explain_reject = Some(r.n_clauses() + w);
                            }
                        }
                        TiOutcome::Matched(row) => ti.push(row),
                    }
                }
            }
        }
        Prepared {
            time: nanos(ev.time),
            first,
            rows,
            ti,
            ti_passed,
            explain_reject,
        }
    }
}

/// The engine: compiled rules plus their window state.
pub struct Engine {
    prep: Arc<Preparer>,
    /// Window state per rule (`None` for indicator_match rules).
    states: Vec<Option<RuleState>>,
    /// Pair state per rule (`None` for threshold rules).
    ti_states: Vec<Option<TiState>>,
    lateness: i64,
    max_seen: Option<i64>,
    watermark: Option<i64>,
    seq: u64,
    stats: EngineStats,
    explanations: Vec<Explanation>,
    explain_rejected: Vec<u64>,
    source: Option<EvidenceSource>,
    form: Option<EvidenceSource>,
    buf: Vec<f64>,
    finished: bool,
    /// Set by [`Engine::finish_into_report`]: closed groups are kept in `closed` for the
    /// caller to free off its critical path, not freed as their windows close.
    defer_drop: bool,
    closed: Vec<window::ClosedGroups>,
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
        let mut compiled = Vec::new();
        let mut cache = SelectionCache::default();
        let mut ordinal = 0;
        for r in rules.enabled() {
            let c = match r.detection.kind() {
                RuleKind::Threshold => CompiledRule::new(r).map(Compiled::Threshold),
                RuleKind::IndicatorMatch => {
                    ordinal += 1;
                    TiRule::new(
                        r,
                        opts.intel.as_deref(),
                        opts.ti_mode,
                        &mut cache,
                        ordinal - 1,
                    )
                    .map(Compiled::Indicator)
                }
            };
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
        let states = compiled
            .iter()
            .map(|r| match r {
                Compiled::Threshold(r) => Some(RuleState::new(r)),
                Compiled::Indicator(_) => None,
            })
            .collect();
        let ti_states = compiled
            .iter()
            .map(|r| match r {
                Compiled::Threshold(_) => None,
                Compiled::Indicator(_) => Some(TiState::default()),
            })
            .collect();
        let stats = EngineStats {
            rules: compiled
                .iter()
                .map(|r| RuleStats {
                    rule_id: r.id().to_string(),
                    indicator: match r {
                        Compiled::Indicator(t) => Some(t.initial_stats(opts.ti_mode)),
                        Compiled::Threshold(_) => None,
                    },
                    ..RuleStats::default()
                })
                .collect(),
            ..EngineStats::default()
        };
        let n_clauses = explain
            .and_then(|i| compiled.get(i))
            .map_or(0, Compiled::n_reasons);
        let lateness = i64::try_from(opts.max_lateness.as_nanos()).unwrap_or(i64::MAX);
        Ok(Engine {
            prep: Arc::new(Preparer::new(compiled, explain)),
            states,
            ti_states,
            lateness,
            max_seen: None,
            watermark: None,
            seq: 0,
            stats,
            explanations: Vec::new(),
            explain_rejected: vec![0; n_clauses],
            source: opts.evidence_source,
            form: opts.source_form,
            buf: Vec::new(),
            finished: false,
            defer_drop: false,
            closed: Vec::new(),
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
    /// update (events seen, explain rejections, indicator rules' filter passes). For a caller
    /// that replays the contributing events in time order and tallies the rest aside.
    pub fn tally(&mut self, prepared: &Prepared) {
        self.count(prepared);
        self.count_ti_passed(prepared.ti_passed);
    }

    fn count(&mut self, prepared: &Prepared) {
        self.stats.events_seen += 1;
        if let Some(i) = prepared.explain_reject {
            if let Some(c) = self.explain_rejected.get_mut(i) {
                *c += 1;
            }
        }
    }

    /// True when `prepared` would arrive behind the watermark (see the crate docs on
    /// lateness): a caller that needs exact windows can reorder instead.
    pub fn is_late(&self, prepared: &Prepared) -> bool {
        self.watermark.is_some_and(|w| prepared.time < w)
    }

    /// Feeds one prepared event; alerts whose windows closed are appended to `out`.
    pub fn observe(&mut self, prepared: Prepared, out: &mut Vec<Alert>) {
        self.count(&prepared);
        let t = prepared.time;
        let late = self.watermark.is_some_and(|w| t < w);
        if late {
            self.stats.late_events += 1;
        }
        let mut emitted = Vec::new();
        let mut applied_any = false;
        let had_rows = prepared.first.is_some();
        if prepared.ti_passed != 0 || !prepared.ti.is_empty() {
            self.observe_ti(prepared.ti_passed, prepared.ti);
        }
        // The first row is applied from where it lies (no chained iterator to move it
        // through: a row is over a hundred bytes).
        if let Some((i, row)) = prepared.first {
            applied_any |= self.apply(i, row, late, &mut emitted);
            for (i, row) in prepared.rows {
                applied_any |= self.apply(i, row, late, &mut emitted);
            }
        }
        if late && had_rows && !applied_any {
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

    /// Moves the watermark to `watermark` from a clock (a long-running caller's idea of
    /// "now minus the lateness"): every window it passes closes and its alerts are appended
    /// to `out`, exactly as if an event at `watermark + max_lateness` had arrived. The
    /// watermark never moves back: an earlier `watermark` does nothing. Events then behind
    /// it are late (see the crate docs).
    pub fn advance_to(&mut self, watermark: jiff::Timestamp, out: &mut Vec<Alert>) {
        let w = nanos(watermark);
        if self.watermark.is_some_and(|old| w <= old) {
            return;
        }
        self.watermark = Some(w);
        let mut emitted = Vec::new();
        self.advance(w, &mut emitted);
        Self::flush(emitted, out);
    }

    /// Applies one row to rule `i`'s window state; false when it was dropped.
    #[inline]
    fn apply(&mut self, i: usize, mut row: Row, late: bool, emitted: &mut Vec<Emitted>) -> bool {
        self.seq += 1;
        row.seq = self.seq;
        match self.ctx(i, emitted) {
            Some((state, mut ctx)) => {
                ctx.stats.events_matched += 1;
                state.push(row, late, &mut ctx)
            }
            None => false,
        }
    }

    /// `prepare` then `observe`.
    pub fn push(&mut self, ev: &AuditEvent<'_>, out: &mut Vec<Alert>) {
        let p = self.prepare(ev);
        self.observe(p, out);
    }

    /// Indicator matches: counted, then applied to their rules' pair state (event time
    /// plays no part: the state keeps the latest event whatever the arrival order).
    fn observe_ti(&mut self, passed: u64, rows: Vec<TiRow>) {
        self.count_ti_passed(passed);
        for row in rows {
            let i = row.rule;
            let Some(Compiled::Indicator(rule)) = self.prep.rules.get(i) else {
                continue;
            };
            let Some(Some(state)) = self.ti_states.get_mut(i) else {
                continue;
            };
            self.seq += 1;
            let n = state.push(row, rule.evidence_cap, self.seq);
            if let Some(ti) = self
                .stats
                .rules
                .get_mut(i)
                .and_then(|s| s.indicator.as_mut())
            {
                ti.indicator_matches += n;
                ti.pairs = state.len() as u64;
            }
        }
    }

    /// Counts the events that passed indicator_match rules' filters with an address.
    fn count_ti_passed(&mut self, passed: u64) {
        if passed == 0 {
            return;
        }
        for (rule, stats) in self.prep.rules.iter().zip(self.stats.rules.iter_mut()) {
            if let Compiled::Indicator(r) = rule {
                if r.bit.is_some_and(|b| passed & (1 << b) != 0) {
                    stats.events_matched += 1;
                }
            }
        }
    }

    /// End of a finite stream: closes every open window and ends the indicator_match rules'
    /// run. Alerts come out sorted by (window start or event time, rule id, group); an
    /// indicator_match rule's alerts by (event time, indicator id, address).
    pub fn finish(&mut self, out: &mut Vec<Alert>) {
        let mut emitted = Vec::new();
        self.watermark = Some(i64::MAX);
        self.advance(i64::MAX, &mut emitted);
        // A second `finish` ends no second run.
        let rules = if self.finished {
            &[][..]
        } else {
            &self.prep.rules[..]
        };
        for (i, rule) in rules.iter().enumerate() {
            let (Compiled::Indicator(rule), Some(Some(state)), Some(stats)) =
                (rule, self.ti_states.get_mut(i), self.stats.rules.get_mut(i))
            else {
                continue;
            };
            let mut ti = stats.indicator.take().unwrap_or_default();
            let alerts = state.finish(rule, &mut ti, self.source.as_ref(), self.form.as_ref());
            stats.indicator = Some(ti);
            stats.alerts += alerts.len() as u64;
            if self.prep.explain == Some(i) {
                // Each (indicator, address) pair is this kind's group; its alert says why.
                self.explanations.extend(alerts.iter().map(|a| {
                    let count = a.fields.get("event_count").cloned().unwrap_or(Value::Null);
                    Explanation {
                        rule_id: rule.id.clone(),
                        // From the pair's first matching event to its latest.
                        window: a.window.unwrap_or(TimeWindow {
                            start: a
                                .fields
                                .get("first_event_time")
                                .and_then(Value::as_str)
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(a.time),
                            end: a.time,
                        }),
                        group: a.group.clone(),
                        fields: a.fields.clone(),
                        clauses: Vec::new(),
                        passed: true,
                        alerted: true,
                        note: Some(format!(
                            "{count} matching event(s), the latest kept (at {})",
                            a.time
                        )),
                    }
                }));
            }
            // Already in their order; `flush` sorts stably on (time, rule), an empty key
            // keeps it.
            emitted.extend(alerts.into_iter().map(|alert| Emitted {
                start: nanos(alert.time),
                rule_idx: i,
                key: "".into(),
                alert,
            }));
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

    /// The current watermark (newest event time minus the lateness), if any event was seen.
    pub fn watermark(&self) -> Option<jiff::Timestamp> {
        self.watermark.map(plan::timestamp)
    }

    fn ctx<'a>(
        &'a mut self,
        i: usize,
        emitted: &'a mut Vec<Emitted>,
    ) -> Option<(&'a mut RuleState, Ctx<'a>)> {
        let Compiled::Threshold(rule) = self.prep.rules.get(i)? else {
            return None;
        };
        let state = self.states.get_mut(i)?.as_mut()?;
        let stats = self.stats.rules.get_mut(i)?;
        let explain = if self.prep.explain == Some(i) {
            Some(&mut self.explanations)
        } else {
            None
        };
        Some((
            state,
            Ctx {
                rule,
                rule_idx: i,
                stats,
                out: emitted,
                explain,
                source: self.source.as_ref(),
                buf: &mut self.buf,
                closed: if self.defer_drop {
                    Some(&mut self.closed)
                } else {
                    None
                },
            },
        ))
    }

    fn advance(&mut self, w: i64, emitted: &mut Vec<Emitted>) {
        for i in 0..self.states.len() {
            if let Some((state, mut ctx)) = self.ctx(i, emitted) {
                state.advance(w, &mut ctx);
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
