use std::net::IpAddr;

use jiff::Timestamp;

use super::outbox;
use super::tables::{KEY_ENGINE, KEY_FORMAT, META, POSITIONS};
use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ids(pending: &[Pending]) -> Vec<&str> {
    pending.iter().map(|p| p.id.as_str()).collect()
}

fn checkpoint(n: u64, alerts: &[&str]) -> Commit {
    let mut c = Commit::new(format!("engine {n}").into_bytes());
    c.position("logs", b"p0", &n.to_le_bytes());
    for id in alerts {
        c.alert("file", id, format!("{{\"id\":\"{id}\"}}").as_bytes());
    }
    c
}

#[test]
fn a_new_store_has_no_checkpoint_and_a_commit_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("state")).unwrap();
    assert_eq!(store.load().unwrap(), None);
    let mut c = Commit::new(b"snap".to_vec());
    c.position("logs", b"vault1/PT1H.json", b"1234")
        .position("kafka", &3u32.to_le_bytes(), b"77");
    store.commit(&c).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.checkpoint, 1);
    assert_eq!(loaded.engine, b"snap");
    let want: BTreeMap<(String, Vec<u8>), Vec<u8>> = [
        (
            ("kafka".to_owned(), 3u32.to_le_bytes().to_vec()),
            b"77".to_vec(),
        ),
        (
            ("logs".to_owned(), b"vault1/PT1H.json".to_vec()),
            b"1234".to_vec(),
        ),
    ]
    .into();
    assert_eq!(loaded.positions, want);
}

#[test]
fn positions_not_named_in_a_commit_keep_their_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut c = Commit::new(b"e1".to_vec());
    c.position("logs", b"a", b"10")
        .position("logs", b"b", b"20");
    store.commit(&c).unwrap();
    let mut c = Commit::new(b"e2".to_vec());
    c.position("logs", b"b", b"25");
    store.commit(&c).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.checkpoint, 2);
    assert_eq!(loaded.engine, b"e2");
    assert_eq!(loaded.positions[&("logs".to_owned(), b"a".to_vec())], b"10");
    assert_eq!(loaded.positions[&("logs".to_owned(), b"b".to_vec())], b"25");
    let mut c = Commit::new(b"e3".to_vec());
    c.position("logs", b"c", b"1").forget_position("logs", b"a");
    c.forget_position("logs", b"never");
    store.commit(&c).unwrap();
    let loaded = store.load().unwrap().unwrap();
    let kept: Vec<&[u8]> = loaded.positions.keys().map(|k| k.1.as_slice()).collect();
    assert_eq!(kept, [b"b".as_slice(), b"c".as_slice()]);
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = StateStore::open(dir.path()).unwrap();
        let mut c = checkpoint(7, &["a1", "a2", "a3"]);
        c.ips(&[(ip("203.0.113.7"), ts("2026-03-01T10:00:00Z"))]);
        store.commit(&c).unwrap();
        store.mark_delivered("file", &[0]).unwrap();
    }
    let store = StateStore::open(dir.path()).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.engine, b"engine 7");
    assert_eq!(loaded.positions.len(), 1);
    assert_eq!(ids(&store.pending("file", 10).unwrap()), ["a2", "a3"]);
    assert!(store.is_delivered("file", "a1").unwrap());
    assert_eq!(
        store.counts("file").unwrap(),
        SinkCounts {
            pending: 2,
            delivered: 1
        }
    );
    assert_eq!(
        store.ips_since(ts("2026-03-01T00:00:00Z")).unwrap(),
        [(ip("203.0.113.7"), ts("2026-03-01T10:00:00Z"))]
    );
    // New alerts continue the sequence after the stored ones.
    store.commit(&checkpoint(8, &["a4"])).unwrap();
    let seqs: Vec<u64> = store
        .pending("file", 10)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[test]
fn a_second_open_of_the_same_dir_is_refused_while_the_first_lives() {
    let dir = tempfile::tempdir().unwrap();
    let first = StateStore::open(dir.path()).unwrap();
    let err = StateStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("in use by another kvsentry serve"),
        "{err}"
    );
    drop(first);
    StateStore::open(dir.path()).unwrap();
}

