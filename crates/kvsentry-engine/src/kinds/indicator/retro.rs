//! Retro-matching: indicators new to a long-running engine matched against the caller
//! addresses it saw before they arrived (the compact history serve keeps), so an indicator
//! published today alerts on yesterday's access.
//!
//! The history keeps an address and when it was last seen, not the events: such an alert
//! has the id the pair would have had (rule, indicator, address), its time is the last
//! sighting, its event columns are empty, and it says it was raised by retro-matching.

use std::collections::BTreeSet;
use std::net::IpAddr;

use kvsentry_model::{Alert, Field, Origin};
use serde_json::Value;

use super::alert::alert;
use super::record::{EvRec, Pair};
use super::rule::TiRule;
use super::state::TiState;
use crate::env::Env;

/// An origin no input has: the alert names no file and no form.
const NOWHERE: Origin = Origin {
    source: u32::MAX,
    line: 0,
};

impl TiState {
    /// Alerts for the rule's selected indicators not in `known` ((id, value) pairs: those
    /// selected before the intel changed) that cover an address of `history` (address, last
    /// seen, ns) at its last sighting, each pair once (pairs gone out already are skipped and
    /// remembered like released ones). Only rules matching on the caller's address use the
    /// history, which holds caller addresses.
    pub fn retro(
        &mut self,
        rule: &TiRule,
        known: &BTreeSet<(String, String)>,
        history: &[(IpAddr, i64)],
        env: &mut Env<'_>,
    ) {
        if rule.schedule.is_some() || rule.field != Field::CallerIp {
            return;
        }
        let Some(sel) = rule.selected.clone() else {
            return;
        };
        let mut alerts = Vec::new();
        for &(ip, seen) in history {
            for ind in sel.index.matches(ip, crate::time::timestamp(seen)) {
                if known.contains(&(ind.id.clone(), ind.value_text.clone())) {
                    continue;
                }
                let Some(pos) = sel.position(ind) else {
                    continue;
                };
                if !self.remember(pos, ip) {
                    continue;
                }
                let pair = Pair {
                    latest: EvRec::bare(seen, NOWHERE),
                    count: 0,
                    first_time: seen,
                    evidence: Default::default(),
                };
                let mut a = alert(rule, ind, ip, pair, env.source, env.form, None);
                mark_retro(&mut a);
                alerts.push((seen, ind.id.clone(), ip, a));
            }
        }
        alerts.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        if let Some(ti) = env.stats.indicator.as_mut() {
            ti.retro_alerts += alerts.len() as u64;
        }
        super::state::emit(rule, alerts.into_iter().map(|x| x.3).collect(), env);
    }
}

fn mark_retro(a: &mut Alert) {
    a.fields.insert("event_count".into(), Value::Null);
    a.fields.insert("first_event_time".into(), Value::Null);
    a.fields.insert("retro".into(), Value::Bool(true));
    a.fields.insert(
        "retro_note".into(),
        Value::String(
            "raised by retro-matching: the indicator arrived after this address was last \
             seen (event_time); the events are not kept, hunt the logs for the address"
                .into(),
        ),
    );
}
