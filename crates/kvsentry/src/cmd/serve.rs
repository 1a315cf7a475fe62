//! `kvsentry serve`: check a configuration, or run passes over its inputs (`--once`: until
//! they are caught up), with `/healthz`, `/metrics` and `POST /reload` on the `listen`
//! address, reloads on SIGHUP, and a stop after the pass under way on SIGTERM or SIGINT
//! (see signals.rs).

mod signals;

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvsentry_runtime::serve::config::{InputKind, LoggingFormat, OutputKind, ServeConfig};
use kvsentry_runtime::serve::{
    HttpServer, Loaded, Ops, PassOptions, PassReport, ReloadAsked, ServeError, Server,
};
use tracing::{error, info, warn};

use crate::args::ServeArgs;
use crate::exit::{Exit, UsageError};
use crate::logging;
use signals::STOP;

/// What the serving loop is asked to do between passes.
pub enum Control {
    /// Reload the configuration, rules and intel (from `POST /reload`, which waits for the
    /// answer, or SIGHUP).
    Reload(Option<ReloadAsked>),
    /// Stop: finish the pass under way, checkpoint, exit 0.
    Stop,
}

/// How long `--once` waits for the outputs to deliver what the pass queued (each output
/// stops sooner once its receiver failed a round of retries).
const ONCE_WAIT: Duration = Duration::from_secs(120);

/// How long a SIGTERM waits for the outputs before exit.
const STOP_WAIT: Duration = Duration::from_secs(2);

pub fn run(a: ServeArgs) -> anyhow::Result<Exit> {
    // Before any thread starts (they inherit the mask): see signals.rs.
    let blocked = (!a.check_config).then(signals::block);
    let (config, loaded) = load(&a).map_err(usage)?;
    logging::init(config.logging());
    let json = config.logging().format == LoggingFormat::Json;
    match serve(a, blocked, config, loaded) {
        // Logs read as JSON lines end with the error as one.
        Err(e) if json => {
            error!("{}", crate::exit::user_message(&e));
            Ok(Exit::from_error(&e))
        }
        other => other,
    }
}

