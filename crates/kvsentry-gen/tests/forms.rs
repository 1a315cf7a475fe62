//! Every form is valid JSON / CSV with the expected keys, deterministic per seed, and the
//! gzip variants decompress to the plain bytes.

mod common;

use std::io::Read;

use common::{bytes, cfg};
use serde_json::Value;

const RAW_KEYS: [&str; 12] = [
    "time",
    "resourceId",
    "operationName",
    "operationVersion",
    "category",
    "resultType",
    "resultSignature",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "properties",
    "identity",
];

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let c = cfg(3000);
    for form in kvsentry_gen::FORM_NAMES {
        let a = bytes(form, &c);
        assert!(!a.is_empty(), "{form}");
        assert_eq!(a, bytes(form, &c), "{form} is not deterministic");
        assert_ne!(
            a,
            bytes(form, &c.clone().seed(2)),
            "{form} ignores the seed"
        );
    }
}

#[test]
fn storage_is_json_lines_in_azure_key_order_and_time_order() {
    let out = bytes("storage", &cfg(5000));
    let text = String::from_utf8(out).unwrap();
    let mut last = String::new();
    let mut kv = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let rid = v["resourceId"].as_str().unwrap();
        assert_eq!(rid, rid.to_ascii_uppercase());
        if rid.contains("/MANAGEDHSMS/") {
            // Managed HSM shape: identity is a JSON string, durationMs a number.
            assert!(v["identity"].is_string());
            assert!(v["durationMs"].is_u64());
            continue;
        }
        let t = v["time"].as_str().unwrap();
        assert_eq!(t.len(), "2025-06-30T00:00:38.5102562Z".len(), "{t}");
        assert!(t >= last.as_str(), "out of order: {t} after {last}");
        last = t.to_string();
        assert!(v["durationMs"].is_string());
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        // Azure key order (resultDescription and identity optional).
        let order: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| *k != "resultDescription")
            .collect();
        let expected: Vec<&str> = if obj.contains_key("identity") {
            vec![
                "time",
                "resourceId",
                "operationName",
                "operationVersion",
                "category",
                "resultType",
                "resultSignature",
                "durationMs",
                "callerIpAddress",
                "correlationId",
                "identity",
                "properties",
            ]
        } else {
            vec![
                "time",
                "resourceId",
                "operationName",
                "operationVersion",
                "category",
                "resultType",
                "resultSignature",
                "durationMs",
                "callerIpAddress",
                "correlationId",
                "properties",
            ]
        };
        assert_eq!(order, expected);
        assert!(
            v["properties"]["requestUri"]
                .as_str()
                .unwrap()
                .contains("api-version=")
        );
        assert!(v["properties"]["httpStatusCode"].is_u64());
        if v["category"] == "AuditEvent" {
            kv += 1;
        }
    }
    assert!(kv > 4900, "{kv}");
    for k in RAW_KEYS {
        assert!(text.contains(&format!("\"{k}\":")), "{k}");
    }
}

#[test]
fn realism_markers_are_present() {
    let text = String::from_utf8(bytes("storage", &cfg(20_000))).unwrap();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |f: &dyn Fn(&Value) -> bool| recs.iter().any(f);
    // Vault operations carry long claim keys and vault settings.
    assert!(has(&|r| r["operationName"] == "VaultGet"
        && r["identity"]["claim"]["http://schemas.microsoft.com/identity/claims/objectidentifier"]
            .is_string()
        && r["properties"]["properties"]["sku"]["Name"].is_string()));
    // Service principals: idtyp app, no UPN; managed identities: xms_mirid.
    assert!(has(&|r| r["identity"]["claim"]["idtyp"] == "app"
        && r["identity"]["claim"]["upn"].is_null()
        && r["identity"]["claim"]["appidacr"].is_string()));
    assert!(has(&|r| r["identity"]["claim"]["xms_mirid"].is_string()));
    assert!(has(
        &|r| r["identity"]["claim"]["xms_az_nwperimid"].is_array()
    ));
    // Users: upn, unique_name, ipaddr equal to the caller.
    assert!(has(&|r| r["identity"]["claim"]["upn"].is_string()
        && r["identity"]["claim"]["unique_name"]
            == r["identity"]["claim"]["upn"]
        && r["identity"]["claim"]["ipaddr"] == r["callerIpAddress"]));
    // Failures keep resultType Success.
    for sig in ["Forbidden", "Not Found", "Unauthorized", "TooManyRequests"] {
        assert!(
            has(&|r| r["resultSignature"] == sig && r["resultType"] == "Success"),
            "{sig}"
        );
    }
    assert!(has(&|r| r["resultDescription"]
        .as_str()
        .is_some_and(|d| d.contains("\r\n"))));
    // Unauthenticated 401s have no identity.
    assert!(has(
        &|r| r["operationName"] == "Authentication" && r.get("identity").is_none()
    ));
    // Crypto operations, certificates, object ids with versions, GUID client info.
    for op in [
        "KeyUnwrap",
        "KeyWrap",
        "KeySign",
        "CertificateGet",
        "SecretList",
        "KeyGet",
    ] {
        assert!(has(&|r| r["operationName"] == op), "{op}");
    }
    assert!(has(&|r| r["properties"]["id"]
        .as_str()
        .is_some_and(|i| i.contains("/secrets/"))));
    assert!(has(
        &|r| r["properties"]["keyProperties"]["type"].is_string()
    ));
    assert!(has(&|r| r["properties"]["clientInfo"]
        .as_str()
        .is_some_and(|c| c.len() == 36 && c.matches('-').count() == 4)));
    assert!(has(&|r| r["properties"]["tlsVersion"] == "TLS1_3"));
    // Mixed-in records readers must skip.
    assert!(has(&|r| r["category"] == "AzurePolicyEvaluationDetails"));
    assert!(has(&|r| r["resourceId"]
        .as_str()
        .unwrap()
        .contains("/MANAGEDHSMS/")));
    // Every caller address is global, IPv6 in lower case, and IPv6 is present.
    let mut v6 = 0;
    for r in &recs {
        let ip = r["callerIpAddress"].as_str().unwrap();
        let parsed = kvsentry_model::net::parse_ip(ip).unwrap();
        assert!(kvsentry_model::net::is_global(parsed), "{ip}");
        if parsed.is_ipv6() {
            v6 += 1;
            assert_eq!(ip, ip.to_ascii_lowercase());
        }
    }
    let share = v6 as f64 / recs.len() as f64;
    assert!((0.03..0.30).contains(&share), "IPv6 share {share}");
    // Many vaults across subscriptions.
    let vaults: std::collections::HashSet<&str> = recs
        .iter()
        .map(|r| r["resourceId"].as_str().unwrap())
        .collect();
    assert!(vaults.len() >= 30, "{}", vaults.len());
}

