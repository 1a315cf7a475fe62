//! Damaged, odd and mixed input: gzip, truncation, bad lines, other categories, unknown
//! forms, BOM and CRLF, CSV quirks, and the less common containers.

mod common;

use std::io::Write;

use common::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use kvsentry_ingest::{
    IngestError, Input, LogFormat, ReadOptions, ReadStats, SkipReason, parse_lines, read_input,
};
use kvsentry_model::{CallerIp, IdentityKind};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn storage_lines() -> Vec<String> {
    std::fs::read_to_string(fixture("storage.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `n` distinct one-line records.
fn many_records(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"time\":\"2024-01-01T00:{:02}:{:02}.1234567Z\",\"resourceId\":\"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV\",\"operationName\":\"SecretGet\",\"category\":\"AuditEvent\",\"callerIpAddress\":\"52.178.{}.{}\",\"correlationId\":\"{:08x}-{:x}\",\"properties\":{{\"httpStatusCode\":200,\"id\":\"https://kv.vault.azure.net/secrets/s{i}\"}}}}\n",
            (i / 60) % 60,
            i % 60,
            i / 256,
            i % 256,
            i.wrapping_mul(2_654_435_761),
            i * 7919
        ));
    }
    s
}

#[test]
fn gzip_is_found_by_magic_bytes_and_members_are_joined() {
    let dir = scratch("gzip");
    let plain = std::fs::read(fixture("storage.jsonl")).unwrap();
    let p = write(&dir, "PT1H.json", gz(&plain));
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    let want: Vec<_> = read_fixture("storage.jsonl")
        .events
        .iter()
        .map(|e| e.to_dictionary_json())
        .collect();
    let got: Vec<_> = r.events.iter().map(|e| e.to_dictionary_json()).collect();
    assert_eq!(got, want);
    assert_eq!(r.stats.bytes, plain.len() as u64);

    // Two gzip members (as appended blobs produce) read as one stream.
    let cut = plain.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut two = gz(&plain[..cut]);
    two.extend(gz(&plain[cut..]));
    let p = write(&dir, "two-members.json.gz", two);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [1, 2, 3, 4, 5]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_truncated_gzip_delivers_what_came_before_then_fails_the_file() {
    let dir = scratch("truncated");
    let text = many_records(2000);
    let full = gz(text.as_bytes());
    let bad = write(&dir, "cut.json.gz", &full[..full.len() * 6 / 10]);
    let good = write(&dir, "good.jsonl", storage_lines().join("\n"));
    let mut stats = ReadStats::new();
    let mut events: Vec<(u32, u64)> = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in [&bad, &good].into_iter().enumerate() {
        let r = read_input(
            &Input::file(p),
            i as u32 + 1,
            &ReadOptions::default(),
            &mut stats,
            &mut |e| events.push((e.origin.source, e.origin.line)),
        );
        if let Err(e) = r {
            errors.push(e);
        }
    }
    assert_eq!(errors.len(), 1);
    let IngestError::TruncatedGzip { file, line, .. } = &errors[0] else {
        panic!("{:?}", errors[0]);
    };
    assert_eq!(file, &bad.display().to_string());
    let line = *line;
    assert!(line > 100 && line < 2000, "{line}");
    let msg = errors[0].to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: truncated or corrupt gzip data after line {line} (",
            bad.display()
        )),
        "{msg}"
    );
    assert_eq!(errors[0].kind(), "truncated_gzip");
    // Every complete line before the damage was delivered, and nothing else from that file.
    let from_bad: Vec<u64> = events
        .iter()
        .filter(|(s, _)| *s == 1)
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(from_bad, (1..=line).collect::<Vec<_>>());
    assert_eq!(stats.skipped_total(), 0, "{stats}");
    // The next file is read as usual.
    assert_eq!(events.iter().filter(|(s, _)| *s == 2).count(), 5);
    assert_eq!(stats.failed_files, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_line_is_skipped_and_the_rest_delivered() {
    let dir = scratch("malformed");
    let l = storage_lines();
    let text = format!(
        "{}\n{{\"time\": \"2024-01-0\n\u{1}\u{2}binary\u{ff}\n{}\n{}\n[1, 2]\n\"text\"\n",
        l[0], l[1], l[2]
    );
    let p = write(&dir, "mixed.jsonl", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [1, 4, 5]);
    assert_eq!(ops(&r.events), ["SecretGet", "VaultPut", "SecretGet"]);
    assert_eq!(r.stats.skipped(SkipReason::MalformedJson), 2);
    assert_eq!(r.stats.skipped(SkipReason::NotARecord), 3);
    let notes: Vec<(String, u64, SkipReason)> = r
        .stats
        .notes
        .iter()
        .map(|n| (n.file.clone(), n.line, n.reason))
        .collect();
    let f = p.display().to_string();
    assert_eq!(
        notes,
        [
            (f.clone(), 2, SkipReason::MalformedJson),
            (f.clone(), 3, SkipReason::MalformedJson),
            (f.clone(), 6, SkipReason::NotARecord),
            (f.clone(), 6, SkipReason::NotARecord),
            (f.clone(), 7, SkipReason::NotARecord),
        ]
    );
    assert_eq!(
        r.stats.notes[0].detail,
        "EOF while parsing a string (column 19)"
    );
    let s = r.stats.forms[&LogFormat::Storage];
    assert_eq!((s.records, s.events), (8, 3));
    assert!(r.stats.to_string().contains(&format!(
        "\n  {f}:2: malformed JSON: EOF while parsing a string"
    )));
    std::fs::remove_dir_all(&dir).unwrap();
}

const MHSM: &str = r#"{"TenantId":"t","time":"2020-08-31T19:52:39.763Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/CONTOSORESOURCEGROUP/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM","operationName":"BackupCreate","operationVersion":"7.0","category":"AuditEvent","resultType":"Success","properties":{"PoolType":"M-HSM","sku_Family":"B","sku_Name":"Standard_B1"},"durationMs":488,"callerIpAddress":"X.X.X.X","identity":"{\"claim\":{\"appid\":\"a-1\",\"http_schemas_microsoft_com_identity\":{\"claims\":{\"objectidentifier\":\"o-1\"}},\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{\"claims\":{\"upn\":\"admin@contoso.com\"}}}}","clientInfo":"azsdk-python-core/1.7.0","correlationId":"c-1","subnetId":"(unknown)","httpStatusCode":202,"PoolName":"mhsmdemo","requestUri":"https://ContosoMHSM.managedhsm.azure.net/backup","resourceGroup":"ContosoResourceGroup","resourceProvider":"MICROSOFT.KEYVAULT","resource":"ContosoMHSM","resourceType":"managedHSMs"}"#;

#[test]
fn other_categories_and_managed_hsm_are_counted_not_delivered() {
    let dir = scratch("categories");
    let l = storage_lines();
    let policy = r#"{"time":"2024-01-01T00:00:00.0000000Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","operationName":"SecretGet","category":"AzurePolicyEvaluationDetails","resultType":"Success"}"#;
    let metrics = r#"{"count":4,"total":4,"minimum":1,"maximum":1,"average":1,"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV","time":"2024-01-01T00:00:00.0000000Z","metricName":"ServiceApiHit","timeGrain":"PT1M","category":"AllMetrics"}"#;
    let nsg = r#"{"time":"2024-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1","operationName":"NetworkSecurityGroupEvents","category":"AuditEvent"}"#;
    let text = format!("{}\n{policy}\n{MHSM}\n{metrics}\n{nsg}\n{}\n", l[0], l[1]);
    let p = write(&dir, "PT1H.json", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [1, 6]);
    assert_eq!(r.stats.skipped(SkipReason::OtherCategory), 2);
    assert_eq!(r.stats.skipped(SkipReason::NotKeyVault), 2);
    let details: Vec<&str> = r.stats.notes.iter().map(|n| n.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "category AzurePolicyEvaluationDetails",
            "resource type MANAGEDHSMS",
            "category AllMetrics",
            "provider MICROSOFT.NETWORK"
        ]
    );

    // Asked for, Managed HSM records are delivered.
    let opts = ReadOptions {
        include_managed_hsm: true,
        ..ReadOptions::default()
    };
    let r = read_path(&p, &opts);
    assert_eq!(lines(&r.events), [1, 3, 6]);
    let h = &r.events[1];
    assert_eq!(h.operation, "BackupCreate");
    assert_eq!(h.vault.resource_type.as_deref(), Some("MANAGEDHSMS"));
    assert_eq!(h.vault.name.as_deref(), Some("CONTOSOMHSM"));
    assert_eq!(h.identity.upn.as_deref(), Some("admin@contoso.com"));
    assert_eq!(h.identity.object_id.as_deref(), Some("o-1"));
    assert_eq!(h.duration_ms, Some(488));
    assert_eq!(h.http_status, Some(202));
    assert_eq!(h.caller_ip, CallerIp::Invalid("X.X.X.X".into()));
    assert_eq!(h.time.subsec_nanosecond(), 763_000_000);
    assert_eq!(r.stats.invalid_caller_ip, 1);

    // The Managed HSM example as its documentation shows it: a bare array.
    let p = write(&dir, "mhsm.json", format!("[\n{MHSM}\n]\n"));
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert!(r.events.is_empty());
    assert_eq!(r.stats.forms[&LogFormat::Array].records, 1);
    assert_eq!(r.stats.skipped(SkipReason::NotKeyVault), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_forms_fail_the_file_and_the_next_one_is_read() {
    let dir = scratch("unknown");
    let bin = write(&dir, "blob.bin", [0x50u8, 0x4b, 3, 4, 0, 0xff, 0xfe, 0x10]);
    let other_json = write(&dir, "other.json", r#"{"name":"x","value":[1,2]}"#);
    let other_csv = write(&dir, "other.csv", "a,b\n1,2\n");
    let empty = write(&dir, "empty.json", "");
    let blank = write(&dir, "blank.json", "\u{feff}\n \r\n\t\n");
    let good = fixture("azkv.jsonl");
    let mut stats = ReadStats::new();
    let mut n = 0;
    let mut errors = Vec::new();
    for (i, p) in [&bin, &other_json, &other_csv, &empty, &blank, &good]
        .into_iter()
        .enumerate()
    {
        if let Err(e) = read_input(
            &Input::file(p),
            i as u32,
            &ReadOptions::default(),
            &mut stats,
            &mut |_| n += 1,
        ) {
            errors.push(e);
        }
    }
    assert_eq!(n, 5);
    let kinds: Vec<&str> = errors.iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, ["unknown_format"; 3]);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}: unknown format: not a Key Vault audit log form kvsentry reads (starts with \"PK\\x03\\x04\\x00\\xff\\xfe\\x10\"); use --log-format to force one",
            bin.display()
        )
    );
    assert!(
        errors[1]
            .to_string()
            .starts_with(&format!("{}: unknown format", other_json.display()))
    );
    assert_eq!(stats.empty_files, 2);
    assert_eq!(stats.failed_files, 3);
    assert_eq!(stats.files(), 1);

    let missing = dir.join("missing.json");
    let e = read_path(&missing, &ReadOptions::default())
        .result
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("cannot open {}: ", missing.display())),
        "{e}"
    );

    // Forced, a binary file is read as bad lines, never a panic.
    let opts = ReadOptions {
        format: LogFormat::Storage,
        ..ReadOptions::default()
    };
    let r = read_path(&bin, &opts);
    r.result.unwrap();
    assert_eq!(r.stats.skipped(SkipReason::MalformedJson), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bom_crlf_blank_lines_and_no_final_newline() {
    let dir = scratch("crlf");
    let l = storage_lines();
    let text = format!(
        "\u{feff}{}\r\n{}\r\n\r\n{}\r\n   \r\n{}\r\n{}",
        l[0], l[1], l[2], l[3], l[4]
    );
    let p = write(&dir, "crlf.json", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [1, 2, 4, 6, 7]);
    assert_eq!(r.stats.skipped_total(), 0);
    let want: Vec<_> = read_fixture("storage.jsonl")
        .events
        .iter()
        .map(|e| e.to_dictionary_json())
        .collect();
    let got: Vec<_> = r.events.iter().map(|e| e.to_dictionary_json()).collect();
    assert_eq!(got, want);

    // The same for a pretty-printed document and a CSV.
    let pretty = std::fs::read_to_string(fixture("eventhub.json"))
        .unwrap()
        .replace('\n', "\r\n");
    let p = write(&dir, "eh.json", format!("\u{feff}{pretty}"));
    let r = read_path(&p, &ReadOptions::default());
    assert_eq!(lines(&r.events), [3, 34, 69, 102, 102]);
    let csv = std::fs::read_to_string(fixture("azkv.csv"))
        .unwrap()
        .replace('\n', "\r\n");
    let p = write(&dir, "azkv.csv", format!("\u{feff}{}", csv.trim_end()));
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [2, 3, 4, 5, 6]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_quoted_multiline_fields_and_portal_times() {
    let dir = scratch("csv");
    let text = "TimeGenerated [UTC],OperationName,CallerIPAddress,ResultDescription,ResourceId,httpStatusCode_d,DurationMs,identity_claim_upn_s\n\
        \"6/30/2022, 11:59:25.411 AM\",SecretGet,104.40.82.76,\"first line\nsecond, with comma\n\"\"third\"\"\",/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV,200.0,12,u@contoso.com\n\
        \"6/30/2022, 12:00:00.000 PM\",SecretList,2a01:111:f400::1a,,/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV,,,\n\
        not a time,SecretList,52.178.1.1,,/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV,,,\n";
    let p = write(&dir, "export.csv", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [2, 5]);
    let e = &r.events[0];
    assert_eq!(e.time.to_string(), "2022-06-30T11:59:25.411Z");
    assert_eq!(
        e.result_description.as_deref(),
        Some("first line\nsecond, with comma\n\"third\"")
    );
    assert_eq!(e.http_status, Some(200));
    assert_eq!(e.duration_ms, Some(12));
    assert_eq!(e.identity.upn.as_deref(), Some("u@contoso.com"));
    assert_eq!(e.vault.name.as_deref(), Some("KV"));
    let e = &r.events[1];
    assert_eq!(e.time.to_string(), "2022-06-30T12:00:00Z");
    assert_eq!(e.http_status, None);
    assert_eq!(e.identity.upn, None);
    assert_eq!(r.stats.skipped(SkipReason::BadTime), 1);
    assert_eq!(r.stats.notes[0].line, 6);
    assert_eq!(r.stats.notes[0].detail, "unreadable time 'not a time'");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn az_cli_azure_diagnostics_row_with_a_bare_identity_claim() {
    let dir = scratch("zaalion");
    let text = r#"[
  {
    "CallerIPAddress": "<xx.xx.xx.xx>",
    "Category": "AuditEvent",
    "DurationMs": "16",
    "OperationName": "VaultGet",
    "OperationVersion": "2021-10-01",
    "Resource": "MYCOOK2551KV",
    "ResourceGroup": "CH11",
    "ResourceId": ".../VAULTS/MYCOOK2551KV",
    "ResourceProvider": "MICROSOFT.KEYVAULT",
    "ResourceType": "VAULTS",
    "ResultSignature": "OK",
    "ResultType": "Success",
    "SubscriptionId": "00000000-0000-0000-0000-000000000000",
    "TableName": "PrimaryResult",
    "TimeGenerated": "2023-01-25T12:32:50.1285329Z",
    "Type": "AzureDiagnostics",
    "_ResourceId": ".../vaults/mycook2551kv",
    "clientPort_d": "None",
    "httpStatusCode_d": "200",
    "id_s": "https://mycook2551kv.vault.azure.net/",
    "identity_claim_appid_g": "00000000-0000-0000-0000-000000000001",
    "identity_claim": "live.com#zaalion@outlook.com",
    "properties_enableSoftDelete_b": "True",
    "properties_sku_Name_s": "standard"
  },
  {
    "TimeGenerated": "2023-01-25T12:33:00Z",
    "Type": "AzureMetrics",
    "OperationName": "x",
    "ResourceId": ".../VAULTS/MYCOOK2551KV"
  }
]"#;
    let p = write(&dir, "az.json", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.origin.line, 2);
    assert_eq!(e.time.to_string(), "2023-01-25T12:32:50.1285329Z");
    assert_eq!(e.operation, "VaultGet");
    assert_eq!(
        e.identity.upn.as_deref(),
        Some("live.com#zaalion@outlook.com")
    );
    assert_eq!(
        e.identity.app_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000001")
    );
    assert_eq!(e.http_status, Some(200));
    assert_eq!(e.duration_ms, Some(16));
    assert_eq!(e.caller_ip, CallerIp::Invalid("<xx.xx.xx.xx>".into()));
    assert_eq!(e.vault.name.as_deref(), Some("MYCOOK2551KV"));
    assert_eq!(e.vault.resource_group.as_deref(), Some("CH11"));
    assert_eq!(
        e.vault.subscription_id.as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(
        e.object_id.as_deref(),
        Some("https://mycook2551kv.vault.azure.net/")
    );
    assert_eq!(r.stats.skipped(SkipReason::OtherCategory), 1);
    assert_eq!(r.stats.notes[0].detail, "table AzureMetrics");
    assert_eq!(r.stats.notes[0].line, 28);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn log_analytics_rest_tables() {
    let dir = scratch("tables");
    let text = r#"{"tables":[{"name":"PrimaryResult","columns":[
{"name":"TimeGenerated","type":"datetime"},{"name":"OperationName","type":"string"},
{"name":"CallerIpAddress","type":"string"},{"name":"Identity","type":"dynamic"},
{"name":"HttpStatusCode","type":"int"},{"name":"DurationMs","type":"long"},
{"name":"_ResourceId","type":"string"}],
"rows":[
["2024-02-01T10:00:00.1234567Z","SecretGet","52.178.5.6","{\"claim\":{\"upn\":\"u@contoso.com\",\"oid\":\"o-9\"}}",200,15,"/subscriptions/s1/resourcegroups/rg1/providers/microsoft.keyvault/vaults/kv1"],
["2024-02-01T10:00:01Z","SecretGet","52.178.5.7",null,403,null,"/subscriptions/s1/resourcegroups/rg1/providers/microsoft.keyvault/vaults/kv1"]
]}]}"#;
    let p = write(&dir, "rest.json", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(
        r.stats.forms.keys().copied().collect::<Vec<_>>(),
        [LogFormat::Azkv]
    );
    assert_eq!(lines(&r.events), [7, 8]);
    let e = &r.events[0];
    assert_eq!(e.identity.upn.as_deref(), Some("u@contoso.com"));
    assert_eq!(e.identity.object_id.as_deref(), Some("o-9"));
    assert_eq!(e.http_status, Some(200));
    assert_eq!(e.duration_ms, Some(15));
    assert_eq!(e.vault.name.as_deref(), Some("kv1"));
    assert_eq!(e.vault.subscription_id.as_deref(), Some("s1"));
    assert_eq!(r.events[1].http_status, Some(403));
    assert_eq!(r.events[1].identity.kind(), IdentityKind::Unknown);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn elastic_search_response_with_geo() {
    let dir = scratch("ecs");
    let text = r#"{
  "took": 5,
  "timed_out": false,
  "hits": {
    "total": {"value": 2, "relation": "eq"},
    "hits": [
      {
        "_index": ".ds-logs-azure.platformlogs-default-2024.05.01-000001",
        "_id": "a1",
        "_source": {
          "@timestamp": "2024-05-01T10:00:00.123Z",
          "agent": {"name": "filebeat-01", "type": "filebeat"},
          "cloud": {"provider": "azure", "region": "westeurope"},
          "event": {"action": "SecretGet", "outcome": "success", "dataset": "azure.platformlogs"},
          "source": {"ip": "104.40.82.76", "geo": {"city_name": "Amsterdam", "region_name": "North Holland", "country_name": "Netherlands"}, "as": {"organization": {"name": "MICROSOFT-CORP-MSN-AS-BLOCK"}}},
          "azure.resource.id": "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1",
          "azure.platformlogs.identity.claim.upn": "u@contoso.com",
          "azure.platformlogs.identity.claim.http://schemas.microsoft.com/identity/claims/objectidentifier": "o-1",
          "azure.platformlogs.properties.httpStatusCode": 200,
          "azure.platformlogs.category": "AuditEvent"
        }
      },
      {
        "_index": ".ds-logs-azure.activitylogs-default",
        "_id": "a2",
        "_source": {"@timestamp": "2024-05-01T10:00:01Z", "event": {"action": "MICROSOFT.KEYVAULT/VAULTS/WRITE", "dataset": "azure.activitylogs"}}
      }
    ]
  }
}
"#;
    let p = write(&dir, "search.json", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.origin.line, 10);
    assert_eq!(e.operation, "SecretGet");
    assert_eq!(e.result_type.as_deref(), Some("success"));
    assert_eq!(e.geo.city.as_deref(), Some("Amsterdam"));
    assert_eq!(e.geo.region.as_deref(), Some("North Holland"));
    assert_eq!(e.geo.country.as_deref(), Some("Netherlands"));
    assert_eq!(e.geo.as_org.as_deref(), Some("MICROSOFT-CORP-MSN-AS-BLOCK"));
    assert_eq!(e.geo.cloud_region.as_deref(), Some("westeurope"));
    assert_eq!(e.agent_name.as_deref(), Some("filebeat-01"));
    assert_eq!(e.identity.upn.as_deref(), Some("u@contoso.com"));
    assert_eq!(e.identity.object_id.as_deref(), Some("o-1"));
    assert_eq!(e.http_status, Some(200));
    assert_eq!(e.vault.name.as_deref(), Some("KV1"));
    assert_eq!(r.stats.skipped(SkipReason::OtherCategory), 1);
    assert_eq!(r.stats.notes[0].line, 26);
    assert_eq!(r.stats.notes[0].detail, "dataset azure.activitylogs");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pretty_printed_objects_one_after_another() {
    // The attack-emulation samples: one pretty-printed record per file, or several in one.
    let dir = scratch("pretty");
    let one = r#"{
    "time": "2022-06-30T11:57:06.6197919Z",
    "category": "AuditEvent",
    "operationName": "KeyGet",
    "resultType": "Success",
    "callerIpAddress": "<Redacted>",
    "identity": {
        "claim": {
            "oid": "30a6c29d-de7c-4830-815f-9b3bb366e975",
            "upn": "attacker@securathesis.onmicrosoft.com"
        }
    },
    "properties": {
        "id": "https://securaallkeyvault.vault.azure.net/keys/SecuraAllRSAKeys",
        "httpStatusCode": 200,
        "keyProperties": {"type": "RSA"}
    },
    "resourceId": "/SUBSCRIPTIONS/A921D5D4-BDB7-43C3-AA01-88C6AE24992F/RESOURCEGROUPS/SECURAALLRG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/SECURAALLKEYVAULT",
    "durationMs": "245"
}"#;
    let p = write(
        &dir,
        "kv.json",
        format!("{one}\n{}\n", one.replace("KeyGet", "KeyList")),
    );
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(ops(&r.events), ["KeyGet", "KeyList"]);
    assert_eq!(lines(&r.events), [1, 21]);
    assert_eq!(r.stats.forms[&LogFormat::Storage].files, 1);
    assert_eq!(r.stats.invalid_caller_ip, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_lines_are_read_in_chunks_with_exact_lines() {
    let dir = scratch("chunks");
    let text = many_records(3000);
    let p = write(&dir, "big.jsonl", &text);
    let opts = ReadOptions {
        chunk_bytes: 4096,
        ..ReadOptions::default()
    };
    let r = read_path(&p, &opts);
    r.result.unwrap();
    assert_eq!(lines(&r.events), (1..=3000).collect::<Vec<u64>>());
    assert_eq!(
        r.events[2999].object_id.as_deref(),
        Some("https://kv.vault.azure.net/secrets/s2999")
    );
    assert_eq!(r.stats.bytes, text.len() as u64);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parse_lines_is_the_unit_of_parallel_work() {
    let l = storage_lines();
    let block = format!("{}\n\n{}\n", l[2], l[4]);
    let mut stats = ReadStats::new();
    let mut got = Vec::new();
    parse_lines(
        LogFormat::Auto,
        &block,
        101,
        9,
        &ReadOptions::default(),
        &mut stats,
        &mut |e| got.push((e.origin.source, e.origin.line, e.operation.to_string())),
    );
    assert_eq!(
        got,
        [
            (9, 101, "SecretGet".to_string()),
            (9, 103, "SecretList".to_string())
        ]
    );
    assert_eq!(stats.forms[&LogFormat::Storage].events, 2);
    // Notes carry the source until the driver names it.
    parse_lines(
        LogFormat::Storage,
        "oops\n",
        7,
        9,
        &ReadOptions::default(),
        &mut stats,
        &mut |_| {},
    );
    assert_eq!(stats.notes[0].file, "");
    stats.name_source(9, "y=2024/PT1H.json");
    assert_eq!(stats.notes[0].file, "y=2024/PT1H.json");
    assert_eq!(stats.notes[0].line, 7);
}

#[test]
fn elastic_hits_one_per_line() {
    // `elasticdump` and the `_doc` API write whole hits, the document under `_source`.
    let dir = scratch("hits-lines");
    let text = "{\"_index\":\"logs-azure.platformlogs-default\",\"_id\":\"1\",\"_source\":{\"@timestamp\":\"2024-05-01T10:00:00.5Z\",\"event\":{\"action\":\"KeyDecrypt\"},\"source\":{\"ip\":\"52.178.9.9\"},\"azure\":{\"platformlogs\":{\"durationMs\":3.6,\"properties\":{\"httpStatusCode\":\"200\"}}}}}\n";
    let p = write(&dir, "hits.ndjson", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(ops(&r.events), ["KeyDecrypt"]);
    assert_eq!(r.events[0].duration_ms, Some(4));
    assert_eq!(r.events[0].http_status, Some(200));
    assert_eq!(
        r.events[0].caller_ip,
        CallerIp::Addr("52.178.9.9".parse().unwrap())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn utf16_exports_from_powershell() {
    let dir = scratch("utf16");
    let text = std::fs::read_to_string(fixture("azure_diagnostics.json")).unwrap();
    let mut bytes = vec![0xff, 0xfe];
    for u in text.replace('\n', "\r\n").encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    let p = write(&dir, "export.json", bytes);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(lines(&r.events), [2, 48, 94, 140, 186]);
    let want: Vec<_> = read_fixture("storage.jsonl")
        .events
        .iter()
        .map(|e| e.to_dictionary_json())
        .collect();
    let got: Vec<_> = r.events.iter().map(|e| e.to_dictionary_json()).collect();
    assert_eq!(got, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_search_responses_and_table_rows_as_json_lines() {
    let dir = scratch("many");
    let hit = |op: &str| {
        format!(
            "{{\"_index\":\"x\",\"_source\":{{\"@timestamp\":\"2024-05-01T10:00:00Z\",\"event.action\":\"{op}\",\"source.ip\":\"52.178.1.1\"}}}}"
        )
    };
    let text = format!(
        "{{\"took\":1,\"hits\":{{\"hits\":[{},{}]}}}}\n{{\"took\":2,\"hits\":{{\"hits\":[{}]}}}}\n",
        hit("A"),
        hit("B"),
        hit("C")
    );
    let p = write(&dir, "responses.ndjson", text);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(ops(&r.events), ["A", "B", "C"]);
    assert_eq!(lines(&r.events), [1, 1, 2]);
    assert_eq!(r.stats.forms[&LogFormat::Ecs].records, 3);

    // The same responses pretty-printed one after another.
    let pretty = format!(
        "{{\n  \"hits\": {{\n    \"hits\": [\n      {}\n    ]\n  }}\n}}\n{{\n  \"hits\": {{\n    \"hits\": [\n      {}\n    ]\n  }}\n}}\n",
        hit("A"),
        hit("B")
    );
    let p = write(&dir, "responses.json", pretty);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(ops(&r.events), ["A", "B"]);
    assert_eq!(lines(&r.events), [4, 11]);

    // AzureDiagnostics rows as JSON Lines, values typed or all strings.
    let rows = "{\"TimeGenerated\":\"2024-01-01T00:00:00Z\",\"OperationName\":\"SecretGet\",\"CallerIPAddress\":\"52.178.1.2\",\"httpStatusCode_d\":403.0,\"DurationMs\":7,\"identity_claim_oid_g\":\"o-1\",\"Resource\":\"KV9\",\"ResourceGroup\":\"RG9\",\"SubscriptionId\":\"S9\",\"ResourceType\":\"VAULTS\"}\n\
                {\"TimeGenerated\":\"2024-01-01T00:00:01Z\",\"OperationName\":\"SecretGet\",\"CallerIPAddress\":\"52.178.1.2\",\"httpStatusCode_d\":\"None\",\"DurationMs\":\"7\",\"identity_claim_oid_g\":\"None\",\"ResourceType\":\"MANAGEDHSMS\"}\n";
    let p = write(&dir, "rows.jsonl", rows);
    let r = read_path(&p, &ReadOptions::default());
    r.result.unwrap();
    assert_eq!(
        r.stats.forms.keys().copied().collect::<Vec<_>>(),
        [LogFormat::AzureDiagnostics]
    );
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.http_status, Some(403));
    assert_eq!(e.duration_ms, Some(7));
    assert_eq!(e.identity.object_id.as_deref(), Some("o-1"));
    assert_eq!(e.vault.name.as_deref(), Some("KV9"));
    assert_eq!(e.vault.resource_group.as_deref(), Some("RG9"));
    assert_eq!(e.vault.subscription_id.as_deref(), Some("S9"));
    assert_eq!(e.vault.resource_type.as_deref(), Some("VAULTS"));
    assert_eq!(e.vault.resource_id, None);
    assert_eq!(r.stats.skipped(SkipReason::NotKeyVault), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
