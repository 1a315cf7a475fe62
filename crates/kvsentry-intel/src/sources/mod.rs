//! Loaders: every file is auto-detected (or forced with a [`TiFormat`]) and its rows become
//! [`Indicator`] versions in an [`IndicatorSet`]. A bad row never stops a load: it is
//! counted, with its `file:line`, in the [`LoadReport`].

pub mod csvgen;
mod jsonrow;
pub mod misp;
pub mod sentinel;
pub mod stix;
pub mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::error::IntelError;
use crate::model::Indicator;
use crate::set::IndicatorSet;

/// At most this many problems are listed per file; all are counted.
const MAX_PROBLEMS_LISTED: usize = 1000;

/// Threat-intel file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TiFormat {
    /// Sentinel `ThreatIntelligenceIndicator` export (JSON array, JSON lines or CSV).
    Sentinel,
    /// Sentinel STIX-based `ThreatIntelIndicators` export (JSON array, JSON lines or CSV).
    SentinelStix,
    /// STIX 2.1 bundle.
    Stix,
    /// MISP feed directory (manifest.json + event files), event JSON or MISP CSV export.
    Misp,
    /// Plain IP/CIDR list (`#`/`;` comments, FireHOL, Spamhaus, Feodo) or Spamhaus NDJSON.
    Text,
    /// CSV with a header naming the IP column.
    Csv,
}

impl TiFormat {
    pub fn name(self) -> &'static str {
        match self {
            TiFormat::Sentinel => "sentinel",
            TiFormat::SentinelStix => "sentinel-stix",
            TiFormat::Stix => "stix",
            TiFormat::Misp => "misp",
            TiFormat::Text => "text",
            TiFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for TiFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TiFormat {
    type Err = IntelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "sentinel" => TiFormat::Sentinel,
            "sentinel-stix" => TiFormat::SentinelStix,
            "stix" => TiFormat::Stix,
            "misp" => TiFormat::Misp,
            "text" => TiFormat::Text,
            "csv" => TiFormat::Csv,
            _ => return Err(IntelError::UnknownFormat(s.to_string())),
        })
    }
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Force a format instead of detecting it per file.
    pub format: Option<TiFormat>,
    /// CSV: the column holding the IP (`--ti-ip-column`), instead of auto-detection.
    pub ip_column: Option<String>,
    /// MISP: also load attributes with `to_ids: false` (excluded and counted by default).
    pub misp_include_non_ids: bool,
    /// Version time for plain lists when the file time is unavailable (default: now).
    pub now: Option<Timestamp>,
}

/// One row that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `file:line`.
    pub origin: String,
    pub reason: String,
    pub value: String,
}

/// What one file contributed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub format: TiFormat,
    /// Indicator versions added.
    pub records: usize,
    /// Rows skipped per reason (without IP, unparseable, `to_ids=false`, ...).
    pub skipped: BTreeMap<String, usize>,
    /// The first problems with their `file:line` (all are counted in `skipped`).
    pub problems: Vec<Problem>,
}

/// What a load contributed, per file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    pub files: Vec<FileReport>,
    /// Files met while walking a directory whose extension is not a feed's
    /// ([`FEED_EXTENSIONS`]), left alone (a README next to the feeds must not fail the load).
    pub skipped_files: Vec<PathBuf>,
    /// Files met while walking a directory that could not be loaded (format not recognised,
    /// CSV without IP column, ...), with the error. A file named explicitly fails the load
    /// instead.
    pub failed_files: Vec<FailedFile>,
}

/// A file of a directory walk that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedFile {
    pub path: PathBuf,
    pub error: String,
}

/// Extensions loaded when walking a directory (files named explicitly load whatever their
/// name).
pub const FEED_EXTENSIONS: &[&str] = &[
    "json", "jsonl", "ndjson", "csv", "tsv", "txt", "netset", "ipset", "lst", "list", "gz",
];

impl LoadReport {
    /// Indicator versions added by all files.
    pub fn records(&self) -> usize {
        self.files.iter().map(|f| f.records).sum()
    }

    /// Skips of all files for one reason.
    pub fn skipped(&self, reason: &str) -> usize {
        self.files
            .iter()
            .filter_map(|f| f.skipped.get(reason))
            .sum()
    }

    /// Problems of all files.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.files.iter().flat_map(|f| f.problems.iter())
    }
}

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
        TiFormat::Csv => csvgen::load(&text, &mut ctx, set)?,
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

/// The first line that is not blank or a `#`/`;` comment.
fn first_data_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
}

