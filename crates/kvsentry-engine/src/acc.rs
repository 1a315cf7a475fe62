//! Group state: what a group keeps of its events in one window. Only what the aggregates
//! need (counters, hashes of distinct values, capped sorted value sets), the first identity,
//! capped entity values and the earliest evidence: never the events themselves.
//!
//! Every part is independent of arrival order (distinct sets, the smallest values kept when
//! capped, the earliest events as evidence), so out-of-order input gives the same alert.

use std::collections::{BTreeSet, BinaryHeap};
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::{HashSet, HashSetExt};
use kvsentry_model::{Alert, Entity, EvidenceRef, Origin, TimeWindow};
use kvsentry_rules::Aggregate;
use serde_json::{Map, Value};

use crate::plan::{CompiledRule, Row, Slot, Val, timestamp};

/// Entity lists are capped at this many values each.
pub(crate) const ENTITY_CAP: usize = 10;

/// Hash of a slot's value for distinct counting (64-bit: collisions are negligible).
pub(crate) fn hash_slot(row: &Row, i: usize) -> Option<u64> {
    let mut h = foldhash::fast::FixedState::with_seed(0x6b76_7365_6e74_7279).build_hasher();
    match row.slot(i) {
        Slot::Missing => return None,
        Slot::Str(..) => {
            0u8.hash(&mut h);
            row.str_of(i).unwrap_or("").hash(&mut h);
        }
        Slot::Int(n) => {
            1u8.hash(&mut h);
            n.hash(&mut h);
        }
        Slot::Ip(ip) => {
            2u8.hash(&mut h);
            ip.hash(&mut h);
        }
        Slot::Time(t) => {
            3u8.hash(&mut h);
            t.hash(&mut h);
        }
    }
    Some(h.finish())
}

/// Distinct values, the smallest `cap` kept.
#[derive(Debug, Default, Clone)]
pub(crate) struct Capped {
    pub set: BTreeSet<Val>,
    pub truncated: bool,
}

