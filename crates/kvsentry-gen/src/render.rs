//! Pieces every form shares: the values of one record (signature, description, URIs,
//! claims, client info), rendered straight into a byte buffer.

use crate::event::{EventRef, RecordKind};
use crate::fmt::{push_hex, push_json_body, push_u64};
use crate::ops::{Op, Shape, Target};
use crate::rng::mix;
use crate::world::{CLIENTS, Kind, WORKLOAD_AGENTS};

pub const DATA_API: [&str; 4] = ["7.4", "7.5", "7.3", "7.0"];
pub const MGMT_API: [&str; 4] = [
    "2023-07-01",
    "2022-07-01",
    "2021-06-01-preview",
    "2023-07-01",
];

pub fn operation_version(ev: &EventRef) -> &'static str {
    let i = usize::from(ev.ev.api) % 4;
    if ev.ev.op.is_management() {
        MGMT_API[i]
    } else {
        DATA_API[i]
    }
}

pub fn result_signature(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "TooManyRequests",
        _ => "OK",
    }
}

/// `resultType` is "Success" even for 401, 403, 404 and 429 in Key Vault records.
pub const RESULT_TYPE: &str = "Success";

/// Certificate issuers a vault has configured (names are the vault owner's choice).
pub const ISSUERS: [&str; 3] = ["digicert-ov", "globalsign-ev", "contoso-internal-ca"];

/// The object's name for the event, when the operation addresses one.
pub fn object_name<'w>(ev: &EventRef<'w>) -> &'w str {
    let v = ev.vault();
    let i = usize::from(ev.ev.object);
    match ev.ev.op {
        Op::CertificateIssuerGet => return ISSUERS[i % ISSUERS.len()],
        Op::CertificateContactsGet => return "",
        _ => {}
    }
    match ev.ev.op.target() {
        Target::Secret => v.secrets.get(i % v.secrets.len().max(1)).map_or("", |s| s),
        Target::Key => v.keys.get(i % v.keys.len().max(1)).map_or("", |k| &k.0),
        Target::Certificate => v.certs.get(i % v.certs.len().max(1)).map_or("", |s| s),
        Target::Vault => "",
    }
}

/// Stable 128-bit version of an object (same secret, same version across events).
fn object_version(ev: &EventRef) -> u128 {
    let a = mix(
        u64::from(ev.ev.vault) << 20 | u64::from(ev.ev.object),
        ev.ev.op.target() as u64,
    );
    u128::from(a) << 64 | u128::from(mix(a, 7))
}

fn push_vault_url(buf: &mut Vec<u8>, ev: &EventRef) {
    buf.extend_from_slice(b"https://");
    buf.extend_from_slice(ev.vault().name.as_bytes());
    buf.extend_from_slice(if ev.ev.kind == RecordKind::ManagedHsm {
        b".managedhsm.azure.net/"
    } else {
        b".vault.azure.net/"
    });
}

/// `properties.requestUri` (already JSON- and CSV-safe).
pub fn push_request_uri(buf: &mut Vec<u8>, ev: &EventRef) {
    let op = ev.ev.op;
    if op.shape() == Shape::Management {
        let v = ev.vault();
        buf.extend_from_slice(b"https://management.azure.com/subscriptions/");
        buf.extend_from_slice(v.sub.as_bytes());
        buf.extend_from_slice(b"/resourceGroups/");
        buf.extend_from_slice(v.rg.as_bytes());
        buf.extend_from_slice(b"/providers/Microsoft.KeyVault/vaults/");
        buf.extend_from_slice(v.name.as_bytes());
    } else {
        push_vault_url(buf, ev);
        buf.extend_from_slice(op.collection().as_bytes());
        let name = object_name(ev);
        match op.shape() {
            Shape::Object | Shape::ObjectNoVersion => {
                buf.push(b'/');
                buf.extend_from_slice(name.as_bytes());
                buf.push(b'/');
            }
            Shape::Versions => {
                buf.push(b'/');
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(b"/versions");
            }
            Shape::Crypto(suffix) => {
                buf.push(b'/');
                buf.extend_from_slice(name.as_bytes());
                buf.push(b'/');
                push_hex(buf, object_version(ev), 32, false);
                buf.push(b'/');
                buf.extend_from_slice(suffix.as_bytes());
            }
            Shape::Policy => {
                buf.push(b'/');
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(b"/policy");
            }
            Shape::Collection | Shape::Deleted | Shape::Fixed | Shape::Management => {}
        }
    }
    buf.extend_from_slice(b"?api-version=");
    buf.extend_from_slice(operation_version(ev).as_bytes());
    if matches!(op.shape(), Shape::Collection) && ev.ev.agent_variant < 3 {
        buf.extend_from_slice(b"&maxresults=25");
    }
}

