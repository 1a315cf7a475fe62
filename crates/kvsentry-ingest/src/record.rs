//! From the leaves of one record to an [`AuditEvent`]: the field mapping of each family of
//! forms, and the checks (time, category, resource type) that decide whether it is an event.
//!
//! Two mappings cover the six forms:
//! - [`map_azure`]: Azure Monitor resource-log records (Storage, Event Hubs, Managed HSM arrays)
//!   and the Log Analytics tables (`AzureDiagnostics`, `AZKVAuditLogs`). Their column names do
//!   not collide (`properties.httpStatusCode` / `httpStatusCode_d` / `HttpStatusCode`), so one
//!   mapping reads them all and a record misdetected between them still reads right.
//! - [`map_ecs`]: Elastic `azure.platformlogs` documents; what lies under
//!   `azure.platformlogs.` is handed to [`map_azure`].

use std::borrow::Cow;

use kvsentry_model::{AuditEvent, CallerIp, Geo, Identity, Origin, Str, Vault};

use crate::ReadOptions;
use crate::claims_impl::apply_claim;
use crate::stats::SkipReason;
use crate::time::parse_time;
use crate::walk::{Leaf, walk_text};

/// The record turned out to be a container of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nested {
    /// `{"records":[...]}`.
    Records,
    /// `{"hits":{"hits":[...]}}`.
    Hits,
    /// `{"tables":[...]}`.
    Tables,
}

/// The raw values of one record, as the mapping found them.
#[derive(Debug, Default)]
pub(crate) struct Builder<'a> {
    time: Option<Str<'a>>,
    category: Option<Str<'a>>,
    table_type: Option<Str<'a>>,
    dataset: Option<Str<'a>>,
    operation: Option<Str<'a>>,
    operation_fb: Option<Str<'a>>,
    operation_version: Option<Str<'a>>,
    result_type: Option<Str<'a>>,
    result_type_fb: Option<Str<'a>>,
    result_signature: Option<Str<'a>>,
    result_description: Option<Str<'a>>,
    http_status: Option<Leaf<'a>>,
    duration: Option<Leaf<'a>>,
    duration_ns: Option<Leaf<'a>>,
    caller_ip: Option<Str<'a>>,
    identity: Identity<'a>,
    upn_fb: Option<Str<'a>>,
    resource_id: Option<Str<'a>>,
    resource_id_fb: Option<Str<'a>>,
    subscription_id: Option<Str<'a>>,
    resource_group: Option<Str<'a>>,
    resource_name: Option<Str<'a>>,
    resource_type: Option<Str<'a>>,
    provider: Option<Str<'a>>,
    location: Option<Str<'a>>,
    correlation_id: Option<Str<'a>>,
    request_uri: Option<Str<'a>>,
    client_info: Option<Str<'a>>,
    client_info_fb: Option<Str<'a>>,
    object_id: Option<Str<'a>>,
    tls_version: Option<Str<'a>>,
    geo: Geo<'a>,
    agent_name: Option<Str<'a>>,
    /// Set when the value turned out to be a container rather than a record.
    pub(crate) nested: Option<Nested>,
    /// Set when the value is not a JSON object at all.
    pub(crate) not_object: bool,
}

/// Sets `slot` from a leaf unless it is already set; empty strings and null count as missing
/// (CSV cannot tell them apart, and one record must read the same in every form).
fn set<'a>(slot: &mut Option<Str<'a>>, v: Leaf<'a>) {
    if slot.is_none() {
        if let Some(t) = v.into_text() {
            if !t.is_empty() {
                *slot = Some(t);
            }
        }
    }
}

fn set_num<'a>(slot: &mut Option<Leaf<'a>>, v: Leaf<'a>) {
    if slot.is_none() && !matches!(v, Leaf::Null) {
        *slot = Some(v);
    }
}

