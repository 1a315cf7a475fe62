//! The one mapping from token-claim keys (in every spelling) to [`Identity`] fields.
//!
//! The same claim reaches us under many spellings: short (`upn`, `oid`) in data-plane
//! records, long URIs (`http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn`) in vault
//! operations, flattened with `_` by `AzureDiagnostics` (`identity_claim_http_schemas_..._upn_s`),
//! nested by Managed HSM (`http_schemas_microsoft_com_identity: {claims: {objectidentifier}}`)
//! and dotted by Elastic. Every reader reduces the key to one normal spelling (lower case, each
//! run of non-alphanumerics one `_`) and calls [`apply_claim`], so a rule sees one field
//! whatever the form.

use std::borrow::Cow;

use kvsentry_model::{Identity, Str};

/// Lower case, each run of characters other than ASCII letters and digits (`://`, `/`, `.`)
/// replaced by one `_`, no `_` at either end. Borrows when the key is already normal.
pub(crate) fn normalize_claim_key(key: &str) -> Cow<'_, str> {
    let b = key.as_bytes();
    let is_normal = !b.is_empty()
        && b.first() != Some(&b'_')
        && b.last() != Some(&b'_')
        && b.windows(2).all(|w| !(w[0] == b'_' && w[1] == b'_'))
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if is_normal {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut pending_sep = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_sep && !out.is_empty() {
                out.push('_');
            }
            pending_sep = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_sep = true;
        }
    }
    Cow::Owned(out)
}

/// Claim keys kept in `other` often enough to be worth not allocating for.
const COMMON_OTHER: &[&str] = &[
    "iss",
    "aud",
    "iat",
    "nbf",
    "exp",
    "uti",
    "ver",
    "acr",
    "aio",
    "rh",
    "sub",
    "home_oid",
    "xms_az_nwperimid",
    "xms_az_rid",
    "xms_idrel",
    "xms_tcdt",
    "xms_cc",
    "wids",
    "groups",
    "family_name",
    "given_name",
    "puid",
    "altsecid",
    "idp",
    "deviceid",
    "onprem_sid",
    "acrs",
    "http_schemas_microsoft_com_claims_authnclassreference",
    "http_schemas_microsoft_com_identity_claims_identityprovider",
];

/// `a == b` without a call to `memcmp`: the keys compared are a few bytes long, and every
/// record compares dozens of them.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The index in [`COMMON_OTHER`] of a common `other` key (the table has fewer than 256).
fn common_index(norm: &[u8]) -> Option<u8> {
    COMMON_OTHER
        .iter()
        .position(|k| same(k.as_bytes(), norm))
        .and_then(|i| u8::try_from(i).ok())
}

/// True when [`normalize_claim_key`] would return `key` unchanged: lower-case letters, digits
/// and single `_` between them. One pass, no copy.
fn is_normal(key: &[u8]) -> bool {
    // Starting as if after a `_` refuses a leading one; ending on one refuses a trailing one
    // (and the empty key).
    let mut after_sep = true;
    for &c in key {
        if c == b'_' {
            if after_sep {
                return false;
            }
            after_sep = true;
        } else if c.is_ascii_lowercase() || c.is_ascii_digit() {
            after_sep = false;
        } else {
            return false;
        }
    }
    !after_sep
}

/// Longest key normalised on the stack by [`apply_claim`]; longer ones allocate.
const STACK_KEY: usize = 128;

/// [`normalize_claim_key`] into a stack buffer, in one pass: claim keys come with every
/// record and the long URI spellings would otherwise allocate each time. `None` when the
/// key does not fit. Bytes, not `str`: the result is ASCII and is only compared.
fn normalize_into<'b>(key: &str, buf: &'b mut [u8; STACK_KEY]) -> Option<&'b [u8]> {
    let mut n = 0usize;
    let mut pending_sep = false;
    for &c in key.as_bytes() {
        if c.is_ascii_alphanumeric() {
            if pending_sep && n > 0 {
                *buf.get_mut(n)? = b'_';
                n += 1;
            }
            pending_sep = false;
            *buf.get_mut(n)? = c.to_ascii_lowercase();
            n += 1;
        } else {
            pending_sep = true;
        }
    }
    buf.get(..n)
}

