//! A Microsoft Sentinel `ThreatIntelligenceIndicator` export of IP indicators, and an oracle
//! of which (indicator, IP) pairs the Sentinel rule "TI map IP entity to Azure Key Vault logs"
//! must report.
//!
//! The generated set is adversarial on purpose: several versions per `IndicatorId` (only the
//! latest by `TimeGenerated` counts), inactive and expired ones, versions older than the
//! 14-day look-back, non-global addresses, IPv6 written in upper case or uncompressed, and the
//! address in any of the four IP columns. The oracle is a plain, separate restatement of the
//! rule so tests can compare an engine against it.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::GenError;
use crate::fmt::{
    guid_string, push_csv_quoted, push_hex, push_json_str, push_time, push_u64, push_us_time,
    ticks_of, timestamp_of,
};
use crate::rng::Rng;

/// One row of the table (one version of one indicator). Columns not listed are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelIndicatorRow {
    pub tenant_id: String,
    pub time_generated: Timestamp,
    pub source_system: String,
    pub action: String,
    pub azure_tenant_id: String,
    pub confidence_score: u8,
    pub description: String,
    pub external_indicator_id: String,
    pub expiration: Timestamp,
    pub indicator_id: String,
    pub threat_type: String,
    pub active: bool,
    pub tags: String,
    pub traffic_light_protocol_level: String,
    pub email_source_ip_address: String,
    pub file_hash_type: String,
    pub file_hash_value: String,
    pub domain_name: String,
    pub network_ip: String,
    pub network_destination_ip: String,
    pub network_source_ip: String,
    pub url: String,
    pub indicator_provider: String,
    /// Not a Sentinel column: why the generator made this indicator (`live`,
    /// `inactive_latest`, `reactivated`, `expired`, `stale`, `non_global`, `non_ip`, or
    /// `scenario` for an address of an `ips:` scenario).
    pub note: String,
}

/// Columns of the portal's CSV export, in order (times carry the export's time zone).
pub const CSV_COLUMNS: &[&str] = &[
    "TenantId",
    "TimeGenerated [UTC]",
    "SourceSystem",
    "Action",
    "ActivityGroupNames",
    "AdditionalInformation",
    "ApplicationId",
    "AzureTenantId",
    "ConfidenceScore",
    "Description",
    "DiamondModel",
    "ExternalIndicatorId",
    "ExpirationDateTime [UTC]",
    "IndicatorId",
    "ThreatType",
    "Active",
    "KillChainActions",
    "KillChainC2",
    "KillChainDelivery",
    "KillChainExploitation",
    "KillChainReconnaissance",
    "KillChainWeaponization",
    "KnownFalsePositives",
    "MalwareNames",
    "PassiveOnly",
    "ThreatSeverity",
    "Tags",
    "TrafficLightProtocolLevel",
    "EmailEncoding",
    "EmailLanguage",
    "EmailRecipient",
    "EmailSenderAddress",
    "EmailSenderName",
    "EmailSourceDomain",
    "EmailSourceIpAddress",
    "EmailSubject",
    "EmailXMailer",
    "FileCompileDateTime [UTC]",
    "FileCreatedDateTime [UTC]",
    "FileHashType",
    "FileHashValue",
    "FileMutexName",
    "FileName",
    "FilePacker",
    "FilePath",
    "FileSize",
    "FileType",
    "DomainName",
    "NetworkIP",
    "NetworkPort",
    "NetworkDestinationAsn",
    "NetworkDestinationCidrBlock",
    "NetworkDestinationIP",
    "NetworkCidrBlock",
    "NetworkDestinationPort",
    "NetworkProtocol",
    "NetworkSourceAsn",
    "NetworkSourceCidrBlock",
    "NetworkSourceIP",
    "NetworkSourcePort",
    "Url",
    "UserAgent",
    "IndicatorProvider",
    "Type",
];

enum Val<'a> {
    Empty,
    Str(&'a str),
    Time(Timestamp),
    Num(u64),
    Bool(bool),
}

