//! Events later than `allowed_lateness`: judged on the workers, against watermarks fixed
//! for the pass, and written to a dead-letter file as Azure Storage records (`PT1H.json`
//! lines) that `kvsentry hunt` reads, so they can be re-checked later.
//!
//! An event is late when it is older than its own partition's watermark (the newest event
//! time seen there in earlier passes minus `allowed_lateness`) or than the engine's
//! watermark (windows it would belong to have closed). Within a pass the engine's
//! watermark does not move, so order within a pass loses nothing: it is not late.

use std::io::Write;
use std::path::{Path, PathBuf};

use foldhash::HashMap;
use kvsentry_model::{AuditEvent, CallerIp};
use serde_json::{Map, Value};

/// The watermarks of one pass, per partition (source index) and the engine's.
pub(crate) struct Floors {
    parts: HashMap<u32, i64>,
    engine: i64,
}

impl Floors {
    /// `parts`: each partition's newest event time (ns); `lateness` in ns; `engine`: the
    /// engine's watermark (ns), if it has one.
    pub fn new<'a>(
        parts: impl Iterator<Item = (&'a u32, &'a i64)>,
        lateness: i64,
        engine: Option<i64>,
    ) -> Floors {
        Floors {
            parts: parts
                .map(|(k, t)| (*k, t.saturating_sub(lateness)))
                .collect(),
            engine: engine.unwrap_or(i64::MIN),
        }
    }

    /// Whether an event of partition `source` at `time` (ns) is late.
    #[inline]
    pub fn is_late(&self, source: u32, time: i64) -> bool {
        time < self.engine || self.parts.get(&source).is_some_and(|f| time < *f)
    }
}

/// Where late events go: `<state_dir>/dead-letter/late-events.jsonl`.
pub(crate) fn dead_letter_path(state_dir: &Path) -> PathBuf {
    state_dir.join("dead-letter").join("late-events.jsonl")
}

/// Appends `lines` to the dead-letter file, synced: before the pass's checkpoint, so a
/// crash may write a pass's late events twice (hunt drops repeated records), never lose
/// them.
pub(crate) fn append(path: &Path, lines: &[u8]) -> std::io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(lines)?;
    f.sync_data()
}

/// The event as an Azure Storage `AuditEvent` record, one line, for the dead-letter file.
/// `input` and `source` (partition and line) say where it was read and are kept beside the
/// record's own fields (readers ignore them).
pub(crate) fn storage_record(ev: &AuditEvent<'_>, input: &str, source: &str) -> Vec<u8> {
    fn put(m: &mut Map<String, Value>, k: &str, v: Option<&str>) {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.to_string()));
        }
    }
    let mut r = Map::new();
    r.insert("time".into(), Value::String(ev.time.to_string()));
    let resource = ev
        .vault
        .resource_id
        .as_deref()
        .map(str::to_string)
        .or_else(|| {
            Some(format!(
                "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}",
                ev.vault.subscription_id.as_deref()?,
                ev.vault.resource_group.as_deref()?,
                ev.vault.name.as_deref()?
            ))
        });
    put(&mut r, "resourceId", resource.as_deref());
    put(&mut r, "category", Some(&ev.category));
    put(&mut r, "operationName", Some(&ev.operation));
    put(&mut r, "operationVersion", ev.operation_version.as_deref());
    put(&mut r, "resultType", ev.result_type.as_deref());
    put(&mut r, "resultSignature", ev.result_signature.as_deref());
    put(
        &mut r,
        "resultDescription",
        ev.result_description.as_deref(),
    );
    if let Some(d) = ev.duration_ms {
        r.insert("durationMs".into(), Value::String(d.to_string()));
    }
    match &ev.caller_ip {
        CallerIp::Addr(ip) => put(&mut r, "callerIpAddress", Some(&ip.to_string())),
        CallerIp::Invalid(t) => put(&mut r, "callerIpAddress", Some(t)),
        CallerIp::Missing => {}
    }
    put(&mut r, "correlationId", ev.correlation_id.as_deref());
    let id = &ev.identity;
    let mut claim = Map::new();
    for (k, v) in [
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            &id.upn,
        ),
        ("unique_name", &id.unique_name),
        ("name", &id.name),
        ("appid", &id.app_id),
        (
            "http://schemas.microsoft.com/identity/claims/objectidentifier",
            &id.object_id,
        ),
        ("idtyp", &id.identity_type),
        (
            "http://schemas.microsoft.com/identity/claims/tenantid",
            &id.tenant_id,
        ),
        ("ipaddr", &id.ip_claim),
        ("xms_mirid", &id.managed_identity_id),
        ("appidacr", &id.app_id_acr),
        (
            "http://schemas.microsoft.com/identity/claims/scope",
            &id.scope,
        ),
        (
            "http://schemas.microsoft.com/claims/authnmethodsreferences",
            &id.auth_methods,
        ),
    ] {
        put(&mut claim, k, v.as_deref());
    }
    for (k, v) in &id.other {
        claim
            .entry(k.to_string())
            .or_insert_with(|| Value::String(v.to_string()));
    }
    if !claim.is_empty() {
        let mut identity = Map::new();
        identity.insert("claim".into(), Value::Object(claim));
        r.insert("identity".into(), Value::Object(identity));
    }
    let mut props = Map::new();
    put(&mut props, "id", ev.object_id.as_deref());
    put(&mut props, "clientInfo", ev.client_info.as_deref());
    if let Some(s) = ev.http_status {
        props.insert("httpStatusCode".into(), Value::from(s));
    }
    put(&mut props, "requestUri", ev.request_uri.as_deref());
    put(&mut props, "tlsVersion", ev.tls_version.as_deref());
    r.insert("properties".into(), Value::Object(props));
    let mut late = Map::new();
    late.insert("input".into(), Value::String(input.to_string()));
    late.insert("source".into(), Value::String(source.to_string()));
    r.insert("kvsentryLate".into(), Value::Object(late));
    let mut line = serde_json::to_vec(&Value::Object(r)).unwrap_or_default();
    line.push(b'\n');
    line
}
