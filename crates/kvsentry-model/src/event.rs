//! The canonical event: one Key Vault audit record, whatever form it was read from.
//!
//! Fields borrow from the input buffer where they can ([`Str`] is a `Cow`), so a reader
//! that parses a line into an `AuditEvent` allocates only for strings that carried JSON
//! escapes. Anything the engine keeps beyond one event it copies itself.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;
use serde::Serialize;

use crate::net;

/// A string borrowed from the input where possible.
pub type Str<'a> = Cow<'a, str>;

/// One Key Vault audit record (diagnostic category `AuditEvent`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent<'a> {
    /// When the operation happened (UTC; Key Vault writes 7 fractional digits).
    pub time: Timestamp,
    /// Diagnostic category, normally `AuditEvent`.
    pub category: Str<'a>,
    /// `operationName`, e.g. `SecretGet`, `VaultGet`.
    pub operation: Str<'a>,
    pub operation_version: Option<Str<'a>>,
    /// `resultType`: "Success" even for 403/404 (the outcome is in `http_status`).
    pub result_type: Option<Str<'a>>,
    /// `resultSignature`: "OK", "Forbidden", "Unauthorized", "Not Found", ...
    pub result_signature: Option<Str<'a>>,
    pub result_description: Option<Str<'a>>,
    /// `properties.httpStatusCode`.
    pub http_status: Option<u16>,
    /// `durationMs` (a string in Key Vault records, a number in Managed HSM records).
    pub duration_ms: Option<u64>,
    /// `callerIpAddress`, parsed.
    pub caller_ip: CallerIp<'a>,
    /// Who made the call: the token claims, normalised.
    pub identity: Identity<'a>,
    /// Which vault was called (from the resource id, or the form's own columns).
    pub vault: Vault<'a>,
    pub correlation_id: Option<Str<'a>>,
    /// `properties.requestUri`.
    pub request_uri: Option<Str<'a>>,
    /// `properties.clientInfo`: a user agent, or sometimes an application GUID.
    pub client_info: Option<Str<'a>>,
    /// `properties.id`: URL of the secret, key or certificate (or the vault) acted on.
    pub object_id: Option<Str<'a>>,
    pub tls_version: Option<Str<'a>>,
    /// Geo and network-owner fields, when the source carries them (Elastic documents).
    pub geo: Geo<'a>,
    /// `agent.name` in Elastic documents.
    pub agent_name: Option<Str<'a>>,
    /// Where the record was read from, for evidence and error messages.
    pub origin: Origin,
}

impl<'a> AuditEvent<'a> {
    /// An event with only a time, category and operation; readers fill in the rest.
    pub fn new(time: Timestamp, category: Str<'a>, operation: Str<'a>) -> Self {
        AuditEvent {
            time,
            category,
            operation,
            operation_version: None,
            result_type: None,
            result_signature: None,
            result_description: None,
            http_status: None,
            duration_ms: None,
            caller_ip: CallerIp::Missing,
            identity: Identity::default(),
            vault: Vault::default(),
            correlation_id: None,
            request_uri: None,
            client_info: None,
            object_id: None,
            tls_version: None,
            geo: Geo::default(),
            agent_name: None,
            origin: Origin::default(),
        }
    }

