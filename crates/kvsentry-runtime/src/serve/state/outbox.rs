//! Each sink's outbox (alerts waiting for delivery, in order) and ledger (alerts its
//! receiver acknowledged, or that were dead-lettered after it refused them for good), and
//! the counters the metrics read.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::CommitReport;
use super::error::StateError;
use super::tables::{
    DEAD_LETTERED, LEDGER, LEDGER_ORDER, OUTBOX, OUTBOX_IDS, SINKS, SinkRow, micros,
};

/// An alert waiting in a sink's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its place in the outbox; what [`super::StateStore::mark_delivered`] takes.
    pub seq: u64,
    /// The alert id (the webhook's `Idempotency-Key`).
    pub id: String,
    /// The alert as the sink encodes it.
    pub encoded: Vec<u8>,
}

/// A sink's counts, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkCounts {
    /// Alerts in the outbox.
    pub pending: u64,
    /// Alerts in the ledger (delivered or dead-lettered, and not yet pruned).
    pub delivered: u64,
}

/// What [`super::StateStore::prune_ledger`] removes: the oldest entries that are older than
/// `older_than` or beyond the newest `max_entries`, but never the newest `min_entries` (the
/// ids a sink reads back to reconcile its output on start, and that keep an alert produced
/// again after a replay from being queued twice).
#[derive(Debug, Clone, Default)]
pub struct LedgerRetention {
    pub older_than: Option<Timestamp>,
    pub max_entries: Option<u64>,
    pub min_entries: u64,
}

fn row<T: ReadableTable<&'static str, (u64, u64, u64)>>(
    sinks: &T,
    sink: &str,
) -> Result<SinkRow, StateError> {
    Ok(sinks
        .get(sink)?
        .map(|v| SinkRow::from_tuple(v.value()))
        .unwrap_or_default())
}

