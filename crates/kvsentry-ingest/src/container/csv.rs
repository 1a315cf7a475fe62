//! CSV with a header row (Log Analytics table exports), streamed: each row is mapped under
//! its column names, with exact line numbers.

use std::borrow::Cow;
use std::io::{self, Read};

use super::{Ctx, deliver_row, mapper};
use crate::event::Builder;
use crate::stats::SkipReason;
use crate::text::{column_key, utf8};
use kvsentry_json::Leaf;

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

/// Reads CSV from `src` to its end; returns the line reached. A row is held back until the
/// next one is read, so that a row cut by a read error (`damaged` tells, at the end) is not
/// delivered.
pub(crate) fn read_csv<R: Read>(
    ctx: &mut Ctx<'_, '_>,
    src: &mut R,
    damaged: impl Fn(&R) -> bool,
) -> u64 {
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
    if let Some((prev, pl)) = pending
        && !damaged(rdr.get_ref().inner)
    {
        csv_row(ctx, &headers, &prev, pl);
        line = pl;
    }
    line
}

fn csv_row(ctx: &mut Ctx<'_, '_>, headers: &[String], rec: &csv::ByteRecord, line: u64) {
    let map = mapper(ctx.form);
    let mut b = Builder::default();
    b.adopt_other(&mut ctx.other);
    for (name, cell) in headers.iter().zip(rec.iter()) {
        if cell.is_empty() {
            continue;
        }
        let text: Cow<'_, str> = utf8(cell);
        map(&mut b, name, Leaf::Str(text));
    }
    deliver_row(ctx, &mut b, line);
}
