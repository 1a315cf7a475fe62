//! The raw diagnostic-log record, as Key Vault writes it to Storage and Event Hubs.

use crate::event::{EventRef, RecordKind};
use crate::fmt::{push_guid, push_json_body, push_json_str, push_time, push_u64};
use crate::render::{
    RESULT_TYPE, client_info, operation_version, push_description, push_identity_json,
    push_object_id, push_object_properties, push_request_uri, push_vault_settings,
    result_signature, tls_version,
};

/// Appends one record (no trailing newline or separator).
///
/// Key order of Key Vault records: time, resourceId, operationName, operationVersion,
/// category, resultType, resultSignature, resultDescription (failures only), durationMs (a
/// string), callerIpAddress, correlationId, identity, properties.
pub fn push_record(buf: &mut Vec<u8>, ev: &EventRef, scratch: &mut Vec<u8>) {
    match ev.ev.kind {
        RecordKind::ManagedHsm => return push_hsm_record(buf, ev, scratch),
        RecordKind::Vault | RecordKind::OtherCategory => {}
    }
    buf.extend_from_slice(b"{\"time\":\"");
    push_time(buf, ev.ev.ticks, 7);
    buf.extend_from_slice(b"\",\"resourceId\":\"");
    buf.extend_from_slice(ev.vault().resource_id.as_bytes());
    buf.extend_from_slice(b"\",\"operationName\":\"");
    buf.extend_from_slice(ev.operation().as_bytes());
    buf.extend_from_slice(b"\",\"operationVersion\":\"");
    buf.extend_from_slice(operation_version(ev).as_bytes());
    buf.extend_from_slice(b"\",\"category\":\"");
    buf.extend_from_slice(ev.category().as_bytes());
    buf.extend_from_slice(b"\",\"resultType\":\"");
    buf.extend_from_slice(RESULT_TYPE.as_bytes());
    buf.extend_from_slice(b"\",\"resultSignature\":\"");
    buf.extend_from_slice(result_signature(ev.ev.status).as_bytes());
    buf.push(b'"');
    scratch.clear();
    if push_description(scratch, ev) {
        buf.extend_from_slice(b",\"resultDescription\":\"");
        // The description is ASCII built by us; only its line breaks need escaping.
        push_json_body(buf, std::str::from_utf8(scratch).unwrap_or(""));
        buf.push(b'"');
    }
    buf.extend_from_slice(b",\"durationMs\":\"");
    push_u64(buf, u64::from(ev.ev.duration));
    buf.extend_from_slice(b"\",\"callerIpAddress\":\"");
    buf.extend_from_slice(ev.ip_info().text.as_bytes());
    buf.extend_from_slice(b"\",\"correlationId\":\"");
    push_guid(buf, ev.ev.corr, false);
    buf.push(b'"');
    let mark = buf.len();
    buf.extend_from_slice(b",\"identity\":");
    if !push_identity_json(buf, ev) {
        buf.truncate(mark);
    }
    buf.extend_from_slice(b",\"properties\":{");
    push_properties_body(buf, ev);
    buf.extend_from_slice(b"}}");
}

/// The members of `properties` (without braces), shared with the ECS form.
pub fn push_properties_body(buf: &mut Vec<u8>, ev: &EventRef) {
    let start = buf.len();
    buf.extend_from_slice(b"\"id\":\"");
    if push_object_id(buf, ev) {
        buf.extend_from_slice(b"\",");
    } else {
        buf.truncate(start);
    }
    buf.extend_from_slice(b"\"clientInfo\":");
    push_json_str(buf, client_info(ev));
    buf.extend_from_slice(b",\"httpStatusCode\":");
    push_u64(buf, u64::from(ev.ev.status));
    buf.extend_from_slice(b",\"requestUri\":\"");
    push_request_uri(buf, ev);
    buf.push(b'"');
    if ev.ev.kind == RecordKind::OtherCategory {
        buf.extend_from_slice(
            b",\"policyDefinitionId\":\"/providers/Microsoft.Authorization/policyDefinitions/",
        );
        push_guid(buf, u128::from(ev.ev.vault) * 0x9E37_79B9_7F4A_7C15, false);
        buf.extend_from_slice(b"\",\"complianceState\":\"");
        buf.extend_from_slice(if ev.ev.agent_variant < 3 {
            b"NonCompliant"
        } else {
            b"Compliant"
        });
        buf.push(b'"');
        return;
    }
    if ev.ev.status != 401 {
        if ev.vault().rbac {
            buf.extend_from_slice(b",\"isRbacAuthorized\":");
        } else {
            buf.extend_from_slice(b",\"isAccessPolicyMatch\":");
        }
        buf.extend_from_slice(if ev.ev.status == 403 {
            b"false"
        } else {
            b"true"
        });
    }
    buf.extend_from_slice(b",\"tlsVersion\":\"");
    buf.extend_from_slice(tls_version(ev).as_bytes());
    buf.push(b'"');
    push_object_properties(buf, ev);
    if ev.ev.op.is_management() && ev.ev.status == 200 {
        buf.extend_from_slice(b",\"properties\":");
        push_vault_settings(buf, ev);
    }
}

