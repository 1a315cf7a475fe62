//! The stateful stage of one indicator_match rule: the (indicator, address) pairs, and the
//! end of a run.

use std::collections::{BTreeMap, BinaryHeap};
use std::net::IpAddr;

use foldhash::{HashMap, HashSet};
use kvsentry_intel::Indicator;
use kvsentry_model::{Alert, TimeWindow};
use serde_json::Value;

use super::alert::alert;
use super::record::{Pair, TiRow};
use super::rule::TiRule;
use crate::env::{Emitted, Env};
use crate::explain::Explanation;
use crate::stats::IndicatorRuleStats;
use crate::time::nanos;

/// The pairs of one run: (indicator position in the rule's selection, address) → pair.
type Pairs = HashMap<(u32, IpAddr), Pair>;

/// The stateful stage of one indicator_match rule.
#[derive(Default)]
pub(crate) struct TiState {
    /// The one run's pairs (no schedule: the run ends at `finish`).
    pairs: Pairs,
    /// With a schedule (`EngineOptions::indicator_schedule`): each period's pairs, by the
    /// period's start, until the watermark passes the period's end.
    periods: BTreeMap<i64, Pairs>,
    /// With a schedule: every period ending at or before this has gone out.
    emitted_until: Option<i64>,
    /// Bounded state: the pairs that went out early, as (period start, or `NO_PERIOD`
    /// without a schedule; indicator position; address). A later match of one is counted
    /// (`RuleStats::evicted_rows`), not kept: its alert would repeat the id of the one out
    /// already. At most `max_groups_per_rule` entries; those of a period gone out are
    /// forgotten.
    gone: HashSet<(i64, u32, IpAddr)>,
}

/// The period of a pair in `TiState::gone` without a schedule.
const NO_PERIOD: i64 = i64::MIN;

impl TiState {
    /// Pairs held.
    pub fn len(&self) -> usize {
        self.pairs.len() + self.periods.values().map(HashMap::len).sum::<usize>()
    }

    /// Applies one matched event (arrival number `seq`), counted. Without a schedule,
    /// event time plays no part: the state keeps the latest event whatever the arrival
    /// order. With one, the event goes to its period's pairs; false when that period went
    /// out already (the event is too late).
    pub fn apply(&mut self, rule: &TiRule, mut row: TiRow, seq: u64, env: &mut Env<'_>) -> bool {
        env.stats.events_matched += 1;
        let period = match rule.schedule {
            None => NO_PERIOD,
            Some(p) => {
                let start = row.ev.time.div_euclid(p).saturating_mul(p);
                if self
                    .emitted_until
                    .is_some_and(|u| start.saturating_add(p) <= u)
                {
                    return false;
                }
                start
            }
        };
        if period == NO_PERIOD && !self.gone.is_empty() && env.max_groups.is_none() {
            // Pairs released by an earlier `release`: their alert went out, this match
            // would repeat its id.
            let ip = row.ip;
            let before = row.inds.len();
            row.inds
                .retain(|ind| !self.gone.contains(&(NO_PERIOD, *ind, ip)));
            if row.inds.len() < before {
                if let Some(ti) = env.stats.indicator.as_mut() {
                    ti.repeats += 1;
                }
                if row.inds.is_empty() {
                    return true;
                }
            }
        }
        if let Some(max) = env.max_groups {
            self.admit(period, &mut row, max, env);
            if row.inds.is_empty() {
                return true;
            }
        }
        let pairs = match rule.schedule {
            None => &mut self.pairs,
            Some(_) => self.periods.entry(period).or_default(),
        };
        let n = push(pairs, row, rule.evidence_cap, seq);
        if let Some(max) = env.max_groups {
            while self.len() > max && self.evict_oldest(rule, env) {}
        }
        let held = self.len() as u64;
        if let Some(ti) = env.stats.indicator.as_mut() {
            ti.indicator_matches += n;
            ti.pairs = held;
        }
        true
    }

    /// Bounded state: takes out of `row` the indicators whose pair (of `period`) went out
    /// early (counted once in `evicted_rows`), and those that would start a new pair when
    /// no more pair can go out early (`gone` is full; counted in `evicted`, as a refused
    /// group).
    fn admit(&mut self, period: i64, row: &mut TiRow, max: usize, env: &mut Env<'_>) {
        let ip = row.ip;
        let before = row.inds.len();
        row.inds
            .retain(|ind| !self.gone.contains(&(period, *ind, ip)));
        if row.inds.len() < before {
            env.stats.evicted_rows += 1;
        }
        if self.gone.len() >= max && self.len() >= max {
            let pairs = if period == NO_PERIOD {
                &self.pairs
            } else {
                match self.periods.get(&period) {
                    Some(m) => m,
                    None => {
                        env.stats.evicted += row.inds.len() as u64;
                        row.inds.clear();
                        return;
                    }
                }
            };
            let before = row.inds.len();
            row.inds.retain(|ind| pairs.contains_key(&(*ind, ip)));
            env.stats.evicted += (before - row.inds.len()) as u64;
        }
    }

