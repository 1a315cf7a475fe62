//! Which indicators a run uses ([`Selection`]), what the selection kept and dropped
//! ([`SelectionReport`]), and the public-address filters of seed line 26.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use jiff::Timestamp;
use kvsentry_model::net::non_global_reason;
use serde::Serialize;

/// Which indicators a run uses and how events match them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// One run of the Sentinel rule at time `at`: versions generated in
    /// `[at - lookback, at]`, latest per id, active, not expired at `at`.
    ///
    /// Versions generated after `at` are ignored: in a real run at `at` they did not exist
    /// yet (the KQL needs no such filter; a replay does).
    AsOf { at: Timestamp, compat: bool },
    /// Hunting over past logs: the latest version of every indicator, whenever generated,
    /// active, not revoked, public. An event matches when it happened before the expiration,
    /// even if the indicator has expired since. The event need not be after `valid_from` or
    /// first-seen: an indicator published after the event still incriminates it.
    Retro { compat: bool },
}

impl Default for Selection {
    /// Hunting over past logs: [`Selection::Retro`], not compat.
    fn default() -> Self {
        Selection::Retro { compat: false }
    }
}

impl Selection {
    pub fn compat(&self) -> bool {
        match *self {
            Selection::AsOf { compat, .. } | Selection::Retro { compat } => compat,
        }
    }
}

/// What a selection kept and why it dropped the rest. Counts are of records (versions) at
/// the step that dropped them, in pipeline order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SelectionReport {
    /// `as-of <time>` or `retro`, plus ` (compat)`.
    pub mode: String,
    /// Every row read, with or without an IP.
    pub loaded_records: usize,
    /// Distinct ids among records with an IP.
    pub distinct_ids: usize,
    /// Indicators in the index.
    pub kept: usize,
    /// Rows without any IP column filled (seed line 21).
    pub no_ip: usize,
    /// Rows whose IP text is not an address or CIDR.
    pub unparseable_ip: usize,
    /// Other rows skipped at load, per reason (e.g. MISP `to_ids=false`).
    pub skipped_at_load: BTreeMap<String, usize>,
    /// AsOf: generated before `at - lookback` (seed line 22).
    pub outside_lookback: usize,
    /// AsOf: generated after `at`.
    pub after_as_of: usize,
    /// Dropped by the public-address filter (seed line 26), per reason.
    pub non_global: BTreeMap<String, usize>,
    /// Older versions of an id that a later version replaced (seed line 27).
    pub superseded: usize,
    /// Latest version not active (seed line 28).
    pub inactive: usize,
    /// Latest version revoked (STIX).
    pub revoked: usize,
    /// AsOf: expired at `at` (seed line 28).
    pub expired: usize,
    /// Compat: no expiration (`null > now()` and `event < null` are never true in KQL).
    pub no_expiration: usize,
    /// Compat: indicators dropped because another indicator has the same IP text
    /// (`innerunique`, line 32; the highest id is kept).
    pub duplicate_ip: usize,
}

/// Seed line 26, literally:
/// `ipv4_is_private(TI_ipEntity) == false and TI_ipEntity !startswith "fe80" and
/// TI_ipEntity !startswith "::" and TI_ipEntity !startswith "127."`.
///
/// `ipv4_is_private` is null for text that is not an IPv4 address or IPv4 prefix, and
/// `null == false` is not true, so IPv6 (and anything unparseable) is dropped. Per the KQL
/// documentation it accepts IP-prefix notation (`ipv4_is_private('10.1.2.3/24') == true`), so
/// a public IPv4 CIDR *passes* this filter — but it can never equal a caller IP string, so it
/// never matches. `startswith` in KQL is case-insensitive.
pub fn compat_exclusion(text: &str) -> Option<&'static str> {
    match kql_ipv4_is_private(text) {
        None => Some("not IPv4 (ipv4_is_private is null)"),
        Some(true) => Some("private (RFC 1918)"),
        Some(false) => {
            let lower = text.to_ascii_lowercase();
            if lower.starts_with("fe80") {
                Some("starts with fe80")
            } else if lower.starts_with("::") {
                Some("starts with ::")
            } else if lower.starts_with("127.") {
                Some("starts with 127.")
            } else {
                None
            }
        }
    }
}

/// KQL `ipv4_is_private`: `Some(is RFC 1918)` for an IPv4 address or IPv4 prefix text,
/// `None` (null) otherwise.
fn kql_ipv4_is_private(text: &str) -> Option<bool> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let a: Ipv4Addr = addr.parse().ok()?;
    let a = match len {
        Some(l) => {
            let l: u8 = l.parse().ok()?;
            ipnet::Ipv4Net::new(a, l).ok()?.network()
        }
        None => a,
    };
    Some(a.is_private())
}

/// Default public filter: the network's first or last address is not global
/// ([`non_global_reason`]), e.g. private, loopback, link-local, CGNAT, documentation, ULA.
pub fn default_exclusion(net: IpNet) -> Option<&'static str> {
    let first = non_global_reason(net.network());
    // A single address is its own last address: asking again (every row of an export of
    // addresses) gives the same answer.
    if first.is_some() || net.prefix_len() == net.max_prefix_len() {
        return first;
    }
    non_global_reason(last_addr(net))
}

fn last_addr(net: IpNet) -> IpAddr {
    net.broadcast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_filter_is_literal() {
        assert_eq!(compat_exclusion("104.40.82.76"), None);
        assert_eq!(compat_exclusion("100.64.0.1"), None); // CGNAT passes in Sentinel
        assert_eq!(compat_exclusion("169.254.1.1"), None); // link-local v4 passes too
        assert_eq!(compat_exclusion("10.1.2.3"), Some("private (RFC 1918)"));
        assert_eq!(
            compat_exclusion("192.168.1.1/24"),
            Some("private (RFC 1918)")
        );
        assert_eq!(compat_exclusion("1.10.16.0/20"), None);
        assert_eq!(compat_exclusion("127.0.0.1"), Some("starts with 127."));
        assert_eq!(
            compat_exclusion("2a01:111:f400::1"),
            Some("not IPv4 (ipv4_is_private is null)")
        );
        assert_eq!(
            compat_exclusion("fe80::1"),
            Some("not IPv4 (ipv4_is_private is null)")
        );
        assert_eq!(
            compat_exclusion(" 104.40.82.76"),
            Some("not IPv4 (ipv4_is_private is null)")
        );
    }

    #[test]
    fn default_filter_names_reason() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(default_exclusion(n("104.40.82.76/32")), None);
        assert_eq!(
            default_exclusion(n("100.64.0.0/10")),
            Some("carrier-grade NAT (100.64.0.0/10)")
        );
        assert_eq!(
            default_exclusion(n("0.0.0.0/8")),
            Some("this-network (0.0.0.0/8)")
        );
        assert_eq!(
            default_exclusion(n("fe80::1/128")),
            Some("link-local (fe80::/10)")
        );
        assert_eq!(default_exclusion(n("2a01:111:f400::/48")), None);
        // Single addresses are asked once; a network whose first address is global is
        // still judged by its last one.
        assert_eq!(
            default_exclusion(n("10.1.2.3/32")),
            Some("private (RFC 1918)")
        );
        assert_eq!(default_exclusion(n("127.0.0.1/32")), Some("loopback"));
        assert_eq!(default_exclusion(n("2a01:111:f400::1/128")), None);
        assert_eq!(
            default_exclusion(n("100.0.0.0/9")),
            Some("carrier-grade NAT (100.64.0.0/10)")
        );
    }
}
