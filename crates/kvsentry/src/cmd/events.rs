//! `kvsentry events`: the normalised events as JSON lines, exactly what rules see.

use std::io::Write;

use kvsentry_ingest::{ReadOptions, ReadStats};
use kvsentry_model::{AuditEvent, Field};

use crate::args::EventsArgs;
use crate::args::values::{log_format, time_range};
use crate::exit::{Exit, UsageError};
use crate::output::open_output;

/// `--where FIELD=VALUE`, the field resolved once.
fn parse_where(text: &str) -> Result<(Field, String), UsageError> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| UsageError(format!("--where '{text}': expected FIELD=VALUE")))?;
    let field = Field::from_name(name.trim()).ok_or_else(|| {
        UsageError(format!(
            "--where '{text}': '{}' is not a dictionary field (e.g. caller.ip, identity.upn, \
             vault.name, operation)",
            name.trim()
        ))
    })?;
    Ok((field, value.to_string()))
}

fn matches(ev: &AuditEvent<'_>, filters: &[(Field, String)]) -> bool {
    filters.iter().all(|(f, want)| match ev.get(*f).as_text() {
        Some(v) => v.eq_ignore_ascii_case(want),
        None => want.is_empty(),
    })
}

pub fn run(a: EventsArgs) -> anyhow::Result<Exit> {
    let (since, until) = time_range(a.since.as_deref(), a.until.as_deref())?;
    let filters = a
        .filters
        .iter()
        .map(|w| parse_where(w))
        .collect::<Result<Vec<_>, _>>()?;
    let inputs = kvsentry_ingest::discover(&a.input.paths)?;
    let opts = ReadOptions {
        format: log_format(a.input.log_format),
        ..ReadOptions::default()
    };
    let (mut out, _) = open_output(a.output.as_deref())?;
    let mut stats = ReadStats::new();
    let mut write_err = None;
    let mut errors = Vec::new();
    let mut left_out = 0u64;
    for (i, input) in inputs.iter().enumerate() {
        let r = kvsentry_ingest::read_input(input, i as u32, &opts, &mut stats, &mut |ev| {
            if write_err.is_some() {
                return;
            }
            if since.is_some_and(|t| ev.time < t)
                || until.is_some_and(|t| ev.time >= t)
                || !matches(ev, &filters)
            {
                left_out += 1;
                return;
            }
            let mut obj = ev.to_dictionary_json();
            if !ev.identity.other.is_empty() {
                // Array claims with their type (the dictionary dump has every value as text).
                obj.insert(
                    "identity.other_claims".into(),
                    ev.identity.other_claims_json().into(),
                );
            }
            obj.insert(
                "source".into(),
                format!("{}:{}", input.display, ev.origin.line).into(),
            );
            // Dotted names as nested objects, like alerts: `jq .caller.ip` works on both.
            let obj = kvsentry_model::nest::nest(obj);
            let res = serde_json::to_writer(&mut out, &obj)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"));
            if let Err(e) = res {
                write_err = Some(e);
            }
        });
        if let Err(e) = r {
            eprintln!("kvsentry: {e}");
            errors.push(e);
        }
    }
    if let Some(e) = write_err {
        // A closed pipe (`| head`) is not a failure of ours.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(anyhow::anyhow!("cannot write events: {e}"));
        }
    }
    let _ = out.flush();
    eprintln!("{}", stats.summary());
    if left_out > 0 {
        eprintln!("{left_out} event(s) left out by --since/--until/--where");
    }
    let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    if let Some(why) =
        crate::summary::no_events(&a.input.paths, inputs.len(), &stats, &errors, true)
    {
        eprintln!("kvsentry: {why}");
        return Ok(Exit::Failure);
    }
    Ok(Exit::Ok)
}
