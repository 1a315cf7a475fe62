#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kvsentry_ingest::{IngestError, Input, ReadOptions, ReadStats, read_input};
use kvsentry_model::AuditEvent;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub struct Read {
    pub events: Vec<AuditEvent<'static>>,
    pub stats: ReadStats,
    pub result: Result<(), IngestError>,
}

pub fn read_path(path: &Path, opts: &ReadOptions) -> Read {
    let mut events = Vec::new();
    let mut stats = ReadStats::new();
    let result = read_input(&Input::file(path), 1, opts, &mut stats, &mut |e| {
        events.push(e.clone().into_owned())
    });
    Read {
        events,
        stats,
        result,
    }
}

pub fn read_fixture(name: &str) -> Read {
    read_path(&fixture(name), &ReadOptions::default())
}

/// A scratch directory for files a test writes.
pub fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kvsentry-ingest-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn lines(events: &[AuditEvent<'_>]) -> Vec<u64> {
    events.iter().map(|e| e.origin.line).collect()
}

pub fn ops(events: &[AuditEvent<'_>]) -> Vec<String> {
    events.iter().map(|e| e.operation.to_string()).collect()
}
