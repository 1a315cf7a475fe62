//! `kvsentry gen`: seeded, realistic logs with injected attacks and their ground truth.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Component, Path, PathBuf};

use kvsentry_gen::{Form, GenConfig, Generator, Scenario};

use crate::args::GenArgs;
use crate::args::values::{parse_duration, parse_time};
use crate::exit::{Exit, UsageError};

/// `path` made absolute with `.` and `..` resolved in the text (it may not exist yet), and
/// through symbolic links where it exists.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    // The longest existing prefix decides where the path really is.
    let mut rest = Vec::new();
    let mut head = out.clone();
    loop {
        if let Ok(real) = head.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (head.file_name().map(|f| f.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                head = parent.to_path_buf();
            }
            _ => return out,
        }
    }
}

/// Refuses an extra output placed inside the `--storage-layout` directory, where
/// `kvsentry hunt DIR` would take it for a log.
fn outside(dir: &Path, file: &Path, option: &str) -> Result<(), UsageError> {
    if resolved(file).starts_with(resolved(dir)) {
        return Err(UsageError(format!(
            "{option} {} is inside the --storage-layout directory {}, where `kvsentry hunt {}` \
             would read it as a log; write it beside the directory",
            file.display(),
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// `DIR.ground-truth.json` next to `DIR`.
fn beside(dir: &Path) -> Result<PathBuf, UsageError> {
    let d = resolved(dir);
    match d.file_name() {
        Some(name) => {
            let mut n = name.to_os_string();
            n.push(".ground-truth.json");
            Ok(d.with_file_name(n))
        }
        None => Err(UsageError(format!(
            "cannot place the ground truth beside {}: give --ground-truth FILE",
            dir.display()
        ))),
    }
}

fn create(p: &Path) -> anyhow::Result<BufWriter<File>> {
    let f = File::create(p).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
    Ok(BufWriter::new(f))
}

pub fn run(a: GenArgs) -> anyhow::Result<Exit> {
    let mut form: Form = a
        .form
        .parse()
        .map_err(|e| UsageError(format!("--form: {e}")))?;
    form.gzip |= a.gzip;
    let mut cfg = GenConfig {
        seed: a.seed,
        events: a.events,
        start: parse_time(&a.start, "--start")?,
        duration: parse_duration(&a.duration)?,
        mixed_records: a.mixed,
        ..GenConfig::default()
    };
    for spec in &a.scenario {
        if spec == "standard" || spec == "all" {
            cfg.scenarios.extend(Scenario::standard_set());
        } else {
            let s: Scenario = spec
                .parse()
                .map_err(|e| UsageError(format!("--scenario: {e}")))?;
            cfg.scenarios.push(s);
        }
    }
    let at = match &a.ti_at {
        Some(t) => parse_time(t, "--ti-at")?,
        None => cfg.start + cfg.duration,
    };
    // With --storage-layout the ground truth goes beside the directory unless placed
    // elsewhere, and nothing but logs may go inside it.
    let truth_path = match (&a.ground_truth, a.storage_layout, &a.output) {
        (Some(p), _, _) => Some(p.clone()),
        (None, true, Some(dir)) => Some(beside(dir)?),
        _ => None,
    };
    if let (true, Some(dir)) = (a.storage_layout, &a.output) {
        if let Some(p) = &truth_path {
            outside(dir, p, "--ground-truth")?;
        }
        if let (Some(_), Some(p)) = (a.indicators, &a.indicators_output) {
            outside(dir, p, "--indicators-output")?;
        }
        if let (Some(_), Some(p)) = (a.indicators, &a.ti_truth) {
            outside(dir, p, "--ti-truth")?;
        }
        let stale = dir.join("ground-truth.json");
        if stale.is_file() {
            eprintln!(
                "kvsentry gen: note: {} (an earlier version wrote it there) is inside the log tree; remove it before hunting {}",
                stale.display(),
                dir.display()
            );
        }
    }
    let g = Generator::new(&cfg)?;
    let mut summary = if a.storage_layout {
        let Some(dir) = &a.output else {
            return Err(UsageError("--storage-layout needs --output DIR".into()).into());
        };
        kvsentry_gen::write_dir_generated(form, &g, dir)?
    } else {
        match &a.output {
            Some(p) => kvsentry_gen::write_generated(form, &g, create(p)?)?,
            None => kvsentry_gen::write_generated(form, &g, BufWriter::new(io::stdout().lock()))?,
        }
    };
    if let (Some(n), Some(path)) = (a.indicators, &a.indicators_output) {
        let ips: Vec<_> = summary.caller_ips.iter().map(|s| s.ip).collect();
        // The `ips:` scenarios' public addresses get live indicators, so the TI rule can
        // fire on them; the ground truth then says, per scenario, whether it must.
        let rows = kvsentry_gen::run_indicators(&g, n, a.match_share, &ips, at);
        kvsentry_gen::apply_indicators(&mut summary.ground_truth, &g, &rows, at);
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            kvsentry_gen::ti::write_indicators_csv(&rows, create(path)?)?;
        } else {
            kvsentry_gen::ti::write_indicators_jsonl(&rows, create(path)?)?;
        }
        if let Some(tp) = &a.ti_truth {
            let expected =
                kvsentry_gen::ti_expected_matches(&rows, &g.key_vault_observations(), at, None);
            serde_json::to_writer_pretty(create(tp)?, &expected)?;
        }
        eprintln!(
            "kvsentry gen: {} indicator rows ({n} IP indicators and noise, plus the `ips:` scenarios' addresses) for evaluation at {at} in {}",
            rows.len(),
            path.display()
        );
    }
    if let Some(p) = &truth_path {
        kvsentry_gen::write_ground_truth(&summary.ground_truth, create(p)?)?;
        eprintln!("kvsentry gen: ground truth in {}", p.display());
    }
    eprintln!(
        "kvsentry gen: {} records ({} Key Vault), {} bytes, {} scenario(s) injected, form {form}",
        summary.records,
        summary.key_vault_records,
        summary.bytes,
        summary.ground_truth.len()
    );
    Ok(Exit::Ok)
}
