//! Loading files and directories: directory walks, MISP feed directories, files opened as
//! text with kvsentry-read (gzip by magic bytes, BOM, UTF-16, as hunt opens logs), and the
//! choice of the JSON-lines path that reads a Sentinel export as it streams in.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use kvsentry_read::Opened;
use serde_json::Value;

use super::ctx::{Ctx, LoadOptions};
use super::format::{TiFormat, detect, json_kind};
use super::report::{FailedFile, LoadReport};
use super::{generic_csv, misp, sentinel, stix, text};
use crate::error::IntelError;
use crate::set::IndicatorSet;

/// Extensions loaded when walking a directory (files named explicitly load whatever their
/// name).
pub const FEED_EXTENSIONS: &[&str] = &[
    "json", "jsonl", "ndjson", "csv", "tsv", "txt", "netset", "ipset", "lst", "list", "gz",
];

/// Loads one file or directory, detecting the format per file unless `format` is given. A
/// directory holding `manifest.json` is a MISP feed; any other directory is walked and each
/// file loaded on its own.
pub fn load_path(
    path: impl AsRef<Path>,
    format: Option<TiFormat>,
    set: &mut IndicatorSet,
) -> Result<LoadReport, IntelError> {
    let opts = LoadOptions {
        format,
        ..Default::default()
    };
    load_paths([path.as_ref()], &opts, set)
}

/// Loads many files or directories with options.
pub fn load_paths<P: AsRef<Path>>(
    paths: impl IntoIterator<Item = P>,
    opts: &LoadOptions,
    set: &mut IndicatorSet,
) -> Result<LoadReport, IntelError> {
    let mut report = LoadReport::default();
    for p in paths {
        load_one(p.as_ref(), opts, set, &mut report, true)?;
    }
    Ok(report)
}

fn load_one(
    path: &Path,
    opts: &LoadOptions,
    set: &mut IndicatorSet,
    report: &mut LoadReport,
    explicit: bool,
) -> Result<(), IntelError> {
    match load_one_inner(path, opts, set, report) {
        Err(e) if !explicit => {
            report.failed_files.push(FailedFile {
                path: path.to_path_buf(),
                error: e.to_string(),
            });
            Ok(())
        }
        other => other,
    }
}

fn load_one_inner(
    path: &Path,
    opts: &LoadOptions,
    set: &mut IndicatorSet,
    report: &mut LoadReport,
) -> Result<(), IntelError> {
    let io = |e| IntelError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        if path.join("manifest.json").is_file() && opts.format.is_none_or(|f| f == TiFormat::Misp) {
            let mut ctx = Ctx::new(path, TiFormat::Misp, opts, None);
            misp::load_feed_dir(path, &mut ctx, set)?;
            report.files.push(ctx.report);
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
            })
            .collect();
        entries.sort();
        for e in entries {
            let feed_ext = e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| FEED_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()));
            if e.is_dir() || feed_ext {
                load_one(&e, opts, set, report, false)?;
            } else {
                report.skipped_files.push(e);
            }
        }
        return Ok(());
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| Timestamp::try_from(t).ok());
    let file = std::fs::File::open(path).map_err(io)?;
    let Opened {
        mut reader,
        mut head,
        ..
    } = kvsentry_read::open(file, HEAD_BYTES).map_err(io)?;
    // A read error ends the text where it happened; it is returned once what came before
    // is loaded (streamed) or before anything is (whole text).
    if let Some(format) = json_lines_start(&mut head, &mut reader, opts) {
        let mut ctx = Ctx::new(path, format, opts, mtime);
        sentinel::json_lines::load_json_lines(&head, reader, format, &mut ctx, set).map_err(io)?;
        report.files.push(ctx.report);
        return Ok(());
    }
    let mut bytes = head;
    // `Guarded` never fails: an error ends the data and is kept.
    let _ = reader.read_to_end(&mut bytes);
    if let Some(e) = reader.err.take() {
        return Err(io(e));
    }
    // (The byte-order mark is gone already.)
    let text = String::from_utf8_lossy(&bytes);
    let format = match opts.format {
        Some(f) => f,
        None => detect(path, &text)?,
    };
    let mut ctx = Ctx::new(path, format, opts, mtime);
    match format {
        TiFormat::Sentinel | TiFormat::SentinelStix => {
            sentinel::load(&text, format, &mut ctx, set)?
        }
        TiFormat::Stix => stix::load(&text, &mut ctx, set)?,
        TiFormat::Misp => misp::load_file(&text, &mut ctx, set)?,
        TiFormat::Text => text::load(&text, &mut ctx, set)?,
        TiFormat::Csv => generic_csv::load(&text, &mut ctx, set)?,
    }
    report.files.push(ctx.report);
    Ok(())
}

