//! All loaded indicator versions, and the selection of the ones a run uses.
//!
//! [`IndicatorSet::select`] mirrors the `IP_Indicators` part of the Sentinel seed rule
//! "TI map IP entity to Azure Key Vault logs" (v1.3.4) step by step; each step below quotes
//! the KQL line it reproduces:
//!
//! ```text
//! 21 | where isnotempty(NetworkIP) or isnotempty(EmailSourceIpAddress) or ...   -> rows without IP skipped at load ("no IP")
//! 22 | where TimeGenerated >= ago(ioc_lookBack)                                  -> AsOf only: version_time >= at - lookback
//! 23 | extend TI_ipEntity = iff(isnotempty(NetworkIP), NetworkIP, NetworkDestinationIP)
//! 24 | extend TI_ipEntity = iff(isempty(TI_ipEntity) and isnotempty(NetworkSourceIP), ...)
//! 25 | extend TI_ipEntity = iff(isempty(TI_ipEntity) and isnotempty(EmailSourceIpAddress), ...)
//!                                                                               -> done at load (sources::sentinel::ip_chain)
//! 26 | where ipv4_is_private(TI_ipEntity) == false and TI_ipEntity !startswith "fe80" ...
//!                                                                               -> compat: literally; default: every non-global address
//! 27 | summarize LatestIndicatorTime = arg_max(TimeGenerated, *) by IndicatorId  -> latest surviving version per id
//! 28 | where Active == true and ExpirationDateTime > now()                       -> active, not revoked; AsOf: not expired at `at`
//! 32 | join kind=innerunique (...) on $left.TI_ipEntity == $right.ClientIP        -> IndicatorIndex (compat: one indicator per IP text)
//! 40 | where KeyVaultEvents_TimeGenerated < ExpirationDateTime                   -> IndicatorIndex::matches
//! ```
//!
//! Note the order of 26 and 27: the private filter runs *before* `arg_max`, so when the
//! latest version of an indicator has a private IP, an older public version of the same id
//! wins. This is reproduced in every mode.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use foldhash::fast::RandomState;
use ipnet::IpNet;
use jiff::{SignedDuration, Timestamp};
use kvsentry_model::net::non_global_reason;
use serde::Serialize;

use crate::index::IndicatorIndex;
use crate::model::Indicator;

/// Load-time skip reason: the row names no IP at all (seed line 21).
pub const SKIP_NO_IP: &str = "no IP";
/// Load-time skip reason: the IP text is neither an address nor a CIDR.
pub const SKIP_UNPARSEABLE_IP: &str = "unparseable IP";

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

/// Every loaded indicator version from every source.
#[derive(Debug, Clone)]
pub struct IndicatorSet {
    records: Vec<Arc<Indicator>>,
    skipped: BTreeMap<String, usize>,
    lookback: SignedDuration,
}

impl Default for IndicatorSet {
    fn default() -> Self {
        Self::new()
    }
}

impl IndicatorSet {
    /// An empty set with the seed's 14-day indicator lookback (`ioc_lookBack`, line 18).
    pub fn new() -> Self {
        IndicatorSet {
            records: Vec::new(),
            skipped: BTreeMap::new(),
            lookback: SignedDuration::from_hours(14 * 24),
        }
    }

    /// Sets the AsOf indicator lookback (default 14 days).
    pub fn set_lookback(&mut self, lookback: SignedDuration) {
        self.lookback = lookback;
    }

    pub fn lookback(&self) -> SignedDuration {
        self.lookback
    }

    /// Adds one indicator version.
    pub fn push(&mut self, indicator: Indicator) {
        self.records.push(Arc::new(indicator));
    }

    /// Moves every version and skip count of `other` into this set (its lookback is not
    /// taken).
    pub(crate) fn absorb(&mut self, other: IndicatorSet) {
        self.records.extend(other.records);
        for (reason, n) in other.skipped {
            count(&mut self.skipped, &reason, n);
        }
    }

    /// Counts rows a source read but could not turn into an indicator.
    pub fn note_skipped(&mut self, reason: &str, n: usize) {
        if n > 0 {
            count(&mut self.skipped, reason, n);
        }
    }

