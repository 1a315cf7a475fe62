//! Inputs that are not (only) Key Vault audit logs: other products' logs, a forced form the
//! content contradicts, Managed HSM records in every spelling, other categories; and claims
//! whose values are arrays or objects.

mod common;

use common::{read_path, scratch, write};
use kvsentry_ingest::{
    Container, Foreign, IngestError, LogFormat, ReadOptions, SkipReason, detect, sniff,
};
use serde_json::json;

const VAULT_ID: &str = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/SECRETS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV";
const HSM_ID: &str = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/CONTOSORESOURCEGROUP/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM";

/// A service principal's SecretGet as a Storage blob line; `claims` go into the claim object.
fn secret_get(claims: &str) -> String {
    format!(
        r#"{{ "time": "2025-06-30T17:33:25.0331812Z", "category": "AuditEvent", "operationName": "SecretGet", "resultType": "Success", "correlationId": "00000000-0000-0000-0000-000000000036", "callerIpAddress": "203.0.113.10", "identity": {{"claim":{{"oid":"00000000-0000-0000-0000-000000000037","appid":"00000000-0000-0000-0000-000000000038",{claims}"idtyp":"app"}}}}, "properties": {{"id":"https://acme-secrets-dev.vault.azure.net/secrets/jwt/6e62","clientInfo":"AZURECLI/2.74.0","httpStatusCode":200}}, "resourceId": "{VAULT_ID}", "operationVersion": "7.4", "resultSignature": "OK", "durationMs": "41"}}"#
    )
}

