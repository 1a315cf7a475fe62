//! serve's metrics, in the Prometheus text format: what every pass read, raised and
//! delivered, the outboxes, the intel and the state store.
//!
//! [`Metrics`] is shared between the loop that runs passes (which records each
//! [`PassReport`]) and the HTTP thread that answers `GET /metrics` ([`Metrics::encode`]).
//! Counters only grow for the life of the process (a reload keeps them); gauges hold the
//! last value seen. Labels are names from the configuration (inputs, outputs), rule ids and
//! skip reasons: never a secret, a record or a value read from the logs.
//!
//! ```
//! use kvsentry_runtime::serve::{Metrics, PassReport};
//! let metrics = Metrics::new();
//! metrics.record_pass(&PassReport::default(), std::time::Duration::from_millis(20));
//! assert!(metrics.encode().contains("kvsentry_passes_total 1\n"));
//! ```

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::PassReport;
use super::config::ServeConfig;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const METRICS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InputLabel {
    input: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    input: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutputLabel {
    output: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// serve's metrics (see the module documentation). `Sync`: share it in an `Arc`.
pub struct Metrics {
    registry: Registry,
    events: Family<InputLabel, Counter>,
    skipped: Family<SkipLabels, Counter>,
    late: Family<InputLabel, Counter>,
    watermark: Family<InputLabel, FloatGauge>,
    backlog: Family<InputLabel, Gauge>,
    alerts: Family<RuleLabel, Counter>,
    delivered: Family<OutputLabel, Counter>,
    failures: Family<OutputLabel, Counter>,
    retries: Family<OutputLabel, Counter>,
    pending: Family<OutputLabel, Gauge>,
    indicators: Gauge,
    ti_refreshed: FloatGauge,
    state_bytes: Gauge,
    passes: Counter,
    pass_seconds: Histogram,
    reloads: Family<ResultLabel, Counter>,
    ti_failures: Counter,
    retro: Counter,
    duplicates: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered, none with a labelled series yet (see
    /// [`declare`](Self::declare)).
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("kvsentry"),
            events: Family::default(),
            skipped: Family::default(),
            late: Family::default(),
            watermark: Family::default(),
            backlog: Family::default(),
            alerts: Family::default(),
            delivered: Family::default(),
            failures: Family::default(),
            retries: Family::default(),
            pending: Family::default(),
            indicators: Gauge::default(),
            ti_refreshed: FloatGauge::default(),
            state_bytes: Gauge::default(),
            passes: Counter::default(),
            // 1 ms to about 65 s.
            pass_seconds: Histogram::new(exponential_buckets(0.001, 4.0, 9)),
            reloads: Family::default(),
            ti_failures: Counter::default(),
            retro: Counter::default(),
            duplicates: Counter::default(),
        };
        let r = &mut m.registry;
        r.register("events_read", "Events read, by input", m.events.clone());
        let what = "Records skipped (not turned into events), by input and reason";
        r.register("events_skipped", what, m.skipped.clone());
        let what =
            "Events older than allowed_lateness behind their partition or the watermark, by input";
        r.register("events_late", what, m.late.clone());
        let what = "An input's watermark (its newest event time less allowed_lateness), in seconds since the epoch";
        r.register("watermark_seconds", what, m.watermark.clone());
        let what = "What an input knows of and has not read yet: bytes for files and blobs, messages for Kafka (consumer lag)";
        r.register("input_backlog", what, m.backlog.clone());
        let what = "Records read again (the identity of one counted before), left out as hunt leaves them out";
        r.register("events_duplicate", what, m.duplicates.clone());
        r.register("alerts", "Alerts raised, by rule", m.alerts.clone());
        let what = "Alerts delivered, by output";
        r.register("deliveries", what, m.delivered.clone());
        let what =
            "Deliveries that failed after their retries (the alerts wait in the outbox), by output";
        r.register("delivery_failures", what, m.failures.clone());
        let what = "Requests to a receiver that retried an earlier one, by output";
        r.register("delivery_retries", what, m.retries.clone());
        let what = "Alerts waiting in an output's outbox";
        r.register("outbox_alerts", what, m.pending.clone());
        let what = "Threat-intel indicator versions loaded";
        r.register("ti_indicators", what, m.indicators.clone());
        let what = "When threat intel was last loaded, in seconds since the epoch";
        r.register("ti_refresh_timestamp_seconds", what, m.ti_refreshed.clone());
        let what = "Refreshes of threat intel whose files changed but could not be loaded";
        r.register("ti_refresh_failures", what, m.ti_failures.clone());
        let what = "Alerts raised by matching new indicators against caller addresses seen before";
        r.register("retro_alerts", what, m.retro.clone());
        let what = "Size of the state store's file";
        r.register("state_size_bytes", what, m.state_bytes.clone());
        r.register("passes", "Passes run", m.passes.clone());
        let what = "How long a pass took (read, evaluate, checkpoint, deliver)";
        r.register("pass_duration_seconds", what, m.pass_seconds.clone());
        let what = "Reloads of the configuration, rules and intel, by result (ok, refused)";
        r.register("reloads", what, m.reloads.clone());
        m
    }

    /// Creates the series of every input and output of `config` at zero, so they are
    /// there (and rates can be taken) before anything happened.
    pub fn declare(&self, config: &ServeConfig) {
        for i in config.inputs() {
            let input = InputLabel {
                input: i.name.clone(),
            };
            drop(self.events.get_or_create(&input));
            drop(self.late.get_or_create(&input));
            drop(self.backlog.get_or_create(&input));
        }
        for o in config.outputs() {
            let output = OutputLabel {
                output: o.name.clone(),
            };
            drop(self.delivered.get_or_create(&output));
            drop(self.failures.get_or_create(&output));
            drop(self.retries.get_or_create(&output));
            drop(self.pending.get_or_create(&output));
        }
    }

    /// Adds what a pass (or a [`Server::catch_up`](super::Server::catch_up)'s passes) did,
    /// which took `took`.
    pub fn record_pass(&self, r: &PassReport, took: Duration) {
        for (name, i) in &r.inputs {
            let input = InputLabel {
                input: name.clone(),
            };
            self.events.get_or_create(&input).inc_by(i.events);
            self.late.get_or_create(&input).inc_by(i.late);
            for (reason, n) in &i.skipped {
                let labels = SkipLabels {
                    input: name.clone(),
                    reason: (*reason).to_string(),
                };
                self.skipped.get_or_create(&labels).inc_by(*n);
            }
            let backlog = i64::try_from(i.backlog).unwrap_or(i64::MAX);
            self.backlog.get_or_create(&input).set(backlog);
            if let Some(w) = i.watermark {
                self.watermark.get_or_create(&input).set(w as f64 / 1e9);
            }
        }
        for (rule, n) in &r.rule_alerts {
            let rule = RuleLabel { rule: rule.clone() };
            self.alerts.get_or_create(&rule).inc_by(*n);
        }
        let output = |name: &String| OutputLabel {
            output: name.clone(),
        };
        for (name, n) in &r.delivered {
            self.delivered.get_or_create(&output(name)).inc_by(*n);
        }
        for name in r.waiting.keys() {
            self.failures.get_or_create(&output(name)).inc();
        }
        for (name, n) in &r.retries {
            self.retries.get_or_create(&output(name)).inc_by(*n);
        }
        for (name, n) in &r.pending {
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            self.pending.get_or_create(&output(name)).set(n);
        }
        (self.state_bytes).set(i64::try_from(r.state_bytes).unwrap_or(i64::MAX));
        if let Some(n) = r.ti_reloaded {
            self.record_intel(n, jiff::Timestamp::now());
        }
        if r.ti_error.is_some() {
            self.ti_failures.inc();
        }
        self.retro.inc_by(r.retro_alerts);
        self.duplicates.inc_by(r.duplicates);
        // A catch-up's report sums its passes; its duration is theirs together.
        self.passes.inc_by(r.passes.max(1));
        self.pass_seconds.observe(took.as_secs_f64());
    }

    /// Intel was (re)loaded: `indicators` indicator versions, at `at`.
    pub fn record_intel(&self, indicators: usize, at: jiff::Timestamp) {
        (self.indicators).set(i64::try_from(indicators).unwrap_or(i64::MAX));
        let secs = at.as_nanosecond() as f64 / 1e9;
        self.ti_refreshed.set(secs);
    }

    /// A reload was done (`ok`) or refused.
    pub fn record_reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "refused" };
        let labels = ResultLabel {
            result: result.to_string(),
        };
        self.reloads.get_or_create(&labels).inc();
    }

    /// The metrics in the Prometheus text format (version 0.0.4,
    /// [`METRICS_CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String fails only if a metric's encoding does, which ours do not.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::serve::InputPass;

    fn report() -> PassReport {
        let input = InputPass {
            events: 120,
            late: 3,
            skipped: BTreeMap::from([("malformed_json", 2), ("not_key_vault", 5)]),
            watermark: Some(1_700_000_000_500_000_000),
            backlog: 4096,
        };
        PassReport {
            events: 120,
            alerts: 4,
            inputs: BTreeMap::from([("logs".to_string(), input)]),
            rule_alerts: BTreeMap::from([("kv-001".to_string(), 3), ("kv-002".to_string(), 1)]),
            delivered: BTreeMap::from([("hook".to_string(), 1), ("file".to_string(), 4)]),
            waiting: BTreeMap::from([("hook".to_string(), "HTTP 500".to_string())]),
            retries: BTreeMap::from([("hook".to_string(), 2), ("file".to_string(), 0)]),
            pending: BTreeMap::from([("hook".to_string(), 3), ("file".to_string(), 0)]),
            state_bytes: 1_622_016,
            ti_error: Some("ti.csv: no indicators".into()),
            retro_alerts: 2,
            duplicates: 7,
            ..PassReport::default()
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn two_passes_add_up_and_gauges_hold_the_last_value() {
        let m = Metrics::new();
        m.record_pass(&report(), Duration::from_millis(30));
        let mut second = report();
        second.pending.insert("hook".into(), 0);
        second.waiting.clear();
        second.ti_error = None;
        second.ti_reloaded = Some(250);
        let logs = second.inputs.get_mut("logs").unwrap();
        logs.watermark = Some(1_700_000_060_000_000_000);
        logs.backlog = 0;
        m.record_pass(&second, Duration::from_millis(2));
        // Intel the pass reloaded counts, at once.
        assert!(m.encode().contains("\nkvsentry_ti_indicators 250\n"));
        m.record_intel(300, jiff::Timestamp::from_second(1_700_000_100).unwrap());
        m.record_reload(true);
        let text = m.encode();
        let got = lines(&text);
        for want in [
            "kvsentry_events_read_total{input=\"logs\"} 240",
            "kvsentry_events_late_total{input=\"logs\"} 6",
            "kvsentry_events_skipped_total{input=\"logs\",reason=\"malformed_json\"} 4",
            "kvsentry_events_skipped_total{input=\"logs\",reason=\"not_key_vault\"} 10",
            "kvsentry_watermark_seconds{input=\"logs\"} 1700000060.0",
            "kvsentry_input_backlog{input=\"logs\"} 0",
            "kvsentry_alerts_total{rule=\"kv-001\"} 6",
            "kvsentry_alerts_total{rule=\"kv-002\"} 2",
            "kvsentry_deliveries_total{output=\"file\"} 8",
            "kvsentry_deliveries_total{output=\"hook\"} 2",
            "kvsentry_delivery_failures_total{output=\"hook\"} 1",
            "kvsentry_delivery_retries_total{output=\"hook\"} 4",
            "kvsentry_outbox_alerts{output=\"hook\"} 0",
            "kvsentry_ti_indicators 300",
            "kvsentry_ti_refresh_timestamp_seconds 1700000100.0",
            "kvsentry_state_size_bytes 1622016",
            "kvsentry_passes_total 2",
            "kvsentry_pass_duration_seconds_count 2",
            "kvsentry_pass_duration_seconds_bucket{le=\"0.004\"} 1",
            "kvsentry_pass_duration_seconds_bucket{le=\"0.064\"} 2",
            "kvsentry_reloads_total{result=\"ok\"} 1",
            "kvsentry_ti_refresh_failures_total 1",
            "kvsentry_retro_alerts_total 4",
            "kvsentry_events_duplicate_total 14",
        ] {
            assert!(got.contains(&want), "{want} not in\n{text}");
        }
        assert!(text.contains("# TYPE kvsentry_events_read_total counter\n"));
        assert!(text.contains("# TYPE kvsentry_watermark_seconds gauge\n"));
        assert!(text.contains("# TYPE kvsentry_pass_duration_seconds histogram\n"));
    }

    #[test]
    fn declared_series_start_at_zero() {
        let config = crate::serve::config::ServeConfig::from_str(
            "state_dir = \"s\"\n[[input]]\nname = \"logs\"\ntype = \"files\"\npath = \"l\"\n\
             [[output]]\nname = \"out\"\ntype = \"stdout\"\n",
            "kvsentry.toml",
        )
        .unwrap();
        let m = Metrics::new();
        m.declare(&config);
        let text = m.encode();
        let got = lines(&text);
        for want in [
            "kvsentry_events_read_total{input=\"logs\"} 0",
            "kvsentry_events_late_total{input=\"logs\"} 0",
            "kvsentry_deliveries_total{output=\"out\"} 0",
            "kvsentry_delivery_failures_total{output=\"out\"} 0",
            "kvsentry_outbox_alerts{output=\"out\"} 0",
            "kvsentry_passes_total 0",
        ] {
            assert!(got.contains(&want), "{want} not in\n{text}");
        }
        // No input has an event time yet: no watermark.
        assert!(!text.contains("kvsentry_watermark_seconds{"), "{text}");
    }
}
