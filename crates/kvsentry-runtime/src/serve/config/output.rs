//! `[[output]]` sections: where serve delivers alerts (a file, a webhook, stdout, a Kafka
//! topic).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kvsentry_rules::Dur;
use serde::Deserialize;

use super::input::check_kafka_auth;
use super::value::{self, SecretEnv};

/// One `[[output]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// `name`, else `<type>-<n>` (the n-th output of that type, from 1); it keys the alert
    /// ledger and the metrics of the sink.
    pub name: String,
    pub kind: OutputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKind {
    File(FileOutput),
    Webhook(WebhookOutput),
    Stdout,
    Kafka(KafkaOutput),
}

impl OutputKind {
    /// The `type` values, in the order of the enum.
    pub const TYPES: [&'static str; 4] = ["file", "webhook", "stdout", "kafka"];

    /// The `type` that chose this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            OutputKind::File(_) => "file",
            OutputKind::Webhook(_) => "webhook",
            OutputKind::Stdout => "stdout",
            OutputKind::Kafka(_) => "kafka",
        }
    }
}

/// `type = "stdout"` takes no other key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StdoutOutput {}

/// `type = "file"`: JSON lines, rotated by size.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutput {
    #[serde(deserialize_with = "value::path")]
    pub path: PathBuf,
    /// Start a new file when this one would pass this size (`"100MB"`); `None`: never.
    #[serde(default, deserialize_with = "value::byte_size")]
    pub rotate_bytes: Option<u64>,
    /// Rotated files kept beside the current one (default 5).
    #[serde(default = "five")]
    pub keep: u32,
}

/// `type = "webhook"`: one POST per alert (JSON) with an `Idempotency-Key` header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawWebhook")]
pub struct WebhookOutput {
    pub url: url::Url,
    /// Extra headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Headers whose values are secrets (`Authorization`), as environment variable names.
    pub secret_headers: BTreeMap<String, SecretEnv>,
    /// For one request (default 10s).
    pub timeout: Dur,
    /// Attempts after the first before the alert waits in the state store for a later round
    /// (default 5).
    pub max_retries: u32,
    /// The first wait between attempts, doubled each time (default 1s) up to `max_backoff`
    /// (default 5m).
    pub backoff: Dur,
    pub max_backoff: Dur,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    #[serde(deserialize_with = "value::http_url")]
    url: url::Url,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    secret_headers: BTreeMap<String, SecretEnv>,
    #[serde(default = "ten_seconds", deserialize_with = "value::positive_dur")]
    timeout: Dur,
    #[serde(default = "five")]
    max_retries: u32,
    #[serde(default = "one_second", deserialize_with = "value::positive_dur")]
    backoff: Dur,
    #[serde(default = "five_minutes", deserialize_with = "value::positive_dur")]
    max_backoff: Dur,
}

impl TryFrom<RawWebhook> for WebhookOutput {
    type Error = String;

    fn try_from(r: RawWebhook) -> Result<Self, String> {
        for name in r.headers.keys().chain(r.secret_headers.keys()) {
            check_header_name(name)?;
        }
        if let Some(h) = r
            .headers
            .keys()
            .find(|h| h.eq_ignore_ascii_case("authorization"))
        {
            return Err(format!(
                "`{h}` carries a secret: name its environment variable in `secret_headers` \
                 instead, e.g. secret_headers = {{ Authorization = \"KV_HOOK_AUTH\" }}"
            ));
        }
        if r.backoff.as_nanos() > r.max_backoff.as_nanos() {
            return Err(format!(
                "`backoff` ({}) is longer than `max_backoff` ({})",
                r.backoff, r.max_backoff
            ));
        }
        Ok(WebhookOutput {
            url: r.url,
            headers: r.headers,
            secret_headers: r.secret_headers,
            timeout: r.timeout,
            max_retries: r.max_retries,
            backoff: r.backoff,
            max_backoff: r.max_backoff,
        })
    }
}

/// A header name is an HTTP token; `Idempotency-Key` and `Content-Type` are serve's own.
fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if !token {
        return Err(format!("bad header name `{name}`"));
    }
    for own in ["idempotency-key", "content-type"] {
        if name.eq_ignore_ascii_case(own) {
            return Err(format!("`{name}` is set by kvsentry on every request"));
        }
    }
    Ok(())
}

/// `type = "kafka"`: each alert as a JSON message (key: the alert id) to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawKafkaOutput")]
pub struct KafkaOutput {
    pub brokers: Vec<String>,
    pub topic: String,
    /// Event Hubs: SASL_SSL PLAIN with user `$ConnectionString` and this as the password.
    pub connection_string_env: Option<SecretEnv>,
    pub settings: BTreeMap<String, String>,
    pub secret_settings: BTreeMap<String, SecretEnv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafkaOutput {
    #[serde(deserialize_with = "value::brokers")]
    brokers: Vec<String>,
    #[serde(deserialize_with = "value::non_empty")]
    topic: String,
    connection_string_env: Option<SecretEnv>,
    #[serde(default, deserialize_with = "value::settings")]
    settings: BTreeMap<String, String>,
    #[serde(default)]
    secret_settings: BTreeMap<String, SecretEnv>,
}

impl TryFrom<RawKafkaOutput> for KafkaOutput {
    type Error = String;

    fn try_from(r: RawKafkaOutput) -> Result<Self, String> {
        check_kafka_auth(
            r.connection_string_env.is_some(),
            &r.settings,
            &r.secret_settings,
        )?;
        Ok(KafkaOutput {
            brokers: r.brokers,
            topic: r.topic,
            connection_string_env: r.connection_string_env,
            settings: r.settings,
            secret_settings: r.secret_settings,
        })
    }
}

fn five() -> u32 {
    5
}

fn one_second() -> Dur {
    Dur::parse("1s").expect("a valid duration")
}

fn ten_seconds() -> Dur {
    Dur::parse("10s").expect("a valid duration")
}

fn five_minutes() -> Dur {
    Dur::parse("5m").expect("a valid duration")
}
