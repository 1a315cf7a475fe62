//! Answers "which selected indicators cover this IP?".
//!
//! Single addresses live in a hash map keyed by canonical [`IpAddr`] (O(1)); networks live in
//! one prefix trie per family and a lookup returns *every* covering network, most specific
//! first, because each indicator on an IP should alert (default mode). In compat mode the
//! index is keyed by the IP text, as the seed rule's join is a string equality
//! (`$left.TI_ipEntity == $right.ClientIP`, line 38).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::RandomState;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use jiff::Timestamp;
use kvsentry_model::net::{canonical, parse_ip};
use prefix_trie::PrefixMap;

use crate::model::Indicator;

/// The selected indicators, indexed for lookups. Built by [`crate::IndicatorSet::select`].
#[derive(Debug, Clone)]
pub struct IndicatorIndex {
    indicators: Vec<Arc<Indicator>>,
    compat: bool,
    exact: HashMap<IpAddr, Ids, RandomState>,
    v4: PrefixMap<Ipv4Net, Vec<u32>>,
    v6: PrefixMap<Ipv6Net, Vec<u32>>,
    text: HashMap<String, u32, RandomState>,
}

/// The indicators of one exact address: nearly always one, kept inline (a `Vec` per
/// address would be an allocation per selected indicator, on the one thread the hunt waits
/// on).
#[derive(Debug, Clone)]
enum Ids {
    One([u32; 1]),
    /// Two or more, in insertion order until sorted.
    Many(Vec<u32>),
}

impl Ids {
    fn push(&mut self, i: u32) {
        match self {
            Ids::One([first]) => *self = Ids::Many(vec![*first, i]),
            Ids::Many(v) => v.push(i),
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(one) => one,
            Ids::Many(v) => v,
        }
    }
}

