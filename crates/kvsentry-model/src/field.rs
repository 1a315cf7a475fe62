//! The field dictionary: the names rules, `kvsentry events` and exports use for event fields.
//!
//! One enum, so a rule's field names are resolved once when the rule is compiled and the
//! per-event lookup is a `match`, not a string comparison.

use std::borrow::Cow;
use std::net::IpAddr;

use jiff::Timestamp;

use crate::event::{AuditEvent, CallerIp};

macro_rules! fields {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ),+ $(,)?) => {
        /// A field of [`AuditEvent`] addressable by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $( $(#[$doc])* $variant ),+ }

        impl Field {
            /// Every field, in dictionary order.
            pub const ALL: &'static [Field] = &[ $( Field::$variant ),+ ];

            /// The field's name in rules and output.
            pub fn name(self) -> &'static str {
                match self { $( Field::$variant => $name ),+ }
            }

            /// Looks a field up by its dictionary name (exact, lower case).
            pub fn from_name(name: &str) -> Option<Field> {
                match name { $( $name => Some(Field::$variant), )+ _ => None }
            }
        }
    };
}

fields! {
    /// Event time, RFC 3339 UTC.
    Time = "time",
    /// Diagnostic category (`AuditEvent`).
    Category = "category",
    /// `operationName`, e.g. `SecretGet`.
    Operation = "operation",
    OperationVersion = "operation_version",
    /// `resultType`.
    ResultType = "result.type",
    /// `resultSignature`.
    ResultSignature = "result.signature",
    ResultDescription = "result.description",
    /// `properties.httpStatusCode`.
    HttpStatus = "http.status",
    DurationMs = "duration_ms",
    /// `callerIpAddress` (an IP, or the raw text when it is not one).
    CallerIp = "caller.ip",
    IdentityUpn = "identity.upn",
    IdentityUniqueName = "identity.unique_name",
    IdentityName = "identity.name",
    IdentityAppId = "identity.app_id",
    IdentityObjectId = "identity.object_id",
    /// `idtyp` claim.
    IdentityType = "identity.type",
    IdentityTenantId = "identity.tenant_id",
    /// `ipaddr` claim.
    IdentityIpAddr = "identity.ipaddr",
    /// `xms_mirid` claim.
    IdentityManagedIdentity = "identity.managed_identity",
    IdentityAppIdAcr = "identity.appidacr",
    IdentityScope = "identity.scope",
    IdentityAuthMethods = "identity.amr",
    /// Derived: `user`, `service_principal`, `managed_identity` or `unknown`.
    IdentityKind = "identity.kind",
    /// Derived: UPN, else app id, else object id.
    IdentityPrincipal = "identity.principal",
    VaultResourceId = "vault.resource_id",
    VaultName = "vault.name",
    VaultSubscriptionId = "vault.subscription_id",
    VaultResourceGroup = "vault.resource_group",
    /// `VAULTS` or `MANAGEDHSMS`.
    VaultResourceType = "vault.resource_type",
    VaultRegion = "vault.region",
    CorrelationId = "correlation_id",
    RequestUri = "request_uri",
    ClientInfo = "client_info",
    /// `properties.id`: URL of the secret, key or certificate.
    ObjectId = "object.id",
    TlsVersion = "tls_version",
    GeoCity = "geo.city",
    GeoRegion = "geo.region",
    GeoCountry = "geo.country",
    /// `source.as.organization.name`.
    GeoAsOrg = "geo.as_org",
    CloudRegion = "cloud.region",
    AgentName = "agent.name",
}

/// A field's value in one event.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'e> {
    Missing,
    Str(Cow<'e, str>),
    Int(i64),
    Ip(IpAddr),
    Time(Timestamp),
}

impl FieldValue<'_> {
    pub fn is_missing(&self) -> bool {
        matches!(self, FieldValue::Missing)
    }

    /// The value as text, for string comparisons and output (`None` when missing).
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            FieldValue::Missing => None,
            FieldValue::Str(s) => Some(Cow::Borrowed(s)),
            FieldValue::Int(i) => Some(Cow::Owned(i.to_string())),
            FieldValue::Ip(ip) => Some(Cow::Owned(ip.to_string())),
            FieldValue::Time(t) => Some(Cow::Owned(t.to_string())),
        }
    }
}

fn s<'e>(v: &'e Option<Cow<'_, str>>) -> FieldValue<'e> {
    match v {
        Some(s) => FieldValue::Str(Cow::Borrowed(s)),
        None => FieldValue::Missing,
    }
}

