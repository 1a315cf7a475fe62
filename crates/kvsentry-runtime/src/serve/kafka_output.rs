//! Draining a `type = "kafka"` output's outbox: each alert one message to the topic, marked
//! delivered once the broker acknowledged it ([`KafkaTransport`]). An alert that is not
//! acknowledged stays pending, with those after it, for the next pass.

use kvsentry_model::Alert;
use kvsentry_output::Transport;
use kvsentry_output::sink::{KafkaTransport, KafkaTransportOptions};

use super::ServeError;
use super::config::{KafkaOutput, OutputConfig};
use super::deliver::Drained;
use super::state::StateStore;

/// Alerts taken from the outbox at a time.
const BATCH: usize = 1000;

/// Delivers the pending alerts of `output`, in order. The producer is made only when
/// there is something to send.
pub(super) fn drain(
    store: &StateStore,
    output: &OutputConfig,
    kafka: &KafkaOutput,
) -> Result<Drained, ServeError> {
    let mut delivered = 0;
    let mut transport: Option<KafkaTransport> = None;
    loop {
        let batch = store.pending(&output.name, BATCH)?;
        if batch.is_empty() {
            if let Some(t) = &mut transport {
                t.finish(&[]).map_err(|e| ServeError::output(output, e))?;
            }
            return Ok(Drained {
                delivered,
                waiting: None,
                retries: 0,
            });
        }
        let t = match &mut transport {
            Some(t) => t,
            None => transport.insert(open(output, kafka)?),
        };
        for p in &batch {
            let alert: Alert = serde_json::from_slice(&p.encoded).map_err(|e| {
                ServeError::output(
                    output,
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                )
            })?;
            if let Err(e) = t.deliver(&alert, &p.encoded) {
                return Ok(Drained {
                    delivered,
                    waiting: Some(e.to_string()),
                    retries: 0,
                });
            }
            store.mark_delivered(&output.name, &[p.seq])?;
            delivered += 1;
        }
    }
}

/// Makes the producer `kafka` asks for (librdkafka checks its settings) and drops it:
/// what `--check-config` checks of a Kafka output.
pub(super) fn check(output: &OutputConfig, kafka: &KafkaOutput) -> Result<(), ServeError> {
    open(output, kafka).map(drop)
}

fn open(output: &OutputConfig, kafka: &KafkaOutput) -> Result<KafkaTransport, ServeError> {
    let opts = KafkaTransportOptions {
        brokers: kafka.brokers.clone(),
        topic: kafka.topic.clone(),
        event_hubs_connection_string: (kafka.connection_string_env.as_ref())
            .and_then(|s| Some(s.secret()?.expose().to_string())),
        settings: kafka.settings.clone(),
        secret_settings: (kafka.secret_settings.iter())
            .filter_map(|(k, s)| Some((k.clone(), s.secret()?.expose().to_string())))
            .collect(),
        ..KafkaTransportOptions::default()
    };
    KafkaTransport::new(&opts).map_err(|e| ServeError::output(output, std::io::Error::other(e)))
}
