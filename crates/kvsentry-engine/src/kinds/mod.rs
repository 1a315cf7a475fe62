//! Rule kinds, and the one place that dispatches on a rule's kind.
//!
//! A kind is a module beside `threshold/` and `indicator/` with three things: its compiled
//! rule (made once, shared by the reader threads), its row (what one event contributes,
//! made in the stateless stage) and its state (kept by the engine). The engine sees them
//! only through the enums below, each method of which is one `match`. Adding a kind (a
//! sequence, a first-seen, a baseline) is that module plus one arm in each `match` here.

pub(crate) mod indicator;
pub(crate) mod threshold;

use kvsentry_intel::IndicatorSet;
use kvsentry_model::AuditEvent;
use kvsentry_rules::{CompiledFilter, Rule, RuleKind};
use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::stats::RuleStats;
use indicator::{SelectionCache, TiMode};

/// A compiled rule of any kind (one per rule: their sizes do not matter).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Compiled {
    Threshold(threshold::CompiledRule),
    Indicator(indicator::TiRule),
}

/// What one event contributes to one rule, made in the stateless stage. An indicator row
/// is boxed: matches are rare, and unboxed it would double the size every `Prepared`
/// carries in place (its allocation replaces the one of a list of matches).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum RuleRow {
    Threshold(threshold::Row),
    Indicator(Box<indicator::TiRow>),
}

/// The state of one rule.
pub(crate) enum State {
    Threshold(threshold::RuleState),
    Indicator(indicator::TiState),
}

/// A rule's state in a snapshot, borrowed (see `Engine::snapshot`).
#[derive(Serialize)]
pub(crate) enum StateOut<'a> {
    /// The rule's hashers' seeds, their probe (`CompiledRule::hash_probe`), and its
    /// windows.
    Threshold([u64; 2], [u64; 2], &'a threshold::RuleState),
    Indicator(indicator::TiSnap<&'a str, &'a indicator::Pair>),
}

/// A rule's state read back from a snapshot ([`StateOut`]'s layout, owned).
#[derive(Deserialize)]
pub(crate) enum StateIn {
    Threshold([u64; 2], [u64; 2], threshold::RuleState),
    Indicator(indicator::TiSnap<String, indicator::Pair>),
}

/// What the stateless stage found for one rule and event.
pub(crate) enum Outcome {
    /// The event contributes this row.
    Row(RuleRow),
    /// The event counts as matched (it passed the filter) but contributes no row; for the
    /// explained rule, why it did not match.
    Counted(Option<usize>),
    /// The event does not count; for the explained rule, why (an index of the rule's
    /// reasons, see [`Compiled::reason_text`]).
    Rejected(Option<usize>),
}

/// What compiling needs besides the rule.
pub(crate) struct Compiler<'a> {
    pub intel: Option<&'a IndicatorSet>,
    pub ti_mode: TiMode,
    pub selections: SelectionCache,
    /// Indicator rules' scheduled period, in nanoseconds.
    pub indicator_schedule: Option<i64>,
}

impl Compiled {
    /// `None` when this engine does not support the rule's kind.
    pub fn compile(rule: &Rule, c: &mut Compiler<'_>) -> Option<Compiled> {
        match rule.detection.kind() {
            RuleKind::Threshold => threshold::CompiledRule::new(rule).map(Compiled::Threshold),
            RuleKind::IndicatorMatch => indicator::TiRule::new(
                rule,
                c.intel,
                c.ti_mode,
                &mut c.selections,
                c.indicator_schedule,
            )
            .map(Compiled::Indicator),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Compiled::Threshold(r) => &r.id,
            Compiled::Indicator(r) => &r.id,
        }
    }

    /// The rule's filter (`None`: every event passes).
    pub fn filter(&self) -> Option<&CompiledFilter> {
        match self {
            Compiled::Threshold(r) => Some(&r.filter),
            Compiled::Indicator(r) => r.filter.as_ref(),
        }
    }

    /// Entries of `explain_rejections` for this rule.
    pub fn n_reasons(&self) -> usize {
        match self {
            Compiled::Threshold(r) => r.n_clauses(),
            Compiled::Indicator(r) => r.n_clauses() + indicator::WHY_COUNT,
        }
    }

