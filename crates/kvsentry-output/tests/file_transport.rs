//! The rotating JSON-lines alert file: rotation by size, kept files, and the reconcile that
//! makes a restart after `kill -9` write each alert exactly once.

mod common;

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{alert, line};
use kvsentry_model::Alert;
use kvsentry_output::encode::JsonLines;
use kvsentry_output::sink::{FileTransport, Recovered};
use kvsentry_output::{AlertSink, Sink, Transport};

fn alerts(n: usize) -> Vec<Alert> {
    (0..n).map(alert).collect()
}

/// Every alert line has the same length here (the caller number has one digit).
fn line_len() -> u64 {
    line(&alert(0)).len() as u64
}

fn rotated(path: &Path, n: usize) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The alert ids of a file's lines, in order.
fn ids_in(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Alert>(l).unwrap().alert_id)
        .collect()
}

fn id(n: usize) -> String {
    alert(n).alert_id
}

fn deliver_all(t: &mut FileTransport, alerts: &[Alert]) {
    for a in alerts {
        t.deliver(a, &line(a)).unwrap();
    }
}

#[test]
fn lines_go_in_order_and_a_reopened_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/alerts.jsonl");
    let all = alerts(4);
    {
        let mut sink = Sink::new(JsonLines::new(), FileTransport::open(&path).unwrap());
        sink.write(&all[0]).unwrap();
        sink.write(&all[1]).unwrap();
        sink.finish().unwrap();
    }
    let mut t = FileTransport::open(&path).unwrap();
    assert_eq!(t.path(), path);
    deliver_all(&mut t, &all[2..]);
    t.sync().unwrap();
    assert_eq!(ids_in(&path), [id(0), id(1), id(2), id(3)]);
    let want: Vec<u8> = all.iter().flat_map(line).collect();
    assert_eq!(fs::read(&path).unwrap(), want);
}

#[test]
fn rotation_happens_before_an_alert_would_pass_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let l = line_len();
    // Exactly two lines fit: the third starts a new file.
    let mut t = FileTransport::open(&path).unwrap().with_rotation(2 * l, 5);
    deliver_all(&mut t, &alerts(5));
    assert_eq!(ids_in(&rotated(&path, 2)), [id(0), id(1)]);
    assert_eq!(ids_in(&rotated(&path, 1)), [id(2), id(3)]);
    assert_eq!(ids_in(&path), [id(4)]);
    assert!(!rotated(&path, 3).exists());
    for p in [rotated(&path, 2), rotated(&path, 1)] {
        assert_eq!(fs::metadata(p).unwrap().len(), 2 * l);
    }

    // One byte less, and only one line fits per file.
    let path = dir.path().join("tight.jsonl");
    let mut t = FileTransport::open(&path)
        .unwrap()
        .with_rotation(2 * l - 1, 5);
    deliver_all(&mut t, &alerts(3));
    assert_eq!(ids_in(&rotated(&path, 2)), [id(0)]);
    assert_eq!(ids_in(&rotated(&path, 1)), [id(1)]);
    assert_eq!(ids_in(&path), [id(2)]);
}

#[test]
fn an_alert_larger_than_the_size_gets_a_file_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut t = FileTransport::open(&path).unwrap().with_rotation(10, 5);
    deliver_all(&mut t, &alerts(2));
    assert_eq!(ids_in(&rotated(&path, 1)), [id(0)]);
    assert_eq!(ids_in(&path), [id(1)]);
}

#[test]
fn only_keep_rotated_files_are_kept_the_oldest_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut t = FileTransport::open(&path)
        .unwrap()
        .with_rotation(line_len(), 3);
    deliver_all(&mut t, &alerts(7));
    assert_eq!(ids_in(&path), [id(6)]);
    assert_eq!(ids_in(&rotated(&path, 1)), [id(5)]);
    assert_eq!(ids_in(&rotated(&path, 2)), [id(4)]);
    assert_eq!(ids_in(&rotated(&path, 3)), [id(3)]);
    assert!(!rotated(&path, 4).exists());
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "alerts.jsonl",
            "alerts.jsonl.1",
            "alerts.jsonl.2",
            "alerts.jsonl.3"
        ]
    );

    // keep = 0: a rotation drops the old alerts.
    let path = dir.path().join("none.jsonl");
    let mut t = FileTransport::open(&path)
        .unwrap()
        .with_rotation(line_len(), 0);
    deliver_all(&mut t, &alerts(3));
    assert_eq!(ids_in(&path), [id(2)]);
    assert!(!rotated(&path, 1).exists());
}

