//! The engine against the generator's naive evaluators (sort, filter, count) on dense random
//! input: many identities crossing and nearly crossing the thresholds in the same minutes,
//! bursts straddling minute edges, calls exactly one window length apart, ties. Every alert
//! of the built-in burst rules (tumbling 1m) and of sliding variants (1m, 30s) must be one
//! the naive evaluator finds, with the same window, group, count and distinct operations,
//! and none may be missing; the same events reversed or shuffled (with a lateness beyond
//! their span) must give identical alerts.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineOptions};
use kvsentry_gen::rng::Rng;
use kvsentry_gen::{
    GenConfig, Generator, IdentityChoice, NaiveWindow, READ_OPERATIONS, Scenario, sliding_windows,
    tumbling_windows,
};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Origin, Timestamp, Vault};
use kvsentry_rules::RuleSet;
use serde_json::{Value, json};

const SEED: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const APP: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
const SLIDING_1M: &str = "naive-sliding-1m";
const SLIDING_30S: &str = "naive-sliding-30s";
const TICKS_PER_SEC: i64 = 10_000_000;
const VAULT_ID: &str = "/SUBSCRIPTIONS/8375B821-2237-4337-9D03-AF96EFE330F5/RESOURCEGROUPS/RG-APP/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSO-APP";

/// One call, as the naive side sees it.
#[derive(Clone)]
struct Call {
    ticks: i64,
    op: String,
    upn: Option<String>,
    app_id: Option<String>,
    object_id: Option<String>,
}

impl Call {
    fn event(&self, line: u64) -> AuditEvent<'static> {
        let t = Timestamp::from_nanosecond(i128::from(self.ticks) * 100).unwrap();
        let mut e = AuditEvent::new(t, "AuditEvent".into(), self.op.clone().into());
        e.http_status = Some(200);
        e.caller_ip = CallerIp::parse("104.40.82.76".into());
        e.vault = Vault::from_resource_id(VAULT_ID);
        e.identity.upn = self.upn.clone().map(Into::into);
        e.identity.app_id = self.app_id.clone().map(Into::into);
        e.identity.object_id = self.object_id.clone().map(Into::into);
        // Distinct origins: evidence is ordered by time then origin, whatever the arrival.
        e.origin = Origin { source: 0, line };
        e
    }
}

/// The built-in burst rules and the seed rule with sliding windows of 1 minute and 30 s.
fn rules() -> RuleSet {
    let builtin = RuleSet::builtin();
    let seed = builtin.get(SEED).unwrap().to_yaml();
    let app = builtin.get(APP).unwrap().to_yaml();
    let sliding = seed
        .replace(SEED, SLIDING_1M)
        .replace("type: tumbling", "type: sliding");
    assert_ne!(
        sliding.replace(SLIDING_1M, SEED),
        seed,
        "no window type replaced"
    );
    let sliding_30 = sliding
        .replace(SLIDING_1M, SLIDING_30S)
        .replace("size: 1m", "size: 30s");
    assert_ne!(
        sliding_30.replace(SLIDING_30S, SLIDING_1M),
        sliding,
        "no size replaced"
    );
    let text = [seed, app, sliding, sliding_30].join("\n---\n");
    RuleSet::from_yaml_str(&text, "naive.yml").unwrap()
}

/// What the naive evaluators say each rule must emit: (rule, group as JSON) → windows.
type Expected = BTreeMap<(String, String), Vec<NaiveWindow>>;

