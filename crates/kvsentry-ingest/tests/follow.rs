//! A followed directory (`Follow`): files growing line by line, new files and hours, files
//! read whole, files truncated or replaced, and resuming from a checkpoint.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{fixture, scratch};
use kvsentry_ingest::{
    Follow, FollowCheckpoint, FollowOptions, IngestError, ReadStats, RestartReason, Source, Unit,
    parse_block, read_stream,
};

/// The first Storage record of the fixture, with correlation id `n`, as one line.
fn record(n: u64) -> String {
    let text = fs::read_to_string(fixture("storage.jsonl")).unwrap();
    let line = text.lines().next().unwrap();
    let id = format!("{n:08}-0000-4000-8000-000000000000");
    format!(
        "{}\n",
        line.replace("1e00f8e4-d4c8-46fe-ba9b-3863dde1ff54", &id)
    )
}

fn records(from: u64, to: u64) -> String {
    (from..to).map(record).collect()
}

/// What one event says about where it came from: source, line, correlation id's number.
type Seen = (u32, u64, u64);

#[derive(Default)]
struct Pass {
    events: Vec<Seen>,
    /// (source, first line, offset) of each block.
    blocks: Vec<(u32, u64, u64)>,
    streams: usize,
    errors: Vec<String>,
    stats: ReadStats,
}

/// One pass of a `once` follower: everything it hands out until it is caught up.
fn pass(f: &mut Follow) -> Pass {
    let opts = kvsentry_ingest::ReadOptions::default();
    let mut p = Pass::default();
    let on_event = |events: &mut Vec<Seen>, e: &kvsentry_model::AuditEvent<'_>| {
        let id = e.correlation_id.as_deref().unwrap_or("");
        let n = id.get(..8).and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
        events.push((e.origin.source, e.origin.line, n));
    };
    while let Some(unit) = f.next_unit() {
        match unit {
            Unit::Block(b) => {
                p.blocks.push((b.source, b.first_line, b.offset));
                parse_block(&b, &opts, &mut p.stats, &mut |e| on_event(&mut p.events, e));
                f.recycle(b.into_buffer());
            }
            Unit::Stream(s) => {
                p.streams += 1;
                let r = read_stream(s, &opts, &mut p.stats, &mut |e| on_event(&mut p.events, e));
                if let Err(e) = r {
                    p.errors.push(e.to_string());
                }
            }
            Unit::End(end) => {
                if let Some(e) = end.error {
                    p.errors.push(e.to_string());
                }
                p.stats.merge(end.stats);
            }
        }
    }
    p
}

fn once(settle: Duration) -> FollowOptions {
    FollowOptions {
        once: true,
        settle,
        ..FollowOptions::default()
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn blob(vault: &str, hour: u32) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}/y=2025/m=07/d=01/h={hour:02}/m=00/PT1H.json"
    )
}