/// Applies one claim to `id`. `key` may be in any spelling (see the module doc); empty values
/// are ignored. `appid` wins over `azp`, whatever their order; claims without a field of
/// their own go to `other` under their normal key.
pub(crate) fn apply_claim<'a>(id: &mut Identity<'a>, key: &str, value: Str<'a>) {
    apply_target(id, claim_target(key), key, value);
}

/// Where a claim key leads, decided from the key alone: [`apply_claim`] in two halves, so
/// that a reader meeting the same key record after record decides once (the keyed walk keeps
/// it with the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimTarget {
    /// A field of its own (or none, for the empty key).
    Slot(Slot),
    /// `other`, under the common normal key `COMMON_OTHER[i]` (an index, not the text, so
    /// that a role is a few bytes, copied in a register by the walk).
    Common(u8),
    /// `other` under a key to be normalised from the claim key when applied.
    Other,
}

/// The first half of [`apply_claim`]: where `key` leads.
pub(crate) fn claim_target(key: &str) -> ClaimTarget {
    let raw = key.as_bytes();
    // A key spelled as one of the fields' own (normal) keys, as data-plane tokens' `oid`,
    // `appid` are, needs no normal-form check: it is its own normal form.
    match slot_of(raw) {
        Slot::Other => {}
        slot => return ClaimTarget::Slot(slot),
    }
    if is_normal(raw) {
        return match common_index(raw) {
            Some(i) => ClaimTarget::Common(i),
            None => ClaimTarget::Other,
        };
    }
    let mut buf = [0u8; STACK_KEY];
    let long;
    let norm = match normalize_into(key, &mut buf) {
        Some(n) => n,
        None => {
            long = normalize_claim_key(key);
            long.as_bytes()
        }
    };
    match slot_of(norm) {
        Slot::Other => match common_index(norm) {
            Some(i) => ClaimTarget::Common(i),
            None => ClaimTarget::Other,
        },
        slot => ClaimTarget::Slot(slot),
    }
}

/// The second half of [`apply_claim`]: applies a claim to `id` where `target` (from
/// [`claim_target`] of this `key`) says.
pub(crate) fn apply_target<'a>(
    id: &mut Identity<'a>,
    target: ClaimTarget,
    key: &str,
    value: Str<'a>,
) {
    if value.is_empty() {
        return;
    }
    let Some(value) = apply_known(id, target, value) else {
        return;
    };
    put_other(id, other_key(key), value);
}

/// [`apply_target`] for a value that is JSON text (an array or an object): a claim without a field of its
/// own keeps it as JSON (marked in `Identity::other_json`); a field of its own takes it as
/// text. Apart from [`apply_target`] (and not inlined into the walk) so that string claims,
/// nearly all, pay nothing for it.
#[inline(never)]
pub(crate) fn apply_target_json<'a>(
    id: &mut Identity<'a>,
    target: ClaimTarget,
    key: &str,
    value: Str<'a>,
) {
    if value.is_empty() {
        return;
    }
    match target {
        ClaimTarget::Slot(_) => apply_target(id, target, key, value),
        ClaimTarget::Common(i) => {
            if let Some(k) = COMMON_OTHER.get(usize::from(i)) {
                put_other_json(id, Cow::Borrowed(k), value);
            }
        }
        ClaimTarget::Other => put_other_json(id, other_key(key), value),
    }
}

/// The normal key of a claim kept in `other` under its own key.
fn other_key(key: &str) -> Str<'static> {
    let mut buf = [0u8; STACK_KEY];
    let long;
    let norm: &[u8] = if is_normal(key.as_bytes()) {
        key.as_bytes()
    } else {
        match normalize_into(key, &mut buf) {
            Some(n) => n,
            None => {
                long = normalize_claim_key(key);
                long.as_bytes()
            }
        }
    };
    // ASCII letters, digits and `_` only: nothing is replaced.
    Cow::Owned(String::from_utf8_lossy(norm).into_owned())
}

