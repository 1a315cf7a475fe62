//! Threat intel kept current while serving: the `[ti]` paths are checked every `refresh`
//! (each file's size and modification time), and when they changed they are loaded again
//! on a thread of their own, so ingestion never waits for a feed being read; the server
//! takes the new set at the start of a pass (see `Server::pass`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use kvsentry_intel::{IndicatorSet, LoadOptions};

/// A set of intel loaded again, or why not.
pub(crate) type Reloaded = Result<Arc<IndicatorSet>, String>;

/// What the watched paths hold: (file, size, modified), in path order.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The `[ti]` paths watched for changes.
pub(crate) struct IntelWatch {
    paths: Vec<PathBuf>,
    refresh: Duration,
    /// What the paths held when last loaded: (file, size, modified).
    stamp: Stamp,
    next_check: Instant,
    /// A change seen at the last check: loaded once it holds still for a check (a feed
    /// being rewritten is not read half-written).
    changed: Option<Stamp>,
    loading: Option<(JoinHandle<Reloaded>, Stamp)>,
}

impl IntelWatch {
    /// Watches `paths` (as loaded just now) every `refresh`.
    pub fn new(paths: &[PathBuf], refresh: Duration) -> IntelWatch {
        IntelWatch {
            paths: paths.to_vec(),
            refresh,
            stamp: stamp(paths),
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
            let (handle, stamp) = self.loading.take()?;
            self.stamp = stamp;
            return Some(
                handle
                    .join()
                    .unwrap_or_else(|_| Err("loading the intel failed".into())),
            );
        }
        if self.loading.is_none() && Instant::now() >= self.next_check {
            self.next_check = Instant::now() + self.refresh;
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
                    .spawn(move || load(&paths))
                    .ok()?;
                self.loading = Some((handle, now));
            }
        }
        None
    }

    /// Waits for a load under way (tests, and a last pass that must see the newest intel).
    pub fn wait(&mut self) -> Option<Reloaded> {
        let (handle, stamp) = self.loading.take()?;
        self.stamp = stamp;
        Some(
            handle
                .join()
                .unwrap_or_else(|_| Err("loading the intel failed".into())),
        )
    }
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
        let mut watch = IntelWatch::new(std::slice::from_ref(&list), Duration::from_millis(20));
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
