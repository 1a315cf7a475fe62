//! The Kafka half of `bench/serve.sh`: a librdkafka mock cluster in this process, a topic
//! of one partition per vault (the mock broker keeps only a few MB a partition) filled
//! with the bench's Storage-layout logs as Event Hubs envelopes (100 records a message,
//! hour after hour),
//! then `kvsentry serve --once --flush` over it, timed, with a file output. Prints one JSON
//! line: events, messages, seconds, alert ids.
//!
//! `cargo run --release -p kvsentry-runtime --example serve_kafka_bench -- KVSENTRY LOGS TI WORK`

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};

const TOPIC: &str = "insights-logs-auditevent";
const PER_MESSAGE: usize = 100;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a logs directory") {
        let p = e.expect("an entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, kv, logs, ti, work] = &args[..] else {
        eprintln!("usage: serve_kafka_bench KVSENTRY LOGS TI WORK");
        std::process::exit(2);
    };
    let work = Path::new(work);
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).expect("the work directory");
    let mut all = Vec::new();
    files(Path::new(logs), &mut all);
    // Each vault on one partition, and the topic filled hour after hour across vaults, as
    // Event Hubs receives them (a partition's records then run in time order, but for the
    // disorder within an hour).
    let vault_of = |p: &PathBuf| {
        let s = p.to_string_lossy().into_owned();
        s.split("/y=").next().unwrap_or(&s).to_string()
    };
    let hour_of = |p: &PathBuf| {
        let s = p.to_string_lossy().into_owned();
        s.split_once("/y=")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default()
    };
    let vaults: BTreeMap<String, i32> = {
        let mut names: Vec<String> = all.iter().map(vault_of).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, i as i32))
            .collect()
    };
    let partitions = vaults.len().max(1) as i32;
    all.sort_by_key(|p| (hour_of(p), vault_of(p)));
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).expect("a mock cluster");
    cluster
        .create_topic(TOPIC, partitions, 1)
        .expect("the topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    let (mut events, mut messages) = (0usize, 0usize);
    for p in &all {
        let partition = vaults[&vault_of(p)];
        let text = std::fs::read_to_string(p).expect("a log file");
        let records: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for chunk in records.chunks(PER_MESSAGE) {
            let body = format!("{{\"records\":[{}]}}", chunk.join(","));
            while producer
                .send(
                    BaseRecord::<(), str>::to(TOPIC)
                        .partition(partition)
                        .payload(&body),
                )
                .is_err()
            {
                producer.poll(Duration::from_millis(10));
            }
            events += chunk.len();
            messages += 1;
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("every message produced");
    let config = work.join("kvsentry.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {state:?}\nallowed_lateness = \"90m\"\n[ti]\npaths = [{ti:?}]\n\
             [[input]]\nname = \"hub\"\ntype = \"kafka\"\nbrokers = {b:?}\ntopic = \"{TOPIC}\"\n\
             group_id = \"kvsentry\"\n[[output]]\ntype = \"file\"\npath = {out:?}\n",
            state = work.join("state"),
            b = cluster.bootstrap_servers(),
            out = work.join("alerts.jsonl"),
        ),
    )
    .expect("the configuration");
    let started = Instant::now();
    let status = Command::new(kv)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--once", "--flush"])
        .stderr(std::fs::File::create(work.join("serve.log")).expect("a log file"))
        .status()
        .expect("kvsentry runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(status.success(), "serve failed: {status}");
    let ids: Vec<String> = std::fs::read_to_string(work.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some(v["alert_id"].as_str()?.to_string())
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "events": events,
            "messages": messages,
            "partitions": partitions,
            "seconds": seconds,
            "alert_ids": ids,
        })
    );
}
