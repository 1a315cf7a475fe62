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
