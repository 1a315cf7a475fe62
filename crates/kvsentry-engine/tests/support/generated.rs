//! The generator's Key Vault records as engine events, shared by the engine's test files.

use kvsentry_gen::Generator;
use kvsentry_model::{AuditEvent, CallerIp, Origin, Vault};

/// The Key Vault records of the run as events (the fields the three rules read).
pub fn events(g: &Generator) -> Vec<AuditEvent<'static>> {
    g.events()
        .filter(|e| e.is_key_vault_audit())
        .enumerate()
        .map(|(i, e)| {
            let mut a = AuditEvent::new(e.time(), "AuditEvent".into(), e.operation().into());
            a.http_status = Some(e.http_status());
            a.caller_ip = CallerIp::parse(e.caller_ip().to_string().into());
            a.vault = Vault::from_resource_id_cow(e.resource_id().to_string().into());
            if let Some(id) = e.ident() {
                a.identity.upn = id.upn.clone().map(Into::into);
                a.identity.app_id = Some(id.app_id.clone().into());
                a.identity.object_id = Some(id.oid.clone().into());
            }
            a.origin = Origin {
                source: 0,
                line: i as u64 + 1,
            };
            a
        })
        .collect()
}
