//! A Kafka topic (or an Event Hub through its Kafka endpoint) as a [`Source`]: every
//! partition of the topic, consumed in parallel, as [`Block`](super::Block)s of JSON lines.
//!
//! - Partition `p` is the input's partition `p`: its source index is `first_source + p`,
//!   named `topic[p]` by [`KafkaSource::names`].
//! - Each message is one line: an Event Hubs `{"records":[...]}` envelope,
//!   one record, or several JSON documents (one per line). A block holds messages of one
//!   partition with consecutive offsets, so the line of a message is its offset + 1 (lines
//!   count from 1, offsets from 0): an event's origin says its partition and offset.
//! - A message that cannot be a line of JSON (too large, empty, not UTF-8, several lines
//!   that are not JSON) is skipped and counted with its partition and offset, in the
//!   [`ReadStats`] of an [`InputEnd`] (as [`crate::SkipReason::MalformedJson`]) and in
//!   [`KafkaSource::skipped`]. It never stops the input.
//! - The offsets are ours: [`KafkaSource::checkpoint`] is, per partition, the offset after
//!   every unit handed out, to be committed with the engine state that consumed them;
//!   [`KafkaSource::resume`] continues there, and a partition without one starts at its
//!   earliest offset. [`KafkaSource::commit_offsets`] copies a committed checkpoint to the
//!   consumer group, for the lag tools; it is never read back. A partition that ends
//!   before its checkpoint (the topic was made anew) is read again from its start and
//!   counted ([`KafkaSource::restarts`]).
//! - In `once` mode a pass reads until every partition has reached the high watermark seen
//!   when the pass started, then [`Source::next_unit`] answers `None` (the next call starts
//!   another pass). Otherwise the source is endless and blocks until data comes, or until
//!   [`KafkaSource::stop_handle`] is set.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{InputEnd, Source, Unit};
use crate::stats::ReadStats;
use crate::{IngestError, ReadOptions};

mod config;
mod message;
mod partitions;

use partitions::{Part, Partitions};

/// How long one poll of the consumer waits, so a stop request is noticed quickly.
const POLL: Duration = Duration::from_millis(100);

/// How often an endless source looks for new partitions.
const REDISCOVER: Duration = Duration::from_secs(60);

/// How a topic is read. `Debug` shows no secret.
#[derive(Clone)]
pub struct KafkaOptions {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    pub topic: String,
    /// The consumer group the offsets are committed to ([`KafkaSource::commit_offsets`]).
    pub group_id: String,
    /// An Event Hubs connection string: SASL_SSL, PLAIN, user `$ConnectionString`, this as
    /// the password. A secret: never printed nor put in an error.
    pub event_hubs_connection_string: Option<String>,
    /// librdkafka properties (`security.protocol`, `fetch.max.bytes`, ...).
    pub settings: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets (`sasl.password`, ...).
    pub secret_settings: BTreeMap<String, String>,
    /// The form (`Auto` detects each partition's from its first message) and the size of
    /// blocks.
    pub read: ReadOptions,
    /// One pass at a time: see the module documentation. For `serve --once`.
    pub once: bool,
    /// The source index of partition 0.
    pub first_source: u32,
    /// Longer messages are skipped (Event Hubs' limit is 1 MB, 20 MB on Premium).
    pub max_message_bytes: usize,
    /// How long the brokers may stay unanswering (metadata, watermarks, a pass making no
    /// progress) before a pass gives up with an error.
    pub timeout: Duration,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            brokers: Vec::new(),
            topic: String::new(),
            group_id: "kvsentry".into(),
            event_hubs_connection_string: None,
            settings: BTreeMap::new(),
            secret_settings: BTreeMap::new(),
            read: ReadOptions::default(),
            once: false,
            first_source: 0,
            max_message_bytes: 32 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret_keys: Vec<&String> = self.secret_settings.keys().collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field(
                "event_hubs",
                &self
                    .event_hubs_connection_string
                    .as_ref()
                    .map(|_| "<secret>"),
            )
            .field("settings", &self.settings)
            .field("secret_settings (keys)", &secret_keys)
            .field("read", &self.read)
            .field("once", &self.once)
            .field("first_source", &self.first_source)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Where a topic's reading stands: what [`KafkaSource::resume`] continues from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaCheckpoint {
    /// By partition: the offset of the next message to read.
    pub next: BTreeMap<i32, i64>,
}

