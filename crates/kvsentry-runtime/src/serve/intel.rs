//! Threat intel kept current while serving: every `refresh`, each TAXII collection of
//! `[ti] taxii` is synced into a store under `state_dir` (only what was added since the
//! last sync, as `kvsentry ti sync` does) and the `[ti]` paths are checked (each file's
//! size and modification time); when something changed the intel is loaded again, on a
//! thread of its own, so ingestion never waits for a feed being read or fetched; the
//! server takes the new set at the start of a pass (see `Server::pass`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use kvsentry_intel::{IndicatorSet, LoadOptions};
use kvsentry_stix::{Auth, TaxiiClient};

use super::config::TaxiiSource;

/// A set of intel loaded again, or why not.
pub(crate) type Reloaded = Result<Arc<IndicatorSet>, String>;

/// What a refresh found: a new set, nothing new, or why it failed.
type Refreshed = Result<Option<Arc<IndicatorSet>>, String>;

/// What the watched paths hold: (file, size, modified), in path order.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The `[ti]` paths watched for changes.
pub(crate) struct IntelWatch {
    /// The paths loaded: `[ti] paths`, and the TAXII store when there are collections.
    paths: Vec<PathBuf>,
    taxii: Vec<TaxiiSource>,
    store: PathBuf,
    refresh: Duration,
    /// What the paths held when last loaded: (file, size, modified).
    stamp: Stamp,
    next_check: Instant,
    /// A change seen at the last check: loaded once it holds still for a check (a feed
    /// being rewritten is not read half-written).
    changed: Option<Stamp>,
    loading: Option<(JoinHandle<Refreshed>, Stamp)>,
}

impl IntelWatch {
    /// Watches `paths` (as loaded just now) and syncs `taxii` into `store` every
    /// `refresh`.
    pub fn new(
        paths: &[PathBuf],
        taxii: &[TaxiiSource],
        store: &Path,
        refresh: Duration,
    ) -> IntelWatch {
        let paths = loaded_paths(paths, taxii, store);
        IntelWatch {
            stamp: stamp(&paths),
            paths,
            taxii: taxii.to_vec(),
            store: store.to_path_buf(),
            refresh,
            next_check: Instant::now() + refresh,
            changed: None,
            loading: None,
        }
    }

    /// A set loaded again since the last call, if one is ready; starts loading when the
    /// refresh interval passed and the files changed. `Err`: the new files could not be
    /// loaded (the set in use stays).
    pub fn poll(&mut self) -> Option<Reloaded> {
        if self.loading.as_ref().is_some_and(|(h, _)| h.is_finished()) {
            return self.wait();
        }
        if self.loading.is_none() && Instant::now() >= self.next_check {
            self.next_check = Instant::now() + self.refresh;
            if !self.taxii.is_empty() {
                // Fetching decides: the sync runs, then the files are compared.
                let (paths, taxii, store) =
                    (self.paths.clone(), self.taxii.clone(), self.store.clone());
                let old = self.stamp.clone();
                let handle = std::thread::Builder::new()
                    .name("kvsentry-ti".into())
                    .spawn(move || {
                        sync_all(&taxii, &store)?;
                        if stamp(&paths) == old {
                            return Ok(None);
                        }
                        load(&paths).map(Some)
                    })
                    .ok()?;
                self.loading = Some((handle, Vec::new()));
                return None;
            }
            let now = stamp(&self.paths);
            if now == self.stamp {
                self.changed = None;
            } else if self.changed.as_ref() != Some(&now) {
                self.next_check = Instant::now() + self.refresh.min(SETTLE);
                self.changed = Some(now);
            } else {
                self.changed = None;
                let paths = self.paths.clone();
                let handle = std::thread::Builder::new()
                    .name("kvsentry-ti".into())
                    .spawn(move || load(&paths).map(Some))
                    .ok()?;
                self.loading = Some((handle, now));
            }
        }
        None
    }

    /// Waits for a load under way (tests, and a last pass that must see the newest intel).
    pub fn wait(&mut self) -> Option<Reloaded> {
        let (handle, stamp) = self.loading.take()?;
        let got = handle
            .join()
            .unwrap_or_else(|_| Err("loading the intel failed".into()));
        // After a sync, the files as they are now (the store grew).
        self.stamp = if self.taxii.is_empty() {
            stamp
        } else {
            self::stamp(&self.paths)
        };
        got.transpose()
    }
}

