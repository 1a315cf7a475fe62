//! Every rule's filter compiled into one set of distinct tests ("atoms"), evaluated at most
//! once per event whichever rules share them (the seed rule and its service-principal twin
//! test the same category and the same 20 operations).
//!
//! An atom keeps the rule's compiled [`Test`] and, for the common string tests, a faster
//! form used when the event's value is a string: equality compares lengths first, and a
//! case-sensitive `in` list is bucketed by length (a handful of byte comparisons instead of
//! hashing the value). Any other value goes to the rule's own test, so the outcome is the
//! test's, value for value.

use kvsentry_model::{AuditEvent, Field, FieldValue};
use kvsentry_rules::CompiledFilter;
use kvsentry_rules::filter::{StrSet, Test};

/// Atoms whose outcome is remembered per event (the rest are evaluated each time).
const MEMO: usize = 64;
/// `in` lists bucket strings shorter than this by length.
const BUCKETS: usize = 64;

/// A filter as a tree over atoms.
#[derive(Debug)]
pub(crate) enum Node {
    /// An `all` of atoms only (the usual shape: no recursion).
    AllAtoms(Box<[usize]>),
    All(Box<[Node]>),
    Any(Box<[Node]>),
    Not(Box<Node>),
    Atom(usize),
}

#[derive(Debug)]
enum Fast {
    /// No faster form: the test itself.
    None,
    Exists,
    Eq(Box<str>),
    /// The value, then its upper-case and lower-case spellings (compared as bytes first:
    /// values are usually spelled one of those ways, e.g. `VAULTS` in resource ids).
    EqCi(Box<str>, Box<str>, Box<str>),
    /// A case-sensitive string list: by length, then longer ones.
    In {
        by_len: Box<[Box<[Box<str>]>]>,
        long: Box<[Box<str>]>,
    },
}

#[derive(Debug)]
struct Atom {
    key: String,
    field: Field,
    fast: Fast,
    /// `None` for `exists`.
    test: Option<Test>,
}

impl Atom {
    fn eval(&self, ev: &AuditEvent<'_>) -> bool {
        let v = ev.get(self.field);
        if let FieldValue::Str(s) = &v {
            match &self.fast {
                Fast::Eq(x) => return s.len() == x.len() && s.as_bytes() == x.as_bytes(),
                Fast::EqCi(x, up, low) => {
                    let b = s.as_bytes();
                    return b.len() == x.len()
                        && (b == up.as_bytes()
                            || b == low.as_bytes()
                            || s.eq_ignore_ascii_case(x));
                }
                Fast::In { by_len, long } => {
                    let b = s.as_bytes();
                    let list = by_len.get(b.len()).unwrap_or(long);
                    return list.iter().any(|x| x.as_bytes() == b);
                }
                Fast::Exists => return true,
                Fast::None => {}
            }
        }
        match &self.test {
            None => !v.is_missing(),
            Some(t) => t.matches(&v),
        }
    }
}

/// Outcomes of the memoised atoms for one event.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Memo {
    known: u64,
    value: u64,
}

/// The distinct atoms of every rule's filter.
#[derive(Debug, Default)]
pub(crate) struct FilterSet {
    atoms: Vec<Atom>,
}

/// A key equal for equal tests (list items sorted: a hashed list's order is arbitrary).
fn key_of(field: Field, test: Option<&Test>) -> String {
    let t = match test {
        None => "exists".to_string(),
        Some(Test::In {
            strs,
            ints,
            ips,
            ci,
        }) => {
            let mut items: Vec<&str> = match strs {
                StrSet::Few(v) => v.iter().map(|s| &**s).collect(),
                StrSet::Many(s) => s.iter().map(|s| &**s).collect(),
            };
            items.sort_unstable();
            let kind = match strs {
                StrSet::Few(_) => "few",
                StrSet::Many(_) => "many",
            };
            format!("in {kind} {items:?} {ints:?} {ips:?} {ci}")
        }
        Some(t) => format!("{t:?}"),
    };
    format!("{}: {t}", field.name())
}

