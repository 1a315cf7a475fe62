//! How an engine is set up, and what can go wrong doing so.

use std::fmt;
use std::sync::Arc;

use jiff::SignedDuration;

use crate::evidence::EvidenceSource;
use crate::kinds::indicator::TiMode;

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
    /// `indicator_match` rules run on this schedule of event time, like Sentinel's
    /// scheduled runs: each period `[floor(t, period), +period)` is one run, whose matches
    /// go out (one alert per indicator and address, keeping the period's latest event; the
    /// alert's window is the period, its id names the period's start) when the watermark
    /// passes the period's end, and whose state is then freed. A match of a period already
    /// gone out is late and dropped. `None` (the default): the whole input is one run,
    /// ended by `Engine::finish`.
    pub indicator_schedule: Option<SignedDuration>,
    /// Most groups a rule's state holds at once (over its open windows; for an
    /// indicator_match rule, its (indicator, address) pairs). Past it the engine evicts,
    /// deterministically, and counts it in `RuleStats::evicted`:
    /// - tumbling windows: the oldest open windows close early, as if the watermark had
    ///   passed them (their alerts go out); when the new group's window is the only one
    ///   left, the new group's event is refused; a later event of a window closed early is
    ///   dropped and counted in `RuleStats::evicted_rows`;
    /// - sliding windows: a new group's event is refused;
    /// - indicator_match rules: the pair whose latest event is the oldest goes out as an
    ///   alert (its run ends early) and is remembered (at most this many pairs; with a
    ///   schedule, until its period goes out): a later match of it is counted in `RuleStats::evicted_rows`, never
    ///   alerted again (one id, one alert). While that memory is full, a new pair's match
    ///   is refused instead, counted in `RuleStats::evicted`.
    ///
    /// `None` (the default): unbounded. `Some(0)` is an error.
    pub max_groups_per_rule: Option<usize>,
    /// For a long-running caller that moves time with `Engine::advance_to`: an event more
    /// than this ahead of the clock (the watermark last given to `advance_to` plus
    /// `max_lateness`) is refused and counted in `EngineStats::out_of_range`, so that one
    /// event from a wrong clock cannot move the watermark past every open window. Before
    /// the first `advance_to` (and so in a hunt) there is no such limit. `None` (the
    /// default): no limit. Must not be negative.
    pub max_ahead: Option<SignedDuration>,
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
            indicator_schedule: None,
            max_groups_per_rule: None,
            max_ahead: None,
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
            .field("indicator_schedule", &self.indicator_schedule)
            .field("max_groups_per_rule", &self.max_groups_per_rule)
            .field("max_ahead", &self.max_ahead)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("--explain: no enabled rule has id `{0}`")]
    UnknownExplainRule(String),
    #[error("max lateness must not be negative (got {0})")]
    NegativeLateness(String),
    #[error("the indicator schedule must be a positive duration (got {0})")]
    BadSchedule(String),
    #[error("max ahead must not be negative (got {0})")]
    NegativeMaxAhead(String),
    #[error("the most groups per rule must be at least 1")]
    BadMaxGroups,
    #[error("engine snapshot: {0}")]
    Snapshot(String),
    #[error("rule `{0}`: its kind is not supported by this engine")]
    UnsupportedRule(String),
}
