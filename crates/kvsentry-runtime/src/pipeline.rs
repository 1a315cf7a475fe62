//! The parallel single-pass reader: a [`Source`]'s units → worker threads → in-order
//! batches.
//!
//! ```text
//!  producer thread             N worker threads                 caller's thread
//!  source.next_unit():     →   parse block / read stream    →   reorder by sequence,
//!  open, gunzip, detect,       → stage(ev) (parse + rule        hand batches in input order
//!  cut at line boundaries        filters)
//! ```
//! - Blocks of whole lines (Storage blobs, Event Hubs captures as lines, NDJSON) are parsed
//!   on every core; gzip is decoded on the producer thread, off the parsing threads.
//! - Whole inputs (JSON arrays, pretty-printed envelopes, CSV) go to one worker each.
//! - Batches reach the caller in input order, so windows see the same event order whatever
//!   the thread count, and alerts are identical for `--threads 1` and `--threads 32`.
//! - Memory is bounded: at most `4 × threads` units are in flight (a token channel), each at
//!   most one block (or one whole input).
//!
//! The per-event work that can run in parallel is given as `stage`: it turns a borrowed event
//! into an owned value `P` (the engine's `Prepared`), so nothing borrowed crosses threads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use kvsentry_ingest::{Files, IngestError, Input, ReadOptions, ReadStats, Source, Unit};
use kvsentry_model::AuditEvent;

/// Progress callback: bytes of input consumed so far (compressed size for gzip) and the total
/// size of all inputs (0 when unknown, e.g. stdin).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// The per-event stage: the owned value for an event, or `None` to count it out of range.
pub type Stage<'s, P> = dyn Fn(&AuditEvent<'_>) -> Option<P> + Sync + 's;

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

    fn report(&self, source: &impl Source) {
        if let Some(p) = &self.progress {
            let (done, total) = source.progress();
            p(done, total);
        }
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

impl Outcome {
    fn add<P>(&mut self, done: Done<P>, sink: &mut dyn FnMut(Batch<P>)) {
        self.stats.merge(done.stats);
        self.errors.extend(done.error);
        sink(done.batch);
    }
}

/// The thread count for a `--threads` value: 0 means every core.
pub fn resolve_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// What one unit gave.
struct Done<P> {
    seq: u64,
    batch: Batch<P>,
    stats: ReadStats,
    error: Option<IngestError>,
}

/// Reads every input once (files and standard input, through [`Files`]) and hands the
/// stage's results to `sink` in input order.
pub fn run<P: Send>(
    inputs: &[Input],
    opts: &PipelineOptions,
    stage: &Stage<'_, P>,
    sink: &mut dyn FnMut(Batch<P>),
) -> Outcome {
    let mut outcome = run_source(Files::new(inputs, 0, &opts.read), opts, stage, sink);
    for (i, input) in inputs.iter().enumerate() {
        outcome.stats.name_source(i as u32, &input.display);
    }
    outcome
}

/// Reads `source` to its end and hands the stage's results to `sink` in the source's order.
pub fn run_source<S: Source + Send, P: Send>(
    mut source: S,
    opts: &PipelineOptions,
    stage: &Stage<'_, P>,
    sink: &mut dyn FnMut(Batch<P>),
) -> Outcome {
    let mut outcome = Outcome::default();
    if opts.threads <= 1 {
        // `--threads 1`: the same work on the caller's thread, no channels.
        while !opts.cancelled() {
            let Some(unit) = source.next_unit() else {
                break;
            };
            let (done, buffer) = process(0, unit, &opts.read, stage);
            if let Some(b) = buffer {
                source.recycle(b);
            }
            outcome.add(done, sink);
            opts.report(&source);
        }
        return outcome;
    }
    let in_flight = opts.threads * 4;
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, Unit)>(in_flight);
    let (done_tx, done_rx) = mpsc::channel::<Done<P>>();
    let (token_tx, token_rx) = crossbeam_channel::bounded::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    // Parsed blocks' buffers go back to the source: fresh 1 MiB buffers would each be
    // page-faulted and zeroed by the kernel.
    let (pool_tx, pool_rx) = crossbeam_channel::bounded::<Vec<u8>>(in_flight + opts.threads);
    thread::scope(|scope| {
        let producer = Producer {
            work: work_tx,
            tokens: token_rx,
            pool: pool_rx,
        };
        scope.spawn(move || producer.run(&mut source, opts));
        for _ in 0..opts.threads {
            let rx = work_rx.clone();
            let tx = done_tx.clone();
            let pool = pool_tx.clone();
            scope.spawn(move || {
                for (seq, unit) in rx.iter() {
                    let (done, buffer) = process(seq, unit, &opts.read, stage);
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
                outcome.add(d, sink);
                next += 1;
                let _ = token_tx.send(());
            }
        }
        // Units after a gap (cannot happen unless a thread died): deliver what is left.
        for (_, d) in pending {
            outcome.add(d, sink);
        }
    });
    outcome
}

/// The producer thread's ends of the channels.
struct Producer {
    work: Sender<(u64, Unit)>,
    /// One token per unit in flight, given back when the unit is delivered.
    tokens: Receiver<()>,
    /// Buffers of parsed blocks.
    pool: Receiver<Vec<u8>>,
}

impl Producer {
    /// Pulls units from the source and numbers them, as tokens allow.
    fn run(self, source: &mut impl Source, opts: &PipelineOptions) {
        let mut seq = 0u64;
        loop {
            for b in self.pool.try_iter() {
                source.recycle(b);
            }
            if opts.cancelled() {
                return;
            }
            let Some(unit) = source.next_unit() else {
                return;
            };
            if opts.cancelled()
                || self.tokens.recv().is_err()
                || self.work.send((seq, unit)).is_err()
            {
                return;
            }
            seq += 1;
            opts.report(source);
        }
    }
}

/// Runs the stage over one unit; hands back a block's buffer for reuse.
fn process<P>(
    seq: u64,
    unit: Unit,
    read: &ReadOptions,
    stage: &Stage<'_, P>,
) -> (Done<P>, Option<Vec<u8>>) {
    let mut stats = ReadStats::new();
    let capacity = match &unit {
        // About one event per kilobyte of Storage records: one allocation, no regrowth.
        Unit::Block(b) => b.data().len() / 1024 + 16,
        _ => 0,
    };
    let mut batch = Batch {
        prepared: Vec::with_capacity(capacity),
        out_of_range: 0,
    };
    let mut on_event = |ev: &AuditEvent<'_>| match stage(ev) {
        Some(p) => batch.prepared.push(p),
        None => batch.out_of_range += 1,
    };
    let (error, buffer) = match unit {
        Unit::Block(block) => {
            kvsentry_ingest::parse_block(&block, read, &mut stats, &mut on_event);
            (None, Some(block.into_buffer()))
        }
        Unit::Stream(stream) => (
            kvsentry_ingest::read_stream(stream, read, &mut stats, &mut on_event).err(),
            None,
        ),
        Unit::End(end) => {
            stats = end.stats;
            (end.error, None)
        }
    };
    let done = Done {
        seq,
        batch,
        stats,
        error,
    };
    (done, buffer)
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
