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
    /// Rows written to disk because the memory budget was reached, and the bytes written
    /// (runs merged again are written again).
    pub spilled_rows: u64,
    pub spilled_bytes: u64,
    /// Sorted runs written from memory (runs merged from runs are not counted).
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
    #[error("the thread sorting rows on disk stopped unexpectedly")]
    Thread,
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
    /// Rows in arrival order (`Option` so that sorting can move each out once).
    mem: Vec<Option<Keyed>>,
    mem_bytes: usize,
    budget: usize,
    parent: PathBuf,
    dir: Option<SpillDir>,
    /// Runs on disk with their tier, higher tiers first.
    runs: Vec<(u32, PathBuf)>,
    /// A run being sorted and written on its own thread while reading goes on.
    pending: Option<std::thread::JoinHandle<Result<Written, SpillError>>>,
    next_run: u64,
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
            pending: None,
            next_run: 0,
            stats: ReorderStats::default(),
        }
    }

    pub fn push(&mut self, row: Keyed) -> Result<(), SpillError> {
        self.mem_bytes += row.bytes();
        self.mem.push(Some(row));
        // Once sorting on disk, two runs share the budget: one written in the background
        // while the next is collected.
        let budget = if self.next_run == 0 {
            self.budget
        } else {
            self.budget / 2
        };
        if self.mem_bytes > budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the rows in memory and writes them to disk as one run, on a thread of its own
    /// (the first run in place: it holds the whole budget). Runs are merged in tiers, as a
    /// log-structured merge does: [`FAN_IN`] runs of one tier become one run of the next, so
    /// the final merge holds few files open and each row is rewritten once per tier.
    fn spill(&mut self) -> Result<(), SpillError> {
        if self.mem.is_empty() {
            return Ok(());
        }
        self.join_pending()?;
        let first = self.next_run == 0;
        let rows = std::mem::take(&mut self.mem);
        self.mem_bytes = 0;
        let w = self.new_run()?;
        let job: Job = Box::new(move || {
            let mut w = w;
            for row in sorted(rows) {
                w.write(&row)?;
            }
            w.finish()
        });
        if first {
            let written = job()?;
            self.add_run(written, true)
        } else {
            // Without a thread (none can be started), the run is written here.
            let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(1);
            let spawned = std::thread::Builder::new()
                .name("kvsentry-sort".into())
                .spawn(move || {
                    let job = rx.recv().map_err(|_| SpillError::Thread)?;
                    job()
                });
            match spawned {
                Ok(handle) => {
                    tx.send(job).map_err(|_| SpillError::Thread)?;
                    self.pending = Some(handle);
                    Ok(())
                }
                Err(_) => {
                    let written = job()?;
                    self.add_run(written, true)
                }
            }
        }
    }

    /// Waits for the run being written in the background, if any.
    fn join_pending(&mut self) -> Result<(), SpillError> {
        if let Some(handle) = self.pending.take() {
            let written = handle.join().map_err(|_| SpillError::Thread)??;
            self.add_run(written, true)?;
        }
        Ok(())
    }

    /// Counts a finished run and merges a full tier.
    fn add_run(&mut self, written: Written, from_memory: bool) -> Result<(), SpillError> {
        self.stats.spilled_bytes += written.bytes;
        if from_memory {
            self.stats.runs += 1;
            self.stats.spilled_rows += written.rows;
            self.runs.push((0, written.path));
        }
        while let Some(&(tier, _)) = self.runs.last() {
            let same = self.runs.iter().rev().take_while(|r| r.0 == tier).count();
            if same < FAN_IN {
                break;
            }
            let merged: Vec<PathBuf> = self
                .runs
                .split_off(self.runs.len() - same)
                .into_iter()
                .map(|r| r.1)
                .collect();
            let mut w = self.new_run()?;
            merge(open_runs(&merged)?, |row| w.write(&row))?;
            let written = w.finish()?;
            for r in &merged {
                let _ = std::fs::remove_file(r);
            }
            self.stats.spilled_bytes += written.bytes;
            self.runs.push((tier + 1, written.path));
        }
        Ok(())
    }

    fn new_run(&mut self) -> Result<RunWriter, SpillError> {
        let dir = match &self.dir {
            Some(d) => d,
            None => self.dir.insert(SpillDir::new(&self.parent)?),
        };
        self.next_run += 1;
        let path = dir.dir.path().join(format!("run-{}", self.next_run));
        let file = File::create(&path).map_err(|source| SpillError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(RunWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            scratch: Vec::new(),
            rows: 0,
            bytes: 0,
        })
    }

    /// Hands every row to `f` in order (time, then input and line), each record once.
    pub fn drain(mut self, mut f: impl FnMut(Prepared)) -> Result<ReorderStats, SpillError> {
        self.join_pending()?;
        let mem = sorted(std::mem::take(&mut self.mem));
        let runs: Vec<PathBuf> = self.runs.iter().map(|r| r.1.clone()).collect();
        let mut sources = open_runs(&runs)?;
        sources.push(Source::Mem(Box::new(mem)));
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
        merge(sources, |row| {
            if instant.first().is_some_and(|r| r.time != row.time) {
                emit(&mut instant, &mut stats);
            }
            instant.push(row);
            Ok(())
        })?;
        emit(&mut instant, &mut stats);
        Ok(stats)
    }
}

