//! What a rule's state is handed while it works: its counters, where its alerts and
//! explanations go, how evidence is named. Made by the engine for one rule at a time.

use kvsentry_model::Alert;

use crate::evidence::EvidenceSource;
use crate::explain::Explanation;
use crate::stats::RuleStats;

/// An alert ready to go out, with its sort key (see `Engine::flush`).
pub(crate) struct Emitted {
    pub start: i64,
    pub rule_idx: usize,
    pub key: Box<str>,
    pub alert: Alert,
}

pub(crate) struct Env<'a> {
    pub rule_idx: usize,
    pub stats: &'a mut RuleStats,
    pub out: &'a mut Vec<Emitted>,
    /// The rule is explained: its closed windows and groups go here.
    pub explain: Option<&'a mut Vec<Explanation>>,
    /// Names evidence events.
    pub source: Option<&'a EvidenceSource>,
    /// Names the form an event was read in.
    pub form: Option<&'a EvidenceSource>,
    /// Scratch space for a condition's numbers.
    pub buf: &'a mut Vec<f64>,
    /// Closed state is kept for the caller to free (see `Engine::finish_into_report`),
    /// not freed as it closes.
    pub defer_drop: bool,
    /// Most groups (pairs, for indicator rules) the rule's state may hold (see
    /// `EngineOptions::max_groups_per_rule`).
    pub max_groups: Option<usize>,
}