impl SentinelIndicatorRow {
    fn value(&self, column: &str) -> Val<'_> {
        fn s(v: &str) -> Val<'_> {
            if v.is_empty() {
                Val::Empty
            } else {
                Val::Str(v)
            }
        }
        match column.trim_end_matches(" [UTC]") {
            "TenantId" => s(&self.tenant_id),
            "TimeGenerated" => Val::Time(self.time_generated),
            "SourceSystem" => s(&self.source_system),
            "Action" => s(&self.action),
            "AzureTenantId" => s(&self.azure_tenant_id),
            "ConfidenceScore" => Val::Num(u64::from(self.confidence_score)),
            "Description" => s(&self.description),
            "ExternalIndicatorId" => s(&self.external_indicator_id),
            "ExpirationDateTime" => Val::Time(self.expiration),
            "IndicatorId" => s(&self.indicator_id),
            "ThreatType" => s(&self.threat_type),
            "Active" => Val::Bool(self.active),
            "Tags" => s(&self.tags),
            "TrafficLightProtocolLevel" => s(&self.traffic_light_protocol_level),
            "EmailSourceIpAddress" => s(&self.email_source_ip_address),
            "FileHashType" => s(&self.file_hash_type),
            "FileHashValue" => s(&self.file_hash_value),
            "DomainName" => s(&self.domain_name),
            "NetworkIP" => s(&self.network_ip),
            "NetworkDestinationIP" => s(&self.network_destination_ip),
            "NetworkSourceIP" => s(&self.network_source_ip),
            "Url" => s(&self.url),
            "IndicatorProvider" => s(&self.indicator_provider),
            "Type" => Val::Str("ThreatIntelligenceIndicator"),
            _ => Val::Empty,
        }
    }

    /// The address the Sentinel rule takes from the row: `NetworkIP`, else
    /// `NetworkDestinationIP`, else `NetworkSourceIP`, else `EmailSourceIpAddress`.
    pub fn ti_ip_entity(&self) -> Option<&str> {
        [
            &self.network_ip,
            &self.network_destination_ip,
            &self.network_source_ip,
            &self.email_source_ip_address,
        ]
        .into_iter()
        .find(|v| !v.is_empty())
        .map(String::as_str)
    }
}

/// Portal CSV quoting: values made only of ASCII letters and digits go bare, the rest quoted.
fn push_portal_cell(buf: &mut Vec<u8>, s: &str) {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        buf.extend_from_slice(s.as_bytes());
    } else {
        push_csv_quoted(buf, s);
    }
}

/// Writes rows as the Azure portal exports a query result to CSV: UTF-8 BOM, `[UTC]` on time
/// column names, US-locale times (`7/19/2024, 4:40:10.716 PM`).
pub fn write_indicators_csv(
    rows: &[SentinelIndicatorRow],
    mut out: impl Write,
) -> Result<(), GenError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice("\u{feff}".as_bytes());
    for (i, c) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if c.contains(' ') {
            push_csv_quoted(&mut buf, c);
        } else {
            buf.extend_from_slice(c.as_bytes());
        }
    }
    buf.extend_from_slice(b"\r\n");
    for row in rows {
        for (i, c) in CSV_COLUMNS.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            match row.value(c) {
                Val::Empty => {}
                Val::Str(s) => push_portal_cell(&mut buf, s),
                Val::Time(t) => {
                    buf.push(b'"');
                    push_us_time(&mut buf, ticks_of(t));
                    buf.push(b'"');
                }
                Val::Num(n) => push_u64(&mut buf, n),
                Val::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
            }
        }
        buf.extend_from_slice(b"\r\n");
        if buf.len() > 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// Writes rows as JSON lines with the table's column names and ISO 8601 times
/// (`2024-07-19T16:40:10.716Z`); empty strings stay `""`, empty times are `null`.
pub fn write_indicators_jsonl(
    rows: &[SentinelIndicatorRow],
    mut out: impl Write,
) -> Result<(), GenError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    for row in rows {
        buf.push(b'{');
        for (i, c) in CSV_COLUMNS.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let name = c.trim_end_matches(" [UTC]");
            push_json_str(&mut buf, name);
            buf.push(b':');
            match row.value(c) {
                Val::Empty if c.ends_with(" [UTC]") => buf.extend_from_slice(b"null"),
                Val::Empty => buf.extend_from_slice(b"\"\""),
                Val::Str(s) => push_json_str(&mut buf, s),
                Val::Time(t) => {
                    buf.push(b'"');
                    push_time(&mut buf, ticks_of(t), 3);
                    buf.push(b'"');
                }
                Val::Num(n) => push_u64(&mut buf, n),
                Val::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
            }
        }
        buf.extend_from_slice(b"}\n");
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Live,
    InactiveLatest,
    Reactivated,
    Expired,
    Stale,
    NonGlobal,
}