/// Runs of one tier merged into one of the next.
const FAN_IN: usize = 16;

/// Merges sorted sources into one sorted stream.
fn merge(
    mut sources: Vec<Source>,
    mut f: impl FnMut(Keyed) -> Result<(), SpillError>,
) -> Result<(), SpillError> {
    let mut heap = BinaryHeap::with_capacity(sources.len());
    for (i, s) in sources.iter_mut().enumerate() {
        if let Some(row) = s.next()? {
            heap.push(Head { row, source: i });
        }
    }
    while let Some(Head { row, source }) = heap.pop() {
        if let Some(next) = sources[source].next()? {
            heap.push(Head { row: next, source });
        }
        f(row)?;
    }
    Ok(())
}

fn open_runs(runs: &[PathBuf]) -> Result<Vec<Source>, SpillError> {
    let mut sources = Vec::with_capacity(runs.len() + 1);
    for path in runs {
        let file = File::open(path).map_err(|source| SpillError::Read {
            path: path.display().to_string(),
            source,
        })?;
        sources.push(Source::Run(RunReader {
            path: path.clone(),
            input: BufReader::with_capacity(1 << 16, file),
            buf: Vec::new(),
        }));
    }
    Ok(sources)
}

/// Writing one run (handed to a thread once it has started, so that it stays here when
/// none can be).
type Job = Box<dyn FnOnce() -> Result<Written, SpillError> + Send>;

/// A run on disk: where, how many rows, how many bytes.
struct Written {
    path: PathBuf,
    rows: u64,
    bytes: u64,
}

/// One sorted run being written: rows length-prefixed, in postcard's encoding.
struct RunWriter {
    out: BufWriter<File>,
    path: PathBuf,
    scratch: Vec<u8>,
    rows: u64,
    bytes: u64,
}

impl RunWriter {
    fn write(&mut self, row: &Keyed) -> Result<(), SpillError> {
        let scratch = std::mem::take(&mut self.scratch);
        self.scratch = encode(row, scratch).map_err(|e| self.error(e))?;
        let len = u32::try_from(self.scratch.len())
            .map_err(|_| self.error(io::Error::other("row too large")))?;
        let r = self
            .out
            .write_all(&len.to_le_bytes())
            .and_then(|()| self.out.write_all(&self.scratch));
        r.map_err(|e| self.error(e))?;
        self.rows += 1;
        self.bytes += 4 + u64::from(len);
        Ok(())
    }

    fn error(&self, source: io::Error) -> SpillError {
        SpillError::Write {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Flushes the run.
    fn finish(mut self) -> Result<Written, SpillError> {
        self.out.flush().map_err(|e| self.error(e))?;
        Ok(Written {
            path: self.path,
            rows: self.rows,
            bytes: self.bytes,
        })
    }
}

/// The rows in sort order. Rows are large (a few hundred bytes inline): sorting them in
/// place would move each one some twenty times, so a small array of (time, index) is
/// sorted instead and each row moved out once.
fn sorted(mut rows: Vec<Option<Keyed>>) -> impl Iterator<Item = Keyed> {
    let mut order: Vec<(i64, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((r.as_ref()?.time, i)))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| match (&rows[a.1], &rows[b.1]) {
            (Some(x), Some(y)) => x.order(y),
            _ => Ordering::Equal,
        })
    });
    order
        .into_iter()
        .filter_map(move |(_, i)| rows.get_mut(i).and_then(Option::take))
}

fn encode(row: &Keyed, mut scratch: Vec<u8>) -> io::Result<Vec<u8>> {
    scratch.clear();
    postcard::to_extend(row, scratch).map_err(io::Error::other)
}

