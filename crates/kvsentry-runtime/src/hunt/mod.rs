//! One hunt: inputs, rules and options in; alerts to a sink and a report out.

mod reorder;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kvsentry_engine::{
    Engine, EngineOptions, EngineStats, Explanation, TiMode, evidence_from_names,
};
use kvsentry_ingest::{IngestError, Input, LogFormat, ReadOptions, ReadStats, blob_hour};
use kvsentry_intel::IndicatorSet;
use kvsentry_model::{Alert, AuditEvent, Origin};
use kvsentry_output::AlertSink;
use kvsentry_rules::RuleSet;
use std::sync::Arc;

use crate::pipeline::{self, PipelineOptions, Progress};
use reorder::{Keyed, Reorder};
pub use reorder::{ReorderStats, SpillError, remove_spill_dirs};

/// Everything a hunt needs to know.
#[derive(Clone)]
pub struct HuntOptions {
    /// Paths as given by the user: files, directories, globs, `-`.
    pub paths: Vec<String>,
    pub read: ReadOptions,
    /// The rules to run (default: the built-in pack).
    pub rules: RuleSet,
    /// Explain this rule's windows (see [`Explanation`]).
    pub explain: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Worker threads; 0 means all cores.
    pub threads: usize,
    /// Called now and then with the bytes read so far, for a progress bar.
    pub progress: Option<Progress>,
    /// Threat intelligence for `indicator_match` rules (none: those rules cannot alert).
    pub intel: Option<Arc<IndicatorSet>>,
    /// Retro-hunt (default) or one scheduled run at a time.
    pub ti_mode: TiMode,
    /// Bytes of rows a hunt over unordered input holds in memory before it sorts on disk.
    pub memory_limit: usize,
    /// Where sorted runs go when `memory_limit` is reached (default: the system's temporary
    /// directory).
    pub temp_dir: Option<PathBuf>,
    /// The process exits right after this hunt: the engine's state (closed groups, windows,
    /// the indicator index) is freed on a thread of its own, off the hunt's path, or left to
    /// the operating system when the process exits first (see `Engine::finish_into_report`).
    /// Only for a command-line run; a long-running caller must leave it off.
    pub exit_after: bool,
}

/// The default of [`HuntOptions::memory_limit`]: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// How far out of time order a hunt's first, streaming pass accepts events before it reads
/// the input again sorted (see [`Hunt::run`]).
const STREAMING_HORIZON: SignedDuration = SignedDuration::from_hours(2);

impl HuntOptions {
    /// The built-in rules over `paths`, every other option at its default.
    pub fn new(paths: Vec<String>) -> HuntOptions {
        HuntOptions {
            paths,
            read: ReadOptions::default(),
            rules: RuleSet::builtin(),
            explain: None,
            since: None,
            until: None,
            threads: 0,
            progress: None,
            intel: None,
            ti_mode: TiMode::Retro,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            temp_dir: None,
            exit_after: false,
        }
    }
}

/// What a hunt did.
#[derive(Debug, Default)]
pub struct HuntReport {
    /// The inputs, in the order read (index = `Origin::source`).
    pub inputs: Vec<Input>,
    pub read: ReadStats,
    /// Files that stopped with an error (some of their records may have been read).
    pub file_errors: Vec<String>,
    pub engine: EngineStats,
    /// Alerts per rule id (rules that fired nothing are listed with 0).
    pub alerts_per_rule: BTreeMap<String, u64>,
    /// Each rule's name, by id.
    pub rule_names: BTreeMap<String, String>,
    /// Events outside `--since`/`--until`.
    pub out_of_range: u64,
    /// How the input's order was dealt with.
    pub order: OrderReport,
    pub explanations: Vec<Explanation>,
    /// For the explained rule: events its filter rejected, per top-level clause.
    pub explain_rejections: Vec<(String, u64)>,
    pub elapsed: Duration,
    pub threads: usize,
}