/// Guesses a file's format from its content.
pub fn detect(path: &Path, text: &str) -> Result<TiFormat, IntelError> {
    let unknown = |why: &str| IntelError::Format {
        path: path.to_path_buf(),
        message: format!("cannot tell the threat-intel format ({why}); name it with --ti-format"),
    };
    let Some(first) = first_data_line(text) else {
        return Ok(TiFormat::Text); // empty or only comments: an empty list
    };
    if first.starts_with('{') || first.starts_with('[') {
        let whole = text.trim();
        let sample: Option<Value> = if whole.starts_with('[') {
            // Only the first element decides (`json_kind`): no `Value` for the rest.
            jsonrow::first_element(whole)
                .ok()
                .map(|first| Value::Array(first.into_iter().collect()))
        } else {
            serde_json::from_str(whole).ok()
        };
        let sample = sample.or_else(|| serde_json::from_str(first).ok());
        let Some(sample) = sample else {
            return Err(unknown("JSON that does not parse"));
        };
        return json_kind(&sample).ok_or_else(|| unknown("unrecognised JSON"));
    }
    if let Some(v) = text::data_value(first) {
        if kvsentry_model::net::parse_network(v).is_some() {
            return Ok(TiFormat::Text);
        }
    }
    let header = first.to_ascii_lowercase();
    let has = |c: &str| {
        header
            .split([',', ';', '\t'])
            .any(|h| h.trim().trim_matches('"').split(" [").next() == Some(c))
    };
    if has("indicatorid") || has("threattype") || has("networkip") {
        return Ok(TiFormat::Sentinel);
    }
    if has("observablekey") || has("observablevalue") {
        return Ok(TiFormat::SentinelStix);
    }
    if has("uuid") && has("to_ids") && has("type") && has("value") {
        return Ok(TiFormat::Misp);
    }
    if header.contains(',') || header.contains(';') || header.contains('\t') {
        return Ok(TiFormat::Csv);
    }
    Ok(TiFormat::Text)
}

fn json_kind(v: &Value) -> Option<TiFormat> {
    match v {
        Value::Array(a) => a.first().and_then(json_kind),
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("bundle") || o.contains_key("objects")
            {
                return Some(TiFormat::Stix);
            }
            // One STIX object (`"type": "indicator", "id": "indicator--..."`): its identifier
            // says what it is whatever other properties it carries (a custom `value` or `ip`
            // must not make it another feed's row).
            if let (Some(ty), Some(id)) = (
                o.get("type").and_then(Value::as_str),
                o.get("id").and_then(Value::as_str),
            ) {
                if id
                    .strip_prefix(ty)
                    .is_some_and(|rest| rest.starts_with("--"))
                {
                    return Some(TiFormat::Stix);
                }
            }
            if o.contains_key("Event") {
                return Some(TiFormat::Misp);
            }
            for k in ["rows", "value"] {
                if let Some(Value::Array(a)) = o.get(k) {
                    return a.first().and_then(json_kind);
                }
            }
            if let Some(Value::Array(tables)) = o.get("tables") {
                // Log Analytics query API: decide by the column names.
                let cols: serde_json::Map<String, Value> = tables
                    .iter()
                    .filter_map(|t| t.get("columns").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .map(|n| (n.to_string(), Value::Null))
                    .collect();
                return json_kind(&Value::Object(cols));
            }
            if ["IndicatorId", "NetworkIP", "ThreatType", "NetworkSourceIP"]
                .iter()
                .any(|k| o.contains_key(*k))
            {
                return Some(TiFormat::Sentinel);
            }
            if o.contains_key("ObservableKey") || o.contains_key("ObservableValue") {
                return Some(TiFormat::SentinelStix);
            }
            if o.contains_key("cidr") || o.contains_key("ip") {
                return Some(TiFormat::Text);
            }
            if o.get("type").and_then(Value::as_str) == Some("indicator")
                || (o.contains_key("pattern") && o.contains_key("pattern_type"))
            {
                return Some(TiFormat::Stix);
            }
            None
        }
        _ => None,
    }
}

/// File line numbers of CSV records from their byte offsets (the csv crate's own line
/// counter is off by one on CRLF files, which portal exports are). Offsets must be asked in
/// increasing order.
pub(crate) struct LineCounter<'t> {
    text: &'t [u8],
    byte: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    pub fn new(text: &'t str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line_at(&mut self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        if end > self.byte {
            self.line += self.text[self.byte..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.byte = end;
        }
        self.line
    }

    /// The line of a record starting at byte `offset` of the text (0 when unknown).
    pub fn of_offset(&mut self, offset: Option<usize>) -> usize {
        // With CRLF the reader ends a record at `\r` and reports the next one as starting at
        // the `\n`: skip line terminators to reach the record's first byte.
        offset
            .map(|mut b| {
                while matches!(self.text.get(b), Some(b'\r' | b'\n')) {
                    b += 1;
                }
                self.line_at(b)
            })
            .unwrap_or(0)
    }
}

