//! Which indicators a run uses: the mode, the selections rules share, and what a rule
//! selected and matched.

use std::sync::Arc;

use foldhash::HashMap;
use kvsentry_intel::{Indicator, IndicatorIndex, IndicatorSet, Selection, SelectionReport};
use kvsentry_model::Timestamp;

/// Which indicators a run uses (see [`kvsentry_intel::Selection`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TiMode {
    /// Hunting past logs: the latest version of every indicator, whatever its age; an event
    /// matches when it happened before the indicator's expiration.
    #[default]
    Retro,
    /// One scheduled run of the rule at this time: indicator versions generated within the
    /// rule's `ioc_lookback` before it, not expired at it.
    AsOf(Timestamp),
}

/// One selection shared by the rules that ask for the same one.
#[derive(Debug)]
pub(crate) struct Selected {
    pub index: IndicatorIndex,
    /// Address of each indexed indicator → its position in `index.iter()`. The index hands
    /// out references to the indicators it holds (`matches` and `iter` alike), so an address
    /// identifies one; an `IndicatorIndex` API returning positions would make this map
    /// unnecessary (asked of kvsentry-intel).
    positions: HashMap<usize, u32>,
    pub report: SelectionReport,
}

impl Selected {
    fn new(index: IndicatorIndex, report: SelectionReport) -> Selected {
        let positions = index
            .iter()
            .enumerate()
            .map(|(i, ind)| (std::ptr::from_ref(ind) as usize, i as u32))
            .collect();
        Selected {
            index,
            positions,
            report,
        }
    }

    pub fn position(&self, ind: &Indicator) -> Option<u32> {
        self.positions
            .get(&(std::ptr::from_ref(ind) as usize))
            .copied()
    }
}

/// Selections by (compat, lookback), so rules asking for the same one share it.
#[derive(Default)]
pub(crate) struct SelectionCache {
    done: Vec<((bool, i64), Arc<Selected>)>,
}

impl SelectionCache {
    pub fn get(
        &mut self,
        set: &IndicatorSet,
        mode: TiMode,
        compat: bool,
        lookback: jiff::SignedDuration,
    ) -> Arc<Selected> {
        let key = (
            compat,
            match mode {
                // Retro ignores the lookback.
                TiMode::Retro => 0,
                TiMode::AsOf(_) => i64::try_from(lookback.as_nanos()).unwrap_or(i64::MAX),
            },
        );
        if let Some((_, s)) = self.done.iter().find(|(k, _)| *k == key) {
            return Arc::clone(s);
        }
        let (index, report) = match mode {
            TiMode::Retro => set.select(Selection::Retro { compat }),
            TiMode::AsOf(at) => {
                let sel = Selection::AsOf { at, compat };
                if set.lookback() == lookback {
                    set.select(sel)
                } else {
                    // The set holds its lookback; a rule with another one selects from a
                    // copy (the records are shared `Arc`s, so this copies pointers only).
                    let mut copy = set.clone();
                    copy.set_lookback(lookback);
                    copy.select(sel)
                }
            }
        };
        let s = Arc::new(Selected::new(index, report));
        self.done.push((key, Arc::clone(&s)));
        s
    }
}
