//! Exit codes, and how an error is told to the user.

use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The run completed (alerts or not).
    Ok = 0,
    /// A runtime failure: cannot write output, no input could be read at all.
    Failure = 1,
    /// A usage, rule or threat-intel file error (clap also exits 2 on bad arguments).
    Usage = 2,
    /// `--strict` and some records or files were skipped.
    Skipped = 3,
    /// `--fail-on-alert` and at least one alert fired.
    Alerts = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error that is the user's to fix in the command line or a rule file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// True when the error is a closed pipe on our output: the reader stopped listening, which is
/// not a failure of ours.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes joined by `: `, leaving out a cause whose text the message
/// already holds: many errors print their source themselves (`cannot read X: {source}`),
/// and anyhow's `{:#}` would say it a second time.
pub fn user_message(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg
}

impl Exit {
    pub fn from_error(err: &anyhow::Error) -> Exit {
        if err.downcast_ref::<UsageError>().is_some()
            || err.downcast_ref::<kvsentry_rules::RuleErrors>().is_some()
            || err.downcast_ref::<kvsentry_engine::EngineError>().is_some()
            || err.downcast_ref::<kvsentry_ingest::IngestError>().is_some()
            || err
                .downcast_ref::<kvsentry_runtime::ti::TiError>()
                .is_some()
        {
            Exit::Usage
        } else if let Some(h) = err.downcast_ref::<kvsentry_runtime::hunt::HuntError>() {
            match h {
                kvsentry_runtime::hunt::HuntError::Output(_) => Exit::Failure,
                _ => Exit::Usage,
            }
        } else {
            Exit::Failure
        }
    }
}