/// `properties.id` when the record has one (returns false and writes nothing otherwise).
pub fn push_object_id(buf: &mut Vec<u8>, ev: &EventRef) -> bool {
    let op = ev.ev.op;
    if op == Op::Authentication || ev.ev.status == 401 {
        return false;
    }
    match op.shape() {
        Shape::Collection | Shape::Deleted => false,
        Shape::Management => {
            push_vault_url(buf, ev);
            true
        }
        Shape::Fixed => {
            push_vault_url(buf, ev);
            buf.extend_from_slice(op.collection().as_bytes());
            true
        }
        shape => {
            push_vault_url(buf, ev);
            buf.extend_from_slice(op.collection().as_bytes());
            buf.push(b'/');
            buf.extend_from_slice(object_name(ev).as_bytes());
            match shape {
                Shape::Object | Shape::Crypto(_) if ev.ev.status == 200 => {
                    buf.push(b'/');
                    push_hex(buf, object_version(ev), 32, false);
                }
                Shape::Policy => buf.extend_from_slice(b"/policy"),
                _ => {}
            }
            true
        }
    }
}

/// `properties.clientInfo`: a user agent, or (for some workloads) their application GUID.
pub fn client_info<'w>(ev: &EventRef<'w>) -> &'w str {
    let variant = usize::from(ev.ev.agent_variant);
    match ev.world.idents.get(ev.ev.ident as usize) {
        Some(i) if i.kind == Kind::User => {
            let c = &CLIENTS[i.client % CLIENTS.len()];
            if ev.ev.op.is_management() && i.client == 1 {
                "azure-resource-manager/2.0"
            } else {
                // Mostly the user's usual agent, now and then another version of it.
                let k = if variant == 0 { i.agent + 1 } else { i.agent };
                c.agents[k % c.agents.len()]
            }
        }
        Some(i) if i.guid_client_info => &i.app_id,
        Some(i) => WORKLOAD_AGENTS[i.agent % WORKLOAD_AGENTS.len()],
        None => WORKLOAD_AGENTS[variant % WORKLOAD_AGENTS.len()],
    }
}

pub fn tls_version(ev: &EventRef) -> &'static str {
    if ev.ev.tls13 { "TLS1_3" } else { "TLS1_2" }
}

/// `resultDescription` for failures (absent on success). Some span lines, as real ones do.
pub fn push_description(buf: &mut Vec<u8>, ev: &EventRef) -> bool {
    match ev.ev.status {
        403 => {
            let (app, oid) = ev
                .world
                .idents
                .get(ev.ev.ident as usize)
                .map_or(("", ""), |i| (i.app_id.as_str(), i.oid.as_str()));
            buf.extend_from_slice(b"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=");
            buf.extend_from_slice(app.as_bytes());
            buf.extend_from_slice(b";oid=");
            buf.extend_from_slice(oid.as_bytes());
            buf.extend_from_slice(b"\r\nAction: 'Microsoft.KeyVault/vaults/");
            buf.extend_from_slice(ev.ev.op.collection().as_bytes());
            buf.extend_from_slice(b"/readMetadata/action'\r\nResource: '");
            buf.extend_from_slice(ev.vault().resource_id_lower.as_bytes());
            buf.extend_from_slice(b"'");
            true
        }
        404 => {
            let what: &[u8] = match ev.ev.op.target() {
                _ if ev.ev.op == Op::CertificateContactsGet => b"Contacts not found",
                _ if ev.ev.op == Op::CertificateIssuerGet => b"Issuer not found: ",
                Target::Key => b"Key not found: ",
                Target::Certificate => b"Certificate not found: ",
                _ => b"Secret not found: ",
            };
            buf.extend_from_slice(what);
            buf.extend_from_slice(object_name(ev).as_bytes());
            true
        }
        429 => {
            buf.extend_from_slice(b"Rate limit is exceeded. Try again in ");
            push_u64(buf, u64::from(ev.ev.agent_variant) + 1);
            buf.extend_from_slice(b" seconds.");
            true
        }
        _ => false,
    }
}