fn write_new(root: &Path, rel: &str, text: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn lines_appended_in_pieces_come_whole_with_exact_numbers() {
    let root = scratch("follow-pieces");
    let file = root.join("PT1H.json");
    let first = records(0, 3);
    let fourth = record(3);
    let (head4, tail4) = fourth.split_at(100);
    append(&file, &format!("{first}{head4}"));
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 1, 0), (0, 2, 1), (0, 3, 2)]);
    assert_eq!(p.blocks, [(0, 1, 0)]);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    // Nothing new: an empty pass (the unfinished line waits).
    let p = pass(&mut f);
    assert!(p.events.is_empty() && p.blocks.is_empty());
    // The rest of the fourth line comes in two pieces, the second with a fifth line's start.
    let (a, b) = tail4.split_at(50);
    append(&file, a);
    assert!(pass(&mut f).blocks.is_empty());
    assert!(pass(&mut f).blocks.is_empty());
    let fifth = record(4);
    append(&file, &format!("{b}{}", &fifth[..30]));
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 4, 3)]);
    assert_eq!(p.blocks, [(0, 4, first.len() as u64)]);
    append(&file, &fifth[30..]);
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 5, 4)]);
    assert_eq!(p.stats.skipped_total(), 0);
    let cp = f.checkpoint();
    let pos = cp.files["PT1H.json"];
    assert_eq!(
        (pos.offset, pos.line),
        (fs::metadata(&file).unwrap().len(), 6)
    );
    assert_eq!(f.names(), [file.display().to_string()]);
    assert_eq!(f.restarts(), 0);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn new_files_and_hours_are_picked_up_in_hour_order() {
    let root = scratch("follow-hours");
    write_new(&root, &blob("A", 10), records(0, 2).as_bytes());
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    assert_eq!(pass(&mut f).events, [(0, 1, 0), (0, 2, 1)]);
    // Created in reverse order of the hours they cover; read hour by hour across vaults.
    write_new(&root, &blob("A", 11), records(20, 21).as_bytes());
    write_new(&root, &blob("B", 10), records(10, 11).as_bytes());
    append(&root.join(blob("A", 10)), &records(2, 3));
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 3, 2), (1, 1, 10), (2, 1, 20)]);
    assert_eq!(f.source_of(&blob("B", 10)), Some(1));
    assert_eq!(f.source_of(&blob("A", 11)), Some(2));
    assert_eq!(f.names()[1], root.join(blob("B", 10)).display().to_string());
    // Hidden files are left out.
    write_new(&root, ".tmp/x.json", records(0, 1).as_bytes());
    write_new(&root, &format!("{}.swp", blob(".A", 12)), b"x");
    assert!(pass(&mut f).events.is_empty());
    assert_eq!(f.names().len(), 3);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn order_does_not_depend_on_creation_order() {
    let rels = [
        blob("B", 11),
        blob("A", 11),
        "archive/old.jsonl".to_string(),
        blob("A", 9),
        blob("B", 9),
    ];
    let mut runs = Vec::new();
    for (k, order) in [[0, 1, 2, 3, 4], [4, 2, 3, 0, 1]].iter().enumerate() {
        let root = scratch(&format!("follow-order-{k}"));
        for &i in order {
            write_new(
                &root,
                &rels[i],
                records(i as u64 * 10, i as u64 * 10 + 2).as_bytes(),
            );
        }
        let mut f = Follow::new(&root, once(HOUR)).unwrap();
        let events = pass(&mut f).events;
        let names: Vec<String> = f
            .names()
            .iter()
            .map(|n| n[root.display().to_string().len()..].to_string())
            .collect();
        runs.push((events, names));
        fs::remove_dir_all(&root).unwrap();
    }
    assert_eq!(runs[0], runs[1]);
    // Files without an hour first, then hour by hour, vault A before B within an hour.
    let ids: Vec<u64> = runs[0].0.iter().map(|e| e.2).collect();
    assert_eq!(ids, [20, 21, 30, 31, 40, 41, 10, 11, 0, 1]);
}

