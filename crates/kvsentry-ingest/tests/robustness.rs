//! Bad input never panics: every fixture cut at many points, mangled byte by byte, and
//! gzipped then cut, is read without a panic, and what is delivered is a subset of the
//! intact records.

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

#[test]
fn cut_and_mangled_fixtures_never_panic() {
    let dir = scratch("robust");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let noise: &[u8] = b"{}[]\",:\\\n\r\x00\xff\xfe\xef\xbb\xbfx0 ";
    let mut files = 0;
    for name in FIXTURES {
        let intact = operations(name);
        let bytes = std::fs::read(fixture(name)).unwrap();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        let step = (bytes.len() / 40).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            variants.push(bytes[..cut].to_vec());
        }
        for _ in 0..60 {
            let mut v = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                match rng.below(3) {
                    0 => v[i] = noise[rng.below(noise.len())],
                    1 => v.insert(i, noise[rng.below(noise.len())]),
                    _ => {
                        v.remove(i);
                    }
                }
            }
            variants.push(v);
        }
        for (k, v) in variants.iter().enumerate() {
            let p = write(&dir, &format!("{k}-{name}"), v);
            for format in [LogFormat::Auto, LogFormat::Storage, LogFormat::Azkv] {
                let opts = ReadOptions {
                    format,
                    chunk_bytes: 4096,
                    ..ReadOptions::default()
                };
                let r = read_path(&p, &opts);
                // Whatever is delivered was one of the records (in its place).
                assert!(r.events.len() <= intact.len() + 1, "{name} #{k}");
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