/// Calls `each` with every record of a CSV text and its file line; a malformed record is a
/// problem ("malformed CSV row") and reading goes on.
///
/// A quote that is never closed would make the csv reader take the following lines (up to
/// the next quote, or the rest of the file) as one field: such a record is a problem
/// ("unterminated quote") at the line where it starts, and reading resumes on the next line.
pub(crate) fn for_each_csv_record(
    text: &str,
    table: &sentinel::CsvTable,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
    mut each: impl FnMut(&csv::StringRecord, usize, &mut Ctx<'_>, &mut IndicatorSet),
) {
    let mut rec = csv::StringRecord::new();
    let mut lines = LineCounter::new(text);
    // Byte offset of the text the current reader reads; only the first reads a header.
    let mut base = 0;
    'readers: loop {
        let rest = text.get(base..).unwrap_or_default();
        let mut rdr = if base == 0 {
            table.reader(rest)
        } else {
            table.reader_without_header(rest)
        };
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break 'readers,
                Err(e) => {
                    let line = lines.of_offset(e.position().map(|p| base + p.byte() as usize));
                    ctx.problem(set, line, "malformed CSV row", &e.to_string());
                    continue;
                }
            }
            // With CRLF the reader reports a record as starting at the `\n` before it.
            let mut start = base + rec.position().map_or(0, |p| p.byte() as usize);
            while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
                start += 1;
            }
            let end = base + rdr.position().byte() as usize;
            // A quoted field may hold line breaks (descriptions do). A record over several
            // lines that is still inside quotes at the end of the text, or whose fields do
            // not line up with the header (a later stray quote closed the field), is one
            // whose quote was never closed.
            let record_text = text.get(start..end).unwrap_or_default();
            let several_lines = record_text.trim_end().contains('\n');
            if (several_lines && rec.len() != table.headers.len())
                || (end >= text.len() && open_quote_at_end(record_text, table.delimiter))
            {
                let line = lines.of_offset(Some(start));
                let first_line = record_text.lines().next().unwrap_or_default();
                ctx.problem(set, line, "unterminated quote", first_line);
                match text.get(start..).and_then(|t| t.find('\n')) {
                    Some(nl) => {
                        base = start + nl + 1;
                        continue 'readers;
                    }
                    None => break 'readers,
                }
            }
            let line = lines.of_offset(Some(start));
            each(&rec, line, ctx, set);
        }
    }
}

/// True when a quoted field opened in `record` is still open at its end: the csv reader
/// reached the end of the file inside quotes. A quote opens a field only at its start and
/// `""` inside a quoted field is a quote, as the csv reader reads them.
fn open_quote_at_end(record: &str, delimiter: u8) -> bool {
    let b = record.as_bytes();
    let mut in_quote = false;
    let mut field_start = true;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if in_quote {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                in_quote = false;
            }
            field_start = false;
        } else if c == b'"' && field_start {
            in_quote = true;
            field_start = false;
        } else {
            field_start = c == delimiter || c == b'\n' || c == b'\r';
        }
        i += 1;
    }
    in_quote
}

/// Per-file loading context: names origins, counts skips and problems.
pub(crate) struct Ctx<'a> {
    pub name: String,
    pub opts: &'a LoadOptions,
    pub report: FileReport,
    pub file_time: Timestamp,
    /// The file's short name (its last component, else `name`), computed once: each
    /// Sentinel row names it.
    pub file_name: String,
}

/// The short name a version of `path` records (`name` for a path without file name).
pub(crate) fn short_name(path: &Path, name: &str) -> String {
    path.file_name()
        .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned())
}

impl<'a> Ctx<'a> {
    fn new(path: &Path, format: TiFormat, opts: &'a LoadOptions, mtime: Option<Timestamp>) -> Self {
        let name = path.display().to_string();
        Ctx {
            file_name: short_name(path, &name),
            name,
            opts,
            report: FileReport {
                path: path.to_path_buf(),
                format,
                records: 0,
                skipped: BTreeMap::new(),
                problems: Vec::new(),
            },
            file_time: mtime.or(opts.now).unwrap_or_else(Timestamp::now),
        }
    }

    pub fn origin(&self, line: usize) -> String {
        crate::store::origin(&self.name, line)
    }

    /// The file's short name, used as the source of plain lists.
    pub fn file_name(&self) -> String {
        self.file_name.clone()
    }

    pub fn path(&self) -> &Path {
        &self.report.path
    }

    /// Counts a skipped row without listing it (e.g. a hash indicator: not a problem).
    pub fn skip(&mut self, set: &mut IndicatorSet, reason: &str) {
        self.skip_n(set, reason, 1);
    }

    /// Counts `n` skipped rows for one reason (none when `n` is 0).
    pub fn skip_n(&mut self, set: &mut IndicatorSet, reason: &str, n: usize) {
        if n > 0 {
            crate::set::count(&mut self.report.skipped, reason, n);
            set.note_skipped(reason, n);
        }
    }

