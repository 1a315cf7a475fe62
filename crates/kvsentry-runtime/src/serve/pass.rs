//! One serve pass: every input read as far as it goes, into the engine, then one checkpoint
//! (input positions, engine snapshot, new alerts into each output's outbox) committed in one
//! state transaction; each output's delivery worker then drains its outbox (see
//! [`Delivery`]), and a pass finding an outbox at its bound reads nothing.
//!
//! A pass that reads nothing new commits nothing, so a run with no new data repeats no
//! alert. A crash before the commit replays the pass from the previous checkpoint, whose
//! alerts the outboxes' and ledgers' ids keep from being queued twice.
//!
//! Time is kept per partition (a followed file, a blob, a topic partition): an event older
//! than `allowed_lateness` behind its own partition's newest event of earlier passes, or
//! than the engine's watermark, is late (`late.rs`: left out, dead-lettered). The engine
//! itself never drops for order (its lateness is unbounded); its watermark is moved at the
//! end of each pass (see [`Server::pass`]), and each partition's newest event time is
//! committed with the input positions, so a restart judges lateness exactly as before.
//! Around that: records read twice are dropped (`dedup.rs`), intel is refreshed and new
//! indicators retro-matched (`intel.rs`), and indicator matches go out at the end of the
//! pass that first saw them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvsentry_engine::{Engine, EngineOptions, EvidenceSource, Prepared, RestoreReport};
use kvsentry_ingest::{ReadOptions, Source, Unit};
use kvsentry_intel::IndicatorSet;
use kvsentry_model::{Alert, AuditEvent, Origin};
use kvsentry_output::encode::{Encoder, JsonLines};
use kvsentry_rules::RuleSet;

use super::ServeError;
use super::config::ServeConfig;
use super::dedup::{self, Dedup};
use super::deliver::Delivery;
use super::input::{self, ServeInput};
use super::intel::IntelWatch;
use super::late;
use super::load::{Loaded, check_supported, intel_paths, taxii_store};
use super::report::{InputPass, PassReport};
use super::state::{Commit, StateStore};
use crate::pipeline::{self, PipelineOptions};

/// The key of an input's own checkpoint (its kind's encoding) among its partitions' keys.
const POSITION: &[u8] = b"";

/// The key of the forms its files were read in (named in indicator alerts, which may be
/// raised in a later run than the one that read the event).
const FORMS: &[u8] = b"\0forms";

/// The key of the newest event time (ns) seen in each of the input's files (its
/// partitions), by source index: each file's own watermark survives a restart.
const PARTS: &[u8] = b"\0parts";

/// The key of the indicators the rules selected when the state was committed, as (id,
/// value): intel that differs at the next start is new, and retro-matched.
const TI_SELECTED: (&str, &[u8]) = ("\0ti", b"selected");

/// The engine's own lateness: far beyond any backlog, so the engine never drops an event
/// for order; the watermark is moved by the partitions (see [`Server::pass`]).
const UNBOUNDED: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 365 * 100);

/// How a pass runs.
#[derive(Debug, Clone, Default)]
pub struct PassOptions {
    /// Close every open window and run the indicator rules at the end (what `hunt` does
    /// when its input ends), every followed file taken as complete; the state committed is
    /// the one before the flush, so a later run goes on with open windows. The engine in
    /// memory has ended its run: after a flush pass, drop the `Server` and open it again.
    pub flush: bool,
    /// Worker threads; 0 means every core.
    pub threads: usize,
    /// Most bytes a pass reads from one input before it checkpoints (0: 64 MiB): a
    /// backlog is consumed in bounded passes, each committed, so a crash loses at most one
    /// and a restart makes progress. A pass cut short does not move the watermark (what
    /// it did not read may be older) nor flush: [`Server::catch_up`] runs passes until
    /// every input is caught up.
    pub max_bytes: u64,
}

/// [`PassOptions::max_bytes`] when 0.
const DEFAULT_PASS_BYTES: u64 = 64 << 20;

/// Names of the files read so far, by source index, shared with the engine's evidence
/// callbacks (files appear while the pipeline reads).
#[derive(Default)]
struct Names {
    names: BTreeMap<u32, String>,
    forms: BTreeMap<u32, String>,
}

type SharedNames = Arc<Mutex<Names>>;

