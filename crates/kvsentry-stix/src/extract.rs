//! IP networks named by a STIX pattern.
//!
//! kvsentry matches a Key Vault caller IP against indicators, so from a whole pattern it
//! needs "which networks, if seen as the caller, should raise an alert". The rules:
//!
//! - IP-bearing paths: `ipv4-addr:value`, `ipv6-addr:value`, and `network-traffic:` paths
//!   starting with `src_ref` or `dst_ref` and ending in `.value` (`src_ref.value`,
//!   `dst_ref.value`, `src_ref.resolves_to_refs[*].value` ...).
//! - Usable operators: `=`, `IN (...)` and `ISSUBSET` (the STIX way of saying "inside this
//!   CIDR"). Values are addresses or CIDRs in any spelling; host addresses become /32 or
//!   /128, IPv4-mapped IPv6 becomes IPv4, host bits of a CIDR are cleared.
//! - `!=`, or `NOT` before any operator, never contributes an IP: a negated comparison
//!   matches almost every address.
//! - A `network-traffic` reference whose type the same conjunction fixes to something else
//!   than `ipv4-addr`/`ipv6-addr` (`dst_ref.type = 'domain-name' AND dst_ref.value =
//!   'example.com'`) is not an IP comparison.
//! - Under OR (at any depth, inside or between observations) each IP branch alone satisfies
//!   the pattern, so its networks count exactly.
//! - Under AND (inside a bracket, or between observations), FOLLOWEDBY, `REPEATS` and
//!   `START/STOP`, the IP is necessary but not sufficient: the networks are still returned
//!   and [`IpExtraction::requires_more`] is set, because matching only the IP
//!   over-approximates the pattern and the caller must say so. `WITHIN` only bounds a
//!   multi-observation window and adds nothing to a single event; it does not set the flag.
//! - When nothing usable is found the reason is the strongest one seen: [`NoIpReason::Negated`]
//!   over [`NoIpReason::UnsupportedOperator`] over [`NoIpReason::InvalidIpValue`] over
//!   [`NoIpReason::NoIpComparison`].

use ipnet::IpNet;
use kvsentry_model::net::parse_network;

use crate::pattern::{
    Comparison, ComparisonExpr, ComparisonValue, Literal, ObservationExpr, Operator, PathStep,
    Pattern, Qualifier,
};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoIpReason {
    /// No comparison on an IP-bearing path.
    NoIpComparison,
    /// IP comparisons exist, but their values are not addresses or CIDRs.
    InvalidIpValue,
    /// IP comparisons exist, but with an operator other than `=`, `IN`, `ISSUBSET`.
    UnsupportedOperator,
    /// IP comparisons exist, but only under `!=` or `NOT`.
    Negated,
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

impl std::fmt::Display for NoIpReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Default)]
struct Walk {
    networks: Vec<IpNet>,
    requires_more: bool,
    worst: Option<NoIpReason>,
}

impl Walk {
    fn note(&mut self, r: NoIpReason) {
        self.worst = Some(self.worst.map_or(r, |w| w.max(r)));
    }
}

/// Extracts IP networks from a pattern (see the module documentation for the rules).
pub fn extract_ips(pattern: &Pattern) -> Result<IpExtraction, NoIpReason> {
    let mut w = Walk::default();
    walk_obs(&pattern.root, &mut w);
    if w.networks.is_empty() {
        return Err(w.worst.unwrap_or(NoIpReason::NoIpComparison));
    }
    let mut networks = w.networks;
    networks.sort();
    networks.dedup();
    Ok(IpExtraction {
        networks,
        requires_more: w.requires_more,
    })
}

fn walk_obs(e: &ObservationExpr, w: &mut Walk) {
    match e {
        ObservationExpr::Observation(c) => walk_cmp(c, w, &[]),
        ObservationExpr::Or(v) => v.iter().for_each(|e| walk_obs(e, w)),
        ObservationExpr::And(v) | ObservationExpr::FollowedBy(v) => {
            let before = w.networks.len();
            v.iter().for_each(|e| walk_obs(e, w));
            if w.networks.len() > before {
                w.requires_more = true;
            }
        }
        ObservationExpr::Qualified { expr, qualifier } => {
            let before = w.networks.len();
            walk_obs(expr, w);
            let restricts = match qualifier {
                Qualifier::Within { .. } => false,
                Qualifier::Repeats { times } => *times > 1,
                Qualifier::StartStop { .. } => true,
            };
            if restricts && w.networks.len() > before {
                w.requires_more = true;
            }
        }
    }
}

