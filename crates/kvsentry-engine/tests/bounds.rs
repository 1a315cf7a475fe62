//! Bounded state (`EngineOptions::max_groups_per_rule`): what the engine evicts past the
//! limit, deterministically, and how it counts it.

use jiff::SignedDuration;
use kvsentry_engine::EngineOptions;
use kvsentry_model::{Alert, AuditEvent};
use kvsentry_rules::RuleSet;

#[path = "support/audit.rs"]
mod audit;
use audit::*;

fn bounded(max: Option<usize>) -> EngineOptions {
    EngineOptions {
        // Every window stays open until the end unless evicted.
        max_lateness: SignedDuration::from_hours(48),
        max_groups_per_rule: max,
        ..EngineOptions::default()
    }
}

/// Tumbling windows over events in time order: the oldest windows close early, so the
/// groups held stay within the limit, and the alerts are those of the unbounded run (sooner,
/// so in another order).
#[test]
fn tumbling_closes_the_oldest_windows_early() {
    let events = busy_day();
    let rules = RuleSet::builtin();
    let (want, free) = run_with(&rules, bounded(None), &events);
    let (mut got, engine) = run_with(&rules, bounded(Some(5)), &events);
    let mut want = want;
    assert!(!want.is_empty());
    let key = |a: &Alert| (a.window.map(|w| w.start), a.alert_id.clone());
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert!(got == want, "{} alerts, {} wanted", got.len(), want.len());
    let s = engine.stats().rule(SEED).unwrap();
    assert!(s.max_open_groups <= 5, "{s:?}");
    assert!(s.evicted > 0);
    let unbounded = free.stats().rule(SEED).unwrap();
    assert_eq!(unbounded.evicted, 0);
    assert!(unbounded.max_open_groups > 5);
    // Every group is either evicted or closed by the watermark at the end.
    assert_eq!(s.events_matched, unbounded.events_matched);
}

/// Groups of one window past the limit: the new group's event is refused (no older window
/// to close), and counted.
#[test]
fn a_new_group_of_the_only_open_window_is_refused() {
    let mut events = alice_burst("10:00", 1);
    events.extend(
        alice_burst("10:00", 10)
            .into_iter()
            .map(|mut e| {
                e.identity.upn = Some(BOB.into());
                e
            })
            .collect::<Vec<AuditEvent<'static>>>(),
    );
    let rules = RuleSet::builtin();
    let (got, engine) = run_with(&rules, bounded(Some(1)), &events);
    let s = engine.stats().rule(SEED).unwrap();
    // Alice's group holds the one place; Bob's five events are refused.
    assert_eq!(s.evicted, 5);
    let seed: Vec<&Alert> = got.iter().filter(|a| a.rule.id == SEED).collect();
    assert_eq!(seed.len(), 1);
    assert_eq!(seed[0].group["identity.upn"], ALICE);
}

/// Sliding windows refuse a new group past the limit.
#[test]
fn sliding_refuses_a_new_group() {
    let mut events = alice_burst("10:00", 1);
    events.extend(alice_burst("10:00", 10).into_iter().map(|mut e| {
        e.identity.upn = Some(BOB.into());
        e
    }));
    events.sort_by_key(|e| e.time);
    let rules = sliding_rules("0");
    let (got, engine) = run_with(&rules, bounded(Some(1)), &events);
    let s = engine.stats().rule("sliding-seed").unwrap();
    assert_eq!(s.evicted, 5);
    assert!(s.max_open_groups <= 1);
    assert_eq!(got.len(), 1);
    let (all, _) = run_with(&rules, bounded(None), &events);
    assert_eq!(all.len(), 2);
}

/// Events whose tumbling window was closed early by eviction are dropped, and counted
/// (before, they were dropped silently: not late, so not in `late_dropped` either).
#[test]
fn events_of_an_evicted_window_are_counted() {
    // Alice's burst at 10:00:05..45, Bob's event at 10:01:05 after her first two.
    let mut events = alice_burst("10:00", 1);
    let bob = ev(
        "2026-01-05T10:01:05.1234567Z",
        "SecretGet",
        Who::User(BOB),
        9,
    );
    // Bob's window is newer: Alice's closes early to make room.
    events.insert(2, bob);
    let rules = RuleSet::builtin();
    let (got, engine) = run_with(&rules, bounded(Some(1)), &events);
    assert!(of_rule(&got, SEED).is_empty());
    let s = engine.stats().rule(SEED).unwrap();
    assert_eq!((s.evicted, s.evicted_rows), (1, 3), "{s:?}");
    assert_eq!(engine.stats().late_dropped, 0);
    // Unbounded, Alice's five events make a burst.
    let (all, _) = run_with(&rules, bounded(None), &events);
    assert_eq!(of_rule(&all, SEED).len(), 1);
}

/// A refused new group leaves no window opened for it alone (before, an empty window
/// stayed open, counted in `max_open_windows`).
#[test]
fn a_refused_group_leaves_no_empty_window() {
    let at = |t: &str, who: &'static str, line: u64| {
        ev(
            &format!("2026-01-05T{t}Z"),
            "SecretGet",
            Who::User(who),
            line,
        )
    };
    let events = vec![
        at("10:00:05", ALICE, 1),
        // An older window: none older to close, so Bob's event is refused.
        at("09:59:30", BOB, 2),
        at("10:00:15", ALICE, 3),
    ];
    let (_, engine) = run_with(&RuleSet::builtin(), bounded(Some(1)), &events);
    let s = engine.stats().rule(SEED).unwrap();
    assert_eq!((s.evicted, s.max_open_windows), (1, 1), "{s:?}");
}
