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
    eprintln!(
        "kvsentry gen: {} records ({} Key Vault), {} bytes, {} scenario(s) injected, form {form}",
        summary.records,
        summary.key_vault_records,
        summary.bytes,
        summary.ground_truth.len()
    );
    Ok(Exit::Ok)
}
