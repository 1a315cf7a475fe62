//! The Sentinel seed rule's selection, pinned on `fixtures/sentinel_semantics.json` (a JSON
//! export of `ThreatIntelligenceIndicator` with one case per indicator id, see the ids).

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use kvsentry_intel::{
    IndicatorIndex, IndicatorSet, IpColumn, Selection, SelectionReport, TiFormat, load_path,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn loaded() -> IndicatorSet {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("sentinel_semantics.json"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Sentinel);
    assert_eq!(rep.records(), 25);
    set
}

const AT: &str = "2025-06-15T00:00:00Z";

fn ids(index: &IndicatorIndex, ip: &str) -> Vec<String> {
    index
        .lookup_text(ip)
        .into_iter()
        .map(|i| i.id.clone())
        .collect()
}

fn all_ids(index: &IndicatorIndex) -> Vec<String> {
    let mut v: Vec<String> = index.iter().map(|i| i.id.clone()).collect();
    v.sort();
    v
}

fn map(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn as_of_default_report_is_exact() {
    let set = loaded();
    let (index, rep) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: false,
    });
    assert_eq!(
        rep,
        SelectionReport {
            mode: "as-of 2025-06-15T00:00:00Z".into(),
            loaded_records: 28,
            distinct_ids: 22,
            kept: 12,
            no_ip: 2,
            unparseable_ip: 1,
            skipped_at_load: BTreeMap::new(),
            outside_lookback: 1,
            after_as_of: 1,
            non_global: map(&[
                ("carrier-grade NAT (100.64.0.0/10)", 1),
                ("link-local", 1),
                ("link-local (fe80::/10)", 1),
                ("loopback", 2),
                ("private (RFC 1918)", 2),
            ]),
            superseded: 2,
            inactive: 1,
            revoked: 0,
            expired: 1,
            no_expiration: 0,
            duplicate_ip: 0,
        }
    );
    assert_eq!(
        all_ids(&index),
        [
            "ind-A", "ind-B", "ind-C", "ind-F", "ind-I1", "ind-I2", "ind-I3", "ind-I4", "ind-J",
            "ind-K", "ind-L1", "ind-L2"
        ]
    );
}

#[test]
fn latest_version_wins_and_private_latest_lets_older_public_win() {
    let set = loaded();
    let (index, _) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: false,
    });
    // ind-B moved from .1 to .2: only the latest IP matches.
    assert_eq!(ids(&index, "52.178.10.2"), ["ind-B"]);
    assert!(ids(&index, "52.178.10.1").is_empty());
    // ind-C's latest version is 10.1.2.3: dropped before arg_max, so v1 (public) wins.
    assert_eq!(ids(&index, "52.178.20.1"), ["ind-C"]);
    assert!(ids(&index, "10.1.2.3").is_empty());
    // ind-D deactivated in its latest version.
    assert!(ids(&index, "52.178.30.1").is_empty());
    // ind-E expired before AT; ind-G older than 14 days; ind-M generated after AT.
    assert!(ids(&index, "52.178.40.1").is_empty());
    assert!(ids(&index, "52.178.60.1").is_empty());
    assert!(ids(&index, "52.178.90.1").is_empty());
}

#[test]
fn ip_column_chain_precedence() {
    let set = loaded();
    let (index, _) = set.select(Selection::Retro { compat: false });
    let col = |ip: &str| {
        let v = index.lookup_text(ip);
        assert_eq!(v.len(), 1, "{ip}");
        let s = v[0].sentinel.as_ref().unwrap();
        (v[0].id.clone(), s.ip_column, v[0].value_text.clone())
    };
    // NetworkIP "" -> NetworkDestinationIP (NetworkSourceIP ignored).
    assert_eq!(
        col("52.178.70.1"),
        (
            "ind-I1".into(),
            Some(IpColumn::NetworkDestinationIP),
            "52.178.70.1".into()
        )
    );
    assert!(index.lookup_text("52.178.70.2").is_empty());
    // NetworkIP null, NetworkDestinationIP "" -> NetworkSourceIP (Email ignored).
    assert_eq!(
        col("52.178.70.3"),
        (
            "ind-I2".into(),
            Some(IpColumn::NetworkSourceIP),
            "52.178.70.3".into()
        )
    );
    assert!(index.lookup_text("52.178.70.4").is_empty());
    // Only EmailSourceIpAddress filled.
    assert_eq!(
        col("52.178.70.5"),
        (
            "ind-I3".into(),
            Some(IpColumn::EmailSourceIpAddress),
            "52.178.70.5".into()
        )
    );
    // NetworkIP wins over NetworkDestinationIP.
    assert_eq!(
        col("52.178.70.6"),
        (
            "ind-I4".into(),
            Some(IpColumn::NetworkIP),
            "52.178.70.6".into()
        )
    );
    assert!(index.lookup_text("52.178.70.7").is_empty());
}

