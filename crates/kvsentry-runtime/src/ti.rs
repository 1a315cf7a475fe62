//! Loading threat intelligence for a hunt: every `--ti` path, whatever its form, into one
//! [`IndicatorSet`].
//!
//! Files and directories go through `kvsentry-intel`'s detecting loaders; a directory that
//! holds a TAXII store written by `kvsentry ti sync` (it has a `state.json`) is read through
//! `kvsentry-stix` instead, so a synced collection can be hunted with offline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kvsentry_intel::sources::stix::{SKIP_NOT_INDICATOR, SKIP_SUPERSEDED};
use kvsentry_intel::{IndicatorSet, LoadOptions, LoadReport, indicators_from_stix};

/// What was loaded from where.
#[derive(Debug, Default)]
pub struct TiLoad {
    pub set: IndicatorSet,
    pub report: LoadReport,
    /// TAXII stores read.
    pub taxii_stores: Vec<TaxiiStoreLoad>,
}

/// What one TAXII store written by `ti sync` contributed.
#[derive(Debug)]
pub struct TaxiiStoreLoad {
    pub path: PathBuf,
    /// Indicator versions added.
    pub versions: usize,
    /// Objects not turned into an indicator version, per reason.
    pub skipped: BTreeMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum TiError {
    #[error(transparent)]
    Intel(#[from] kvsentry_intel::IntelError),
    #[error(transparent)]
    Taxii(#[from] kvsentry_stix::TaxiiError),
    /// A path given as threat intelligence from which no file could be read as such (a
    /// folder of logs given by mistake, an empty folder).
    #[error("{path}: no threat intelligence could be read from it: {found}")]
    NothingRead { path: PathBuf, found: String },
}

impl TiLoad {
    /// One warning per feed that was read but holds no usable IP indicator: the hunt goes
    /// on without it, and the user should know.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.report.files.iter().filter(|f| f.records == 0) {
            let skipped: usize = f.skipped.values().sum();
            let why = match f.skipped.iter().max_by_key(|(_, n)| **n) {
                Some((reason, _)) => {
                    format!("{skipped} record(s) skipped, most for: {reason}")
                }
                None => "it holds no records".to_string(),
            };
            out.push(format!(
                "{} (read as {}) holds no usable IP indicator: {why}",
                f.path.display(),
                f.format
            ));
        }
        for t in self.taxii_stores.iter().filter(|t| t.versions == 0) {
            let skipped: usize = t.skipped.values().sum();
            out.push(format!(
                "{} (TAXII store) holds no usable IP indicator: {skipped} object(s) skipped",
                t.path.display()
            ));
        }
        out
    }
}

/// At most this many files are checked for being logs (a big log folder need not be read
/// to name the mistake).
const LOG_CHECKS: usize = 100;

/// The log form of a file kvsentry reads as Key Vault logs, if it is one (from its head,
/// read as hunt reads it).
fn log_form(path: &Path) -> Option<kvsentry_ingest::LogFormat> {
    kvsentry_ingest::detect_input(&kvsentry_ingest::Input::file(path)).map(|(form, _)| form)
}

/// What a path that yielded no threat intelligence holds, for the error.
fn describe_nothing(report: &LoadReport) -> String {
    let failed = report.failed_files.len();
    let other = report.skipped_files.len();
    if failed == 0 && other == 0 {
        return "no files".into();
    }
    let mut parts = Vec::new();
    if failed > 0 {
        // Logs given as intel are the likely mistake: say so when the files are logs.
        let mut forms: BTreeMap<&'static str, usize> = BTreeMap::new();
        for f in report.failed_files.iter().take(LOG_CHECKS) {
            if let Some(form) = log_form(&f.path) {
                *forms.entry(form.name()).or_default() += 1;
            }
        }
        let logs = if forms.is_empty() {
            String::new()
        } else {
            let n: usize = forms.values().sum();
            let names: Vec<&str> = forms.keys().copied().collect();
            format!(
                ", {n} of them logs in a form hunt reads ({}), to give as PATH, not --ti",
                names.join(", ")
            )
        };
        let first = report
            .failed_files
            .first()
            .map(|f| format!(" (e.g. {})", f.error))
            .unwrap_or_default();
        parts.push(format!(
            "{failed} file(s) in no threat-intelligence format{logs}{first}"
        ));
    }
    if other > 0 {
        let names: Vec<String> = report
            .skipped_files
            .iter()
            .take(3)
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        parts.push(format!(
            "{other} file(s) not named like a feed ({}{})",
            names.join(", "),
            if other > 3 { ", ..." } else { "" }
        ));
    }
    parts.join("; ")
}

/// True for a directory written by [`kvsentry_stix::TaxiiClient::sync`].
pub fn is_taxii_store(path: &Path) -> bool {
    path.is_dir() && path.join("state.json").is_file()
}

/// Loads every path into one set. A path from which nothing could be read as threat
/// intelligence is an error naming it and what it holds.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<TiLoad, TiError> {
    let mut out = TiLoad::default();
    let mut plain = Vec::new();
    for p in paths {
        if is_taxii_store(p) {
            let load = kvsentry_stix::read_store(p)?;
            let mut n = 0;
            let source = format!("taxii:{}", p.display());
            for s in &load.indicators {
                for ind in indicators_from_stix(s, &source, &format!("{}#{}", p.display(), s.id)) {
                    out.set.push(ind);
                    n += 1;
                }
            }
            // Every object of the store is an indicator version or a counted skip, as for
            // a STIX file.
            let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
            let mut skip = |reason: &str, k: usize| {
                if k > 0 {
                    *skipped.entry(reason.to_string()).or_default() += k;
                }
            };
            skip(SKIP_SUPERSEDED, load.superseded_versions);
            skip(
                SKIP_NOT_INDICATOR,
                load.skipped_objects_by_type.values().sum(),
            );
            for problem in &load.problems {
                skip(problem.reason.label(), 1);
            }
            for (reason, k) in &skipped {
                out.set.note_skipped(reason, *k);
            }
            out.taxii_stores.push(TaxiiStoreLoad {
                path: p.clone(),
                versions: n,
                skipped,
            });
        } else {
            plain.push(p.clone());
        }
    }
    // Path by path, so that a path yielding nothing is named.
    for p in plain {
        let report = kvsentry_intel::load_paths([&p], opts, &mut out.set)?;
        if report.files.is_empty() {
            return Err(TiError::NothingRead {
                found: describe_nothing(&report),
                path: p,
            });
        }
        out.report.files.extend(report.files);
        out.report.skipped_files.extend(report.skipped_files);
        out.report.failed_files.extend(report.failed_files);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsentry_intel::Selection;

    /// A store as `ti sync` leaves it, next to a plain list: both load into one set.
    #[test]
    fn loads_a_taxii_store_and_a_plain_list_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("c1")).unwrap();
        std::fs::write(
            store.join("state.json"),
            r#"{"collections":{"http://127.0.0.1:1/api1/|c1":{"api_root":"http://127.0.0.1:1/api1/","collection_id":"c1","dir":"c1","date_added_last":"2025-06-01T00:00:00Z","fetches":1,"last_sync":"2025-06-01T00:00:00Z"}}}"#,
        )
        .unwrap();
        std::fs::write(
            store.join("c1/000001.json"),
            r#"{"objects":[
              {"type":"indicator","spec_version":"2.1","id":"indicator--a1f0c5d2-0001-4c3e-9a51-000000000001","created":"2025-06-01T00:00:00.000Z","modified":"2025-06-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '52.178.17.9']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z"},
              {"type":"indicator","spec_version":"2.1","id":"indicator--a1f0c5d2-0001-4c3e-9a51-000000000002","created":"2025-06-01T00:00:00.000Z","modified":"2025-06-01T00:00:00.000Z","pattern":"[domain-name:value = 'bad.example']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"}
            ]}"#,
        )
        .unwrap();
        let list = dir.path().join("drop.txt");
        std::fs::write(&list, "; Spamhaus-style\n1.10.16.0/20 ; SBL256894\n").unwrap();

        assert!(is_taxii_store(&store));
        assert!(!is_taxii_store(&list));
        let load = load(&[store.clone(), list], &LoadOptions::default()).unwrap();
        assert_eq!(load.taxii_stores.len(), 1);
        assert_eq!(
            load.taxii_stores[0].versions, 1,
            "one IP indicator from the store"
        );
        assert_eq!(
            load.taxii_stores[0]
                .skipped
                .get("STIX pattern names no IP address"),
            Some(&1),
            "the domain-only pattern is counted"
        );
        assert_eq!(
            load.set.skipped().get("STIX pattern names no IP address"),
            Some(&1),
            "and reaches the selection's records read"
        );
        assert_eq!(load.report.files.len(), 1);
        let (index, _) = load.set.select(Selection::Retro { compat: false });
        let hit = index.lookup("52.178.17.9".parse().unwrap());
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].id, "indicator--a1f0c5d2-0001-4c3e-9a51-000000000001");
        assert_eq!(index.lookup("1.10.20.1".parse().unwrap()).len(), 1);
        assert!(index.lookup("8.8.8.8".parse().unwrap()).is_empty());
    }
}
