//! Exact answers from input in any order: the rows of a hunt sorted by event time, each
//! audit record once, within a memory budget.
//!
//! Rows (the engine's compact [`Prepared`] form of the events that passed some rule's
//! filter) are held in memory up to the budget; beyond it they are written to a temporary
//! directory as sorted runs and merged back. They come out ordered by time, then by where
//! they were read (input, then line), with every later copy of a record dropped
//! ([`AuditEvent::record_key`](kvsentry_model::AuditEvent::record_key)): the first copy is
//! the one from the input that sorts first, so the answer does not depend on the order the
//! inputs were given in.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kvsentry_engine::Prepared;
use serde::{Deserialize, Serialize};

/// One row with what orders and identifies it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Keyed {
    pub time: i64,
    /// The record's identity ([`kvsentry_model::AuditEvent::record_key`]).
    pub key: Vec<u8>,
    pub source: u32,
    pub line: u64,
    pub prepared: Prepared,
}

impl Keyed {
    /// Sort order: time, identity, then where it was read (so the first of equal records is
    /// the copy read from the first input).
    fn order(&self, other: &Keyed) -> Ordering {
        (self.time, &self.key, self.source, self.line).cmp(&(
            other.time,
            &other.key,
            other.source,
            other.line,
        ))
    }

    fn bytes(&self) -> usize {
        size_of::<Keyed>() + self.key.capacity() + self.prepared.heap_bytes()
    }
}

/// What reordering did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReorderStats {
    /// Rows handed to the engine.
    pub rows: u64,
    /// Later copies of records already read (same file twice, overlapping exports, ...).
    pub duplicates: u64,
    /// Rows written to disk because the memory budget was reached, and their size there.
    pub spilled_rows: u64,
    pub spilled_bytes: u64,
    /// Sorted runs written.
    pub runs: u64,
}

/// Errors of the temporary files.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error("cannot create a temporary directory for sorting in {dir}: {source}")]
    Create { dir: String, source: io::Error },
    #[error("cannot write the temporary file {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot read back the temporary file {path}: {source}")]
    Read { path: String, source: io::Error },
}

