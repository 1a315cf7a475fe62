//! Turning a source's units into events: a block of lines ([`parse_block`]), a whole input
//! ([`read_stream`]), and [`read_input`], which reads one file or standard input on the
//! caller's thread through the same [`Files`] source the parallel pipeline uses.

use std::io::Read;

use kvsentry_model::AuditEvent;

use crate::container::csv::read_csv;
use crate::container::{Ctx, parse_documents};
use crate::source::{Block, Files, Source, Stream, Unit, read_error};
use crate::stats::ReadStats;
use crate::text::utf8;
use crate::{Container, IngestError, Input, ReadOptions};

/// Parses a block of whole JSON lines and calls `on_event` for each event; bad records are
/// skipped and counted in `stats`. Answers the number of newlines in the block.
pub fn parse_block(
    block: &Block,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> u64 {
    // Replacing bad UTF-8 keeps every newline (an ASCII byte is never part of a bad
    // sequence), so the text's lines are the block's.
    let text = utf8(block.data());
    crate::container::parse_lines(
        block.form,
        &text,
        block.first_line,
        block.source,
        opts,
        stats,
        on_event,
    )
}

/// Reads a whole input (JSON documents, CSV) and calls `on_event` for each event. The error
/// is the damage that ended it (a truncated gzip member, a failing disk), after every record
/// before it was delivered.
pub fn read_stream(
    stream: Stream,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> Result<(), IngestError> {
    let Stream {
        source,
        form,
        container,
        display,
        gz,
        mut reader,
    } = stream;
    stats.form(form).files += 1;
    stats.source_forms.insert(source, form);
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
    let line_reached = match container {
        Container::Csv => read_csv(&mut ctx, &mut reader, |r| r.get_ref().1.err.is_some()),
        Container::JsonDocuments | Container::JsonLines => {
            let mut buf = Vec::new();
            // The reader never fails: an error ends the data (and is kept).
            let _ = reader.read_to_end(&mut buf);
            let text = utf8(&buf);
            parse_documents(&mut ctx, &text, 1);
            1 + memchr::memchr_iter(b'\n', &buf).count() as u64
        }
    };
    let (_, guarded) = reader.into_inner();
    stats.bytes += guarded.bytes;
    match guarded.err {
        None => Ok(()),
        Some(e) => {
            stats.failed_files += 1;
            Err(read_error(&display, gz, line_reached, e))
        }
    }
}

/// Reads one input and calls `on_event` for each event: detects the form (unless
/// `opts.format` forces one), gunzips (by magic bytes), and parses JSON Lines in blocks of
/// complete lines. Bad records are skipped and counted in `stats`; the error is for what
/// stops the file (cannot open, unknown format, truncated gzip), after every record before
/// the damage was delivered. `source` goes into each event's `origin`.
pub fn read_input(
    input: &Input,
    source: u32,
    opts: &ReadOptions,
    stats: &mut ReadStats,
    on_event: &mut dyn FnMut(&AuditEvent<'_>),
) -> Result<(), IngestError> {
    let mut files = Files::new(std::slice::from_ref(input), source, opts);
    let mut result = Ok(());
    while let Some(unit) = files.next_unit() {
        match unit {
            Unit::Block(block) => {
                parse_block(&block, opts, stats, on_event);
                files.recycle(block.into_buffer());
            }
            Unit::Stream(stream) => result = read_stream(stream, opts, stats, on_event),
            Unit::End(end) => {
                stats.merge(end.stats);
                if let Some(e) = end.error {
                    result = Err(e);
                }
            }
        }
    }
    stats.name_source(source, &input.display);
    result
}
