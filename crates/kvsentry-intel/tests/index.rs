//! IndicatorIndex lookups: exact addresses in any spelling, IPv4-mapped IPv6, CIDR
//! longest-prefix with every covering network returned.

use std::net::IpAddr;

use jiff::Timestamp;
use kvsentry_intel::{Indicator, IndicatorSet, Selection, parse_network};

fn ind(id: &str, value: &str) -> Indicator {
    Indicator::new(
        id,
        parse_network(value).unwrap(),
        value,
        "test",
        "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
        format!("test:{id}"),
    )
}

fn index_of(values: &[(&str, &str)]) -> kvsentry_intel::IndicatorIndex {
    let mut set = IndicatorSet::new();
    for (id, v) in values {
        set.push(ind(id, v));
    }
    set.select(Selection::Retro { compat: false }).0
}

fn ids(index: &kvsentry_intel::IndicatorIndex, ip: &str) -> Vec<String> {
    let ip: IpAddr = ip.parse().unwrap();
    index.lookup(ip).into_iter().map(|i| i.id.clone()).collect()
}

#[test]
fn exact_v4_and_v6_in_any_spelling() {
    let index = index_of(&[
        ("v4", "104.40.82.76"),
        ("v6", "2A01:0111:F400:0000:0000:0000:0000:0001"),
        ("mapped", "::ffff:52.178.7.7"),
    ]);
    assert_eq!(ids(&index, "104.40.82.76"), ["v4"]);
    assert_eq!(ids(&index, "::ffff:104.40.82.76"), ["v4"]);
    assert_eq!(ids(&index, "2a01:111:f400::1"), ["v6"]);
    assert_eq!(ids(&index, "2a01:111:f400:0::1"), ["v6"]);
    // An IPv4-mapped indicator is the IPv4 address.
    assert_eq!(ids(&index, "52.178.7.7"), ["mapped"]);
    assert!(ids(&index, "104.40.82.77").is_empty());
    assert!(ids(&index, "2a01:111:f400::2").is_empty());
    assert_eq!(
        index
            .lookup_text("[2A01:111:F400::1]:443")
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        ["v6"]
    );
    assert!(index.lookup_text("<Redacted>").is_empty());
}

#[test]
fn overlapping_prefixes_return_all_most_specific_first() {
    let index = index_of(&[
        ("slash8", "52.0.0.0/8"),
        ("slash16", "52.178.0.0/16"),
        ("slash24", "52.178.10.0/24"),
        ("host", "52.178.10.5"),
        ("other24", "52.178.11.0/24"),
        ("v6-32", "2a01:111::/32"),
        ("v6-48", "2a01:111:f400::/48"),
        ("slash16-b", "52.178.0.0/16"),
    ]);
    assert_eq!(
        ids(&index, "52.178.10.5"),
        ["host", "slash24", "slash16", "slash16-b", "slash8"]
    );
    assert_eq!(
        ids(&index, "52.178.10.6"),
        ["slash24", "slash16", "slash16-b", "slash8"]
    );
    assert_eq!(ids(&index, "52.1.1.1"), ["slash8"]);
    assert_eq!(
        ids(&index, "::ffff:52.178.11.1"),
        ["other24", "slash16", "slash16-b", "slash8"]
    );
    assert!(ids(&index, "53.0.0.1").is_empty());
    assert_eq!(ids(&index, "2a01:111:f400::99"), ["v6-48", "v6-32"]);
    assert_eq!(ids(&index, "2a01:111:1::1"), ["v6-32"]);
    assert!(ids(&index, "2a01:112::1").is_empty());
}

#[test]
fn matches_respects_expiration_per_indicator() {
    let mut set = IndicatorSet::new();
    let mut short = ind("short", "52.178.0.0/16");
    short.expiration = Some("2025-03-01T00:00:00Z".parse().unwrap());
    set.push(short);
    set.push(ind("forever", "52.178.1.1"));
    let (index, _) = set.select(Selection::Retro { compat: false });
    let ip: IpAddr = "52.178.1.1".parse().unwrap();
    let at = |t: &str| -> Vec<String> {
        index
            .matches(ip, t.parse().unwrap())
            .into_iter()
            .map(|i| i.id.clone())
            .collect()
    };
    assert_eq!(at("2025-02-28T23:59:59Z"), ["forever", "short"]);
    assert_eq!(at("2025-03-01T00:00:00Z"), ["forever"]);
}

#[test]
fn compat_lookup_is_by_text() {
    let mut set = IndicatorSet::new();
    let mut a = ind("a", "104.40.82.76");
    a.expiration = Some("2030-01-01T00:00:00Z".parse().unwrap());
    set.push(a);
    // No expiration: can never alert in Sentinel, so compat drops it.
    set.push(ind("b", "52.178.1.1"));
    let (index, rep) = set.select(Selection::Retro { compat: true });
    assert_eq!((rep.kept, rep.no_expiration), (1, 1));
    assert!(index.is_compat());
    assert_eq!(index.lookup_text("104.40.82.76").len(), 1);
    assert_eq!(index.lookup("104.40.82.76".parse().unwrap()).len(), 1);
    assert!(index.lookup_text("104.40.82.76:443").is_empty());
    assert!(index.lookup_text(" 104.40.82.76").is_empty());
}
