//! The parallel single-pass reader: inputs → chunks of lines → worker threads → in-order
//! batches.
//!
//! ```text
//!  producer thread            N worker threads                 caller's thread
//!  open, gunzip, detect,  →   parse_lines(chunk) → stage(ev)  →  reorder by sequence,
//!  cut at line boundaries     (parse + rule filters)             hand batches in input order
//! ```
//! - JSON Lines inputs (Storage blobs, Event Hubs captures as lines, NDJSON) are cut into
//!   blocks of whole lines so one large file is parsed on every core; gzip is decoded on the
//!   producer thread, off the parsing threads.
//! - Whole-document inputs (JSON arrays, pretty-printed envelopes, CSV) go to one worker each.
//! - Batches reach the caller in input order, so windows see the same event order whatever
//!   the thread count, and alerts are identical for `--threads 1` and `--threads 32`.
//! - Memory is bounded: at most `4 × threads` units are in flight (a token channel), each at
//!   most one chunk (or one whole-document file).
//!
//! The per-event work that can run in parallel is given as `stage`: it turns a borrowed event
//! into an owned value `P` (the engine's `Prepared`), so nothing borrowed crosses threads.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use flate2::read::MultiGzDecoder;
use kvsentry_ingest::{Container, IngestError, Input, LogFormat, ReadOptions, ReadStats};
use kvsentry_model::AuditEvent;

/// Progress callback: bytes of input consumed so far (compressed size for gzip) and the total
/// size of all inputs (0 when unknown, e.g. stdin).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct PipelineOptions {
    pub read: ReadOptions,
    /// Worker threads (at least 1). With 1, everything runs on the caller's thread.
    pub threads: usize,
    pub progress: Option<Progress>,
    /// Set by the caller to stop reading early: no new unit is started once it is true
    /// (units already in flight are still delivered).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl PipelineOptions {
    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// What the stage produced for one unit of input, in order.
pub struct Batch<P> {
    pub prepared: Vec<P>,
    /// Events for which the stage returned `None`.
    pub out_of_range: u64,
}

/// What a run read.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stats: ReadStats,
    /// Inputs that stopped with an error (after delivering what was readable).
    pub errors: Vec<IngestError>,
}

/// The thread count for a `--threads` value: 0 means every core.
pub fn resolve_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// The bytes of a file handed to a worker: a block of whole lines of a line-oriented form.
struct Chunk {
    seq: u64,
    source: u32,
    format: LogFormat,
    first_line: u64,
    /// A buffer whose first `len` bytes are the chunk; the rest is spare (initialised) room
    /// kept for when the buffer is reused.
    bytes: Vec<u8>,
    len: usize,
}

enum Work {
    Lines(Chunk),
    /// A whole input read by the worker itself (documents, CSV, stdin).
    Whole {
        seq: u64,
        source: u32,
    },
}

struct Done<P> {
    seq: u64,
    batch: Batch<P>,
    stats: ReadStats,
    error: Option<IngestError>,
}

