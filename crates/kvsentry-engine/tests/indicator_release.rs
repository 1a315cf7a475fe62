//! `Engine::release_indicator_matches`: a run that never ends (serve) sends each
//! (indicator, address) pair out at the end of the batch it was first matched in, and never
//! again; over the whole stream the alert ids are those of one run ended by `finish`.

use std::collections::BTreeSet;

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineOptions, TiMode};
use kvsentry_intel::{Indicator, IndicatorSet, parse_network};
use kvsentry_model::{Alert, AuditEvent};

#[path = "support/intel.rs"]
mod intel;
use intel::*;

const A: &str = "52.178.60.6";
const B: &str = "104.40.82.76";
const C: &str = "2a01:111:f400::7";

fn set() -> IndicatorSet {
    let mut set = IndicatorSet::new();
    for (id, ip) in [("ind-a", A), ("ind-b", B), ("ind-c", "2a01:111:f400::7")] {
        let mut ind = Indicator::new(
            id,
            parse_network(ip).unwrap(),
            ip,
            "test",
            ts("2026-01-01T00:00:00Z"),
            "test:1",
        );
        ind.expiration = Some(ts(EXP));
        set.push(ind);
    }
    set
}

fn options() -> EngineOptions {
    EngineOptions {
        max_lateness: SignedDuration::from_hours(24 * 365),
        ..opts(set(), TiMode::Retro)
    }
}

fn events() -> Vec<AuditEvent<'static>> {
    vec![
        kv("2026-01-05T10:05:00Z", A, 1),
        kv("2026-01-05T10:40:00Z", A, 2),
        kv("2026-01-05T11:10:00Z", B, 3),
        kv("2026-01-05T12:30:00Z", A, 4),
        kv("2026-01-05T12:31:00Z", C, 5),
        kv("2026-01-05T09:00:00Z", B, 6),
    ]
}

fn ids(alerts: &[Alert]) -> BTreeSet<String> {
    alerts.iter().map(|a| a.alert_id.clone()).collect()
}

/// Released at the end of each batch, once per pair; later matches raise nothing and are
/// counted; the ids over the stream are a finished run's.
#[test]
fn each_pair_goes_out_once_at_the_end_of_its_first_batch() {
    let rules = ti_rules(|y| y);
    let ev = events();
    let mut whole = Engine::new(&rules, options()).unwrap();
    let mut expected = Vec::new();
    for e in &ev {
        whole.push(e, &mut expected);
    }
    whole.finish(&mut expected);
    assert_eq!(expected.len(), 3);

    let mut engine = Engine::new(&rules, options()).unwrap();
    let mut out = Vec::new();
    engine.push(&ev[0], &mut out);
    engine.push(&ev[1], &mut out);
    assert!(out.is_empty(), "nothing before the batch ends");
    engine.release_indicator_matches(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["event_count"], 2);
    assert_eq!(out[0].time, ts("2026-01-05T10:40:00Z"));
    engine.release_indicator_matches(&mut out);
    assert_eq!(
        out.len(),
        1,
        "a second release with nothing new sends nothing"
    );
    for e in &ev[2..] {
        engine.push(e, &mut out);
    }
    engine.release_indicator_matches(&mut out);
    assert_eq!(out.len(), 3);
    // B's pair, out now, kept its latest event whatever the arrival order.
    let b = out.iter().find(|a| a.fields["client_ip"] == B).unwrap();
    assert_eq!(b.time, ts("2026-01-05T11:10:00Z"));
    assert_eq!(b.fields["event_count"], 2);
    let ti = engine.stats().rule(TI).unwrap().indicator.clone().unwrap();
    assert_eq!(ti.repeats, 1, "A's match at 12:30 repeats a pair gone out");
    engine.finish(&mut out);
    assert_eq!(out.len(), 3, "finish repeats nothing");
    assert_eq!(ids(&out), ids(&expected));
}

/// The pairs gone out survive a snapshot: a restored engine does not send them again.
#[test]
fn pairs_gone_out_survive_a_snapshot() {
    let rules = ti_rules(|y| y);
    let ev = events();
    let mut engine = Engine::new(&rules, options()).unwrap();
    let mut out = Vec::new();
    engine.push(&ev[0], &mut out);
    engine.release_indicator_matches(&mut out);
    assert_eq!(out.len(), 1);
    let snap = engine.snapshot().unwrap();
    let (mut restored, _) = Engine::restore(&rules, options(), &snap).unwrap();
    let mut again = Vec::new();
    restored.push(&ev[1], &mut again);
    restored.push(&ev[2], &mut again);
    restored.release_indicator_matches(&mut again);
    restored.finish(&mut again);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].fields["client_ip"], B);
}

/// Intel loaded anew: its new indicators are matched against the addresses seen before,
/// once per pair, marked retro, with the id a run over the events would have given.
#[test]
fn new_indicators_match_addresses_seen_before() {
    let rules = ti_rules(|y| y);
    let ev = events();
    // Only A's indicator at first.
    let mut first = IndicatorSet::new();
    first.push(set().iter().next().unwrap().clone());
    let mut engine = Engine::new(
        &rules,
        EngineOptions {
            max_lateness: SignedDuration::from_hours(24 * 365),
            ..opts(first, TiMode::Retro)
        },
    )
    .unwrap();
    let mut out = Vec::new();
    for e in &ev {
        engine.push(e, &mut out);
    }
    engine.release_indicator_matches(&mut out);
    assert_eq!(out.len(), 1);
    let known = engine.selected_indicators();
    assert_eq!(known.len(), 1);
    // Intel refreshed with B's and C's indicators: the engine restored with it.
    let snap = engine.snapshot().unwrap();
    let (mut engine, _) = Engine::restore(&rules, options(), &snap).unwrap();
    let history = [
        (A.parse().unwrap(), ts("2026-01-05T12:30:00Z")),
        (B.parse().unwrap(), ts("2026-01-05T11:10:00Z")),
        ("9.9.9.9".parse().unwrap(), ts("2026-01-05T11:00:00Z")),
    ];
    let mut retro = Vec::new();
    engine.retro_match(&known, &history, &mut retro);
    assert_eq!(
        retro.len(),
        1,
        "A's pair went out already, 9.9.9.9 is covered by none"
    );
    let b = &retro[0];
    assert_eq!(b.fields["client_ip"], B);
    assert_eq!(b.fields["retro"], true);
    assert_eq!(b.time, ts("2026-01-05T11:10:00Z"));
    // The id a run over the events with all the intel gives.
    let mut whole = Engine::new(&rules, options()).unwrap();
    let mut expected = Vec::new();
    for e in &ev {
        whole.push(e, &mut expected);
    }
    whole.finish(&mut expected);
    assert!(ids(&expected).contains(&b.alert_id));
    // Once: again nothing, and a later match of the pair raises nothing.
    engine.retro_match(&known, &history, &mut retro);
    engine.push(&ev[5], &mut retro);
    engine.release_indicator_matches(&mut retro);
    assert_eq!(retro.len(), 1);
}
