//! A CSV table of indicators: its header (column names, zones named in them, delimiter) and
//! its rows, read by the Sentinel, MISP and generic CSV loaders.

use std::borrow::Cow;
use std::collections::HashMap;

use foldhash::fast::RandomState;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::ctx::Ctx;
use super::rows::{Row, is_blank};
use crate::error::IntelError;
use crate::time::{parse_time, split_header, zone_from_header};

/// A CSV header: base column name → (index, zone from `Name [Zone]`).
pub(crate) struct CsvTable {
    pub cols: HashMap<String, (usize, Option<TimeZone>), RandomState>,
    lower: HashMap<String, usize, RandomState>,
    pub headers: Vec<String>,
    pub delimiter: u8,
    pub comment: u8,
}

impl CsvTable {
    /// Reads the header (after `#` comment lines), resolving zones named in it; an unknown
    /// zone is an error naming the column.
    pub fn new(text: &str, ctx: &Ctx<'_>, comment: u8) -> Result<Self, IntelError> {
        let header_line = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with(comment as char))
            .unwrap_or("");
        let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() {
            b';'
        } else if header_line.matches('\t').count() > header_line.matches(',').count() {
            b'\t'
        } else {
            b','
        };
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .comment(Some(comment))
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| IntelError::Csv {
                path: ctx.path().to_path_buf(),
                source: e,
            })?
            .clone();
        let mut cols: HashMap<String, (usize, Option<TimeZone>), RandomState> = HashMap::default();
        let mut lower: HashMap<String, usize, RandomState> = HashMap::default();
        let mut names = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let (base, zone) = split_header(h);
            let tz = match zone {
                Some(z) => Some(zone_from_header(z).ok_or_else(|| IntelError::UnknownZone {
                    path: ctx.path().to_path_buf(),
                    column: h.to_string(),
                    zone: z.to_string(),
                })?),
                None => None,
            };
            cols.entry(base.to_string()).or_insert((i, tz));
            lower.entry(base.trim().to_ascii_lowercase()).or_insert(i);
            names.push(base.to_string());
        }
        Ok(CsvTable {
            cols,
            lower,
            headers: names,
            delimiter,
            comment,
        })
    }

    /// A reader positioned after the header.
    pub fn reader<'t>(&self, text: &'t str) -> csv::Reader<&'t [u8]> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .comment(Some(self.comment))
            .flexible(true)
            .from_reader(text.as_bytes());
        let _ = rdr.headers();
        rdr
    }

    /// A reader of rows only (the text starts after the header).
    pub fn reader_without_header<'t>(&self, text: &'t str) -> csv::Reader<&'t [u8]> {
        csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .comment(Some(self.comment))
            .flexible(true)
            .has_headers(false)
            .from_reader(text.as_bytes())
    }

    /// Index of a column by case-insensitive base name.
    pub fn find(&self, name: &str) -> Option<usize> {
        if let Some(c) = self.cols.get(name) {
            return Some(c.0);
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.lower.get(&name.to_ascii_lowercase()).copied()
        } else {
            self.lower.get(name).copied()
        }
    }
}

pub(crate) struct CsvRow<'a> {
    pub rec: &'a csv::StringRecord,
    pub table: &'a CsvTable,
}

impl Row for CsvRow<'_> {
    fn get(&self, col: &str) -> Option<Cow<'_, str>> {
        let i = self.table.find(col)?;
        self.rec.get(i).map(Cow::Borrowed)
    }
    fn time(&self, col: &str) -> Result<Option<Timestamp>, String> {
        let Some(i) = self.table.find(col) else {
            return Ok(None);
        };
        let zone = self.table.cols.get(col).and_then(|c| c.1.as_ref());
        match self.rec.get(i) {
            None => Ok(None),
            Some(t) if is_blank(t) => Ok(None),
            Some(t) => parse_time(t, zone).map(Some).ok_or_else(|| t.to_string()),
        }
    }
}
