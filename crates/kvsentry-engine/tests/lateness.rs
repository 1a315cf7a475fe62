//! Event time: out-of-order and late input, bounded memory, suppression, and the end of
//! a run.

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineError, EngineOptions};
use kvsentry_rules::RuleSet;

#[path = "support/audit.rs"]
mod audit;
use audit::*;

#[test]
fn out_of_order_input_within_lateness_gives_the_same_alerts() {
    let sorted = busy_day();
    let disordered = shuffled(&sorted, 13);
    assert_ne!(
        sorted.iter().map(|e| e.time).collect::<Vec<_>>(),
        disordered.iter().map(|e| e.time).collect::<Vec<_>>()
    );
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(10),
        ..EngineOptions::default()
    };
    let (a, e1) = run_with(&rules, opts.clone(), &sorted);
    let (b, e2) = run_with(&rules, opts, &disordered);
    assert_eq!(e1.stats().late_events, 0);
    assert_eq!(e2.stats().late_events, 0);
    assert_eq!(
        (
            of_rule(&a, SEED).len(),
            of_rule(&a, APP).len(),
            of_rule(&a, "sliding-seed").len()
        ),
        (26, 13, 26)
    );
    assert_eq!(a, b);
}

#[test]
fn memory_is_bounded_by_open_windows() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(5),
        ..EngineOptions::default()
    };
    let (_, engine) = run_with(&rules, opts, &events);
    let s = engine.stats().rule(SEED).unwrap();
    // 5 minutes of lateness over 1-minute windows: at most 6 or 7 windows open at once,
    // though the input spans 120 minutes.
    assert!(s.max_open_windows <= 7, "{s:?}");
    assert!(s.max_open_groups <= 7 * 3, "{s:?}");
    let sl = engine.stats().rule("sliding-seed").unwrap();
    assert!(sl.max_buffered <= 40, "{sl:?}");
    assert!(sl.max_open_groups <= 3, "{sl:?}");
}

#[test]
fn events_beyond_lateness_are_counted_and_applied_only_to_open_windows() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(1),
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&RuleSet::builtin(), opts).unwrap();
    let mut out = Vec::new();
    for e in alice_burst("10:00", 1) {
        engine.push(&e, &mut out);
    }
    assert!(out.is_empty(), "the 10:00 window is still open");
    // 10:02:30 moves the watermark to 10:01:30: the 10:00 window closes and alerts.
    engine.push(
        &ev("2026-01-05T10:02:30Z", "SecretGet", Who::User(BOB), 20),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["action_count"], 5);
    // A late call for the closed 10:00 window: counted, dropped.
    engine.push(
        &ev("2026-01-05T10:00:30Z", "KeyGet", Who::User(ALICE), 21),
        &mut out,
    );
    // A late call whose window (10:01) is still open: counted, applied.
    for (i, t) in ["10:01:10", "10:01:15", "10:01:20", "10:01:25"]
        .iter()
        .enumerate()
    {
        engine.push(
            &ev(
                &format!("2026-01-05T{t}Z"),
                "KeyList",
                Who::User(BOB),
                22 + i as u64,
            ),
            &mut out,
        );
    }
    engine.push(
        &ev("2026-01-05T10:01:20Z", "KeyGet", Who::User(BOB), 30),
        &mut out,
    );
    engine.finish(&mut out);
    let s = engine.stats();
    assert_eq!(s.late_events, 6);
    assert_eq!(s.late_dropped, 1);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].group["identity.upn"], BOB);
    assert_eq!(
        out[1].window.unwrap().start.to_string(),
        "2026-01-05T10:01:00Z"
    );
    assert_eq!(out[1].fields["action_count"], 5);
}