/// [`apply_target`] with `Cow::Borrowed(value)`: the value comes in registers and the
/// event's slots are written from them. Why: a `Cow` passed by reference was written a
/// word at a time by the walk and read back sixteen bytes at a time here (a store-forwarding
/// stall per claim, half of this function's time in perf).
#[inline]
pub(crate) fn apply_target_str<'a>(
    id: &mut Identity<'a>,
    target: ClaimTarget,
    key: &str,
    value: &'a str,
) {
    if value.is_empty() {
        return;
    }
    if let Some(value) = apply_known(id, target, value) {
        apply_target(id, target, key, Cow::Borrowed(value));
    }
}

/// A claim with a field of its own or a common key, applied from a value of either kind
/// (made a `Str` only where it is stored); the value back for any other claim, whose key
/// must be normalised first.
#[inline(always)]
fn apply_known<'a, V: Into<Str<'a>>>(
    id: &mut Identity<'a>,
    target: ClaimTarget,
    value: V,
) -> Option<V> {
    match target {
        ClaimTarget::Slot(slot) => {
            if let Some((field, first_wins)) = slot_field(id, slot)
                && !(first_wins && field.is_some())
            {
                *field = Some(value.into());
            }
        }
        ClaimTarget::Common(i) => {
            if let Some(k) = COMMON_OTHER.get(usize::from(i)) {
                put_other(id, Cow::Borrowed(k), value.into());
            }
        }
        ClaimTarget::Other => return Some(value),
    }
    None
}

/// The field of a claim with one of its own, and whether its first value wins (`azp`,
/// which only stands in for a missing `appid`); `None` for none.
#[inline(always)]
fn slot_field<'i, 'a>(
    id: &'i mut Identity<'a>,
    slot: Slot,
) -> Option<(&'i mut Option<Str<'a>>, bool)> {
    Some(match slot {
        Slot::Upn => (&mut id.upn, false),
        Slot::ObjectId => (&mut id.object_id, false),
        Slot::AppId => (&mut id.app_id, false),
        Slot::Azp => (&mut id.app_id, true),
        Slot::IdentityType => (&mut id.identity_type, false),
        Slot::UniqueName => (&mut id.unique_name, false),
        Slot::Name => (&mut id.name, false),
        Slot::TenantId => (&mut id.tenant_id, false),
        Slot::IpClaim => (&mut id.ip_claim, false),
        Slot::ManagedIdentity => (&mut id.managed_identity_id, false),
        Slot::AppIdAcr => (&mut id.app_id_acr, false),
        Slot::Scope => (&mut id.scope, false),
        Slot::AuthMethods => (&mut id.auth_methods, false),
        Slot::Empty | Slot::Other => return None,
    })
}

/// A claim without a field of its own, under its normal key `k`: the last value wins.
fn put_other<'a>(id: &mut Identity<'a>, k: Str<'a>, value: Str<'a>) {
    if let Some(e) = id
        .other
        .iter_mut()
        .find(|(ek, _)| same(ek.as_bytes(), k.as_bytes()))
    {
        e.1 = value;
        if id.other_json != 0 {
            unmark_json(id, k.as_bytes());
        }
    } else {
        if id.other.capacity() == 0 {
            // Tokens carry a handful of such claims: grow once, not three times.
            id.other.reserve(8);
        }
        id.other.push((k, value));
    }
}

/// A string after an array under the same key `k` (rare): the last value's type wins too.
/// Out of line, so that [`put_other`] stays small enough to be inlined into the walk.
#[cold]
#[inline(never)]
fn unmark_json(id: &mut Identity<'_>, k: &[u8]) {
    if let Some(i) = id.other.iter().position(|(ek, _)| same(ek.as_bytes(), k)) {
        id.set_other_json(i, false);
    }
}

/// [`put_other`] for a value that is JSON text, marked so in `Identity::other_json`.
fn put_other_json<'a>(id: &mut Identity<'a>, k: Str<'a>, value: Str<'a>) {
    let i = match id
        .other
        .iter()
        .position(|(ek, _)| same(ek.as_bytes(), k.as_bytes()))
    {
        Some(i) => {
            if let Some(e) = id.other.get_mut(i) {
                e.1 = value;
            }
            i
        }
        None => {
            id.other.push((k, value));
            id.other.len() - 1
        }
    };
    id.set_other_json(i, true);
}