/// The claim key of an `AzureDiagnostics` column (`identity_claim_<key>_<type>`), without its
/// type suffix, and whether that type is a string (`_s`).
fn strip_type_suffix(k: &str) -> (&str, bool) {
    let b = k.as_bytes();
    if b.len() > 2 && b[b.len() - 2] == b'_' {
        let t = b[b.len() - 1];
        if matches!(t, b's' | b'g' | b'd' | b'b' | b't') {
            return (&k[..k.len() - 2], t == b's');
        }
    }
    (k, true)
}

/// Walks a JSON-encoded string (Managed HSM's and CSV's `identity`) under `prefix`.
fn walk_nested<'a>(
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

/// Azure Monitor resource logs and the Log Analytics tables; `path` is lower case.
pub(crate) fn map_azure<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    if let Some(k) = path
        .strip_prefix("identity.claim.")
        .or_else(|| path.strip_prefix("identity.claims."))
    {
        if let Some(t) = v.into_text() {
            apply_claim(&mut b.identity, k, t);
        }
        return;
    }
    if let Some(k) = path.strip_prefix("identity_claim_") {
        let (k, is_string) = strip_type_suffix(k);
        if let Some(t) = v.into_text() {
            // az cli prints a null typed column as "None".
            if is_string || t != "None" {
                apply_claim(&mut b.identity, k, t);
            }
        }
        return;
    }
    match path {
        "time" | "timegenerated" => set(&mut b.time, v),
        "category" => set(&mut b.category, v),
        "type" => set(&mut b.table_type, v),
        "operationname" => set(&mut b.operation, v),
        "operationversion" => set(&mut b.operation_version, v),
        "resulttype" => set(&mut b.result_type, v),
        "resultsignature" => set(&mut b.result_signature, v),
        "resultdescription" => set(&mut b.result_description, v),
        "durationms" => set_num(&mut b.duration, v),
        "calleripaddress" => set(&mut b.caller_ip, v),
        "correlationid" => set(&mut b.correlation_id, v),
        "resourceid" => set(&mut b.resource_id, v),
        "_resourceid" => set(&mut b.resource_id_fb, v),
        "subscriptionid" | "_subscriptionid" => set(&mut b.subscription_id, v),
        "resourcegroup" => set(&mut b.resource_group, v),
        "resource" => set(&mut b.resource_name, v),
        "resourcetype" => set(&mut b.resource_type, v),
        "resourceprovider" => set(&mut b.provider, v),
        "location" => set(&mut b.location, v),
        "identity" => {
            if let Leaf::Str(s) = v {
                walk_nested(b, s, "identity", map_azure);
            }
        }
        // AzureDiagnostics sometimes has a bare `identity_claim` column holding the UPN.
        "identity_claim" => {
            if let Some(t) = v.into_text() {
                if t.contains('@') {
                    b.upn_fb.get_or_insert(t);
                }
            }
        }
        "properties.clientinfo" | "clientinfo" | "clientinfo_s" => set(&mut b.client_info, v),
        "properties.requesturi" | "requesturi" | "requesturi_s" => set(&mut b.request_uri, v),
        "properties.id" | "id" | "id_s" => set(&mut b.object_id, v),
        "properties.httpstatuscode" | "httpstatuscode" | "httpstatuscode_d" => {
            set_num(&mut b.http_status, v)
        }
        "properties.tlsversion" | "tlsversion" | "tlsversion_s" => set(&mut b.tls_version, v),
        "records" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Records);
            }
        }
        "tables" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Tables);
            }
        }
        "hits.hits" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        "" => b.not_object = true,
        _ => {}
    }
}

