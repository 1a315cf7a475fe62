//! Loading threat intelligence for a hunt: every `--ti` path, whatever its form, into one
//! [`IndicatorSet`].
//!
//! Files and directories go through `kvsentry-intel`'s detecting loaders; a directory that
//! holds a TAXII store written by `kvsentry ti sync` (it has a `state.json`) is read through
//! `kvsentry-stix` instead, so a synced collection can be hunted with offline.

use std::path::{Path, PathBuf};

use kvsentry_intel::{IndicatorSet, LoadOptions, LoadReport, indicators_from_stix};

/// What was loaded from where.
#[derive(Debug, Default)]
pub struct TiLoad {
    pub set: IndicatorSet,
    pub report: LoadReport,
    /// TAXII stores read: (path, indicator versions, problems).
    pub taxii_stores: Vec<(PathBuf, usize, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TiError {
    #[error(transparent)]
    Intel(#[from] kvsentry_intel::IntelError),
    #[error(transparent)]
    Taxii(#[from] kvsentry_stix::TaxiiError),
}

/// True for a directory written by [`kvsentry_stix::TaxiiClient::sync`].
pub fn is_taxii_store(path: &Path) -> bool {
    path.is_dir() && path.join("state.json").is_file()
}

/// Loads every path into one set.
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
            out.taxii_stores.push((p.clone(), n, load.problems.len()));
        } else {
            plain.push(p.clone());
        }
    }
    if !plain.is_empty() {
        out.report = kvsentry_intel::load_paths(&plain, opts, &mut out.set)?;
    }
    Ok(out)
}