enum Source {
    Run(RunReader),
    Mem(Box<dyn Iterator<Item = Keyed>>),
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use kvsentry_engine::{Engine, EngineOptions};
    use kvsentry_model::{AuditEvent, CallerIp, Origin};
    use kvsentry_rules::RuleSet;

    use super::*;

    /// A SecretGet by one of a few users, `i` seconds (and a fraction) after a fixed start.
    fn event(i: u64, user: u64, line: u64) -> AuditEvent<'static> {
        let t = jiff::Timestamp::from_second(1_751_328_000 + (i as i64) / 3)
            .unwrap()
            .checked_add(jiff::SignedDuration::from_nanos((i % 3) as i64 * 100))
            .unwrap();
        let mut e = AuditEvent::new(t, Cow::Borrowed("AuditEvent"), Cow::Borrowed("SecretGet"));
        e.identity.upn = Some(Cow::Owned(format!("user{user}@contoso.com")));
        e.caller_ip = CallerIp::parse(Cow::Borrowed("52.178.17.9"));
        e.vault.name = Some(Cow::Borrowed("KV1"));
        e.vault.resource_type = Some(Cow::Borrowed("VAULTS"));
        e.origin = Origin {
            source: (line % 3) as u32,
            line,
        };
        e
    }

    fn keyed(engine: &Engine, ev: &AuditEvent<'_>) -> Keyed {
        let prepared = engine.prepare(ev);
        assert!(
            !prepared.is_empty(),
            "the test's events must pass the seed rule"
        );
        let mut key = Vec::new();
        ev.record_key(&mut key);
        Keyed {
            time: prepared.time_nanos(),
            key,
            source: ev.origin.source,
            line: ev.origin.line,
            prepared,
        }
    }

    /// (time, source, line) of every row handed out, via the rows' own times and a side
    /// table of what went in.
    fn run(budget: usize, events: &[AuditEvent<'_>]) -> (Vec<i64>, ReorderStats) {
        let engine = Engine::new(&RuleSet::builtin(), EngineOptions::default()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut r = Reorder::new(budget, tmp.path().to_path_buf());
        for e in events {
            r.push(keyed(&engine, e)).unwrap();
        }
        let mut times = Vec::new();
        let stats = r.drain(|p| times.push(p.time_nanos())).unwrap();
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "runs left behind"
        );
        (times, stats)
    }

    #[test]
    fn rows_come_out_sorted_once_each_in_memory_and_on_disk() {
        // 600 distinct records in a scrambled order, then 150 of them again.
        let mut events: Vec<AuditEvent<'static>> = (0..600u64)
            .map(|i| {
                let j = (i * 367) % 600;
                event(j, j % 4, i + 1)
            })
            .collect();
        for i in 0..150u64 {
            let j = (i * 7) % 600;
            events.push(event(j, j % 4, 1000 + i));
        }
        let (mem, mem_stats) = run(usize::MAX, &events);
        assert_eq!(mem.len(), 600);
        assert!(mem.windows(2).all(|w| w[0] <= w[1]), "not sorted");
        assert_eq!(mem_stats.duplicates, 150);
        assert_eq!(mem_stats.spilled_rows, 0);
        // A budget of a few rows: hundreds of runs, merged in tiers.
        let (disk, disk_stats) = run(4096, &events);
        assert_eq!(disk, mem);
        assert_eq!(disk_stats.duplicates, 150);
        assert_eq!(disk_stats.rows, 600);
        assert!(disk_stats.runs > FAN_IN as u64, "{disk_stats:?}");
        assert!(disk_stats.spilled_rows > 600, "{disk_stats:?}");
    }

    #[test]
    fn the_first_copy_by_input_is_kept() {
        let engine = Engine::new(&RuleSet::builtin(), EngineOptions::default()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut r = Reorder::new(usize::MAX, tmp.path().to_path_buf());
        let mut late_copy = event(5, 1, 9);
        late_copy.origin = Origin { source: 2, line: 9 };
        let mut early_copy = event(5, 1, 40);
        early_copy.origin = Origin {
            source: 0,
            line: 40,
        };
        let other = event(5, 2, 3);
        for e in [&late_copy, &other, &early_copy] {
            r.push(keyed(&engine, e)).unwrap();
        }
        let mut out = Vec::new();
        r.drain(|p| out.push(format!("{p:?}"))).unwrap();
        assert_eq!(out.len(), 2);
        // Same instant: ordered by input then line; of the two copies, input 0's is kept.
        assert!(out[0].contains("source: 0, line: 3 "), "{}", out[0]);
        assert!(out[1].contains("source: 0, line: 40 "), "{}", out[1]);
    }
}
