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
//! [`Files`] is the source of files and standard input: it opens each, gunzips by magic
//! bytes (on the reading thread, off the parsers'), drops a BOM, decodes UTF-16, detects
//! the form and container, and cuts JSON Lines into blocks at line ends. Other sources
//! (a followed directory, blobs, partitions of a stream) implement [`Source`] too; one may be
//! endless, blocking in [`Source::next_unit`] until data comes.

use std::fs::File;
use std::io::{self, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;

use crate::detect::json_container;
use crate::stats::ReadStats;
use crate::text::utf16_to_utf8;
use crate::{Container, Foreign, IngestError, Input, LogFormat, ReadOptions, sniff};

/// How many bytes of an input detection is shown.
const HEAD_BYTES: usize = 64 * 1024;

/// Spare block buffers a source keeps for reuse.
const MAX_SPARE: usize = 64;

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

/// A reader that turns its first error into the end of the data, keeping the error: every
/// record decoded before damage is delivered, and the damage reported for the input after.
pub(crate) struct Guarded<R> {
    pub(crate) inner: R,
    pub(crate) err: Option<io::Error>,
    /// Bytes delivered.
    pub(crate) bytes: u64,
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

/// Counts the bytes pulled from the file (or stdin), for progress.
pub(crate) struct Counting {
    inner: Box<dyn Read + Send>,
    count: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

type Raw = Chain<Cursor<Vec<u8>>, Counting>;

/// An input's bytes, gunzipped when they start with gzip's magic.
pub(crate) enum Decoder {
    Plain(Raw),
    Gz(Box<MultiGzDecoder<Raw>>),
}

impl Read for Decoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gz(r) => r.read(buf),
        }
    }
}

impl Decoder {
    /// Bytes consumed from the file.
    fn consumed(&self) -> u64 {
        match self {
            Decoder::Plain(r) => r.get_ref().1.count,
            Decoder::Gz(r) => r.get_ref().get_ref().1.count,
        }
    }
}

/// Files and standard input, one after the other, as a [`Source`].
pub struct Files<'i> {
    inputs: &'i [Input],
    /// The source index of `inputs[0]`.
    first: u32,
    next: usize,
    format: LogFormat,
    chunk: usize,
    current: Option<Cutter>,
    spare: Vec<Vec<u8>>,
    sizes: Vec<u64>,
    consumed_before: u64,
}

impl<'i> Files<'i> {
    /// Reads `inputs` in order; the first is source `first`, the next `first + 1`...
    /// JSON Lines are cut into blocks of about `opts.chunk_bytes`.
    pub fn new(inputs: &'i [Input], first: u32, opts: &ReadOptions) -> Files<'i> {
        let sizes = inputs
            .iter()
            .map(|i| {
                i.path
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len())
            })
            .collect();
        Files {
            inputs,
            first,
            next: 0,
            format: opts.format,
            chunk: opts.chunk_bytes.max(4096),
            current: None,
            spare: Vec::new(),
            sizes,
            consumed_before: 0,
        }
    }

    /// Opens input `i`: a stream or the input's end, or `None` when it is JSON Lines, whose
    /// blocks the cutter it leaves in `current` gives.
    fn open_next(&mut self, i: usize, input: &Input) -> Option<Unit> {
        let source = self.first.wrapping_add(i as u32);
        let file = &input.display;
        let size = self.sizes.get(i).copied().unwrap_or(0);
        let mut stats = ReadStats::new();
        let end = |mut stats: ReadStats, error: Option<IngestError>| {
            if error.is_some() {
                stats.failed_files += 1;
            }
            Some(Unit::End(InputEnd {
                source,
                stats,
                error,
            }))
        };
        let Opened {
            guarded,
            head,
            gz,
            blank,
        } = match open(input) {
            Ok(o) => o,
            Err(e) => {
                self.consumed_before += size;
                return end(stats, Some(e));
            }
        };
        if blank {
            self.consumed_before += size;
            stats.empty_files += 1;
            stats.foreign_input(source, Foreign::Empty);
            stats.bytes += guarded.bytes;
            let error = guarded.err.map(|e| read_error(file, gz, 0, e));
            return end(stats, error);
        }
        let (form, container) = match resolve(&head, self.format, file) {
            Ok(found) => found,
            Err((e, foreign)) => {
                self.consumed_before += size;
                if let Some(f) = foreign {
                    stats.foreign_input(source, f);
                }
                return end(stats, Some(e));
            }
        };
        if container != Container::JsonLines {
            self.consumed_before += size;
            return Some(Unit::Stream(Stream {
                source,
                form,
                container,
                display: file.clone(),
                gz,
                reader: Cursor::new(head).chain(guarded),
            }));
        }
        stats.form(form).files += 1;
        stats.source_forms.insert(source, form);
        let mut buf = self.spare.pop().unwrap_or_default();
        let want = head.len() + self.chunk;
        if buf.len() < want {
            buf.resize(want, 0);
        }
        buf[..head.len()].copy_from_slice(&head);
        self.current = Some(Cutter {
            source,
            form,
            display: file.clone(),
            gz,
            reader: guarded,
            filled: head.len(),
            fill_to: self.chunk.max(head.len()),
            buf,
            line: 1,
            offset: 0,
            stats,
            ended: false,
        });
        None
    }
}

