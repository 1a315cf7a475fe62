//! End-to-end over Kafka: `kvsentry serve` reading Event Hubs-style envelopes from a topic of
//! three partitions gives exactly `hunt`'s alerts over the same records, also when they
//! arrive in parts with a `--once` run after each, and its Kafka output receives each alert
//! once. The topic lives in librdkafka's mock cluster (a Kafka-protocol broker), which this
//! test process owns; the binary connects to it like to any broker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[path = "support/serve.rs"]
mod support;
use support::{bin, ok, same_alerts, same_alerts_over_parts};

const TOPIC: &str = "insights-logs-auditevent";
const ALERTS: &str = "kvsentry-alerts";
const PARTITIONS: i32 = 3;
/// Records per Event Hubs message.
const PER_MESSAGE: usize = 25;

fn run(args: &[&str]) -> Output {
    ok(bin().args(args).output().expect("run kvsentry"))
}

/// Six hours of generated records with every attack scenario injected, and a Sentinel
/// indicator export some callers match: the records in time order, and the export.
fn generate(dir: &Path) -> (Vec<String>, PathBuf) {
    let logs = dir.join("gen");
    let ti = dir.join("ti.csv");
    run(&[
        "gen",
        "--storage-layout",
        "-o",
        logs.to_str().unwrap(),
        "--events",
        "4000",
        "--duration",
        "6h",
        "--seed",
        "7",
        "--scenario",
        "standard",
        "--indicators",
        "300",
        "--match-share",
        "0.05",
        "--indicators-output",
        ti.to_str().unwrap(),
    ]);
    let mut records = Vec::new();
    let mut stack = vec![logs];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let text = std::fs::read_to_string(p).unwrap();
                records.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(String::from),
                );
            }
        }
    }
    let time = |r: &String| -> jiff::Timestamp {
        let v: serde_json::Value = serde_json::from_str(r).unwrap();
        v["time"].as_str().unwrap().parse().unwrap()
    };
    records.sort_by_cached_key(|r| (time(r), r.clone()));
    assert!(records.len() > 4000);
    (records, ti)
}

/// The records as Event Hubs messages, in time order: `(partition, envelope)`, the
/// messages dealt to the partitions in turn, so each partition is in time order.
fn messages(records: &[String]) -> Vec<(i32, String)> {
    records
        .chunks(PER_MESSAGE)
        .enumerate()
        .map(|(i, c)| {
            let p = i as i32 % PARTITIONS;
            (p, format!("{{\"records\":[{}]}}", c.join(",")))
        })
        .collect()
}

struct Cluster {
    cluster: MockCluster<'static, DefaultProducerContext>,
    producer: BaseProducer,
}

impl Cluster {
    fn start() -> Cluster {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
        cluster.create_topic(ALERTS, 2, 1).unwrap();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .unwrap();
        Cluster { cluster, producer }
    }

    fn produce(&self, messages: &[(i32, String)]) {
        for (p, m) in messages {
            self.producer
                .send(BaseRecord::<(), str>::to(TOPIC).partition(*p).payload(m))
                .map_err(|(e, _)| e)
                .unwrap();
            self.producer.poll(Duration::ZERO);
        }
        self.producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Every message of the alerts topic: `(key, alert_id header, payload)`.
    fn alerts_sent(&self) -> Vec<(String, String, String)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.cluster.bootstrap_servers())
            .set("group.id", "reader")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        let mut end = 0;
        for p in 0..2 {
            tpl.add_partition_offset(ALERTS, p, Offset::Beginning)
                .unwrap();
            let (_, high) = consumer
                .fetch_watermarks(ALERTS, p, Duration::from_secs(10))
                .unwrap();
            end += high as usize;
        }
        consumer.assign(&tpl).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while got.len() < end && Instant::now() < deadline {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let text =
                |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            let header = (m.headers())
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "alert_id")
                        .map(|h| text(h.value))
                })
                .unwrap_or_default();
            got.push((text(m.key()), header, text(m.payload())));
        }
        assert_eq!(got.len(), end, "every message of the alerts topic read");
        got
    }

    /// The committed offsets of group `kvsentry` on the input topic.
    fn committed(&self) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.cluster.bootstrap_servers())
            .set("group.id", "kvsentry")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(TOPIC, p);
        }
        let c = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        (c.elements_for_topic(TOPIC).iter())
            .map(|e| e.offset().to_raw().unwrap_or(-1))
            .collect()
    }
}