#[test]
fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = StateStore::open(dir.path()).unwrap();
        let txn = store.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_FORMAT, 99u32.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let err = StateStore::open(dir.path()).err().unwrap();
    assert!(
        matches!(
            err,
            StateError::NewerFormat {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("format version 99") && msg.contains("up to 1"),
        "{msg}"
    );
}

#[test]
fn a_transaction_dropped_before_commit_leaves_the_previous_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store.commit(&checkpoint(1, &["a1"])).unwrap();
    {
        // A commit interrupted after writing part of its tables.
        let txn = store.db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_ENGINE, b"engine 2".as_slice())
            .unwrap();
        txn.open_table(POSITIONS)
            .unwrap()
            .insert(("logs", b"p0".as_slice()), 2u64.to_le_bytes().as_slice())
            .unwrap();
        outbox::append(&txn, &[("file".into(), "a2".into(), b"x".to_vec())], 10).unwrap();
    }
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded.checkpoint, 1);
    assert_eq!(loaded.engine, b"engine 1");
    assert_eq!(
        loaded.positions[&("logs".to_owned(), b"p0".to_vec())],
        1u64.to_le_bytes()
    );
    assert_eq!(ids(&store.pending("file", 10).unwrap()), ["a1"]);
    // The store stays usable and the next commit takes the next sequence number.
    store.commit(&checkpoint(2, &["a2"])).unwrap();
    assert_eq!(store.load().unwrap().unwrap().checkpoint, 2);
    assert_eq!(store.pending("file", 10).unwrap()[1].seq, 1);
}

#[test]
fn an_alert_already_queued_or_delivered_is_not_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut c = checkpoint(1, &["a1", "a2"]);
    c.alert("hook", "a1", b"h1");
    assert_eq!(store.commit(&c).unwrap().queued, 3);
    // Replayed after a crash: the same alerts again, plus one new.
    assert_eq!(
        store
            .commit(&checkpoint(2, &["a1", "a2", "a3"]))
            .unwrap()
            .queued,
        1
    );
    store.mark_delivered("file", &[0, 1]).unwrap();
    assert_eq!(
        store.commit(&checkpoint(3, &["a1", "a2"])).unwrap().queued,
        0
    );
    // Twice within one commit is once too.
    assert_eq!(
        store.commit(&checkpoint(4, &["a4", "a4"])).unwrap().queued,
        1
    );
    assert_eq!(ids(&store.pending("file", 10).unwrap()), ["a3", "a4"]);
    assert_eq!(ids(&store.pending("hook", 10).unwrap()), ["a1"]);
    assert!(!store.is_delivered("hook", "a1").unwrap());
}

#[test]
fn pending_is_in_order_and_limited_and_delivery_moves_to_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store.commit(&checkpoint(1, &["c", "a", "b", "d"])).unwrap();
    let first = store.pending("file", 3).unwrap();
    assert_eq!(ids(&first), ["c", "a", "b"]);
    assert_eq!(first[0].encoded, br#"{"id":"c"}"#);
    assert_eq!(store.pending("nosuch", 3).unwrap(), []);
    // Acknowledged out of order, with one unknown and one repeated sequence number.
    assert_eq!(store.mark_delivered("file", &[1, 9, 1]).unwrap(), 1);
    assert_eq!(ids(&store.pending("file", 10).unwrap()), ["c", "b", "d"]);
    assert!(store.is_delivered("file", "a").unwrap());
    assert!(!store.is_delivered("file", "c").unwrap());
    assert!(!store.is_delivered("other", "a").unwrap());
    assert_eq!(store.mark_delivered("file", &[0, 2, 3]).unwrap(), 3);
    assert_eq!(store.pending("file", 10).unwrap(), []);
    assert_eq!(
        store.counts("file").unwrap(),
        SinkCounts {
            pending: 0,
            delivered: 4
        }
    );
    assert_eq!(store.counts("nosuch").unwrap(), SinkCounts::default());
    assert_eq!(
        store.delivered_ids("file", 10).unwrap(),
        ["a", "c", "b", "d"]
    );
    assert_eq!(store.delivered_ids("file", 2).unwrap(), ["b", "d"]);
}

#[test]
fn a_full_outbox_reports_backpressure_without_losing_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open_with(dir.path(), StateOptions { outbox_limit: 3 }).unwrap();
    let r = store.commit(&checkpoint(1, &["a1", "a2"])).unwrap();
    assert_eq!(
        r,
        CommitReport {
            queued: 2,
            backpressure: false
        }
    );
    assert!(!store.outbox_full().unwrap());
    let r = store.commit(&checkpoint(2, &["a3", "a4"])).unwrap();
    assert_eq!(
        r,
        CommitReport {
            queued: 2,
            backpressure: true
        }
    );
    assert!(store.outbox_full().unwrap());
    assert_eq!(store.counts("file").unwrap().pending, 4);
    // A commit with no alerts still reports the full outbox.
    assert!(store.commit(&checkpoint(3, &[])).unwrap().backpressure);
    store.mark_delivered("file", &[0, 1]).unwrap();
    assert!(!store.outbox_full().unwrap());
    assert!(!store.commit(&checkpoint(4, &[])).unwrap().backpressure);
}

