//! End-to-end: `kvsentry serve` killed with SIGKILL at random moments while its input grows
//! loses no alert and repeats none in its file output, and its webhook receives every alert
//! (at least once, each request with its `Idempotency-Key`), from a receiver that fails its
//! first requests; and a webhook that is down holds back neither the passes nor the file
//! output.
//!
//! The crash harness ([`crash_run`]) is written against [`Feed`]: how the data reaches serve.
//! A followed directory is [`DirFeed`]; another input type (Kafka, Storage blobs) adds a feed
//! that delivers the same chunks its way and a test calling [`crash_run`] with it.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/serve.rs"]
mod support;
use support::{alert_id, bin, files, ok};

#[path = "../../kvsentry-runtime/tests/azurite/mod.rs"]
mod azurite;
use azurite::{Azurite, CONTAINER};

/// A small seeded generator (xorshift64*), so a failing run can be repeated with its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// In `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }
}

/// The seed: `KVSENTRY_CRASH_SEED` to repeat a run, else a fixed one.
fn seed() -> u64 {
    std::env::var("KVSENTRY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(13)
}

/// Six hours of Storage-layout blobs (40 vaults, one file per vault and hour) with every
/// attack scenario injected, and bursts placed through the six hours so that alerts come
/// out all along the stream; and a Sentinel indicator export some callers match.
fn generate(dir: &Path) -> (PathBuf, PathBuf) {
    let logs = dir.join("all");
    let ti = dir.join("ti.csv");
    let mut args: Vec<String> = [
        "gen",
        "--storage-layout",
        "-o",
        logs.to_str().unwrap(),
        "--events",
        "4000",
        "--duration",
        "6h",
        "--seed",
        "5",
        "--scenario",
        "standard",
        "--indicators",
        "300",
        "--match-share",
        "0.05",
        "--indicators-output",
        ti.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    for (kind, minutes) in [
        (
            "burst",
            &[25, 55, 80, 105, 130, 155, 180, 205, 230, 255, 280, 305][..],
        ),
        ("sp-burst", &[40, 95, 170, 220, 290][..]),
        ("mi-burst", &[41, 96, 171, 221, 291][..]),
    ] {
        for m in minutes {
            args.push("--scenario".into());
            args.push(format!("{kind}@2025-06-30T{:02}:{:02}:00Z", m / 60, m % 60));
        }
    }
    ok(bin().args(&args).output().unwrap());
    (logs, ti)
}

/// Bytes to add at the end of one file (or partition, or blob) of the data set.
struct Chunk {
    rel: PathBuf,
    bytes: Vec<u8>,
}

/// The data set cut into parts that arrive one after the other, as a live source delivers
/// it: part `k` brings every record of every file up to `k` slices of event time (new files
/// appear as their hour starts, existing ones grow), sometimes cut in the middle of a record
/// that the next part completes.
///
/// A slice is shorter than serve's `allowed_lateness`, so however a pass falls between the
/// appends of one part, no record arrives behind the watermark: serve must find what `hunt`
/// finds over the whole.
fn plan(all: &Path, slice: Duration, rng: &mut Rng) -> Vec<Vec<Chunk>> {
    struct Source {
        rel: PathBuf,
        bytes: Vec<u8>,
        /// End offset and event time of each line.
        lines: Vec<(usize, jiff::Timestamp)>,
        sent: usize,
    }
    let mut sources: Vec<Source> = files(all)
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(all.join(&rel)).unwrap();
            let mut lines = Vec::new();
            let mut start = 0;
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    let v: serde_json::Value = serde_json::from_slice(&bytes[start..i]).unwrap();
                    let t: jiff::Timestamp = v["time"].as_str().unwrap().parse().unwrap();
                    lines.push((i + 1, t));
                    start = i + 1;
                }
            }
            assert_eq!(start, bytes.len(), "{} ends mid-line", rel.display());
            Source {
                rel,
                bytes,
                lines,
                sent: 0,
            }
        })
        .collect();
    let first = (sources.iter())
        .filter_map(|s| s.lines.first().map(|l| l.1))
        .min()
        .unwrap();
    let last = (sources.iter())
        .filter_map(|s| s.lines.last().map(|l| l.1))
        .max()
        .unwrap();
    let slice = jiff::SignedDuration::try_from(slice).unwrap();
    let mut parts = Vec::new();
    let mut until = first + slice;
    loop {
        let done = until > last;
        let mut part = Vec::new();
        for s in &mut sources {
            let whole = (s.lines.iter())
                .take_while(|(_, t)| *t < until)
                .last()
                .map_or(0, |(end, _)| *end);
            let mut end = whole.max(s.sent);
            // Now and then, part of the next record too: its writer is mid-record.
            if !done && end < s.bytes.len() && rng.range(0, 4) == 0 {
                let next_end = s.lines.iter().find(|(e, _)| *e > end).unwrap().0;
                if next_end - end > 1 {
                    end += rng.range(1, (next_end - end) as u64) as usize;
                }
            }
            if done {
                end = s.bytes.len();
            }
            if end > s.sent {
                part.push(Chunk {
                    rel: s.rel.clone(),
                    bytes: s.bytes[s.sent..end].to_vec(),
                });
                s.sent = end;
            }
        }
        if !part.is_empty() {
            parts.push(part);
        }
        if done {
            return parts;
        }
        until += slice;
    }
}

