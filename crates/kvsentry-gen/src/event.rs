//! One generated event, compact (its strings live in the [`World`]), and the view of it
//! with its estate that renderers and tests read.

use std::net::IpAddr;

use jiff::Timestamp;

use crate::fmt::timestamp_of;
use crate::ops::Op;
use crate::world::World;

/// Marker for "no identity" (unauthenticated records).
pub(crate) const NO_IDENT: u32 = u32::MAX;
/// Marker for "background" (not part of a scenario).
pub(crate) const NO_SCENARIO: u16 = u16::MAX;

/// What kind of record an event becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A Key Vault `AuditEvent` record: what the detections read.
    Vault,
    /// A Managed HSM audit record (resource type `MANAGEDHSMS`): readers must skip it.
    ManagedHsm,
    /// A record of another diagnostic category (`AzurePolicyEvaluationDetails`).
    OtherCategory,
}

/// One generated event, compact: strings live in the [`World`].
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub(crate) ticks: i64,
    pub(crate) kind: RecordKind,
    pub(crate) vault: u32,
    pub(crate) ident: u32,
    pub(crate) ip: u32,
    pub(crate) op: Op,
    pub(crate) status: u16,
    pub(crate) duration: u32,
    pub(crate) corr: u128,
    pub(crate) object: u16,
    pub(crate) api: u8,
    pub(crate) agent_variant: u8,
    pub(crate) tls13: bool,
    pub(crate) scenario: u16,
    /// Seconds since the token was issued (`iat`).
    pub(crate) token_age: u16,
}

/// An event together with the estate it refers to: what tests and tools inspect.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'w> {
    pub(crate) world: &'w World,
    pub(crate) ev: Event,
}

impl<'w> EventRef<'w> {
    pub fn time(&self) -> Timestamp {
        timestamp_of(self.ev.ticks)
    }
    /// Time in 100-ns ticks since the Unix epoch.
    pub fn ticks(&self) -> i64 {
        self.ev.ticks
    }
    pub fn operation(&self) -> &'static str {
        self.ev.op.name()
    }
    #[cfg(test)]
    pub(crate) fn op(&self) -> Op {
        self.ev.op
    }
    #[cfg(test)]
    pub(crate) fn record_kind(&self) -> RecordKind {
        self.ev.kind
    }
    /// One of the 20 read operations of the seed rule.
    pub fn is_read(&self) -> bool {
        self.ev.op.is_read()
    }
    pub fn http_status(&self) -> u16 {
        self.ev.status
    }
    pub fn caller_ip(&self) -> IpAddr {
        self.ip_info().addr
    }
    pub(crate) fn ip_info(&self) -> &'w crate::world::IpInfo {
        &self.world.ips[self.ev.ip as usize]
    }
    /// The identity as written in the record (`None` for unauthenticated 401s).
    pub fn ident(&self) -> Option<&'w crate::world::Ident> {
        if self.ev.ident == NO_IDENT || self.ev.status == 401 {
            None
        } else {
            self.world.idents.get(self.ev.ident as usize)
        }
    }
    pub fn upn(&self) -> Option<&'w str> {
        self.ident().and_then(|i| i.upn.as_deref())
    }
    /// UPN, else app id (the principal kvsentry groups by).
    pub fn principal(&self) -> Option<&'w str> {
        self.ident()
            .map(|i| i.upn.as_deref().unwrap_or(i.app_id.as_str()))
    }
    pub(crate) fn vault(&self) -> &'w crate::world::VaultInfo {
        match self.ev.kind {
            RecordKind::ManagedHsm => &self.world.hsms[self.ev.vault as usize],
            _ => &self.world.vaults[self.ev.vault as usize],
        }
    }
    pub fn resource_id(&self) -> &'w str {
        &self.vault().resource_id
    }
    pub fn category(&self) -> &'static str {
        match self.ev.kind {
            RecordKind::OtherCategory => "AzurePolicyEvaluationDetails",
            _ => "AuditEvent",
        }
    }
    /// A Key Vault `AuditEvent` (what the detections consider).
    pub fn is_key_vault_audit(&self) -> bool {
        self.ev.kind == RecordKind::Vault
    }
    /// Index of the scenario in [`GenConfig::scenarios`](crate::GenConfig::scenarios) that produced it.
    pub fn scenario(&self) -> Option<usize> {
        (self.ev.scenario != NO_SCENARIO).then_some(self.ev.scenario as usize)
    }
}