const MS: i64 = 10_000;
const HOUR: i64 = 3600 * 10_000_000;
const DAY: i64 = 24 * HOUR;

/// Truncates ticks to whole milliseconds (what the tables keep).
fn ms(t: i64) -> i64 {
    t.div_euclid(MS) * MS
}

fn public_ip(rng: &mut Rng, avoid: &HashSet<IpAddr>) -> IpAddr {
    loop {
        let ip = if rng.chance(0.15) {
            let r = rng.next_u64();
            IpAddr::V6(Ipv6Addr::new(
                0x2a0e,
                0x1c80,
                (r >> 48) as u16,
                0,
                0,
                0,
                (r >> 16) as u16,
                r as u16 | 1,
            ))
        } else {
            let firsts = [185u8, 45, 193, 194, 91, 176, 198];
            let a = firsts[rng.index(firsts.len())];
            IpAddr::V4(Ipv4Addr::new(
                a,
                rng.range(1, 250) as u8,
                rng.range(0, 255) as u8,
                rng.range(1, 254) as u8,
            ))
        };
        if kvsentry_model::net::is_global(ip) && !avoid.contains(&ip) {
            return ip;
        }
    }
}

fn non_global_ip(rng: &mut Rng) -> String {
    let k = rng.below(7);
    let r = rng.below(250) as u8 + 1;
    match k {
        0 => format!("10.{}.{}.{r}", rng.below(256), rng.below(256)),
        1 => format!("192.168.{}.{r}", rng.below(256)),
        2 => format!("172.{}.{}.{r}", 16 + rng.below(16), rng.below(256)),
        3 => format!("127.0.0.{r}"),
        4 => format!("fe80::{:x}", rng.next_u64() as u16 | 1),
        5 => format!("198.51.100.{r}"),
        _ => format!("2001:db8::{:x}", rng.next_u64() as u16 | 1),
    }
}

/// How a feed might spell an address: IPv6 sometimes upper case and uncompressed.
fn spell(rng: &mut Rng, ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) if rng.chance(0.5) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:X}"))
            .collect::<Vec<_>>()
            .join(":"),
        ip => ip.to_string(),
    }
}