/// How a hunt made its answer independent of the input's order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OrderReport {
    /// Why the rules' rows were sorted by time before the rules ran (`None`: the input was
    /// evaluated as it streamed).
    pub sorted: Option<SortReason>,
    /// What sorting did: rows, duplicates dropped, rows spilled to disk.
    pub reorder: ReorderStats,
    /// Input files named more than once on the command line, read once.
    pub repeated_inputs: usize,
}

/// Why a hunt sorted its input instead of streaming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortReason {
    /// An event came more than the streaming horizon (two hours) out of time order.
    OutOfOrder,
    /// A record was read twice.
    Repeated,
    /// The records within the horizon did not fit the memory limit.
    Dense,
    /// Standard input, which cannot be read twice.
    Stdin,
}

impl std::fmt::Display for SortReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SortReason::OutOfOrder => "the input is not in time order",
            SortReason::Repeated => "the input repeats records",
            SortReason::Dense => "the input is too dense to stream within --memory-limit",
            SortReason::Stdin => "standard input is read once",
        })
    }
}

impl HuntReport {
    pub fn alerts_total(&self) -> u64 {
        self.alerts_per_rule.values().sum()
    }

    /// Records skipped because they were damaged (not those filtered out as other categories
    /// or Managed HSM, which a Storage container holds by design) plus files that failed:
    /// what `--strict` refuses.
    pub fn problems(&self) -> u64 {
        let damaged: u64 = self
            .read
            .skipped
            .iter()
            .filter(|(r, _)| is_damage(**r))
            .map(|(_, n)| n)
            .sum();
        damaged + self.file_errors.len() as u64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    #[error(transparent)]
    Inputs(#[from] IngestError),
    #[error(transparent)]
    Engine(#[from] kvsentry_engine::EngineError),
    #[error("cannot write alerts: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Spill(#[from] SpillError),
}

/// True for skip reasons that mean damaged input, false for records filtered out because they
/// are not Key Vault audit events.
pub fn is_damage(reason: kvsentry_ingest::SkipReason) -> bool {
    use kvsentry_ingest::SkipReason as R;
    !matches!(reason, R::OtherCategory | R::NotKeyVault)
}

/// A prepared hunt: inputs discovered, rules compiled.
pub struct Hunt {
    opts: HuntOptions,
    inputs: Vec<Input>,
    engine: Engine,
    /// The form each input was read in, known once the inputs are read (for alerts that
    /// name it, which are made at the end).
    forms: Arc<OnceLock<BTreeMap<u32, LogFormat>>>,
    /// Paths named more than once (read once).
    repeated_inputs: usize,
}

impl Hunt {
    /// Discovers the inputs and compiles the rules; fails on a missing path or a bad option.
    pub fn new(opts: HuntOptions) -> Result<Hunt, HuntError> {
        let mut inputs = kvsentry_ingest::discover(&opts.paths)?;
        // The inputs' order decides nothing but which copy of a repeated record is kept
        // (the first) and the order of evidence at one instant: by name, so that it does
        // not depend on how the paths were given. Storage blobs are then read hour by
        // hour, which keeps a container's records near time order for the streaming pass.
        inputs.sort_by(|a, b| a.display.cmp(&b.display));
        let named = inputs.len();
        inputs.dedup_by(|a, b| a.path.is_some() && a.path == b.path);
        let repeated_inputs = named - inputs.len();
        order_by_blob_hour(&mut inputs);
        let forms = Arc::new(OnceLock::new());
        let engine = Self::engine(&opts, &inputs, &forms)?;
        Ok(Hunt {
            opts,
            inputs,
            engine,
            forms,
            repeated_inputs,
        })
    }

    fn engine(
        opts: &HuntOptions,
        inputs: &[Input],
        forms: &Arc<OnceLock<BTreeMap<u32, LogFormat>>>,
    ) -> Result<Engine, HuntError> {
        let names = inputs.iter().map(|i| i.display.clone()).collect();
        let forms = Arc::clone(forms);
        Ok(Engine::new(
            &opts.rules,
            EngineOptions {
                max_lateness: STREAMING_HORIZON,
                explain: opts.explain.clone(),
                evidence_source: Some(evidence_from_names(names)),
                source_form: Some(Arc::new(move |o: &Origin| {
                    Some(forms.get()?.get(&o.source)?.name().to_string())
                })),
                intel: opts.intel.clone(),
                ti_mode: opts.ti_mode,
                ..EngineOptions::default()
            },
        )?)
    }

    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// Reads every input and writes the alerts to `sink`.
    ///
    /// The answer does not depend on the order of records or inputs, nor on records read
    /// more than once. Input in time order (within two hours) is evaluated as it streams;
    /// at the first event further out of order, or the first repeated record, the input is
    /// read again and the rows the rules need are sorted by time (in memory up to
    /// [`HuntOptions::memory_limit`], on disk beyond it) and deduplicated before the rules
    /// run. Standard input, which cannot be read twice, is always sorted.
    pub fn run(mut self, sink: &mut dyn AlertSink) -> Result<HuntReport, HuntError> {
        let started = Instant::now();
        let threads = pipeline::resolve_threads(self.opts.threads);
        let mut report = HuntReport {
            threads,
            alerts_per_rule: self
                .opts
                .rules
                .enabled()
                .map(|r| (r.id().to_string(), 0))
                .collect(),
            rule_names: self
                .opts
                .rules
                .enabled()
                .map(|r| (r.id().to_string(), r.meta.name.clone()))
                .collect(),
            ..HuntReport::default()
        };
        report.order.repeated_inputs = self.repeated_inputs;
        let streamable = self.inputs.iter().all(|i| i.path.is_some());
        let streamed = if streamable {
            self.stream(threads, &mut report)
        } else {
            Err(SortReason::Stdin)
        };
        let mut write_err: Option<std::io::Error> = None;
        let mut emit = |alerts: &mut Vec<Alert>, report: &mut HuntReport| {
            for a in alerts.drain(..) {
                *report.alerts_per_rule.entry(a.rule.id.clone()).or_default() += 1;
                if write_err.is_none()
                    && let Err(e) = sink.write(&a)
                {
                    write_err = Some(e);
                }
            }
        };
        let mut alerts = match streamed {
            Ok(alerts) => alerts,
            Err(why) => {
                self.engine = Self::engine(&self.opts, &self.inputs, &self.forms)?;
                report.order.sorted = Some(why);
                self.sorted(threads, &mut report, &mut emit)?;
                Vec::new()
            }
        };
        let _ = self.forms.set(report.read.source_forms.clone());
        if self.opts.exit_after {
            let (fin, leftovers) = self.engine.finish_into_report(&mut alerts);
            leftovers.drop_in_background();
            report.engine = fin.stats;
            report.explanations = fin.explanations;
            report.explain_rejections = fin.explain_rejections;
        } else {
            let engine = &mut self.engine;
            engine.finish(&mut alerts);
            report.engine = engine.stats().clone();
            report.explanations = engine.explanations().to_vec();
            report.explain_rejections = engine.explain_rejections();
        }
        emit(&mut alerts, &mut report);
        if let Some(e) = write_err {
            return Err(HuntError::Output(e));
        }
        sink.finish()?;
        report.inputs = self.inputs;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    fn in_range(&self) -> impl Fn(&AuditEvent<'_>) -> bool + Sync + use<> {
        let (since, until) = (self.opts.since, self.opts.until);
        move |ev: &AuditEvent<'_>| {
            since.is_none_or(|s| ev.time >= s) && until.is_none_or(|u| ev.time < u)
        }
    }

    fn pipeline_options(&self, threads: usize) -> PipelineOptions {
        PipelineOptions {
            read: self.opts.read.clone(),
            threads,
            progress: self.opts.progress.clone(),
            cancel: None,
        }
    }

    /// The streaming pass: rows go to the engine as they are read, alerts are held back.
    /// Gives up (and stops reading) at the first row behind the engine's watermark or the
    /// first repeated record, neither of which streaming can answer exactly, or when the
    /// records within the horizon would not fit the memory limit. Exact: the alerts, to be
    /// written, and what was read in `report`; else why the input must be sorted.
    fn stream(
        &mut self,
        threads: usize,
        report: &mut HuntReport,
    ) -> Result<Vec<Alert>, SortReason> {
        let in_range = self.in_range();
        let preparer = self.engine.preparer();
        let hasher = foldhash::quality::RandomState::default();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut popts = self.pipeline_options(threads);
        popts.cancel = Some(Arc::clone(&cancel));
        let engine = &mut self.engine;
        let mut alerts = Vec::new();
        let mut out_of_range = 0;
        let mut recent = RecentRecords::default();
        let mut gave_up = None;
        // The identities held are bounded by the memory limit too (the sorting pass holds
        // its rows within it): denser input than that sorts instead.
        let max_recent = self.opts.memory_limit / RecentRecords::BYTES_PER_RECORD;
        let outcome = pipeline::run(
            &self.inputs,
            &popts,
            &|ev: &AuditEvent<'_>| {
                if !in_range(ev) {
                    return None;
                }
                let p = preparer.prepare(ev);
                // Only rows the rules keep need an identity: a repeated record that no rule
                // reads changes no alert.
                let id = if p.is_empty() {
                    0
                } else {
                    let mut h = hasher.build_hasher();
                    ev.hash_record_key(&mut h);
                    h.finish()
                };
                Some((p, id))
            },
            &mut |batch| {
                if cancel.load(Ordering::Relaxed) {
                    return;
                }
                out_of_range += batch.out_of_range;
                for (p, id) in batch.prepared {
                    if !p.is_empty() {
                        let why = if engine.is_late(&p) {
                            Some(SortReason::OutOfOrder)
                        } else if !recent.insert(p.time_nanos(), id) {
                            Some(SortReason::Repeated)
                        } else if recent.len() > max_recent {
                            Some(SortReason::Dense)
                        } else {
                            None
                        };
                        if why.is_some() {
                            gave_up = why;
                            cancel.store(true, Ordering::Relaxed);
                            return;
                        }
                    }
                    engine.observe(p, &mut alerts);
                }
                if let Some(w) = engine.watermark() {
                    let w = w.as_nanosecond();
                    recent.forget_before(i64::try_from(w).unwrap_or(if w < 0 {
                        i64::MIN
                    } else {
                        i64::MAX
                    }));
                }
            },
        );
        if let Some(why) = gave_up {
            return Err(why);
        }
        report.read = outcome.stats;
        report.file_errors = outcome.errors.iter().map(|e| e.to_string()).collect();
        report.out_of_range = out_of_range;
        Ok(alerts)
    }

    /// The sorting pass: rows collected, sorted by time and deduplicated, then fed to the
    /// engine in order; alerts go out as their windows close.
    fn sorted(
        &mut self,
        threads: usize,
        report: &mut HuntReport,
        emit: &mut dyn FnMut(&mut Vec<Alert>, &mut HuntReport),
    ) -> Result<(), HuntError> {
        let in_range = self.in_range();
        let preparer = self.engine.preparer();
        let popts = self.pipeline_options(threads);
        let parent = self
            .opts
            .temp_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let mut rows = Reorder::new(self.opts.memory_limit, parent);
        let mut spill_err = None;
        let engine = &mut self.engine;
        let mut out_of_range = 0;
        let outcome = pipeline::run(
            &self.inputs,
            &popts,
            &|ev: &AuditEvent<'_>| {
                if !in_range(ev) {
                    return None;
                }
                let prepared = preparer.prepare(ev);
                if prepared.is_empty() {
                    return Some(Err(prepared));
                }
                let mut key = Vec::new();
                ev.record_key(&mut key);
                Some(Ok(Keyed {
                    time: prepared.time_nanos(),
                    key,
                    source: ev.origin.source,
                    line: ev.origin.line,
                    prepared,
                }))
            },
            &mut |batch| {
                out_of_range += batch.out_of_range;
                for staged in batch.prepared {
                    match staged {
                        Err(empty) => engine.tally(&empty),
                        Ok(row) if spill_err.is_none() => {
                            if let Err(e) = rows.push(row) {
                                spill_err = Some(e);
                            }
                        }
                        Ok(_) => {}
                    }
                }
            },
        );
        drop(preparer);
        if let Some(e) = spill_err {
            return Err(e.into());
        }
        report.read = outcome.stats;
        report.file_errors = outcome.errors.iter().map(|e| e.to_string()).collect();
        report.out_of_range = out_of_range;
        let mut alerts = Vec::new();
        report.order.reorder = rows.drain(|p| {
            engine.observe(p, &mut alerts);
            if !alerts.is_empty() {
                emit(&mut alerts, report);
            }
        })?;
        Ok(())
    }
}

/// Identities (keyed hashes) of the records the streaming pass saw within the horizon: a
/// repeat means the input holds a record twice, which the sorting pass answers exactly (a
/// rare collision of two different records only costs that pass).
#[derive(Default)]
struct RecentRecords {
    /// The identities, each its own hash (they are already keyed hashes, with a key drawn
    /// per run, so not chosen by whoever writes the logs).
    seen: hashbrown::HashTable<u64>,
    order: std::collections::VecDeque<(i64, u64)>,
}

impl RecentRecords {
    /// Memory one identity takes (set entry and queue entry, with the set's spare room).
    const BYTES_PER_RECORD: usize = 48;

