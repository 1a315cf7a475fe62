//! The kinds of detection, one module each; this is the one place that dispatches on the
//! kind. Adding a kind is a module here, a variant in [`RuleKind`] and in [`Detection`], and
//! one arm in each match below (the compiler lists them).

pub mod indicator;
pub mod threshold;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

use indicator::IndicatorMatchDetection;
use threshold::ThresholdDetection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Count events per group in a time window and alert on a condition over aggregates.
    Threshold,
    /// Match an event field against threat-intelligence indicators (one alert per indicator
    /// and matched value, keeping the latest event).
    IndicatorMatch,
}

impl RuleKind {
    /// The name rule files use (`kind: indicator_match`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Threshold => "threshold",
            RuleKind::IndicatorMatch => "indicator_match",
        }
    }
}

/// The kind-specific body of a rule.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detection {
    Threshold(ThresholdDetection),
    IndicatorMatch(IndicatorMatchDetection),
}

impl Detection {
    pub fn kind(&self) -> RuleKind {
        match self {
            Detection::Threshold(_) => RuleKind::Threshold,
            Detection::IndicatorMatch(_) => RuleKind::IndicatorMatch,
        }
    }

    /// Reads the `detection` value of a rule whose `kind` is known.
    pub(crate) fn read<'de, A: MapAccess<'de>>(
        kind: RuleKind,
        map: &mut A,
    ) -> Result<Detection, A::Error> {
        Ok(match kind {
            RuleKind::Threshold => Detection::Threshold(map.next_value()?),
            RuleKind::IndicatorMatch => Detection::IndicatorMatch(map.next_value()?),
        })
    }

    /// As [`Detection::read`] for a `detection` written before `kind` (buffered).
    pub(crate) fn from_value(
        kind: RuleKind,
        v: yaml_serde::Value,
    ) -> Result<Detection, yaml_serde::Error> {
        Ok(match kind {
            RuleKind::Threshold => Detection::Threshold(yaml_serde::from_value(v)?),
            RuleKind::IndicatorMatch => Detection::IndicatorMatch(yaml_serde::from_value(v)?),
        })
    }

    pub fn threshold(&self) -> Option<&ThresholdDetection> {
        match self {
            Detection::Threshold(t) => Some(t),
            Detection::IndicatorMatch(_) => None,
        }
    }

    pub fn indicator_match(&self) -> Option<&IndicatorMatchDetection> {
        match self {
            Detection::IndicatorMatch(m) => Some(m),
            Detection::Threshold(_) => None,
        }
    }
}