/// Generates `n` IP indicators (each with one to three versions, so more rows than `n`) plus
/// about `n / 10` non-IP indicators (hashes, URLs, domains) as noise.
///
/// `round(n * match_share)` of the IP indicators carry an address from `caller_ips` (cycling
/// through them); whether they must alert depends on their variant, which
/// [`ti_expected_matches`] decides. `at` is the export / evaluation time: every row has
/// `TimeGenerated <= at`.
pub fn gen_indicators(
    seed: u64,
    n: usize,
    match_share: f64,
    caller_ips: &[IpAddr],
    at: Timestamp,
) -> Vec<SentinelIndicatorRow> {
    let mut rng = Rng::derive(seed, 77);
    let at_t = ms(ticks_of(at));
    let tenant = guid_string(rng.u128(), false);
    let azure_tenant = guid_string(rng.u128(), false);
    let callers: Vec<IpAddr> = caller_ips
        .iter()
        .map(|ip| kvsentry_model::net::canonical(*ip))
        .filter(|ip| kvsentry_model::net::is_global(*ip))
        .collect();
    let avoid: HashSet<IpAddr> = callers.iter().copied().collect();
    let n_match = if callers.is_empty() {
        0
    } else {
        ((n as f64) * match_share.clamp(0.0, 1.0)).round() as usize
    };
    // Which indicators match: a seeded shuffle of the indices.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..order.len()).rev() {
        let j = rng.index(i + 1);
        order.swap(i, j);
    }
    let mut matching = vec![false; n];
    for &i in order.iter().take(n_match) {
        matching[i] = true;
    }
    let mut rows = Vec::new();
    let mut next_caller = 0usize;
    for &is_match in &matching {
        let mut variant = [
            Variant::Live,
            Variant::InactiveLatest,
            Variant::Reactivated,
            Variant::Expired,
            Variant::Stale,
            Variant::NonGlobal,
        ][rng.weighted(&[52, 10, 8, 12, 8, 10])];
        if is_match && variant == Variant::NonGlobal {
            variant = Variant::Live;
        }
        let ip_text = if variant == Variant::NonGlobal {
            non_global_ip(&mut rng)
        } else if is_match {
            let ip = callers[next_caller % callers.len()];
            next_caller += 1;
            spell(&mut rng, ip)
        } else {
            let ip = public_ip(&mut rng, &avoid);
            spell(&mut rng, ip)
        };
        let versions = match variant {
            Variant::InactiveLatest | Variant::Reactivated => 2 + rng.below(2) as usize,
            _ => 1 + rng.below(3) as usize,
        };
        // Latest version time.
        let latest = match variant {
            Variant::Stale => at_t - 15 * DAY - rng.below((20 * DAY) as u64) as i64,
            _ => at_t - HOUR - rng.below((12 * DAY) as u64) as i64,
        };
        let indicator_id = {
            let mut b = Vec::with_capacity(64);
            push_hex(&mut b, rng.u128(), 32, true);
            push_hex(&mut b, rng.u128(), 32, true);
            String::from_utf8(b).unwrap_or_default()
        };
        let external = format!("indicator--{}", guid_string(rng.u128(), false));
        let column = rng.weighted(&[70, 10, 10, 10]);
        let threat = ["Botnet", "C2", "MaliciousIP", "Proxy", "WatchList"][rng.index(5)];
        let confidence = [50u8, 75, 80, 100][rng.index(4)];
        let honeypot = rng.chance(0.3);
        for v in 0..versions {
            // Versions are at least an hour apart, latest last.
            let back = (versions - 1 - v) as i64;
            let t = ms(latest - back * (HOUR + rng.below((3 * DAY) as u64) as i64));
            let is_latest = v + 1 == versions;
            let active = match variant {
                Variant::InactiveLatest => !is_latest,
                Variant::Reactivated => is_latest,
                _ => true,
            };
            let expiration = match variant {
                Variant::Expired => ms(at_t - MS - rng.below((5 * DAY) as u64) as i64),
                _ => ms(at_t + 30 * DAY + rng.below((365 * DAY) as u64) as i64),
            };
            let mut row = SentinelIndicatorRow {
                tenant_id: tenant.clone(),
                time_generated: timestamp_of(t),
                source_system: "Microsoft Defender Threat Intelligence".into(),
                action: "alert".into(),
                azure_tenant_id: azure_tenant.clone(),
                confidence_score: confidence,
                description: if honeypot {
                    "MSTIC HoneyPot: An attacker used a brute force attack to gain access to a service or device".into()
                } else {
                    format!(
                        "Please read the linked article(s) for more information on this threat. [\"https://security.microsoft.com/intel-explorer/articles/{:08x}\"]",
                        rng.next_u64() as u32
                    )
                },
                external_indicator_id: external.clone(),
                expiration: timestamp_of(expiration),
                indicator_id: indicator_id.clone(),
                threat_type: threat.into(),
                active,
                tags: if honeypot {
                    "[\"honeypot\"]".into()
                } else {
                    String::new()
                },
                traffic_light_protocol_level: "green".into(),
                email_source_ip_address: String::new(),
                file_hash_type: String::new(),
                file_hash_value: String::new(),
                domain_name: String::new(),
                network_ip: String::new(),
                network_destination_ip: String::new(),
                network_source_ip: String::new(),
                url: String::new(),
                indicator_provider: String::new(),
                note: match variant {
                    Variant::Live => "live",
                    Variant::InactiveLatest => "inactive_latest",
                    Variant::Reactivated => "reactivated",
                    Variant::Expired => "expired",
                    Variant::Stale => "stale",
                    Variant::NonGlobal => "non_global",
                }
                .into(),
            };
            let slot = match column {
                0 => &mut row.network_ip,
                1 => &mut row.network_destination_ip,
                2 => &mut row.network_source_ip,
                _ => &mut row.email_source_ip_address,
            };
            *slot = ip_text.clone();
            rows.push(row);
        }
    }
    // Non-IP noise: file hashes, URLs and domains.
    for k in 0..n / 10 {
        let t = ms(at_t - HOUR - rng.below((10 * DAY) as u64) as i64);
        let mut row = SentinelIndicatorRow {
            tenant_id: tenant.clone(),
            time_generated: timestamp_of(t),
            source_system: "Microsoft Defender Threat Intelligence".into(),
            action: "alert".into(),
            azure_tenant_id: azure_tenant.clone(),
            confidence_score: 75,
            description: "Please read the linked article(s) for more information on this threat."
                .into(),
            external_indicator_id: format!("indicator--{}", guid_string(rng.u128(), false)),
            expiration: timestamp_of(ms(at_t + 90 * DAY)),
            indicator_id: {
                let mut b = Vec::with_capacity(64);
                push_hex(&mut b, rng.u128(), 32, true);
                push_hex(&mut b, rng.u128(), 32, true);
                String::from_utf8(b).unwrap_or_default()
            },
            threat_type: "Malware".into(),
            active: true,
            tags: String::new(),
            traffic_light_protocol_level: "green".into(),
            email_source_ip_address: String::new(),
            file_hash_type: String::new(),
            file_hash_value: String::new(),
            domain_name: String::new(),
            network_ip: String::new(),
            network_destination_ip: String::new(),
            network_source_ip: String::new(),
            url: String::new(),
            indicator_provider: String::new(),
            note: "non_ip".into(),
        };
        match k % 3 {
            0 => {
                row.file_hash_type = "SHA256".into();
                let mut b = Vec::with_capacity(64);
                push_hex(&mut b, rng.u128(), 32, true);
                push_hex(&mut b, rng.u128(), 32, true);
                row.file_hash_value = String::from_utf8(b).unwrap_or_default();
            }
            1 => {
                row.threat_type = "MaliciousUrl".into();
                row.url = format!(
                    "https://cdn{}.example-drive.com/system/clouddrive",
                    rng.below(100)
                );
            }
            _ => {
                row.threat_type = "WatchList".into();
                row.domain_name = format!("{}-kraken.com", rng.below(100_000_000));
            }
        }
        rows.push(row);
    }
    rows.sort_by(|a, b| {
        a.time_generated
            .cmp(&b.time_generated)
            .then_with(|| a.indicator_id.cmp(&b.indicator_id))
    });
    rows
}

