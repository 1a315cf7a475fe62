//! Elastic documents as the Azure integration (`azure.platformlogs` data stream) indexes them.

use crate::event::{EventRef, RecordKind};
use crate::fmt::{push_guid, push_json_body, push_time, push_u64};
use crate::forms::raw::push_properties_body;
use crate::render::{
    RESULT_TYPE, operation_version, push_description, push_identity_json, result_signature,
};
use crate::world::{NETWORKS, REGIONS};

const AGENTS: [&str; 2] = ["elastic-agent-azure-01", "elastic-agent-azure-02"];

/// Appends one ECS document (no newline).
pub fn push_doc(buf: &mut Vec<u8>, ev: &EventRef, scratch: &mut Vec<u8>) {
    let v = ev.vault();
    buf.extend_from_slice(b"{\"@timestamp\":\"");
    push_time(buf, ev.ev.ticks, 3);
    buf.extend_from_slice(b"\",\"event\":{\"action\":\"");
    buf.extend_from_slice(ev.operation().as_bytes());
    buf.extend_from_slice(b"\",\"dataset\":\"azure.platformlogs\",\"duration\":");
    push_u64(buf, u64::from(ev.ev.duration) * 1_000_000);
    buf.extend_from_slice(
        b",\"kind\":\"event\",\"module\":\"azure\",\"outcome\":\"success\"},\"source\":{\"ip\":\"",
    );
    let ip = ev.ip_info();
    buf.extend_from_slice(ip.text.as_bytes());
    buf.push(b'"');
    if let Some(net) = ip.net.and_then(|n| NETWORKS.get(n)) {
        buf.extend_from_slice(b",\"geo\":{\"city_name\":\"");
        buf.extend_from_slice(net.city.as_bytes());
        buf.extend_from_slice(b"\",\"country_iso_code\":\"");
        buf.extend_from_slice(net.country_iso.as_bytes());
        buf.extend_from_slice(b"\",\"country_name\":\"");
        buf.extend_from_slice(net.country.as_bytes());
        buf.extend_from_slice(b"\",\"region_name\":\"");
        buf.extend_from_slice(net.region.as_bytes());
        buf.extend_from_slice(b"\",\"location\":{\"lat\":");
        buf.extend_from_slice(format_coord(net.lat).as_bytes());
        buf.extend_from_slice(b",\"lon\":");
        buf.extend_from_slice(format_coord(net.lon).as_bytes());
        buf.extend_from_slice(b"}},\"as\":{\"number\":");
        push_u64(buf, u64::from(net.asn));
        buf.extend_from_slice(b",\"organization\":{\"name\":\"");
        buf.extend_from_slice(net.as_org.as_bytes());
        buf.extend_from_slice(b"\"}}");
    }
    buf.extend_from_slice(b"},\"azure\":{\"correlation_id\":\"");
    push_guid(buf, ev.ev.corr, false);
    buf.extend_from_slice(b"\",\"resource\":{\"id\":\"");
    buf.extend_from_slice(v.resource_id.as_bytes());
    buf.extend_from_slice(b"\",\"group\":\"");
    buf.extend_from_slice(v.rg_upper.as_bytes());
    buf.extend_from_slice(b"\",\"name\":\"");
    buf.extend_from_slice(v.name_upper.as_bytes());
    buf.extend_from_slice(if ev.ev.kind == RecordKind::ManagedHsm {
        b"\",\"provider\":\"MICROSOFT.KEYVAULT/MANAGEDHSMS\"},\"subscription_id\":\""
    } else {
        b"\",\"provider\":\"MICROSOFT.KEYVAULT/VAULTS\"},\"subscription_id\":\""
    });
    buf.extend_from_slice(v.sub_upper.as_bytes());
    buf.extend_from_slice(b"\",\"platformlogs\":{\"category\":\"");
    buf.extend_from_slice(ev.category().as_bytes());
    buf.extend_from_slice(b"\",\"operation_name\":\"");
    buf.extend_from_slice(ev.operation().as_bytes());
    buf.extend_from_slice(b"\",\"operation_version\":\"");
    buf.extend_from_slice(operation_version(ev).as_bytes());
    buf.extend_from_slice(b"\",\"result_type\":\"");
    buf.extend_from_slice(RESULT_TYPE.as_bytes());
    buf.extend_from_slice(b"\",\"result_signature\":\"");
    buf.extend_from_slice(result_signature(ev.ev.status).as_bytes());
    buf.push(b'"');
    scratch.clear();
    if push_description(scratch, ev) {
        buf.extend_from_slice(b",\"result_description\":\"");
        push_json_body(buf, std::str::from_utf8(scratch).unwrap_or(""));
        buf.push(b'"');
    }
    let mark = buf.len();
    buf.extend_from_slice(b",\"identity\":");
    if !push_identity_json(buf, ev) {
        buf.truncate(mark);
    }
    buf.extend_from_slice(b",\"properties\":{");
    push_properties_body(buf, ev);
    buf.extend_from_slice(b"}}},\"cloud\":{\"provider\":\"azure\",\"region\":\"");
    buf.extend_from_slice(REGIONS[v.region % REGIONS.len()].as_bytes());
    buf.extend_from_slice(b"\"},\"agent\":{\"name\":\"");
    buf.extend_from_slice(AGENTS[usize::from(ev.ev.agent_variant) % 2].as_bytes());
    buf.extend_from_slice(b"\",\"type\":\"filebeat\",\"version\":\"8.14.3\"},\"data_stream\":{\"dataset\":\"azure.platformlogs\",\"namespace\":\"default\",\"type\":\"logs\"},\"ecs\":{\"version\":\"8.11.0\"},\"tags\":[\"azure-platformlogs\",\"forwarded\"]}");
}

fn format_coord(x: f32) -> String {
    format!("{x:.4}")
}

/// Appends the `_index` name of the backing data-stream index for the event's day.
pub fn push_index(buf: &mut Vec<u8>, ticks: i64) {
    buf.extend_from_slice(b".ds-logs-azure.platformlogs-default-");
    let mut t = Vec::with_capacity(24);
    push_time(&mut t, ticks, 0);
    // YYYY-MM-DD -> YYYY.MM.DD
    for &c in t.get(..10).unwrap_or(&[]) {
        buf.push(if c == b'-' { b'.' } else { c });
    }
    buf.extend_from_slice(b"-000001");
}

/// Appends a 20-character document id in Elasticsearch's URL-safe base64 alphabet.
pub fn push_doc_id(buf: &mut Vec<u8>, v: u128) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in 0..20 {
        buf.push(A[((v >> (i * 6)) & 63) as usize]);
    }
}