/// A Managed HSM record shaped as Microsoft's example; `id` and `rtype` vary the spelling.
fn hsm(id: Option<&str>, rtype: &str) -> String {
    let id = id.map_or(String::new(), |id| format!(r#""resourceId": "{id}", "#));
    format!(
        r#"{{"TenantId": "t", "time": "2020-08-31T19:52:39.763Z", {id}"operationName": "BackupCreate", "operationVersion": "7.0", "category": "AuditEvent", "resultType": "Success", "properties": {{"PoolType": "M-HSM"}}, "durationMs": 488, "callerIpAddress": "52.178.1.2", "identity": "{{\"claim\":{{\"appid\":\"a\",\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{{\"claims\":{{\"upn\":\"admin@contoso.com\"}}}}}}}}", "httpStatusCode": 202, "requestUri": "https://ContosoMHSM.managedhsm.azure.net/backup", "resourceProvider": "MICROSOFT.KEYVAULT", "resource": "ContosoMHSM", "resourceType": "{rtype}"}}"#
    )
}

const CLOUDTRAIL: &str = r#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice"},"eventTime":"2025-06-30T17:33:25Z","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.10","requestParameters":{"secretId":"prod/db"},"eventType":"AwsApiCall"}]}"#;

#[test]
fn another_products_logs_are_named_not_read() {
    assert_eq!(
        sniff(CLOUDTRAIL.as_bytes()),
        Err(Foreign::AwsCloudTrail {
            records_array: true
        })
    );
    // Before, the `Records` key passed for an Event Hubs envelope.
    assert_eq!(detect(CLOUDTRAIL.as_bytes()), None);
    let lines = r#"{"eventVersion":"1.08","eventTime":"2025-06-30T17:33:25Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1"}"#;
    assert_eq!(
        sniff(lines.as_bytes()),
        Err(Foreign::AwsCloudTrail {
            records_array: false
        })
    );
    // A Key Vault envelope is still one.
    let eh = format!("{{\"records\": [{}]}}", secret_get(""));
    assert_eq!(
        detect(eh.as_bytes()).map(|d| d.0),
        Some(LogFormat::EventHub)
    );
    assert_eq!(sniff(b" \n"), Err(Foreign::Empty));
    assert_eq!(sniff(b"PK\x03\x04\x00\xff"), Err(Foreign::Binary));
    assert_eq!(sniff(b"a,b\n1,2\n"), Err(Foreign::OtherText));
    assert_eq!(sniff(br#"{"name":"x"}"#), Err(Foreign::OtherJson));

    let dir = scratch("cloudtrail");
    let p = write(&dir, "ct.json", CLOUDTRAIL);
    let r = read_path(&p, &ReadOptions::default());
    let e = r.result.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} looks like AWS CloudTrail (Records array), not an Azure Key Vault log",
            p.display()
        )
    );
    assert!(r.events.is_empty());
    assert_eq!(r.stats.records(), 0);
    assert_eq!(r.stats.failed_files, 1);
    assert_eq!(r.stats.foreign.len(), 1);
    assert_eq!(r.stats.foreign[0].file, p.display().to_string());
    assert_eq!(
        r.stats.foreign[0].what,
        Foreign::AwsCloudTrail {
            records_array: true
        }
    );
    // An empty file is noted as such, and is no error.
    let empty = write(&dir, "PT1H.json", "");
    let r = read_path(&empty, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(r.stats.empty_files, 1);
    assert_eq!(r.stats.foreign[0].what, Foreign::Empty);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_forced_form_must_not_contradict_the_content() {
    let dir = scratch("forced");
    let storage = write(&dir, "PT1H.json", format!("{}\n", secret_get("")));
    let forced = |format| ReadOptions {
        format,
        ..ReadOptions::default()
    };
    let r = read_path(&storage, &forced(LogFormat::Ecs));
    let e = r.result.unwrap_err();
    assert!(matches!(e, IngestError::NotForcedForm { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: not an ecs file (looks like storage)",
            storage.display()
        )
    );
    // Refused whole: not read as Elastic documents without a time.
    assert_eq!(r.stats.records(), 0);
    assert_eq!(r.stats.skipped(SkipReason::BadTime), 0);
    assert_eq!(r.stats.failed_files, 1);
    let e = read_path(&storage, &forced(LogFormat::Array))
        .result
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: not an array file (looks like storage)",
            storage.display()
        )
    );
    // The form it is: read.
    let r = read_path(&storage, &forced(LogFormat::Storage));
    r.result.unwrap();
    assert_eq!(r.events.len(), 1);
    read_path(&storage, &forced(LogFormat::Auto))
        .result
        .unwrap();

    // Another product's logs, forced.
    let ct = write(&dir, "ct.json", CLOUDTRAIL);
    let e = read_path(&ct, &forced(LogFormat::EventHub))
        .result
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: not an eventhub file (looks like AWS CloudTrail (Records array))",
            ct.display()
        )
    );

    // What detection cannot tell is read as forced: that is what forcing is for.
    let odd = write(
        &dir,
        "odd.json",
        format!(
            "{}\n",
            r#"{"when":"2025-06-30T17:33:25Z","operationName":"SecretGet"}"#
        ),
    );
    let r = read_path(&odd, &forced(LogFormat::Storage));
    r.result.unwrap();
    assert_eq!(r.stats.forms[&LogFormat::Storage].records, 1);
    // A CSV with only the columns both tables share: `azure-diagnostics` is a guess.
    let csv = write(
        &dir,
        "export.csv",
        "TimeGenerated [UTC],OperationName,CallerIpAddress\n2025-06-30T17:33:25Z,SecretGet,203.0.113.10\n",
    );
    let d = sniff(&std::fs::read(&csv).unwrap()).unwrap();
    assert_eq!(
        (d.form, d.container, d.certain),
        (LogFormat::AzureDiagnostics, Container::Csv, false)
    );
    let r = read_path(&csv, &forced(LogFormat::Azkv));
    r.result.unwrap();
    assert_eq!(r.stats.forms[&LogFormat::Azkv].events, 1);
    // ... but a column only `AzureDiagnostics` has decides it.
    let ad = write(
        &dir,
        "ad.csv",
        "TimeGenerated [UTC],OperationName,CallerIPAddress,httpStatusCode_d\n2025-06-30T17:33:25Z,SecretGet,203.0.113.10,200\n",
    );
    let e = read_path(&ad, &forced(LogFormat::Azkv)).result.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("not an azkv file (looks like azure-diagnostics)"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn managed_hsm_records_are_counted_in_every_spelling_and_form() {
    let dir = scratch("mhsm");
    let storage = write(
        &dir,
        "PT1H.json",
        [
            secret_get(""),
            hsm(Some(HSM_ID), "managedHSMs"),
            hsm(None, "managedHSMs"),
            hsm(None, "HSM"),
            hsm(None, "Microsoft.KeyVault/managedHSMs"),
            // Another Azure resource: not Key Vault, and not a Managed HSM either.
            secret_get("").replace(
                "MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV",
                "MICROSOFT.STORAGE/STORAGEACCOUNTS/ACME",
            ),
        ]
        .join("\n"),
    );
    let r = read_path(&storage, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.stats.managed_hsm, 4);
    assert_eq!(r.stats.skipped(SkipReason::NotKeyVault), 5);
    assert_eq!(r.stats.skipped_total(), 5);
    assert!(
        r.stats.summary().contains("Managed HSM records 4"),
        "{}",
        r.stats.summary()
    );

    let ad = write(
        &dir,
        "ad.json",
        json!([
            {"TimeGenerated": "2025-06-30T17:37:00Z", "Category": "AuditEvent", "OperationName": "KeyGet", "ResourceId": HSM_ID, "ResourceType": "MANAGEDHSMS", "CallerIPAddress": "52.178.1.2", "httpStatusCode_d": 200, "Type": "AzureDiagnostics"},
            {"TimeGenerated": "2025-06-30T17:38:00Z", "Category": "AuditEvent", "OperationName": "KeyGet", "ResourceType": "MANAGEDHSMS", "CallerIPAddress": "52.178.1.2", "httpStatusCode_d": 200, "Type": "AzureDiagnostics"}
        ])
        .to_string(),
    );
    let ecs = write(
        &dir,
        "ecs.ndjson",
        r#"{"@timestamp":"2025-06-30T17:40:00.000Z","event":{"action":"KeyGet","dataset":"azure.platformlogs"},"azure":{"resource":{"provider":"MICROSOFT.KEYVAULT/MANAGEDHSMS","name":"CONTOSOMHSM"},"platformlogs":{"category":"AuditEvent"}}}"#,
    );
    for (p, n) in [(&ad, 2), (&ecs, 1)] {
        let r = read_path(p, &ReadOptions::default());
        r.result.unwrap();
        assert!(r.events.is_empty());
        assert_eq!(r.stats.managed_hsm, n, "{}", p.display());
        assert_eq!(r.stats.skipped(SkipReason::NotKeyVault), n);
    }

    // Asked for, every spelling is delivered, its URI claims (objects) read as claims.
    let opts = ReadOptions {
        include_managed_hsm: true,
        ..ReadOptions::default()
    };
    let r = read_path(&storage, &opts);
    assert_eq!(r.events.len(), 5);
    assert_eq!(r.stats.managed_hsm, 0);
    assert_eq!(
        r.events[1].identity.upn.as_deref(),
        Some("admin@contoso.com")
    );
    assert!(r.events[1].identity.other.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn other_categories_are_counted_by_name() {
    let dir = scratch("categories");
    let rec = |cat: &str| secret_get("").replace("\"AuditEvent\"", &format!("\"{cat}\""));
    let p = write(
        &dir,
        "PT1H.json",
        [
            rec("AzurePolicyEvaluationDetails"),
            rec("AzurePolicyEvaluationDetails"),
            rec("AllMetrics"),
            secret_get(""),
        ]
        .join("\n"),
    );
    let r = read_path(&p, &ReadOptions::default());
    assert_eq!(r.events.len(), 1);
    let got: Vec<(&str, u64)> = r
        .stats
        .other_categories
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        got,
        [("AllMetrics", 1), ("AzurePolicyEvaluationDetails", 2)]
    );
    assert_eq!(r.stats.filtered(), 3);
    for reason in SkipReason::ALL {
        assert!(!reason.label().contains('_'), "{reason:?}");
        assert_eq!(reason.to_string(), reason.label());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The JSON type of each `other` claim, by key.
fn claim_types(ev: &kvsentry_model::AuditEvent<'_>) -> Vec<(String, serde_json::Value)> {
    let other = ev.identity.other_claims_json();
    other.into_iter().collect()
}

#[test]
fn array_and_object_claims_keep_their_type_in_every_walk_and_form() {
    let dir = scratch("claims");
    // Group overage: `_claim_names` / `_claim_sources` are objects.
    let claims = r#""xms_az_nwperimid":[],"wids":["b79fbf4d","62e90394"],"acrs":"[c1]","iss":"https://sts.windows.net/t/","_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.windows.net/t/users/o/getMemberObjects"}},"#;
    let plain = secret_get(claims);
    let want = vec![
        ("xms_az_nwperimid".to_string(), json!([])),
        ("wids".to_string(), json!(["b79fbf4d", "62e90394"])),
        // A string that looks like an array stays a string.
        ("acrs".to_string(), json!("[c1]")),
        ("iss".to_string(), json!("https://sts.windows.net/t/")),
        ("claim_names".to_string(), json!({"groups": "src1"})),
        (
            "claim_sources".to_string(),
            json!({"src1": {"endpoint": "https://graph.windows.net/t/users/o/getMemberObjects"}}),
        ),
    ];
    let lines = [
        // the keyed walk
        plain.clone(),
        // an escaped string: the serde walk
        plain.replace("AZURECLI/2.74.0", "AZURECLI/2.74.0 \\\"x\\\""),
        // a dotted key: the path walk
        plain.replace(
            r#""durationMs": "41""#,
            r#""durationMs": "41", "properties.x": 1"#,
        ),
        // `identity` JSON-encoded, as Managed HSM and CSV exports write it
        plain.replace(
            &format!(r#""identity": {{"claim":{{"oid":"00000000-0000-0000-0000-000000000037","appid":"00000000-0000-0000-0000-000000000038",{claims}"idtyp":"app"}}}}"#),
            &format!(
                r#""identity": {}"#,
                serde_json::to_string(&format!(
                    r#"{{"claim":{{"oid":"o","appid":"a",{claims}"idtyp":"app"}}}}"#
                ))
                .unwrap()
            ),
        ),
    ];
    let p = write(&dir, "PT1H.json", lines.join("\n"));
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(r.events.len(), 4);
    for ev in &r.events {
        assert_eq!(claim_types(ev), want, "line {}", ev.origin.line);
    }
    // The same claims in an Elastic document.
    let ecs = write(
        &dir,
        "ecs.ndjson",
        format!(
            r#"{{"@timestamp":"2025-06-30T17:40:00.000Z","event":{{"action":"SecretGet","dataset":"azure.platformlogs"}},"azure":{{"resource":{{"id":"{VAULT_ID}"}},"platformlogs":{{"category":"AuditEvent","identity":{{"claim":{{{}"oid":"o"}}}}}}}}}}"#,
            claims
        ),
    );
    let r = read_path(&ecs, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(claim_types(&r.events[0]), want);
    // The same claims as `AzureDiagnostics` columns: the array's JSON text in a `_s` column.
    let ad = write(
        &dir,
        "ad.json",
        json!([{"TimeGenerated": "2025-06-30T17:33:25.0331812Z", "Category": "AuditEvent", "OperationName": "SecretGet", "ResourceId": VAULT_ID, "ResourceType": "VAULTS", "CallerIPAddress": "203.0.113.10", "identity_claim_xms_az_nwperimid_s": "[]", "identity_claim_wids_s": "[\"b79fbf4d\",\"62e90394\"]", "identity_claim_acrs_s": "c1", "identity_claim_iss_s": "https://sts.windows.net/t/", "Type": "AzureDiagnostics"}])
            .to_string(),
    );
    let r = read_path(&ad, &ReadOptions::default());
    r.result.unwrap();
    let got = claim_types(&r.events[0]);
    assert_eq!(got[0], want[0]);
    assert_eq!(got[1], want[1]);
    assert_eq!(got[2], ("acrs".to_string(), json!("c1")));
    // A claim met twice: the last value wins, with its type.
    let twice = secret_get(r#""wids":["x"],"wids":"y","xms_cc":"z","xms_cc":["CP1"],"#);
    let p = write(&dir, "twice.json", twice);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(
        claim_types(&r.events[0]),
        vec![
            ("wids".to_string(), json!("y")),
            ("xms_cc".to_string(), json!(["CP1"]))
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
