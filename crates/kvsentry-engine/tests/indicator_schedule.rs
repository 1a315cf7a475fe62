//! `kind: indicator_match` on a schedule (`EngineOptions::indicator_schedule`): each period
//! of event time is one run whose alerts go out as the watermark passes its end.

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineError, EngineOptions, TiMode};
use kvsentry_intel::{Indicator, IndicatorSet, parse_network};
use kvsentry_model::{Alert, AuditEvent};
use kvsentry_rules::RuleSet;

#[path = "support/intel.rs"]
mod intel;
use intel::*;

const A: &str = "52.178.60.6";
const B: &str = "104.40.82.76";

fn set() -> IndicatorSet {
    let mut set = IndicatorSet::new();
    let mut ind = Indicator::new(
        "ind-1",
        parse_network(A).unwrap(),
        A,
        "test",
        ts("2026-01-01T00:00:00Z"),
        "test:1",
    );
    ind.expiration = Some(ts(EXP));
    set.push(ind);
    set
}

fn hourly() -> EngineOptions {
    EngineOptions {
        max_lateness: SignedDuration::ZERO,
        indicator_schedule: Some(SignedDuration::from_hours(1)),
        ..opts(set(), TiMode::Retro)
    }
}

fn events() -> Vec<AuditEvent<'static>> {
    vec![
        kv("2026-01-05T10:05:00Z", A, 1),
        kv("2026-01-05T10:40:00Z", A, 2),
        kv("2026-01-05T11:10:00Z", B, 3),
        kv("2026-01-05T12:30:00Z", A, 4),
    ]
}

/// One alert per period with matches, out as soon as the watermark passes the period's
/// end, keeping the period's latest event; the alert's window is the period and ids differ
/// per period. A second `finish` adds nothing.
#[test]
fn each_period_is_one_run_out_when_the_watermark_passes_it() {
    let rules = ti_rules(|y| y);
    let mut engine = Engine::new(&rules, hourly()).unwrap();
    let mut out: Vec<Alert> = Vec::new();
    let ev = events();
    engine.push(&ev[0], &mut out);
    engine.push(&ev[1], &mut out);
    assert!(out.is_empty());
    engine.push(&ev[2], &mut out);
    assert_eq!(out.len(), 1);
    let first = &out[0];
    assert_eq!(first.fields["event_count"], 2);
    assert_eq!(first.time, ts("2026-01-05T10:40:00Z"));
    let w = first.window.unwrap();
    assert_eq!(
        (w.start, w.end),
        (ts("2026-01-05T10:00:00Z"), ts("2026-01-05T11:00:00Z"))
    );
    assert_eq!(
        engine
            .stats()
            .rule(TI)
            .unwrap()
            .indicator
            .as_ref()
            .unwrap()
            .pairs,
        0
    );
    engine.push(&ev[3], &mut out);
    assert_eq!(out.len(), 1);
    engine.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].fields["event_count"], 1);
    assert_ne!(out[0].alert_id, out[1].alert_id);
    engine.finish(&mut out);
    assert_eq!(out.len(), 2);
    let s = engine.stats().rule(TI).unwrap();
    assert_eq!((s.alerts, s.events_matched), (2, 4));
    // The clock moves the watermark too.
    let mut clocked = Engine::new(&rules, hourly()).unwrap();
    let mut got = Vec::new();
    clocked.push(&ev[0], &mut got);
    clocked.advance_to(ts("2026-01-05T11:00:00Z"), &mut got);
    assert_eq!(got.len(), 1);
}

/// A match of a period that went out is late: dropped and counted.
#[test]
fn a_match_of_a_period_gone_out_is_dropped() {
    let rules = ti_rules(|y| y);
    let mut engine = Engine::new(&rules, hourly()).unwrap();
    let mut out = Vec::new();
    let ev = events();
    engine.push(&ev[0], &mut out);
    engine.push(&ev[3], &mut out);
    assert_eq!(out.len(), 1);
    engine.push(&ev[1], &mut out);
    engine.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].fields["event_count"], 1);
    assert_eq!(engine.stats().late_dropped, 1);
}

