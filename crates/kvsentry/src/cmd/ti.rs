//! `kvsentry ti stats|list|check|sync`: look at threat intelligence before hunting with it.

use std::collections::BTreeMap;
use std::io::Write;

use kvsentry_intel::{IndicatorIndex, LoadOptions, Selection, SelectionReport, Verdict};
use kvsentry_runtime::ti::{self, TiLoad};
use kvsentry_stix::{Auth, TaxiiClient};

use crate::args::values::parse_time;
use crate::args::{TiArgs, TiCommand, TiReadArgs, TiSource};
use crate::exit::{Exit, UsageError};
use crate::output::open_output;

pub fn run(a: TiArgs) -> anyhow::Result<Exit> {
    match a.command {
        TiCommand::Stats(src) => {
            let (load, index, report) = select(&src)?;
            print_load(&load)?;
            print_selection(&report)?;
            let mut by_source: BTreeMap<(String, &'static str), usize> = BTreeMap::new();
            for ind in index.iter() {
                *by_source
                    .entry((ind.source.clone(), kind(ind)))
                    .or_default() += 1;
            }
            out!("selected indicators by source and type:");
            for ((source, k), n) in by_source {
                out!("  {source:<40} {k:<10} {n}");
            }
            Ok(Exit::Ok)
        }
        TiCommand::List { source, limit } => {
            let (_, index, _) = select(&source)?;
            let (mut out, _) = open_output(None)?;
            for ind in index.iter().take(limit.unwrap_or(usize::MAX)) {
                let line = serde_json::json!({
                    "id": ind.id,
                    "value": ind.value_text,
                    "network": ind.network.to_string(),
                    "type": kind(ind),
                    "source": ind.source,
                    "threat_type": ind.threat_type,
                    "confidence": ind.confidence,
                    "expiration": ind.expiration.map(|t| t.to_string()),
                    "description": ind.description,
                });
                writeln!(out, "{line}")?;
            }
            out.flush()?;
            Ok(Exit::Ok)
        }
        TiCommand::Check { ip, source, at } => {
            let addr = kvsentry_model::net::parse_ip(&ip)
                .ok_or_else(|| UsageError(format!("'{ip}' is not an IP address")))?;
            let when = at.as_deref().map(|t| parse_time(t, "--at")).transpose()?;
            let load = load(&source)?;
            let sel = selection(source.as_of.as_deref(), source.compat)?;
            if let Some(reason) = kvsentry_model::net::non_global_reason(addr) {
                out!("{addr} is not a public address ({reason}): no rule matches it");
            }
            let verdicts = load.set.explain(addr, sel);
            if verdicts.is_empty() {
                out!("{addr}: no indicator names it");
            }
            // Like grep: success when something matches.
            let mut matched = false;
            for v in &verdicts {
                let ind = &v.indicator;
                let mut line = format!(
                    "{addr}: indicator {} ({}) from {}: {}",
                    ind.id, ind.value_text, ind.source, v.verdict
                );
                if v.verdict == Verdict::Selected {
                    if let Some(e) = ind.expiration {
                        line.push_str(&format!(", expires {e}"));
                    }
                    match when.map(|t| ind.live_at(t)) {
                        Some(true) => {
                            line.push_str(", matches an event at that time");
                            matched = true;
                        }
                        Some(false) => line.push_str(", expired before that time"),
                        None => matched = true,
                    }
                }
                out!("{line}");
            }
            Ok(if matched { Exit::Ok } else { Exit::Failure })
        }
        TiCommand::Sync {
            taxii,
            collection,
            store,
            api_root,
            user,
            password,
            token,
            limit,
        } => {
            let auth = match (user, password, token) {
                (_, _, Some(t)) => Auth::Bearer(t),
                (Some(u), Some(p), None) => Auth::Basic {
                    user: u,
                    password: p,
                },
                (Some(_), None, None) | (None, Some(_), None) => {
                    return Err(UsageError("--user and --password go together".into()).into());
                }
                (None, None, None) => Auth::None,
            };
            let client = TaxiiClient::new(auth);
            let root = match api_root {
                Some(r) => r,
                None => {
                    let d = client.discovery(&taxii)?;
                    d.default
                        .or_else(|| d.api_roots.first().cloned())
                        .ok_or_else(|| {
                            UsageError(format!(
                                "{taxii}: the server lists no API root; pass --api-root"
                            ))
                        })?
                }
            };
            let r = client.sync(&store, &root, &collection, limit)?;
            match &r.file {
                Some(f) => out!(
                    "fetched {} object(s) in {} page(s) into {}",
                    r.objects,
                    r.pages,
                    f.display()
                ),
                None => match r.added_after {
                    Some(t) => out!("nothing new: no object added after {t}"),
                    None => out!("nothing new: the collection is empty"),
                },
            }
            out!("hunt with it: kvsentry hunt LOGS --ti {}", store.display());
            Ok(Exit::Ok)
        }
    }
}

fn kind(ind: &kvsentry_intel::Indicator) -> &'static str {
    match (
        ind.network.addr().is_ipv4(),
        ind.network.prefix_len() == ind.network.max_prefix_len(),
    ) {
        (true, true) => "ipv4-addr",
        (false, true) => "ipv6-addr",
        (true, false) => "ipv4-cidr",
        (false, false) => "ipv6-cidr",
    }
}

