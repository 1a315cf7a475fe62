//! Checkpoints: a run snapshotted to bytes part way, the engine dropped and restored from
//! them, gives the alerts (ids, fields, evidence) of the run without a break, wherever the
//! break falls (mid-window included); a changed rule starts fresh.

use std::sync::Arc;

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineError, EngineOptions, RestoreReport, TiMode};
use kvsentry_gen::{GenConfig, Generator, run_indicators};
use kvsentry_intel::{Indicator, IndicatorSet, TiFormat, load_path, parse_network};
use kvsentry_model::{Alert, AuditEvent};
use kvsentry_rules::RuleSet;

#[path = "support/audit.rs"]
mod audit;
#[path = "support/generated.rs"]
mod generated;
use audit::*;

/// The run without a break: alerts and the engine's counters.
fn whole(rules: &RuleSet, opts: &EngineOptions, events: &[AuditEvent<'_>]) -> (Vec<Alert>, Engine) {
    run_with(rules, opts.clone(), events)
}

/// The run broken after `cut` events: snapshot, drop, restore, go on.
fn broken(
    rules: &RuleSet,
    opts: &EngineOptions,
    events: &[AuditEvent<'_>],
    cut: usize,
) -> (Vec<Alert>, Engine, RestoreReport) {
    let mut out = Vec::new();
    let bytes = {
        let mut first = Engine::new(rules, opts.clone()).unwrap();
        for e in &events[..cut] {
            first.push(e, &mut out);
        }
        first.snapshot().unwrap()
    };
    let (mut second, report) = Engine::restore(rules, opts.clone(), &bytes).unwrap();
    for e in &events[cut..] {
        second.push(e, &mut out);
    }
    second.finish(&mut out);
    (out, second, report)
}

fn check(rules: &RuleSet, opts: &EngineOptions, events: &[AuditEvent<'_>], cuts: &[usize]) {
    let (want, engine) = whole(rules, opts, events);
    assert!(!want.is_empty());
    for &cut in cuts {
        let (got, restored, report) = broken(rules, opts, events, cut);
        assert!(
            report.fresh.is_empty() && report.dropped.is_empty(),
            "{report:?}"
        );
        assert!(
            got == want,
            "cut {cut}: {} alerts, {} wanted",
            got.len(),
            want.len()
        );
        assert_eq!(restored.stats(), engine.stats(), "cut {cut}");
    }
}

/// Tumbling and sliding rules over out-of-order input, broken anywhere: before the first
/// alert, mid-window, mid-burst, near the end.
#[test]
fn a_restored_engine_gives_the_alerts_of_an_unbroken_run() {
    let events = busy_day();
    let events: Vec<AuditEvent<'static>> = {
        let mut v = events.clone();
        for chunk in v.chunks_mut(7) {
            chunk.reverse();
        }
        v
    };
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("2m"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(10),
        ..EngineOptions::default()
    };
    let n = events.len();
    check(&rules, &opts, &events, &[1, 7, 50, n / 3, n / 2 + 3, n - 2]);
}

/// Generated logs with bursts and indicator matches, the indicators loaded anew by the
/// restored engine, with and without a schedule.
#[test]
fn generated_logs_with_indicators_survive_a_restore() {
    let mut cfg = GenConfig::default()
        .seed(11)
        .events(2_000)
        .duration(SignedDuration::from_hours(2))
        .with_standard_scenarios()
        .scenario("ips:10.9.8.7,52.178.17.9:2".parse().unwrap())
        .scenario("burst:user:6:2".parse().unwrap());
    cfg.users = 30;
    let g = Generator::new(&cfg).unwrap();
    let at = cfg.start + cfg.duration;
    let callers = g.caller_ips();
    let rows = run_indicators(&g, 2 * callers.len(), 1.0, &callers, at);
    let path = std::env::temp_dir().join(format!(
        "kvsentry-engine-snapshot-{}.csv",
        std::process::id()
    ));
    let mut csv = Vec::new();
    kvsentry_gen::ti::write_indicators_csv(&rows, &mut csv).unwrap();
    std::fs::write(&path, csv).unwrap();
    let mut intel = IndicatorSet::new();
    let loaded = load_path(&path, Some(TiFormat::Sentinel), &mut intel);
    std::fs::remove_file(&path).unwrap();
    loaded.unwrap();
    let intel = Arc::new(intel);
    let events = generated::events(&g);
    let n = events.len();
    for schedule in [None, Some(SignedDuration::from_mins(30))] {
        let opts = EngineOptions {
            intel: Some(Arc::clone(&intel)),
            ti_mode: TiMode::AsOf(at),
            indicator_schedule: schedule,
            ..EngineOptions::default()
        };
        check(
            &RuleSet::builtin(),
            &opts,
            &events,
            &[n / 5, n / 2, n - n / 7],
        );
    }
}

/// A rule whose definition changed starts fresh; the others continue; a rule gone is
/// reported.
#[test]
fn a_changed_rule_starts_fresh() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions::default();
    let mut out = Vec::new();
    let mut first = Engine::new(&rules, opts.clone()).unwrap();
    for e in &events[..100] {
        first.push(e, &mut out);
    }
    let bytes = first.snapshot().unwrap();
    let mut changed = RuleSet::builtin();
    changed.merge_override(sliding_rules("5m"));
    let (mut second, report) = Engine::restore(&changed, opts.clone(), &bytes).unwrap();
    assert_eq!(report.fresh, vec!["sliding-seed".to_string()]);
    assert!(report.continued.iter().any(|id| id == SEED));
    assert!(report.dropped.is_empty());
    assert_eq!(
        second.stats().rule("sliding-seed").unwrap().events_matched,
        0
    );
    assert_eq!(
        second.stats().rule(SEED).unwrap().events_matched,
        first.stats().rule(SEED).unwrap().events_matched
    );
    second.finish(&mut out);
    let (_, report) = Engine::restore(&RuleSet::builtin(), opts, &bytes).unwrap();
    assert_eq!(report.dropped, vec!["sliding-seed".to_string()]);
}

/// Bytes that are not a snapshot are an error, never a panic.
#[test]
fn damaged_bytes_are_an_error() {
    let rules = RuleSet::builtin();
    let mut engine = Engine::new(&rules, EngineOptions::default()).unwrap();
    let mut out = Vec::new();
    for e in &busy_day()[..200] {
        engine.push(e, &mut out);
    }
    let bytes = engine.snapshot().unwrap();
    for cut in [0, 1, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            Engine::restore(&rules, EngineOptions::default(), &bytes[..cut]),
            Err(EngineError::Snapshot(_))
        ));
    }
    let mut flipped = bytes.clone();
    for i in (0..flipped.len()).step_by(17) {
        flipped[i] ^= 0x5a;
        let _ = Engine::restore(&rules, EngineOptions::default(), &flipped);
    }
}

