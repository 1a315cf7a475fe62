//! The Kafka source against librdkafka's mock cluster (a Kafka-protocol broker in the
//! process), started by each test.

use std::collections::BTreeMap;
use std::time::Duration;

use kvsentry_model::AuditEvent;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::*;
use crate::stats::SkipReason;
use crate::{LogFormat, parse_block};

const TOPIC: &str = "insights-logs-auditevent";

/// A Key Vault record (Storage form) with operation `op`.
fn rec(op: &str) -> String {
    format!(
        r#"{{"time":"2025-03-01T10:00:00Z","category":"AuditEvent","operationName":"{op}","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V","callerIpAddress":"10.0.0.1"}}"#
    )
}

/// An Event Hubs message: the records of `ops` in one envelope.
fn envelope(ops: &[String]) -> String {
    let recs: Vec<String> = ops.iter().map(|o| rec(o)).collect();
    format!(r#"{{"records":[{}]}}"#, recs.join(","))
}

struct Cluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
    producer: BaseProducer,
}

impl Cluster {
    /// A mock cluster with `TOPIC` in `partitions` partitions.
    fn start(partitions: i32) -> Cluster {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, partitions, 1).expect("topic");
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        Cluster { cluster, producer }
    }

    /// Sends `payload` to partition `p` and waits for it to be stored.
    fn send(&self, p: i32, payload: &[u8]) {
        self.queue(p, payload);
        self.flush();
    }

    /// Sends `payload` to partition `p` (stored, in order, by the next [`Self::flush`]).
    fn queue(&self, p: i32, payload: &[u8]) {
        let record = BaseRecord::<(), [u8]>::to(TOPIC)
            .partition(p)
            .payload(payload);
        self.producer
            .send(record)
            .map_err(|(e, _)| e)
            .expect("send");
        self.producer.poll(Duration::ZERO);
    }

    fn flush(&self) {
        self.producer.flush(Duration::from_secs(10)).expect("flush");
    }

    fn opts(&self) -> KafkaOptions {
        KafkaOptions {
            brokers: vec![self.cluster.bootstrap_servers()],
            topic: TOPIC.into(),
            group_id: "kvsentry-test".into(),
            once: true,
            first_source: 100,
            timeout: Duration::from_secs(20),
            ..KafkaOptions::default()
        }
    }
}

/// What a pass read: events as (source, line, operation), and the merged stats.
#[derive(Default)]
struct Read {
    events: Vec<(u32, u64, String)>,
    stats: ReadStats,
    units: usize,
}

/// Reads units until the pass ends (or `limit` units were handed out).
fn read_pass(source: &mut KafkaSource, limit: usize) -> Read {
    let mut read = Read::default();
    while read.units < limit {
        let Some(unit) = source.next_unit() else {
            break;
        };
        read.units += 1;
        match unit {
            Unit::Block(b) => {
                let mut on_event = |e: &AuditEvent<'_>| {
                    read.events
                        .push((e.origin.source, e.origin.line, e.operation.to_string()))
                };
                parse_block(&b, &ReadOptions::default(), &mut read.stats, &mut on_event);
                source.recycle(b.into_buffer());
            }
            Unit::End(end) => {
                assert!(
                    end.error.is_none(),
                    "{:?}",
                    end.error.map(|e| e.to_string())
                );
                read.stats.merge(end.stats);
            }
            Unit::Stream(_) => panic!("a Kafka source hands out blocks only"),
        }
    }
    read.events.sort();
    read
}

/// Produces `per` envelopes of 3 records to each of 3 partitions: the events expected,
/// as (source, line, operation) with source 100 + partition and line offset + 1.
fn produce_envelopes(c: &Cluster, from: usize, per: usize) -> Vec<(u32, u64, String)> {
    let mut expected = Vec::new();
    for p in 0..3 {
        for i in from..from + per {
            let ops: Vec<String> = (0..3).map(|j| format!("P{p}M{i}R{j}")).collect();
            c.queue(p, envelope(&ops).as_bytes());
            for o in ops {
                expected.push((100 + p as u32, i as u64 + 1, o));
            }
        }
    }
    c.flush();
    expected.sort();
    expected
}