    /// Bounded state (`EngineOptions::max_groups_per_rule`): the pair whose latest event
    /// is the oldest (of the oldest period, with a schedule) goes out as an alert, as if its
    /// run ended, and is remembered in `gone`. False when there is none.
    fn evict_oldest(&mut self, rule: &TiRule, env: &mut Env<'_>) -> bool {
        let (pairs, window) = match rule.schedule {
            None => (&mut self.pairs, None),
            Some(p) => match self.periods.iter_mut().find(|(_, m)| !m.is_empty()) {
                Some((&start, m)) => (m, Some((start, start.saturating_add(p)))),
                None => return false,
            },
        };
        let period = window.map_or(NO_PERIOD, |(start, _)| start);
        let Some(key) = pairs
            .iter()
            .min_by_key(|(k, p)| (p.latest.order(), **k))
            .map(|(k, _)| *k)
        else {
            return false;
        };
        let Some(pair) = pairs.remove(&key) else {
            return false;
        };
        self.gone.insert((period, key.0, key.1));
        let one: Pairs = std::iter::once((key, pair)).collect();
        // The early run's trigger outcome is not the rule's.
        let mut scratch = IndicatorRuleStats::default();
        let alerts = take_alerts(rule, one, &mut scratch, env, window);
        env.stats.evicted += 1;
        emit(rule, alerts, env);
        true
    }

    /// With a schedule: the periods the watermark `w` has passed go out, one alert per
    /// pair, and are forgotten.
    pub fn advance(&mut self, rule: &TiRule, w: i64, env: &mut Env<'_>) {
        let Some(p) = rule.schedule else {
            return;
        };
        while let Some(entry) = self.periods.first_entry() {
            let start = *entry.key();
            let end = start.saturating_add(p);
            if end > w {
                break;
            }
            let pairs = entry.remove();
            let mut ti = env.stats.indicator.take().unwrap_or_default();
            let alerts = take_alerts(rule, pairs, &mut ti, env, Some((start, end)));
            ti.pairs = self.len() as u64;
            env.stats.indicator = Some(ti);
            emit(rule, alerts, env);
        }
        let passed = w.div_euclid(p).saturating_mul(p);
        if self.emitted_until.is_none_or(|u| passed > u) {
            self.emitted_until = Some(passed);
        }
        if !self.gone.is_empty() {
            // Matches of a period gone out are late: its early pairs need no record.
            self.gone
                .retain(|(start, _, _)| start.saturating_add(p) > passed);
        }
    }

    /// Without a schedule, for a run that never ends (serve): every pair held goes out now,
    /// one alert each as at the end of a run (its latest event so far), and is remembered
    /// in `gone`, so a later match of it raises nothing: its alert would repeat the id.
    /// Pairs stay held while the trigger does not hold over them.
    pub fn release(&mut self, rule: &TiRule, env: &mut Env<'_>) {
        if rule.schedule.is_some()
            || self.pairs.is_empty()
            || !rule.trigger.fires(self.pairs.len() as u64)
        {
            return;
        }
        let pairs = std::mem::take(&mut self.pairs);
        self.gone
            .extend(pairs.keys().map(|(ind, ip)| (NO_PERIOD, *ind, *ip)));
        let mut ti = env.stats.indicator.take().unwrap_or_default();
        let alerts = take_alerts(rule, pairs, &mut ti, env, None);
        ti.pairs = 0;
        env.stats.indicator = Some(ti);
        emit(rule, alerts, env);
    }

    /// Remembers the pair (`pos`, `ip`) as gone out; false when it is held or went out
    /// already (its alert exists).
    pub(super) fn remember(&mut self, pos: u32, ip: IpAddr) -> bool {
        !self.pairs.contains_key(&(pos, ip)) && self.gone.insert((NO_PERIOD, pos, ip))
    }

    /// The end of the run: the alerts go out (with a schedule, every period went out as
    /// the watermark passed it, the last ones when `finish` moved it to the end).
    pub fn finish(&mut self, rule: &TiRule, env: &mut Env<'_>) {
        let mut ti = env.stats.indicator.take().unwrap_or_default();
        let alerts = if rule.schedule.is_none() {
            let pairs = std::mem::take(&mut self.pairs);
            take_alerts(rule, pairs, &mut ti, env, None)
        } else {
            if ti.triggered.is_none() {
                ti.triggered = Some(rule.trigger.fires(0));
            }
            Vec::new()
        };
        env.stats.indicator = Some(ti);
        emit(rule, alerts, env);
    }
}

