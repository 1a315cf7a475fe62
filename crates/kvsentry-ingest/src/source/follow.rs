//! A followed directory as a [`Source`]: the files below it, in a fixed order, read as they
//! grow and as new ones appear (Storage's `…/VAULTS/<name>/y=/m=/d=/h=/m=00/PT1H.json`
//! blobs grow during their hour; new hours and vaults appear over time).
//!
//! - Each file gets a source index when first seen, kept for good (and across a resume),
//!   named by [`Follow::names`].
//! - A JSON Lines file is read from where it was left, whole lines only: a last line with
//!   no newline yet (its writer is mid-record) waits for it, unless the file has not been
//!   modified for [`FollowOptions::settle`], when it is delivered as it is (a writer that
//!   stops mid-record for that long is taken to have stopped; if it writes on, the rest
//!   of that line is read as its own, bad, record).
//! - A file read whole (gzip, UTF-16, JSON documents, CSV) is read once it stops changing:
//!   the same size and modification time at two looks in a row, or untouched for `settle`.
//! - A file that shrinks, is replaced (another inode under the name) or, read whole,
//!   changes afterwards, is read again from its start and reported ([`Follow::restarts`],
//!   [`Follow::take_restarts`]).
//! - [`Follow::checkpoint`] is the position after every unit handed out so far; a
//!   [`Follow::resume`]d source continues from it exactly: no line twice, none skipped.
//!
//! The form is detected once per file, from its head (as [`super::Files`] does). An empty
//! or blank file waits until it has content.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Take};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use kvsentry_read::Guarded;

use super::files::resolve;
use super::lines::LineBlocks;
use super::{Checkpoint, Decoder, InputEnd, Source, Stream, Unit, read_error};
use crate::stats::ReadStats;
use crate::{Container, Foreign, IngestError, LogFormat, ReadOptions};

mod checkpoint;
mod scan;

pub use checkpoint::{FileIdentity, FilePosition, FollowCheckpoint};

/// How many bytes of a file detection is shown (as for [`super::Files`]).
const HEAD_BYTES: usize = 64 * 1024;

/// Spare block buffers kept for reuse.
const MAX_SPARE: usize = 64;

/// Restarts kept for [`Follow::take_restarts`] (all are counted).
const MAX_RESTARTS_KEPT: usize = 1024;

/// How a directory is followed.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The form (`Auto` detects each file's) and the size of blocks of lines.
    pub read: ReadOptions,
    /// How often the directory is looked at again once everything was read.
    pub poll_interval: Duration,
    /// How long a file must stay unmodified before its unfinished last line is delivered
    /// (and before a file read whole is taken as complete without a second look).
    pub settle: Duration,
    /// One pass at a time: [`Source::next_unit`] answers `None` once everything found by a
    /// look at the directory was handed out (the next call looks again), instead of
    /// waiting for more. For `serve --once`.
    pub once: bool,
    /// The source index of the first file seen.
    pub first_source: u32,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            read: ReadOptions::default(),
            poll_interval: Duration::from_secs(5),
            settle: Duration::from_secs(120),
            once: false,
            first_source: 0,
        }
    }
}

/// A file read again from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// Relative to the directory.
    pub file: String,
    pub source: u32,
    pub reason: RestartReason,
}

/// Why a file was read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Shorter than what was read of it.
    Shrunk { read: u64, size: u64 },
    /// Another file under the same name.
    Replaced,
    /// A file read whole changed size afterwards.
    Changed { read: u64, size: u64 },
}

/// A directory followed as a [`Source`]: see the module documentation.
pub struct Follow {
    dir: PathBuf,
    opts: FollowOptions,
    /// By source index minus `opts.first_source`.
    files: Vec<Tracked>,
    names: Vec<String>,
    by_rel: HashMap<String, usize>,
    work: VecDeque<Work>,
    current: Option<Reading>,
    spare: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
    /// A `once` pass is under way.
    in_pass: bool,
    last_poll: Option<Instant>,
    restarts: Vec<Restart>,
    restart_count: u64,
    walk_errors: u64,
}

