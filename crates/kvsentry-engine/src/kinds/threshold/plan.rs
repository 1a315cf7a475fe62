//! A threshold rule compiled for evaluation: field names resolved to slots of the rows it
//! keeps, and what the hot paths decide once per rule instead of once per event.

use std::sync::atomic::AtomicUsize;

use kvsentry_model::{AlertRule, AuditEvent, Field};
use kvsentry_rules::{Aggregate, CompiledFilter, Condition, RawExpr, Rule, WindowType};

use super::aggs::{AggState, AggStates, Distinct};
use super::value::{ValueHasher, random_seed, seeded};
use crate::fields::{ACCOUNT_FIELDS, EVIDENCE_FIELDS, MIXED_VALUE_FIELDS};

/// A rule ready to run: field names resolved to slots of the rows it keeps.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub id: String,
    pub alert_rule: AlertRule,
    pub filter: CompiledFilter,
    pub filter_source: RawExpr,
    pub window: WindowType,
    pub size: i64,
    pub suppression: i64,
    pub evidence_cap: usize,
    pub values_cap: usize,
    /// Group-by fields, in order, and their slots.
    pub group_fields: Vec<Field>,
    pub group_slots: Vec<usize>,
    /// The fields a row keeps (each once).
    pub slots: Vec<Field>,
    /// Aggregates: name, kind, slot of the field read.
    pub aggs: Vec<(String, Aggregate, Option<usize>)>,
    pub condition: Condition,
    /// Slots of the account entity's fields ([`ACCOUNT_FIELDS`]) when the rule maps one.
    pub account_slots: Option<[usize; ACCOUNT_FIELDS.len()]>,
    /// Slots of the entities the rule maps from its own fields.
    pub ip_slot: Option<usize>,
    pub resource_slot: Option<usize>,
    /// Slots of the evidence's fields ([`EVIDENCE_FIELDS`]) when the rule keeps evidence.
    pub evidence_slots: Option<[usize; EVIDENCE_FIELDS.len()]>,
    /// For each aggregate, the group-by position of the field it reads, if it reads one.
    pub agg_group: Vec<Option<usize>>,
    /// Per aggregate: a `count_distinct` of a group-by field, which every event of a group
    /// shares, so its count is 1 when present, else 0, and its values are not hashed. Not
    /// for a field of [`MIXED_VALUE_FIELDS`] (`caller.ip`), whose values are addresses or
    /// (unparsed) text: two of those could print alike, share a key and still count as two
    /// values.
    pub group_distinct: Vec<bool>,
    /// Group-by positions whose missing value means the group never alerts.
    pub hopeless_if_missing: Vec<usize>,
    /// Per slot: the condition's aggregates read it from a row (count of a field, a
    /// `count_distinct` not hashed in the parallel stage, min, max), so thin rows keep it
    /// (see [`CompiledRule::row`]).
    pub thin_slots: Vec<bool>,
    /// Per slot: bit `j` set when `Row::dh``[j]` is hashed from it. A mask, not one
    /// position: two `count_distinct` aggregates of the same field share one slot and each
    /// needs its hash.
    pub slot_dh: Vec<u8>,
    /// The group-by fields are slots `0..group_fields.len()` in order (no field twice): a
    /// row's group values are read once, for its key and its slots, and a string is held
    /// once, in the key (the seed rule's UPN).
    pub key_slots: bool,
    /// The longest row text so far: the capacity of the next (rows of one rule are alike).
    pub text_hint: AtomicUsize,
    /// Slots of the first [`DH_INLINE`] `count_distinct` aggregates (but those of
    /// [`Self::group_distinct`]), in order: their values
    /// are hashed in the parallel stage (see `Row::dh`).
    pub distinct_slots: Vec<usize>,
    /// Number of `values` aggregates (their sets are made on a group's first fold).
    pub n_values: usize,
    /// Positions of the other aggregates (whose states a group keeps, in order).
    pub numeric_pos: Vec<usize>,
    /// Their fresh states ([`new_states`]), cloned for each new group.
    pub agg_states: AggStates,
    /// Seeded per engine: group keys are attacker-controlled, so the group maps' hash must
    /// not be predictable (computed in the parallel stage, see `Row::hash`).
    pub group_hasher: ValueHasher,
    /// Seeded per engine too: distinct-value hashes (see [`ValueHasher`]).
    pub value_hasher: ValueHasher,
    /// The two hashers' seeds (group, value), for snapshots.
    pub seeds: [u64; 2],
}

/// `count_distinct` values hashed per row in the parallel stage (more are hashed when
/// applied).
pub(crate) const DH_INLINE: usize = 2;

fn slot_of(slots: &mut Vec<Field>, f: Field) -> usize {
    match slots.iter().position(|&x| x == f) {
        Some(i) => i,
        None => {
            slots.push(f);
            slots.len() - 1
        }
    }
}