/// The state of one serve process: the store (held open, which locks `state_dir`), the
/// engine and the inputs' followers.
pub struct Server {
    config: ServeConfig,
    store: StateStore,
    engine: Engine,
    /// Each input's name, source and read options.
    inputs: Vec<(String, ServeInput, ReadOptions)>,
    names: SharedNames,
    restore: Option<RestoreReport>,
    /// Newest event time (ns) per partition (a followed file, by source index).
    parts: BTreeMap<u32, i64>,
    /// The outputs' delivery workers.
    delivery: Delivery,
    rules: RuleSet,
    intel: Option<Arc<IndicatorSet>>,
    watch: Option<IntelWatch>,
    /// The indicators selected before the intel changed, until retro-matching ran.
    retro_pending: Option<BTreeSet<(String, String)>>,
    /// The selection to commit, when it changed.
    selection_changed: bool,
    /// Why syncing TAXII at start failed, for the first pass's report.
    ti_error: Option<String>,
    /// Records already counted, so a copy is not.
    dedup: Dedup,
    /// Since when no pass read anything (see `idle_timeout`).
    idle_since: Option<std::time::Instant>,
}

/// Stops a [`Server`]'s reading (see [`Server::stop_handle`]); may be used from a signal
/// handler's thread.
#[derive(Clone)]
pub struct StopHandle(Vec<Arc<AtomicBool>>);

impl StopHandle {
    pub fn stop(&self) {
        for flag in &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

impl Server {
    /// Opens the state store (refused while another serve holds it), restores the engine
    /// from its snapshot (or starts a new one) and resumes each input from its checkpoint.
    pub fn open(config: ServeConfig, loaded: &Loaded) -> Result<Server, ServeError> {
        check_supported(&config)?;
        let store = StateStore::open(config.state_dir())?;
        let stored = store.load()?;
        let names: SharedNames = Arc::default();
        // TAXII collections are synced before the first pass, so a `--once` run sees what
        // the server has now; a server that cannot be reached leaves the stored copy.
        let mut intel = loaded.intel.clone();
        let mut ti_error = None;
        if !config.ti().taxii.is_empty() {
            match super::intel::sync_all(&config.ti().taxii, &taxii_store(&config)) {
                Ok(()) => {
                    let load = crate::ti::load(
                        &intel_paths(&config),
                        &kvsentry_intel::LoadOptions::default(),
                    )?;
                    intel = (!load.set.is_empty()).then(|| Arc::new(load.set)).or(intel);
                }
                Err(e) => ti_error = Some(e),
            }
        }
        let opts = engine_options(intel.clone(), &names);
        let (engine, restore) = match &stored {
            Some(s) => {
                let (engine, report) = Engine::restore(&loaded.rules, opts, &s.engine)?;
                (engine, Some(report))
            }
            None => (Engine::new(&loaded.rules, opts)?, None),
        };
        let mut inputs = Vec::new();
        let mut parts = BTreeMap::new();
        for (i, input) in config.inputs().iter().enumerate() {
            let read = ReadOptions {
                format: input.log_format.unwrap_or_default(),
                ..ReadOptions::default()
            };
            let key = (input.name.clone(), POSITION.to_vec());
            let stored_pos = stored.as_ref().and_then(|s| s.positions.get(&key));
            let source = ServeInput::open(i, input, &read, stored_pos.map(Vec::as_slice))?;
            {
                let mut n = names.lock().unwrap_or_else(|p| p.into_inner());
                let key = (input.name.clone(), FORMS.to_vec());
                if let Some(bytes) = stored.as_ref().and_then(|s| s.positions.get(&key)) {
                    let forms: BTreeMap<u32, String> =
                        postcard::from_bytes(bytes).map_err(|e| ServeError::Checkpoint {
                            name: input.name.clone(),
                            reason: e.to_string(),
                        })?;
                    n.forms.extend(forms);
                }
                let key = (input.name.clone(), PARTS.to_vec());
                if let Some(bytes) = stored.as_ref().and_then(|s| s.positions.get(&key)) {
                    let p: BTreeMap<u32, i64> =
                        postcard::from_bytes(bytes).map_err(|e| ServeError::Checkpoint {
                            name: input.name.clone(),
                            reason: e.to_string(),
                        })?;
                    parts.extend(p);
                }
                for (k, name) in source.names().iter().enumerate() {
                    n.names
                        .insert(input::first_source(i) + k as u32, name.clone());
                }
            }
            inputs.push((input.name.clone(), source, read));
        }
        let delivery = Delivery::start(&store, &config)?;
        let dedup = Dedup::load(
            stored
                .iter()
                .flat_map(|s| s.positions.iter())
                .filter(|((input, _), _)| input == dedup::INPUT)
                .map(|((_, k), v)| (k.as_slice(), v.as_slice())),
        )?;
        let selected = engine.selected_indicators();
        let stored_selection: Option<BTreeSet<(String, String)>> = stored
            .as_ref()
            .and_then(|s| {
                s.positions
                    .get(&(TI_SELECTED.0.to_string(), TI_SELECTED.1.to_vec()))
            })
            .and_then(|b| postcard::from_bytes(b).ok());
        let retro_pending = stored_selection.filter(|old| *old != selected);
        let watch = (!config.ti().is_empty()).then(|| {
            IntelWatch::new(
                &config.ti().paths,
                &config.ti().taxii,
                &taxii_store(&config),
                std_duration(config.ti().refresh.as_nanos()),
            )
        });
        Ok(Server {
            selection_changed: stored.is_none() || retro_pending.is_some(),
            config,
            store,
            engine,
            inputs,
            names,
            restore,
            parts,
            delivery,
            rules: loaded.rules.clone(),
            intel,
            ti_error,
            watch,
            retro_pending,
            idle_since: None,
            dedup,
        })
    }

    /// How the engine was restored: `None` for a first run.
    pub fn restore_report(&self) -> Option<&RestoreReport> {
        self.restore.as_ref()
    }

    /// A handle that stops the server's reading: a pass under way stops at the next unit of
    /// each input, and commits what it read (the pass after it reads nothing).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(
            self.inputs
                .iter()
                .map(|(_, s, _)| s.stop_handle())
                .collect(),
        )
    }

