//! Group state: what a group keeps of its events in one window. Only what the aggregates
//! need (counters, hashes of distinct values, capped sorted value sets), the first identity,
//! capped entity values and the earliest evidence: never the events themselves.
//!
//! Every part is independent of arrival order (distinct sets, the smallest values kept when
//! capped, the earliest events as evidence), so out-of-order input gives the same alert.

#[cfg(test)]
use std::collections::BTreeSet;
use std::collections::BinaryHeap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use foldhash::{HashSet, HashSetExt};
use kvsentry_model::{Alert, Entity, EvidenceRef, Origin, TimeWindow};
use kvsentry_rules::Aggregate;
use serde_json::{Map, Value};

#[cfg(test)]
use crate::plan::Val;
use crate::plan::{CompiledRule, Row, Slot, timestamp};

/// Entity lists are capped at this many values each.
pub(crate) const ENTITY_CAP: usize = 10;

/// The hasher of values for distinct counting and value sets: seeded per rule (so per
/// engine), because the values come from the input. A 64-bit hash makes an honest collision
/// negligible, but with a fixed seed someone controlling the values could precompute
/// colliding ones and lower a distinct count (or hide a value from a value set); with a
/// random seed they cannot.
pub(crate) type ValueHasher = foldhash::quality::RandomState;

/// Hash of a slot's value for distinct counting (64-bit: collisions are negligible).
#[inline]
pub(crate) fn hash_slot(hs: &ValueHasher, row: &Row, i: usize) -> Option<u64> {
    B::of_row(row, i).map(|b| hash_b(hs, b))
}

/// [`hash_slot`] of the slot an event's value `v` would fill (`None` when missing): the
/// same hash, made before the row is.
#[inline]
pub(crate) fn hash_value(hs: &ValueHasher, v: &kvsentry_model::FieldValue<'_>) -> Option<u64> {
    use kvsentry_model::FieldValue;
    let b = match v {
        FieldValue::Missing => return None,
        FieldValue::Str(s) => B::Str(s),
        FieldValue::Int(i) => B::Int(*i),
        FieldValue::Ip(ip) => B::Ip(*ip),
        FieldValue::Time(t) => B::Time(crate::plan::nanos(*t)),
    };
    Some(hash_b(hs, b))
}

#[inline]
fn hash_b(hs: &ValueHasher, b: B<'_>) -> u64 {
    let mut h = hs.build_hasher();
    match b {
        B::Str(s) => {
            0u8.hash(&mut h);
            s.hash(&mut h);
        }
        B::Int(n) => {
            1u8.hash(&mut h);
            n.hash(&mut h);
        }
        B::Ip(ip) => {
            2u8.hash(&mut h);
            ip.hash(&mut h);
        }
        B::Time(t) => {
            3u8.hash(&mut h);
            t.hash(&mut h);
        }
    }
    h.finish()
}

/// Distinct values, the smallest `cap` kept: the reference model of [`ValSet`] in tests.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub(crate) struct Capped {
    pub set: BTreeSet<Val>,
    pub truncated: bool,
}

#[cfg(test)]
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

/// A value a group holds: numbers and addresses inline, strings as a byte range of the
/// group's own text (so a value already held costs a comparison, not an allocation).
#[derive(Debug, Clone, Copy)]
pub(crate) enum V {
    Int(i64),
    Time(i64),
    Ip(IpAddr),
    Str(usize, usize),
}

/// A borrowed value, ordered like [`Val`] (variant, then value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum B<'a> {
    Int(i64),
    Time(i64),
    Ip(IpAddr),
    Str(&'a str),
}

impl B<'_> {
    fn of_row(row: &Row, i: usize) -> Option<B<'_>> {
        match row.slot(i) {
            Slot::Missing => None,
            Slot::Str(a, b) => Some(B::Str(row.text.get(a..b).unwrap_or(""))),
            Slot::Int(n) => Some(B::Int(n)),
            Slot::Ip(ip) => Some(B::Ip(ip)),
            Slot::Time(t) => Some(B::Time(t)),
        }
    }

    #[cfg(test)]
    fn to_val(self) -> Val {
        match self {
            B::Int(n) => Val::Int(n),
            B::Time(t) => Val::Time(t),
            B::Ip(ip) => Val::Ip(ip),
            B::Str(s) => Val::Str(s.into()),
        }
    }

    fn to_json(self) -> Value {
        match self {
            B::Int(i) => Value::from(i),
            B::Time(t) => Value::String(timestamp(t).to_string()),
            B::Ip(ip) => Value::String(ip.to_string()),
            B::Str(s) => Value::String(s.to_string()),
        }
    }

    fn to_text(self) -> String {
        match self {
            B::Int(i) => i.to_string(),
            B::Time(t) => timestamp(t).to_string(),
            B::Ip(ip) => ip.to_string(),
            B::Str(s) => s.to_string(),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            B::Int(i) => i as f64,
            B::Time(t) => t as f64,
            _ => f64::NAN,
        }
    }
}

