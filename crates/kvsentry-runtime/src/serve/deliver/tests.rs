//! The delivery workers against a real HTTP receiver (tiny_http on 127.0.0.1) that answers
//! as scripted, and against a file.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;
use crate::serve::state::{Commit, StateOptions};

/// How the receiver answers a request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// No answer before the client gives up.
    Hang,
}

/// One request as the receiver saw it: its `Idempotency-Key` and the status answered (0:
/// none).
type Seen = Arc<Mutex<Vec<(String, u16)>>>;

struct Receiver {
    server: Arc<tiny_http::Server>,
    seen: Seen,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `port` (0: any), answering request `n` for alert `key` as `script` says.
    fn start(port: u16, script: impl Fn(usize, &str) -> Answer + Send + 'static) -> Receiver {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let seen: Seen = Arc::default();
        let thread = {
            let (server, seen) = (Arc::clone(&server), Arc::clone(&seen));
            std::thread::spawn(move || {
                for (n, req) in server.incoming_requests().enumerate() {
                    let key = (req.headers().iter())
                        .find(|h| h.field.equiv("Idempotency-Key"))
                        .map(|h| h.value.as_str().to_owned())
                        .unwrap_or_default();
                    match script(n, &key) {
                        Answer::Status(code) => {
                            seen.lock().unwrap().push((key, code));
                            let resp = tiny_http::Response::from_string("").with_status_code(code);
                            let _ = req.respond(resp);
                        }
                        Answer::Hang => {
                            seen.lock().unwrap().push((key, 0));
                            std::thread::spawn(move || {
                                std::thread::sleep(Duration::from_secs(2));
                                drop(req);
                            });
                        }
                    }
                }
            })
        };
        Receiver {
            server,
            seen,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/alerts",
            self.server.server_addr().to_ip().unwrap()
        )
    }

    fn seen(&self) -> Vec<(String, u16)> {
        self.seen.lock().unwrap().clone()
    }

