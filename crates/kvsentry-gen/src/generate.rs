//! The event stream: background traffic merged in time order with the injected scenarios.

use std::net::IpAddr;

use jiff::Timestamp;

use crate::config::{GenConfig, IdentityChoice, Scenario};
use crate::error::GenError;
use crate::event::{Event, EventRef, NO_IDENT, NO_SCENARIO, RecordKind};
use crate::fmt::{TICKS_PER_MIN, TICKS_PER_SEC, ticks_of};
use crate::ops::Op;
use crate::rng::Rng;
use crate::truth::{GroundTruth, evaluate};
use crate::world::{Kind, NetClass, World};
/// The estate, the scenario events and their ground truth for one configuration.
#[derive(Debug, Clone)]
pub struct Generator {
    cfg: GenConfig,
    world: World,
    scenario_events: Vec<Event>,
    truth: Vec<GroundTruth>,
    /// Inverse-CDF table of the day/night rhythm: cumulative weight per 10-minute bucket.
    rhythm: Vec<f64>,
}

const BUCKET: i64 = 10 * TICKS_PER_MIN;

impl Generator {
    pub fn new(cfg: &GenConfig) -> Result<Generator, GenError> {
        cfg.validate()?;
        let mut world = World::build(cfg);
        let mut scenario_events = Vec::new();
        let mut truth = Vec::new();
        for (k, sc) in cfg.scenarios.iter().enumerate() {
            let evs = build_scenario(cfg, &mut world, k, sc)?;
            truth.push(evaluate(&world, k, sc, &evs));
            scenario_events.extend(evs);
        }
        scenario_events.sort_by_key(|e| e.ticks);
        let dur = ticks_of_duration(cfg);
        let rhythm = if cfg.diurnal {
            let start = ticks_of(cfg.start);
            let n = ((dur + BUCKET - 1) / BUCKET).clamp(1, 1_000_000);
            let mut acc = 0.0;
            (0..n)
                .map(|b| {
                    let mid = start + b * BUCKET + BUCKET / 2;
                    let hour = (mid.rem_euclid(24 * 60 * TICKS_PER_MIN)) as f64
                        / (60.0 * TICKS_PER_MIN as f64);
                    // Busiest around 13:00 UTC, quietest around 01:00 UTC.
                    let w = 1.0 + 0.55 * (std::f64::consts::TAU * (hour - 13.0) / 24.0).cos();
                    // The last bucket may be partial.
                    let len = (dur - b * BUCKET).min(BUCKET) as f64 / BUCKET as f64;
                    acc += w * len;
                    acc
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Generator {
            cfg: cfg.clone(),
            world,
            scenario_events,
            truth,
            rhythm,
        })
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    pub(crate) fn world(&self) -> &World {
        &self.world
    }

    /// One ground-truth record per scenario, in configuration order.
    pub fn ground_truth(&self) -> &[GroundTruth] {
        &self.truth
    }

    /// Every address any identity of the estate (or a scenario) calls from.
    pub fn caller_ips(&self) -> Vec<IpAddr> {
        self.world.ips.iter().map(|i| i.addr).collect()
    }

    /// (caller address, time) of every Key Vault `AuditEvent` record, in time order: the
    /// observations [`crate::ti_expected_matches`] takes.
    pub fn key_vault_observations(&self) -> Vec<(IpAddr, Timestamp)> {
        self.events()
            .filter(|e| e.is_key_vault_audit())
            .map(|e| (e.caller_ip(), e.time()))
            .collect()
    }

    /// The injected scenarios' events alone, in time order.
    pub fn scenario_events(&self) -> impl Iterator<Item = EventRef<'_>> {
        self.scenario_events.iter().map(|ev| EventRef {
            world: &self.world,
            ev: *ev,
        })
    }

    /// The addresses of the `ips:` scenarios ([`Scenario::CallsFromIps`]), in order, once each.
    pub fn scenario_ips(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for sc in &self.cfg.scenarios {
            if let Scenario::CallsFromIps { ips, .. } = sc {
                for ip in ips {
                    let ip = kvsentry_model::net::canonical(*ip);
                    if !out.contains(&ip) {
                        out.push(ip);
                    }
                }
            }
        }
        out
    }

    /// All events (background and scenarios) in time order.
    pub fn events(&self) -> Events<'_> {
        let n_bg = self.world.background;
        Events {
            g: self,
            rng: Rng::derive(self.cfg.seed, 2),
            i: 0,
            dur: ticks_of_duration(&self.cfg),
            start: ticks_of(self.cfg.start),
            caps: vec![(i64::MIN, 0); n_bg],
            next_bg: None,
            sc: 0,
            max_reads: self.cfg.max_reads_per_minute.min(2),
        }
    }

    /// Fraction of the period -> tick offset, through the day/night rhythm.
    fn warp(&self, x: f64, dur: i64) -> i64 {
        let Some(&total) = self.rhythm.last() else {
            return (x * dur as f64) as i64;
        };
        let target = x * total;
        let b = self.rhythm.partition_point(|&c| c <= target);
        let lo = if b == 0 { 0.0 } else { self.rhythm[b - 1] };
        let hi = self.rhythm.get(b).copied().unwrap_or(total);
        let within = if hi > lo {
            (target - lo) / (hi - lo)
        } else {
            0.0
        };
        let len = (dur - b as i64 * BUCKET).clamp(0, BUCKET);
        (b as i64 * BUCKET + (within * len as f64) as i64).min(dur.saturating_sub(1))
    }
}

fn ticks_of_duration(cfg: &GenConfig) -> i64 {
    (cfg.duration.as_nanos() / 100).clamp(1, i128::from(i64::MAX / 4)) as i64
}

/// Iterator over the events of a [`Generator`], in time order.
pub struct Events<'g> {
    g: &'g Generator,
    rng: Rng,
    i: u64,
    dur: i64,
    start: i64,
    /// Per background identity: (calendar minute, reads in it).
    caps: Vec<(i64, u8)>,
    next_bg: Option<Event>,
    sc: usize,
    max_reads: u8,
}

