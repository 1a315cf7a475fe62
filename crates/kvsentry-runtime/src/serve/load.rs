//! Loading what a configuration names before serving: its rules and intel (what
//! `--check-config` checks), and refusing what this version cannot run.

use std::path::PathBuf;
use std::sync::Arc;

use kvsentry_intel::IndicatorSet;
use kvsentry_rules::RuleSet;

use super::ServeError;
use super::config::{InputKind, OutputKind, ServeConfig};
use super::input::{self, ServeInput};

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
    for i in config.inputs() {
        ServeInput::check(i)?;
    }
    for o in config.outputs() {
        if let OutputKind::Kafka(k) = &o.kind {
            super::kafka_output::check(o, k)?;
        }
    }
    let rules = crate::rules::load_rules(config.rules(), config.builtin())?;
    let paths = intel_paths(config);
    let (intel, indicators, ti_warnings) = if paths.is_empty() {
        (None, 0, Vec::new())
    } else {
        let load = crate::ti::load(&paths, &kvsentry_intel::LoadOptions::default())?;
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

/// Where TAXII collections are synced to.
pub(crate) fn taxii_store(config: &ServeConfig) -> PathBuf {
    config.state_dir().join("taxii")
}

/// The paths intel is loaded from: `[ti] paths`, and the TAXII store once a sync wrote it.
pub(crate) fn intel_paths(config: &ServeConfig) -> Vec<PathBuf> {
    let store = taxii_store(config);
    let taxii: &[_] = if crate::ti::is_taxii_store(&store) {
        &config.ti().taxii
    } else {
        &[]
    };
    super::intel::loaded_paths(&config.ti().paths, taxii, &store)
}

/// Refuses inputs and outputs this version does not run yet, naming them.
pub(crate) fn check_supported(config: &ServeConfig) -> Result<(), ServeError> {
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
            InputKind::AzureBlob(_) | InputKind::Kafka(_) => {}
        }
    }
    Ok(())
}