impl Source for Files<'_> {
    fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if let Some(cutter) = &mut self.current {
                if let Some(block) = cutter.next_block(&mut self.spare, self.chunk) {
                    return Some(Unit::Block(block));
                }
                let cutter = self.current.take()?;
                self.consumed_before += cutter.reader.inner.consumed();
                let (end, buf) = cutter.finish();
                self.recycle(buf);
                return Some(Unit::End(end));
            }
            let i = self.next;
            let input = self.inputs.get(i)?;
            self.next += 1;
            if let Some(unit) = self.open_next(i, input) {
                return Some(unit);
            }
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && !buffer.is_empty() {
            self.spare.push(buffer);
        }
    }

    fn progress(&self) -> (u64, u64) {
        let current = self
            .current
            .as_ref()
            .map_or(0, |c| c.reader.inner.consumed());
        (self.consumed_before + current, self.sizes.iter().sum())
    }
}

/// A JSON Lines input being cut into blocks at line ends.
struct Cutter {
    source: u32,
    form: LogFormat,
    display: String,
    gz: bool,
    reader: Guarded<Decoder>,
    /// `filled` bytes of data; the rest is spare room, initialised, kept for reuse.
    buf: Vec<u8>,
    filled: usize,
    /// Read until `filled` reaches this (or the input ends).
    fill_to: usize,
    line: u64,
    offset: u64,
    stats: ReadStats,
    ended: bool,
}

impl Cutter {
    /// The next block of whole lines. A line longer than a block makes the block longer. A
    /// partial last line left by a read error is dropped (the error reports the damage
    /// after the last complete line).
    fn next_block(&mut self, spare: &mut Vec<Vec<u8>>, chunk: usize) -> Option<Block> {
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
                None => self.fill_to = self.filled + chunk,
            }
        };
        if cut == 0 {
            return None;
        }
        // The next buffer starts with the cut-off partial line and has room for a whole
        // block after it.
        let tail = self.filled - cut;
        let mut next = spare.pop().unwrap_or_default();
        if next.len() < tail + chunk {
            next.resize(tail + chunk, 0);
        }
        next[..tail].copy_from_slice(&self.buf[cut..self.filled]);
        let bytes = std::mem::replace(&mut self.buf, next);
        self.filled = tail;
        self.fill_to = tail + chunk;
        let newlines = memchr::memchr_iter(b'\n', &bytes[..cut]).count() as u64;
        let block = Block {
            source: self.source,
            form: self.form,
            first_line: self.line,
            offset: self.offset,
            newlines,
            bytes,
            len: cut,
        };
        self.line += newlines;
        self.offset += cut as u64;
        Some(block)
    }

    /// The input's end, and the buffer for reuse.
    fn finish(self) -> (InputEnd, Vec<u8>) {
        let mut stats = self.stats;
        stats.bytes += self.reader.bytes;
        let reached = self.line.saturating_sub(1);
        let error = self
            .reader
            .err
            .map(|e| read_error(&self.display, self.gz, reached, e));
        if error.is_some() {
            stats.failed_files += 1;
        }
        let end = InputEnd {
            source: self.source,
            stats,
            error,
        };
        (end, self.buf)
    }
}