/// How the data reaches serve: one kind of input.
///
/// Another input type implements this: a Storage feed appends each chunk to its blob (the
/// chunk's path is already the diagnostic setting's blob name); a Kafka feed produces each
/// chunk's whole records (keeping a cut record until the next chunk completes it) to a
/// partition chosen by the chunk's path. A feed whose evidence names differ from a
/// directory's also writes the chunks to a directory laid out as serve names them, for
/// `hunt_dir`.
trait Feed {
    /// The `[[input]]` table serve's configuration gets.
    fn input_toml(&self) -> String;
    /// Delivers one chunk: the next bytes of one file (partition, blob).
    fn push(&mut self, chunk: &Chunk);
    /// Where `hunt` finds the same records, named as serve names them in evidence.
    fn hunt_dir(&self) -> PathBuf;
    /// The directory `hunt` runs in, when evidence names are relative (a blob's
    /// `<container>/<name>`): `hunt_dir` is then given by its file name.
    fn hunt_from(&self) -> Option<PathBuf> {
        None
    }
    /// Environment serve needs (credentials).
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A Storage container in Azurite: each chunk is appended to its append blob (created
/// when first written, as the diagnostic setting does), and mirrored as files for `hunt`.
struct BlobFeed {
    azurite: Azurite,
    created: BTreeSet<String>,
    /// `<mirror>/insights-logs-auditevent/<blob>`, as serve names blobs in evidence.
    mirror: PathBuf,
}

impl Feed for BlobFeed {
    fn input_toml(&self) -> String {
        format!(
            "[[input]]\nname = \"logs\"\ntype = \"azure_blob\"\nconnection_string_env = \"KV_CRASH_STORAGE\"\ncontainer = \"{CONTAINER}\"\npoll_interval = \"100ms\"\n"
        )
    }

    fn push(&mut self, chunk: &Chunk) {
        let rel = chunk.rel.to_str().unwrap().replace('\\', "/");
        let name = rel
            .strip_prefix(&format!("{CONTAINER}/"))
            .expect("a blob of the container")
            .to_string();
        let create = self.created.insert(name.clone());
        self.azurite.write(&name, &chunk.bytes, create);
        let path = self.mirror.join(&chunk.rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(&chunk.bytes).unwrap();
    }

    fn hunt_dir(&self) -> PathBuf {
        self.mirror.join(CONTAINER)
    }

    fn hunt_from(&self) -> Option<PathBuf> {
        Some(self.mirror.clone())
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![("KV_CRASH_STORAGE".into(), self.azurite.connection_string())]
    }
}

/// A followed directory: chunks are appended to their files (created when first written).
struct DirFeed {
    dir: PathBuf,
}

impl Feed for DirFeed {
    fn input_toml(&self) -> String {
        format!(
            "[[input]]\nname = \"logs\"\ntype = \"files\"\npath = {:?}\npoll_interval = \"100ms\"\n",
            self.dir.to_str().unwrap()
        )
    }

    fn push(&mut self, chunk: &Chunk) {
        let path = self.dir.join(&chunk.rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(&chunk.bytes).unwrap();
    }

    fn hunt_dir(&self) -> PathBuf {
        self.dir.clone()
    }
}

/// A webhook receiver on 127.0.0.1 that records the `Idempotency-Key` of every request it
/// accepted. A flaky one answers its first requests with a 500, then lets one time out,
/// then accepts, failing again now and then.
struct Receiver {
    server: Arc<tiny_http::Server>,
    accepted: Arc<Mutex<Vec<String>>>,
    /// Whole requests without an `Idempotency-Key`, or whose key is not their alert's id.
    bad: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<usize>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `port` (0: any).
    fn start(port: u16, flaky: bool) -> Receiver {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", port)).unwrap());
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let bad = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let thread = {
            let (server, accepted, requests) = (server.clone(), accepted.clone(), requests.clone());
            let bad = bad.clone();
            std::thread::spawn(move || {
                for mut req in server.incoming_requests() {
                    let n = {
                        let mut r = requests.lock().unwrap();
                        *r += 1;
                        *r
                    };
                    let key = (req.headers().iter())
                        .find(|h| h.field.equiv("Idempotency-Key"))
                        .map(|h| h.value.as_str().to_owned());
                    let mut body = String::new();
                    let read = req.as_reader().read_to_string(&mut body);
                    if read.is_err() || req.body_length() != Some(body.len()) {
                        // Cut short: its sender was killed while sending.
                        let _ = req.respond(tiny_http::Response::empty(400));
                        continue;
                    }
                    if flaky {
                        // A receiver that takes its time: kills land during deliveries.
                        std::thread::sleep(Duration::from_millis(30));
                    }
                    let status = match n {
                        _ if !flaky => 200,
                        1..=3 => 500,
                        4 => {
                            // Answered after the client gave up (its timeout is 1s).
                            std::thread::spawn(move || {
                                std::thread::sleep(Duration::from_millis(1500));
                                drop(req);
                            });
                            continue;
                        }
                        n if n % 17 == 0 => 503,
                        _ => 200,
                    };
                    if status == 200 {
                        let alert = serde_json::from_str::<serde_json::Value>(&body);
                        match (key, alert) {
                            (Some(key), Ok(v)) if v["alert_id"] == key.as_str() => {
                                accepted.lock().unwrap().push(key)
                            }
                            (key, _) => bad.lock().unwrap().push(format!("{key:?}: {body}")),
                        }
                    }
                    let resp = tiny_http::Response::from_string("").with_status_code(status);
                    let _ = req.respond(resp);
                }
            })
        };
        Receiver {
            server,
            accepted,
            bad,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/alerts",
            self.server.server_addr().to_ip().unwrap()
        )
    }

    /// The keys of the alerts it accepted; every request must have carried its alert's id.
    fn accepted(&self) -> Vec<String> {
        let bad = self.bad.lock().unwrap();
        assert!(
            bad.is_empty(),
            "requests without their alert's id as key: {bad:?}"
        );
        self.accepted.lock().unwrap().clone()
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

fn write_config(dir: &Path, input: &str, ti: &Path, hook_url: &str) -> PathBuf {
    let config = dir.join("kvsentry.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             allowed_lateness = \"1h\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             {input}\
             [[output]]\n\
             name = \"file\"\n\
             type = \"file\"\n\
             path = \"out/alerts.jsonl\"\n\
             [[output]]\n\
             name = \"hook\"\n\
             type = \"webhook\"\n\
             url = {hook_url:?}\n\
             timeout = \"1s\"\n\
             backoff = \"50ms\"\n\
             max_backoff = \"200ms\"\n\
             max_retries = 3\n",
            ti = ti.to_str().unwrap(),
        ),
    )
    .unwrap();
    config
}

/// `serve` following until killed; its stderr appended to `log`.
fn spawn_serve(config: &Path, log: &Path, env: &[(String, String)]) -> Child {
    let err = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    bin()
        .args(["serve", "--config", config.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap()
}

/// `hunt`'s alerts over `logs` (run in `from`, if given, with `logs` named relative to it),
/// as JSON lines.
fn hunt(logs: &Path, from: Option<&Path>, ti: &Path) -> BTreeSet<String> {
    let mut cmd = bin();
    let logs = match from {
        Some(from) => {
            cmd.current_dir(from);
            logs.strip_prefix(from).unwrap()
        }
        None => logs,
    };
    let out = ok(cmd
        .args([
            "hunt",
            logs.to_str().unwrap(),
            "--ti",
            ti.to_str().unwrap(),
            "-f",
            "jsonl",
            "-q",
        ])
        .output()
        .unwrap());
    let lines: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert!(lines.len() >= 10, "hunt found {} alerts", lines.len());
    lines
}

/// What a crash run saw.
struct Crashed {
    kills: usize,
    /// The file output's lines.
    lines: Vec<String>,
    /// Of which written before the last run (by the runs that were killed).
    before_last: usize,
    /// `hunt`'s alerts over the same data.
    want: BTreeSet<String>,
    /// serve's stderr over all its runs.
    log: String,
}

/// Streams the data set (from `all`) through `feed` while `serve` runs, killing it with
/// SIGKILL at random moments (at least `min_kills` times) and starting it again each time;
/// then a last `serve --once --flush`.
fn crash_run(
    dir: &Path,
    all: &Path,
    ti: &Path,
    feed: &mut dyn Feed,
    hook_url: &str,
    min_kills: usize,
    rng: &mut Rng,
) -> Crashed {
    let parts = plan(all, Duration::from_secs(600), rng);
    let config = write_config(dir, &feed.input_toml(), ti, hook_url);
    let log = dir.join("serve.log");
    let env = feed.env();
    let mut child = spawn_serve(&config, &log, &env);
    let mut kill_at = Instant::now() + rng.millis(100, 900);
    let mut next_part = Instant::now();
    let mut sent = 0;
    let mut kills = 0;
    // After the data, serve runs on a little (delivering) between kills.
    while sent < parts.len() || kills < min_kills {
        let now = Instant::now();
        if sent < parts.len() && now >= next_part {
            for chunk in &parts[sent] {
                feed.push(chunk);
            }
            sent += 1;
            next_part = now + rng.millis(40, 250);
        }
        if now >= kill_at {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(
                std::os::unix::process::ExitStatusExt::signal(&status) == Some(9),
                "serve ended before it was killed: {status:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            kills += 1;
            child = spawn_serve(&config, &log, &env);
            kill_at = Instant::now() + rng.millis(100, 900);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = dir.join("out/alerts.jsonl");
    let before_last = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count();
    let last = ok(bin()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--once",
            "--flush",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap());
    let mut log = std::fs::read_to_string(&log).unwrap_or_default();
    log.push_str(&String::from_utf8_lossy(&last.stderr));
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    Crashed {
        kills,
        before_last,
        lines: text.lines().map(String::from).collect(),
        want: hunt(&feed.hunt_dir(), feed.hunt_from().as_deref(), ti),
        log,
    }
}

/// File output: `hunt`'s alerts, each exactly once (0 lost, 0 repeated); webhook: every
/// alert id. Window alerts are hunt's line for line. An indicator alert goes out at the end
/// of the first pass that matched its (indicator, address), so it has hunt's id and match,
/// and counts the events read by then.
fn check(run: &Crashed, accepted: &[String], min_kills: usize) {
    assert!(run.kills >= min_kills, "{} kills", run.kills);
    assert!(
        !run.log.contains("late"),
        "events arrived late: the harness's parts are out of order\n{}",
        run.log
    );
    let parse = |l: &String| serde_json::from_str::<serde_json::Value>(l).unwrap();
    let mut got: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut repeated = Vec::new();
    for l in &run.lines {
        let v = parse(l);
        let id = v["alert_id"].as_str().unwrap().to_string();
        if got.insert(id.clone(), v).is_some() {
            repeated.push(id);
        }
    }
    assert!(repeated.is_empty(), "alerts written twice: {repeated:?}");
    let want: BTreeMap<String, serde_json::Value> =
        (run.want.iter()).map(|l| (alert_id(l), parse(l))).collect();
    let lost: Vec<&String> = want.keys().filter(|id| !got.contains_key(*id)).collect();
    let extra: Vec<&String> = got.keys().filter(|id| !want.contains_key(*id)).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "lost: {lost:?}\nnot hunt's: {extra:?}"
    );
    let mut indicator = 0;
    for (id, w) in &want {
        let g = &got[id];
        if w["fields"].get("indicator_id").is_none() {
            assert_eq!(g, w, "{id}");
            continue;
        }
        indicator += 1;
        for f in ["indicator_id", "client_ip", "first_event_time"] {
            assert_eq!(g["fields"][f], w["fields"][f], "{id}: {f}");
        }
        assert!(g["fields"]["event_time"].as_str() <= w["fields"]["event_time"].as_str());
        assert!(g["fields"]["event_count"].as_u64() <= w["fields"]["event_count"].as_u64());
    }
    assert!(
        indicator > 0 && indicator < want.len(),
        "{indicator} indicator alerts"
    );
    let received: BTreeSet<&String> = accepted.iter().collect();
    let missing: Vec<&String> = want.keys().filter(|id| !received.contains(id)).collect();
    assert!(missing.is_empty(), "the webhook never got {missing:?}");
}

#[test]
fn kill_9_at_random_moments_loses_no_alert_and_repeats_none() {
    const KILLS: usize = 16;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let rx = Receiver::start(0, true);
    let mut rng = Rng::new(seed());
    let mut feed = DirFeed {
        dir: dir.path().join("logs"),
    };
    std::fs::create_dir(&feed.dir).unwrap();
    let run = crash_run(dir.path(), &all, &ti, &mut feed, &rx.url(), KILLS, &mut rng);
    check(&run, &rx.accepted(), KILLS);
    assert!(run.before_last > 0, "the killed runs delivered nothing");
    assert!(
        *rx.requests.lock().unwrap() > run.want.len(),
        "the receiver failed some"
    );
    let accepted = rx.accepted();
    let repeats = accepted.len() - accepted.iter().collect::<BTreeSet<_>>().len();
    eprintln!(
        "seed {}: {} kills, {} alerts ({} before the last run), {} webhook requests, {} \
         repeats accepted, {:?}",
        seed(),
        run.kills,
        run.want.len(),
        run.before_last,
        rx.requests.lock().unwrap(),
        repeats,
        started.elapsed()
    );
}

/// The same through a Storage container in Azurite: append blobs grown chunk by chunk
/// (records cut and completed later), serve killed at random moments.
#[test]
fn kill_9_over_storage_blobs_loses_no_alert_and_repeats_none() {
    const KILLS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let rx = Receiver::start(0, true);
    let mut rng = Rng::new(seed() ^ 0x5eed);
    let azurite = Azurite::start();
    azurite.create_container(CONTAINER);
    let mut feed = BlobFeed {
        azurite,
        created: BTreeSet::new(),
        mirror: dir.path().join("mirror"),
    };
    let run = crash_run(dir.path(), &all, &ti, &mut feed, &rx.url(), KILLS, &mut rng);
    check(&run, &rx.accepted(), KILLS);
    assert!(run.before_last > 0, "the killed runs delivered nothing");
}

/// A webhook that is down holds nothing up: the pass reads everything and the file output
/// gets every alert; the webhook's alerts wait in the state store (said on stderr) and go
/// out, each with its id as `Idempotency-Key`, on the next run once it is back.
#[test]
fn a_webhook_that_is_down_holds_back_neither_the_pass_nor_the_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let (all, ti) = generate(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/alerts");
    let feed = DirFeed { dir: all.clone() };
    let config = write_config(dir.path(), &feed.input_toml(), &ti, &url);
    let serve = || {
        ok(bin()
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--once",
                "--flush",
            ])
            .output()
            .unwrap())
    };
    let started = Instant::now();
    let out = serve();
    assert!(started.elapsed() < Duration::from_secs(30));
    let want = hunt(&all, None, &ti);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "serve: output hook: {} alert(s) left pending in the state store for the next run",
            want.len()
        )),
        "{err}"
    );
    assert!(err.contains("output hook: alerts wait"), "{err}");
    let text = std::fs::read_to_string(dir.path().join("out/alerts.jsonl")).unwrap();
    let got: BTreeSet<String> = text.lines().map(String::from).collect();
    assert_eq!(got, want);

    let rx = Receiver::start(port, false);
    let out = serve();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("left pending"), "{err}");
    let mut accepted = rx.accepted();
    accepted.sort();
    let mut ids: Vec<String> = want.iter().map(|l| alert_id(l)).collect();
    ids.sort();
    assert_eq!(accepted, ids, "each alert once, by id");
    // The file output was not written again.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/alerts.jsonl")).unwrap(),
        text
    );
}