#[test]
fn a_reopened_file_counts_its_size_toward_the_next_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let l = line_len();
    let all = alerts(4);
    let mut t = FileTransport::open(&path).unwrap().with_rotation(3 * l, 2);
    deliver_all(&mut t, &all[..2]);
    drop(t);
    let mut t = FileTransport::open(&path).unwrap().with_rotation(3 * l, 2);
    deliver_all(&mut t, &all[2..]);
    assert_eq!(ids_in(&rotated(&path, 1)), [id(0), id(1), id(2)]);
    assert_eq!(ids_in(&path), [id(3)]);
}

#[test]
fn reconcile_cuts_a_partial_last_line_and_returns_the_ids_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let l = line_len();
    let all = alerts(5);
    let mut t = FileTransport::open(&path).unwrap().with_rotation(2 * l, 2);
    deliver_all(&mut t, &all);
    t.sync().unwrap();
    drop(t);
    // .2 = {0,1}, .1 = {2,3}, current = {4}; then a write cut by kill -9.
    let whole = fs::read(&path).unwrap();
    let cut = &line(&alert(7))[..50];
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(cut)
        .unwrap();

    let found = FileTransport::reconcile(&path, 2).unwrap();
    assert_eq!(
        found,
        Recovered {
            alert_ids: (0..5).map(id).collect(),
            truncated_bytes: 50,
            unreadable_lines: 0,
        }
    );
    assert_eq!(fs::read(&path).unwrap(), whole, "back to whole lines");

    // Asked for fewer rotated files, it reads fewer; a second reconcile finds nothing to cut.
    let found = FileTransport::reconcile(&path, 1).unwrap();
    assert_eq!(found.alert_ids, (2..5).map(id).collect());
    assert_eq!(found.truncated_bytes, 0);
}

#[test]
fn reconcile_of_a_missing_file_finds_nothing_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    assert_eq!(
        FileTransport::reconcile(&path, 3).unwrap(),
        Recovered::default()
    );
    assert!(!path.exists());
}

#[test]
fn reconcile_counts_lines_that_are_not_alerts_and_leaves_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let text = [
        line(&alert(0)),
        b"not json\n".to_vec(),
        b"{\"no_id\":1}\n".to_vec(),
        b"\n".to_vec(),
        line(&alert(1)),
    ]
    .concat();
    fs::write(&path, &text).unwrap();
    let found = FileTransport::reconcile(&path, 0).unwrap();
    assert_eq!(found.alert_ids, BTreeSet::from([id(0), id(1)]));
    assert_eq!(found.unreadable_lines, 2);
    assert_eq!(found.truncated_bytes, 0);
    assert_eq!(fs::read(&path).unwrap(), text);
}

#[test]
fn open_alone_also_cuts_a_partial_line_so_the_next_alert_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let first = line(&alert(0));
    fs::write(&path, [first.as_slice(), &line(&alert(1))[..30]].concat()).unwrap();
    let mut t = FileTransport::open(&path).unwrap();
    t.deliver(&alert(2), &line(&alert(2))).unwrap();
    assert_eq!(ids_in(&path), [id(0), id(2)]);
}

/// What serve does after a crash: reconcile, skip the ids the file holds (delivered but not
/// yet recorded as such), deliver the rest; each alert ends up in the files exactly once.
#[test]
fn a_restart_after_a_cut_write_writes_each_alert_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let l = line_len();
    let all = alerts(8);
    // The first run delivers 0..5 and is killed halfway through alert 5.
    let mut t = FileTransport::open(&path).unwrap().with_rotation(3 * l, 4);
    deliver_all(&mut t, &all[..5]);
    drop(t);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&line(&all[5])[..l as usize - 1])
        .unwrap();

    // The restart: its ledger knew only 0..3, so 3..8 are pending.
    let found = FileTransport::reconcile(&path, 4).unwrap();
    assert_eq!(found.truncated_bytes, l - 1);
    let t = FileTransport::open(&path).unwrap().with_rotation(3 * l, 4);
    let mut sink = Sink::new(JsonLines::new(), t);
    for a in &all[3..] {
        if !found.alert_ids.contains(&a.alert_id) {
            sink.write(a).unwrap();
        }
    }
    sink.finish().unwrap();
    assert!(sink.failures().is_empty());

    let mut seen: Vec<String> = [rotated(&path, 2), rotated(&path, 1), path.clone()]
        .iter()
        .filter(|p| p.exists())
        .flat_map(|p| ids_in(p))
        .collect();
    assert_eq!(seen, (0..8).map(id).collect::<Vec<_>>());
    seen.dedup();
    assert_eq!(seen.len(), 8);
}
