//! A webhook: one HTTP POST per alert, retried with backoff, idempotent by alert id.
//!
//! Each request carries the alert's JSON as its body and `Idempotency-Key: <alert id>`, so a
//! receiver can drop a repeat (delivery is at least once: an answer lost on the way back
//! makes the alert go again). Connection errors, timeouts, 408, 429 and 5xx are retried with
//! exponential backoff and jitter (429 and 503 wait what `Retry-After` asks, within the cap);
//! any other answer outside 2xx fails the alert at once. An alert whose retries ran out is
//! that alert's failure ([`DeliveryError::Alert`]), never the end of the transport: the
//! caller keeps it and tries again later. `deliver` blocks while it waits between attempts.
//! A caller that schedules retries itself (serve's delivery workers, which must be able to
//! stop while waiting) sets one attempt and reads [`Rejection::of`] the error: whether
//! trying again can help, and how long the receiver asked to wait.
//!
//! Header values (an `Authorization` token, say) and the URL (which may hold a token too)
//! appear in no error and no `Debug` output.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io;
use std::time::Duration;

use kvsentry_model::Alert;

use super::{DeliveryError, Transport};

/// How often and how long a webhook delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Requests per alert, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each retry after.
    pub initial: Duration,
    /// The longest wait between two attempts, `Retry-After` included.
    pub max: Duration,
}

impl Default for Backoff {
    /// 5 attempts, waiting about 0.5 s, 1 s, 2 s and 4 s between them, never over 30 s.
    fn default() -> Self {
        Backoff {
            attempts: 5,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait before retry `n` (0 for the first): `initial · 2ⁿ` capped at `max`, of which
    /// a random half is dropped so that many senders do not retry in step.
    pub fn delay(&self, n: u32) -> Duration {
        let full = self
            .initial
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.max);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            RandomState::new().hash_one(n) % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// Counts of what a [`WebhookTransport`] did, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Alerts the receiver accepted.
    pub delivered: u64,
    /// Alerts given up on (a permanent refusal, or retries run out).
    pub failed: u64,
    /// Requests that were retries of an earlier one.
    pub retries: u64,
}

/// Why the receiver did not take an alert: the payload of the `io::Error` in a
/// [`DeliveryError::Alert`] from [`WebhookTransport`]. Shown as the reason alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct Rejection {
    why: String,
    permanent: bool,
    retry_after: Option<Duration>,
}

impl Rejection {
    /// The rejection inside an error from [`WebhookTransport::deliver`], if it is one.
    pub fn of(error: &io::Error) -> Option<&Rejection> {
        error.get_ref()?.downcast_ref()
    }

    /// The receiver refused the alert as it is (a 4xx other than 408 and 429, a 3xx, a bad
    /// URL): sending it again unchanged will be refused again.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// How long the receiver asked to wait (`Retry-After` on a 429 or 5xx).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// POSTs each alert to a URL.
pub struct WebhookTransport {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
    backoff: Backoff,
    stats: WebhookStats,
}

impl WebhookTransport {
    /// A webhook to `url` (http or https), 10 s per request, retried as [`Backoff::default`].
    pub fn new(url: impl Into<String>) -> Self {
        WebhookTransport {
            agent: agent(Duration::from_secs(10)),
            url: url.into(),
            headers: Vec::new(),
            backoff: Backoff::default(),
            stats: WebhookStats::default(),
        }
    }

    /// Gives each request at most `timeout`, from connecting to the end of the answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.agent = agent(timeout);
        self
    }

    /// Sends a header with every request (`Authorization: Bearer …`, say). The value is a
    /// secret as far as this transport is concerned: it is never shown.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Retries as `backoff` says.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// What this transport did so far.
    pub fn stats(&self) -> WebhookStats {
        self.stats
    }

    /// One request.
    fn attempt(&self, alert: &Alert, bytes: &[u8]) -> Outcome {
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &alert.alert_id);
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        let mut resp = match req.send(bytes) {
            Ok(resp) => resp,
            Err(e) => return transport_error(e),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // Read the answer so the connection can carry the next request; what it says is
        // of no use here.
        let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
        let why = format!("the webhook answered {status}");
        match status.as_u16() {
            200..=299 => Outcome::Delivered,
            408 | 429 | 500..=599 => Outcome::Retry {
                why,
                after: retry_after,
            },
            _ => Outcome::Refused(why),
        }
    }
}

impl fmt::Debug for WebhookTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("WebhookTransport")
            .field("headers", &names)
            .field("backoff", &self.backoff)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Transport for WebhookTransport {
    fn deliver(&mut self, alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        let attempts = self.backoff.attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            let (why, after) = match self.attempt(alert, bytes) {
                Outcome::Delivered => {
                    self.stats.delivered += 1;
                    return Ok(());
                }
                Outcome::Refused(why) => {
                    self.stats.failed += 1;
                    return Err(rejected(why, true, None));
                }
                Outcome::Retry { why, after } => (why, after),
            };
            if n >= attempts {
                self.stats.failed += 1;
                let why = if attempts > 1 {
                    format!("{why} (gave up after {n} attempts)")
                } else {
                    why
                };
                return Err(rejected(why, false, after));
            }
            let wait = match after {
                Some(after) => after.min(self.backoff.max),
                None => self.backoff.delay(n - 1),
            };
            std::thread::sleep(wait);
            self.stats.retries += 1;
        }
    }

