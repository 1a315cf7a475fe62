//! serve's state store: one redb file under `state_dir` holding, in ACID transactions,
//! everything a restart needs to continue without losing or repeating an alert.
//!
//! A checkpoint is committed in one write transaction: the input positions, the engine
//! snapshot that consumed exactly those inputs, the caller IPs seen, and the alerts produced
//! since the previous checkpoint appended to each sink's outbox. A crash before the commit
//! leaves the previous checkpoint whole; after it, everything is there. Sinks then drain
//! their outbox ([`StateStore::pending`]) and record what their receiver acknowledged
//! ([`StateStore::mark_delivered`]), which moves the alerts to the sink's ledger.
//!
//! ```no_run
//! use kvsentry_runtime::serve::state::{Commit, StateStore};
//! let store = StateStore::open("/var/lib/kvsentry".as_ref())?;
//! if let Some(loaded) = store.load()? {
//!     // restore the engine from loaded.engine, seek each input to loaded.positions
//! }
//! let mut c = Commit::new(b"engine snapshot".to_vec());
//! c.position("logs", b"vault1/PT1H.json", b"offset 1234");
//! c.alert("file", "alert-id", b"{\"json\":1}");
//! let report = store.commit(&c)?;
//! if report.backpressure {
//!     // stop reading until the sinks catch up
//! }
//! for alert in store.pending("file", 100)? {
//!     // deliver alert.encoded (alert.id is the idempotency key), then on acknowledgement:
//!     store.mark_delivered("file", &[alert.seq])?;
//! }
//! # Ok::<(), kvsentry_runtime::serve::state::StateError>(())
//! ```

mod error;
mod outbox;
mod retro;
mod tables;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable};

pub use error::StateError;
pub use outbox::{LedgerRetention, Pending, SinkCounts};
use tables::{FORMAT_VERSION, KEY_CHECKPOINT, KEY_ENGINE, KEY_FORMAT, META, POSITIONS};

/// The name of the store's file inside `state_dir`.
pub const STATE_FILE: &str = "state.redb";

/// Default bound on each sink's outbox, in alerts.
pub const DEFAULT_OUTBOX_LIMIT: u64 = 100_000;

/// The store's page cache: enough for a pass's commit and the outboxes being drained.
const CACHE_BYTES: usize = 16 << 20;

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StateOptions {
    /// Alerts a sink's outbox may hold before [`StateStore::commit`] reports back-pressure.
    pub outbox_limit: u64,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            outbox_limit: DEFAULT_OUTBOX_LIMIT,
        }
    }
}

/// The open state store. One per `state_dir`: a second open, from this process or another,
/// is refused with [`StateError::Locked`] while this one lives.
pub struct StateStore {
    db: Database,
    path: PathBuf,
    outbox_limit: u64,
}

/// One checkpoint to commit atomically (see [`StateStore::commit`]).
#[derive(Debug, Clone, Default)]
pub struct Commit {
    engine: Vec<u8>,
    positions: Vec<(String, Vec<u8>, Vec<u8>)>,
    forget: Vec<(String, Vec<u8>)>,
    alerts: Vec<(String, String, Vec<u8>)>,
    ips: Vec<(IpAddr, Timestamp)>,
}

impl Commit {
    /// A checkpoint of this engine snapshot (`kvsentry_engine::Engine::snapshot`'s bytes).
    pub fn new(engine: Vec<u8>) -> Self {
        Commit {
            engine,
            ..Commit::default()
        }
    }

    /// Records how far `input` was consumed in `partition` (a file, a blob, a Kafka
    /// partition); partitions not named keep their stored position.
    pub fn position(&mut self, input: &str, partition: &[u8], position: &[u8]) -> &mut Self {
        self.positions
            .push((input.to_owned(), partition.to_vec(), position.to_vec()));
        self
    }

    /// Removes the stored position of a partition that is finished for good (a blob of a
    /// past hour read to its end), so positions do not pile up over the months. Applied
    /// after the positions of this commit.
    pub fn forget_position(&mut self, input: &str, partition: &[u8]) -> &mut Self {
        self.forget.push((input.to_owned(), partition.to_vec()));
        self
    }

