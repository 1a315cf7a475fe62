//! Capped sets of distinct values held in a group's text, and the slots of the row being
//! added that are already copied there.

use serde_json::Value;

use super::row::Row;
use super::value::{B, V, ValueHasher, hash_b, store, str_len, view};

/// Slots of the current row already copied into the group's text (shared by the aggregates,
/// entities and evidence that read the same field).
pub(crate) struct Resolved {
    vals: [Option<V>; 32],
    /// The row's text becomes the group's text once the row is added (a group's first
    /// row): its slots are used where they are, nothing is copied.
    pub own: bool,
}

impl Resolved {
    pub fn new(own: bool) -> Resolved {
        Resolved {
            vals: [None; 32],
            own,
        }
    }

    pub fn get(&mut self, text: &mut String, row: &Row, i: usize) -> Option<V> {
        if self.own {
            return row.slot(i);
        }
        if let Some(v) = self.vals.get(i).copied().flatten() {
            return Some(v);
        }
        let v = store(text, row.value(i)?);
        if let Some(c) = self.vals.get_mut(i) {
            *c = Some(v);
        }
        Some(v)
    }

    pub fn note(&mut self, i: usize, v: V) {
        if let Some(c) = self.vals.get_mut(i) {
            *c = Some(v);
        }
    }
}

/// Distinct values with the smallest `cap` kept, held in the group's text: a few compared
/// in turn (the usual case: one to a handful of values per group and window), more kept
/// sorted and searched. A value already held costs comparisons, never an allocation.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
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
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = V> + '_ {
        self.first.iter().copied().chain(self.rest.iter().copied())
    }

    /// Adds the value of `row`'s slot `i`. Returns where the value is held in `text` when
    /// it is (for other readers of the same slot).
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        hs: &ValueHasher,
        text: &mut String,
        garbage: &mut usize,
        res: &mut Resolved,
        row: &Row,
        i: usize,
        cap: usize,
    ) -> Option<V> {
        let b = row.value(i)?;
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

    pub fn to_json(&self, text: &str) -> Vec<Value> {
        self.sorted(text).into_iter().map(B::to_json).collect()
    }

    pub fn to_texts(&self, text: &str) -> Vec<String> {
        self.sorted(text).into_iter().map(B::to_text).collect()
    }

    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    pub fn refs_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.first.iter_mut().chain(self.rest.iter_mut())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use kvsentry_model::Origin;
    use serde_json::Value;

    use super::*;
    use crate::kinds::threshold::plan::DH_INLINE;
    use crate::kinds::threshold::row::Packed;
    use crate::kinds::threshold::value::{Capped, Val};

    fn row_of(vals: &[B<'_>]) -> Row {
        let mut text = String::new();
        let mut slots = Vec::new();
        for b in vals {
            slots.push(Packed::of_test(&mut text, *b));
        }
        Row {
            time: 0,
            origin: Origin::default(),
            seq: 0,
            hash: 0,
            dh: [0; DH_INLINE],
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
        let hs = super::super::value::seeded(1);
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
}
