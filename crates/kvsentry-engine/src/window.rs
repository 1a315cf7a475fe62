//! Per-rule state: tumbling and sliding windows over event time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};

use foldhash::{HashMap, HashMapExt};
use hashbrown::HashTable;
use kvsentry_model::{Alert, TimeWindow};

use crate::acc::Acc;
use crate::plan::{CompiledRule, Row, timestamp};
use crate::{EvidenceSource, Explanation, RuleStats};

/// An alert ready to go out, with its sort key.
pub(crate) struct Emitted {
    pub start: i64,
    pub rule_idx: usize,
    pub key: Box<str>,
    pub alert: Alert,
}

/// What a rule's state needs from the engine while it works.
pub(crate) struct Ctx<'a> {
    pub rule: &'a CompiledRule,
    pub rule_idx: usize,
    pub stats: &'a mut RuleStats,
    pub out: &'a mut Vec<Emitted>,
    pub explain: Option<&'a mut Vec<Explanation>>,
    pub source: Option<&'a EvidenceSource>,
    pub buf: &'a mut Vec<f64>,
    /// Where closed groups go instead of being freed (see `Engine::finish_into_report`).
    pub closed: Option<&'a mut Vec<ClosedGroups>>,
}

/// Explanations are a debugging aid; past this many the oldest are kept and the rest counted.
pub(crate) const MAX_EXPLANATIONS: usize = 100_000;

impl Ctx<'_> {
    /// Evaluates the condition on a group's window, records the explanation, and emits the
    /// alert unless suppressed. Returns true when an alert went out. `key`: the group's
    /// key, `None` for the accumulator's own (a tumbling group's, see `Acc::first`).
    fn conclude(
        &mut self,
        key: Option<&str>,
        acc: &mut Acc,
        start: i64,
        end: i64,
        suppressed_until: Option<i64>,
        note: Option<String>,
    ) -> bool {
        acc.numeric(self.rule, self.buf);
        let passed = self.rule.condition.eval(self.buf);
        let suppressed = passed && suppressed_until.is_some_and(|u| start < u);
        if passed && suppressed {
            self.stats.suppressed += 1;
        }
        let alerted = passed && !suppressed;
        if alerted || self.explain.is_some() {
            acc.ensure_full(self.rule);
        }
        if let Some(ex) = self.explain.as_deref_mut() {
            if ex.len() < MAX_EXPLANATIONS {
                let mut clauses = Vec::new();
                self.rule.condition.expr.clauses(self.buf, &mut clauses);
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
        }
        if alerted {
            self.stats.alerts += 1;
            let alert = acc.alert(self.rule, start, end, self.source);
            self.out.push(Emitted {
                start,
                rule_idx: self.rule_idx,
                key: key.unwrap_or_else(|| acc.key()).into(),
                alert,
            });
        }
        alerted
    }
}

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

    /// Takes a row; `late` rows (before the watermark) are applied only where their window
    /// is still open. Returns false when the row was dropped.
    pub fn push(&mut self, row: Row, late: bool, ctx: &mut Ctx<'_>) -> bool {
        match self {
            RuleState::Tumbling(t) => t.push(row, ctx),
            RuleState::Sliding(s) => s.push(row, late, ctx),
        }
    }

    /// Closes what the watermark `w` has passed.
    pub fn advance(&mut self, w: i64, ctx: &mut Ctx<'_>) {
        match self {
            RuleState::Tumbling(t) => t.advance(w, ctx),
            RuleState::Sliding(s) => s.advance(w, ctx),
        }
    }
}

