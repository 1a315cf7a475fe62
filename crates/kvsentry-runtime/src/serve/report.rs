//! What a pass did: [`PassReport`], per input [`InputPass`], and the sum of several.

use std::collections::BTreeMap;

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Events read, over every input.
    pub events: u64,
    /// Events older than the watermark (`allowed_lateness` behind the newest event) that no
    /// open window could take, in this pass: they changed no alert.
    pub late_dropped: u64,
    /// Events late in this pass (see `serve/late.rs`): older than their own partition's
    /// watermark (`allowed_lateness` behind the newest event time it had before this
    /// pass) or than the engine's: left out of the engine and written to the dead-letter
    /// file (`<state_dir>/dead-letter/late-events.jsonl`, Storage records `hunt` reads).
    /// By input: [`InputPass::late`].
    pub late_events: u64,
    /// Records read again (the same identity as one counted before: a copied file, one
    /// vault delivered through two inputs), left out as `hunt` leaves them out.
    pub duplicates: u64,
    /// Alerts the engine raised in this pass.
    pub alerts: u64,
    /// Alerts delivered since the previous pass, by output name (each output delivers
    /// from a thread of its own: see [`Server::delivery`]).
    pub delivered: BTreeMap<String, u64>,
    /// A checkpoint was committed (something new was read, or `flush` closed windows).
    pub committed: bool,
    /// Outputs whose receiver failed, with why: their alerts wait in the state store and
    /// are retried.
    pub waiting: BTreeMap<String, String>,
    /// An output's outbox was at its bound: this pass read nothing (back-pressure).
    pub held_back: bool,
    /// Inputs' files that stopped with an error (what was readable was read).
    pub file_errors: Vec<String>,
    /// The intel was loaded again (its files changed): indicator versions loaded.
    pub ti_reloaded: Option<usize>,
    /// The intel's files changed but could not be loaded (the set in use stays).
    pub ti_error: Option<String>,
    /// Alerts raised by retro-matching new indicators against caller addresses seen
    /// before.
    pub retro_alerts: u64,
    /// Every input was read as far as it goes (false: a pass cut short by
    /// [`PassOptions::max_bytes`] or stopped).
    pub caught_up: bool,
    /// Passes this report sums (see [`Server::catch_up`]).
    pub passes: u64,
    /// What each input gave in this pass, by input name.
    pub inputs: BTreeMap<String, InputPass>,
    /// Alerts the engine raised in this pass, by rule id.
    pub rule_alerts: BTreeMap<String, u64>,
    /// Requests to a receiver that were retries, by output name.
    pub retries: BTreeMap<String, u64>,
    /// Alerts waiting in each output's outbox after the pass, by output name.
    pub pending: BTreeMap<String, u64>,
    /// The size of the state store's file after the pass.
    pub state_bytes: u64,
}

/// What one input gave in a pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputPass {
    /// Events read.
    pub events: u64,
    /// Of them, events late (see [`PassReport::late_events`]).
    pub late: u64,
    /// Records skipped, by reason ([`kvsentry_ingest::SkipReason::as_str`]).
    pub skipped: BTreeMap<&'static str, u64>,
    /// The input's own watermark after the pass (ns since the epoch): its newest event time
    /// less `allowed_lateness`, taken over its partitions as the combined one is; `None`
    /// before its first event.
    pub watermark: Option<i64>,
    /// What the input knows of and has not read yet after the pass, as its
    /// [`Source::progress`] counts: bytes for files.
    pub backlog: u64,
}

impl PassReport {
    /// Adds a later pass's report to this one.
    pub(crate) fn absorb(&mut self, later: PassReport) {
        self.events += later.events;
        self.late_dropped += later.late_dropped;
        self.late_events += later.late_events;
        self.duplicates += later.duplicates;
        self.alerts += later.alerts;
        for (k, n) in later.delivered {
            *self.delivered.entry(k).or_default() += n;
        }
        self.committed |= later.committed;
        self.waiting = later.waiting;
        self.held_back |= later.held_back;
        self.file_errors.extend(later.file_errors);
        self.ti_reloaded = later.ti_reloaded.or(self.ti_reloaded);
        self.ti_error = later.ti_error.or(self.ti_error.take());
        self.retro_alerts += later.retro_alerts;
        self.caught_up = later.caught_up;
        self.passes += later.passes;
        for (k, i) in later.inputs {
            let mine = self.inputs.entry(k).or_default();
            mine.events += i.events;
            mine.late += i.late;
            for (r, n) in i.skipped {
                *mine.skipped.entry(r).or_default() += n;
            }
            mine.watermark = i.watermark.or(mine.watermark);
            mine.backlog = i.backlog;
        }
        for (k, n) in later.rule_alerts {
            *self.rule_alerts.entry(k).or_default() += n;
        }
        for (k, n) in later.retries {
            *self.retries.entry(k).or_default() += n;
        }
        self.pending = later.pending;
        self.state_bytes = later.state_bytes;
    }
}
