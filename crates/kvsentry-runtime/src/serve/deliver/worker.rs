//! One output's delivery worker: a thread that drains the output's outbox through its
//! [`Outlet`], so that a slow or failing receiver never holds up the passes that read input.
//!
//! Alerts go out in outbox order. Each is marked delivered only once its receiver took it
//! (a file: written and synced; a webhook: a 2xx answer); delivered alerts are recorded in
//! batches, and always before the worker waits. A failed attempt is tried again after a
//! backoff (doubling, capped, with jitter; a receiver's `Retry-After` is heeded), for as long
//! as it takes: the alerts behind it wait in the outbox. After each round of attempts
//! ([`Policy::round`]) the output is reported waiting, with why. An alert the receiver
//! refuses for good through a whole round goes to the dead-letter file and stops blocking
//! the rest.
//!
//! A file output is reconciled when its transport is built (at start, and after it broke):
//! pending alerts its files already hold, as a crash between writing and recording leaves
//! them, are recorded without being written again.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kvsentry_model::Alert;

use super::dead_letter::DeadLetters;
use super::outlet::{self, Built, Fate, Policy};
use crate::serve::config::OutputConfig;
use crate::serve::state::{LedgerRetention, Pending, StateStore};

/// Alerts taken from an outbox at a time.
const BATCH: usize = 1000;

/// Delivered alerts are recorded at least this often while a batch goes out, so that a
/// crash sends few of them again (a slow receiver takes a batch for long).
const RECORD_EVERY: Duration = Duration::from_millis(50);

/// How a worker keeps its output's ledger.
#[derive(Debug, Clone)]
pub(crate) struct Upkeep {
    /// How long delivered ids stay in the ledger, which keeps an alert produced again (a
    /// window closed once by a `--flush`, then again by later data) from going out twice.
    pub(crate) ledger_retention: SignedDuration,
    /// The ledger keeps at least this many ids; a file output's ledger also keeps at least as
    /// many as its files hold.
    pub(crate) ledger_min: u64,
    /// How often an idle worker prunes its ledger.
    pub(crate) prune_every: Duration,
}

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            ledger_retention: SignedDuration::from_hours(24 * 30),
            ledger_min: 10_000,
            prune_every: Duration::from_secs(600),
        }
    }
}

/// What a worker tells, and is told, through [`Shared`].
#[derive(Debug, Default, Clone)]
pub(crate) struct Status {
    /// Bumped when new alerts were queued.
    pub(crate) wake: u64,
    /// The worker is to deliver what its outbox holds while its receiver takes it, and end
    /// once the outbox is empty or at the first failure (no retries).
    pub(crate) finish: bool,
    /// The worker is to finish the alert under way, record what it delivered and end.
    pub(crate) stop: bool,
    /// The worker found the outbox empty after the wake of this generation, and has found
    /// nothing since.
    pub(crate) idle_at: Option<u64>,
    /// Why the output's first pending alert is still not delivered after a round of
    /// attempts (or why the output cannot be reached at all).
    pub(crate) waiting: Option<String>,
    /// The worker ended.
    pub(crate) stopped: bool,
    /// Alerts delivered by this process.
    pub(crate) delivered: u64,
    /// Attempts that retried one of the same round (the first attempt of a round is not a
    /// retry: a round is one attempt and `max_retries` retries).
    pub(crate) retries: u64,
    /// Rounds that ended without delivery (and failures to reach the output at all).
    pub(crate) failed_rounds: u64,
    /// Why the last of them failed.
    pub(crate) last_failure: Option<String>,
    /// Alerts dead-lettered by this process.
    pub(crate) dead_lettered: u64,
}

impl Status {
    /// A round of attempts ended without delivery, for this reason.
    fn failed(&mut self, why: String) {
        self.failed_rounds += 1;
        self.last_failure = Some(why.clone());
        self.waiting = Some(why);
    }