#[test]
fn retro_keeps_expired_and_old_but_matches_only_before_expiry() {
    let set = loaded();
    let (index, rep) = set.select(Selection::Retro { compat: false });
    assert_eq!(rep.kept, 15);
    assert_eq!(rep.outside_lookback, 0);
    assert_eq!(rep.expired, 0);
    assert_eq!(rep.inactive, 1);
    assert_eq!(rep.superseded, 2);
    assert_eq!(
        all_ids(&index),
        [
            "ind-A", "ind-B", "ind-C", "ind-E", "ind-F", "ind-G", "ind-I1", "ind-I2", "ind-I3",
            "ind-I4", "ind-J", "ind-K", "ind-L1", "ind-L2", "ind-M"
        ]
    );
    let m = |ip: &str, t: &str| -> Vec<String> {
        index
            .matches_text(ip, ts(t))
            .into_iter()
            .map(|i| i.id.clone())
            .collect()
    };
    // ind-E expired 2025-06-14T00:00Z: events strictly before match.
    assert_eq!(m("52.178.40.1", "2025-06-13T23:59:59Z"), ["ind-E"]);
    assert!(m("52.178.40.1", "2025-06-14T00:00:00Z").is_empty());
    // An event long before the indicator was published still matches.
    assert_eq!(m("52.178.40.1", "2020-01-01T00:00:00Z"), ["ind-E"]);
}

#[test]
fn as_of_indicator_expiring_during_the_log_span() {
    let set = loaded();
    let (index, _) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: false,
    });
    let ip = "52.178.50.1".parse().unwrap();
    assert_eq!(index.matches(ip, ts("2025-06-19T23:00:00Z")).len(), 1);
    assert_eq!(index.matches(ip, ts("2025-06-20T00:00:00Z")).len(), 0);
    assert_eq!(index.matches(ip, ts("2025-06-21T00:00:00Z")).len(), 0);
}

#[test]
fn lookback_is_configurable() {
    let mut set = loaded();
    set.set_lookback(jiff::SignedDuration::from_hours(24 * 60));
    let (index, rep) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: false,
    });
    assert_eq!(rep.outside_lookback, 0);
    assert_eq!(ids(&index, "52.178.60.1"), ["ind-G"]);
}

#[test]
fn compat_reproduces_sentinel_literally() {
    let set = loaded();
    let (index, rep) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: true,
    });
    assert_eq!(rep.mode, "as-of 2025-06-15T00:00:00Z (compat)");
    assert_eq!(
        rep.non_global,
        map(&[
            ("not IPv4 (ipv4_is_private is null)", 3),
            ("private (RFC 1918)", 2),
            ("starts with 127.", 1),
        ])
    );
    assert_eq!(rep.duplicate_ip, 1);
    assert_eq!(rep.kept, 12);
    assert_eq!(
        all_ids(&index),
        [
            "ind-A", "ind-B", "ind-C", "ind-F", "ind-H2", "ind-H6", "ind-I1", "ind-I2", "ind-I3",
            "ind-I4", "ind-K", "ind-L2"
        ]
    );
    // Link-local IPv4 and CGNAT pass Sentinel's filter.
    assert_eq!(ids(&index, "169.254.10.10"), ["ind-H2"]);
    assert_eq!(ids(&index, "100.64.1.1"), ["ind-H6"]);
    // IPv6 indicators are dropped (ipv4_is_private is null).
    assert!(ids(&index, "2a01:111:f400::5").is_empty());
    // A CIDR passes the filter but never equals a caller IP string.
    assert!(ids(&index, "52.179.1.1").is_empty());
    assert_eq!(ids(&index, "52.179.0.0/16"), ["ind-K"]);
    // Two indicators on one IP: innerunique keeps one, deterministically the highest id.
    assert_eq!(ids(&index, "52.178.80.1"), ["ind-L2"]);
    // String equality: another spelling of the same address does not match.
    assert!(ids(&index, "::ffff:104.40.82.76").is_empty());
    assert_eq!(ids(&index, "104.40.82.76"), ["ind-A"]);
}

