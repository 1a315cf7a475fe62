//! `serve` with a Kafka input and a Kafka output, through the library's `Server`, against
//! librdkafka's mock clusters started by each test: a server reopened reads on from its
//! checkpoint and the consumer group follows it; alerts wait in the state store while the
//! output's broker is down and go, each once, when it is back.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use kvsentry_runtime::serve::config::ServeConfig;
use kvsentry_runtime::serve::{PassOptions, PassReport, Server, load};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

const TOPIC: &str = "insights-logs-auditevent";
const ALERTS: &str = "alerts";

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(topic: &str, partitions: i32) -> Cluster {
    let c = MockCluster::new(1).expect("mock cluster");
    c.create_topic(topic, partitions, 1).unwrap();
    c
}

/// A SecretGet or SecretList by `upn` at `time`.
fn record(upn: &str, time: &str, list: bool) -> String {
    let op = if list { "SecretList" } else { "SecretGet" };
    format!(
        r#"{{"time":"{time}","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","operationName":"{op}","category":"AuditEvent","resultType":"Success","callerIpAddress":"84.26.245.166","correlationId":"c-{upn}-{time}","identity":{{"claim":{{"upn":"{upn}","oid":"o-{upn}","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46"}}}}}}"#
    )
}

/// Six reads of two kinds by `upn` within minute `minute` after 10:00: one burst alert
/// once that minute closes, as one Event Hubs envelope.
fn burst(upn: &str, minute: u32) -> String {
    let recs: Vec<String> = (0..6)
        .map(|i| {
            record(
                upn,
                &format!("2025-06-30T10:{minute:02}:{:02}Z", i * 5),
                i % 2 == 0,
            )
        })
        .collect();
    format!(r#"{{"records":[{}]}}"#, recs.join(","))
}

fn produce(c: &Cluster, messages: &[(i32, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .create()
        .unwrap();
    for (p, m) in messages {
        producer
            .send(BaseRecord::<(), str>::to(TOPIC).partition(*p).payload(m))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn open(state: &Path, input: &Cluster, output: &Cluster) -> Server {
    let text = format!(
        "state_dir = {state:?}\n\
         allowed_lateness = \"15m\"\n\
         [[input]]\n\
         name = \"hub\"\n\
         type = \"kafka\"\n\
         brokers = {b_in:?}\n\
         topic = \"{TOPIC}\"\n\
         [[output]]\n\
         name = \"bus\"\n\
         type = \"kafka\"\n\
         brokers = {b_out:?}\n\
         topic = \"{ALERTS}\"\n\
         settings = {{ \"message.timeout.ms\" = \"2000\" }}\n",
        b_in = input.bootstrap_servers(),
        b_out = output.bootstrap_servers(),
    );
    let config = ServeConfig::from_str(&text, "kvsentry.toml").unwrap();
    let loaded = load(&config).unwrap();
    Server::open(config, &loaded).unwrap()
}

/// One pass, then its deliveries: outputs deliver from threads of their own, waited for
/// here (a round of attempts at most) and added to the report.
fn pass(server: &mut Server) -> PassReport {
    let mut report = server.pass(&PassOptions::default()).unwrap();
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    let settled = server
        .delivery()
        .settle(std::time::Duration::from_secs(60))
        .unwrap();
    for (k, n) in settled.progress.delivered {
        *report.delivered.entry(k).or_default() += n;
    }
    report.waiting.extend(settled.progress.waiting);
    report
}

/// The alert ids on the alerts topic, one per message.
fn alert_ids(c: &Cluster) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .set("group.id", "reader")
        .create()
        .unwrap();
    let (_, end) = consumer
        .fetch_watermarks(ALERTS, 0, Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(ALERTS, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (ids.len() as i64) < end && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            ids.push(String::from_utf8(m.key().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(ids.len() as i64, end);
    ids
}

fn committed(c: &Cluster, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .set("group.id", "kvsentry")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(TOPIC, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    (got.elements_for_topic(TOPIC).iter())
        .map(|e| e.offset().to_raw().unwrap_or(-1))
        .collect()
}

#[test]
fn a_reopened_server_reads_on_from_its_checkpoint() {
    let state = tempfile::tempdir().unwrap();
    let input = cluster(TOPIC, 3);
    let output = cluster(ALERTS, 1);
    // Three users' bursts, one partition each; then a later event on each partition, which
    // moves every partition's watermark past the bursts' minutes.
    produce(
        &input,
        &[
            (0, burst("a@x", 0)),
            (1, burst("b@x", 1)),
            (2, burst("c@x", 2)),
        ],
    );
    let mut server = open(state.path(), &input, &output);
    let report = pass(&mut server);
    assert_eq!((report.events, report.alerts), (18, 0));
    assert_eq!(committed(&input, 3), [1, 1, 1]);
    drop(server);
    let late: Vec<(i32, String)> = (0..3)
        .map(|p| {
            (
                p,
                format!(
                    r#"{{"records":[{}]}}"#,
                    record(&format!("z{p}@x"), "2025-06-30T10:40:00Z", false)
                ),
            )
        })
        .collect();
    produce(&input, &late);
    let mut server = open(state.path(), &input, &output);
    let report = pass(&mut server);
    // Only the new messages were read; the bursts' windows, restored, closed.
    assert_eq!((report.events, report.alerts), (3, 3));
    assert_eq!(report.delivered["bus"], 3);
    assert_eq!(committed(&input, 3), [2, 2, 2]);
    let report = pass(&mut server);
    assert_eq!(
        (report.events, report.alerts, report.committed),
        (0, 0, false)
    );
    let ids = alert_ids(&output);
    assert_eq!(ids.len(), 3);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn alerts_wait_while_the_output_broker_is_down_and_go_once_when_it_is_back() {
    let state = tempfile::tempdir().unwrap();
    let input = cluster(TOPIC, 2);
    let output = cluster(ALERTS, 1);
    produce(
        &input,
        &[
            (0, burst("a@x", 0)),
            (1, burst("b@x", 0)),
            (
                0,
                format!(
                    r#"{{"records":[{}]}}"#,
                    record("y@x", "2025-06-30T10:30:00Z", false)
                ),
            ),
            (
                1,
                format!(
                    r#"{{"records":[{}]}}"#,
                    record("z@x", "2025-06-30T10:30:00Z", false)
                ),
            ),
        ],
    );
    let mut server = open(state.path(), &input, &output);
    output.broker_down(1).unwrap();
    let report = pass(&mut server);
    assert_eq!(report.alerts, 2);
    assert_eq!(report.delivered["bus"], 0);
    assert!(report.waiting.contains_key("bus"), "{report:?}");
    output.broker_up(1).unwrap();
    // Nothing new to read: the waiting alerts go, once the worker's backoff has passed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut delivered = 0;
    while delivered < 2 && std::time::Instant::now() < deadline {
        let report = pass(&mut server);
        assert_eq!(report.events, 0);
        delivered += report.delivered["bus"];
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(delivered, 2);
    let report = pass(&mut server);
    assert_eq!(report.delivered["bus"], 0);
    let ids = alert_ids(&output);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

/// Lateness is judged per partition: a partition two hours ahead makes no event of another
/// late; an event older than its own partition's newest (from earlier passes) minus the
/// allowed lateness is late.
#[test]
fn events_are_late_only_behind_their_own_partition() {
    let state = tempfile::tempdir().unwrap();
    let input = cluster(TOPIC, 2);
    let output = cluster(ALERTS, 1);
    let one = |upn: &str, time: &str| format!(r#"{{"records":[{}]}}"#, record(upn, time, false));
    produce(
        &input,
        &[
            (0, burst("a@x", 0)),
            (1, one("b@x", "2025-06-30T12:00:00Z")),
            (0, burst("a@x", 1)),
        ],
    );
    let mut server = open(state.path(), &input, &output);
    let report = pass(&mut server);
    assert_eq!((report.events, report.late_events), (13, 0));
    produce(
        &input,
        &[
            // 31 minutes behind partition 0's newest event: late.
            (0, one("c@x", "2025-06-30T09:30:00Z")),
            // 14 minutes behind: on time, although partition 1 is two hours ahead.
            (0, one("d@x", "2025-06-30T09:47:30Z")),
        ],
    );
    let report = pass(&mut server);
    assert_eq!((report.events, report.late_events), (2, 1));
    // The bursts' windows close at the flush: one alert per burst.
    let report = server
        .pass(&PassOptions {
            flush: true,
            ..PassOptions::default()
        })
        .unwrap();
    assert_eq!(
        (report.events, report.late_events, report.alerts),
        (0, 0, 2)
    );
}

/// A pass cut short by its byte budget leaves the rest for the next: the input's backlog
/// is the consumer lag, in messages; `catch_up` reads on until there is none.
#[test]
fn a_bounded_pass_leaves_a_backlog_of_messages() {
    let state = tempfile::tempdir().unwrap();
    let input = cluster(TOPIC, 3);
    let output = cluster(ALERTS, 1);
    produce(
        &input,
        &[
            (0, burst("a@x", 0)),
            (1, burst("b@x", 1)),
            (2, burst("c@x", 2)),
        ],
    );
    let mut server = open(state.path(), &input, &output);
    let bounded = PassOptions {
        max_bytes: 1,
        ..PassOptions::default()
    };
    let report = pass_with(&mut server, &bounded);
    assert!(!report.caught_up);
    assert_eq!(report.events, 6);
    assert_eq!(report.inputs["hub"].backlog, 2);
    let report = server.catch_up(&bounded).unwrap();
    assert!(report.caught_up);
    assert_eq!(report.events, 12);
    assert_eq!(report.inputs["hub"].backlog, 0);
    assert_eq!(committed(&input, 3), [1, 1, 1]);
}

fn pass_with(server: &mut Server, opts: &PassOptions) -> PassReport {
    let report = server.pass(opts).unwrap();
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    report
}