/// The paths intel is loaded from: `paths`, and the TAXII store when collections are
/// configured.
pub(crate) fn loaded_paths(paths: &[PathBuf], taxii: &[TaxiiSource], store: &Path) -> Vec<PathBuf> {
    let mut all = paths.to_vec();
    if !taxii.is_empty() {
        all.push(store.to_path_buf());
    }
    all
}

/// Syncs every collection into `store` (what was added since the last sync). Secrets are
/// sent to the server and never put in an error.
pub(crate) fn sync_all(taxii: &[TaxiiSource], store: &Path) -> Result<(), String> {
    let mut errors = Vec::new();
    for t in taxii {
        if let Err(e) = sync_one(t, store) {
            errors.push(format!("TAXII {} collection {}: {e}", t.url, t.collection));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn sync_one(t: &TaxiiSource, store: &Path) -> Result<(), String> {
    let secret = |s: &Option<super::config::SecretEnv>| {
        s.as_ref()
            .and_then(|s| s.secret())
            .map(|s| s.expose().to_string())
    };
    let auth = match (
        t.user.clone().or_else(|| secret(&t.user_env)),
        secret(&t.password_env),
        secret(&t.token_env),
    ) {
        (_, _, Some(token)) => Auth::Bearer(token),
        (Some(user), Some(password), None) => Auth::Basic { user, password },
        _ => Auth::None,
    };
    let client = TaxiiClient::new(auth);
    let root = match &t.api_root {
        Some(r) => r.to_string(),
        None => {
            let d = client
                .discovery(t.url.as_str())
                .map_err(|e| e.to_string())?;
            match d.default.or_else(|| d.api_roots.first().cloned()) {
                Some(r) => r,
                None => return Err("the server lists no API root: set `api_root`".into()),
            }
        }
    };
    client
        .sync(store, &root, &t.collection, None)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// How long a changed feed must hold still before it is loaded, at most.
const SETTLE: Duration = Duration::from_secs(1);

fn load(paths: &[PathBuf]) -> Reloaded {
    let load = crate::ti::load(paths, &LoadOptions::default()).map_err(|e| e.to_string())?;
    if load.set.is_empty() {
        // A feed emptied or damaged is more likely a failed download than the end of
        // every threat: the set in use stays.
        return Err("the changed intel holds no indicator: the set in use stays".into());
    }
    Ok(Arc::new(load.set))
}

/// Every file below `paths` with its size and modification time, in path order.
fn stamp(paths: &[PathBuf]) -> Stamp {
    fn walk(p: &Path, out: &mut Stamp, depth: usize) {
        let Ok(meta) = std::fs::metadata(p) else {
            out.push((p.to_path_buf(), u64::MAX, None));
            return;
        };
        if meta.is_dir() {
            if depth > 16 {
                return;
            }
            let Ok(entries) = std::fs::read_dir(p) else {
                return;
            };
            for e in entries.flatten() {
                walk(&e.path(), out, depth + 1);
            }
        } else {
            out.push((p.to_path_buf(), meta.len(), meta.modified().ok()));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out, 0);
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing before the interval or while the files are unchanged; a changed file is
    /// loaded on the watcher's thread and handed over once.
    #[test]
    fn a_changed_feed_is_loaded_again_once() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("drop.txt");
        std::fs::write(&list, "1.10.16.0/20 ; SBL1\n").unwrap();
        let mut watch = IntelWatch::new(
            std::slice::from_ref(&list),
            &[],
            dir.path(),
            Duration::from_millis(20),
        );
        assert!(watch.poll().is_none());
        std::thread::sleep(Duration::from_millis(30));
        assert!(watch.poll().is_none(), "unchanged: nothing loaded");
        assert!(watch.wait().is_none());
        std::fs::write(&list, "1.10.16.0/20 ; SBL1\n52.178.17.9 ; SBL2\n").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            watch.poll().is_none(),
            "a change is loaded once it holds still"
        );
        std::thread::sleep(Duration::from_millis(30));
        let mut got = watch.poll();
        if got.is_none() {
            got = watch.wait();
        }
        let set = got.expect("loaded again").expect("loads");
        assert_eq!(set.len(), 2);
        std::thread::sleep(Duration::from_millis(30));
        assert!(watch.poll().is_none(), "loaded once");
        assert!(watch.wait().is_none());
        // A feed that no longer loads is reported; the watcher goes on.
        std::fs::write(&list, [0xff, 0xfe, 0x00]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        assert!(watch.poll().is_none());
        std::thread::sleep(Duration::from_millis(30));
        let mut got = watch.poll();
        if got.is_none() {
            got = watch.wait();
        }
        assert!(got.expect("tried").is_err());
    }
}
