//! `kvsentry hunt`: rules over logs, alerts out, a summary on stderr.

mod sink;

use std::io::{self, IsTerminal};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use kvsentry_engine::TiMode;
use kvsentry_ingest::ReadOptions;
use kvsentry_rules::{Detection, RuleSet};
use kvsentry_runtime::hunt::{Hunt, HuntOptions};

use super::rules::load_rules;
use crate::args::HuntArgs;
use crate::args::values::{log_format, parse_size, parse_time, time_range};
use crate::exit::{Exit, UsageError};
use crate::output::open_output;
use crate::summary;

pub fn run(a: HuntArgs) -> anyhow::Result<Exit> {
    if a.ti.is_empty() {
        // Threat-intel options without indicators would change nothing: say so.
        let given = [
            ("--ti-format", a.ti_read.ti_format.is_some()),
            ("--ti-ip-column", a.ti_read.ti_ip_column.is_some()),
            ("--as-of", a.as_of.is_some()),
            ("--sentinel-compat", a.sentinel_compat),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            return Err(UsageError(format!(
                "{flag} has no effect without indicators: give them with --ti PATH"
            ))
            .into());
        }
    }
    let mut rules = load_rules(&a.rules, !a.no_builtin)?;
    // `--explain` takes an id, a unique prefix of one, or a rule's name.
    let explain = match &a.explain {
        Some(q) => Some(
            rules
                .resolve(q)
                .map_err(|e| UsageError(format!("--explain: {e}")))?
                .id()
                .to_string(),
        ),
        None => None,
    };
    if a.sentinel_compat {
        set_sentinel_compat(&mut rules);
    }
    let format = log_format(a.input.log_format);
    let mut opts = HuntOptions::new(a.input.paths.clone());
    opts.rules = rules;
    opts.read = ReadOptions {
        format,
        ..ReadOptions::default()
    };
    opts.memory_limit = parse_size(&a.memory_limit)?;
    opts.temp_dir = a.temp_dir.clone();
    opts.explain = explain.clone();
    (opts.since, opts.until) = time_range(a.since.as_deref(), a.until.as_deref())?;
    opts.threads = a.threads.unwrap_or(0);
    if let Some(t) = &a.as_of {
        opts.ti_mode = TiMode::AsOf(parse_time(t, "--as-of")?);
    }
    let quiet = a.quiet;
    if !a.ti.is_empty() {
        let load = kvsentry_runtime::ti::load(&a.ti, &super::ti::load_options(&a.ti_read)?)?;
        if !quiet {
            let files = load.report.files.len() + load.taxii_stores.len();
            eprintln!(
                "threat intel: {} indicator version(s) from {files} source(s)",
                load.set.len()
            );
            for f in &load.report.failed_files {
                eprintln!("  {}", super::ti::not_loaded(&f.path, &f.error));
            }
            for w in load.warnings() {
                eprintln!("warning: {w}");
            }
        }
        opts.intel = Some(Arc::new(load.set));
    }

    let show_progress = !a.no_progress && !a.quiet && io::stderr().is_terminal();
    let bar = if show_progress {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let b = bar.clone();
        opts.progress = Some(Arc::new(move |done, total| {
            b.set_length(total);
            b.set_position(done);
        }));
        Some(bar)
    } else {
        None
    };

    // The command exits after the hunt: no point freeing the engine's state first.
    opts.exit_after = true;
    let hunt = Hunt::new(opts)?;
    let (out, stdout_tty) = open_output(a.output.as_deref())?;
    if let Some(prefix) = &a.alert {
        let mut pick = sink::Pick {
            prefix: prefix.trim().to_ascii_lowercase(),
            found: Vec::new(),
        };
        let report = hunt.run(&mut pick)?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let exit = match pick.found.as_slice() {
            [] => {
                eprintln!("kvsentry: no alert id starts with '{prefix}'");
                Exit::Failure
            }
            [one] => {
                sink::write_one(&a, out, one)?;
                Exit::Ok
            }
            several => {
                let ids: Vec<&str> = several.iter().map(|a| a.alert_id.as_str()).collect();
                return Err(UsageError(format!(
                    "--alert {prefix}: {} alerts have ids starting so ({}); give more characters",
                    ids.len(),
                    ids.join(", ")
                ))
                .into());
            }
        };
        if !a.quiet {
            summary::print_hunt(&report);
        }
        return Ok(exit);
    }
    let mut sink = sink::alert_sink(&a, out, stdout_tty, bar.clone());
    let report = hunt.run(&mut sink)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(rule) = &explain {
        summary::print_explain(
            rule,
            &report,
            &summary::ExplainFilter {
                group: a.explain_group.clone(),
                near_misses: a.near_misses,
            },
        );
    }
    if !a.quiet {
        summary::print_hunt(&report);
    }
    if !sink.failures().is_empty() {
        // Said even with --quiet: these alerts reached no one.
        for f in sink.failures() {
            eprintln!("kvsentry: {f}");
        }
        return Ok(Exit::Failure);
    }
    let inputs = report.inputs.len();
    if let Some(why) = summary::no_events(
        &a.input.paths,
        inputs,
        &report.read,
        &report.file_errors,
        !a.quiet,
    ) {
        eprintln!("kvsentry: {why}");
        return Ok(Exit::Failure);
    }
    if a.strict && report.problems() > 0 {
        // Said even with --quiet: the exit code alone would not tell which input failed.
        if a.quiet {
            for e in &report.file_errors {
                eprintln!("error: {e}");
            }
        }
        eprintln!(
            "kvsentry: --strict: {} damaged record(s) and {} failed file(s)",
            report.problems() - report.file_errors.len() as u64,
            report.file_errors.len()
        );
        return Ok(Exit::Skipped);
    }
    if a.fail_on_alert && report.alerts_total() > 0 {
        return Ok(Exit::Alerts);
    }
    Ok(Exit::Ok)
}

/// `--sentinel-compat`: every indicator-match rule reproduces the KQL to the letter.
fn set_sentinel_compat(rules: &mut RuleSet) {
    let ids: Vec<String> = rules
        .iter()
        .filter(|r| matches!(r.detection, Detection::IndicatorMatch(_)))
        .map(|r| r.id().to_string())
        .collect();
    for id in ids {
        if let Some(mut r) = rules.get(&id).cloned() {
            if let Detection::IndicatorMatch(d) = &mut r.detection {
                d.sentinel_compat = true;
            }
            rules.insert(r);
        }
    }
}
