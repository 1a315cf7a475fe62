//! A Kafka topic (or an Event Hub through its Kafka endpoint): one message per alert.
//!
//! Each message holds the alert's bytes as the encoder wrote them (JSON, without the line's
//! newline), keyed by the alert id (so one alert always goes to the same partition) and with
//! an `alert_id` header. [`Transport::deliver`] answers only once the broker acknowledged the
//! message (its delivery report), so a caller that records acknowledged alerts records no
//! alert the topic does not hold. The producer is idempotent: librdkafka's own retries never
//! write a message twice; an alert delivered again after a crash is a second message with
//! the same key and header, for the consumer to drop.
//!
//! Secrets (an Event Hubs connection string, the values of secret settings) appear in no
//! error and no `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kvsentry_model::Alert;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::{DeliveryError, Transport};

/// Where alerts go and how long one may take. `Debug` shows no secret.
#[derive(Clone)]
pub struct KafkaTransportOptions {
    /// `host:port` of the bootstrap brokers.
    pub brokers: Vec<String>,
    pub topic: String,
    /// An Event Hubs connection string: SASL_SSL, PLAIN, user `$ConnectionString`, this as
    /// the password.
    pub event_hubs_connection_string: Option<String>,
    /// librdkafka properties (`compression.type`, `security.protocol`, ...).
    pub settings: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets (`sasl.password`, ...).
    pub secret_settings: BTreeMap<String, String>,
    /// How long one alert may wait for its acknowledgement, librdkafka's retries
    /// included, before it counts as not delivered.
    pub timeout: Duration,
}

impl Default for KafkaTransportOptions {
    fn default() -> Self {
        KafkaTransportOptions {
            brokers: Vec::new(),
            topic: String::new(),
            event_hubs_connection_string: None,
            settings: BTreeMap::new(),
            secret_settings: BTreeMap::new(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for KafkaTransportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret_keys: Vec<&String> = self.secret_settings.keys().collect();
        f.debug_struct("KafkaTransportOptions")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field(
                "event_hubs",
                &self
                    .event_hubs_connection_string
                    .as_ref()
                    .map(|_| "<secret>"),
            )
            .field("settings", &self.settings)
            .field("secret_settings (keys)", &secret_keys)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the producer could not be made. Its text holds no secret.
#[derive(Debug, thiserror::Error)]
#[error("kafka output to topic {topic}: {message}")]
pub struct KafkaTransportError {
    pub topic: String,
    pub message: String,
}

/// Set after the user's settings: what the delivery guarantee rests on.
const FIXED: [(&str, &str); 2] = [("enable.idempotence", "true"), ("acks", "all")];

/// Sends each alert as a message to a topic.
pub struct KafkaTransport {
    producer: BaseProducer<Reports>,
    topic: String,
    timeout: Duration,
    secrets: Vec<String>,
    /// The number of the last message sent: a late report of an earlier one (given up on)
    /// is not taken for this one's.
    seq: usize,
    delivered: u64,
}

/// A delivery report: the message's number and its outcome.
type Report = (usize, Result<(), String>);

/// The last delivery report.
#[derive(Default, Clone)]
struct Reports {
    last: Arc<Mutex<Option<Report>>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let outcome = result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string());
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, outcome));
    }
}

impl KafkaTransport {
    /// A producer for `opts.topic`; it connects with the first alert.
    pub fn new(opts: &KafkaTransportOptions) -> Result<KafkaTransport, KafkaTransportError> {
        let mut secrets: Vec<String> = opts.secret_settings.values().cloned().collect();
        secrets.extend(opts.event_hubs_connection_string.iter().cloned());
        secrets.retain(|s| !s.is_empty());
        let mut c = ClientConfig::new();
        let ms = opts.timeout.as_millis().clamp(1, i32::MAX as u128);
        // librdkafka's own deadline for a message; a setting may shorten it.
        c.set("client.id", "kvsentry")
            .set("message.timeout.ms", ms.to_string());
        for (k, v) in opts.settings.iter().chain(&opts.secret_settings) {
            c.set(k, v);
        }
        if let Some(conn) = &opts.event_hubs_connection_string {
            c.set("security.protocol", "SASL_SSL")
                .set("sasl.mechanisms", "PLAIN")
                .set("sasl.username", "$ConnectionString")
                .set("sasl.password", conn);
        }
        c.set("bootstrap.servers", opts.brokers.join(","));
        for (k, v) in FIXED {
            c.set(k, v);
        }
        let producer =
            c.create_with_context(Reports::default())
                .map_err(|e| KafkaTransportError {
                    topic: opts.topic.clone(),
                    message: scrub(&secrets, e.to_string()),
                })?;
        Ok(KafkaTransport {
            producer,
            topic: opts.topic.clone(),
            timeout: opts.timeout,
            secrets,
            seq: 0,
            delivered: 0,
        })
    }

    /// Alerts the brokers acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    fn failed(&self, what: &str, e: impl fmt::Display) -> DeliveryError {
        let message = scrub(
            &self.secrets,
            format!("{what} to topic {}: {e}", self.topic),
        );
        DeliveryError::Alert(io::Error::other(message))
    }
}

/// `text` without any secret in it.
fn scrub(secrets: &[String], mut text: String) -> String {
    for s in secrets {
        if text.contains(s.as_str()) {
            text = text.replace(s.as_str(), "<secret>");
        }
    }
    text
}

impl Transport for KafkaTransport {
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        let payload = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let headers = OwnedHeaders::new().insert(Header {
            key: "alert_id",
            value: Some(alert.alert_id.as_str()),
        });
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let record = BaseRecord::with_opaque_to(&self.topic, seq)
            .key(alert.alert_id.as_str())
            .payload(payload)
            .headers(headers);
        let reports = Arc::clone(&self.producer.context().last);
        *reports.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Err((e, _)) = self.producer.send(record) {
            return Err(self.failed("not sent", e));
        }
        // librdkafka gives up itself after `message.timeout.ms`; the margin covers its report.
        let deadline = Instant::now() + self.timeout + Duration::from_secs(5);
        loop {
            self.producer.poll(Duration::from_millis(50));
            let report = reports.lock().unwrap_or_else(|p| p.into_inner()).take();
            match report.filter(|(n, _)| *n == seq).map(|(_, r)| r) {
                Some(Ok(())) => {
                    self.delivered += 1;
                    return Ok(());
                }
                Some(Err(e)) => return Err(self.failed("not acknowledged", e)),
                None if Instant::now() >= deadline => {
                    return Err(self.failed("no acknowledgement", "timed out"));
                }
                None => {}
            }
        }
    }

    fn finish(&mut self, _trailer: &[u8]) -> io::Result<()> {
        self.producer
            .flush(self.timeout)
            .map_err(|e| io::Error::other(scrub(&self.secrets, e.to_string())))
    }
}

#[cfg(test)]
mod tests;