impl CompiledRule {
    /// Seeds the rule's hashers (a restored engine's rule takes its snapshot's seeds).
    pub fn set_seeds(&mut self, seeds: [u64; 2]) {
        self.seeds = seeds;
        self.group_hasher = seeded(seeds[0]);
        self.value_hasher = seeded(seeds[1]);
    }

    /// The rule's hashers' output on fixed inputs. A snapshot holds hashes (of groups,
    /// suppressions, distinct values) made with its seeds; they can be read back only where
    /// the hashers, given those seeds, hash alike (foldhash promises no stable output across
    /// versions or platforms): a snapshot keeps this probe and a restore compares it.
    pub fn hash_probe(&self) -> [u64; 2] {
        use super::value::{B, hash_b};
        use std::hash::BuildHasher as _;
        let ip = std::net::IpAddr::from([192, 0, 2, 1]);
        [
            self.group_hasher
                .hash_one("kvsentry probe: alice@contoso.com"),
            hash_b(&self.value_hasher, B::Str("SecretGet"))
                ^ hash_b(&self.value_hasher, B::Int(-42)).rotate_left(1)
                ^ hash_b(&self.value_hasher, B::Ip(ip)).rotate_left(2)
                ^ hash_b(&self.value_hasher, B::Time(1_767_225_600_000_000_000)).rotate_left(3),
        ]
    }

    /// Top-level filter clauses, for explanations (a filter that is not an `all`: one).
    pub fn n_clauses(&self) -> usize {
        match &self.filter {
            CompiledFilter::All(v) => v.len(),
            _ => 1,
        }
    }

    pub fn new(rule: &Rule) -> Option<CompiledRule> {
        let t = rule.threshold()?;
        let mut slots = Vec::new();
        let group_fields: Vec<Field> = t.group_by.iter().map(|f| f.0).collect();
        let group_slots = group_fields
            .iter()
            .map(|&f| slot_of(&mut slots, f))
            .collect();
        let aggs = t
            .aggregates
            .iter()
            .map(|(n, a)| (n.clone(), *a, a.field().map(|f| slot_of(&mut slots, f))))
            .collect();
        let account_slots = t
            .entities
            .account
            .then(|| ACCOUNT_FIELDS.map(|f| slot_of(&mut slots, f)));
        let ip_slot = t.entities.ip.map(|f| slot_of(&mut slots, f.0));
        let resource_slot = t.entities.azure_resource.map(|f| slot_of(&mut slots, f.0));
        let evidence_slots =
            (t.evidence > 0).then(|| EVIDENCE_FIELDS.map(|f| slot_of(&mut slots, f)));
        Some(CompiledRule {
            id: rule.meta.id.clone(),
            alert_rule: rule.meta.alert_rule(),
            filter: t.filter.compiled.clone(),
            filter_source: t.filter.source.clone(),
            window: t.window.kind,
            size: t.window.size.as_nanos(),
            suppression: t.suppression.as_nanos(),
            evidence_cap: t.evidence,
            values_cap: t.values_cap,
            group_fields,
            group_slots,
            slots,
            aggs,
            condition: t.condition.clone(),
            account_slots,
            ip_slot,
            resource_slot,
            evidence_slots,
            text_hint: AtomicUsize::new(0),
            distinct_slots: Vec::new(),
            numeric_pos: t
                .aggregates
                .iter()
                .enumerate()
                .filter(|(_, (_, a))| !matches!(a, Aggregate::Values(_)))
                .map(|(i, _)| i)
                .collect(),
            n_values: t
                .aggregates
                .iter()
                .filter(|(_, a)| matches!(a, Aggregate::Values(_)))
                .count(),
            group_hasher: seeded(0),
            value_hasher: seeded(0),
            seeds: [0; 2],
            agg_group: Vec::new(),
            group_distinct: Vec::new(),
            hopeless_if_missing: Vec::new(),
            thin_slots: Vec::new(),
            agg_states: AggStates::Heap(Vec::new()),
            slot_dh: Vec::new(),
            key_slots: false,
        })
        .map(|mut r| {
            r.set_seeds([random_seed(), random_seed()]);
            r.agg_group = r
                .aggs
                .iter()
                .map(|(_, a, _)| {
                    let f = a.field()?;
                    r.group_fields.iter().position(|&g| g == f)
                })
                .collect();
            r.hopeless_if_missing = r.hopeless_positions();
            r.key_slots = r.group_slots.iter().enumerate().all(|(g, &s)| g == s);
            r.group_distinct = r
                .aggs
                .iter()
                .zip(&r.agg_group)
                .map(|((_, a, _), g)| {
                    matches!(a, Aggregate::CountDistinct(f) if !MIXED_VALUE_FIELDS.contains(f))
                        && g.is_some()
                })
                .collect();
            r.distinct_slots = r
                .aggs
                .iter()
                .zip(&r.group_distinct)
                .filter_map(|((_, a, slot), &gd)| match a {
                    Aggregate::CountDistinct(_) if !gd => *slot,
                    _ => None,
                })
                .take(DH_INLINE)
                .collect();
            r.slot_dh = (0..r.slots.len())
                .map(|k| {
                    r.distinct_slots
                        .iter()
                        .enumerate()
                        .filter(|&(_, &s)| s == k)
                        .fold(0u8, |m, (j, _)| m | (1 << j))
                })
                .collect();
            // Which slots a thin row is read for: by the aggregates of the condition, but
            // the `count_distinct`s hashed in the parallel stage (read as `Row::dh`).
            let mut thin = vec![false; r.slots.len()];
            let mut k = 0;
            for ((_, a, slot), &gd) in r.aggs.iter().zip(&r.group_distinct) {
                let hashed = match a {
                    Aggregate::Values(_) => continue,
                    Aggregate::CountDistinct(_) if !gd => {
                        k += 1;
                        k <= DH_INLINE
                    }
                    _ => false,
                };
                if !hashed && let Some(t) = slot.and_then(|s| thin.get_mut(s)) {
                    *t = true;
                }
            }
            r.thin_slots = thin;
            r.agg_states = AggStates::from_slice(&new_states(&r));
            r
        })
    }

