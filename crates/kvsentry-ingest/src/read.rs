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

use crate::container::{Ctx, parse_documents};
use crate::detect::json_container;
use crate::event::Builder;
use crate::stats::{ReadStats, SkipReason};
use crate::text::{column_key, utf8};
use crate::{Container, Foreign, IngestError, Input, LogFormat, ReadOptions, sniff};
use kvsentry_json::Leaf;

/// How many bytes [`sniff`] is shown.
const HEAD_BYTES: usize = 64 * 1024;

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
    let Opened {
        mut guarded,
        head,
        gz,
        blank,
    } = open(input)?;
    let line_reached = if blank {
        stats.empty_files += 1;
        stats.foreign_input(source, Foreign::Empty);
        0
    } else {
        let (form, container) = match resolve(&head, opts.format, &file) {
            Ok(found) => found,
            Err((e, foreign)) => {
                if let Some(f) = foreign {
                    stats.foreign_input(source, f);
                }
                return Err(e);
            }
        };
        stats.form(form).files += 1;
        stats.source_forms.insert(source, form);
        let mut src: Source<'_> = Cursor::new(head).chain(&mut guarded);
        let mut ctx = Ctx {
            form,
            source,
            opts,
            stats: &mut *stats,
            on_event,
            path: String::new(),
            keys: kvsentry_json::KeyCache::default(),
            other: crate::event::SpareOther::new(),
            memo: crate::event::Memo::default(),
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

/// An input opened for reading: gunzipped, its head read (BOM dropped, UTF-16 decoded).
struct Opened {
    guarded: Guarded<Box<dyn Read>>,
    head: Vec<u8>,
    gz: bool,
    /// Nothing but whitespace, to the end.
    blank: bool,
}

fn open(input: &Input) -> Result<Opened, IngestError> {
    let file = &input.display;
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
///
/// The buffer stays initialised (`filled` bytes of data, the rest spare room that was
/// written before) and is filled with plain `read` calls: `read_to_end` on a reader without
/// a native `read_buf` (gzip, [`Guarded`]) zeroes the spare room before every read, which
/// cost as much as a tenth of the reading.
fn read_lines(ctx: &mut Ctx<'_, '_>, src: &mut Source<'_>, chunk: usize) -> u64 {
    let chunk = chunk.max(4096);
    let mut buf: Vec<u8> = vec![0; chunk + 64 * 1024];
    let mut filled = 0usize;
    let mut line = 1u64;
    let mut reached = 0u64;
    loop {
        let want = chunk.saturating_sub(filled).max(64 * 1024);
        let before = filled;
        // `Guarded` never fails (an error ends the data; `damaged` tells it below).
        let _ = fill(src, &mut buf, &mut filled, before + want);
        let eof = filled == before;
        let data = buf.get(..filled).unwrap_or_default();
        let last_nl = memchr::memrchr(b'\n', data);
        let cut = if eof && !damaged(src) {
            filled
        } else if eof || filled >= chunk {
            last_nl.map_or(0, |i| i + 1)
        } else {
            continue;
        };
        if cut > 0 {
            let block = data.get(..cut).unwrap_or_default();
            let text = utf8(block);
            // Replacing bad UTF-8 keeps every newline (an ASCII byte is never part of a bad
            // sequence), so the text's newlines are the block's.
            let newlines = crate::container::parse_lines(
                ctx.form,
                &text,
                line,
                ctx.source,
                ctx.opts,
                ctx.stats,
                ctx.on_event,
            );
            reached = if block.ends_with(b"\n") {
                line + newlines - 1
            } else {
                line + newlines
            };
            line += newlines;
            buf.copy_within(cut..filled, 0);
            filled -= cut;
        }
        if eof {
            return reached;
        }
    }
}

/// Reads from `src` into `buf` after its first `*filled` bytes until `*filled` reaches `to`
/// or the data ends, as `take(to - filled).read_to_end` would (the same bytes, so the same
/// blocks), but without zeroing the room first: `buf` grows (zeroed) only when `to` is past
/// its length, i.e. for a line longer than any met before. True when the data ended before
/// `to`; a read error ends the filling and is returned (`*filled` counts what came before).
/// The one buffer filler of the log readers (this sequential one and the parallel
/// pipeline's producer).
pub fn fill(
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
    let map = crate::container::mapper(ctx.form);
    let mut b = Builder::default();
    b.adopt_other(&mut ctx.other);
    for (name, cell) in headers.iter().zip(rec.iter()) {
        if cell.is_empty() {
            continue;
        }
        let text: Cow<'_, str> = utf8(cell);
        map(&mut b, name, Leaf::Str(text));
    }
    crate::container::deliver_row(ctx, &mut b, line);
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

    /// Hands out its bytes in pieces of 1 to 997 bytes, and fails (once) at `fail_at`.
    struct Dribble {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                self.fail_at = None;
                return Err(io::Error::other("disk on fire"));
            }
            self.step = (self.step * 31 + 7) % 997 + 1;
            let end = self
                .data
                .len()
                .min(self.at + self.step)
                .min(self.at + buf.len());
            let end = self.fail_at.map_or(end, |f| end.min(f));
            let n = end - self.at;
            buf[..n].copy_from_slice(&self.data[self.at..end]);
            self.at = end;
            Ok(n)
        }
    }

    /// `read_lines` over `data` read in pieces (the first `head` bytes already read, as
    /// after detection): the events (line, operation), the line reached and the error.
    fn read_lines_of(
        data: &[u8],
        head: usize,
        chunk: usize,
        fail_at: Option<usize>,
    ) -> (Vec<(u64, String)>, u64, bool) {
        let mut guarded = Guarded {
            inner: Box::new(Dribble {
                data: data[head..].to_vec(),
                at: 0,
                step: 0,
                fail_at,
            }) as Box<dyn Read>,
            err: None,
            bytes: 0,
        };
        let mut src: Source<'_> = Cursor::new(data[..head].to_vec()).chain(&mut guarded);
        let opts = ReadOptions::default();
        let mut stats = ReadStats::new();
        let mut out = Vec::new();
        let mut on_event = |e: &AuditEvent<'_>| out.push((e.origin.line, e.operation.to_string()));
        let mut ctx = Ctx {
            form: LogFormat::Storage,
            source: 1,
            opts: &opts,
            stats: &mut stats,
            on_event: &mut on_event,
            path: String::new(),
            keys: kvsentry_json::KeyCache::default(),
            other: crate::event::SpareOther::new(),
            memo: crate::event::Memo::default(),
        };
        let reached = read_lines(&mut ctx, &mut src, chunk);
        let failed = guarded.err.is_some();
        (out, reached, failed)
    }

    /// Blocks filled by plain reads (pieces of any size, a line longer than the chunk, no
    /// final newline, a read error) deliver exactly the complete lines, with their numbers.
    #[test]
    fn lines_read_in_pieces_are_every_complete_line() {
        let rec = |i: usize, pad: usize| {
            format!(
                r#"{{"time":"2024-01-01T00:00:00Z","operationName":"OP{i}","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V","pad":"{}"}}"#,
                "x".repeat(pad)
            )
        };
        let mut lines: Vec<String> = (0..300).map(|i| rec(i, (i * 37) % 200)).collect();
        // longer than the chunk (4096), and than the 64 KiB read after a full chunk
        lines[40] = rec(40, 9000);
        lines[41] = rec(41, 70_000);
        lines[120] = String::new();
        let text = lines.join("\n");
        // bad UTF-8 inside a string of line 60: replaced, the record and the count kept
        let mut text = text.into_bytes();
        let at = lines[..59].iter().map(|l| l.len() + 1).sum::<usize>() + lines[59].len() - 3;
        assert_eq!(text[at], b'x');
        text[at] = 0xff;
        let want: Vec<(u64, String)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, _)| (i as u64 + 1, format!("OP{i}")))
            .collect();
        for head in [0, 100, 5000] {
            // no final newline: the last line is read at the end of the data
            let (got, reached, failed) = read_lines_of(&text, head, 4096, None);
            assert_eq!(got, want, "head {head}");
            assert_eq!(reached, 300);
            assert!(!failed);
            let mut with_nl = text.clone();
            with_nl.push(b'\n');
            let (got, reached, _) = read_lines_of(&with_nl, head, 4096, None);
            assert_eq!(got, want);
            assert_eq!(reached, 300);
        }
        // A read error in the middle of line 200: lines 1 to 199 only.
        let cut = lines[..199].iter().map(|l| l.len() + 1).sum::<usize>() + 10;
        let (got, reached, failed) = read_lines_of(&text, 0, 4096, Some(cut));
        assert!(failed);
        assert_eq!(reached, 199);
        assert_eq!(got, want[..got.len()].to_vec());
        assert_eq!(got.last().map(|g| g.0), Some(199));
    }

    #[test]
    fn fill_stops_at_its_mark_or_the_end() {
        let mut src = Dribble {
            data: (0..=255u8).collect(),
            at: 0,
            step: 0,
            fail_at: None,
        };
        let mut buf = vec![9u8; 4];
        let mut filled = 2;
        assert!(!fill(&mut src, &mut buf, &mut filled, 100).unwrap());
        assert_eq!(filled, 100);
        assert_eq!(buf.len(), 100);
        assert_eq!(&buf[..4], &[9, 9, 0, 1]);
        assert_eq!(buf[99], 97);
        assert!(fill(&mut src, &mut buf, &mut filled, 400).unwrap());
        assert_eq!(filled, 100 + 158);
        assert_eq!(buf.len(), 400);
        assert_eq!(buf[257], 255);
        assert!(fill(&mut src, &mut buf, &mut filled, 400).unwrap());
        assert_eq!(filled, 258);
        // A read error ends the filling and is handed back, after the bytes before it.
        let mut src = Dribble {
            data: (0..=255u8).collect(),
            at: 0,
            step: 0,
            fail_at: Some(50),
        };
        let mut filled = 0;
        let err = fill(&mut src, &mut buf, &mut filled, 200).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert_eq!(filled, 50);
        assert_eq!(buf[49], 49);
    }

    /// Valid text is borrowed whole; invalid bytes are replaced exactly as the lossy
    /// conversion replaces them, at the start, middle and end of a long block too.
    #[test]
    fn utf8_borrows_valid_text_and_replaces_the_rest() {
        let long = "{\"a\":\"é€😀\"}\n".repeat(40);
        assert!(matches!(utf8(long.as_bytes()), Cow::Borrowed(t) if t == long));
        for bad in [
            &b"\xff"[..],
            b"\xc3",
            b"\xe2\x82",
            b"\xed\xa0\x80",
            b"\xc0\xaf",
        ] {
            for at in [0, 1, long.len() / 2, long.len()] {
                let mut b = long.as_bytes().to_vec();
                // split only at a line start or end (char boundaries)
                let at = long.as_bytes()[..at]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                b.splice(at..at, bad.iter().copied());
                let got = utf8(&b);
                assert!(matches!(got, Cow::Owned(_)));
                assert_eq!(got, String::from_utf8_lossy(&b), "{bad:?} at {at}");
            }
        }
    }

    #[test]
    fn preview_is_printable() {
        assert_eq!(preview(b"PK\x03\x04ab"), "\"PK\\x03\\x04ab\"");
    }
}