/// One live indicator (active, public, generated an hour before `at`, expiring 90 days
/// after) for each globally routable address of `ips`: what a feed says about attacker
/// infrastructure that the `ips:` scenario makes call a vault. Non-global addresses get none
/// (the Sentinel rule drops them).
pub fn scenario_indicators(seed: u64, ips: &[IpAddr], at: Timestamp) -> Vec<SentinelIndicatorRow> {
    let mut rng = Rng::derive(seed, 78);
    let at_t = ms(ticks_of(at));
    let tenant = guid_string(rng.u128(), false);
    let azure_tenant = guid_string(rng.u128(), false);
    let mut rows = Vec::new();
    for ip in ips {
        let ip = kvsentry_model::net::canonical(*ip);
        if !kvsentry_model::net::is_global(ip) {
            continue;
        }
        let mut id = Vec::with_capacity(64);
        push_hex(&mut id, rng.u128(), 32, true);
        push_hex(&mut id, rng.u128(), 32, true);
        rows.push(SentinelIndicatorRow {
            tenant_id: tenant.clone(),
            time_generated: timestamp_of(at_t - HOUR),
            source_system: "Microsoft Defender Threat Intelligence".into(),
            action: "alert".into(),
            azure_tenant_id: azure_tenant.clone(),
            confidence_score: 100,
            description: "Attacker-controlled infrastructure used for credential access".into(),
            external_indicator_id: format!("indicator--{}", guid_string(rng.u128(), false)),
            expiration: timestamp_of(at_t + 90 * DAY),
            indicator_id: String::from_utf8(id).unwrap_or_default(),
            threat_type: "C2".into(),
            active: true,
            tags: String::new(),
            traffic_light_protocol_level: "amber".into(),
            email_source_ip_address: String::new(),
            file_hash_type: String::new(),
            file_hash_value: String::new(),
            domain_name: String::new(),
            network_ip: ip.to_string(),
            network_destination_ip: String::new(),
            network_source_ip: String::new(),
            url: String::new(),
            indicator_provider: String::new(),
            note: "scenario".into(),
        });
    }
    rows
}

