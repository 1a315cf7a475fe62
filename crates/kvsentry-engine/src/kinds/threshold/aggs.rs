//! The state of one aggregate the condition reads, as a group holds it.

use foldhash::{HashSet, HashSetExt};

use super::value::V;

/// Hashes of distinct values, a few in place, more in a set of the group's
/// (`Acc::many`, by index: so that a group's fresh states are a plain copy).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) enum Distinct {
    Few(u8, [u64; 4]),
    Many(usize),
}

impl Distinct {
    pub fn insert(&mut self, many: &mut Vec<HashSet<u64>>, h: u64) {
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

    pub fn len(&self, many: &[HashSet<u64>]) -> usize {
        match self {
            Distinct::Few(n, _) => usize::from(*n),
            Distinct::Many(i) => many.get(*i).map_or(0, HashSet::len),
        }
    }
}

/// The state of one aggregate the condition can read (`values` aggregates keep theirs in
/// `Acc::sets`, made when the group's events are first folded in).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
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
/// fresh ones (see `CompiledRule::agg_states`) without allocating.
const AGGS_INLINE: usize = 4;

/// A group's [`AggState`]s, in the rule's order. (In place on purpose: boxing the large
/// variant is the allocation per group this avoids.)
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

    pub fn as_mut_slice(&mut self) -> &mut [AggState] {
        match self {
            AggStates::Inline(n, a) => a.get_mut(..*n).unwrap_or(&mut []),
            AggStates::Heap(v) => v,
        }
    }
}
