//! The checked value types of the configuration: secrets named by environment variables,
//! URLs, sizes, broker lists, librdkafka settings, and the checks shared by several keys.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use kvsentry_ingest::LogFormat;
use kvsentry_rules::Dur;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use toml::Spanned;

/// A secret read from the environment. Printed as `***` by `Debug` and `Display`, so a
/// configuration can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it (a client's credentials).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A key of the file that names an environment variable holding a secret
/// (`connection_string_env = "KV_EH_CONN"`); the value is there after
/// [`ServeConfig::resolve_secrets`](super::ServeConfig::resolve_secrets).
#[derive(Clone)]
pub struct SecretEnv {
    var: String,
    value: Option<Secret>,
    /// The key path and `file:line`, filled at load, for the message when the variable is unset.
    pub(crate) key: String,
    pub(crate) at: String,
    pub(crate) span: Range<usize>,
}

impl SecretEnv {
    /// The environment variable's name.
    pub fn var(&self) -> &str {
        &self.var
    }

    /// The secret, once resolved.
    pub fn secret(&self) -> Option<&Secret> {
        self.value.as_ref()
    }

    pub(crate) fn set(&mut self, value: Secret) {
        self.value = Some(value);
    }
}

/// Equal when they name the same variable and hold the same value: where the key stood in the
/// file does not matter (a reload compares configurations).
impl PartialEq for SecretEnv {
    fn eq(&self, other: &Self) -> bool {
        self.var == other.var && self.value == other.value
    }
}

impl Eq for SecretEnv {}

impl fmt::Debug for SecretEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretEnv")
            .field("var", &self.var)
            .field("value", &self.value)
            .finish()
    }
}

impl<'de> Deserialize<'de> for SecretEnv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<String>::deserialize(d)?;
        let span = s.span();
        let var = s.into_inner();
        if !is_env_name(&var) {
            return Err(D::Error::custom(format!(
                "`{var}` is not an environment variable name (letters, digits and `_`, not \
                 starting with a digit); the file names the variable, the secret stays in the \
                 environment"
            )));
        }
        Ok(SecretEnv {
            var,
            value: None,
            key: String::new(),
            at: String::new(),
            span,
        })
    }
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An `http` or `https` URL.
pub fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
    let s = String::deserialize(d)?;
    let u = url::Url::parse(&s).map_err(|e| D::Error::custom(format!("bad URL `{s}`: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(D::Error::custom(format!(
            "bad URL `{s}`: expected http:// or https:// and a host"
        )));
    }
    Ok(u)
}

/// An optional `http`/`https` URL.
pub fn opt_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<url::Url>, D::Error> {
    http_url(d).map(Some)
}

/// A duration greater than zero (an interval, a timeout).
pub fn positive_dur<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
    let v = Dur::deserialize(d)?;
    if v.is_zero() {
        return Err(D::Error::custom("must be more than 0, e.g. 30s"));
    }
    Ok(v)
}

/// A string that is not empty (nor only blanks).
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(s)
}

/// A list with at least one element.
pub fn non_empty_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    if v.is_empty() {
        return Err(D::Error::custom(
            "must list at least one entry (or leave the key out)",
        ));
    }
    Ok(v)
}

/// A path that is not empty.
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<std::path::PathBuf, D::Error> {
    non_empty(d).map(Into::into)
}

/// A list of paths, at least one, none empty.
pub fn paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<std::path::PathBuf>, D::Error> {
    let v: Vec<String> = non_empty_list(d)?;
    if v.iter().any(|p| p.trim().is_empty()) {
        return Err(D::Error::custom("a path must not be empty"));
    }
    Ok(v.into_iter().map(Into::into).collect())
}

/// An input form as `hunt --log-format` names it (`storage`, `eventhub`, ...); `auto` is
/// the same as leaving the key out.
pub fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogFormat>, D::Error> {
    let s = String::deserialize(d)?;
    match s.parse::<LogFormat>() {
        Ok(LogFormat::Auto) => Ok(None),
        Ok(f) => Ok(Some(f)),
        Err(e) => Err(D::Error::custom(e.to_string())),
    }
}

/// Kafka bootstrap servers: `"host:port"`, `"a:9092,b:9092"` or a list; at least one, each
/// with a port.
pub fn brokers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let list = match OneOrMany::deserialize(d)
        .map_err(|_| D::Error::custom("expected a string `host:port` or a list of them"))?
    {
        OneOrMany::One(s) => s.split(',').map(|b| b.trim().to_string()).collect(),
        OneOrMany::Many(v) => v
            .into_iter()
            .map(|b| b.trim().to_string())
            .collect::<Vec<_>>(),
    };
    if list.is_empty() || list.iter().all(String::is_empty) {
        return Err(D::Error::custom(
            "must name at least one broker `host:port`",
        ));
    }
    for b in &list {
        let port = b.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
        if !matches!(port, Some((h, Ok(_))) if !h.is_empty()) {
            return Err(D::Error::custom(format!(
                "bad broker `{b}`: expected host:port, e.g. ns.servicebus.windows.net:9093"
            )));
        }
    }
    Ok(list)
}

/// librdkafka's secret properties: they come from the environment (`secret_settings`), never
/// from the file.
const SECRET_PROPERTIES: [&str; 5] = [
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
];

/// A table of librdkafka properties; values may be written as strings, integers or booleans
/// (librdkafka takes them all as strings).
pub fn settings<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if SECRET_PROPERTIES.contains(&k.as_str()) {
            return Err(D::Error::custom(format!(
                "`{k}` is a secret: name its environment variable in `secret_settings` instead, \
                 e.g. secret_settings = {{ \"{k}\" = \"KAFKA_PASSWORD\" }}"
            )));
        }
        let v = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "`{k}`: a librdkafka setting is a string, an integer or a boolean, not {}",
                    other.type_str()
                )));
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// A byte size: an integer, or a string with a unit (`"100MB"`, `"1GiB"`, `"512k"`); above 0.
pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(i64),
        S(String),
    }
    let bad = |s: &str| {
        D::Error::custom(format!(
            "bad size `{s}`: write bytes as an integer or a number and a unit, e.g. 100MB, 1GiB"
        ))
    };
    let n = match Size::deserialize(d).map_err(|_| bad("?"))? {
        Size::N(n) => u64::try_from(n).map_err(|_| bad(&n.to_string()))?,
        Size::S(s) => parse_size(&s).ok_or_else(|| bad(&s))?,
    };
    if n == 0 {
        return Err(D::Error::custom("must be more than 0 bytes"));
    }
    Ok(Some(n))
}

/// `<integer>[unit]`, unit one of B, k/KB, M/MB, G/GB (powers of 1000), KiB, MiB, GiB (1024).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// An input's or output's name, as it appears in checkpoints and metric labels.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a name has 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "bad name `{name}`: use letters, digits, `-`, `_` and `.` (it names checkpoints and \
             metrics)"
        ));
    }
    Ok(())
}

/// The `name` key of an input or output.
pub fn name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    check_name(&s).map_err(D::Error::custom)?;
    Ok(Some(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("100MB"), Some(100_000_000));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("512k"), Some(512_000));
        assert_eq!(parse_size("1.5MB"), None);
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("10TB"), None);
    }

    #[test]
    fn names() {
        assert!(check_name("eh-prod_1.a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("KV_EH_CONN"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("Endpoint=sb://ns/;SharedAccessKey=abc"));
        assert!(!is_env_name(""));
    }

    #[test]
    fn secret_prints_stars() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }
}
