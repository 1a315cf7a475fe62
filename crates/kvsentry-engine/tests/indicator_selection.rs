//! `kind: indicator_match` (the built-in Sentinel rule "TI map IP entity to Azure Key Vault
//! logs"): which indicators a run selects (versions, activity, expiry, lookback, addresses
//! that never alert, the IP column).

use kvsentry_engine::TiMode;
use kvsentry_model::AuditEvent;
use serde_json::{Value, json};

#[path = "support/intel.rs"]
mod intel;
use intel::*;

#[test]
fn latest_version_per_indicator_id_wins() {
    let set = load(&[
        ti_row(
            "ind-A",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "104.40.82.76",
            EXP,
        ),
        ti_row(
            "ind-A",
            "2026-01-03T00:00:00Z",
            "NetworkIP",
            "52.178.10.1",
            EXP,
        ),
        // An older version loaded after the newer one does not win.
        ti_row(
            "ind-A",
            "2026-01-02T00:00:00Z",
            "NetworkIP",
            "52.178.10.2",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-05T10:00:00.1234567Z", "104.40.82.76", 1),
        kv("2026-01-05T10:05:00.1234567Z", "52.178.10.1", 2),
        kv("2026-01-05T10:06:00.1234567Z", "52.178.10.2", 3),
    ];
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-A", "52.178.10.1", "2026-01-05T10:05:00.1234567Z", 1)]
    );
    let ti = stats.rule(TI).unwrap().indicator.as_ref().unwrap();
    assert_eq!(ti.mode, "retro");
    assert_eq!(ti.indicators, 1);
    assert_eq!(ti.selection.as_ref().unwrap().superseded, 2);
    assert_eq!(ti.indicator_matches, 1);
    assert_eq!(ti.pairs, 1);
    assert_eq!(ti.triggered, Some(true));
    assert_eq!(stats.rule(TI).unwrap().events_matched, 3);
    assert_eq!(stats.rule(TI).unwrap().alerts, 1);
}

#[test]
fn a_deactivated_latest_version_disables_the_indicator() {
    let mut off = ti_row(
        "ind-B",
        "2026-01-04T00:00:00Z",
        "NetworkIP",
        "52.178.10.3",
        EXP,
    );
    off["Active"] = json!(false);
    let set = load(&[
        ti_row(
            "ind-B",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.10.3",
            EXP,
        ),
        off,
    ]);
    let events = [kv("2026-01-05T10:00:00Z", "52.178.10.3", 1)];
    for mode in [TiMode::Retro, TiMode::AsOf(ts("2026-01-05T11:00:00Z"))] {
        let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), mode), &events);
        assert!(alerts.is_empty(), "{mode:?}");
        let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
        assert_eq!(ti.selection.unwrap().inactive, 1, "{mode:?}");
        assert_eq!(ti.indicators, 0);
        assert_eq!(
            ti.note.as_deref(),
            Some("no indicator survived the selection: the rule cannot alert")
        );
    }
}

#[test]
fn expired_indicator_as_of_excludes_retro_keeps_events_before_expiry() {
    // Expires during the log span: events at or after the expiration never match, and the
    // alert keeps the latest event before it.
    let set = load(&[ti_row(
        "ind-C",
        "2025-12-30T00:00:00Z",
        "NetworkIP",
        "52.178.10.4",
        "2026-01-06T00:00:00Z",
    )]);
    let events = [
        kv("2026-01-05T10:00:00.0000000Z", "52.178.10.4", 1),
        kv("2026-01-06T10:00:00.0000000Z", "52.178.10.4", 2),
        kv("2026-01-05T23:59:59.9999999Z", "52.178.10.4", 3),
        kv("2026-01-06T00:00:00.0000000Z", "52.178.10.4", 4),
    ];
    let (alerts, _) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
    assert_eq!(alerts[0].fields["first_event_time"], "2026-01-05T10:00:00Z");
    assert_eq!(alerts[0].fields["expiration"], "2026-01-06T00:00:00Z");
    assert_eq!(
        alerts[0].fields["correlation_id"],
        "a6c3d2e1-0000-4000-8000-000000000003"
    );
    // The same in compat mode (string equality on an IPv4 address).
    let (alerts, _) = run(&ti_rules(compat), opts(set.clone(), TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
    // A run on Jan 7: `ExpirationDateTime > now()` drops it.
    let (alerts, stats) = run(
        &ti_rules(|y| y),
        opts(set.clone(), TiMode::AsOf(ts("2026-01-07T00:00:00Z"))),
        &events,
    );
    assert!(alerts.is_empty());
    let ti = stats.rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!(ti.mode, "as-of 2026-01-07T00:00:00Z");
    assert_eq!(ti.selection.unwrap().expired, 1);
    // A run on Jan 5 at noon keeps it; the event of Jan 6 still does not match.
    let (alerts, _) = run(
        &ti_rules(|y| y),
        opts(set, TiMode::AsOf(ts("2026-01-05T12:00:00Z"))),
        &events,
    );
    assert_eq!(
        summary(&alerts),
        vec![s("ind-C", "52.178.10.4", "2026-01-05T23:59:59.9999999Z", 2)]
    );
}

#[test]
fn as_of_ignores_indicator_records_older_than_the_lookback() {
    let set = load(&[
        ti_row(
            "ind-old",
            "2026-01-01T00:00:00Z",
            "NetworkIP",
            "52.178.11.1",
            EXP,
        ),
        ti_row(
            "ind-new",
            "2026-01-10T00:00:00Z",
            "NetworkIP",
            "52.178.11.2",
            EXP,
        ),
        // Generated after the run: did not exist yet.
        ti_row(
            "ind-later",
            "2026-01-21T00:00:00Z",
            "NetworkIP",
            "52.178.11.3",
            EXP,
        ),
    ]);
    let events = [
        kv("2026-01-19T10:00:00Z", "52.178.11.1", 1),
        kv("2026-01-19T10:01:00Z", "52.178.11.2", 2),
        kv("2026-01-19T10:02:00Z", "52.178.11.3", 3),
    ];
    let at = TiMode::AsOf(ts("2026-01-20T00:00:00Z"));
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), at), &events);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-new", "52.178.11.2", "2026-01-19T10:01:00Z", 1)]
    );
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!((sel.outside_lookback, sel.after_as_of, sel.kept), (1, 1, 1));
    // The rule's ioc_lookback applies: 30 days reaches the Jan 1 record.
    let (alerts, _) = run(
        &ti_rules(|y| y.replace("ioc_lookback: 14d", "ioc_lookback: 30d")),
        opts(set.clone(), at),
        &events,
    );
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-old", "52.178.11.1", "2026-01-19T10:00:00Z", 1),
            s("ind-new", "52.178.11.2", "2026-01-19T10:01:00Z", 1)
        ]
    );
    // Retro uses every record, whatever its age.
    let (alerts, _) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(alerts.len(), 3);
}