fn fast_of(test: Option<&Test>) -> Fast {
    match test {
        None => Fast::Exists,
        Some(Test::EqStr { value, ci: false }) => Fast::Eq(value.clone()),
        Some(Test::EqStr { value, ci: true }) => Fast::EqCi(
            value.clone(),
            value.to_ascii_uppercase().into(),
            value.to_ascii_lowercase().into(),
        ),
        Some(Test::In {
            strs, ci: false, ..
        }) => {
            let items: Vec<&str> = match strs {
                StrSet::Few(v) => v.iter().map(|s| &**s).collect(),
                StrSet::Many(s) => s.iter().map(|s| &**s).collect(),
            };
            let mut by_len: Vec<Vec<Box<str>>> = vec![Vec::new(); BUCKETS];
            let mut long = Vec::new();
            for s in items {
                match by_len.get_mut(s.len()) {
                    Some(b) => b.push(s.into()),
                    None => long.push(s.into()),
                }
            }
            Fast::In {
                by_len: by_len.into_iter().map(Vec::into_boxed_slice).collect(),
                long: long.into_boxed_slice(),
            }
        }
        Some(_) => Fast::None,
    }
}

impl FilterSet {
    /// Adds a rule's filter, sharing the atoms already held.
    pub fn add(&mut self, f: &CompiledFilter) -> Node {
        match f {
            CompiledFilter::All(v) => {
                let nodes: Vec<Node> = v.iter().map(|f| self.add(f)).collect();
                if nodes.iter().all(|n| matches!(n, Node::Atom(_))) {
                    Node::AllAtoms(
                        nodes
                            .iter()
                            .filter_map(|n| match n {
                                Node::Atom(i) => Some(*i),
                                _ => None,
                            })
                            .collect(),
                    )
                } else {
                    Node::All(nodes.into_boxed_slice())
                }
            }
            CompiledFilter::Any(v) => Node::Any(v.iter().map(|f| self.add(f)).collect()),
            CompiledFilter::Not(f) => Node::Not(Box::new(self.add(f))),
            CompiledFilter::Exists(field) => self.atom(*field, None),
            CompiledFilter::Test { field, test } => self.atom(*field, Some(test)),
        }
    }

    fn atom(&mut self, field: Field, test: Option<&Test>) -> Node {
        let key = key_of(field, test);
        if let Some(i) = self.atoms.iter().position(|a| a.key == key) {
            return Node::Atom(i);
        }
        self.atoms.push(Atom {
            key,
            field,
            fast: fast_of(test),
            test: test.cloned(),
        });
        Node::Atom(self.atoms.len() - 1)
    }

    /// True when the event passes `node`; atoms already evaluated for this event (in
    /// `memo`) are not evaluated again.
    pub fn eval(&self, node: &Node, ev: &AuditEvent<'_>, memo: &mut Memo) -> bool {
        match node {
            Node::AllAtoms(v) => v.iter().all(|&i| self.atom_eval(i, ev, memo)),
            Node::All(v) => v.iter().all(|n| self.eval(n, ev, memo)),
            Node::Any(v) => v.iter().any(|n| self.eval(n, ev, memo)),
            Node::Not(n) => !self.eval(n, ev, memo),
            Node::Atom(i) => self.atom_eval(*i, ev, memo),
        }
    }

