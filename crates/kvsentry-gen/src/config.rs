//! What to generate: sizes, time range, shares, and the scenarios to inject.

use std::net::IpAddr;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::GenError;

/// Which kind of principal a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityChoice {
    /// A person with a UPN.
    User,
    /// A service principal (`idtyp: app`, no UPN).
    ServicePrincipal,
    /// A managed identity (`xms_mirid`).
    ManagedIdentity,
}

/// Activity injected on top of background traffic. Each scenario gets its own identity (never
/// used by background traffic), vault, caller address and time, all derived from the seed and
/// the scenario's position in the list, so adding a scenario changes nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scenario {
    /// `calls` read calls of `distinct_ops` operations inside one calendar minute: alerts
    /// under the seed rule when `calls >= 5` and `distinct_ops >= 2`. `at` is the time of the
    /// first call (random when `None`); calls spread over the rest of that minute.
    RetrievalBurst {
        identity: IdentityChoice,
        calls: u32,
        distinct_ops: u32,
        at: Option<Timestamp>,
    },
    /// 4 read calls of 2 operations in one minute: one short of the threshold.
    NearMissCount { at: Option<Timestamp> },
    /// 6 calls of a single operation in one minute: count reached, distinct operations not.
    NearMissSingleOp { at: Option<Timestamp> },
    /// `before` calls at hh:mm:50-59 and `after` calls at hh:(m+1):00-10: no tumbling
    /// 1-minute window reaches the threshold, a 60-second sliding window does. `at` is the
    /// minute boundary straddled (a time off a boundary means the next one).
    StraddleBurst {
        before: u32,
        after: u32,
        at: Option<Timestamp>,
    },
    /// An alerting burst by a service principal (no UPN, `idtyp: app`).
    ServicePrincipalBurst { calls: u32, at: Option<Timestamp> },
    /// An alerting burst by a managed identity (`xms_mirid`).
    ManagedIdentityBurst { calls: u32, at: Option<Timestamp> },
    /// `calls` accesses from each of `ips`, spread over the run at a rate that never trips
    /// the burst rule: for threat-intelligence matching.
    CallsFromIps { ips: Vec<IpAddr>, calls: u32 },
}

impl Scenario {
    /// The snake-case name used in ground truth and on the command line.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Scenario::RetrievalBurst { .. } => "retrieval_burst",
            Scenario::NearMissCount { .. } => "near_miss_count",
            Scenario::NearMissSingleOp { .. } => "near_miss_single_op",
            Scenario::StraddleBurst { .. } => "straddle_burst",
            Scenario::ServicePrincipalBurst { .. } => "service_principal_burst",
            Scenario::ManagedIdentityBurst { .. } => "managed_identity_burst",
            Scenario::CallsFromIps { .. } => "calls_from_ips",
        }
    }

    /// One of each scenario with its defaults (the set `kvsentry gen` uses unless told).
    pub fn standard_set() -> Vec<Scenario> {
        vec![
            Scenario::RetrievalBurst {
                identity: IdentityChoice::User,
                calls: 8,
                distinct_ops: 3,
                at: None,
            },
            Scenario::NearMissCount { at: None },
            Scenario::NearMissSingleOp { at: None },
            Scenario::StraddleBurst {
                before: 3,
                after: 3,
                at: None,
            },
            Scenario::ServicePrincipalBurst { calls: 8, at: None },
            Scenario::ManagedIdentityBurst { calls: 8, at: None },
            Scenario::CallsFromIps {
                ips: vec![
                    "104.40.82.76"
                        .parse()
                        .unwrap_or(IpAddr::from([104, 40, 82, 76])),
                    "2a01:111:f400::1234"
                        .parse()
                        .unwrap_or(IpAddr::from([104, 40, 82, 77])),
                ],
                calls: 3,
            },
        ]
    }
}

fn parse_u32(s: &str, what: &str, spec: &str) -> Result<u32, GenError> {
    s.parse().map_err(|_| GenError::Scenario {
        spec: spec.to_string(),
        reason: format!("{what} `{s}` is not a whole number"),
    })
}

/// Parses the command-line spelling of a scenario:
/// `burst[:user|sp|mi[:CALLS[:OPS]]]`, `near-miss-count`, `near-miss-single-op`,
/// `straddle[:BEFORE:AFTER]`, `sp-burst[:CALLS]`, `mi-burst[:CALLS]`,
/// `ips:IP,IP,...[:CALLS]`. Any of them may end in `@RFC3339-time` to fix the time.
impl FromStr for Scenario {
    type Err = GenError;