    /// `never_alerts` (the tests' oracle) for an event whose group values were read: bit `g` of
    /// `missing` set when group-by value `g` (below 64) is missing.
    pub(crate) fn never_alerts_event(&self, ev: &AuditEvent<'_>, missing: u64) -> bool {
        self.hopeless_if_missing
            .iter()
            .any(|&g| match 1u64.checked_shl(g as u32) {
                Some(bit) if g < 64 => missing & bit != 0,
                _ => self
                    .group_fields
                    .get(g)
                    .is_some_and(|&f| ev.get(f).is_missing()),
            })
    }

    /// Group-by positions whose missing value alone makes the condition false (see
    /// `never_alerts`, in `row.rs`).
    fn hopeless_positions(&self) -> Vec<usize> {
        (0..self.group_fields.len())
            .filter(|&g| {
                let mut any = false;
                let known: Vec<Option<f64>> = self
                    .aggs
                    .iter()
                    .zip(&self.agg_group)
                    .map(|((_, a, _), pos)| match (a, *pos == Some(g)) {
                        (Aggregate::CountDistinct(_) | Aggregate::Count(Some(_)), true) => {
                            any = true;
                            Some(0.0)
                        }
                        _ => None,
                    })
                    .collect();
                any && self.condition.eval_partial(&known) == Some(false)
            })
            .collect()
    }
}

/// Fresh states of a rule's aggregates other than `values`.
pub(crate) fn new_states(rule: &CompiledRule) -> Vec<AggState> {
    let mut out = Vec::with_capacity(rule.aggs.len() - rule.n_values);
    let mut k = 0;
    for (i, (_, a, slot)) in rule.aggs.iter().enumerate() {
        let s = slot.unwrap_or(usize::MAX);
        out.push(match a {
            Aggregate::Count(_) => AggState::Count(0, *slot),
            Aggregate::CountDistinct(_) if rule.group_distinct.get(i) == Some(&true) => {
                AggState::GroupDistinct(
                    false,
                    s,
                    rule.agg_group
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(usize::MAX),
                )
            }
            Aggregate::CountDistinct(_) => {
                k += 1;
                AggState::Distinct(Distinct::Few(0, [0; 4]), k - 1, s)
            }
            Aggregate::Values(_) => continue,
            Aggregate::Min(_) => AggState::Min(None, s),
            Aggregate::Max(_) => AggState::Max(None, s),
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (YAML lines indented four spaces) and condition: the rule the module tests of the
    /// engine compile.
    pub(crate) fn upn_rule(aggregates: &str, condition: &str) -> CompiledRule {
        grouped_rule("identity.upn", aggregates, condition)
    }

    /// As [`upn_rule`], grouped by these fields (a YAML list's items).
    pub(crate) fn grouped_rule(group_by: &str, aggregates: &str, condition: &str) -> CompiledRule {
        let yaml = format!(
            r#"
id: test
name: test
kind: threshold
detection:
  filter: {{ field: category, equals: AuditEvent }}
  window: {{ type: tumbling, size: 1m }}
  group_by: [{group_by}]
  aggregates:
{aggregates}
  condition: "{condition}"
"#
        );
        let set = kvsentry_rules::RuleSet::from_yaml_str(&yaml, "test.yml").unwrap();
        CompiledRule::new(set.enabled().next().unwrap()).unwrap()
    }
}