fn naive(calls: &[Call]) -> Expected {
    // Read calls per group of each rule, as the rule filters and groups them.
    let mut by_upn: BTreeMap<String, Vec<(i64, &str)>> = BTreeMap::new();
    let mut by_app: BTreeMap<String, Vec<(i64, &str)>> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| READ_OPERATIONS.contains(&c.op.as_str()))
    {
        let read = (c.ticks, c.op.as_str());
        match &c.upn {
            Some(upn) => {
                let g = json!({ "identity.upn": upn }).to_string();
                by_upn.entry(g).or_default().push(read);
            }
            // The seed rule's null bucket never alerts (`actor_unique_count == 1`).
            None if c.app_id.is_some() || c.object_id.is_some() => {
                let g = json!({
                    "identity.app_id": c.app_id,
                    "identity.object_id": c.object_id,
                })
                .to_string();
                by_app.entry(g).or_default().push(read);
            }
            None => {}
        }
    }
    let mut want = Expected::new();
    let mut put = |rule: &str, g: &String, w: Vec<NaiveWindow>| {
        if !w.is_empty() {
            want.insert((rule.to_string(), g.clone()), w);
        }
    };
    for (g, reads) in &by_upn {
        put(SEED, g, tumbling_windows(reads, 60 * TICKS_PER_SEC));
        put(SLIDING_1M, g, sliding_windows(reads, 60 * TICKS_PER_SEC));
        put(SLIDING_30S, g, sliding_windows(reads, 30 * TICKS_PER_SEC));
    }
    for (g, reads) in &by_app {
        put(APP, g, tumbling_windows(reads, 60 * TICKS_PER_SEC));
    }
    want
}

fn ticks(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond() / 100).unwrap()
}

/// The engine's alerts in the naive evaluators' terms.
fn observed(alerts: &[Alert]) -> Expected {
    let mut got = Expected::new();
    for a in alerts {
        let w = a.window.expect("burst alerts have a window");
        let count = |k: &str| a.fields[k].as_u64().unwrap() as usize;
        let operations: Vec<String> = a.fields["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(count("distinct_actions"), operations.len(), "{a:?}");
        got.entry((
            a.rule.id.clone(),
            Value::Object(a.group.clone()).to_string(),
        ))
        .or_default()
        .push(NaiveWindow {
            start: ticks(w.start),
            end: ticks(w.end),
            calls: count("action_count"),
            operations,
        });
    }
    for w in got.values_mut() {
        w.sort();
    }
    got
}

fn run(events: &[AuditEvent<'_>], max_lateness: SignedDuration) -> Vec<Alert> {
    let opts = EngineOptions {
        max_lateness,
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&rules(), opts).unwrap();
    let mut out = Vec::new();
    for e in events {
        engine.push(e, &mut out);
    }
    engine.finish(&mut out);
    out.sort_by(|a, b| {
        (&a.rule.id, a.window.map(|w| w.start), &a.alert_id).cmp(&(
            &b.rule.id,
            b.window.map(|w| w.start),
            &b.alert_id,
        ))
    });
    out
}

/// Compares the engine with the naive evaluators in time order, then reversed and shuffled
/// with a lateness beyond the span. Returns the number of alerts.
fn check(calls: &mut [Call], seed: u64, label: &str) -> usize {
    calls.sort_by_key(|c| c.ticks);
    let events: Vec<AuditEvent<'static>> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| c.event(i as u64 + 1))
        .collect();
    let want = naive(calls);
    let alerts = run(&events, SignedDuration::from_mins(1));
    let got = observed(&alerts);
    for (k, w) in &want {
        assert_eq!(got.get(k), Some(w), "{label}: {k:?}");
    }
    for (k, g) in &got {
        assert!(
            want.contains_key(k),
            "{label}: unexpected alerts {k:?}: {g:?}"
        );
    }

    let first = calls.first().map_or(0, |c| c.ticks);
    let last = calls.last().map_or(0, |c| c.ticks);
    let beyond = SignedDuration::from_nanos((last - first) * 100) + SignedDuration::from_mins(5);
    let mut reversed = events.clone();
    reversed.reverse();
    assert_eq!(run(&reversed, beyond), alerts, "{label}: reversed");
    let mut shuffled = events.clone();
    let mut rng = Rng::new(seed ^ 0x5eed);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.index(i + 1));
    }
    assert_eq!(run(&shuffled, beyond), alerts, "{label}: shuffled");
    alerts.len()
}