/// One (indicator, caller IP) pair the Sentinel rule must report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TiExpectedMatch {
    pub indicator_id: String,
    pub ip: IpAddr,
    /// Latest matching event time (`arg_max(KeyVaultEvents_TimeGenerated)`).
    pub last_event: Timestamp,
    pub expiration: Timestamp,
}

/// The Sentinel rule's semantics at evaluation time `at`, restated plainly:
/// 1. rows with an IP entity (see [`SentinelIndicatorRow::ti_ip_entity`]) and
///    `TimeGenerated >= at - 14 days`, whose address parses and is globally routable
///    (kvsentry's public-only filter; unlike KQL's `ipv4_is_private`, it keeps public IPv6);
/// 2. per `IndicatorId` the row with the latest `TimeGenerated`;
/// 3. kept when `Active` and `ExpirationDateTime > at`;
/// 4. joined with events on the address (compared as parsed addresses, so spelling and case
///    do not matter), keeping events with `since <= time <= at` (all events up to `at` when
///    `since` is `None`) and `time < ExpirationDateTime`;
/// 5. one result per (IndicatorId, IP) with the latest event time.
pub fn ti_expected_matches(
    rows: &[SentinelIndicatorRow],
    events: &[(IpAddr, Timestamp)],
    at: Timestamp,
    since: Option<Timestamp>,
) -> Vec<TiExpectedMatch> {
    let lookback = at - SignedDuration::from_hours(24 * 14);
    let mut latest: BTreeMap<&str, (&SentinelIndicatorRow, IpAddr)> = BTreeMap::new();
    for row in rows {
        let Some(text) = row.ti_ip_entity() else {
            continue;
        };
        if row.time_generated < lookback {
            continue;
        }
        let Some(ip) = kvsentry_model::net::parse_ip(text) else {
            continue;
        };
        if !kvsentry_model::net::is_global(ip) {
            continue;
        }
        match latest.get(row.indicator_id.as_str()) {
            Some((prev, _)) if prev.time_generated >= row.time_generated => {}
            _ => {
                latest.insert(&row.indicator_id, (row, ip));
            }
        }
    }
    let mut out = Vec::new();
    for (id, (row, ip)) in latest {
        if !row.active || row.expiration <= at {
            continue;
        }
        let last = events
            .iter()
            .filter(|(eip, t)| {
                kvsentry_model::net::canonical(*eip) == ip
                    && *t <= at
                    && since.is_none_or(|s| *t >= s)
                    && *t < row.expiration
            })
            .map(|(_, t)| *t)
            .max();
        if let Some(last_event) = last {
            out.push(TiExpectedMatch {
                indicator_id: id.to_string(),
                ip,
                last_event,
                expiration: row.expiration,
            });
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        "2025-07-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn oracle_follows_the_rule() {
        let caller: IpAddr = "104.40.82.76".parse().unwrap();
        let base = SentinelIndicatorRow {
            tenant_id: "t".into(),
            time_generated: "2025-06-30T00:00:00Z".parse().unwrap(),
            source_system: "s".into(),
            action: "alert".into(),
            azure_tenant_id: "a".into(),
            confidence_score: 75,
            description: String::new(),
            external_indicator_id: String::new(),
            expiration: "2026-01-01T00:00:00Z".parse().unwrap(),
            indicator_id: "A".into(),
            threat_type: "Botnet".into(),
            active: true,
            tags: String::new(),
            traffic_light_protocol_level: String::new(),
            email_source_ip_address: String::new(),
            file_hash_type: String::new(),
            file_hash_value: String::new(),
            domain_name: String::new(),
            network_ip: "104.40.82.76".into(),
            network_destination_ip: String::new(),
            network_source_ip: String::new(),
            url: String::new(),
            indicator_provider: String::new(),
            note: String::new(),
        };
        let ev_t: Timestamp = "2025-06-30T12:00:00Z".parse().unwrap();
        let events = [(caller, ev_t)];
        // Live: matches.
        let m = ti_expected_matches(std::slice::from_ref(&base), &events, at(), None);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].last_event, ev_t);
        // Latest version inactive: no match, whatever older versions say.
        let mut newer = base.clone();
        newer.time_generated = "2025-06-30T06:00:00Z".parse().unwrap();
        newer.active = false;
        assert!(
            ti_expected_matches(&[base.clone(), newer.clone()], &events, at(), None).is_empty()
        );
        // Expired at evaluation time.
        let mut exp = base.clone();
        exp.expiration = "2025-06-30T18:00:00Z".parse().unwrap();
        assert!(ti_expected_matches(&[exp.clone()], &events, at(), None).is_empty());
        // Event after expiration does not count even when expiration is later than `at`
        // would allow: evaluate earlier.
        let at2: Timestamp = "2025-06-30T17:00:00Z".parse().unwrap();
        let late = [(caller, "2025-06-30T17:30:00Z".parse().unwrap())];
        assert!(ti_expected_matches(&[exp], &late, at2, None).is_empty());
        // Older than 14 days.
        let mut stale = base.clone();
        stale.time_generated = "2025-06-10T00:00:00Z".parse().unwrap();
        assert!(ti_expected_matches(&[stale], &events, at(), None).is_empty());
        // Non-global address.
        let mut private = base.clone();
        private.network_ip = "10.0.0.1".into();
        assert!(
            ti_expected_matches(
                &[private],
                &[("10.0.0.1".parse().unwrap(), ev_t)],
                at(),
                None
            )
            .is_empty()
        );
        // IPv6 in upper case, uncompressed, in the source column.
        let mut v6 = base.clone();
        v6.network_ip = String::new();
        v6.network_source_ip = "2A01:111:F400:0:0:0:0:1234".into();
        let v6_ev = [("2a01:111:f400::1234".parse().unwrap(), ev_t)];
        assert_eq!(ti_expected_matches(&[v6], &v6_ev, at(), None).len(), 1);
        // `since` excludes older events.
        assert!(
            ti_expected_matches(
                &[base],
                &events,
                at(),
                Some("2025-06-30T13:00:00Z".parse().unwrap())
            )
            .is_empty()
        );
    }

    #[test]
    fn generated_set_has_every_variant_and_known_matches() {
        let callers: Vec<IpAddr> = vec![
            "104.40.82.76".parse().unwrap(),
            "2a01:111:f400::77".parse().unwrap(),
        ];
        let rows = gen_indicators(9, 200, 0.25, &callers, at());
        let ids: HashSet<&str> = rows
            .iter()
            .filter(|r| r.note != "non_ip")
            .map(|r| r.indicator_id.as_str())
            .collect();
        assert_eq!(ids.len(), 200);
        assert_eq!(rows.iter().filter(|r| r.note == "non_ip").count(), 20);
        for note in [
            "live",
            "inactive_latest",
            "reactivated",
            "expired",
            "stale",
            "non_global",
        ] {
            assert!(rows.iter().any(|r| r.note == note), "{note}");
        }
        let carrying: HashSet<&str> = rows
            .iter()
            .filter(|r| {
                r.ti_ip_entity()
                    .and_then(kvsentry_model::net::parse_ip)
                    .is_some_and(|ip| callers.contains(&ip))
            })
            .map(|r| r.indicator_id.as_str())
            .collect();
        assert_eq!(carrying.len(), 50);
        assert!(rows.iter().all(|r| r.time_generated <= at()));
        // Events from both callers just before `at`: only live and reactivated carriers match.
        let t = at() - SignedDuration::from_mins(5);
        let events: Vec<(IpAddr, Timestamp)> = callers.iter().map(|ip| (*ip, t)).collect();
        let m = ti_expected_matches(&rows, &events, at(), None);
        let expected: HashSet<&str> = rows
            .iter()
            .filter(|r| {
                carrying.contains(r.indicator_id.as_str())
                    && (r.note == "live" || r.note == "reactivated")
            })
            .map(|r| r.indicator_id.as_str())
            .collect();
        assert_eq!(
            m.iter()
                .map(|x| x.indicator_id.as_str())
                .collect::<HashSet<_>>(),
            expected
        );
        assert!(!m.is_empty());
        assert_eq!(rows, gen_indicators(9, 200, 0.25, &callers, at()));
    }
}
