//! A Storage container as a [`Source`] (feature `azure`): the blobs a diagnostic setting
//! writes (`insights-logs-auditevent`, `resourceId=/SUBSCRIPTIONS/<sub>/…/VAULTS/<name>/
//! y=/m=/d=/h=/m=00/PT1H.json`: append blobs of JSON lines, growing during their hour; new
//! hours and vaults appear over time), read as they grow, as [`super::Follow`] reads a
//! directory.
//!
//! - Each look lists the container (under [`BlobOptions::prefix`]); each blob gets a source
//!   index when first seen, kept for good (and across a resume), named by
//!   [`BlobSource::names`] as `<container>/<blob>`.
//! - Only new bytes are read: a ranged GET from the blob's offset to its listed size, in
//!   chunks; a blob whose listed size equals its offset is not fetched. Blocks end at the
//!   last newline; a last line with no newline yet waits for the next look, unless the blob
//!   was not modified for [`BlobOptions::settle`] (its writer is taken to have stopped; if
//!   it writes on, the rest of that line is read as its own, bad, record) or
//!   [`BlobSource::settle_all`] says the data is complete. Lines are numbered within the blob.
//! - A blob listed shorter than what was read of it (replaced) is read again from its start,
//!   counted and reported ([`BlobSource::take_restarts`]).
//! - Requests are retried with exponential backoff by the client (for up to
//!   [`BlobOptions::retry_for`]); a blob that still fails ends with its error (an
//!   [`InputEnd`]) and keeps its offset, to be read at the next look: nothing is skipped. A
//!   listing that fails is an [`InputEnd`] with the error too (of the source index
//!   `first_source`). Messages carry no secret.
//! - [`BlobSource::checkpoint`] is the position after every unit handed out so far; a
//!   [`BlobSource::resume`]d source continues from it exactly: no line twice, none skipped.
//! - The checkpoint stays small over months: once every blob of the hours more than
//!   [`BlobOptions::keep`] before the newest hour seen was read to its end, those blobs are
//!   forgotten and any blob of those hours is passed over from then on
//!   ([`BlobCheckpoint::done_before`]).
//!
//! The client is object_store's, on a single-threaded tokio runtime the source owns (the
//! [`Source`] trait is blocking).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::files::resolve;
use super::follow::{Restart, RestartReason};
use super::{Block, InputEnd, Source, Unit};
use crate::stats::ReadStats;
use crate::{Container, IngestError, LogFormat, ReadOptions};

use super::STOP_CHECK;

mod account;

pub use account::{BlobAccount, BlobAccountError};

/// Spare block buffers kept for reuse.
const MAX_SPARE: usize = 16;

/// Restarts kept for [`BlobSource::take_restarts`] (all are counted).
const MAX_KEPT: usize = 1024;

/// The most forgotten blobs a resumed checkpoint may skip over (a damaged checkpoint does
/// not make a source allocate for billions).
const MAX_GAP: usize = 1 << 24;

/// The longest message kept from the client's errors.
const MAX_MESSAGE: usize = 1000;

/// The smallest ranged GET.
const MIN_CHUNK: usize = 64 * 1024;

/// How a container is read.
#[derive(Debug, Clone)]
pub struct BlobOptions {
    /// The form (`Auto` detects each blob's from its first lines) and the size of each
    /// ranged GET (and so of blocks).
    pub read: ReadOptions,
    /// Only blobs whose name starts with this.
    pub prefix: Option<String>,
    /// How often the container is listed: at most once per interval (a pass in `once` mode
    /// that comes sooner finds nothing new), each listing a request billed by Azure.
    pub poll_interval: Duration,
    /// One pass at a time: [`Source::next_unit`] answers `None` once every blob listed by a
    /// look was read to its listed size (the next call looks again, if `poll_interval` has
    /// passed). For `serve --once`.
    pub once: bool,
    /// The source index of the first blob seen.
    pub first_source: u32,
    /// How long one request may take.
    pub timeout: Duration,
    /// How long a failing request is retried (with exponential backoff) before its blob or
    /// listing is reported failed until the next look.
    pub retry_for: Duration,
    /// How long a blob must stay unmodified before its unfinished last line is delivered.
    pub settle: Duration,
    /// How long before the newest hour seen the blobs of an hour are still followed (the
    /// diagnostic setting appends to an hour's blob during that hour and shortly after).
    pub keep: Duration,
}