impl<'g> Iterator for Events<'g> {
    type Item = EventRef<'g>;

    fn next(&mut self) -> Option<EventRef<'g>> {
        if self.next_bg.is_none() {
            self.next_bg = self.background();
        }
        let sc = self.g.scenario_events.get(self.sc);
        let ev = match (self.next_bg, sc) {
            (Some(b), Some(s)) if s.ticks < b.ticks => {
                self.sc += 1;
                *s
            }
            (Some(b), _) => {
                self.next_bg = None;
                b
            }
            (None, Some(s)) => {
                self.sc += 1;
                *s
            }
            (None, None) => return None,
        };
        Some(EventRef {
            world: &self.g.world,
            ev,
        })
    }
}

impl Events<'_> {
    fn background(&mut self) -> Option<Event> {
        let n = self.g.cfg.events;
        if self.i >= n {
            return None;
        }
        let cfg = &self.g.cfg;
        let world = &self.g.world;
        // Stratified times: event i falls in its own slice of the period, so the stream is
        // sorted without buffering.
        let x = (self.i as f64 + self.rng.f64()) / n as f64;
        self.i += 1;
        let ticks = self.start + self.g.warp(x.min(1.0), self.dur);
        let rng = &mut self.rng;
        let r = rng.f64();
        let mixed = if cfg.mixed_records {
            cfg.mixed_share
        } else {
            0.0
        };
        if r < mixed {
            return Some(mixed_record(rng, world, ticks));
        }
        if r < mixed + cfg.unauthenticated_share || world.pick.is_empty() {
            return Some(unauthenticated(rng, world, ticks));
        }
        let minute = ticks.div_euclid(TICKS_PER_MIN);
        for attempt in 0..8 {
            let Some(id) = world.pick.sample(rng) else {
                break;
            };
            let ident = &world.idents[id];
            let ops = ident.profile.ops();
            let weights: Vec<u32> = ops.iter().map(|o| o.1).collect();
            let mut op = ops[rng.weighted(&weights)].0;
            let cap = &mut self.caps[id];
            if cap.0 != minute {
                *cap = (minute, 0);
            }
            if op.is_read() {
                if cap.1 >= self.max_reads {
                    match ident.profile.fallback() {
                        Some(f) if attempt == 7 => op = f,
                        _ => continue,
                    }
                } else {
                    cap.1 += 1;
                }
            }
            let vault = *rng.pick(&ident.vaults).unwrap_or(&0);
            let ip = *rng.pick(&ident.ips).unwrap_or(&0);
            let status = if rng.chance(cfg.failure_share) {
                failure_status(rng, op)
            } else {
                200
            };
            return Some(make_event(
                rng,
                ticks,
                RecordKind::Vault,
                vault,
                id as u32,
                ip,
                op,
                status,
            ));
        }
        Some(unauthenticated(rng, world, ticks))
    }
}