/// Elastic `azure.platformlogs` documents, nested or dotted; `path` is lower case.
pub(crate) fn map_ecs<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    // A hit exported whole (`elasticdump`, `_doc` API) carries the document in `_source`.
    let path = path.strip_prefix("_source.").unwrap_or(path);
    match path {
        "@timestamp" => set(&mut b.time, v),
        "event.action" => set(&mut b.operation_fb, v),
        "event.outcome" => set(&mut b.result_type_fb, v),
        "event.dataset" => set(&mut b.dataset, v),
        "event.duration" => set_num(&mut b.duration_ns, v),
        "source.ip" | "client.ip" => set(&mut b.caller_ip, v),
        "source.geo.city_name" | "client.geo.city_name" | "geo.city_name" => {
            set(&mut b.geo.city, v)
        }
        "source.geo.region_name" | "client.geo.region_name" | "geo.region_name" => {
            set(&mut b.geo.region, v)
        }
        "source.geo.country_name" | "client.geo.country_name" | "geo.country_name" => {
            set(&mut b.geo.country, v)
        }
        "source.as.organization.name" | "client.as.organization.name" => set(&mut b.geo.as_org, v),
        "cloud.region" => set(&mut b.geo.cloud_region, v),
        "agent.name" => set(&mut b.agent_name, v),
        "azure.resource.id" => set(&mut b.resource_id, v),
        "azure.resource.group" => set(&mut b.resource_group, v),
        "azure.resource.name" => set(&mut b.resource_name, v),
        "azure.resource.provider" => set(&mut b.provider, v),
        "azure.subscription_id" => set(&mut b.subscription_id, v),
        "azure.correlation_id" => set(&mut b.correlation_id, v),
        "user_agent.original" => set(&mut b.client_info_fb, v),
        "hits.hits" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        "" => b.not_object = true,
        _ => {
            if let Some(rest) = path.strip_prefix("azure.platformlogs.") {
                // Elastic spells the record's own keys in snake case (`operation_name`,
                // `result_type`, `caller_ip_address`): drop the `_` of the first segment.
                let first = rest.split('.').next().unwrap_or(rest);
                if first.contains('_') {
                    let mut k = first.replace('_', "");
                    k.push_str(&rest[first.len()..]);
                    map_azure(b, &k, v);
                } else {
                    map_azure(b, rest, v);
                }
            }
        }
    }
}

/// The namespace after `/providers/` in a resource id, if any.
fn provider_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/').filter(|p| !p.is_empty());
    while let Some(seg) = parts.next() {
        if seg.eq_ignore_ascii_case("providers") {
            return parts.next();
        }
    }
    None
}

/// Segments of a resource id [`vault_of`] takes apart itself; longer ids take the slow way.
const MAX_SEGMENTS: usize = 16;

/// [`Vault::from_resource_id`] and [`provider_of`] in one pass over the id (the two walked
/// it three times, a tenth of the cost of a record). Gives exactly what they give.
fn vault_of(id: &str) -> (Vault<'_>, Option<Str<'_>>) {
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0usize;
    let mut start = 0usize;
    for end in memchr::memchr_iter(b'/', id.as_bytes()).chain(std::iter::once(id.len())) {
        // `start` and `end` are at a `/` or an end of the id: char boundaries.
        let seg = id.get(start..end).unwrap_or("");
        start = end + 1;
        if seg.is_empty() {
            continue;
        }
        match segs.get_mut(n) {
            Some(slot) => *slot = seg,
            None => {
                return (
                    Vault::from_resource_id(id),
                    provider_of(id).map(Cow::Borrowed),
                );
            }
        }
        n += 1;
    }
    let segs = &segs[..n];
    let mut v = Vault {
        resource_id: Some(Cow::Borrowed(id)),
        ..Vault::default()
    };
    let mut i = 0usize;
    while let Some(seg) = segs.get(i) {
        if seg.eq_ignore_ascii_case("subscriptions") {
            v.subscription_id = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        } else if seg.eq_ignore_ascii_case("resourcegroups") {
            v.resource_group = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        }
        i += 1;
    }
    v.name = segs.last().map(|s| Cow::Borrowed(*s));
    v.resource_type = n
        .checked_sub(2)
        .and_then(|k| segs.get(k))
        .map(|s| Cow::Borrowed(*s));
    let provider = segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))
        .and_then(|k| segs.get(k + 1))
        .map(|s| Cow::Borrowed(*s));
    (v, provider)
}

/// The resource type in a provider spelled `MICROSOFT.KEYVAULT/VAULTS` (its last segment),
/// borrowed when the provider is.
fn provider_type<'a>(p: &Str<'a>) -> Option<Str<'a>> {
    fn last(p: &str) -> Option<&str> {
        let (_, t) = p.split_once('/')?;
        Some(t.rsplit('/').next().unwrap_or(t))
    }
    match p {
        Cow::Borrowed(s) => last(s).map(Cow::Borrowed),
        Cow::Owned(s) => last(s).map(|t| Cow::Owned(t.to_string())),
    }
}