#[test]
fn suppression_allows_one_alert_per_group_per_period() {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace("suppression: 0", "suppression: 10m");
    let rules = RuleSet::from_yaml_str(&y, "s.yml").unwrap();
    let mut events = alice_burst("10:00", 1);
    events.extend(alice_burst("10:01", 10));
    events.extend(alice_burst("10:10", 20));
    events.extend(alice_burst("10:11", 30));
    let (alerts, engine) = run_with(&rules, EngineOptions::default(), &events);
    let starts: Vec<String> = alerts
        .iter()
        .map(|a| a.window.unwrap().start.to_string())
        .collect();
    // 10:00 alerts (suppressed until 10:01 + 10m = 10:11), 10:01 and 10:10 are suppressed,
    // 10:11 alerts.
    assert_eq!(starts, vec!["2026-01-05T10:00:00Z", "2026-01-05T10:11:00Z"]);
    assert_eq!(engine.stats().rule(SEED).unwrap().suppressed, 2);
    // Without suppression: one per window.
    assert_eq!(run(&events).len(), 4);
    // Sliding with suppression: the second burst is inside the suppression period.
    let (alerts, _) = run_with(&sliding_rules("10m"), EngineOptions::default(), &events);
    let starts: Vec<String> = alerts
        .iter()
        .map(|a| a.window.unwrap().start.to_string())
        .collect();
    assert_eq!(
        starts,
        vec![
            "2026-01-05T10:00:05.1234567Z",
            "2026-01-05T10:11:05.1234567Z"
        ]
    );
}

#[test]
fn a_late_event_joins_an_open_sliding_burst() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::ZERO,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&sliding_rules("0"), opts).unwrap();
    let mut out = Vec::new();
    for e in alice_burst("10:00", 1) {
        engine.push(&e, &mut out);
    }
    // The burst [10:00:05.1234567, +1m) is found; late events inside it still count.
    engine.push(
        &ev("2026-01-05T10:00:20Z", "KeyGet", Who::User(ALICE), 30),
        &mut out,
    );
    // Late and outside any open burst: dropped.
    engine.push(
        &ev("2026-01-05T10:00:01Z", "KeyGet", Who::User(BOB), 31),
        &mut out,
    );
    assert!(out.is_empty());
    engine.push(
        &ev("2026-01-05T10:01:10Z", "KeyGet", Who::User(BOB), 32),
        &mut out,
    );
    assert_eq!(out.len(), 1, "the watermark passed the burst's end");
    engine.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fields["action_count"], 6);
    assert_eq!(out[0].fields["distinct_actions"], 3);
    let s = engine.stats();
    assert_eq!((s.late_events, s.late_dropped), (2, 1));
}

/// `finish_into_report` (the end of a run, its teardown left to the caller) gives exactly
/// `finish`'s alerts, stats and explanations, with a large lateness so that every window is
/// still open at the end.
#[test]
fn finish_into_report_reports_what_finish_does() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_hours(48),
        explain: Some(SEED.into()),
        ..EngineOptions::default()
    };
    let (want, engine) = run_with(&rules, opts.clone(), &events);
    let mut deferring = Engine::new(&rules, opts).unwrap();
    let mut got = Vec::new();
    for e in &events {
        deferring.push(e, &mut got);
    }
    assert!(got.is_empty());
    let (report, leftovers) = deferring.finish_into_report(&mut got);
    leftovers.drop_in_background();
    assert_eq!(
        (
            of_rule(&got, SEED).len(),
            of_rule(&got, APP).len(),
            of_rule(&got, "sliding-seed").len()
        ),
        (26, 13, 26)
    );
    assert_eq!(got, want);
    assert_eq!(&report.stats, engine.stats());
    assert_eq!(report.stats.events_seen, events.len() as u64);
    assert_eq!(report.explanations, engine.explanations());
    // One group a minute, in the 106 minutes with events the seed reads.
    assert_eq!(report.explanations.len(), 106);
    assert_eq!(report.explain_rejections, engine.explain_rejections());
}