    /// The keys of the requests answered 2xx, in order.
    fn accepted(&self) -> Vec<String> {
        (self.seen().into_iter())
            .filter(|(_, s)| (200..300).contains(s))
            .map(|(k, _)| k)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port nothing listens on (for a receiver that is down).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &Path, outputs: &str) -> ServeConfig {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = format!(
        "state_dir = {state:?}\n[[input]]\ntype = \"files\"\npath = {logs:?}\n{outputs}",
        state = dir.join("state").to_str().unwrap(),
        logs = logs.to_str().unwrap(),
    );
    ServeConfig::from_str(&text, "test.toml").unwrap()
}

/// A webhook output `hook` to `url`, retried fast.
fn hook(url: &str, max_retries: u32) -> String {
    format!(
        "[[output]]\nname = \"hook\"\ntype = \"webhook\"\nurl = {url:?}\ntimeout = \"500ms\"\n\
         backoff = \"10ms\"\nmax_backoff = \"40ms\"\nmax_retries = {max_retries}\n"
    )
}

fn encoded(id: &str) -> Vec<u8> {
    format!(
        "{{\"alert_id\":\"{id}\",\"rule\":{{\"id\":\"r\",\"name\":\"R\",\"severity\":\"high\",\
         \"version\":\"1\"}},\"time\":\"2025-06-30T00:10:00Z\"}}\n"
    )
    .into_bytes()
}

/// Commits a checkpoint queuing these alerts for `sink`, as a pass does.
fn queue(store: &StateStore, sink: &str, ids: &[&str]) -> bool {
    let mut c = Commit::new(b"engine".to_vec());
    for id in ids {
        c.alert(sink, id, &encoded(id));
    }
    store.commit(&c).unwrap().backpressure
}

fn ids(n: std::ops::Range<u32>) -> Vec<String> {
    n.map(|i| format!("a-{i}")).collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Waits until `sink`'s outbox is empty.
fn drained(store: &StateStore, sink: &str) {
    let waited = Instant::now();
    while store.counts(sink).unwrap().pending > 0 {
        assert!(waited.elapsed() < Duration::from_secs(20), "not delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn settle(d: &Delivery) -> Settled {
    let s = d.settle(Duration::from_secs(20)).unwrap();
    assert!(s.in_time, "{s:?}");
    s
}

#[test]
fn an_alert_refused_for_good_is_dead_lettered_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |_, key| match key {
        "a-2" => Answer::Status(422),
        _ => Answer::Status(200),
    });
    let config = config(dir.path(), &hook(&rx.url(), 2));
    let store = StateStore::open(config.state_dir()).unwrap();
    let all = ids(1..5);
    queue(&store, "hook", &strs(&all));
    let d = Delivery::start(&store, &config).unwrap();
    let s = settle(&d);
    assert_eq!(s.progress.pending, BTreeMap::from([("hook".into(), 0)]));
    assert_eq!(rx.accepted(), ["a-1", "a-3", "a-4"]);
    // Refused on each of its 3 attempts (a round), then set aside.
    let refused: Vec<_> = rx.seen().into_iter().filter(|(k, _)| k == "a-2").collect();
    assert_eq!(refused, vec![("a-2".to_string(), 422); 3]);

    let path = dead_letter_path(config.state_dir(), "hook");
    assert_eq!(
        path,
        config.state_dir().join("dead-letter").join("hook.jsonl")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["alert_id"], "a-2");
    assert_eq!(lines[0]["output"], "hook");
    assert_eq!(
        lines[0]["reason"],
        "the webhook answered 422 Unprocessable Entity"
    );
    assert_eq!(lines[0]["attempts"], 3);
    assert_eq!(lines[0]["alert"]["rule"]["id"], "r");

    let status = d.status().unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (
            status[0].pending,
            status[0].delivered,
            status[0].dead_lettered
        ),
        (0, 3, 1)
    );
    assert_eq!(status[0].waiting, None);
    // Dead-lettered alerts are not queued again when produced again.
    assert!(store.is_delivered("hook", "a-2").unwrap());
    queue(&store, "hook", &["a-2", "a-5"]);
    settle(&d);
    assert_eq!(rx.accepted(), ["a-1", "a-3", "a-4", "a-5"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_500_then_200_is_delivered_once_with_its_retry_counted() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |n, _| match n {
        0 => Answer::Status(500),
        _ => Answer::Status(200),
    });
    let config = config(dir.path(), &hook(&rx.url(), 5));
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &["a-1"]);
    let d = Delivery::start(&store, &config).unwrap();
    let s = settle(&d);
    assert_eq!(s.progress.delivered, BTreeMap::from([("hook".into(), 1)]));
    assert_eq!(s.progress.retries, BTreeMap::from([("hook".into(), 1)]));
    assert_eq!(
        rx.seen(),
        [("a-1".to_string(), 500), ("a-1".to_string(), 200)]
    );
    let status = &d.status().unwrap()[0];
    assert_eq!((status.delivered, status.retries), (1, 1));
    assert!(store.is_delivered("hook", "a-1").unwrap());
    assert_eq!(store.counts("hook").unwrap().pending, 0);
    // Reported once.
    let again = d.progress().unwrap();
    assert_eq!(again.delivered, BTreeMap::from([("hook".into(), 0)]));
    assert_eq!(again.retries, BTreeMap::from([("hook".into(), 0)]));
}

#[test]
fn a_receiver_that_times_out_is_tried_again_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |n, _| match n {
        0 => Answer::Hang,
        _ => Answer::Status(204),
    });
    let config = config(dir.path(), &hook(&rx.url(), 5));
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &["a-1", "a-2"]);
    let d = Delivery::start(&store, &config).unwrap();
    settle(&d);
    assert_eq!(
        rx.seen(),
        [
            ("a-1".to_string(), 0),
            ("a-1".to_string(), 204),
            ("a-2".to_string(), 204)
        ]
    );
}