#[test]
fn envelopes_across_partitions_are_read_completely() {
    let c = Cluster::start(3);
    let expected = produce_envelopes(&c, 0, 20);
    let mut source = KafkaSource::new(c.opts()).unwrap();
    let read = read_pass(&mut source, usize::MAX);
    assert_eq!(read.events, expected);
    assert_eq!(
        source.names(),
        [
            format!("{TOPIC}[0]"),
            format!("{TOPIC}[1]"),
            format!("{TOPIC}[2]")
        ]
    );
    assert_eq!(read.stats.skipped_total(), 0);
    // The form was detected per partition: Event Hubs envelopes.
    let forms: Vec<(u32, LogFormat)> = read.stats.source_forms.into_iter().collect();
    assert_eq!(forms, [100, 101, 102].map(|s| (s, LogFormat::EventHub)));
    let cp = source.checkpoint();
    assert_eq!(cp.next, BTreeMap::from([(0, 20), (1, 20), (2, 20)]));
    // Nothing new: the next pass ends at once, the one after that reads what came.
    assert_eq!(read_pass(&mut source, usize::MAX).events, []);
    c.send(1, envelope(&["LATE".into()]).as_bytes());
    let read = read_pass(&mut source, usize::MAX);
    assert_eq!(read.events, [(101, 21, "LATE".to_string())]);
}

#[test]
fn messages_of_every_shape_are_read_with_their_offsets() {
    let c = Cluster::start(3);
    c.send(0, rec("ONE").as_bytes());
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&envelope(&["PA".into(), "PB".into()])).unwrap(),
    )
    .unwrap();
    c.send(0, pretty.as_bytes());
    let lines = format!("{}\n{}\n", rec("L1"), envelope(&["L2".into(), "L3".into()]));
    c.send(0, lines.as_bytes());
    c.send(2, format!("{}\r\n", rec("CRLF")).as_bytes());
    let mut source = KafkaSource::new(c.opts()).unwrap();
    let read = read_pass(&mut source, usize::MAX);
    let want = [
        (100, 1, "ONE"),
        (100, 2, "PA"),
        (100, 2, "PB"),
        (100, 3, "L1"),
        (100, 3, "L2"),
        (100, 3, "L3"),
        (102, 1, "CRLF"),
    ];
    let want: Vec<(u32, u64, String)> = want
        .iter()
        .map(|(s, l, o)| (*s, *l, o.to_string()))
        .collect();
    assert_eq!(read.events, want);
    assert_eq!(read.stats.skipped_total(), 0);
}

#[test]
fn resuming_from_a_checkpoint_rereads_nothing_and_loses_nothing() {
    let c = Cluster::start(3);
    let mut expected = produce_envelopes(&c, 0, 30);
    let mut opts = c.opts();
    // Small blocks: the checkpoint falls between blocks of one partition.
    opts.read.chunk_bytes = 4096;
    let mut source = KafkaSource::new(opts.clone()).unwrap();
    let first = read_pass(&mut source, 4);
    assert_eq!(first.units, 4);
    // Progress is in messages: 90 there, some handed out.
    let (done, known) = source.progress();
    assert_eq!(known, 90);
    assert!(done > 0 && done < 90, "{done}");
    let cp = source.checkpoint();
    drop(source);
    let read_before: usize = first.events.len();
    assert!(read_before > 0 && read_before < expected.len());
    // More data arrives while no one reads.
    expected.extend(produce_envelopes(&c, 30, 5));
    expected.sort();
    // The checkpoint survives a round trip through its serialised form.
    let cp: KafkaCheckpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
    let mut source = KafkaSource::resume(opts, &cp).unwrap();
    let rest = read_pass(&mut source, usize::MAX);
    let mut all = first.events;
    all.extend(rest.events);
    all.sort();
    assert_eq!(all, expected);
    assert_eq!(
        source.checkpoint().next,
        BTreeMap::from([(0, 35), (1, 35), (2, 35)])
    );
    assert_eq!(source.progress(), (105, 105));
}