/// An indicator rule keeps the pairs of the indicators it still selects when the intel is
/// loaded anew in another order.
#[test]
fn indicator_pairs_follow_their_indicator_not_its_position() {
    let ind = |id: &str, ip: &str| {
        let mut i = Indicator::new(
            id,
            parse_network(ip).unwrap(),
            ip,
            "test",
            "2026-01-01T00:00:00Z".parse().unwrap(),
            "test:1",
        );
        i.expiration = Some("2026-03-01T00:00:00Z".parse().unwrap());
        i
    };
    let mut one = IndicatorSet::new();
    one.push(ind("a", "104.40.82.76"));
    one.push(ind("b", "52.178.60.6"));
    let mut two = IndicatorSet::new();
    two.push(ind("c", "10.1.2.3"));
    two.push(ind("b", "52.178.60.6"));
    two.push(ind("a", "104.40.82.76"));
    let ti = "57c7e832-64eb-411f-8928-4133f01f4a25";
    let y = RuleSet::builtin().get(ti).unwrap().to_yaml();
    let rules = RuleSet::from_yaml_str(&y, "ti.yml").unwrap();
    let opts = |set: IndicatorSet| EngineOptions {
        intel: Some(Arc::new(set)),
        ..EngineOptions::default()
    };
    let events = busy_day();
    let (want, _) = run_with(&rules, opts(one.clone()), &events);
    assert_eq!(want.len(), 1);
    let mut out = Vec::new();
    let mut first = Engine::new(&rules, opts(one)).unwrap();
    for e in &events[..50] {
        first.push(e, &mut out);
    }
    let bytes = first.snapshot().unwrap();
    // Intel without the matched indicator: its pair is dropped, and reported.
    let mut only_b = IndicatorSet::new();
    only_b.push(ind("b", "52.178.60.6"));
    let (_, report) = Engine::restore(&rules, opts(only_b), &bytes).unwrap();
    assert_eq!(report.continued, vec![ti.to_string()]);
    assert_eq!(report.dropped_pairs, vec![(ti.to_string(), 1)]);
    let (mut second, report) = Engine::restore(&rules, opts(two), &bytes).unwrap();
    assert_eq!(report.continued, vec![ti.to_string()]);
    assert!(report.dropped_pairs.is_empty());
    for e in &events[50..] {
        second.push(e, &mut out);
    }
    second.finish(&mut out);
    assert_eq!(out, want);
}

