//! Draining each output's outbox from the state store to where the output writes.
//!
//! An alert is marked delivered only once its output has it: for a file, after it was
//! written and synced. A file output is reconciled at its first drain in a process, so
//! alerts a crash left written but not yet marked are marked, not written twice (later
//! drains need not read the file again: this process marks what it writes). A webhook gets the alerts in order,
//! each with its retries; one that still fails stays pending, with those after it, for the
//! next pass.

use std::collections::BTreeSet;
use std::io::Write;

use kvsentry_output::sink::{Backoff, FileTransport, WebhookTransport};
use kvsentry_output::{DeliveryError, Transport};

use super::ServeError;
use super::config::{OutputConfig, OutputKind};
use super::state::StateStore;

/// Alerts taken from an outbox at a time.
const BATCH: usize = 1000;

/// What draining an output did.
pub(crate) struct Drained {
    pub delivered: u64,
    /// Why delivery stopped with alerts still pending (a receiver down): they wait for the
    /// next pass.
    pub waiting: Option<String>,
    /// Requests that were retries of an earlier one.
    pub retries: u64,
}

/// Delivers the pending alerts of `output`, in order. `reconciled`: the outputs whose files
/// this process already reconciled.
pub(crate) fn drain(
    store: &StateStore,
    output: &OutputConfig,
    reconciled: &mut BTreeSet<String>,
) -> Result<Drained, ServeError> {
    let done = |delivered| Drained {
        delivered,
        waiting: None,
        retries: 0,
    };
    match &output.kind {
        OutputKind::File(f) => {
            let keep = f.keep as usize;
            let found = if reconciled.contains(&output.name) {
                BTreeSet::new()
            } else {
                let found = FileTransport::reconcile(&f.path, keep)
                    .map_err(|e| ServeError::output(output, e))?;
                found.alert_ids
            };
            let mut file =
                FileTransport::open(&f.path).map_err(|e| ServeError::output(output, e))?;
            if let Some(max) = f.rotate_bytes {
                file = file.with_rotation(max, keep);
            }
            let mut n = 0;
            loop {
                let batch = store.pending(&output.name, BATCH)?;
                if batch.is_empty() {
                    reconciled.insert(output.name.clone());
                    return Ok(done(n));
                }
                for p in &batch {
                    if !found.contains(&p.id) {
                        file.deliver_bytes(&p.encoded)
                            .map_err(|e| ServeError::output(output, e))?;
                        n += 1;
                    }
                }
                file.sync().map_err(|e| ServeError::output(output, e))?;
                let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
                store.mark_delivered(&output.name, &seqs)?;
            }
        }
        OutputKind::Stdout => {
            let mut out = std::io::stdout().lock();
            let mut n = 0;
            loop {
                let batch = store.pending(&output.name, BATCH)?;
                if batch.is_empty() {
                    return Ok(done(n));
                }
                for p in &batch {
                    out.write_all(&p.encoded)
                        .map_err(|e| ServeError::output(output, e))?;
                    n += 1;
                }
                out.flush().map_err(|e| ServeError::output(output, e))?;
                let seqs: Vec<u64> = batch.iter().map(|p| p.seq).collect();
                store.mark_delivered(&output.name, &seqs)?;
            }
        }
        OutputKind::Webhook(w) => {
            let mut hook = WebhookTransport::new(w.url.as_str())
                .with_timeout(duration(&w.timeout))
                .with_backoff(Backoff {
                    attempts: w.max_retries.saturating_add(1),
                    initial: duration(&w.backoff),
                    max: duration(&w.max_backoff),
                });
            for (name, value) in &w.headers {
                hook = hook.with_header(name, value);
            }
            for (name, secret) in &w.secret_headers {
                if let Some(s) = secret.secret() {
                    hook = hook.with_header(name, s.expose());
                }
            }
            let mut n = 0;
            loop {
                let batch = store.pending(&output.name, BATCH)?;
                if batch.is_empty() {
                    let retries = hook.stats().retries;
                    return Ok(Drained { retries, ..done(n) });
                }
                for p in &batch {
                    if let Err(e) = hook.deliver_bytes(&p.encoded) {
                        return Ok(Drained {
                            delivered: n,
                            waiting: Some(e.to_string()),
                            retries: hook.stats().retries,
                        });
                    }
                    store.mark_delivered(&output.name, &[p.seq])?;
                    n += 1;
                }
            }
        }
        OutputKind::Kafka(k) => super::kafka_output::drain(store, output, k),
    }
}

fn duration(d: &kvsentry_rules::Dur) -> std::time::Duration {
    std::time::Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(0))
}

/// A transport takes an alert beside its bytes (other transports need its id); the
/// outbox keeps only the bytes, which is all a file writes.
trait DeliverBytes {
    fn deliver_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl<T: Transport> DeliverBytes for T {
    fn deliver_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let alert: kvsentry_model::Alert = serde_json::from_slice(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.deliver(&alert, bytes).map_err(|e| match e {
            DeliveryError::Alert(e) | DeliveryError::Closed(e) => e,
        })
    }
}