/// A Managed HSM record, shaped like Microsoft's documented example: `identity` is a
/// JSON-encoded string with flattened claim names, `durationMs` a number, 3 fractional digits.
fn push_hsm_record(buf: &mut Vec<u8>, ev: &EventRef, scratch: &mut Vec<u8>) {
    let v = ev.vault();
    buf.extend_from_slice(b"{\"TenantId\":\"");
    buf.extend_from_slice(ev.world.tenant.as_bytes());
    buf.extend_from_slice(b"\",\"time\":\"");
    push_time(buf, ev.ev.ticks, 3);
    buf.extend_from_slice(b"\",\"resourceId\":\"");
    buf.extend_from_slice(v.resource_id.as_bytes());
    buf.extend_from_slice(b"\",\"operationName\":\"");
    buf.extend_from_slice(ev.operation().as_bytes());
    buf.extend_from_slice(b"\",\"operationVersion\":\"7.4\",\"category\":\"AuditEvent\",\"resultType\":\"Success\",\"properties\":{\"PoolType\":\"M-HSM\",\"sku_Family\":\"B\",\"sku_Name\":\"Standard_B1\"},\"durationMs\":");
    push_u64(buf, u64::from(ev.ev.duration));
    buf.extend_from_slice(b",\"callerIpAddress\":\"");
    buf.extend_from_slice(ev.ip_info().text.as_bytes());
    buf.extend_from_slice(b"\",\"identity\":\"");
    scratch.clear();
    if let Some(i) = ev.ident() {
        scratch.extend_from_slice(b"{\"claim\":{\"appid\":\"");
        scratch.extend_from_slice(i.app_id.as_bytes());
        scratch.extend_from_slice(
            b"\",\"http_schemas_microsoft_com_identity\":{\"claims\":{\"objectidentifier\":\"",
        );
        scratch.extend_from_slice(i.oid.as_bytes());
        scratch.extend_from_slice(b"\"}}");
        if let Some(upn) = &i.upn {
            scratch.extend_from_slice(
                b",\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{\"claims\":{\"upn\":\"",
            );
            scratch.extend_from_slice(upn.as_bytes());
            scratch.extend_from_slice(b"\"}}");
        }
        scratch.extend_from_slice(b"}}");
    }
    push_json_body(buf, std::str::from_utf8(scratch).unwrap_or(""));
    buf.extend_from_slice(b"\",\"clientInfo\":");
    push_json_str(buf, client_info(ev));
    buf.extend_from_slice(b",\"correlationId\":\"");
    push_guid(buf, ev.ev.corr, false);
    buf.extend_from_slice(b"\",\"subnetId\":\"(unknown)\",\"httpStatusCode\":");
    push_u64(buf, u64::from(ev.ev.status));
    buf.extend_from_slice(b",\"PoolName\":\"");
    buf.extend_from_slice(v.name.as_bytes());
    buf.extend_from_slice(b"\",\"requestUri\":\"");
    push_request_uri(buf, ev);
    buf.extend_from_slice(b"\",\"resourceGroup\":\"");
    buf.extend_from_slice(v.rg.as_bytes());
    buf.extend_from_slice(b"\",\"resourceProvider\":\"MICROSOFT.KEYVAULT\",\"resource\":\"");
    buf.extend_from_slice(v.name.as_bytes());
    buf.extend_from_slice(b"\",\"resourceType\":\"managedHSMs\"}");
}
