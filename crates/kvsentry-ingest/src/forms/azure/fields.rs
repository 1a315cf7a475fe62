//! What a value does to the event, field by field ([`azure_field`]), claims included, and
//! the mapping by path ([`map_azure`]; an `identity` given as JSON text is walked with it).

use std::borrow::Cow;

use kvsentry_json::{Key, Leaf, Role, walk_text};
use kvsentry_model::{Identity, Str};

use super::roles::{Az, AzField, azure_role};
use crate::event::Builder;
use crate::event::Nested;
use crate::event::builder::{set, set_num};
use crate::event::claims::{
    ClaimTarget, apply_claim, apply_target, apply_target_json, claim_target,
};

/// A value for an Azure field.
pub(crate) fn azure_field<'a>(b: &mut Builder<'a>, f: AzField, key: &str, v: Leaf<'a>) {
    use AzField as F;
    match f {
        F::Time => set(&mut b.time, v),
        F::Category => set(&mut b.category, v),
        F::TableType => set(&mut b.table_type, v),
        F::Operation => set(&mut b.operation, v),
        F::OperationVersion => set(&mut b.ev.operation_version, v),
        F::ResultType => set(&mut b.result_type, v),
        F::ResultSignature => set(&mut b.ev.result_signature, v),
        F::ResultDescription => set(&mut b.ev.result_description, v),
        F::Duration => set_num(&mut b.duration, v),
        F::CallerIp => set(&mut b.caller_ip, v),
        F::CorrelationId => set(&mut b.ev.correlation_id, v),
        F::ResourceId => set(&mut b.resource_id, v),
        F::ResourceIdFb => set(&mut b.resource_id_fb, v),
        F::SubscriptionId => set(&mut b.subscription_id, v),
        F::ResourceGroup => set(&mut b.resource_group, v),
        F::Resource => set(&mut b.resource_name, v),
        F::ResourceType => set(&mut b.resource_type, v),
        F::Provider => set(&mut b.provider, v),
        F::Location => set(&mut b.location, v),
        F::IdentityText => {
            if let Leaf::Str(s) = v {
                walk_nested(b, s, "identity", map_azure);
            }
        }
        F::UpnFb => {
            if let Some(t) = v.into_text()
                && t.contains('@')
            {
                b.upn_fb.get_or_insert(t);
            }
        }
        F::ClaimColumn => {
            // `key` is `identity_claim_<k>`: ASCII up to there, a char boundary.
            let k = key.get(15..).unwrap_or("");
            let (k, is_string) = strip_type_suffix(k);
            if let Some(t) = v.into_text() {
                claim_column(&mut b.ev.identity, k, is_string, t);
            }
        }
        F::ClientInfo => set(&mut b.client_info, v),
        F::RequestUri => set(&mut b.ev.request_uri, v),
        F::ObjectId => set(&mut b.ev.object_id, v),
        F::HttpStatus => set_num(&mut b.http_status, v),
        F::TlsVersion => set(&mut b.ev.tls_version, v),
        F::Records => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Records);
            }
        }
        F::Tables => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Tables);
            }
        }
        F::HitsHits => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        F::Claim(target) => claim_leaf(&mut b.ev.identity, target, key, v),
    }
}

/// A claim from a leaf: strings and numbers as text, an array or an object as JSON text that
/// keeps its type (see `Identity::other_json`).
#[inline(always)]
pub(crate) fn claim_leaf<'a>(id: &mut Identity<'a>, target: ClaimTarget, key: &str, v: Leaf<'a>) {
    // One call of each: this is inlined into the walk's member loop.
    let t = match v {
        Leaf::Str(s) => s,
        Leaf::Json(j) => return apply_target_json(id, target, key, Cow::Owned(j)),
        v => match v.into_text() {
            Some(t) => t,
            None => return,
        },
    };
    apply_target(id, target, key, t);
}

/// The value of an `AzureDiagnostics` claim column (`k` without `identity_claim_` and type).
pub(super) fn claim_column<'a>(id: &mut Identity<'a>, k: &str, is_string: bool, t: Str<'a>) {
    // az cli prints a null typed column as "None".
    if !is_string && t == "None" {
        return;
    }
    // The table flattens an array claim into its JSON text in a string column: typed again,
    // so the record reads as in the other forms.
    if is_string && t.starts_with('[') && t.ends_with(']') {
        apply_target_json(id, claim_target(k), k, t);
    } else {
        apply_claim(id, k, t);
    }
}

/// The claim key of an `AzureDiagnostics` column (`identity_claim_<key>_<type>`), without its
/// type suffix, and whether that type is a string (`_s`).
pub(super) fn strip_type_suffix(k: &str) -> (&str, bool) {
    let b = k.as_bytes();
    if b.len() > 2 && b[b.len() - 2] == b'_' {
        // The keyed walk hands the key in its own case.
        let t = b[b.len() - 1].to_ascii_lowercase();
        if matches!(t, b's' | b'g' | b'd' | b'b' | b't') {
            return (&k[..k.len() - 2], t == b's');
        }
    }
    (k, true)
}

/// Walks a JSON-encoded string (Managed HSM's and CSV's `identity`) under `prefix`.
pub(super) fn walk_nested<'a>(
    b: &mut Builder<'a>,
    s: Cow<'a, str>,
    prefix: &str,
    map: fn(&mut Builder<'a>, &str, Leaf<'a>),
) {
    if !s.trim_start().starts_with('{') {
        return;
    }
    // A broken encoded identity leaves the identity empty; the record itself is still good.
    let _ = match s {
        Cow::Borrowed(text) => walk_text(text, prefix, &mut |p, l| map(b, p, l)),
        Cow::Owned(text) => walk_text(&text, prefix, &mut |p, l| map(b, p, l.into_owned())),
    };
}

/// A value under `identity.claim` (`key` in any case: [`claim_target`] normalises it).
pub(crate) fn azure_claim<'a>(b: &mut Builder<'a>, key: &str, v: Leaf<'a>) {
    claim_leaf(&mut b.ev.identity, claim_target(key), key, v);
}

/// Azure Monitor resource logs and the Log Analytics tables, by path (`path` is lower case;
/// see [`kvsentry_json::walk_text`]): the path's segments are looked up level by level in
/// [`azure_role`], as the keyed walk looks up keys.
pub(crate) fn map_azure<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    if path.is_empty() {
        b.not_object = true;
        return;
    }
    let mut level = Az::Top;
    let mut rest = path;
    loop {
        let (seg, more) = match rest.split_once('.') {
            Some((s, m)) => (s, Some(m)),
            None => (rest, None),
        };
        match azure_role(level, &Key::new(seg)) {
            Role::Field(f) => {
                if more.is_none() {
                    azure_field(b, f, seg, v);
                }
                return;
            }
            // The claim column's key runs to the end of the path, dots and all.
            Role::FieldFlat(f) => return azure_field(b, f, rest, v),
            Role::Both(f, l) => match more {
                None => return azure_field(b, f, seg, v),
                Some(m) => (level, rest) = (l, m),
            },
            Role::Enter(l) => match more {
                None => return,
                Some(m) => (level, rest) = (l, m),
            },
            // The claim key runs to the end of the path, dots and all.
            Role::Claim(_) => return azure_claim(b, rest, v),
            Role::Ignore | Role::Unsure => return,
        }
    }
}