impl Default for BlobOptions {
    fn default() -> Self {
        BlobOptions {
            read: ReadOptions::default(),
            prefix: None,
            poll_interval: Duration::from_secs(60),
            once: false,
            first_source: 0,
            timeout: Duration::from_secs(30),
            retry_for: Duration::from_secs(60),
            settle: Duration::from_secs(120),
            keep: Duration::from_secs(48 * 3600),
        }
    }
}

/// A container's reading position: what [`BlobSource::resume`] continues from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobCheckpoint {
    /// By blob name.
    pub blobs: BTreeMap<String, BlobPosition>,
    /// Blobs of hours before this one (`YYYYMMDDHHmm`, as [`crate::blob_hour`] gives it)
    /// were read to their end and are passed over.
    pub done_before: Option<u64>,
    /// Source indexes handed out so far (forgotten blobs' included): a new blob gets the
    /// next, never one a forgotten blob had.
    pub indexes: u32,
}

/// How far one blob was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPosition {
    /// Its source index (the `source` of its blocks and events' origins).
    pub source: u32,
    /// Bytes read (whole lines).
    pub offset: u64,
    /// The number of the line that starts at `offset`.
    pub line: u64,
    /// The form its records are read as, once detected ([`LogFormat::name`]).
    pub form: Option<String>,
}

/// A container read as a [`Source`]: see the module documentation.
pub struct BlobSource {
    store: Arc<dyn ObjectStore>,
    /// For messages: the secrets to keep out of them.
    account: Option<BlobAccount>,
    container: String,
    opts: BlobOptions,
    runtime: tokio::runtime::Runtime,
    /// By source index minus `opts.first_source`.
    blobs: Vec<Tracked>,
    names: Vec<String>,
    by_name: HashMap<String, usize>,
    /// Blobs to read, each to its listed size.
    work: VecDeque<(usize, u64)>,
    current: Option<Reading>,
    spare: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
    settle: bool,
    in_pass: bool,
    last_poll: Option<Instant>,
    restarts: Vec<Restart>,
    restart_count: u64,
    done_before: Option<u64>,
    /// A listing's failure, to hand out.
    list_error: Option<IngestError>,
    error_count: u64,
}

/// One blob as followed.
struct Tracked {
    name: String,
    path: Path,
    source: u32,
    offset: u64,
    line: u64,
    form: Option<LogFormat>,
    /// Its size at the last listing.
    size: u64,
    /// Unmodified for `settle` at the last listing.
    settled: bool,
    /// Not a form kvsentry reads: left alone until it is replaced.
    failed: bool,
    /// Its hour was forgotten (see [`BlobCheckpoint::done_before`]): a placeholder that
    /// keeps the source indexes of the others.
    forgotten: bool,
    /// Its form was counted in this run's stats.
    counted: bool,
}

/// A blob being read: bytes from its offset to `pos` are in `buf`.
struct Reading {
    blob: usize,
    to: u64,
    pos: u64,
    buf: Vec<u8>,
    stats: ReadStats,
}

impl BlobSource {
    /// Reads `container` of `account` from the start of every blob.
    pub fn new(
        account: &BlobAccount,
        container: &str,
        opts: BlobOptions,
    ) -> Result<BlobSource, BlobAccountError> {
        let store = account.store(container, opts.timeout, opts.retry_for)?;
        let mut source = BlobSource::over(store, container, opts)?;
        source.account = Some(account.clone());
        Ok(source)
    }

    /// Reads `container` of `account` from `checkpoint` (taken from a [`BlobSource`] of the
    /// same container with the same `first_source`): blobs keep their source indexes
    /// (numbered again in the checkpoint's order, which changes nothing for a checkpoint a
    /// `BlobSource` made) and are read on from where the checkpoint says.
    pub fn resume(
        account: &BlobAccount,
        container: &str,
        opts: BlobOptions,
        checkpoint: &BlobCheckpoint,
    ) -> Result<BlobSource, BlobAccountError> {
        let mut source = BlobSource::new(account, container, opts)?;
        source.restore(checkpoint);
        Ok(source)
    }

