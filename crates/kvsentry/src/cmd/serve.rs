//! `kvsentry serve`: check a configuration, or run passes over its inputs (`--once`: one).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kvsentry_runtime::serve::config::{InputKind, OutputKind, ServeConfig};
use kvsentry_runtime::serve::{PassOptions, PassReport, ServeError, Server};

use crate::args::ServeArgs;
use crate::exit::{Exit, UsageError};

/// Set by SIGINT or SIGTERM: finish the pass under way, checkpoint, exit.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(a: ServeArgs) -> anyhow::Result<Exit> {
    let mut config = ServeConfig::from_path(&a.config).map_err(|e| usage(e.into()))?;
    config.resolve_secrets().map_err(|e| usage(e.into()))?;
    let loaded = kvsentry_runtime::serve::load(&config).map_err(usage)?;
    for n in &loaded.notes {
        eprintln!("note: {n}");
    }
    for w in &loaded.ti_warnings {
        eprintln!("warning: {w}");
    }
    if a.check_config {
        print_summary(&config, &loaded)?;
        return Ok(Exit::Ok);
    }
    let opts = PassOptions {
        flush: a.flush,
        threads: a.threads.unwrap_or(0),
        ..PassOptions::default()
    };
    let mut server = Server::open(config, &loaded).map_err(usage)?;
    if let Some(r) = server.restore_report() {
        if !r.fresh.is_empty() {
            eprintln!(
                "note: rules new or changed since the last run start with fresh state: {}",
                r.fresh.join(", ")
            );
        }
        if !r.dropped.is_empty() {
            eprintln!(
                "note: state of rules no longer loaded is dropped: {}",
                r.dropped.join(", ")
            );
        }
    }
    if a.once {
        report(&server.catch_up(&opts)?);
        return Ok(Exit::Ok);
    }
    catch_signals();
    let every = poll_interval(server.config());
    while !STOP.load(Ordering::Relaxed) {
        let started = Instant::now();
        report(&server.pass(&opts)?);
        while !STOP.load(Ordering::Relaxed) && started.elapsed() < every {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(Exit::Ok)
}

/// Errors of the configuration, its rules or intel, or an unsupported feature: the user's
/// to fix (exit 2). Anything else (the store locked by another serve, I/O) stays a failure.
fn usage(e: ServeError) -> anyhow::Error {
    match e {
        ServeError::Config(_)
        | ServeError::Rules(_)
        | ServeError::Ti(_)
        | ServeError::NotYet { .. }
        | ServeError::Unsupported { .. }
        | ServeError::Input { .. } => UsageError(e.to_string()).into(),
        other => other.into(),
    }
}

fn print_summary(
    config: &ServeConfig,
    loaded: &kvsentry_runtime::serve::Loaded,
) -> std::io::Result<()> {
    out!("{}: OK", config.origin());
    out!("state_dir: {}", config.state_dir().display());
    out!(
        "rules: {} enabled of {}",
        loaded.rules.enabled().count(),
        loaded.rules.len()
    );
    if loaded.intel.is_some() {
        out!("threat intel: {} indicator version(s)", loaded.indicators);
    }
    out!("allowed_lateness: {}", config.allowed_lateness());
    for i in config.inputs() {
        match &i.kind {
            InputKind::Files(f) => out!("input {}: files {}", i.name, f.path.display()),
            other => out!("input {}: {}", i.name, other.type_name()),
        }
    }
    for o in config.outputs() {
        match &o.kind {
            OutputKind::File(f) => out!("output {}: file {}", o.name, f.path.display()),
            other => out!("output {}: {}", o.name, other.type_name()),
        }
    }
    Ok(())
}

fn report(r: &PassReport) {
    let delivered: u64 = r.delivered.values().sum();
    eprintln!(
        "serve: {} event(s) read, {} alert(s) raised, {} delivered",
        r.events, r.alerts, delivered
    );
    if r.late_events > 0 {
        eprintln!(
            "serve: {} late event(s) (older than allowed_lateness behind their file)",
            r.late_events
        );
    }
    if r.late_dropped > 0 {
        eprintln!(
            "warning: {} event(s) arrived later than allowed_lateness and were left out",
            r.late_dropped
        );
    }
    for (output, why) in &r.waiting {
        eprintln!("warning: output {output}: alerts wait for the next pass: {why}");
    }
    for e in &r.file_errors {
        eprintln!("warning: {e}");
    }
}

/// The shortest `poll_interval` of the inputs.
fn poll_interval(config: &ServeConfig) -> Duration {
    config
        .inputs()
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::Files(f) => u64::try_from(f.poll_interval.as_nanos()).ok(),
            _ => None,
        })
        .min()
        .map_or(Duration::from_secs(1), Duration::from_nanos)
}

#[cfg(unix)]
fn catch_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    extern "C" fn on_signal(_: nix::libc::c_int) {
        STOP.store(true, Ordering::Relaxed);
    }
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

#[cfg(not(unix))]
fn catch_signals() {
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed));
}