    /// Nothing is buffered: each alert was answered when delivered.
    fn finish(&mut self, _trailer: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// What one request came to.
enum Outcome {
    Delivered,
    /// Worth trying again, after `after` when the receiver said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// The receiver will not take this alert as it is.
    Refused(String),
}

fn rejected(why: String, permanent: bool, retry_after: Option<Duration>) -> DeliveryError {
    DeliveryError::Alert(io::Error::other(Rejection {
        why,
        permanent,
        retry_after,
    }))
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // A redirected POST may change method or lose its body: a 3xx is refused instead.
        .max_redirects(0)
        .user_agent(concat!("kvsentry/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Connection trouble is retried; a request that cannot be made (a bad URL, a TLS
/// certificate refused) is not. The messages name neither the URL nor a header.
fn transport_error(e: ureq::Error) -> Outcome {
    use ureq::Error as E;
    match e {
        E::Io(io) => Outcome::Retry {
            why: format!("webhook connection failed: {io}"),
            after: None,
        },
        E::Timeout(t) => Outcome::Retry {
            why: format!("the webhook did not answer in time ({t})"),
            after: None,
        },
        E::HostNotFound => Outcome::Retry {
            why: "webhook host not found".into(),
            after: None,
        },
        E::ConnectionFailed => Outcome::Retry {
            why: "webhook connection failed".into(),
            after: None,
        },
        E::Protocol(p) => Outcome::Retry {
            why: format!("webhook protocol error: {p}"),
            after: None,
        },
        E::BadUri(_) => Outcome::Refused("the webhook URL is not valid".into()),
        other => Outcome::Refused(format!("webhook request failed: {other}")),
    }
}

/// `Retry-After`: seconds, or an HTTP date (the wait until then).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(value).ok()?;
    let wait = at.duration_since(jiff::Timestamp::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_within_the_upper_half_and_caps() {
        let b = Backoff {
            attempts: 10,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        for (n, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            let full = Duration::from_millis(full);
            for _ in 0..20 {
                let d = b.delay(n);
                assert!(
                    d >= full / 2 && d <= full,
                    "retry {n}: {d:?} against {full:?}"
                );
            }
        }
        let zero = Backoff {
            initial: Duration::ZERO,
            ..b
        };
        assert_eq!(zero.delay(3), Duration::ZERO);
    }

    #[test]
    fn jitter_varies() {
        let b = Backoff::default();
        let waits: std::collections::BTreeSet<Duration> = (0..20).map(|_| b.delay(2)).collect();
        assert!(waits.len() > 1, "{waits:?}");
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        // A date gone by: no wait.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let wait = parse_retry_after(&header).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    /// With one attempt, the caller reads from the error whether to try again and when.
    #[test]
    fn a_rejection_says_whether_it_is_for_good_and_how_long_to_wait() {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", server.server_addr().to_ip().unwrap());
        let answers = std::thread::spawn(move || {
            let mut keys = Vec::new();
            for (status, retry_after) in [(400, None), (503, Some("3")), (429, None)] {
                let req = server.recv().unwrap();
                let key = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Idempotency-Key"));
                keys.push(key.unwrap().value.to_string());
                let mut resp = tiny_http::Response::from_string("").with_status_code(status);
                if let Some(v) = retry_after {
                    resp.add_header(
                        tiny_http::Header::from_bytes("Retry-After", v.as_bytes()).unwrap(),
                    );
                }
                req.respond(resp).unwrap();
            }
            keys
        });
        let mut t = WebhookTransport::new(url).with_backoff(Backoff {
            attempts: 1,
            ..Backoff::default()
        });
        let alert = crate::testutil::alert();
        let mut rejections = Vec::new();
        for _ in 0..3 {
            match t.deliver(&alert, b"{}") {
                Err(DeliveryError::Alert(e)) => rejections.push(Rejection::of(&e).unwrap().clone()),
                other => panic!("{other:?}"),
            }
        }
        let seen: Vec<(String, bool, Option<Duration>)> = rejections
            .iter()
            .map(|r| (r.to_string(), r.is_permanent(), r.retry_after()))
            .collect();
        assert_eq!(
            seen,
            [
                ("the webhook answered 400 Bad Request".into(), true, None),
                (
                    "the webhook answered 503 Service Unavailable".into(),
                    false,
                    Some(Duration::from_secs(3))
                ),
                (
                    "the webhook answered 429 Too Many Requests".into(),
                    false,
                    None
                ),
            ]
        );
        assert_eq!(t.stats().retries, 0);
        assert_eq!(answers.join().unwrap(), vec![alert.alert_id.clone(); 3]);
        assert!(Rejection::of(&io::Error::other("plain")).is_none());
    }

    #[test]
    fn debug_shows_no_secret() {
        let t = WebhookTransport::new("https://hooks.example/kv?token=s3cr3t-url")
            .with_header("Authorization", "Bearer s3cr3t-header");
        let shown = format!("{t:?}");
        assert!(shown.contains("Authorization"), "{shown}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }
}
