//! Helpers shared by the tests that drive `kvsentry serve` (`#[path]`-included): running
//! the binary, generating Storage-layout logs with attacks and indicators, and comparing
//! what serve delivered with what `hunt` finds.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run kvsentry")
}

pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Six hours of Storage-layout blobs (one file per vault and hour) under `<dir>/all` with
/// every attack scenario injected, and a Sentinel indicator export some callers match
/// (`<dir>/ti.csv`).
pub fn generate(dir: &Path, events: u32, seed: u32, indicators: u32) -> (PathBuf, PathBuf) {
    let logs = dir.join("all");
    let ti = dir.join("ti.csv");
    ok(run(&[
        "gen",
        "--storage-layout",
        "-o",
        logs.to_str().unwrap(),
        "--events",
        &events.to_string(),
        "--duration",
        "6h",
        "--seed",
        &seed.to_string(),
        "--scenario",
        "standard",
        "--indicators",
        &indicators.to_string(),
        "--match-share",
        "0.05",
        "--indicators-output",
        ti.to_str().unwrap(),
    ]));
    (logs, ti)
}

/// Every file below `dir`, relative to it, in name order.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The hour of a Storage blob's path.
pub fn hour(rel: &Path) -> u32 {
    let s = rel.to_str().unwrap();
    let i = s.find("/h=").unwrap();
    s[i + 3..i + 5].parse().unwrap()
}

pub fn alert_id(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["alert_id"].as_str().unwrap().to_string()
}

/// The same alerts, line for line (the ids that differ on failure), each delivered once.
pub fn same_alerts(got: &[String], want: &BTreeSet<String>) {
    let ids: Vec<String> = got.iter().map(|l| alert_id(l)).collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "an alert delivered twice"
    );
    let got: BTreeSet<String> = got.iter().cloned().collect();
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        a.difference(b).map(|l| alert_id(l)).collect()
    };
    assert!(
        got == *want,
        "serve only: {:?}\nhunt only: {:?}",
        only(&got, want),
        only(want, &got)
    );
}

/// The same alerts when the data arrived in parts: window alerts line for line; an
/// indicator alert goes out at the end of the first run that matched its (indicator,
/// address), so it has hunt's id and carries the latest event of the data read by then.
pub fn same_alerts_over_parts(got: &[String], want: &BTreeSet<String>) {
    let parse = |l: &String| serde_json::from_str::<Value>(l).unwrap();
    let is_ti = |v: &Value| v["fields"].get("indicator_id").is_some();
    let (ti_got, windows_got): (Vec<String>, Vec<String>) =
        got.iter().cloned().partition(|l| is_ti(&parse(l)));
    let (ti_want, windows_want): (BTreeSet<String>, BTreeSet<String>) =
        want.iter().cloned().partition(|l| is_ti(&parse(l)));
    same_alerts(&windows_got, &windows_want);
    assert!(!ti_want.is_empty(), "the data has indicator matches");
    let by_id = |lines: &mut dyn Iterator<Item = &String>| {
        lines
            .map(|l| (alert_id(l), parse(l)))
            .collect::<BTreeMap<_, _>>()
    };
    let g = by_id(&mut ti_got.iter());
    let w = by_id(&mut ti_want.iter());
    assert_eq!(g.len(), ti_got.len(), "an indicator alert delivered twice");
    assert_eq!(g.keys().collect::<Vec<_>>(), w.keys().collect::<Vec<_>>());
    for (id, a) in &g {
        let b = &w[id];
        for f in ["indicator_id", "client_ip", "first_event_time"] {
            assert_eq!(a["fields"][f], b["fields"][f], "{id}: {f}");
        }
        assert!(a["fields"]["event_time"].as_str() <= b["fields"]["event_time"].as_str());
        assert!(a["fields"]["event_count"].as_u64() <= b["fields"]["event_count"].as_u64());
    }
}

/// One request a [`webhook_receiver`] got: whether it answered 200, and its headers (names
/// in lower case).
#[derive(Debug, Clone)]
pub struct Request {
    pub accepted: bool,
    pub headers: BTreeMap<String, String>,
}

/// A local HTTP receiver on 127.0.0.1 that answers 500 to the first `fail` requests and 200
/// after, recording every request: its URL, and the requests in arrival order.
pub fn webhook_receiver(fail: usize) -> (String, Arc<Mutex<Vec<Request>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            // Requests on one connection, one after another.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut headers = BTreeMap::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (name, value) = h.split_once(':').unwrap();
                    headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
                }
                let len = headers
                    .get("content-length")
                    .map_or(0, |l| l.parse().unwrap());
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let mut all = seen.lock().unwrap();
                let accepted = all.len() >= fail;
                all.push(Request { accepted, headers });
                drop(all);
                let status = if accepted {
                    "200 OK"
                } else {
                    "500 Internal Server Error"
                };
                let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                if stream.write_all(answer.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (url, requests)
}

/// The value of header `name` of each accepted request.
pub fn accepted_headers(requests: &Mutex<Vec<Request>>, name: &str) -> Vec<String> {
    let requests = requests.lock().unwrap();
    requests
        .iter()
        .filter(|r| r.accepted)
        .filter_map(|r| r.headers.get(name).cloned())
        .collect()
}