#[test]
fn eventhub_array_and_envelopes() {
    let mut c = cfg(1050);
    c.batch = 100;
    let text = String::from_utf8(bytes("eventhub", &c)).unwrap();
    let mut total = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let n = v["records"].as_array().unwrap().len();
        if i + 1 < lines.len() {
            assert_eq!(n, 100);
        }
        total += n;
    }
    let storage_lines = String::from_utf8(bytes("storage", &c))
        .unwrap()
        .lines()
        .count();
    assert_eq!(total, storage_lines);
    let arr: Value = serde_json::from_slice(&bytes("array", &c)).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), storage_lines);
    assert_eq!(arr[0]["category"], "AuditEvent");
}

#[test]
fn azure_diagnostics_rows() {
    let c = cfg(3000);
    let arr: Value = serde_json::from_slice(&bytes("azure-diagnostics", &c)).unwrap();
    let rows = arr.as_array().unwrap();
    assert!(rows.len() > 3000);
    for r in rows {
        assert_eq!(r["Type"], "AzureDiagnostics");
        assert!(r["TimeGenerated"].is_string());
        assert!(r["CallerIPAddress"].is_string());
        assert!(r["DurationMs"].is_u64());
        assert!(r["httpStatusCode_d"].is_u64());
        let rt = r["ResourceType"].as_str().unwrap();
        assert!(rt == "VAULTS" || rt == "MANAGEDHSMS");
        assert!(
            r["ResourceId"]
                .as_str()
                .unwrap()
                .ends_with(r["Resource"].as_str().unwrap())
        );
    }
    let any = |k: &str| rows.iter().any(|r| r.get(k).is_some());
    for k in [
        "identity_claim_upn_s",
        "identity_claim_http_schemas_xmlsoap_org_ws_2005_05_identity_claims_upn_s",
        "identity_claim_appid_g",
        "identity_claim_oid_g",
        "identity_claim_http_schemas_microsoft_com_identity_claims_objectidentifier_g",
        "identity_claim_idtyp_s",
        "identity_claim_xms_mirid_s",
        "id_s",
        "clientInfo_s",
        "requestUri_s",
        "tlsVersion_s",
        "properties_sku_Name_s",
        "ResultDescription",
    ] {
        assert!(any(k), "{k}");
    }
    // JSON lines: same rows.
    let jl = String::from_utf8(bytes("azure-diagnostics-jsonl", &c)).unwrap();
    let jrows: Vec<Value> = jl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(&jrows, rows);
    // CSV: header with every column, same row count, multi-line descriptions quoted.
    let csv_bytes = bytes("azure-diagnostics-csv", &c);
    let mut rdr = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header.len(), kvsentry_gen::DIAG_COLUMNS.len());
    assert_eq!(header[1], "TimeGenerated");
    let ip_col = header.iter().position(|h| h == "CallerIPAddress").unwrap();
    let desc_col = header
        .iter()
        .position(|h| h == "ResultDescription")
        .unwrap();
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), rows.len());
    for (rec, row) in recs.iter().zip(rows) {
        assert_eq!(&rec[ip_col], row["CallerIPAddress"].as_str().unwrap());
        assert_eq!(
            &rec[desc_col],
            row["ResultDescription"].as_str().unwrap_or("")
        );
    }
}

