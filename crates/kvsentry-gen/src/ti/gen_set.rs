//! The generated indicator set: adversarial versions around the callers' addresses.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use jiff::Timestamp;

use crate::fmt::{guid_string, push_hex, ticks_of, timestamp_of};
use crate::rng::Rng;

use super::row::SentinelIndicatorRow;
use crate::generate::Generator;

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
/// [`ti_expected_matches`](super::ti_expected_matches) decides. `at` is the export / evaluation time: every row has
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
pub(crate) fn scenario_indicators(
    seed: u64,
    ips: &[IpAddr],
    at: Timestamp,
) -> Vec<SentinelIndicatorRow> {
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

/// The indicator export of a run: [`gen_indicators`] over the run's callers, plus one live
/// indicator for each public address of its `ips:` scenarios (`scenario_indicators`),
/// so that the threat-intelligence rule can fire on them. `at` is the evaluation time.
pub fn run_indicators(
    g: &Generator,
    n: usize,
    match_share: f64,
    caller_ips: &[IpAddr],
    at: Timestamp,
) -> Vec<SentinelIndicatorRow> {
    let seed = g.config().seed;
    let mut rows = gen_indicators(seed, n, match_share, caller_ips, at);
    rows.extend(scenario_indicators(seed, &g.scenario_ips(), at));
    rows.sort_by(|a, b| {
        a.time_generated
            .cmp(&b.time_generated)
            .then_with(|| a.indicator_id.cmp(&b.indicator_id))
    });
    rows
}
