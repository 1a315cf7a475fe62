//! `kvsentry gen`: seeded, realistic logs with injected attacks and their ground truth.

use std::fs::File;
use std::io::{self, BufWriter};

use kvsentry_gen::{Form, GenConfig, Scenario};

use super::args::GenArgs;
use super::{Exit, UsageError, parse_duration, parse_time};

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
    let summary = if a.storage_layout {
        let Some(dir) = &a.output else {
            return Err(UsageError("--storage-layout needs --output DIR".into()).into());
        };
        kvsentry_gen::write_dir(form, &cfg, dir)?
    } else {
        match &a.output {
            Some(p) => {
                let f = File::create(p)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
                kvsentry_gen::write(form, &cfg, BufWriter::new(f))?
            }
            None => kvsentry_gen::write(form, &cfg, BufWriter::new(io::stdout().lock()))?,
        }
    };
    if let Some(p) = &a.ground_truth {
        let f =
            File::create(p).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
        kvsentry_gen::write_ground_truth(&summary.ground_truth, BufWriter::new(f))?;
    }
    if let (Some(n), Some(path)) = (a.indicators, &a.indicators_output) {
        let at = match &a.ti_at {
            Some(t) => parse_time(t, "--ti-at")?,
            None => cfg.start + cfg.duration,
        };
        let ips: Vec<_> = summary.caller_ips.iter().map(|s| s.ip).collect();
        let rows = kvsentry_gen::gen_indicators(a.seed, n, a.match_share, &ips, at);
        let f = File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            kvsentry_gen::ti::write_indicators_csv(&rows, BufWriter::new(f))?;
        } else {
            kvsentry_gen::ti::write_indicators_jsonl(&rows, BufWriter::new(f))?;
        }
        if let Some(tp) = &a.ti_truth {
            let g = kvsentry_gen::Generator::new(&cfg)?;
            let expected =
                kvsentry_gen::ti_expected_matches(&rows, &g.key_vault_observations(), at, None);
            let f = File::create(tp)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tp.display()))?;
            serde_json::to_writer_pretty(BufWriter::new(f), &expected)?;
        }
        eprintln!(
            "kvsentry gen: {n} indicator rows for evaluation at {at} in {}",
            path.display()
        );
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