/// Dense random calls: per identity a few clusters around minute edges, of 1 to 7 calls (22
/// to 31 for a few identities, beyond the evidence cap of 20) of 1 to 3 read operations, times often on whole seconds (ties, exact 60 s and 30 s gaps);
/// some writes, some calls without an identity.
fn dense_calls(seed: u64) -> Vec<Call> {
    let mut rng = Rng::new(seed);
    let t0: Timestamp = "2025-06-30T10:00:00Z".parse().unwrap();
    let t0 = ticks(t0);
    let mut calls = Vec::new();
    let users = 40;
    let apps = 12;
    for who in 0..users + apps + 1 {
        let (upn, app_id, object_id) = if who < users {
            (
                Some(format!("user{who}@contoso.com")),
                Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46".to_string()),
                Some(format!("00000000-0000-4000-8000-{who:012}")),
            )
        } else if who < users + apps {
            // Some apps share an app id with another object id, some have only one of them.
            let app = format!("app-{}", who % 9);
            let oid = format!("10000000-0000-4000-8000-{who:012}");
            match who % 5 {
                0 => (None, Some(app), None),
                1 => (None, None, Some(oid)),
                _ => (None, Some(app), Some(oid)),
            }
        } else {
            (None, None, None)
        };
        // A few identities make more calls in a minute than an alert keeps as evidence.
        let heavy = who % 13 == 0;
        for cluster in 0..1 + rng.below(4) {
            let edge = t0 + (1 + rng.below(6) as i64) * 60 * TICKS_PER_SEC;
            let centre = edge + (rng.below(41) as i64 - 20) * TICKS_PER_SEC;
            let pool: Vec<&str> = (0..1 + rng.below(3))
                .map(|_| READ_OPERATIONS[rng.index(READ_OPERATIONS.len())])
                .collect();
            let n = if heavy && cluster == 0 {
                22 + rng.below(10)
            } else {
                1 + rng.below(7)
            };
            for _ in 0..n {
                let mut t = centre + (rng.below(31) as i64 - 15) * TICKS_PER_SEC;
                if rng.chance(0.6) {
                    t += rng.below(TICKS_PER_SEC as u64) as i64;
                }
                let op = if rng.chance(0.1) {
                    ["SecretSet", "KeyUnwrap", "Authentication"][rng.index(3)]
                } else {
                    pool[rng.index(pool.len())]
                };
                calls.push(Call {
                    ticks: t,
                    op: op.to_string(),
                    upn: upn.clone(),
                    app_id: app_id.clone(),
                    object_id: object_id.clone(),
                });
                // Now and then the same call again exactly 30 s or 60 s later.
                if rng.chance(0.15) {
                    let mut again = calls[calls.len() - 1].clone();
                    again.ticks += (1 + rng.below(2) as i64) * 30 * TICKS_PER_SEC;
                    calls.push(again);
                }
            }
        }
    }
    calls
}

/// Per-minute read counts of each user that sit at the thresholds' edge: 4 reads, or 5 or
/// more of a single operation.
fn near_misses(calls: &[Call]) -> usize {
    let mut per: BTreeMap<(&str, i64), Vec<&str>> = BTreeMap::new();
    for c in calls
        .iter()
        .filter(|c| READ_OPERATIONS.contains(&c.op.as_str()))
    {
        if let Some(u) = &c.upn {
            let m = c.ticks.div_euclid(60 * TICKS_PER_SEC);
            per.entry((u.as_str(), m)).or_default().push(c.op.as_str());
        }
    }
    per.values()
        .filter(|ops| {
            let distinct: std::collections::BTreeSet<&&str> = ops.iter().collect();
            ops.len() == 4 || (ops.len() >= 5 && distinct.len() == 1)
        })
        .count()
}