/// An indicator rule restored under another schedule starts fresh, and says so: its pairs
/// were one run's (or one period's), which the other schedule would read wrongly (before,
/// it said "continued" and its pairs were lost: no alert at all).
#[test]
fn an_indicator_rule_under_another_schedule_starts_fresh() {
    let mut set = IndicatorSet::new();
    let mut i = Indicator::new(
        "b",
        parse_network("104.40.82.76").unwrap(),
        "104.40.82.76",
        "test",
        "2026-01-01T00:00:00Z".parse().unwrap(),
        "test:1",
    );
    i.expiration = Some("2026-03-01T00:00:00Z".parse().unwrap());
    set.push(i);
    let set = Arc::new(set);
    let ti = "57c7e832-64eb-411f-8928-4133f01f4a25";
    let y = RuleSet::builtin().get(ti).unwrap().to_yaml();
    let rules = RuleSet::from_yaml_str(&y, "ti.yml").unwrap();
    let opts = |schedule: Option<SignedDuration>| EngineOptions {
        intel: Some(Arc::clone(&set)),
        indicator_schedule: schedule,
        ..EngineOptions::default()
    };
    let hourly = Some(SignedDuration::from_hours(1));
    let events = busy_day();
    for (before, after) in [(None, hourly), (hourly, None)] {
        let mut out = Vec::new();
        let mut first = Engine::new(&rules, opts(before)).unwrap();
        for e in &events[..50] {
            first.push(e, &mut out);
        }
        let bytes = first.snapshot().unwrap();
        let (_, report) = Engine::restore(&rules, opts(after), &bytes).unwrap();
        assert_eq!(report.fresh, vec![ti.to_string()], "{before:?} → {after:?}");
        assert!(report.continued.is_empty());
        // The same schedule continues.
        let (mut same, report) = Engine::restore(&rules, opts(before), &bytes).unwrap();
        assert_eq!(report.continued, vec![ti.to_string()]);
        for e in &events[50..] {
            same.push(e, &mut out);
        }
        same.finish(&mut out);
        let (want, _) = run_with(&rules, opts(before), &events);
        assert!(!want.is_empty());
        assert_eq!(out, want);
    }
}

/// A rule that starts fresh after a restore continues from the restored watermark: events
/// behind it are late for it too, as in an unbroken run (before, its fresh state took them:
/// an alert the unbroken run would not give).
#[test]
fn a_fresh_rule_continues_from_the_restored_watermark() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::ZERO,
        ..EngineOptions::default()
    };
    let rules = RuleSet::builtin();
    let mut first = Engine::new(&rules, opts.clone()).unwrap();
    let mut out = Vec::new();
    first.push(
        &ev("2026-01-05T11:00:00Z", "SecretGet", Who::User(BOB), 1),
        &mut out,
    );
    let bytes = first.snapshot().unwrap();
    let y = rules
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace("action_count >= 5", "action_count >= 4");
    assert!(y.contains("action_count >= 4"));
    let mut changed = RuleSet::builtin();
    changed.merge_override(RuleSet::from_yaml_str(&y, "seed.yml").unwrap());
    let (mut second, report) = Engine::restore(&changed, opts, &bytes).unwrap();
    assert!(report.fresh.iter().any(|id| id == SEED), "{report:?}");
    for e in alice_burst("10:00", 2) {
        second.push(&e, &mut out);
    }
    second.finish(&mut out);
    assert!(of_rule(&out, SEED).is_empty());
    assert_eq!(second.stats().late_dropped, 5);
}

/// Editing a rule's metadata (description, severity, tags) keeps its state: the alerts
/// after the restore are those of an unbroken run of the edited rule.
#[test]
fn editing_a_rules_metadata_keeps_its_state() {
    let events = busy_day();
    let rules = RuleSet::builtin();
    let y = rules.get(SEED).unwrap().to_yaml();
    let edited = y
        .replacen("severity: medium", "severity: high", 1)
        .replacen("risk_score: 47", "risk_score: 73", 1);
    assert_ne!(edited, y);
    let mut changed = RuleSet::builtin();
    changed.merge_override(RuleSet::from_yaml_str(&edited, "seed.yml").unwrap());
    let opts = EngineOptions::default();
    let mut out = Vec::new();
    let mut first = Engine::new(&rules, opts.clone()).unwrap();
    let cut = events.len() / 2;
    for e in &events[..cut] {
        first.push(e, &mut out);
    }
    let bytes = first.snapshot().unwrap();
    let (mut second, report) = Engine::restore(&changed, opts.clone(), &bytes).unwrap();
    assert!(report.fresh.is_empty(), "{report:?}");
    for e in &events[cut..] {
        second.push(e, &mut out);
    }
    second.finish(&mut out);
    let (want, _) = run_with(&changed, opts, &events);
    assert_eq!(out.len(), want.len());
    assert_eq!(out, want);
}