    /// Number of indicator versions (rows with a parsed IP).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// All versions, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Indicator> {
        self.records.iter().map(|a| a.as_ref())
    }

    /// Load-time skips per reason.
    pub fn skipped(&self) -> &BTreeMap<String, usize> {
        &self.skipped
    }

    /// Selects the indicators of one run (see the module docs for the step-by-step mapping to
    /// the seed rule) and indexes them.
    pub fn select(&self, sel: Selection) -> (IndicatorIndex, SelectionReport) {
        let compat = sel.compat();
        let mut rep = SelectionReport {
            mode: match sel {
                Selection::AsOf { at, .. } => format!("as-of {at}"),
                Selection::Retro { .. } => "retro".to_string(),
            } + if compat { " (compat)" } else { "" },
            ..Default::default()
        };
        rep.no_ip = self.skipped.get(SKIP_NO_IP).copied().unwrap_or(0);
        rep.unparseable_ip = self.skipped.get(SKIP_UNPARSEABLE_IP).copied().unwrap_or(0);
        rep.skipped_at_load = self
            .skipped
            .iter()
            .filter(|(k, _)| k.as_str() != SKIP_NO_IP && k.as_str() != SKIP_UNPARSEABLE_IP)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        rep.loaded_records = self.records.len() + self.skipped.values().sum::<usize>();
        rep.distinct_ids = self
            .records
            .iter()
            .map(|r| r.id.as_str())
            .fold(
                HashSet::with_capacity_and_hasher(self.records.len(), RandomState::default()),
                |mut h: HashSet<&str, RandomState>, id| {
                    h.insert(id);
                    h
                },
            )
            .len();

        let window = match sel {
            Selection::AsOf { at, .. } => Some((at.checked_sub(self.lookback).unwrap_or(at), at)),
            Selection::Retro { .. } => None,
        };

        // Lines 22, 26, 27: lookback, public filter, then latest version per id.
        let mut latest: HashMap<&str, usize, RandomState> =
            HashMap::with_capacity_and_hasher(self.records.len(), RandomState::default());
        for (i, r) in self.records.iter().enumerate() {
            if let Some((start, at)) = window {
                if r.version_time < start {
                    rep.outside_lookback += 1;
                    continue;
                }
                if r.version_time > at {
                    rep.after_as_of += 1;
                    continue;
                }
            }
            let excluded = if compat {
                compat_exclusion(&r.value_text)
            } else {
                default_exclusion(r.network)
            };
            if let Some(reason) = excluded {
                count(&mut rep.non_global, reason, 1);
                continue;
            }
            match latest.entry(r.id.as_str()) {
                Entry::Occupied(mut e) => {
                    rep.superseded += 1;
                    // arg_max: the latest TimeGenerated; on a tie the later-loaded row.
                    if r.version_time >= self.records[*e.get()].version_time {
                        e.insert(i);
                    }
                }
                Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
        let mut chosen: Vec<usize> = latest.into_values().collect();
        chosen.sort_unstable();

        // Line 28: Active == true and ExpirationDateTime > now().
        let mut kept: Vec<Arc<Indicator>> = Vec::with_capacity(chosen.len());
        for i in chosen {
            let r = &self.records[i];
            if !r.active {
                rep.inactive += 1;
                continue;
            }
            if r.revoked {
                rep.revoked += 1;
                continue;
            }
            match (r.expiration, sel) {
                (Some(exp), Selection::AsOf { at, .. }) if exp <= at => {
                    rep.expired += 1;
                    continue;
                }
                // KQL: `null > now()` (line 28) and `event < null` (line 40) are never true,
                // so an indicator without expiration can never alert in Sentinel.
                (None, _) if compat => {
                    rep.no_expiration += 1;
                    continue;
                }
                _ => {}
            }
            kept.push(Arc::clone(r));
        }

        let (index, dropped) = IndicatorIndex::build(kept, compat);
        rep.duplicate_ip = dropped;
        rep.kept = index.len();
        (index, rep)
    }
}

/// Adds `n` to the count of `reason`, making a `String` key only the first time a reason is
/// met (`entry(reason.to_string())` would make one per row counted).
pub(crate) fn count(counts: &mut BTreeMap<String, usize>, reason: &str, n: usize) {
    match counts.get_mut(reason) {
        Some(c) => *c += n,
        None => {
            counts.insert(reason.to_string(), n);
        }
    }
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
    non_global_reason(net.network()).or_else(|| non_global_reason(last_addr(net)))
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
    }
}
