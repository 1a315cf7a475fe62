//! `kvsentry hunt`: rules over logs, alerts out, a summary on stderr.

use std::io::{self, IsTerminal};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use kvsentry::hunt::{Hunt, HuntOptions};
use kvsentry_ingest::ReadOptions;
use kvsentry_output::encode::{AlertDetail, Csv, Encoder, JsonLines};
use kvsentry_output::sink::{DeliveryError, Writer};
use kvsentry_output::{AlertSink, OutputFormat, Sink, TableStyle, Transport};
use kvsentry_rules::RuleSet;

use kvsentry_engine::TiMode;
use kvsentry_model::Alert;
use kvsentry_rules::Detection;

use super::args::{FormatArg, HuntArgs};
use super::{
    Exit, UsageError, log_format, open_output, parse_size, parse_time, summary, time_range,
};

/// The built-in pack (unless `--no-builtin`) with the user's rule files layered over it.
pub(crate) fn load_rules(paths: &[std::path::PathBuf], builtin: bool) -> anyhow::Result<RuleSet> {
    let mut rules = if builtin {
        RuleSet::builtin()
    } else {
        RuleSet::new()
    };
    // All user files into one set first: an id in two of them is an error naming both.
    let extra = RuleSet::load_paths(paths)?;
    for r in extra.iter() {
        if rules.get(r.id()).is_some() {
            eprintln!(
                "note: rule {} from {} replaces the built-in rule with that id",
                r.id(),
                r.source()
            );
        }
    }
    rules.merge_override(extra);
    if rules.enabled().next().is_none() {
        return Err(UsageError("no enabled rules to run".into()).into());
    }
    Ok(rules)
}

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
        let load = kvsentry::ti::load(&a.ti, &super::ti_cmd::load_options(&a.ti_read)?)?;
        if !quiet {
            let files = load.report.files.len() + load.taxii_stores.len();
            eprintln!(
                "threat intel: {} indicator version(s) from {files} source(s)",
                load.set.len()
            );
            for f in &load.report.failed_files {
                eprintln!("  {}", super::ti_cmd::not_loaded(&f.path, &f.error));
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
        let mut pick = Pick {
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
                // The form asked for; text otherwise.
                let encoder: Box<dyn Encoder> = match asked_format(&a) {
                    Some(OutputFormat::Jsonl | OutputFormat::Json) => Box::new(JsonLines::pretty()),
                    Some(OutputFormat::Csv) => Box::new(Csv::new()),
                    _ => Box::new(AlertDetail),
                };
                let mut sink = Sink::new(encoder, Writer::new(out));
                sink.write(one)?;
                sink.finish()?;
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
    let format = asked_format(&a).unwrap_or(if stdout_tty {
        OutputFormat::Table
    } else {
        OutputFormat::Jsonl
    });
    let encoder = format.encoder(TableStyle {
        width: terminal_width(stdout_tty),
        color: stdout_tty && !no_color(),
    });
    let transport = ClearBar {
        inner: Writer::new(out),
        bar: bar.clone(),
    };
    let mut sink = Sink::new(encoder, transport);
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

/// The output form asked for: `-f`, else the extension of `-o`'s file (`.csv`, `.json`,
/// `.jsonl`/`.ndjson`); `None` leaves the choice to where the output goes.
fn asked_format(a: &HuntArgs) -> Option<OutputFormat> {
    match a.format {
        Some(f) => Some(output_format(f)),
        None => a.output.as_deref().and_then(OutputFormat::from_path),
    }
}

fn output_format(f: FormatArg) -> OutputFormat {
    match f {
        FormatArg::Table => OutputFormat::Table,
        FormatArg::TableDetail => OutputFormat::TableDetail,
        FormatArg::Jsonl => OutputFormat::Jsonl,
        FormatArg::Json => OutputFormat::Json,
        FormatArg::Csv => OutputFormat::Csv,
    }
}

/// A transport that takes the progress bar off the screen before it writes: alerts written
/// while the bar is drawn would leave a stale frame above them (the table prints at the end).
struct ClearBar<T> {
    inner: T,
    bar: Option<ProgressBar>,
}

impl<T: Transport> Transport for ClearBar<T> {
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        match &self.bar {
            Some(bar) => bar.suspend(|| self.inner.deliver(alert, bytes)),
            None => self.inner.deliver(alert, bytes),
        }
    }

    fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.inner.finish(trailer)
    }
}

/// `COLUMNS` when set (the user's word wins, as for `ls`), else the terminal's width, else 120.
fn terminal_width(stdout_tty: bool) -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .or_else(|| stdout_tty.then(kvsentry_output::terminal_width).flatten())
        // A terminal that reports no size (0 columns) is taken as unknown.
        .filter(|w: &u16| *w > 0)
        .unwrap_or(120)
}

/// <https://no-color.org>: a non-empty `NO_COLOR` turns colour off.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `--alert ID`: keeps the alerts whose id starts with the prefix (case aside).
struct Pick {
    prefix: String,
    found: Vec<kvsentry_model::Alert>,
}

impl AlertSink for Pick {
    fn write(&mut self, alert: &kvsentry_model::Alert) -> io::Result<()> {
        if alert
            .alert_id
            .to_ascii_lowercase()
            .starts_with(&self.prefix)
        {
            self.found.push(alert.clone());
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
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
