//! An indicator_match rule compiled, and its stateless stage: the filter's outcome, the
//! event's address, the indicators covering it.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use kvsentry_intel::IndicatorSet;
use kvsentry_model::net::parse_ip;
use kvsentry_model::{AlertRule, AuditEvent, Field};
use kvsentry_rules::{CompiledFilter, EntityMapping, RawExpr, Rule, Trigger};

use super::record::{EvRec, TiRow};
use super::select::{Selected, SelectionCache, TiMode};
use crate::stats::IndicatorRuleStats;

/// Why the explained rule did not match an event (indices after the filter's clauses).
pub(crate) const WHY_NO_ADDRESS: usize = 0;
pub(crate) const WHY_NOT_COVERED: usize = 1;
pub(crate) const WHY_EXPIRED: usize = 2;
pub(crate) const WHY_COUNT: usize = 3;

/// The outcome of [`TiRule::prepare`].
#[allow(clippy::large_enum_variant)]
pub(crate) enum TiOutcome {
    /// Filtered out (at this top-level clause, computed only when explaining).
    Filtered(Option<usize>),
    /// Passed the filter without an address in the match field.
    NoAddress,
    /// Passed the filter with an address; `WHY_*` when nothing matched (computed only when
    /// explaining).
    NoMatch(Option<usize>),
    Matched(TiRow),
}

/// An indicator_match rule ready to run.
#[derive(Debug)]
pub(crate) struct TiRule {
    pub id: String,
    pub alert_rule: AlertRule,
    pub filter: Option<CompiledFilter>,
    pub filter_source: Option<RawExpr>,
    pub field: Field,
    pub compat: bool,
    pub evidence_cap: usize,
    pub trigger: Trigger,
    pub entities: EntityMapping,
    pub selected: Option<Arc<Selected>>,
    /// The period of scheduled runs in nanoseconds (see
    /// `EngineOptions::indicator_schedule`); `None`: one run, ended by `finish`.
    pub schedule: Option<i64>,
}

/// IPv6 text is at most 39 bytes (45 with an embedded IPv4): formatted on the stack.
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl StackText {
    fn as_str(&self) -> &str {
        self.buf
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl TiRule {
    pub fn new(
        rule: &Rule,
        intel: Option<&IndicatorSet>,
        mode: TiMode,
        cache: &mut SelectionCache,
        schedule: Option<i64>,
    ) -> Option<TiRule> {
        let m = rule.indicator_match()?;
        let selected = intel.map(|set| {
            cache.get(
                set,
                mode,
                m.sentinel_compat,
                m.ioc_lookback.as_signed_duration(),
            )
        });
        Some(TiRule {
            id: rule.meta.id.clone(),
            alert_rule: rule.meta.alert_rule(),
            filter: m.filter.as_ref().map(|f| f.compiled.clone()),
            filter_source: m.filter.as_ref().map(|f| f.source.clone()),
            field: m.match_.field.0,
            compat: m.sentinel_compat,
            evidence_cap: m.evidence,
            trigger: m.trigger,
            entities: m.entities.clone(),
            selected,
            schedule,
        })
    }

    /// Stats as `Engine::new` starts them.
    pub fn initial_stats(&self, mode: TiMode) -> IndicatorRuleStats {
        match &self.selected {
            Some(s) => IndicatorRuleStats {
                mode: s.report.mode.clone(),
                indicators: s.index.len(),
                selection: Some(s.report.clone()),
                note: (s.index.is_empty()).then(|| {
                    "no indicator survived the selection: the rule cannot alert".to_string()
                }),
                ..IndicatorRuleStats::default()
            },
            None => IndicatorRuleStats {
                mode: "none".into(),
                note: Some(format!(
                    "no threat intelligence loaded: the rule has no indicators and cannot alert (mode would be {})",
                    match mode {
                        TiMode::Retro => "retro".to_string(),
                        TiMode::AsOf(at) => format!("as-of {at}"),
                    }
                )),
                ..IndicatorRuleStats::default()
            },
        }
    }

    /// Top-level filter clauses, for explanations.
    pub fn n_clauses(&self) -> usize {
        match &self.filter {
            None => 0,
            Some(CompiledFilter::All(v)) => v.len(),
            Some(_) => 1,
        }
    }

    /// Label of explanation index `i` (filter clauses, then the `WHY_*` reasons).
    pub fn reason_text(&self, i: usize) -> String {
        let n = self.n_clauses();
        if i < n {
            return self
                .filter_source
                .as_ref()
                .map(|s| s.clause_text(i))
                .unwrap_or_default();
        }
        match i - n {
            WHY_NO_ADDRESS => format!("no {} address", self.field.name()),
            WHY_NOT_COVERED => "no selected indicator covers the address".into(),
            _ => "covering indicators expired before the event".into(),
        }
    }

    /// The event's address in the match field (rules validate it is `caller.ip` or
    /// `identity.ipaddr`), with the text for compat matching (`None`: the address's text).
    pub(crate) fn address<'e>(&self, ev: &'e AuditEvent<'_>) -> Option<(IpAddr, Option<&'e str>)> {
        match self.field {
            Field::CallerIp => ev.caller_ip.addr().map(|a| (a, None)),
            Field::IdentityIpAddr => {
                let text = ev.identity.ip_claim.as_deref()?;
                parse_ip(text).map(|a| (a, Some(text)))
            }
            _ => None,
        }
    }

    /// The stateless stage for this rule, once its filter gave `passed` (the engine
    /// evaluates every rule's filter together). Allocates only for an event that matched.
    #[inline]
    pub fn prepare(&self, ev: &AuditEvent<'_>, passed: bool, explain: bool) -> TiOutcome {
        if !passed {
            return TiOutcome::Filtered(explain.then(|| {
                self.filter
                    .as_ref()
                    .and_then(|f| f.first_failing(ev))
                    .unwrap_or(0)
            }));
        }
        let Some((ip, text)) = self.address(ev) else {
            return TiOutcome::NoAddress;
        };
        let Some(sel) = &self.selected else {
            return TiOutcome::NoMatch(explain.then_some(WHY_NOT_COVERED));
        };
        let matched = if self.compat {
            // KQL line 38 compares CallerIPAddress as a string.
            let mut st = StackText {
                buf: [0; 48],
                len: 0,
            };
            let t = match text {
                Some(t) => t,
                None => {
                    let _ = write!(st, "{ip}");
                    st.as_str()
                }
            };
            sel.index.matches_text(t, ev.time)
        } else {
            sel.index.matches(ip, ev.time)
        };
        if matched.is_empty() {
            let why = explain.then(|| {
                let covered = if self.compat {
                    !sel.index.lookup_text(&ip.to_string()).is_empty()
                } else {
                    !sel.index.lookup(ip).is_empty()
                };
                if covered {
                    WHY_EXPIRED
                } else {
                    WHY_NOT_COVERED
                }
            });
            return TiOutcome::NoMatch(why);
        }
        let inds = matched.iter().filter_map(|i| sel.position(i)).collect();
        TiOutcome::Matched(TiRow {
            inds,
            ip,
            ev: EvRec::new(ev, &self.entities),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_text_holds_the_longest_addresses() {
        let ip: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        let mut st = StackText {
            buf: [0; 48],
            len: 0,
        };
        write!(st, "{ip}").unwrap();
        assert_eq!(st.as_str(), ip.to_string());
        let v4: IpAddr = "104.40.82.76".parse().unwrap();
        let mut st = StackText {
            buf: [0; 48],
            len: 0,
        };
        write!(st, "{v4}").unwrap();
        assert_eq!(st.as_str(), "104.40.82.76");
    }
}