#[test]
fn dense_random_calls_give_the_naive_alerts_in_any_order() {
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut near = 0;
    let mut sliding_only = 0;
    for seed in 1..=6 {
        let mut calls = dense_calls(seed);
        check(&mut calls, seed, &format!("seed {seed}"));
        let want = naive(&calls);
        for ((rule, _), w) in &want {
            *per_rule.entry(rule.clone()).or_default() += w.len();
        }
        sliding_only += want
            .keys()
            .filter(|(r, g)| r == SLIDING_1M && !want.contains_key(&(SEED.to_string(), g.clone())))
            .count();
        near += near_misses(&calls);
    }
    // Dense enough to mean something: every rule alerts many times, bursts straddle minute
    // edges (sliding alerts for users the tumbling rule misses), many near misses.
    for rule in [SEED, APP, SLIDING_1M, SLIDING_30S] {
        let n = per_rule.get(rule).copied().unwrap_or(0);
        assert!(n >= 30, "{rule}: {n} alerts over the seeds");
    }
    assert!(sliding_only >= 15, "{sliding_only}");
    assert!(near >= 50, "{near}");
}

/// Generated logs: dense background (at most 2 reads per identity and minute) with many
/// injected bursts, near misses and straddles in the same few minutes.
#[test]
fn generated_logs_give_the_naive_alerts_and_the_ground_truth() {
    for seed in [3, 17] {
        let mut cfg = GenConfig::default()
            .seed(seed)
            .events(6_000)
            .duration(SignedDuration::from_mins(8))
            .mixed_records(true);
        cfg.users = 25;
        cfg.service_principals = 6;
        cfg.managed_identities = 4;
        let mut rng = Rng::new(seed);
        let minute =
            |m: i64, s: i64| Timestamp::from_second(cfg.start.as_second() + m * 60 + s).unwrap();
        for k in 0..30 {
            let at = Some(minute(1 + k % 6, [0, 20, 45, 55, 58][rng.index(5)]));
            cfg.scenarios.push(match k % 6 {
                0 | 1 => Scenario::RetrievalBurst {
                    identity: [
                        IdentityChoice::User,
                        IdentityChoice::ServicePrincipal,
                        IdentityChoice::ManagedIdentity,
                    ][rng.index(3)],
                    calls: 4 + rng.below(4) as u32,
                    distinct_ops: 1 + rng.below(3) as u32,
                    at,
                },
                2 => Scenario::StraddleBurst {
                    before: 1 + rng.below(4) as u32,
                    after: 1 + rng.below(4) as u32,
                    at: Some(minute(2 + k % 5, 0)),
                },
                3 => Scenario::NearMissCount { at },
                4 => Scenario::NearMissSingleOp { at },
                _ => Scenario::ServicePrincipalBurst { calls: 5, at },
            });
        }
        let g = Generator::new(&cfg).unwrap();
        let mut calls: Vec<Call> = g
            .events()
            .filter(|e| e.is_key_vault_audit())
            .map(|e| {
                let id = e.ident();
                Call {
                    ticks: e.ticks(),
                    op: e.operation().to_string(),
                    upn: e.upn().map(str::to_string),
                    app_id: id.map(|i| i.app_id.clone()),
                    object_id: id.map(|i| i.oid.clone()),
                }
            })
            .collect();
        check(&mut calls, seed, &format!("generated, seed {seed}"));
        // Each scenario's ground truth agrees with the naive alerts for its identity.
        let want = naive(&calls);
        for t in g.ground_truth() {
            let (rule, group) = match &t.identity.upn {
                Some(upn) => (SEED, json!({ "identity.upn": upn })),
                None => (
                    APP,
                    json!({
                        "identity.app_id": t.identity.app_id,
                        "identity.object_id": t.identity.object_id,
                    }),
                ),
            };
            let starts: Vec<i64> = want
                .get(&(rule.to_string(), group.to_string()))
                .map(|w| w.iter().map(|w| w.start).collect())
                .unwrap_or_default();
            let truth: Vec<i64> = t
                .expected_alert
                .tumbling_windows
                .iter()
                .map(|w| ticks(*w))
                .collect();
            assert_eq!(starts, truth, "seed {seed}: {}", t.kind);
        }
    }
}
