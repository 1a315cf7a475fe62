//! A `type = "kafka"` output's transport: each alert one message to the topic, delivered
//! once the broker acknowledged it ([`KafkaTransport`]); its delivery worker is the one every
//! output has (`deliver/`).

use kvsentry_output::sink::{KafkaTransport, KafkaTransportOptions};

use super::ServeError;
use super::config::{KafkaOutput, OutputConfig};

/// Makes the producer `kafka` asks for (librdkafka checks its settings) and drops it:
/// what `--check-config` checks of a Kafka output.
pub(super) fn check(output: &OutputConfig, kafka: &KafkaOutput) -> Result<(), ServeError> {
    open(output, kafka).map(drop)
}

pub(super) fn open(
    output: &OutputConfig,
    kafka: &KafkaOutput,
) -> Result<KafkaTransport, ServeError> {
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