pub(crate) fn load_options(src: &TiReadArgs) -> anyhow::Result<LoadOptions> {
    let format = src
        .ti_format
        .as_deref()
        .map(|f| {
            f.parse()
                .map_err(|e| UsageError(format!("--ti-format: {e}")))
        })
        .transpose()?;
    Ok(LoadOptions {
        format,
        ip_column: src.ti_ip_column.clone(),
        ..LoadOptions::default()
    })
}

pub(crate) fn selection(as_of: Option<&str>, compat: bool) -> anyhow::Result<Selection> {
    Ok(match as_of {
        Some(t) => Selection::AsOf {
            at: parse_time(t, "--as-of")?,
            compat,
        },
        None => Selection::Retro { compat },
    })
}

/// Loads the sources, warning on stderr about feeds without a usable indicator.
fn load(src: &TiSource) -> anyhow::Result<TiLoad> {
    let load = ti::load(&src.paths, &load_options(&src.read)?)?;
    for w in load.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(load)
}

fn select(src: &TiSource) -> anyhow::Result<(TiLoad, IndicatorIndex, SelectionReport)> {
    let load = load(src)?;
    let (index, report) = load
        .set
        .select(selection(src.as_of.as_deref(), src.compat)?);
    Ok((load, index, report))
}

fn print_load(load: &TiLoad) -> std::io::Result<()> {
    for f in &load.report.files {
        let skipped: usize = f.skipped.values().sum();
        out!(
            "{} [{}]: {} record(s) read: {} indicator version(s), {} skipped",
            f.path.display(),
            f.format,
            f.records + skipped,
            f.records,
            skipped
        );
        for (reason, n) in &f.skipped {
            out!("    {n:>8}  {reason}");
        }
        if !f.problems.is_empty() {
            out!("  first problems:");
        }
        for p in f.problems.iter().take(5) {
            out!("    {}: {}: {}", p.origin, p.reason, p.value);
        }
    }
    for f in &load.report.failed_files {
        out!("{}", not_loaded(&f.path, &f.error));
    }
    for t in &load.taxii_stores {
        let skipped: usize = t.skipped.values().sum();
        out!(
            "{} [taxii store]: {} record(s) read: {} indicator version(s), {skipped} skipped",
            t.path.display(),
            t.versions + skipped,
            t.versions
        );
        for (reason, n) in &t.skipped {
            out!("    {n:>8}  {reason}");
        }
    }
    Ok(())
}

/// Prints a selection report as a chain of totals: each total is the one above it less the
/// indented counts between them (zero counts are left out), every label in words.
pub(crate) fn print_selection(r: &SelectionReport) -> std::io::Result<()> {
    out!("selection: {}", r.mode);
    let mut rows: Vec<(String, usize)> = Vec::new();
    let step = |rows: &mut Vec<(String, usize)>, label: String, n: usize| {
        if n > 0 {
            rows.push((format!("  {label}"), n));
        }
    };
    rows.push(("records read".into(), r.loaded_records));
    step(&mut rows, "skipped at load: no IP".into(), r.no_ip);
    step(
        &mut rows,
        "skipped at load: unparseable IP".into(),
        r.unparseable_ip,
    );
    for (reason, n) in &r.skipped_at_load {
        step(&mut rows, format!("skipped at load: {reason}"), *n);
    }
    let skipped = r.no_ip + r.unparseable_ip + r.skipped_at_load.values().sum::<usize>();
    let versions = r.loaded_records.saturating_sub(skipped);
    rows.push((
        format!("indicator versions (of {} indicators)", r.distinct_ids),
        versions,
    ));
    step(
        &mut rows,
        "generated before the lookback".into(),
        r.outside_lookback,
    );
    step(
        &mut rows,
        "generated after the as-of time".into(),
        r.after_as_of,
    );
    for (reason, n) in &r.non_global {
        step(&mut rows, format!("not a public address: {reason}"), *n);
    }
    step(
        &mut rows,
        "older versions replaced by a later one".into(),
        r.superseded,
    );
    let non_global: usize = r.non_global.values().sum();
    let latest =
        versions.saturating_sub(r.outside_lookback + r.after_as_of + non_global + r.superseded);
    rows.push(("latest versions".into(), latest));
    step(&mut rows, "inactive".into(), r.inactive);
    step(&mut rows, "revoked".into(), r.revoked);
    step(&mut rows, "expired at the as-of time".into(), r.expired);
    step(
        &mut rows,
        "no expiration (Sentinel never alerts on those)".into(),
        r.no_expiration,
    );
    step(
        &mut rows,
        "same IP text as a kept indicator".into(),
        r.duplicate_ip,
    );
    rows.push(("selected indicators".into(), r.kept));
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    for (label, n) in rows {
        out!("  {label:<width$}  {n:>8}");
    }
    Ok(())
}

/// "PATH: not loaded: why", naming the path once when the reason names it already.
pub(crate) fn not_loaded(path: &std::path::Path, error: &dyn std::fmt::Display) -> String {
    let why = error.to_string();
    let path = path.display().to_string();
    match why.strip_prefix(&format!("{path}: ")) {
        Some(rest) => format!("{path}: not loaded: {rest}"),
        None if why.contains(&path) => format!("not loaded: {why}"),
        None => format!("{path}: not loaded: {why}"),
    }
}