/// A `network-traffic` reference whose object type a conjunction fixes
/// (`network-traffic:dst_ref.type = 'domain-name'`): the reference's path and the type.
type RefType<'p> = (&'p [PathStep], &'p str);

/// The reference types fixed by the comparisons of one conjunction.
fn ref_types(items: &[ComparisonExpr]) -> Vec<RefType<'_>> {
    items
        .iter()
        .filter_map(|e| {
            let ComparisonExpr::Comparison(c) = e else {
                return None;
            };
            let (PathStep::Property(last), reference) = c.path.steps.split_last()? else {
                return None;
            };
            let fixed = c.path.object_type == "network-traffic"
                && last == "type"
                && !reference.is_empty()
                && c.operator == Operator::Eq
                && !c.negated;
            match (&c.value, fixed) {
                (ComparisonValue::Single(Literal::String(t)), true) => {
                    Some((reference, t.as_str()))
                }
                _ => None,
            }
        })
        .collect()
}

fn walk_cmp<'p>(e: &'p ComparisonExpr, w: &mut Walk, types: &[RefType<'p>]) {
    match e {
        ComparisonExpr::Or(v) => v.iter().for_each(|e| walk_cmp(e, w, types)),
        ComparisonExpr::And(v) => {
            let mut inner = types.to_vec();
            inner.extend(ref_types(v));
            let before = w.networks.len();
            v.iter().for_each(|e| walk_cmp(e, w, &inner));
            if w.networks.len() > before {
                w.requires_more = true;
            }
        }
        ComparisonExpr::Comparison(c) => comparison(c, w, types),
    }
}

/// True for the paths that hold an IP address or CIDR.
pub fn is_ip_path(path: &crate::pattern::ObjectPath) -> bool {
    let value_only = matches!(path.steps.as_slice(), [PathStep::Property(p)] if p == "value");
    match path.object_type.as_str() {
        "ipv4-addr" | "ipv6-addr" => value_only,
        "network-traffic" => {
            let starts = matches!(path.steps.first(), Some(PathStep::Property(p)) if p == "src_ref" || p == "dst_ref");
            let ends = matches!(path.steps.last(), Some(PathStep::Property(p)) if p == "value");
            starts && ends && path.steps.len() >= 2
        }
        _ => false,
    }
}

