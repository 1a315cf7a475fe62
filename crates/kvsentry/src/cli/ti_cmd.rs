//! `kvsentry ti stats|list|check|sync`: look at threat intelligence before hunting with it.

use std::collections::BTreeMap;
use std::io::Write;

use kvsentry::ti::{self, TiLoad};
use kvsentry_intel::{IndicatorIndex, LoadOptions, Selection, SelectionReport};
use kvsentry_stix::{Auth, TaxiiClient};

use super::args::{TiArgs, TiCommand, TiReadArgs, TiSource};
use super::{Exit, UsageError, open_output, parse_time};

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
            let (_, index, report) = select(&source)?;
            let when = at.as_deref().map(|t| parse_time(t, "--at")).transpose()?;
            let found = index.lookup(addr);
            if let Some(reason) = kvsentry_model::net::non_global_reason(addr) {
                out!("{addr} is not a public address ({reason}): no rule matches it");
            }
            if found.is_empty() {
                out!("{addr}: no selected indicator covers it ({})", report.mode);
                return Ok(Exit::Ok);
            }
            for ind in found {
                let live = when.map(|t| ind.live_at(t));
                out!(
                    "{addr}: indicator {} ({}) from {}{}{}",
                    ind.id,
                    ind.value_text,
                    ind.source,
                    ind.expiration
                        .map_or(String::new(), |e| format!(", expires {e}")),
                    match live {
                        Some(true) => ", matches an event at that time",
                        Some(false) => ", expired before that time",
                        None => "",
                    }
                );
            }
            Ok(Exit::Ok)
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

fn select(src: &TiSource) -> anyhow::Result<(TiLoad, IndicatorIndex, SelectionReport)> {
    let load = ti::load(&src.paths, &load_options(&src.read)?)?;
    let (index, report) = load
        .set
        .select(selection(src.as_of.as_deref(), src.compat)?);
    Ok((load, index, report))
}

fn print_load(load: &TiLoad) -> std::io::Result<()> {
    for f in &load.report.files {
        let skipped: usize = f.skipped.values().sum();
        out!(
            "{} [{}]: {} record(s), {} skipped",
            f.path.display(),
            f.format,
            f.records,
            skipped
        );
        for (reason, n) in &f.skipped {
            out!("    {reason}: {n}");
        }
        for p in f.problems.iter().take(5) {
            out!("    {p:?}");
        }
    }
    for f in &load.report.failed_files {
        out!("{}: not loaded: {f:?}", f.path.display());
    }
    for (p, n, problems) in &load.taxii_stores {
        out!(
            "{} [taxii store]: {n} indicator version(s), {problems} pattern problem(s)",
            p.display()
        );
    }
    Ok(())
}

/// Prints the non-zero counts of a selection report.
pub(crate) fn print_selection(r: &SelectionReport) -> std::io::Result<()> {
    out!("selection: {}", r.mode);
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(r) {
        for (k, v) in m {
            match v {
                serde_json::Value::Number(n) if n.as_u64() != Some(0) => out!("  {k:<18} {n}"),
                serde_json::Value::Object(o) if !o.is_empty() => {
                    for (reason, n) in o {
                        out!("  {k:<18} {n:>8}  {reason}");
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}
