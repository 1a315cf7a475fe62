//! Loading files and directories: gzip, directory walks, MISP feed directories, and the
//! JSON-lines path that reads a Sentinel export as it streams in.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
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
    let mut reader = BufReader::with_capacity(1 << 18, open_maybe_gzip(path).map_err(io)?);
    let mut bytes = Vec::new();
    if let Some(format) = json_lines_start(&mut reader, &mut bytes, opts).map_err(io)? {
        let mut ctx = Ctx::new(path, format, opts, mtime);
        sentinel::load_json_lines(&bytes, &mut reader, format, &mut ctx, set).map_err(io)?;
        report.files.push(ctx.report);
        return Ok(());
    }
    reader.read_to_end(&mut bytes).map_err(io)?;
    let text = decode(&bytes);
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

/// Opens a file, decoding gzip (recognised by its magic bytes, whatever the name): feeds are
/// often downloaded or archived compressed.
fn open_maybe_gzip(path: &Path) -> std::io::Result<Box<dyn Read>> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    })
}

/// Reads the start of a file into `head`, line by line, and tells whether the file is a
/// Sentinel export in JSON lines that can be loaded line by line as it is read (the
/// format, forced or detected) instead of as a whole text.
///
/// That is the case when the first line with content holds one whole JSON object and more
/// content follows: the whole text is then no single JSON value, so [`detect`] decides on
/// that first object and [`json_rows`] reads the text as JSON lines, both exactly what the
/// line-by-line load does. Anything else (an array, a pretty-printed object, one object
/// alone, another format) returns `None`, with what was read in `head`, for the whole-text
/// load.
fn json_lines_start(
    reader: &mut impl BufRead,
    head: &mut Vec<u8>,
    opts: &LoadOptions,
) -> std::io::Result<Option<TiFormat>> {
    if opts
        .format
        .is_some_and(|f| f != TiFormat::Sentinel && f != TiFormat::SentinelStix)
    {
        return Ok(None);
    }
    // The first line with content.
    let first = loop {
        let start = head.len();
        if reader.read_until(b'\n', head)? == 0 {
            return Ok(None);
        }
        let line = head.get(start..).unwrap_or_default();
        let line = if start == 0 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
        } else {
            line
        };
        let text = String::from_utf8_lossy(line);
        let t = text.trim();
        if !t.is_empty() {
            if !t.starts_with('{') {
                return Ok(None);
            }
            match serde_json::from_str::<Value>(t) {
                Ok(v @ Value::Object(_)) => break v,
                _ => return Ok(None),
            }
        }
    };
    let format = match opts.format {
        Some(f) => f,
        None => match json_kind(&first) {
            Some(f @ (TiFormat::Sentinel | TiFormat::SentinelStix)) => f,
            _ => return Ok(None),
        },
    };
    // More content must follow (else the object alone is the whole text: maybe a wrapper).
    loop {
        let start = head.len();
        if reader.read_until(b'\n', head)? == 0 {
            return Ok(None);
        }
        if !String::from_utf8_lossy(head.get(start..).unwrap_or_default())
            .trim()
            .is_empty()
        {
            return Ok(Some(format));
        }
    }
}

/// UTF-8 (lossy) without a byte-order mark: portal CSV exports start with one.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8_lossy(b)
}

#[cfg(test)]
mod tests;
