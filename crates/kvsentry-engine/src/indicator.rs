//! `kind: indicator_match`: events whose address is covered by a threat-intelligence
//! indicator, after Microsoft Sentinel's "TI map IP entity to Azure Key Vault logs" (v1.3.4).
//!
//! Each step and the KQL line it reproduces (line numbers of the seed's query):
//!
//! ```text
//! 17-28  let IP_Indicators = ThreatIntelligenceIndicator | ... | where Active == true and ExpirationDateTime > now();
//!        -> Engine::new: IndicatorSet::select(Selection::AsOf{at, compat} | Retro{compat})
//!           (kvsentry-intel's set.rs maps every line); the rule's ioc_lookback is line 18.
//! 32     | join kind=innerunique (
//! 33-36  AzureDiagnostics | where ResourceType =~ "VAULTS" | where TimeGenerated >= ago(dt_lookBack)
//!        | extend KeyVaultEvents_TimeGenerated = TimeGenerated, ClientIP = CallerIPAddress
//!        -> prepare: the rule's filter (`vault.resource_type iequals VAULTS`); the event's
//!           address from the match field. dt_lookBack (1h) is the slice of logs one
//!           scheduled run reads: a hunt reads its whole input instead.
//! 38     on $left.TI_ipEntity == $right.ClientIP
//!        -> prepare: IndicatorIndex::matches(ip, time) (default: the address in any
//!           spelling, CIDR containment, every covering indicator);
//!           compat: matches_text(text, time), a string equality. Key Vault writes
//!           CallerIPAddress as canonical text (dotted IPv4, RFC 5952 IPv6); the event model
//!           keeps it parsed, so compat compares the address's canonical text, which equals
//!           what Key Vault wrote under that assumption.
//!           Known differences of that assumption: a caller written IPv4-mapped
//!           (`::ffff:a.b.c.d`) or with a port is compared as its plain address.
//!           innerunique keeps one row per join key on the left: the intel crate's compat
//!           index already keeps one indicator per IP text (the highest IndicatorId).
//! 40     | where KeyVaultEvents_TimeGenerated < ExpirationDateTime
//!        -> prepare: `matches` keeps indicators live at the event (Indicator::live_at).
//! 42     | summarize KeyVaultEvents_TimeGenerated = arg_max(KeyVaultEvents_TimeGenerated, *) by IndicatorId, ClientIP
//!        -> observe: state keyed by (indicator, address) keeping the latest event; equal
//!           times are broken by origin (the later source, then line, wins), so the result
//!           does not depend on arrival order. Memory: one entry per matched pair.
//! 44-46  | project ...
//!        -> finish: the alert's `fields`, one readable name per projected column.
//! (rule) triggerOperator gt, triggerThreshold 0
//!        -> finish: the run's result rows (pairs) are compared with the trigger.
//! ```
//!
//! `TiMode::AsOf(at)` selects the indicators of a run at `at`; the events are not cut to
//! `at - dt_lookBack .. at`: the input is taken as the run's logs.
//!
//! A hunt is one scheduled run: alerts go out at [`crate::Engine::finish`], sorted by
//! (event time, indicator id, address). A future `serve` mode will flush per
//! `query_frequency`. Sentinel's default event grouping puts a run's rows into one alert;
//! kvsentry emits one alert per row (Sentinel's `AlertPerResult`), whose id
//! `compute_id(rule, [indicator id, address])` is stable across runs.

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::HashMap;
use kvsentry_intel::{Indicator, IndicatorIndex, IndicatorSet, Selection, SelectionReport};
use kvsentry_model::net::parse_ip;
use kvsentry_model::{
    Alert, AlertRule, AuditEvent, Entity, EvidenceRef, Field, FieldValue, Origin, ThreatEnrichment,
    Timestamp,
};
use kvsentry_rules::{CompiledFilter, EntityMapping, RawExpr, Rule, Trigger};
use serde::Deserialize;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::EvidenceSource;
use crate::acc::OrderKey;
use crate::plan::{nanos, timestamp};

