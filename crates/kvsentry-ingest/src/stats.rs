//! What a read did: per-form counts, skipped records by reason, and the first few notes.

use std::collections::BTreeMap;
use std::fmt;

use crate::LogFormat;

/// How many notes [`ReadStats`] keeps; the counts go on beyond it.
pub const MAX_NOTES: usize = 20;

/// Why a record was not turned into an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The line or document is not valid JSON.
    MalformedJson,
    /// A CSV row could not be read.
    MalformedCsv,
    /// A JSON value that is not an object (a number, a string, ...).
    NotARecord,
    /// No time, or a time in no known format.
    BadTime,
    /// A required field (the operation name) is missing.
    MissingField,
    /// Another diagnostic category (`AzurePolicyEvaluationDetails`, `AllMetrics`, ...) or
    /// another Log Analytics table.
    OtherCategory,
    /// Another resource type than a Key Vault vault (Managed HSM unless asked for, or any
    /// other Azure resource).
    NotKeyVault,
}

impl SkipReason {
    pub const ALL: [SkipReason; 7] = [
        SkipReason::MalformedJson,
        SkipReason::MalformedCsv,
        SkipReason::NotARecord,
        SkipReason::BadTime,
        SkipReason::MissingField,
        SkipReason::OtherCategory,
        SkipReason::NotKeyVault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MalformedJson => "malformed_json",
            SkipReason::MalformedCsv => "malformed_csv",
            SkipReason::NotARecord => "not_a_record",
            SkipReason::BadTime => "bad_time",
            SkipReason::MissingField => "missing_field",
            SkipReason::OtherCategory => "other_category",
            SkipReason::NotKeyVault => "not_key_vault",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skipped record, kept for the user to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipNote {
    /// The input's index, as given to [`crate::read_input`] / [`crate::parse_lines`].
    pub source: u32,
    /// The input's display name (filled in by [`crate::read_input`], or by
    /// [`ReadStats::name_source`] after a parallel read; empty until then).
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    pub reason: SkipReason,
    pub detail: String,
}

/// Counts for one form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormStats {
    /// Files read as this form.
    pub files: u64,
    /// Records seen (delivered or skipped).
    pub records: u64,
    /// Events delivered.
    pub events: u64,
}

/// What a read did. Worker threads keep one each and [`ReadStats::merge`] them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Per detected (or forced) form.
    pub forms: BTreeMap<LogFormat, FormStats>,
    /// Records skipped, per reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Delivered events whose caller address is not an IP (e.g. `<Redacted>`).
    pub invalid_caller_ip: u64,
    /// Bytes of input read (after decompression).
    pub bytes: u64,
    /// Inputs that held nothing (empty or only whitespace).
    pub empty_files: u64,
    /// Inputs that stopped with an error ([`crate::IngestError`]), wholly or part-way.
    pub failed_files: u64,
    /// The first [`MAX_NOTES`] skipped records.
    pub notes: Vec<SkipNote>,
    /// The form each input (by source index) was read as.
    pub source_forms: BTreeMap<u32, LogFormat>,
}

impl ReadStats {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn form(&mut self, f: LogFormat) -> &mut FormStats {
        self.forms.entry(f).or_default()
    }

    /// Counts a skipped record and keeps a note of it while there is room.
    pub fn skip(&mut self, source: u32, line: u64, reason: SkipReason, detail: impl Into<String>) {
        *self.skipped.entry(reason).or_default() += 1;
        if self.notes.len() < MAX_NOTES {
            let mut detail: String = detail.into();
            if detail.len() > 300 {
                let mut cut = 300;
                while !detail.is_char_boundary(cut) {
                    cut -= 1;
                }
                detail.truncate(cut);
                detail.push('…');
            }
            self.notes.push(SkipNote {
                source,
                file: String::new(),
                line,
                reason,
                detail,
            });
        }
    }

    /// Skipped records for one reason.
    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped.get(&reason).copied().unwrap_or(0)
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Events delivered, all forms together.
    pub fn events(&self) -> u64 {
        self.forms.values().map(|f| f.events).sum()
    }

    /// Records seen, all forms together.
    pub fn records(&self) -> u64 {
        self.forms.values().map(|f| f.records).sum()
    }

    /// Files read, all forms together (empty and unreadable ones are counted apart).
    pub fn files(&self) -> u64 {
        self.forms.values().map(|f| f.files).sum()
    }