/// One file as followed.
struct Tracked {
    rel: String,
    path: PathBuf,
    source: u32,
    identity: Option<FileIdentity>,
    kind: Kind,
    /// See [`FilePosition::offset`].
    offset: u64,
    line: u64,
    /// Length of a UTF-8 byte-order mark at the file's start (its text starts after it).
    bom: u64,
    done: bool,
    size: u64,
    /// Size and modification time at the last look.
    seen: Option<(u64, Option<SystemTime>)>,
    /// Its form was counted in this run's stats.
    counted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Not detected yet (no content, or a first line not complete).
    Unknown,
    Lines(LogFormat),
    Whole,
    /// Not a form kvsentry reads: reported once, then left alone until it is replaced.
    Failed,
}

/// What a look at the directory found to read.
enum Work {
    /// A JSON Lines file from its offset to `to` (a line end, or the end of a settled file).
    Lines { file: usize, to: u64 },
    /// A file read whole, `size` bytes long.
    Whole { file: usize, size: u64 },
    Failed {
        file: usize,
        error: IngestError,
        foreign: Option<Foreign>,
    },
}

/// A file being cut into blocks.
struct Reading {
    file: usize,
    blocks: Blocks,
    /// Counted while opening it.
    stats: ReadStats,
    gz: bool,
}

enum Blocks {
    /// New bytes of a followed file.
    Range(LineBlocks<Take<File>>),
    /// A file read whole (gunzipped, decoded).
    Whole(LineBlocks<Decoder>),
}

