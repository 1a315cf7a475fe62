//! Bad input never panics: every fixture cut at many points, mangled byte by byte, and
//! gzipped then cut, is read without a panic, and what is delivered is a subset of the
//! intact records, in their order, but for the records the damage lies in.

mod common;

use std::io::Write;

use common::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use kvsentry_ingest::{LogFormat, ReadOptions, ReadStats, parse_lines};

const FIXTURES: [&str; 8] = [
    "storage.jsonl",
    "eventhub.json",
    "array.json",
    "azure_diagnostics.json",
    "azure_diagnostics.csv",
    "azkv.jsonl",
    "azkv.csv",
    "ecs.ndjson",
];

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn operations(name: &str) -> Vec<String> {
    ops(&read_fixture(name).events)
}

/// An event as JSON without its origin (damage may shift line numbers).
fn content(e: &kvsentry_model::AuditEvent<'_>) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap();
    if let Some(m) = v.as_object_mut() {
        m.remove("origin");
    }
    v
}

/// How many delivered events are not intact records in their order: each delivered event
/// is matched to the first intact record with its content after the previous match.
fn altered(intact: &[serde_json::Value], got: &[kvsentry_model::AuditEvent<'_>]) -> usize {
    let mut next = 0;
    let mut altered = 0;
    for e in got {
        let c = content(e);
        match intact[next..].iter().position(|i| *i == c) {
            Some(k) => next += k + 1,
            None => altered += 1,
        }
    }
    altered
}

/// How many records damage to `v` may alter: `None` when it may alter any number.
#[derive(Clone, Copy, Debug)]
struct Budget(Option<usize>);

#[test]
fn cut_and_mangled_fixtures_never_panic() {
    let dir = scratch("robust");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let noise: &[u8] = b"{}[]\",:\\\n\r\x00\xff\xfe\xef\xbb\xbfx0 ";
    let formats = [LogFormat::Auto, LogFormat::Storage, LogFormat::Azkv];
    let opts_of = |format| ReadOptions {
        format,
        chunk_bytes: 4096,
        ..ReadOptions::default()
    };
    let mut files = 0;
    let mut altered_total = 0;
    for name in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let csv = name.ends_with(".csv");
        // The intact records as each forced form reads them.
        let intact: Vec<Vec<serde_json::Value>> = formats
            .iter()
            .map(|f| {
                let r = read_path(&fixture(name), &opts_of(*f));
                r.events.iter().map(content).collect()
            })
            .collect();
        // A cut JSON record is never valid, so a cut alters nothing; a CSV row cut short may
        // still be read. A mangled byte may alter the record it lies in, except in CSV,
        // where a damaged header renames a column of every row and a quote or line break
        // out of place shifts the rows after it.
        let mut variants: Vec<(Vec<u8>, Budget)> = Vec::new();
        let step = (bytes.len() / 40).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            variants.push((bytes[..cut].to_vec(), Budget(Some(usize::from(csv)))));
        }
        for _ in 0..60 {
            let mut v = bytes.clone();
            let edits = 1 + rng.below(4);
            let mut budget = Budget(Some(edits));
            for _ in 0..edits {
                let i = rng.below(v.len());
                let header_end = v.iter().position(|&b| b == b'\n').unwrap_or(v.len());
                let before = v[i];
                let after = match rng.below(3) {
                    0 => {
                        v[i] = noise[rng.below(noise.len())];
                        v[i]
                    }
                    1 => {
                        v.insert(i, noise[rng.below(noise.len())]);
                        v[i]
                    }
                    _ => {
                        v.remove(i);
                        before
                    }
                };
                let structural = [before, after]
                    .iter()
                    .any(|b| matches!(b, b'"' | b'\n' | b'\r'));
                if csv && (i <= header_end || structural) {
                    budget = Budget(None);
                }
            }
            variants.push((v, budget));
        }
        for (k, (v, budget)) in variants.iter().enumerate() {
            let p = write(&dir, &format!("{k}-{name}"), v);
            for (f, format) in formats.iter().enumerate() {
                let r = read_path(&p, &opts_of(*format));
                // What is delivered is a subset of the intact records, in their order, but
                // for the records the damage lies in.
                let n = altered(&intact[f], &r.events);
                if let Budget(Some(most)) = budget {
                    assert!(
                        n <= *most,
                        "{name} #{k} as {format:?}: {n} delivered records are not intact ones \
                         (the damage may alter {most})"
                    );
                    assert!(
                        r.events.len() <= intact[f].len(),
                        "{name} #{k} as {format:?}"
                    );
                }
                altered_total += n;
                for e in &r.events {
                    assert!(e.origin.line >= 1, "{name} #{k}");
                }
                files += 1;
            }
            // The same bytes through the parallel unit.
            let text = String::from_utf8_lossy(v);
            let mut stats = ReadStats::new();
            parse_lines(
                LogFormat::Auto,
                &text,
                1,
                1,
                &ReadOptions::default(),
                &mut stats,
                &mut |_| {},
            );
        }
        // Breaking one line of a line-oriented fixture costs exactly that line's record.
        if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
            let intact = operations(name);
            let text = String::from_utf8(bytes.clone()).unwrap();
            for k in 0..intact.len() {
                let broken: Vec<String> = text
                    .lines()
                    .enumerate()
                    .map(|(i, l)| {
                        if i == k {
                            l.replacen('"', "'", 1)
                        } else {
                            l.to_string()
                        }
                    })
                    .collect();
                let p = write(&dir, &format!("broken-{k}-{name}"), broken.join("\n"));
                let r = read_path(&p, &ReadOptions::default());
                let mut want = intact.clone();
                want.remove(k);
                assert_eq!(ops(&r.events), want, "{name} line {}", k + 1);
                assert_eq!(r.stats.notes.len(), 1);
                assert_eq!(r.stats.notes[0].line, k as u64 + 1);
            }
        }
    }
    assert!(files > 1000, "{files}");
    // Damage inside a record's values often leaves it readable: the budget is exercised.
    assert!(altered_total > 100, "{altered_total}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gzip_cut_anywhere_never_panics_and_reports_the_file() {
    let dir = scratch("robust-gz");
    for name in ["storage.jsonl", "eventhub.json", "azkv.csv"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(&bytes).unwrap();
        let gz = e.finish().unwrap();
        let all = operations(name);
        for cut in (3..gz.len()).step_by(97) {
            let p = write(&dir, &format!("{cut}-{name}.gz"), &gz[..cut]);
            let r = read_path(&p, &ReadOptions::default());
            let err = r.result.expect_err("a cut gzip is an error");
            assert!(
                err.to_string().starts_with(&p.display().to_string()),
                "{err}"
            );
            let got = ops(&r.events);
            assert!(got.len() < all.len(), "{name} cut at {cut}");
            assert_eq!(got[..], all[..got.len()], "{name} cut at {cut}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