impl<'a> Builder<'a> {
    /// Turns the values into an event, or says why the record is not one.
    pub(crate) fn finish(
        self,
        origin: Origin,
        opts: &ReadOptions,
    ) -> Result<AuditEvent<'a>, (SkipReason, String)> {
        let b = self;
        let category_given = b.category.is_some();
        let category = b.category.unwrap_or(Cow::Borrowed("AuditEvent"));
        if !category.eq_ignore_ascii_case("AuditEvent") {
            return Err((SkipReason::OtherCategory, format!("category {category}")));
        }
        if let Some(t) = &b.table_type {
            if !(t.eq_ignore_ascii_case("AzureDiagnostics")
                || t.eq_ignore_ascii_case("AZKVAuditLogs"))
            {
                return Err((SkipReason::OtherCategory, format!("table {t}")));
            }
        }
        if let (Some(ds), false) = (&b.dataset, category_given) {
            if !ds
                .as_bytes()
                .windows(12)
                .any(|w| w.eq_ignore_ascii_case(b"platformlogs"))
            {
                return Err((SkipReason::OtherCategory, format!("dataset {ds}")));
            }
        }

        let (mut vault, id_provider) = match b.resource_id.or(b.resource_id_fb) {
            Some(Cow::Borrowed(id)) => vault_of(id),
            Some(Cow::Owned(id)) => {
                let p = provider_of(&id).map(|p| Cow::Owned(p.to_string()));
                (Vault::from_resource_id_cow(Cow::Owned(id)), p)
            }
            None => (Vault::default(), None),
        };
        // Elastic's provider is `MICROSOFT.KEYVAULT/VAULTS`, the tables' `MICROSOFT.KEYVAULT`.
        // Nothing below refuses a record before this check, so the reasons come out as
        // before; borrowed instead of copied.
        let provider_ns = b
            .provider
            .as_deref()
            .map(|p| p.split_once('/').map_or(p, |(ns, _)| ns));
        if let Some(p) = id_provider.as_deref().or(provider_ns) {
            if !p.eq_ignore_ascii_case("microsoft.keyvault") {
                return Err((SkipReason::NotKeyVault, format!("provider {p}")));
            }
        }
        if vault.resource_type.is_none() {
            vault.resource_type = b
                .resource_type
                .or_else(|| b.provider.as_ref().and_then(provider_type));
        }
        if vault.name.is_none() {
            vault.name = b.resource_name;
        }
        if vault.subscription_id.is_none() {
            vault.subscription_id = b.subscription_id;
        }
        if vault.resource_group.is_none() {
            vault.resource_group = b.resource_group;
        }
        vault.region = b.location;
        if !vault.is_key_vault() {
            let t = vault.resource_type.as_deref().unwrap_or("");
            if !(opts.include_managed_hsm && t.eq_ignore_ascii_case("managedhsms")) {
                return Err((SkipReason::NotKeyVault, format!("resource type {t}")));
            }
        }

        let time = match &b.time {
            None => return Err((SkipReason::BadTime, "no time".to_string())),
            Some(t) => match parse_time(t) {
                Some(ts) => ts,
                None => return Err((SkipReason::BadTime, format!("unreadable time '{t}'"))),
            },
        };
        let Some(operation) = b.operation.or(b.operation_fb) else {
            return Err((SkipReason::MissingField, "no operationName".to_string()));
        };