#[test]
fn gzip_and_documents_are_read_once_when_they_stop_changing() {
    use flate2::{Compression, write::GzEncoder};
    let root = scratch("follow-gzip");
    write_new(&root, "a.jsonl", records(0, 1).as_bytes());
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    assert_eq!(pass(&mut f).events, [(0, 1, 0)]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(records(10, 13).as_bytes()).unwrap();
    write_new(&root, "b.jsonl.gz", &gz.finish().unwrap());
    fs::copy(fixture("eventhub.json"), root.join("c.json")).unwrap();
    // First seen: not yet known to be complete.
    let p = pass(&mut f);
    assert!(p.events.is_empty());
    // The same size and time at the next look: read whole.
    let p = pass(&mut f);
    assert_eq!(&p.events[..3], [(1, 1, 10), (1, 2, 11), (1, 3, 12)]);
    assert!(p.events[3..].iter().all(|e| e.0 == 2));
    let documents = common::read_fixture("eventhub.json").events.len();
    assert!(documents > 1);
    assert_eq!(p.events.len(), 3 + documents, "{:?}", p.events);
    assert_eq!(p.streams, 1);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    // Never again.
    assert!(pass(&mut f).events.is_empty());
    let cp = f.checkpoint();
    assert!(cp.files["b.jsonl.gz"].done);
    // A follower resumed from the checkpoint does not read them again either.
    let mut g = Follow::resume(&root, once(HOUR), &cp).unwrap();
    assert!(pass(&mut g).events.is_empty());
    assert!(pass(&mut g).events.is_empty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn truncated_or_replaced_files_are_read_again_and_reported() {
    let root = scratch("follow-restart");
    let file = root.join("a.jsonl");
    append(&file, &records(0, 3));
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    assert_eq!(pass(&mut f).events.len(), 3);
    // Truncated to one (other) line.
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&file, &records(5, 6));
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 1, 5)]);
    let shrunk = RestartReason::Shrunk {
        read: records(0, 3).len() as u64,
        size: records(5, 6).len() as u64,
    };
    let r = f.take_restarts();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].file.as_str(), r[0].source, r[0].reason),
        ("a.jsonl", 0, shrunk)
    );
    // Replaced by another file (a rename over it), longer than what was read.
    let tmp = root.join(".new");
    fs::write(&tmp, records(7, 10)).unwrap();
    fs::rename(&tmp, &file).unwrap();
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 1, 7), (0, 2, 8), (0, 3, 9)]);
    let r = f.take_restarts();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].reason, RestartReason::Replaced);
    assert_eq!(f.restarts(), 2);
    assert!(pass(&mut f).events.is_empty());
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resumed_from_a_checkpoint_nothing_twice_nothing_skipped() {
    let root = scratch("follow-resume");
    let a = root.join(blob("A", 10));
    let b = root.join(blob("B", 10));
    write_new(&root, &blob("A", 10), b"");
    let all_a = records(0, 6);
    let all_b = records(100, 104);
    // Part of each, the last line of `a` cut in the middle.
    append(&a, &all_a[..all_a.len() / 2 + 7]);
    write_new(
        &root,
        &blob("B", 10),
        &all_b.as_bytes()[..record(0).len() * 2],
    );
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    let mut union = pass(&mut f).events;
    assert_eq!(union.len(), 3 + 2);
    let saved = serde_json::to_string(&f.checkpoint()).unwrap();
    drop(f);
    // More arrives while nothing runs: the rest of the cut line, new lines, a new hour.
    append(&a, &all_a[all_a.len() / 2 + 7..]);
    append(&b, &all_b[record(0).len() * 2..]);
    write_new(&root, &blob("A", 11), records(200, 202).as_bytes());
    let cp: FollowCheckpoint = serde_json::from_str(&saved).unwrap();
    let mut g = Follow::resume(&root, once(HOUR), &cp).unwrap();
    union.extend(pass(&mut g).events);
    assert_eq!(g.restarts(), 0);
    // One uninterrupted read of the same files.
    let mut whole = Follow::new(&root, once(HOUR)).unwrap();
    let mut expected = pass(&mut whole).events;
    expected.sort();
    union.sort();
    assert_eq!(union, expected);
    assert_eq!(union.len(), 6 + 4 + 2);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_unfinished_last_line_is_delivered_once_the_file_settles() {
    let root = scratch("follow-settle");
    let file = root.join("a.jsonl");
    let two = records(0, 2);
    // The writer stopped mid-way through a line without its newline.
    append(&file, two.trim_end());
    let mut f = Follow::new(&root, once(Duration::from_millis(1000))).unwrap();
    assert_eq!(pass(&mut f).events, [(0, 1, 0)]);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(pass(&mut f).events, [(0, 2, 1)]);
    // The newline comes later, then a line: numbers continue, nothing twice.
    append(&file, &format!("\n{}", record(2)));
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 3, 2)]);
    assert_eq!(p.stats.skipped_total(), 0);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn settle_all_delivers_what_was_written_last_without_waiting() {
    let root = scratch("follow-settle-all");
    let file = root.join("a.jsonl");
    append(&file, records(0, 2).trim_end());
    write_new(&root, "b.json", b"{\"records\":[");
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    // Just written: the unfinished line and the document wait for their hour.
    assert_eq!(pass(&mut f).events, [(0, 1, 0)]);
    f.settle_all();
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 2, 1)]);
    // The document, cut off, was read whole and reported, not left waiting.
    assert_eq!(p.streams, 1);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn endless_mode_waits_for_data_and_stops_on_request() {
    let root = scratch("follow-endless");
    let file = root.join("a.jsonl");
    append(&file, &records(0, 1));
    let opts = FollowOptions {
        poll_interval: Duration::from_millis(20),
        settle: HOUR,
        ..FollowOptions::default()
    };
    let mut f = Follow::new(&root, opts).unwrap();
    let stop = f.stop_handle();
    let writer = {
        let file = file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            append(&file, &records(1, 2));
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
        })
    };
    let p = pass(&mut f);
    writer.join().unwrap();
    assert_eq!(p.events, [(0, 1, 0), (0, 2, 1)]);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_file_of_no_known_form_is_reported_once() {
    let root = scratch("follow-unknown");
    write_new(&root, "notes.txt", b"hello\nworld\n");
    write_new(&root, "a.jsonl", records(0, 1).as_bytes());
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    let p = pass(&mut f);
    assert_eq!(p.events, [(0, 1, 0)]);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].contains("notes.txt"), "{}", p.errors[0]);
    assert_eq!(p.stats.failed_files, 1);
    append(&root.join("notes.txt"), "more\n");
    assert!(pass(&mut f).errors.is_empty());
    let missing = Follow::new(root.join("nope"), once(HOUR)).err();
    assert!(matches!(missing, Some(IngestError::NotFound { .. })));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_file_read_whole_that_changes_afterwards_is_read_again() {
    use flate2::{Compression, write::GzEncoder};
    let gzip = |text: &str| {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    };
    let root = scratch("follow-changed");
    let file = root.join("a.json.gz");
    fs::write(&file, gzip(&records(0, 2))).unwrap();
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    assert!(pass(&mut f).events.is_empty());
    assert_eq!(pass(&mut f).events, [(0, 1, 0), (0, 2, 1)]);
    let before = fs::metadata(&file).unwrap().len();
    // Written again in place (same file), longer.
    fs::write(&file, gzip(&records(0, 3))).unwrap();
    let after = fs::metadata(&file).unwrap().len();
    assert_ne!(before, after);
    let p = pass(&mut f);
    assert!(p.events.is_empty(), "read only once it stops changing");
    assert_eq!(
        f.take_restarts()[0].reason,
        RestartReason::Changed {
            read: before,
            size: after
        }
    );
    assert_eq!(pass(&mut f).events, [(0, 1, 0), (0, 2, 1), (0, 3, 2)]);
    assert_eq!(f.restarts(), 1);
    fs::remove_dir_all(&root).unwrap();
}