impl Follow {
    /// Follows `dir` from the start of every file in it. Fails when `dir` is not a directory.
    pub fn new(dir: impl Into<PathBuf>, opts: FollowOptions) -> Result<Follow, IngestError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(IngestError::NotFound {
                path: dir.display().to_string(),
            });
        }
        Ok(Follow {
            dir,
            opts,
            files: Vec::new(),
            names: Vec::new(),
            by_rel: HashMap::new(),
            work: VecDeque::new(),
            current: None,
            spare: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            in_pass: false,
            last_poll: None,
            restarts: Vec::new(),
            restart_count: 0,
            walk_errors: 0,
        })
    }

    /// Follows `dir` from `checkpoint` (taken from a [`Follow`] of the same directory with
    /// the same `first_source`): files keep their source indexes (numbered again in the
    /// checkpoint's order, which changes nothing for a checkpoint a `Follow` made) and are
    /// read on from where the checkpoint says.
    pub fn resume(
        dir: impl Into<PathBuf>,
        opts: FollowOptions,
        checkpoint: &FollowCheckpoint,
    ) -> Result<Follow, IngestError> {
        let mut follow = Follow::new(dir, opts)?;
        let mut known: Vec<(&String, &FilePosition)> = checkpoint.files.iter().collect();
        known.sort_by_key(|(_, p)| p.source);
        for (rel, pos) in known {
            let i = follow.track(rel);
            let t = &mut follow.files[i];
            t.offset = pos.offset;
            t.line = pos.line.max(1);
            t.identity = pos.identity;
            t.done = pos.done;
            t.size = pos.size;
        }
        Ok(follow)
    }

    /// Takes every file as settled from now on ([`FollowOptions::settle`] of zero): unfinished
    /// last lines are delivered and files read whole are read without a second look. For a
    /// last pass over data known to be complete (`serve --once --flush`), which would
    /// otherwise close its windows before files written in the last moments were read.
    pub fn settle_all(&mut self) {
        self.opts.settle = Duration::ZERO;
    }

    /// A flag that, once set, makes [`Source::next_unit`] answer `None` (within a few tens
    /// of milliseconds when it is waiting for data).
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The position after every unit handed out so far: take it once they are handled
    /// (with a parallel pipeline, when it has drained, e.g. at the end of a `once` pass).
    pub fn checkpoint(&self) -> FollowCheckpoint {
        let files = self
            .files
            .iter()
            .map(|t| {
                let pos = FilePosition {
                    source: t.source,
                    offset: t.offset,
                    line: t.line,
                    identity: t.identity,
                    done: t.done,
                    size: t.size,
                };
                (t.rel.clone(), pos)
            })
            .collect();
        FollowCheckpoint { files }
    }

    /// The earliest blob hour (`discover::blob_hour`'s key, `YYYYMMDDHHMM`) of the files with
    /// data waiting to be read, for a caller that stopped mid-way: Storage blobs hold their
    /// hour's events, so none still to come is older. `None`: nothing waits; `Some(None)`:
    /// a file whose path names no hour waits.
    pub fn unread_hour(&self) -> Option<Option<u64>> {
        let mut earliest: Option<Option<u64>> = None;
        for w in &self.work {
            let file = match w {
                Work::Lines { file, .. } | Work::Whole { file, .. } => *file,
                Work::Failed { .. } => continue,
            };
            let hour = self
                .files
                .get(file)
                .and_then(|t| crate::discover::blob_hour(&t.rel));
            earliest = Some(match (earliest, hour) {
                (Some(None), _) | (_, None) => None,
                (Some(Some(a)), Some(b)) => Some(a.min(b)),
                (None, Some(b)) => Some(b),
            });
        }
        earliest
    }

    /// Each file's name for messages and evidence (the directory joined with its relative
    /// path), by source index minus `first_source`; grows as files appear.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The source index of a file, by its path relative to the directory.
    pub fn source_of(&self, rel: &str) -> Option<u32> {
        self.by_rel.get(rel).map(|&i| self.files[i].source)
    }

    /// How many times a file was read again from its start.
    pub fn restarts(&self) -> u64 {
        self.restart_count
    }

    /// The restarts since the last call (the first 1024 of them; all are counted).
    pub fn take_restarts(&mut self) -> Vec<Restart> {
        std::mem::take(&mut self.restarts)
    }

    /// The directory followed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Entries below the directory that could not be read (left out), so far.
    pub fn walk_errors(&self) -> u64 {
        self.walk_errors
    }

    /// The index of the file at `rel`, tracked from now on.
    fn track(&mut self, rel: &str) -> usize {
        if let Some(&i) = self.by_rel.get(rel) {
            return i;
        }
        let i = self.files.len();
        let path = self.dir.join(rel);
        self.names.push(path.display().to_string());
        self.files.push(Tracked {
            rel: rel.to_string(),
            path,
            source: self.opts.first_source.wrapping_add(i as u32),
            identity: None,
            kind: Kind::Unknown,
            offset: 0,
            line: 1,
            bom: 0,
            done: false,
            size: 0,
            seen: None,
            counted: false,
        });
        self.by_rel.insert(rel.to_string(), i);
        i
    }

    /// Looks at the directory and queues what there is to read, in reading order.
    fn poll(&mut self) {
        self.last_poll = Some(Instant::now());
        for found in scan::list(&self.dir, &mut self.walk_errors) {
            let i = self.track(&found.rel);
            if let Some(work) = self.look(i) {
                self.work.push_back(work);
            }
        }
    }

    /// What there is to read in file `i` now.
    fn look(&mut self, i: usize) -> Option<Work> {
        let settle = self.opts.settle;
        let t = &mut self.files[i];
        let meta = fs::metadata(&t.path).ok()?;
        let size = meta.len();
        let mtime = meta.modified().ok();
        let id = scan::identity(&meta);
        // A file read whole is complete once it looks the same twice; a line is only taken
        // as complete without its newline once the file is untouched for `settle` (a
        // writer may pause mid-record for longer than a poll).
        let unchanged = t.seen == Some((size, mtime));
        t.seen = Some((size, mtime));
        let settled = mtime
            .is_some_and(|m| SystemTime::now().duration_since(m).unwrap_or_default() >= settle);
        if let (Some(a), Some(b)) = (t.identity, id)
            && a != b
        {
            self.restart(i, RestartReason::Replaced);
        }
        let t = &mut self.files[i];
        t.identity = id;
        if t.kind == Kind::Unknown
            && let Err(failed) = detect_kind(t, i, &self.opts.read, settled)
        {
            return Some(failed);
        }
        let restart = match t.kind {
            Kind::Lines(_) if size < t.offset => Some(RestartReason::Shrunk {
                read: t.offset,
                size,
            }),
            Kind::Whole if t.done && size != t.size => {
                Some(RestartReason::Changed { read: t.size, size })
            }
            _ => None,
        };
        if let Some(reason) = restart {
            self.restart(i, reason);
            if let Err(failed) = detect_kind(&mut self.files[i], i, &self.opts.read, settled) {
                return Some(failed);
            }
        }
        let t = &mut self.files[i];
        match t.kind {
            Kind::Lines(_) if size > t.offset => {
                let mut f = File::open(&t.path).ok()?;
                match scan::line_end_before(&mut f, t.offset, size) {
                    Ok(Some(to)) => Some(Work::Lines { file: i, to }),
                    Ok(None) if settled => Some(Work::Lines { file: i, to: size }),
                    _ => None,
                }
            }
            Kind::Whole if !t.done && (unchanged || settled) => Some(Work::Whole { file: i, size }),
            _ => None,
        }
    }

    /// Counts and notes a restart of file `i`, and forgets what was read of it.
    fn restart(&mut self, i: usize, reason: RestartReason) {
        let t = &mut self.files[i];
        self.restart_count += 1;
        if self.restarts.len() < MAX_RESTARTS_KEPT {
            self.restarts.push(Restart {
                file: t.rel.clone(),
                source: t.source,
                reason,
            });
        }
        t.kind = Kind::Unknown;
        t.offset = 0;
        t.line = 1;
        t.bom = 0;
        t.done = false;
        t.size = 0;
    }

    /// Starts on `work`: a unit to hand out now, or `None` when its blocks are to come
    /// from `self.current`.
    fn start(&mut self, work: Work) -> Option<Unit> {
        match work {
            Work::Failed {
                file,
                error,
                foreign,
            } => {
                let source = self.files[file].source;
                let mut stats = ReadStats::new();
                stats.failed_files += 1;
                if let Some(f) = foreign {
                    stats.foreign_input(source, f);
                }
                Some(Unit::End(InputEnd {
                    source,
                    stats,
                    error: Some(error),
                }))
            }
            Work::Lines { file, to } => self.start_range(file, to),
            Work::Whole { file, size } => self.start_whole(file, size),
        }
    }

    fn start_range(&mut self, file: usize, to: u64) -> Option<Unit> {
        let t = &mut self.files[file];
        let Kind::Lines(form) = t.kind else {
            return None;
        };
        let display = &self.names[file];
        let opened = File::open(&t.path).and_then(|mut f| {
            f.seek(SeekFrom::Start(t.offset))?;
            Ok(f)
        });
        let f = match opened {
            Ok(f) => f,
            Err(e) => return Some(open_failed(t.source, display, e)),
        };
        // Replaced since the look: the next look starts it again.
        let id = f.metadata().ok().and_then(|m| scan::identity(&m));
        if id.is_some() && id != t.identity {
            return None;
        }
        let mut stats = ReadStats::new();
        if !t.counted {
            t.counted = true;
            stats.form(form).files += 1;
        }
        stats.source_forms.insert(t.source, form);
        let at = Checkpoint {
            source: t.source,
            offset: t.offset.saturating_sub(t.bom),
            line: t.line,
        };
        let reader = Guarded::new(f.take(to.saturating_sub(t.offset)));
        let buf = self.spare.pop().unwrap_or_default();
        let blocks = LineBlocks::after_head(reader, &[], buf, at, form, self.opts.read.chunk_bytes);
        self.current = Some(Reading {
            file,
            blocks: Blocks::Range(blocks),
            stats,
            gz: false,
        });
        None
    }

    fn start_whole(&mut self, file: usize, size: u64) -> Option<Unit> {
        let t = &mut self.files[file];
        let display = self.names[file].clone();
        let f = match File::open(&t.path) {
            Ok(f) => f,
            Err(e) => return Some(open_failed(t.source, &display, e)),
        };
        let boxed: Box<dyn Read + Send> = Box::new(f);
        let opened = match kvsentry_read::open(boxed, HEAD_BYTES) {
            Ok(o) => o,
            Err(e) => {
                return Some(failed(
                    t.source,
                    IngestError::Read {
                        file: display,
                        line: 0,
                        source: e,
                    },
                ));
            }
        };
        t.size = size;
        let mut stats = ReadStats::new();
        let blank = opened.head.iter().all(u8::is_ascii_whitespace)
            && (opened.utf16 || opened.head.len() < HEAD_BYTES);
        if blank {
            t.done = true;
            stats.empty_files += 1;
            stats.foreign_input(t.source, Foreign::Empty);
            stats.bytes += opened.reader.bytes;
            let error = opened
                .reader
                .err
                .map(|e| read_error(&display, opened.gz, 0, e));
            return Some(Unit::End(InputEnd {
                source: t.source,
                stats,
                error,
            }));
        }
        let (form, container) = match resolve(&opened.head, self.opts.read.format, &display) {
            Ok(found) => found,
            Err((error, foreign)) => {
                t.done = true;
                stats.failed_files += 1;
                if let Some(f) = foreign {
                    stats.foreign_input(t.source, f);
                }
                return Some(Unit::End(InputEnd {
                    source: t.source,
                    stats,
                    error: Some(error),
                }));
            }
        };
        if container != Container::JsonLines {
            t.done = true;
            return Some(Unit::Stream(Stream {
                source: t.source,
                form,
                container,
                display,
                gz: opened.gz,
                reader: io::Cursor::new(opened.head).chain(opened.reader),
            }));
        }
        // Lines read whole (gzip, UTF-16): from where a checkpoint left off, if it did.
        let mut head = opened.head;
        let mut reader = opened.reader;
        let skip = t.offset;
        if skip <= head.len() as u64 {
            head.drain(..skip as usize);
        } else {
            let rest = skip - head.len() as u64;
            head.clear();
            // The reader never fails: an error ends the data (and is reported at the end).
            let _ = io::copy(&mut (&mut reader).take(rest), &mut io::sink());
        }
        if !t.counted {
            t.counted = true;
            stats.form(form).files += 1;
        }
        stats.source_forms.insert(t.source, form);
        let at = Checkpoint {
            source: t.source,
            offset: t.offset,
            line: t.line,
        };
        let buf = self.spare.pop().unwrap_or_default();
        let blocks =
            LineBlocks::after_head(reader, &head, buf, at, form, self.opts.read.chunk_bytes);
        self.current = Some(Reading {
            file,
            blocks: Blocks::Whole(blocks),
            stats,
            gz: opened.gz,
        });
        None
    }

    /// The next block of the file being read, or its end.
    fn continue_reading(&mut self) -> Option<Unit> {
        let reading = self.current.as_mut()?;
        let block = match &mut reading.blocks {
            Blocks::Range(b) => b.next_block(&mut self.spare),
            Blocks::Whole(b) => b.next_block(&mut self.spare),
        };
        let t = &mut self.files[reading.file];
        if let Some(block) = block {
            let end = block.end();
            let whole = matches!(reading.blocks, Blocks::Whole(_));
            t.offset = end.offset + if whole { 0 } else { t.bom };
            t.line = end.line;
            return Some(Unit::Block(block));
        }
        let reading = self.current.take()?;
        let t = &mut self.files[reading.file];
        let mut stats = reading.stats;
        let (err, buf) = match reading.blocks {
            Blocks::Range(b) => {
                stats.bytes += b.bytes_read();
                b.finish()
            }
            Blocks::Whole(b) => {
                stats.bytes += b.bytes_read();
                t.done = true;
                b.finish()
            }
        };
        if self.spare.len() < MAX_SPARE && !buf.is_empty() {
            self.spare.push(buf);
        }
        let display = &self.names[reading.file];
        let error = err.map(|e| read_error(display, reading.gz, t.line.saturating_sub(1), e));
        if error.is_some() {
            stats.failed_files += 1;
        }
        Some(Unit::End(InputEnd {
            source: t.source,
            stats,
            error,
        }))
    }

    /// Waits for the next look at the directory; false when stopped meanwhile.
    fn wait_for_poll(&self) -> bool {
        let due = self
            .last_poll
            .map_or_else(Instant::now, |t| t + self.opts.poll_interval);
        super::sleep_until(due, &self.stop)
    }
}

