//! Draining each output's outbox from the state store to where the output writes.
//!
//! An alert is marked delivered only once its output has it: for a file, after it was
//! written and synced. A file output is reconciled first, so alerts a crash left written
//! but not yet marked are marked, not written twice.

use std::io::Write;

use kvsentry_output::sink::FileTransport;
use kvsentry_output::{DeliveryError, Transport};

use super::ServeError;
use super::config::{OutputConfig, OutputKind};
use super::state::StateStore;

/// Alerts taken from an outbox at a time.
const BATCH: usize = 1000;

/// Delivers every pending alert of `output`; returns how many were delivered.
pub(crate) fn drain(store: &StateStore, output: &OutputConfig) -> Result<u64, ServeError> {
    match &output.kind {
        OutputKind::File(f) => {
            let keep = f.keep as usize;
            let found = FileTransport::reconcile(&f.path, keep)
                .map_err(|e| ServeError::output(output, e))?;
            let mut file =
                FileTransport::open(&f.path).map_err(|e| ServeError::output(output, e))?;
            if let Some(max) = f.rotate_bytes {
                file = file.with_rotation(max, keep);
            }
            let mut n = 0;
            loop {
                let batch = store.pending(&output.name, BATCH)?;
                if batch.is_empty() {
                    return Ok(n);
                }
                for p in &batch {
                    if !found.alert_ids.contains(&p.id) {
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
                    return Ok(n);
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
        OutputKind::Webhook(_) | OutputKind::Kafka(_) => {
            Err(ServeError::unsupported_output(output))
        }
    }
}

/// The file transport takes an alert beside its bytes (other transports need its id); the
/// outbox keeps only the bytes, which is all a file writes.
trait DeliverBytes {
    fn deliver_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl DeliverBytes for FileTransport {
    fn deliver_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let alert: kvsentry_model::Alert = serde_json::from_slice(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.deliver(&alert, bytes).map_err(|e| match e {
            DeliveryError::Alert(e) | DeliveryError::Closed(e) => e,
        })
    }
}