/// `run` once the configuration is loaded and logging set up.
fn serve(
    a: ServeArgs,
    blocked: Option<signals::Blocked>,
    config: ServeConfig,
    loaded: Loaded,
) -> anyhow::Result<Exit> {
    log_loaded(&loaded);
    if a.check_config {
        print_summary(&config, &loaded)?;
        return Ok(Exit::Ok);
    }
    let opts = PassOptions {
        flush: a.flush,
        threads: a.threads.unwrap_or(0),
        ..PassOptions::default()
    };
    let ops = Arc::new(Ops::new());
    ops.metrics.declare(&config);
    if loaded.intel.is_some() {
        ops.metrics
            .record_intel(loaded.indicators, jiff::Timestamp::now());
    }
    let (control, orders) = mpsc::channel::<Control>();
    // Dropped last: answers until serve ends.
    let _http = match config.http_listen() {
        Some(addr) => {
            let to_loop = control.clone();
            let once = a.once;
            let on_reload = move |asked: ReloadAsked| {
                if once {
                    asked.answer(Err(
                        "not reloaded: a --once run reads the file at its start".into(),
                    ));
                } else {
                    let _ = to_loop.send(Control::Reload(Some(asked)));
                }
            };
            let http = HttpServer::start(addr, Arc::clone(&ops), on_reload)
                .map_err(|e| anyhow::anyhow!("listen {addr}: {e}"))?;
            info!(
                "serve: listening on http://{} (/healthz, /metrics, POST /reload)",
                http.local_addr()
            );
            if !addr.ip().is_loopback() {
                warn!(
                    "serve: {addr} is reachable from other hosts, and /reload has no \
                     authentication: guard it with a firewall"
                );
            }
            Some(http)
        }
        None => None,
    };
    let mut server = Server::open(config, &loaded).map_err(usage)?;
    log_restore(&server);
    let current: signals::CurrentStop = Arc::new(Mutex::new(Some(server.stop_handle())));
    if let Some(blocked) = blocked {
        signals::listen(blocked, control.clone(), Arc::clone(&current), !a.once);
    }
    if a.once {
        pass(&mut server, &opts, &ops, true)?;
        if STOP.load(Ordering::Relaxed) {
            info!("serve: stopped; what was read is committed");
        }
        return Ok(Exit::Ok);
    }
    let mut loaded = loaded;
    let mut every = poll_interval(server.config());
    while !STOP.load(Ordering::Relaxed) {
        let started = Instant::now();
        let caught_up = pass(&mut server, &opts, &ops, false)?;
        ops.set_ready(true);
        // Until the next pass is due (at once while a backlog is read in bounded passes),
        // or a reload or stop is asked for.
        let wait = match caught_up {
            true => every.saturating_sub(started.elapsed()),
            false => Duration::ZERO,
        };
        match orders.recv_timeout(wait) {
            Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => {
                STOP.store(true, Ordering::Relaxed);
            }
            Ok(Control::Reload(asked)) => {
                // The new rules see new data at once: the next pass starts now.
                let (s, l, outcome) = reload(&a, server, loaded, &ops)?;
                (server, loaded) = (s, l);
                *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(server.stop_handle());
                every = poll_interval(server.config());
                if let Some(asked) = asked {
                    asked.answer(outcome);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    let mut r = PassReport::default();
    settle(&server, &mut r, STOP_WAIT)?;
    report_left(&r);
    info!("serve: stopped; the state is committed");
    Ok(Exit::Ok)
}

/// One pass (`once`: passes until every input is caught up), reported in the logs and
/// the metrics. Returns whether every input was caught up.
fn pass(
    server: &mut Server,
    opts: &PassOptions,
    ops: &Ops,
    once: bool,
) -> Result<bool, ServeError> {
    let started = Instant::now();
    let r = match once {
        true => server.catch_up(opts)?,
        false => server.pass(opts)?,
    };
    let mut r = r;
    if once {
        // The run ends: the outputs deliver what they can first.
        settle(server, &mut r, ONCE_WAIT)?;
    }
    ops.metrics.record_pass(&r, started.elapsed());
    report(&r, !once);
    if once {
        report_left(&r);
    }
    Ok(r.caught_up)
}

/// Waits for the outputs (at most `bound`), adding what they delivered to `r`.
fn settle(server: &Server, r: &mut PassReport, bound: Duration) -> Result<(), ServeError> {
    let s = server.delivery().settle(bound)?.progress;
    for (name, n) in s.delivered {
        *r.delivered.entry(name).or_default() += n;
    }
    for (name, n) in s.retries {
        *r.retries.entry(name).or_default() += n;
    }
    (r.pending, r.waiting) = (s.pending, s.waiting);
    Ok(())
}

/// Alerts left in the outboxes at the end of a run.
fn report_left(r: &PassReport) {
    for (output, n) in r.pending.iter().filter(|(_, n)| **n > 0) {
        info!(
            "serve: output {output}: {n} alert(s) left pending in the state store for the next run"
        );
    }
}

/// The configuration file, with `--listen` and its secrets, and its rules and intel.
fn load(a: &ServeArgs) -> Result<(ServeConfig, Loaded), ServeError> {
    let mut config = ServeConfig::from_path(&a.config)?;
    if let Some(addr) = a.listen {
        config.set_listen(addr);
    }
    config.resolve_secrets()?;
    let loaded = kvsentry_runtime::serve::load(&config)?;
    Ok((config, loaded))
}

/// Rereads the configuration file, its rules and intel, and opens the state again with
/// them: the engine keeps the state of every rule whose definition did not change. A
/// configuration that cannot run is refused, and the running one goes on; the outcome
/// (`Ok`: what was reloaded, `Err`: why not) is also logged. Fails only if the state can
/// be opened again with neither configuration.
fn reload(
    a: &ServeArgs,
    server: Server,
    loaded: Loaded,
    ops: &Ops,
) -> Result<(Server, Loaded, Result<String, String>), ServeError> {
    let refused = |why: String, server, loaded| {
        error!("serve: reload refused, the running configuration goes on: {why}");
        ops.metrics.record_reload(false);
        Ok((server, loaded, Err(why)))
    };
    let (config, new) = match load(a) {
        Ok(c) => c,
        Err(e) => return refused(e.to_string(), server, loaded),
    };
    let old = server.config().clone();
    if config.state_dir() != old.state_dir() {
        let why = format!(
            "{}: `state_dir` changed from {} to {}: restart serve to move its state",
            config.origin(),
            old.state_dir().display(),
            config.state_dir().display()
        );
        return refused(why, server, loaded);
    }
    for n in &new.notes {
        info!("note: {n}");
    }
    for w in &new.ti_warnings {
        warn!("{w}");
    }
    if config.http_listen() != old.http_listen() {
        warn!("serve: `listen` changed: it takes effect when serve restarts");
    }
    if config.logging().format != old.logging().format {
        warn!("serve: `logging.format` changed: it takes effect when serve restarts");
    }
    let level = config.logging().level;
    // The store is locked while a Server holds it.
    drop(server);
    match Server::open(config, &new) {
        Ok(server) => {
            let what = format!(
                "reloaded {}: {} rule(s) enabled, {} indicator version(s)",
                server.config().origin(),
                new.rules.enabled().count(),
                new.indicators
            );
            logging::set_level(level);
            info!("serve: {what}");
            log_restore(&server);
            ops.metrics.declare(server.config());
            if new.intel.is_some() {
                (ops.metrics).record_intel(new.indicators, jiff::Timestamp::now());
            }
            ops.metrics.record_reload(true);
            Ok((server, new, Ok(what)))
        }
        Err(e) => {
            let server = Server::open(old, &loaded)?;
            refused(e.to_string(), server, loaded)
        }
    }
}

/// Errors of the configuration, its rules or intel, or an unsupported feature: the user's
/// to fix (exit 2). Anything else (the store locked by another serve, I/O) stays a failure.
fn usage(e: ServeError) -> anyhow::Error {
    match e {
        ServeError::Config(_)
        | ServeError::Rules(_)
        | ServeError::Ti(_)
        | ServeError::NotYet { .. }
        | ServeError::Input { .. }
        | ServeError::InputClient { .. } => UsageError(e.to_string()).into(),
        other => other.into(),
    }
}

fn log_loaded(loaded: &Loaded) {
    for n in &loaded.notes {
        info!("note: {n}");
    }
    for w in &loaded.ti_warnings {
        warn!("{w}");
    }
}

fn log_restore(server: &Server) {
    let Some(r) = server.restore_report() else {
        return;
    };
    if !r.fresh.is_empty() {
        info!(
            "note: rules new or changed since the last run start with fresh state: {}",
            r.fresh.join(", ")
        );
    }
    if !r.dropped.is_empty() {
        info!(
            "note: state of rules no longer loaded is dropped: {}",
            r.dropped.join(", ")
        );
    }
}

fn print_summary(config: &ServeConfig, loaded: &Loaded) -> std::io::Result<()> {
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
    if let Some(addr) = config.http_listen() {
        out!("listen: {addr}");
    }
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

/// Logs a pass; `quiet_if_idle`: a pass that did nothing is logged at debug level only
/// (a long-running serve passes every `poll_interval`).
fn report(r: &PassReport, quiet_if_idle: bool) {
    let delivered: u64 = r.delivered.values().sum();
    if quiet_if_idle && r.events == 0 && r.alerts == 0 && delivered == 0 {
        tracing::debug!("serve: nothing new");
    } else {
        info!(
            "serve: {} event(s) read, {} alert(s) raised, {} delivered",
            r.events, r.alerts, delivered
        );
    }
    if r.late_events > 0 {
        info!(
            "serve: {} late event(s) (older than allowed_lateness behind their file)",
            r.late_events
        );
    }
    if r.duplicates > 0 {
        info!(
            "serve: {} record(s) read again (the identity of one counted before) left out",
            r.duplicates
        );
    }
    if let Some(n) = r.ti_reloaded {
        info!("serve: threat intel reloaded: {n} indicator version(s)");
    }
    if let Some(why) = &r.ti_error {
        warn!("threat intel not reloaded, the intel in use stays: {why}");
    }
    if r.retro_alerts > 0 {
        info!(
            "serve: {} alert(s) from new indicators matched against caller addresses seen before",
            r.retro_alerts
        );
    }
    if r.late_dropped > 0 {
        warn!(
            "{} event(s) arrived later than allowed_lateness and were left out",
            r.late_dropped
        );
    }
    if r.held_back {
        warn!("an output's outbox is full: no input read until its alerts are delivered");
    }
    for (output, why) in &r.waiting {
        warn!("output {output}: alerts wait for the next pass: {why}");
    }
    for e in &r.file_errors {
        warn!("{e}");
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
