//! Serve's inputs behind one enum: each kind opens its source from its configuration and
//! checkpoint, yields units to the pipeline in a pass (ending when caught up), names its
//! partitions and gives the position to commit with the engine state that consumed them.
//!
//! One file per kind; this module is the only place that dispatches on the kind.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kvsentry_ingest::{ReadOptions, Source, Unit};

use super::ServeError;
use super::config::{InputConfig, InputKind};

mod azure_blob;
mod files;
mod kafka;

/// Source indexes of one input: input `i` numbers its partitions from `i << INPUT_SHIFT`.
pub(crate) const INPUT_SHIFT: u32 = 24;

/// Most inputs a configuration may have (their partitions' source indexes must not meet).
pub(crate) const MAX_INPUTS: usize = 1 << (32 - INPUT_SHIFT);

/// The first source index of input `i`.
pub(crate) fn first_source(i: usize) -> u32 {
    (i as u32) << INPUT_SHIFT
}

/// Whether source index `source` belongs to the input whose first index is `first`.
pub(crate) fn belongs(source: u32, first: u32) -> bool {
    source >= first && source - first < 1 << INPUT_SHIFT
}

/// One configured input, opened.
pub(crate) enum ServeInput {
    Files(files::FilesSource),
    AzureBlob(azure_blob::BlobInput),
    Kafka(kafka::KafkaInputSource),
}

impl ServeInput {
    /// Opens input number `index` of the configuration, resumed from `checkpoint` (its
    /// kind's own encoding, as [`ServeInput::checkpoint`] gave it) when there is one.
    pub fn open(
        index: usize,
        config: &InputConfig,
        read: &ReadOptions,
        checkpoint: Option<&[u8]>,
    ) -> Result<ServeInput, ServeError> {
        let first = first_source(index);
        match &config.kind {
            InputKind::Files(f) => Ok(ServeInput::Files(files::FilesSource::open(
                config, f, read, first, checkpoint,
            )?)),
            InputKind::AzureBlob(b) => Ok(ServeInput::AzureBlob(azure_blob::BlobInput::open(
                config, b, read, first, checkpoint,
            )?)),
            InputKind::Kafka(k) => Ok(ServeInput::Kafka(kafka::KafkaInputSource::open(
                config, k, read, first, checkpoint,
            )?)),
        }
    }

    /// Checks what can be checked of input `config` without reading it (a Kafka client's
    /// settings): for `--check-config`.
    pub fn check(config: &InputConfig) -> Result<(), ServeError> {
        match &config.kind {
            InputKind::Kafka(k) => kafka::check(config, k),
            _ => Ok(()),
        }
    }

    /// Each partition's name (a file, a blob, a topic partition), by source index minus
    /// the input's first; grows as partitions appear.
    pub fn names(&self) -> &[String] {
        match self {
            ServeInput::Files(s) => s.names(),
            ServeInput::AzureBlob(s) => s.names(),
            ServeInput::Kafka(s) => s.names(),
        }
    }

    /// The position after every unit handed out so far, encoded: take it once they are
    /// handled (at the end of a pass).
    pub fn checkpoint(&self, name: &str) -> Result<Vec<u8>, ServeError> {
        match self {
            ServeInput::Files(s) => s.checkpoint(name),
            ServeInput::AzureBlob(s) => s.checkpoint(name),
            ServeInput::Kafka(s) => s.checkpoint(name),
        }
    }

    /// The data there is counts as complete from now on (a final `--flush` pass): last
    /// lines not yet ended are read too.
    pub fn settle_all(&mut self) {
        match self {
            ServeInput::Files(s) => s.settle_all(),
            ServeInput::AzureBlob(s) => s.settle_all(),
            // A pass reads every partition to its end already.
            ServeInput::Kafka(_) => {}
        }
    }

    /// A flag that, once set, ends the pass under way at the next unit.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        match self {
            ServeInput::Files(s) => s.stop_handle(),
            ServeInput::AzureBlob(s) => s.stop_handle(),
            ServeInput::Kafka(s) => s.stop_handle(),
        }
    }

    /// For a pass cut short: a lower bound of the event times (ns) still waiting to be
    /// read, so the watermark can move up to it. `None`: nothing waits; `Some(None)`: no
    /// bound is known (the watermark must wait).
    pub fn unread_floor(&self) -> Option<Option<i64>> {
        match self {
            ServeInput::Files(s) => s.unread_floor(),
            // Blobs are listed and read in name order, not hour by hour; a Kafka pass cut
            // short may not have polled every partition with a backlog: no bound.
            ServeInput::AzureBlob(_) | ServeInput::Kafka(_) => Some(None),
        }
    }

    /// Called after the checkpoint holding this input's position was committed (a Kafka
    /// input tells its consumer group).
    pub fn committed(&mut self) {
        match self {
            ServeInput::Files(_) | ServeInput::AzureBlob(_) => {}
            ServeInput::Kafka(s) => s.committed(),
        }
    }
}

impl Source for ServeInput {
    fn next_unit(&mut self) -> Option<Unit> {
        match self {
            ServeInput::Files(s) => s.next_unit(),
            ServeInput::AzureBlob(s) => s.next_unit(),
            ServeInput::Kafka(s) => s.next_unit(),
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        match self {
            ServeInput::Files(s) => s.recycle(buffer),
            ServeInput::AzureBlob(s) => s.recycle(buffer),
            ServeInput::Kafka(s) => s.recycle(buffer),
        }
    }

    fn progress(&self) -> (u64, u64) {
        match self {
            ServeInput::Files(s) => s.progress(),
            ServeInput::AzureBlob(s) => s.progress(),
            ServeInput::Kafka(s) => s.progress(),
        }
    }
}
