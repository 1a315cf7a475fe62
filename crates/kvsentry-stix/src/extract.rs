//! IP networks named by a STIX pattern.

use ipnet::IpNet;

use crate::pattern::Pattern;

/// The networks a pattern matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpExtraction {
    /// Canonical, de-duplicated, sorted networks; host addresses as /32 or /128.
    pub networks: Vec<IpNet>,
    /// The pattern also needs other conditions (AND, FOLLOWEDBY, REPEATS, START/STOP):
    /// matching the IP alone over-approximates it.
    pub requires_more: bool,
}

/// Why a pattern yields no usable IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoIpReason {
    /// No comparison on an IP-bearing path.
    NoIpComparison,
    /// IP comparisons exist, but only under `!=` or `NOT`.
    Negated,
    /// IP comparisons exist, but with an operator other than `=`, `IN`, `ISSUBSET`.
    UnsupportedOperator,
    /// IP comparisons exist, but their values are not addresses or CIDRs.
    InvalidIpValue,
}

impl NoIpReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoIpReason::NoIpComparison => "no_ip_comparison",
            NoIpReason::Negated => "negated",
            NoIpReason::UnsupportedOperator => "unsupported_operator",
            NoIpReason::InvalidIpValue => "invalid_ip_value",
        }
    }
}

/// Extracts IP networks from a pattern.
pub fn extract_ips(pattern: &Pattern) -> Result<IpExtraction, NoIpReason> {
    let _ = pattern;
    Err(NoIpReason::NoIpComparison)
}
