//! End-to-end: `kvsentry serve`'s operations surface, driving the binary: `/healthz` and
//! `/metrics` after passes over generated data, secrets kept out of metrics and logs,
//! reloads by SIGHUP and `POST /reload` (a new rule starts fresh, the others keep their
//! state, a broken configuration is refused and serving goes on), JSON logs, and a
//! graceful SIGTERM.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/serve.rs"]
mod support;
use support::{bin, files, hour, ok, run, webhook_receiver};

/// Six hours of Storage-layout blobs with every attack scenario, and indicators.
fn generate(dir: &Path) -> (PathBuf, PathBuf) {
    support::generate(dir, 3000, 11, 200)
}

fn copy(from: &Path, to: &Path, rel: &Path) {
    let dest = to.join(rel);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(from.join(rel), dest).unwrap();
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request over a new connection: the status code and the body.
fn http(addr: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// The value of the series `series` (name and labels, as printed) in a scrape.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A long-running serve, its stdout and stderr collected as they come.
struct Serving {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Serving {
    fn start(config: &Path, envs: &[(&str, &str)]) -> Serving {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = bin()
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--listen", &addr.to_string()])
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |mut from: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let into = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buf = [0; 4096];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut t = into.lock().unwrap();
                    t.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        let s = Serving {
            child,
            addr,
            stdout,
            stderr,
        };
        wait_for("/healthz to answer 200", Duration::from_secs(60), || {
            s.get("/healthz").is_some_and(|(status, _)| status == 200)
        });
        s
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        http(self.addr, "GET", path)
    }

    fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").unwrap();
        assert_eq!(status, 200);
        body
    }

    fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics(), series).unwrap_or(0.0)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for `text` in stderr after the first `from` bytes.
    fn wait_log(&self, from: usize, text: &str) {
        wait_for(text, Duration::from_secs(60), || {
            self.stderr()[from..].contains(text)
        });
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// SIGTERM; the exit code and how long it took.
    fn terminate(mut self) -> (Option<i32>, Duration, String, String) {
        let started = Instant::now();
        self.signal("-TERM");
        let status = self.child.wait().unwrap();
        let took = started.elapsed();
        // The readers end with the pipes.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.stdout.lock().unwrap().clone();
        (status.code(), took, out, self.stderr())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Alerts in the file output, as JSON.
fn delivered(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SECRET: &str = "Bearer s3cr3t-t0ken-6d1f0c";

/// After passes over generated data, /metrics holds every series with the values the data
/// gives; the webhook's secret header is sent, yet appears nowhere in /metrics, stdout or
/// stderr.
#[test]
fn metrics_after_passes_over_generated_data_and_no_secret_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, ti) = generate(dir.path());
    // One line that is not a record.
    let rels = files(&logs);
    let damaged = logs.join(&rels[0]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&damaged)
        .unwrap();
    f.write_all(b"{not json\n").unwrap();
    drop(f);
    // A file there twice (a copy under another name): its records count once.
    let again = logs.join("again/PT1H.json");
    std::fs::create_dir_all(again.parent().unwrap()).unwrap();
    std::fs::copy(logs.join(&rels[1]), &again).unwrap();
    let dup = std::fs::read_to_string(&again).unwrap().lines().count() as f64;
    // The first alert fails its four attempts (it waits for the next pass), then goes on
    // its sixth.
    let (url, requests) = webhook_receiver(5);
    let config = dir.path().join("kvsentry.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\n\
             [ti]\n\
             paths = [{ti:?}]\n\
             [[input]]\n\
             name = \"blobs\"\n\
             type = \"files\"\n\
             path = {logs:?}\n\
             poll_interval = \"200ms\"\n\
             [[output]]\n\
             name = \"file\"\n\
             type = \"file\"\n\
             path = \"out/alerts.jsonl\"\n\
             [[output]]\n\
             name = \"hook\"\n\
             type = \"webhook\"\n\
             url = {url:?}\n\
             secret_headers = {{ Authorization = \"KVSENTRY_TEST_HOOK_AUTH\" }}\n\
             max_retries = 3\n\
             backoff = \"10ms\"\n",
            ti = ti.to_str().unwrap(),
            logs = logs.to_str().unwrap(),
        ),
    )
    .unwrap();
    let envs = [("KVSENTRY_TEST_HOOK_AUTH", SECRET)];
    let check = ok(bin()
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--check-config",
        ])
        .envs(envs)
        .output()
        .unwrap());
    let summary = String::from_utf8(check.stdout).unwrap();
    let indicators: f64 = summary
        .lines()
        .find_map(|l| l.strip_prefix("threat intel: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();

    let serving = Serving::start(&config, &envs);
    let out = dir.path().join("out/alerts.jsonl");
    // Every record read, and two more passes (the second of them finds every file idle).
    let records = rels
        .iter()
        .map(|r| {
            std::fs::read_to_string(logs.join(r))
                .unwrap()
                .lines()
                .count()
        })
        .sum::<usize>() as f64;
    wait_for("every record read", Duration::from_secs(60), || {
        serving.metric("kvsentry_events_read_total{input=\"blobs\"}") == records - 1.0 + dup
    });
    let passes = serving.metric("kvsentry_passes_total");
    wait_for("two more passes", Duration::from_secs(60), || {
        serving.metric("kvsentry_passes_total") >= passes + 2.0
    });
    wait_for(
        "the webhook to have every alert",
        Duration::from_secs(60),
        || {
            let n = delivered(&out).len();
            n > 0
                && requests
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|r| r.accepted)
                    .count()
                    == n
        },
    );
    wait_for(
        "a pass after the deliveries",
        Duration::from_secs(60),
        || {
            let m = serving.metrics();
            metric(&m, "kvsentry_deliveries_total{output=\"hook\"}")
                == Some(delivered(&out).len() as f64)
                && metric(&m, "kvsentry_outbox_alerts{output=\"hook\"}") == Some(0.0)
        },
    );
    let text = serving.metrics();
    let alerts = delivered(&out);
    let n = alerts.len() as f64;
    let mut per_rule: BTreeMap<String, f64> = BTreeMap::new();
    for a in &alerts {
        *per_rule
            .entry(a["rule"]["id"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    assert!(!per_rule.is_empty(), "{per_rule:?}");
    let newest = rels
        .iter()
        .flat_map(|r| {
            let text = std::fs::read_to_string(logs.join(r)).unwrap();
            let times: Vec<i128> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|v| {
                    let t: jiff::Timestamp = v["time"].as_str().unwrap().parse().unwrap();
                    t.as_nanosecond()
                })
                .collect();
            times
        })
        .max()
        .unwrap();
    let watermark = (newest - 15 * 60 * 1_000_000_000) as f64 / 1e9;
    let want: Vec<(String, f64)> = [
        (
            "kvsentry_events_read_total{input=\"blobs\"}".to_string(),
            records - 1.0 + dup,
        ),
        ("kvsentry_events_duplicate_total".into(), dup),
        (
            "kvsentry_events_skipped_total{input=\"blobs\",reason=\"malformed_json\"}".into(),
            1.0,
        ),
        ("kvsentry_events_late_total{input=\"blobs\"}".into(), 0.0),
        ("kvsentry_input_backlog{input=\"blobs\"}".into(), 0.0),
        ("kvsentry_deliveries_total{output=\"file\"}".into(), n),
        ("kvsentry_deliveries_total{output=\"hook\"}".into(), n),
        (
            "kvsentry_delivery_retries_total{output=\"hook\"}".into(),
            4.0,
        ),
        (
            "kvsentry_delivery_failures_total{output=\"hook\"}".into(),
            1.0,
        ),
        (
            "kvsentry_delivery_retries_total{output=\"file\"}".into(),
            0.0,
        ),
        ("kvsentry_outbox_alerts{output=\"file\"}".into(), 0.0),
        ("kvsentry_outbox_alerts{output=\"hook\"}".into(), 0.0),
        ("kvsentry_ti_indicators".into(), indicators),
    ]
    .into_iter()
    .chain(
        per_rule
            .iter()
            .map(|(rule, n)| (format!("kvsentry_alerts_total{{rule=\"{rule}\"}}"), *n)),
    )
    .collect();
    for (series, value) in &want {
        assert_eq!(metric(&text, series), Some(*value), "{series} in\n{text}");
    }
    let got_wm = metric(&text, "kvsentry_watermark_seconds{input=\"blobs\"}").unwrap();
    assert!(
        (got_wm - watermark).abs() < 1e-3,
        "watermark {got_wm}, want {watermark}"
    );
    let state = std::fs::metadata(dir.path().join("state/state.redb"))
        .unwrap()
        .len() as f64;
    assert_eq!(metric(&text, "kvsentry_state_size_bytes"), Some(state));
    let passes = metric(&text, "kvsentry_passes_total").unwrap();
    assert_eq!(
        metric(&text, "kvsentry_pass_duration_seconds_count"),
        Some(passes)
    );
    let refreshed = metric(&text, "kvsentry_ti_refresh_timestamp_seconds").unwrap();
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!(
        refreshed > now - 300.0 && refreshed <= now + 1.0,
        "{refreshed}"
    );

    let (code, _, stdout, stderr) = serving.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    // The secret went to the receiver, and nowhere else.
    let sent: BTreeSet<String> = (requests.lock().unwrap().iter())
        .filter_map(|r| r.headers.get("authorization").cloned())
        .collect();
    assert_eq!(sent, BTreeSet::from([SECRET.to_string()]));
    let token = "s3cr3t-t0ken";
    assert!(!text.contains(token), "{text}");
    assert!(!stdout.contains(token), "{stdout}");
    assert!(!stderr.contains(token), "{stderr}");
    // The failure was logged, without the secret.
    assert!(
        stderr.contains("output hook: alerts wait for the next pass"),
        "{stderr}"
    );
}

/// A rule file for the reload test: SecretGet per vault and hour.
fn reads_rule(id: &str, min: u32) -> String {
    format!(
        "id: {id}\nname: reads at least {min}\nseverity: low\nversion: '1'\nkind: threshold\n\
         detection:\n  filter: {{ field: operation, in: [SecretGet] }}\n  \
         window: {{ type: tumbling, size: 1h }}\n  group_by: [vault.name]\n  \
         aggregates: {{ n: count }}\n  condition: n >= {min}\n"
    )
}

const OLD_RULE: &str = "6f1d2e9a-0000-4000-8000-0000000000aa";
const NEW_RULE: &str = "6f1d2e9a-0000-4000-8000-0000000000bb";

fn reload_config(dir: &Path, logs: &Path) -> (PathBuf, String) {
    let config = dir.join("kvsentry.toml");
    let text = format!(
        "state_dir = \"state\"\n\
         rules = [\"rules/\"]\n\
         [[input]]\n\
         name = \"logs\"\n\
         type = \"files\"\n\
         path = {logs:?}\n\
         poll_interval = \"200ms\"\n\
         [[output]]\n\
         type = \"file\"\n\
         path = \"out/alerts.jsonl\"\n",
        logs = logs.to_str().unwrap(),
    );
    std::fs::write(&config, &text).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/old.yml"), reads_rule(OLD_RULE, 1)).unwrap();
    (config, text)
}

/// `hunt`'s alerts over `logs` with the built-in rules and the files in `rules`.
fn hunt(logs: &Path, rules: &Path) -> Vec<Value> {
    let out = ok(run(&[
        "hunt",
        logs.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "-f",
        "jsonl",
        "-q",
    ]));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn ids<'a>(alerts: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    alerts
        .into_iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_string())
        .collect()
}

fn of_rule<'a>(alerts: &'a [Value], rule: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    alerts.iter().filter(move |a| a["rule"]["id"] == rule)
}

/// SIGHUP with a new rule file: the new rule starts fresh and sees only data read after the
/// reload, every other rule keeps its open windows (in the end they give exactly `hunt`'s
/// alerts); a broken configuration is refused with its line, and serving goes on.
#[test]
fn sighup_reloads_rules_keeping_state_and_refuses_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let (all, _) = generate(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (config, good) = reload_config(dir.path(), &logs);
    let rels = files(&all);
    for r in rels.iter().filter(|r| hour(r) <= 2) {
        copy(&all, &logs, r);
    }
    let serving = Serving::start(&config, &[]);
    let first: usize = rels
        .iter()
        .filter(|r| hour(r) <= 2)
        .map(|r| {
            std::fs::read_to_string(all.join(r))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    wait_for("the first part read", Duration::from_secs(60), || {
        serving.metric("kvsentry_events_read_total{input=\"logs\"}") == first as f64
    });

    // A new rule, then SIGHUP.
    std::fs::write(dir.path().join("rules/new.yml"), reads_rule(NEW_RULE, 2)).unwrap();
    let mark = serving.stderr().len();
    serving.signal("-HUP");
    serving.wait_log(mark, "serve: reloaded");
    let log = serving.stderr()[mark..].to_string();
    let fresh = log
        .lines()
        .find_map(|l| {
            l.split_once("start with fresh state: ")
                .map(|(_, r)| r.to_string())
        })
        .unwrap_or_else(|| panic!("no fresh rules in\n{log}"));
    assert_eq!(fresh.trim(), NEW_RULE, "only the new rule starts fresh");

    // A broken configuration: refused with its key and line; the running one goes on.
    std::fs::write(&config, format!("bogus = 1\n{good}")).unwrap();
    let mark = serving.stderr().len();
    serving.signal("-HUP");
    serving.wait_log(mark, "reload refused");
    let log = serving.stderr()[mark..].to_string();
    assert!(
        log.contains("kvsentry.toml:1:1: `bogus`: unknown key"),
        "{log}"
    );
    assert_eq!(serving.get("/healthz").unwrap().0, 200);
    for r in rels.iter().filter(|r| hour(r) > 2) {
        copy(&all, &logs, r);
    }
    let total: usize = rels
        .iter()
        .map(|r| {
            std::fs::read_to_string(all.join(r))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    wait_for("the second part read", Duration::from_secs(60), || {
        serving.metric("kvsentry_events_read_total{input=\"logs\"}") == total as f64
    });
    let metrics = serving.metrics();
    assert_eq!(
        metric(&metrics, "kvsentry_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "kvsentry_reloads_total{result=\"refused\"}"),
        Some(1.0)
    );
    let (code, _, _, stderr) = serving.terminate();
    assert_eq!(code, Some(0), "{stderr}");

    // The last windows close on a final run.
    std::fs::write(&config, &good).unwrap();
    ok(run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--once",
        "--flush",
    ]));
    let got = delivered(&dir.path().join("out/alerts.jsonl"));
    assert_eq!(ids(&got).len(), got.len(), "an alert delivered twice");
    let want = hunt(&logs, &dir.path().join("rules"));
    // Every rule but the new one: exactly hunt's alerts, windows across the reload included.
    let others = |a: &[Value]| ids(a.iter().filter(|a| a["rule"]["id"] != NEW_RULE));
    assert_eq!(others(&got), others(&want));
    assert!(of_rule(&got, OLD_RULE).count() > 0);
    // The new rule: hunt's alerts of the hours read after the reload only.
    let hours = |a: &[Value]| {
        of_rule(a, NEW_RULE)
            .map(|a| a["window"]["start"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
    };
    let (got_hours, want_hours) = (hours(&got), hours(&want));
    assert_eq!(want_hours.len(), 6, "{want_hours:?}");
    let late: BTreeSet<String> = want_hours.iter().skip(3).cloned().collect();
    assert_eq!(got_hours, late);
    let want_new: BTreeSet<String> =
        ids(of_rule(&want, NEW_RULE)
            .filter(|a| late.contains(a["window"]["start"].as_str().unwrap())));
    assert_eq!(ids(of_rule(&got, NEW_RULE)), want_new);
}

/// `POST /reload` answers with the outcome: 200 and what was loaded, 400 and why a broken
/// configuration (or a moved `state_dir`) was refused, while serving goes on.
#[test]
fn post_reload_answers_with_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = generate(dir.path());
    let (config, good) = reload_config(dir.path(), &logs);
    let serving = Serving::start(&config, &[]);
    let (status, body) = http(serving.addr, "POST", "/reload").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("reloaded "), "{body}");
    assert!(body.contains("kvsentry.toml: "), "{body}");

    std::fs::write(&config, good.replace("[[input]]", "[[input]]\npth = \"x\"")).unwrap();
    let (status, body) = http(serving.addr, "POST", "/reload").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("kvsentry.toml:4:1: `input[0].pth`: unknown key"),
        "{body}"
    );

    std::fs::write(&config, good.replace("\"state\"", "\"elsewhere\"")).unwrap();
    let (status, body) = http(serving.addr, "POST", "/reload").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`state_dir` changed"), "{body}");
    assert!(!dir.path().join("elsewhere").exists());

    assert_eq!(serving.get("/healthz").unwrap().0, 200);
    let metrics = serving.metrics();
    assert_eq!(
        metric(&metrics, "kvsentry_reloads_total{result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "kvsentry_reloads_total{result=\"refused\"}"),
        Some(2.0)
    );
    assert_eq!(http(serving.addr, "GET", "/reload").unwrap().0, 405);
    let (code, _, _, stderr) = serving.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// `[logging] format = "json"`: every line on stderr is a JSON object with a level and a
/// message; `level = "warn"` leaves out the pass reports.
#[test]
fn json_logging_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = generate(dir.path());
    let (config, good) = reload_config(dir.path(), &logs);
    std::fs::write(&config, format!("{good}[logging]\nformat = \"json\"\n")).unwrap();
    let out = ok(run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--once",
    ]));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let report = lines
        .iter()
        .find(|v| v["message"].as_str().unwrap().contains("event(s) read"))
        .unwrap_or_else(|| panic!("no pass report in\n{err}"));
    assert_eq!(report["level"], "INFO");
    assert!(report["timestamp"].is_string());

    std::fs::write(
        &config,
        format!("{good}[logging]\nformat = \"json\"\nlevel = \"warn\"\n"),
    )
    .unwrap();
    let out = ok(run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--once",
    ]));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");

    // An error that ends serve is a JSON line too: the output is a directory.
    std::fs::create_dir_all(dir.path().join("out/taken.jsonl")).unwrap();
    let broken = good.replace("out/alerts.jsonl", "out/taken.jsonl");
    std::fs::write(&config, format!("{broken}[logging]\nformat = \"json\"\n")).unwrap();
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let out = run(&["serve", "--config", config.to_str().unwrap(), "--once"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR", "{err}");
    let message = last["message"].as_str().unwrap();
    assert!(message.starts_with("output file-1: "), "{err}");
    for l in err.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
}

/// SIGTERM during serving: exit 0 within a few seconds, with what was read committed (a
/// later run reads nothing again).
#[test]
fn sigterm_exits_0_promptly_with_the_state_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (all, _) = generate(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (config, _) = reload_config(dir.path(), &logs);
    let serving = Serving::start(&config, &[]);
    let rels = files(&all);
    for r in &rels {
        copy(&all, &logs, r);
    }
    wait_for("some events read", Duration::from_secs(60), || {
        serving.metric("kvsentry_events_read_total{input=\"logs\"}") > 0.0
    });
    let (code, took, _, stderr) = serving.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(stderr.contains("SIGTERM: stopping"), "{stderr}");
    let read: u64 = stderr
        .lines()
        .filter_map(|l| l.split_once("serve: ")?.1.split_once(" event(s) read"))
        .map(|(n, _)| n.parse::<u64>().unwrap())
        .sum();
    let total: usize = rels
        .iter()
        .map(|r| {
            std::fs::read_to_string(all.join(r))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    // What was not read before the stop is read by the next run, and only that.
    let out = ok(run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--once",
    ]));
    let err = String::from_utf8(out.stderr).unwrap();
    let again: u64 = err
        .lines()
        .find_map(|l| l.split_once("serve: ")?.1.split_once(" event(s) read"))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap();
    assert_eq!(read + again, total as u64, "{stderr}\n{err}");
}

/// SIGTERM during a long `--once` pass: after its grace, the pass stops reading at its
/// next block, commits what it read and exits 0; the next run reads the rest, and only
/// that.
#[test]
fn sigterm_stops_a_once_run_mid_pass_and_commits_what_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    ok(run(&[
        "gen",
        "--storage-layout",
        "-o",
        logs.to_str().unwrap(),
        "--events",
        "300000",
        "--duration",
        "6h",
        "--seed",
        "3",
    ]));
    let total: usize = files(&logs)
        .iter()
        .map(|r| {
            std::fs::read_to_string(logs.join(r))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    let (config, _) = reload_config(dir.path(), &logs);
    let config = config.to_str().unwrap();
    let child = bin()
        .args(["serve", "--config", config, "--once", "--threads", "1"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = dir.path().join("state/state.redb");
    wait_for("the state opened", Duration::from_secs(60), || {
        state.exists()
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let read = |err: &str| -> usize {
        err.lines()
            .find_map(|l| l.split_once("serve: ")?.1.split_once(" event(s) read"))
            .map(|(n, _)| n.parse().unwrap())
            .unwrap_or_else(|| panic!("no pass report in\n{err}"))
    };
    let first = read(&err);
    // A pass over this much takes seconds: the stop came before its end.
    assert!(first < total, "{err}");
    assert!(
        err.contains("serve: stopped; what was read is committed"),
        "{err}"
    );
    let rest = String::from_utf8(ok(run(&["serve", "--config", config, "--once"])).stderr).unwrap();
    assert_eq!(first + read(&rest), total, "{err}\n{rest}");
    // A stopped pass concluded nothing: no event is late for it.
    assert!(!rest.contains("late"), "{rest}");
}