/// Spill directories alive now, so that an interrupted process can remove them
/// ([`remove_spill_dirs`]).
static LIVE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every spill directory of this process; for a Ctrl-C handler, which ends the
/// process without running destructors.
pub fn remove_spill_dirs() {
    if let Ok(mut dirs) = LIVE_DIRS.lock() {
        for d in dirs.drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// A temporary directory removed when dropped (also on errors and panics).
struct SpillDir {
    dir: tempfile::TempDir,
}

impl SpillDir {
    fn new(parent: &Path) -> Result<SpillDir, SpillError> {
        let dir = tempfile::Builder::new()
            .prefix("kvsentry-sort-")
            .tempdir_in(parent)
            .map_err(|source| SpillError::Create {
                dir: parent.display().to_string(),
                source,
            })?;
        if let Ok(mut dirs) = LIVE_DIRS.lock() {
            dirs.push(dir.path().to_path_buf());
        }
        Ok(SpillDir { dir })
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Ok(mut dirs) = LIVE_DIRS.lock() {
            dirs.retain(|d| d != self.dir.path());
        }
    }
}

/// Collects rows in any order and hands them back sorted and deduplicated.
pub(crate) struct Reorder {
    mem: Vec<Keyed>,
    mem_bytes: usize,
    budget: usize,
    parent: PathBuf,
    dir: Option<SpillDir>,
    runs: Vec<PathBuf>,
    scratch: Vec<u8>,
    stats: ReorderStats,
}

impl Reorder {
    /// Holds up to `budget` bytes of rows in memory; spills sorted runs under `parent`.
    pub fn new(budget: usize, parent: PathBuf) -> Reorder {
        Reorder {
            mem: Vec::new(),
            mem_bytes: 0,
            budget,
            parent,
            dir: None,
            runs: Vec::new(),
            scratch: Vec::new(),
            stats: ReorderStats::default(),
        }
    }

    pub fn push(&mut self, row: Keyed) -> Result<(), SpillError> {
        self.mem_bytes += row.bytes();
        self.mem.push(row);
        if self.mem_bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the rows in memory to disk as one sorted run.
    fn spill(&mut self) -> Result<(), SpillError> {
        if self.mem.is_empty() {
            return Ok(());
        }
        let dir = match &self.dir {
            Some(d) => d,
            None => self.dir.insert(SpillDir::new(&self.parent)?),
        };
        let path = dir.dir.path().join(format!("run-{}", self.runs.len()));
        let werr = |source| SpillError::Write {
            path: path.display().to_string(),
            source,
        };
        let file = File::create(&path).map_err(werr)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        self.mem.sort_unstable_by(Keyed::order);
        for row in self.mem.drain(..) {
            let scratch = std::mem::take(&mut self.scratch);
            self.scratch = encode(&row, scratch).map_err(werr)?;
            let len = u32::try_from(self.scratch.len())
                .map_err(|_| werr(io::Error::other("row too large")))?;
            out.write_all(&len.to_le_bytes()).map_err(werr)?;
            out.write_all(&self.scratch).map_err(werr)?;
            self.stats.spilled_rows += 1;
            self.stats.spilled_bytes += 4 + u64::from(len);
        }
        out.flush().map_err(werr)?;
        self.mem = Vec::new();
        self.mem_bytes = 0;
        self.runs.push(path);
        self.stats.runs += 1;
        Ok(())
    }

    /// Hands every row to `f` in order (time, then input and line), each record once.
    pub fn drain(mut self, mut f: impl FnMut(Prepared)) -> Result<ReorderStats, SpillError> {
        self.mem.sort_unstable_by(Keyed::order);
        let mut sources: Vec<Source> = Vec::with_capacity(self.runs.len() + 1);
        for path in &self.runs {
            let file = File::open(path).map_err(|source| SpillError::Read {
                path: path.display().to_string(),
                source,
            })?;
            sources.push(Source::Run(RunReader {
                path: path.clone(),
                input: BufReader::with_capacity(1 << 20, file),
                buf: Vec::new(),
            }));
        }
        sources.push(Source::Mem(std::mem::take(&mut self.mem).into_iter()));
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(row) = s.next()? {
                heap.push(Head { row, source: i });
            }
        }
        let mut stats = std::mem::take(&mut self.stats);
        // Rows of one instant: deduplicated, then ordered by where they were read.
        let mut instant: Vec<Keyed> = Vec::new();
        let mut emit = |instant: &mut Vec<Keyed>, stats: &mut ReorderStats| {
            let before = instant.len();
            instant.dedup_by(|later, first| later.key == first.key);
            stats.duplicates += (before - instant.len()) as u64;
            instant.sort_by_key(|r| (r.source, r.line));
            for r in instant.drain(..) {
                stats.rows += 1;
                f(r.prepared);
            }
        };
        while let Some(Head { row, source }) = heap.pop() {
            if let Some(next) = sources[source].next()? {
                heap.push(Head { row: next, source });
            }
            if instant.first().is_some_and(|r| r.time != row.time) {
                emit(&mut instant, &mut stats);
            }
            instant.push(row);
        }
        emit(&mut instant, &mut stats);
        Ok(stats)
    }
}

fn encode(row: &Keyed, mut scratch: Vec<u8>) -> io::Result<Vec<u8>> {
    scratch.clear();
    postcard::to_extend(row, scratch).map_err(io::Error::other)
}

enum Source {
    Run(RunReader),
    Mem(std::vec::IntoIter<Keyed>),
}

impl Source {
    fn next(&mut self) -> Result<Option<Keyed>, SpillError> {
        match self {
            Source::Mem(it) => Ok(it.next()),
            Source::Run(r) => r.next().map_err(|source| SpillError::Read {
                path: r.path.display().to_string(),
                source,
            }),
        }
    }
}

struct RunReader {
    path: PathBuf,
    input: BufReader<File>,
    buf: Vec<u8>,
}

impl RunReader {
    fn next(&mut self) -> io::Result<Option<Keyed>> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        self.input.read_exact(&mut self.buf)?;
        postcard::from_bytes(&self.buf)
            .map(Some)
            .map_err(io::Error::other)
    }
}

/// A run's next row in the merge heap (a max-heap: reversed, smallest first).
struct Head {
    row: Keyed,
    source: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .row
            .order(&self.row)
            .then_with(|| other.source.cmp(&self.source))
    }
}
