//! `[[input]]` sections: where serve reads the logs (a followed directory, a Storage
//! account's container, a Kafka or Event Hubs topic).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kvsentry_ingest::LogFormat;
use kvsentry_rules::Dur;
use serde::Deserialize;

use super::value::{self, SecretEnv};

/// One `[[input]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// `name`, else `<type>-<n>` (the n-th input of that type, from 1). It keys the input's
    /// checkpoints and metrics: name inputs explicitly so reordering the file keeps them.
    pub name: String,
    /// `log_format` (the forms of `hunt --log-format`); `None` detects it.
    pub log_format: Option<LogFormat>,
    pub kind: InputKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Files(FilesInput),
    AzureBlob(AzureBlobInput),
    Kafka(KafkaInput),
}

impl InputKind {
    /// The `type` values, in the order of the enum.
    pub const TYPES: [&'static str; 3] = ["files", "azure_blob", "kafka"];

    /// The `type` that chose this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            InputKind::Files(_) => "files",
            InputKind::AzureBlob(_) => "azure_blob",
            InputKind::Kafka(_) => "kafka",
        }
    }
}

/// `type = "files"`: follow a directory (or one file): new files and lines appended.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesInput {
    #[serde(deserialize_with = "value::path")]
    pub path: PathBuf,
    /// Descend into subdirectories (default true, as `hunt` does).
    #[serde(default = "yes")]
    pub recursive: bool,
    /// Only files whose name matches this pattern (e.g. `"*.json"`).
    #[serde(default, deserialize_with = "glob_pattern")]
    pub glob: Option<String>,
    /// How often to look for new files and bytes (default 1s).
    #[serde(default = "one_second", deserialize_with = "value::positive_dur")]
    pub poll_interval: Dur,
}

/// `type = "azure_blob"`: the container a diagnostic setting archives to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAzureBlob")]
pub struct AzureBlobInput {
    pub auth: BlobAuth,
    pub container: String,
    /// Another endpoint than `https://<account>.blob.core.windows.net` (Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: Option<url::Url>,
    /// Only blobs whose name starts with this (e.g. `resourceId=/SUBSCRIPTIONS/<id>/`).
    pub prefix: Option<String>,
    /// How often to list the container for new blobs and bytes (default 60s).
    pub poll_interval: Dur,
}

/// How serve signs in to the Storage account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobAuth {
    /// `connection_string_env`: the account's connection string.
    ConnectionString(SecretEnv),
    /// `account` + `key_env`: a shared key.
    Key { account: String, key: SecretEnv },
    /// `account` + `sas_env`: a SAS token with list and read rights on the container.
    Sas { account: String, sas: SecretEnv },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAzureBlob {
    account: Option<String>,
    connection_string_env: Option<SecretEnv>,
    key_env: Option<SecretEnv>,
    sas_env: Option<SecretEnv>,
    #[serde(deserialize_with = "value::non_empty")]
    container: String,
    #[serde(default, deserialize_with = "value::opt_http_url")]
    endpoint: Option<url::Url>,
    prefix: Option<String>,
    #[serde(default = "sixty_seconds", deserialize_with = "value::positive_dur")]
    poll_interval: Dur,
}

impl TryFrom<RawAzureBlob> for AzureBlobInput {
    type Error = String;

    fn try_from(r: RawAzureBlob) -> Result<Self, String> {
        const HOW: &str = "give `connection_string_env`, or `account` with `key_env` or `sas_env`";
        let auth = match (r.connection_string_env, r.key_env, r.sas_env, r.account) {
            (Some(c), None, None, None) => BlobAuth::ConnectionString(c),
            (None, Some(key), None, Some(account)) => BlobAuth::Key { account, key },
            (None, None, Some(sas), Some(account)) => BlobAuth::Sas { account, sas },
            (Some(_), _, _, Some(_)) => {
                return Err(format!(
                    "`account` comes from the connection string: {HOW}, not both"
                ));
            }
            (None, None, None, _) => return Err(format!("no credentials: {HOW}")),
            (None, Some(_), None, None) | (None, None, Some(_), None) => {
                return Err(format!("`key_env` and `sas_env` need `account`: {HOW}"));
            }
            _ => return Err(format!("several credentials: {HOW}, only one")),
        };
        if let BlobAuth::Key { account, .. } | BlobAuth::Sas { account, .. } = &auth {
            check_account(account)?;
        }
        check_container(&r.container)?;
        Ok(AzureBlobInput {
            auth,
            container: r.container,
            endpoint: r.endpoint,
            prefix: r.prefix.filter(|p| !p.is_empty()),
            poll_interval: r.poll_interval,
        })
    }
}