    fn len(&self) -> usize {
        self.order.len()
    }

    /// False when the identity was seen already.
    fn insert(&mut self, time: i64, id: u64) -> bool {
        match self.seen.entry(id, |&x| x == id, |&x| x) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(id);
                self.order.push_back((time, id));
                true
            }
        }
    }

    /// Forgets records older than the watermark: a repeat of one would arrive late, which
    /// the streaming pass refuses anyway.
    fn forget_before(&mut self, watermark: i64) {
        while let Some(&(t, id)) = self.order.front() {
            if t >= watermark {
                break;
            }
            if let Ok(e) = self.seen.find_entry(id, |&x| x == id) {
                e.remove();
            }
            self.order.pop_front();
        }
    }
}

/// A Storage account's `insights-logs-auditevent` container is laid out per vault, then per
/// hour; sorted by path, one vault's whole day would come before the next vault's. Windows
/// group one identity across vaults, so blobs are read hour by hour instead (a stable sort:
/// inputs without an hour in their path keep their place before the hourly ones).
fn order_by_blob_hour(inputs: &mut [Input]) {
    if inputs
        .iter()
        .filter(|i| blob_hour(&i.display).is_some())
        .take(2)
        .count()
        < 2
    {
        return;
    }
    inputs.sort_by_key(|i| blob_hour(&i.display));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_hours_order_across_vaults() {
        let p = |s: &str| Input::file(s);
        let mut v = vec![
            p(
                "c/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/A/y=2025/m=06/d=30/h=01/m=00/PT1H.json",
            ),
            p(
                "c/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/A/y=2025/m=06/d=30/h=02/m=00/PT1H.json",
            ),
            p(
                "c/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/B/y=2025/m=06/d=30/h=01/m=00/PT1H.json",
            ),
            p(
                "c/resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/B/y=2025/m=07/d=01/h=00/m=00/PT1H.json",
            ),
        ];
        assert_eq!(blob_hour(&v[0].display), Some(202506300100));
        order_by_blob_hour(&mut v);
        let vaults: Vec<&str> = v
            .iter()
            .map(|i| &i.display[i.display.find("VAULTS/").unwrap() + 7..][..1])
            .collect();
        let hours: Vec<u64> = v.iter().map(|i| blob_hour(&i.display).unwrap()).collect();
        assert_eq!(
            hours,
            [202506300100, 202506300100, 202506300200, 202507010000]
        );
        assert_eq!(vaults, ["A", "B", "A", "B"]);
    }
}
