//! What a load reports: per file, the versions added and the rows it could not use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::format::TiFormat;

/// At most this many problems are listed per file; all are counted.
pub(crate) const MAX_PROBLEMS_LISTED: usize = 1000;

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
    /// ([`FEED_EXTENSIONS`](super::FEED_EXTENSIONS)), left alone (a README next to the feeds must not fail the load).
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