#[test]
fn the_ledger_is_pruned_by_age_and_count_but_keeps_its_newest_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    store
        .commit(&checkpoint(1, &["a0", "a1", "a2", "a3", "a4", "a5"]))
        .unwrap();
    for (seq, day) in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)] {
        let at = ts(&format!("2026-03-0{day}T00:00:00Z"));
        outbox::mark_delivered(&store.db, "file", &[seq], at).unwrap();
    }
    // Older than the 3rd, but the newest 5 stay: only a0 goes.
    let keep = LedgerRetention {
        older_than: Some(ts("2026-03-03T00:00:00Z")),
        max_entries: None,
        min_entries: 5,
    };
    assert_eq!(store.prune_ledger("file", &keep).unwrap(), 1);
    assert!(!store.is_delivered("file", "a0").unwrap());
    assert!(store.is_delivered("file", "a1").unwrap());
    // By age alone: a1 (the 2nd) goes, a2 (exactly the cutoff) stays.
    let keep = LedgerRetention {
        min_entries: 0,
        ..keep
    };
    assert_eq!(store.prune_ledger("file", &keep).unwrap(), 1);
    assert_eq!(
        store.delivered_ids("file", 10).unwrap(),
        ["a2", "a3", "a4", "a5"]
    );
    // By count.
    let keep = LedgerRetention {
        older_than: None,
        max_entries: Some(2),
        min_entries: 0,
    };
    assert_eq!(store.prune_ledger("file", &keep).unwrap(), 2);
    assert_eq!(store.delivered_ids("file", 10).unwrap(), ["a4", "a5"]);
    assert_eq!(store.counts("file").unwrap().delivered, 2);
    assert_eq!(store.prune_ledger("file", &keep).unwrap(), 0);
    // A pruned id could be queued again; one still in the ledger cannot.
    assert_eq!(
        store.commit(&checkpoint(2, &["a0", "a5"])).unwrap().queued,
        1
    );
}

#[test]
fn caller_ips_keep_their_last_time_and_are_pruned_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut c = Commit::new(Vec::new());
    c.ips(&[
        (ip("203.0.113.7"), ts("2026-03-02T00:00:00Z")),
        (ip("2001:db8::1"), ts("2026-03-01T00:00:00Z")),
        // An older sighting does not move the last-seen time back.
        (ip("203.0.113.7"), ts("2026-02-01T00:00:00Z")),
    ]);
    store.commit(&c).unwrap();
    let mut c = Commit::new(Vec::new());
    c.ips(&[(ip("198.51.100.1"), ts("2026-03-03T00:00:00Z"))]);
    store.commit(&c).unwrap();
    let mut seen = store.ips_since(ts("2026-03-01T00:00:00Z")).unwrap();
    seen.sort();
    assert_eq!(
        seen,
        [
            (ip("198.51.100.1"), ts("2026-03-03T00:00:00Z")),
            (ip("203.0.113.7"), ts("2026-03-02T00:00:00Z")),
            (ip("2001:db8::1"), ts("2026-03-01T00:00:00Z")),
        ]
    );
    assert_eq!(
        store.ips_since(ts("2026-03-02T12:00:00Z")).unwrap().len(),
        1
    );
    assert_eq!(
        store.prune_ips_before(ts("2026-03-02T00:00:00Z")).unwrap(),
        1
    );
    assert_eq!(store.ips_since(Timestamp::MIN).unwrap().len(), 2);
}

#[test]
fn size_bytes_is_the_file_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let before = store.size_bytes().unwrap();
    assert!(before > 0);
    let big = checkpoint(1, &[]);
    let mut big = Commit {
        engine: vec![7; 4 << 20],
        ..big
    };
    big.alert("file", "x", &[1; 1000]);
    store.commit(&big).unwrap();
    assert!(store.size_bytes().unwrap() >= 4 << 20);
    assert_eq!(
        store.size_bytes().unwrap(),
        std::fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .len()
    );
}