    /// The engine's watermark: windows ending at or before it have closed.
    pub fn watermark(&self) -> Option<jiff::Timestamp> {
        self.engine.watermark()
    }

    /// The configuration served.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// The outputs' delivery workers (their status, and waiting for them before exit).
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// Forgets the partitions whose own watermark is behind the engine's (their floor for
    /// lateness is the engine's now, so nothing changes), keeping the newest (the idle rule
    /// and retro-matching start from it), with the forms of their events.
    fn prune_parts(&mut self, lateness: i64) {
        let Some(w) = self.engine.watermark().map(nanos_of) else {
            return;
        };
        let newest = self.parts.iter().max_by_key(|(_, t)| **t).map(|(k, _)| *k);
        let before = self.parts.len();
        self.parts
            .retain(|k, t| Some(*k) == newest || t.saturating_sub(lateness) >= w);
        if self.parts.len() < before {
            let parts = &self.parts;
            let mut n = self.names.lock().unwrap_or_else(|p| p.into_inner());
            n.forms.retain(|k, _| parts.contains_key(k));
        }
    }

    /// Intel loaded again: the engine goes on with it (its state kept), and the indicators
    /// new to it are retro-matched at the start of the next pass.
    fn take_intel(&mut self, set: Arc<IndicatorSet>) -> Result<(), ServeError> {
        let known = self.engine.selected_indicators();
        let snap = self.engine.snapshot()?;
        self.intel = Some(set);
        let opts = engine_options(self.intel.clone(), &self.names);
        let (engine, _) = Engine::restore(&self.rules, opts, &snap)?;
        self.engine = engine;
        if self.engine.selected_indicators() != known {
            self.retro_pending.get_or_insert(known);
            self.selection_changed = true;
        }
        Ok(())
    }

    /// Retro-matching: indicators new since `known` against the caller addresses seen
    /// within `retro_lookback` of the newest event.
    fn retro_match(
        &mut self,
        known: &BTreeSet<(String, String)>,
        alerts: &mut Vec<Alert>,
    ) -> Result<u64, ServeError> {
        let Some(newest) = self.parts.values().max().copied() else {
            return Ok(0);
        };
        let lookback = nanos(self.config.ti().retro_lookback.as_signed_duration());
        let since = jiff::Timestamp::from_nanosecond(i128::from(newest.saturating_sub(lookback)))
            .unwrap_or(jiff::Timestamp::MIN);
        let history = self.store.ips_since(since)?;
        let before = alerts.len();
        self.engine.retro_match(known, &history, alerts);
        self.store.prune_ips_before(since)?;
        Ok((alerts.len() - before) as u64)
    }

