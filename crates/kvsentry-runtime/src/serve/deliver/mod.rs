//! Delivery of alerts from each output's outbox in the state store to where the output
//! writes, one worker thread per output, so that a sink that is slow or down never stops
//! ingestion.
//!
//! A pass commits its alerts to every output's outbox and wakes the workers
//! ([`Delivery::after_commit`]); each worker ([`worker`]) delivers its outbox in order with
//! retries, records an alert as delivered only once its receiver took it, and moves an alert
//! its receiver refuses for good to `<state_dir>/dead-letter/<output>.jsonl`
//! ([`dead_letter_path`]). How each kind of output is reached is in [`outlet`].
//!
//! The outboxes are bounded ([`StateStore::outbox_limit`]): while an output's outbox holds
//! that many alerts, passes read no input ([`Delivery::hold_back`], counted by
//! [`Delivery::held_back_passes`]) until its worker brings it below the bound. No alert is
//! ever dropped; a commit may take an outbox past the bound by one pass's alerts.
//!
//! A `--once` run waits for the workers ([`Delivery::settle`]): until each output's outbox
//! is empty or its receiver failed a whole round of attempts, within a time bound; what
//! is still pending stays in the state store for the next run. Dropping the `Delivery`
//! ends the workers: each delivers what its receiver takes without waiting (no retries),
//! for a few seconds at most, then finishes the attempt under way and records what it
//! delivered; the store is released when the drop returns.
//!
//! [`StateStore::outbox_limit`]: super::state::StateStore::outbox_limit

mod dead_letter;
mod outlet;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use dead_letter::{DEAD_LETTER_DIR, dead_letter_path};
pub(crate) use worker::Upkeep;
use worker::{Shared, Worker};

use super::ServeError;
use super::config::ServeConfig;
use super::state::StateStore;

/// How long a pass at the outbox bound waits for deliveries before it gives up reading.
const HOLD_WAIT: Duration = Duration::from_secs(1);

/// How long dropping a [`Delivery`] lets the workers deliver what their receivers take.
const FINISH_WAIT: Duration = Duration::from_secs(3);

/// The delivery workers of a serve process, one per output.
pub struct Delivery {
    store: StateStore,
    workers: Vec<Handle>,
    /// Each output's delivered, retried and failed-round counts at the last report.
    reported: Mutex<BTreeMap<String, (u64, u64, u64)>>,
    held_back: AtomicU64,
    finish_wait: Duration,
}

struct Handle {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the outputs did since the last report, and where they stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Alerts delivered, by output.
    pub delivered: BTreeMap<String, u64>,
    /// Attempts that retried one of the same round (a round: one attempt and
    /// `max_retries` retries), by output.
    pub retries: BTreeMap<String, u64>,
    /// Alerts waiting in each output's outbox now, by output.
    pub pending: BTreeMap<String, u64>,
    /// Outputs whose receiver failed a round of attempts (or could not be reached at all),
    /// with why: their alerts wait in the state store and are tried again.
    pub waiting: BTreeMap<String, String>,
}

/// What [`Delivery::settle`] left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// What the outputs did since the last report.
    pub progress: Progress,
    /// Every worker settled before the time bound.
    pub in_time: bool,
}

/// One output's delivery, for the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputStatus {
    pub name: String,
    /// Alerts waiting in its outbox.
    pub pending: u64,
    /// Alerts delivered by this process.
    pub delivered: u64,
    /// Attempts that retried one of the same round, in this process.
    pub retries: u64,
    /// Alerts dead-lettered, over the life of the state store.
    pub dead_lettered: u64,
    /// Why its receiver is not taking alerts, if it failed a round of attempts.
    pub waiting: Option<String>,
}

impl Delivery {
    /// Starts one worker per output of `config`, delivering from `store`. Fails if an
    /// output cannot be opened (a file output is reconciled here).
    pub(crate) fn start(store: &StateStore, config: &ServeConfig) -> Result<Delivery, ServeError> {
        Delivery::start_with(store, config, Upkeep::default())
    }

