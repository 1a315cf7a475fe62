//! Group state: what a group keeps of its events in one window. Only what the aggregates
//! need (counters, hashes of distinct values, capped sorted value sets), the first identity,
//! capped entity values and the earliest evidence: never the events themselves.
//!
//! Every part is independent of arrival order (distinct sets, the smallest values kept when
//! capped, the earliest events as evidence), so out-of-order input gives the same alert.

use std::collections::BinaryHeap;

use foldhash::HashSet;
use kvsentry_model::{Alert, Entity, EvidenceRef, TimeWindow};
use kvsentry_rules::Aggregate;
use serde_json::{Map, Value};

use super::aggs::{AggState, AggStates};
use super::plan::CompiledRule;
use super::row::Row;
use super::valset::{Resolved, ValSet};
use super::value::{V, store, str_len, view};
use crate::evidence::{EvidenceSource, OrderKey, origin_of};
use crate::time::timestamp;

/// One evidence event, its strings held in the group's text.
type Ev = crate::evidence::Ev<V>;

/// Entity lists are capped at this many values each.
pub(crate) const ENTITY_CAP: usize = 10;

/// Group values held in place (group-by lists are short).
const GROUP_INLINE: usize = 2;

/// No group values (a group whose events were never folded in).
const NO_GROUP: [Option<V>; GROUP_INLINE] = [None; GROUP_INLINE];

/// What only alerts and explanations read: made when a group's events are first folded in
/// (most groups never are: they close without alerting), so that a new group costs a small
/// [`Acc`] and no more.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Cold {
    group: [Option<V>; GROUP_INLINE],
    group_more: Vec<Option<V>>,
    /// The `values` aggregates' sets, in order.
    sets: Vec<ValSet>,
    /// Earliest event's identity (order key, upn, object id, app id).
    first: Option<(OrderKey, [Option<V>; 3])>,
    ips: ValSet,
    resources: ValSet,
    evidence: BinaryHeap<Ev>,
    /// The group values are set (from the first event folded in).
    has_group: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Acc {
    /// The strings of every value below (ranges of it). A tumbling group's text starts
    /// with its key (see [`Acc::first`]).
    text: String,
    /// Length of the group key at the start of `text` (0 when the text holds no key).
    key_len: usize,
    /// Bytes of `text` no value refers to any more (compacted when they dominate).
    garbage: usize,
    pub count: u64,
    /// The aggregates other than `values`, in the rule's order.
    pub aggs: AggStates,
    /// The sets of `count_distinct`s past a few values (see [`Distinct::Many`](super::aggs::Distinct::Many)).
    many: Vec<HashSet<u64>>,
    /// Values, entities and evidence, once folded in.
    cold: Option<Box<Cold>>,
    /// The first event not folded into the values, entities and evidence yet (see
    /// `push_row`), held in place: most groups see one or two events in a window.
    pending_first: Option<Row>,
    /// `pending_first`'s text was moved to the start of `text` (see [`Acc::first`]).
    first_in_text: bool,
    /// The other events not folded in yet.
    pending: Vec<Row>,
    /// Every event added so far is folded in.
    full: bool,
    /// The group cannot alert (its first row's `Row::never`) and is not explained: only
    /// its numbers are kept.
    pub never_alerts: bool,
}

/// Events a group defers before folding them in (bounds its memory).
const PENDING_MAX: usize = 8;

impl Acc {
    pub fn new(rule: &CompiledRule, _first: &Row) -> Acc {
        Acc {
            text: String::new(),
            key_len: 0,
            garbage: 0,
            count: 0,
            aggs: rule.agg_states.clone(),
            many: Vec::new(),
            cold: None,
            pending_first: None,
            first_in_text: false,
            pending: Vec::new(),
            full: false,
            never_alerts: false,
        }
    }

    /// A tumbling group's state from its first event: the row's text becomes the group's
    /// text, so the group key is its prefix (no copy of the key per group, see
    /// [`Acc::key`]). The rest of the row waits as `pending_first` (see `push_row`).
    pub fn first(rule: &CompiledRule, mut row: Row, never_alerts: bool) -> Acc {
        let mut acc = Acc::new(rule, &row);
        acc.never_alerts = never_alerts;
        // Counted while the row holds its text. A string min/max would be copied to
        // `acc.text` (rules allow min/max of numbers and times only, so nothing is; handled
        // anyway by moving it after the row's text).
        acc.add_numeric(rule, &row);
        let copied = std::mem::take(&mut acc.text);
        acc.text = std::mem::take(&mut row.text);
        acc.key_len = row.key_len;
        if never_alerts {
            // Only the key is read again.
            acc.text.truncate(row.key_len);
        }
        if !copied.is_empty() {
            let shift = acc.text.len();
            acc.text.push_str(&copied);
            for st in acc.aggs.as_mut_slice() {
                if let AggState::Min(Some(V::Str(a, b)), _) | AggState::Max(Some(V::Str(a, b)), _) =
                    st
                {
                    *a += shift;
                    *b += shift;
                }
            }
        }
        if !never_alerts {
            acc.pending_first = Some(row);
            acc.first_in_text = true;
        }
        acc
    }