    /// Passes until every input is caught up (what `--once` runs): a backlog larger than
    /// [`PassOptions::max_bytes`] is read in several passes, each committed; the last
    /// one flushes when asked. The reports are summed.
    pub fn catch_up(&mut self, opts: &PassOptions) -> Result<PassReport, ServeError> {
        let mut total = self.pass(opts)?;
        while !total.caught_up && !total.held_back && !self.stopped() {
            let next = self.pass(opts)?;
            total.absorb(next);
        }
        Ok(total)
    }

    /// Whether a stop was asked for (see [`Server::stop_handle`]).
    fn stopped(&self) -> bool {
        self.inputs
            .iter()
            .any(|(_, s, _)| s.stop_handle().load(Ordering::Relaxed))
    }

    /// One pass: see the module documentation.
    pub fn pass(&mut self, opts: &PassOptions) -> Result<PassReport, ServeError> {
        let mut report = PassReport {
            caught_up: true,
            passes: 1,
            ..PassReport::default()
        };
        let budget = match opts.max_bytes {
            0 => DEFAULT_PASS_BYTES,
            n => n,
        };
        if self.delivery.hold_back()? {
            (report.held_back, report.caught_up) = (true, false);
            let d = self.delivery.after_commit()?;
            (report.delivered, report.retries) = (d.delivered, d.retries);
            (report.pending, report.waiting) = (d.pending, d.waiting);
            report.state_bytes = self.store.size_bytes()?;
            return Ok(report);
        }
        let mut alerts = Vec::new();
        let reloaded = match self.watch.as_mut() {
            Some(w) if opts.flush => w.poll().or_else(|| w.wait()),
            Some(w) => w.poll(),
            None => None,
        };
        match reloaded {
            Some(Ok(set)) => {
                report.ti_reloaded = Some(set.len());
                self.take_intel(set)?;
            }
            Some(Err(why)) => report.ti_error = Some(why),
            None => report.ti_error = self.ti_error.take(),
        }
        if let Some(known) = self.retro_pending.take() {
            report.retro_alerts = self.retro_match(&known, &mut alerts)?;
        }
        let record_ips = self.intel.is_some();
        let mut seen: foldhash::HashMap<std::net::IpAddr, i64> = foldhash::HashMap::default();
        let late_before = self.engine.stats().late_dropped;
        let mut dead_letters = Vec::new();
        let threads = pipeline::resolve_threads(opts.threads);
        let lateness = nanos(self.config.allowed_lateness().as_signed_duration());
        // Partitions that received data in this pass, with their newest event time.
        let mut active: BTreeMap<u32, i64> = BTreeMap::new();
        let hasher = self.dedup.hasher();
        let mut unread_floor: Option<i64> = Some(i64::MAX);
        let mut stopped = false;
        let floors = late::Floors::new(
            self.parts.iter(),
            lateness,
            self.engine.watermark().map(nanos_of),
        );
        for (i, (input_name, source, read)) in self.inputs.iter_mut().enumerate() {
            if opts.flush {
                // The last pass: what is there is complete, however recently written.
                source.settle_all();
            }
            let popts = PipelineOptions {
                read: read.clone(),
                threads,
                progress: None,
                cancel: None,
            };
            let preparer = self.engine.preparer();
            let engine = &mut self.engine;
            let parts = &mut self.parts;
            let active = &mut active;
            let seen = &mut seen;
            let mut events = 0u64;
            let mut late = 0u64;
            let mut duplicates = 0u64;
            let dedup = &mut self.dedup;
            let hasher = &hasher;
            let dead_letters = &mut dead_letters;
            let (floors, names, input_name) = (&floors, &self.names, input_name.as_str());
            let mut cut = false;
            let tracked = Tracked {
                known: source.names().len(),
                input: &mut *source,
                names: &self.names,
                first: input::first_source(i),
                budget,
                read: 0,
                cut: &mut cut,
            };
            let outcome = pipeline::run_source(
                tracked,
                &popts,
                &|ev: &AuditEvent<'_>| {
                    let source = ev.origin.source;
                    if floors.is_late(source, nanos_of(ev.time)) {
                        let n = names.lock().unwrap_or_else(|p| p.into_inner());
                        let at = match n.names.get(&source) {
                            Some(name) => format!("{name}:{}", ev.origin.line),
                            None => format!("{source}:{}", ev.origin.line),
                        };
                        drop(n);
                        return Some(Staged::Late(late::storage_record(ev, input_name, &at)));
                    }
                    let ip = if record_ips {
                        ev.caller_ip.addr()
                    } else {
                        None
                    };
                    Some(Staged::Event(
                        source,
                        ip,
                        hasher.key(ev),
                        preparer.prepare(ev),
                    ))
                },
                &mut |batch: pipeline::Batch<Staged>| {
                    for staged in batch.prepared {
                        events += 1;
                        let (source, ip, key, p) = match staged {
                            Staged::Event(source, ip, key, p) => (source, ip, key, p),
                            Staged::Late(record) => {
                                late += 1;
                                dead_letters.extend_from_slice(&record);
                                continue;
                            }
                        };
                        let t = p.time_nanos();
                        if dedup.seen(key, t) {
                            duplicates += 1;
                            continue;
                        }
                        if let Some(ip) = ip {
                            let last = seen.entry(ip).or_insert(t);
                            *last = (*last).max(t);
                        }
                        let max = parts.entry(source).or_insert(t);
                        *max = (*max).max(t);
                        active.insert(source, *max);
                        engine.observe(p, &mut alerts);
                    }
                },
            );
            {
                let mut n = self.names.lock().unwrap_or_else(|p| p.into_inner());
                n.forms.extend(
                    (outcome.stats.source_forms.iter()).map(|(k, f)| (*k, f.name().to_string())),
                );
            }
            report.caught_up &= !cut;
            if cut {
                // What the input still holds is no older than this (None: unknown).
                unread_floor = match (unread_floor, source_floor(source)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    _ => None,
                };
            }
            report.events += events;
            report.duplicates += duplicates;
            report.late_events += late;
            let skipped = outcome.stats.skipped.iter().map(|(r, n)| (r.as_str(), *n));
            let watermark = input_watermark(active, &self.parts, i, lateness);
            let skipped = skipped.collect();
            (report.inputs).insert(
                input_name.to_string(),
                InputPass {
                    events,
                    late,
                    skipped,
                    watermark,
                    backlog: 0,
                },
            );
            report
                .file_errors
                .extend(outcome.errors.iter().map(|e| e.to_string()));
        }
        for (name, source, _) in &self.inputs {
            let (done, known) = source.progress();
            if let Some(i) = report.inputs.get_mut(name) {
                i.backlog = known.saturating_sub(done);
            }
        }
        if self.stopped() {
            // Stopped mid-way: what was read is committed, nothing more is concluded.
            report.caught_up = false;
            stopped = true;
        }
        // The combined watermark moves only at the end of a pass, when every file has been
        // read as far as it goes: a file read later in the pass (another vault's same
        // hour) never finds its windows closed by one read earlier. It is the least of the
        // own watermarks of the files that received data in this pass (a backlog holds the
        // watermark back); files with nothing new are idle and hold no one back. A pass
        // that finds nothing new anywhere finds every file settled: the watermark goes to
        // the newest file's, so the last windows of a quiet input close.
        //
        // When nothing was read and that lasts `idle_timeout`, the watermark moves on with
        // the wall clock from the newest event, so the last windows of a quiet input close
        // about `allowed_lateness` after its data stopped, as they would with live data.
        // A pass cut short by its size bound moves the watermark no further than what it
        // did not read yet may hold (the start of the earliest Storage blob hour waiting;
        // without such a bound, not at all), so a backlog is read with bounded memory and
        // nothing closes early. A stopped pass moves nothing.
        let now = std::time::Instant::now();
        if report.events == 0 && report.caught_up {
            self.idle_since.get_or_insert(now);
        } else {
            self.idle_since = None;
        }
        let idle = self.idle_since.map(|since| now.duration_since(since));
        let idle_timeout = std_duration(self.config.idle_timeout().as_nanos());
        let combined = match active.values().min() {
            _ if stopped => None,
            _ if !report.caught_up => match (active.values().min(), unread_floor) {
                (Some(min), Some(floor)) => Some((*min).min(floor.saturating_add(lateness))),
                _ => None,
            },
            Some(min) => Some(*min),
            None => self.parts.values().max().map(|newest| match idle {
                Some(idle) if idle >= idle_timeout => {
                    newest.saturating_add(i64::try_from(idle.as_nanos()).unwrap_or(i64::MAX))
                }
                _ => *newest,
            }),
        };
        if let Some(t) = combined {
            let w = jiff::Timestamp::from_nanosecond(i128::from(t.saturating_sub(lateness)));
            if let Ok(w) = w {
                self.engine.advance_to(w, &mut alerts);
            }
        }
        // Indicator matches go out at the end of the pass that first saw them, each
        // (indicator, address) once: over the stream, the ids of `hunt`'s one run.
        self.engine.release_indicator_matches(&mut alerts);
        self.prune_parts(lateness);
        if let Some(w) = self.engine.watermark() {
            self.dedup.prune(nanos_of(w));
        }
        report.late_dropped = self.engine.stats().late_dropped - late_before;
        // A flush closes every window for this run's delivery, but the state keeps them open:
        // a later run with more data goes on from where the data ended, not from the end of
        // time, and the alerts the flush sent are not sent again (their ids are queued once).
        let kept = if opts.flush && report.caught_up {
            let open = self.engine.snapshot()?;
            self.engine.finish(&mut alerts);
            Some(open)
        } else {
            None
        };
        report.alerts = alerts.len() as u64;
        for a in &alerts {
            *report.rule_alerts.entry(a.rule.id.clone()).or_default() += 1;
        }
        late::append(
            &late::dead_letter_path(self.config.state_dir()),
            &dead_letters,
        )
        .map_err(|e| ServeError::DeadLetter(e.to_string()))?;
        if report.events > 0 || (opts.flush && report.caught_up) || !alerts.is_empty() {
            self.commit(&alerts, kept, &seen)?;
            report.committed = true;
            for (_, source, _) in &mut self.inputs {
                source.committed();
            }
        }
        let d = self.delivery.after_commit()?;
        (report.delivered, report.retries) = (d.delivered, d.retries);
        (report.pending, report.waiting) = (d.pending, d.waiting);
        report.state_bytes = self.store.size_bytes()?;
        Ok(report)
    }

    /// Input positions, the engine snapshot and the new alerts, in one transaction.
    /// `engine`: the snapshot to keep, if not the engine's state now.
    fn commit(
        &mut self,
        alerts: &[Alert],
        engine: Option<Vec<u8>>,
        seen: &foldhash::HashMap<std::net::IpAddr, i64>,
    ) -> Result<(), ServeError> {
        let engine = match engine {
            Some(bytes) => bytes,
            None => self.engine.snapshot()?,
        };
        let mut commit = Commit::new(engine);
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (name, source, _)) in self.inputs.iter().enumerate() {
            let bad = |e: postcard::Error| ServeError::Checkpoint {
                name: name.clone(),
                reason: e.to_string(),
            };
            commit.position(name, POSITION, &source.checkpoint(name)?);
            let first = input::first_source(i);
            let forms: BTreeMap<u32, String> = (names.forms.range(first..))
                .take_while(|(k, _)| input::belongs(**k, first))
                .map(|(k, f)| (*k, f.clone()))
                .collect();
            commit.position(name, FORMS, &postcard::to_allocvec(&forms).map_err(bad)?);
            let parts: BTreeMap<u32, i64> = (self.parts.range(first..))
                .take_while(|(k, _)| input::belongs(**k, first))
                .map(|(k, t)| (*k, *t))
                .collect();
            commit.position(name, PARTS, &postcard::to_allocvec(&parts).map_err(bad)?);
        }
        drop(names);
        let ips: Vec<(std::net::IpAddr, jiff::Timestamp)> = seen
            .iter()
            .filter_map(|(ip, t)| {
                Some((*ip, jiff::Timestamp::from_nanosecond(i128::from(*t)).ok()?))
            })
            .collect();
        commit.ips(&ips);
        self.dedup.commit(&mut commit)?;
        if self.selection_changed {
            let selected = self.engine.selected_indicators();
            let bytes = postcard::to_allocvec(&selected).map_err(|e| ServeError::Checkpoint {
                name: "[ti]".into(),
                reason: e.to_string(),
            })?;
            commit.position(TI_SELECTED.0, TI_SELECTED.1, &bytes);
        }
        let mut encoder = JsonLines::new();
        let mut line = Vec::new();
        for a in alerts {
            line.clear();
            encoder.encode(a, &mut line).map_err(ServeError::Encode)?;
            for o in self.config.outputs() {
                commit.alert(&o.name, &a.alert_id, &line);
            }
        }
        self.store.commit(&commit)?;
        self.selection_changed = false;
        self.dedup.committed();
        Ok(())
    }
}