fn comparison(c: &Comparison, w: &mut Walk, types: &[RefType<'_>]) {
    if !is_ip_path(&c.path) {
        return;
    }
    // A reference the same conjunction says is a domain name or MAC address holds no IP:
    // its value is compared with a name, not a malformed address.
    let reference = c.path.steps.split_last().map_or(&[][..], |(_, r)| r);
    if c.path.object_type == "network-traffic"
        && types
            .iter()
            .any(|(r, t)| *r == reference && !matches!(*t, "ipv4-addr" | "ipv6-addr"))
    {
        return;
    }
    if c.negated || c.operator == Operator::Neq {
        w.note(NoIpReason::Negated);
        return;
    }
    let literals: &[Literal] = match (&c.operator, &c.value) {
        (Operator::Eq | Operator::IsSubset, ComparisonValue::Single(l)) => std::slice::from_ref(l),
        (Operator::In, ComparisonValue::Set(items)) => items,
        _ => {
            w.note(NoIpReason::UnsupportedOperator);
            return;
        }
    };
    for l in literals {
        match l {
            Literal::String(s) => match parse_network(s) {
                Some(n) => w.networks.push(n),
                None => w.note(NoIpReason::InvalidIpValue),
            },
            _ => w.note(NoIpReason::InvalidIpValue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::parse_pattern;

    fn ips(p: &str) -> Result<IpExtraction, NoIpReason> {
        extract_ips(&parse_pattern(p).unwrap())
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn single_ipv4_is_a_host_network() {
        let x = ips("[ipv4-addr:value = '104.40.82.76']").unwrap();
        assert_eq!(x.networks, nets(&["104.40.82.76/32"]));
        assert!(!x.requires_more);
    }

    #[test]
    fn ipv6_spellings_are_one_value() {
        for v in [
            "2a01:111:f400::1",
            "2A01:111:F400::1",
            "2a01:0111:f400:0000:0000:0000:0000:0001",
        ] {
            let x = ips(&format!("[ipv6-addr:value = '{v}']")).unwrap();
            assert_eq!(x.networks, nets(&["2a01:111:f400::1/128"]), "{v}");
        }
    }

    #[test]
    fn ipv4_mapped_becomes_ipv4_also_as_cidr() {
        let x = ips("[ipv6-addr:value = '::ffff:104.40.82.76']").unwrap();
        assert_eq!(x.networks, nets(&["104.40.82.76/32"]));
        let x = ips("[ipv6-addr:value = '::ffff:104.40.82.0/120']").unwrap();
        assert_eq!(x.networks, nets(&["104.40.82.0/24"]));
        assert_eq!(parse_network("::ffff:1.2.3.0/90"), None);
    }

    #[test]
    fn in_lists_and_network_traffic_refs() {
        let x = ips("[ipv4-addr:value IN ('52.178.1.1', '52.178.0.0/16', '2a01:111:f400::9')]")
            .unwrap();
        assert_eq!(
            x.networks,
            nets(&["52.178.0.0/16", "52.178.1.1/32", "2a01:111:f400::9/128"])
        );
        let x = ips("[network-traffic:src_ref.value = '52.178.1.1' OR network-traffic:dst_ref.value = '52.178.1.2']").unwrap();
        assert_eq!(x.networks, nets(&["52.178.1.1/32", "52.178.1.2/32"]));
        assert!(!x.requires_more);
        let x = ips("[network-traffic:dst_ref.resolves_to_refs[*].value = '52.178.1.3']").unwrap();
        assert_eq!(x.networks, nets(&["52.178.1.3/32"]));
        assert_eq!(
            ips("[network-traffic:src_port = 443]"),
            Err(NoIpReason::NoIpComparison)
        );
        assert_eq!(
            ips("[ipv4-addr:resolves_to_refs[*].value = 'aa:bb']"),
            Err(NoIpReason::NoIpComparison)
        );
    }

    #[test]
    fn issubset_is_a_cidr() {
        let x = ips("[ipv4-addr:value ISSUBSET '52.178.0.0/16']").unwrap();
        assert_eq!(x.networks, nets(&["52.178.0.0/16"]));
    }

    #[test]
    fn or_with_domain_counts_and_across_observations_is_flagged() {
        let x = ips("[domain-name:value = 'mf.ddns.info' OR ipv4-addr:value = '60.2.148.167']")
            .unwrap();
        assert_eq!(x.networks, nets(&["60.2.148.167/32"]));
        assert!(!x.requires_more);
        let x =
            ips("[ipv4-addr:value = '60.2.148.167'] OR [domain-name:value = 'x.example']").unwrap();
        assert!(!x.requires_more);
        let x = ips("[ipv4-addr:value = '60.2.148.167'] AND [file:name = 'a.exe']").unwrap();
        assert_eq!(x.networks, nets(&["60.2.148.167/32"]));
        assert!(x.requires_more);
        let x = ips("[file:name = 'a.exe'] FOLLOWEDBY [ipv4-addr:value = '60.2.148.167']").unwrap();
        assert!(x.requires_more);
        let x = ips(
            "[network-traffic:dst_ref.value = '60.2.148.167' AND network-traffic:dst_port = 443]",
        )
        .unwrap();
        assert!(x.requires_more);
        let x = ips("[ipv4-addr:value = '60.2.148.167'] REPEATS 5 TIMES").unwrap();
        assert!(x.requires_more);
        let x = ips("[ipv4-addr:value = '60.2.148.167'] WITHIN 60 SECONDS").unwrap();
        assert!(!x.requires_more);
        let x = ips("[ipv4-addr:value = '60.2.148.167'] START t'2020-01-01T00:00:00Z' STOP t'2021-01-01T00:00:00Z'").unwrap();
        assert!(x.requires_more);
        // An AND elsewhere that has no IP does not flag an OR'ed IP branch.
        let x =
            ips("([file:name = 'a'] AND [file:name = 'b']) OR [ipv4-addr:value = '60.2.148.167']")
                .unwrap();
        assert!(!x.requires_more);
    }

    #[test]
    fn negation_and_unsupported_operators_are_excluded_with_reasons() {
        assert_eq!(
            ips("[ipv4-addr:value != '60.2.148.167']"),
            Err(NoIpReason::Negated)
        );
        assert_eq!(
            ips("[ipv4-addr:value NOT = '60.2.148.167']"),
            Err(NoIpReason::Negated)
        );
        assert_eq!(
            ips("[ipv4-addr:value NOT IN ('60.2.148.167')]"),
            Err(NoIpReason::Negated)
        );
        assert_eq!(
            ips("[ipv4-addr:value LIKE '60.2.%']"),
            Err(NoIpReason::UnsupportedOperator)
        );
        assert_eq!(
            ips("[ipv4-addr:value MATCHES '^60']"),
            Err(NoIpReason::UnsupportedOperator)
        );
        assert_eq!(
            ips("[ipv4-addr:value = 'not-an-ip']"),
            Err(NoIpReason::InvalidIpValue)
        );
        assert_eq!(
            ips("[ipv4-addr:value = 5]"),
            Err(NoIpReason::InvalidIpValue)
        );
        assert_eq!(
            ips("[domain-name:value = 'evil.example']"),
            Err(NoIpReason::NoIpComparison)
        );
        // Negated beside a positive one: the positive one counts, under AND it is flagged.
        let x = ips("[ipv4-addr:value = '60.2.148.167' AND ipv4-addr:value != '60.2.148.168']")
            .unwrap();
        assert_eq!(x.networks, nets(&["60.2.148.167/32"]));
        assert!(x.requires_more);
        // Negated beats unsupported when both are present.
        assert_eq!(
            ips("[ipv4-addr:value LIKE '60.%' OR ipv4-addr:value != '1.1.1.1']"),
            Err(NoIpReason::Negated)
        );
        assert_eq!(NoIpReason::Negated.as_str(), "negated");
    }

    #[test]
    fn a_reference_typed_as_a_domain_is_no_ip_comparison() {
        let domain = "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com']";
        assert_eq!(ips(domain), Err(NoIpReason::NoIpComparison));
        assert_eq!(
            ips(&format!("{domain} REPEATS 5 TIMES WITHIN 1800 SECONDS")),
            Err(NoIpReason::NoIpComparison)
        );
        // The type applies inside nested ORs of the same conjunction.
        assert_eq!(
            ips(
                "[network-traffic:src_ref.type = 'mac-addr' AND (network-traffic:src_ref.value = 'aa:bb:cc:dd:ee:ff' OR network-traffic:src_ref.value = '00:11:22:33:44:55')]"
            ),
            Err(NoIpReason::NoIpComparison)
        );
        // Typed as an address, a bad value is still an invalid IP value.
        assert_eq!(
            ips(
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = 'example.com']"
            ),
            Err(NoIpReason::InvalidIpValue)
        );
        let x = ips("[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']").unwrap();
        assert_eq!(x.networks, nets(&["203.0.113.33/32"]));
        // The other reference's type says nothing about this one.
        let x = ips("[network-traffic:src_ref.type = 'domain-name' AND network-traffic:dst_ref.value = '52.178.1.1']").unwrap();
        assert_eq!(x.networks, nets(&["52.178.1.1/32"]));
        // Without a type, the value decides.
        assert_eq!(
            ips("[network-traffic:dst_ref.value = 'example.com']"),
            Err(NoIpReason::InvalidIpValue)
        );
    }

    #[test]
    fn duplicates_are_merged() {
        let x =
            ips("[ipv4-addr:value = '60.2.148.167' OR ipv4-addr:value = '::ffff:60.2.148.167']")
                .unwrap();
        assert_eq!(x.networks, nets(&["60.2.148.167/32"]));
    }
}
