//! The real binary over inputs that are not (only) Key Vault audit logs: a forced
//! `--log-format` that the content contradicts, claims whose values are arrays or objects, Managed HSM
//! records, inputs with no Key Vault event at all, and the words the summary uses for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvsentry"))
        .args(args)
        .output()
        .expect("run kvsentry")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const VAULT_ID: &str = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/SECRETS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV";

/// A data-plane SecretGet of a service principal as a Storage blob line, with the
/// `xms_az_nwperimid` array claim Key Vault writes.
fn secret_get(time: &str) -> String {
    format!(
        r#"{{ "time": "{time}", "category": "AuditEvent", "operationName": "SecretGet", "resultType": "Success", "correlationId": "00000000-0000-0000-0000-000000000036", "callerIpAddress": "203.0.113.10", "identity": {{"claim":{{"oid":"00000000-0000-0000-0000-000000000037","appid":"00000000-0000-0000-0000-000000000038","appidacr":"1","iss":"https://sts.windows.net/00000000-0000-0000-0000-000000000011/","xms_az_nwperimid":[],"idtyp":"app","uti":"REDACTED","iat":"1751304503","aud":"00000000-0000-0000-0000-000000000039"}}}}, "properties": {{"id":"https://acme-secrets-dev.vault.azure.net/secrets/jwt/6e62","clientInfo":"AZURECLI/2.74.0","httpStatusCode":200,"requestUri":"https://acme-secrets-dev.vault.azure.net/secrets/jwt/?api-version=7.4","isAccessPolicyMatch":true,"tlsVersion":"TLS1_3"}}, "resourceId": "{VAULT_ID}", "operationVersion": "7.4", "resultSignature": "OK", "durationMs": "41"}}"#
    )
}

