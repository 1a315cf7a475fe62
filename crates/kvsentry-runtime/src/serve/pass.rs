//! One serve pass: every input read as far as it goes, into the engine, then one checkpoint
//! (input positions, engine snapshot, new alerts into each output's outbox) committed in one
//! state transaction, then each output's outbox drained.
//!
//! A pass that reads nothing new commits nothing, so a run with no new data repeats no
//! alert. A crash before the commit replays the pass from the previous checkpoint, whose
//! alerts the outboxes' and ledgers' ids keep from being queued twice.
//!
//! Time is kept per partition (a followed file): an event older than `allowed_lateness`
//! behind its own file's newest event is late ([`PassReport::late_events`]). The engine
//! itself never drops for order (its lateness is unbounded); its watermark is moved at the
//! end of each pass (see [`Server::pass`]), and each file's newest event time is committed
//! with the input positions, so a restart judges lateness exactly as before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use kvsentry_engine::{Engine, EngineOptions, EvidenceSource, Prepared, RestoreReport};
use kvsentry_ingest::{ReadOptions, Source, Unit};
use kvsentry_intel::IndicatorSet;
use kvsentry_model::{Alert, AuditEvent, Origin};
use kvsentry_output::encode::{Encoder, JsonLines};
use kvsentry_rules::RuleSet;

use super::ServeError;
use super::config::{InputKind, ServeConfig};
use super::deliver;
use super::input::{self, ServeInput};
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
}

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Events read, over every input.
    pub events: u64,
    /// Events older than the watermark (`allowed_lateness` behind the newest event) that no
    /// open window could take, in this pass: they changed no alert.
    pub late_dropped: u64,
    /// Events older than their own file's watermark (`allowed_lateness` behind the newest
    /// event of that file), or behind the combined watermark, in this pass.
    pub late_events: u64,
    /// Alerts the engine raised in this pass.
    pub alerts: u64,
    /// Alerts delivered, by output name.
    pub delivered: BTreeMap<String, u64>,
    /// A checkpoint was committed (something new was read, or `flush` closed windows).
    pub committed: bool,
    /// Outputs whose receiver failed, with why: their alerts wait in the state store for
    /// the next pass.
    pub waiting: BTreeMap<String, String>,
    /// Inputs' files that stopped with an error (what was readable was read).
    pub file_errors: Vec<String>,
}

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
    /// File outputs already reconciled by this process.
    reconciled: BTreeSet<String>,
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

/// The rules and intel a configuration names, loaded (what `--check-config` checks).
pub struct Loaded {
    pub rules: RuleSet,
    /// Notes about the rules (a user rule replacing a built-in one).
    pub notes: Vec<String>,
    pub intel: Option<Arc<IndicatorSet>>,
    /// Indicator versions loaded (0 without `[ti]`).
    pub indicators: usize,
    /// Warnings from loading the intel (files not loaded, ...).
    pub ti_warnings: Vec<String>,
}

/// Loads the configuration's rules and intel, and refuses what this version cannot run.
pub fn load(config: &ServeConfig) -> Result<Loaded, ServeError> {
    check_supported(config)?;
    let rules = crate::rules::load_rules(config.rules(), config.builtin())?;
    let (intel, indicators, ti_warnings) = if config.ti().paths.is_empty() {
        (None, 0, Vec::new())
    } else {
        let load = crate::ti::load(&config.ti().paths, &kvsentry_intel::LoadOptions::default())?;
        let mut warnings = load.warnings();
        for f in &load.report.failed_files {
            warnings.push(format!("{}: not loaded: {}", f.path.display(), f.error));
        }
        let n = load.set.len();
        (Some(Arc::new(load.set)), n, warnings)
    };
    Ok(Loaded {
        rules: rules.rules,
        notes: rules.notes,
        intel,
        indicators,
        ti_warnings,
    })
}

/// Refuses inputs and outputs this version does not run yet, naming them.
fn check_supported(config: &ServeConfig) -> Result<(), ServeError> {
    if config.inputs().len() > input::MAX_INPUTS {
        return Err(ServeError::NotYet {
            what: format!("{} inputs", config.inputs().len()),
            feature: "more than 256 inputs",
        });
    }
    for i in config.inputs() {
        match &i.kind {
            InputKind::Files(f) => {
                if !f.recursive || f.glob.is_some() {
                    return Err(ServeError::NotYet {
                        what: format!("input {}", i.name),
                        feature: "recursive = false and glob",
                    });
                }
            }
            InputKind::Kafka(_) => {}
            other => return Err(ServeError::unsupported_input(i, other.type_name())),
        }
    }
    if !config.ti().taxii.is_empty() {
        return Err(ServeError::NotYet {
            what: "[ti]".into(),
            feature: "taxii",
        });
    }
    Ok(())
}