/// Sends a run's alerts out; for the explained rule each pair says why.
pub(super) fn emit(rule: &TiRule, alerts: Vec<Alert>, env: &mut Env<'_>) {
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
    // Already in their order; the engine sorts stably on (time, rule), an empty key keeps
    // it.
    let rule_idx = env.rule_idx;
    env.out.extend(alerts.into_iter().map(|alert| Emitted {
        start: nanos(alert.time),
        rule_idx,
        key: "".into(),
        alert,
    }));
}

/// Applies one matched event (line 42: arg_max by IndicatorId, ClientIP).
fn push(pairs: &mut Pairs, row: TiRow, cap: usize, seq: u64) -> u64 {
    let mut ev = row.ev;
    ev.seq = seq;
    let n = row.inds.len() as u64;
    for ind in row.inds {
        match pairs.get_mut(&(ind, row.ip)) {
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
                pairs.insert(
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

/// The end of a run (with a schedule, of the period `window`): the alerts, sorted by
/// (event time, indicator id, address), when the trigger holds over the result rows.
fn take_alerts(
    rule: &TiRule,
    pairs: Pairs,
    stats: &mut IndicatorRuleStats,
    env: &Env<'_>,
    window: Option<(i64, i64)>,
) -> Vec<Alert> {
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
                alert(rule, ind, ip, p, env.source, env.form, window),
            ))
        })
        .collect();
    alerts.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    alerts.into_iter().map(|(_, _, _, a)| a).collect()
}

/// A rule's pairs in a snapshot, each with its period (with a schedule) and its indicator
/// named by id and value: positions depend on the intel loaded, which a restored engine may
/// load anew.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TiSnap<S, P> {
    pairs: Vec<(Option<i64>, S, S, IpAddr, P)>,
    emitted_until: Option<i64>,
    /// `TiState::gone`, its indicators named likewise.
    gone: Vec<(i64, S, S, IpAddr)>,
}

impl TiState {
    pub fn snapshot<'a>(&'a self, rule: &'a TiRule) -> TiSnap<&'a str, &'a Pair> {
        let names: Vec<(&str, &str)> = rule.selected.as_ref().map_or_else(Vec::new, |s| {
            s.index
                .iter()
                .map(|i| (i.id.as_str(), i.value_text.as_str()))
                .collect()
        });
        let names = &names;
        let period = |p: Option<i64>, m: &'a Pairs| {
            m.iter().filter_map(move |((pos, ip), pair)| {
                let (id, value) = names.get(*pos as usize).copied()?;
                Some((p, id, value, *ip, pair))
            })
        };
        let mut pairs: Vec<_> = period(None, &self.pairs).collect();
        for (start, m) in &self.periods {
            pairs.extend(period(Some(*start), m));
        }
        let gone = self
            .gone
            .iter()
            .filter_map(|(period, pos, ip)| {
                let (id, value) = names.get(*pos as usize).copied()?;
                Some((*period, id, value, *ip))
            })
            .collect();
        TiSnap {
            pairs,
            emitted_until: self.emitted_until,
            gone,
        }
    }

    /// The state of a snapshot, and how many of its pairs were dropped because the rule no
    /// longer selects their indicator.
    pub fn restore(rule: &TiRule, snap: TiSnap<String, Pair>) -> (TiState, u64) {
        let positions: HashMap<(&str, &str), u32> =
            rule.selected.as_ref().map_or_else(HashMap::default, |s| {
                s.index
                    .iter()
                    .enumerate()
                    .filter_map(|(i, ind)| {
                        Some((
                            (ind.id.as_str(), ind.value_text.as_str()),
                            u32::try_from(i).ok()?,
                        ))
                    })
                    .collect()
            });
        let mut state = TiState {
            emitted_until: snap.emitted_until,
            ..TiState::default()
        };
        let mut dropped = 0;
        for (period, id, value, ip, pair) in snap.pairs {
            let Some(&pos) = positions.get(&(id.as_str(), value.as_str())) else {
                dropped += 1;
                continue;
            };
            let pairs = match period {
                None => &mut state.pairs,
                Some(start) => state.periods.entry(start).or_default(),
            };
            pairs.insert((pos, ip), pair);
        }
        for (period, id, value, ip) in snap.gone {
            if let Some(&pos) = positions.get(&(id.as_str(), value.as_str())) {
                state.gone.insert((period, pos, ip));
            }
        }
        (state, dropped)
    }
}
