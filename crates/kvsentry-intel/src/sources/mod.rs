//! Loaders: every file is auto-detected (or forced with a [`TiFormat`]) and its rows become
//! [`Indicator`] versions in an [`IndicatorSet`]. A bad row never stops a load: it is
//! counted, with its `file:line`, in the [`LoadReport`].

pub mod csvgen;
pub mod misp;
pub mod sentinel;
pub mod stix;
pub mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
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
    "json", "jsonl", "ndjson", "csv", "tsv", "txt", "netset", "ipset", "lst", "list",
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
    let bytes = std::fs::read(path).map_err(io)?;
    let text = decode(&bytes);
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| Timestamp::try_from(t).ok());
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
        message: format!("cannot tell the threat-intel format ({why}); name it with a format"),
    };
    let Some(first) = first_data_line(text) else {
        return Ok(TiFormat::Text); // empty or only comments: an empty list
    };
    if first.starts_with('{') || first.starts_with('[') {
        let sample: Option<Value> = serde_json::from_str(text.trim())
            .ok()
            .or_else(|| serde_json::from_str(first).ok());
        let Some(sample) = sample else {
            return Err(unknown("JSON that does not parse"));
        };
        return json_kind(&sample).ok_or_else(|| unknown("unrecognised JSON"));
    }
    if let Some(v) = text::data_value(first) {
        if crate::model::parse_network(v).is_some() {
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

    /// The line of a record (or of an error) read by a csv reader over the same text.
    pub fn of(&mut self, pos: Option<&csv::Position>) -> usize {
        // With CRLF the reader ends a record at `\r` and reports the next one as starting at
        // the `\n`: skip line terminators to reach the record's first byte.
        pos.map(|p| {
            let mut b = p.byte() as usize;
            while matches!(self.text.get(b), Some(b'\r' | b'\n')) {
                b += 1;
            }
            self.line_at(b)
        })
        .unwrap_or(0)
    }
}

/// Per-file loading context: names origins, counts skips and problems.
pub(crate) struct Ctx<'a> {
    pub name: String,
    pub opts: &'a LoadOptions,
    pub report: FileReport,
    pub file_time: Timestamp,
}

impl<'a> Ctx<'a> {
    fn new(path: &Path, format: TiFormat, opts: &'a LoadOptions, mtime: Option<Timestamp>) -> Self {
        Ctx {
            name: path.display().to_string(),
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
        format!("{}:{}", self.name, line)
    }

    /// The file's short name, used as the source of plain lists.
    pub fn file_name(&self) -> String {
        self.report
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone())
    }

    pub fn path(&self) -> &Path {
        &self.report.path
    }

    /// Counts a skipped row without listing it (e.g. a hash indicator: not a problem).
    pub fn skip(&mut self, set: &mut IndicatorSet, reason: &str) {
        *self.report.skipped.entry(reason.to_string()).or_default() += 1;
        set.note_skipped(reason, 1);
    }

    /// Counts and lists a row that could not be used.
    pub fn problem(&mut self, set: &mut IndicatorSet, line: usize, reason: &str, value: &str) {
        self.skip(set, reason);
        if self.report.problems.len() < MAX_PROBLEMS_LISTED {
            self.report.problems.push(Problem {
                origin: self.origin(line),
                reason: reason.to_string(),
                value: value.chars().take(200).collect(),
            });
        }
    }

    pub fn push(&mut self, set: &mut IndicatorSet, ind: Indicator) {
        self.report.records += 1;
        set.push(ind);
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
            Some(t) if t.trim().is_empty() => Ok(None),
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
    }

    #[test]
    fn bom_is_stripped() {
        assert_eq!(decode(b"\xEF\xBB\xBFTenantId"), "TenantId");
    }

    #[test]
    fn crlf_line_numbers() {
        let text = "a,b\r\n1,2\r\n3,4\r\n";
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let mut lines = LineCounter::new(text);
        let got: Vec<usize> = rdr
            .records()
            .map(|r| lines.of(r.unwrap().position()))
            .collect();
        assert_eq!(got, [2, 3]);
    }
}
