//! What an output's delivery worker writes through: kvsentry-output's [`Transport`], built
//! from the output's configuration, and how a failed delivery is retried.
//!
//! An output kind's specifics are all here: how its transport is built ([`build`]), whether
//! it is reconciled against what it already holds, and its retry [`Policy`]. A new kind
//! (a Kafka topic) adds one arm to [`build`] and an [`Outlet`] impl for its transport.

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use kvsentry_output::sink::{Backoff, FileTransport, Rejection, WebhookTransport, Writer};
use kvsentry_output::{DeliveryError, Transport};

use crate::serve::config::{OutputConfig, OutputKind};

/// A transport as a delivery worker drives it.
pub(crate) trait Outlet: Transport + Send {
    /// Makes every alert delivered so far durable (a file's `fsync`) or flushed, before
    /// they are recorded as delivered.
    fn settle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Outlet for FileTransport {
    fn settle(&mut self) -> io::Result<()> {
        self.sync()
    }
}

impl Outlet for Writer<io::Stdout> {
    /// A writer's `finish` with no trailer is a flush (JSON lines have no trailer).
    fn settle(&mut self) -> io::Result<()> {
        self.finish(&[])
    }
}

/// Each alert is acknowledged by the broker before `deliver` returns.
impl Outlet for kvsentry_output::sink::KafkaTransport {
    fn settle(&mut self) -> io::Result<()> {
        self.finish(&[])
    }
}

/// Every request is one attempt: the worker schedules the retries, so that it can stop
/// while it waits.
impl Outlet for WebhookTransport {}

/// An output's transport, ready to deliver.
pub(crate) struct Built {
    pub(crate) outlet: Box<dyn Outlet>,
    /// For an output reconciled against what it holds (a file): the ids it already holds,
    /// which are recorded as delivered instead of being written again after a crash.
    pub(crate) holds: Option<BTreeSet<String>>,
    /// How many alerts the output held when built (its files' lines).
    pub(crate) held: u64,
}

/// How an output's failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The waits between attempts (`attempts` unused: the worker tries until delivered).
    pub(crate) backoff: Backoff,
    /// Attempts in one round: after a round the output is reported waiting (a `--once` run
    /// leaves the alert for the next run), and an alert refused for good all through a
    /// round is dead-lettered.
    pub(crate) round: u32,
}

/// A file or standard output that fails (a full disk, a closed pipe) is tried again this
/// way.
const LOCAL: Policy = Policy {
    backoff: Backoff {
        attempts: 1,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
    },
    round: 3,
};

pub(crate) fn policy(output: &OutputConfig) -> Policy {
    match &output.kind {
        OutputKind::Webhook(w) => Policy {
            backoff: Backoff {
                attempts: 1,
                initial: duration(&w.backoff),
                max: duration(&w.max_backoff),
            },
            round: w.max_retries.saturating_add(1),
        },
        _ => LOCAL,
    }
}

/// Builds `output`'s transport; a file is reconciled first (a cut last line removed, the
/// ids it holds read).
pub(crate) fn build(output: &OutputConfig) -> io::Result<Built> {
    match &output.kind {
        OutputKind::File(f) => {
            let keep = f.keep as usize;
            let found = FileTransport::reconcile(&f.path, keep)?;
            let mut file = FileTransport::open(&f.path)?;
            if let Some(max) = f.rotate_bytes {
                file = file.with_rotation(max, keep);
            }
            Ok(Built {
                outlet: Box::new(file),
                held: found.alert_ids.len() as u64,
                holds: Some(found.alert_ids),
            })
        }
        OutputKind::Stdout => Ok(Built {
            outlet: Box::new(Writer::new(io::stdout())),
            holds: None,
            held: 0,
        }),
        OutputKind::Webhook(w) => {
            let mut hook = WebhookTransport::new(w.url.as_str())
                .with_timeout(duration(&w.timeout))
                .with_backoff(Backoff {
                    attempts: 1,
                    ..policy(output).backoff
                });
            for (name, value) in &w.headers {
                hook = hook.with_header(name, value);
            }
            for (name, secret) in &w.secret_headers {
                if let Some(s) = secret.secret() {
                    hook = hook.with_header(name, s.expose());
                }
            }
            Ok(Built {
                outlet: Box::new(hook),
                holds: None,
                held: 0,
            })
        }
        OutputKind::Kafka(k) => Ok(Built {
            outlet: Box::new(
                crate::serve::kafka_output::open(output, k)
                    .map_err(|e| io::Error::other(e.to_string()))?,
            ),
            holds: None,
            held: 0,
        }),
    }
}

/// What a failed delivery calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Try again, after `after` when the receiver said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// The receiver refused the alert as it is: trying again will not change its answer.
    Refused(String),
    /// The transport can take nothing more: build it again before the next attempt.
    Broken(String),
}

/// Reads a transport's error: a webhook says whether its refusal is for good
/// ([`Rejection`]); an error of kind `InvalidInput` (an alert a file cannot take) is.
pub(crate) fn fate(e: DeliveryError) -> Fate {
    match e {
        DeliveryError::Closed(e) => Fate::Broken(e.to_string()),
        DeliveryError::Alert(e) => match Rejection::of(&e) {
            Some(r) if r.is_permanent() => Fate::Refused(r.to_string()),
            Some(r) => Fate::Retry {
                why: r.to_string(),
                after: r.retry_after(),
            },
            None if e.kind() == io::ErrorKind::InvalidInput => Fate::Refused(e.to_string()),
            None => Fate::Retry {
                why: e.to_string(),
                after: None,
            },
        },
    }
}

pub(crate) fn duration(d: &kvsentry_rules::Dur) -> Duration {
    Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_as_retry_refusal_or_a_broken_transport() {
        let refused = io::Error::new(io::ErrorKind::InvalidInput, "not one line");
        assert_eq!(
            fate(DeliveryError::Alert(refused)),
            Fate::Refused("not one line".into())
        );
        assert_eq!(
            fate(DeliveryError::Alert(io::Error::other("503"))),
            Fate::Retry {
                why: "503".into(),
                after: None
            }
        );
        assert_eq!(
            fate(DeliveryError::Closed(io::ErrorKind::BrokenPipe.into())),
            Fate::Broken(io::Error::from(io::ErrorKind::BrokenPipe).to_string())
        );
    }
}