    pub fn reason_text(&self, i: usize) -> String {
        match self {
            Compiled::Threshold(r) => r.filter_source.clause_text(i),
            Compiled::Indicator(r) => r.reason_text(i),
        }
    }

    /// The state of a snapshot taken with this rule's definition (a threshold rule takes
    /// the snapshot's hashers' seeds); `None` when the snapshot's kind is another, or when
    /// its hashes cannot be read back here (the hashers, given its seeds, hash otherwise).
    /// With it, the number of the snapshot's groups dropped (an indicator_match rule's pairs
    /// of indicators it no longer selects).
    pub fn restore(&mut self, snap: StateIn) -> Option<(State, u64)> {
        match (self, snap) {
            (Compiled::Threshold(r), StateIn::Threshold(seeds, probe, s)) => {
                r.set_seeds(seeds);
                (r.hash_probe() == probe).then_some((State::Threshold(s), 0))
            }
            (Compiled::Indicator(r), StateIn::Indicator(s)) => {
                let (state, dropped) = indicator::TiState::restore(r, s);
                Some((State::Indicator(state), dropped))
            }
            _ => None,
        }
    }

    /// A fresh state.
    pub fn new_state(&self) -> State {
        match self {
            Compiled::Threshold(r) => State::Threshold(threshold::RuleState::new(r)),
            Compiled::Indicator(_) => State::Indicator(indicator::TiState::default()),
        }
    }

    /// Counters as a run starts them.
    pub fn new_stats(&self, mode: TiMode) -> RuleStats {
        RuleStats {
            rule_id: self.id().to_string(),
            indicator: match self {
                Compiled::Threshold(_) => None,
                Compiled::Indicator(r) => Some(r.initial_stats(mode)),
            },
            ..RuleStats::default()
        }
    }

    /// The stateless stage of this rule for `ev`, whose filter gave `passed` (the
    /// preparer evaluates every rule's filter together).
    #[inline]
    pub fn prepare(&self, ev: &AuditEvent<'_>, passed: bool, explained: bool) -> Outcome {
        match self {
            Compiled::Threshold(r) => {
                if passed {
                    // One call site, inlined: the row is built where it is kept.
                    Outcome::Row(RuleRow::Threshold(r.row(ev, explained)))
                } else {
                    Outcome::Rejected(if explained {
                        r.filter.first_failing(ev)
                    } else {
                        None
                    })
                }
            }
            Compiled::Indicator(r) if r.selected.is_none() && !explained => {
                // No indicators (no intel loaded): the event is only counted.
                if passed && r.address(ev).is_some() {
                    Outcome::Counted(None)
                } else {
                    Outcome::Rejected(None)
                }
            }
            Compiled::Indicator(r) => match r.prepare(ev, passed, explained) {
                indicator::TiOutcome::Filtered(why) => Outcome::Rejected(why),
                indicator::TiOutcome::NoAddress => {
                    Outcome::Rejected(explained.then(|| r.n_clauses() + indicator::WHY_NO_ADDRESS))
                }
                indicator::TiOutcome::NoMatch(why) => {
                    Outcome::Counted(why.map(|w| r.n_clauses() + w))
                }
                indicator::TiOutcome::Matched(row) => {
                    Outcome::Row(RuleRow::Indicator(Box::new(row)))
                }
            },
        }
    }
}

impl RuleRow {
    /// Bytes the row holds on the heap (an estimate).
    pub fn heap_bytes(&self) -> usize {
        match self {
            RuleRow::Threshold(r) => r.heap_bytes(),
            RuleRow::Indicator(r) => size_of::<indicator::TiRow>() + r.heap_bytes(),
        }
    }
}

impl State {
    /// Applies one row (arrival number `seq`; `late`: behind the watermark). `None` for a
    /// kind without windows; else whether the row was taken (false: dropped as too late).
    #[inline]
    pub fn apply(
        &mut self,
        rule: &Compiled,
        row: RuleRow,
        seq: u64,
        late: bool,
        env: &mut Env<'_>,
    ) -> Option<bool> {
        match (self, rule, row) {
            (State::Threshold(s), Compiled::Threshold(r), RuleRow::Threshold(row)) => {
                Some(s.apply(r, row, seq, late, env))
            }
            (State::Indicator(s), Compiled::Indicator(r), RuleRow::Indicator(row)) => {
                let taken = s.apply(r, *row, seq, env);
                // Without a schedule event time plays no part: nothing is ever too late.
                r.schedule.map(|_| taken)
            }
            _ => None,
        }
    }