#[test]
fn private_loopback_and_link_local_indicators_never_alert() {
    let bad = [
        "10.1.2.3",
        "192.168.7.7",
        "172.16.0.9",
        "127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "::1",
    ];
    let rows: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            ti_row(
                &format!("ind-p{i}"),
                "2026-01-01T00:00:00Z",
                "NetworkIP",
                ip,
                EXP,
            )
        })
        .collect();
    let set = load(&rows);
    let events: Vec<AuditEvent<'static>> = bad
        .iter()
        .enumerate()
        .map(|(i, ip)| kv("2026-01-05T10:00:00Z", ip, i as u64 + 1))
        .collect();
    let (alerts, stats) = run(&ti_rules(|y| y), opts(set.clone(), TiMode::Retro), &events);
    assert!(alerts.is_empty(), "{}", summary(&alerts).len());
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!(sel.non_global.values().sum::<usize>(), 7);
    assert_eq!(sel.kept, 0);
    // Compat: the KQL's own filter; 169.254/16 passes it (ipv4_is_private is RFC 1918 only),
    // which is what Sentinel does: it is the only one left.
    let (alerts, stats) = run(&ti_rules(compat), opts(set, TiMode::Retro), &events);
    let sel = stats
        .rule(TI)
        .unwrap()
        .indicator
        .clone()
        .unwrap()
        .selection
        .unwrap();
    assert_eq!(sel.kept, 1);
    assert_eq!(
        summary(&alerts),
        vec![s("ind-p4", "169.254.169.254", "2026-01-05T10:00:00Z", 1)]
    );
}

#[test]
fn ip_column_precedence_follows_the_iff_chain() {
    let mut all4 = ti_row(
        "ind-dst",
        "2026-01-01T00:00:00Z",
        "NetworkDestinationIP",
        "52.178.20.1",
        EXP,
    );
    all4["NetworkSourceIP"] = json!("52.178.20.2");
    all4["EmailSourceIpAddress"] = json!("52.178.20.3");
    all4["NetworkIP"] = json!("");
    let mut src = ti_row(
        "ind-src",
        "2026-01-01T00:00:00Z",
        "NetworkSourceIP",
        "52.178.21.1",
        EXP,
    );
    src["EmailSourceIpAddress"] = json!("52.178.21.2");
    let email = ti_row(
        "ind-email",
        "2026-01-01T00:00:00Z",
        "EmailSourceIpAddress",
        "52.178.22.1",
        EXP,
    );
    let mut net = ti_row(
        "ind-net",
        "2026-01-01T00:00:00Z",
        "NetworkIP",
        "52.178.23.1",
        EXP,
    );
    net["NetworkDestinationIP"] = json!("52.178.23.2");
    let set = load(&[all4, src, email, net]);
    let ips = [
        "52.178.20.1",
        "52.178.20.2",
        "52.178.20.3",
        "52.178.21.1",
        "52.178.21.2",
        "52.178.22.1",
        "52.178.23.1",
        "52.178.23.2",
    ];
    let events: Vec<AuditEvent<'static>> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| kv(&format!("2026-01-05T10:0{i}:00Z"), ip, i as u64 + 1))
        .collect();
    let (alerts, _) = run(&ti_rules(|y| y), opts(set, TiMode::Retro), &events);
    assert_eq!(
        summary(&alerts),
        vec![
            s("ind-dst", "52.178.20.1", "2026-01-05T10:00:00Z", 1),
            s("ind-src", "52.178.21.1", "2026-01-05T10:03:00Z", 1),
            s("ind-email", "52.178.22.1", "2026-01-05T10:05:00Z", 1),
            s("ind-net", "52.178.23.1", "2026-01-05T10:06:00Z", 1),
        ]
    );
    let cols: Vec<&str> = alerts
        .iter()
        .map(|a| a.fields["indicator_ip_column"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "NetworkDestinationIP",
            "NetworkSourceIP",
            "EmailSourceIpAddress",
            "NetworkIP"
        ]
    );
}
