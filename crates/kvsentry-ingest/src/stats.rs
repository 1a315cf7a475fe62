//! What a read did: per-form counts, skipped records by reason, and the first few notes.

use std::collections::BTreeMap;
use std::fmt;

use crate::{Foreign, LogFormat};

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
    /// other Azure resource; [`ReadStats::managed_hsm`] counts the Managed HSM ones).
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

    /// A stable machine name (`malformed_json`, `bad_time`, ...).
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

impl SkipReason {
    /// The reason in a user's words, for what is printed (`unreadable time`, ...).
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::MalformedJson => "malformed JSON",
            SkipReason::MalformedCsv => "malformed CSV row",
            SkipReason::NotARecord => "not a record",
            SkipReason::BadTime => "unreadable time",
            SkipReason::MissingField => "missing operation name",
            SkipReason::OtherCategory => "other diagnostic categories",
            SkipReason::NotKeyVault => "not Key Vault records",
        }
    }
}

/// The reason in a user's words ([`SkipReason::label`]).
impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An input that held no log of a form kvsentry reads, and what it held instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignInput {
    /// The input's index, as given to [`crate::read_input`].
    pub source: u32,
    /// The input's display name (filled in as for [`SkipNote::file`]).
    pub file: String,
    pub what: Foreign,
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
    /// Of the records skipped as [`SkipReason::NotKeyVault`], those of a Managed HSM (out of
    /// scope for the Key Vault rules, and expected: Azure writes both to one container).
    pub managed_hsm: u64,
    /// Records skipped as [`SkipReason::OtherCategory`], per category (or `table X`,
    /// `dataset X`), for the first [`MAX_NOTES`] names met.
    pub other_categories: BTreeMap<String, u64>,
    /// Inputs that held no log of a form kvsentry reads (empty, another product's logs,
    /// unknown), the first [`MAX_NOTES`]; `empty_files` and `failed_files` count them all.
    pub foreign: Vec<ForeignInput>,
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
        if reason != SkipReason::OtherCategory {
            return self.note(source, line, reason, detail);
        }
        let detail: String = detail.into();
        // The detail names the category (`category X`); only skipped records pay this.
        let name = detail.strip_prefix("category ").unwrap_or(&detail);
        if let Some(n) = self.other_categories.get_mut(name) {
            *n += 1;
        } else if self.other_categories.len() < MAX_NOTES {
            self.other_categories.insert(name.to_string(), 1);
        }
        self.note(source, line, reason, detail);
    }

    fn note(&mut self, source: u32, line: u64, reason: SkipReason, detail: impl Into<String>) {
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

    /// Notes an input that held no log (see [`ReadStats::foreign`]).
    pub fn foreign_input(&mut self, source: u32, what: Foreign) {
        if self.foreign.len() < MAX_NOTES {
            self.foreign.push(ForeignInput {
                source,
                file: String::new(),
                what,
            });
        }
    }

    /// Records skipped because they are not Key Vault audit events by design (other
    /// categories, other resources, Managed HSM), as opposed to damaged ones.
    pub fn filtered(&self) -> u64 {
        self.skipped(SkipReason::OtherCategory) + self.skipped(SkipReason::NotKeyVault)
    }

    /// Gives the notes of `source` that have no file name yet the input's display name.
    pub fn name_source(&mut self, source: u32, display: &str) {
        for n in &mut self.notes {
            if n.source == source && n.file.is_empty() {
                n.file = display.to_string();
            }
        }
        for f in &mut self.foreign {
            if f.source == source && f.file.is_empty() {
                f.file = display.to_string();
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
        self.managed_hsm += other.managed_hsm;
        for (c, n) in other.other_categories {
            if let Some(e) = self.other_categories.get_mut(&c) {
                *e += n;
            } else if self.other_categories.len() < MAX_NOTES {
                self.other_categories.insert(c, n);
            }
        }
        for f in other.foreign {
            if self.foreign.len() >= MAX_NOTES {
                break;
            }
            self.foreign.push(f);
        }
    }

    /// A one-line summary, e.g. `2 files (storage 2), 10 records, 8 events, 2 skipped
    /// (malformed JSON 1, other diagnostic categories 1), 1 invalid caller IP`.
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
            let mut r: Vec<String> = Vec::new();
            for (&reason, &n) in &self.skipped {
                let hsm = if reason == SkipReason::NotKeyVault {
                    self.managed_hsm.min(n)
                } else {
                    0
                };
                if n > hsm {
                    r.push(format!("{reason} {}", n - hsm));
                }
                if hsm > 0 {
                    r.push(format!("Managed HSM records {hsm}"));
                }
            }
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
            "2 files (storage 1, ecs 1), 3 records, 7 events, 26 skipped (malformed JSON 1, unreadable time 25), 4 invalid caller IPs"
        );
        assert!(
            a.to_string()
                .contains("\n  a.json:7: malformed JSON: expected value")
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