    /// Counts and lists a row that could not be used.
    pub fn problem(&mut self, set: &mut IndicatorSet, line: usize, reason: &str, value: &str) {
        let mut listed = std::mem::take(&mut self.report.problems);
        self.problem_into(&mut listed, set, line, reason, value);
        self.report.problems = listed;
    }

    /// [`Ctx::problem`], listing it in `listed` instead of the report (for problems that
    /// must be listed in another order than met).
    pub fn problem_into(
        &mut self,
        listed: &mut Vec<Problem>,
        set: &mut IndicatorSet,
        line: usize,
        reason: &str,
        value: &str,
    ) {
        self.skip(set, reason);
        if listed.len() < MAX_PROBLEMS_LISTED {
            listed.push(Problem {
                origin: self.origin(line),
                reason: reason.to_string(),
                value: value.chars().take(200).collect(),
            });
        }
    }

    /// Lists `first` before the problems listed so far, keeping the first
    /// [`MAX_PROBLEMS_LISTED`] of all.
    pub fn list_first(&mut self, mut first: Vec<Problem>) {
        let room = MAX_PROBLEMS_LISTED.saturating_sub(first.len());
        first.extend(self.report.problems.drain(..).take(room));
        self.report.problems = first;
    }

    pub fn push(&mut self, set: &mut IndicatorSet, ind: Indicator) {
        self.report.records += 1;
        set.push(ind);
    }

    /// [`Ctx::push`] for a Sentinel row, kept compactly.
    pub fn push_classic(
        &mut self,
        set: &mut IndicatorSet,
        row: &crate::store::ClassicRow<'_>,
        line: usize,
    ) {
        self.report.records += 1;
        set.push_classic(row, &self.name, &self.file_name, line);
    }
}

/// `s.trim().is_empty()`, answered from the first byte when it is printable ASCII (what
/// nearly every cell starts with): `trim` decodes characters one by one, ten times a row.
pub(crate) fn is_blank(s: &str) -> bool {
    match s.as_bytes().first() {
        None => true,
        // Every whitespace `trim` removes is at or below 0x20 or outside ASCII.
        Some(&c) if c > 0x20 && c < 0x80 => false,
        Some(_) => s.trim().is_empty(),
    }
}

/// A row of a table export, JSON object or CSV record, read by column name.
pub(crate) trait Row {
    /// The column's text: `None` for a missing column or JSON null; `""` stays `Some("")`.
    /// Numbers and booleans are rendered as text, objects and arrays as JSON text.
    fn get(&self, col: &str) -> Option<Cow<'_, str>>;
    /// The column as a timestamp: `Ok(None)` when missing or empty, `Err(text)` when the
    /// text is no timestamp.
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String>;
    /// The column as JSON (nested object in JSON exports, JSON text in CSV).
    fn json(&self, col: &str) -> Option<Value> {
        let t = self.get(col)?;
        serde_json::from_str(&t).ok()
    }
}

/// One JSON object (a table row).
pub(crate) type JsonObject = serde_json::Map<String, Value>;

pub(crate) struct JsonRow<'a>(pub &'a serde_json::Map<String, Value>);

impl Row for JsonRow<'_> {
    fn get(&self, col: &str) -> Option<Cow<'_, str>> {
        match self.0.get(col)? {
            Value::Null => None,
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String> {
        match self.get(col) {
            None => Ok(None),
            Some(t) if is_blank(&t) => Ok(None),
            Some(t) => crate::time::parse_time(&t, None)
                .map(Some)
                .ok_or_else(|| t.into_owned()),
        }
    }
    fn json(&self, col: &str) -> Option<Value> {
        match self.0.get(col)? {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Null => None,
            v => Some(v.clone()),
        }
    }
}

/// The Log Analytics query API answer (`{"tables":[{"columns":[{"name":…}],"rows":[[…]]}]}`)
/// as one object per row, keyed by column name.
fn log_analytics_rows(o: JsonObject) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(Value::Array(tables)) = o.get("tables") else {
        return out;
    };
    for t in tables {
        let names: Vec<&str> = t
            .get("columns")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .map(|c| c.get("name").and_then(Value::as_str).unwrap_or(""))
                    .collect()
            })
            .unwrap_or_default();
        for row in t
            .get("rows")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match row.as_array() {
                Some(cells) => out.push(Value::Object(
                    names
                        .iter()
                        .zip(cells)
                        .map(|(n, v)| (n.to_string(), v.clone()))
                        .collect(),
                )),
                None => out.push(row.clone()),
            }
        }
    }
    out
}