/// How much of a file is read before deciding how to load it (more when its first lines
/// are longer).
const HEAD_BYTES: usize = 64 * 1024;

/// Tells whether a file whose text starts with `head` (read with kvsentry-read's `open`:
/// gunzipped, BOM dropped, UTF-16 decoded; more of `reader` is read into it as needed) is a
/// Sentinel export in JSON lines that can be loaded line by line as it is read (the
/// format, forced or detected) instead of as a whole text.
///
/// That is the case when the first line with content holds one whole JSON object and more
/// content follows: the whole text is then no single JSON value, so [`detect`] decides on
/// that first object and `json_rows` reads the text as JSON lines, both exactly what the
/// line-by-line load does. Anything else (an array, a pretty-printed object, one object
/// alone, another format) returns `None`, with what was read in `head`, for the whole-text
/// load. A read error ends the text (it is kept in `reader`).
fn json_lines_start(
    head: &mut Vec<u8>,
    reader: &mut impl Read,
    opts: &LoadOptions,
) -> Option<TiFormat> {
    if opts
        .format
        .is_some_and(|f| f != TiFormat::Sentinel && f != TiFormat::SentinelStix)
    {
        return None;
    }
    let mut at = 0;
    // The first line with content.
    let first = loop {
        let line = next_line(head, reader, &mut at)?;
        let text = String::from_utf8_lossy(&head[line]);
        let t = text.trim();
        if !t.is_empty() {
            if !t.starts_with('{') {
                return None;
            }
            match serde_json::from_str::<Value>(t) {
                Ok(v @ Value::Object(_)) => break v,
                _ => return None,
            }
        }
    };
    let format = match opts.format {
        Some(f) => f,
        None => match json_kind(&first) {
            Some(f @ (TiFormat::Sentinel | TiFormat::SentinelStix)) => f,
            _ => return None,
        },
    };
    // More content must follow (else the object alone is the whole text: maybe a wrapper).
    loop {
        let line = next_line(head, reader, &mut at)?;
        if !String::from_utf8_lossy(&head[line]).trim().is_empty() {
            return Some(format);
        }
    }
}

/// The line of `head` that starts at `*at` (with its `\n`, the last one maybe without),
/// reading more of `reader` into `head` until it holds the whole line; `*at` moves past it.
/// `None` at the end of the text.
fn next_line(head: &mut Vec<u8>, reader: &mut impl Read, at: &mut usize) -> Option<Range<usize>> {
    let start = *at;
    let mut searched = start;
    loop {
        if let Some(i) = memchr::memchr(b'\n', head.get(searched..).unwrap_or_default()) {
            *at = searched + i + 1;
            return Some(start..*at);
        }
        searched = head.len();
        // A read error ends the text here (the caller finds it in the reader).
        let more = reader
            .take(HEAD_BYTES as u64)
            .read_to_end(head)
            .unwrap_or(0);
        if more == 0 {
            *at = head.len();
            return (start < head.len()).then_some(start..head.len());
        }
    }
}

#[cfg(test)]
mod tests;
