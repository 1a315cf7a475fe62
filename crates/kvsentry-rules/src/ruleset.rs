//! The rules of a run: read from files, merged over the built-in pack, looked up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{RuleError, RuleErrors};
use crate::parse::{nth_id_line, parse_rules};
use crate::rule::Rule;

/// A rule asked for by id, prefix or name that is not one rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleLookupError {
    #[error("no rule matches '{query}' (by id, id prefix or name); the rules are:\n  {}", .rules.join("\n  "))]
    Unknown { query: String, rules: Vec<String> },
    #[error("'{query}' could be any of these rules; give more of the id:\n  {}", .candidates.join("\n  "))]
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
}

/// Rules ordered by id.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: BTreeMap<String, Rule>,
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "excessive-keyvault-retrieval.yml",
        include_str!("../rules/excessive-keyvault-retrieval.yml"),
    ),
    (
        "excessive-keyvault-retrieval-app.yml",
        include_str!("../rules/excessive-keyvault-retrieval-app.yml"),
    ),
    (
        "ti-ip-keyvault.yml",
        include_str!("../rules/ti-ip-keyvault.yml"),
    ),
];

impl RuleSet {
    pub fn new() -> RuleSet {
        RuleSet::default()
    }

    /// The built-in pack, embedded in the binary.
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet::new();
        for (name, text) in BUILTIN {
            // The pack is tested; a broken built-in file is a build defect, reported as an
            // empty pack rather than a panic.
            if let Ok(rules) = parse_rules(text, &format!("<builtin:{name}>")) {
                for r in rules {
                    set.rules.insert(r.meta.id.clone(), r);
                }
            }
        }
        set
    }

    /// The built-in files as (name, YAML), for `rules show --builtin` or export.
    pub fn builtin_sources() -> &'static [(&'static str, &'static str)] {
        BUILTIN
    }

    /// Reads rules from YAML text; `file` labels messages.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<RuleSet, RuleErrors> {
        let rules = parse_rules(text, file)?;
        let mut set = RuleSet::new();
        let mut errors = Vec::new();
        set.add_all(rules, text, file, &mut errors);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    fn add_all(&mut self, rules: Vec<Rule>, text: &str, file: &str, errors: &mut Vec<RuleError>) {
        for r in rules {
            if let Some(first) = self.rules.get(&r.meta.id) {
                // The second occurrence: in the same text, the second `id:` line.
                let line = nth_id_line(
                    text,
                    &r.meta.id,
                    if first.meta.origin.starts_with(file) {
                        2
                    } else {
                        1
                    },
                );
                errors.push(RuleError {
                    file: file.to_string(),
                    line,
                    column: None,
                    message: format!(
                        "duplicate rule id `{}` (first defined at {})",
                        r.meta.id, first.meta.origin
                    ),
                });
                continue;
            }
            self.rules.insert(r.meta.id.clone(), r);
        }
    }

    /// Loads a rule file, or every `.yml`/`.yaml` file of a directory (sorted by name, not
    /// recursive). Duplicate ids across the files are errors.
    pub fn load_path(path: &Path) -> Result<RuleSet, RuleErrors> {
        RuleSet::load_paths(std::slice::from_ref(&path.to_path_buf()))
    }

    /// [`RuleSet::load_path`] over several paths into one set: an id defined in two files
    /// (wherever they are) is an error naming both, and every file's errors are reported.
    pub fn load_paths(paths: &[PathBuf]) -> Result<RuleSet, RuleErrors> {
        let mut set = RuleSet::new();
        let mut errors = Vec::new();
        for path in paths {
            let files: Vec<PathBuf> = if path.is_dir() {
                let rd = match std::fs::read_dir(path) {
                    Ok(rd) => rd,
                    Err(e) => {
                        errors.extend(io_err(path, &e).0);
                        continue;
                    }
                };
                let mut v: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml")
                    })
                    .collect();
                v.sort();
                v
            } else {
                vec![path.clone()]
            };
            for f in files {
                let label = f.display().to_string();
                let text = match std::fs::read_to_string(&f) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.extend(io_err(&f, &e).0);
                        continue;
                    }
                };
                match parse_rules(&text, &label) {
                    Ok(rules) => set.add_all(rules, &text, &label, &mut errors),
                    Err(e) => errors.extend(e.0),
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Adds `other`'s rules, replacing rules with the same id (user rules override built-ins).
    pub fn merge_override(&mut self, other: RuleSet) {
        for (id, r) in other.rules {
            self.rules.insert(id, r);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.get(id)
    }

    /// The rule a user means: its id, a unique prefix of it (`c07f7898`), or its name (case
    /// does not matter for prefixes and names).
    pub fn resolve(&self, query: &str) -> Result<&Rule, RuleLookupError> {
        if let Some(r) = self.rules.get(query) {
            return Ok(r);
        }
        let q = query.trim().to_lowercase();
        let by_prefix: Vec<&Rule> = self
            .iter()
            .filter(|r| !q.is_empty() && r.meta.id.to_lowercase().starts_with(&q))
            .collect();
        let by_name: Vec<&Rule> = self
            .iter()
            .filter(|r| r.meta.name.trim().to_lowercase() == q)
            .collect();
        let found = if by_prefix.is_empty() {
            by_name
        } else {
            by_prefix
        };
        let list = |rules: &[&Rule]| {
            rules
                .iter()
                .map(|r| format!("{} ({})", r.meta.id, r.meta.name))
                .collect::<Vec<_>>()
        };
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(RuleLookupError::Unknown {
                query: query.to_string(),
                rules: list(&self.iter().collect::<Vec<_>>()),
            }),
            many => Err(RuleLookupError::Ambiguous {
                query: query.to_string(),
                candidates: list(many),
            }),
        }
    }

    /// All rules, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    /// Enabled rules, by id.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values().filter(|r| r.meta.enabled)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn insert(&mut self, rule: Rule) -> Option<Rule> {
        self.rules.insert(rule.meta.id.clone(), rule)
    }

    /// Sets a rule's `enabled` flag; false when no rule has that id.
    pub fn set_enabled(&mut self, id: &str, enabled: bool) -> bool {
        match self.rules.get_mut(id) {
            Some(r) => {
                r.meta.enabled = enabled;
                true
            }
            None => false,
        }
    }

    /// Advisory checks beyond what loading enforces (for `rules validate`): warnings that do
    /// not stop a run.
    pub fn validate(&self) -> Vec<String> {
        let mut w = Vec::new();
        for r in self.iter() {
            if !r.meta.enabled {
                w.push(format!(
                    "{}: rule `{}` is disabled",
                    r.meta.origin, r.meta.id
                ));
            }
            if let Some(t) = r.threshold() {
                if t.group_by.is_empty() {
                    w.push(format!(
                        "{}: rule `{}` has no group_by: all matching events form one group",
                        r.meta.origin, r.meta.id
                    ));
                }
                if t.evidence == 0 {
                    w.push(format!(
                        "{}: rule `{}` keeps no evidence (evidence: 0)",
                        r.meta.origin, r.meta.id
                    ));
                }
            }
            if let Some(m) = r.indicator_match() {
                if !m.trigger.fires(1) && !m.trigger.fires(u64::MAX) {
                    w.push(format!(
                        "{}: rule `{}`: its trigger ({} {}) never fires on a run with results",
                        r.meta.origin,
                        r.meta.id,
                        m.trigger.operator.as_str(),
                        m.trigger.threshold
                    ));
                }
                if m.filter.is_none() {
                    w.push(format!(
                        "{}: rule `{}` has no filter: every event is matched against the indicators",
                        r.meta.origin, r.meta.id
                    ));
                }
            }
        }
        w
    }
}

fn io_err(path: &Path, e: &std::io::Error) -> RuleErrors {
    RuleErrors(vec![RuleError {
        file: path.display().to_string(),
        line: None,
        column: None,
        message: format!("cannot read: {e}"),
    }])
}