/// Azure's rule for account names: 3 to 24 lowercase letters and digits.
fn check_account(a: &str) -> Result<(), String> {
    if (3..=24).contains(&a.len())
        && a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!(
            "bad account `{a}`: a Storage account name has 3 to 24 lowercase letters and digits"
        ))
    }
}

/// Azure's rule for container names: 3 to 63 of lowercase letters, digits and single `-`,
/// starting and ending with a letter or digit.
fn check_container(c: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && !c.starts_with('-')
        && !c.ends_with('-')
        && !c.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad container `{c}`: 3 to 63 lowercase letters, digits and single hyphens (the \
             diagnostic setting's is `insights-logs-auditevent`)"
        ))
    }
}

/// `type = "kafka"`: a Kafka topic, or an Event Hub through its Kafka endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawKafkaInput")]
pub struct KafkaInput {
    pub brokers: Vec<String>,
    pub topic: String,
    /// The consumer group (default `kvsentry`); Event Hubs needs it created on the hub.
    pub group_id: String,
    /// Event Hubs: SASL_SSL PLAIN with user `$ConnectionString` and this as the password.
    pub connection_string_env: Option<SecretEnv>,
    /// librdkafka properties for plain Kafka (`security.protocol`, `sasl.username`, ...).
    pub settings: BTreeMap<String, String>,
    /// librdkafka properties whose values are secrets, as environment variable names.
    pub secret_settings: BTreeMap<String, SecretEnv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafkaInput {
    #[serde(deserialize_with = "value::brokers")]
    brokers: Vec<String>,
    #[serde(deserialize_with = "value::non_empty")]
    topic: String,
    #[serde(default = "default_group", deserialize_with = "value::non_empty")]
    group_id: String,
    connection_string_env: Option<SecretEnv>,
    #[serde(default, deserialize_with = "value::settings")]
    settings: BTreeMap<String, String>,
    #[serde(default)]
    secret_settings: BTreeMap<String, SecretEnv>,
}

impl TryFrom<RawKafkaInput> for KafkaInput {
    type Error = String;

    fn try_from(r: RawKafkaInput) -> Result<Self, String> {
        check_kafka_auth(
            r.connection_string_env.is_some(),
            &r.settings,
            &r.secret_settings,
        )?;
        Ok(KafkaInput {
            brokers: r.brokers,
            topic: r.topic,
            group_id: r.group_id,
            connection_string_env: r.connection_string_env,
            settings: r.settings,
            secret_settings: r.secret_settings,
        })
    }
}

/// Event Hubs' connection string sets the SASL properties itself: the same set by hand too
/// would leave it unclear which wins. `group.id` has its own key.
pub(crate) fn check_kafka_auth(
    event_hubs: bool,
    settings: &BTreeMap<String, String>,
    secret_settings: &BTreeMap<String, SecretEnv>,
) -> Result<(), String> {
    const SET_BY_EVENT_HUBS: [&str; 4] = [
        "security.protocol",
        "sasl.mechanism",
        "sasl.username",
        "sasl.password",
    ];
    let keys = || settings.keys().chain(secret_settings.keys());
    if event_hubs && let Some(k) = keys().find(|k| SET_BY_EVENT_HUBS.contains(&k.as_str())) {
        return Err(format!(
            "`{k}` is set by `connection_string_env` (Event Hubs: SASL_SSL, PLAIN, \
             $ConnectionString); remove it from the settings"
        ));
    }
    for k in ["bootstrap.servers", "group.id"] {
        if keys().any(|s| s == k) {
            return Err(format!(
                "`{k}` has its own key (`brokers`, `group_id`); remove it from the settings"
            ));
        }
    }
    Ok(())
}

fn glob_pattern<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = value::non_empty(d)?;
    glob::Pattern::new(&s)
        .map_err(|e| serde::de::Error::custom(format!("bad pattern `{s}`: {e}")))?;
    Ok(Some(s))
}

fn yes() -> bool {
    true
}

fn one_second() -> Dur {
    Dur::parse("1s").expect("a valid duration")
}

fn sixty_seconds() -> Dur {
    Dur::parse("60s").expect("a valid duration")
}

fn default_group() -> String {
    "kvsentry".into()
}