    /// A source over any object store (tests use an in-memory one).
    pub(crate) fn over(
        store: Arc<dyn ObjectStore>,
        container: &str,
        opts: BlobOptions,
    ) -> Result<BlobSource, BlobAccountError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BlobAccountError(format!("blob client runtime: {e}")))?;
        Ok(BlobSource {
            store,
            account: None,
            container: container.to_string(),
            opts,
            runtime,
            blobs: Vec::new(),
            names: Vec::new(),
            by_name: HashMap::new(),
            work: VecDeque::new(),
            current: None,
            spare: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            settle: false,
            in_pass: false,
            last_poll: None,
            restarts: Vec::new(),
            restart_count: 0,
            done_before: None,
            list_error: None,
            error_count: 0,
        })
    }

    pub(crate) fn restore(&mut self, checkpoint: &BlobCheckpoint) {
        let mut known: Vec<(&String, &BlobPosition)> = checkpoint.blobs.iter().collect();
        known.sort_by_key(|(_, p)| p.source);
        self.done_before = checkpoint.done_before;
        for (name, pos) in known {
            // Forgotten blobs keep their indexes: the others keep theirs.
            let local = pos.source.wrapping_sub(self.opts.first_source) as usize;
            while self.blobs.len() < local.min(MAX_GAP) {
                let i = self.track("");
                self.forget(i);
            }
            let i = self.track(name);
            let b = &mut self.blobs[i];
            b.offset = pos.offset;
            b.line = pos.line.max(1);
            b.form = pos.form.as_deref().and_then(|f| f.parse().ok());
        }
        while self.blobs.len() < (checkpoint.indexes as usize).min(MAX_GAP) {
            let i = self.track("");
            self.forget(i);
        }
    }

    /// Takes every blob as complete from now on: a last line without its newline is
    /// delivered as it is. For a last pass over data known to be complete
    /// (`serve --once --flush`).
    pub fn settle_all(&mut self) {
        self.settle = true;
        // The tails held back at the last look are to be read now.
        self.last_poll = None;
    }

    /// A flag that, once set, makes [`Source::next_unit`] answer `None` (within a few tens
    /// of milliseconds when it is waiting for the next look).
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The position after every unit handed out so far: take it once they are handled.
    pub fn checkpoint(&self) -> BlobCheckpoint {
        let blobs = (self.blobs.iter())
            .filter(|b| !b.forgotten)
            .map(|b| {
                let pos = BlobPosition {
                    source: b.source,
                    offset: b.offset,
                    line: b.line,
                    form: b.form.map(|f| f.name().to_string()),
                };
                (b.name.clone(), pos)
            })
            .collect();
        BlobCheckpoint {
            blobs,
            done_before: self.done_before,
            indexes: self.blobs.len() as u32,
        }
    }

    /// Each blob's name for messages and evidence (`<container>/<blob>`), by source index
    /// minus `first_source`; grows as blobs appear.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The source index of a blob, by its name.
    pub fn source_of(&self, blob: &str) -> Option<u32> {
        self.by_name.get(blob).map(|&i| self.blobs[i].source)
    }

    /// The container read.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// How many times a blob was read again from its start.
    pub fn restarts(&self) -> u64 {
        self.restart_count
    }

    /// The restarts since the last call (the first 1024 of them; all are counted).
    pub fn take_restarts(&mut self) -> Vec<Restart> {
        std::mem::take(&mut self.restarts)
    }

    /// Failed requests so far: listings and blob reads (each retried at the next look).
    pub fn errors(&self) -> u64 {
        self.error_count
    }

    /// The index of the blob `name`, tracked from now on.
    fn track(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.blobs.len();
        self.names.push(format!("{}/{name}", self.container));
        self.blobs.push(Tracked {
            name: name.to_string(),
            path: Path::from(name),
            source: self.opts.first_source.wrapping_add(i as u32),
            offset: 0,
            line: 1,
            form: None,
            size: 0,
            settled: false,
            failed: false,
            forgotten: false,
            counted: false,
        });
        self.by_name.insert(name.to_string(), i);
        i
    }

    /// `text` without secrets.
    /// On one line (the service's answer is XML over several) and at most 1000 bytes.
    fn redact(&self, text: String) -> String {
        let text = match &self.account {
            Some(a) => a.redact(&text),
            None => text,
        };
        let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push_str("...");
        }
        line
    }

    /// Lists the container and queues every blob with bytes beyond its offset, in name order.
    fn poll(&mut self) {
        self.last_poll = Some(Instant::now());
        let listed = match self.list() {
            Ok(l) => l,
            Err(e) => {
                self.error_count += 1;
                let message = self.redact(e.to_string());
                let path = match &self.opts.prefix {
                    Some(p) => format!("{}/{p}", self.container),
                    None => self.container.clone(),
                };
                self.list_error = Some(IngestError::Walk { path, message });
                return;
            }
        };
        // A blob no longer listed (deleted) has nothing to read and holds no hour back.
        for b in &mut self.blobs {
            b.size = 0;
        }
        let now = jiff::Timestamp::now().as_second();
        let settle = i64::try_from(self.opts.settle.as_secs()).unwrap_or(i64::MAX);
        for (name, size, modified) in listed {
            if self.is_done(&name) {
                continue;
            }
            let i = self.track(&name);
            let b = &mut self.blobs[i];
            b.size = size;
            b.settled = now.saturating_sub(modified) >= settle;
            if size < b.offset {
                let read = b.offset;
                self.restart(i, RestartReason::Shrunk { read, size });
            }
            let b = &self.blobs[i];
            if !b.failed && size > b.offset {
                self.work.push_back((i, size));
            }
        }
        self.forget_old_hours();
    }

    /// Whether blob `name` is of an hour already done with.
    fn is_done(&self, name: &str) -> bool {
        matches!((crate::blob_hour(name), self.done_before), (Some(h), Some(d)) if h < d)
    }

    /// Forgets the hours more than `keep` before the newest hour seen, once every blob of
    /// them was read to its end (as listed just now); one not read yet holds them all.
    fn forget_old_hours(&mut self) {
        let hours: Vec<Option<u64>> = (self.blobs.iter())
            .map(|b| (!b.forgotten).then(|| crate::blob_hour(&b.name)).flatten())
            .collect();
        let Some(newest) = hours.iter().flatten().max().copied() else {
            return;
        };
        let Some(cutoff) = hour_before(newest, self.opts.keep) else {
            return;
        };
        if self.done_before.is_some_and(|d| d >= cutoff) {
            return;
        }
        let old = |i: usize| hours[i].is_some_and(|h| h < cutoff);
        let pending = (0..self.blobs.len())
            .any(|i| old(i) && !self.blobs[i].failed && self.blobs[i].offset < self.blobs[i].size);
        if pending || !(0..self.blobs.len()).any(old) {
            return;
        }
        for i in 0..self.blobs.len() {
            if old(i) {
                self.forget(i);
            }
        }
        self.done_before = Some(cutoff);
    }

    /// Frees blob `i`'s entry, keeping its place (and so the others' indexes).
    fn forget(&mut self, i: usize) {
        let b = &mut self.blobs[i];
        self.by_name.remove(&b.name);
        b.forgotten = true;
        b.name = String::new();
        b.path = Path::default();
        b.size = 0;
        b.offset = 0;
        self.names[i] = String::new();
    }

    /// Every blob under the prefix with its size and last modification (Unix seconds), in
    /// name order.
    fn list(&self) -> Result<Vec<(String, u64, i64)>, object_store::Error> {
        // object_store lists by whole path segments: list the prefix's folder, keep the
        // names that start with the prefix.
        let prefix = self.opts.prefix.as_deref().unwrap_or("");
        let folder = prefix.rfind('/').map(|i| Path::from(&prefix[..i]));
        let store = Arc::clone(&self.store);
        let listing = self.until_stopped(async move {
            let mut stream = store.list(folder.as_ref());
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta?;
                let modified = meta.last_modified.timestamp();
                out.push((meta.location.to_string(), meta.size, modified));
            }
            Ok::<_, object_store::Error>(out)
        });
        let Some(listed) = listing else {
            return Ok(Vec::new());
        };
        let mut listed = listed?;
        listed.retain(|(name, _, _)| name.starts_with(prefix));
        listed.sort();
        Ok(listed)
    }

    /// Counts and notes a restart of blob `i`, and forgets what was read of it.
    fn restart(&mut self, i: usize, reason: RestartReason) {
        let b = &mut self.blobs[i];
        self.restart_count += 1;
        if self.restarts.len() < MAX_KEPT {
            self.restarts.push(Restart {
                file: b.name.clone(),
                source: b.source,
                reason,
            });
        }
        b.offset = 0;
        b.line = 1;
        b.form = None;
        b.failed = false;
    }

    /// The next unit of the blob being read: a block, or its end.
    fn continue_reading(&mut self) -> Option<Unit> {
        let mut r = self.current.take()?;
        match self.next_block(&mut r) {
            Ok(Some(block)) => {
                self.current = Some(r);
                Some(Unit::Block(block))
            }
            Ok(None) => Some(self.end(r, None)),
            Err(error) => Some(self.end(r, Some(error))),
        }
    }

    /// The next block of whole lines of `r`; `None` at the end of what there is to read.
    fn next_block(&mut self, r: &mut Reading) -> Result<Option<Block>, IngestError> {
        let chunk = self.opts.read.chunk_bytes.max(MIN_CHUNK) as u64;
        loop {
            if r.pos < r.to {
                let end = r.to.min(r.pos + chunk);
                let got = self.fetch(r.blob, r.pos..end)?;
                if got.is_empty() {
                    // Stopped, or gone or shorter than listed (replaced meanwhile, which
                    // the next look sees): what is held stays unread.
                    return Ok(None);
                }
                r.stats.bytes += got.len() as u64;
                r.pos += got.len() as u64;
                r.buf.extend_from_slice(&got);
                if let Some(nl) = memchr::memrchr(b'\n', &r.buf) {
                    return self.cut(r, nl + 1).map(Some);
                }
                continue;
            }
            if (self.settle || self.blobs[r.blob].settled) && !r.buf.is_empty() {
                let len = r.buf.len();
                return self.cut(r, len).map(Some);
            }
            return Ok(None);
        }
    }

    /// A block of the first `len` bytes of `r.buf`; the rest stays for the next one.
    fn cut(&mut self, r: &mut Reading, len: usize) -> Result<Block, IngestError> {
        let mut rest = self.spare.pop().unwrap_or_default();
        rest.clear();
        rest.extend_from_slice(&r.buf[len..]);
        let bytes = std::mem::replace(&mut r.buf, rest);
        let b = &mut self.blobs[r.blob];
        let form = match b.form {
            Some(f) => f,
            None => {
                let head = &bytes[..len];
                if head.iter().all(u8::is_ascii_whitespace) {
                    // Nothing to tell the form by yet: blank lines, read as nothing.
                    LogFormat::Storage
                } else {
                    let display = &self.names[r.blob];
                    match resolve(head, self.opts.read.format, display) {
                        Ok((form, Container::JsonLines)) => {
                            b.form = Some(form);
                            form
                        }
                        Ok((form, _)) => {
                            // Storage blobs before November 2018 held one document each;
                            // a blob is read as it grows, line by line.
                            b.failed = true;
                            let why = format!(
                                "{form} records in JSON documents: blobs are read as JSON \
                                 lines, one record per line (hunt reads the blob as a file)"
                            );
                            return Err(IngestError::Open {
                                file: display.clone(),
                                source: io::Error::other(why),
                            });
                        }
                        Err((error, _)) => {
                            b.failed = true;
                            return Err(error);
                        }
                    }
                }
            }
        };
        if !b.counted {
            b.counted = true;
            r.stats.form(form).files += 1;
        }
        r.stats.source_forms.insert(b.source, form);
        let block = Block::new(b.source, form, b.line, b.offset, bytes, len);
        let end = block.end();
        b.offset = end.offset;
        b.line = end.line;
        Ok(block)
    }

    /// Bytes `range` of blob `i`; empty when the blob is gone.
    fn fetch(&self, i: usize, range: std::ops::Range<u64>) -> Result<Vec<u8>, IngestError> {
        let b = &self.blobs[i];
        let store = Arc::clone(&self.store);
        let path = b.path.clone();
        let got = self.until_stopped(async move { store.get_range(&path, range).await });
        match got {
            None => Ok(Vec::new()),
            Some(Ok(bytes)) => Ok(bytes.to_vec()),
            Some(Err(object_store::Error::NotFound { .. })) => Ok(Vec::new()),
            Some(Err(e)) => Err(IngestError::Read {
                file: self.names[i].clone(),
                line: b.line.saturating_sub(1),
                source: io::Error::other(self.redact(e.to_string())),
            }),
        }
    }

    /// Runs `request` to its end, or until a stop is asked for (`None`): a request retried
    /// for a minute while Storage is down does not hold up a SIGTERM.
    fn until_stopped<F: std::future::Future>(&self, request: F) -> Option<F::Output> {
        let stop = Arc::clone(&self.stop);
        self.runtime.block_on(async move {
            let watch = async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(STOP_CHECK).await;
                }
            };
            let (request, watch) = (std::pin::pin!(request), std::pin::pin!(watch));
            match futures_util::future::select(request, watch).await {
                futures_util::future::Either::Left((out, _)) => Some(out),
                futures_util::future::Either::Right(_) => None,
            }
        })
    }

    /// The end of reading `r`, with the error that stopped it.
    fn end(&mut self, r: Reading, error: Option<IngestError>) -> Unit {
        let mut stats = r.stats;
        if error.is_some() {
            stats.failed_files += 1;
            self.error_count += 1;
        }
        let mut buf = r.buf;
        buf.clear();
        if self.spare.len() < MAX_SPARE && buf.capacity() > 0 {
            self.spare.push(buf);
        }
        Unit::End(InputEnd {
            source: self.blobs[r.blob].source,
            stats,
            error,
        })
    }

    /// Waits for the next look; false when stopped meanwhile.
    fn wait_for_poll(&self) -> bool {
        let due = self
            .last_poll
            .map_or_else(Instant::now, |t| t + self.opts.poll_interval);
        super::sleep_until(due, &self.stop)
    }
}