    /// The group key (a tumbling group's, see [`Acc::first`]; empty otherwise).
    pub fn key(&self) -> &str {
        self.text.get(..self.key_len).unwrap_or("")
    }

    fn group_vals(&self) -> impl Iterator<Item = Option<V>> + '_ {
        let (group, more): (&[Option<V>], &[Option<V>]) = match self.cold.as_deref() {
            Some(c) => (&c.group, &c.group_more),
            None => (&NO_GROUP, &[]),
        };
        group.iter().copied().chain(more.iter().copied())
    }

    /// Adds one event of a tumbling window's group: counted at once (the condition reads
    /// only numbers), its values, entities and evidence deferred while the group is small.
    /// Most groups never alert, and only an alert or an explanation reads those; the group
    /// state does not depend on the order of its events, so folding them later is the same.
    pub fn push_row(&mut self, rule: &CompiledRule, row: Row) {
        self.add_numeric(rule, &row);
        if self.never_alerts {
            return;
        }
        if self.full {
            self.add_rest(rule, &row, Resolved::new(false));
            return;
        }
        if self.pending_first.is_none() {
            self.pending_first = Some(row);
            return;
        }
        if self.pending.capacity() == 0 {
            // Sized for all the events a group defers (one allocation, no regrowth: rows
            // are over a hundred bytes each).
            self.pending.reserve_exact(PENDING_MAX);
        }
        self.pending.push(row);
        if 1 + self.pending.len() > PENDING_MAX {
            self.fold(rule);
        }
    }

    /// Folds the deferred events in: from now on every event is added in full.
    pub fn ensure_full(&mut self, rule: &CompiledRule) {
        if !self.full {
            self.fold(rule);
        }
    }

    fn fold(&mut self, rule: &CompiledRule) {
        self.full = true;
        let first = self.pending_first.take();
        let rows = std::mem::take(&mut self.pending);
        if let Some(mut first) = first {
            if std::mem::take(&mut self.first_in_text) {
                // The first event's text is the start of the group's: its values are used in
                // place (the row reads them from its text meanwhile).
                first.text = std::mem::take(&mut self.text);
                self.add_rest(rule, &first, Resolved::new(true));
                self.text = first.text;
            } else if self.text.is_empty() {
                // The first event's text becomes the group's: its values are used in place.
                self.add_rest(rule, &first, Resolved::new(true));
                self.text = first.text;
            } else {
                self.add_rest(rule, &first, Resolved::new(false));
            }
        }
        for r in rows {
            self.add_rest(rule, &r, Resolved::new(false));
        }
    }

    /// Adds one event in full.
    pub fn add(&mut self, rule: &CompiledRule, row: &Row) {
        self.full = true;
        self.add_numeric(rule, row);
        self.add_rest(rule, row, Resolved::new(false));
    }

    /// What the condition reads: counts, distinct counts, min and max.
    fn add_numeric(&mut self, rule: &CompiledRule, row: &Row) {
        self.count += 1;
        let text = &mut self.text;
        let garbage = &mut self.garbage;
        let _ = rule;
        let many = &mut self.many;
        for st in self.aggs.as_mut_slice() {
            match st {
                AggState::Count(n, None) => *n += 1,
                AggState::Count(n, Some(s)) => {
                    if row.present(*s) {
                        *n += 1;
                    }
                }
                AggState::GroupDistinct(seen, s, g) => {
                    if !*seen {
                        let present = match 1u8.checked_shl(*g as u32) {
                            Some(bit) if *g < 8 => row.group_present & bit != 0,
                            _ => row.present(*s),
                        };
                        if present {
                            *seen = true;
                        }
                    }
                }
                AggState::Distinct(set, k, s) => {
                    if let Some(h) = row.distinct_hash(&rule.value_hasher, *k, *s) {
                        set.insert(many, h);
                    }
                }
                AggState::Min(m, s) => {
                    if let Some(b) = row.value(*s)
                        && m.is_none_or(|cur| b < view(text, cur))
                    {
                        if let Some(old) = *m {
                            *garbage += str_len(old);
                        }
                        *m = Some(store(text, b));
                    }
                }
                AggState::Max(m, s) => {
                    if let Some(b) = row.value(*s)
                        && m.is_none_or(|cur| b > view(text, cur))
                    {
                        if let Some(old) = *m {
                            *garbage += str_len(old);
                        }
                        *m = Some(store(text, b));
                    }
                }
            }
        }
    }

    /// What only alerts and explanations read: group values, value sets, entities, evidence.
    fn add_rest(&mut self, rule: &CompiledRule, row: &Row, mut res: Resolved) {
        let hs = &rule.value_hasher;
        let text = &mut self.text;
        let cold = self.cold.get_or_insert_with(Box::default);
        if !cold.has_group {
            cold.has_group = true;
            if !res.own {
                text.reserve(row.text.len());
            }
            for (k, &s) in rule.group_slots.iter().enumerate() {
                let v = res.get(text, row, s);
                match cold.group.get_mut(k) {
                    Some(g) => *g = v,
                    None => cold.group_more.push(v),
                }
            }
        }
        let garbage = &mut self.garbage;
        if cold.sets.is_empty() && rule.n_values > 0 {
            cold.sets = vec![ValSet::default(); rule.n_values];
        }
        let mut sets = cold.sets.iter_mut();
        for (_, a, slot) in &rule.aggs {
            if let Aggregate::Values(_) = a {
                let Some(c) = sets.next() else { break };
                if let Some(s) = slot {
                    c.insert(hs, text, garbage, &mut res, row, *s, rule.values_cap);
                }
            }
        }
        let key = row.order_key();
        if let Some(slots) = rule
            .account_slots
            .filter(|_| cold.first.as_ref().is_none_or(|(k, _)| key < *k))
        {
            let ids = slots.map(|s| res.get(text, row, s));
            if let Some((_, old)) = &cold.first {
                *garbage += old.iter().flatten().map(|v| str_len(*v)).sum::<usize>();
            }
            cold.first = Some((key, ids));
        }
        if let Some(s) = rule.ip_slot {
            cold.ips
                .insert(hs, text, garbage, &mut res, row, s, ENTITY_CAP);
        }
        if let Some(s) = rule.resource_slot {
            cold.resources
                .insert(hs, text, garbage, &mut res, row, s, ENTITY_CAP);
        }
        if rule.evidence_cap > 0 {
            let full = cold.evidence.len() >= rule.evidence_cap;
            if !full || cold.evidence.peek().is_some_and(|top| key < top.key) {
                cold.evidence.push(Ev {
                    key,
                    operation: rule.evidence_slots.and_then(|[s, _]| res.get(text, row, s)),
                    correlation_id: rule.evidence_slots.and_then(|[_, s]| res.get(text, row, s)),
                });
                if cold.evidence.len() > rule.evidence_cap
                    && let Some(e) = cold.evidence.pop()
                {
                    *garbage +=
                        e.operation.map_or(0, str_len) + e.correlation_id.map_or(0, str_len);
                }
            }
        }
        // (Not while the first row holds the text, see `fold`.)
        if !res.own && self.garbage > 4096 && self.garbage * 2 > self.text.len() {
            self.compact();
        }
    }

    /// Copies the strings still referred to into a fresh text (values shared by several
    /// readers are copied once per reader: compaction is rare).
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.text);
        let mut text = String::with_capacity(old.len() - self.garbage.min(old.len()));
        // The key stays the text's prefix.
        text.push_str(old.get(..self.key_len).unwrap_or(""));
        let mut fix = |v: &mut V| {
            if let V::Str(..) = v {
                *v = store(&mut text, view(&old, *v));
            }
        };
        let mut cold = self.cold.take().unwrap_or_default();
        for g in cold
            .group
            .iter_mut()
            .chain(cold.group_more.iter_mut())
            .flatten()
        {
            fix(g);
        }
        for a in self.aggs.as_mut_slice() {
            match a {
                AggState::Min(m, _) | AggState::Max(m, _) => m.iter_mut().for_each(&mut fix),
                AggState::Count(..) | AggState::Distinct(..) | AggState::GroupDistinct(..) => {}
            }
        }
        for c in &mut cold.sets {
            c.refs_mut().for_each(&mut fix);
        }
        if let Some((_, ids)) = &mut cold.first {
            ids.iter_mut().flatten().for_each(&mut fix);
        }
        cold.ips.refs_mut().for_each(&mut fix);
        cold.resources.refs_mut().for_each(&mut fix);
        let mut ev = std::mem::take(&mut cold.evidence).into_vec();
        for e in &mut ev {
            e.operation.iter_mut().for_each(&mut fix);
            e.correlation_id.iter_mut().for_each(&mut fix);
        }
        cold.evidence = BinaryHeap::from(ev);
        self.cold = Some(cold);
        self.text = text;
        self.garbage = 0;
    }

    /// The aggregates as numbers for the condition (NaN for non-numeric ones).
    pub fn numeric(&self, rule: &CompiledRule, out: &mut Vec<f64>) {
        out.clear();
        out.resize(rule.aggs.len(), f64::NAN);
        for (st, &p) in self.aggs.as_slice().iter().zip(&rule.numeric_pos) {
            if let Some(o) = out.get_mut(p) {
                *o = match st {
                    AggState::Count(n, _) => *n as f64,
                    AggState::Distinct(s, ..) => s.len(&self.many) as f64,
                    AggState::GroupDistinct(seen, ..) => f64::from(u8::from(*seen)),
                    AggState::Min(v, _) | AggState::Max(v, _) => {
                        v.map_or(f64::NAN, |v| view(&self.text, v).as_f64())
                    }
                };
            }
        }
    }

    /// The aggregates by name, as alerts carry them.
    pub fn fields(&self, rule: &CompiledRule) -> Map<String, Value> {
        let mut m = Map::new();
        let empty = ValSet::default();
        let mut sets = self.cold.as_deref().map_or(&[][..], |c| &c.sets[..]).iter();
        let mut states = self.aggs.as_slice().iter();
        for (name, a, _) in &rule.aggs {
            if let Aggregate::Values(_) = a {
                let c = sets.next().unwrap_or(&empty);
                m.insert(name.clone(), Value::Array(c.to_json(&self.text)));
                if c.is_truncated() {
                    m.insert(format!("{name}_truncated"), Value::Bool(true));
                }
                continue;
            }
            match states.next() {
                Some(AggState::Count(n, _)) => {
                    m.insert(name.clone(), Value::from(*n));
                }
                Some(AggState::Distinct(s, ..)) => {
                    m.insert(name.clone(), Value::from(s.len(&self.many) as u64));
                }
                Some(AggState::GroupDistinct(seen, ..)) => {
                    m.insert(name.clone(), Value::from(u64::from(*seen)));
                }
                Some(AggState::Min(v, _) | AggState::Max(v, _)) => {
                    m.insert(
                        name.clone(),
                        v.map_or(Value::Null, |v| view(&self.text, v).to_json()),
                    );
                }
                None => {}
            }
        }
        m
    }

    pub fn group_map(&self, rule: &CompiledRule) -> Map<String, Value> {
        rule.group_fields
            .iter()
            .zip(self.group_vals())
            .map(|(f, v)| {
                (
                    f.name().to_string(),
                    v.map_or(Value::Null, |v| view(&self.text, v).to_json()),
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
        source: Option<&EvidenceSource>,
    ) -> Alert {
        let start_ts = timestamp(start);
        let end_ts = timestamp(end);
        let text = &self.text;
        let to_text = |v: Option<V>| v.map(|v| view(text, v).to_text());
        let mut key: Vec<String> = Vec::with_capacity(1 + rule.group_slots.len());
        key.push(start_ts.to_string());
        key.extend(
            self.group_vals()
                .take(rule.group_slots.len())
                .map(|v| to_text(v).unwrap_or_default()),
        );
        let none = Cold::default();
        let cold = self.cold.as_deref().unwrap_or(&none);
        let mut entities = Vec::new();
        if let Some((_, [upn, oid, appid])) = &cold.first
            && (upn.is_some() || oid.is_some() || appid.is_some())
        {
            entities.push(Entity::Account {
                upn: to_text(*upn),
                object_id: to_text(*oid),
                app_id: to_text(*appid),
            });
        }
        entities.extend(
            cold.ips
                .to_texts(text)
                .into_iter()
                .map(|address| Entity::Ip { address }),
        );
        entities.extend(
            cold.resources
                .to_texts(text)
                .into_iter()
                .map(|resource_id| Entity::AzureResource { resource_id }),
        );
        let mut ev: Vec<&Ev> = cold.evidence.iter().collect();
        ev.sort();
        let evidence = ev
            .into_iter()
            .map(|e| EvidenceRef {
                time: timestamp(e.key.0),
                operation: to_text(e.operation).unwrap_or_default(),
                correlation_id: to_text(e.correlation_id),
                source: source.and_then(|f| f(&origin_of(&e.key))),
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
    use crate::kinds::threshold::aggs::AggStates;

    fn rule_of(aggregates: &str) -> CompiledRule {
        crate::kinds::threshold::plan::tests::upn_rule(aggregates, "n >= 1")
    }

    fn op_row(rule: &CompiledRule, op: &str, vault: &str) -> Row {
        let mut ev = kvsentry_model::AuditEvent::new(
            "2026-01-05T10:00:00Z".parse().unwrap(),
            "AuditEvent".into(),
            op.to_string().into(),
        );
        ev.identity.upn = Some("alice@contoso.com".into());
        ev.vault.name = Some(vault.to_string().into());
        rule.row(&ev, false)
    }

    /// A group's states are held in place and copied from the rule's; a `count_distinct`
    /// past its few in-place hashes moves to the group's sets and keeps counting, each
    /// aggregate its own.
    #[test]
    fn distinct_counts_past_the_in_place_hashes() {
        let rule = rule_of(
            "    n: count\n    ops: { count_distinct: operation }\n    vaults: { count_distinct: vault.name }\n    who: { count_distinct: identity.upn }",
        );
        assert!(matches!(rule.agg_states, AggStates::Inline(4, _)));
        let mut acc = Acc::first(&rule, op_row(&rule, "Op0", "kv0"), false);
        for i in 1..12 {
            acc.push_row(&rule, op_row(&rule, &format!("Op{}", i % 9), "kv1"));
        }
        assert_eq!(acc.many.len(), 1);
        let mut out = Vec::new();
        acc.numeric(&rule, &mut out);
        assert_eq!(out, vec![12.0, 9.0, 2.0, 1.0]);
        // The rule's template is untouched: a new group starts from zero.
        let fresh = Acc::first(&rule, op_row(&rule, "Op0", "kv0"), false);
        fresh.numeric(&rule, &mut out);
        assert_eq!(out, vec![1.0, 1.0, 1.0, 1.0]);
        assert!(fresh.many.is_empty());
        acc.ensure_full(&rule);
        let f = acc.fields(&rule);
        assert_eq!(f["ops"], 9);
        assert_eq!(f["vaults"], 2);
    }

    /// A group's deferred events are held in one allocation sized for all it defers (no
    /// regrowth), then folded in when one more comes: the same values as events added in
    /// full.
    #[test]
    fn deferred_events_are_held_once_then_folded() {
        let rule = rule_of("    n: count\n    ops: { values: operation }");
        let mut acc = Acc::first(&rule, op_row(&rule, "Op0", "kv0"), false);
        let mut whole = Acc::first(&rule, op_row(&rule, "Op0", "kv0"), false);
        whole.ensure_full(&rule);
        // The first event waits in place, the next ones in the vector.
        assert_eq!(acc.pending.capacity(), 0);
        for i in 1..PENDING_MAX {
            acc.push_row(&rule, op_row(&rule, &format!("Op{i}"), "kv0"));
            assert_eq!(acc.pending.capacity(), PENDING_MAX);
            assert_eq!(acc.pending.len(), i);
            assert!(!acc.full);
        }
        acc.push_row(&rule, op_row(&rule, "Op8", "kv0"));
        assert!(acc.full);
        assert!(acc.pending.is_empty());
        acc.push_row(&rule, op_row(&rule, "Op9", "kv0"));
        for i in 1..=PENDING_MAX + 1 {
            whole.push_row(&rule, op_row(&rule, &format!("Op{i}"), "kv0"));
        }
        assert_eq!(acc.fields(&rule), whole.fields(&rule));
        assert_eq!(acc.fields(&rule)["n"], 10);
        assert_eq!(
            acc.fields(&rule)["ops"],
            serde_json::json!([
                "Op0", "Op1", "Op2", "Op3", "Op4", "Op5", "Op6", "Op7", "Op8", "Op9"
            ])
        );
    }

    /// More states than fit in place are held on the heap, alike.
    #[test]
    fn many_aggregates_are_held_on_the_heap() {
        let rule = rule_of(
            "    n: count\n    a: { count_distinct: operation }\n    b: { count_distinct: vault.name }\n    c: { count_distinct: result.type }\n    d: { count: vault.name }",
        );
        assert!(matches!(&rule.agg_states, AggStates::Heap(v) if v.len() == 5));
        let mut acc = Acc::first(&rule, op_row(&rule, "Op0", "kv0"), false);
        for i in 1..6 {
            acc.push_row(&rule, op_row(&rule, &format!("Op{i}"), "kv0"));
        }
        let mut out = Vec::new();
        acc.numeric(&rule, &mut out);
        assert_eq!(out, vec![6.0, 6.0, 1.0, 0.0, 6.0]);
        assert_eq!(acc.many.len(), 1);
    }
}