/// A message skipped: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedMessage {
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

/// Why a Kafka source could not be set up, or its offsets not committed. Its text never
/// holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("kafka topic {topic}: {message}")]
    Client { topic: String, message: String },
}

/// A topic's partitions as a [`Source`]: see the module documentation.
pub struct KafkaSource {
    consumer: BaseConsumer,
    opts: KafkaOptions,
    parts: Partitions,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    /// A `once` pass is under way, with the high watermark to reach per partition.
    pass: Option<Vec<i64>>,
    last_progress: Instant,
    last_discover: Option<Instant>,
    /// Offsets from [`KafkaSource::resume`], for partitions not discovered yet.
    resume_at: BTreeMap<i32, i64>,
    secrets: Vec<String>,
    restarts: u64,
    /// Each partition's earliest offset and high watermark when the last pass started.
    ends: Vec<(i64, i64)>,
}

impl KafkaSource {
    /// Reads `opts.topic` from the earliest offset of every partition. Connects lazily:
    /// the brokers are first asked at the first [`Source::next_unit`].
    pub fn new(opts: KafkaOptions) -> Result<KafkaSource, KafkaSourceError> {
        let consumer = config::consumer(&opts)?;
        let mut secrets: Vec<String> = opts.secret_settings.values().cloned().collect();
        secrets.extend(opts.event_hubs_connection_string.iter().cloned());
        secrets.retain(|s| !s.is_empty());
        Ok(KafkaSource {
            consumer,
            opts,
            parts: Partitions::default(),
            names: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            pass: None,
            last_progress: Instant::now(),
            last_discover: None,
            resume_at: BTreeMap::new(),
            secrets,
            restarts: 0,
            ends: Vec::new(),
        })
    }

    /// Reads `opts.topic` on from `checkpoint` (taken from a source of the same topic);
    /// partitions it does not name start at their earliest offset.
    pub fn resume(
        opts: KafkaOptions,
        checkpoint: &KafkaCheckpoint,
    ) -> Result<KafkaSource, KafkaSourceError> {
        let mut source = KafkaSource::new(opts)?;
        source.resume_at = checkpoint.next.clone();
        Ok(source)
    }

    /// Display names by local index (the partition id): `topic[p]`. Grows as partitions
    /// are found.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position after every unit handed out so far: take it once they are handled.
    pub fn checkpoint(&self) -> KafkaCheckpoint {
        let mut next = self.resume_at.clone();
        for (p, part) in self.parts.parts.iter().enumerate() {
            if let Some(o) = part.handed {
                next.insert(p as i32, o);
            }
        }
        KafkaCheckpoint { next }
    }

    /// Commits `checkpoint` (one [`KafkaSource::checkpoint`] already committed with the
    /// state that consumed it) to the consumer group, so the group's lag shows how far
    /// behind the input is. Blocks until the coordinator answered.
    pub fn commit_offsets(&self, checkpoint: &KafkaCheckpoint) -> Result<(), KafkaSourceError> {
        if checkpoint.next.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &checkpoint.next {
            tpl.add_partition_offset(&self.opts.topic, p, Offset::Offset(o))
                .map_err(|e| self.error(&e))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| self.error(&e))
    }

    /// A flag that, once set, makes [`Source::next_unit`] answer `None` (within a few
    /// hundred milliseconds when it is waiting for data).
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Skipped messages: how many, and the first ones.
    pub fn skipped(&self) -> (u64, &[SkippedMessage]) {
        (self.parts.skipped_count, &self.parts.skipped)
    }

    /// Partitions found to end before their checkpoint (a topic made anew) and read again
    /// from their earliest offset.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Messages in the topic not read yet, per partition (the high watermark minus the
    /// offset to read next); asks the brokers.
    pub fn lag(&self) -> Result<BTreeMap<i32, i64>, KafkaSourceError> {
        let ends = self.watermarks()?;
        let parts = self.parts.parts.iter().zip(ends);
        let lag = parts
            .enumerate()
            .map(|(p, (part, (low, high)))| (p as i32, high - part.handed.unwrap_or(low).max(low)));
        Ok(lag.collect())
    }

