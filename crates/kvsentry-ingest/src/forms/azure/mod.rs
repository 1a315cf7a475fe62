//! The Azure mapping: Azure Monitor resource-log records (Storage, Event Hubs, Managed HSM
//! arrays) and the Log Analytics tables (`AzureDiagnostics`, `AZKVAuditLogs`). Their column
//! names do not collide (`properties.httpStatusCode` / `httpStatusCode_d` / `HttpStatusCode`),
//! so one mapping reads them all and a record misdetected between them still reads right.
//!
//! One table of names ([`roles::azure_role`]) serves both walks: the keyed walk asks it key
//! by key ([`KeyMap`] for [`Builder`], here), the path walks segment by segment
//! ([`fields::map_azure`]). [`fields::azure_field`] says what each field's value does to the
//! event.

mod fields;
mod roles;

use std::borrow::Cow;

use kvsentry_json::{Key, KeyMap, Leaf, Role};
use kvsentry_model::Str;

use crate::event::Builder;
use crate::event::builder::set;
use crate::event::claims::{ClaimTarget, apply_target_str};
use fields::claim_leaf;
pub(crate) use fields::{azure_claim, azure_field, map_azure};
pub(crate) use roles::{Az, AzField, azure_role};

impl<'a> Builder<'a> {
    /// The slot of a field [`azure_field`] fills with [`set`] (plain text, first value
    /// kept), `None` for the others.
    #[inline(always)]
    fn text_slot(&mut self, f: AzField) -> Option<&mut Option<Str<'a>>> {
        use AzField as F;
        Some(match f {
            F::Time => &mut self.time,
            F::Category => &mut self.category,
            F::TableType => &mut self.table_type,
            F::Operation => &mut self.operation,
            F::OperationVersion => &mut self.ev.operation_version,
            F::ResultType => &mut self.result_type,
            F::ResultSignature => &mut self.ev.result_signature,
            F::ResultDescription => &mut self.ev.result_description,
            F::CallerIp => &mut self.caller_ip,
            F::CorrelationId => &mut self.ev.correlation_id,
            F::ResourceId => &mut self.resource_id,
            F::ResourceIdFb => &mut self.resource_id_fb,
            F::SubscriptionId => &mut self.subscription_id,
            F::ResourceGroup => &mut self.resource_group,
            F::Resource => &mut self.resource_name,
            F::ResourceType => &mut self.resource_type,
            F::Provider => &mut self.provider,
            F::Location => &mut self.location,
            F::ClientInfo => &mut self.client_info,
            F::RequestUri => &mut self.ev.request_uri,
            F::ObjectId => &mut self.ev.object_id,
            F::TlsVersion => &mut self.ev.tls_version,
            _ => return None,
        })
    }
}

impl<'a> KeyMap<'a> for Builder<'a> {
    type Level = Az;
    type Field = AzField;
    const TOP: Az = Az::Top;

    #[inline]
    fn level_index(level: Az) -> usize {
        level as usize
    }

    #[inline]
    fn role(level: Az, key: &Key<'_>) -> Role<Az, AzField> {
        azure_role(level, key)
    }

    /// Only a claim column's key and a claim normalised when applied are read (see
    /// `inline_field_is_azure_field`, which pins this).
    #[inline(always)]
    fn reads_key(f: AzField) -> bool {
        matches!(f, AzField::ClaimColumn | AzField::Claim(ClaimTarget::Other))
    }

    /// The common fields (a plain text slot, a claim) are set here, inline in the walk;
    /// the rest go to [`azure_field`], which does exactly the same for these two.
    #[inline(always)]
    fn field(&mut self, f: AzField, key: &str, v: Leaf<'a>) {
        if let AzField::Claim(target) = f {
            claim_leaf(&mut self.ev.identity, target, key, v);
            return;
        }
        match self.text_slot(f) {
            Some(slot) => set(slot, v),
            None => azure_field(self, f, key, v),
        }
    }

    /// As [`KeyMap::field`] with `Leaf::Str(Cow::Borrowed(v))`, the string kept in
    /// registers on the common paths (pinned by `inline_field_is_azure_field`).
    #[inline(always)]
    fn field_str(&mut self, f: AzField, key: &str, v: &'a str) {
        if let AzField::Claim(target) = f {
            apply_target_str(&mut self.ev.identity, target, key, v);
            return;
        }
        match self.text_slot(f) {
            Some(slot) => {
                if slot.is_none() && !v.is_empty() {
                    *slot = Some(Cow::Borrowed(v));
                }
            }
            None => azure_field(self, f, key, Leaf::Str(Cow::Borrowed(v))),
        }
    }

    /// The numbers [`azure_field`] keeps as they are (`set_num`) are stored here, the rest
    /// go through [`KeyMap::field`] (pinned by `inline_field_is_azure_field`).
    #[inline(always)]
    fn field_u64(&mut self, f: AzField, key: &str, n: u64) {
        let slot = match f {
            AzField::HttpStatus => &mut self.http_status,
            AzField::Duration => &mut self.duration,
            _ => return self.field(f, key, Leaf::U64(n)),
        };
        if slot.is_none() {
            *slot = Some(Leaf::U64(n));
        }
    }

    #[inline]
    fn claim(&mut self, key: &str, v: Leaf<'a>) {
        azure_claim(self, key, v)
    }
}

#[cfg(test)]
mod tests;