/// The form and container of an input, detected from its head as [`Files`] reads it
/// (gunzipped, BOM dropped, UTF-16 decoded); `None` when it cannot be opened or is no form
/// kvsentry reads.
pub fn detect_input(input: &Input) -> Option<(LogFormat, Container)> {
    let opened = open(input).ok()?;
    crate::detect(&opened.head[..opened.head.len().min(HEAD_BYTES)])
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

/// An input opened for reading: gunzipped, its head read (BOM dropped, UTF-16 decoded).
struct Opened {
    guarded: Guarded<Decoder>,
    head: Vec<u8>,
    gz: bool,
    /// Nothing but whitespace, to the end.
    blank: bool,
}

fn open(input: &Input) -> Result<Opened, IngestError> {
    let file = &input.display;
    let inner: Box<dyn Read + Send> = match &input.path {
        Some(p) => Box::new(File::open(p).map_err(|e| IngestError::Open {
            file: file.clone(),
            source: e,
        })?),
        None => Box::new(io::stdin()),
    };
    let mut raw = Counting { inner, count: 0 };
    let mut magic = Vec::with_capacity(2);
    (&mut raw)
        .take(2)
        .read_to_end(&mut magic)
        .map_err(|e| IngestError::Read {
            file: file.clone(),
            line: 0,
            source: e,
        })?;
    let gz = magic == [0x1f, 0x8b];
    let prefixed = Cursor::new(magic).chain(raw);
    let decoded = if gz {
        Decoder::Gz(Box::new(MultiGzDecoder::new(prefixed)))
    } else {
        Decoder::Plain(prefixed)
    };
    let mut guarded = Guarded {
        inner: decoded,
        err: None,
        bytes: 0,
    };

    let mut head = Vec::with_capacity(HEAD_BYTES);
    // Guarded never fails: an error ends the data.
    let _ = (&mut guarded)
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head);
    if head.starts_with(b"\xef\xbb\xbf") {
        head.drain(..3);
    }
    // Windows PowerShell writes UTF-16 with a BOM (`Out-File`, `>`): decode it whole.
    let mut whole = false;
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        let _ = guarded.read_to_end(&mut head);
        head = utf16_to_utf8(&head).into_bytes();
        whole = true;
    }
    let blank = head.iter().all(u8::is_ascii_whitespace) && (whole || head.len() < HEAD_BYTES);
    Ok(Opened {
        guarded,
        head,
        gz,
        blank,
    })
}

/// The form and layout to read a (non-blank) head with: detected, or forced by `format`.
/// A forced form must not contradict what detection finds (another form, another
/// product's logs); when detection finds nothing it knows, the forced form is read, which
/// is what forcing is for. On error, what the input is instead, when that is known.
fn resolve(
    head: &[u8],
    format: LogFormat,
    file: &str,
) -> Result<(LogFormat, Container), (IngestError, Option<Foreign>)> {
    let sniffed = sniff(&head[..head.len().min(HEAD_BYTES)]);
    match (format, sniffed) {
        (LogFormat::Auto, Ok(d)) => Ok((d.form, d.container)),
        (LogFormat::Auto, Err(f)) if f.is_other_product() => Err((
            IngestError::OtherProduct {
                file: file.to_string(),
                what: f,
            },
            Some(f),
        )),
        // (`Empty` here: a head of whitespace with more after it, not an empty file.)
        (LogFormat::Auto, Err(f)) => Err((
            IngestError::UnknownFormat {
                file: file.to_string(),
                preview: preview(head),
            },
            Some(f).filter(|f| *f != Foreign::Empty),
        )),
        (forced, Ok(d))
            if d.form != forced && !(forced.is_table() && d.form.is_table() && !d.certain) =>
        {
            Err((
                IngestError::NotForcedForm {
                    file: file.to_string(),
                    forced,
                    found: d.form.name().to_string(),
                },
                None,
            ))
        }
        (forced, Err(f)) if f.is_other_product() => Err((
            IngestError::NotForcedForm {
                file: file.to_string(),
                forced,
                found: f.describe().to_string(),
            },
            Some(f),
        )),
        (forced, _) => Ok((forced, forced_container(head, forced))),
    }
}

/// The layout when the form is forced: JSON by its first byte, else CSV for the table
/// forms and JSON Lines (whose bad lines are then skipped one by one) for the others.
fn forced_container(head: &[u8], form: LogFormat) -> Container {
    let t = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &head[i..]);
    match t.first() {
        Some(b'{') | Some(b'[') => json_container(t),
        _ if form.is_table() => Container::Csv,
        _ => Container::JsonLines,
    }
}

/// The first bytes, printable, for an error message.
fn preview(head: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in head.iter().take(24) {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('"');
    s
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