fn full<T: ReadableTable<&'static str, (u64, u64, u64)>>(
    sinks: &T,
    limit: u64,
) -> Result<bool, StateError> {
    for r in sinks.iter()? {
        let (_, v) = r?;
        if SinkRow::from_tuple(v.value()).pending >= limit {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Appends (sink, id, encoded) alerts to their outboxes within `txn`, skipping ids the sink
/// already holds.
pub(crate) fn append(
    txn: &WriteTransaction,
    alerts: &[(String, String, Vec<u8>)],
    limit: u64,
) -> Result<CommitReport, StateError> {
    let mut sinks = txn.open_table(SINKS)?;
    let mut outbox = txn.open_table(OUTBOX)?;
    let mut ids = txn.open_table(OUTBOX_IDS)?;
    let ledger = txn.open_table(LEDGER)?;
    let mut rows: BTreeMap<&str, SinkRow> = BTreeMap::new();
    let mut queued = 0;
    for (sink, id, encoded) in alerts {
        let key = (sink.as_str(), id.as_str());
        if ids.get(key)?.is_some() || ledger.get(key)?.is_some() {
            continue;
        }
        let r = match rows.get_mut(sink.as_str()) {
            Some(r) => r,
            None => rows.entry(sink).or_insert(row(&sinks, sink)?),
        };
        outbox.insert(
            (sink.as_str(), r.next_seq),
            (id.as_str(), encoded.as_slice()),
        )?;
        ids.insert(key, r.next_seq)?;
        r.next_seq += 1;
        r.pending += 1;
        queued += 1;
    }
    for (sink, r) in rows {
        sinks.insert(sink, r.tuple())?;
    }
    Ok(CommitReport {
        queued,
        backpressure: full(&sinks, limit)?,
    })
}

pub(crate) fn pending(db: &Database, sink: &str, limit: usize) -> Result<Vec<Pending>, StateError> {
    let txn = db.begin_read()?;
    let outbox = txn.open_table(OUTBOX)?;
    let mut out = Vec::new();
    for r in outbox.range((sink, 0)..=(sink, u64::MAX))?.take(limit) {
        let (k, v) = r?;
        let (id, encoded) = v.value();
        out.push(Pending {
            seq: k.value().1,
            id: id.to_owned(),
            encoded: encoded.to_vec(),
        });
    }
    Ok(out)
}

/// Moves these outbox entries to the ledger, delivered at `now`.
pub(crate) fn mark_delivered(
    db: &Database,
    sink: &str,
    seqs: &[u64],
    now: Timestamp,
) -> Result<u64, StateError> {
    mark_done(db, sink, seqs, now, false)
}

/// Moves these outbox entries to the ledger; `dead`: they were dead-lettered, not delivered
/// (counted apart). Returns how many moved.
pub(crate) fn mark_done(
    db: &Database,
    sink: &str,
    seqs: &[u64],
    now: Timestamp,
    dead: bool,
) -> Result<u64, StateError> {
    let now = micros(now);
    let txn = db.begin_write()?;
    let mut moved = 0;
    {
        let mut sinks = txn.open_table(SINKS)?;
        let mut outbox = txn.open_table(OUTBOX)?;
        let mut ids = txn.open_table(OUTBOX_IDS)?;
        let mut ledger = txn.open_table(LEDGER)?;
        let mut order = txn.open_table(LEDGER_ORDER)?;
        let mut r = row(&sinks, sink)?;
        for &seq in seqs {
            let Some(id) = outbox.remove((sink, seq))?.map(|v| v.value().0.to_owned()) else {
                continue;
            };
            ids.remove((sink, id.as_str()))?;
            ledger.insert((sink, id.as_str()), now)?;
            order.insert((sink, now, seq), id.as_str())?;
            r.pending = r.pending.saturating_sub(1);
            r.delivered += 1;
            moved += 1;
        }
        if moved > 0 {
            sinks.insert(sink, r.tuple())?;
            if dead {
                let mut counts = txn.open_table(DEAD_LETTERED)?;
                let n = counts.get(sink)?.map_or(0, |v| v.value());
                counts.insert(sink, n + moved)?;
            }
        }
    }
    txn.commit()?;
    Ok(moved)
}

pub(crate) fn dead_lettered(db: &Database, sink: &str) -> Result<u64, StateError> {
    let txn = db.begin_read()?;
    Ok(txn
        .open_table(DEAD_LETTERED)?
        .get(sink)?
        .map_or(0, |v| v.value()))
}

pub(crate) fn is_delivered(db: &Database, sink: &str, id: &str) -> Result<bool, StateError> {
    let txn = db.begin_read()?;
    Ok(txn.open_table(LEDGER)?.get((sink, id))?.is_some())
}

/// Removes from `ids` those in `sink`'s ledger.
pub(crate) fn retain_undelivered(
    db: &Database,
    sink: &str,
    ids: &mut BTreeSet<String>,
) -> Result<(), StateError> {
    let txn = db.begin_read()?;
    let ledger = txn.open_table(LEDGER)?;
    let mut delivered = Vec::new();
    for id in ids.iter() {
        if ledger.get((sink, id.as_str()))?.is_some() {
            delivered.push(id.clone());
        }
    }
    for id in delivered {
        ids.remove(&id);
    }
    Ok(())
}

pub(crate) fn delivered_ids(
    db: &Database,
    sink: &str,
    limit: usize,
) -> Result<Vec<String>, StateError> {
    let txn = db.begin_read()?;
    let order = txn.open_table(LEDGER_ORDER)?;
    let mut out = Vec::new();
    for r in order
        .range((sink, i64::MIN, 0)..=(sink, i64::MAX, u64::MAX))?
        .rev()
        .take(limit)
    {
        out.push(r?.1.value().to_owned());
    }
    out.reverse();
    Ok(out)
}

pub(crate) fn counts(db: &Database, sink: &str) -> Result<SinkCounts, StateError> {
    let txn = db.begin_read()?;
    let r = row(&txn.open_table(SINKS)?, sink)?;
    Ok(SinkCounts {
        pending: r.pending,
        delivered: r.delivered,
    })
}

pub(crate) fn any_full(db: &Database, limit: u64) -> Result<bool, StateError> {
    let txn = db.begin_read()?;
    full(&txn.open_table(SINKS)?, limit)
}

pub(crate) fn prune_ledger(
    db: &Database,
    sink: &str,
    keep: &LedgerRetention,
) -> Result<u64, StateError> {
    let cutoff = keep.older_than.map(micros);
    let txn = db.begin_write()?;
    let removed;
    {
        let mut sinks = txn.open_table(SINKS)?;
        let mut ledger = txn.open_table(LEDGER)?;
        let mut order = txn.open_table(LEDGER_ORDER)?;
        let mut r = row(&sinks, sink)?;
        let mut doomed = Vec::new();
        let mut remaining = r.delivered;
        for e in order.range((sink, i64::MIN, 0)..=(sink, i64::MAX, u64::MAX))? {
            let (k, v) = e?;
            let (_, at, seq) = k.value();
            let too_old = cutoff.is_some_and(|c| at < c);
            let too_many = keep.max_entries.is_some_and(|m| remaining > m);
            if remaining <= keep.min_entries || !(too_old || too_many) {
                break;
            }
            doomed.push((at, seq, v.value().to_owned()));
            remaining -= 1;
        }
        for (at, seq, id) in &doomed {
            order.remove((sink, *at, *seq))?;
            ledger.remove((sink, id.as_str()))?;
        }
        removed = doomed.len() as u64;
        if removed > 0 {
            r.delivered -= removed;
            sinks.insert(sink, r.tuple())?;
        }
    }
    txn.commit()?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::{Commit, SinkCounts, StateStore};

    fn queued(store: &StateStore, sink: &str, ids: &[&str]) -> u64 {
        let mut c = Commit::new(b"engine".to_vec());
        for id in ids {
            c.alert(sink, id, id.as_bytes());
        }
        store.commit(&c).unwrap().queued
    }

    #[test]
    fn a_dead_lettered_alert_leaves_the_outbox_for_the_ledger_and_is_counted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(queued(&store, "hook", &["a", "b", "c"]), 3);
        assert_eq!(queued(&store, "file", &["a"]), 1);
        assert_eq!(store.mark_dead_lettered("hook", &[1, 7]).unwrap(), 1);
        assert_eq!(store.mark_delivered("hook", &[0, 1]).unwrap(), 1);
        let pending: Vec<String> = (store.pending("hook", 10).unwrap().into_iter())
            .map(|p| p.id)
            .collect();
        assert_eq!(pending, ["c"]);
        assert_eq!(
            store.counts("hook").unwrap(),
            SinkCounts {
                pending: 1,
                delivered: 2
            }
        );
        assert_eq!(store.dead_lettered("hook").unwrap(), 1);
        assert_eq!(store.dead_lettered("file").unwrap(), 0);
        assert!(store.is_delivered("hook", "b").unwrap());
        // Produced again (a replay), it is not queued again.
        assert_eq!(queued(&store, "hook", &["b", "d"]), 1);
        assert_eq!(store.delivered_ids("hook", 10).unwrap().len(), 2);
    }

    #[test]
    fn retain_undelivered_keeps_the_ids_the_ledger_does_not_hold() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        queued(&store, "file", &["a", "b", "c"]);
        store.mark_delivered("file", &[0, 2]).unwrap();
        let mut ids: BTreeSet<String> = ["a", "b", "c", "x"].map(String::from).into();
        store.retain_undelivered("file", &mut ids).unwrap();
        assert_eq!(ids, ["b", "x"].map(String::from).into());
        let mut other: BTreeSet<String> = ["a"].map(String::from).into();
        store.retain_undelivered("hook", &mut other).unwrap();
        assert_eq!(other.len(), 1);
    }
}