        let mut ev = AuditEvent::new(time, category, operation);
        ev.operation_version = b.operation_version;
        ev.result_type = b.result_type.or(b.result_type_fb);
        ev.result_signature = b.result_signature;
        ev.result_description = b.result_description;
        ev.http_status = b
            .http_status
            .and_then(|l| l.as_u64())
            .and_then(|n| u16::try_from(n).ok());
        ev.duration_ms = b.duration.and_then(|l| l.as_u64_rounded()).or_else(|| {
            b.duration_ns
                .and_then(|l| l.as_u64())
                .map(|ns| ns / 1_000_000)
        });
        ev.caller_ip = match b.caller_ip {
            Some(c) => CallerIp::parse(c),
            None => CallerIp::Missing,
        };
        ev.identity = b.identity;
        if ev.identity.upn.is_none() {
            ev.identity.upn = b.upn_fb;
        }
        ev.vault = vault;
        ev.correlation_id = b.correlation_id;
        ev.request_uri = b.request_uri;
        ev.client_info = b.client_info.or(b.client_info_fb);
        ev.object_id = b.object_id;
        ev.tls_version = b.tls_version;
        ev.geo = b.geo;
        ev.agent_name = b.agent_name;
        ev.origin = origin;
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build<'a>(
        text: &'a str,
        map: fn(&mut Builder<'a>, &str, Leaf<'a>),
    ) -> Result<AuditEvent<'a>, (SkipReason, String)> {
        let mut b = Builder::default();
        walk_text(text, "", &mut |p, l| map(&mut b, p, l)).unwrap();
        b.finish(Origin { source: 1, line: 3 }, &ReadOptions::default())
    }

    #[test]
    fn managed_hsm_shape_is_read_and_filtered() {
        let text = r#"{"time":"2020-08-31T19:52:39.763Z","resourceId":"/SUBSCRIPTIONS/s/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM","operationName":"BackupCreate","durationMs":488,"callerIpAddress":"52.178.1.2","identity":"{\"claim\":{\"appid\":\"app-1\",\"http_schemas_microsoft_com_identity\":{\"claims\":{\"objectidentifier\":\"obj-1\"}},\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{\"claims\":{\"upn\":\"admin@contoso.com\"}}}}","clientInfo":"azsdk","httpStatusCode":202,"requestUri":"https://x/backup","resourceType":"managedHSMs"}"#;
        let err = build(text, map_azure).unwrap_err();
        assert_eq!(
            err,
            (SkipReason::NotKeyVault, "resource type MANAGEDHSMS".into())
        );
        let mut b = Builder::default();
        walk_text(text, "", &mut |p, l| map_azure(&mut b, p, l)).unwrap();
        let opts = ReadOptions {
            include_managed_hsm: true,
            ..ReadOptions::default()
        };
        let ev = b.finish(Origin::default(), &opts).unwrap();
        assert_eq!(ev.identity.upn.as_deref(), Some("admin@contoso.com"));
        assert_eq!(ev.identity.object_id.as_deref(), Some("obj-1"));
        assert_eq!(ev.identity.app_id.as_deref(), Some("app-1"));
        assert!(ev.identity.other.is_empty());
        assert_eq!(ev.duration_ms, Some(488));
        assert_eq!(ev.http_status, Some(202));
        assert_eq!(ev.client_info.as_deref(), Some("azsdk"));
        assert_eq!(ev.request_uri.as_deref(), Some("https://x/backup"));
        assert_eq!(ev.vault.name.as_deref(), Some("CONTOSOMHSM"));
    }

    #[test]
    fn other_categories_tables_and_providers_are_refused() {
        let r = build(
            r#"{"time":"2024-01-01T00:00:00Z","category":"AzurePolicyEvaluationDetails","operationName":"x"}"#,
            map_azure,
        );
        assert_eq!(
            r.unwrap_err(),
            (
                SkipReason::OtherCategory,
                "category AzurePolicyEvaluationDetails".into()
            )
        );
        let r = build(
            r#"{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"AzureMetrics","OperationName":"x"}"#,
            map_azure,
        );
        assert_eq!(r.unwrap_err().0, SkipReason::OtherCategory);
        let r = build(
            r#"{"time":"2024-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.NETWORK/VAULTS/X","operationName":"x"}"#,
            map_azure,
        );
        assert_eq!(
            r.unwrap_err(),
            (SkipReason::NotKeyVault, "provider MICROSOFT.NETWORK".into())
        );
        let r = build(r#"{"operationName":"x"}"#, map_azure);
        assert_eq!(r.unwrap_err(), (SkipReason::BadTime, "no time".into()));
        let r = build(r#"{"time":"soon","operationName":"x"}"#, map_azure);
        assert_eq!(
            r.unwrap_err(),
            (SkipReason::BadTime, "unreadable time 'soon'".into())
        );
        let r = build(r#"{"time":"2024-01-01T00:00:00Z"}"#, map_azure);
        assert_eq!(r.unwrap_err().0, SkipReason::MissingField);
    }

    #[test]
    fn vault_of_matches_the_model() {
        let long = format!("/{}", "a/".repeat(MAX_SEGMENTS + 3));
        for id in [
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/managedHSMs/h/",
            "//subscriptions//s//x",
            "/subscriptions/providers/providers/X/resourcegroups",
            "/subscriptions",
            "providers",
            "/a/providers",
            "v",
            "",
            "///",
            "/SUBSCRIPTIONS/S/SUBSCRIPTIONS/T/RESOURCEGROUPS/é/PROVIDERS/P/PROVIDERS/Q",
            &long,
        ] {
            let (v, p) = vault_of(id);
            let want = Vault::from_resource_id(id);
            assert_eq!(
                serde_json::to_value(&v).unwrap(),
                serde_json::to_value(&want).unwrap(),
                "{id}"
            );
            assert_eq!(p.as_deref(), provider_of(id), "{id}");
        }
    }

    #[test]
    fn ecs_dotted_and_nested_read_the_same() {
        let nested = r#"{"@timestamp":"2024-05-01T10:00:00.1234567Z","event":{"action":"SecretGet","outcome":"success","dataset":"azure.platformlogs"},"source":{"ip":"104.40.82.76","geo":{"city_name":"Dublin","country_name":"Ireland"},"as":{"organization":{"name":"Contoso"}}},"azure":{"resource":{"id":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","provider":"MICROSOFT.KEYVAULT/VAULTS"},"platformlogs":{"result_type":"Success","durationMs":"12","identity":{"claim":{"upn":"a@b.c"}},"properties":{"httpStatusCode":200}}},"cloud":{"region":"westeurope"},"agent":{"name":"fb-1"}}"#;
        let dotted = r#"{"@timestamp":"2024-05-01T10:00:00.1234567Z","event.action":"SecretGet","event.outcome":"success","event.dataset":"azure.platformlogs","source.ip":"104.40.82.76","source.geo.city_name":"Dublin","source.geo.country_name":"Ireland","source.as.organization.name":"Contoso","azure.resource.id":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","azure.resource.provider":"MICROSOFT.KEYVAULT/VAULTS","azure.platformlogs.result_type":"Success","azure.platformlogs.durationMs":"12","azure.platformlogs.identity.claim.upn":"a@b.c","azure.platformlogs.properties.httpStatusCode":200,"cloud.region":"westeurope","agent.name":"fb-1"}"#;
        let a = build(nested, map_ecs).unwrap();
        let b = build(dotted, map_ecs).unwrap();
        assert_eq!(a.to_dictionary_json(), b.to_dictionary_json());
        assert_eq!(a.operation, "SecretGet");
        assert_eq!(a.result_type.as_deref(), Some("Success"));
        assert_eq!(a.identity.upn.as_deref(), Some("a@b.c"));
        assert_eq!(a.http_status, Some(200));
        assert_eq!(a.duration_ms, Some(12));
        assert_eq!(a.geo.city.as_deref(), Some("Dublin"));
        assert_eq!(a.geo.as_org.as_deref(), Some("Contoso"));
        assert_eq!(a.geo.cloud_region.as_deref(), Some("westeurope"));
        assert_eq!(a.agent_name.as_deref(), Some("fb-1"));
        assert_eq!(a.vault.name.as_deref(), Some("KV1"));
        let other = build(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","event.action":"x","event.dataset":"azure.activitylogs"}"#,
            map_ecs,
        );
        assert_eq!(other.unwrap_err().0, SkipReason::OtherCategory);
    }
}