    fn from_str(spec: &str) -> Result<Scenario, GenError> {
        let bad = |reason: String| GenError::Scenario {
            spec: spec.to_string(),
            reason,
        };
        let (body, at) = match spec.split_once('@') {
            // IPv6 literals have no '@', so the split is unambiguous.
            Some((b, t)) => (
                b,
                Some(
                    t.parse::<Timestamp>()
                        .map_err(|e| bad(format!("time `{t}`: {e}")))?,
                ),
            ),
            None => (spec, None),
        };
        let (name, rest) = body.split_once(':').unwrap_or((body, ""));
        let args: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else if name == "ips" {
            // IPv6 addresses contain ':'; the call count, if any, follows the last ':' when
            // it is a plain number.
            // A trailing `:N` is the count only when what precedes it is a valid list.
            match rest.rsplit_once(':') {
                Some((ips, n))
                    if !n.is_empty()
                        && n.bytes().all(|b| b.is_ascii_digit())
                        && ips
                            .split(',')
                            .all(|s| kvsentry_model::net::parse_ip(s).is_some()) =>
                {
                    vec![ips, n]
                }
                _ => vec![rest],
            }
        } else {
            rest.split(':').collect()
        };
        let arg = |i: usize| args.get(i).copied();
        Ok(match name {
            "burst" => Scenario::RetrievalBurst {
                identity: match arg(0).unwrap_or("user") {
                    "user" => IdentityChoice::User,
                    "sp" => IdentityChoice::ServicePrincipal,
                    "mi" => IdentityChoice::ManagedIdentity,
                    other => return Err(bad(format!("unknown identity `{other}` (user, sp, mi)"))),
                },
                calls: arg(1).map_or(Ok(8), |s| parse_u32(s, "calls", spec))?,
                distinct_ops: arg(2).map_or(Ok(3), |s| parse_u32(s, "ops", spec))?,
                at,
            },
            "near-miss-count" => Scenario::NearMissCount { at },
            "near-miss-single-op" => Scenario::NearMissSingleOp { at },
            "straddle" => Scenario::StraddleBurst {
                before: arg(0).map_or(Ok(3), |s| parse_u32(s, "before", spec))?,
                after: arg(1).map_or(Ok(3), |s| parse_u32(s, "after", spec))?,
                at,
            },
            "sp-burst" => Scenario::ServicePrincipalBurst {
                calls: arg(0).map_or(Ok(8), |s| parse_u32(s, "calls", spec))?,
                at,
            },
            "mi-burst" => Scenario::ManagedIdentityBurst {
                calls: arg(0).map_or(Ok(8), |s| parse_u32(s, "calls", spec))?,
                at,
            },
            "ips" => {
                let list = arg(0).ok_or_else(|| bad("no addresses".into()))?;
                let ips = list
                    .split(',')
                    .map(|s| {
                        kvsentry_model::net::parse_ip(s)
                            .ok_or_else(|| bad(format!("`{s}` is not an IP address")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Scenario::CallsFromIps {
                    ips,
                    calls: arg(1).map_or(Ok(3), |s| parse_u32(s, "calls", spec))?,
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown scenario `{other}` (burst, near-miss-count, near-miss-single-op, straddle, sp-burst, mi-burst, ips)"
                )));
            }
        })
    }
}

/// Everything that decides the generated bytes. Same configuration, same bytes.
/// Deserialising fills missing fields from [`GenConfig::default`], so a config file may name
/// only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenConfig {
    pub seed: u64,
    /// First possible event time.
    pub start: Timestamp,
    /// Length of the period; background events fall in `[start, start + duration)`.
    pub duration: SignedDuration,
    /// Number of background events (scenario events come on top).
    pub events: u64,
    pub vaults: usize,
    pub users: usize,
    pub service_principals: usize,
    pub managed_identities: usize,
    pub scenarios: Vec<Scenario>,
    /// Share of identities (hence roughly of events) calling from IPv6.
    pub ipv6_share: f64,
    /// Share of identified calls that fail (401, 403, 404, 429).
    pub failure_share: f64,
    /// Share of unauthenticated `Authentication` 401 records (no identity).
    pub unauthenticated_share: f64,
    /// Mix in Managed HSM records and other-category records that readers must skip.
    pub mixed_records: bool,
    /// Share of records that are Managed HSM or other-category when `mixed_records` is on.
    pub mixed_share: f64,
    /// Upper bound on read calls per identity per calendar minute in background traffic.
    /// At most 2 keeps every 60-second window (tumbling or sliding) at 4 or fewer, below the
    /// seed rule's 5. Values above 2 are clamped to 2.
    pub max_reads_per_minute: u8,
    /// Records per `{"records":[...]}` message (Event Hubs) or hits per `_search` page.
    pub batch: usize,
    /// Mild day/night rhythm of background traffic (busier in working hours).
    pub diurnal: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            start: Timestamp::from_second(1_751_241_600).unwrap_or(Timestamp::UNIX_EPOCH), // 2025-06-30T00:00:00Z
            duration: SignedDuration::from_hours(24),
            events: 100_000,
            vaults: 40,
            users: 300,
            service_principals: 60,
            managed_identities: 40,
            scenarios: Vec::new(),
            ipv6_share: 0.12,
            failure_share: 0.04,
            unauthenticated_share: 0.03,
            mixed_records: false,
            mixed_share: 0.01,
            max_reads_per_minute: 2,
            batch: 100,
            diurnal: true,
        }
    }
}

