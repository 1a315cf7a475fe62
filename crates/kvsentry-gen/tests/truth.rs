//! Ground truth agrees with the data, counted independently from the written records; and
//! background traffic alone never satisfies the seed rule.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::{bytes, cfg, minute_of, principal};
use jiff::Timestamp;
use kvsentry_gen::{
    APP_RULE_ID, ELASTIC_RULE_ID, GenConfig, Generator, IdentityChoice, Scenario, TI_RULE_ID,
    apply_indicators, is_read_operation, run_indicators,
};
use serde_json::Value;

fn records(c: &GenConfig) -> Vec<Value> {
    String::from_utf8(bytes("storage", c))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (time, op) of the read calls of one principal in Key Vault AuditEvent records.
fn reads_of(recs: &[Value], who: &str) -> Vec<(Timestamp, String)> {
    recs.iter()
        .filter(|r| r["category"] == "AuditEvent")
        .filter(|r| r["resourceId"].as_str().unwrap().contains("/VAULTS/"))
        .filter(|r| principal(r).as_deref() == Some(who))
        .filter(|r| is_read_operation(r["operationName"].as_str().unwrap()))
        .map(|r| {
            (
                r["time"].as_str().unwrap().parse().unwrap(),
                r["operationName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn per_minute(reads: &[(Timestamp, String)]) -> BTreeMap<i64, (usize, BTreeSet<String>)> {
    let mut m: BTreeMap<i64, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (t, op) in reads {
        let e = m.entry(t.as_second().div_euclid(60)).or_default();
        e.0 += 1;
        e.1.insert(op.clone());
    }
    m
}

fn sliding_max(reads: &[(Timestamp, String)]) -> (usize, usize) {
    let mut best = (0, 0);
    for (i, (t, _)) in reads.iter().enumerate() {
        let w: Vec<&(Timestamp, String)> = reads[i..]
            .iter()
            .take_while(|(u, _)| u.duration_since(*t).as_secs_f64() < 60.0)
            .collect();
        let ops: BTreeSet<&String> = w.iter().map(|(_, o)| o).collect();
        if (w.len(), ops.len()) > best {
            best = (w.len(), ops.len());
        }
    }
    best
}

#[test]
fn ground_truth_matches_the_written_records() {
    let c = cfg(20_000);
    let recs = records(&c);
    let g = Generator::new(&c).unwrap();
    let truth = g.ground_truth();
    assert_eq!(truth.len(), 7);
    let kinds: Vec<&str> = truth.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "retrieval_burst",
            "near_miss_count",
            "near_miss_single_op",
            "straddle_burst",
            "service_principal_burst",
            "managed_identity_burst",
            "calls_from_ips"
        ]
    );
    let rules: Vec<&str> = truth
        .iter()
        .map(|t| t.expected_alert.rule.as_str())
        .collect();
    assert_eq!(
        rules,
        [
            "tumbling", "none", "none", "sliding", "tumbling", "tumbling", "ti"
        ]
    );
    let upn_rule: Vec<bool> = truth
        .iter()
        .map(|t| t.expected_alert.elastic_upn_rule)
        .collect();
    assert_eq!(upn_rule, [true, false, false, false, false, false, false]);
    // The built-in rules that must fire; without indicators the TI rule cannot.
    let ids: Vec<Vec<&str>> = truth
        .iter()
        .map(|t| {
            t.expected_alert
                .rule_ids
                .iter()
                .map(String::as_str)
                .collect()
        })
        .collect();
    assert_eq!(
        ids,
        [
            vec![ELASTIC_RULE_ID],
            vec![],
            vec![],
            vec![],
            vec![APP_RULE_ID],
            vec![APP_RULE_ID],
            vec![],
        ]
    );
    assert!(truth.iter().all(|t| !t.expected_alert.ti));

    for gt in truth {
        let reads = reads_of(&recs, &gt.identity.principal);
        // Every event of the scenario is in the data, and nothing else from its identity.
        let all: usize = recs
            .iter()
            .filter(|r| principal(r).as_deref() == Some(gt.identity.principal.as_str()))
            .count();
        assert_eq!(all, gt.events, "{}", gt.kind);
        assert_eq!(reads.len(), gt.read_events, "{}", gt.kind);
        let minutes = per_minute(&reads);
        let hits: Vec<i64> = minutes
            .iter()
            .filter(|(_, (n, ops))| *n >= 5 && ops.len() >= 2)
            .map(|(m, _)| m * 60)
            .collect();
        let expected: Vec<i64> = gt
            .expected_alert
            .tumbling_windows
            .iter()
            .map(|t| t.as_second())
            .collect();
        assert_eq!(hits, expected, "{}", gt.kind);
        assert_eq!(gt.expected_alert.tumbling, !hits.is_empty());
        let (n, ops) = sliding_max(&reads);
        assert_eq!(gt.expected_alert.sliding, n >= 5 && ops >= 2, "{}", gt.kind);
        // Caller addresses as recorded.
        let ips: BTreeSet<String> = recs
            .iter()
            .filter(|r| principal(r).as_deref() == Some(gt.identity.principal.as_str()))
            .map(|r| r["callerIpAddress"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ips,
            gt.ips.iter().cloned().collect::<BTreeSet<_>>(),
            "{}",
            gt.kind
        );
        match gt.kind.as_str() {
            "retrieval_burst" => {
                assert_eq!(gt.events, 8);
                assert_eq!(gt.operations.len(), 3);
                assert_eq!(minutes.len(), 1);
                assert_eq!(gt.failed_events, 1);
                assert_eq!(gt.identity.kind, "user");
                assert!(gt.identity.upn.is_some());
            }
            "near_miss_count" => {
                assert_eq!(minutes.values().map(|v| v.0).collect::<Vec<_>>(), [4]);
                assert_eq!(minutes.values().next().unwrap().1.len(), 2);
            }
            "near_miss_single_op" => {
                assert_eq!(minutes.values().map(|v| v.0).collect::<Vec<_>>(), [6]);
                assert_eq!(minutes.values().next().unwrap().1.len(), 1);
            }
            "straddle_burst" => {
                // 3 + 3 across a minute boundary, all within 20 seconds.
                assert_eq!(minutes.values().map(|v| v.0).collect::<Vec<_>>(), [3, 3]);
                let ks: Vec<i64> = minutes.keys().copied().collect();
                assert_eq!(ks[1], ks[0] + 1);
                let secs: Vec<i64> = reads
                    .iter()
                    .map(|(t, _)| t.as_second().rem_euclid(60))
                    .collect();
                assert!(secs[..3].iter().all(|s| (50..60).contains(s)), "{secs:?}");
                assert!(secs[3..].iter().all(|s| (0..=10).contains(s)), "{secs:?}");
                assert_eq!(gt.sliding_window_start.unwrap(), reads[0].0);
            }
            "service_principal_burst" => {
                assert_eq!(gt.identity.kind, "service_principal");
                assert!(gt.identity.upn.is_none());
                let r = recs
                    .iter()
                    .find(|r| principal(r).as_deref() == Some(gt.identity.principal.as_str()))
                    .unwrap();
                assert_eq!(r["identity"]["claim"]["idtyp"], "app");
                assert!(r["identity"]["claim"]["upn"].is_null());
            }
            "managed_identity_burst" => {
                assert_eq!(gt.identity.kind, "managed_identity");
                let r = recs
                    .iter()
                    .find(|r| principal(r).as_deref() == Some(gt.identity.principal.as_str()))
                    .unwrap();
                assert_eq!(
                    r["identity"]["claim"]["xms_mirid"].as_str(),
                    gt.identity.managed_identity_id.as_deref()
                );
            }
            "calls_from_ips" => {
                assert_eq!(gt.events, 6);
                assert_eq!(gt.ips, ["104.40.82.76", "2a01:111:f400::1234"]);
                assert!(minutes.values().all(|v| v.0 <= 2));
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn scenarios_at_given_times_and_custom_sizes() {
    let at: Timestamp = "2025-06-30T10:15:20Z".parse().unwrap();
    let c = GenConfig::default()
        .events(2000)
        .scenario(Scenario::RetrievalBurst {
            identity: IdentityChoice::ManagedIdentity,
            calls: 12,
            distinct_ops: 5,
            at: Some(at),
        })
        .scenario(Scenario::RetrievalBurst {
            identity: IdentityChoice::User,
            calls: 5,
            distinct_ops: 1,
            at: None,
        })
        .scenario("straddle:2:2@2025-06-30T11:00:00Z".parse().unwrap());
    let g = Generator::new(&c).unwrap();
    let t = g.ground_truth();
    assert_eq!(t[0].expected_alert.rule, "tumbling");
    assert_eq!(
        t[0].window_start,
        "2025-06-30T10:15:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(t[0].first_event, at);
    assert_eq!(t[0].events, 12);
    assert_eq!(t[0].operations.len(), 5);
    assert!(!t[0].expected_alert.elastic_upn_rule);
    assert_eq!(t[1].expected_alert.rule, "none");
    // 2 + 2 never reach 5, even sliding.
    assert_eq!(t[2].expected_alert.rule, "none");
    assert_eq!(
        minute_of("2025-06-30T10:59:55Z"),
        t[2].window_start.as_second() / 60
    );
    // Adding scenarios leaves background events untouched.
    let plain = GenConfig::default().events(2000);
    let bg = |g: &Generator| -> Vec<(i64, &'static str)> {
        g.events()
            .filter(|e| e.scenario().is_none())
            .map(|e| (e.ticks(), e.operation()))
            .collect()
    };
    assert_eq!(bg(&g), bg(&Generator::new(&plain).unwrap()));
}

#[test]
fn background_never_satisfies_the_seed_rule() {
    // A busy day: 200k background events, many more per identity-minute than the default.
    let mut c = GenConfig::default().events(200_000).mixed_records(true);
    c.users = 120;
    c.service_principals = 20;
    c.managed_identities = 10;
    let g = Generator::new(&c).unwrap();
    // Group read calls per principal (UPN, else app id) per calendar minute, and keep each
    // principal's read times for the sliding check. Count every record kind: even a reader
    // that forgets to skip HSM and other-category records must see no burst.
    let mut per: HashMap<(String, i64), (u32, BTreeSet<&'static str>)> = HashMap::new();
    let mut times: HashMap<String, Vec<i64>> = HashMap::new();
    let mut n = 0u64;
    let mut reads = 0u64;
    for e in g.events() {
        n += 1;
        let Some(p) = e.principal() else { continue };
        if !e.is_read() {
            continue;
        }
        reads += 1;
        let m = e.ticks().div_euclid(600_000_000);
        let entry = per.entry((p.to_string(), m)).or_default();
        entry.0 += 1;
        entry.1.insert(e.operation());
        times.entry(p.to_string()).or_default().push(e.ticks());
    }
    assert_eq!(n, 200_000);
    assert!(reads > 60_000, "{reads}");
    let worst = per.values().map(|v| v.0).max().unwrap();
    assert!(worst <= 2, "an identity made {worst} reads in one minute");
    assert!(per.values().all(|v| !(v.0 >= 5 && v.1.len() >= 2)));
    // Sliding 60-second windows: at most 4.
    for (p, ts) in &times {
        for (i, t) in ts.iter().enumerate() {
            let k = ts[i..].iter().take_while(|u| **u < t + 600_000_000).count();
            assert!(k <= 4, "{p}: {k} reads within 60 s");
        }
    }
    // The cap binds: some identity reaches it, so the check is not vacuous.
    assert_eq!(worst, 2);
}

#[test]
fn ground_truth_json_round_trips() {
    let g = Generator::new(&cfg(100)).unwrap();
    let mut out = Vec::new();
    kvsentry_gen::write_ground_truth(g.ground_truth(), &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let first = &v[0];
    for k in [
        "scenario",
        "kind",
        "identity",
        "vault",
        "expected_alert",
        "window_start",
        "events",
        "ips",
    ] {
        assert!(first.get(k).is_some(), "{k}");
    }
    assert_eq!(first["expected_alert"]["rule"], "tumbling");
    let back: Vec<kvsentry_gen::GroundTruth> = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, g.ground_truth());
}

/// The `ips:` scenario's public addresses get live indicators in the run's export, and the
/// ground truth then names the TI rule for it; a private address gets none, and no TI rule.
#[test]
fn ips_scenario_addresses_are_live_indicators_of_the_run() {
    let c = cfg(3000).scenario("ips:10.20.30.40,52.178.17.9:2".parse().unwrap());
    let g = Generator::new(&c).unwrap();
    let at: Timestamp = c.start + c.duration;
    let callers = g.caller_ips();
    // No caller of the run among the random indicators: only the scenario rows can match.
    let rows = run_indicators(&g, 300, 0.0, &callers, at);
    let live = |ip: &str| {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        rows.iter().any(|r| {
            r.ti_ip_entity()
                .and_then(kvsentry_model::net::parse_ip)
                .is_some_and(|a| a == ip)
                && r.active
                && r.expiration > at
                && r.time_generated <= at
                && at.duration_since(r.time_generated).as_hours() < 14 * 24
        })
    };
    assert!(live("104.40.82.76"));
    assert!(live("2a01:111:f400::1234"));
    assert!(live("52.178.17.9"));
    assert!(!rows.iter().any(|r| r.ti_ip_entity() == Some("10.20.30.40")));
    let mut truth = g.ground_truth().to_vec();
    apply_indicators(&mut truth, &g, &rows, at);
    for t in &truth {
        let want: Vec<&str> = match t.kind.as_str() {
            "retrieval_burst" => vec![ELASTIC_RULE_ID],
            "service_principal_burst" | "managed_identity_burst" => vec![APP_RULE_ID],
            "calls_from_ips" => vec![TI_RULE_ID],
            _ => vec![],
        };
        assert_eq!(t.expected_alert.rule_ids, want, "{}: {:?}", t.kind, t.ips);
        assert_eq!(
            t.expected_alert.ti,
            want.contains(&TI_RULE_ID),
            "{}",
            t.kind
        );
    }
    // The second `ips:` scenario: one private, one public address; the public one fires.
    assert_eq!(truth[7].ips, ["10.20.30.40", "52.178.17.9"]);
    // Only private addresses: no indicator can match, no TI rule.
    let c = cfg(500).scenario("ips:10.20.30.40:2".parse().unwrap());
    let g = Generator::new(&c).unwrap();
    let rows = run_indicators(&g, 50, 0.0, &g.caller_ips(), at);
    let mut truth = g.ground_truth().to_vec();
    apply_indicators(&mut truth, &g, &rows, at);
    assert!(truth[7].expected_alert.rule_ids.is_empty());
    assert!(!truth[7].expected_alert.ti);
    // Evaluated before the scenario's calls, the indicators cannot have matched yet.
    let early = c.start;
    let rows = run_indicators(&g, 50, 0.0, &g.caller_ips(), early);
    let mut truth = g.ground_truth().to_vec();
    apply_indicators(&mut truth, &g, &rows, early);
    assert!(!truth[6].expected_alert.ti);
}