fn write_config(dir: &Path, c: &Cluster, ti: &Path) -> PathBuf {
    let config = dir.join("kvsentry.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             allowed_lateness = \"15m\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             [[input]]\n\
             name = \"hub\"\n\
             type = \"kafka\"\n\
             brokers = {brokers:?}\n\
             topic = \"{TOPIC}\"\n\
             group_id = \"kvsentry\"\n\
             [[output]]\n\
             type = \"file\"\n\
             path = \"out/alerts.jsonl\"\n\
             [[output]]\n\
             name = \"bus\"\n\
             type = \"kafka\"\n\
             brokers = {brokers:?}\n\
             topic = \"{ALERTS}\"\n",
            ti = ti.to_str().unwrap(),
            brokers = c.cluster.bootstrap_servers(),
        ),
    )
    .unwrap();
    config
}

/// One `--once` run, in `dir`; its report on stderr, which must mention no late event.
fn serve(dir: &Path, config: &Path, flush: bool) -> String {
    let mut args = vec!["serve", "--config", config.to_str().unwrap(), "--once"];
    if flush {
        args.push("--flush");
    }
    let out = ok(bin().current_dir(dir).args(&args).output().unwrap());
    let report = String::from_utf8(out.stderr).unwrap();
    assert!(!report.contains("late"), "{report}");
    report
}

/// `hunt`'s alerts over the same messages written to one file per partition, a message per
/// line: line n of partition p's file is the message at offset n - 1, so the evidence
/// `p<p>.jsonl:<n>` is serve's `insights-logs-auditevent[<p>]:<n>`, written so.
fn hunt(dir: &Path, messages: &[(i32, String)], ti: &Path) -> BTreeSet<String> {
    let files = dir.join("hunt");
    std::fs::create_dir_all(&files).unwrap();
    for p in 0..PARTITIONS {
        let lines: Vec<&str> = (messages.iter())
            .filter(|(q, _)| *q == p)
            .map(|(_, m)| m.as_str())
            .collect();
        std::fs::write(files.join(format!("p{p}.jsonl")), lines.join("\n") + "\n").unwrap();
    }
    let out = run(&[
        "hunt",
        files.to_str().unwrap(),
        "--ti",
        ti.to_str().unwrap(),
        "-f",
        "jsonl",
        "-q",
    ]);
    let mut text = String::from_utf8(out.stdout).unwrap();
    for p in 0..PARTITIONS {
        let file = format!("{}:", files.join(format!("p{p}.jsonl")).display());
        text = text.replace(&file, &format!("{TOPIC}[{p}]:"));
    }
    let lines: BTreeSet<String> = text.lines().map(String::from).collect();
    assert!(lines.len() >= 10, "hunt found {} alerts", lines.len());
    lines
}

fn delivered(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("out/alerts.jsonl")).unwrap_or_default();
    text.lines().map(String::from).collect()
}

fn id(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["alert_id"].as_str().unwrap().to_string()
}

/// Each alert of the file output went to the alerts topic exactly once, as one message
/// keyed by its id, with the same JSON.
fn kafka_output_matches(c: &Cluster, file: &[String]) {
    let sent = c.alerts_sent();
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    for (key, header, payload) in sent {
        assert_eq!(key, header);
        assert_eq!(key, id(&payload));
        assert!(
            by_id.insert(key.clone(), payload).is_none(),
            "{key} sent twice"
        );
    }
    let file: BTreeMap<String, String> = file.iter().map(|l| (id(l), l.clone())).collect();
    assert_eq!(by_id, file);
}

#[test]
fn once_flush_over_a_topic_gives_exactly_hunts_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let (records, ti) = generate(dir.path());
    let messages = messages(&records);
    let c = Cluster::start();
    c.produce(&messages);
    let want = hunt(dir.path(), &messages, &ti);
    let config = write_config(dir.path(), &c, &ti);
    serve(dir.path(), &config, true);
    let got = delivered(dir.path());
    let ids: BTreeSet<String> = got.iter().map(|l| id(l)).collect();
    assert_eq!(ids.len(), got.len(), "an alert delivered twice");
    same_alerts(&got, &want);
    kafka_output_matches(&c, &got);
    // The consumer group holds the offsets read: the end of every partition.
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| messages.iter().filter(|(q, _)| *q == p).count() as i64)
        .collect();
    assert_eq!(c.committed(), ends);
    // Nothing new: nothing read again, nothing repeated anywhere.
    serve(dir.path(), &config, false);
    serve(dir.path(), &config, true);
    assert_eq!(delivered(dir.path()), got);
    kafka_output_matches(&c, &got);
}

