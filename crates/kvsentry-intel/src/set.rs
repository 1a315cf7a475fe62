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

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::index::IndicatorIndex;
use crate::model::Indicator;
use crate::selection::{Selection, SelectionReport, compat_exclusion, default_exclusion};
use crate::store::{ClassicRow, Store};

/// Load-time skip reason: the row names no IP at all (seed line 21).
pub const SKIP_NO_IP: &str = "no IP";
/// Load-time skip reason: the IP text is neither an address nor a CIDR.
pub const SKIP_UNPARSEABLE_IP: &str = "unparseable IP";
/// Every loaded indicator version from every source.
///
/// Versions are stored compactly (see `store.rs`): the full [`Indicator`] of a version is
/// built only when a selection keeps it or [`IndicatorSet::iter`] asks for it. Cloning a set
/// shares its versions (and the indicators built from them).
#[derive(Clone)]
pub struct IndicatorSet {
    store: Arc<Store>,
    skipped: BTreeMap<String, usize>,
    lookback: SignedDuration,
}

impl std::fmt::Debug for IndicatorSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndicatorSet")
            .field("versions", &self.store.len())
            .field("distinct_ids", &self.store.ids.len())
            .field("skipped", &self.skipped)
            .field("lookback", &self.lookback)
            .finish()
    }
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
            store: Arc::new(Store::default()),
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
        Arc::make_mut(&mut self.store).push_whole(indicator);
    }

    /// Adds one Sentinel row without building its [`Indicator`] (see `store.rs`).
    pub(crate) fn push_classic(
        &mut self,
        row: &ClassicRow<'_>,
        name: &str,
        file_name: &str,
        line: usize,
    ) {
        Arc::make_mut(&mut self.store).push_classic(row, name, file_name, line);
    }

    /// Moves every version and skip count of `other` into this set (its lookback is not
    /// taken).
    pub(crate) fn absorb(&mut self, other: IndicatorSet) {
        let theirs = Arc::try_unwrap(other.store).unwrap_or_else(|shared| (*shared).clone());
        let ours = Arc::make_mut(&mut self.store);
        if ours.len() == 0 {
            *ours = theirs;
        } else {
            ours.absorb(theirs);
        }
        for (reason, n) in other.skipped {
            count(&mut self.skipped, &reason, n);
        }
    }

    /// Reserves room for a block of about `rows` versions (see `Store::reserve`).
    pub(crate) fn reserve(&mut self, rows: usize, text: usize, id_bytes: usize) {
        Arc::make_mut(&mut self.store).reserve(rows, text, id_bytes);
    }

    /// Frees the room kept for more versions (a block parsed on a worker, about to be
    /// absorbed).
    pub(crate) fn shrink(&mut self) {
        Arc::make_mut(&mut self.store).shrink();
    }

    /// Counts rows a source read but could not turn into an indicator.
    pub fn note_skipped(&mut self, reason: &str, n: usize) {
        if n > 0 {
            count(&mut self.skipped, reason, n);
        }
    }

    /// Number of indicator versions (rows with a parsed IP).
    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.len() == 0
    }

    /// All versions, in load order. Builds the full [`Indicator`] of every version (they
    /// are kept): a selection needs only the ones it keeps.
    pub fn iter(&self) -> impl Iterator<Item = &Indicator> {
        (0..self.store.len()).filter_map(|i| self.store.indicator(i).map(|a| a.as_ref()))
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
        let store = &*self.store;
        rep.no_ip = self.skipped.get(SKIP_NO_IP).copied().unwrap_or(0);
        rep.unparseable_ip = self.skipped.get(SKIP_UNPARSEABLE_IP).copied().unwrap_or(0);
        rep.skipped_at_load = self
            .skipped
            .iter()
            .filter(|(k, _)| k.as_str() != SKIP_NO_IP && k.as_str() != SKIP_UNPARSEABLE_IP)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        rep.loaded_records = store.len() + self.skipped.values().sum::<usize>();
        // Ids are interned as versions are added: every id has a version.
        rep.distinct_ids = store.ids.len();

        let window = match sel {
            Selection::AsOf { at, .. } => Some((at.checked_sub(self.lookback).unwrap_or(at), at)),
            Selection::Retro { .. } => None,
        };

        // Lines 22, 26, 27: lookback, public filter, then latest version per id.
        const NONE: usize = usize::MAX;
        // Per id: the version kept so far and its time.
        let mut latest: Vec<(usize, Timestamp)> =
            vec![(NONE, Timestamp::UNIX_EPOCH); store.ids.len()];
        let mut non_global: Vec<(&'static str, usize)> = Vec::new();
        let all = store.segments.iter().flat_map(|seg| {
            seg.versions
                .iter()
                .enumerate()
                .map(move |(j, r)| (seg, j, r))
        });
        for (i, (seg, j, r)) in all.enumerate() {
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
                compat_exclusion(seg.value_text(j))
            } else {
                default_exclusion(r.network)
            };
            if let Some(reason) = excluded {
                match non_global.iter_mut().find(|(k, _)| *k == reason) {
                    Some((_, n)) => *n += 1,
                    None => non_global.push((reason, 1)),
                }
                continue;
            }
            let Some(slot) = latest.get_mut(r.id as usize) else {
                continue;
            };
            if slot.0 == NONE {
                *slot = (i, r.version_time);
            } else {
                rep.superseded += 1;
                // arg_max: the latest TimeGenerated; on a tie the later-loaded row.
                if r.version_time >= slot.1 {
                    *slot = (i, r.version_time);
                }
            }
        }
        for (reason, n) in non_global {
            count(&mut rep.non_global, reason, n);
        }
        let mut chosen: Vec<usize> = latest
            .into_iter()
            .map(|(i, _)| i)
            .filter(|&i| i != NONE)
            .collect();
        chosen.sort_unstable();

        // Line 28: Active == true and ExpirationDateTime > now().
        let mut kept: Vec<usize> = Vec::with_capacity(chosen.len());
        for i in chosen {
            let Some(r) = store.version(i) else { continue };
            if !r.active {
                rep.inactive += 1;
                continue;
            }
            if r.revoked {
                rep.revoked += 1;
                continue;
            }
            match (r.expiration(), sel) {
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
            kept.push(i);
        }
        let kept = store.indicators(&kept);

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

#[cfg(all(test, feature = "sources"))]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write as _;

    /// The selection as it was before versions were stored compactly (every version a full
    /// `Indicator`, grouped with a hash map by id string): the reference the compact
    /// selection must equal.
    fn reference_select(
        records: &[Arc<Indicator>],
        skipped: &BTreeMap<String, usize>,
        lookback: SignedDuration,
        sel: Selection,
    ) -> (Vec<Arc<Indicator>>, SelectionReport) {
        let compat = sel.compat();
        let mut rep = SelectionReport {
            mode: match sel {
                Selection::AsOf { at, .. } => format!("as-of {at}"),
                Selection::Retro { .. } => "retro".to_string(),
            } + if compat { " (compat)" } else { "" },
            ..Default::default()
        };
        rep.no_ip = skipped.get(SKIP_NO_IP).copied().unwrap_or(0);
        rep.unparseable_ip = skipped.get(SKIP_UNPARSEABLE_IP).copied().unwrap_or(0);
        rep.skipped_at_load = skipped
            .iter()
            .filter(|(k, _)| k.as_str() != SKIP_NO_IP && k.as_str() != SKIP_UNPARSEABLE_IP)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        rep.loaded_records = records.len() + skipped.values().sum::<usize>();
        rep.distinct_ids = records
            .iter()
            .map(|r| r.id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len();
        let window = match sel {
            Selection::AsOf { at, .. } => Some((at.checked_sub(lookback).unwrap_or(at), at)),
            Selection::Retro { .. } => None,
        };
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
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
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    rep.superseded += 1;
                    if r.version_time >= records[*e.get()].version_time {
                        e.insert(i);
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(i);
                }
            }
        }
        let mut chosen: Vec<usize> = latest.into_values().collect();
        chosen.sort_unstable();
        let mut kept = Vec::new();
        for i in chosen {
            let r = &records[i];
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
                (None, _) if compat => {
                    rep.no_expiration += 1;
                    continue;
                }
                _ => {}
            }
            kept.push(Arc::clone(r));
        }
        (kept, rep)
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Sentinel rows (JSON lines) built to trip the selection: several versions per id with
    /// the latest inactive, expired, private, outside the lookback, after as-of, tied in
    /// time; rows without IP, with an unparseable IP, IPv6, CIDRs, CGNAT, no expiration,
    /// texts with escapes.
    fn adversarial_lines() -> String {
        let mut out = String::new();
        let row = |id: &str, t: &str, ip: (&str, &str), active: bool, exp: Option<&str>| {
            let exp = exp.map_or("null".to_string(), |e| format!("\"{e}\""));
            format!(
                r#"{{"TimeGenerated":"{t}","IndicatorId":"{id}","{}":"{}","Active":{active},"ExpirationDateTime":{exp},"ConfidenceScore":{},"Description":"d \"{id}\"","ThreatType":"C2","Tags":"[\"a\",\"b\"]","IndicatorProvider":"{}","TrafficLightProtocolLevel":"green"}}"#,
                ip.0,
                ip.1,
                id.len() * 7,
                if id.len().is_multiple_of(2) {
                    ""
                } else {
                    "Prov"
                },
            ) + "\n"
        };
        let ni = |v| ("NetworkIP", v);
        let far = Some("2099-01-01T00:00:00Z");
        // a: latest public wins.
        out += &row("a", "2025-07-01T00:00:00Z", ni("52.178.1.1"), true, far);
        out += &row("a", "2025-07-05T00:00:00Z", ni("52.178.1.2"), true, far);
        // b: latest private: the older public wins (private filter before arg_max).
        out += &row("b", "2025-07-01T00:00:00Z", ni("104.40.82.76"), true, far);
        out += &row("b", "2025-07-06T00:00:00Z", ni("10.1.2.3"), true, far);
        // c: latest inactive.
        out += &row("c", "2025-07-01T00:00:00Z", ni("52.178.3.3"), true, far);
        out += &row("c", "2025-07-07T00:00:00Z", ni("52.178.3.3"), false, far);
        // d: latest expired at as-of, older one not.
        out += &row("d", "2025-07-01T00:00:00Z", ni("52.178.4.4"), true, far);
        out += &row(
            "d",
            "2025-07-08T00:00:00Z",
            ni("52.178.4.4"),
            true,
            Some("2025-07-08T12:00:00Z"),
        );
        // e: only outside the lookback; f: only after as-of; g: one of each plus one inside.
        out += &row("e", "2025-05-01T00:00:00Z", ni("52.178.5.5"), true, far);
        out += &row("f", "2025-07-20T00:00:00Z", ni("52.178.6.6"), true, far);
        out += &row("g", "2025-05-01T00:00:00Z", ni("52.178.7.1"), true, far);
        out += &row("g", "2025-07-03T00:00:00Z", ni("52.178.7.2"), true, far);
        out += &row("g", "2025-07-20T00:00:00Z", ni("52.178.7.3"), true, far);
        // h: tie in time: the later-loaded row wins.
        out += &row("h", "2025-07-04T00:00:00Z", ni("52.178.8.1"), true, far);
        out += &row("h", "2025-07-04T00:00:00Z", ni("52.178.8.2"), true, far);
        // Rows without IP, with an unparseable one.
        out += r#"{"TimeGenerated":"2025-07-04T00:00:00Z","IndicatorId":"noip","NetworkIP":"","Active":true}"#;
        out += "\n";
        out += &row("bad", "2025-07-04T00:00:00Z", ni("not-an-ip"), true, far);
        // IPv6 (dropped by compat), a CIDR, CGNAT (dropped by default only), loopback.
        out += &row(
            "v6",
            "2025-07-04T00:00:00Z",
            ni("2a01:111:f400::1"),
            true,
            far,
        );
        out += &row(
            "net",
            "2025-07-04T00:00:00Z",
            ni("52.178.0.0/16"),
            true,
            far,
        );
        out += &row("cgn", "2025-07-04T00:00:00Z", ni("100.64.0.1"), true, far);
        out += &row("lo", "2025-07-04T00:00:00Z", ni("127.0.0.1"), true, far);
        // No expiration (dropped by compat); the IP from a later column of the chain.
        out += &row(
            "noexp",
            "2025-07-04T00:00:00Z",
            ni("52.178.9.9"),
            true,
            None,
        );
        out += &row(
            "src",
            "2025-07-04T00:00:00Z",
            ("NetworkSourceIP", "52.178.10.10"),
            true,
            far,
        );
        // Two ids on one IP text (compat keeps the highest id).
        out += &row(
            "dup1",
            "2025-07-04T00:00:00Z",
            ni("52.178.11.11"),
            true,
            far,
        );
        out += &row(
            "dup2",
            "2025-07-04T00:00:00Z",
            ni("52.178.11.11"),
            true,
            far,
        );
        // A private version only.
        out += &row("priv", "2025-07-04T00:00:00Z", ni("192.168.1.1"), true, far);
        // Weird but valid spellings, kept as written.
        out += &row(
            "sp",
            "2025-07-04T00:00:00Z",
            ni(" 52.178.12.12 "),
            true,
            far,
        );
        out += &row(
            "mapped",
            "2025-07-04T00:00:00Z",
            ni("::ffff:52.178.13.13"),
            true,
            far,
        );
        out
    }

    fn selections() -> Vec<Selection> {
        let mut v = Vec::new();
        for compat in [false, true] {
            v.push(Selection::Retro { compat });
            for at in [
                "2025-07-09T01:00:00Z",
                "2025-07-04T00:00:00Z",
                "2025-05-01T00:00:00Z",
            ] {
                v.push(Selection::AsOf { at: ts(at), compat });
            }
        }
        v
    }

    /// The compact selection equals the reference on every mode: the same report, the same
    /// indicators (all fields) in the same order, the same index.
    fn assert_same_as_reference(set: &IndicatorSet) {
        let records: Vec<Arc<Indicator>> = set.iter().map(|i| Arc::new(i.clone())).collect();
        for sel in selections() {
            let (index, rep) = set.select(sel);
            let (kept, mut want) = reference_select(&records, set.skipped(), set.lookback(), sel);
            let (want_index, dropped) = IndicatorIndex::build(kept, sel.compat());
            want.duplicate_ip = dropped;
            want.kept = want_index.len();
            assert_eq!(rep, want, "{sel:?}");
            let got: Vec<&Indicator> = index.iter().collect();
            let exp: Vec<&Indicator> = want_index.iter().collect();
            assert_eq!(got, exp, "{sel:?}");
        }
    }

    #[test]
    fn compact_selection_equals_reference_on_adversarial_rows() {
        let dir = std::env::temp_dir().join(format!("kvsentry-intel-sel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("adversarial.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(adversarial_lines().as_bytes()).unwrap();
        drop(f);
        let mut set = IndicatorSet::new();
        let report = crate::load_path(&path, None, &mut set).unwrap();
        assert_eq!(report.records(), 26);
        assert_eq!(set.skipped().get(SKIP_NO_IP), Some(&1));
        assert_eq!(set.skipped().get(SKIP_UNPARSEABLE_IP), Some(&1));
        assert_same_as_reference(&set);

        // Pinned: the as-of run of the brief's shape.
        let (index, rep) = set.select(Selection::AsOf {
            at: ts("2025-07-09T01:00:00Z"),
            compat: false,
        });
        assert_eq!(
            (
                rep.distinct_ids,
                rep.outside_lookback,
                rep.after_as_of,
                rep.superseded
            ),
            (19, 2, 2, 4)
        );
        assert_eq!((rep.inactive, rep.expired, rep.kept), (1, 1, 12));
        assert_eq!(
            rep.non_global,
            BTreeMap::from([
                ("carrier-grade NAT (100.64.0.0/10)".to_string(), 1),
                ("loopback".to_string(), 1),
                ("private (RFC 1918)".to_string(), 2),
            ])
        );
        let b = index.lookup("104.40.82.76".parse().unwrap());
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].id, "b");
        assert_eq!(b[0].origin, format!("{}:3", path.display()));
        let h = index.lookup("52.178.8.2".parse().unwrap());
        assert_eq!(h[0].id, "h");
        let older = index.lookup("52.178.8.1".parse().unwrap());
        assert_eq!(
            older.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["net"]
        );
        assert_eq!(h[0].description.as_deref(), Some("d \"h\""));
        assert_eq!(h[0].tags, ["a", "b"]);
        assert_eq!(h[0].source, "Prov");
        let dup = index.lookup("52.178.11.11".parse().unwrap());
        assert_eq!(
            dup.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["dup1", "dup2", "net"]
        );
        assert_eq!(dup[0].source, "adversarial.jsonl");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Sets mixing compact rows, whole indicators pushed by other sources, blocks absorbed
    /// from other sets, and a clone with its own lookback, select as the reference does.
    #[test]
    fn mixed_and_absorbed_sets_select_as_reference() {
        let dir = std::env::temp_dir().join(format!("kvsentry-intel-mix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rows.jsonl");
        std::fs::write(&path, adversarial_lines()).unwrap();
        let mut set = IndicatorSet::new();
        // Whole indicators first, sharing ids with the rows.
        let mut w = Indicator::new(
            "a",
            "52.178.1.9/32".parse().unwrap(),
            "52.178.1.9",
            "stix",
            ts("2025-07-05T00:00:00Z"),
            "x:1",
        );
        w.expiration = Some(ts("2099-01-01T00:00:00Z"));
        set.push(w.clone());
        w.id = "whole".into();
        w.revoked = true;
        set.push(w.clone());
        crate::load_path(&path, None, &mut set).unwrap();
        let mut other = IndicatorSet::new();
        crate::load_path(&path, None, &mut other).unwrap();
        w.id = "g".into();
        w.revoked = false;
        w.version_time = ts("2025-07-08T00:00:00Z");
        other.push(w);
        set.absorb(other);
        assert_eq!(set.len(), 2 + 26 + 26 + 1);
        assert_same_as_reference(&set);
        let mut copy = set.clone();
        copy.set_lookback(SignedDuration::from_hours(24));
        assert_same_as_reference(&copy);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
