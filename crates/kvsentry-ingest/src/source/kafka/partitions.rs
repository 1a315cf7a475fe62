//! The messages of each partition gathered into blocks of lines, and skipped messages
//! counted: what [`super::KafkaSource`] hands out, each unit with the offset its partition
//! resumes from once it is handed out.

use std::collections::VecDeque;

use super::message;
use super::{KafkaOptions, SkippedMessage};
use crate::source::{Block, InputEnd, Unit};
use crate::stats::{ReadStats, SkipReason};
use crate::{LogFormat, detect};

/// Skipped messages kept for [`super::KafkaSource::skipped`] (all are counted).
const MAX_SKIPPED_KEPT: usize = 1024;

/// Spare block buffers kept for reuse.
const MAX_SPARE: usize = 64;

/// Every partition of a topic as read.
#[derive(Default)]
pub(super) struct Partitions {
    /// By partition id.
    pub(super) parts: Vec<Part>,
    /// Units to hand out, each with its partition and the offset it resumes from then.
    pub(super) ready: VecDeque<(Unit, Option<(usize, i64)>)>,
    spare: Vec<Vec<u8>>,
    pub(super) skipped: Vec<SkippedMessage>,
    pub(super) skipped_count: u64,
}

/// One partition as read.
pub(super) struct Part {
    pub(super) source: u32,
    /// The offset after every unit handed out (`None`: from the earliest).
    pub(super) handed: Option<i64>,
    /// The offset after the last message taken (`None`: none taken yet).
    pub(super) taken: Option<i64>,
    /// Messages taken but not handed out yet: whole lines, the first at offset `first`.
    buf: Vec<u8>,
    first: i64,
    /// Skips noted but not handed out yet.
    stats: Option<ReadStats>,
    form: Option<LogFormat>,
    /// Its form was counted in the stats.
    counted: bool,
}

impl Part {
    /// Partition read from `at` (`None`: from the earliest offset).
    pub(super) fn new(source: u32, at: Option<i64>) -> Part {
        Part {
            source,
            handed: at,
            taken: at,
            buf: Vec::new(),
            first: 0,
            stats: None,
            form: None,
            counted: false,
        }
    }

    /// Nothing taken is waiting to be handed out.
    pub(super) fn idle(&self) -> bool {
        self.buf.is_empty() && self.stats.is_none()
    }
}

impl Partitions {
    /// The next unit, noting where its partition resumes after it.
    pub(super) fn pop(&mut self) -> Option<Unit> {
        let (unit, at) = self.ready.pop_front()?;
        if let Some((p, next)) = at {
            self.parts[p].handed = Some(next);
        }
        Some(unit)
    }

    /// Takes one message of partition `p` at `offset`.
    pub(super) fn take(
        &mut self,
        opts: &KafkaOptions,
        p: usize,
        offset: i64,
        payload: Option<&[u8]>,
    ) {
        let Some(part) = self.parts.get_mut(p) else {
            return;
        };
        if part.taken.is_some_and(|t| offset < t) {
            // Taken already (read again after a reassignment).
            return;
        }
        if !part.buf.is_empty() && part.taken != Some(offset) {
            // A gap (offsets without messages): lines must follow offsets within a block.
            self.flush_block(p, opts.read.format);
        }
        let part = &mut self.parts[p];
        if part.buf.capacity() == 0 {
            part.buf = self.spare.pop().unwrap_or_default();
        }
        let start = part.buf.len();
        let max = opts.max_message_bytes;
        match message::append_line(payload.unwrap_or_default(), max, &mut part.buf) {
            Ok(()) => {
                if start == 0 {
                    part.first = offset;
                }
                part.taken = Some(offset + 1);
                if part.form.is_none() && opts.read.format == LogFormat::Auto {
                    part.form = detect(&part.buf[start..]).map(|(f, _)| f);
                }
                if part.buf.len() >= opts.read.chunk_bytes.max(4096) {
                    self.flush_block(p, opts.read.format);
                }
            }
            Err(bad) => {
                self.flush_block(p, opts.read.format);
                self.skip(p, offset, &bad.describe(max));
            }
        }
    }

    /// Counts a skipped message.
    fn skip(&mut self, p: usize, offset: i64, reason: &str) {
        let part = &mut self.parts[p];
        part.taken = Some(offset + 1);
        let line = u64::try_from(offset).unwrap_or(0) + 1;
        let stats = part.stats.get_or_insert_with(ReadStats::new);
        stats.skip(
            part.source,
            line,
            SkipReason::MalformedJson,
            format!("offset {offset}: {reason}"),
        );
        self.skipped_count += 1;
        if self.skipped.len() < MAX_SKIPPED_KEPT {
            self.skipped.push(SkippedMessage {
                partition: p as i32,
                offset,
                reason: reason.to_string(),
            });
        }
        self.flush_stats(p);
    }

    /// Queues partition `p`'s pending lines as a block; `format` is the form read unless
    /// the partition's was detected.
    fn flush_block(&mut self, p: usize, format: LogFormat) {
        let part = &mut self.parts[p];
        if part.buf.is_empty() {
            return;
        }
        let form = part.form.unwrap_or(format);
        if !part.counted && form != LogFormat::Auto {
            part.counted = true;
            let stats = part.stats.get_or_insert_with(ReadStats::new);
            stats.form(form).files += 1;
            stats.source_forms.insert(part.source, form);
        }
        let bytes = std::mem::take(&mut part.buf);
        let len = bytes.len();
        let first = u64::try_from(part.first).unwrap_or(0);
        let block = Block::new(part.source, form, first + 1, first, bytes, len);
        let next = part.taken.unwrap_or(0);
        self.ready.push_back((Unit::Block(block), Some((p, next))));
        self.flush_stats(p);
    }

    /// Queues partition `p`'s pending counts.
    fn flush_stats(&mut self, p: usize) {
        let part = &mut self.parts[p];
        if let Some(stats) = part.stats.take() {
            let unit = Unit::End(InputEnd {
                source: part.source,
                stats,
                error: None,
            });
            let next = part.taken.unwrap_or(0);
            self.ready.push_back((unit, Some((p, next))));
        }
    }

    /// Queues everything pending.
    pub(super) fn flush_all(&mut self, format: LogFormat) {
        for p in 0..self.parts.len() {
            self.flush_block(p, format);
        }
        for p in 0..self.parts.len() {
            self.flush_stats(p);
        }
    }

    pub(super) fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && buffer.capacity() > 0 {
            buffer.clear();
            self.spare.push(buffer);
        }
    }
}