    fn error(&self, e: &KafkaError) -> KafkaSourceError {
        KafkaSourceError::Client {
            topic: self.opts.topic.clone(),
            message: self.scrub(e.to_string()),
        }
    }

    /// `text` without any secret in it.
    fn scrub(&self, mut text: String) -> String {
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<secret>");
            }
        }
        text
    }

    /// Every known partition's earliest offset and high watermark (with `read_committed`,
    /// the end of what can be read): one request per broker for each, not one per
    /// partition (each waits behind the fetch the consumer has in flight).
    fn watermarks(&self) -> Result<Vec<(i64, i64)>, KafkaSourceError> {
        let low = self.offsets_at(Offset::Beginning)?;
        let high = self.offsets_at(Offset::End)?;
        Ok(low.into_iter().zip(high).collect())
    }

    /// Every known partition's offset at `at` (its beginning or its end).
    fn offsets_at(&self, at: Offset) -> Result<Vec<i64>, KafkaSourceError> {
        let topic = &self.opts.topic;
        let n = self.parts.parts.len();
        let mut tpl = TopicPartitionList::with_capacity(n);
        for p in 0..n as i32 {
            tpl.add_partition_offset(topic, p, at)
                .map_err(|e| self.error(&e))?;
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let got = (self.consumer)
            .offsets_for_times(tpl, self.opts.timeout)
            .map_err(|e| self.error(&e))?;
        let mut out = vec![None; n];
        for e in got.elements_for_topic(topic) {
            e.error().map_err(|e| self.error(&e))?;
            if let (Some(slot), Offset::Offset(o)) =
                (out.get_mut(e.partition() as usize), e.offset())
            {
                *slot = Some(o);
            }
        }
        // A partition the answer left without an offset is asked alone.
        let mut offsets = Vec::with_capacity(n);
        for (p, o) in out.into_iter().enumerate() {
            let o = match o {
                Some(o) => o,
                None => {
                    let (low, high) = (self.consumer)
                        .fetch_watermarks(topic, p as i32, self.opts.timeout)
                        .map_err(|e| self.error(&e))?;
                    if at == Offset::Beginning { low } else { high }
                }
            };
            offsets.push(o);
        }
        Ok(offsets)
    }

    /// Asks for the topic's partitions and assigns the new ones, from their checkpoint or
    /// their earliest offset.
    fn discover(&mut self) -> Result<(), KafkaSourceError> {
        self.last_discover = Some(Instant::now());
        let topic = &self.opts.topic;
        let meta = (self.consumer)
            .fetch_metadata(Some(topic), self.opts.timeout)
            .map_err(|e| self.error(&e))?;
        let Some(t) = meta.topics().iter().find(|t| t.name() == topic) else {
            return Err(self.client_error("the brokers do not know it".into()));
        };
        if let Some(e) = t.error() {
            let e = rdkafka::error::RDKafkaErrorCode::from(e);
            return Err(self.client_error(e.to_string()));
        }
        let count = t.partitions().iter().map(|p| p.id() + 1).max().unwrap_or(0);
        let known = self.parts.parts.len() as i32;
        if count <= known {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for p in known..count {
            let at = self.resume_at.remove(&p);
            let offset = at.map_or(Offset::Beginning, Offset::Offset);
            tpl.add_partition_offset(topic, p, offset)
                .map_err(|e| self.error(&e))?;
            self.names.push(format!("{topic}[{p}]"));
            (self.parts.parts).push(Part::new(self.opts.first_source + p as u32, at));
        }
        self.consumer
            .incremental_assign(&tpl)
            .map_err(|e| self.error(&e))
    }

    fn client_error(&self, message: String) -> KafkaSourceError {
        KafkaSourceError::Client {
            topic: self.opts.topic.clone(),
            message: self.scrub(message),
        }
    }

    /// Starts a `once` pass: the partitions and their high watermarks now.
    fn start_pass(&mut self) -> Result<(), KafkaSourceError> {
        self.discover()?;
        let ends = self.watermarks()?;
        let mut target = Vec::with_capacity(ends.len());
        self.ends.clone_from(&ends);
        for (part, (low, high)) in self.parts.parts.iter_mut().zip(ends) {
            if part.taken.is_some_and(|t| t > high) {
                // Beyond the end: the topic was made anew (its offsets start again).
                // librdkafka's fetch, out of range, starts at the earliest offset again;
                // so does the reading here.
                self.restarts += 1;
                part.taken = Some(low);
                part.handed = Some(low);
            } else if part.taken.is_none_or(|t| t < low) {
                // Nothing before the earliest offset can be read any more (retention).
                part.taken = Some(low);
            }
            target.push(high);
        }
        self.pass = Some(target);
        self.last_progress = Instant::now();
        Ok(())
    }

    /// Every partition has reached its target.
    fn caught_up(&self, target: &[i64]) -> bool {
        (self.parts.parts.iter().zip(target)).all(|(part, &high)| part.taken.unwrap_or(0) >= high)
    }

    /// Takes the position the consumer reports for partitions whose last offsets were not
    /// messages (transaction markers, compacted away).
    fn take_positions(&mut self) {
        let Ok(pos) = self.consumer.position() else {
            return;
        };
        for e in pos.elements_for_topic(&self.opts.topic) {
            let (p, Offset::Offset(o)) = (e.partition(), e.offset()) else {
                continue;
            };
            if let Some(part) = self.parts.parts.get_mut(p as usize)
                && part.idle()
                && part.taken.is_some_and(|t| t < o)
            {
                part.taken = Some(o);
                part.handed = Some(o);
            }
        }
    }

    /// An error that ends a pass, as the end of the input.
    fn failed(&self, message: String) -> Unit {
        let mut stats = ReadStats::new();
        stats.failed_files += 1;
        Unit::End(InputEnd {
            source: self.opts.first_source,
            stats,
            error: Some(IngestError::Read {
                file: self.opts.topic.clone(),
                line: 0,
                source: io::Error::other(self.scrub(message)),
            }),
        })
    }

    /// One poll of the consumer; false when it had no message.
    fn poll_once(&mut self) -> bool {
        match self.consumer.poll(POLL) {
            None => false,
            // Transient broker errors are retried by librdkafka; a pass that makes no
            // progress ends with an error after `timeout`.
            Some(Err(_)) => false,
            Some(Ok(m)) => {
                self.last_progress = Instant::now();
                let p = usize::try_from(m.partition()).unwrap_or(usize::MAX);
                (self.parts).take(&self.opts, p, m.offset(), m.payload());
                true
            }
        }
    }

    /// Ends the pass with `unit` (an error) once what was taken is handed out.
    fn end_pass_with(&mut self, unit: Unit) {
        self.parts.flush_all(self.opts.read.format);
        self.parts.ready.push_back((unit, None));
        self.pass = Some(Vec::new());
    }
}

impl Source for KafkaSource {
    fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if let Some(unit) = self.parts.pop() {
                return Some(unit);
            }
            if self.opts.once {
                let Some(target) = self.pass.take() else {
                    if let Err(e) = self.start_pass() {
                        let unit = self.failed(e.to_string());
                        self.end_pass_with(unit);
                    }
                    continue;
                };
                if self.caught_up(&target) {
                    self.parts.flush_all(self.opts.read.format);
                    if self.parts.ready.is_empty() {
                        return None;
                    }
                    self.pass = Some(target);
                    continue;
                }
                self.pass = Some(target);
                if self.last_progress.elapsed() > self.opts.timeout {
                    let unit = self.failed(format!(
                        "no message for {:?} before the end of every partition was reached",
                        self.opts.timeout
                    ));
                    self.end_pass_with(unit);
                    continue;
                }
            } else if self.last_discover.is_none_or(|t| t.elapsed() >= REDISCOVER)
                && let Err(e) = self.discover()
            {
                return Some(self.failed(e.to_string()));
            }
            if !self.poll_once() {
                self.parts.flush_all(self.opts.read.format);
                self.take_positions();
            }
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        self.parts.recycle(buffer);
    }

    /// In messages, not bytes: the messages handed out, and those known to be there (the
    /// high watermarks when the last pass started, or further when read further). Their
    /// difference is the consumer lag.
    fn progress(&self) -> (u64, u64) {
        let parts = self.parts.parts.iter().zip(&self.ends);
        parts.fold((0, 0), |(done, known), (part, &(low, high))| {
            let at = part.handed.unwrap_or(low).max(low);
            let n = |o: i64| u64::try_from(o - low).unwrap_or(0);
            (done + n(at), known + n(high.max(at)))
        })
    }
}

#[cfg(test)]
mod tests;