fn view(text: &str, v: V) -> B<'_> {
    match v {
        V::Int(n) => B::Int(n),
        V::Time(t) => B::Time(t),
        V::Ip(ip) => B::Ip(ip),
        V::Str(a, b) => B::Str(text.get(a..b).unwrap_or("")),
    }
}

fn str_len(v: V) -> usize {
    match v {
        V::Str(a, b) => b.saturating_sub(a),
        _ => 0,
    }
}

/// Copies a borrowed value into the group's text.
fn store(text: &mut String, b: B<'_>) -> V {
    match b {
        B::Int(n) => V::Int(n),
        B::Time(t) => V::Time(t),
        B::Ip(ip) => V::Ip(ip),
        B::Str(s) => {
            let a = text.len();
            text.push_str(s);
            V::Str(a, text.len())
        }
    }
}

/// Slots of the current row already copied into the group's text (shared by the aggregates,
/// entities and evidence that read the same field).
struct Resolved {
    vals: [Option<V>; 32],
    /// The row's text becomes the group's text once the row is added (a group's first
    /// row): its slots are used where they are, nothing is copied.
    own: bool,
}

impl Resolved {
    fn new(own: bool) -> Resolved {
        Resolved {
            vals: [None; 32],
            own,
        }
    }

    fn get(&mut self, text: &mut String, row: &Row, i: usize) -> Option<V> {
        if self.own {
            return match row.slot(i) {
                Slot::Missing => None,
                Slot::Str(a, b) => Some(V::Str(a, b)),
                Slot::Int(n) => Some(V::Int(n)),
                Slot::Ip(ip) => Some(V::Ip(ip)),
                Slot::Time(t) => Some(V::Time(t)),
            };
        }
        if let Some(v) = self.vals.get(i).copied().flatten() {
            return Some(v);
        }
        let v = store(text, B::of_row(row, i)?);
        if let Some(c) = self.vals.get_mut(i) {
            *c = Some(v);
        }
        Some(v)
    }

    fn note(&mut self, i: usize, v: V) {
        if let Some(c) = self.vals.get_mut(i) {
            *c = Some(v);
        }
    }
}

/// Distinct values with the smallest `cap` kept, held in the group's text: a few compared
/// in turn (the usual case: one to a handful of values per group and window), more kept
/// sorted and searched. A value already held costs comparisons, never an allocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValSet {
    first: Option<V>,
    /// After `first` (unsorted) while `sorted` is false; every value, sorted, once true.
    rest: Vec<V>,
    sorted: bool,
    truncated: bool,
    /// Once sorted: hashes of the values held, so that a value already held (the usual
    /// case) costs one hash and lookup, not a binary search of string comparisons.
    hashes: std::collections::HashSet<u64, foldhash::fast::FixedState>,
}

/// Values a [`ValSet`] compares in turn before keeping them sorted.
const SMALL: usize = 8;