impl IndicatorIndex {
    /// Builds the index. In compat mode, indicators sharing one IP text are reduced to one,
    /// the one with the highest `id` (ties: the later one) — Sentinel's `join
    /// kind=innerunique` keeps an arbitrary one (line 32); we pick deterministically. Returns
    /// the index and how many indicators that reduction dropped.
    pub(crate) fn build(mut indicators: Vec<Arc<Indicator>>, compat: bool) -> (Self, usize) {
        let mut dropped = 0;
        if compat {
            let mut by_text: HashMap<&str, usize, RandomState> = HashMap::default();
            for (i, ind) in indicators.iter().enumerate() {
                match by_text.entry(ind.value_text.as_str()) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        dropped += 1;
                        if ind.id >= indicators[*e.get()].id {
                            e.insert(i);
                        }
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(i);
                    }
                }
            }
            let mut keep: Vec<usize> = by_text.into_values().collect();
            keep.sort_unstable();
            let mut old: Vec<Option<Arc<Indicator>>> = indicators.into_iter().map(Some).collect();
            indicators = keep.into_iter().filter_map(|i| old[i].take()).collect();
        }
        let mut index = IndicatorIndex {
            indicators,
            compat,
            exact: HashMap::default(),
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            text: HashMap::default(),
        };
        if compat {
            for (i, ind) in index.indicators.iter().enumerate() {
                index.text.insert(ind.value_text.clone(), i as u32);
            }
        } else {
            index.exact.reserve(index.indicators.len());
            for (i, ind) in index.indicators.iter().enumerate() {
                let i = i as u32;
                match ind.network {
                    net if ind.is_single_address() => match index.exact.entry(net.addr()) {
                        Entry::Occupied(mut e) => e.get_mut().push(i),
                        Entry::Vacant(e) => {
                            e.insert(Ids::One([i]));
                        }
                    },
                    IpNet::V4(n) => match index.v4.get_mut(&n) {
                        Some(v) => v.push(i),
                        None => {
                            index.v4.insert(n, vec![i]);
                        }
                    },
                    IpNet::V6(n) => match index.v6.get_mut(&n) {
                        Some(v) => v.push(i),
                        None => {
                            index.v6.insert(n, vec![i]);
                        }
                    },
                }
            }
            // Deterministic order within one key: by id, then origin.
            let inds = &index.indicators;
            let order = |a: &u32, b: &u32| {
                let (x, y) = (&inds[*a as usize], &inds[*b as usize]);
                x.id.cmp(&y.id).then_with(|| x.origin.cmp(&y.origin))
            };
            for v in index.exact.values_mut() {
                if let Ids::Many(v) = v {
                    v.sort_by(order);
                }
            }
            for (_, v) in index.v4.iter_mut().filter(|(_, v)| v.len() > 1) {
                v.sort_by(order);
            }
            for (_, v) in index.v6.iter_mut().filter(|(_, v)| v.len() > 1) {
                v.sort_by(order);
            }
        }
        (index, dropped)
    }

    /// Number of indexed indicators.
    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// True when built for compat (Sentinel-literal) matching.
    pub fn is_compat(&self) -> bool {
        self.compat
    }

    /// All indexed indicators, in selection order.
    pub fn iter(&self) -> impl Iterator<Item = &Indicator> {
        self.indicators.iter().map(|a| a.as_ref())
    }

    /// Indicators covering `ip`: the exact address first, then covering networks from the
    /// most specific to the least. IPv4-mapped IPv6 is looked up as IPv4. In compat mode the
    /// address's text form is looked up literally (use [`Self::lookup_text`] with the log's
    /// own text to be exact).
    pub fn lookup(&self, ip: IpAddr) -> Vec<&Indicator> {
        if self.compat {
            return self.lookup_text(&ip.to_string());
        }
        let ip = canonical(ip);
        let mut out: Vec<&Indicator> = Vec::new();
        if let Some(ids) = self.exact.get(&ip) {
            out.extend(ids.as_slice().iter().map(|&i| self.get(i)));
        }
        match ip {
            IpAddr::V4(a) if !self.v4.is_empty() => {
                if let Ok(p) = Ipv4Net::new(a, 32) {
                    // `cover` yields least specific first; at most 33 prefixes cover a /32.
                    let mut buf: [&[u32]; 33] = [&[]; 33];
                    let mut n = 0;
                    for (_, v) in self.v4.cover(&p) {
                        if let Some(slot) = buf.get_mut(n) {
                            *slot = v.as_slice();
                            n += 1;
                        }
                    }
                    for ids in buf.iter().take(n).rev() {
                        out.extend(ids.iter().map(|&i| self.get(i)));
                    }
                }
            }
            IpAddr::V6(a) if !self.v6.is_empty() => {
                if let Ok(p) = Ipv6Net::new(a, 128) {
                    let mut buf: [&[u32]; 129] = [&[]; 129];
                    let mut n = 0;
                    for (_, v) in self.v6.cover(&p) {
                        if let Some(slot) = buf.get_mut(n) {
                            *slot = v.as_slice();
                            n += 1;
                        }
                    }
                    for ids in buf.iter().take(n).rev() {
                        out.extend(ids.iter().map(|&i| self.get(i)));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Lookup by the IP text as a log wrote it. Compat: literal string equality with the
    /// indicator's text (seed line 38). Default: the text is parsed in any spelling
    /// ([`parse_ip`]); unparseable text matches nothing.
    pub fn lookup_text(&self, text: &str) -> Vec<&Indicator> {
        if self.compat {
            return self
                .text
                .get(text)
                .map(|&i| vec![self.get(i)])
                .unwrap_or_default();
        }
        parse_ip(text).map(|ip| self.lookup(ip)).unwrap_or_default()
    }

    /// Indicators that an event from `ip` at `event_time` matches: covering indicators whose
    /// expiration is after the event (seed line 40).
    pub fn matches(&self, ip: IpAddr, event_time: Timestamp) -> Vec<&Indicator> {
        let mut v = self.lookup(ip);
        v.retain(|i| i.live_at(event_time));
        v
    }

    /// [`Self::matches`] by IP text (see [`Self::lookup_text`]).
    pub fn matches_text(&self, text: &str, event_time: Timestamp) -> Vec<&Indicator> {
        let mut v = self.lookup_text(text);
        v.retain(|i| i.live_at(event_time));
        v
    }

    fn get(&self, i: u32) -> &Indicator {
        // Indices are produced by `build` from `self.indicators`, so they are in range.
        &self.indicators[i as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsentry_model::net::parse_network;

    fn ind(id: &str, v: &str) -> Arc<Indicator> {
        Arc::new(Indicator::new(
            id,
            parse_network(v).unwrap(),
            v,
            "t",
            Timestamp::UNIX_EPOCH,
            "t:1",
        ))
    }

    /// An address with one indicator keeps it inline; with more they all come back, sorted
    /// by id (then origin), whatever their order of insertion.
    #[test]
    fn exact_addresses_with_one_or_many_indicators() {
        let (index, _) = IndicatorIndex::build(
            vec![
                ind("c", "52.178.1.1"),
                ind("z", "52.178.2.2"),
                ind("a", "52.178.1.1"),
                ind("b", "::ffff:52.178.1.1"),
                ind("y", "52.178.3.0/24"),
            ],
            false,
        );
        let ids = |ip: &str| -> Vec<String> {
            index
                .lookup(ip.parse().unwrap())
                .into_iter()
                .map(|i| i.id.clone())
                .collect()
        };
        assert_eq!(ids("52.178.1.1"), ["a", "b", "c"]);
        assert_eq!(ids("52.178.2.2"), ["z"]);
        assert_eq!(ids("52.178.3.3"), ["y"]);
        assert!(ids("52.178.2.3").is_empty());
        assert!(matches!(
            index.exact.get(&"52.178.2.2".parse().unwrap()),
            Some(Ids::One([1]))
        ));
        let mut many = Ids::One([7]);
        many.push(3);
        many.push(9);
        assert_eq!(many.as_slice(), [7, 3, 9]);
        assert_eq!(Ids::One([4]).as_slice(), [4]);
    }

    #[test]
    fn compat_build_keeps_highest_id_per_text() {
        let (index, dropped) = IndicatorIndex::build(
            vec![
                ind("b", "52.178.1.1"),
                ind("c", "52.178.1.1"),
                ind("a", "52.178.1.1"),
            ],
            true,
        );
        assert_eq!(dropped, 2);
        assert_eq!(index.len(), 1);
        assert_eq!(index.lookup_text("52.178.1.1")[0].id, "c");
    }

    #[test]
    fn default_build_orders_by_id_within_a_key() {
        let (index, dropped) = IndicatorIndex::build(
            vec![
                ind("z", "52.178.1.1"),
                ind("a", "52.178.1.1"),
                ind("m", "52.178.0.0/16"),
            ],
            false,
        );
        assert_eq!(dropped, 0);
        let got: Vec<&str> = index
            .lookup("52.178.1.1".parse().unwrap())
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(got, ["a", "z", "m"]);
        assert!(!index.is_compat());
    }
}
