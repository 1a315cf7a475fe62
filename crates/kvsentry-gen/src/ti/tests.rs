//! The oracle on hand-made rows, and the generated set against the oracle.

use std::collections::HashSet;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};

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
    assert!(ti_expected_matches(&[base.clone(), newer.clone()], &events, at(), None).is_empty());
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
