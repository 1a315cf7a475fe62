use std::io::Write;

use super::*;
use crate::{Block, parse_block};

fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kvsentry-follow-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A Storage record with a distinct correlation id, padded to about `pad` bytes.
fn line(n: u64, pad: usize) -> String {
    format!(
        "{{\"time\":\"2025-07-01T10:00:{:02}Z\",\"resourceId\":\"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV\",\"operationName\":\"SecretGet\",\"category\":\"AuditEvent\",\"resultType\":\"Success\",\"resultSignature\":\"OK\",\"callerIpAddress\":\"10.0.0.1\",\"correlationId\":\"{n}\",\"properties\":{{\"pad\":\"{}\"}}}}\n",
        n % 60,
        "x".repeat(pad)
    )
}

fn once() -> FollowOptions {
    FollowOptions {
        once: true,
        settle: Duration::from_secs(3600),
        ..FollowOptions::default()
    }
}

/// (line, correlation id) of each event in `block`.
fn events(block: &Block) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut stats = ReadStats::new();
    parse_block(block, &ReadOptions::default(), &mut stats, &mut |e| {
        out.push((
            e.origin.line,
            e.correlation_id.as_deref().unwrap_or("").to_string(),
        ))
    });
    out
}

#[test]
fn a_byte_order_mark_is_skipped_and_kept_in_the_offset() {
    let root = scratch("bom");
    let p = root.join("a.jsonl");
    let (a, b) = (line(1, 0), line(2, 0));
    fs::write(&p, format!("\u{feff}{a}")).unwrap();
    let mut f = Follow::new(&root, once()).unwrap();
    let Some(Unit::Block(block)) = f.next_unit() else {
        panic!("a block")
    };
    assert_eq!((block.first_line, block.offset), (1, 0));
    assert_eq!(block.data(), a.as_bytes());
    assert_eq!(events(&block), [(1, "1".to_string())]);
    assert!(matches!(f.next_unit(), Some(Unit::End(e)) if e.error.is_none()));
    assert!(f.next_unit().is_none());
    assert_eq!(f.checkpoint().files["a.jsonl"].offset, 3 + a.len() as u64);
    fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(b.as_bytes())
        .unwrap();
    let Some(Unit::Block(block)) = f.next_unit() else {
        panic!("a block")
    };
    assert_eq!((block.first_line, block.offset), (2, a.len() as u64));
    assert_eq!(events(&block), [(2, "2".to_string())]);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_gzip_file_cut_by_a_checkpoint_resumes_at_the_next_line() {
    use flate2::{Compression, write::GzEncoder};
    let root = scratch("gzcut");
    let text: String = (0..200).map(|n| line(n, 100)).collect();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    fs::write(root.join("a.json.gz"), gz.finish().unwrap()).unwrap();
    let mut opts = once();
    opts.read.chunk_bytes = 4096;
    let mut f = Follow::new(&root, opts.clone()).unwrap();
    // Two looks: the first sees it, the second finds it unchanged.
    assert!(f.next_unit().is_none());
    let mut seen = Vec::new();
    for _ in 0..3 {
        let Some(Unit::Block(b)) = f.next_unit() else {
            panic!("a block")
        };
        seen.extend(events(&b));
    }
    let cp = f.checkpoint();
    let pos = cp.files["a.json.gz"];
    assert!(!pos.done);
    assert_eq!(pos.line, seen.len() as u64 + 1);
    let mut g = Follow::resume(&root, opts, &cp).unwrap();
    assert!(g.next_unit().is_none());
    while let Some(unit) = g.next_unit() {
        match unit {
            Unit::Block(b) => seen.extend(events(&b)),
            Unit::End(e) => assert!(e.error.is_none()),
            Unit::Stream(_) => panic!("lines come as blocks"),
        }
    }
    let expected: Vec<(u64, String)> = (0..200).map(|n| (n + 1, n.to_string())).collect();
    assert_eq!(seen, expected);
    assert!(g.checkpoint().files["a.json.gz"].done);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn an_empty_file_or_unfinished_first_line_waits() {
    let root = scratch("wait");
    let p = root.join("PT1H.json");
    fs::write(&p, "").unwrap();
    let mut f = Follow::new(&root, once()).unwrap();
    assert!(f.next_unit().is_none());
    let a = line(1, 0);
    fs::write(&p, &a[..40]).unwrap();
    assert!(f.next_unit().is_none());
    assert_eq!(f.files[0].kind, Kind::Unknown);
    fs::write(&p, &a).unwrap();
    let Some(Unit::Block(block)) = f.next_unit() else {
        panic!("a block")
    };
    assert_eq!(events(&block), [(1, "1".to_string())]);
    assert_eq!(f.files[0].kind, Kind::Lines(LogFormat::Storage));
    assert_eq!(f.progress(), (a.len() as u64, a.len() as u64));
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn resume_with_unknown_files_keeps_their_indexes_and_numbers_new_ones_after() {
    let root = scratch("indexes");
    fs::write(root.join("b.jsonl"), line(1, 0)).unwrap();
    let mut cp = FollowCheckpoint::default();
    cp.files.insert(
        "z.jsonl".to_string(),
        FilePosition {
            source: 0,
            offset: 0,
            line: 1,
            identity: None,
            done: false,
            size: 0,
        },
    );
    let mut f = Follow::resume(&root, once(), &cp).unwrap();
    let Some(Unit::Block(block)) = f.next_unit() else {
        panic!("a block")
    };
    assert_eq!(block.source, 1);
    assert_eq!(f.source_of("z.jsonl"), Some(0));
    assert_eq!(f.source_of("b.jsonl"), Some(1));
    assert_eq!(f.names().len(), 2);
    fs::remove_dir_all(&root).unwrap();
}

/// The pipeline moves a source to its reading thread; a checkpoint goes to the state store.
#[test]
fn follow_is_send_and_its_checkpoint_round_trips() {
    fn send<T: Send>() {}
    send::<Follow>();
    let mut cp = FollowCheckpoint::default();
    cp.files.insert(
        "a/PT1H.json".to_string(),
        FilePosition {
            source: 3,
            offset: 42,
            line: 7,
            identity: Some(FileIdentity { dev: 1, ino: 2 }),
            done: false,
            size: 0,
        },
    );
    let text = serde_json::to_string(&cp).unwrap();
    assert_eq!(
        text,
        r#"{"files":{"a/PT1H.json":{"source":3,"offset":42,"line":7,"identity":{"dev":1,"ino":2},"done":false,"size":0}}}"#
    );
    assert_eq!(serde_json::from_str::<FollowCheckpoint>(&text).unwrap(), cp);
    let old: FollowCheckpoint =
        serde_json::from_str(r#"{"files":{"x":{"source":0,"offset":5,"line":2}}}"#).unwrap();
    assert_eq!(old.files["x"].identity, None);
}