/// A Managed HSM audit record as Microsoft's Managed HSM logging page shows it (`identity`
/// JSON-encoded, `durationMs` a number, `resourceType` spelled `managedHSMs`).
fn hsm_record(time: &str, resource_id: Option<&str>, resource_type: &str) -> String {
    let id = resource_id.map_or(String::new(), |id| format!(r#""resourceId": "{id}", "#));
    format!(
        r#"{{"TenantId": "00000000-0000-0000-0000-000000000011", "time": "{time}", {id}"operationName": "BackupCreate", "operationVersion": "7.0", "category": "AuditEvent", "resultType": "Success", "properties": {{"PoolType": "M-HSM", "sku_Family": "B", "sku_Name": "Standard_B1"}}, "durationMs": 488, "callerIpAddress": "52.178.1.2", "identity": "{{\"claim\":{{\"appid\":\"00000000-0000-0000-0000-000000000038\",\"http_schemas_microsoft_com_identity\":{{\"claims\":{{\"objectidentifier\":\"00000000-0000-0000-0000-000000000037\"}}}},\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{{\"claims\":{{\"upn\":\"admin@contoso.com\"}}}}}}}}", "clientInfo": "azsdk-python-core/1.7.0 Python/3.8.2", "correlationId": "aaaa0000-bb11-2222-33cc-444444dddddd", "subnetId": "(unknown)", "httpStatusCode": 202, "PoolName": "mhsmdemo", "requestUri": "https://ContosoMHSM.managedhsm.azure.net/backup", "resourceGroup": "ContosoResourceGroup", "resourceProvider": "MICROSOFT.KEYVAULT", "resource": "ContosoMHSM", "resourceType": "{resource_type}"}}"#
    )
}

const HSM_ID: &str = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/CONTOSORESOURCEGROUP/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM";

/// An Elastic `azure.platformlogs` document of a SecretGet.
const ECS_DOC: &str = r#"{"@timestamp":"2025-06-30T17:40:00.000Z","event":{"action":"SecretGet","dataset":"azure.platformlogs","outcome":"success"},"source":{"ip":"203.0.113.10"},"azure":{"resource":{"id":"/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000009/RESOURCEGROUPS/SECRETS/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV","provider":"MICROSOFT.KEYVAULT/VAULTS","name":"ACME-SECRETS-DEV"},"platformlogs":{"category":"AuditEvent","operation_name":"SecretGet","result_type":"Success","identity":{"claim":{"upn":"alice@contoso.com"}}}}}"#;

/// An AWS CloudTrail log file: one `{"Records":[...]}` object.
const CLOUDTRAIL: &str = r#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"},"eventTime":"2025-06-30T17:33:25Z","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0","requestParameters":{"secretId":"prod/db"},"responseElements":null,"requestID":"6c1b","eventID":"8f7a","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}]}
"#;

/// A resource log of another diagnostic category of a vault (Azure Policy).
fn policy_record(time: &str) -> String {
    format!(
        r#"{{"time": "{time}", "resourceId": "{VAULT_ID}", "operationName": "SecretGet", "category": "AzurePolicyEvaluationDetails", "resultType": "Success", "callerIpAddress": "203.0.113.10", "properties": {{"policyAssignmentId": "/providers/Microsoft.Authorization/policyAssignments/x"}}}}"#
    )
}

#[test]
fn a_forced_log_format_refuses_files_of_another_form() {
    let dir = tempfile::tempdir().unwrap();
    let storage = write(
        dir.path(),
        "PT1H.json",
        &format!("{}\n", secret_get("2025-06-30T17:33:25.0331812Z")),
    );
    let ecs = write(dir.path(), "elastic.ndjson", &format!("{ECS_DOC}\n"));
    // Both readers: the sequential one and the parallel one that cuts JSON Lines itself.
    for threads in ["1", "2"] {
        let out = run(&[
            "hunt",
            s(&storage),
            s(&ecs),
            "--log-format",
            "ecs",
            "-j",
            threads,
            "--no-progress",
            "-f",
            "jsonl",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(&format!(
                "{}: not an ecs file (looks like storage)",
                s(&storage)
            )),
            "{err}"
        );
        // Refused, not read as Elastic documents without a time.
        assert!(
            !err.contains("unreadable time") && !err.contains("damaged"),
            "{err}"
        );
        assert!(
            err.contains("read 1 file(s), 1 record(s), 1 event(s)"),
            "{err}"
        );

        let strict = run(&[
            "hunt",
            s(&storage),
            s(&ecs),
            "--log-format",
            "ecs",
            "-j",
            threads,
            "--strict",
            "--quiet",
            "-f",
            "jsonl",
        ]);
        assert_eq!(strict.status.code(), Some(3), "{}", stderr(&strict));
    }

    let events = run(&["events", s(&ecs), s(&storage), "--log-format", "ecs"]);
    let err = stderr(&events);
    assert_eq!(events.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not an ecs file (looks like storage)"),
        "{err}"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["identity"]["upn"], "alice@contoso.com");

    // Another product's logs are refused under a forced form too, named as what they are.
    let ct = write(dir.path(), "ct.json", CLOUDTRAIL);
    let out = run(&[
        "hunt",
        s(&ct),
        s(&storage),
        "--log-format",
        "storage",
        "--no-progress",
        "-f",
        "jsonl",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let want = format!(
        "{}: not a storage file (looks like AWS CloudTrail (Records array))",
        s(&ct)
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn array_and_object_claims_keep_their_json_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = secret_get("2025-06-30T17:33:25.0331812Z");
    rec = rec.replace(
        r#""xms_az_nwperimid":[]"#,
        r#""xms_az_nwperimid":[],"wids":["b79fbf4d-3ef9-4689-8143-76b194e85509"],"xms_cc":["CP1"],"_claim_names":{"groups":"src1"}"#,
    );
    // The same record as a Storage line and inside an Event Hubs envelope.
    let f = write(dir.path(), "PT1H.json", &format!("{rec}\n"));
    let eh = write(
        dir.path(),
        "eh.json",
        &format!("{{\"records\": [\n{rec}\n]}}\n"),
    );
    for p in [&f, &eh] {
        let out = run(&["events", s(p)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
        let other = &ev["identity"]["other_claims"];
        assert_eq!(other["xms_az_nwperimid"], json!([]), "{ev}");
        assert_eq!(
            other["wids"],
            json!(["b79fbf4d-3ef9-4689-8143-76b194e85509"]),
            "{ev}"
        );
        assert_eq!(other["xms_cc"], json!(["CP1"]), "{ev}");
        // Group overage: an object (its key normalised as every claim key is).
        assert_eq!(other["claim_names"], json!({"groups": "src1"}), "{ev}");
        // Strings stay strings, also when they look like numbers.
        assert_eq!(other["iat"], json!("1751304503"), "{ev}");
        assert_eq!(
            other["iss"],
            json!("https://sts.windows.net/00000000-0000-0000-0000-000000000011/")
        );
    }
}

#[test]
fn managed_hsm_records_are_named_and_never_damaged() {
    let dir = tempfile::tempdir().unwrap();
    // A Storage container receives both: a vault's record, then HSM records with the type
    // in the resource id, only in `resourceType` (`managedHSMs`, `HSM`).
    let storage = write(
        dir.path(),
        "PT1H.json",
        &[
            secret_get("2025-06-30T17:33:25.0331812Z"),
            hsm_record("2025-06-30T17:34:00.000Z", Some(HSM_ID), "managedHSMs"),
            hsm_record("2025-06-30T17:35:00.000Z", None, "managedHSMs"),
            hsm_record("2025-06-30T17:36:00.000Z", None, "HSM"),
        ]
        .join("\n"),
    );
    // Microsoft's example as it is documented: a bare array.
    let array = write(
        dir.path(),
        "mhsm.json",
        &format!(
            "[\n{}\n]\n",
            hsm_record("2020-08-31T19:52:39.763Z", Some(HSM_ID), "managedHSMs")
        ),
    );
    // Log Analytics rows with a `ResourceType` column, one without a resource id.
    let ad = write(
        dir.path(),
        "ad.json",
        &format!(
            "{}\n",
            json!([
                {"TimeGenerated": "2025-06-30T17:37:00Z", "Category": "AuditEvent", "OperationName": "KeyGet", "ResourceId": HSM_ID, "ResourceType": "MANAGEDHSMS", "ResourceProvider": "MICROSOFT.KEYVAULT", "CallerIPAddress": "52.178.1.2", "httpStatusCode_d": 200, "Type": "AzureDiagnostics"},
                {"TimeGenerated": "2025-06-30T17:38:00Z", "Category": "AuditEvent", "OperationName": "KeyGet", "ResourceType": "MANAGEDHSMS", "ResourceProvider": "MICROSOFT.KEYVAULT", "CallerIPAddress": "52.178.1.2", "httpStatusCode_d": 200, "Type": "AzureDiagnostics"}
            ])
        ),
    );
    let out = run(&[
        "hunt",
        s(&storage),
        s(&array),
        s(&ad),
        "--strict",
        "--no-progress",
        "-f",
        "jsonl",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("skipped Managed HSM records (out of scope for the Key Vault rules): 6"),
        "{err}"
    );
    assert!(err.contains("1 event(s)"), "{err}");
    assert!(!err.contains("damaged"), "{err}");
    assert!(!err.contains("not Key Vault records"), "{err}");

    // Only Managed HSM records: no Key Vault event, and the message says why.
    let out = run(&["hunt", s(&array), "--quiet", "-f", "jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no Key Vault audit events in 1 file(s): 1 record of Managed HSMs"),
        "{err}"
    );
}

#[test]
fn inputs_without_key_vault_events_exit_1_saying_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let empty_dir = dir.path().join("logs");
    std::fs::create_dir(&empty_dir).unwrap();
    let zero = write(dir.path(), "PT1H.json", "");
    let ct = write(dir.path(), "ct.json", CLOUDTRAIL);
    let policy = write(
        dir.path(),
        "policy.json",
        &[
            policy_record("2025-06-30T17:33:25.0000000Z"),
            policy_record("2025-06-30T17:33:26.0000000Z"),
            policy_record("2025-06-30T17:33:27.0000000Z"),
        ]
        .join("\n"),
    );
    let cases = [
        (
            s(&empty_dir).to_string(),
            format!(
                "no Key Vault audit events in 0 file(s): {}: the directory holds no files",
                s(&empty_dir)
            ),
        ),
        (
            s(&zero).to_string(),
            format!(
                "no Key Vault audit events in 1 file(s): {} is empty",
                s(&zero)
            ),
        ),
        (
            s(&ct).to_string(),
            format!(
                "no Key Vault audit events in 1 file(s): {} looks like AWS CloudTrail (Records array), not an Azure Key Vault log",
                s(&ct)
            ),
        ),
        (
            s(&policy).to_string(),
            "no Key Vault audit events in 1 file(s): 3 records of other diagnostic categories (AzurePolicyEvaluationDetails)".to_string(),
        ),
    ];
    for (path, want) in &cases {
        for cmd in ["hunt", "events"] {
            let args: Vec<&str> = if cmd == "hunt" {
                vec![cmd, path, "--quiet", "-f", "jsonl"]
            } else {
                vec![cmd, path]
            };
            let out = run(&args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{cmd} {path}: {err}");
            if cmd == "events" && want.contains("CloudTrail") {
                // events said the file's error as it read it; the last line points there
                // rather than saying it again.
                let (head, reason) = want.split_once(": ").unwrap_or_default();
                assert!(err.contains(reason), "{cmd} {path}: {err}");
                assert!(
                    err.contains(&format!("{head}: 1 file(s) could not be read (above)")),
                    "{cmd} {path}: {err}"
                );
                assert_eq!(err.matches("CloudTrail").count(), 1, "{cmd} {path}: {err}");
            } else {
                assert!(err.contains(want.as_str()), "{cmd} {path}: {err}");
            }
        }
    }
    // One readable file among them is enough for a run that completes.
    let good = write(
        dir.path(),
        "good.json",
        &format!("{}\n", secret_get("2025-06-30T17:33:25.0331812Z")),
    );
    let out = run(&["hunt", s(&ct), s(&zero), s(&good), "--quiet", "-f", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_summary_speaks_the_users_words() {
    let dir = tempfile::tempdir().unwrap();
    let network = secret_get("2025-06-30T17:33:29.0000000Z").replace(
        "PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/ACME-SECRETS-DEV",
        "PROVIDERS/MICROSOFT.NETWORK/APPLICATIONGATEWAYS/GW1",
    );
    let f = write(
        dir.path(),
        "PT1H.json",
        &[
            secret_get("2025-06-30T17:33:25.0331812Z"),
            policy_record("2025-06-30T17:33:26.0000000Z"),
            secret_get("last tuesday"),
            network,
            r#"{"time": "2025-06-30T17:33:28.0000000Z", "operationName": "#.to_string(),
        ]
        .join("\n"),
    );
    let out = run(&["hunt", s(&f), "--no-progress", "-f", "jsonl"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for words in [
        "other diagnostic categories 1 (AzurePolicyEvaluationDetails 1)",
        "not Key Vault records 1",
        "unreadable time",
        "malformed JSON",
    ] {
        assert!(err.contains(words), "{words}: {err}");
    }
    for internal in [
        "other_category",
        "not_key_vault",
        "bad_time",
        "malformed_json",
    ] {
        assert!(!err.contains(internal), "{internal}: {err}");
    }
    let events = run(&["events", s(&f)]);
    let err = stderr(&events);
    assert!(err.contains("unreadable time 1"), "{err}");
    assert!(
        !err.contains("bad_time") && !err.contains("other_category"),
        "{err}"
    );
}
