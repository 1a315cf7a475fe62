//! The counters of a run, per rule and overall: what `hunt` reports and what shows that
//! memory stays bounded.

use kvsentry_intel::SelectionReport;
use serde::Serialize;

/// Counters of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleStats {
    pub rule_id: String,
    /// Events that passed the filter (indicator_match rules: and carried an address).
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
    /// Groups (indicator rules: pairs) evicted, or new ones refused, to keep within
    /// `EngineOptions::max_groups_per_rule` (absent when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub evicted: u64,
    /// Events dropped because what would have held them was evicted: a tumbling window
    /// closed early, an indicator pair that went out early (absent when 0). Not late, so
    /// not in `EngineStats::late_dropped`.
    #[serde(skip_serializing_if = "is_zero")]
    pub evicted_rows: u64,
    /// For indicator_match rules: the selection (mode, what was excluded and why) and matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator: Option<IndicatorRuleStats>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counters of a run, showing that memory stays bounded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    pub events_seen: u64,
    /// Events older than the watermark when they arrived.
    pub late_events: u64,
    /// Late events that no open window could take.
    pub late_dropped: u64,
    /// Events refused for their time (absent when 0): one the engine cannot represent
    /// (before 1677 or after 2262), or more than `EngineOptions::max_ahead` ahead of the
    /// clock. They move no watermark and reach no rule.
    #[serde(skip_serializing_if = "is_zero")]
    pub out_of_range: u64,
    /// Prepared events refused because another engine's preparer made them (absent when
    /// 0; see `Prepared`).
    #[serde(skip_serializing_if = "is_zero")]
    pub foreign_prepared: u64,
    pub rules: Vec<RuleStats>,
}

impl EngineStats {
    pub fn rule(&self, id: &str) -> Option<&RuleStats> {
        self.rules.iter().find(|r| r.rule_id == id)
    }
}

/// What an indicator_match rule selected and matched, for `hunt`'s summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndicatorRuleStats {
    /// `retro`, `as-of <time>`, with ` (compat)`; `none` without threat intelligence.
    pub mode: String,
    /// Indicators the rule matches against.
    pub indicators: usize,
    /// How the selection went (what was excluded and why); `None` without intel.
    pub selection: Option<SelectionReport>,
    /// Why the rule cannot alert, when it cannot (e.g. no threat intelligence loaded).
    pub note: Option<String>,
    /// (event, indicator) matches.
    pub indicator_matches: u64,
    /// Distinct (indicator, address) pairs matched: the run's result rows.
    pub pairs: u64,
    /// At finish: whether the trigger (`gt 0` for the seed) held over the result rows.
    pub triggered: Option<bool>,
    /// Matches of a pair whose alert already went out (`Engine::release_indicator_matches`),
    /// raising nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub repeats: u64,
    /// Alerts raised by retro-matching (`Engine::retro_match`).
    #[serde(skip_serializing_if = "is_zero")]
    pub retro_alerts: u64,
}