    /// Copies every borrowed string, so the event can outlive its input buffer.
    pub fn into_owned(self) -> AuditEvent<'static> {
        fn o(s: Option<Str<'_>>) -> Option<Str<'static>> {
            s.map(|s| Cow::Owned(s.into_owned()))
        }
        AuditEvent {
            time: self.time,
            category: Cow::Owned(self.category.into_owned()),
            operation: Cow::Owned(self.operation.into_owned()),
            operation_version: o(self.operation_version),
            result_type: o(self.result_type),
            result_signature: o(self.result_signature),
            result_description: o(self.result_description),
            http_status: self.http_status,
            duration_ms: self.duration_ms,
            caller_ip: match self.caller_ip {
                CallerIp::Missing => CallerIp::Missing,
                CallerIp::Addr(a) => CallerIp::Addr(a),
                CallerIp::Invalid(s) => CallerIp::Invalid(Cow::Owned(s.into_owned())),
            },
            identity: Identity {
                upn: o(self.identity.upn),
                unique_name: o(self.identity.unique_name),
                name: o(self.identity.name),
                app_id: o(self.identity.app_id),
                object_id: o(self.identity.object_id),
                identity_type: o(self.identity.identity_type),
                tenant_id: o(self.identity.tenant_id),
                ip_claim: o(self.identity.ip_claim),
                managed_identity_id: o(self.identity.managed_identity_id),
                app_id_acr: o(self.identity.app_id_acr),
                scope: o(self.identity.scope),
                auth_methods: o(self.identity.auth_methods),
                other: self
                    .identity
                    .other
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect(),
                other_json: self.identity.other_json,
            },
            vault: Vault {
                resource_id: o(self.vault.resource_id),
                name: o(self.vault.name),
                subscription_id: o(self.vault.subscription_id),
                resource_group: o(self.vault.resource_group),
                resource_type: o(self.vault.resource_type),
                region: o(self.vault.region),
            },
            correlation_id: o(self.correlation_id),
            request_uri: o(self.request_uri),
            client_info: o(self.client_info),
            object_id: o(self.object_id),
            tls_version: o(self.tls_version),
            geo: Geo {
                city: o(self.geo.city),
                region: o(self.geo.region),
                country: o(self.geo.country),
                as_org: o(self.geo.as_org),
                cloud_region: o(self.geo.cloud_region),
            },
            agent_name: o(self.agent_name),
            origin: self.origin,
        }
    }
}

/// The caller address: parsed when it is one, kept as text when it is not (e.g. `<Redacted>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CallerIp<'a> {
    #[default]
    Missing,
    Addr(IpAddr),
    /// Present but not an IP address; counted by readers, never matched.
    Invalid(Str<'a>),
}

impl<'a> CallerIp<'a> {
    /// Parses a caller address in any spelling (see [`net::parse_ip`]); empty is `Missing`.
    pub fn parse(text: Str<'a>) -> Self {
        // Parsed first: an address is never blank, and the blank check (a Unicode trim) is
        // then paid only by the rare caller that is not an address.
        match net::parse_ip(&text) {
            Some(ip) => CallerIp::Addr(ip),
            None if text.trim().is_empty() => CallerIp::Missing,
            None => CallerIp::Invalid(text),
        }
    }

    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            CallerIp::Addr(a) => Some(*a),
            _ => None,
        }
    }
}

impl Serialize for CallerIp<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CallerIp::Missing => s.serialize_none(),
            CallerIp::Addr(a) => s.collect_str(a),
            CallerIp::Invalid(t) => s.serialize_str(t),
        }
    }
}

/// The caller's token claims, normalised.
///
/// Vault (management) operations carry long URI claim keys
/// (`http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn`,
/// `http://schemas.microsoft.com/identity/claims/objectidentifier`), data-plane operations the
/// short ones (`upn`, `oid`); both land in the same field. See `src/event/claims.rs` in
/// `kvsentry-ingest` for the single mapping.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Identity<'a> {
    /// `upn` / `.../claims/upn`.
    pub upn: Option<Str<'a>>,
    /// `unique_name`.
    pub unique_name: Option<Str<'a>>,
    /// `name` / `.../claims/name`.
    pub name: Option<Str<'a>>,
    /// `appid` (or `azp`).
    pub app_id: Option<Str<'a>>,
    /// `oid` / `.../claims/objectidentifier`.
    pub object_id: Option<Str<'a>>,
    /// `idtyp`: "user" or "app" when present.
    pub identity_type: Option<Str<'a>>,
    /// `tid` / `.../claims/tenantid`.
    pub tenant_id: Option<Str<'a>>,
    /// `ipaddr`: the address the token was issued to.
    pub ip_claim: Option<Str<'a>>,
    /// `xms_mirid`: resource id of a managed identity.
    pub managed_identity_id: Option<Str<'a>>,
    /// `appidacr`: 0 public client, 1 secret, 2 certificate.
    pub app_id_acr: Option<Str<'a>>,
    /// `scp`.
    pub scope: Option<Str<'a>>,
    /// `amr`.
    pub auth_methods: Option<Str<'a>>,
    /// Every other claim, its value as text (arrays and objects as JSON text, see
    /// `other_json` and `other_claims_json`).
    pub other: Vec<(Str<'a>, Str<'a>)>,
    /// Bit `i` set when `other[i]`'s value is JSON text (an array or an object) rather than a
    /// string, so that it is printed with its type. Beside `other`, not in it: the common
    /// string claims cost nothing more. A JSON value past the 64th claim is taken as a string.
    pub other_json: u64,
}

