//! The generator's ground truth names exactly the built-in rules the engine fires on each
//! scenario: generated logs with bursts, near misses, a straddle and `ips:` calls, and the
//! indicator export written for the same run (every caller, scenario attackers included, has
//! indicators of every kind: live, expired, inactive, stale), evaluated as one Sentinel run
//! at the end of the span.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use jiff::SignedDuration;
use kvsentry_engine::{Engine, EngineOptions, TiMode};
use kvsentry_gen::{
    APP_RULE_ID, ELASTIC_RULE_ID, GenConfig, Generator, TI_RULE_ID, apply_indicators,
    run_indicators,
};
use kvsentry_intel::{IndicatorSet, TiFormat, load_path};
use kvsentry_model::Alert;
use kvsentry_rules::RuleSet;

#[path = "support/generated.rs"]
mod generated;
use generated::events;

fn alerts(g: &Generator, intel: IndicatorSet, at: jiff::Timestamp) -> Vec<Alert> {
    let opts = EngineOptions {
        intel: Some(Arc::new(intel)),
        ti_mode: TiMode::AsOf(at),
        ..EngineOptions::default()
    };
    let mut engine = Engine::new(&RuleSet::builtin(), opts).unwrap();
    let mut out = Vec::new();
    for e in &events(g) {
        engine.push(e, &mut out);
    }
    engine.finish(&mut out);
    out
}

#[test]
fn ground_truth_rule_ids_are_what_the_engine_fires() {
    for (seed, share) in [(5, 1.0), (9, 0.4)] {
        let mut cfg = GenConfig::default()
            .seed(seed)
            .events(3_000)
            .duration(SignedDuration::from_hours(2))
            .with_standard_scenarios()
            .scenario("ips:10.9.8.7,52.178.17.9:2".parse().unwrap())
            .scenario("burst:user:6:2".parse().unwrap())
            .scenario("burst:mi:5:1".parse().unwrap())
            .scenario("sp-burst:9".parse().unwrap());
        cfg.users = 40;
        cfg.service_principals = 8;
        cfg.managed_identities = 6;
        let g = Generator::new(&cfg).unwrap();
        let at = cfg.start + cfg.duration;
        let callers = g.caller_ips();
        let rows = run_indicators(&g, 2 * callers.len(), share, &callers, at);
        let mut truth = g.ground_truth().to_vec();
        apply_indicators(&mut truth, &g, &rows, at);

        let path = std::env::temp_dir().join(format!(
            "kvsentry-engine-truth-{}-{seed}.csv",
            std::process::id()
        ));
        let mut csv = Vec::new();
        kvsentry_gen::ti::write_indicators_csv(&rows, &mut csv).unwrap();
        std::fs::write(&path, csv).unwrap();
        let mut intel = IndicatorSet::new();
        let loaded = load_path(&path, Some(TiFormat::Sentinel), &mut intel);
        std::fs::remove_file(&path).unwrap();
        loaded.unwrap();
        let alerts = alerts(&g, intel, at);

        let mut ti_entries = 0;
        for t in &truth {
            let ips: BTreeSet<IpAddr> = t.ips.iter().map(|s| s.parse().unwrap()).collect();
            let id = &t.identity;
            let fired: BTreeSet<&str> = alerts
                .iter()
                .filter(|a| match a.rule.id.as_str() {
                    ELASTIC_RULE_ID => {
                        id.upn.is_some() && a.group["identity.upn"].as_str() == id.upn.as_deref()
                    }
                    APP_RULE_ID => {
                        a.group["identity.app_id"] == id.app_id.as_str()
                            && a.group["identity.object_id"] == id.object_id.as_str()
                    }
                    TI_RULE_ID => a.threat.as_ref().is_some_and(|th| {
                        th.matched_atomic
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| ips.contains(&ip))
                    }),
                    _ => false,
                })
                .map(|a| a.rule.id.as_str())
                .collect();
            let want: BTreeSet<&str> = t
                .expected_alert
                .rule_ids
                .iter()
                .map(String::as_str)
                .collect();
            assert_eq!(fired, want, "seed {seed}: {} from {:?}", t.kind, t.ips);
            ti_entries += usize::from(t.expected_alert.ti);
        }
        // Both `ips:` scenarios, at least; with every caller listed, some bursts' attackers too.
        assert!(ti_entries >= 2, "seed {seed}: {ti_entries}");
        assert!(
            truth
                .iter()
                .filter(|t| t.kind == "calls_from_ips")
                .all(|t| t.expected_alert.ti),
            "seed {seed}"
        );
    }
}