/// A receiver that is down holds up no commit (no pass): the alerts wait in the outbox, in
/// order, and go out when it returns.
#[test]
fn alerts_wait_for_a_receiver_that_is_down_and_go_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/alerts");
    let config = config(dir.path(), &hook(&url, 1));
    let store = StateStore::open(config.state_dir()).unwrap();
    let d = Delivery::start(&store, &config).unwrap();
    let all = ids(0..30);
    let started = Instant::now();
    for chunk in all.chunks(10) {
        queue(&store, "hook", &strs(chunk));
        d.after_commit().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "passes were held up"
    );
    // A round of attempts failed: the output says why and its alerts wait.
    let s = settle(&d);
    assert_eq!(s.progress.pending, BTreeMap::from([("hook".into(), 30)]));
    let why = &s.progress.waiting["hook"];
    assert!(why.contains("connection"), "{why}");
    let rx = Receiver::start(port, |_, _| Answer::Status(200));
    drained(&store, "hook");
    assert_eq!(rx.accepted(), all);
    let s = settle(&d);
    assert_eq!(d.status().unwrap()[0].waiting, None);
    assert_eq!(s.progress.delivered["hook"], 30);
}

#[test]
fn back_pressure_at_the_outbox_bound_until_deliveries_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/alerts");
    let config = config(dir.path(), &hook(&url, 0));
    let store =
        StateStore::open_with(config.state_dir(), StateOptions { outbox_limit: 5 }).unwrap();
    let d = Delivery::start(&store, &config).unwrap();
    assert!(!queue(&store, "hook", &["a-0", "a-1", "a-2"]));
    assert!(!d.hold_back().unwrap());
    // The commit that reaches the bound is taken whole (its alerts exist nowhere else).
    assert!(queue(&store, "hook", &["a-3", "a-4", "a-5", "a-6"]));
    assert_eq!(store.counts("hook").unwrap().pending, 7);
    assert!(d.hold_back().unwrap());
    assert!(d.hold_back().unwrap());
    assert_eq!(d.held_back_passes(), 2);
    let rx = Receiver::start(port, |_, _| Answer::Status(200));
    let waited = Instant::now();
    while d.hold_back().unwrap() {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "still held back"
        );
    }
    settle(&d);
    assert_eq!(rx.accepted(), strs(&ids(0..7)));
    assert_eq!(store.counts("hook").unwrap().pending, 0);
}

#[test]
fn a_file_output_writes_what_it_does_not_hold_and_keeps_their_ids_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("alerts.jsonl");
    let config = config(
        dir.path(),
        &format!(
            "[[output]]\nname = \"file\"\ntype = \"file\"\npath = {:?}\n",
            out.to_str().unwrap()
        ),
    );
    let store = StateStore::open(config.state_dir()).unwrap();
    // A crash left a-1 written but pending, and a cut line after it.
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(
        &out,
        [encoded("a-1"), b"{\"alert_id\":\"a-".to_vec()].concat(),
    )
    .unwrap();
    queue(&store, "file", &["a-1", "a-2", "a-3"]);
    let upkeep = Upkeep {
        ledger_retention: jiff::SignedDuration::ZERO,
        ledger_min: 0,
        prune_every: Duration::from_millis(20),
    };
    let d = Delivery::start_with(&store, &config, upkeep).unwrap();
    let s = settle(&d);
    assert_eq!(s.progress.delivered["file"], 2);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        [encoded("a-1"), encoded("a-2"), encoded("a-3")].concat()
    );
    // Pruned on its schedule, but never below what the file holds.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(store.counts("file").unwrap().delivered, 3);
    queue(&store, "file", &["a-2", "a-4"]);
    settle(&d);
    assert_eq!(
        std::fs::read(&out).unwrap().split(|&b| b == b'\n').count(),
        5
    );
}

