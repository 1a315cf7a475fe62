//! The reader abstraction: a [`Source`] yields [`Unit`]s of input, in order, each naming
//! where it came from; the parse core turns them into events ([`crate::parse_block`],
//! [`crate::read_stream`]), on the reading thread ([`crate::read_input`]) or on worker
//! threads (kvsentry-runtime's pipeline).
//!
//! - A [`Block`] holds whole records of a line-oriented form (JSON Lines), never a part of
//!   one, with the number of its first line and its offset in the input: blocks can be
//!   parsed in any order and on any thread, and a consumer that has handled every block up
//!   to one knows the [`Checkpoint`] to resume from.
//! - A [`Stream`] is an input whose records cannot be cut apart without parsing (JSON
//!   documents, CSV): one consumer reads it whole.
//! - An [`InputEnd`] closes an input: what the source counted and the error that stopped it.
//!
//! [`Files`] (`files.rs`) is the source of files and standard input: it opens each
//! (kvsentry-read's `open`: gzip by magic bytes, on the reading thread, off the parsers'; BOM
//! dropped; UTF-16 decoded), detects the form and container, and cuts JSON Lines into
//! blocks with [`LineBlocks`] (`lines.rs`, over kvsentry-read's `LineCutter`, the one cutter
//! of every byte stream of lines). Other sources
//! (a followed directory, blobs, partitions of a stream) implement [`Source`] too; one may be
//! endless, blocking in [`Source::next_unit`] until data comes, and resume from the
//! [`Checkpoint`] after the last block handled.

use std::io::{self, Chain, Cursor};

use kvsentry_read::Guarded;

use crate::stats::ReadStats;
use crate::{Container, IngestError, LogFormat};

#[cfg(feature = "azure")]
mod azure_blob;
mod files;
mod follow;
#[cfg(feature = "kafka")]
mod kafka;
mod lines;

#[cfg(feature = "azure")]
pub use azure_blob::{
    BlobAccount, BlobAccountError, BlobCheckpoint, BlobOptions, BlobPosition, BlobSource,
};
pub(crate) use files::Decoder;
pub use files::{Files, detect_input};
pub use follow::{
    FileIdentity, FilePosition, Follow, FollowCheckpoint, FollowOptions, Restart, RestartReason,
};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaCheckpoint, KafkaOptions, KafkaSource, KafkaSourceError, SkippedMessage};
pub use lines::LineBlocks;

/// Where records come from, unit after unit, in order.
pub trait Source {
    /// The next unit; `None` when the source has ended. An endless source blocks here until
    /// it has data.
    fn next_unit(&mut self) -> Option<Unit>;

    /// Takes back a parsed block's buffer ([`Block::into_buffer`]) for a later block: a fresh
    /// buffer is page-faulted and zeroed by the kernel, a reused one is not.
    fn recycle(&mut self, buffer: Vec<u8>) {
        let _ = buffer;
    }

    /// Bytes consumed so far (compressed bytes for gzip) and the total when known (else 0).
    fn progress(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// One unit of input.
pub enum Unit {
    Block(Block),
    Stream(Stream),
    End(InputEnd),
}

/// Whole records of a line-oriented form: the first `len` bytes of a buffer.
pub struct Block {
    /// The input's index, carried into each event's origin.
    pub source: u32,
    /// The form its records are read as.
    pub form: LogFormat,
    /// The 1-based number of its first line in the input.
    pub first_line: u64,
    /// Its offset in the input's text (after gunzip and BOM).
    pub offset: u64,
    newlines: u64,
    bytes: Vec<u8>,
    len: usize,
}

impl Block {
    /// A block of the first `len` bytes of `bytes`, which must end at a record's end (a
    /// newline, or the end of the input).
    pub fn new(
        source: u32,
        form: LogFormat,
        first_line: u64,
        offset: u64,
        bytes: Vec<u8>,
        len: usize,
    ) -> Block {
        let len = len.min(bytes.len());
        let newlines = memchr::memchr_iter(b'\n', &bytes[..len]).count() as u64;
        Block {
            source,
            form,
            first_line,
            offset,
            newlines,
            bytes,
            len,
        }
    }

    /// The block's bytes.
    pub fn data(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// Where the input resumes after this block.
    pub fn end(&self) -> Checkpoint {
        Checkpoint {
            source: self.source,
            offset: self.offset + self.len as u64,
            line: self.first_line + self.newlines,
        }
    }

    /// The buffer, for [`Source::recycle`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }
}

/// A position in an input between two blocks: what a source is resumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    pub source: u32,
    /// Bytes of the input's text before it.
    pub offset: u64,
    /// The number of the line that starts there.
    pub line: u64,
}

/// An input read whole by one consumer ([`crate::read_stream`]): JSON documents or CSV.
pub struct Stream {
    pub(crate) source: u32,
    pub(crate) form: LogFormat,
    pub(crate) container: Container,
    pub(crate) display: String,
    pub(crate) gz: bool,
    pub(crate) reader: StreamReader,
}

impl Stream {
    /// The input's index.
    pub fn source(&self) -> u32 {
        self.source
    }

    /// The form it is read as.
    pub fn form(&self) -> LogFormat {
        self.form
    }
}

/// The head already read, then the rest.
pub(crate) type StreamReader = Chain<Cursor<Vec<u8>>, Guarded<Decoder>>;

/// The end of an input: what was counted while reading it (form, bytes, foreign content,
/// a failure) and the error that stopped it, if any.
pub struct InputEnd {
    pub source: u32,
    pub stats: ReadStats,
    pub error: Option<IngestError>,
}

/// How often a source waiting for data looks at its stop flag.
pub(crate) const STOP_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// Sleeps until `due`, looking at `stop` every [`STOP_CHECK`]; false when it was set.
pub(crate) fn sleep_until(due: std::time::Instant, stop: &std::sync::atomic::AtomicBool) -> bool {
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(STOP_CHECK));
    }
}

/// The error for damage after line `line`.
pub(crate) fn read_error(file: &str, gz: bool, line: u64, source: io::Error) -> IngestError {
    let file = file.to_string();
    if gz {
        IngestError::TruncatedGzip { file, line, source }
    } else {
        IngestError::Read { file, line, source }
    }
}

#[cfg(test)]
mod tests;