#[test]
fn default_mode_on_the_same_cases() {
    let set = loaded();
    let (index, _) = set.select(Selection::AsOf {
        at: ts(AT),
        compat: false,
    });
    assert!(ids(&index, "169.254.10.10").is_empty());
    assert!(ids(&index, "100.64.1.1").is_empty());
    // IPv6 in any spelling.
    assert_eq!(ids(&index, "2a01:111:f400::5"), ["ind-J"]);
    assert_eq!(
        ids(&index, "2A01:0111:F400:0000:0000:0000:0000:0005"),
        ["ind-J"]
    );
    assert_eq!(ids(&index, "[2a01:111:f400::5]:443"), ["ind-J"]);
    // CIDR containment.
    assert_eq!(ids(&index, "52.179.200.7"), ["ind-K"]);
    // Every indicator on one IP alerts, in id order.
    assert_eq!(ids(&index, "52.178.80.1"), ["ind-L1", "ind-L2"]);
    // IPv4-mapped spelling of a caller.
    assert_eq!(ids(&index, "::ffff:104.40.82.76"), ["ind-A"]);
}

/// `explain` agrees with `select` in every mode: for every address a version names, the
/// indicators it calls selected are exactly those the index returns, and every other
/// indicator naming the address gets a reason.
#[test]
fn explain_agrees_with_select() {
    use kvsentry_intel::Verdict;
    let set = loaded();
    let addrs: Vec<std::net::IpAddr> = set.iter().map(|i| i.network.addr()).collect();
    let mut reasons = std::collections::BTreeSet::new();
    for sel in [
        Selection::AsOf {
            at: ts(AT),
            compat: false,
        },
        Selection::AsOf {
            at: ts(AT),
            compat: true,
        },
        Selection::Retro { compat: false },
        Selection::Retro { compat: true },
    ] {
        let (index, _) = set.select(sel);
        for &ip in &addrs {
            let mut want: Vec<String> = index.lookup(ip).iter().map(|i| i.id.clone()).collect();
            want.sort();
            let verdicts = set.explain(ip, sel);
            let mut got: Vec<String> = verdicts
                .iter()
                .filter(|v| v.verdict == Verdict::Selected)
                .map(|v| v.indicator.id.clone())
                .collect();
            got.sort();
            assert_eq!(got, want, "{ip} {sel:?}");
            let mut named: Vec<&str> = verdicts.iter().map(|v| v.indicator.id.as_str()).collect();
            named.sort();
            named.dedup();
            assert_eq!(
                named.len(),
                verdicts.len(),
                "one verdict per indicator: {ip}"
            );
            for v in &verdicts {
                assert!(v.indicator.network.contains(&ip), "{ip}: {v:?}");
                let text = v.verdict.to_string();
                reasons.insert(text.split(['(', ':']).take(2).collect::<Vec<_>>().join(":"));
            }
        }
    }
    // The fixture's cases reach these reasons.
    for r in [
        "not selected: its latest version is inactive",
        "not selected: expired at ",
        "not selected: not a public address",
        "not selected: superseded by a later version ",
        "not selected: last generated before the lookback started ",
    ] {
        assert!(
            reasons.iter().any(|x| x.starts_with(r.trim_end())),
            "{r}: {reasons:?}"
        );
    }
}

/// An indicator whose later version names a private address: asked about that address, the
/// reason is the address (not a public one), not a supersession by the older public version
/// the selection keeps; asked about the public one, it is selected.
#[test]
fn explain_names_the_filter_that_dropped_the_version() {
    use kvsentry_intel::{Indicator, Verdict};
    let mut set = IndicatorSet::new();
    let version = |ip: &str, t: &str| {
        Indicator::new(
            "ti-flip",
            ip.parse().unwrap(),
            ip.split('/').next().unwrap(),
            "feed",
            ts(t),
            "feed.jsonl:1",
        )
    };
    set.push(version("52.178.40.1/32", "2025-06-01T00:00:00Z"));
    set.push(version("10.40.0.1/32", "2025-06-10T00:00:00Z"));
    let sel = Selection::Retro { compat: false };
    let private = set.explain("10.40.0.1".parse().unwrap(), sel);
    assert_eq!(private.len(), 1);
    assert_eq!(
        private[0].verdict,
        Verdict::NonGlobal {
            reason: "private (RFC 1918)"
        }
    );
    let public = set.explain("52.178.40.1".parse().unwrap(), sel);
    assert_eq!(public[0].verdict, Verdict::Selected);
    // A later public version elsewhere supersedes it.
    set.push(version("52.178.40.2/32", "2025-06-20T00:00:00Z"));
    let moved = set.explain("52.178.40.1".parse().unwrap(), sel);
    assert_eq!(
        moved[0].verdict,
        Verdict::Superseded {
            value: "52.178.40.2".into(),
            version_time: ts("2025-06-20T00:00:00Z"),
        }
    );
}
