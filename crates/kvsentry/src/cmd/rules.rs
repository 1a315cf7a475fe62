//! `kvsentry rules list|show|validate`.

use kvsentry_rules::RuleSet;

use crate::args::RulesCommand;
use crate::exit::{Exit, UsageError};

pub fn run(cmd: RulesCommand) -> anyhow::Result<Exit> {
    match cmd {
        RulesCommand::List(src) => {
            let rules = load_rules(&src.rules, true)?;
            out!(
                "{:<38} {:<16} {:<9} {:<8} {:<24} NAME",
                "ID",
                "KIND",
                "SEVERITY",
                "ENABLED",
                "SOURCE"
            );
            for r in rules.iter() {
                out!(
                    "{:<38} {:<16} {:<9} {:<8} {:<24} {}",
                    r.id(),
                    r.detection.kind().as_str(),
                    r.meta.severity.as_str(),
                    if r.meta.enabled { "yes" } else { "no" },
                    r.source(),
                    r.meta.name
                );
            }
            Ok(Exit::Ok)
        }
        RulesCommand::Show { id, source } => {
            let rules = load_rules(&source.rules, true)?;
            let r = rules.resolve(&id).map_err(|e| UsageError(e.to_string()))?;
            out!("{}", r.to_yaml().trim_end());
            Ok(Exit::Ok)
        }
        RulesCommand::Validate { paths } => {
            let mut failed = false;
            let mut ok = Vec::new();
            for p in &paths {
                match RuleSet::load_path(p) {
                    Ok(set) => {
                        // Advisory warnings (a disabled rule, say) do not fail validation.
                        for w in set.validate() {
                            eprintln!("warning: {w}");
                        }
                        ok.push(format!("{}: {} rule(s) OK", p.display(), set.len()));
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        failed = true;
                    }
                }
            }
            // Each path is fine alone; the paths together must not define an id twice,
            // as a hunt given them all would refuse: then no file is said to be OK.
            if !failed
                && paths.len() > 1
                && let Err(e) = RuleSet::load_paths(&paths)
            {
                eprintln!("{e}");
                failed = true;
                ok.clear();
            }
            for line in ok {
                out!("{line}");
            }
            Ok(if failed { Exit::Usage } else { Exit::Ok })
        }
    }
}

/// The built-in pack (unless `--no-builtin`) with the user's rule files layered over it.
pub fn load_rules(paths: &[std::path::PathBuf], builtin: bool) -> anyhow::Result<RuleSet> {
    use kvsentry_runtime::rules::RulesError;
    match kvsentry_runtime::rules::load_rules(paths, builtin) {
        Ok(loaded) => {
            for n in &loaded.notes {
                eprintln!("note: {n}");
            }
            Ok(loaded.rules)
        }
        Err(RulesError::NoneEnabled) => Err(UsageError(RulesError::NoneEnabled.to_string()).into()),
        Err(RulesError::Load(e)) => Err(e.into()),
    }
}
