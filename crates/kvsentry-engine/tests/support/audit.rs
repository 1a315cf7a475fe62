//! Key Vault audit events shaped like the records of Microsoft's logging page and a 2022
//! attack emulation, and the runs of the engine over them, shared by the engine's test files.
#![allow(dead_code)]

use kvsentry_engine::{Engine, EngineOptions};
use kvsentry_model::{Alert, AuditEvent, CallerIp, Origin, Timestamp, Vault};
use kvsentry_rules::RuleSet;

pub const SEED: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
pub const APP: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
pub const VAULT_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT";
pub const VAULT2_ID: &str = "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/PAYROLL-KV";
pub const ALICE: &str = "alice@contoso.com";
pub const BOB: &str = "bob@contoso.com";

#[derive(Clone, Copy)]
pub enum Who {
    User(&'static str),
    Sp(&'static str, &'static str),
    Mi(&'static str, &'static str),
    AppOnly(&'static str),
    Nobody,
}

/// A data-plane read as Key Vault logs it; `line` is its line in the (imaginary) input file.
pub fn ev(time: &str, op: &'static str, who: Who, line: u64) -> AuditEvent<'static> {
    let t: Timestamp = time.parse().unwrap();
    let mut e = AuditEvent::new(t, "AuditEvent".into(), op.into());
    e.operation_version = Some("7.4".into());
    e.result_type = Some("Success".into());
    e.result_signature = Some("OK".into());
    e.http_status = Some(200);
    e.duration_ms = Some(41);
    e.caller_ip = CallerIp::parse("104.40.82.76".into());
    e.vault = Vault::from_resource_id(VAULT_ID);
    e.correlation_id = Some(format!("a6c3d2e1-0000-4000-8000-{line:012}").into());
    e.client_info = Some("AZURECLI/2.74.0 (DEB) azsdk-python-core/1.31.0 Python/3.12.10".into());
    e.request_uri =
        Some("https://securaallkeyvault.vault.azure.net/secrets/?api-version=7.4".into());
    e.tls_version = Some("TLS1_3".into());
    e.identity.tenant_id = Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into());
    match who {
        Who::User(upn) => {
            e.identity.upn = Some(upn.into());
            e.identity.object_id = Some(format!("oid-{upn}").into());
            e.identity.app_id = Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46".into());
            e.identity.identity_type = Some("user".into());
        }
        Who::Sp(app, oid) => {
            e.identity.app_id = Some(app.into());
            e.identity.object_id = Some(oid.into());
            e.identity.identity_type = Some("app".into());
            e.identity.app_id_acr = Some("1".into());
        }
        Who::Mi(app, oid) => {
            e.identity.app_id = Some(app.into());
            e.identity.object_id = Some(oid.into());
            e.identity.managed_identity_id = Some("/subscriptions/a921d5d4-bdb7-43c3-aa01-88c6ae24992f/resourcegroups/securaallrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/batch-mi".into());
        }
        Who::AppOnly(app) => {
            e.identity.app_id = Some(app.into());
        }
        Who::Nobody => {}
    }
    e.origin = Origin { source: 0, line };
    e
}

pub fn run_with(
    rules: &RuleSet,
    opts: EngineOptions,
    events: &[AuditEvent<'_>],
) -> (Vec<Alert>, Engine) {
    let mut engine = Engine::new(rules, opts).unwrap();
    let mut out = Vec::new();
    for e in events {
        engine.push(e, &mut out);
    }
    engine.finish(&mut out);
    (out, engine)
}

pub fn run(events: &[AuditEvent<'_>]) -> Vec<Alert> {
    run_with(&RuleSet::builtin(), EngineOptions::default(), events).0
}

pub fn of_rule<'a>(alerts: &'a [Alert], id: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule.id == id).collect()
}

/// Five reads by Alice within 10:00, two kinds.
pub fn alice_burst(minute: &str, first_line: u64) -> Vec<AuditEvent<'static>> {
    let ops = [
        "SecretList",
        "SecretGet",
        "SecretGet",
        "SecretGet",
        "SecretList",
    ];
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            ev(
                &format!("2026-01-05T{minute}:{:02}.1234567Z", 5 + i * 10),
                op,
                Who::User(ALICE),
                first_line + i as u64,
            )
        })
        .collect()
}

/// The seed rule with a sliding window (and a new id).
pub fn sliding_rules(suppression: &str) -> RuleSet {
    let y = RuleSet::builtin()
        .get(SEED)
        .unwrap()
        .to_yaml()
        .replace(SEED, "sliding-seed")
        .replace("type: tumbling", "type: sliding")
        .replace("suppression: 0", &format!("suppression: {suppression}"));
    RuleSet::from_yaml_str(&y, "sliding.yml").unwrap()
}

/// Several bursts over two hours, for order and memory tests.
pub fn busy_day() -> Vec<AuditEvent<'static>> {
    let mut events = Vec::new();
    let mut line = 0;
    let ops = [
        "SecretGet",
        "SecretList",
        "KeyGet",
        "CertificateList",
        "VaultGet",
        "SecretSet",
    ];
    for minute in 0..120u64 {
        let who = match minute % 3 {
            0 => Who::User(ALICE),
            1 => Who::User(BOB),
            _ => Who::Sp(
                "7b2f1e0a-1111-4c4c-9d9d-0123456789ab",
                "c0ffee00-2222-4d4d-8e8e-0123456789ab",
            ),
        };
        for k in 0..(minute % 9) {
            let op = ops[((minute + k) % 6) as usize];
            let t = format!(
                "2026-01-05T{:02}:{:02}:{:02}.{:07}Z",
                10 + minute / 60,
                minute % 60,
                k * 6 + minute % 5,
                line
            );
            line += 1;
            events.push(ev(&t, op, who, line));
        }
    }
    events
}

pub fn shuffled(events: &[AuditEvent<'static>], max_shift: usize) -> Vec<AuditEvent<'static>> {
    // Deterministic local shuffle: reverse chunks, so no event moves more than `max_shift`.
    let mut v: Vec<_> = events.to_vec();
    for chunk in v.chunks_mut(max_shift) {
        chunk.reverse();
    }
    v
}
