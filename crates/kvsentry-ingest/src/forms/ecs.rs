//! The Elastic mapping: `azure.platformlogs` documents (Filebeat's Azure module), nested or
//! dotted; what lies under `azure.platformlogs.` is the Azure record, handed to
//! [`map_azure`].

use kvsentry_json::Leaf;

use super::azure::map_azure;
use crate::event::builder::{set, set_num};
use crate::event::{Builder, Nested};

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
            set(&mut b.ev.geo.city, v)
        }
        "source.geo.region_name" | "client.geo.region_name" | "geo.region_name" => {
            set(&mut b.ev.geo.region, v)
        }
        "source.geo.country_name" | "client.geo.country_name" | "geo.country_name" => {
            set(&mut b.ev.geo.country, v)
        }
        "source.as.organization.name" | "client.as.organization.name" => {
            set(&mut b.ev.geo.as_org, v)
        }
        "cloud.region" => set(&mut b.ev.geo.cloud_region, v),
        "agent.name" => set(&mut b.ev.agent_name, v),
        "azure.resource.id" => set(&mut b.resource_id, v),
        "azure.resource.group" => set(&mut b.resource_group, v),
        "azure.resource.name" => set(&mut b.resource_name, v),
        "azure.resource.provider" => set(&mut b.provider, v),
        "azure.subscription_id" => set(&mut b.subscription_id, v),
        "azure.correlation_id" => set(&mut b.ev.correlation_id, v),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::builder::build;
    use crate::stats::SkipReason;

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