fn failure_status(rng: &mut Rng, op: Op) -> u16 {
    let s = [403u16, 404, 429, 401][rng.weighted(&[40, 35, 15, 10])];
    if s == 404
        && matches!(
            op.shape(),
            crate::ops::Shape::Collection
                | crate::ops::Shape::Deleted
                | crate::ops::Shape::Management
        )
    {
        403
    } else {
        s
    }
}

#[allow(clippy::too_many_arguments)]
fn make_event(
    rng: &mut Rng,
    ticks: i64,
    kind: RecordKind,
    vault: u32,
    ident: u32,
    ip: u32,
    op: Op,
    status: u16,
) -> Event {
    let typical = f64::from(op.typical_ms());
    let mut d = typical * (0.35 + 1.3 * rng.f64());
    if rng.chance(0.02) {
        d *= 8.0;
    }
    Event {
        ticks,
        kind,
        vault,
        ident,
        ip,
        op,
        status,
        duration: d as u32,
        corr: rng.u128(),
        object: rng.below(64) as u16,
        api: rng.weighted(&[50, 25, 15, 10]) as u8,
        agent_variant: rng.below(10) as u8,
        tls13: rng.chance(0.35),
        scenario: NO_SCENARIO,
        token_age: rng.below(3500) as u16,
    }
}

fn unauthenticated(rng: &mut Rng, world: &World, ticks: i64) -> Event {
    let vault = rng.index(world.vaults.len()) as u32;
    // Background addresses only: scenario addresses must appear in scenario events alone.
    let ip = rng.index(world.background_ips.max(1)) as u32;
    make_event(
        rng,
        ticks,
        RecordKind::Vault,
        vault,
        NO_IDENT,
        ip,
        Op::Authentication,
        401,
    )
}

fn mixed_record(rng: &mut Rng, world: &World, ticks: i64) -> Event {
    let ident = world.pick.sample(rng).map_or(NO_IDENT, |i| i as u32);
    let ip = world
        .idents
        .get(ident as usize)
        .and_then(|i| rng.pick(&i.ips).copied())
        .unwrap_or(0);
    // Only non-read operations, so a reader that fails to skip these records still never
    // sees a burst in them.
    if rng.chance(0.5) && !world.hsms.is_empty() {
        let op = [Op::KeyUnwrap, Op::KeySign, Op::KeyWrap][rng.index(3)];
        let vault = rng.index(world.hsms.len()) as u32;
        make_event(
            rng,
            ticks,
            RecordKind::ManagedHsm,
            vault,
            ident,
            ip,
            op,
            200,
        )
    } else {
        let op = [Op::SecretSet, Op::KeyCreate, Op::CertificateCreate][rng.index(3)];
        let vault = rng.index(world.vaults.len()) as u32;
        make_event(
            rng,
            ticks,
            RecordKind::OtherCategory,
            vault,
            ident,
            ip,
            op,
            200,
        )
    }
}

/// Read operations an attacker enumerates, in the order a burst cycles through them: all 20
/// of the seed rule, the common ones first (a burst of `distinct_ops` uses the first ones).
pub const BURST_OPS: [Op; 20] = [
    Op::SecretList,
    Op::SecretGet,
    Op::KeyList,
    Op::KeyGet,
    Op::CertificateList,
    Op::CertificateGet,
    Op::VaultGet,
    Op::SecretListVersions,
    Op::KeyListVersions,
    Op::CertificatePolicyGet,
    Op::CertificateListVersions,
    Op::SecretListDeleted,
    Op::CertificateIssuersList,
    Op::SecretGetDeleted,
    Op::KeyListDeleted,
    Op::KeyGetDeleted,
    Op::CertificateListDeleted,
    Op::CertificateGetDeleted,
    Op::CertificateContactsGet,
    Op::CertificateIssuerGet,
];

/// A random whole minute well inside the period (or the one of `at`).
fn scenario_time(rng: &mut Rng, cfg: &GenConfig, at: Option<Timestamp>) -> i64 {
    if let Some(at) = at {
        return ticks_of(at);
    }
    let start_min = ticks_of(cfg.start).div_euclid(TICKS_PER_MIN) + 2;
    let end_min = (ticks_of(cfg.start) + ticks_of_duration(cfg)).div_euclid(TICKS_PER_MIN) - 3;
    let m = if end_min > start_min {
        rng.range(start_min as u64, end_min as u64) as i64
    } else {
        start_min
    };
    m * TICKS_PER_MIN
        + rng.range(0, 8) as i64 * TICKS_PER_SEC
        + rng.below(TICKS_PER_SEC as u64) as i64
}

