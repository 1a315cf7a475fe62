//! Cutting a byte stream of JSON lines into [`Block`]s of whole lines, with
//! kvsentry-read's [`LineCutter`] (the cutter the threat-intelligence loaders use too).

use std::io::{self, Read};

use kvsentry_read::{Guarded, LineCutter};

use super::{Block, Checkpoint};
use crate::LogFormat;

/// Cuts a byte stream of JSON lines into [`Block`]s of about `chunk` bytes (at least 4 KiB)
/// ending at line ends: the one cutter of every source whose records are lines. A line
/// longer than a block makes the block longer. A read error ends the stream: the partial
/// line before it is dropped (the damage is reported after the last complete line) and the
/// error kept.
pub struct LineBlocks<R> {
    source: u32,
    form: LogFormat,
    cutter: LineCutter<R>,
}

impl<R: Read> LineBlocks<R> {
    /// Cuts `reader`, whose first byte is at `at` in its input (a line start), into blocks
    /// of records of form `form`.
    pub fn new(reader: R, at: Checkpoint, form: LogFormat, chunk: usize) -> LineBlocks<R> {
        LineBlocks::after_head(Guarded::new(reader), &[], Vec::new(), at, form, chunk)
    }

    /// Cuts `head` (already read from `reader`) then the rest of `reader`, in `buf`.
    pub(crate) fn after_head(
        reader: Guarded<R>,
        head: &[u8],
        buf: Vec<u8>,
        at: Checkpoint,
        form: LogFormat,
        chunk: usize,
    ) -> LineBlocks<R> {
        let cutter = LineCutter::new(reader, head, buf, at.line, at.offset, chunk.max(4096));
        LineBlocks {
            source: at.source,
            form,
            cutter,
        }
    }

    /// The next block; `None` at the end of the stream. Its buffer comes from `spare` when
    /// there is one.
    pub fn next_block(&mut self, spare: &mut Vec<Vec<u8>>) -> Option<Block> {
        let lines = self.cutter.next_lines(spare)?;
        Some(Block {
            source: self.source,
            form: self.form,
            first_line: lines.first_line,
            offset: lines.offset,
            newlines: lines.newlines,
            bytes: lines.bytes,
            len: lines.len,
        })
    }

    /// Where the next block starts.
    pub fn position(&self) -> Checkpoint {
        Checkpoint {
            source: self.source,
            offset: self.cutter.offset(),
            line: self.cutter.line(),
        }
    }

    /// Bytes read from the reader so far.
    pub fn bytes_read(&self) -> u64 {
        self.cutter.bytes_read()
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        self.cutter.get_ref()
    }

    /// The read error that ended the stream, if any, and the buffer for reuse.
    pub fn finish(self) -> (Option<io::Error>, Vec<u8>) {
        self.cutter.finish()
    }
}