    pub(crate) fn start_with(
        store: &StateStore,
        config: &ServeConfig,
        upkeep: Upkeep,
    ) -> Result<Delivery, ServeError> {
        let mut delivery = Delivery {
            store: store.share(),
            workers: Vec::new(),
            reported: Mutex::default(),
            held_back: AtomicU64::new(0),
            finish_wait: FINISH_WAIT,
        };
        for o in config.outputs() {
            let shared = Arc::new(Shared::default());
            // An output that cannot be opened at all (a file path that is a directory) is
            // refused now; later failures are retried.
            let built = outlet::build(o).map_err(|e| ServeError::output(o, e))?;
            let thread = Worker::spawn(
                o,
                built,
                store.share(),
                config.state_dir().to_path_buf(),
                Arc::clone(&shared),
                upkeep.clone(),
            )
            .map_err(|e| ServeError::output(o, e))?;
            delivery.workers.push(Handle {
                name: o.name.clone(),
                shared,
                thread: Some(thread),
            });
        }
        Ok(delivery)
    }

    /// New alerts were committed: the workers look at their outboxes. Returns what they did
    /// since the last report.
    pub(crate) fn after_commit(&self) -> Result<Progress, ServeError> {
        self.wake();
        self.progress()
    }

    fn wake(&self) {
        for w in &self.workers {
            w.shared.update(|s| s.wake += 1);
        }
    }

    /// What the outputs did since the last report, and their outboxes now.
    pub fn progress(&self) -> Result<Progress, ServeError> {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let mut p = Progress::default();
        for w in &self.workers {
            let s = w.shared.lock().clone();
            let now = (s.delivered, s.retries, s.failed_rounds);
            let before = reported.insert(w.name.clone(), now).unwrap_or_default();
            let name = || w.name.clone();
            p.delivered.insert(name(), now.0.saturating_sub(before.0));
            p.retries.insert(name(), now.1.saturating_sub(before.1));
            p.pending
                .insert(name(), self.store.counts(&w.name)?.pending);
            if now.2 > before.2
                && let Some(why) = s.last_failure
            {
                p.waiting.insert(name(), why);
            }
        }
        Ok(p)
    }

    /// Whether a pass should read no input now: an output's outbox is at the bound and did
    /// not come below it within a short wait.
    pub(crate) fn hold_back(&self) -> Result<bool, ServeError> {
        if !self.full()? {
            return Ok(false);
        }
        self.wake();
        let deadline = Instant::now() + HOLD_WAIT;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            if !self.full()? {
                return Ok(false);
            }
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    fn full(&self) -> Result<bool, ServeError> {
        let limit = self.store.outbox_limit();
        for w in &self.workers {
            if self.store.counts(&w.name)?.pending >= limit {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Passes that read no input because an outbox was at its bound, in this process.
    pub fn held_back_passes(&self) -> u64 {
        self.held_back.load(Ordering::Relaxed)
    }

    /// Waits, at most `bound`, until every worker has done what it can: its outbox is
    /// empty, or its receiver failed a whole round of attempts. For a run that is about to
    /// end (`--once`).
    pub fn settle(&self, bound: Duration) -> Result<Settled, ServeError> {
        self.wake();
        let deadline = Instant::now() + bound;
        let mut in_time = true;
        for w in &self.workers {
            in_time &= w.shared.wait_until(deadline, |s| s.settled());
        }
        Ok(Settled {
            progress: self.progress()?,
            in_time,
        })
    }

    /// Each output's delivery, in configuration order.
    pub fn status(&self) -> Result<Vec<OutputStatus>, ServeError> {
        let mut out = Vec::new();
        for w in &self.workers {
            let s = w.shared.lock().clone();
            out.push(OutputStatus {
                name: w.name.clone(),
                pending: self.store.counts(&w.name)?.pending,
                delivered: s.delivered,
                retries: s.retries,
                dead_lettered: self.store.dead_lettered(&w.name)?,
                waiting: s.waiting,
            });
        }
        Ok(out)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        for w in &self.workers {
            w.shared.update(|s| s.finish = true);
        }
        let deadline = Instant::now() + self.finish_wait;
        for w in &self.workers {
            w.shared.wait_until(deadline, |s| s.stopped);
        }
        for w in &self.workers {
            w.shared.update(|s| s.stop = true);
        }
        // Each ends after the attempt under way (a request ends with its timeout): the
        // store is released when this returns, so it can be opened again (a reload).
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests;