/// Tumbling windows `[floor(t, size), +size)` aligned to the Unix epoch, like ES|QL
/// `DATE_TRUNC`. Rows are applied as they come (the group state does not depend on order);
/// a window closes when the watermark reaches its end.
/// The groups of a closed tumbling window, kept to be freed later (see
/// `Engine::finish_into_report`).
pub(crate) struct ClosedGroups(#[allow(dead_code)] HashTable<Group>);

/// A group of a tumbling window, under its key's hash (made in the parallel stage by the
/// rule's seeded hasher, see `Row::hash`).
struct Group {
    hash: u64,
    /// Holds the key (`Acc::key`).
    acc: Acc,
}

#[derive(Default)]
pub(crate) struct Tumbling {
    windows: BTreeMap<i64, HashTable<Group>>,
    /// Every window ending at or before this has been closed.
    closed_until: Option<i64>,
    open_groups: u64,
    /// Groups of the last closed window: the capacity of the next one.
    last_groups: usize,
    /// Group (hash, key) → no alert for windows starting before this (window end +
    /// suppression).
    suppressed_until: HashTable<(u64, Box<str>, i64)>,
}

impl Tumbling {
    fn push(&mut self, row: Row, ctx: &mut Ctx<'_>) -> bool {
        let size = ctx.rule.size;
        let start = row.time.div_euclid(size).saturating_mul(size);
        let end = start.saturating_add(size);
        if self.closed_until.is_some_and(|c| end <= c) {
            return false;
        }
        let hint = self.last_groups;
        // Events come mostly in time order: the newest window first (its entry is found
        // down the tree's right edge, comparing nothing), else searched.
        let groups = match self.windows.last_entry() {
            Some(e) if *e.key() == start => e.into_mut(),
            _ => self
                .windows
                .entry(start)
                .or_insert_with(|| HashTable::with_capacity(hint)),
        };
        let hash = row.hash;
        match groups.find_mut(hash, |g| g.hash == hash && g.acc.key() == row.key()) {
            Some(g) => g.acc.push_row(ctx.rule, row),
            None => {
                // Known from the parallel stage (the row's slots are not read here).
                let never = ctx.explain.is_none() && row.never;
                let acc = Acc::first(ctx.rule, row, never);
                groups.insert_unique(hash, Group { hash, acc }, |g| g.hash);
                self.open_groups += 1;
            }
        }
        ctx.stats.max_open_windows = ctx.stats.max_open_windows.max(self.windows.len() as u64);
        ctx.stats.max_open_groups = ctx.stats.max_open_groups.max(self.open_groups);
        true
    }

    fn advance(&mut self, w: i64, ctx: &mut Ctx<'_>) {
        let size = ctx.rule.size;
        let mut closed_any = false;
        while let Some(entry) = self.windows.first_entry() {
            let start = *entry.key();
            let end = start.saturating_add(size);
            if end > w {
                break;
            }
            closed_any = true;
            let mut groups = entry.remove();
            self.open_groups = self.open_groups.saturating_sub(groups.len() as u64);
            self.last_groups = groups.len();
            // Groups are concluded where they lie (a group is a few hundred bytes: moving
            // each out of the table cost more than concluding most of them), then dropped
            // with the table. Explanations come out in group order; alerts are sorted when
            // flushed, so the table's order serves otherwise.
            let mut sorted: Vec<&mut Group>;
            let iter: &mut dyn Iterator<Item = &mut Group> = if ctx.explain.is_some() {
                sorted = groups.iter_mut().collect();
                sorted.sort_by(|a, b| a.acc.key().cmp(b.acc.key()));
                &mut sorted.into_iter()
            } else {
                &mut groups.iter_mut()
            };
            for g in iter {
                let hash = g.hash;
                let acc = &mut g.acc;
                if acc.never_alerts {
                    // Its condition is false whatever its events (set only when the rule is
                    // not explained): nothing to evaluate, count or record.
                    continue;
                }
                let until = if self.suppressed_until.is_empty() {
                    None
                } else {
                    // The key is read only on a hash match: it lies in the group's text,
                    // which closing a group otherwise need not touch (a cache miss each).
                    let acc = &*acc;
                    self.suppressed_until
                        .find(hash, |(h, k, _)| *h == hash && **k == *acc.key())
                        .map(|(_, _, u)| *u)
                };
                let alerted = ctx.conclude(None, acc, start, end, until, None);
                if alerted {
                    let u = end.saturating_add(ctx.rule.suppression);
                    let key = acc.key();
                    match self
                        .suppressed_until
                        .find_mut(hash, |(h, k, _)| *h == hash && **k == *key)
                    {
                        Some(e) => e.2 = u,
                        None => {
                            self.suppressed_until
                                .insert_unique(hash, (hash, key.into(), u), |e| e.0);
                        }
                    }
                }
            }
            if let Some(closed) = ctx.closed.as_deref_mut() {
                closed.push(ClosedGroups(groups));
            }
        }
        if self.closed_until.is_none_or(|c| w > c) {
            self.closed_until = Some(w);
        }
        // Forget expired suppressions now and then (not on every event: this is O(groups)).
        if closed_any
            && ctx.closed.is_none()
            && (self.suppressed_until.len() > 1024 || w == i64::MAX)
        {
            self.suppressed_until.retain(|(_, _, u)| *u > w);
        }
    }
}

/// Per-aggregate running numbers over a sliding group's span (for the condition).
#[derive(Debug, Clone)]
enum SlideAgg {
    Count(u64),
    CountPresent(u64),
    /// Hash → events in the span; the `k`-th `count_distinct` (see `Row::distinct_hash`).
    Distinct(HashMap<u64, u32>, usize),
    /// A `count_distinct` of a group-by field (`CompiledRule::group_distinct`): events in
    /// the span with the value (the count is 1 when any has it).
    GroupDistinct(u64),
    /// values/min/max: computed from the rows when needed.
    Other,
}

struct SlideGroup {
    rows: VecDeque<Row>,
    counts: Vec<SlideAgg>,
    /// A burst found: its window `[start, end)` and the group's events in it so far.
    pending: Option<(i64, i64, Acc)>,
    suppressed_until: Option<i64>,
    /// For `--explain`: the span with the most events that did not satisfy the condition.
    best: Option<(u64, i64, Acc)>,
}

impl SlideGroup {
    fn new(rule: &CompiledRule) -> SlideGroup {
        let mut k = 0;
        SlideGroup {
            rows: VecDeque::new(),
            counts: rule
                .aggs
                .iter()
                .zip(&rule.group_distinct)
                .map(|((_, a, slot), &gd)| match (a, slot) {
                    (kvsentry_rules::Aggregate::Count(_), None) => SlideAgg::Count(0),
                    (kvsentry_rules::Aggregate::Count(_), Some(_)) => SlideAgg::CountPresent(0),
                    (kvsentry_rules::Aggregate::CountDistinct(_), Some(_)) if gd => {
                        SlideAgg::GroupDistinct(0)
                    }
                    (kvsentry_rules::Aggregate::CountDistinct(_), _) => {
                        k += 1;
                        SlideAgg::Distinct(HashMap::new(), k - 1)
                    }
                    _ => SlideAgg::Other,
                })
                .collect(),
            pending: None,
            suppressed_until: None,
            best: None,
        }
    }

    fn count(&mut self, rule: &CompiledRule, row: &Row, add: bool) {
        for (c, (_, _, slot)) in self.counts.iter_mut().zip(&rule.aggs) {
            match c {
                SlideAgg::Count(n) => *n = if add { *n + 1 } else { n.saturating_sub(1) },
                SlideAgg::CountPresent(n) | SlideAgg::GroupDistinct(n) => {
                    if slot.is_some_and(|s| row.present(s)) {
                        *n = if add { *n + 1 } else { n.saturating_sub(1) };
                    }
                }
                SlideAgg::Distinct(m, k) => {
                    if let Some(h) = slot.and_then(|s| row.distinct_hash(&rule.value_hasher, *k, s))
                    {
                        if add {
                            *m.entry(h).or_insert(0) += 1;
                        } else if let Some(n) = m.get_mut(&h) {
                            *n -= 1;
                            if *n == 0 {
                                m.remove(&h);
                            }
                        }
                    }
                }
                SlideAgg::Other => {}
            }
        }
    }

    fn clear(&mut self) {
        self.rows.clear();
        for c in &mut self.counts {
            match c {
                SlideAgg::Count(n) | SlideAgg::CountPresent(n) | SlideAgg::GroupDistinct(n) => {
                    *n = 0
                }
                SlideAgg::Distinct(m, _) => m.clear(),
                SlideAgg::Other => {}
            }
        }
    }

    fn numeric(&self, rule: &CompiledRule, buf: &mut Vec<f64>) {
        buf.clear();
        let mut need_rows = false;
        for c in &self.counts {
            buf.push(match c {
                SlideAgg::Count(n) | SlideAgg::CountPresent(n) => *n as f64,
                SlideAgg::GroupDistinct(n) => (*n).min(1) as f64,
                SlideAgg::Distinct(m, _) => m.len() as f64,
                SlideAgg::Other => {
                    need_rows = true;
                    f64::NAN
                }
            });
        }
        if need_rows {
            if let Some(first) = self.rows.front() {
                // min/max over the span: rare in conditions, computed from the rows.
                let mut acc = Acc::new(rule, first);
                for r in &self.rows {
                    acc.add(rule, r);
                }
                let mut full = Vec::new();
                acc.numeric(rule, &mut full);
                for (b, (c, f)) in buf.iter_mut().zip(self.counts.iter().zip(full)) {
                    if matches!(c, SlideAgg::Other) {
                        *b = f;
                    }
                }
            }
        }
    }
}

/// Sliding windows. Rows wait in a reorder buffer until the watermark passes them, then each
/// group sees its rows in time order. After a row at time `t`, the span is `(t - size, t]`:
/// when the condition holds over it, a burst is found, whose window is
/// `[s, s + size)` with `s` the time of the span's earliest row; the alert's aggregates
/// cover all the group's rows in that window (later ones included), and it is emitted when
/// the watermark passes the window's end. The group's rows before `s + size + suppression`
/// then start no new alert.
#[derive(Default)]
pub(crate) struct Sliding {
    buffer: BinaryHeap<Reverse<Ordered>>,
    groups: HashMap<Box<str>, SlideGroup>,
    /// Rows up to this time have been released to the groups.
    released_until: Option<i64>,
    pending_ends: BTreeSet<(i64, Box<str>)>,
    last_gc: Option<i64>,
}

struct Ordered(Row);

impl PartialEq for Ordered {
    fn eq(&self, o: &Self) -> bool {
        self.0.order_key() == o.0.order_key()
    }
}
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ordered {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.order_key().cmp(&o.0.order_key())
    }
}