impl Source for Follow {
    fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if self.current.is_some() {
                if let Some(unit) = self.continue_reading() {
                    return Some(unit);
                }
                continue;
            }
            if let Some(work) = self.work.pop_front() {
                if let Some(unit) = self.start(work) {
                    return Some(unit);
                }
                continue;
            }
            if self.opts.once {
                if self.in_pass {
                    self.in_pass = false;
                    return None;
                }
                self.in_pass = true;
            } else if !self.wait_for_poll() {
                return None;
            }
            self.poll();
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && !buffer.is_empty() {
            self.spare.push(buffer);
        }
    }

    fn progress(&self) -> (u64, u64) {
        self.files.iter().fold((0, 0), |(read, total), t| {
            let size = t.seen.map_or(0, |s| s.0);
            let done = match t.kind {
                Kind::Lines(_) => t.offset,
                _ if t.done => size,
                _ => 0,
            };
            (read + done.min(size), total + size)
        })
    }
}

/// Detects file `i`'s kind (see [`classify`]); a file of no form kvsentry reads is marked
/// failed and its error is the work to hand out.
fn detect_kind(t: &mut Tracked, i: usize, read: &ReadOptions, settled: bool) -> Result<(), Work> {
    match classify(t, read, settled) {
        Ok(kind) => {
            t.kind = kind;
            Ok(())
        }
        Err((error, foreign)) => {
            t.kind = Kind::Failed;
            Err(Work::Failed {
                file: i,
                error,
                foreign,
            })
        }
    }
}

