//! serve's own logs, through `tracing`, on stderr: human-readable lines (coloured on a
//! terminal) or, with `[logging] format = "json"`, one JSON object per line. The level is
//! `[logging] level` and follows a reload; the format is chosen once, at start.
//!
//! What is logged is serve's own doing (passes, deliveries waiting, files that failed,
//! restores, reloads): never a record read from the logs, never a secret (a resolved
//! secret prints as `***` wherever it is formatted).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

use kvsentry_runtime::serve::config::{LogLevel, LoggingConfig, LoggingFormat};
use tracing::Level;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

/// The most verbose level logged (a [`LogLevel`] as `u8`).
static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);

/// Installs the logger for this process. A second call changes only the level.
pub fn init(config: &LoggingConfig) {
    set_level(config.level);
    let stderr = std::io::stderr;
    let layer = match config.format {
        LoggingFormat::Text => fmt::layer()
            .with_writer(stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .boxed(),
        LoggingFormat::Json => fmt::layer()
            .json()
            .with_writer(stderr)
            .with_target(false)
            .with_current_span(false)
            .with_span_list(false)
            .flatten_event(true)
            .boxed(),
    };
    let filter = filter_fn(|meta| rank(*meta.level()) <= LEVEL.load(Ordering::Relaxed));
    // Already installed (a second init): the level above is what changes.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// Logs at `level` and above from now on (a reload's new `[logging] level`).
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// `tracing`'s level in [`LogLevel`]'s order (error first).
fn rank(level: Level) -> u8 {
    let l = match level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    };
    l as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_rank_from_error_to_trace() {
        let all = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ];
        let ranks: Vec<u8> = all.iter().map(|l| rank(*l)).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
        // `info` keeps warnings and drops debug.
        let info = LogLevel::Info as u8;
        assert!(rank(Level::WARN) <= info && rank(Level::DEBUG) > info);
    }
}
