//! Cutting a byte stream of lines into blocks of whole lines.

use std::io::{self, Read};

/// A reader that turns its first error into the end of the data, keeping the error: every
/// record decoded before damage is delivered, and the damage reported for the input after.
pub struct Guarded<R> {
    inner: R,
    /// The error that ended the data, if any.
    pub err: Option<io::Error>,
    /// Bytes delivered.
    pub bytes: u64,
}

impl<R> Guarded<R> {
    pub fn new(inner: R) -> Guarded<R> {
        Guarded {
            inner,
            err: None,
            bytes: 0,
        }
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.err.is_some() {
            return Ok(0);
        }
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.bytes += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.err = Some(e);
                    return Ok(0);
                }
            }
        }
    }
}

/// Whole lines: the first `len` bytes of `bytes` (the rest is spare room), ending at a line
/// end or at the end of the stream.
pub struct Lines {
    /// The 1-based number of its first line in the stream.
    pub first_line: u64,
    /// Its offset in the stream.
    pub offset: u64,
    /// The line ends it holds.
    pub newlines: u64,
    pub bytes: Vec<u8>,
    pub len: usize,
}

impl Lines {
    /// The lines' bytes.
    pub fn data(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// Cuts a byte stream into [`Lines`] of about `chunk` bytes ending at line ends: the one
/// cutter of every reader of lines. A line longer than a block makes the block longer. A
/// read error ends the stream: the partial line before it is dropped (the damage is
/// reported after the last complete line) and the error kept.
pub struct LineCutter<R> {
    reader: Guarded<R>,
    /// `filled` bytes of data; the rest is spare room, initialised, kept for reuse.
    buf: Vec<u8>,
    filled: usize,
    /// Read until `filled` reaches this (or the stream ends).
    fill_to: usize,
    chunk: usize,
    line: u64,
    offset: u64,
    ended: bool,
}

impl<R: Read> LineCutter<R> {
    /// Cuts `head` (already read from `reader`) then the rest of `reader`, in `buf`; the
    /// head's first byte starts line `line` at `offset` in the stream.
    pub fn new(
        reader: Guarded<R>,
        head: &[u8],
        mut buf: Vec<u8>,
        line: u64,
        offset: u64,
        chunk: usize,
    ) -> LineCutter<R> {
        let chunk = chunk.max(1);
        if buf.len() < head.len() + chunk {
            buf.resize(head.len() + chunk, 0);
        }
        buf[..head.len()].copy_from_slice(head);
        LineCutter {
            reader,
            filled: head.len(),
            fill_to: chunk.max(head.len()),
            buf,
            chunk,
            line,
            offset,
            ended: false,
        }
    }

    /// The next lines; `None` at the end of the stream. Their buffer comes from `spare` when
    /// there is one.
    pub fn next_lines(&mut self, spare: &mut Vec<Vec<u8>>) -> Option<Lines> {
        if self.ended {
            return None;
        }
        let cut = loop {
            // `Guarded` never fails: an error ends the data, and is kept.
            let eof = fill(
                &mut self.reader,
                &mut self.buf,
                &mut self.filled,
                self.fill_to,
            )
            .unwrap_or(true);
            let data = self.buf.get(..self.filled).unwrap_or_default();
            let last_line_end = memchr::memrchr(b'\n', data).map(|i| i + 1);
            if eof {
                self.ended = true;
                break if self.reader.err.is_some() {
                    last_line_end.unwrap_or(0)
                } else {
                    self.filled
                };
            }
            match last_line_end {
                Some(cut) => break cut,
                None => self.fill_to = self.filled + self.chunk,
            }
        };
        if cut == 0 {
            return None;
        }
        // The next buffer starts with the cut-off partial line and has room for a whole
        // block after it.
        let tail = self.filled - cut;
        let mut next = spare.pop().unwrap_or_default();
        if next.len() < tail + self.chunk {
            next.resize(tail + self.chunk, 0);
        }
        next[..tail].copy_from_slice(&self.buf[cut..self.filled]);
        let bytes = std::mem::replace(&mut self.buf, next);
        self.filled = tail;
        self.fill_to = tail + self.chunk;
        let newlines = memchr::memchr_iter(b'\n', &bytes[..cut]).count() as u64;
        let lines = Lines {
            first_line: self.line,
            offset: self.offset,
            newlines,
            bytes,
            len: cut,
        };
        self.line += newlines;
        self.offset += cut as u64;
        Some(lines)
    }

    /// The number of the line the next block starts with.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The offset in the stream where the next block starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes read from the reader so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader.inner
    }

    /// The read error that ended the stream, if any, and the buffer for reuse.
    pub fn finish(self) -> (Option<io::Error>, Vec<u8>) {
        (self.reader.err, self.buf)
    }
}

/// Reads from `src` into `buf` after its first `*filled` bytes until `*filled` reaches `to`
/// or the data ends, as `take(to - filled).read_to_end` would, but without zeroing the room
/// first (`read_to_end` on a reader without a native `read_buf`, such as gzip, zeroes the
/// spare room before every read, i.e. once per byte): `buf` grows (zeroed) only when `to`
/// is past its length, i.e. for a line longer than any met before. True when the data ended
/// before `to`; a read error ends the filling and is returned (`*filled` counts what came
/// before).
fn fill(
    src: &mut (impl Read + ?Sized),
    buf: &mut Vec<u8>,
    filled: &mut usize,
    to: usize,
) -> io::Result<bool> {
    if buf.len() < to {
        buf.resize(to, 0);
    }
    while *filled < to {
        let Some(room) = buf.get_mut(*filled..to) else {
            return Ok(false);
        };
        match src.read(room) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n.min(to - *filled),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