/// Where a claim goes, by its normal key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Upn,
    ObjectId,
    AppId,
    Azp,
    IdentityType,
    UniqueName,
    Name,
    TenantId,
    IpClaim,
    ManagedIdentity,
    AppIdAcr,
    Scope,
    AuthMethods,
    Empty,
    Other,
}

/// The claim keys with a field of their own, in normal form (the one table of them).
fn slot_of(norm: &[u8]) -> Slot {
    match norm {
        b"upn" | b"http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn" => Slot::Upn,
        b"oid" | b"http_schemas_microsoft_com_identity_claims_objectidentifier" => Slot::ObjectId,
        b"appid" => Slot::AppId,
        b"azp" => Slot::Azp,
        b"idtyp" => Slot::IdentityType,
        b"unique_name" => Slot::UniqueName,
        b"name" | b"http_schemas_xmlsoap_org_ws_2005_05_identity_claims_name" => Slot::Name,
        b"tid" | b"http_schemas_microsoft_com_identity_claims_tenantid" => Slot::TenantId,
        b"ipaddr" => Slot::IpClaim,
        b"xms_mirid" => Slot::ManagedIdentity,
        b"appidacr" => Slot::AppIdAcr,
        b"scp" | b"http_schemas_microsoft_com_identity_claims_scope" => Slot::Scope,
        b"amr" | b"http_schemas_microsoft_com_claims_authnmethodsreferences" => Slot::AuthMethods,
        b"" => Slot::Empty,
        _ => Slot::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_every_spelling() {
        assert!(matches!(normalize_claim_key("upn"), Cow::Borrowed("upn")));
        let long = "http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn";
        assert_eq!(
            normalize_claim_key("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"),
            long
        );
        assert_eq!(
            normalize_claim_key("http_schemas_xmlsoap_org_ws_2005_05_identity.claims.upn"),
            long
        );
        assert_eq!(
            normalize_claim_key("http://schemas.xmlsoap.org.ws.2005.05.identity/claims/upn"),
            long
        );
        assert_eq!(normalize_claim_key("Unique_Name"), "unique_name");
        assert_eq!(normalize_claim_key("_x__y_"), "x_y");
        for key in [
            "upn",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "Unique_Name",
            "_x__y_",
            "é.a-b",
            "",
            "__",
        ] {
            let mut buf = [0u8; STACK_KEY];
            assert_eq!(
                normalize_into(key, &mut buf),
                Some(normalize_claim_key(key).as_bytes()),
                "{key}"
            );
        }
        for key in [
            "upn", "x_y", "a1", "_x", "x_", "x__y", "", "_", "Upn", "a.b", "é", "9",
        ] {
            assert_eq!(
                is_normal(key.as_bytes()),
                matches!(normalize_claim_key(key), Cow::Borrowed(_)),
                "{key}"
            );
        }
        let long = "a".repeat(STACK_KEY + 1);
        assert_eq!(normalize_into(&long, &mut [0u8; STACK_KEY]), None);
    }

    #[test]
    fn maps_short_and_long_keys_to_the_same_fields() {
        let mut a = Identity::default();
        apply_claim(&mut a, "upn", "u@contoso.com".into());
        apply_claim(&mut a, "oid", "o-1".into());
        apply_claim(&mut a, "tid", "t-1".into());
        apply_claim(&mut a, "name", "U".into());
        let mut b = Identity::default();
        apply_claim(
            &mut b,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "u@contoso.com".into(),
        );
        apply_claim(
            &mut b,
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "o-1".into(),
        );
        apply_claim(
            &mut b,
            "http://schemas.microsoft.com/identity/claims/tenantid",
            "t-1".into(),
        );
        apply_claim(
            &mut b,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "U".into(),
        );
        for id in [&a, &b] {
            assert_eq!(id.upn.as_deref(), Some("u@contoso.com"));
            assert_eq!(id.object_id.as_deref(), Some("o-1"));
            assert_eq!(id.tenant_id.as_deref(), Some("t-1"));
            assert_eq!(id.name.as_deref(), Some("U"));
            assert!(id.other.is_empty());
        }
    }

    #[test]
    fn other_fields_and_precedence() {
        let mut id = Identity::default();
        apply_claim(&mut id, "azp", "azp-app".into());
        apply_claim(&mut id, "appid", "real-app".into());
        apply_claim(&mut id, "azp", "azp-again".into());
        assert_eq!(id.app_id.as_deref(), Some("real-app"));
        apply_claim(&mut id, "idtyp", "app".into());
        apply_claim(&mut id, "ipaddr", "104.40.82.76".into());
        apply_claim(&mut id, "xms_mirid", "/subscriptions/s/x".into());
        apply_claim(&mut id, "appidacr", "1".into());
        apply_claim(&mut id, "scp", "user_impersonation".into());
        apply_claim(&mut id, "amr", "pwd".into());
        apply_claim(&mut id, "unique_name", "un".into());
        apply_claim(&mut id, "xms_az_nwperimid", "[]".into());
        apply_claim(&mut id, "iss", "https://sts/".into());
        apply_claim(&mut id, "Custom.Claim", "v".into());
        apply_claim(&mut id, "upn", "".into());
        assert_eq!(id.identity_type.as_deref(), Some("app"));
        assert_eq!(id.ip_claim.as_deref(), Some("104.40.82.76"));
        assert_eq!(
            id.managed_identity_id.as_deref(),
            Some("/subscriptions/s/x")
        );
        assert_eq!(id.app_id_acr.as_deref(), Some("1"));
        assert_eq!(id.scope.as_deref(), Some("user_impersonation"));
        assert_eq!(id.auth_methods.as_deref(), Some("pwd"));
        assert_eq!(id.unique_name.as_deref(), Some("un"));
        assert_eq!(id.upn, None);
        let other: Vec<(&str, &str)> = id.other.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            other,
            [
                ("xms_az_nwperimid", "[]"),
                ("iss", "https://sts/"),
                ("custom_claim", "v")
            ]
        );
        assert!(matches!(id.other[0].0, Cow::Borrowed(_)));
    }

    /// Any spelling of a key lands where its normal form lands, whether or not the raw key
    /// is looked up first.
    #[test]
    fn every_spelling_lands_with_its_normal_form() {
        let keys = [
            "upn",
            "UPN",
            "Upn",
            "oid",
            "OID",
            "appid",
            "AppId",
            "azp",
            "idtyp",
            "unique_name",
            "Unique-Name",
            "_unique_name_",
            "name",
            "tid",
            "ipaddr",
            "xms_mirid",
            "XMS.MIRID",
            "appidacr",
            "scp",
            "amr",
            "iss",
            "ISS",
            "aud",
            "custom",
            "Custom.Claim",
            "",
            "_",
            "é",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "http_schemas_microsoft_com_identity_claims_objectidentifier",
            "http://schemas.microsoft.com/identity/claims/tenantid",
            "http://schemas.microsoft.com/claims/authnmethodsreferences",
        ];
        for k in keys {
            let mut raw = Identity::default();
            apply_claim(&mut raw, k, "v".into());
            let mut normal = Identity::default();
            apply_claim(&mut normal, &normalize_claim_key(k), "v".into());
            assert_eq!(format!("{raw:?}"), format!("{normal:?}"), "{k}");
        }
        let mut id = Identity::default();
        apply_claim(&mut id, "UPN", "a".into());
        apply_claim(&mut id, "ISS", "i".into());
        apply_claim(&mut id, "iss", "j".into());
        assert_eq!(id.upn.as_deref(), Some("a"));
        assert_eq!(id.other, vec![(Cow::Borrowed("iss"), Cow::Borrowed("j"))]);
    }

    /// `apply_claim` before it was split in two (`claim_target`, `apply_target`): the
    /// reference the halves must match.
    fn reference_other_key<'a>(norm: &[u8]) -> Str<'a> {
        match COMMON_OTHER.iter().find(|k| k.as_bytes() == norm) {
            Some(k) => Cow::Borrowed(k),
            // ASCII letters, digits and `_` only: nothing is replaced.
            None => Cow::Owned(String::from_utf8_lossy(norm).into_owned()),
        }
    }

    fn reference_apply_claim<'a>(id: &mut Identity<'a>, key: &str, value: Str<'a>) {
        if value.is_empty() {
            return;
        }
        let mut buf: [u8; STACK_KEY];
        let long;
        let norm: &[u8] = if is_normal(key.as_bytes()) {
            // The short keys of data-plane tokens (`oid`, `appid`, `iss`): used as they are.
            key.as_bytes()
        } else {
            buf = [0u8; STACK_KEY];
            match normalize_into(key, &mut buf) {
                Some(n) => n,
                None => {
                    long = normalize_claim_key(key);
                    long.as_bytes()
                }
            }
        };
        let slot = match norm {
            b"upn" | b"http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn" => &mut id.upn,
            b"oid" | b"http_schemas_microsoft_com_identity_claims_objectidentifier" => {
                &mut id.object_id
            }
            b"appid" => &mut id.app_id,
            b"azp" => {
                if id.app_id.is_none() {
                    id.app_id = Some(value);
                }
                return;
            }
            b"idtyp" => &mut id.identity_type,
            b"unique_name" => &mut id.unique_name,
            b"name" | b"http_schemas_xmlsoap_org_ws_2005_05_identity_claims_name" => &mut id.name,
            b"tid" | b"http_schemas_microsoft_com_identity_claims_tenantid" => &mut id.tenant_id,
            b"ipaddr" => &mut id.ip_claim,
            b"xms_mirid" => &mut id.managed_identity_id,
            b"appidacr" => &mut id.app_id_acr,
            b"scp" | b"http_schemas_microsoft_com_identity_claims_scope" => &mut id.scope,
            b"amr" | b"http_schemas_microsoft_com_claims_authnmethodsreferences" => {
                &mut id.auth_methods
            }
            b"" => return,
            _ => {
                if let Some(e) = id.other.iter_mut().find(|(ek, _)| ek.as_bytes() == norm) {
                    e.1 = value;
                } else {
                    if id.other.capacity() == 0 {
                        // Tokens carry a handful of such claims: grow once, not three times.
                        id.other.reserve(8);
                    }
                    id.other.push((reference_other_key(norm), value));
                }
                return;
            }
        };
        *slot = Some(value);
    }

    /// The split claim mapping gives what the whole one gave, key by key and in sequence
    /// (duplicates, `azp` after `appid`, common and uncommon `other` keys, long keys).
    #[test]
    fn split_claim_mapping_matches_the_whole_one() {
        let long = format!("x{}", "_Y".repeat(STACK_KEY));
        let keys = [
            "upn",
            "UPN",
            "oid",
            "appid",
            "azp",
            "AZP",
            "idtyp",
            "unique_name",
            "name",
            "tid",
            "ipaddr",
            "xms_mirid",
            "appidacr",
            "scp",
            "amr",
            "iss",
            "ISS",
            "aud",
            "iat",
            "nbf",
            "exp",
            "wids",
            "groups",
            "custom",
            "Custom.Claim",
            "custom_claim",
            "",
            "_",
            "é",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            "http://schemas.microsoft.com/claims/authnclassreference",
            "http_schemas_microsoft_com_identity_claims_identityprovider",
            &long,
        ];
        let values = ["v1", "", "v2"];
        let (mut old, mut new) = (Identity::default(), Identity::default());
        let mut by_str = Identity::default();
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                let v = values[(i + round) % values.len()];
                let (mut o1, mut n1) = (Identity::default(), Identity::default());
                reference_apply_claim(&mut o1, k, v.into());
                apply_target(&mut n1, claim_target(k), k, v.into());
                assert_eq!(format!("{o1:?}"), format!("{n1:?}"), "{k}");
                let mut s1 = Identity::default();
                apply_target_str(&mut s1, claim_target(k), k, v);
                assert_eq!(format!("{o1:?}"), format!("{s1:?}"), "{k}");
                reference_apply_claim(&mut old, k, v.into());
                apply_claim(&mut new, k, v.into());
                apply_target_str(&mut by_str, claim_target(k), k, v);
            }
        }
        assert_eq!(format!("{old:?}"), format!("{new:?}"));
        assert_eq!(format!("{old:?}"), format!("{by_str:?}"));
        assert!(old.other.len() > 5 && old.upn.is_some());
    }
}