impl Identity<'_> {
    /// True when `other[i]`'s value is JSON text (see `other_json`).
    pub fn other_is_json(&self, i: usize) -> bool {
        i < 64 && self.other_json & (1 << i) != 0
    }

    /// The `other` claims as a JSON object, each value with its type: a JSON value (see
    /// `other_json`) as what it is, anything else (or JSON text that does not parse) as a
    /// string.
    pub fn other_claims_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.other
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let value = if self.other_is_json(i) {
                    serde_json::from_str(v)
                        .unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
                } else {
                    serde_json::Value::String(v.to_string())
                };
                (k.to_string(), value)
            })
            .collect()
    }

    /// Marks `other[i]`'s value as JSON text or a string (beyond the 64th: a string).
    pub fn set_other_json(&mut self, i: usize, json: bool) {
        if i < 64 {
            if json {
                self.other_json |= 1 << i;
            } else {
                self.other_json &= !(1 << i);
            }
        }
    }
}

/// What kind of principal made the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    User,
    ServicePrincipal,
    ManagedIdentity,
    Unknown,
}

impl IdentityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::User => "user",
            IdentityKind::ServicePrincipal => "service_principal",
            IdentityKind::ManagedIdentity => "managed_identity",
            IdentityKind::Unknown => "unknown",
        }
    }
}

impl Identity<'_> {
    /// User when there is a UPN or `idtyp: user`; managed identity when `xms_mirid` is set;
    /// service principal for `idtyp: app` or an app id without a UPN.
    pub fn kind(&self) -> IdentityKind {
        if self.managed_identity_id.is_some() {
            IdentityKind::ManagedIdentity
        } else if self.upn.is_some()
            || self
                .identity_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("user"))
        {
            IdentityKind::User
        } else if self
            .identity_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("app"))
            || self.app_id.is_some()
            || self.object_id.is_some()
        {
            IdentityKind::ServicePrincipal
        } else {
            IdentityKind::Unknown
        }
    }

    /// One name for the principal: the UPN, else the app id, else the object id.
    pub fn principal(&self) -> Option<&str> {
        self.upn
            .as_deref()
            .or(self.app_id.as_deref())
            .or(self.object_id.as_deref())
    }
}

/// The vault called. Parsed from `resourceId`
/// (`/SUBSCRIPTIONS/<sub>/RESOURCEGROUPS/<rg>/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/<name>`)
/// or taken from the form's own columns.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Vault<'a> {
    pub resource_id: Option<Str<'a>>,
    pub name: Option<Str<'a>>,
    pub subscription_id: Option<Str<'a>>,
    pub resource_group: Option<Str<'a>>,
    /// Resource type, `VAULTS` for Key Vault, `MANAGEDHSMS` for Managed HSM.
    pub resource_type: Option<Str<'a>>,
    /// Azure region (`location`), when the source carries it.
    pub region: Option<Str<'a>>,
}