/// A claim key of the identity tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Oid,
    AppId,
    AppIdAcr,
    Scp,
    Upn,
    IpAddr,
    UniqueName,
    Amr,
    IdTyp,
    XmsMirid,
    XmsAzNwperimid,
    Iss,
    Aud,
    Iat,
    Nbf,
    Exp,
    LongObjectId,
    LongUpn,
    LongName,
}

impl Claim {
    /// Key in the `claim` object.
    pub fn key(self) -> &'static str {
        match self {
            Claim::Oid => "oid",
            Claim::AppId => "appid",
            Claim::AppIdAcr => "appidacr",
            Claim::Scp => "scp",
            Claim::Upn => "upn",
            Claim::IpAddr => "ipaddr",
            Claim::UniqueName => "unique_name",
            Claim::Amr => "amr",
            Claim::IdTyp => "idtyp",
            Claim::XmsMirid => "xms_mirid",
            Claim::XmsAzNwperimid => "xms_az_nwperimid",
            Claim::Iss => "iss",
            Claim::Aud => "aud",
            Claim::Iat => "iat",
            Claim::Nbf => "nbf",
            Claim::Exp => "exp",
            Claim::LongObjectId => "http://schemas.microsoft.com/identity/claims/objectidentifier",
            Claim::LongUpn => "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            Claim::LongName => "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        }
    }

    /// AzureDiagnostics column (`identity_claim_` + key with non-alphanumerics as `_` + type
    /// suffix), `None` for claims the table export leaves out.
    pub fn diag_column(self) -> Option<&'static str> {
        Some(match self {
            Claim::Oid => "identity_claim_oid_g",
            Claim::AppId => "identity_claim_appid_g",
            Claim::AppIdAcr => "identity_claim_appidacr_s",
            Claim::Scp => "identity_claim_scp_s",
            Claim::Upn => "identity_claim_upn_s",
            Claim::IpAddr => "identity_claim_ipaddr_s",
            Claim::UniqueName => "identity_claim_unique_name_s",
            Claim::Amr => "identity_claim_amr_s",
            Claim::IdTyp => "identity_claim_idtyp_s",
            Claim::XmsMirid => "identity_claim_xms_mirid_s",
            Claim::XmsAzNwperimid => "identity_claim_xms_az_nwperimid_s",
            Claim::Iss => "identity_claim_iss_s",
            Claim::LongObjectId => {
                "identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g"
            }
            Claim::LongUpn => {
                "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s"
            }
            Claim::LongName => {
                "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_name_s"
            }
            Claim::Aud | Claim::Iat | Claim::Nbf | Claim::Exp => return None,
        })
    }
}

/// A claim's value.
#[derive(Debug, Clone, Copy)]
pub enum ClaimVal<'a> {
    Str(&'a str),
    /// `[]` (`xms_az_nwperimid`).
    EmptyArray,
}

/// A decimal number formatted on the stack.
#[derive(Default)]
struct NumBuf {
    b: [u8; 20],
    start: usize,
}