/// What a followed directory delivers, read in parts, is what a hunt reads from its files:
/// the same records at the same lines.
#[test]
fn followed_in_parts_reads_what_a_hunt_reads() {
    let root = scratch("follow-as-hunt");
    let rels = [blob("A", 10), blob("B", 10), blob("A", 11)];
    let texts: Vec<String> = (0..3).map(|i| records(i * 10, i * 10 + 7)).collect();
    let mut f = Follow::new(&root, once(HOUR)).unwrap();
    let mut followed = Vec::new();
    // Each file grows in three cuts, at arbitrary bytes.
    for cut in 1..=3 {
        for (rel, text) in rels.iter().zip(&texts) {
            let path = root.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let done = fs::metadata(&path).map_or(0, |m| m.len() as usize);
            let upto = text.len() * cut / 3 - if cut < 3 { 13 } else { 0 };
            append(&path, &text[done..upto]);
        }
        followed.extend(pass(&mut f).events);
    }
    let mut hunted = Vec::new();
    for rel in &rels {
        let source = f.source_of(rel).unwrap();
        let read = common::read_path(&root.join(rel), &Default::default());
        read.result.unwrap();
        for e in read.events {
            let id = e.correlation_id.as_deref().unwrap();
            hunted.push((source, e.origin.line, id[..8].parse::<u64>().unwrap()));
        }
    }
    followed.sort();
    hunted.sort();
    assert_eq!(followed.len(), 21);
    assert_eq!(followed, hunted);
    fs::remove_dir_all(&root).unwrap();
}