impl Sliding {
    fn push(&mut self, row: Row, late: bool, ctx: &mut Ctx<'_>) -> bool {
        if late && self.released_until.is_some_and(|r| row.time < r) {
            // Too late to replay in order: it still counts toward a burst already found
            // whose window is open.
            if let Some(g) = self.groups.get_mut(row.key()) {
                if let Some((start, end, acc)) = g.pending.as_mut() {
                    if row.time >= *start && row.time < *end {
                        acc.add(ctx.rule, &row);
                        return true;
                    }
                }
            }
            return false;
        }
        self.buffer.push(Reverse(Ordered(row)));
        ctx.stats.max_buffered = ctx.stats.max_buffered.max(self.buffer.len() as u64);
        true
    }

    fn advance(&mut self, w: i64, ctx: &mut Ctx<'_>) {
        while self.buffer.peek().is_some_and(|Reverse(r)| r.0.time <= w) {
            if let Some(Reverse(Ordered(row))) = self.buffer.pop() {
                self.release(row, ctx);
            }
        }
        if self.released_until.is_none_or(|r| w > r) {
            self.released_until = Some(w);
        }
        while let Some((end, _)) = self.pending_ends.first() {
            if *end > w {
                break;
            }
            if let Some((_, key)) = self.pending_ends.pop_first() {
                self.emit_pending(&key, ctx);
            }
        }
        // Forget rows no future span can reach, and idle groups.
        let size = ctx.rule.size;
        if w == i64::MAX || self.last_gc.is_none_or(|g| w.saturating_sub(g) >= size) {
            self.last_gc = Some(w);
            let horizon = w.saturating_sub(size);
            let rule = ctx.rule;
            let mut dropped: Vec<(Box<str>, SlideGroup)> = Vec::new();
            let keys: Vec<Box<str>> = self.groups.keys().cloned().collect();
            for key in keys {
                let Some(g) = self.groups.get_mut(&key) else {
                    continue;
                };
                while g
                    .rows
                    .front()
                    .is_some_and(|r| r.time <= horizon || w == i64::MAX)
                {
                    if let Some(r) = g.rows.pop_front() {
                        g.count(rule, &r, false);
                    }
                }
                let idle = g.rows.is_empty()
                    && g.pending.is_none()
                    && g.suppressed_until.is_none_or(|u| u <= w);
                if idle {
                    if let Some(g) = self.groups.remove(&key) {
                        dropped.push((key, g));
                    }
                }
            }
            dropped.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, g) in dropped {
                if let Some((_, start, mut acc)) = g.best {
                    if ctx.explain.is_some() {
                        let end = start.saturating_add(size);
                        ctx.conclude(
                            Some(&key),
                            &mut acc,
                            start,
                            end,
                            None,
                            Some("sliding: the group's busiest span, which did not satisfy the condition".into()),
                        );
                    }
                }
            }
        }
        ctx.stats.max_open_groups = ctx.stats.max_open_groups.max(self.groups.len() as u64);
    }

    fn emit_pending(&mut self, key: &str, ctx: &mut Ctx<'_>) {
        if let Some(g) = self.groups.get_mut(key) {
            if let Some((start, end, mut acc)) = g.pending.take() {
                ctx.conclude(Some(key), &mut acc, start, end, None, None);
            }
        }
    }

    fn release(&mut self, row: Row, ctx: &mut Ctx<'_>) {
        let rule = ctx.rule;
        let t = row.time;
        if !self.groups.contains_key(row.key()) {
            self.groups.insert(row.key().into(), SlideGroup::new(rule));
            ctx.stats.max_open_groups = ctx.stats.max_open_groups.max(self.groups.len() as u64);
        }
        let Some(g) = self.groups.get_mut(row.key()) else {
            return;
        };
        if let Some((_, end, acc)) = g.pending.as_mut() {
            if t < *end {
                acc.add(rule, &row);
                return;
            }
            let end = *end;
            let key: Box<str> = row.key().into();
            self.pending_ends.remove(&(end, key.clone()));
            self.emit_pending(&key, ctx);
        }
        let Some(g) = self.groups.get_mut(row.key()) else {
            return;
        };
        if g.suppressed_until.is_some_and(|u| t < u) {
            return;
        }
        let horizon = t.saturating_sub(rule.size);
        while g.rows.front().is_some_and(|r| r.time <= horizon) {
            if let Some(r) = g.rows.pop_front() {
                g.count(rule, &r, false);
            }
        }
        g.count(rule, &row, true);
        g.rows.push_back(row);
        g.numeric(rule, ctx.buf);
        if rule.condition.eval(ctx.buf) {
            let Some(first) = g.rows.front() else {
                return;
            };
            let start = first.time;
            let end = start.saturating_add(rule.size);
            let mut acc = Acc::new(rule, first);
            for r in &g.rows {
                acc.add(rule, r);
            }
            let key: Box<str> = first.key().into();
            g.clear();
            g.pending = Some((start, end, acc));
            g.best = None;
            g.suppressed_until = Some(end.saturating_add(rule.suppression));
            self.pending_ends.insert((end, key));
        } else if ctx.explain.is_some() {
            let n = g.rows.len() as u64;
            if g.best.as_ref().is_none_or(|(b, _, _)| n > *b) {
                if let Some(first) = g.rows.front() {
                    let mut acc = Acc::new(rule, first);
                    for r in &g.rows {
                        acc.add(rule, r);
                    }
                    g.best = Some((n, first.time, acc));
                }
            }
        }
        ctx.stats.max_window_rows = ctx.stats.max_window_rows.max(g.rows.len() as u64);
    }
}