    #[inline]
    fn atom_eval(&self, i: usize, ev: &AuditEvent<'_>, memo: &mut Memo) -> bool {
        if i < MEMO {
            let bit = 1u64 << i;
            if memo.known & bit != 0 {
                return memo.value & bit != 0;
            }
            let r = self.atoms.get(i).is_some_and(|a| a.eval(ev));
            memo.known |= bit;
            if r {
                memo.value |= bit;
            }
            r
        } else {
            self.atoms.get(i).is_some_and(|a| a.eval(ev))
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.atoms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvsentry_model::{CallerIp, Timestamp, Vault};
    use kvsentry_rules::RuleSet;

    fn events() -> Vec<AuditEvent<'static>> {
        let t: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
        let mut out = Vec::new();
        for (cat, op, ip, upn, rt) in [
            (
                "AuditEvent",
                "SecretGet",
                "104.40.82.76",
                Some("a@x"),
                "VAULTS",
            ),
            ("AuditEvent", "secretget", "10.1.2.3", None, "vaults"),
            (
                "AuditEvent",
                "SecretSet",
                "not-an-ip",
                Some("b@x"),
                "MANAGEDHSMS",
            ),
            ("Other", "KeyList", "2a01:111:f400::5", None, "VAULTS"),
            (
                "AuditEvent",
                "CertificateIssuersList",
                "",
                Some(""),
                "VAULTSX",
            ),
            ("auditevent", "VaultGet", "52.178.1.2", None, "VAULT"),
        ] {
            let mut e = AuditEvent::new(t, cat.into(), op.into());
            e.caller_ip = CallerIp::parse(ip.into());
            e.identity.upn = upn.map(Into::into);
            e.vault = Vault::from_resource_id_cow(
                format!("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/{rt}/V1")
                    .into(),
            );
            e.http_status = Some(if op == "SecretSet" { 403 } else { 200 });
            out.push(e);
        }
        out
    }

    const RULES: &str = r#"
id: many
name: every shape
kind: threshold
detection:
  filter:
    any:
      - { field: operation, in: [A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, SecretGet, KeyList], case_insensitive: true }
      - { field: operation, in: [SecretSet, VaultGet] }
      - { field: operation, in: [A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, CertificateIssuersList, KeyList] }
      - all:
          - { field: category, iequals: auditevent }
          - not: { exists: identity.upn }
      - { field: caller.ip, cidr: [10.0.0.0/8] }
      - { field: caller.ip, equals: "104.40.82.76" }
      - { field: caller.ip, startswith: "52.178." }
      - { field: http.status, gte: 400 }
      - { field: http.status, in: [403, 404] }
      - { field: vault.resource_type, iequals: Vaults }
      - { field: category, equals: AuditEvent }
  window: { type: tumbling, size: 1m }
  group_by: [identity.upn]
  aggregates: { n: count }
  condition: "n >= 1"
"#;

    /// Every atom, and every built-in rule's filter, gives the rule's own outcome.
    #[test]
    fn shared_atoms_agree_with_the_rules_filters() {
        let mut rules = RuleSet::builtin();
        rules.merge_override(RuleSet::from_yaml_str(RULES, "f.yml").unwrap());
        let mut set = FilterSet::default();
        let mut compiled = Vec::new();
        for r in rules.enabled() {
            let f = match (r.threshold(), r.indicator_match()) {
                (Some(t), _) => t.filter.compiled.clone(),
                (None, Some(m)) => match &m.filter {
                    Some(f) => f.compiled.clone(),
                    None => continue,
                },
                _ => continue,
            };
            let (CompiledFilter::Any(clauses) | CompiledFilter::All(clauses)) = &f else {
                compiled.push((set.add(&f), f));
                continue;
            };
            for c in clauses.clone() {
                compiled.push((set.add(&c), c));
            }
            compiled.push((set.add(&f), f));
        }
        let mut checked = 0;
        for ev in events() {
            let mut memo = Memo::default();
            for (node, f) in &compiled {
                assert_eq!(set.eval(node, &ev, &mut memo), f.matches(&ev), "{f:?}");
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
        // The seed and its twin share the category test and the operation list.
        let mut two = FilterSet::default();
        let seed = rules.get("c07f7898-5dc3-11f0-9f27-f661ea17fbcd").unwrap();
        let f = seed.threshold().unwrap().filter.compiled.clone();
        two.add(&f);
        let n = two.len();
        two.add(&f);
        assert_eq!(two.len(), n);
        assert_eq!(n, 2);
    }
}
