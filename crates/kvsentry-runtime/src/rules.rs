//! Loading the rules a run uses: the built-in pack (unless turned off) with the user's rule
//! files layered over it. Shared by `hunt`, `rules` and `serve`, so they run the same rules.

use std::path::PathBuf;

use kvsentry_rules::{RuleErrors, RuleSet};

/// The rules loaded, and what a user should be told about them.
#[derive(Debug)]
pub struct LoadedRules {
    pub rules: RuleSet,
    /// One line per user rule that replaces a built-in rule with its id.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error(transparent)]
    Load(#[from] RuleErrors),
    #[error("no enabled rules to run")]
    NoneEnabled,
}

/// The built-in pack (unless `builtin` is false) with the rule files at `paths` over it.
pub fn load_rules(paths: &[PathBuf], builtin: bool) -> Result<LoadedRules, RulesError> {
    let mut rules = if builtin {
        RuleSet::builtin()
    } else {
        RuleSet::new()
    };
    // All user files into one set first: an id in two of them is an error naming both.
    let extra = RuleSet::load_paths(paths)?;
    let mut notes = Vec::new();
    for r in extra.iter() {
        if rules.get(r.id()).is_some() {
            notes.push(format!(
                "rule {} from {} replaces the built-in rule with that id",
                r.id(),
                r.source()
            ));
        }
    }
    rules.merge_override(extra);
    if rules.enabled().next().is_none() {
        return Err(RulesError::NoneEnabled);
    }
    Ok(LoadedRules { rules, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_only_has_no_notes() {
        let loaded = load_rules(&[], true).unwrap();
        assert!(loaded.notes.is_empty());
        assert_eq!(loaded.rules.len(), RuleSet::builtin().len());
    }

    #[test]
    fn nothing_enabled_is_refused() {
        assert!(matches!(
            load_rules(&[], false),
            Err(RulesError::NoneEnabled)
        ));
    }
}
