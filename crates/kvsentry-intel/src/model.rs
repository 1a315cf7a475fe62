//! The indicator record every source maps into.

use ipnet::IpNet;
use jiff::Timestamp;
// The Sentinel loader imports it from here.
pub(crate) use kvsentry_model::net::parse_network;
use serde::Serialize;

/// Which column of a Sentinel row provided the indicator's IP (the `iff` chain of the seed
/// rule, lines 23-25, or the STIX-based table's observable/pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IpColumn {
    NetworkIP,
    NetworkDestinationIP,
    NetworkSourceIP,
    EmailSourceIpAddress,
    /// `ThreatIntelIndicators.ObservableValue`.
    ObservableValue,
    /// `ThreatIntelIndicators.Pattern` (STIX pattern).
    Pattern,
}

impl IpColumn {
    pub fn as_str(self) -> &'static str {
        match self {
            IpColumn::NetworkIP => "NetworkIP",
            IpColumn::NetworkDestinationIP => "NetworkDestinationIP",
            IpColumn::NetworkSourceIP => "NetworkSourceIP",
            IpColumn::EmailSourceIpAddress => "EmailSourceIpAddress",
            IpColumn::ObservableValue => "ObservableValue",
            IpColumn::Pattern => "Pattern",
        }
    }
}

/// The raw Sentinel columns the seed rule projects into its alert (line 44) that are not
/// already held verbatim by [`Indicator`] fields, as the export wrote them. Together with
/// `id` (IndicatorId), `description`, `threat_type`, `url` and `value_text` (TI_ipEntity)
/// they give the full projection: see [`Indicator::sentinel_projection`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SentinelColumns {
    #[serde(rename = "ActivityGroupNames")]
    pub activity_group_names: Option<String>,
    #[serde(rename = "ExpirationDateTime")]
    pub expiration_date_time: Option<String>,
    #[serde(rename = "ConfidenceScore")]
    pub confidence_score: Option<String>,
    /// Which column `TI_ipEntity` came from.
    pub ip_column: Option<IpColumn>,
}

/// One version of one IP (or CIDR) indicator, whatever feed it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    /// Identity across versions: Sentinel `IndicatorId`, STIX `id`, MISP attribute uuid, or
    /// `source:value` for plain lists. Versions are grouped by this (seed line 27).
    pub id: String,
    /// Canonical network: a single address is /32 or /128, IPv4-mapped IPv6 becomes IPv4,
    /// host bits are cleared.
    pub network: IpNet,
    /// The IP text as the feed wrote it (compat mode matches this text literally).
    pub value_text: String,
    /// Feed, provider or file the record came from.
    pub source: String,
    pub description: Option<String>,
    pub threat_type: Option<String>,
    pub activity_groups: Vec<String>,
    pub confidence: Option<u8>,
    pub tags: Vec<String>,
    pub tlp: Option<String>,
    pub url: Option<String>,
    pub valid_from: Option<Timestamp>,
    pub expiration: Option<Timestamp>,
    pub active: bool,
    pub revoked: bool,
    /// Version time: Sentinel `TimeGenerated`, STIX `modified`, MISP attribute timestamp,
    /// file time for plain lists. The latest version per `id` wins.
    pub version_time: Timestamp,
    /// `file:line` (or `file:line#n` for several indicators from one line/object).
    pub origin: String,
    /// For Sentinel rows: the raw projected columns.
    pub sentinel: Option<SentinelColumns>,
}

impl Indicator {
    /// A minimal active indicator without expiry; sources fill in the rest.
    pub fn new(
        id: impl Into<String>,
        network: IpNet,
        value_text: impl Into<String>,
        source: impl Into<String>,
        version_time: Timestamp,
        origin: impl Into<String>,
    ) -> Self {
        Indicator {
            id: id.into(),
            network,
            value_text: value_text.into(),
            source: source.into(),
            description: None,
            threat_type: None,
            activity_groups: Vec::new(),
            confidence: None,
            tags: Vec::new(),
            tlp: None,
            url: None,
            valid_from: None,
            expiration: None,
            active: true,
            revoked: false,
            version_time,
            origin: origin.into(),
            sentinel: None,
        }
    }