#[test]
fn data_in_three_parts_gives_hunts_alerts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (records, ti) = generate(dir.path());
    let messages = messages(&records);
    let c = Cluster::start();
    let config = write_config(dir.path(), &c, &ti);
    // Three parts in time order, a `--once` run after each, then a final flush.
    let n = messages.len();
    let mut counts = Vec::new();
    for part in [
        &messages[..n / 3],
        &messages[n / 3..2 * n / 3],
        &messages[2 * n / 3..],
    ] {
        c.produce(part);
        serve(dir.path(), &config, false);
        counts.push(delivered(dir.path()).len());
    }
    assert!(
        counts[0] > 0 && counts[1] > counts[0],
        "windows the watermark passed are delivered before the end: {counts:?}"
    );
    serve(dir.path(), &config, true);
    let want = hunt(dir.path(), &messages, &ti);
    let got = delivered(dir.path());
    let ids: BTreeSet<String> = got.iter().map(|l| id(l)).collect();
    assert_eq!(ids.len(), got.len(), "an alert delivered twice");
    same_alerts_over_parts(&got, &want);
    kafka_output_matches(&c, &got);
}

/// `serve` killed with SIGKILL at random moments while the data arrives, restarted each
/// time, then a final `--once --flush`: the file output holds each of hunt's alerts exactly
/// once, and the Kafka output received every one of them (at least once: an alert the
/// broker acknowledged just before a kill is sent again, with the same key).
#[cfg(unix)]
#[test]
fn killed_at_random_moments_loses_nothing_and_writes_each_alert_once() {
    const KILLS: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let (records, ti) = generate(dir.path());
    let messages = messages(&records);
    let c = Cluster::start();
    let config = write_config(dir.path(), &c, &ti);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = seed | 1;
    let mut next = move || {
        // xorshift64: the moments of the kills.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let per = messages.len().div_ceil(KILLS);
    for part in messages.chunks(per) {
        c.produce(part);
        let mut child = bin()
            .current_dir(dir.path())
            .args(["serve", "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50 + next() % 1500));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    // The killed runs did work: alerts went out before the last run.
    let before = delivered(dir.path()).len();
    assert!(before > 0, "no run got as far as delivering (seed {seed})");
    serve(dir.path(), &config, true);
    let want = hunt(dir.path(), &messages, &ti);
    let got = delivered(dir.path());
    let ids: BTreeSet<String> = got.iter().map(|l| id(l)).collect();
    assert_eq!(ids.len(), got.len(), "an alert written twice (seed {seed})");
    same_alerts_over_parts(&got, &want);
    let sent: BTreeSet<String> = c.alerts_sent().into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(sent, ids, "the Kafka output's alerts (seed {seed})");
}

/// A librdkafka setting librdkafka refuses stops serve at start, as a configuration error
/// naming the input and the setting, and never the value of a secret setting.
#[test]
fn a_refused_kafka_setting_is_a_usage_error_without_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kvsentry.toml");
    std::fs::write(
        &config,
        "state_dir = \"state\"\n[[input]]\nname = \"hub\"\ntype = \"kafka\"\n\
         brokers = \"127.0.0.1:9\"\ntopic = \"t\"\n\
         secret_settings = { \"ssl.endpoint.identification.algorithm\" = \"KV_TEST_ALGO\" }\n\
         [[output]]\ntype = \"stdout\"\n",
    )
    .unwrap();
    // `--check-config` makes the client too (without connecting), so it says the same.
    for mode in ["--once", "--check-config"] {
        let out = bin()
            .current_dir(dir.path())
            .args(["serve", "--config", config.to_str().unwrap(), mode])
            .env("KV_TEST_ALGO", "S3CR3T-VALUE")
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{mode}: {err}");
        assert!(err.contains("input hub: kafka topic t:"), "{mode}: {err}");
        assert!(
            err.contains("ssl.endpoint.identification.algorithm"),
            "{err}"
        );
        assert!(!err.contains("S3CR3T"), "{err}");
    }
}

/// `--check-config` accepts Kafka inputs and outputs whose brokers are not reachable (it
/// checks the settings, it does not connect), at once.
#[test]
fn check_config_takes_kafka_without_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kvsentry.toml");
    std::fs::write(
        &config,
        "state_dir = \"state\"\n[[input]]\nname = \"hub\"\ntype = \"kafka\"\n\
         brokers = \"127.0.0.1:9\"\ntopic = \"t\"\nconnection_string_env = \"KV_TEST_EH\"\n\
         [[output]]\nname = \"bus\"\ntype = \"kafka\"\nbrokers = \"127.0.0.1:9\"\ntopic = \"a\"\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = ok(bin()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--check-config",
        ])
        .env(
            "KV_TEST_EH",
            "Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=S3CR3T",
        )
        .output()
        .unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("input hub: kafka"), "{text}");
    assert!(text.contains("output bus: kafka"), "{text}");
    assert!(!text.contains("S3CR3T"), "{text}");
}