#[test]
fn the_ledger_of_a_webhook_is_pruned_on_its_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |_, _| Answer::Status(200));
    let config = config(dir.path(), &hook(&rx.url(), 0));
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &strs(&ids(0..5)));
    let upkeep = Upkeep {
        ledger_retention: jiff::SignedDuration::ZERO,
        ledger_min: 2,
        prune_every: Duration::from_millis(20),
    };
    let d = Delivery::start_with(&store, &config, upkeep).unwrap();
    settle(&d);
    let waited = Instant::now();
    while store.counts("hook").unwrap().delivered > 2 {
        assert!(waited.elapsed() < Duration::from_secs(10), "not pruned");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.delivered_ids("hook", 10).unwrap(), ["a-3", "a-4"]);
}

#[test]
fn dropping_the_delivery_ends_a_worker_waiting_on_a_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}/alerts", free_port());
    let slow = format!(
        "[[output]]\nname = \"hook\"\ntype = \"webhook\"\nurl = {url:?}\nbackoff = \"1m\"\n"
    );
    let config = config(dir.path(), &slow);
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &["a-1"]);
    let d = Delivery::start(&store, &config).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    drop(d);
    assert!(started.elapsed() < Duration::from_secs(1));
    // The workers' handles on the store are gone with them: it can be opened again.
    drop(store);
    StateStore::open(config.state_dir()).unwrap();
}

/// A refusal for good counts only in a row: a failure that can pass between them starts
/// the count again.
#[test]
fn an_alert_is_dead_lettered_after_a_round_of_refusals_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |n, _| match n {
        0 | 2..=4 => Answer::Status(400),
        1 => Answer::Status(503),
        _ => Answer::Status(200),
    });
    let config = config(dir.path(), &hook(&rx.url(), 2));
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &["a-1", "a-2"]);
    let d = Delivery::start(&store, &config).unwrap();
    // A round ends after the third attempt (the output is said to wait): the worker goes on.
    drained(&store, "hook");
    let statuses: Vec<u16> = rx.seen().iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [400, 503, 400, 400, 400, 200]);
    assert_eq!(rx.accepted(), ["a-2"]);
    let text = std::fs::read_to_string(dead_letter_path(config.state_dir(), "hook")).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(
        (line["alert_id"].as_str(), line["attempts"].as_u64()),
        (Some("a-1"), Some(5))
    );
    // A round is one attempt and two retries: the fourth attempt starts a round.
    assert_eq!(d.status().unwrap()[0].retries, 3);
}

/// Through a whole `Server`: while an output's outbox is at the bound, a pass reads no
/// input (and says so); once its receiver took enough, the next pass reads.
#[test]
fn a_pass_at_the_outbox_bound_reads_nothing_until_deliveries_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let logs = kvsentry_gen::GenConfig {
        seed: 3,
        events: 500,
        duration: jiff::SignedDuration::from_hours(1),
        ..kvsentry_gen::GenConfig::default()
    };
    kvsentry_gen::write_dir("storage".parse().unwrap(), &logs, &dir.path().join("logs")).unwrap();
    let port = free_port();
    let config = config(dir.path(), &hook(&format!("http://127.0.0.1:{port}/"), 0));
    let loaded = crate::serve::load(&config).unwrap();
    {
        // A receiver that was down for long: its outbox holds as many alerts as it may.
        let store = StateStore::open(config.state_dir()).unwrap();
        let engine = kvsentry_engine::Engine::new(&loaded.rules, Default::default()).unwrap();
        let mut c = Commit::new(engine.snapshot().unwrap());
        for id in ids(0..crate::serve::state::DEFAULT_OUTBOX_LIMIT as u32) {
            c.alert("hook", &id, &encoded(&id));
        }
        assert!(store.commit(&c).unwrap().backpressure);
    }
    let mut server = crate::serve::Server::open(config.clone(), &loaded).unwrap();
    let opts = crate::serve::PassOptions::default();
    let r = server.pass(&opts).unwrap();
    assert!(r.held_back && !r.caught_up && !r.committed, "{r:?}");
    assert_eq!(r.events, 0);
    assert_eq!(server.delivery().held_back_passes(), 1);
    let rx = Receiver::start(port, |_, _| Answer::Status(200));
    let r = server.catch_up(&opts).unwrap();
    assert!(!r.held_back && r.caught_up, "{r:?}");
    assert_eq!(r.events, 500);
    drop(server);
    drop(rx);
}

