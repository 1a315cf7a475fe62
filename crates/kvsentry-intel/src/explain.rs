//! Why the indicators naming one address are, or are not, selected.

use std::net::IpAddr;

use jiff::Timestamp;

use crate::model::Indicator;
use crate::selection::{Selection, compat_exclusion, default_exclusion};
use crate::set::IndicatorSet;

/// Why one indicator covering an address was, or was not, selected (see
/// [`IndicatorSet::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// In the index: events from the address match it.
    Selected,
    /// Its latest version is not active (seed line 28).
    Inactive,
    /// Its latest version is revoked.
    Revoked,
    /// AsOf: expired at the run's time (seed line 28).
    Expired { at: Timestamp },
    /// Compat: no expiration, which Sentinel never alerts on.
    NoExpiration,
    /// The version naming the address is not a public address (seed line 26).
    NonGlobal { reason: &'static str },
    /// A later version of the indicator names another value (seed line 27).
    Superseded {
        value: String,
        version_time: Timestamp,
    },
    /// AsOf: the versions naming the address were generated before the lookback.
    OutsideLookback { lookback_start: Timestamp },
    /// AsOf: the versions naming the address were generated after the run's time.
    AfterAsOf,
    /// Compat: another indicator with the same IP text is kept (`innerunique`).
    DuplicateIp,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Selected => write!(f, "selected"),
            Verdict::Inactive => write!(f, "not selected: its latest version is inactive"),
            Verdict::Revoked => write!(f, "not selected: revoked"),
            Verdict::Expired { at } => write!(f, "not selected: expired at {at}"),
            Verdict::NoExpiration => write!(
                f,
                "not selected: it has no expiration, and Sentinel never alerts on those"
            ),
            Verdict::NonGlobal { reason } => {
                write!(f, "not selected: not a public address: {reason}")
            }
            Verdict::Superseded {
                value,
                version_time,
            } => write!(
                f,
                "not selected: superseded by a later version ({version_time}) naming {value}"
            ),
            Verdict::OutsideLookback { lookback_start } => write!(
                f,
                "not selected: last generated before the lookback started ({lookback_start})"
            ),
            Verdict::AfterAsOf => write!(f, "not selected: generated after the run's time"),
            Verdict::DuplicateIp => write!(
                f,
                "not selected: another indicator with the same IP text is kept (one per IP)"
            ),
        }
    }
}

/// One indicator that names an address, and what the selection made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct IpVerdict {
    /// The latest version of the indicator that names the address.
    pub indicator: Indicator,
    pub verdict: Verdict,
}

impl IndicatorSet {
    /// Every indicator with a version naming `ip` (an address, or a network holding it), and
    /// why the selection `sel` keeps it or not, following [`IndicatorSet::select`] step by
    /// step. Builds every version's [`Indicator`]: meant for looking up one address.
    pub fn explain(&self, ip: IpAddr, sel: Selection) -> Vec<IpVerdict> {
        let ip = kvsentry_model::net::canonical(ip);
        let compat = sel.compat();
        let (index, _) = self.select(sel);
        let selected: std::collections::HashSet<&str> =
            index.lookup(ip).iter().map(|i| i.id.as_str()).collect();
        let all: Vec<&Indicator> = self.iter().collect();
        let covers = |i: &Indicator| i.network.contains(&ip);
        let mut ids: Vec<&str> = Vec::new();
        for i in all.iter().filter(|i| covers(i)) {
            if !ids.contains(&i.id.as_str()) {
                ids.push(i.id.as_str());
            }
        }
        let window = match sel {
            Selection::AsOf { at, .. } => Some((at.checked_sub(self.lookback()).unwrap_or(at), at)),
            Selection::Retro { .. } => None,
        };
        let mut out = Vec::new();
        for id in ids {
            let versions: Vec<&Indicator> = all.iter().copied().filter(|i| i.id == id).collect();
            // The reason each version naming the address was dropped before `arg_max`, and
            // the surviving latest version.
            let mut latest: Option<&Indicator> = None;
            let mut latest_covering: Option<&Indicator> = None;
            let mut dropped: Option<(&Indicator, Verdict)> = None;
            for v in &versions {
                let early = match window {
                    Some((start, _)) if v.version_time < start => Some(Verdict::OutsideLookback {
                        lookback_start: start,
                    }),
                    Some((_, at)) if v.version_time > at => Some(Verdict::AfterAsOf),
                    _ => if compat {
                        compat_exclusion(&v.value_text)
                    } else {
                        default_exclusion(v.network)
                    }
                    .map(|reason| Verdict::NonGlobal { reason }),
                };
                let later = |than: Option<&Indicator>| {
                    than.is_none_or(|t| v.version_time >= t.version_time)
                };
                match early {
                    Some(verdict) => {
                        if covers(v) && later(dropped.as_ref().map(|(d, _)| *d)) {
                            dropped = Some((v, verdict));
                        }
                    }
                    None => {
                        if later(latest) {
                            latest = Some(v);
                        }
                        if covers(v) && later(latest_covering) {
                            latest_covering = Some(v);
                        }
                    }
                }
            }
            let (indicator, verdict) = match (latest, latest_covering) {
                // No version naming the address survived the first filters: the latest
                // one's reason.
                (_, None) => match dropped {
                    Some((v, verdict)) => (v, verdict),
                    None => continue,
                },
                (None, Some(_)) => continue,
                (Some(l), Some(v)) if !covers(l) => (
                    v,
                    Verdict::Superseded {
                        value: l.value_text.clone(),
                        version_time: l.version_time,
                    },
                ),
                (Some(l), Some(_)) => {
                    let verdict = if selected.contains(id) {
                        Verdict::Selected
                    } else if !l.active {
                        Verdict::Inactive
                    } else if l.revoked {
                        Verdict::Revoked
                    } else if let (Some(exp), Selection::AsOf { at, .. }) = (l.expiration, sel) {
                        if exp <= at {
                            Verdict::Expired { at: exp }
                        } else {
                            Verdict::DuplicateIp
                        }
                    } else if l.expiration.is_none() && compat {
                        Verdict::NoExpiration
                    } else {
                        Verdict::DuplicateIp
                    };
                    (l, verdict)
                }
            };
            out.push(IpVerdict {
                indicator: indicator.clone(),
                verdict,
            });
        }
        out
    }
}
