//! `kind: threshold`: aggregates of a group's events over a tumbling or sliding window of
//! event time, and a condition on them.
//!
//! The parts, each depending only on those listed before it:
//! - `value.rs`: the forms a value takes once read from an event;
//! - `aggs.rs`: the state of one aggregate the condition reads;
//! - `plan.rs`: the rule compiled (fields resolved to slots of its rows);
//! - `row.rs`: what one event contributes (made in the stateless stage);
//! - `valset.rs`: capped sets of distinct values, held in a group's text;
//! - `acc.rs`: a group's state in one window, and its alert;
//! - `ctx.rs`: the end of one window of one group (condition, explanation, alert);
//! - `tumbling.rs`, `sliding.rs`: the windows.

mod acc;
mod aggs;
mod ctx;
mod plan;
mod row;
mod sliding;
mod tumbling;
mod valset;
mod value;

pub(crate) use plan::CompiledRule;
pub(crate) use row::Row;

use crate::env::Env;
use ctx::Ctx;
use sliding::Sliding;
use tumbling::Tumbling;

/// The state of one threshold rule: its windows.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum RuleState {
    Tumbling(Tumbling),
    Sliding(Sliding),
}

impl RuleState {
    pub fn new(rule: &CompiledRule) -> RuleState {
        match rule.window {
            kvsentry_rules::WindowType::Tumbling => RuleState::Tumbling(Tumbling::default()),
            kvsentry_rules::WindowType::Sliding => RuleState::Sliding(Sliding::default()),
        }
    }

    /// Takes a row (arrival number `seq`); `late` rows (before the watermark) are applied
    /// only where their window is still open. Returns false when the row was dropped.
    #[inline]
    pub fn apply(
        &mut self,
        rule: &CompiledRule,
        mut row: Row,
        seq: u64,
        late: bool,
        env: &mut Env<'_>,
    ) -> bool {
        row.seq = seq;
        env.stats.events_matched += 1;
        let mut ctx = Ctx { rule, env };
        match self {
            RuleState::Tumbling(t) => t.push(row, late, &mut ctx),
            RuleState::Sliding(s) => s.push(row, late, &mut ctx),
        }
    }

    /// Closes what the watermark `w` has passed.
    pub fn advance(&mut self, rule: &CompiledRule, w: i64, env: &mut Env<'_>) {
        let mut ctx = Ctx { rule, env };
        match self {
            RuleState::Tumbling(t) => t.advance(w, &mut ctx),
            RuleState::Sliding(s) => s.advance(w, &mut ctx),
        }
    }
}