/// `n` times spread over `[from, to)`, increasing, each but the first with some jitter.
fn spread(rng: &mut Rng, from: i64, to: i64, n: u32) -> Vec<i64> {
    let n64 = i64::from(n.max(1));
    let span = (to - from).max(n64);
    let step = span / n64;
    (0..n64)
        // The first call is exactly at `from` (a scenario's `at` is its first call).
        .map(|j| {
            from + j * step
                + if j == 0 {
                    0
                } else {
                    rng.below((step / 2).max(1) as u64) as i64
                }
        })
        .collect()
}

fn build_scenario(
    cfg: &GenConfig,
    world: &mut World,
    k: usize,
    sc: &Scenario,
) -> Result<Vec<Event>, GenError> {
    let mut rng = Rng::derive(cfg.seed, 1000 + k as u64);
    let kind = match sc {
        Scenario::RetrievalBurst { identity, .. } => match identity {
            IdentityChoice::User => Kind::User,
            IdentityChoice::ServicePrincipal => Kind::ServicePrincipal,
            IdentityChoice::ManagedIdentity => Kind::ManagedIdentity,
        },
        Scenario::ServicePrincipalBurst { .. } => Kind::ServicePrincipal,
        Scenario::ManagedIdentityBurst { .. } => Kind::ManagedIdentity,
        _ => Kind::User,
    };
    let ident = world.add_scenario_identity(&mut rng, kind, cfg);
    let vault = world.idents[ident as usize].vaults[0];
    let home_ip = world.idents[ident as usize].ips[0];
    let attacker_ip = world.new_ip(&mut rng, NetClass::Hosting, cfg.ipv6_share);
    let mut out = Vec::new();
    let mut push = |rng: &mut Rng, t: i64, op: Op, ip: u32, status: u16| {
        let mut e = make_event(rng, t, RecordKind::Vault, vault, ident, ip, op, status);
        e.scenario = k as u16;
        out.push(e);
    };
    match sc {
        Scenario::RetrievalBurst {
            calls,
            distinct_ops,
            at,
            ..
        } => {
            burst(
                &mut rng,
                cfg,
                *at,
                *calls,
                *distinct_ops,
                attacker_ip,
                &mut push,
            );
        }
        Scenario::ServicePrincipalBurst { calls, at }
        | Scenario::ManagedIdentityBurst { calls, at } => {
            burst(&mut rng, cfg, *at, *calls, 3, attacker_ip, &mut push);
        }
        Scenario::NearMissCount { at } => burst(&mut rng, cfg, *at, 4, 2, home_ip, &mut push),
        Scenario::NearMissSingleOp { at } => burst(&mut rng, cfg, *at, 6, 1, home_ip, &mut push),
        Scenario::StraddleBurst { before, after, at } => {
            // The boundary is the minute after the chosen (or given) time's minute, unless
            // the given time is itself on a boundary.
            let t = scenario_time(&mut rng, cfg, *at);
            let boundary = if t.rem_euclid(TICKS_PER_MIN) == 0 {
                t
            } else {
                (t.div_euclid(TICKS_PER_MIN) + 1) * TICKS_PER_MIN
            };
            let times_a = spread(
                &mut rng,
                boundary - 10 * TICKS_PER_SEC,
                boundary - TICKS_PER_SEC,
                *before,
            );
            let times_b = spread(&mut rng, boundary, boundary + 10 * TICKS_PER_SEC, *after);
            for (j, t) in times_a
                .iter()
                .take(*before as usize)
                .chain(times_b.iter().take(*after as usize))
                .enumerate()
            {
                push(&mut rng, *t, BURST_OPS[j % 3], attacker_ip, 200);
            }
        }
        Scenario::CallsFromIps { ips, calls } => {
            let idx: Vec<u32> = ips.iter().map(|ip| world.intern_ip(*ip)).collect();
            let total = (idx.len() as i64) * i64::from(*calls);
            if total > 0 {
                let start = ticks_of(cfg.start);
                let dur = ticks_of_duration(cfg);
                // At least 31 s apart: never more than 2 calls in any minute.
                let step = (dur / (total + 1)).max(31 * TICKS_PER_SEC);
                for j in 0..total {
                    let t = start + step * (j + 1) - rng.below((step / 4) as u64) as i64;
                    let ip = idx[(j as usize) % idx.len()];
                    let op = if j % 4 == 3 {
                        Op::CertificateGet
                    } else {
                        Op::SecretGet
                    };
                    push(&mut rng, t, op, ip, 200);
                }
            }
        }
    }
    if out.len() > 5_000_000 {
        return Err(GenError::Config(format!(
            "scenario {k} ({}) would inject {} events; at most 5,000,000",
            sc.kind_name(),
            out.len()
        )));
    }
    Ok(out)
}

