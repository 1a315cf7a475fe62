//! The webhook against a real HTTP server (tiny_http) on 127.0.0.1 that fails the first
//! attempts as a receiver under trouble would, then accepts.

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{alert, line};
use kvsentry_output::encode::JsonLines;
use kvsentry_output::sink::{Backoff, WebhookStats, WebhookTransport};
use kvsentry_output::{AlertSink, DeliveryError, Sink, Transport};

const SECRET: &str = "Bearer s3cr3t-token";

/// How the receiver answers one request.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    /// Answers after the client gave up.
    Late(Duration),
    /// 429 with this `Retry-After`.
    TooMany(&'static str),
    /// 400 for this caller's alert, 200 for the others.
    RefuseCaller(usize),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    url: String,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

struct Receiver {
    server: Arc<tiny_http::Server>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Answers the nth request with `script[n]`, and 200 once the script is done.
    fn start(script: Vec<Reply>) -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (server, seen) = (server.clone(), seen.clone());
            std::thread::spawn(move || {
                for (n, mut req) in server.incoming_requests().enumerate() {
                    let header = |name: &str| {
                        req.headers()
                            .iter()
                            .find(|h| h.field.to_string().eq_ignore_ascii_case(name))
                            .map(|h| h.value.as_str().to_owned())
                    };
                    let mut got = Seen {
                        method: req.method().to_string(),
                        url: req.url().to_owned(),
                        idempotency_key: header("Idempotency-Key"),
                        content_type: header("Content-Type"),
                        authorization: header("Authorization"),
                        body: Vec::new(),
                    };
                    req.as_reader().read_to_end(&mut got.body).unwrap();
                    let key = got.idempotency_key.clone();
                    seen.lock().unwrap().push(got);
                    let reply = script.get(n).copied().unwrap_or(Reply::Status(200));
                    let status =
                        |code: u16| tiny_http::Response::from_string("").with_status_code(code);
                    let resp = match reply {
                        Reply::Status(code) => status(code),
                        Reply::Late(after) => {
                            // Answered aside, so the retry that follows is not held up.
                            std::thread::spawn(move || {
                                std::thread::sleep(after);
                                let _ = req.respond(status(200));
                            });
                            continue;
                        }
                        Reply::TooMany(after) => status(429).with_header(
                            tiny_http::Header::from_bytes("Retry-After", after).unwrap(),
                        ),
                        Reply::RefuseCaller(c) if key == Some(alert(c).alert_id) => status(400),
                        Reply::RefuseCaller(_) => status(200),
                    };
                    // The client may be gone (the late answer): nothing to do about it.
                    let _ = req.respond(resp);
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
        let port = self.server.server_addr().to_ip().unwrap().port();
        format!("http://127.0.0.1:{port}/hooks/kv?token=s3cr3t-url")
    }

    /// Every request received, once the client is done.
    fn stop(mut self) -> Vec<Seen> {
        self.server.unblock();
        self.thread.take().unwrap().join().unwrap();
        self.seen.lock().unwrap().clone()
    }
}

/// Fast retries, a short timeout, and the secret header.
fn webhook(url: &str, attempts: u32) -> WebhookTransport {
    WebhookTransport::new(url)
        .with_timeout(Duration::from_secs(1))
        .with_header("Authorization", SECRET)
        .with_backoff(Backoff {
            attempts,
            initial: Duration::from_millis(2),
            max: Duration::from_millis(50),
        })
}

#[test]
fn failed_attempts_are_retried_with_the_same_key_and_body_until_accepted() {
    let rx = Receiver::start(vec![
        Reply::Status(500),
        Reply::Late(Duration::from_secs(3)),
        Reply::TooMany("0"),
        Reply::Status(200),
    ]);
    let mut t = webhook(&rx.url(), 6);
    let a = alert(1);
    let bytes = line(&a);
    t.deliver(&a, &bytes).unwrap();
    assert_eq!(
        t.stats(),
        WebhookStats {
            delivered: 1,
            failed: 0,
            retries: 3,
        }
    );
    let seen = rx.stop();
    assert_eq!(seen.len(), 4, "500, timeout, 429, then accepted");
    for s in &seen {
        assert_eq!(
            s,
            &Seen {
                method: "POST".into(),
                url: "/hooks/kv?token=s3cr3t-url".into(),
                idempotency_key: Some(a.alert_id.clone()),
                content_type: Some("application/json".into()),
                authorization: Some(SECRET.into()),
                body: bytes.clone(),
            }
        );
    }
}

#[test]
fn a_permanent_refusal_fails_the_alert_without_retries_and_shows_no_secret() {
    let rx = Receiver::start(vec![Reply::Status(400)]);
    let mut t = webhook(&rx.url(), 5);
    let a = alert(2);
    let err = match t.deliver(&a, &line(&a)) {
        Err(DeliveryError::Alert(e)) => e.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(err, "the webhook answered 400 Bad Request");
    assert_eq!(
        t.stats(),
        WebhookStats {
            delivered: 0,
            failed: 1,
            retries: 0,
        }
    );
    assert_eq!(rx.stop().len(), 1);
}

#[test]
fn retries_run_out_as_that_alerts_failure_408_and_5xx_retried() {
    let rx = Receiver::start(vec![
        Reply::Status(408),
        Reply::Status(502),
        Reply::Status(503),
    ]);
    let mut t = webhook(&rx.url(), 3);
    let a = alert(3);
    let err = match t.deliver(&a, &line(&a)) {
        Err(DeliveryError::Alert(e)) => e.to_string(),
        other => panic!("not Closed: {other:?}"),
    };
    assert_eq!(
        err,
        "the webhook answered 503 Service Unavailable (gave up after 3 attempts)"
    );
    assert_eq!(t.stats().retries, 2);
    assert_eq!(t.stats().failed, 1);
    assert_eq!(rx.stop().len(), 3);
}

#[test]
fn retry_after_is_waited_for_within_the_cap() {
    let rx = Receiver::start(vec![Reply::TooMany("1")]);
    let mut t = webhook(&rx.url(), 3).with_backoff(Backoff {
        attempts: 3,
        initial: Duration::from_millis(1),
        max: Duration::from_secs(5),
    });
    let a = alert(4);
    let started = Instant::now();
    t.deliver(&a, &line(&a)).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.stop().len(), 2);

    // An hour asked, a 50 ms cap: the cap wins.
    let rx = Receiver::start(vec![Reply::TooMany("3600")]);
    let mut t = webhook(&rx.url(), 3);
    let started = Instant::now();
    t.deliver(&a, &line(&a)).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.stop().len(), 2);
}

#[test]
fn a_receiver_that_is_down_fails_the_alert_after_the_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut t = webhook(&format!("http://127.0.0.1:{port}/kv"), 3);
    let a = alert(5);
    match t.deliver(&a, &line(&a)) {
        Err(DeliveryError::Alert(e)) => {
            let msg = e.to_string();
            assert!(msg.ends_with("(gave up after 3 attempts)"), "{msg}");
            assert!(!msg.contains(&port.to_string()), "no URL in {msg}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.stats().retries, 2);
}

#[test]
fn through_a_sink_a_refused_alert_is_kept_and_the_others_go() {
    let rx = Receiver::start(vec![Reply::RefuseCaller(1); 3]);
    let mut sink = Sink::new(JsonLines::new(), webhook(&rx.url(), 3));
    for n in 0..3 {
        sink.write(&alert(n)).unwrap();
    }
    sink.finish().unwrap();
    let failed: Vec<&str> = sink
        .failures()
        .iter()
        .map(|f| f.alert_id.as_str())
        .collect();
    assert_eq!(failed, [alert(1).alert_id]);
    let keys: Vec<String> = rx
        .stop()
        .into_iter()
        .map(|s| s.idempotency_key.unwrap())
        .collect();
    assert_eq!(keys, (0..3).map(|n| alert(n).alert_id).collect::<Vec<_>>());
}
