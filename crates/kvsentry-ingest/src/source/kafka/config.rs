//! The librdkafka consumer a [`super::KafkaSource`] reads through: the user's settings, Event
//! Hubs' SASL settings, and what the source's offset handling needs, which always wins.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::BaseConsumer;

use super::{KafkaOptions, KafkaSourceError};

/// Set after the user's settings: the offsets are the state store's, committed only when
/// [`super::KafkaSource::commit_offsets`] is told to; a partition read from no checkpoint
/// starts at its earliest offset.
const FIXED: [(&str, &str); 5] = [
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("auto.offset.reset", "earliest"),
    ("enable.partition.eof", "false"),
    // Transactions' aborted messages are never read.
    ("isolation.level", "read_committed"),
];

/// The consumer for `opts`. Its errors name no secret (librdkafka names a property whose
/// value it refuses, not the value, and the caller scrubs the values too).
pub(super) fn consumer(opts: &KafkaOptions) -> Result<BaseConsumer, KafkaSourceError> {
    let mut c = ClientConfig::new();
    // A fetch waiting for data holds back the offset requests behind it on the connection
    // (a pass starts with them): 100 ms rather than librdkafka's 500. A setting may change it.
    c.set("client.id", "kvsentry")
        .set("fetch.wait.max.ms", "100");
    for (k, v) in opts.settings.iter().chain(&opts.secret_settings) {
        c.set(k, v);
    }
    if let Some(conn) = &opts.event_hubs_connection_string {
        c.set("security.protocol", "SASL_SSL")
            .set("sasl.mechanisms", "PLAIN")
            .set("sasl.username", "$ConnectionString")
            .set("sasl.password", conn);
    }
    c.set("bootstrap.servers", opts.brokers.join(","))
        .set("group.id", &opts.group_id);
    for (k, v) in FIXED {
        c.set(k, v);
    }
    c.create().map_err(|e| {
        let mut message = e.to_string();
        let secrets = (opts.secret_settings.values()).chain(&opts.event_hubs_connection_string);
        for s in secrets.filter(|s| !s.is_empty()) {
            message = message.replace(s.as_str(), "<secret>");
        }
        KafkaSourceError::Client {
            topic: opts.topic.clone(),
            message,
        }
    })
}
