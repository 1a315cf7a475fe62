//! Tumbling windows `[floor(t, size), +size)` aligned to the Unix epoch, like ES|QL
//! `DATE_TRUNC`. Rows are applied as they come (the group state does not depend on order);
//! a window closes when the watermark reaches its end.

use std::collections::BTreeMap;

use hashbrown::HashTable;

use super::acc::Acc;
use super::ctx::Ctx;
use super::row::Row;

/// A group of a tumbling window, under its key's hash (made in the parallel stage by the
/// rule's seeded hasher, see `Row::hash`).
#[derive(serde::Serialize, serde::Deserialize)]
struct Group {
    hash: u64,
    /// Holds the key (`Acc::key`).
    acc: Acc,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tumbling {
    #[serde(with = "windows")]
    windows: BTreeMap<i64, HashTable<Group>>,
    /// Every window ending at or before this has been closed.
    closed_until: Option<i64>,
    open_groups: u64,
    /// Groups of the last closed window: the capacity of the next one.
    last_groups: usize,
    /// Group (hash, key) → no alert for windows starting before this (window end +
    /// suppression).
    #[serde(with = "suppressions")]
    suppressed_until: HashTable<(u64, Box<str>, i64)>,
    /// Closed windows' groups kept to be freed with the state, not as they close (see
    /// `Engine::finish_into_report`).
    #[serde(skip)]
    closed: Vec<HashTable<Group>>,
}

impl Tumbling {
    /// Takes a row (`late`: behind the watermark); false when its window has closed.
    pub fn push(&mut self, row: Row, late: bool, ctx: &mut Ctx<'_, '_>) -> bool {
        let size = ctx.rule.size;
        let start = row.time.div_euclid(size).saturating_mul(size);
        let end = start.saturating_add(size);
        if self.closed_until.is_some_and(|c| end <= c) {
            if !late {
                // At or after the watermark, so its window was not closed by it: eviction
                // closed it early (a late row is counted as such by the engine).
                ctx.env.stats.evicted_rows += 1;
            }
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
                let mut groups = groups;
                if ctx
                    .env
                    .max_groups
                    .is_some_and(|m| self.open_groups >= m as u64)
                {
                    if !self.evict(start, ctx) {
                        ctx.env.stats.evicted += 1;
                        // The window may have been opened for this group alone.
                        if self.windows.get(&start).is_some_and(HashTable::is_empty) {
                            self.windows.remove(&start);
                        }
                        return false;
                    }
                    groups = self
                        .windows
                        .entry(start)
                        .or_insert_with(|| HashTable::with_capacity(hint));
                }
                // Known from the parallel stage (the row's slots are not read here).
                let never = ctx.env.explain.is_none() && row.never;
                let acc = Acc::first(ctx.rule, row, never);
                groups.insert_unique(hash, Group { hash, acc }, |g| g.hash);
                self.open_groups += 1;
            }
        }
        ctx.env.stats.max_open_windows = ctx
            .env
            .stats
            .max_open_windows
            .max(self.windows.len() as u64);
        ctx.env.stats.max_open_groups = ctx.env.stats.max_open_groups.max(self.open_groups);
        true
    }

    /// Closes the oldest open window: its groups are concluded (alerts, explanations) and
    /// freed. Returns its end and how many groups it held.
    fn close_oldest(&mut self, ctx: &mut Ctx<'_, '_>) -> Option<(i64, usize)> {
        let entry = self.windows.first_entry()?;
        let start = *entry.key();
        let end = start.saturating_add(ctx.rule.size);
        let mut groups = entry.remove();
        let n = groups.len();
        self.open_groups = self.open_groups.saturating_sub(groups.len() as u64);
        self.last_groups = groups.len();
        // Groups are concluded where they lie (a group is a few hundred bytes: moving
        // each out of the table cost more than concluding most of them), then dropped
        // with the table. Explanations come out in group order; alerts are sorted when
        // flushed, so the table's order serves otherwise.
        let mut sorted: Vec<&mut Group>;
        let iter: &mut dyn Iterator<Item = &mut Group> = if ctx.env.explain.is_some() {
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
        if ctx.env.defer_drop {
            self.closed.push(groups);
        }
        Some((end, n))
    }

    /// Bounded state (`EngineOptions::max_groups_per_rule`): closes the oldest open
    /// windows early, as if the watermark had passed them (their alerts go out, their groups
    /// are counted as evicted), until a new group fits. The window `keep` (the new group's)
    /// is not closed: false when the limit cannot be met without it.
    fn evict(&mut self, keep: i64, ctx: &mut Ctx<'_, '_>) -> bool {
        let Some(max) = ctx.env.max_groups else {
            return true;
        };
        while self.open_groups >= max as u64 {
            match self.windows.first_key_value() {
                Some((&start, _)) if start != keep => {}
                _ => return false,
            }
            if let Some((end, n)) = self.close_oldest(ctx) {
                ctx.env.stats.evicted += n as u64;
                if self.closed_until.is_none_or(|c| end > c) {
                    self.closed_until = Some(end);
                }
            }
        }
        true
    }

    pub fn advance(&mut self, w: i64, ctx: &mut Ctx<'_, '_>) {
        let size = ctx.rule.size;
        let mut closed_any = false;
        while let Some((&start, _)) = self.windows.first_key_value() {
            if start.saturating_add(size) > w {
                break;
            }
            closed_any = true;
            self.close_oldest(ctx);
        }
        if self.closed_until.is_none_or(|c| w > c) {
            self.closed_until = Some(w);
        }
        // Forget expired suppressions now and then (not on every event: this is O(groups)).
        if closed_any
            && !ctx.env.defer_drop
            && (self.suppressed_until.len() > 1024 || w == i64::MAX)
        {
            // A window still open or yet to open ends after `w`, so starts after
            // `w - size`: a suppression until then or before can hold back none of them (one
            // until a later time may, though it has passed `w`).
            let horizon = w.saturating_sub(size);
            self.suppressed_until.retain(|(_, _, u)| *u > horizon);
        }
    }
}

/// A window's groups as a list in snapshots (a table is rebuilt from the hashes kept).
mod windows {
    use std::collections::BTreeMap;

    use hashbrown::HashTable;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Group;

    pub fn serialize<S: Serializer>(
        w: &BTreeMap<i64, HashTable<Group>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            w.iter()
                .map(|(start, t)| (start, t.iter().collect::<Vec<_>>())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<i64, HashTable<Group>>, D::Error> {
        let v: Vec<(i64, Vec<Group>)> = Deserialize::deserialize(d)?;
        Ok(v.into_iter()
            .map(|(start, groups)| {
                let mut t = HashTable::with_capacity(groups.len());
                for g in groups {
                    t.insert_unique(g.hash, g, |g| g.hash);
                }
                (start, t)
            })
            .collect())
    }
}

/// The suppressions as a list in snapshots.
mod suppressions {
    use hashbrown::HashTable;
    use serde::{Deserialize, Deserializer, Serializer};

    type Entry = (u64, Box<str>, i64);

    pub fn serialize<S: Serializer>(t: &HashTable<Entry>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(t.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashTable<Entry>, D::Error> {
        let v: Vec<Entry> = Deserialize::deserialize(d)?;
        let mut t = HashTable::with_capacity(v.len());
        for e in v {
            t.insert_unique(e.0, e, |e| e.0);
        }
        Ok(t)
    }
}
