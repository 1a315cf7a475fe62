use std::io::{self, Read, Write};

use kvsentry_model::AuditEvent;
use kvsentry_read::Guarded;

use super::files::preview;
use super::*;
use crate::parse_block;
use crate::{Input, ReadOptions};

/// A Storage record with operation `OP{i}` and `pad` bytes of padding.
fn rec(i: usize, pad: usize) -> String {
    format!(
        r#"{{"time":"2024-01-01T00:00:00Z","operationName":"OP{i}","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V","pad":"{}"}}"#,
        "x".repeat(pad)
    )
}

/// Hands out its bytes in pieces of 1 to 997 bytes, and fails (once) at `fail_at`.
struct Dribble {
    data: Vec<u8>,
    at: usize,
    step: usize,
    fail_at: Option<usize>,
}

impl Read for Dribble {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|f| self.at >= f) {
            self.fail_at = None;
            return Err(io::Error::other("disk on fire"));
        }
        self.step = (self.step * 31 + 7) % 997 + 1;
        let end = self
            .data
            .len()
            .min(self.at + self.step)
            .min(self.at + buf.len());
        let end = self.fail_at.map_or(end, |f| end.min(f));
        let n = end - self.at;
        buf[..n].copy_from_slice(&self.data[self.at..end]);
        self.at = end;
        Ok(n)
    }
}

/// Events seen: (source, line, operation).
type Seen = Vec<(u32, u64, String)>;

/// Every event of a block.
fn events_of(block: &Block, out: &mut Seen) {
    let mut stats = ReadStats::new();
    let mut on_event =
        |e: &AuditEvent<'_>| out.push((e.origin.source, e.origin.line, e.operation.to_string()));
    parse_block(block, &ReadOptions::default(), &mut stats, &mut on_event);
}

/// Cuts `data` read in pieces (the first `head` bytes already read, as after detection):
/// the events, the line reached and whether the read failed. Checks that every block
/// ends at a line end (or the end of the data) and that blocks follow each other.
fn cut(
    data: &[u8],
    head: usize,
    chunk: usize,
    fail_at: Option<usize>,
) -> (Vec<(u64, String)>, u64, bool) {
    let reader = Guarded::new(Dribble {
        data: data[head..].to_vec(),
        at: 0,
        step: 0,
        fail_at,
    });
    let start = Checkpoint {
        source: 1,
        offset: 0,
        line: 1,
    };
    let mut blocks = LineBlocks::after_head(
        reader,
        &data[..head],
        Vec::new(),
        start,
        LogFormat::Storage,
        chunk,
    );
    let mut spare = Vec::new();
    let mut out = Vec::new();
    let mut at = Checkpoint {
        source: 1,
        offset: 0,
        line: 1,
    };
    while let Some(block) = blocks.next_block(&mut spare) {
        assert_eq!((block.offset, block.first_line), (at.offset, at.line));
        let end = block.offset as usize + block.data().len();
        assert!(block.data().ends_with(b"\n") || end == data.len());
        assert_eq!(block.data(), &data[block.offset as usize..end]);
        at = block.end();
        events_of(&block, &mut out);
        spare.push(block.into_buffer());
    }
    assert_eq!(blocks.position(), at);
    let (err, _) = blocks.finish();
    let reached = if err.is_some() { at.line - 1 } else { 0 };
    let out = out.into_iter().map(|(_, l, op)| (l, op)).collect();
    (out, reached, err.is_some())
}