impl Capped {
    pub fn insert(&mut self, v: Val, cap: usize) {
        if self.set.len() >= cap {
            if self.set.last().is_some_and(|last| &v >= last) {
                if !self.set.contains(&v) {
                    self.truncated = true;
                }
                return;
            }
            if self.set.contains(&v) {
                return;
            }
            self.set.insert(v);
            self.set.pop_last();
            self.truncated = true;
        } else {
            self.set.insert(v);
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum AggState {
    Count(u64),
    Distinct(HashSet<u64>),
    Values(Capped),
    Min(Option<Val>),
    Max(Option<Val>),
}

/// Time, source, line, arrival: the order of events whatever their arrival order.
pub(crate) type OrderKey = (i64, u32, u64, u64);

/// One evidence event (ordered by time then origin, so the heap keeps the earliest).
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub key: OrderKey,
    pub operation: String,
    pub correlation_id: Option<String>,
    pub origin: Origin,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Acc {
    pub group: Vec<Option<Val>>,
    pub count: u64,
    pub aggs: Vec<AggState>,
    /// Earliest event's identity (order key, upn, object id, app id).
    pub first: Option<(OrderKey, [Option<String>; 3])>,
    pub ips: Capped,
    pub resources: Capped,
    pub evidence: BinaryHeap<Ev>,
}

impl Acc {
    pub fn new(rule: &CompiledRule, first: &Row) -> Acc {
        Acc {
            group: rule.group_slots.iter().map(|&s| first.value(s)).collect(),
            count: 0,
            aggs: rule
                .aggs
                .iter()
                .map(|(_, a, _)| match a {
                    Aggregate::Count(_) => AggState::Count(0),
                    Aggregate::CountDistinct(_) => AggState::Distinct(HashSet::new()),
                    Aggregate::Values(_) => AggState::Values(Capped::default()),
                    Aggregate::Min(_) => AggState::Min(None),
                    Aggregate::Max(_) => AggState::Max(None),
                })
                .collect(),
            first: None,
            ips: Capped::default(),
            resources: Capped::default(),
            evidence: BinaryHeap::new(),
        }
    }

    pub fn add(&mut self, rule: &CompiledRule, row: &Row) {
        self.count += 1;
        for (st, (_, _, slot)) in self.aggs.iter_mut().zip(&rule.aggs) {
            match (st, slot) {
                (AggState::Count(n), None) => *n += 1,
                (AggState::Count(n), Some(s)) if row.slot(*s) != Slot::Missing => *n += 1,
                (AggState::Distinct(set), Some(s)) => {
                    if let Some(h) = hash_slot(row, *s) {
                        set.insert(h);
                    }
                }
                (AggState::Values(c), Some(s)) => {
                    if let Some(v) = row.value(*s) {
                        c.insert(v, rule.values_cap);
                    }
                }
                (AggState::Min(m), Some(s)) => {
                    if let Some(v) = row.value(*s) {
                        if m.as_ref().is_none_or(|cur| v < *cur) {
                            *m = Some(v);
                        }
                    }
                }
                (AggState::Max(m), Some(s)) => {
                    if let Some(v) = row.value(*s) {
                        if m.as_ref().is_none_or(|cur| v > *cur) {
                            *m = Some(v);
                        }
                    }
                }
                _ => {}
            }
        }
        let key = row.order_key();
        if rule.account && self.first.as_ref().is_none_or(|(k, _)| key < *k) {
            let get = |s: Option<usize>| s.and_then(|s| row.value(s)).map(|v| v.to_text());
            self.first = Some((
                key,
                [get(rule.upn_slot), get(rule.oid_slot), get(rule.appid_slot)],
            ));
        }
        if let Some(v) = rule.ip_slot.and_then(|s| row.value(s)) {
            self.ips.insert(v, ENTITY_CAP);
        }
        if let Some(v) = rule.resource_slot.and_then(|s| row.value(s)) {
            self.resources.insert(v, ENTITY_CAP);
        }
        if rule.evidence_cap > 0 {
            let full = self.evidence.len() >= rule.evidence_cap;
            if !full || self.evidence.peek().is_some_and(|top| key < top.key) {
                self.evidence.push(Ev {
                    key,
                    operation: rule
                        .op_slot
                        .and_then(|s| row.value(s))
                        .map(|v| v.to_text())
                        .unwrap_or_default(),
                    correlation_id: rule
                        .corr_slot
                        .and_then(|s| row.value(s))
                        .map(|v| v.to_text()),
                    origin: row.origin,
                });
                if self.evidence.len() > rule.evidence_cap {
                    self.evidence.pop();
                }
            }
        }
    }

    /// The aggregates as numbers for the condition (NaN for non-numeric ones).
    pub fn numeric(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.aggs.iter().map(|a| match a {
            AggState::Count(n) => *n as f64,
            AggState::Distinct(s) => s.len() as f64,
            AggState::Values(_) => f64::NAN,
            AggState::Min(v) | AggState::Max(v) => v.as_ref().map_or(f64::NAN, Val::as_f64),
        }));
    }

    /// The aggregates by name, as alerts carry them.
    pub fn fields(&self, rule: &CompiledRule) -> Map<String, Value> {
        let mut m = Map::new();
        for (st, (name, _, _)) in self.aggs.iter().zip(&rule.aggs) {
            match st {
                AggState::Count(n) => {
                    m.insert(name.clone(), Value::from(*n));
                }
                AggState::Distinct(s) => {
                    m.insert(name.clone(), Value::from(s.len() as u64));
                }
                AggState::Values(c) => {
                    m.insert(
                        name.clone(),
                        Value::Array(c.set.iter().map(Val::to_json).collect()),
                    );
                    if c.truncated {
                        m.insert(format!("{name}_truncated"), Value::Bool(true));
                    }
                }
                AggState::Min(v) | AggState::Max(v) => {
                    m.insert(name.clone(), v.as_ref().map_or(Value::Null, Val::to_json));
                }
            }
        }
        m
    }

    pub fn group_map(&self, rule: &CompiledRule) -> Map<String, Value> {
        rule.group_fields
            .iter()
            .zip(&self.group)
            .map(|(f, v)| {
                (
                    f.name().to_string(),
                    v.as_ref().map_or(Value::Null, Val::to_json),
                )
            })
            .collect()
    }

    /// Builds the alert for window `[start, end)`.
    pub fn alert(
        &self,
        rule: &CompiledRule,
        start: i64,
        end: i64,
        source: Option<&crate::EvidenceSource>,
    ) -> Alert {
        let start_ts = timestamp(start);
        let end_ts = timestamp(end);
        let mut key: Vec<String> = Vec::with_capacity(1 + self.group.len());
        key.push(start_ts.to_string());
        key.extend(
            self.group
                .iter()
                .map(|v| v.as_ref().map(Val::to_text).unwrap_or_default()),
        );
        let mut entities = Vec::new();
        if let Some((_, [upn, oid, appid])) = &self.first {
            if upn.is_some() || oid.is_some() || appid.is_some() {
                entities.push(Entity::Account {
                    upn: upn.clone(),
                    object_id: oid.clone(),
                    app_id: appid.clone(),
                });
            }
        }
        entities.extend(self.ips.set.iter().map(|v| Entity::Ip {
            address: v.to_text(),
        }));
        entities.extend(self.resources.set.iter().map(|v| Entity::AzureResource {
            resource_id: v.to_text(),
        }));
        let mut ev: Vec<&Ev> = self.evidence.iter().collect();
        ev.sort();
        let evidence = ev
            .into_iter()
            .map(|e| EvidenceRef {
                time: timestamp(e.key.0),
                operation: e.operation.clone(),
                correlation_id: e.correlation_id.clone(),
                source: source.and_then(|f| f(&e.origin)),
            })
            .collect();
        Alert {
            alert_id: Alert::compute_id(&rule.id, &key),
            rule: rule.alert_rule.clone(),
            time: end_ts,
            window: Some(TimeWindow {
                start: start_ts,
                end: end_ts,
            }),
            group: self.group_map(rule),
            fields: self.fields(rule),
            entities,
            evidence,
            threat: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_the_smallest_whatever_the_order() {
        let vals = ["d", "a", "c", "b", "e", "a"];
        let mut one = Capped::default();
        let mut two = Capped::default();
        for v in vals {
            one.insert(Val::Str(v.into()), 3);
        }
        for v in vals.iter().rev() {
            two.insert(Val::Str((*v).into()), 3);
        }
        let got: Vec<String> = one.set.iter().map(Val::to_text).collect();
        assert_eq!(got, vec!["a", "b", "c"]);
        assert!(one.truncated && two.truncated);
        assert_eq!(one.set, two.set);
        let mut exact = Capped::default();
        for v in ["b", "a", "b"] {
            exact.insert(Val::Str(v.into()), 2);
        }
        assert!(!exact.truncated);
    }
}