/// Rows of a JSON export: an array, an object wrapping an array in `rows`/`value`, a Log
/// Analytics API answer (`tables`), or JSON lines. Yields (line number, object); lines that are not objects are problems.
pub(crate) fn json_rows(
    text: &str,
    ctx: &mut Ctx<'_>,
    set: &mut IndicatorSet,
) -> Result<Vec<(usize, JsonObject)>, IntelError> {
    let trimmed = text.trim_start();
    let whole: Option<Value> = if trimmed.starts_with('[') {
        Some(serde_json::from_str(trimmed).map_err(|e| IntelError::Json {
            path: ctx.path().to_path_buf(),
            source: e,
        })?)
    } else {
        // One object may be a wrapper ({"rows": [...]}) or the only JSON line.
        serde_json::from_str::<Value>(trimmed).ok()
    };
    let mut out = Vec::new();
    let take_array =
        |a: Vec<Value>, out: &mut Vec<_>, ctx: &mut Ctx<'_>, set: &mut IndicatorSet| {
            for (i, v) in a.into_iter().enumerate() {
                match v {
                    Value::Object(o) => out.push((i + 1, o)),
                    other => ctx.problem(set, i + 1, "not a JSON object", &other.to_string()),
                }
            }
        };
    match whole {
        Some(Value::Array(a)) => take_array(a, &mut out, ctx, set),
        Some(Value::Object(o)) if o.contains_key("tables") => {
            take_array(log_analytics_rows(o), &mut out, ctx, set)
        }
        Some(Value::Object(mut o)) => {
            let wrapped = ["rows", "value"]
                .into_iter()
                .find(|k| matches!(o.get(*k), Some(Value::Array(_))));
            match wrapped.and_then(|k| o.remove(k)) {
                Some(Value::Array(a)) => take_array(a, &mut out, ctx, set),
                _ => out.push((1, o)),
            }
        }
        _ => {
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(o)) => out.push((i + 1, o)),
                    Ok(other) => ctx.problem(set, i + 1, "not a JSON object", &other.to_string()),
                    Err(e) => ctx.problem(set, i + 1, "invalid JSON line", &e.to_string()),
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_blank_is_trim_is_empty() {
        for s in [
            "",
            " ",
            "\t\n\x0B\x0C\r ",
            "\u{85}",
            "\u{A0}",
            "\u{3000}",
            "a",
            " a",
            "\x1F",
            "\x7F",
            "\u{A0}x",
            "é",
            "!",
            "~",
        ] {
            assert_eq!(super::is_blank(s), s.trim().is_empty(), "{s:?}");
        }
        assert!(super::is_blank("\u{2003}\t"));
        assert!(!super::is_blank("\x1F"));
    }

    use super::*;

    fn d(text: &str) -> TiFormat {
        detect(Path::new("x"), text).unwrap()
    }

    #[test]
    fn detects_by_content() {
        assert_eq!(d("; comment\r\n1.10.16.0/20 ; SBL1\r\n"), TiFormat::Text);
        assert_eq!(d("# DstIP\n8.8.8.8\n"), TiFormat::Text);
        assert_eq!(d("{\"cidr\":\"1.10.16.0/20\"}\n"), TiFormat::Text);
        assert_eq!(
            d("TenantId,TimeGenerated [UTC],IndicatorId\n"),
            TiFormat::Sentinel
        );
        assert_eq!(d("[{\"IndicatorId\":\"x\"}]"), TiFormat::Sentinel);
        assert_eq!(
            d("{\"rows\":[{\"ObservableKey\":\"k\"}]}"),
            TiFormat::SentinelStix
        );
        assert_eq!(d("{\"type\":\"bundle\",\"objects\":[]}"), TiFormat::Stix);
        assert_eq!(d("{\"Event\":{}}"), TiFormat::Misp);
        assert_eq!(
            d("uuid,event_id,category,type,value,comment,to_ids,date\n"),
            TiFormat::Misp
        );
        assert_eq!(d("# c\n\"first_seen_utc\",\"dst_ip\"\n"), TiFormat::Csv);
        assert_eq!(d(""), TiFormat::Text);
        assert!(detect(Path::new("x"), "{\"hello\":1}").is_err());
        // Arrays: the first element decides, if the whole text is valid JSON.
        assert_eq!(
            d("[{\"ObservableKey\":\"k\"},\n{\"IndicatorId\":\"x\"}]"),
            TiFormat::SentinelStix
        );
        for bad in [
            "[]",
            "[{\"IndicatorId\":\"x\"},\n{\"x\":1e400}]",
            "[{\"IndicatorId\":\"x\"},\n",
        ] {
            assert!(detect(Path::new("x"), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bom_is_stripped() {
        assert_eq!(decode(b"\xEF\xBB\xBFTenantId"), "TenantId");
    }

    /// Loads `path` line by line (through [`load_path`]) and as a whole text (the path every
    /// other JSON export takes); both must give the same report, skips and indicators.
    fn same_both_ways(path: &Path, format: Option<TiFormat>) -> usize {
        let opts = LoadOptions {
            format,
            ..Default::default()
        };
        let bytes = std::fs::read(path).unwrap();
        let mut head = Vec::new();
        let streamed_format = json_lines_start(&mut &bytes[..], &mut head, &opts).unwrap();
        assert!(streamed_format.is_some(), "{} is streamed", path.display());

        let mut streamed = IndicatorSet::new();
        let rep = load_paths([path], &opts, &mut streamed).unwrap();

        let text = decode(&bytes);
        let format = format.unwrap_or_else(|| detect(path, &text).unwrap());
        assert_eq!(streamed_format, Some(format));
        let mtime = std::fs::metadata(path)
            .unwrap()
            .modified()
            .ok()
            .and_then(|t| Timestamp::try_from(t).ok());
        let mut ctx = Ctx::new(path, format, &opts, mtime);
        let mut whole = IndicatorSet::new();
        sentinel::load(&text, format, &mut ctx, &mut whole).unwrap();

        // Again with lines split across reads of a tiny buffer.
        let mut tiny_ctx = Ctx::new(path, format, &opts, mtime);
        let mut tiny = IndicatorSet::new();
        let mut reader = BufReader::with_capacity(7, &bytes[..]);
        sentinel::load_json_lines(&[], &mut reader, format, &mut tiny_ctx, &mut tiny).unwrap();

        // Again cut in blocks parsed on several threads (and on this one).
        let sizes: &[usize] = if bytes.len() < 1 << 20 {
            &[1, 13, 64, 4096]
        } else {
            &[64 << 10, 1 << 20]
        };
        for &block in sizes {
            for workers in [1, 2, 3] {
                let mut bctx = Ctx::new(path, format, &opts, mtime);
                let mut bset = IndicatorSet::new();
                let mut reader = BufReader::with_capacity(7, &bytes[..]);
                sentinel::load_json_lines_in_blocks(
                    &[],
                    &mut reader,
                    format,
                    &mut bctx,
                    &mut bset,
                    block,
                    workers,
                )
                .unwrap();
                assert_eq!(bctx.report, ctx.report, "block {block}, {workers} workers");
                assert_eq!(bset.skipped(), whole.skipped());
                let x: Vec<&Indicator> = bset.iter().collect();
                let y: Vec<&Indicator> = whole.iter().collect();
                assert!(x == y, "block {block}, {workers} workers");
            }
        }

        assert_eq!(rep.files, vec![ctx.report.clone()]);
        assert_eq!(tiny_ctx.report, ctx.report);
        assert_eq!(streamed.skipped(), whole.skipped());
        assert_eq!(tiny.skipped(), whole.skipped());
        let a: Vec<&Indicator> = streamed.iter().collect();
        let b: Vec<&Indicator> = whole.iter().collect();
        let c: Vec<&Indicator> = tiny.iter().collect();
        assert_eq!(a, b);
        assert_eq!(c, b);
        a.len()
    }

    /// A JSON text loaded by [`sentinel::load`] (fast paths) and with a `Value` per row:
    /// same report and indicators, or the same error.
    fn same_as_values(text: &str, format: TiFormat) -> usize {
        let opts = LoadOptions::default();
        let path = Path::new("x.json");
        let mut fast_ctx = Ctx::new(path, format, &opts, None);
        let mut fast = IndicatorSet::new();
        let fast_res = sentinel::load(text, format, &mut fast_ctx, &mut fast);
        let mut slow_ctx = Ctx::new(path, format, &opts, fast_ctx.file_time.into());
        let mut slow = IndicatorSet::new();
        let slow_res = sentinel::load_via_values(text, format, &mut slow_ctx, &mut slow);
        match (fast_res, slow_res) {
            (Ok(()), Ok(())) => {}
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string());
                return 0;
            }
            (a, b) => panic!("fast {a:?}, with values {b:?}"),
        }
        assert_eq!(fast_ctx.report, slow_ctx.report);
        assert_eq!(fast.skipped(), slow.skipped());
        let a: Vec<&Indicator> = fast.iter().collect();
        let b: Vec<&Indicator> = slow.iter().collect();
        assert_eq!(a, b);
        a.len()
    }

    #[test]
    fn json_arrays_fast_as_values() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let semantics = std::fs::read_to_string(fixtures.join("sentinel_semantics.json")).unwrap();
        assert!(semantics.trim_start().starts_with('['));
        assert_eq!(same_as_values(&semantics, TiFormat::Sentinel), 25);
        let odd = r#" [ {"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"a","NetworkIP":"104.40.82.76","Active":true,"ConfidenceScore":75.5,"Tags":["c2"],"Url":null},
            [1,2], "text", null, 7, -1.5e3, {},
            {"TimeGenerated":"soon","IndicatorId":"d","NetworkIP":"52.178.1.2"},
            {"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"e","IndicatorId":"f","NetworkSourceIP":"52.178.1.3","Data":{"x":{"y":[true]}}},
            {"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"g","NetworkIP":"not-an-ip"} ]
        "#;
        assert_eq!(same_as_values(odd, TiFormat::Sentinel), 2);
        let opts = LoadOptions::default();
        let mut ctx = Ctx::new(Path::new("x.json"), TiFormat::Sentinel, &opts, None);
        let mut set = IndicatorSet::new();
        sentinel::load(odd, TiFormat::Sentinel, &mut ctx, &mut set).unwrap();
        let listed: Vec<(&str, &str, &str)> = ctx
            .report
            .problems
            .iter()
            .map(|p| (p.origin.as_str(), p.reason.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("x.json:2", "not a JSON object", "[1,2]"),
                ("x.json:3", "not a JSON object", "\"text\""),
                ("x.json:4", "not a JSON object", "null"),
                ("x.json:5", "not a JSON object", "7"),
                ("x.json:6", "not a JSON object", "-1500.0"),
                ("x.json:8", "unparseable TimeGenerated", "soon"),
                ("x.json:10", "unparseable IP", "not-an-ip"),
            ]
        );
        // Invalid JSON: the same error, nothing loaded.
        for bad in [
            r#"[{"IndicatorId":"a","NetworkIP":"52.178.1.2","TimeGenerated":"2025-06-12T00:00:00Z"}, {"x":1e400}]"#,
            r#"[{"IndicatorId":"a"},"#,
            r#"[{"IndicatorId":"a"}] trailing"#,
            "[1,]",
        ] {
            assert_eq!(same_as_values(bad, TiFormat::Sentinel), 0, "{bad}");
            let mut ctx = Ctx::new(Path::new("x.json"), TiFormat::Sentinel, &opts, None);
            let mut set = IndicatorSet::new();
            assert!(sentinel::load(bad, TiFormat::Sentinel, &mut ctx, &mut set).is_err());
            assert!(set.is_empty() && set.skipped().is_empty(), "{bad}");
        }
    }

    fn fixture_as_lines(name: &str, dir: &Path) -> PathBuf {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join(name)).unwrap()).unwrap();
        let rows = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("rows") {
                Some(Value::Array(a)) => a,
                _ => panic!("{name}: no rows"),
            },
            _ => panic!("{name}: not rows"),
        };
        let mut out = String::new();
        for r in rows {
            out.push_str(&r.to_string());
            out.push('\n');
        }
        let p = dir.join(format!("{name}l"));
        std::fs::write(&p, out).unwrap();
        p
    }

    #[test]
    fn json_lines_streamed_as_whole_text() {
        let dir = std::env::temp_dir().join(format!("kvsentry-intel-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            same_both_ways(&fixture_as_lines("sentinel_semantics.json", &dir), None),
            25
        );
        assert_eq!(
            same_both_ways(
                &fixture_as_lines("sentinel_threatintelindicators.json", &dir),
                None
            ),
            4
        );

        // Everything odd a JSON-lines export can hold: BOM, blank lines, CRLF, a line that is
        // no object, one that is no JSON, invalid UTF-8, escapes, numbers and booleans, a
        // nested object, a repeated key, a bad time, no final newline.
        let mut odd: Vec<u8> = b"\xEF\xBB\xBF\r\n  \n".to_vec();
        odd.extend_from_slice(
            br#"{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"a","NetworkIP":"104.40.82.76","Active":true,"ConfidenceScore":75.5,"ExpirationDateTime":"2025-07-01T00:00:00Z","Description":"say \"hi\" \u00e9","Tags":["c2","x"],"SourceSystem":"S"}"#,
        );
        odd.extend_from_slice(b"\r\n[1,2]\nnot json\n\n");
        odd.extend_from_slice(
            br#"{"TimeGenerated":"2025-06-11T00:00:00Z","IndicatorId":"b","IndicatorId":"c","NetworkIP":"","NetworkDestinationIP":"52.178.1.1","Active":"True","ConfidenceScore":"90","Description":"bad "#,
        );
        odd.extend_from_slice(b"\xFF byte\",\"Data\":{\"x\":[1,2]},\"Other\":{\"y\":1e3}}\n");
        odd.extend_from_slice(
            br#"{"TimeGenerated":"soon","IndicatorId":"d","NetworkIP":"52.178.1.2"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"e","NetworkIP":"not-an-ip"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"f","Url":"http://x"}
{"TimeGenerated":"2025-06-12T00:00:00Z","IndicatorId":"g","EmailSourceIpAddress":"2a01:111:f400::1","ExpirationDateTime":null,"Active":1}"#,
        );
        let p = dir.join("odd.jsonl");
        std::fs::write(&p, &odd).unwrap();
        assert_eq!(same_both_ways(&p, None), 3);
        assert_eq!(same_both_ways(&p, Some(TiFormat::Sentinel)), 3);
        let mut set = IndicatorSet::new();
        let rep = load_path(&p, None, &mut set).unwrap();
        let reasons: Vec<(&str, &str)> = rep
            .problems()
            .map(|p| (p.origin.rsplit(':').next().unwrap(), p.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("4", "not a JSON object"),
                ("5", "invalid JSON line"),
                ("8", "unparseable TimeGenerated"),
                ("9", "unparseable IP"),
            ]
        );
        let c = set.iter().find(|i| i.id == "c").unwrap();
        assert_eq!(c.description.as_deref(), Some("bad \u{FFFD} byte"));
        assert_eq!(c.confidence, Some(90));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Blocks parsed on several threads and merged give what the sequential load gives,
    /// down to the problems listed (more than [`MAX_PROBLEMS_LISTED`], of both kinds), their
    /// lines and the order of versions with equal `TimeGenerated`.
    #[test]
    fn json_lines_in_blocks_as_sequential() {
        let mut text = String::new();
        for i in 0..3000 {
            let line = match i % 5 {
                0 => "not json".to_string(),
                1 => "[1]".to_string(),
                2 => format!(
                    r#"{{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"id{}","NetworkIP":"52.178.{}.{}","Description":"row {i}"}}"#,
                    i % 7,
                    i % 250,
                    i % 3
                ),
                3 => format!(
                    r#"{{"TimeGenerated":"2025-06-10T00:00:00Z","IndicatorId":"id{i}","NetworkIP":"ip{i}"}}"#
                ),
                _ => String::new(),
            };
            text.push_str(&line);
            text.push('\n');
        }
        text.push_str(r#"{"TimeGenerated":"2025-06-11T00:00:00Z","IndicatorId":"last","NetworkIP":"104.40.82.76"}"#);
        let bytes = text.as_bytes();
        let opts = LoadOptions::default();
        let path = Path::new("blocks.jsonl");
        let now = Some(Timestamp::UNIX_EPOCH);
        let mut seq_ctx = Ctx::new(path, TiFormat::Sentinel, &opts, now);
        let mut seq = IndicatorSet::new();
        sentinel::load_json_lines_in_blocks(
            &[],
            &mut &bytes[..],
            TiFormat::Sentinel,
            &mut seq_ctx,
            &mut seq,
            usize::MAX,
            1,
        )
        .unwrap();
        assert_eq!(seq.len(), 601);
        assert_eq!(seq_ctx.report.records, 601);
        assert_eq!(seq_ctx.report.problems.len(), MAX_PROBLEMS_LISTED);
        let first: Vec<&str> = seq_ctx.report.problems[..3]
            .iter()
            .map(|p| p.origin.as_str())
            .collect();
        assert_eq!(
            first,
            ["blocks.jsonl:1", "blocks.jsonl:2", "blocks.jsonl:6"]
        );
        assert_eq!(
            seq_ctx.report.problems.last().unwrap().origin,
            "blocks.jsonl:2497"
        );
        for (block, workers) in [(1, 2), (100, 2), (1000, 3), (9000, 4)] {
            let mut ctx = Ctx::new(path, TiFormat::Sentinel, &opts, now);
            let mut set = IndicatorSet::new();
            // The first line already read, as json_lines_start leaves it.
            let (head, rest) = bytes.split_at(9);
            assert_eq!(head, b"not json\n");
            let mut reader = BufReader::with_capacity(64, rest);
            sentinel::load_json_lines_in_blocks(
                head,
                &mut reader,
                TiFormat::Sentinel,
                &mut ctx,
                &mut set,
                block,
                workers,
            )
            .unwrap();
            assert_eq!(ctx.report, seq_ctx.report, "block {block}");
            assert_eq!(set.skipped(), seq.skipped());
            let a: Vec<&Indicator> = set.iter().collect();
            let b: Vec<&Indicator> = seq.iter().collect();
            assert!(a == b, "block {block}");
        }
    }

    #[test]
    fn origin_is_file_colon_line() {
        let opts = LoadOptions::default();
        let ctx = Ctx::new(Path::new("ti/x.jsonl"), TiFormat::Sentinel, &opts, None);
        assert_eq!(ctx.origin(0), "ti/x.jsonl:0");
        assert_eq!(ctx.origin(7), "ti/x.jsonl:7");
        assert_eq!(ctx.origin(1234567890), "ti/x.jsonl:1234567890");
        assert_eq!(ctx.origin(usize::MAX), format!("ti/x.jsonl:{}", usize::MAX));
    }

    #[test]
    fn crlf_line_numbers() {
        let text = "a,b\r\n1,2\r\n3,4\r\n";
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let mut lines = LineCounter::new(text);
        let got: Vec<usize> = rdr
            .records()
            .map(|r| lines.of_offset(r.unwrap().position().map(|p| p.byte() as usize)))
            .collect();
        assert_eq!(got, [2, 3]);
    }
}