/// Blocks filled by plain reads (pieces of any size, a line longer than the chunk, no
/// final newline, a read error) hold exactly the complete lines, with their numbers.
#[test]
fn blocks_are_every_complete_line() {
    let mut lines: Vec<String> = (0..300).map(|i| rec(i, (i * 37) % 200)).collect();
    // longer than the chunk (4096), and than many chunks
    lines[40] = rec(40, 9000);
    lines[41] = rec(41, 70_000);
    lines[120] = String::new();
    let text = lines.join("\n");
    // bad UTF-8 inside a string of line 60: replaced, the record and the count kept
    let mut text = text.into_bytes();
    let at = lines[..59].iter().map(|l| l.len() + 1).sum::<usize>() + lines[59].len() - 3;
    assert_eq!(text[at], b'x');
    text[at] = 0xff;
    let want: Vec<(u64, String)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, _)| (i as u64 + 1, format!("OP{i}")))
        .collect();
    for head in [0, 100, 5000] {
        // no final newline: the last line is read at the end of the data
        let (got, _, failed) = cut(&text, head, 4096, None);
        assert_eq!(got, want, "head {head}");
        assert!(!failed);
        let mut with_nl = text.clone();
        with_nl.push(b'\n');
        let (got, _, _) = cut(&with_nl, head, 4096, None);
        assert_eq!(got, want);
    }
    // A read error in the middle of line 200: lines 1 to 199 only, the error after 199.
    let at = lines[..199].iter().map(|l| l.len() + 1).sum::<usize>() + 10;
    let (got, reached, failed) = cut(&text, 0, 4096, Some(at));
    assert!(failed);
    assert_eq!(reached, 199);
    assert_eq!(got, want[..got.len()].to_vec());
    assert_eq!(got.last().map(|g| g.0), Some(199));
}

#[test]
fn preview_is_printable() {
    assert_eq!(preview(b"PK\x03\x04ab"), "\"PK\\x03\\x04ab\"");
}

/// Every unit of a source, parsed: the events and the inputs' ends (source, error).
fn drain(src: &mut dyn Source) -> (Seen, Vec<(u32, bool)>) {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    while let Some(unit) = src.next_unit() {
        match unit {
            Unit::Block(b) => {
                events_of(&b, &mut out);
                src.recycle(b.into_buffer());
            }
            Unit::Stream(s) => {
                let source = s.source();
                let mut stats = ReadStats::new();
                let mut on_event = |e: &AuditEvent<'_>| {
                    out.push((e.origin.source, e.origin.line, e.operation.to_string()))
                };
                let r = crate::read_stream(s, &ReadOptions::default(), &mut stats, &mut on_event);
                ends.push((source, r.is_err()));
            }
            Unit::End(e) => ends.push((e.source, e.error.is_some())),
        }
    }
    (out, ends)
}

/// The same records as plain lines, gzip, with a BOM, as UTF-16 and as a document give the
/// same events with the same lines; a truncated gzip gives a prefix and an error; source
/// indices start at `first`.
#[test]
fn files_read_every_encoding_alike() {
    let dir = tempfile_dir();
    let text: String = (0..2000).map(|i| rec(i, i % 90) + "\n").collect();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let mut utf16 = vec![0xff, 0xfe];
    for u in text.encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("plain.json", text.clone().into_bytes()),
        ("gz.json.gz", gz.clone()),
        ("bom.json", bom),
        ("utf16.json", utf16),
        ("cut.json.gz", gz[..gz.len() / 2].to_vec()),
        ("missing.json", Vec::new()),
    ];
    let mut inputs = Vec::new();
    for (name, bytes) in &files {
        let p = dir.join(name);
        if *name != "missing.json" {
            std::fs::write(&p, bytes).unwrap();
        }
        inputs.push(Input::file(p));
    }
    let opts = ReadOptions {
        chunk_bytes: 16 * 1024,
        ..ReadOptions::default()
    };
    let mut files_src = Files::new(&inputs, 7, &opts);
    let (events, ends) = drain(&mut files_src);
    assert_eq!(
        ends,
        vec![
            (7, false),
            (8, false),
            (9, false),
            (10, false),
            (11, true),
            (12, true)
        ]
    );
    let of = |s: u32| -> Vec<(u64, String)> {
        events
            .iter()
            .filter(|e| e.0 == s)
            .map(|e| (e.1, e.2.clone()))
            .collect()
    };
    let want: Vec<(u64, String)> = (0..2000)
        .map(|i| (i as u64 + 1, format!("OP{i}")))
        .collect();
    for s in 7..=10 {
        assert_eq!(of(s), want, "source {s}");
    }
    let cut = of(11);
    assert!(cut.len() > 100 && cut.len() < 2000, "{}", cut.len());
    assert_eq!(cut, want[..cut.len()].to_vec());
    let (done, total) = files_src.progress();
    assert_eq!(total, files.iter().map(|f| f.1.len() as u64).sum::<u64>());
    assert_eq!(done, total);
}