impl NumBuf {
    fn set(&mut self, mut v: u64) {
        let mut i = self.b.len();
        loop {
            i -= 1;
            self.b[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.start = i;
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.b[self.start..]).unwrap_or("0")
    }
}

/// Calls `f` for each claim of the event's identity, in the order Key Vault writes them.
/// Returns false when the record has no identity (unauthenticated 401s).
pub fn for_each_claim(ev: &EventRef, mut f: impl FnMut(Claim, ClaimVal)) -> bool {
    let Some(i) = ev.ident() else {
        return false;
    };
    let s = ClaimVal::Str;
    let mut nums = [NumBuf::default(), NumBuf::default(), NumBuf::default()];
    if i.kind != Kind::User {
        let iat = (ev.ev.ticks / crate::fmt::TICKS_PER_SEC) as u64 - u64::from(ev.ev.token_age);
        for (k, v) in [iat, iat, iat + 3600 + 899].into_iter().enumerate() {
            nums[k].set(v);
        }
    }
    if ev.ev.op.is_management() {
        f(Claim::LongObjectId, s(&i.oid));
        if let Some(upn) = &i.upn {
            f(Claim::LongUpn, s(upn));
            f(Claim::LongName, s(upn));
        }
        f(Claim::AppId, s(&i.app_id));
        if let Some(m) = &i.mirid {
            f(Claim::XmsMirid, s(m));
        }
        if i.kind != Kind::User {
            f(Claim::IdTyp, s("app"));
        }
        return true;
    }
    match i.kind {
        Kind::User => {
            f(Claim::Oid, s(&i.oid));
            f(Claim::AppId, s(&i.app_id));
            f(Claim::Scp, s("user_impersonation"));
            if let Some(upn) = &i.upn {
                f(Claim::Upn, s(upn));
            }
            f(Claim::IpAddr, s(&ev.ip_info().text));
            if let Some(upn) = &i.upn {
                f(Claim::UniqueName, s(upn));
            }
            f(Claim::Amr, s(i.amr));
            if i.idtyp {
                f(Claim::IdTyp, s("user"));
            }
            if i.nwperim {
                f(Claim::XmsAzNwperimid, ClaimVal::EmptyArray);
            }
        }
        Kind::ServicePrincipal | Kind::ManagedIdentity => {
            f(Claim::Oid, s(&i.oid));
            f(Claim::AppId, s(&i.app_id));
            f(Claim::AppIdAcr, s(i.appidacr));
            if let Some(m) = &i.mirid {
                f(Claim::XmsMirid, s(m));
            }
            f(Claim::Iss, s(&ev.world.issuer));
            if i.nwperim {
                f(Claim::XmsAzNwperimid, ClaimVal::EmptyArray);
            }
            f(Claim::IdTyp, s("app"));
            f(Claim::Iat, s(nums[0].as_str()));
            f(Claim::Exp, s(nums[2].as_str()));
            f(Claim::Aud, s("https://vault.azure.net"));
            f(Claim::Nbf, s(nums[1].as_str()));
        }
    }
    true
}

/// `{"claim":{...}}` as JSON (writes `{"claim":{}}`-less nothing when there is no identity).
pub fn push_identity_json(buf: &mut Vec<u8>, ev: &EventRef) -> bool {
    let start = buf.len();
    buf.extend_from_slice(b"{\"claim\":{");
    let mut first = true;
    let any = for_each_claim(ev, |c, v| {
        if !first {
            buf.push(b',');
        }
        first = false;
        buf.push(b'"');
        buf.extend_from_slice(c.key().as_bytes());
        buf.extend_from_slice(b"\":");
        match v {
            ClaimVal::Str(s) => {
                buf.push(b'"');
                push_json_body(buf, s);
                buf.push(b'"');
            }
            ClaimVal::EmptyArray => buf.extend_from_slice(b"[]"),
        }
    });
    if !any {
        buf.truncate(start);
        return false;
    }
    buf.extend_from_slice(b"}}");
    true
}

/// Vault settings reported in `properties.properties` by vault operations, as (key, raw JSON).
pub fn push_vault_settings(buf: &mut Vec<u8>, ev: &EventRef) {
    let v = ev.vault();
    let b = |x: bool| -> &'static [u8] { if x { b"true" } else { b"false" } };
    buf.extend_from_slice(b"{\"sku\":{\"Family\":\"A\",\"Name\":\"");
    buf.extend_from_slice(if v.premium { b"premium" } else { b"standard" });
    buf.extend_from_slice(b"\",\"Capacity\":null},\"tenantId\":\"");
    buf.extend_from_slice(ev.world.tenant.as_bytes());
    buf.extend_from_slice(
        b"\",\"networkAcls\":null,\"enabledForDeployment\":false,\"enabledForDiskEncryption\":",
    );
    buf.extend_from_slice(b(v.disk_encryption));
    buf.extend_from_slice(b",\"enabledForTemplateDeployment\":false,\"enableSoftDelete\":true,\"softDeleteRetentionInDays\":");
    push_u64(buf, u64::from(v.soft_delete_days));
    buf.extend_from_slice(b",\"enableRbacAuthorization\":");
    buf.extend_from_slice(b(v.rbac));
    buf.extend_from_slice(b",\"enablePurgeProtection\":");
    buf.extend_from_slice(if v.purge_protection { b"true" } else { b"null" });
    buf.push(b'}');
}

/// Extra object properties (`keyProperties`, `secretProperties`, `certificateProperties`)
/// as `,"name":{...}` or nothing.
pub fn push_object_properties(buf: &mut Vec<u8>, ev: &EventRef) {
    if ev.ev.status != 200 {
        return;
    }
    let v = ev.vault();
    match ev.ev.op {
        Op::KeyGet | Op::KeyCreate => {
            let i = usize::from(ev.ev.object) % v.keys.len().max(1);
            if let Some((_, kty, size)) = v.keys.get(i) {
                buf.extend_from_slice(b",\"keyProperties\":{\"type\":\"");
                buf.extend_from_slice(kty.as_bytes());
                if v.premium {
                    buf.extend_from_slice(b"-HSM");
                }
                buf.extend_from_slice(b"\",\"size\":");
                push_u64(buf, u64::from(*size));
                buf.extend_from_slice(b",\"attributes\":{\"enabled\":true}}");
            }
        }
        Op::SecretSet => {
            buf.extend_from_slice(
                b",\"secretProperties\":{\"type\":\"text/plain\",\"attributes\":{\"enabled\":true}}",
            );
        }
        Op::CertificateGet | Op::CertificateCreate => {
            buf.extend_from_slice(b",\"certificateProperties\":{\"subject\":\"CN=");
            buf.extend_from_slice(object_name(ev).as_bytes());
            buf.extend_from_slice(b"\",\"sha1\":\"");
            let v = object_version(ev);
            push_hex(buf, v, 32, true);
            push_hex(buf, v >> 96 ^ v, 8, true);
            buf.extend_from_slice(b"\"}");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GenConfig;
    use crate::generate::Generator;

    #[test]
    fn uris_and_ids_follow_key_vault_shapes() {
        let g = Generator::new(&GenConfig::default().events(5000)).unwrap();
        let mut seen = std::collections::HashSet::new();
        for ev in g.events() {
            let mut uri = Vec::new();
            push_request_uri(&mut uri, &ev);
            let uri = String::from_utf8(uri).unwrap();
            let v = ev.vault();
            let mut id = Vec::new();
            let has_id = push_object_id(&mut id, &ev);
            let id = String::from_utf8(id).unwrap();
            match ev.op() {
                Op::VaultGet | Op::VaultPut => {
                    assert!(uri.starts_with(&format!(
                        "https://management.azure.com/subscriptions/{}/resourceGroups/{}/providers/Microsoft.KeyVault/vaults/{}?api-version=20",
                        v.sub, v.rg, v.name
                    )), "{uri}");
                    if ev.http_status() != 401 {
                        assert_eq!(id, format!("https://{}.vault.azure.net/", v.name));
                    }
                }
                Op::SecretGet if ev.http_status() == 200 => {
                    // https://<vault>.vault.azure.net/secrets/<name>/<32 hex>
                    let rest = id
                        .strip_prefix(&format!("https://{}.vault.azure.net/secrets/", v.name))
                        .unwrap();
                    let (name, ver) = rest.split_once('/').unwrap();
                    assert!(v.secrets.iter().any(|s| s == name));
                    assert_eq!(ver.len(), 32);
                    assert!(ver.bytes().all(|b| b.is_ascii_hexdigit()));
                    assert_eq!(
                        uri,
                        format!(
                            "https://{}.vault.azure.net/secrets/{name}/?api-version={}",
                            v.name,
                            operation_version(&ev)
                        )
                    );
                }
                Op::SecretList | Op::KeyList | Op::CertificateList => {
                    assert!(!has_id);
                    assert!(
                        uri.contains(".vault.azure.net/") && uri.contains("?api-version=7."),
                        "{uri}"
                    );
                }
                Op::KeyUnwrap
                    if ev.http_status() == 200 && ev.record_kind() == RecordKind::Vault =>
                {
                    assert!(uri.contains("/unwrapkey?api-version="), "{uri}");
                    assert!(uri.starts_with(&id), "{uri} vs {id}");
                }
                _ => {}
            }
            seen.insert(ev.op());
        }
        assert!(seen.len() >= 15, "{}", seen.len());
    }

    #[test]
    fn signatures() {
        assert_eq!(result_signature(200), "OK");
        assert_eq!(result_signature(403), "Forbidden");
        assert_eq!(result_signature(404), "Not Found");
        assert_eq!(result_signature(401), "Unauthorized");
        assert_eq!(
            Claim::LongUpn.diag_column(),
            Some("identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s")
        );
        assert_eq!(Claim::Iat.diag_column(), None);
    }
}
