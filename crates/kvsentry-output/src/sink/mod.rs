//! Transports, and the sink that joins an encoder to one.
//!
//! A [`Transport`] delivers the bytes of one alert at a time and answers for each: delivered,
//! not delivered (this alert failed; the next may still go), or closed (nothing more can be
//! delivered, e.g. the reader of standard output went away). [`Sink`] runs an [`Encoder`]
//! into a transport, keeps a [`Failure`] per alert that was not delivered and carries on, and
//! stops the run only when the transport is closed.
//!
//! To add a transport (a webhook posting one alert per request, a Kafka producer, a rotating
//! file): a module here with a type implementing [`Transport`], re-exported below. Retries
//! belong inside [`Transport::deliver`], which knows what can be retried; the alert it is given
//! carries the id to use as an idempotency key or message key. A transport that delivers each
//! alert alone wants an encoder whose bytes stand alone ([`JsonLines`](crate::encode::JsonLines)),
//! not one that writes at the end.

use std::io;

use kvsentry_model::Alert;

use crate::AlertSink;
use crate::encode::Encoder;

mod file;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "webhook")]
mod webhook;
mod writer;

pub use file::{FileTransport, Recovered};
#[cfg(feature = "kafka")]
pub use kafka::{KafkaTransport, KafkaTransportError, KafkaTransportOptions};
#[cfg(feature = "webhook")]
pub use webhook::{Backoff, Rejection, WebhookStats, WebhookTransport};
pub use writer::Writer;

/// Why an alert was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// This alert was not delivered; the transport can take the next one.
    #[error("{0}")]
    Alert(io::Error),
    /// The transport can deliver nothing more (a closed pipe, a full disk): the run stops
    /// writing, as it would on any write error.
    #[error("{0}")]
    Closed(io::Error),
}

/// Delivers encoded alerts somewhere.
pub trait Transport {
    /// Delivers the bytes of one alert.
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError>;

    /// Delivers what the encoder wrote after the last alert (possibly nothing) and flushes;
    /// called once.
    fn finish(&mut self, trailer: &[u8]) -> io::Result<()>;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        (**self).deliver(alert, bytes)
    }

    fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
        (**self).finish(trailer)
    }
}

/// An alert that was not delivered (or could not be encoded), by id.
#[derive(Debug, thiserror::Error)]
#[error("alert {alert_id} not delivered: {error}")]
pub struct Failure {
    pub alert_id: String,
    pub error: io::Error,
}

/// An encoder writing through a transport: the [`AlertSink`] a hunt writes to.
pub struct Sink<E, T> {
    encoder: E,
    transport: T,
    /// One alert's bytes, reused from alert to alert.
    buf: Vec<u8>,
    failures: Vec<Failure>,
}

impl<E: Encoder, T: Transport> Sink<E, T> {
    pub fn new(encoder: E, transport: T) -> Self {
        Sink {
            encoder,
            transport,
            buf: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The alerts not delivered so far, in the order they came.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }
}

impl<E: Encoder, T: Transport> AlertSink for Sink<E, T> {
    fn write(&mut self, alert: &Alert) -> io::Result<()> {
        self.buf.clear();
        if let Err(error) = self.encoder.encode(alert, &mut self.buf) {
            self.failures.push(Failure {
                alert_id: alert.alert_id.clone(),
                error,
            });
            return Ok(());
        }
        // Forms written at the end have nothing to deliver yet.
        if self.buf.is_empty() {
            return Ok(());
        }
        match self.transport.deliver(alert, &self.buf) {
            Ok(()) => Ok(()),
            Err(DeliveryError::Alert(error)) => {
                self.failures.push(Failure {
                    alert_id: alert.alert_id.clone(),
                    error,
                });
                Ok(())
            }
            Err(DeliveryError::Closed(e)) => Err(e),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.encoder.finish(&mut self.buf)?;
        self.transport.finish(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{JsonLines, Table};

    /// Takes every alert but the one with a given id, which it refuses; or, closed, nothing.
    #[derive(Default)]
    struct Picky {
        refuse: String,
        closed: bool,
        delivered: Vec<String>,
        trailer: Vec<u8>,
    }

    impl Transport for Picky {
        fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
            if self.closed {
                return Err(DeliveryError::Closed(io::ErrorKind::BrokenPipe.into()));
            }
            if alert.alert_id == self.refuse {
                return Err(DeliveryError::Alert(io::Error::other(
                    "503 from the endpoint",
                )));
            }
            let line: Alert = serde_json::from_slice(bytes).unwrap();
            self.delivered.push(line.alert_id);
            Ok(())
        }

        fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
            self.trailer.extend_from_slice(trailer);
            Ok(())
        }
    }

    fn alerts() -> Vec<Alert> {
        (0..3)
            .map(|i| {
                let mut a = crate::testutil::alert();
                a.alert_id = format!("alert-{i}");
                a
            })
            .collect()
    }

    #[test]
    fn one_failed_alert_is_reported_and_the_others_still_go() {
        let transport = Picky {
            refuse: "alert-1".into(),
            ..Picky::default()
        };
        let mut sink = Sink::new(JsonLines::new(), transport);
        for a in alerts() {
            sink.write(&a).unwrap();
        }
        sink.finish().unwrap();
        assert_eq!(sink.transport.delivered, ["alert-0", "alert-2"]);
        let failures = sink.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].alert_id, "alert-1");
        assert_eq!(
            failures[0].to_string(),
            "alert alert-1 not delivered: 503 from the endpoint"
        );
    }

    #[test]
    fn a_closed_transport_stops_the_run() {
        let transport = Picky {
            closed: true,
            ..Picky::default()
        };
        let mut sink = Sink::new(JsonLines::new(), transport);
        let err = sink.write(&alerts()[0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert!(sink.failures().is_empty());
    }

    #[test]
    fn forms_written_at_the_end_deliver_only_the_trailer() {
        let transport = Picky {
            closed: true,
            ..Picky::default()
        };
        let mut sink = Sink::new(Table::new(), transport);
        for a in alerts() {
            sink.write(&a).unwrap();
        }
        sink.finish().unwrap();
        let text = String::from_utf8(sink.transport.trailer.clone()).unwrap();
        assert!(text.starts_with("Time (UTC)"), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("alert-")).count(), 3);
    }
}