/// Reads every input once and hands the stage's results to `sink` in input order.
pub fn run<P: Send>(
    inputs: &[Input],
    opts: &PipelineOptions,
    stage: &(dyn Fn(&AuditEvent<'_>) -> Option<P> + Sync),
    sink: &mut dyn FnMut(Batch<P>),
) -> Outcome {
    if opts.threads <= 1 {
        return run_sequential(inputs, opts, stage, sink);
    }
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.path.as_ref())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let in_flight = opts.threads * 4;
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Work>(in_flight);
    let (done_tx, done_rx) = mpsc::channel::<Done<P>>();
    let (token_tx, token_rx) = crossbeam_channel::bounded::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    // Parsed chunks' buffers go back to the producer: fresh 1 MiB buffers would each be
    // page-faulted and zeroed by the kernel (an eighth of a hunt's time when measured).
    let (pool_tx, pool_rx) = crossbeam_channel::bounded::<Vec<u8>>(in_flight + opts.threads);
    let mut outcome = Outcome::default();
    thread::scope(|scope| {
        // Producer: reads and cuts; producer-side errors come back as `Done` units too.
        let producer_done = done_tx.clone();
        let progress = opts.progress.clone();
        scope.spawn(move || {
            produce(
                inputs,
                opts,
                total,
                progress,
                &work_tx,
                &token_rx,
                &pool_rx,
                &producer_done,
            );
        });
        for _ in 0..opts.threads {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            let pool = pool_tx.clone();
            scope.spawn(move || {
                for work in rx.iter() {
                    let (done, buffer) = process(work, inputs, &opts.read, stage);
                    if let Some(b) = buffer {
                        let _ = pool.try_send(b);
                    }
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(pool_tx);
        drop(work_rx);
        drop(done_tx);
        // Deliver in sequence order.
        let mut pending: BTreeMap<u64, Done<P>> = BTreeMap::new();
        let mut next = 0u64;
        for done in done_rx.iter() {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next) {
                outcome.stats.merge(d.stats);
                if let Some(e) = d.error {
                    outcome.errors.push(e);
                }
                sink(d.batch);
                next += 1;
                let _ = token_tx.send(());
            }
        }
        // Units after a gap (cannot happen unless a thread died): deliver what is left.
        for (_, d) in pending {
            outcome.stats.merge(d.stats);
            outcome.errors.extend(d.error);
            sink(d.batch);
        }
    });
    for (i, input) in inputs.iter().enumerate() {
        outcome.stats.name_source(i as u32, &input.display);
    }
    outcome
}

/// `--threads 1`: the same reader on the caller's thread, no channels.
fn run_sequential<P>(
    inputs: &[Input],
    opts: &PipelineOptions,
    stage: &(dyn Fn(&AuditEvent<'_>) -> Option<P> + Sync),
    sink: &mut dyn FnMut(Batch<P>),
) -> Outcome {
    let mut outcome = Outcome::default();
    let total: u64 = inputs
        .iter()
        .filter_map(|i| i.path.as_ref())
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut done_bytes = 0u64;
    for (i, input) in inputs.iter().enumerate() {
        if opts.cancelled() {
            break;
        }
        let mut batch = Batch {
            prepared: Vec::with_capacity(4096),
            out_of_range: 0,
        };
        let r = kvsentry_ingest::read_input(
            input,
            i as u32,
            &opts.read,
            &mut outcome.stats,
            &mut |ev| match stage(ev) {
                Some(p) => {
                    batch.prepared.push(p);
                    if batch.prepared.len() >= 4096 {
                        let full = std::mem::replace(
                            &mut batch,
                            Batch {
                                prepared: Vec::with_capacity(4096),
                                out_of_range: 0,
                            },
                        );
                        sink(full);
                    }
                }
                None => batch.out_of_range += 1,
            },
        );
        sink(batch);
        if let Err(e) = r {
            outcome.errors.push(e);
        }
        if let (Some(p), Some(path)) = (&opts.progress, &input.path) {
            done_bytes += std::fs::metadata(path).map_or(0, |m| m.len());
            p(done_bytes, total);
        }
    }
    outcome
}

/// Runs the stage over one unit; hands back the chunk's buffer for reuse.
fn process<P>(
    work: Work,
    inputs: &[Input],
    read: &ReadOptions,
    stage: &(dyn Fn(&AuditEvent<'_>) -> Option<P> + Sync),
) -> (Done<P>, Option<Vec<u8>>) {
    let mut stats = ReadStats::new();
    let capacity = match &work {
        // About one event per kilobyte of Storage records: one allocation, no regrowth.
        Work::Lines(c) => c.len / 1024 + 16,
        Work::Whole { .. } => 0,
    };
    let mut batch = Batch {
        prepared: Vec::with_capacity(capacity),
        out_of_range: 0,
    };
    let mut on_event = |ev: &AuditEvent<'_>| match stage(ev) {
        Some(p) => batch.prepared.push(p),
        None => batch.out_of_range += 1,
    };
    match work {
        Work::Lines(c) => {
            // simdutf8 validates a chunk several times faster than `std::str::from_utf8`;
            // the lossy scan only runs on invalid input.
            let data = c.bytes.get(..c.len).unwrap_or(&c.bytes);
            let text = match simdutf8::basic::from_utf8(data) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(data),
            };
            stats.bytes += data.len() as u64;
            kvsentry_ingest::parse_lines(
                c.format,
                &text,
                c.first_line,
                c.source,
                read,
                &mut stats,
                &mut on_event,
            );
            drop(text);
            let done = Done {
                seq: c.seq,
                batch,
                stats,
                error: None,
            };
            (done, Some(c.bytes))
        }
        Work::Whole { seq, source } => {
            let error = match inputs.get(source as usize) {
                Some(input) => {
                    kvsentry_ingest::read_input(input, source, read, &mut stats, &mut on_event)
                        .err()
                }
                None => None,
            };
            let done = Done {
                seq,
                batch,
                stats,
                error,
            };
            (done, None)
        }
    }
}

/// Counts bytes pulled from the underlying file, for progress.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

const HEAD_BYTES: usize = 64 * 1024;

#[allow(clippy::too_many_arguments)]
fn produce<P>(
    inputs: &[Input],
    opts: &PipelineOptions,
    total: u64,
    progress: Option<Progress>,
    work: &crossbeam_channel::Sender<Work>,
    tokens: &crossbeam_channel::Receiver<()>,
    pool: &crossbeam_channel::Receiver<Vec<u8>>,
    done: &mpsc::Sender<Done<P>>,
) {
    let mut seq = 0u64;
    let mut consumed_before = 0u64;
    let read = &opts.read;
    let chunk_bytes = read.chunk_bytes.max(64 * 1024);
    let send =
        |w: Work| -> bool { !opts.cancelled() && tokens.recv().is_ok() && work.send(w).is_ok() };
    for (i, input) in inputs.iter().enumerate() {
        let source = i as u32;
        let whole = |seq: &mut u64| {
            let w = Work::Whole { seq: *seq, source };
            *seq += 1;
            w
        };
        let Some(path) = &input.path else {
            if !send(whole(&mut seq)) {
                return;
            }
            continue;
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(_) => {
                // Let the worker's read_input report the error in its own words.
                if !send(whole(&mut seq)) {
                    return;
                }
                continue;
            }
        };
        let mut counted = Counting {
            inner: file,
            count: 0,
        };
        let mut magic = [0u8; 2];
        let gz = matches!(counted.read(&mut magic), Ok(2)) && magic == [0x1f, 0x8b];
        drop(counted);
        // Re-open rather than chain the two bytes back, to keep the reader types simple.
        let Ok(file) = File::open(path) else {
            if !send(whole(&mut seq)) {
                return;
            }
            continue;
        };
        let counted = Counting {
            inner: file,
            count: 0,
        };
        let mut reader: Box<dyn ReadCount> = if gz {
            Box::new(GzCount(MultiGzDecoder::new(counted)))
        } else {
            Box::new(counted)
        };

        let mut head = Vec::with_capacity(HEAD_BYTES);
        let head_err = (&mut reader)
            .take(HEAD_BYTES as u64)
            .read_to_end(&mut head)
            .err();
        let mut skip = 0;
        if head.starts_with(b"\xef\xbb\xbf") {
            skip = 3;
        }
        let detected = kvsentry_ingest::detect(&head[skip..]);
        let format = match (read.format, detected) {
            (LogFormat::Auto, Some((f, Container::JsonLines))) => Some(f),
            // A forced form that detection disagrees with goes to the whole-file reader,
            // which refuses the file in its own words.
            (forced, Some((f, Container::JsonLines))) if f == forced => Some(f),
            _ => None,
        };
        let Some(format) = format else {
            // Documents, CSV, unknown forms, empty files: one worker reads the file whole
            // (and reports unknown forms with the reader's message).
            if !send(whole(&mut seq)) {
                return;
            }
            consumed_before += std::fs::metadata(path).map_or(0, |m| m.len());
            if let Some(p) = &progress {
                p(consumed_before, total);
            }
            continue;
        };

        // Buffers stay initialised (len == capacity) from use to use and are filled with
        // plain `read` calls: `read_to_end` on a reader without a native `read_buf` (gzip,
        // the byte counters) zeroes the spare room before every read, i.e. once per byte.
        let fresh = || vec![0u8; chunk_bytes + HEAD_BYTES];
        let mut buf = pool.try_recv().unwrap_or_else(|_| fresh());
        let body = head.get(skip..).unwrap_or_default();
        if buf.len() < body.len() + chunk_bytes {
            buf.resize(body.len() + chunk_bytes, 0);
        }
        buf[..body.len()].copy_from_slice(body);
        let mut filled = body.len();
        // Read until the buffer holds this many bytes (or the input ends).
        let mut fill_to = chunk_bytes.max(filled);
        let mut line = 1u64;
        let mut error: Option<io::Error> = head_err;
        let mut stats = ReadStats::new();
        stats.forms.entry(format).or_default().files += 1;
        stats.source_forms.insert(source, format);
        loop {
            let mut eof = error.is_some();
            if !eof {
                match kvsentry_ingest::fill(&mut *reader, &mut buf, &mut filled, fill_to) {
                    Ok(end) => eof = end,
                    Err(e) => {
                        error = Some(e);
                        eof = true;
                    }
                }
            }
            let data = &buf[..filled];
            let cut = if eof {
                if error.is_some() {
                    // Parse only complete lines before damage; the partial line counts as
                    // read, as in the sequential reader.
                    let cut = memchr::memrchr(b'\n', data).map_or(0, |i| i + 1);
                    stats.bytes += (filled - cut) as u64;
                    cut
                } else {
                    filled
                }
            } else {
                match memchr::memrchr(b'\n', data) {
                    Some(i) => i + 1,
                    // A single line longer than a chunk: read another chunk's worth.
                    None if filled < 64 * chunk_bytes => {
                        fill_to = filled + chunk_bytes;
                        continue;
                    }
                    None => filled,
                }
            };
            if cut > 0 {
                // The next buffer starts with the cut-off partial line and has room for a
                // whole chunk after it.
                let tail = filled - cut;
                let mut next = pool.try_recv().unwrap_or_else(|_| fresh());
                if next.len() < tail + chunk_bytes {
                    next.resize(tail + chunk_bytes, 0);
                }
                next[..tail].copy_from_slice(&buf[cut..filled]);
                let bytes = std::mem::replace(&mut buf, next);
                filled = tail;
                fill_to = tail + chunk_bytes;
                let newlines = memchr::memchr_iter(b'\n', &bytes[..cut]).count() as u64;
                let chunk = Chunk {
                    seq,
                    source,
                    format,
                    first_line: line,
                    bytes,
                    len: cut,
                };
                seq += 1;
                line += newlines;
                if !send(Work::Lines(chunk)) {
                    return;
                }
                if let Some(p) = &progress {
                    p(consumed_before + reader.consumed(), total);
                }
            }
            if eof {
                break;
            }
        }
        consumed_before += reader.consumed();
        let reached = line.saturating_sub(1);
        let file = input.display.clone();
        let err = error.map(|e| {
            if gz {
                IngestError::TruncatedGzip {
                    file,
                    line: reached,
                    source: e,
                }
            } else {
                IngestError::Read {
                    file,
                    line: reached,
                    source: e,
                }
            }
        });
        if err.is_some() {
            stats.failed_files += 1;
        }
        // The file's own bookkeeping travels as one more (empty) unit in sequence.
        if tokens.recv().is_err() {
            return;
        }
        let unit = Done {
            seq,
            batch: Batch {
                prepared: Vec::new(),
                out_of_range: 0,
            },
            stats,
            error: err,
        };
        seq += 1;
        if done.send(unit).is_err() {
            return;
        }
    }
}

/// A reader that knows how many bytes of the underlying file it consumed.
trait ReadCount: Read {
    fn consumed(&self) -> u64;
}

impl<R: Read> ReadCount for Counting<R> {
    fn consumed(&self) -> u64 {
        self.count
    }
}

struct GzCount<R: Read>(MultiGzDecoder<Counting<R>>);

impl<R: Read> Read for GzCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> ReadCount for GzCount<R> {
    fn consumed(&self) -> u64 {
        self.0.get_ref().count
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A Storage-form record (the shape of the reference samples) at second `i`, with
    /// `pad` extra bytes in `properties.clientInfo`.
    fn record(i: usize, pad: usize) -> String {
        format!(
            concat!(
                r#"{{"time":"2025-07-01T00:{:02}:{:02}.1234567Z","resourceId":"/SUBSCRIPTIONS/8375B821-2237-4337-9D03-AF96EFE330F5/RESOURCEGROUPS/RG-1/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-1","#,
                r#""operationName":"SecretGet","operationVersion":"7.4","category":"AuditEvent","resultType":"Success","#,
                r#""resultSignature":"OK","durationMs":"11","callerIpAddress":"104.40.85.{}","#,
                r#""identity":{{"claim":{{"oid":"951417d0-eb46-46e8-ac4a-1b8f8abc2ffa","upn":"user{}@contoso.com"}}}},"#,
                r#""properties":{{"clientInfo":"azsdk {}","httpStatusCode":200}}}}"#
            ),
            (i / 60) % 60,
            i % 60,
            i % 250,
            i % 7,
            "x".repeat(pad)
        )
    }

    /// What the stage saw, in order: (source, line, time, caller IP).
    type Seen = Vec<(u32, u64, String, String)>;

    fn read_all(inputs: &[Input], threads: usize, chunk_bytes: usize) -> (Seen, Outcome) {
        let opts = PipelineOptions {
            read: ReadOptions {
                chunk_bytes,
                ..ReadOptions::default()
            },
            threads,
            progress: None,
            cancel: None,
        };
        let mut seen = Vec::new();
        let outcome = run(
            inputs,
            &opts,
            &|ev: &AuditEvent<'_>| {
                Some((
                    ev.origin.source,
                    ev.origin.line,
                    ev.time.to_string(),
                    format!("{:?}", ev.get(kvsentry_model::Field::CallerIp)),
                ))
            },
            &mut |b| seen.extend(b.prepared),
        );
        (seen, outcome)
    }

    /// Chunking, buffer reuse and reordering must not change what is read: lines longer
    /// than a chunk, a malformed line, blank lines, a file without a final newline, gzip
    /// (whole and truncated), against the sequential reader.
    #[test]
    fn parallel_reader_equals_sequential_reader_on_awkward_input() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = String::new();
        for i in 0..3000 {
            let pad = match i {
                17 => 300 * 1024, // longer than four 64 KiB chunks
                18 => 64 * 1024,  // about one chunk
                _ => i % 50,
            };
            plain.push_str(&record(i, pad));
            plain.push('\n');
            if i == 1000 {
                plain.push_str("{\"time\": \"2025-07-01T00:00:00Z\", \"category\": \n\n");
            }
        }
        plain.push_str(&record(3000, 3)); // no final newline
        let a = dir.path().join("a.json");
        std::fs::write(&a, &plain).unwrap();

        let gz_bytes = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(plain.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let b = dir.path().join("b.json.gz");
        std::fs::write(&b, &gz_bytes).unwrap();
        let c = dir.path().join("c.json.gz");
        std::fs::write(&c, &gz_bytes[..gz_bytes.len() * 2 / 3]).unwrap();

        let paths: Vec<String> = [&a, &b, &c]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let inputs = kvsentry_ingest::discover(&paths).unwrap();

        let (one, one_out) = read_all(&inputs, 1, 1 << 20);
        for (threads, chunk) in [(2, 64 * 1024), (3, 64 * 1024), (4, 200 * 1024)] {
            let (many, many_out) = read_all(&inputs, threads, chunk);
            assert_eq!(many.len(), one.len(), "threads {threads}, chunk {chunk}");
            assert_eq!(many, one, "threads {threads}, chunk {chunk}");
            assert_eq!(many_out.stats.skipped, one_out.stats.skipped);
            assert_eq!(many_out.stats.bytes, one_out.stats.bytes);
            assert_eq!(many_out.errors.len(), one_out.errors.len());
        }
        // The plain and the whole gzip file give 3,001 events each; the truncated one a
        // prefix of them, cut at a line end.
        let per_source = |s: u32| one.iter().filter(|e| e.0 == s).count();
        assert_eq!(per_source(0), 3001);
        assert_eq!(per_source(1), 3001);
        assert!(
            per_source(2) > 100 && per_source(2) < 3001,
            "{}",
            per_source(2)
        );
        // The long lines keep their numbers; the line after the malformed one too.
        let lines: Vec<u64> = one.iter().filter(|e| e.0 == 0).map(|e| e.1).collect();
        assert_eq!(&lines[16..20], &[17, 18, 19, 20]);
        assert_eq!(lines[1001], 1004);
        assert_eq!(one_out.errors.len(), 1, "the truncated gzip");
    }
}
