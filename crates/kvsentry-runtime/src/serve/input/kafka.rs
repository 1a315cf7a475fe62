//! `type = "kafka"`: a Kafka topic, or an Event Hub through its Kafka endpoint
//! ([`KafkaSource`]), resumed from its checkpoint; after each commit the offsets also go to
//! the consumer group, for the lag tools (the state store stays the truth).

use std::ops::{Deref, DerefMut};

use kvsentry_ingest::{KafkaCheckpoint, KafkaOptions, KafkaSource, ReadOptions};

use crate::serve::ServeError;
use crate::serve::config::{InputConfig, KafkaInput};

/// A topic's partitions.
pub(crate) struct KafkaInputSource {
    source: KafkaSource,
    /// Why the last copy of the offsets to the consumer group failed, if it did.
    commit_error: Option<String>,
}

impl KafkaInputSource {
    /// Opens the topic's partitions, resumed from `checkpoint` when there is one.
    pub fn open(
        config: &InputConfig,
        kafka: &KafkaInput,
        read: &ReadOptions,
        first_source: u32,
        checkpoint: Option<&[u8]>,
    ) -> Result<KafkaInputSource, ServeError> {
        let opts = options(kafka, read, first_source);
        let bad = |reason: String| ServeError::Checkpoint {
            name: config.name.clone(),
            reason,
        };
        let source = match checkpoint {
            Some(bytes) => {
                let cp: KafkaCheckpoint =
                    postcard::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
                KafkaSource::resume(opts, &cp)
            }
            None => KafkaSource::new(opts),
        }
        .map_err(|e| client_error(config, e))?;
        Ok(KafkaInputSource {
            source,
            commit_error: None,
        })
    }

    pub fn checkpoint(&self, name: &str) -> Result<Vec<u8>, ServeError> {
        postcard::to_allocvec(&self.source.checkpoint()).map_err(|e| ServeError::Checkpoint {
            name: name.to_string(),
            reason: e.to_string(),
        })
    }

    /// Copies the offsets just committed with the engine state to the consumer group. A
    /// failure changes nothing read or delivered: it is kept for [`Self::commit_error`]
    /// and the next commit tries again.
    pub fn committed(&mut self) {
        let cp = self.source.checkpoint();
        self.commit_error = self.source.commit_offsets(&cp).err().map(|e| e.to_string());
    }

    /// Why the last copy of the offsets to the consumer group failed, if it did.
    #[allow(dead_code)] // for the metrics endpoint
    pub fn commit_error(&self) -> Option<&str> {
        self.commit_error.as_deref()
    }
}

/// Makes the client `config` asks for (librdkafka checks its settings) without connecting:
/// what `--check-config` checks of a Kafka input.
pub(crate) fn check(config: &InputConfig, kafka: &KafkaInput) -> Result<(), ServeError> {
    let opts = options(kafka, &ReadOptions::default(), 0);
    KafkaSource::new(opts).map_err(|e| client_error(config, e))?;
    Ok(())
}

/// The source's options. Secrets come resolved in the configuration (`resolve_secrets`);
/// one still unresolved is left out, and the brokers refuse the client.
fn options(kafka: &KafkaInput, read: &ReadOptions, first_source: u32) -> KafkaOptions {
    let secret_settings = (kafka.secret_settings.iter())
        .filter_map(|(k, s)| Some((k.clone(), s.secret()?.expose().to_string())))
        .collect();
    KafkaOptions {
        brokers: kafka.brokers.clone(),
        topic: kafka.topic.clone(),
        group_id: kafka.group_id.clone(),
        event_hubs_connection_string: (kafka.connection_string_env.as_ref())
            .and_then(|s| Some(s.secret()?.expose().to_string())),
        settings: kafka.settings.clone(),
        secret_settings,
        read: read.clone(),
        once: true,
        first_source,
        ..KafkaOptions::default()
    }
}

fn client_error(config: &InputConfig, e: kvsentry_ingest::KafkaSourceError) -> ServeError {
    ServeError::InputClient {
        name: config.name.clone(),
        message: e.to_string(),
    }
}

impl Deref for KafkaInputSource {
    type Target = KafkaSource;
    fn deref(&self) -> &KafkaSource {
        &self.source
    }
}

impl DerefMut for KafkaInputSource {
    fn deref_mut(&mut self) -> &mut KafkaSource {
        &mut self.source
    }
}