#[test]
fn azkv_rows() {
    let c = cfg(3000);
    let arr: Value = serde_json::from_slice(&bytes("azkv", &c)).unwrap();
    let rows = arr.as_array().unwrap();
    let storage: Vec<Value> = String::from_utf8(bytes("storage", &c))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kv: Vec<&Value> = storage
        .iter()
        .filter(|r| {
            r["category"] == "AuditEvent" && r["resourceId"].as_str().unwrap().contains("/VAULTS/")
        })
        .collect();
    assert_eq!(
        rows.len(),
        kv.len(),
        "AZKVAuditLogs holds Key Vault AuditEvent records only"
    );
    for (r, raw) in rows.iter().zip(&kv) {
        assert_eq!(r["Type"], "AZKVAuditLogs");
        assert_eq!(r["CallerIpAddress"], raw["callerIpAddress"]);
        assert_eq!(r["OperationName"], raw["operationName"]);
        assert_eq!(
            r["Identity"],
            raw["identity"]
                .clone()
                .as_object()
                .map_or(Value::Null, |_| raw["identity"].clone())
        );
        assert_eq!(r["HttpStatusCode"], raw["properties"]["httpStatusCode"]);
        assert_eq!(
            r["_ResourceId"].as_str().unwrap(),
            raw["resourceId"].as_str().unwrap().to_ascii_lowercase()
        );
        assert!(r["_SubscriptionId"].is_string());
    }
    let csv_bytes = bytes("azkv-csv", &c);
    let mut rdr = csv::Reader::from_reader(csv_bytes.as_slice());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let id_col = header.iter().position(|h| h == "Identity").unwrap();
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), rows.len());
    for (rec, row) in recs.iter().zip(rows) {
        if rec[id_col].is_empty() {
            assert!(row.get("Identity").is_none());
        } else {
            // In CSV the identity tree is a JSON string.
            let parsed: Value = serde_json::from_str(&rec[id_col]).unwrap();
            assert_eq!(parsed, row["Identity"]);
        }
    }
    let jl = String::from_utf8(bytes("azkv-jsonl", &c)).unwrap();
    assert_eq!(jl.lines().count(), rows.len());
}

#[test]
fn ecs_documents_and_search_pages() {
    let mut c = cfg(2000);
    c.batch = 250;
    let text = String::from_utf8(bytes("ecs", &c)).unwrap();
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for d in &docs {
        assert_eq!(d["event"]["dataset"], "azure.platformlogs");
        assert_eq!(d["event"]["outcome"], "success");
        assert!(d["@timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(d["source"]["ip"].is_string());
        assert!(d["azure"]["resource"]["id"].is_string());
        assert!(d["azure"]["resource"]["group"].is_string());
        assert!(d["azure"]["resource"]["name"].is_string());
        assert!(
            d["azure"]["resource"]["provider"]
                .as_str()
                .unwrap()
                .starts_with("MICROSOFT.KEYVAULT/")
        );
        assert!(d["azure"]["subscription_id"].is_string());
        assert!(d["azure"]["correlation_id"].is_string());
        assert_eq!(
            d["event"]["action"],
            d["azure"]["platformlogs"]["operation_name"]
        );
        assert!(d["azure"]["platformlogs"]["result_signature"].is_string());
        assert!(d["cloud"]["region"].is_string());
        assert!(d["agent"]["name"].is_string());
    }
    assert!(
        docs.iter()
            .any(|d| d["azure"]["platformlogs"]["identity"]["claim"]["upn"].is_string())
    );
    assert!(
        docs.iter()
            .any(|d| d["source"]["geo"]["country_iso_code"].is_string()
                && d["source"]["as"]["organization"]["name"].is_string())
    );
    let pages = String::from_utf8(bytes("ecs-search", &c)).unwrap();
    let mut hits = 0;
    for line in pages.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let h = v["hits"]["hits"].as_array().unwrap();
        assert!(h.len() <= 250);
        for hit in h {
            assert!(
                hit["_index"]
                    .as_str()
                    .unwrap()
                    .starts_with(".ds-logs-azure.platformlogs-default-")
            );
            assert_eq!(hit["_id"].as_str().unwrap().len(), 20);
            assert_eq!(hit["_source"], docs[hits]);
            hits += 1;
        }
    }
    assert_eq!(hits, docs.len());
}

#[test]
fn gzip_variants_decompress_to_the_plain_form() {
    let c = cfg(1000);
    for form in ["storage", "eventhub", "azure-diagnostics-csv", "ecs"] {
        let plain = bytes(form, &c);
        let gz = bytes(&format!("{form}.gz"), &c);
        let mut dec = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut dec)
            .unwrap();
        assert_eq!(dec, plain, "{form}");
        assert!(gz.len() < plain.len() / 3);
    }
}

#[test]
fn form_names_round_trip() {
    for name in kvsentry_gen::FORM_NAMES {
        let f: kvsentry_gen::Form = name.parse().unwrap();
        assert_eq!(f.to_string(), *name);
        let g: kvsentry_gen::Form = format!("{name}.gz").parse().unwrap();
        assert!(g.gzip);
        assert_eq!(g.to_string(), format!("{name}.gz"));
    }
    let err = "parquet"
        .parse::<kvsentry_gen::Form>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown form `parquet`"), "{err}");
}