    /// The state as a snapshot holds it (`None`: the rule is of another kind).
    pub fn snapshot<'a>(&'a self, rule: &'a Compiled) -> Option<StateOut<'a>> {
        match (self, rule) {
            (State::Threshold(s), Compiled::Threshold(r)) => {
                Some(StateOut::Threshold(r.seeds, r.hash_probe(), s))
            }
            (State::Indicator(s), Compiled::Indicator(r)) => {
                Some(StateOut::Indicator(s.snapshot(r)))
            }
            _ => None,
        }
    }

    /// Closes what the watermark `w` has passed.
    pub fn advance(&mut self, rule: &Compiled, w: i64, env: &mut Env<'_>) {
        match (self, rule) {
            (State::Threshold(s), Compiled::Threshold(r)) => s.advance(r, w, env),
            (State::Indicator(s), Compiled::Indicator(r)) => s.advance(r, w, env),
            _ => {}
        }
    }

    /// A long-running caller's "now": what a kind holds until the end of its run goes out
    /// without ending it (see `Engine::release_indicator_matches`).
    pub fn release(&mut self, rule: &Compiled, env: &mut Env<'_>) {
        match (self, rule) {
            (State::Threshold(_), Compiled::Threshold(_)) => {}
            (State::Indicator(s), Compiled::Indicator(r)) => s.release(r, env),
            _ => {}
        }
    }

    /// Retro-matching (see `Engine::retro_match`).
    pub fn retro(
        &mut self,
        rule: &Compiled,
        known: &std::collections::BTreeSet<(String, String)>,
        history: &[(std::net::IpAddr, i64)],
        env: &mut Env<'_>,
    ) {
        if let (State::Indicator(s), Compiled::Indicator(r)) = (self, rule) {
            s.retro(r, known, history, env);
        }
    }

    /// The indicators an indicator_match rule selected, as (id, value).
    pub fn selected_indicators(rule: &Compiled) -> Vec<(String, String)> {
        match rule {
            Compiled::Indicator(r) => r.selected.as_ref().map_or_else(Vec::new, |s| {
                s.index
                    .iter()
                    .map(|i| (i.id.clone(), i.value_text.clone()))
                    .collect()
            }),
            Compiled::Threshold(_) => Vec::new(),
        }
    }

    /// The end of the run, after every window closed: what a kind emits only then.
    pub fn finish(&mut self, rule: &Compiled, env: &mut Env<'_>) {
        match (self, rule) {
            (State::Threshold(_), Compiled::Threshold(_)) => {}
            (State::Indicator(s), Compiled::Indicator(r)) => s.finish(r, env),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A threshold state whose hashes this build's hashers would not reproduce (its probe
    /// differs) is not restored: the rule starts fresh.
    #[test]
    fn a_state_hashed_otherwise_is_not_restored() {
        let rules = kvsentry_rules::RuleSet::builtin();
        let rule = rules
            .enabled()
            .find(|r| r.detection.kind() == RuleKind::Threshold)
            .unwrap();
        let mut c = Compiler {
            intel: None,
            ti_mode: TiMode::default(),
            selections: SelectionCache::default(),
            indicator_schedule: None,
        };
        let mut compiled = Compiled::compile(rule, &mut c).unwrap();
        let Compiled::Threshold(r) = &compiled else {
            panic!("not a threshold rule");
        };
        let (seeds, probe) = (r.seeds, r.hash_probe());
        let state = || {
            threshold::RuleState::new(match &compiled {
                Compiled::Threshold(r) => r,
                Compiled::Indicator(_) => unreachable!(),
            })
        };
        let (good, bad) = (state(), state());
        assert!(
            compiled
                .restore(StateIn::Threshold(seeds, probe, good))
                .is_some()
        );
        let other = [probe[0] ^ 1, probe[1]];
        assert!(
            compiled
                .restore(StateIn::Threshold(seeds, other, bad))
                .is_none()
        );
        // Other seeds, another probe.
        let Compiled::Threshold(r) = &mut compiled else {
            unreachable!()
        };
        r.set_seeds([seeds[0] ^ 1, seeds[1] ^ 1]);
        assert_ne!(r.hash_probe(), probe);
    }
}