/// The engine's options, as `hunt` sets them, with the configured lateness.
fn engine_options(intel: Option<Arc<IndicatorSet>>, names: &SharedNames) -> EngineOptions {
    let evidence: EvidenceSource = {
        let names = Arc::clone(names);
        Arc::new(move |o: &Origin| {
            let n = names.lock().unwrap_or_else(|p| p.into_inner());
            let name = n.names.get(&o.source)?;
            Some(if o.line > 0 {
                format!("{name}:{}", o.line)
            } else {
                name.clone()
            })
        })
    };
    let form: EvidenceSource = {
        let names = Arc::clone(names);
        Arc::new(move |o: &Origin| {
            let n = names.lock().unwrap_or_else(|p| p.into_inner());
            n.forms.get(&o.source).cloned()
        })
    };
    EngineOptions {
        max_lateness: UNBOUNDED,
        evidence_source: Some(evidence),
        source_form: Some(form),
        intel,
        ..EngineOptions::default()
    }
}

/// Input `i`'s own watermark: as the combined one (see [`Server::pass`]), over its
/// partitions only.
fn input_watermark(
    active: &BTreeMap<u32, i64>,
    parts: &BTreeMap<u32, i64>,
    i: usize,
    lateness: i64,
) -> Option<i64> {
    fn of_input(m: &BTreeMap<u32, i64>, first: u32) -> impl Iterator<Item = i64> + '_ {
        (m.range(first..))
            .take_while(move |(k, _)| input::belongs(**k, first))
            .map(|(_, t)| *t)
    }
    let first = input::first_source(i);
    let newest = match of_input(active, first).min() {
        Some(t) => Some(t),
        None => of_input(parts, first).max(),
    };
    newest.map(|t| t.saturating_sub(lateness))
}

