//! Reading one input: gzip by magic bytes, BOM, form detection, then JSON Lines in chunks of
//! lines, JSON documents whole, or CSV streamed.
//!
//! Read errors (a truncated gzip member, a failing disk) do not interrupt parsing: the
//! reader is wrapped so that an error looks like the end of the data, everything decoded
//! before it is delivered, and the error is reported for the file afterwards with the line
//! reached.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Chain, Cursor, Read};

use flate2::read::MultiGzDecoder;
use kvsentry_model::AuditEvent;

use crate::detect::json_container;
use crate::json::{Ctx, parse_documents};
use crate::record::Builder;
use crate::stats::{ReadStats, SkipReason};
use crate::walk::Leaf;
use crate::{Container, IngestError, Input, LogFormat, ReadOptions, detect};

/// How many bytes [`detect`] is shown.
const HEAD_BYTES: usize = 64 * 1024;

/// A CSV column or `tables` column name as the mappings match it: lower case, without the
/// portal's ` [UTC]` / ` [Local Time]` suffix.
pub(crate) fn column_key(name: &str) -> String {
    let n = name.trim().trim_start_matches('\u{feff}');
    let n = match n.find(" [") {
        Some(i) => &n[..i],
        None => n,
    };
    n.trim().to_ascii_lowercase()
}

