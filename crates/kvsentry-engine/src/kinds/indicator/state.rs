//! The stateful stage of one indicator_match rule: the (indicator, address) pairs, and the
//! end of a run.

use std::collections::BinaryHeap;
use std::net::IpAddr;

use foldhash::HashMap;
use kvsentry_intel::Indicator;
use kvsentry_model::{Alert, TimeWindow};
use serde_json::Value;

use super::alert::alert;
use super::record::{Pair, TiRow};
use super::rule::TiRule;
use super::select::IndicatorRuleStats;
use crate::env::{Emitted, Env};
use crate::evidence::EvidenceSource;
use crate::explain::Explanation;
use crate::time::nanos;

/// The stateful stage of one indicator_match rule.
#[derive(Default)]
pub(crate) struct TiState {
    pairs: HashMap<(u32, IpAddr), Pair>,
}

impl TiState {
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Applies one matched event (arrival number `seq`), counted: event time plays no
    /// part, the state keeps the latest event whatever the arrival order.
    pub fn apply(&mut self, rule: &TiRule, row: TiRow, seq: u64, env: &mut Env<'_>) {
        let n = self.push(row, rule.evidence_cap, seq);
        env.stats.events_matched += 1;
        if let Some(ti) = env.stats.indicator.as_mut() {
            ti.indicator_matches += n;
            ti.pairs = self.len() as u64;
        }
    }

    /// The end of the run: the alerts go out, and for the explained rule each pair says
    /// why.
    pub fn finish(&mut self, rule: &TiRule, env: &mut Env<'_>) {
        let mut ti = env.stats.indicator.take().unwrap_or_default();
        let alerts = self.take_alerts(rule, &mut ti, env.source, env.form);
        env.stats.indicator = Some(ti);
        env.stats.alerts += alerts.len() as u64;
        if let Some(ex) = env.explain.as_deref_mut() {
            // Each (indicator, address) pair is this kind's group; its alert says why.
            ex.extend(alerts.iter().map(|a| {
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
        // Already in their order; the engine sorts stably on (time, rule), an empty key
        // keeps it.
        let rule_idx = env.rule_idx;
        env.out.extend(alerts.into_iter().map(|alert| Emitted {
            start: nanos(alert.time),
            rule_idx,
            key: "".into(),
            alert,
        }));
    }

    /// Applies one matched event (line 42: arg_max by IndicatorId, ClientIP).
    fn push(&mut self, row: TiRow, cap: usize, seq: u64) -> u64 {
        let mut ev = row.ev;
        ev.seq = seq;
        let n = row.inds.len() as u64;
        for ind in row.inds {
            match self.pairs.get_mut(&(ind, row.ip)) {
                Some(p) => {
                    p.count += 1;
                    p.first_time = p.first_time.min(ev.time);
                    if cap > 0 {
                        let e = ev.evidence();
                        if p.evidence.len() < cap || p.evidence.peek().is_some_and(|t| e < *t) {
                            p.evidence.push(e);
                            if p.evidence.len() > cap {
                                p.evidence.pop();
                            }
                        }
                    }
                    if ev.order() > p.latest.order() {
                        p.latest = ev.clone();
                    }
                }
                None => {
                    let mut evidence = BinaryHeap::new();
                    if cap > 0 {
                        evidence.push(ev.evidence());
                    }
                    self.pairs.insert(
                        (ind, row.ip),
                        Pair {
                            latest: ev.clone(),
                            count: 1,
                            first_time: ev.time,
                            evidence,
                        },
                    );
                }
            }
        }
        n
    }

    /// End of the run: the alerts, sorted by (event time, indicator id, address), when the
    /// trigger holds over the result rows; the state is emptied.
    fn take_alerts(
        &mut self,
        rule: &TiRule,
        stats: &mut IndicatorRuleStats,
        source: Option<&EvidenceSource>,
        form: Option<&EvidenceSource>,
    ) -> Vec<Alert> {
        let pairs = std::mem::take(&mut self.pairs);
        let results = pairs.len() as u64;
        let fires = rule.trigger.fires(results);
        stats.triggered = Some(fires);
        let Some(sel) = rule.selected.as_ref().filter(|_| fires && results > 0) else {
            return Vec::new();
        };
        // One pass over the selection resolves the matched positions.
        let mut wanted: HashMap<u32, Option<&Indicator>> =
            pairs.keys().map(|(i, _)| (*i, None)).collect();
        for (i, ind) in sel.index.iter().enumerate() {
            if let Some(slot) = u32::try_from(i).ok().and_then(|i| wanted.get_mut(&i)) {
                *slot = Some(ind);
            }
        }
        let mut alerts: Vec<(i64, &str, IpAddr, Alert)> = pairs
            .into_iter()
            .filter_map(|((i, ip), p)| {
                let ind = (*wanted.get(&i)?)?;
                Some((
                    p.latest.time,
                    ind.id.as_str(),
                    ip,
                    alert(rule, ind, ip, p, source, form),
                ))
            })
            .collect();
        alerts.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        alerts.into_iter().map(|(_, _, _, a)| a).collect()
    }
}