/// One evidence event (ordered by time then origin, so the heap keeps the earliest).
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub key: OrderKey,
    pub operation: String,
    pub correlation_id: Option<String>,
    pub origin: Origin,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// Which indicators a run uses (see [`kvsentry_intel::Selection`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TiMode {
    /// Hunting past logs: the latest version of every indicator, whatever its age; an event
    /// matches when it happened before the indicator's expiration.
    #[default]
    Retro,
    /// One scheduled run of the rule at this time: indicator versions generated within the
    /// rule's `ioc_lookback` before it, not expired at it.
    AsOf(Timestamp),
}

/// What an indicator_match rule selected and matched, for `hunt`'s summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndicatorRuleStats {
    /// `retro`, `as-of <time>`, with ` (compat)`; `none` without threat intelligence.
    pub mode: String,
    /// Indicators the rule matches against.
    pub indicators: usize,
    /// How the selection went (what was excluded and why); `None` without intel.
    pub selection: Option<SelectionReport>,
    /// Why the rule cannot alert, when it cannot (e.g. no threat intelligence loaded).
    pub note: Option<String>,
    /// (event, indicator) matches.
    pub indicator_matches: u64,
    /// Distinct (indicator, address) pairs matched: the run's result rows.
    pub pairs: u64,
    /// At finish: whether the trigger (`gt 0` for the seed) held over the result rows.
    pub triggered: Option<bool>,
}

/// One selection shared by the rules that ask for the same one.
#[derive(Debug)]
pub(crate) struct Selected {
    pub index: IndicatorIndex,
    /// Address of each indexed indicator → its position in `index.iter()`. The index hands
    /// out references to the indicators it holds (`matches` and `iter` alike), so an address
    /// identifies one; an `IndicatorIndex` API returning positions would make this map
    /// unnecessary (asked of kvsentry-intel).
    positions: HashMap<usize, u32>,
    pub report: SelectionReport,
}

impl Selected {
    fn new(index: IndicatorIndex, report: SelectionReport) -> Selected {
        let positions = index
            .iter()
            .enumerate()
            .map(|(i, ind)| (std::ptr::from_ref(ind) as usize, i as u32))
            .collect();
        Selected {
            index,
            positions,
            report,
        }
    }

    fn position(&self, ind: &Indicator) -> Option<u32> {
        self.positions
            .get(&(std::ptr::from_ref(ind) as usize))
            .copied()
    }
}

/// Selections by (compat, lookback), so rules asking for the same one share it.
#[derive(Default)]
pub(crate) struct SelectionCache {
    done: Vec<((bool, i64), Arc<Selected>)>,
}

impl SelectionCache {
    pub fn get(
        &mut self,
        set: &IndicatorSet,
        mode: TiMode,
        compat: bool,
        lookback: jiff::SignedDuration,
    ) -> Arc<Selected> {
        let key = (
            compat,
            match mode {
                // Retro ignores the lookback.
                TiMode::Retro => 0,
                TiMode::AsOf(_) => i64::try_from(lookback.as_nanos()).unwrap_or(i64::MAX),
            },
        );
        if let Some((_, s)) = self.done.iter().find(|(k, _)| *k == key) {
            return Arc::clone(s);
        }
        let (index, report) = match mode {
            TiMode::Retro => set.select(Selection::Retro { compat }),
            TiMode::AsOf(at) => {
                let sel = Selection::AsOf { at, compat };
                if set.lookback() == lookback {
                    set.select(sel)
                } else {
                    // The set holds its lookback; a rule with another one selects from a
                    // copy (the records are shared `Arc`s, so this copies pointers only).
                    let mut copy = set.clone();
                    copy.set_lookback(lookback);
                    copy.select(sel)
                }
            }
        };
        let s = Arc::new(Selected::new(index, report));
        self.done.push((key, Arc::clone(&s)));
        s
    }
}

/// Columns a matched event keeps: the seed's projection (line 44-45) and the account.
const COLS: [Field; 10] = [
    Field::VaultResourceId,     // ResourceId
    Field::VaultSubscriptionId, // SubscriptionId
    Field::Operation,           // OperationName
    Field::ResultType,          // ResultType
    Field::CorrelationId,       // CorrelationId
    Field::ObjectId,            // id_s
    Field::ClientInfo,          // clientInfo_s
    Field::IdentityAppId,       // identity_claim_appid_g
    Field::IdentityObjectId,    // identity_claim_..._objectidentifier_g
    Field::IdentityUpn,         // for the Account entity
];
const C_RESOURCE: usize = 0;
const C_SUB: usize = 1;
const C_OP: usize = 2;
const C_RESULT: usize = 3;
const C_CORR: usize = 4;
const C_OBJ: usize = 5;
const C_CLIENT: usize = 6;
const C_APP: usize = 7;
const C_OID: usize = 8;
const C_UPN: usize = 9;
/// Entity columns (from the rule's entity mapping), after `COLS`.
const C_ENT_IP: usize = 10;
const C_ENT_RES: usize = 11;
const NCOLS: usize = 12;

