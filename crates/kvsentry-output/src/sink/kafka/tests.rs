//! The Kafka transport against librdkafka's mock cluster, started by each test; what it sent
//! is consumed back.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::*;
use crate::encode::{Encoder, JsonLines};
use crate::testutil::alert;
use crate::{AlertSink, Sink};

const TOPIC: &str = "kvsentry-alerts";

fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(TOPIC, 2, 1).expect("topic");
    c
}

fn opts(c: &MockCluster<'static, DefaultProducerContext>) -> KafkaTransportOptions {
    KafkaTransportOptions {
        brokers: vec![c.bootstrap_servers()],
        topic: TOPIC.into(),
        timeout: Duration::from_secs(10),
        ..KafkaTransportOptions::default()
    }
}

/// A message as read back: key, `alert_id` header, payload.
type Got = (String, String, String);

/// Reads the topic from its start until `n` messages came (or 20 s passed).
fn consume(c: &MockCluster<'static, DefaultProducerContext>, n: usize) -> Vec<Got> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .set("group.id", "reader")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < n && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let text = |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
        let header = m
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "alert_id")
                    .map(|h| text(h.value))
            })
            .unwrap_or_default();
        got.push((text(m.key()), header, text(m.payload())));
    }
    // Nothing beyond what was expected.
    assert!(consumer.poll(Duration::from_millis(500)).is_none());
    got.sort();
    got
}

#[test]
fn each_alert_is_one_acknowledged_message_keyed_by_its_id() {
    let c = cluster();
    let mut transport = KafkaTransport::new(&opts(&c)).unwrap();
    let alerts: Vec<Alert> = (0..3)
        .map(|i| {
            let mut a = alert();
            a.alert_id = format!("alert-{i}");
            a
        })
        .collect();
    let mut expected = Vec::new();
    for a in &alerts {
        let mut line = Vec::new();
        JsonLines::new().encode(a, &mut line).unwrap();
        // Acknowledged when it returns.
        transport.deliver(a, &line).unwrap();
        let json = String::from_utf8(line).unwrap().trim_end().to_string();
        expected.push((a.alert_id.clone(), a.alert_id.clone(), json));
    }
    assert_eq!(transport.delivered(), 3);
    assert_eq!(consume(&c, 3), expected);
    // The JSON is the alert itself.
    let back: Alert = serde_json::from_str(&expected[0].2).unwrap();
    assert_eq!(back.alert_id, "alert-0");
}

#[test]
fn a_sink_writes_through_it() {
    let c = cluster();
    let mut sink = Sink::new(JsonLines::new(), KafkaTransport::new(&opts(&c)).unwrap());
    sink.write(&alert()).unwrap();
    sink.finish().unwrap();
    assert!(sink.failures().is_empty());
    let got = consume(&c, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, alert().alert_id);
}

#[test]
fn an_alert_the_broker_does_not_acknowledge_fails_and_the_next_goes() {
    let c = cluster();
    let mut o = opts(&c);
    o.timeout = Duration::from_secs(2);
    let mut transport = KafkaTransport::new(&o).unwrap();
    let mut lost = alert();
    lost.alert_id = "lost".into();
    c.broker_down(1).unwrap();
    let started = Instant::now();
    let e = transport.deliver(&lost, b"{}\n").unwrap_err();
    assert!(matches!(e, DeliveryError::Alert(_)), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(transport.delivered(), 0);
    c.broker_up(1).unwrap();
    let mut kept = alert();
    kept.alert_id = "kept".into();
    transport.deliver(&kept, b"{\"a\":1}\n").unwrap();
    assert_eq!(
        consume(&c, 1),
        [(
            "kept".to_string(),
            "kept".to_string(),
            "{\"a\":1}".to_string()
        )]
    );
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let o = KafkaTransportOptions {
        brokers: vec!["127.0.0.1:1".into()],
        topic: TOPIC.into(),
        event_hubs_connection_string: Some("Endpoint=sb://x/;SharedAccessKey=S3CR3T".into()),
        secret_settings: BTreeMap::from([(
            "ssl.endpoint.identification.algorithm".into(),
            "PASSW0RD".into(),
        )]),
        ..KafkaTransportOptions::default()
    };
    let debug = format!("{o:?}");
    assert!(
        !debug.contains("S3CR3T") && !debug.contains("PASSW0RD"),
        "{debug}"
    );
    let e = KafkaTransport::new(&o).err().expect("refused").to_string();
    assert!(!e.contains("S3CR3T") && !e.contains("PASSW0RD"), "{e}");
    assert!(e.contains("<secret>"), "{e}");
}