    /// The worker has done what it can for now: it ended, it waits for a receiver after a
    /// round of attempts, or it found the outbox empty after the last wake.
    pub(crate) fn settled(&self) -> bool {
        self.stopped || self.waiting.is_some() || self.idle_at == Some(self.wake)
    }
}

/// A worker's [`Status`], with the condition both sides wait on.
#[derive(Default)]
pub(crate) struct Shared {
    status: Mutex<Status>,
    cond: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.lock());
        self.cond.notify_all();
    }

    /// Waits until `done` holds of the status or `deadline` passes; whether it holds.
    pub(crate) fn wait_until(&self, deadline: Instant, done: impl Fn(&Status) -> bool) -> bool {
        let mut s = self.lock();
        loop {
            if done(&s) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = (self.cond.wait_timeout(s, deadline - now))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The worker's wait for new alerts: up to `d`, cut short by a wake after generation
    /// `seen`, a finish or a stop. False when the worker is to stop.
    fn idle(&self, d: Duration, seen: u64) -> bool {
        let deadline = Instant::now() + d;
        self.wait_until(deadline, |s| s.stop || s.finish || s.wake > seen);
        !self.lock().stop
    }

    /// The worker's wait before trying again: up to `d`, cut short by a stop or a finish
    /// (which ends the worker rather than wait). False when the worker is to end.
    fn back_off(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        self.wait_until(deadline, |s| s.stop || s.finish);
        let s = self.lock();
        !(s.stop || s.finish)
    }
}

/// What to do after a step.
enum Next {
    /// Go on with the batch.
    Go,
    /// Look at the outbox again.
    Again,
    /// End the worker.
    Stop,
}

pub(crate) struct Worker {
    output: OutputConfig,
    store: StateStore,
    shared: Arc<Shared>,
    policy: Policy,
    upkeep: Upkeep,
    state_dir: PathBuf,
    built: Option<Built>,
    /// The transport built at start, until the worker takes it up.
    first: Option<Built>,
    /// Whether the output is reconciled against what it holds (a file).
    reconciled: bool,
    dead: Option<DeadLetters>,
    /// Delivered and not yet recorded: outbox sequence numbers.
    done: Vec<u64>,
    /// When the oldest of `done` was delivered.
    done_since: Option<Instant>,
    /// Alerts the output's files hold, at least: its ledger keeps as many ids.
    held: u64,
    pruned_at: Option<Instant>,
    /// Failures in a row to build the transport or to reach the store, for the backoff.
    trouble: u32,
}

impl Worker {
    /// Starts the worker of `output` on a thread of its own.
    /// `built`: the output's transport, built by the caller (so that an output that cannot
    /// be opened at all is refused at start).
    pub(crate) fn spawn(
        output: &OutputConfig,
        built: Built,
        store: StateStore,
        state_dir: PathBuf,
        shared: Arc<Shared>,
        upkeep: Upkeep,
    ) -> std::io::Result<JoinHandle<()>> {
        let worker = Worker {
            policy: outlet::policy(output),
            output: output.clone(),
            store,
            shared,
            upkeep,
            state_dir,
            built: None,
            first: Some(built),
            reconciled: false,
            dead: None,
            done: Vec::new(),
            done_since: None,
            held: 0,
            pruned_at: None,
            trouble: 0,
        };
        std::thread::Builder::new()
            .name(format!("deliver {}", output.name))
            .spawn(move || worker.run())
    }

    fn run(mut self) {
        /// Says the worker ended, however it ends.
        struct Ended(Arc<Shared>);
        impl Drop for Ended {
            fn drop(&mut self) {
                self.0.update(|s| s.stopped = true);
            }
        }
        let _ended = Ended(Arc::clone(&self.shared));
        loop {
            if let Next::Stop = self.step() {
                break;
            }
        }
        // What was delivered is recorded; if that fails, it goes again next time.
        let _ = self.flush();
    }

    /// One look at the outbox, delivering what it holds.
    fn step(&mut self) -> Next {
        if self.shared.lock().stop {
            return Next::Stop;
        }
        if let Err(why) = self.prepare() {
            return self.trouble(why);
        }
        let seen = self.shared.lock().wake;
        let batch = match self.store.pending(&self.output.name, BATCH) {
            Ok(b) => b,
            Err(e) => return self.trouble(e.to_string()),
        };
        if batch.is_empty() {
            self.trouble = 0;
            self.shared.update(|s| {
                s.idle_at = Some(seen);
                s.waiting = None;
            });
            if self.shared.lock().finish {
                return Next::Stop;
            }
            self.prune_if_due();
            let every = self.upkeep.prune_every;
            return match self.shared.idle(every, seen) {
                true => Next::Again,
                false => Next::Stop,
            };
        }
        self.shared.update(|s| s.idle_at = None);
        for p in &batch {
            if self.shared.lock().stop {
                return Next::Stop;
            }
            match self.deliver(p) {
                Next::Go => {}
                other => return other,
            }
            if (self.done_since).is_some_and(|t| t.elapsed() >= RECORD_EVERY)
                && let Err(why) = self.flush()
            {
                return self.trouble(why);
            }
        }
        if let Err(why) = self.flush() {
            return self.trouble(why);
        }
        self.trouble = 0;
        Next::Again
    }

    /// Opens the dead-letter file's ids and builds the transport, if not done yet.
    fn prepare(&mut self) -> Result<(), String> {
        if self.dead.is_none() {
            let dead = DeadLetters::open(&self.state_dir, &self.output.name)
                .map_err(|e| format!("dead-letter file: {e}"))?;
            self.dead = Some(dead);
        }
        if self.built.is_none() {
            let mut built = match self.first.take() {
                Some(b) => b,
                None => outlet::build(&self.output).map_err(|e| e.to_string())?,
            };
            if let Some(ids) = &mut built.holds {
                // Ids the ledger holds are never queued again: only the others matter.
                (self.store.retain_undelivered(&self.output.name, ids))
                    .map_err(|e| e.to_string())?;
                self.reconciled = true;
            }
            self.held = self.held.max(built.held);
            self.built = Some(built);
        }
        Ok(())
    }

    /// Delivers one alert, trying until it is taken, dead-lettered or the worker stops.
    fn deliver(&mut self, p: &Pending) -> Next {
        let Some(built) = self.built.as_mut() else {
            return Next::Again;
        };
        if built.holds.as_mut().is_some_and(|h| h.remove(&p.id)) {
            self.note_done(p.seq);
            return Next::Go;
        }
        if self.dead.as_ref().is_some_and(|d| d.holds(&p.id)) {
            return self.dead_letter(p, None, 0);
        }
        let alert: Alert = match serde_json::from_slice(&p.encoded) {
            Ok(a) => a,
            Err(e) => return self.dead_letter(p, Some(&format!("not an alert: {e}")), 0),
        };
        let mut attempts = 0u32;
        // Refusals for good in a row: a round of them dead-letters the alert.
        let mut refusals = 0u32;
        loop {
            let Some(built) = self.built.as_mut() else {
                return Next::Again;
            };
            let result = built.outlet.deliver(&alert, &p.encoded);
            attempts += 1;
            let fate = result.map_err(outlet::fate);
            refusals = match &fate {
                Err(Fate::Refused(_)) => refusals + 1,
                _ => 0,
            };
            let (why, after, broken) = match fate {
                Ok(()) => {
                    self.note_done(p.seq);
                    self.shared.update(|s| {
                        s.delivered += 1;
                        s.waiting = None;
                    });
                    return Next::Go;
                }
                Err(Fate::Refused(why)) if refusals >= self.policy.round => {
                    return self.dead_letter(p, Some(&why), attempts);
                }
                Err(Fate::Refused(why)) => (why, None, false),
                Err(Fate::Retry { why, after }) => (why, after, false),
                Err(Fate::Broken(why)) => (why, None, true),
            };
            // What went before is recorded before waiting: the wait may be long, and a
            // `--once` run may end during it.
            if let Err(e) = self.flush() {
                return self.trouble(e);
            }
            let round = self.policy.round.max(1);
            let round_over = attempts.is_multiple_of(round);
            if round_over {
                self.shared.update(|s| s.failed(why));
            }
            let backoff = self.policy.backoff;
            let wait = after
                .unwrap_or_else(|| backoff.delay(attempts - 1))
                .min(backoff.max);
            if !self.shared.back_off(wait) {
                return Next::Stop;
            }
            if !round_over {
                self.shared.update(|s| s.retries += 1);
            }
            if broken {
                self.built = None;
                return Next::Again;
            }
        }
    }

    /// Writes `p` to the dead-letter file (unless `reason` is `None`: it is there already)
    /// and records it as dead-lettered.
    fn dead_letter(&mut self, p: &Pending, reason: Option<&str>, attempts: u32) -> Next {
        if let Err(e) = self.flush() {
            return self.trouble(e);
        }
        if let (Some(reason), Some(dead)) = (reason, self.dead.as_mut())
            && let Err(e) = dead.write(p, reason, attempts)
        {
            return self.trouble(format!("dead-letter file: {e}"));
        }
        match self.store.mark_dead_lettered(&self.output.name, &[p.seq]) {
            Ok(_) => {
                self.shared.update(|s| {
                    s.dead_lettered += 1;
                    s.waiting = None;
                });
                Next::Go
            }
            Err(e) => self.trouble(e.to_string()),
        }
    }

    fn note_done(&mut self, seq: u64) {
        self.done.push(seq);
        self.done_since.get_or_insert_with(Instant::now);
    }

    /// Makes what was delivered durable, then records it. On failure nothing is recorded
    /// (the alerts go again; a file's reconciliation keeps them from being written twice)
    /// and the transport is built anew.
    fn flush(&mut self) -> Result<(), String> {
        if self.done.is_empty() {
            return Ok(());
        }
        let done = std::mem::take(&mut self.done);
        self.done_since = None;
        if let Some(built) = self.built.as_mut()
            && let Err(e) = built.outlet.settle()
        {
            self.built = None;
            return Err(e.to_string());
        }
        let n = (self.store.mark_delivered(&self.output.name, &done)).map_err(|e| e.to_string())?;
        self.held += n;
        Ok(())
    }

    /// Something other than one alert failed: said, and tried again after a backoff.
    fn trouble(&mut self, why: String) -> Next {
        self.shared.update(|s| s.failed(why));
        let wait = self.policy.backoff.delay(self.trouble);
        self.trouble = self.trouble.saturating_add(1);
        match self.shared.back_off(wait) {
            true => Next::Again,
            false => Next::Stop,
        }
    }

    /// Prunes the ledger as [`Upkeep`] says, at most every `prune_every`.
    fn prune_if_due(&mut self) {
        if (self.pruned_at).is_some_and(|t| t.elapsed() < self.upkeep.prune_every) {
            return;
        }
        self.pruned_at = Some(Instant::now());
        let mut min = self.upkeep.ledger_min;
        if self.reconciled {
            // Every id the files hold stays in the ledger, so an alert produced again is
            // not queued, and written, a second time (the files are read once, at start).
            let dead = self.store.dead_lettered(&self.output.name).unwrap_or(0);
            min = min.max(self.held.saturating_add(dead));
        }
        let keep = LedgerRetention {
            older_than: Timestamp::now()
                .checked_sub(self.upkeep.ledger_retention)
                .ok(),
            max_entries: None,
            min_entries: min,
        };
        // A failed prune is tried again at the next one.
        let _ = self.store.prune_ledger(&self.output.name, &keep);
    }
}