/// A reader that turns its first error into the end of the data, keeping the error.
struct Guarded<R> {
    inner: R,
    err: Option<io::Error>,
    bytes: u64,
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

type Source<'g> = Chain<Cursor<Vec<u8>>, &'g mut Guarded<Box<dyn Read>>>;

fn damaged(src: &Source<'_>) -> bool {
    src.get_ref().1.err.is_some()
}

/// Reads one input and calls `on_event` for each event: detects the form (unless
/// `opts.format` forces one), gunzips (by magic bytes), and streams JSON Lines in blocks of
/// complete lines through [`crate::parse_lines`]. Bad records are skipped and counted in
/// `stats`; the error is for what stops the file (cannot open, unknown format, truncated
/// gzip), after every record before the damage was delivered. `source` goes into each
/// event's `origin`.
pub fn read_input(
    input: &Input,
    source: u32,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> Result<(), IngestError> {
    let r = read_inner(input, source, opts, stats, on_event);
    stats.name_source(source, &input.display);
    if r.is_err() {
        stats.failed_files += 1;
    }
    r
}

fn read_inner(
    input: &Input,
    source: u32,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> Result<(), IngestError> {
    let file = input.display.clone();
    let mut raw: Box<dyn Read> = match &input.path {
        Some(p) => Box::new(File::open(p).map_err(|e| IngestError::Open {
            file: file.clone(),
            source: e,
        })?),
        None => Box::new(io::stdin()),
    };
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
    let decoded: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(prefixed))
    } else {
        Box::new(prefixed)
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

    let blank = head.iter().all(u8::is_ascii_whitespace);
    let line_reached = if blank && (whole || head.len() < HEAD_BYTES) {
        stats.empty_files += 1;
        0
    } else {
        let (form, container) = match opts.format {
            LogFormat::Auto => detect(&head[..head.len().min(HEAD_BYTES)]).ok_or_else(|| {
                IngestError::UnknownFormat {
                    file: file.clone(),
                    preview: preview(&head),
                }
            })?,
            f => (f, forced_container(&head, f)),
        };
        stats.form(form).files += 1;
        let mut src: Source<'_> = Cursor::new(head).chain(&mut guarded);
        let mut ctx = Ctx {
            form,
            source,
            opts,
            stats: &mut *stats,
            on_event,
            path: String::new(),
            keys: crate::walk::KeyCache::default(),
        };
        match container {
            Container::JsonLines => read_lines(&mut ctx, &mut src, opts.chunk_bytes),
            Container::JsonDocuments => {
                let mut buf = Vec::new();
                let _ = src.read_to_end(&mut buf);
                let text = utf8(&buf);
                parse_documents(&mut ctx, &text, 1);
                1 + memchr::memchr_iter(b'\n', &buf).count() as u64
            }
            Container::Csv => read_csv(&mut ctx, src),
        }
    };
    stats.bytes += guarded.bytes;
    match guarded.err {
        None => Ok(()),
        Some(e) if gz => Err(IngestError::TruncatedGzip {
            file,
            line: line_reached,
            source: e,
        }),
        Some(e) => Err(IngestError::Read {
            file,
            line: line_reached,
            source: e,
        }),
    }
}

/// The bytes as text: borrowed when they are valid UTF-8 (checked by `from_utf8`, much
/// faster than the lossy scan), bad sequences replaced by U+FFFD otherwise.
pub(crate) fn utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// UTF-16 (LE or BE by its BOM, which is dropped) to UTF-8; bad units become U+FFFD.
fn utf16_to_utf8(bytes: &[u8]) -> String {
    let le = bytes.starts_with(b"\xff\xfe");
    let units = bytes.get(2..).unwrap_or(&[]).chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
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

/// JSON Lines in blocks of about `chunk` bytes cut after a newline; returns the number of
/// the last line read. A partial last line left by a read error is not parsed (the error
/// reports the damage after the last complete line).
fn read_lines(ctx: &mut Ctx<'_, '_>, src: &mut Source<'_>, chunk: usize) -> u64 {
    let chunk = chunk.max(4096);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk + 64 * 1024);
    let mut line = 1u64;
    let mut reached = 0u64;
    loop {
        let want = chunk.saturating_sub(buf.len()).max(64 * 1024);
        let before = buf.len();
        let _ = src.take(want as u64).read_to_end(&mut buf);
        let eof = buf.len() == before;
        let last_nl = memchr::memrchr(b'\n', &buf);
        let cut = if eof && !damaged(src) {
            buf.len()
        } else if eof || buf.len() >= chunk {
            last_nl.map_or(0, |i| i + 1)
        } else {
            continue;
        };
        if cut > 0 {
            let block = &buf[..cut];
            let text = utf8(block);
            crate::json::parse_lines(
                ctx.form,
                &text,
                line,
                ctx.source,
                ctx.opts,
                ctx.stats,
                ctx.on_event,
            );
            let newlines = memchr::memchr_iter(b'\n', block).count() as u64;
            reached = if block.ends_with(b"\n") {
                line + newlines - 1
            } else {
                line + newlines
            };
            line += newlines;
            buf.drain(..cut);
        }
        if eof {
            return reached;
        }
    }
}

/// Counts the newlines a reader passes, so CSV records get exact line numbers (the csv
/// crate's own count is one short after `\r\n` terminators).
struct NewlineCounter<R> {
    inner: R,
    offset: u64,
    /// Offsets of newlines read but not yet passed by a record.
    pending: std::collections::VecDeque<u64>,
    /// Newlines before the last record looked up.
    before: u64,
}

impl<R: Read> Read for NewlineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for i in memchr::memchr_iter(b'\n', buf.get(..n).unwrap_or(&[])) {
            self.pending.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl<R> NewlineCounter<R> {
    /// The 1-based line of a record starting at byte `start` (lookups must not go back).
    fn line_at(&mut self, start: u64) -> u64 {
        // A record never starts with a newline, so one at `start` is the previous terminator.
        while self.pending.front().is_some_and(|&o| o <= start) {
            self.pending.pop_front();
            self.before += 1;
        }
        self.before + 1
    }
}

/// CSV with a header row. Each row is mapped under its column names; a row is held back
/// until the next one is read, so that a row cut by a read error is not delivered.
fn read_csv(ctx: &mut Ctx<'_, '_>, src: Source<'_>) -> u64 {
    let counter = NewlineCounter {
        inner: src,
        offset: 0,
        pending: Default::default(),
        before: 0,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(counter);
    let headers: Vec<String> = match rdr.byte_headers() {
        Ok(h) => h.iter().map(|c| column_key(&utf8(c))).collect(),
        Err(e) => {
            ctx.stats.form(ctx.form).records += 1;
            ctx.stats
                .skip(ctx.source, 1, SkipReason::MalformedCsv, e.to_string());
            return 1;
        }
    };
    let mut pending: Option<(csv::ByteRecord, u64)> = None;
    let mut rec = csv::ByteRecord::new();
    let mut line = 1;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {
                let l = match rec.position() {
                    Some(p) => rdr.get_mut().line_at(p.byte()),
                    None => line,
                };
                if let Some((prev, pl)) = pending.take() {
                    csv_row(ctx, &headers, &prev, pl);
                    line = pl;
                }
                pending = Some((rec.clone(), l));
            }
            Ok(false) => break,
            Err(e) => {
                let l = match e.position() {
                    Some(p) => rdr.get_mut().line_at(p.byte()),
                    None => line,
                };
                ctx.stats.form(ctx.form).records += 1;
                ctx.stats
                    .skip(ctx.source, l, SkipReason::MalformedCsv, e.to_string());
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    if let Some((prev, pl)) = pending {
        if !damaged(&rdr.get_ref().inner) {
            csv_row(ctx, &headers, &prev, pl);
            line = pl;
        }
    }
    line
}

fn csv_row(ctx: &mut Ctx<'_, '_>, headers: &[String], rec: &csv::ByteRecord, line: u64) {
    let map = crate::json::mapper(ctx.form);
    let mut b = Builder::default();
    for (name, cell) in headers.iter().zip(rec.iter()) {
        if cell.is_empty() {
            continue;
        }
        let text: Cow<'_, str> = utf8(cell);
        map(&mut b, name, Leaf::Str(text));
    }
    crate::json::deliver_row(ctx, &mut b, line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_keys() {
        assert_eq!(column_key("TimeGenerated [UTC]"), "timegenerated");
        assert_eq!(column_key(" CallerIPAddress "), "calleripaddress");
        assert_eq!(column_key("\u{feff}TimeGenerated"), "timegenerated");
    }

    #[test]
    fn utf16_is_decoded() {
        let mut le = vec![0xff, 0xfe];
        let mut be = vec![0xfe, 0xff];
        for u in "{\"a\":\"é€\"}".encode_utf16() {
            le.extend(u.to_le_bytes());
            be.extend(u.to_be_bytes());
        }
        assert_eq!(utf16_to_utf8(&le), "{\"a\":\"é€\"}");
        assert_eq!(utf16_to_utf8(&be), "{\"a\":\"é€\"}");
        assert_eq!(utf16_to_utf8(&[0xff, 0xfe, 0x00, 0xd8, 0x41]), "\u{fffd}");
    }

    #[test]
    fn preview_is_printable() {
        assert_eq!(preview(b"PK\x03\x04ab"), "\"PK\\x03\\x04ab\"");
    }
}
