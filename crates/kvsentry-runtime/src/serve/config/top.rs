//! The top-level keys of the file and its `[ti]` and `[logging]` tables.

use std::net::SocketAddr;
use std::path::PathBuf;

use kvsentry_rules::Dur;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _, IgnoredAny};

use super::value::{self, SecretEnv};

/// The top level as serde reads it; `[[input]]` and `[[output]]` are read apart (their `type`
/// chooses the keys they may have) and only named here so an unknown key's message lists them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Top {
    #[serde(deserialize_with = "value::path")]
    pub(crate) state_dir: PathBuf,
    #[serde(default, deserialize_with = "value::paths")]
    pub(crate) rules: Vec<PathBuf>,
    #[serde(default = "yes")]
    pub(crate) builtin: bool,
    #[serde(default = "fifteen_minutes")]
    pub(crate) allowed_lateness: Dur,
    pub(crate) idle_timeout: Option<Dur>,
    #[serde(default, deserialize_with = "listen")]
    pub(crate) listen: Option<SocketAddr>,
    #[serde(default)]
    pub(crate) ti: TiConfig,
    #[serde(default)]
    pub(crate) logging: LoggingConfig,
    #[allow(dead_code)]
    input: Option<IgnoredAny>,
    #[allow(dead_code)]
    output: Option<IgnoredAny>,
}

/// `[ti]`: threat intelligence, refreshed while serve runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TiConfig {
    /// Files and directories `hunt --ti` reads; re-read when they change.
    #[serde(deserialize_with = "value::paths")]
    pub paths: Vec<PathBuf>,
    /// TAXII 2.1 collections, fetched incrementally as `ti sync` does.
    pub taxii: Vec<TaxiiSource>,
    /// How often intel is refreshed (default 1h).
    #[serde(deserialize_with = "value::positive_dur")]
    pub refresh: Dur,
    /// How far back new indicators are matched against caller IPs seen (default 14d; 0: not).
    pub retro_lookback: Dur,
}

impl Default for TiConfig {
    fn default() -> Self {
        TiConfig {
            paths: Vec::new(),
            taxii: Vec::new(),
            refresh: Dur::parse("1h").expect("a valid duration"),
            retro_lookback: Dur::parse("14d").expect("a valid duration"),
        }
    }
}

impl TiConfig {
    /// True when no intel is configured.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.taxii.is_empty()
    }
}

/// One `taxii = [{ url = ..., collection = ... }]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawTaxii")]
pub struct TaxiiSource {
    /// The server (discovery at `<url>/taxii2/`).
    pub url: url::Url,
    pub collection: String,
    /// The API root (default: the server's default).
    pub api_root: Option<url::Url>,
    /// Basic auth: the user as written (`user`) or from the environment (`user_env`).
    pub user: Option<String>,
    pub user_env: Option<SecretEnv>,
    pub password_env: Option<SecretEnv>,
    /// Bearer token, instead of basic auth.
    pub token_env: Option<SecretEnv>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTaxii {
    #[serde(deserialize_with = "value::http_url")]
    url: url::Url,
    #[serde(deserialize_with = "value::non_empty")]
    collection: String,
    #[serde(default, deserialize_with = "value::opt_http_url")]
    api_root: Option<url::Url>,
    user: Option<String>,
    user_env: Option<SecretEnv>,
    password_env: Option<SecretEnv>,
    token_env: Option<SecretEnv>,
}

impl TryFrom<RawTaxii> for TaxiiSource {
    type Error = String;

    fn try_from(r: RawTaxii) -> Result<Self, String> {
        let has_user = r.user.is_some() || r.user_env.is_some();
        if r.user.is_some() && r.user_env.is_some() {
            return Err("give `user` or `user_env`, not both".into());
        }
        if has_user != r.password_env.is_some() {
            return Err(
                "basic auth needs both a user (`user` or `user_env`) and `password_env`".into(),
            );
        }
        if has_user && r.token_env.is_some() {
            return Err("give basic auth (`user`, `password_env`) or `token_env`, not both".into());
        }
        Ok(TaxiiSource {
            url: r.url,
            collection: r.collection,
            api_root: r.api_root,
            user: r.user,
            user_env: r.user_env,
            password_env: r.password_env,
            token_env: r.token_env,
        })
    }
}

/// `[logging]`: serve's own logs (not the input's form, which is `log_format`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LoggingFormat,
    pub level: LogLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoggingFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(|_| {
        D::Error::custom(format!(
            "bad listen address `{s}`: expected ip:port, e.g. 127.0.0.1:9464"
        ))
    })
}

/// Where `/healthz`, `/metrics` and `/reload` answer unless `listen` says otherwise: this
/// host only.
pub(crate) fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn yes() -> bool {
    true
}

fn fifteen_minutes() -> Dur {
    Dur::parse("15m").expect("a valid duration")
}
