//! `kvsentry fields`: the field dictionary, i.e. the names rules and `events` use.

use kvsentry_model::Field;

use crate::exit::Exit;

pub fn run() -> anyhow::Result<Exit> {
    out!("{:<26} {:<5} MEANING", "FIELD", "TYPE");
    for f in Field::ALL {
        let (ty, meaning) = describe(*f);
        out!("{:<26} {:<5} {meaning}", f.name(), ty);
    }
    Ok(Exit::Ok)
}

/// Type and meaning of a field. A `match` so that a new field cannot go undescribed.
fn describe(f: Field) -> (&'static str, &'static str) {
    use Field as F;
    match f {
        F::Time => ("time", "event time, RFC 3339 UTC"),
        F::Category => ("text", "diagnostic category (AuditEvent)"),
        F::Operation => ("text", "operationName, e.g. SecretGet"),
        F::OperationVersion => ("text", "operationVersion: the REST API version called"),
        F::ResultType => ("text", "resultType, e.g. Success"),
        F::ResultSignature => (
            "text",
            "resultSignature: the HTTP status text, e.g. OK, Forbidden",
        ),
        F::ResultDescription => ("text", "resultDescription"),
        F::HttpStatus => ("int", "properties.httpStatusCode"),
        F::DurationMs => ("int", "durationMs: time to serve the request"),
        F::CallerIp => ("ip", "callerIpAddress (kept as text when it is not an IP)"),
        F::IdentityUpn => ("text", "caller's user principal name (upn claim)"),
        F::IdentityUniqueName => ("text", "unique_name claim"),
        F::IdentityName => ("text", "name claim"),
        F::IdentityAppId => ("text", "appid claim: the calling application"),
        F::IdentityObjectId => ("text", "oid claim: the caller's object id"),
        F::IdentityType => ("text", "idtyp claim (user, app)"),
        F::IdentityTenantId => ("text", "tid claim: the caller's tenant"),
        F::IdentityIpAddr => ("text", "ipaddr claim: the address the token was issued to"),
        F::IdentityManagedIdentity => (
            "text",
            "xms_mirid claim: the managed identity's resource id",
        ),
        F::IdentityAppIdAcr => ("text", "appidacr claim: how the application authenticated"),
        F::IdentityScope => ("text", "scp claim: delegated permissions"),
        F::IdentityAuthMethods => ("text", "amr claim: authentication methods"),
        F::IdentityKind => (
            "text",
            "derived: user, service_principal, managed_identity or unknown",
        ),
        F::IdentityPrincipal => ("text", "derived: UPN, else app id, else object id"),
        F::VaultResourceId => ("text", "resourceId of the vault"),
        F::VaultName => ("text", "vault name (from the resource id)"),
        F::VaultSubscriptionId => ("text", "subscription of the vault"),
        F::VaultResourceGroup => ("text", "resource group of the vault"),
        F::VaultResourceType => ("text", "VAULTS or MANAGEDHSMS"),
        F::VaultRegion => ("text", "location of the vault"),
        F::CorrelationId => ("text", "correlationId"),
        F::RequestUri => ("text", "properties.requestUri"),
        F::ClientInfo => ("text", "properties.clientInfo: the client's user agent"),
        F::ObjectId => (
            "text",
            "properties.id: URL of the secret, key or certificate",
        ),
        F::TlsVersion => ("text", "properties.tlsVersion"),
        F::GeoCity => ("text", "caller's city (Elastic geo enrichment)"),
        F::GeoRegion => ("text", "caller's region (Elastic geo enrichment)"),
        F::GeoCountry => ("text", "caller's country (Elastic geo enrichment)"),
        F::GeoAsOrg => ("text", "source.as.organization.name (Elastic enrichment)"),
        F::CloudRegion => ("text", "cloud.region (Elastic documents)"),
        F::AgentName => ("text", "agent.name: the shipper (Elastic documents)"),
    }
}