/// The projected columns of one matched event, in one string.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EvRec {
    pub time: i64,
    pub origin: Origin,
    pub seq: u64,
    pub http_status: Option<u16>,
    text: String,
    spans: [Option<(u32, u32)>; NCOLS],
}

impl EvRec {
    fn new(ev: &AuditEvent<'_>, entities: &EntityMapping) -> EvRec {
        let ent = [
            entities.ip.map(|f| f.0),
            entities.azure_resource.map(|f| f.0),
        ];
        let fields = COLS.iter().map(|f| Some(*f)).chain(ent);
        let cap: usize = fields
            .clone()
            .map(|f| match f.map(|f| ev.get(f)) {
                Some(FieldValue::Str(s)) => s.len(),
                Some(FieldValue::Missing) | None => 0,
                Some(_) => 40,
            })
            .sum();
        let mut text = String::with_capacity(cap);
        let mut spans = [None; NCOLS];
        for (slot, f) in spans.iter_mut().zip(fields) {
            let Some(f) = f else { continue };
            let a = text.len();
            let _ = match ev.get(f) {
                FieldValue::Missing => continue,
                FieldValue::Str(s) => {
                    text.push_str(&s);
                    Ok(())
                }
                FieldValue::Int(i) => write!(text, "{i}"),
                FieldValue::Ip(ip) => write!(text, "{ip}"),
                FieldValue::Time(t) => write!(text, "{t}"),
            };
            if let (Ok(a), Ok(b)) = (u32::try_from(a), u32::try_from(text.len())) {
                *slot = Some((a, b));
            }
        }
        EvRec {
            time: nanos(ev.time),
            origin: ev.origin,
            seq: 0,
            http_status: ev.http_status,
            text,
            spans,
        }
    }

    fn col(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.spans.get(i)?)?;
        self.text.get(a as usize..b as usize)
    }

    fn json(&self, i: usize) -> Value {
        self.col(i)
            .map_or(Value::Null, |s| Value::String(s.to_string()))
    }

    /// arg_max order: time, then origin; arrival order last (only for identical origins).
    fn order(&self) -> (i64, u32, u64, u64) {
        (self.time, self.origin.source, self.origin.line, self.seq)
    }

    fn evidence(&self) -> Ev {
        Ev {
            key: self.order(),
            operation: self.col(C_OP).unwrap_or_default().to_string(),
            correlation_id: self.col(C_CORR).map(str::to_string),
            origin: self.origin,
        }
    }
}

/// What one event contributes to one indicator_match rule: the indicators it matched (their
/// positions in the rule's selection), its address, and its projected columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TiRow {
    pub rule: usize,
    pub inds: Vec<u32>,
    pub ip: IpAddr,
    pub ev: EvRec,
}

impl TiRow {
    pub fn heap_bytes(&self) -> usize {
        self.inds.capacity() * size_of::<u32>() + self.ev.text.capacity()
    }
}

/// Why the explained rule did not match an event (indices after the filter's clauses).
pub(crate) const WHY_NO_ADDRESS: usize = 0;
pub(crate) const WHY_NOT_COVERED: usize = 1;
pub(crate) const WHY_EXPIRED: usize = 2;
pub(crate) const WHY_COUNT: usize = 3;

/// The outcome of [`TiRule::prepare`]. Returned by value and moved straight into
/// `Prepared`: boxing the row would cost an allocation per match for nothing.
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
    /// Bit of this rule in `Prepared::ti_passed`, for the first 64 indicator rules.
    pub bit: Option<u32>,
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
        ordinal: usize,
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
            bit: u32::try_from(ordinal).ok().filter(|b| *b < 64),
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
    pub fn prepare(
        &self,
        ev: &AuditEvent<'_>,
        passed: bool,
        rule: usize,
        explain: bool,
    ) -> TiOutcome {
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
            rule,
            inds,
            ip,
            ev: EvRec::new(ev, &self.entities),
        })
    }
}