/// Without a schedule nothing changes: one run, out at `finish`.
#[test]
fn without_a_schedule_the_input_is_one_run() {
    let rules = ti_rules(|y| y);
    let o = EngineOptions {
        indicator_schedule: None,
        ..hourly()
    };
    let (alerts, _) = run(&rules, o, &events());
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].fields["event_count"], 3);
    assert_eq!(alerts[0].window, None);
}

#[test]
fn a_schedule_must_be_positive() {
    let o = EngineOptions {
        indicator_schedule: Some(SignedDuration::ZERO),
        ..EngineOptions::default()
    };
    assert!(matches!(
        Engine::new(&RuleSet::builtin(), o),
        Err(EngineError::BadSchedule(_))
    ));
}

/// Bounded pairs: past the limit the pair whose latest event is the oldest goes out early;
/// a later match of it is counted, not alerted again (its alert would repeat the id of the
/// one out already).
#[test]
fn past_the_pair_limit_the_oldest_pair_goes_out_early() {
    let rules = ti_rules(|y| y);
    let o = EngineOptions {
        max_groups_per_rule: Some(1),
        ..opts(two(), TiMode::Retro)
    };
    let mut engine = Engine::new(&rules, o).unwrap();
    let mut out = Vec::new();
    let ev = events();
    engine.push(&ev[0], &mut out);
    engine.push(&ev[1], &mut out);
    assert!(out.is_empty());
    // A second pair: the first (A, latest at 10:40) goes out.
    engine.push(&ev[2], &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["client_ip"], A);
    assert_eq!(out[0].fields["event_count"], 2);
    // A again: its pair went out, the match is counted.
    engine.push(&ev[3], &mut out);
    assert_eq!(out.len(), 1);
    engine.finish(&mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].fields["client_ip"], B);
    let s = engine.stats().rule(TI).unwrap();
    assert_eq!((s.evicted, s.evicted_rows, s.alerts), (1, 1, 2));
}

/// Two indicators, A and B.
fn two() -> IndicatorSet {
    let mut set = set();
    let mut ind = Indicator::new(
        "ind-2",
        parse_network(B).unwrap(),
        B,
        "test",
        ts("2026-01-01T00:00:00Z"),
        "test:2",
    );
    ind.expiration = Some(ts(EXP));
    set.push(ind);
    set
}

/// Matches alternating between two pairs past a limit of one, on a schedule: never two
/// alerts with one id (before, each eviction re-created the other pair and re-emitted it:
/// 471 alerts with 4 distinct ids).
#[test]
fn evicted_pairs_do_not_alert_twice() {
    let rules = ti_rules(|y| y);
    let o = EngineOptions {
        max_groups_per_rule: Some(1),
        ..hourly()
    };
    let o = EngineOptions {
        intel: opts(two(), TiMode::Retro).intel,
        ..o
    };
    let mut engine = Engine::new(&rules, o).unwrap();
    let mut out = Vec::new();
    let start = ts("2026-01-05T10:00:00Z");
    for i in 0..480 {
        let t = start + SignedDuration::from_secs(15 * i);
        let ip = if i % 2 == 0 { A } else { B };
        engine.push(&kv(&t.to_string(), ip, i as u64 + 1), &mut out);
    }
    engine.finish(&mut out);
    let mut ids: Vec<&str> = out.iter().map(|a| a.alert_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), out.len(), "{} alerts", out.len());
    assert_eq!(out.len(), 4);
    let s = engine.stats().rule(TI).unwrap();
    assert!(s.evicted_rows > 0 && s.evicted > 0, "{s:?}");
}

/// A limit of no pair at all is an error.
#[test]
fn a_limit_of_zero_groups_is_an_error() {
    let o = EngineOptions {
        max_groups_per_rule: Some(0),
        ..EngineOptions::default()
    };
    assert!(matches!(
        Engine::new(&RuleSet::builtin(), o),
        Err(EngineError::BadMaxGroups)
    ));
}
