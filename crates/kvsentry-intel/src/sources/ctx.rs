//! How to load ([`LoadOptions`]), and the per-file loading context: origins, skips,
//! problems and versions added.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;

use super::format::TiFormat;
use super::report::{FileReport, MAX_PROBLEMS_LISTED, Problem};
use crate::model::Indicator;
use crate::set::IndicatorSet;

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
    pub(super) fn new(
        path: &Path,
        format: TiFormat,
        opts: &'a LoadOptions,
        mtime: Option<Timestamp>,
    ) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_file_colon_line() {
        let opts = LoadOptions::default();
        let ctx = Ctx::new(Path::new("ti/x.jsonl"), TiFormat::Sentinel, &opts, None);
        assert_eq!(ctx.origin(0), "ti/x.jsonl:0");
        assert_eq!(ctx.origin(7), "ti/x.jsonl:7");
        assert_eq!(ctx.origin(1234567890), "ti/x.jsonl:1234567890");
        assert_eq!(ctx.origin(usize::MAX), format!("ti/x.jsonl:{}", usize::MAX));
    }
}