impl Source for BlobSource {
    fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(error) = self.list_error.take() {
                return Some(Unit::End(InputEnd {
                    source: self.opts.first_source,
                    stats: ReadStats::new(),
                    error: Some(error),
                }));
            }
            if self.current.is_some() {
                return self.continue_reading();
            }
            if let Some((blob, to)) = self.work.pop_front() {
                let b = &self.blobs[blob];
                let mut buf = self.spare.pop().unwrap_or_default();
                buf.clear();
                self.current = Some(Reading {
                    blob,
                    to,
                    pos: b.offset,
                    buf,
                    stats: ReadStats::new(),
                });
                continue;
            }
            if self.opts.once {
                let due = self
                    .last_poll
                    .is_none_or(|t| t.elapsed() >= self.opts.poll_interval);
                if self.in_pass || !due {
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
        if self.spare.len() < MAX_SPARE && buffer.capacity() > 0 {
            self.spare.push(buffer);
        }
    }

    fn progress(&self) -> (u64, u64) {
        self.blobs.iter().fold((0, 0), |(read, total), b| {
            (read + b.offset.min(b.size), total + b.size)
        })
    }
}

/// The hour key (`YYYYMMDDHHmm`) `keep` before `hour`'s.
fn hour_before(hour: u64, keep: Duration) -> Option<u64> {
    let at = jiff::civil::DateTime::new(
        i16::try_from(hour / 100_000_000).ok()?,
        i8::try_from(hour / 1_000_000 % 100).ok()?,
        i8::try_from(hour / 10_000 % 100).ok()?,
        i8::try_from(hour / 100 % 100).ok()?,
        i8::try_from(hour % 100).ok()?,
        0,
        0,
    )
    .ok()?;
    let keep = jiff::SignedDuration::try_from(keep).ok()?;
    let before = at.checked_sub(keep).ok()?;
    let key = |v: i64, w: u64| u64::try_from(v).ok().map(|v| v % w);
    Some(
        key(before.year().into(), 10_000)? * 100_000_000
            + key(before.month().into(), 100)? * 1_000_000
            + key(before.day().into(), 100)? * 10_000
            + key(before.hour().into(), 100)? * 100
            + key(before.minute().into(), 100)?,
    )
}

#[cfg(test)]
mod tests;