fn tempfile_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "kvsentry-source-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An endless source held in memory (as a stream partition would be): records arrive in
/// batches of a few lines, each becomes a block, and reading resumes from a checkpoint.
struct Partition {
    next: u64,
    /// Lines left before it pauses (None: never; the real one would block).
    budget: Option<u64>,
    offset: u64,
}

impl Partition {
    fn resume(at: Checkpoint) -> Partition {
        Partition {
            next: at.line,
            budget: None,
            offset: at.offset,
        }
    }
}

impl Source for Partition {
    fn next_unit(&mut self) -> Option<Unit> {
        let n = 3 + self.next % 5;
        if let Some(b) = &mut self.budget {
            if *b < n {
                return None;
            }
            *b -= n;
        }
        let mut bytes = Vec::new();
        for i in self.next..self.next + n {
            bytes.extend_from_slice(rec(i as usize, 0).as_bytes());
            bytes.push(b'\n');
        }
        let len = bytes.len();
        let block = Block::new(3, LogFormat::Storage, self.next, self.offset, bytes, len);
        self.next = block.end().line;
        self.offset = block.end().offset;
        Some(Unit::Block(block))
    }
}

/// Reading an endless source to a checkpoint, then resuming from it, gives what one
/// uninterrupted read gives.
#[test]
fn an_endless_source_resumes_from_a_checkpoint() {
    let take = |src: &mut dyn Source, blocks: usize| {
        let mut out = Vec::new();
        let mut at = None;
        for _ in 0..blocks {
            let Some(Unit::Block(b)) = src.next_unit() else {
                break;
            };
            events_of(&b, &mut out);
            at = Some(b.end());
        }
        (out, at)
    };
    let mut whole = Partition::resume(Checkpoint {
        source: 3,
        offset: 0,
        line: 1,
    });
    let (all, _) = take(&mut whole, 40);
    let mut first = Partition {
        budget: Some(60),
        ..Partition::resume(Checkpoint {
            source: 3,
            offset: 0,
            line: 1,
        })
    };
    let (mut got, at) = take(&mut first, 40);
    assert!(first.next_unit().is_none(), "paused");
    let at = at.unwrap();
    assert_eq!(at.line, got.len() as u64 + 1);
    let mut resumed = Partition::resume(at);
    let (rest, _) = take(&mut resumed, 40);
    got.extend(rest);
    got.truncate(all.len());
    assert_eq!(got, all);
    assert_eq!(
        all[..3],
        [
            (3, 1, "OP1".to_string()),
            (3, 2, "OP2".to_string()),
            (3, 3, "OP3".to_string())
        ]
    );
}

/// A stream of lines cut part way, then cut again from the checkpoint reached (as a
/// resumed blob or partition would be), gives the events of one uninterrupted cut, with
/// the same line numbers.
#[test]
fn line_blocks_resume_from_their_position() {
    let text: String = (1..=3000).map(|i| rec(i, i % 300) + "\n").collect();
    let start = Checkpoint {
        source: 4,
        offset: 0,
        line: 1,
    };
    let mut spare = Vec::new();
    let mut all = Vec::new();
    let mut whole = LineBlocks::new(text.as_bytes(), start, LogFormat::Storage, 8192);
    while let Some(b) = whole.next_block(&mut spare) {
        events_of(&b, &mut all);
    }
    assert_eq!(all.len(), 3000);
    assert_eq!(all[2999], (4, 3000, "OP3000".to_string()));

    let mut got = Vec::new();
    let mut first = LineBlocks::new(text.as_bytes(), start, LogFormat::Storage, 8192);
    for _ in 0..5 {
        let b = first.next_block(&mut spare).unwrap();
        events_of(&b, &mut got);
    }
    let at = first.position();
    assert!(at.offset > 0 && (at.line as usize) == got.len() + 1);
    let rest = &text.as_bytes()[at.offset as usize..];
    let mut resumed = LineBlocks::new(rest, at, LogFormat::Storage, 8192);
    while let Some(b) = resumed.next_block(&mut spare) {
        assert!(b.offset >= at.offset);
        events_of(&b, &mut got);
    }
    assert_eq!(got, all);
}