impl Server {
    /// Opens the state store (refused while another serve holds it), restores the engine
    /// from its snapshot (or starts a new one) and resumes each input from its checkpoint.
    pub fn open(config: ServeConfig, loaded: &Loaded) -> Result<Server, ServeError> {
        check_supported(&config)?;
        let store = StateStore::open(config.state_dir())?;
        let stored = store.load()?;
        let names: SharedNames = Arc::default();
        let opts = engine_options(loaded, &names);
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
        Ok(Server {
            config,
            store,
            engine,
            inputs,
            names,
            restore,
            parts,
            reconciled: BTreeSet::new(),
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

    /// The configuration served.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// One pass: see the module documentation.
    pub fn pass(&mut self, opts: &PassOptions) -> Result<PassReport, ServeError> {
        let mut report = PassReport::default();
        let mut alerts = Vec::new();
        let late_before = self.engine.stats().late_dropped;
        let threads = pipeline::resolve_threads(opts.threads);
        let lateness = nanos(self.config.allowed_lateness().as_signed_duration());
        // Partitions that received data in this pass, with their newest event time.
        let mut active: BTreeMap<u32, i64> = BTreeMap::new();
        for (i, (_, source, read)) in self.inputs.iter_mut().enumerate() {
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
            let mut events = 0u64;
            let mut late = 0u64;
            let source = Tracked {
                known: source.names().len(),
                input: source,
                names: &self.names,
                first: input::first_source(i),
            };
            let outcome = pipeline::run_source(
                source,
                &popts,
                &|ev: &AuditEvent<'_>| Some((ev.origin.source, preparer.prepare(ev))),
                &mut |batch: pipeline::Batch<(u32, Prepared)>| {
                    for (source, p) in batch.prepared {
                        events += 1;
                        let t = p.time_nanos();
                        let max = parts.entry(source).or_insert(t);
                        if t < max.saturating_sub(lateness) || engine.is_late(&p) {
                            late += 1;
                        }
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
            report.events += events;
            report.late_events += late;
            report
                .file_errors
                .extend(outcome.errors.iter().map(|e| e.to_string()));
        }
        // The combined watermark moves only at the end of a pass, when every file has been
        // read as far as it goes: a file read later in the pass (another vault's same
        // hour) never finds its windows closed by one read earlier. It is the least of the
        // own watermarks of the files that received data in this pass (a backlog holds the
        // watermark back); files with nothing new are idle and hold no one back. A pass
        // that finds nothing new anywhere finds every file settled: the watermark goes to
        // the newest file's, so the last windows of a quiet input close.
        let combined = match active.values().min() {
            Some(min) => Some(*min),
            None => self.parts.values().max().copied(),
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
        report.late_dropped = self.engine.stats().late_dropped - late_before;
        // A flush closes every window for this run's delivery, but the state keeps them open:
        // a later run with more data goes on from where the data ended, not from the end of
        // time, and the alerts the flush sent are not sent again (their ids are queued once).
        let kept = if opts.flush {
            let open = self.engine.snapshot()?;
            self.engine.finish(&mut alerts);
            Some(open)
        } else {
            None
        };
        report.alerts = alerts.len() as u64;
        if report.events > 0 || opts.flush || !alerts.is_empty() {
            self.commit(&alerts, kept)?;
            report.committed = true;
            for (_, source, _) in &mut self.inputs {
                source.committed();
            }
        }
        for o in self.config.outputs() {
            let d = deliver::drain(&self.store, o, &mut self.reconciled)?;
            report.delivered.insert(o.name.clone(), d.delivered);
            if let Some(why) = d.waiting {
                report.waiting.insert(o.name.clone(), why);
            }
        }
        Ok(report)
    }

    /// Input positions, the engine snapshot and the new alerts, in one transaction.
    /// `engine`: the snapshot to keep, if not the engine's state now.
    fn commit(&self, alerts: &[Alert], engine: Option<Vec<u8>>) -> Result<(), ServeError> {
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
        Ok(())
    }
}

/// The engine's options, as `hunt` sets them, with the configured lateness.
fn engine_options(loaded: &Loaded, names: &SharedNames) -> EngineOptions {
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
        intel: loaded.intel.clone(),
        ..EngineOptions::default()
    }
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
}

impl Source for Tracked<'_> {
    fn next_unit(&mut self) -> Option<Unit> {
        let unit = self.input.next_unit()?;
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