/// State of one (indicator, address) pair.
struct Pair {
    latest: EvRec,
    count: u64,
    first_time: i64,
    /// The earliest `evidence_cap` events (a max-heap: the latest on top, popped first).
    evidence: BinaryHeap<Ev>,
}

/// The stateful stage of one indicator_match rule.
#[derive(Default)]
pub(crate) struct TiState {
    pairs: HashMap<(u32, IpAddr), Pair>,
}

impl TiState {
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Applies one matched event (line 42: arg_max by IndicatorId, ClientIP).
    pub fn push(&mut self, row: TiRow, cap: usize, seq: u64) -> u64 {
        let mut ev = row.ev;
        ev.seq = seq;
        let n = row.inds.len() as u64;
        for ind in row.inds {
            match self.pairs.get_mut(&(ind, row.ip)) {
                Some(p) => {
                    p.count += 1;
                    p.first_time = p.first_time.min(ev.time);
                    if cap > 0 {
                        let e = ev.evidence();
                        if p.evidence.len() < cap || p.evidence.peek().is_some_and(|t| e < *t) {
                            p.evidence.push(e);
                            if p.evidence.len() > cap {
                                p.evidence.pop();
                            }
                        }
                    }
                    if ev.order() > p.latest.order() {
                        p.latest = ev.clone();
                    }
                }
                None => {
                    let mut evidence = BinaryHeap::new();
                    if cap > 0 {
                        evidence.push(ev.evidence());
                    }
                    self.pairs.insert(
                        (ind, row.ip),
                        Pair {
                            latest: ev.clone(),
                            count: 1,
                            first_time: ev.time,
                            evidence,
                        },
                    );
                }
            }
        }
        n
    }

    /// End of the run: the alerts, sorted by (event time, indicator id, address), when the
    /// trigger holds over the result rows; the state is emptied.
    pub fn finish(
        &mut self,
        rule: &TiRule,
        stats: &mut IndicatorRuleStats,
        source: Option<&EvidenceSource>,
        form: Option<&EvidenceSource>,
    ) -> Vec<Alert> {
        let pairs = std::mem::take(&mut self.pairs);
        let results = pairs.len() as u64;
        let fires = rule.trigger.fires(results);
        stats.triggered = Some(fires);
        let Some(sel) = rule.selected.as_ref().filter(|_| fires && results > 0) else {
            return Vec::new();
        };
        // One pass over the selection resolves the matched positions.
        let mut wanted: HashMap<u32, Option<&Indicator>> =
            pairs.keys().map(|(i, _)| (*i, None)).collect();
        for (i, ind) in sel.index.iter().enumerate() {
            if let Some(slot) = u32::try_from(i).ok().and_then(|i| wanted.get_mut(&i)) {
                *slot = Some(ind);
            }
        }
        let mut alerts: Vec<(i64, &str, IpAddr, Alert)> = pairs
            .into_iter()
            .filter_map(|((i, ip), p)| {
                let ind = (*wanted.get(&i)?)?;
                Some((
                    p.latest.time,
                    ind.id.as_str(),
                    ip,
                    alert(rule, ind, ip, p, source, form),
                ))
            })
            .collect();
        alerts.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        alerts.into_iter().map(|(_, _, _, a)| a).collect()
    }
}

fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_string()))
}

fn ts_json(t: i64) -> Value {
    Value::String(timestamp(t).to_string())
}