impl GenConfig {
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn start(mut self, start: Timestamp) -> Self {
        self.start = start;
        self
    }
    pub fn duration(mut self, d: SignedDuration) -> Self {
        self.duration = d;
        self
    }
    pub fn events(mut self, n: u64) -> Self {
        self.events = n;
        self
    }
    pub fn scenario(mut self, s: Scenario) -> Self {
        self.scenarios.push(s);
        self
    }
    pub fn with_standard_scenarios(mut self) -> Self {
        self.scenarios.extend(Scenario::standard_set());
        self
    }
    pub fn mixed_records(mut self, on: bool) -> Self {
        self.mixed_records = on;
        self
    }
    pub fn ipv6_share(mut self, share: f64) -> Self {
        self.ipv6_share = share;
        self
    }
    pub fn failure_share(mut self, share: f64) -> Self {
        self.failure_share = share;
        self
    }

    /// Rejects configurations that cannot be generated.
    pub fn validate(&self) -> Result<(), GenError> {
        let bad = |m: &str| Err(GenError::Config(m.to_string()));
        if self.duration.is_negative() || self.duration.is_zero() {
            return bad("duration must be positive");
        }
        if self.users + self.service_principals + self.managed_identities == 0 && self.events > 0 {
            return bad("at least one user, service principal or managed identity is needed");
        }
        for (name, v) in [
            ("ipv6_share", self.ipv6_share),
            ("failure_share", self.failure_share),
            ("unauthenticated_share", self.unauthenticated_share),
            ("mixed_share", self.mixed_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(GenError::Config(format!(
                    "{name} must be between 0 and 1, got {v}"
                )));
            }
        }
        if self.batch == 0 {
            return bad("batch must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_specs_parse() {
        assert_eq!(
            "burst:sp:9:4".parse::<Scenario>().unwrap(),
            Scenario::RetrievalBurst {
                identity: IdentityChoice::ServicePrincipal,
                calls: 9,
                distinct_ops: 4,
                at: None
            }
        );
        let s: Scenario = "straddle@2025-06-30T10:00:50Z".parse().unwrap();
        assert_eq!(
            s,
            Scenario::StraddleBurst {
                before: 3,
                after: 3,
                at: Some("2025-06-30T10:00:50Z".parse().unwrap())
            }
        );
        let s: Scenario = "ips:104.40.82.76,2A01:111:F400::1:5".parse().unwrap();
        assert_eq!(
            s,
            Scenario::CallsFromIps {
                ips: vec![
                    "104.40.82.76".parse().unwrap(),
                    "2a01:111:f400::1".parse().unwrap()
                ],
                calls: 5
            }
        );
        assert_eq!(
            "ips:2a01:111:f400::1".parse::<Scenario>().unwrap(),
            Scenario::CallsFromIps {
                ips: vec!["2a01:111:f400::1".parse().unwrap()],
                calls: 3
            }
        );
        assert!("burst:robot".parse::<Scenario>().is_err());
        assert!("nope".parse::<Scenario>().is_err());
        assert!("ips:1.2.3".parse::<Scenario>().is_err());
    }

    #[test]
    fn partial_config_files_take_defaults() {
        let c: GenConfig = serde_json::from_str(
            r#"{"seed":9,"events":10,"scenarios":[{"kind":"near_miss_count","at":null}]}"#,
        )
        .unwrap();
        assert_eq!(c.seed, 9);
        assert_eq!(c.events, 10);
        assert_eq!(c.vaults, 40);
        assert_eq!(c.scenarios, vec![Scenario::NearMissCount { at: None }]);
        let round: GenConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }

    #[test]
    fn validation() {
        assert!(GenConfig::default().validate().is_ok());
        assert!(GenConfig::default().ipv6_share(1.5).validate().is_err());
        assert!(
            GenConfig::default()
                .duration(SignedDuration::ZERO)
                .validate()
                .is_err()
        );
    }
}