/// The file's kind, detected from its head; `Unknown` while there is not enough to tell.
fn classify(
    t: &mut Tracked,
    read: &ReadOptions,
    settled: bool,
) -> Result<Kind, (IngestError, Option<Foreign>)> {
    let display = t.path.display().to_string();
    let Ok(f) = File::open(&t.path) else {
        return Ok(Kind::Unknown);
    };
    let opened = kvsentry_read::open(f, HEAD_BYTES).map_err(|e| {
        let error = IngestError::Read {
            file: display.clone(),
            line: 0,
            source: e,
        };
        (error, None)
    })?;
    if opened.gz || opened.utf16 {
        return Ok(Kind::Whole);
    }
    let head = opened.head;
    if head.iter().all(u8::is_ascii_whitespace) && head.len() < HEAD_BYTES {
        return Ok(Kind::Unknown);
    }
    let complete = head.contains(&b'\n') || head.len() >= HEAD_BYTES || settled;
    if !complete {
        return Ok(Kind::Unknown);
    }
    let (form, container) = resolve(&head, read.format, &display)?;
    if container != Container::JsonLines {
        return Ok(Kind::Whole);
    }
    let mut raw = [0u8; 3];
    let bom = File::open(&t.path)
        .and_then(|mut f| f.read_exact(&mut raw))
        .is_ok_and(|()| raw == *b"\xef\xbb\xbf");
    t.bom = if bom { 3 } else { 0 };
    if t.offset < t.bom {
        t.offset = t.bom;
    }
    Ok(Kind::Lines(form))
}

/// The end of a file that could not be opened.
fn open_failed(source: u32, display: &str, e: io::Error) -> Unit {
    failed(
        source,
        IngestError::Open {
            file: display.to_string(),
            source: e,
        },
    )
}

fn failed(source: u32, error: IngestError) -> Unit {
    let mut stats = ReadStats::new();
    stats.failed_files += 1;
    Unit::End(InputEnd {
        source,
        stats,
        error: Some(error),
    })
}

#[cfg(test)]
mod tests;
