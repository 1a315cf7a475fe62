//! Every form, read from fixtures shaped like the real exports, gives the same five events
//! with the exact values of the source records.

mod common;

use common::*;
use kvsentry_ingest::{LogFormat, ReadOptions, SkipReason, detect};
use kvsentry_model::{AuditEvent, CallerIp, IdentityKind, Timestamp};

const FORMS: [(&str, LogFormat); 8] = [
    ("storage.jsonl", LogFormat::Storage),
    ("eventhub.json", LogFormat::EventHub),
    ("array.json", LogFormat::Array),
    ("azure_diagnostics.json", LogFormat::AzureDiagnostics),
    ("azure_diagnostics.csv", LogFormat::AzureDiagnostics),
    ("azkv.jsonl", LogFormat::Azkv),
    ("azkv.csv", LogFormat::Azkv),
    ("ecs.ndjson", LogFormat::Ecs),
];

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn other<'e>(e: &'e AuditEvent<'_>, k: &str) -> Option<&'e str> {
    e.identity
        .other
        .iter()
        .find(|(key, _)| key == k)
        .map(|(_, v)| &**v)
}

/// The exact values of the five canonical records, whatever form they were read from.
fn assert_canonical(ev: &[AuditEvent<'_>], form: &str) {
    assert_eq!(ev.len(), 5, "{form}");
    // 1: data-plane SecretGet by a user, short claims.
    let e = &ev[0];
    assert_eq!(e.time, ts("2022-06-30T11:59:25.4111792Z"), "{form}");
    assert_eq!(e.time.subsec_nanosecond(), 411_179_200, "{form}");
    assert_eq!(e.category, "AuditEvent");
    assert_eq!(e.operation, "SecretGet", "{form}");
    assert_eq!(e.operation_version.as_deref(), Some("7.0"), "{form}");
    assert_eq!(e.result_type.as_deref(), Some("Success"), "{form}");
    assert_eq!(e.result_signature.as_deref(), Some("OK"), "{form}");
    assert_eq!(e.result_description, None, "{form}");
    assert_eq!(e.http_status, Some(200), "{form}");
    assert_eq!(e.duration_ms, Some(9), "{form}");
    assert_eq!(
        e.caller_ip,
        CallerIp::Addr("104.40.82.76".parse().unwrap()),
        "{form}"
    );
    let id = &e.identity;
    assert_eq!(
        id.upn.as_deref(),
        Some("attacker@securathesis.onmicrosoft.com"),
        "{form}"
    );
    assert_eq!(
        id.unique_name.as_deref(),
        Some("attacker@securathesis.onmicrosoft.com")
    );
    assert_eq!(
        id.app_id.as_deref(),
        Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
        "{form}"
    );
    assert_eq!(
        id.object_id.as_deref(),
        Some("30a6c29d-de7c-4830-815f-9b3bb366e975"),
        "{form}"
    );
    assert_eq!(id.scope.as_deref(), Some("user_impersonation"), "{form}");
    assert_eq!(id.auth_methods.as_deref(), Some("pwd"), "{form}");
    assert_eq!(id.ip_claim.as_deref(), Some("104.40.82.76"), "{form}");
    assert!(id.other.is_empty(), "{form}: {:?}", id.other);
    assert_eq!(id.kind(), IdentityKind::User);
    assert_eq!(
        e.vault.resource_id.as_deref(),
        Some(
            "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT"
        ),
        "{form}"
    );
    assert_eq!(e.vault.name.as_deref(), Some("SECURAALLKEYVAULT"), "{form}");
    assert_eq!(
        e.vault.subscription_id.as_deref(),
        Some("A921D5D4-BDB7-43C3-AA01-88C6AE24992F"),
        "{form}"
    );
    assert_eq!(
        e.vault.resource_group.as_deref(),
        Some("SECURAALLRG"),
        "{form}"
    );
    assert_eq!(e.vault.resource_type.as_deref(), Some("VAULTS"), "{form}");
    assert_eq!(
        e.object_id.as_deref(),
        Some(
            "https://securaallkeyvault.vault.azure.net/secrets/SecuraAllSecret/4c39bacace9a49b2bd542ce61bd6f312"
        ),
        "{form}"
    );
    assert_eq!(
        e.client_info.as_deref(),
        Some(
            "python/3.8.9 (Windows-10-10.0.19041-SP0) msrest/0.6.21 msrest_azure/0.6.4 azure-keyvault/7.0 Azure-SDK-For-Python"
        ),
        "{form}"
    );
    assert_eq!(
        e.request_uri.as_deref(),
        Some("https://securaallkeyvault.vault.azure.net/secrets/SecuraAllSecret/?api-version=7.0"),
        "{form}"
    );
    assert_eq!(
        e.correlation_id.as_deref(),
        Some("1e00f8e4-d4c8-46fe-ba9b-3863dde1ff54"),
        "{form}"
    );
    assert_eq!(e.tls_version.as_deref(), Some("TLS1_2"), "{form}");

    // 2: vault operation with long claim keys, IPv6 caller.
    let e = &ev[1];
    assert_eq!(e.time, ts("2022-06-28T10:02:53.1689554Z"), "{form}");
    assert_eq!(e.operation, "VaultPut", "{form}");
    assert_eq!(
        e.operation_version.as_deref(),
        Some("2021-06-01-preview"),
        "{form}"
    );
    assert_eq!(
        e.caller_ip,
        CallerIp::Addr("2a01:111:f400::1a".parse().unwrap()),
        "{form}"
    );
    assert_eq!(
        e.identity.upn.as_deref(),
        Some("attacker@securathesis.onmicrosoft.com"),
        "{form}"
    );
    assert_eq!(
        e.identity.name.as_deref(),
        Some("attacker@securathesis.onmicrosoft.com"),
        "{form}"
    );
    assert_eq!(
        e.identity.object_id.as_deref(),
        Some("30a6c29d-de7c-4830-815f-9b3bb366e975"),
        "{form}"
    );
    assert_eq!(
        e.identity.app_id.as_deref(),
        Some("04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
        "{form}"
    );
    assert!(
        e.identity.other.is_empty(),
        "{form}: {:?}",
        e.identity.other
    );
    assert_eq!(e.http_status, Some(200), "{form}");
    assert_eq!(e.duration_ms, Some(104), "{form}");
    assert_eq!(
        e.object_id.as_deref(),
        Some("https://securaallkeyvault.vault.azure.net/"),
        "{form}"
    );
    assert_eq!(e.client_info.as_deref(), Some("AZURECLI/2.34.1"), "{form}");
    assert_eq!(e.tls_version, None, "{form}");

    // 3: service principal, forbidden, redacted caller.
    let e = &ev[2];
    assert_eq!(e.time, ts("2025-06-30T17:33:25.0331812Z"), "{form}");
    assert_eq!(e.operation, "SecretGet", "{form}");
    assert_eq!(e.result_type.as_deref(), Some("Success"), "{form}");
    assert_eq!(e.result_signature.as_deref(), Some("Forbidden"), "{form}");
    assert_eq!(e.http_status, Some(403), "{form}");
    assert_eq!(e.duration_ms, Some(41), "{form}");
    assert_eq!(
        e.caller_ip,
        CallerIp::Invalid("<Redacted>".into()),
        "{form}"
    );
    assert_eq!(e.identity.upn, None, "{form}");
    assert_eq!(e.identity.identity_type.as_deref(), Some("app"), "{form}");
    assert_eq!(
        e.identity.app_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000038"),
        "{form}"
    );
    assert_eq!(
        e.identity.object_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000037"),
        "{form}"
    );
    assert_eq!(e.identity.app_id_acr.as_deref(), Some("1"), "{form}");
    assert_eq!(e.identity.kind(), IdentityKind::ServicePrincipal, "{form}");
    assert_eq!(
        other(e, "iss"),
        Some("https://sts.windows.net/00000000-0000-0000-0000-000000000011/"),
        "{form}"
    );
    assert_eq!(
        other(e, "aud"),
        Some("00000000-0000-0000-0000-000000000039"),
        "{form}"
    );
    assert_eq!(other(e, "xms_az_nwperimid"), Some("[]"), "{form}");
    assert_eq!(e.identity.other.len(), 3, "{form}");
    assert_eq!(e.vault.name.as_deref(), Some("ACME-SECRETS-DEV"), "{form}");
    assert_eq!(
        e.vault.subscription_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000009"),
        "{form}"
    );
    assert_eq!(e.vault.resource_group.as_deref(), Some("SECRETS"), "{form}");
    assert_eq!(
        e.object_id.as_deref(),
        Some(
            "https://acme-secrets-dev.vault.azure.net/secrets/jwt-token-feed-external-api-service"
        ),
        "{form}"
    );
    assert_eq!(e.tls_version.as_deref(), Some("TLS1_3"), "{form}");

    // 4: managed identity; 100 ns after the second.
    let e = &ev[3];
    assert_eq!(e.time, ts("2024-03-12T08:15:02.0000001Z"), "{form}");
    assert_eq!(e.time.subsec_nanosecond(), 100, "{form}");
    assert_eq!(e.operation, "KeyGet", "{form}");
    assert_eq!(
        e.caller_ip,
        CallerIp::Addr("52.178.17.3".parse().unwrap()),
        "{form}"
    );
    assert_eq!(
        e.identity.managed_identity_id.as_deref(),
        Some(
            "/subscriptions/00000000-0000-0000-0000-000000000009/resourcegroups/apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-mi"
        ),
        "{form}"
    );
    assert_eq!(e.identity.kind(), IdentityKind::ManagedIdentity, "{form}");
    assert_eq!(
        e.identity.tenant_id.as_deref(),
        Some("72f988bf-86f1-41af-91ab-2d7cd011db47"),
        "{form}"
    );
    assert_eq!(
        e.identity.object_id.as_deref(),
        Some("7f1e2d3c-4b5a-4968-8776-655443322110"),
        "{form}"
    );
    assert_eq!(e.identity.app_id_acr.as_deref(), Some("2"), "{form}");
    assert_eq!(
        e.client_info.as_deref(),
        Some("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
        "{form}"
    );
    assert_eq!(e.http_status, Some(200), "{form}");
    assert_eq!(e.duration_ms, Some(23), "{form}");

    // 5: unauthenticated call, IPv6, description over two lines, no identity.
    let e = &ev[4];
    assert_eq!(e.time, ts("2024-03-12T08:15:03.9999999Z"), "{form}");
    assert_eq!(e.time.subsec_nanosecond(), 999_999_900, "{form}");
    assert_eq!(e.operation, "SecretList", "{form}");
    assert_eq!(
        e.result_signature.as_deref(),
        Some("Unauthorized"),
        "{form}"
    );
    assert_eq!(
        e.result_description.as_deref(),
        Some("Unauthorized.\nBearer token missing."),
        "{form}"
    );
    assert_eq!(e.http_status, Some(401), "{form}");
    assert_eq!(e.duration_ms, Some(1), "{form}");
    assert_eq!(
        e.caller_ip,
        CallerIp::Addr("2603:1030:b:3::5c".parse().unwrap()),
        "{form}"
    );
    assert_eq!(e.identity.kind(), IdentityKind::Unknown, "{form}");
    assert_eq!(e.identity.principal(), None, "{form}");
    assert_eq!(e.correlation_id, None, "{form}");
    assert_eq!(e.object_id, None, "{form}");
    assert_eq!(e.client_info.as_deref(), Some("curl/8.4.0"), "{form}");
}

#[test]
fn every_form_reads_the_canonical_records() {
    for (name, want) in FORMS {
        let r = read_fixture(name);
        r.result.as_ref().unwrap();
        assert_canonical(&r.events, name);
        assert_eq!(
            r.stats.forms.keys().copied().collect::<Vec<_>>(),
            [want],
            "{name}"
        );
        let s = r.stats.forms[&want];
        assert_eq!((s.files, s.records, s.events), (1, 5, 5), "{name}");
        assert_eq!(r.stats.skipped_total(), 0, "{name}: {}", r.stats);
        assert_eq!(r.stats.invalid_caller_ip, 1, "{name}");
        assert!(r.events.iter().all(|e| e.origin.source == 1));
    }
}

#[test]
fn the_same_records_read_identically_in_every_form() {
    let base: Vec<_> = read_fixture("storage.jsonl")
        .events
        .iter()
        .map(|e| e.to_dictionary_json())
        .collect();
    assert_eq!(base.len(), 5);
    for (name, _) in FORMS {
        let got: Vec<_> = read_fixture(name)
            .events
            .iter()
            .map(|e| e.to_dictionary_json())
            .collect();
        for (i, (a, b)) in base.iter().zip(&got).enumerate() {
            assert_eq!(a, b, "{name}: record {}", i + 1);
        }
        assert_eq!(got.len(), 5, "{name}");
    }
}

#[test]
fn records_keep_the_line_they_start_on() {
    let want: [(&str, [u64; 5]); 8] = [
        ("storage.jsonl", [1, 2, 3, 4, 5]),
        ("eventhub.json", [3, 34, 69, 102, 102]),
        ("array.json", [2, 27, 51, 76, 101]),
        ("azure_diagnostics.json", [2, 48, 94, 140, 186]),
        ("azure_diagnostics.csv", [2, 3, 4, 5, 6]),
        ("azkv.jsonl", [1, 2, 3, 4, 5]),
        ("azkv.csv", [2, 3, 4, 5, 6]),
        ("ecs.ndjson", [1, 2, 3, 4, 5]),
    ];
    for (name, lines_want) in want {
        assert_eq!(lines(&read_fixture(name).events), lines_want, "{name}");
    }
}

#[test]
fn detection_names_each_fixture() {
    use kvsentry_ingest::Container::*;
    let want = [
        ("storage.jsonl", LogFormat::Storage, JsonLines),
        ("eventhub.json", LogFormat::EventHub, JsonDocuments),
        ("array.json", LogFormat::Array, JsonDocuments),
        (
            "azure_diagnostics.json",
            LogFormat::AzureDiagnostics,
            JsonDocuments,
        ),
        ("azure_diagnostics.csv", LogFormat::AzureDiagnostics, Csv),
        ("azkv.jsonl", LogFormat::Azkv, JsonLines),
        ("azkv.csv", LogFormat::Azkv, Csv),
        ("ecs.ndjson", LogFormat::Ecs, JsonLines),
    ];
    for (name, form, container) in want {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert_eq!(detect(&bytes), Some((form, container)), "{name}");
        // A head cut inside the first record still tells the form.
        assert_eq!(detect(&bytes[..600]).map(|d| d.0), Some(form), "{name}");
    }
}

#[test]
fn forcing_the_form_reads_the_same() {
    for (name, form) in FORMS {
        let opts = ReadOptions {
            format: form,
            ..ReadOptions::default()
        };
        let r = read_path(&fixture(name), &opts);
        r.result.unwrap();
        assert_canonical(&r.events, name);
    }
    // A Storage file forced as Event Hubs is not read as one: refused, naming what it is.
    let opts = ReadOptions {
        format: LogFormat::EventHub,
        ..ReadOptions::default()
    };
    let p = fixture("storage.jsonl");
    let r = read_path(&p, &opts);
    assert_eq!(
        r.result.unwrap_err().to_string(),
        format!("{}: not an eventhub file (looks like storage)", p.display())
    );
    assert!(r.events.is_empty());
    assert_eq!(r.stats.records(), 0);
    assert_eq!(r.stats.skipped(SkipReason::MalformedJson), 0);
}