fn burst(
    rng: &mut Rng,
    cfg: &GenConfig,
    at: Option<Timestamp>,
    calls: u32,
    distinct: u32,
    ip: u32,
    push: &mut impl FnMut(&mut Rng, i64, Op, u32, u16),
) {
    let t0 = scenario_time(rng, cfg, at);
    let minute_end = (t0.div_euclid(TICKS_PER_MIN) + 1) * TICKS_PER_MIN;
    // Leave a little room before the minute ends; everything stays in t0's minute.
    let to = (minute_end - TICKS_PER_SEC / 2).max(t0 + 1);
    let distinct = distinct.clamp(1, BURST_OPS.len() as u32) as usize;
    let times = spread(rng, t0, to, calls);
    for (j, t) in times.into_iter().take(calls as usize).enumerate() {
        // One call of a longer burst is refused: failures count towards the rule too.
        let status = if calls >= 6 && j == 2 { 403 } else { 200 };
        push(
            rng,
            t.min(minute_end - 1),
            BURST_OPS[j % distinct],
            ip,
            status,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_sorted_complete_and_mixed() {
        let cfg = GenConfig::default()
            .events(20_000)
            .with_standard_scenarios()
            .mixed_records(true);
        let g = Generator::new(&cfg).unwrap();
        let evs: Vec<EventRef> = g.events().collect();
        let injected: usize = g.ground_truth().iter().map(|t| t.events).sum();
        assert_eq!(injected, 8 + 4 + 6 + 6 + 8 + 8 + 6);
        assert_eq!(evs.len(), 20_000 + injected);
        assert!(evs.windows(2).all(|w| w[0].ticks() <= w[1].ticks()));
        let start = ticks_of(cfg.start);
        let end = start + ticks_of_duration(&cfg);
        assert!(evs.iter().all(|e| (start..end).contains(&e.ticks())));
        let count = |k: RecordKind| evs.iter().filter(|e| e.record_kind() == k).count();
        // 1 % mixed share: about 200 records, half HSM half policy.
        assert!(
            (60..=160).contains(&count(RecordKind::ManagedHsm)),
            "{}",
            count(RecordKind::ManagedHsm)
        );
        assert!((60..=160).contains(&count(RecordKind::OtherCategory)));
        let failures = evs
            .iter()
            .filter(|e| e.http_status() >= 400 && e.operation() != "Authentication")
            .count();
        assert!((500..=1100).contains(&failures), "{failures}");
        let unauth = evs
            .iter()
            .filter(|e| e.operation() == "Authentication")
            .count();
        assert!(unauth >= 400, "{unauth}");
        assert!(
            evs.iter()
                .filter(|e| e.operation() == "Authentication")
                .all(|e| e.ident().is_none())
        );
        // Busier in the afternoon than at night (the day/night rhythm).
        let hour = |e: &EventRef| (e.ticks() - start) / (3600 * TICKS_PER_SEC);
        let night = evs.iter().filter(|e| hour(e) == 1).count();
        let day = evs.iter().filter(|e| hour(e) == 13).count();
        assert!(day > 2 * night, "day {day} night {night}");
        // SecretGet is the most common operation.
        let mut by_op: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for e in &evs {
            *by_op.entry(e.operation()).or_default() += 1;
        }
        let top = by_op.iter().max_by_key(|(_, n)| **n).unwrap();
        assert_eq!(*top.0, "SecretGet");
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = GenConfig {
            users: 0,
            service_principals: 0,
            managed_identities: 0,
            ..GenConfig::default()
        };
        assert!(Generator::new(&c).is_err());
        c.events = 0;
        let g = Generator::new(&c).unwrap();
        assert_eq!(g.events().count(), 0);
    }
}
