//! The stateless stage: every rule's filter and the copy of what an event contributes to
//! the rules it passes, on any thread.

use std::sync::atomic::{AtomicU64, Ordering};

use kvsentry_model::AuditEvent;
use serde::{Deserialize, Serialize};

use crate::filters::{FilterSet, Memo, Node};
use crate::kinds::{Compiled, Outcome, RuleRow};
use crate::time::nanos;

/// What one event contributes: a row for each rule whose filter it passed.
///
/// Serialisable (e.g. with `postcard`) so that a caller that must reorder a large input can
/// hold rows on disk in their compact form, within one process. Only the engine whose
/// [`Preparer`] made it may observe it: its rows name rules by position, indicators by
/// their place in the rule's selection and groups by hashes of that engine's seeds. Each
/// preparer stamps its own generation and [`Engine::observe`](crate::Engine::observe)
/// refuses (and counts) any other, so a caller that replaces its engine (a reload of rules
/// or intel, a restore) must first drain its readers of what they prepared for the old one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    pub(crate) time: i64,
    /// The generation of the preparer that made it.
    pub(crate) generation: u64,
    /// The first rule's row held in place (an event usually passes one or two rules'
    /// filters), the others in `rows`.
    pub(crate) first: Option<(usize, RuleRow)>,
    pub(crate) rows: Vec<(usize, RuleRow)>,
    /// Rules the event counts for without a row (an indicator_match rule's filter passed
    /// with an address that matched nothing).
    pub(crate) counted: Counted,
    /// For the explained rule: the top-level filter clause that rejected the event (for an
    /// indicator_match rule, then the reasons it did not match, see `indicator::WHY_*`).
    pub(crate) explain_reject: Option<usize>,
}

/// A set of rule positions, the first 64 as bits (counted without allocating: the usual
/// case), any others in a list made only when one is met.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Counted {
    low: u64,
    /// A boxed slice: one word in place (a `Vec` would be three, in every `Prepared`).
    more: Option<Box<[u32]>>,
}

impl Counted {
    fn insert(&mut self, i: usize) {
        match 1u64.checked_shl(i as u32) {
            Some(bit) if i < 64 => self.low |= bit,
            _ => {
                let mut v = self.more.take().map(Vec::from).unwrap_or_default();
                v.push(u32::try_from(i).unwrap_or(u32::MAX));
                self.more = Some(v.into_boxed_slice());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.low == 0 && self.more.is_none()
    }

    /// The positions, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut low = self.low;
        // The set bits, lowest first.
        std::iter::from_fn(move || {
            let i = low.trailing_zeros();
            low &= low.wrapping_sub(1);
            (i < 64).then_some(i as usize)
        })
        .chain(self.more.iter().flat_map(|v| v.iter().map(|&i| i as usize)))
    }

    fn heap_bytes(&self) -> usize {
        self.more.as_ref().map_or(0, |v| v.len() * size_of::<u32>())
    }
}

impl Prepared {
    /// True when the event contributes nothing to any rule's state (passed no threshold
    /// rule's filter, matched no indicator).
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Number of rules the event contributes to.
    pub fn matched_rules(&self) -> usize {
        usize::from(self.first.is_some()) + self.rows.len()
    }

    /// The event's time, in nanoseconds since the Unix epoch.
    pub fn time_nanos(&self) -> i64 {
        self.time
    }

    /// Bytes this value holds on the heap (an estimate within a few words), for memory
    /// budgets of callers that hold many.
    pub fn heap_bytes(&self) -> usize {
        self.first.as_ref().map_or(0, |(_, r)| r.heap_bytes())
            + self.rows.capacity() * size_of::<(usize, RuleRow)>()
            + self.rows.iter().map(|(_, r)| r.heap_bytes()).sum::<usize>()
            + self.counted.heap_bytes()
    }
}

/// The stateless stage: compiled rules. `Send + Sync`; share it across reader threads.
#[derive(Debug)]
pub struct Preparer {
    pub(crate) rules: Vec<Compiled>,
    pub(crate) explain: Option<usize>,
    /// Every rule's filter over one set of shared tests.
    filters: FilterSet,
    /// Each rule's filter (`None`: a rule without one).
    nodes: Vec<Option<Node>>,
    /// Stamped on every `Prepared`: unique to this preparer within the process.
    pub(crate) generation: u64,
}

/// The last generation handed out (see `Preparer::generation`).
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

impl Preparer {
    pub(crate) fn new(rules: Vec<Compiled>, explain: Option<usize>) -> Preparer {
        let mut filters = FilterSet::default();
        let nodes = rules
            .iter()
            .map(|r| r.filter().map(|f| filters.add(f)))
            .collect();
        Preparer {
            rules,
            explain,
            filters,
            nodes,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed).wrapping_add(1),
        }
    }

    /// Rule `i`'s filter on `ev` (shared tests evaluated once per event through `memo`).
    #[inline]
    fn passes(&self, i: usize, ev: &AuditEvent<'_>, memo: &mut Memo) -> bool {
        match self.nodes.get(i) {
            Some(Some(n)) => self.filters.eval(n, ev, memo),
            _ => true,
        }
    }

    /// Runs the filters on one event, and what each rule it passes takes from it.
    pub fn prepare(&self, ev: &AuditEvent<'_>) -> Prepared {
        let mut first = None;
        let mut rows = Vec::new();
        let mut counted = Counted::default();
        let mut explain_reject = None;
        let mut memo = Memo::default();
        for (i, r) in self.rules.iter().enumerate() {
            let explained = self.explain == Some(i);
            let passed = self.passes(i, ev, &mut memo);
            match r.prepare(ev, passed, explained) {
                Outcome::Row(row) => {
                    if first.is_none() {
                        first = Some((i, row));
                    } else {
                        rows.push((i, row));
                    }
                }
                Outcome::Counted(why) => {
                    counted.insert(i);
                    if why.is_some() {
                        explain_reject = why;
                    }
                }
                Outcome::Rejected(why) => {
                    if why.is_some() {
                        explain_reject = why;
                    }
                }
            }
        }
        Prepared {
            time: nanos(ev.time),
            generation: self.generation,
            first,
            rows,
            counted,
            explain_reject,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule positions past 64 are counted too, in order, without a cap.
    #[test]
    fn counted_holds_any_position() {
        let mut c = Counted::default();
        assert!(c.is_empty());
        for i in [0, 5, 63, 64, 200, 70] {
            c.insert(i);
        }
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![0, 5, 63, 64, 200, 70]);
        let mut low = Counted::default();
        low.insert(3);
        assert_eq!(low.heap_bytes(), 0);
    }
}
