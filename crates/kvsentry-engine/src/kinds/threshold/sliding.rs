//! Sliding windows: a burst caught in any span of the window's length.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, VecDeque};

use foldhash::{HashMap, HashMapExt};

use super::acc::Acc;
use super::ctx::Ctx;
use super::plan::CompiledRule;
use super::row::Row;

/// Per-aggregate running numbers over a sliding group's span (for the condition).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

#[derive(serde::Serialize, serde::Deserialize)]
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
                // Saturating: the numbers may come from a snapshot, which is input.
                SlideAgg::Count(n) => {
                    *n = if add {
                        n.saturating_add(1)
                    } else {
                        n.saturating_sub(1)
                    }
                }
                SlideAgg::CountPresent(n) | SlideAgg::GroupDistinct(n) => {
                    if slot.is_some_and(|s| row.present(s)) {
                        *n = if add {
                            n.saturating_add(1)
                        } else {
                            n.saturating_sub(1)
                        };
                    }
                }
                SlideAgg::Distinct(m, k) => {
                    if let Some(h) = slot.and_then(|s| row.distinct_hash(&rule.value_hasher, *k, s))
                    {
                        if add {
                            let n = m.entry(h).or_insert(0);
                            *n = n.saturating_add(1);
                        } else if let Some(n) = m.get_mut(&h) {
                            *n = n.saturating_sub(1);
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
        if need_rows && let Some(first) = self.rows.front() {
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

/// Sliding windows. Rows wait in a reorder buffer until the watermark passes them, then each
/// group sees its rows in time order. After a row at time `t`, the span is `(t - size, t]`:
/// when the condition holds over it, a burst is found, whose window is
/// `[s, s + size)` with `s` the time of the span's earliest row; the alert's aggregates
/// cover all the group's rows in that window (later ones included), and it is emitted when
/// the watermark passes the window's end. The group's rows before `s + size + suppression`
/// then start no new alert.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sliding {
    buffer: BinaryHeap<Reverse<Ordered>>,
    groups: HashMap<Box<str>, SlideGroup>,
    /// Rows up to this time have been released to the groups.
    released_until: Option<i64>,
    pending_ends: BTreeSet<(i64, Box<str>)>,
    last_gc: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
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
    pub fn push(&mut self, row: Row, late: bool, ctx: &mut Ctx<'_, '_>) -> bool {
        if late && self.released_until.is_some_and(|r| row.time < r) {
            // Too late to replay in order: it still counts toward a burst already found
            // whose window is open.
            if let Some(g) = self.groups.get_mut(row.key())
                && let Some((start, end, acc)) = g.pending.as_mut()
                && row.time >= *start
                && row.time < *end
            {
                acc.add(ctx.rule, &row);
                return true;
            }
            return false;
        }
        self.buffer.push(Reverse(Ordered(row)));
        ctx.env.stats.max_buffered = ctx.env.stats.max_buffered.max(self.buffer.len() as u64);
        true
    }

    pub fn advance(&mut self, w: i64, ctx: &mut Ctx<'_, '_>) {
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
                if idle && let Some(g) = self.groups.remove(&key) {
                    dropped.push((key, g));
                }
            }
            dropped.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, g) in dropped {
                if let Some((_, start, mut acc)) = g.best
                    && ctx.env.explain.is_some()
                {
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
        ctx.env.stats.max_open_groups = ctx.env.stats.max_open_groups.max(self.groups.len() as u64);
    }

    fn emit_pending(&mut self, key: &str, ctx: &mut Ctx<'_, '_>) {
        if let Some(g) = self.groups.get_mut(key)
            && let Some((start, end, mut acc)) = g.pending.take()
        {
            ctx.conclude(Some(key), &mut acc, start, end, None, None);
        }
    }

    fn release(&mut self, row: Row, ctx: &mut Ctx<'_, '_>) {
        let rule = ctx.rule;
        let t = row.time;
        if !self.groups.contains_key(row.key()) {
            if ctx.env.max_groups.is_some_and(|m| self.groups.len() >= m) {
                // Bounded state: a new group is refused (see `max_groups_per_rule`).
                ctx.env.stats.evicted += 1;
                return;
            }
            self.groups.insert(row.key().into(), SlideGroup::new(rule));
            ctx.env.stats.max_open_groups =
                ctx.env.stats.max_open_groups.max(self.groups.len() as u64);
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
        g.numeric(rule, ctx.env.buf);
        if rule.condition.eval(ctx.env.buf) {
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
        } else if ctx.env.explain.is_some() {
            let n = g.rows.len() as u64;
            if g.best.as_ref().is_none_or(|(b, _, _)| n > *b)
                && let Some(first) = g.rows.front()
            {
                let mut acc = Acc::new(rule, first);
                for r in &g.rows {
                    acc.add(rule, r);
                }
                g.best = Some((n, first.time, acc));
            }
        }
        ctx.env.stats.max_window_rows = ctx.env.stats.max_window_rows.max(g.rows.len() as u64);
    }
}