impl ValSet {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn iter(&self) -> impl Iterator<Item = V> + '_ {
        self.first.iter().copied().chain(self.rest.iter().copied())
    }

    /// Adds the value of `row`'s slot `i`. Returns where the value is held in `text` when
    /// it is (for other readers of the same slot).
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        hs: &ValueHasher,
        text: &mut String,
        garbage: &mut usize,
        res: &mut Resolved,
        row: &Row,
        i: usize,
        cap: usize,
    ) -> Option<V> {
        let b = B::of_row(row, i)?;
        if self.sorted {
            return self.insert_sorted(hs, text, garbage, res, row, i, b, cap);
        }
        let hit = match b {
            // Bytes compared directly: the usual test, a value the group already holds.
            B::Str(s) => self.iter().find(
                |v| matches!(*v, V::Str(x, y) if text.as_bytes().get(x..y) == Some(s.as_bytes())),
            ),
            _ => self.iter().find(|v| view(text, *v) == b),
        };
        if let Some(v) = hit {
            res.note(i, v);
            return Some(v);
        }
        let len = self.len();
        if len < cap {
            if len < SMALL {
                let v = res.get(text, row, i)?;
                if self.first.is_none() {
                    self.first = Some(v);
                } else {
                    self.rest.push(v);
                }
                return Some(v);
            }
            // Many values: keep them sorted from now on.
            let mut all: Vec<V> = Vec::with_capacity(2 * SMALL);
            all.extend(self.iter());
            all.sort_by(|x, y| view(text, *x).cmp(&view(text, *y)));
            self.hashes.reserve(2 * SMALL);
            for v in &all {
                self.hashes.insert(hash_b(hs, view(text, *v)));
            }
            self.first = None;
            self.rest = all;
            self.sorted = true;
            return self.insert_sorted(hs, text, garbage, res, row, i, b, cap);
        }
        // Full (a cap of at most SMALL): keep the smallest `cap`.
        self.truncated = true;
        let mut max: Option<(usize, B<'_>)> = None;
        for (k, v) in self.iter().enumerate() {
            let bv = view(text, v);
            if max.is_none_or(|(_, m)| bv > m) {
                max = Some((k, bv));
            }
        }
        let (k, m) = max?;
        if b >= m {
            return None;
        }
        let v = res.get(text, row, i)?;
        let slot = if k == 0 {
            self.first.as_mut()
        } else {
            self.rest.get_mut(k - 1)
        };
        if let Some(s) = slot {
            *garbage += str_len(*s);
            *s = v;
        }
        Some(v)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_sorted(
        &mut self,
        hs: &ValueHasher,
        text: &mut String,
        garbage: &mut usize,
        res: &mut Resolved,
        row: &Row,
        i: usize,
        b: B<'_>,
        cap: usize,
    ) -> Option<V> {
        let h = hash_b(hs, b);
        if self.hashes.contains(&h) {
            // Held already (64-bit hashes: a collision is negligible, as for count_distinct).
            return None;
        }
        let pos = match self.rest.binary_search_by(|x| view(text, *x).cmp(&b)) {
            Ok(k) => {
                let v = self.rest.get(k).copied();
                if let Some(v) = v {
                    res.note(i, v);
                }
                return v;
            }
            Err(pos) => pos,
        };
        if self.rest.len() >= cap {
            self.truncated = true;
            if pos >= self.rest.len() {
                return None;
            }
            if let Some(last) = self.rest.pop() {
                *garbage += str_len(last);
                self.hashes.remove(&hash_b(hs, view(text, last)));
            }
        }
        let v = res.get(text, row, i)?;
        self.rest.insert(pos.min(self.rest.len()), v);
        self.hashes.insert(h);
        Some(v)
    }

    fn sorted<'a>(&'a self, text: &'a str) -> Vec<B<'a>> {
        let mut out: Vec<B<'a>> = self.iter().map(|v| view(text, v)).collect();
        if !self.sorted {
            out.sort();
        }
        out
    }

    fn to_json(&self, text: &str) -> Vec<Value> {
        self.sorted(text).into_iter().map(B::to_json).collect()
    }

    fn to_texts(&self, text: &str) -> Vec<String> {
        self.sorted(text).into_iter().map(B::to_text).collect()
    }

    fn is_truncated(&self) -> bool {
        self.truncated
    }

    fn refs_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.first.iter_mut().chain(self.rest.iter_mut())
    }
}

/// Hashes of distinct values, a few in place, more in a set of the group's
/// (`Acc::many`, by index: so that a group's fresh states are a plain copy).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Distinct {
    Few(u8, [u64; 4]),
    Many(usize),
}

impl Distinct {
    fn insert(&mut self, many: &mut Vec<HashSet<u64>>, h: u64) {
        match self {
            Distinct::Few(n, hs) => {
                let k = usize::from(*n);
                if hs.iter().take(k).any(|x| *x == h) {
                    return;
                }
                if let Some(slot) = hs.get_mut(k) {
                    *slot = h;
                    *n += 1;
                } else {
                    let mut s = HashSet::with_capacity(8);
                    s.extend(hs.iter().copied());
                    s.insert(h);
                    *self = Distinct::Many(many.len());
                    many.push(s);
                }
            }
            Distinct::Many(i) => {
                if let Some(s) = many.get_mut(*i) {
                    s.insert(h);
                }
            }
        }
    }