    /// For Sentinel rows, the indicator columns the seed rule projects (line 44) with the
    /// export's raw text: Description, ActivityGroupNames, IndicatorId, ThreatType, Url,
    /// ExpirationDateTime, ConfidenceScore, TI_ipEntity. `None` for other sources.
    pub fn sentinel_projection(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let cols = self.sentinel.as_ref()?;
        let s = |v: Option<&str>| {
            v.map(|x| serde_json::Value::String(x.to_string()))
                .unwrap_or(serde_json::Value::Null)
        };
        let mut m = serde_json::Map::new();
        m.insert("Description".into(), s(self.description.as_deref()));
        m.insert(
            "ActivityGroupNames".into(),
            s(cols.activity_group_names.as_deref()),
        );
        m.insert("IndicatorId".into(), s(Some(&self.id)));
        m.insert("ThreatType".into(), s(self.threat_type.as_deref()));
        m.insert("Url".into(), s(self.url.as_deref()));
        m.insert(
            "ExpirationDateTime".into(),
            s(cols.expiration_date_time.as_deref()),
        );
        m.insert(
            "ConfidenceScore".into(),
            s(cols.confidence_score.as_deref()),
        );
        m.insert("TI_ipEntity".into(), s(Some(&self.value_text)));
        Some(m)
    }

    /// True when the indicator is a single address (/32 or /128).
    pub fn is_single_address(&self) -> bool {
        self.network.prefix_len() == self.network.max_prefix_len()
    }

    /// True when an event at `event_time` is within the indicator's life for matching:
    /// strictly before the expiration (seed line 40: `KeyVaultEvents_TimeGenerated <
    /// ExpirationDateTime`); no expiration means no limit.
    pub fn live_at(&self, event_time: Timestamp) -> bool {
        self.expiration.is_none_or(|e| event_time < e)
    }
}

/// Parses a list column: a JSON array of strings (`["a","b"]`) or a comma-separated list.
pub(crate) fn parse_list(text: &str) -> Vec<String> {
    let t = text.trim();
    if t.is_empty() {
        return Vec::new();
    }
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<serde_json::Value>>(t)
    {
        return v
            .into_iter()
            .filter_map(|x| match x {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .filter(|s| !s.trim().is_empty())
            .collect();
    }
    t.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Confidence as number or string, clamped to 0..=100.
pub(crate) fn parse_confidence(text: &str) -> Option<u8> {
    let v: f64 = text.trim().parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    Some(v.round().clamp(0.0, 100.0) as u8)
}

/// Booleans as exports write them: `true`/`True`/`TRUE`/`1`/`yes`. Anything else, including
/// null and `""`, is false (KQL `Active == true` is not true for null).
pub(crate) fn parse_bool(text: &str) -> bool {
    let t = text.trim();
    ["true", "1", "yes", "y", "t"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_confidence_bools() {
        assert_eq!(parse_list(r#"["honeypot","c2"]"#), vec!["honeypot", "c2"]);
        assert_eq!(parse_list("a, b,,"), vec!["a", "b"]);
        assert_eq!(parse_confidence("75"), Some(75));
        assert_eq!(parse_confidence("75.6"), Some(76));
        assert_eq!(parse_confidence("150"), Some(100));
        assert_eq!(parse_confidence(""), None);
        assert!(parse_bool("True") && parse_bool("1") && parse_bool("true"));
        assert!(!parse_bool("") && !parse_bool("false") && !parse_bool("0"));
        assert!(parse_bool(" TRUE ") && parse_bool("Yes") && parse_bool("T") && parse_bool("y"));
        assert!(!parse_bool("truee") && !parse_bool("yess") && !parse_bool("tr"));
    }
}
