//! The offline store a sync writes: `state.json` and numbered envelope files.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::error::{TaxiiError, io_err};
use crate::bundle::{StixError, StixLoad, load, unwrap_container};

/// `state.json` of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreState {
    /// Key: `{api_root}|{collection_id}`.
    pub collections: BTreeMap<String, CollectionState>,
}

/// Per-collection sync state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionState {
    pub api_root: String,
    pub collection_id: String,
    /// Directory of this collection's fetch files, relative to the store.
    pub dir: String,
    /// Newest `X-TAXII-Date-Added-Last` received; the next sync asks for objects added after it.
    pub date_added_last: Option<Timestamp>,
    /// Number of fetch files written.
    pub fetches: u64,
    pub last_sync: Option<Timestamp>,
}

/// Reads `state.json` of a store (empty state when absent).
pub fn read_state(store: &Path) -> Result<StoreState, TaxiiError> {
    let path = store.join("state.json");
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| TaxiiError::Store {
            path,
            source: StixError::Json(e),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(StoreState::default()),
        Err(e) => Err(io_err(&path, e)),
    }
}

/// Reads every fetch file of a store, offline, and resolves versions across them.
///
/// Collections are read in `state.json` order, files in number order; a store directory
/// without `state.json` yields an empty load.
pub fn read_store(store: &Path) -> Result<StixLoad, TaxiiError> {
    let state = read_state(store)?;
    let mut objects = Vec::new();
    for c in state.collections.values() {
        let dir = store.join(&c.dir);
        let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "json")
                        && p.file_stem().is_some_and(|s| {
                            s.to_string_lossy().bytes().all(|b| b.is_ascii_digit())
                        })
                })
                .collect(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&dir, e)),
        };
        files.sort();
        for path in files {
            let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
            let value = serde_json::from_str(&text).map_err(|e| TaxiiError::Store {
                path: path.clone(),
                source: StixError::Json(e),
            })?;
            let (objs, _) = unwrap_container(value).map_err(|source| TaxiiError::Store {
                path: path.clone(),
                source,
            })?;
            objects.extend(objs);
        }
    }
    Ok(load(objects, None).0)
}

/// Writes to a temporary name and renames, so a reader never sees half a file.
#[cfg(feature = "taxii")]
pub(super) fn write_atomic(path: &Path, value: &serde_json::Value) -> Result<(), TaxiiError> {
    let tmp = path.with_extension("json.tmp");
    let text =
        serde_json::to_string_pretty(value).map_err(|e| io_err(path, std::io::Error::other(e)))?;
    fs::write(&tmp, text).map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// The directory name of a collection's fetch files (see the module docs).
#[cfg(feature = "taxii")]
pub(super) fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "taxii")]
    #[test]
    fn store_dir_names_are_safe() {
        assert_eq!(
            sanitize("http://127.0.0.1:80/api1/|a1b2-c3"),
            "http___127.0.0.1_80_api1__a1b2-c3"
        );
    }
}
