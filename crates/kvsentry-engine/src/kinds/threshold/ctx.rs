//! What a threshold rule's state is handed while it works, and the end of one window of
//! one group: the condition, the explanation, the alert.

use kvsentry_model::TimeWindow;

use super::acc::Acc;
use super::plan::CompiledRule;
use crate::env::{Emitted, Env};
use crate::explain::{Explanation, MAX_EXPLANATIONS};
use crate::time::timestamp;

/// The rule and what the engine hands its state.
pub(crate) struct Ctx<'a, 'e> {
    pub rule: &'a CompiledRule,
    pub env: &'a mut Env<'e>,
}

impl Ctx<'_, '_> {
    /// Evaluates the condition on a group's window, records the explanation, and emits the
    /// alert unless suppressed. Returns true when an alert went out. `key`: the group's
    /// key, `None` for the accumulator's own (a tumbling group's, see `Acc::first`).
    pub fn conclude(
        &mut self,
        key: Option<&str>,
        acc: &mut Acc,
        start: i64,
        end: i64,
        suppressed_until: Option<i64>,
        note: Option<String>,
    ) -> bool {
        acc.numeric(self.rule, self.env.buf);
        let passed = self.rule.condition.eval(self.env.buf);
        let suppressed = passed && suppressed_until.is_some_and(|u| start < u);
        if passed && suppressed {
            self.env.stats.suppressed += 1;
        }
        let alerted = passed && !suppressed;
        if alerted || self.env.explain.is_some() {
            acc.ensure_full(self.rule);
        }
        if let Some(ex) = self.env.explain.as_deref_mut()
            && ex.len() < MAX_EXPLANATIONS
        {
            let mut clauses = Vec::new();
            self.rule.condition.expr.clauses(self.env.buf, &mut clauses);
            ex.push(Explanation {
                rule_id: self.rule.id.clone(),
                window: TimeWindow {
                    start: timestamp(start),
                    end: timestamp(end),
                },
                group: acc.group_map(self.rule),
                fields: acc.fields(self.rule),
                clauses,
                passed,
                alerted,
                note: if suppressed {
                    Some(format!(
                        "suppressed: the group alerted already until {}",
                        timestamp(suppressed_until.unwrap_or(start))
                    ))
                } else {
                    note
                },
            });
        }
        if alerted {
            self.env.stats.alerts += 1;
            let alert = acc.alert(self.rule, start, end, self.env.source);
            self.env.out.push(Emitted {
                start,
                rule_idx: self.env.rule_idx,
                key: key.unwrap_or_else(|| acc.key()).into(),
                alert,
            });
        }
        alerted
    }
}