/// `advance_to` closes what a later event would close: after the same events, moving the
/// watermark from a clock gives the alerts an event at that time plus the lateness gives,
/// and the rest of the run is unchanged. The watermark never moves back.
#[test]
fn advance_to_closes_what_a_later_event_would() {
    let events = busy_day();
    let mut rules = RuleSet::builtin();
    rules.merge_override(sliding_rules("0"));
    let lateness = SignedDuration::from_mins(5);
    let opts = EngineOptions {
        max_lateness: lateness,
        ..EngineOptions::default()
    };
    for cut in [10, events.len() / 3, events.len() / 2, events.len() - 1] {
        let (head, tail) = events.split_at(cut);
        let at = head.last().unwrap().time + SignedDuration::from_mins(7);
        let mut by_event = Engine::new(&rules, opts.clone()).unwrap();
        let mut by_clock = Engine::new(&rules, opts.clone()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for e in head {
            by_event.push(e, &mut a);
            by_clock.push(e, &mut b);
        }
        // An event matching no rule, at the clock's time plus the lateness.
        let mut tick = ev(&(at + lateness).to_string(), "VaultGet", Who::Nobody, 0);
        tick.category = "Other".into();
        assert!(by_event.prepare(&tick).is_empty());
        by_event.push(&tick, &mut a);
        by_clock.advance_to(at, &mut b);
        assert_eq!(a, b, "cut {cut}");
        assert_eq!(by_clock.watermark(), Some(at));
        let before = b.len();
        by_clock.advance_to(at - SignedDuration::from_hours(1), &mut b);
        assert_eq!((b.len(), by_clock.watermark()), (before, Some(at)));
        for e in tail {
            by_event.push(e, &mut a);
            by_clock.push(e, &mut b);
        }
        by_event.finish(&mut a);
        by_clock.finish(&mut b);
        assert_eq!(a, b, "cut {cut}");
    }
}

/// An event dated past what the engine can represent (here 2300) is refused and counted:
/// it moves no watermark (before, it closed every window at once and every later event was
/// late: no alert at all).
#[test]
fn an_event_from_the_far_future_is_refused() {
    let events = busy_day();
    let want = run(&events);
    assert!(!want.is_empty());
    let mut poisoned = events.clone();
    let mut far = events[10].clone();
    far.time = "2300-01-01T00:00:00Z".parse().unwrap();
    poisoned.insert(11, far);
    let (got, engine) = run_with(&RuleSet::builtin(), EngineOptions::default(), &poisoned);
    assert_eq!(got, want);
    assert_eq!(engine.stats().out_of_range, 1);
    assert_eq!(engine.stats().late_events, 0);
}

/// With `max_ahead`, an event too far ahead of the clock given to `advance_to` is refused
/// and counted; one within the limit is taken.
#[test]
fn max_ahead_refuses_events_too_far_ahead_of_the_clock() {
    let opts = EngineOptions {
        max_lateness: SignedDuration::from_mins(10),
        max_ahead: Some(SignedDuration::from_hours(1)),
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&RuleSet::builtin(), opts).unwrap();
    let mut out = Vec::new();
    // The clock says 10:10 (watermark 10:00): events after 11:10 are refused.
    engine.advance_to("2026-01-05T10:00:00Z".parse().unwrap(), &mut out);
    let ahead = ev("2026-01-05T11:10:01Z", "SecretGet", Who::User(BOB), 1);
    engine.push(&ahead, &mut out);
    assert_eq!(engine.stats().out_of_range, 1);
    assert_eq!(
        engine.watermark(),
        Some("2026-01-05T10:00:00Z".parse().unwrap())
    );
    for e in alice_burst("10:30", 2) {
        engine.push(&e, &mut out);
    }
    engine.finish(&mut out);
    assert_eq!(of_rule(&out, SEED).len(), 1);
    assert_eq!(engine.stats().out_of_range, 1);
    let negative = EngineOptions {
        max_ahead: Some(SignedDuration::from_secs(-1)),
        ..EngineOptions::default()
    };
    assert!(matches!(
        Engine::new(&RuleSet::builtin(), negative),
        Err(EngineError::NegativeMaxAhead(_))
    ));
}