    fn len(&self, many: &[HashSet<u64>]) -> usize {
        match self {
            Distinct::Few(n, _) => usize::from(*n),
            Distinct::Many(i) => many.get(*i).map_or(0, HashSet::len),
        }
    }
}

/// The state of one aggregate the condition can read (`values` aggregates keep theirs in
/// `Acc::sets`, made when the group's events are first folded in).
#[derive(Debug, Clone, Copy)]
pub(crate) enum AggState {
    /// `count`, or `{count: f}` reading this slot.
    Count(u64, Option<usize>),
    /// The `k`-th `count_distinct` (its row hash, see `Row::distinct_hash`), reading this slot.
    Distinct(Distinct, usize, usize),
    /// A `count_distinct` of a group-by field (see `CompiledRule::group_distinct`): a
    /// value was seen, reading this slot, the field's group-by position (below 8: read as
    /// `Row::group_present`).
    GroupDistinct(bool, usize, usize),
    Min(Option<V>, usize),
    Max(Option<V>, usize),
}

/// States a group holds in place (the seed rules have 4): a new group copies the rule's
/// fresh ones (see [`CompiledRule::agg_states`]) without allocating.
const AGGS_INLINE: usize = 4;

/// A group's [`AggState`]s, in the rule's order. (In place on purpose: boxing the large
/// variant is the allocation per group this avoids.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum AggStates {
    Inline(usize, [AggState; AGGS_INLINE]),
    Heap(Vec<AggState>),
}

impl AggStates {
    pub fn from_slice(states: &[AggState]) -> AggStates {
        if states.len() <= AGGS_INLINE {
            let mut a = [AggState::Count(0, None); AGGS_INLINE];
            for (d, s) in a.iter_mut().zip(states) {
                *d = *s;
            }
            AggStates::Inline(states.len(), a)
        } else {
            AggStates::Heap(states.to_vec())
        }
    }