impl<'a> Vault<'a> {
    /// Splits an ARM resource id into subscription, resource group, type and name, borrowing
    /// the slices. Segment names are matched case-insensitively; values keep their case.
    pub fn from_resource_id(id: &'a str) -> Vault<'a> {
        let mut v = Vault {
            resource_id: Some(Cow::Borrowed(id)),
            ..Vault::default()
        };
        let mut parts = id.split('/').filter(|p| !p.is_empty());
        while let Some(seg) = parts.next() {
            if seg.eq_ignore_ascii_case("subscriptions") {
                v.subscription_id = parts.next().map(Cow::Borrowed);
            } else if seg.eq_ignore_ascii_case("resourcegroups") {
                v.resource_group = parts.next().map(Cow::Borrowed);
            }
        }
        // The resource itself is the last `<type>/<name>` pair.
        let mut rev = id.split('/').rev().filter(|p| !p.is_empty());
        v.name = rev.next().map(Cow::Borrowed);
        v.resource_type = rev.next().map(Cow::Borrowed);
        v
    }

    /// As [`Vault::from_resource_id`] for an id that may have been unescaped into an owned
    /// string (rare: resource ids carry no JSON escapes in practice).
    pub fn from_resource_id_cow(id: Str<'a>) -> Vault<'a> {
        match id {
            Cow::Borrowed(b) => Vault::from_resource_id(b),
            Cow::Owned(o) => {
                let v = Vault::from_resource_id(&o);
                let own = |s: Option<Str<'_>>| s.map(|s| Cow::Owned(s.into_owned()));
                Vault {
                    name: own(v.name),
                    subscription_id: own(v.subscription_id),
                    resource_group: own(v.resource_group),
                    resource_type: own(v.resource_type),
                    region: None,
                    resource_id: Some(Cow::Owned(o.clone())),
                }
            }
        }
    }

    /// True for a Key Vault vault (as opposed to a Managed HSM or anything else). A record
    /// with no resource type at all is given the benefit of the doubt.
    pub fn is_key_vault(&self) -> bool {
        self.resource_type
            .as_deref()
            .is_none_or(|t| t.eq_ignore_ascii_case("vaults"))
    }
}

/// Geo and network-owner fields, present in Elastic documents enriched at ingest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Geo<'a> {
    pub city: Option<Str<'a>>,
    pub region: Option<Str<'a>>,
    pub country: Option<Str<'a>>,
    /// `source.as.organization.name`.
    pub as_org: Option<Str<'a>>,
    /// `cloud.region`.
    pub cloud_region: Option<Str<'a>>,
}

/// Where a record came from: an index into the run's list of inputs, and the 1-based line
/// (for JSON arrays and envelopes: the line on which the record starts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Origin {
    pub source: u32,
    pub line: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_id_is_split() {
        let v = Vault::from_resource_id(
            "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT",
        );
        assert_eq!(
            v.subscription_id.as_deref(),
            Some("A921D5D4-BDB7-43C3-AA01-88C6AE24992F")
        );
        assert_eq!(v.resource_group.as_deref(), Some("SECURAALLRG"));
        assert_eq!(v.resource_type.as_deref(), Some("VAULTS"));
        assert_eq!(v.name.as_deref(), Some("SECURAALLKEYVAULT"));
        assert!(v.is_key_vault());
        let hsm = Vault::from_resource_id(
            "/SUBSCRIPTIONS/x/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM",
        );
        assert!(!hsm.is_key_vault());
        assert_eq!(
            Vault::from_resource_id(".../VAULTS/MYCOOK2551KV")
                .name
                .as_deref(),
            Some("MYCOOK2551KV")
        );
    }

    #[test]
    fn other_claims_keep_their_json_type() {
        let mut id = Identity::default();
        for (k, v) in [
            ("wids", r#"["a","b"]"#),
            ("acrs", "[c1]"),
            ("bad", "[1,"),
            ("x", "[]"),
        ] {
            id.other.push((k.into(), v.into()));
        }
        id.set_other_json(0, true);
        id.set_other_json(2, true);
        id.set_other_json(3, true);
        id.set_other_json(3, false);
        id.set_other_json(70, true);
        assert!(id.other_is_json(0) && !id.other_is_json(1) && !id.other_is_json(70));
        let j = serde_json::Value::Object(id.other_claims_json());
        assert_eq!(
            j,
            serde_json::json!({"wids": ["a", "b"], "acrs": "[c1]", "bad": "[1,", "x": "[]"})
        );
    }

    #[test]
    fn caller_ip_blank_invalid_and_spellings() {
        let p = |s: &'static str| CallerIp::parse(Cow::Borrowed(s));
        assert_eq!(p(""), CallerIp::Missing);
        assert_eq!(p("  \t "), CallerIp::Missing);
        assert_eq!(p("\u{3000}"), CallerIp::Missing);
        assert_eq!(
            p(" 52.178.1.2 "),
            CallerIp::Addr("52.178.1.2".parse().unwrap())
        );
        assert_eq!(
            p("52.178.1.2"),
            CallerIp::Addr("52.178.1.2".parse().unwrap())
        );
        assert_eq!(
            p("::ffff:52.178.1.2"),
            CallerIp::Addr("52.178.1.2".parse().unwrap())
        );
        assert_eq!(
            p("<Redacted>"),
            CallerIp::Invalid(Cow::Borrowed("<Redacted>"))
        );
        assert_eq!(p(" x "), CallerIp::Invalid(Cow::Borrowed(" x ")));
    }

    #[test]
    fn identity_kind() {
        let mut id = Identity {
            app_id: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(id.kind(), IdentityKind::ServicePrincipal);
        id.upn = Some("u@x".into());
        assert_eq!(id.kind(), IdentityKind::User);
        assert_eq!(id.principal(), Some("u@x"));
        id.managed_identity_id = Some("/subscriptions/..".into());
        assert_eq!(id.kind(), IdentityKind::ManagedIdentity);
    }
}
