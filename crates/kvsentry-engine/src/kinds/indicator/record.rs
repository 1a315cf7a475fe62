//! What the kind keeps of events: the projected columns of one matched event, what an
//! event contributes to a rule, and the state of one (indicator, address) pair.

use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::net::IpAddr;

use kvsentry_model::{AuditEvent, Field, FieldValue, Origin};
use kvsentry_rules::EntityMapping;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::evidence::{Ev, OrderKey};
use crate::time::nanos;

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
pub(crate) const C_RESOURCE: usize = 0;
pub(crate) const C_SUB: usize = 1;
pub(crate) const C_OP: usize = 2;
pub(crate) const C_RESULT: usize = 3;
pub(crate) const C_CORR: usize = 4;
pub(crate) const C_OBJ: usize = 5;
pub(crate) const C_CLIENT: usize = 6;
pub(crate) const C_APP: usize = 7;
pub(crate) const C_OID: usize = 8;
pub(crate) const C_UPN: usize = 9;
/// Entity columns (from the rule's entity mapping), after `COLS`.
pub(crate) const C_ENT_IP: usize = 10;
pub(crate) const C_ENT_RES: usize = 11;
pub(crate) const NCOLS: usize = 12;

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
    pub fn new(ev: &AuditEvent<'_>, entities: &EntityMapping) -> EvRec {
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

    /// An event known only by its time (and where it came from): every column empty.
    pub fn bare(time: i64, origin: Origin) -> EvRec {
        EvRec {
            time,
            origin,
            seq: 0,
            http_status: None,
            text: String::new(),
            spans: [None; NCOLS],
        }
    }

    pub fn col(&self, i: usize) -> Option<&str> {
        let (a, b) = (*self.spans.get(i)?)?;
        self.text.get(a as usize..b as usize)
    }

    pub fn json(&self, i: usize) -> Value {
        self.col(i)
            .map_or(Value::Null, |s| Value::String(s.to_string()))
    }

    /// arg_max order: time, then origin; arrival order last (only for identical origins).
    pub fn order(&self) -> OrderKey {
        (self.time, self.origin.source, self.origin.line, self.seq)
    }

    pub fn evidence(&self) -> Ev<String> {
        Ev {
            key: self.order(),
            operation: Some(self.col(C_OP).unwrap_or_default().to_string()),
            correlation_id: self.col(C_CORR).map(str::to_string),
        }
    }
}

/// What one event contributes to one indicator_match rule: the indicators it matched (their
/// positions in the rule's selection), its address, and its projected columns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TiRow {
    pub inds: Vec<u32>,
    pub ip: IpAddr,
    pub ev: EvRec,
}

impl TiRow {
    pub fn heap_bytes(&self) -> usize {
        self.inds.capacity() * size_of::<u32>() + self.ev.text.capacity()
    }
}

/// State of one (indicator, address) pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pair {
    pub latest: EvRec,
    pub count: u64,
    pub first_time: i64,
    /// The earliest `evidence_cap` events (a max-heap: the latest on top, popped first).
    pub evidence: BinaryHeap<Ev<String>>,
}