    /// Gives the notes of `source` that have no file name yet the input's display name.
    pub fn name_source(&mut self, source: u32, display: &str) {
        for n in &mut self.notes {
            if n.source == source && n.file.is_empty() {
                n.file = display.to_string();
            }
        }
    }

    /// Adds another read's counts (a worker's, a file's) to these.
    pub fn merge(&mut self, other: ReadStats) {
        for (f, s) in other.forms {
            let e = self.form(f);
            e.files += s.files;
            e.records += s.records;
            e.events += s.events;
        }
        for (r, n) in other.skipped {
            *self.skipped.entry(r).or_default() += n;
        }
        self.invalid_caller_ip += other.invalid_caller_ip;
        self.bytes += other.bytes;
        self.empty_files += other.empty_files;
        self.failed_files += other.failed_files;
        self.source_forms.extend(other.source_forms);
        for n in other.notes {
            if self.notes.len() >= MAX_NOTES {
                break;
            }
            self.notes.push(n);
        }
    }

    /// A one-line summary, e.g. `2 files (storage 2), 10 records, 8 events, 2 skipped
    /// (malformed_json 1, other_category 1), 1 invalid caller IP`.
    pub fn summary(&self) -> String {
        let forms: Vec<String> = self
            .forms
            .iter()
            .filter(|(_, s)| s.files > 0)
            .map(|(f, s)| format!("{f} {}", s.files))
            .collect();
        let mut out = format!("{} files", self.files());
        if !forms.is_empty() {
            out.push_str(&format!(" ({})", forms.join(", ")));
        }
        out.push_str(&format!(
            ", {} records, {} events, {} skipped",
            self.records(),
            self.events(),
            self.skipped_total()
        ));
        if !self.skipped.is_empty() {
            let r: Vec<String> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            out.push_str(&format!(" ({})", r.join(", ")));
        }
        if self.invalid_caller_ip > 0 {
            out.push_str(&format!(
                ", {} invalid caller IP{}",
                self.invalid_caller_ip,
                if self.invalid_caller_ip == 1 { "" } else { "s" }
            ));
        }
        if self.empty_files > 0 {
            out.push_str(&format!(", {} empty", self.empty_files));
        }
        if self.failed_files > 0 {
            out.push_str(&format!(", {} with errors", self.failed_files));
        }
        out
    }
}

impl fmt::Display for ReadStats {
    /// The summary line, then one line per note (`file:line: reason: detail`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        for n in &self.notes {
            let file = if n.file.is_empty() {
                format!("input #{}", n.source)
            } else {
                n.file.clone()
            };
            write!(f, "\n  {file}:{}: {}: {}", n.line, n.reason, n.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_and_caps_notes() {
        let mut a = ReadStats::new();
        a.form(LogFormat::Storage).files = 1;
        a.form(LogFormat::Storage).records = 3;
        a.form(LogFormat::Storage).events = 2;
        a.skip(1, 7, SkipReason::MalformedJson, "expected value");
        let mut b = ReadStats::new();
        b.form(LogFormat::Storage).events = 5;
        b.form(LogFormat::Ecs).files = 1;
        for i in 0..25 {
            b.skip(2, i, SkipReason::BadTime, "x");
        }
        b.invalid_caller_ip = 4;
        a.merge(b);
        assert_eq!(a.events(), 7);
        assert_eq!(a.files(), 2);
        assert_eq!(a.skipped(SkipReason::BadTime), 25);
        assert_eq!(a.skipped_total(), 26);
        assert_eq!(a.notes.len(), MAX_NOTES);
        assert_eq!(a.notes[0].line, 7);
        a.name_source(1, "a.json");
        assert_eq!(a.notes[0].file, "a.json");
        assert_eq!(a.notes[1].file, "");
        assert_eq!(
            a.summary(),
            "2 files (storage 1, ecs 1), 3 records, 7 events, 26 skipped (malformed_json 1, bad_time 25), 4 invalid caller IPs"
        );
        assert!(
            a.to_string()
                .contains("\n  a.json:7: malformed_json: expected value")
        );
    }

    #[test]
    fn reasons_have_names() {
        let names: Vec<&str> = SkipReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "malformed_json",
                "malformed_csv",
                "not_a_record",
                "bad_time",
                "missing_field",
                "other_category",
                "not_key_vault"
            ]
        );
    }
}