    /// Appends an alert to `sink`'s outbox (in call order), unless an alert with this id is
    /// already in that sink's outbox or ledger.
    pub fn alert(&mut self, sink: &str, id: &str, encoded: &[u8]) -> &mut Self {
        self.alerts
            .push((sink.to_owned(), id.to_owned(), encoded.to_vec()));
        self
    }

    /// Records caller IPs seen, with the time of the event, for retro-matching.
    pub fn ips(&mut self, seen: &[(IpAddr, Timestamp)]) -> &mut Self {
        self.ips.extend_from_slice(seen);
        self
    }
}

/// What [`StateStore::commit`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Alerts appended to outboxes (repeats of stored ids are not counted).
    pub queued: u64,
    /// A sink's outbox is at its limit: stop reading until deliveries catch up. The commit
    /// itself is never refused, as its alerts exist nowhere else once the engine moved on;
    /// so an outbox overshoots its limit by at most one checkpoint's alerts.
    pub backpressure: bool,
}

/// The last committed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// How many checkpoints were committed so far (1 after the first).
    pub checkpoint: u64,
    /// The engine snapshot.
    pub engine: Vec<u8>,
    /// (input, partition) -> position.
    pub positions: BTreeMap<(String, Vec<u8>), Vec<u8>>,
}

impl StateStore {
    /// Opens (creating if needed) the store in `dir`, with default options.
    pub fn open(dir: &Path) -> Result<StateStore, StateError> {
        StateStore::open_with(dir, StateOptions::default())
    }