fn std_duration(nanos: i64) -> Duration {
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// See `ServeInput::unread_floor`: `None` when no bound is known.
fn source_floor(input: &ServeInput) -> Option<i64> {
    match input.unread_floor() {
        None => Some(i64::MAX),
        Some(floor) => floor,
    }
}

/// What the workers hand the engine's thread: an event prepared, with its partition and
/// caller address (for the retro history), or a late event's dead-letter record (rare:
/// boxing the common variant would cost an allocation per event).
#[allow(clippy::large_enum_variant)]
enum Staged {
    Event(u32, Option<std::net::IpAddr>, u128, Prepared),
    Late(Vec<u8>),
}

/// `t` in nanoseconds, saturated.
fn nanos_of(t: jiff::Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t.as_nanosecond() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// `d` in nanoseconds, saturated.
fn nanos(d: jiff::SignedDuration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// An input lent to the pipeline, noting each partition's name and form as its units go
/// out (before any of its events reach the engine).
struct Tracked<'a> {
    input: &'a mut ServeInput,
    names: &'a SharedNames,
    first: u32,
    /// The follower's files already named.
    known: usize,
    /// Bytes of blocks this pass may take, and took.
    budget: u64,
    read: u64,
    /// Set when the budget ended the pass before the input did.
    cut: &'a mut bool,
}

impl Source for Tracked<'_> {
    fn next_unit(&mut self) -> Option<Unit> {
        if self.read >= self.budget {
            *self.cut = true;
            return None;
        }
        let unit = self.input.next_unit()?;
        if let Unit::Block(b) = &unit {
            self.read += b.data().len() as u64;
        }
        let mut n = self.names.lock().unwrap_or_else(|p| p.into_inner());
        for (k, name) in self.input.names().iter().enumerate().skip(self.known) {
            n.names.insert(self.first + k as u32, name.clone());
        }
        self.known = self.input.names().len();
        if let Unit::Block(b) = &unit {
            n.forms
                .entry(b.source)
                .or_insert_with(|| b.form.name().to_string());
        }
        Some(unit)
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        self.input.recycle(buffer);
    }

    fn progress(&self) -> (u64, u64) {
        self.input.progress()
    }
}