impl AuditEvent<'_> {
    /// The value of one dictionary field.
    pub fn get(&self, field: Field) -> FieldValue<'_> {
        use FieldValue as V;
        match field {
            Field::Time => V::Time(self.time),
            Field::Category => V::Str(Cow::Borrowed(&self.category)),
            Field::Operation => V::Str(Cow::Borrowed(&self.operation)),
            Field::OperationVersion => s(&self.operation_version),
            Field::ResultType => s(&self.result_type),
            Field::ResultSignature => s(&self.result_signature),
            Field::ResultDescription => s(&self.result_description),
            Field::HttpStatus => self.http_status.map_or(V::Missing, |c| V::Int(c.into())),
            Field::DurationMs => self.duration_ms.map_or(V::Missing, |d| V::Int(d as i64)),
            Field::CallerIp => match &self.caller_ip {
                CallerIp::Missing => V::Missing,
                CallerIp::Addr(a) => V::Ip(*a),
                CallerIp::Invalid(t) => V::Str(Cow::Borrowed(t)),
            },
            Field::IdentityUpn => s(&self.identity.upn),
            Field::IdentityUniqueName => s(&self.identity.unique_name),
            Field::IdentityName => s(&self.identity.name),
            Field::IdentityAppId => s(&self.identity.app_id),
            Field::IdentityObjectId => s(&self.identity.object_id),
            Field::IdentityType => s(&self.identity.identity_type),
            Field::IdentityTenantId => s(&self.identity.tenant_id),
            Field::IdentityIpAddr => s(&self.identity.ip_claim),
            Field::IdentityManagedIdentity => s(&self.identity.managed_identity_id),
            Field::IdentityAppIdAcr => s(&self.identity.app_id_acr),
            Field::IdentityScope => s(&self.identity.scope),
            Field::IdentityAuthMethods => s(&self.identity.auth_methods),
            Field::IdentityKind => V::Str(Cow::Borrowed(self.identity.kind().as_str())),
            Field::IdentityPrincipal => self
                .identity
                .principal()
                .map_or(V::Missing, |p| V::Str(Cow::Borrowed(p))),
            Field::VaultResourceId => s(&self.vault.resource_id),
            Field::VaultName => s(&self.vault.name),
            Field::VaultSubscriptionId => s(&self.vault.subscription_id),
            Field::VaultResourceGroup => s(&self.vault.resource_group),
            Field::VaultResourceType => s(&self.vault.resource_type),
            Field::VaultRegion => s(&self.vault.region),
            Field::CorrelationId => s(&self.correlation_id),
            Field::RequestUri => s(&self.request_uri),
            Field::ClientInfo => s(&self.client_info),
            Field::ObjectId => s(&self.object_id),
            Field::TlsVersion => s(&self.tls_version),
            Field::GeoCity => s(&self.geo.city),
            Field::GeoRegion => s(&self.geo.region),
            Field::GeoCountry => s(&self.geo.country),
            Field::GeoAsOrg => s(&self.geo.as_org),
            Field::CloudRegion => s(&self.geo.cloud_region),
            Field::AgentName => s(&self.agent_name),
        }
    }

    /// The event as a flat JSON object under the dictionary's names (missing fields left out);
    /// `kvsentry events` prints it nested (see [`crate::nest`]).
    pub fn to_dictionary_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for &f in Field::ALL {
            let v = match self.get(f) {
                FieldValue::Missing => continue,
                FieldValue::Str(s) => serde_json::Value::String(s.into_owned()),
                FieldValue::Int(i) => serde_json::Value::from(i),
                FieldValue::Ip(ip) => serde_json::Value::String(ip.to_string()),
                FieldValue::Time(t) => serde_json::Value::String(t.to_string()),
            };
            m.insert(f.name().to_string(), v);
        }
        if !self.identity.other.is_empty() {
            let claims = self
                .identity
                .other
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect();
            m.insert(
                "identity.other_claims".into(),
                serde_json::Value::Object(claims),
            );
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(Field::from_name("nope"), None);
    }

    #[test]
    fn get_reads_the_event() {
        let mut e = AuditEvent::new(
            Timestamp::UNIX_EPOCH,
            "AuditEvent".into(),
            "SecretGet".into(),
        );
        e.http_status = Some(403);
        e.caller_ip = CallerIp::parse("2001:DB8::1".into());
        assert_eq!(e.get(Field::Operation), FieldValue::Str("SecretGet".into()));
        assert_eq!(e.get(Field::HttpStatus), FieldValue::Int(403));
        assert_eq!(
            e.get(Field::CallerIp),
            FieldValue::Ip("2001:db8::1".parse().unwrap())
        );
        assert!(e.get(Field::IdentityUpn).is_missing());
        let j = e.to_dictionary_json();
        assert_eq!(j["caller.ip"], "2001:db8::1");
        assert_eq!(j["identity.kind"], "unknown");
    }
}
