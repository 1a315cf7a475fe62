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
        assert_eq!(load.taxii_stores[0].1, 1, "one IP indicator from the store");
        assert_eq!(
            load.taxii_stores[0].2, 1,
            "the domain-only pattern is reported"
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