    pub fn as_slice(&self) -> &[AggState] {
        match self {
            AggStates::Inline(n, a) => a.get(..*n).unwrap_or(&[]),
            AggStates::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [AggState] {
        match self {
            AggStates::Inline(n, a) => a.get_mut(..*n).unwrap_or(&mut []),
            AggStates::Heap(v) => v,
        }
    }
}

/// Time, source, line, arrival: the order of events whatever their arrival order.
pub(crate) type OrderKey = (i64, u32, u64, u64);

/// One evidence event (ordered by time then origin, so the heap keeps the earliest).
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub key: OrderKey,
    operation: Option<V>,
    correlation_id: Option<V>,
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

/// Group values held in place (group-by lists are short).
const GROUP_INLINE: usize = 2;

/// No group values (a group whose events were never folded in).
const NO_GROUP: [Option<V>; GROUP_INLINE] = [None; GROUP_INLINE];

/// What only alerts and explanations read: made when a group's events are first folded in
/// (most groups never are: they close without alerting), so that a new group costs a small
/// [`Acc`] and no more.
#[derive(Debug, Clone, Default)]
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

#[derive(Debug, Clone)]
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
    /// The sets of `count_distinct`s past a few values (see [`Distinct::Many`]).
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

/// Fresh states of a rule's aggregates other than `values`.
pub(crate) fn new_states(rule: &CompiledRule) -> Vec<AggState> {
    let mut out = Vec::with_capacity(rule.aggs.len() - rule.n_values);
    let mut k = 0;
    for (i, (_, a, slot)) in rule.aggs.iter().enumerate() {
        let s = slot.unwrap_or(usize::MAX);
        out.push(match a {
            Aggregate::Count(_) => AggState::Count(0, *slot),
            Aggregate::CountDistinct(_) if rule.group_distinct.get(i) == Some(&true) => {
                AggState::GroupDistinct(
                    false,
                    s,
                    rule.agg_group
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(usize::MAX),
                )
            }
            Aggregate::CountDistinct(_) => {
                k += 1;
                AggState::Distinct(Distinct::Few(0, [0; 4]), k - 1, s)
            }
            Aggregate::Values(_) => continue,
            Aggregate::Min(_) => AggState::Min(None, s),
            Aggregate::Max(_) => AggState::Max(None, s),
        });
    }
    out
}

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
                    if let Some(b) = B::of_row(row, *s) {
                        if m.is_none_or(|cur| b < view(text, cur)) {
                            if let Some(old) = *m {
                                *garbage += str_len(old);
                            }
                            *m = Some(store(text, b));
                        }
                    }
                }
                AggState::Max(m, s) => {
                    if let Some(b) = B::of_row(row, *s) {
                        if m.is_none_or(|cur| b > view(text, cur)) {
                            if let Some(old) = *m {
                                *garbage += str_len(old);
                            }
                            *m = Some(store(text, b));
                        }
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
        if rule.account && cold.first.as_ref().is_none_or(|(k, _)| key < *k) {
            let mut get = |s: Option<usize>| s.and_then(|s| res.get(text, row, s));
            let ids = [get(rule.upn_slot), get(rule.oid_slot), get(rule.appid_slot)];
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
                    operation: rule.op_slot.and_then(|s| res.get(text, row, s)),
                    correlation_id: rule.corr_slot.and_then(|s| res.get(text, row, s)),
                });
                if cold.evidence.len() > rule.evidence_cap {
                    if let Some(e) = cold.evidence.pop() {
                        *garbage +=
                            e.operation.map_or(0, str_len) + e.correlation_id.map_or(0, str_len);
                    }
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
        source: Option<&crate::EvidenceSource>,
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
        if let Some((_, [upn, oid, appid])) = &cold.first {
            if upn.is_some() || oid.is_some() || appid.is_some() {
                entities.push(Entity::Account {
                    upn: to_text(*upn),
                    object_id: to_text(*oid),
                    app_id: to_text(*appid),
                });
            }
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
                source: source.and_then(|f| {
                    f(&Origin {
                        source: e.key.1,
                        line: e.key.2,
                    })
                }),
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

    fn row_of(vals: &[B<'_>]) -> Row {
        let mut text = String::new();
        let mut slots = Vec::new();
        for b in vals {
            slots.push(crate::plan::Packed::of_test(&mut text, *b));
        }
        Row {
            time: 0,
            origin: Origin::default(),
            seq: 0,
            hash: 0,
            dh: [0; crate::plan::DH_INLINE],
            dh_set: 0,
            group_present: 0,
            never: false,
            text,
            key_len: 0,
            slots,
        }
    }

    /// The in-place set keeps exactly what the owned reference set keeps, for every cap
    /// (in-turn and sorted modes, full or not), whatever the order.
    #[test]
    fn valset_matches_the_reference_set() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let words: Vec<String> = (0..40).map(|i| format!("w{}", (i * 7919) % 97)).collect();
        let hs = ValueHasher::default();
        for round in 0..300 {
            let cap = [1, 2, 3, 7, 8, 9, 10, 16, 17, 100][round % 10];
            let n = 1 + (next() % 60) as usize;
            let mut text = String::new();
            let mut garbage = 0;
            let mut set = ValSet::default();
            let mut reference = Capped::default();
            for _ in 0..n {
                let k = (next() % 40) as usize;
                let b = match next() % 5 {
                    0 => B::Int((k as i64) - 20),
                    1 => B::Ip(IpAddr::from([52, 178, 0, k as u8])),
                    2 => B::Time(k as i64 * 1_000),
                    _ => B::Str(&words[k]),
                };
                let row = row_of(&[b, B::Str("other")]);
                let mut res = Resolved::new(false);
                let got = set.insert(&hs, &mut text, &mut garbage, &mut res, &row, 0, cap);
                if let Some(v) = got {
                    assert_eq!(view(&text, v), b);
                }
                reference.insert(b.to_val(), cap);
            }
            let want: Vec<String> = reference.set.iter().map(Val::to_text).collect();
            assert_eq!(set.to_texts(&text), want, "round {round} cap {cap}");
            let want_json: Vec<Value> = reference.set.iter().map(Val::to_json).collect();
            assert_eq!(set.to_json(&text), want_json);
            assert_eq!(set.is_truncated(), reference.truncated, "round {round}");
        }
    }
    fn rule_of(aggregates: &str) -> CompiledRule {
        crate::plan::tests::upn_rule(aggregates, "n >= 1")
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
