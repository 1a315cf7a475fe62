//! One hunt: inputs, rules and options in; alerts to a sink and a report out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kvsentry_engine::{
    Engine, EngineOptions, EngineStats, Explanation, TiMode, evidence_from_names,
};
use kvsentry_ingest::{IngestError, Input, ReadOptions, ReadStats};
use kvsentry_intel::IndicatorSet;
use kvsentry_model::{Alert, AuditEvent};
use kvsentry_output::AlertSink;
use kvsentry_rules::RuleSet;
use std::sync::Arc;

use crate::pipeline::{self, PipelineOptions, Progress};

/// Everything a hunt needs to know.
#[derive(Clone)]
pub struct HuntOptions {
    /// Paths as given by the user: files, directories, globs, `-`.
    pub paths: Vec<String>,
    pub read: ReadOptions,
    /// The rules to run (default: the built-in pack).
    pub rules: RuleSet,
    pub max_lateness: SignedDuration,
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
    /// The process exits right after this hunt: the engine's state (closed groups, windows,
    /// the indicator index) is left to the operating system instead of being freed one
    /// allocation at a time (see `Engine::finish_and_leak`). Only for a command-line run;
    /// a long-running caller must leave it off.
    pub exit_after: bool,
}

impl HuntOptions {
    /// The built-in rules over `paths`, every other option at its default.
    pub fn new(paths: Vec<String>) -> HuntOptions {
        HuntOptions {
            paths,
            read: ReadOptions::default(),
            rules: RuleSet::builtin(),
            max_lateness: SignedDuration::from_hours(1),
            explain: None,
            since: None,
            until: None,
            threads: 0,
            progress: None,
            intel: None,
            ti_mode: TiMode::Retro,
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
    /// Events outside `--since`/`--until`.
    pub out_of_range: u64,
    pub explanations: Vec<Explanation>,
    /// For the explained rule: events its filter rejected, per top-level clause.
    pub explain_rejections: Vec<(String, u64)>,
    pub elapsed: Duration,
    pub threads: usize,
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
}

impl Hunt {
    /// Discovers the inputs and compiles the rules; fails on a missing path or a bad option.
    pub fn new(opts: HuntOptions) -> Result<Hunt, HuntError> {
        let mut inputs = kvsentry_ingest::discover(&opts.paths)?;
        order_by_blob_hour(&mut inputs);
        let names = inputs.iter().map(|i| i.display.clone()).collect();
        let engine = Engine::new(
            &opts.rules,
            EngineOptions {
                max_lateness: opts.max_lateness,
                explain: opts.explain.clone(),
                evidence_source: Some(evidence_from_names(names)),
                intel: opts.intel.clone(),
                ti_mode: opts.ti_mode,
            },
        )?;
        Ok(Hunt {
            opts,
            inputs,
            engine,
        })
    }

    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// Reads every input once, feeding the engine, and writes alerts to `sink` as their
    /// windows close (and the rest at the end).
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
            ..HuntReport::default()
        };
        let (since, until) = (self.opts.since, self.opts.until);
        let in_range = move |ev: &AuditEvent<'_>| {
            since.is_none_or(|s| ev.time >= s) && until.is_none_or(|u| ev.time < u)
        };
        let preparer = self.engine.preparer();
        let mut alerts: Vec<Alert> = Vec::new();
        let mut write_err: Option<std::io::Error> = None;
        let mut emit = |alerts: &mut Vec<Alert>, report: &mut HuntReport| {
            for a in alerts.drain(..) {
                *report.alerts_per_rule.entry(a.rule.id.clone()).or_default() += 1;
                if write_err.is_none() {
                    if let Err(e) = sink.write(&a) {
                        write_err = Some(e);
                    }
                }
            }
        };
        let popts = PipelineOptions {
            read: self.opts.read.clone(),
            threads,
            progress: self.opts.progress.clone(),
        };
        let engine = &mut self.engine;
        let outcome = pipeline::run(
            &self.inputs,
            &popts,
            &|ev: &AuditEvent<'_>| {
                if in_range(ev) {
                    Some(preparer.prepare(ev))
                } else {
                    None
                }
            },
            &mut |batch| {
                report.out_of_range += batch.out_of_range;
                for p in batch.prepared {
                    engine.observe(p, &mut alerts);
                }
                emit(&mut alerts, &mut report);
            },
        );
        drop(preparer);
        if self.opts.exit_after {
            let fin = self.engine.finish_and_leak(&mut alerts);
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
        report.read = outcome.stats;
        report.file_errors = outcome.errors.iter().map(|e| e.to_string()).collect();
        report.inputs = self.inputs;
        report.elapsed = started.elapsed();
        Ok(report)
    }
}

/// The hour a Storage blob covers, from its path
/// (`.../y=2025/m=06/d=30/h=01/m=00/PT1H.json`), as a sortable number `YYYYMMDDHHmm`.
fn blob_hour(path: &str) -> Option<u64> {
    const PARTS: [(&str, usize); 5] = [("y=", 4), ("m=", 2), ("d=", 2), ("h=", 2), ("m=", 2)];
    let segs: Vec<&str> = path.split(['/', '\\']).collect();
    let start = segs
        .iter()
        .rposition(|s| s.starts_with("y=") && s.len() == 6)?;
    let mut key = 0u64;
    for (i, (prefix, digits)) in PARTS.iter().enumerate() {
        let seg = segs.get(start + i)?.strip_prefix(prefix)?;
        if seg.len() != *digits {
            return None;
        }
        key = key * 10u64.pow(*digits as u32) + seg.parse::<u64>().ok()?;
    }
    Some(key)
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