#[test]
fn bad_messages_are_skipped_and_counted_with_partition_and_offset() {
    let c = Cluster::start(3);
    let mut opts = c.opts();
    opts.max_message_bytes = 2000;
    c.send(1, rec("A").as_bytes()); // offset 0
    c.send(1, b"{\"records\": [\n{\"broken\": "); // 1: not JSON
    c.send(
        1,
        format!(r#"{{"records":[{}]}}"#, vec![rec("BIG"); 20].join(",")).as_bytes(),
    ); // 2
    c.send(1, b"\xff\xfe{}"); // 3: not UTF-8
    c.send(1, b"   "); // 4: empty
    c.send(1, rec("B").as_bytes()); // 5
    c.send(2, b"not json at all"); // 0: one line, left to the parser
    let mut source = KafkaSource::new(opts).unwrap();
    let read = read_pass(&mut source, usize::MAX);
    let ops: Vec<(u32, u64, &str)> = read
        .events
        .iter()
        .map(|(s, l, o)| (*s, *l, o.as_str()))
        .collect();
    assert_eq!(ops, [(101, 1, "A"), (101, 6, "B")]);
    let (n, skipped) = source.skipped();
    assert_eq!(n, 4);
    let at: Vec<(i32, i64)> = skipped.iter().map(|s| (s.partition, s.offset)).collect();
    assert_eq!(at, [(1, 1), (1, 2), (1, 3), (1, 4)]);
    assert!(
        skipped[0].reason.starts_with("a message that is not JSON"),
        "{}",
        skipped[0].reason
    );
    assert!(
        skipped[1].reason.contains("over the limit of 2000"),
        "{}",
        skipped[1].reason
    );
    assert_eq!(skipped[2].reason, "a message that is not UTF-8 text");
    assert_eq!(skipped[3].reason, "an empty message");
    // Counted in the read's stats too, with partition (source) and offset (line - 1): the
    // four skipped here and the line the parser found malformed.
    assert_eq!(read.stats.skipped(SkipReason::MalformedJson), 5);
    let mut notes: Vec<(u32, u64)> = read
        .stats
        .notes
        .iter()
        .map(|n| (n.source, n.line))
        .collect();
    notes.sort();
    assert_eq!(notes, [(101, 2), (101, 3), (101, 4), (101, 5), (102, 1)]);
    assert!(
        read.stats
            .notes
            .iter()
            .any(|n| n.detail.starts_with("offset 2: a message of"))
    );
    // A partition not read yet has no checkpoint: it starts at its earliest offset.
    assert_eq!(source.checkpoint().next, BTreeMap::from([(1, 6), (2, 1)]));
}

#[test]
fn committed_offsets_reach_the_consumer_group() {
    let c = Cluster::start(3);
    produce_envelopes(&c, 0, 4);
    let mut source = KafkaSource::new(c.opts()).unwrap();
    read_pass(&mut source, usize::MAX);
    let cp = source.checkpoint();
    source.commit_offsets(&cp).unwrap();
    assert_eq!(
        source.lag().unwrap(),
        BTreeMap::from([(0, 0), (1, 0), (2, 0)])
    );
    // Another member of the group sees them: what lag tools read.
    let other: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.cluster.bootstrap_servers())
        .set("group.id", "kvsentry-test")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(TOPIC, p);
    }
    let committed = other
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let got: Vec<(i32, Offset)> = committed
        .elements_for_topic(TOPIC)
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(
        got,
        (0..3).map(|p| (p, Offset::Offset(4))).collect::<Vec<_>>()
    );
}

#[test]
fn a_new_source_reads_from_the_earliest_offset_and_stops_when_asked() {
    let c = Cluster::start(3);
    let expected = produce_envelopes(&c, 0, 2);
    let mut opts = c.opts();
    opts.once = false;
    let mut source = KafkaSource::new(opts).unwrap();
    let stop = source.stop_handle();
    let mut read = Read::default();
    while read.events.len() < expected.len() {
        let more = read_pass(&mut source, 1);
        read.events.extend(more.events);
    }
    read.events.sort();
    assert_eq!(read.events, expected);
    // Endless: it waits for more until stopped.
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    while let Some(unit) = source.next_unit() {
        assert!(matches!(unit, Unit::End(InputEnd { error: None, .. })));
    }
    t.join().unwrap();
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let secret = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=S3CR3T";
    let opts = KafkaOptions {
        brokers: vec!["127.0.0.1:1".into()],
        topic: TOPIC.into(),
        event_hubs_connection_string: Some(secret.into()),
        secret_settings: BTreeMap::from([("ssl.key.password".into(), "PASSW0RD".into())]),
        ..KafkaOptions::default()
    };
    let debug = format!("{opts:?}");
    assert!(
        !debug.contains("S3CR3T") && !debug.contains("PASSW0RD"),
        "{debug}"
    );
    // TLS is built in: an Event Hubs client can be made.
    KafkaSource::new(opts.clone()).unwrap();
    // A refused value names no secret.
    let mut bad = opts;
    bad.secret_settings.insert(
        "ssl.endpoint.identification.algorithm".into(),
        "PASSW0RD".into(),
    );
    let e = KafkaSource::new(bad).err().expect("refused").to_string();
    assert!(!e.contains("S3CR3T") && !e.contains("PASSW0RD"), "{e}");
}

#[test]
fn a_checkpoint_beyond_the_end_reads_the_partition_again() {
    // As after the topic was deleted and made anew: its offsets start again from 0.
    let c = Cluster::start(3);
    let expected = produce_envelopes(&c, 0, 2);
    let cp = KafkaCheckpoint {
        next: BTreeMap::from([(0, 2), (1, 500), (2, 2)]),
    };
    let mut source = KafkaSource::resume(c.opts(), &cp).unwrap();
    let read = read_pass(&mut source, usize::MAX);
    let want: Vec<_> = expected.into_iter().filter(|e| e.0 == 101).collect();
    assert_eq!(read.events, want);
    assert_eq!(source.restarts(), 1);
    assert_eq!(
        source.checkpoint().next,
        BTreeMap::from([(0, 2), (1, 2), (2, 2)])
    );
}
