//! `--explain`: what the engine records of one rule's windows and groups, and how it reads.

use std::fmt;

use kvsentry_model::TimeWindow;
use kvsentry_rules::ClauseOutcome;
use serde::Serialize;
use serde_json::{Map, Value};

/// Explanations are a debugging aid; past this many the oldest are kept and the rest counted.
pub(crate) const MAX_EXPLANATIONS: usize = 100_000;

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