    /// Opens (creating if needed) the store in `dir`.
    pub fn open_with(dir: &Path, options: StateOptions) -> Result<StateStore, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STATE_FILE);
        // redb caches up to 1 GiB by default: serve's memory would grow with its store.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    StateError::Locked { path: path.clone() }
                }
                other => StateError::Store(other.into()),
            })?;
        let store = StateStore {
            db,
            path,
            outbox_limit: options.outbox_limit,
        };
        store.check_format()?;
        Ok(store)
    }

    /// Refuses a store of a newer format; stamps a new store with ours.
    fn check_format(&self) -> Result<(), StateError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(KEY_FORMAT)?.map(|v| self.read_u32(v.value()));
            match found {
                Some(found) => {
                    let found = found?;
                    if found > FORMAT_VERSION {
                        return Err(StateError::NewerFormat {
                            path: self.path.clone(),
                            found,
                            supported: FORMAT_VERSION,
                        });
                    }
                }
                None => {
                    meta.insert(KEY_FORMAT, FORMAT_VERSION.to_le_bytes().as_slice())?;
                }
            }
            // Every table exists from the start, so readers need not handle a missing one.
            txn.open_table(POSITIONS)?;
            txn.open_table(tables::SINKS)?;
            txn.open_table(tables::OUTBOX)?;
            txn.open_table(tables::OUTBOX_IDS)?;
            txn.open_table(tables::LEDGER)?;
            txn.open_table(tables::LEDGER_ORDER)?;
            txn.open_table(tables::IPS)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn read_u32(&self, bytes: &[u8]) -> Result<u32, StateError> {
        bytes
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| self.corrupt("format version is not 4 bytes"))
    }

    fn corrupt(&self, what: &str) -> StateError {
        StateError::Corrupt {
            path: self.path.clone(),
            what: what.to_owned(),
        }
    }

    /// The path of the store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits a checkpoint in one transaction: positions, engine snapshot, caller IPs and
    /// new alerts appear together or (after a crash) not at all.
    pub fn commit(&self, commit: &Commit) -> Result<CommitReport, StateError> {
        let txn = self.db.begin_write()?;
        let report = {
            let mut meta = txn.open_table(META)?;
            let n = match meta.get(KEY_CHECKPOINT)? {
                Some(v) => self.read_u64(v.value())?,
                None => 0,
            };
            meta.insert(KEY_CHECKPOINT, (n + 1).to_le_bytes().as_slice())?;
            meta.insert(KEY_ENGINE, commit.engine.as_slice())?;
            let mut positions = txn.open_table(POSITIONS)?;
            for (input, partition, position) in &commit.positions {
                positions.insert((input.as_str(), partition.as_slice()), position.as_slice())?;
            }
            for (input, partition) in &commit.forget {
                positions.remove((input.as_str(), partition.as_slice()))?;
            }
            retro::record(&txn, &commit.ips)?;
            outbox::append(&txn, &commit.alerts, self.outbox_limit)?
        };
        txn.commit()?;
        Ok(report)
    }

    fn read_u64(&self, bytes: &[u8]) -> Result<u64, StateError> {
        bytes
            .try_into()
            .map(u64::from_le_bytes)
            .map_err(|_| self.corrupt("checkpoint counter is not 8 bytes"))
    }

    /// The last committed checkpoint, or `None` before the first.
    pub fn load(&self) -> Result<Option<Loaded>, StateError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(checkpoint) = meta.get(KEY_CHECKPOINT)? else {
            return Ok(None);
        };
        let checkpoint = self.read_u64(checkpoint.value())?;
        let engine = meta
            .get(KEY_ENGINE)?
            .map(|v| v.value().to_vec())
            .ok_or_else(|| self.corrupt("a checkpoint without engine state"))?;
        let mut positions = BTreeMap::new();
        for row in txn.open_table(POSITIONS)?.iter()? {
            let (k, v) = row?;
            let (input, partition) = k.value();
            positions.insert((input.to_owned(), partition.to_vec()), v.value().to_vec());
        }
        Ok(Some(Loaded {
            checkpoint,
            engine,
            positions,
        }))
    }

    /// Up to `limit` alerts waiting for `sink`, oldest first.
    pub fn pending(&self, sink: &str, limit: usize) -> Result<Vec<Pending>, StateError> {
        outbox::pending(&self.db, sink, limit)
    }

    /// Records that `sink`'s receiver acknowledged these outbox entries: they leave the
    /// outbox for the ledger in one transaction. Unknown sequence numbers (already moved)
    /// are skipped; returns how many moved.
    pub fn mark_delivered(&self, sink: &str, seqs: &[u64]) -> Result<u64, StateError> {
        outbox::mark_delivered(&self.db, sink, seqs, Timestamp::now())
    }

    /// Whether `sink`'s ledger holds this alert id.
    pub fn is_delivered(&self, sink: &str, id: &str) -> Result<bool, StateError> {
        outbox::is_delivered(&self.db, sink, id)
    }

    /// The newest (up to `limit`) alert ids in `sink`'s ledger, in delivery order: what a
    /// sink reconciles its output against on start.
    pub fn delivered_ids(&self, sink: &str, limit: usize) -> Result<Vec<String>, StateError> {
        outbox::delivered_ids(&self.db, sink, limit)
    }

    /// Pending and delivered counts of `sink`, for the metrics.
    pub fn counts(&self, sink: &str) -> Result<SinkCounts, StateError> {
        outbox::counts(&self.db, sink)
    }

    /// Whether some sink's outbox is at its limit (the caller should not read more input).
    pub fn outbox_full(&self) -> Result<bool, StateError> {
        outbox::any_full(&self.db, self.outbox_limit)
    }

    /// Prunes `sink`'s ledger as `retention` says; returns how many entries went.
    pub fn prune_ledger(&self, sink: &str, retention: &LedgerRetention) -> Result<u64, StateError> {
        outbox::prune_ledger(&self.db, sink, retention)
    }

    /// The caller IPs seen at or after `since`, with their last-seen time.
    pub fn ips_since(&self, since: Timestamp) -> Result<Vec<(IpAddr, Timestamp)>, StateError> {
        retro::since(&self.db, since)
    }

    /// Forgets caller IPs last seen before `before`; returns how many went.
    pub fn prune_ips_before(&self, before: Timestamp) -> Result<u64, StateError> {
        retro::prune_before(&self.db, before)
    }

    /// The size of the store's file, for the metrics.
    pub fn size_bytes(&self) -> Result<u64, StateError> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|source| StateError::Dir {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests;