/// Dropping the `Delivery` (the end of a run) delivers what the receiver takes, for a
/// bounded time, and leaves the rest pending.
#[test]
fn dropping_the_delivery_delivers_what_it_can_within_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |_, _| Answer::Status(200));
    let fast = config(dir.path(), &hook(&rx.url(), 0));
    let store = StateStore::open(fast.state_dir()).unwrap();
    queue(&store, "hook", &strs(&ids(0..50)));
    drop(Delivery::start(&store, &fast).unwrap());
    assert_eq!(store.counts("hook").unwrap().pending, 0);
    assert_eq!(rx.accepted(), strs(&ids(0..50)));

    // A receiver that takes 5 ms per alert, and 3000 alerts: the bound ends the run in the
    // middle of a batch.
    let slow = Receiver::start(0, |_, _| {
        std::thread::sleep(Duration::from_millis(5));
        Answer::Status(200)
    });
    let slow_config = config(dir.path(), &hook(&slow.url(), 0));
    queue(&store, "hook", &strs(&ids(100..3100)));
    let mut d = Delivery::start(&store, &slow_config).unwrap();
    d.finish_wait = Duration::from_millis(300);
    let started = Instant::now();
    drop(d);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let pending = store.counts("hook").unwrap().pending;
    let accepted = slow.accepted().len() as u64;
    assert!(
        accepted > 0 && pending > 0,
        "{accepted} delivered, {pending} pending"
    );
    // Each delivered alert was recorded (the one under way at the stop may go again).
    assert!(
        (3000..=3001).contains(&(accepted + pending)),
        "{accepted} + {pending}"
    );
}

/// A round is one attempt and `max_retries` retries: a round that fails is reported once
/// (the output waits, with why), and the attempt that starts the next round is no retry.
#[test]
fn a_failed_round_is_reported_once_and_retries_are_counted_within_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(0, |n, _| match n {
        0..=4 => Answer::Status(503),
        _ => Answer::Status(200),
    });
    let config = config(dir.path(), &hook(&rx.url(), 3));
    let store = StateStore::open(config.state_dir()).unwrap();
    queue(&store, "hook", &["a-1"]);
    let d = Delivery::start(&store, &config).unwrap();
    drained(&store, "hook");
    assert_eq!(rx.seen().len(), 6);
    let p = d.progress().unwrap();
    assert_eq!(p.delivered["hook"], 1);
    // Attempts 2-4 retry the first; the fifth starts a round, the sixth retries it.
    assert_eq!(p.retries["hook"], 4);
    assert_eq!(
        p.waiting,
        BTreeMap::from([(
            "hook".into(),
            "the webhook answered 503 Service Unavailable".into()
        )])
    );
    assert_eq!(d.progress().unwrap().waiting, BTreeMap::new());
    assert_eq!(d.status().unwrap()[0].waiting, None);
}

/// An output that cannot be opened at all is refused at start, by name.
#[test]
fn a_file_output_that_cannot_be_opened_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken.jsonl");
    std::fs::create_dir(&taken).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[output]]\nname = \"file\"\ntype = \"file\"\npath = {:?}\n",
            taken.to_str().unwrap()
        ),
    );
    let store = StateStore::open(config.state_dir()).unwrap();
    let err = Delivery::start(&store, &config).err().unwrap().to_string();
    assert!(err.starts_with("output file: "), "{err}");
}