/// The alert of one result row (the seed's projection, line 44-45, with readable names).
fn alert(
    rule: &TiRule,
    ind: &Indicator,
    ip: IpAddr,
    p: Pair,
    source: Option<&EvidenceSource>,
    form: Option<&EvidenceSource>,
) -> Alert {
    let ip_text = ip.to_string();
    let e = &p.latest;
    let mut group = Map::new();
    group.insert("indicator_id".into(), Value::String(ind.id.clone()));
    group.insert(rule.field.name().into(), Value::String(ip_text.clone()));

    let mut f = Map::new();
    f.insert("event_time".into(), ts_json(e.time)); // KeyVaultEvents_TimeGenerated
    f.insert("description".into(), opt_str(ind.description.as_deref()));
    f.insert(
        "activity_groups".into(),
        Value::Array(
            ind.activity_groups
                .iter()
                .map(|g| Value::String(g.clone()))
                .collect(),
        ),
    );
    f.insert("indicator_id".into(), Value::String(ind.id.clone()));
    f.insert("threat_type".into(), opt_str(ind.threat_type.as_deref()));
    f.insert("url".into(), opt_str(ind.url.as_deref()));
    f.insert(
        "expiration".into(),
        ind.expiration
            .map_or(Value::Null, |t| Value::String(t.to_string())),
    );
    f.insert(
        "confidence".into(),
        ind.confidence.map_or(Value::Null, Value::from),
    );
    f.insert("indicator_ip".into(), Value::String(ind.value_text.clone())); // TI_ipEntity
    if let Some(col) = ind.sentinel.as_ref().and_then(|s| s.ip_column) {
        f.insert(
            "indicator_ip_column".into(),
            Value::String(col.as_str().into()),
        );
    }
    f.insert("client_ip".into(), Value::String(ip_text.clone())); // ClientIP
    f.insert("resource_id".into(), e.json(C_RESOURCE));
    f.insert("subscription_id".into(), e.json(C_SUB));
    f.insert("operation".into(), e.json(C_OP));
    f.insert("result_type".into(), e.json(C_RESULT));
    f.insert("correlation_id".into(), e.json(C_CORR));
    f.insert("object_id".into(), e.json(C_OBJ)); // id_s
    f.insert("client_info".into(), e.json(C_CLIENT)); // clientInfo_s
    f.insert(
        "http_status".into(),
        e.http_status.map_or(Value::Null, Value::from),
    ); // httpStatusCode_d
    f.insert("app_id".into(), e.json(C_APP)); // identity_claim_appid_g
    f.insert("caller_object_id".into(), e.json(C_OID)); // ..._objectidentifier_g
    // Sentinel's `Type` is the table the row came from; ours is the form the event was read
    // in (`storage`, `eventhub`, `azure-diagnostics`, `azkv`, `ecs`, ...).
    let form = form.and_then(|f| f(&e.origin));
    f.insert("type".into(), form.map_or(Value::Null, Value::String));
    f.insert("event_count".into(), Value::from(p.count));
    f.insert("first_event_time".into(), ts_json(p.first_time));

    let mut entities = Vec::new();
    if let Some(a) = e.col(C_ENT_IP) {
        entities.push(Entity::Ip {
            address: a.to_string(),
        });
    }
    if let Some(r) = e.col(C_ENT_RES) {
        entities.push(Entity::AzureResource {
            resource_id: r.to_string(),
        });
    }
    if rule.entities.account {
        let (upn, oid, app) = (e.col(C_UPN), e.col(C_OID), e.col(C_APP));
        if upn.is_some() || oid.is_some() || app.is_some() {
            entities.push(Entity::Account {
                upn: upn.map(str::to_string),
                object_id: oid.map(str::to_string),
                app_id: app.map(str::to_string),
            });
        }
    }

    // The first events, then the kept (latest) one when it is not among them.
    let mut ev: Vec<Ev> = p.evidence.into_vec();
    ev.sort();
    let kept = e.evidence();
    if !ev.iter().any(|x| x.key == kept.key) {
        ev.push(kept);
    }
    let evidence = ev
        .into_iter()
        .map(|x| EvidenceRef {
            time: timestamp(x.key.0),
            operation: x.operation,
            correlation_id: x.correlation_id,
            source: source.and_then(|s| s(&x.origin)),
        })
        .collect();

    let family = if ind.network.addr().is_ipv4() {
        "ipv4-addr"
    } else {
        "ipv6-addr"
    };
    let indicator_type = if ind.is_single_address() {
        family.to_string()
    } else {
        format!("{family}-cidr")
    };
    Alert {
        alert_id: Alert::compute_id(&rule.id, &[ind.id.as_str(), ip_text.as_str()]),
        rule: rule.alert_rule.clone(),
        time: timestamp(e.time),
        window: None,
        group,
        fields: f,
        entities,
        evidence,
        threat: Some(ThreatEnrichment {
            matched_atomic: ip_text,
            matched_field: rule.field.name().into(),
            matched_type: "indicator_match_rule".into(),
            indicator_id: ind.id.clone(),
            indicator_type,
            indicator_value: ind.value_text.clone(),
            feed: Some(ind.source.clone()),
        }),
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
