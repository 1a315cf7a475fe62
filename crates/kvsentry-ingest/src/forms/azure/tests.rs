//! The Azure mapping against the path mapping it replaced, and the keyed walk against the
//! path walk, on fixed and damaged records.

use std::borrow::Cow;

use kvsentry_json::walk_text;
use kvsentry_model::{CallerIp, Origin};

use super::fields::{claim_column, strip_type_suffix, walk_nested};
use super::*;
use crate::ReadOptions;
use crate::event::builder::build;
use crate::event::builder::{set, set_num};
use crate::event::claims::{ClaimTarget, claim_target};
use crate::event::{Memo, Nested};
use crate::stats::SkipReason;

/// A seeded xorshift for the damage tests: `next(n)` is a pseudo-random index below `n`,
/// the same sequence on every run.
fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}

#[test]
fn managed_hsm_shape_is_read_and_filtered() {
    let text = r#"{"time":"2020-08-31T19:52:39.763Z","resourceId":"/SUBSCRIPTIONS/s/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/MANAGEDHSMS/CONTOSOMHSM","operationName":"BackupCreate","durationMs":488,"callerIpAddress":"52.178.1.2","identity":"{\"claim\":{\"appid\":\"app-1\",\"http_schemas_microsoft_com_identity\":{\"claims\":{\"objectidentifier\":\"obj-1\"}},\"http_schemas_xmlsoap_org_ws_2005_05_identity\":{\"claims\":{\"upn\":\"admin@contoso.com\"}}}}","clientInfo":"azsdk","httpStatusCode":202,"requestUri":"https://x/backup","resourceType":"managedHSMs"}"#;
    let err = build(text, map_azure).unwrap_err();
    assert_eq!(
        err,
        (SkipReason::NotKeyVault, "resource type MANAGEDHSMS".into())
    );
    let mut b = Builder::default();
    walk_text(text, "", &mut |p, l| map_azure(&mut b, p, l)).unwrap();
    let opts = ReadOptions {
        include_managed_hsm: true,
        ..ReadOptions::default()
    };
    let ev = b
        .finish(Origin::default(), &opts, &mut Memo::default())
        .unwrap();
    assert_eq!(ev.identity.upn.as_deref(), Some("admin@contoso.com"));
    assert_eq!(ev.identity.object_id.as_deref(), Some("obj-1"));
    assert_eq!(ev.identity.app_id.as_deref(), Some("app-1"));
    assert!(ev.identity.other.is_empty());
    assert_eq!(ev.duration_ms, Some(488));
    assert_eq!(ev.http_status, Some(202));
    assert_eq!(ev.client_info.as_deref(), Some("azsdk"));
    assert_eq!(ev.request_uri.as_deref(), Some("https://x/backup"));
    assert_eq!(ev.vault.name.as_deref(), Some("CONTOSOMHSM"));
}

#[test]
fn other_categories_tables_and_providers_are_refused() {
    let r = build(
        r#"{"time":"2024-01-01T00:00:00Z","category":"AzurePolicyEvaluationDetails","operationName":"x"}"#,
        map_azure,
    );
    assert_eq!(
        r.unwrap_err(),
        (
            SkipReason::OtherCategory,
            "category AzurePolicyEvaluationDetails".into()
        )
    );
    let r = build(
        r#"{"TimeGenerated":"2024-01-01T00:00:00Z","Type":"AzureMetrics","OperationName":"x"}"#,
        map_azure,
    );
    assert_eq!(r.unwrap_err().0, SkipReason::OtherCategory);
    let r = build(
        r#"{"time":"2024-01-01T00:00:00Z","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.NETWORK/VAULTS/X","operationName":"x"}"#,
        map_azure,
    );
    assert_eq!(
        r.unwrap_err(),
        (SkipReason::NotKeyVault, "provider MICROSOFT.NETWORK".into())
    );
    let r = build(r#"{"operationName":"x"}"#, map_azure);
    assert_eq!(r.unwrap_err(), (SkipReason::BadTime, "no time".into()));
    let r = build(r#"{"time":"soon","operationName":"x"}"#, map_azure);
    assert_eq!(
        r.unwrap_err(),
        (SkipReason::BadTime, "unreadable time 'soon'".into())
    );
    let r = build(r#"{"time":"2024-01-01T00:00:00Z"}"#, map_azure);
    assert_eq!(r.unwrap_err().0, SkipReason::MissingField);
}

#[test]
fn inline_field_is_azure_field() {
    use crate::event::claims::Slot;
    use AzField as F;
    let fields = [
        F::Time,
        F::Category,
        F::TableType,
        F::Operation,
        F::OperationVersion,
        F::ResultType,
        F::ResultSignature,
        F::ResultDescription,
        F::Duration,
        F::CallerIp,
        F::CorrelationId,
        F::ResourceId,
        F::ResourceIdFb,
        F::SubscriptionId,
        F::ResourceGroup,
        F::Resource,
        F::ResourceType,
        F::Provider,
        F::Location,
        F::IdentityText,
        F::UpnFb,
        F::ClaimColumn,
        F::ClientInfo,
        F::RequestUri,
        F::ObjectId,
        F::HttpStatus,
        F::TlsVersion,
        F::Records,
        F::Tables,
        F::HitsHits,
        F::Claim(ClaimTarget::Slot(Slot::Upn)),
        F::Claim(ClaimTarget::Slot(Slot::Azp)),
        F::Claim(ClaimTarget::Common(2)),
        F::Claim(ClaimTarget::Other),
    ];
    let leaves = || {
        [
            Leaf::Str(Cow::Borrowed("a@b")),
            Leaf::Str(Cow::Owned("x".into())),
            Leaf::Str(Cow::Borrowed("")),
            Leaf::U64(7),
            Leaf::Null,
            Leaf::Bool(true),
            Leaf::Json("[1]".into()),
            Leaf::Str(Cow::Borrowed(r#"{"upn":"u@v"}"#)),
        ]
    };
    let (mut by_str_calls, mut by_u64_calls) = (0, 0);
    for f in fields {
        let mut inline = Builder::default();
        let mut called = Builder::default();
        let mut by_str = Builder::default();
        // Twice each: the second value meets a filled slot.
        for v in leaves().into_iter().chain(leaves()) {
            // The walk hands over "" for a key `reads_key` says is not read.
            let key = if <Builder as KeyMap>::reads_key(f) {
                "identity_claim_Some.Key_s"
            } else {
                ""
            };
            // `field_str` for a borrowed string and `field_u64` for a plain number, as
            // the walk calls them.
            match &v {
                Leaf::Str(Cow::Borrowed(s)) => {
                    KeyMap::field_str(&mut by_str, f, key, s);
                    by_str_calls += 1;
                }
                Leaf::U64(n) => {
                    KeyMap::field_u64(&mut by_str, f, key, *n);
                    by_u64_calls += 1;
                }
                v => KeyMap::field(&mut by_str, f, key, v.clone()),
            }
            KeyMap::field(&mut inline, f, key, v.clone());
            azure_field(&mut called, f, "identity_claim_Some.Key_s", v);
            assert_eq!(format!("{inline:?}"), format!("{called:?}"), "{f:?}");
            assert_eq!(format!("{by_str:?}"), format!("{called:?}"), "{f:?}");
        }
    }
    assert_eq!(by_str_calls, fields.len() * 6);
    assert_eq!(by_u64_calls, fields.len() * 2);
}

#[allow(clippy::collapsible_if)]
/// The path mapping as it was before [`azure_role`]: the reference the new one must match.
fn old_map_azure<'a>(b: &mut Builder<'a>, path: &str, v: Leaf<'a>) {
    if let Some(k) = path
        .strip_prefix("identity.claim.")
        .or_else(|| path.strip_prefix("identity.claims."))
    {
        // Claim values as the mapping reads them (arrays keep their type).
        claim_leaf(&mut b.ev.identity, claim_target(k), k, v);
        return;
    }
    if let Some(k) = path.strip_prefix("identity_claim_") {
        let (k, is_string) = strip_type_suffix(k);
        if let Some(t) = v.into_text() {
            claim_column(&mut b.ev.identity, k, is_string, t);
        }
        return;
    }
    match path {
        "time" | "timegenerated" => set(&mut b.time, v),
        "category" => set(&mut b.category, v),
        "type" => set(&mut b.table_type, v),
        "operationname" => set(&mut b.operation, v),
        "operationversion" => set(&mut b.ev.operation_version, v),
        "resulttype" => set(&mut b.result_type, v),
        "resultsignature" => set(&mut b.ev.result_signature, v),
        "resultdescription" => set(&mut b.ev.result_description, v),
        "durationms" => set_num(&mut b.duration, v),
        "calleripaddress" => set(&mut b.caller_ip, v),
        "correlationid" => set(&mut b.ev.correlation_id, v),
        "resourceid" => set(&mut b.resource_id, v),
        "_resourceid" => set(&mut b.resource_id_fb, v),
        "subscriptionid" | "_subscriptionid" => set(&mut b.subscription_id, v),
        "resourcegroup" => set(&mut b.resource_group, v),
        "resource" => set(&mut b.resource_name, v),
        "resourcetype" => set(&mut b.resource_type, v),
        "resourceprovider" => set(&mut b.provider, v),
        "location" => set(&mut b.location, v),
        "identity" => {
            if let Leaf::Str(s) = v {
                walk_nested(b, s, "identity", old_map_azure);
            }
        }
        // AzureDiagnostics sometimes has a bare `identity_claim` column holding the UPN.
        "identity_claim" => {
            if let Some(t) = v.into_text() {
                if t.contains('@') {
                    b.upn_fb.get_or_insert(t);
                }
            }
        }
        "properties.clientinfo" | "clientinfo" | "clientinfo_s" => set(&mut b.client_info, v),
        "properties.requesturi" | "requesturi" | "requesturi_s" => set(&mut b.ev.request_uri, v),
        "properties.id" | "id" | "id_s" => set(&mut b.ev.object_id, v),
        "properties.httpstatuscode" | "httpstatuscode" | "httpstatuscode_d" => {
            set_num(&mut b.http_status, v)
        }
        "properties.tlsversion" | "tlsversion" | "tlsversion_s" => set(&mut b.ev.tls_version, v),
        "records" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Records);
            }
        }
        "tables" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Tables);
            }
        }
        "hits.hits" => {
            if matches!(v, Leaf::Json(_)) {
                b.nested = Some(Nested::Hits);
            }
        }
        "" => b.not_object = true,
        _ => {}
    }
}

/// Every path the old string match knew, with case, suffix, prefix and separator
/// variants, and every kind of leaf: the level-by-level mapping gives the same builder.
#[test]
fn map_azure_matches_the_old_path_match() {
    let known = [
        "time",
        "timegenerated",
        "category",
        "type",
        "operationname",
        "operationversion",
        "resulttype",
        "resultsignature",
        "resultdescription",
        "durationms",
        "calleripaddress",
        "correlationid",
        "resourceid",
        "_resourceid",
        "subscriptionid",
        "_subscriptionid",
        "resourcegroup",
        "resource",
        "resourcetype",
        "resourceprovider",
        "location",
        "identity",
        "identity_claim",
        "properties.clientinfo",
        "clientinfo",
        "clientinfo_s",
        "properties.requesturi",
        "requesturi",
        "requesturi_s",
        "properties.id",
        "id",
        "id_s",
        "properties.httpstatuscode",
        "httpstatuscode",
        "httpstatuscode_d",
        "properties.tlsversion",
        "tlsversion",
        "tlsversion_s",
        "records",
        "tables",
        "hits.hits",
        "",
        "identity.claim.upn",
        "identity.claims.oid",
        "identity.claim.",
        "identity.claim",
        "identity.claims",
        "identity.claim.a.b.c",
        "identity.claim.http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
        "identity_claim_upn_s",
        "identity_claim_oid_g",
        "identity_claim_x_d",
        "identity_claim_",
        "identity_claim_a.b_s",
        "identity_claim_a_",
        "identity_claim_ab",
        "identity.",
        "identity..claim.upn",
        "identity.x.claim.upn",
        "properties",
        "properties.",
        "properties.id.x",
        "hits",
        "hits.",
        "hits.hits.x",
        "hits.x",
        ".time",
        "time.",
        "time.x",
        "x.time",
        "..",
        ".",
        "a..b",
        "properties..id",
        "identity_claimx",
        "identity.claimx.upn",
        "identity.claimsx.upn",
        "identityx",
        "recordsx",
        "z",
        "tablez",
        "é",
        "ida",
        "clientinfo_x",
        "timex",
        "hits.hitsx",
        "identity.claimsx",
        "properties.idx",
        "properties.clientinfox",
        "clientinfo_ss",
        "resourcetypes",
        "resultdescriptions",
        "identity_claim_upn_s.x",
    ];
    let leaves = [
        Leaf::Str(Cow::Borrowed("a@b.c")),
        Leaf::Str(Cow::Borrowed("")),
        Leaf::Str(Cow::Borrowed("None")),
        Leaf::Str(Cow::Owned("owned".to_string())),
        Leaf::Str(Cow::Borrowed(r#"{"claim":{"upn":"u@v.w","oid":"o"}}"#)),
        Leaf::U64(200),
        Leaf::I64(-3),
        Leaf::F64(12.5),
        Leaf::Bool(true),
        Leaf::Null,
        Leaf::Json("[1,\"x\"]".to_string()),
    ];
    let mut n = 0;
    for path in known {
        for leaf in &leaves {
            let (mut old, mut new) = (Builder::default(), Builder::default());
            old_map_azure(&mut old, path, leaf.clone());
            map_azure(&mut new, path, leaf.clone());
            assert_eq!(format!("{old:?}"), format!("{new:?}"), "{path} {leaf:?}");
            n += 1;
        }
    }
    assert_eq!(n, known.len() * leaves.len());
    // A record's paths in sequence: first-wins fields and last-wins claims agree too.
    let (mut old, mut new) = (Builder::default(), Builder::default());
    for (i, path) in known.iter().enumerate() {
        let leaf = leaves[i % leaves.len()].clone();
        old_map_azure(&mut old, path, leaf.clone());
        map_azure(&mut new, path, leaf);
    }
    assert_eq!(format!("{old:?}"), format!("{new:?}"));
    assert!(new.ev.identity.upn.is_some() && new.time.is_some());
}

/// `text` with every object key upper-cased (keys are the strings followed by `:`).
fn upper_keys(text: &str) -> String {
    let parts: Vec<&str> = text.split('"').collect();
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('"');
        }
        let is_key = i % 2 == 1
            && parts
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with(':'));
        if is_key {
            out.push_str(&p.to_uppercase());
        } else {
            out.push_str(p);
        }
    }
    out
}

/// The keyed walk, wherever it decides, builds what the path walk builds from the same
/// text; keys in any case, dotted and empty keys, nested claims.
#[test]
fn keyed_walk_builds_what_the_path_walk_builds() {
    let fixture = include_str!("../../../tests/fixtures/storage.jsonl");
    let mut texts: Vec<String> = fixture
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(str::to_string)
        .collect();
    for t in texts.clone() {
        texts.push(upper_keys(&t));
        texts.push(
            t.replace("\"identity\"", "\"IDENTITY\"")
                .replace("\"claim\"", "\"Claims\""),
        );
    }
    let extra = [
        r#"{"time":"2024-01-01T00:00:00Z","identity":{"claim":{"a":{"b":{"UPN":"x@y"},"c":[1]},"oid":"o","":"e"}}}"#,
        r#"{"identity.claim.upn":"x@y","time":"t"}"#,
        r#"{"identity":{"claim.upn":"x@y"},"time":"t"}"#,
        r#"{"":{"time":"t","operationName":"op"}}"#,
        r#"{"identity":{"":{"claim":{"upn":"u"}}},"properties":{"":1,"a.b":2,"id":"i"}}"#,
        r#"{"Identity_Claim_UPN_S":"u@v","IDENTITY_CLAIM_oid_G":"o","identity_claim_x_d":"None","identity_claim_y.z_s":"q"}"#,
        r#"{"identity_claim_a":{"b":"c"}}"#,
        r#"{"hits":{"hits":[{"_source":{}}],"total":{"value":1}},"records":{"a":1}}"#,
        r#"{"records":[{"time":"t"}],"tables":[]}"#,
        r#"{"time":{"x":1},"category":["a",{"b":null}],"properties":"p","identity":"{\"claim\":{\"upn\":\"n@m\"}}"}"#,
        r#"{"identity":5,"properties":{"httpStatusCode":"200","HTTPSTATUSCODE":201,"tlsVersion":null}}"#,
        r#"{"K\u0045Y":1,"Ti\u006de":"t","identity":{"cl\u0061im":{"u\u0070n":"x"}}}"#,
    ];
    texts.extend(extra.iter().map(|s| s.to_string()));
    let mut decided = 0;
    for t in &texts {
        let mut keyed = Builder::default();
        let mut buf = String::new();
        let k = kvsentry_json::walk_keyed(t, &mut keyed, &mut buf, &mut Default::default());
        let mut by_path = Builder::default();
        let mut path = String::new();
        let p = kvsentry_json::walk_fast(t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l));
        if k.is_ok() {
            decided += 1;
            assert!(p.is_ok(), "{t}");
            assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
        }
        // and the path mapping agrees with the old one on the same text
        let mut old = Builder::default();
        let o = walk_text(t, "", &mut |p, l| old_map_azure(&mut old, p, l));
        let mut new = Builder::default();
        let r = walk_text(t, "", &mut |p, l| map_azure(&mut new, p, l));
        assert_eq!(o.is_ok(), r.is_ok());
        assert_eq!(format!("{old:?}"), format!("{new:?}"), "{t}");
    }
    // dotted and empty keys at the top or under identity are left to the path walk
    assert_eq!(decided, texts.len() - 4, "{decided}");
}

/// Random damage to real records (including dots, case and empty keys): wherever the
/// keyed walk decides, the path walk and serde_json accept the text too and the builders
/// agree.
#[test]
fn keyed_walk_agrees_on_damaged_records() {
    let fixture = include_str!("../../../tests/fixtures/storage.jsonl");
    let recs: Vec<&str> = fixture.lines().filter(|l| l.starts_with('{')).collect();
    let alphabet = b"{}[],:\"\\ .._x0-eEInutfals1T\x01";
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let (mut decided, mut refused) = (0, 0);
    // One cache for all: damaged records meet keys remembered from intact ones.
    let mut cache = kvsentry_json::KeyCache::default();
    for round in 0..6000 {
        let mut b = recs[round % recs.len()].as_bytes().to_vec();
        for _ in 0..1 + next(3) {
            let at = next(b.len());
            match next(4) {
                0 => b[at] = alphabet[next(alphabet.len())],
                1 => b.insert(at, alphabet[next(alphabet.len())]),
                2 => {
                    b.remove(at);
                }
                _ => b[at] = b[at].to_ascii_uppercase(),
            }
        }
        let Ok(text) = String::from_utf8(b) else {
            continue;
        };
        let mut keyed = Builder::default();
        let mut buf = String::new();
        if kvsentry_json::walk_keyed(&text, &mut keyed, &mut buf, &mut cache).is_err() {
            refused += 1;
            continue;
        }
        decided += 1;
        let mut by_path = Builder::default();
        let mut path = String::new();
        let p =
            kvsentry_json::walk_fast(&text, &mut path, &mut |p, l| map_azure(&mut by_path, p, l));
        assert!(p.is_ok(), "{text}");
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok(),
            "{text}"
        );
        assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{text}");
    }
    assert!(decided > 1000 && refused > 1000, "{decided} {refused}");
}

/// Records read one after another with one key cache: repeated, reordered, re-cased,
/// spaced and escaped keys all build what the path walk builds.
#[test]
fn the_key_cache_never_changes_a_record() {
    let texts = [
        r#"{"time":"2024-01-01T00:00:00Z","operationName":"A","identity":{"claim":{"upn":"u@v","oid":"o"}},"properties":{"id":"i","httpStatusCode":200}}"#,
        r#"{"time":"2024-01-01T00:00:01Z","operationName":"B","identity":{"claim":{"upn":"x@y","oid":"p"}},"properties":{"id":"j","httpStatusCode":201}}"#,
        r#"{"operationName":"C","time":"2024-01-01T00:00:02Z","identity":{"claim":{"oid":"q","upn":"z@w"}},"properties":{"httpStatusCode":202,"id":"k"}}"#,
        r#"{"TIME":"2024-01-01T00:00:03Z","operationname":"D","Identity":{"Claim":{"UPN":"a@b","oid":"r"}},"properties":{"ID":"l"}}"#,
        r#"{"time" :"2024-01-01T00:00:04Z", "operationName":"E","identity":{"claim":{"u\u0070n":"c@d"}},"properties":{"i\u0064":"m"}}"#,
        r#"{"time":"2024-01-01T00:00:05Z","operationName.x":"F","identity":{"claim.upn":"e@f"},"properties":{"id":"n"}}"#,
        r#"{"time":"2024-01-01T00:00:06Z","operationName":"G","identity":{"claim":{"upn":"g@h","oid":"s"}},"properties":{"id":"o","httpStatusCode":203}}"#,
        // Keys sharing their first bytes (the cache's first word), short and long.
        r#"{"time":"2024-01-01T00:00:07Z","identity":{"claim":{"appidacr":"2","appid":"a","oi":"t"}}}"#,
        r#"{"time":"2024-01-01T00:00:08Z","identity":{"claim":{"appid":"b","appidacr":"1","oid":"u"}}}"#,
        r#"{"time":"2024-01-01T00:00:09Z","identity":{"claim":{"appidacx":"3","appi":"c","o":"v"}}}"#,
        r#"{"time":"2024-01-01T00:00:10Z","identity":{"claim":{"appidacr":"4","appid":"d","oid":"w"}}}"#,
        // `"key":` of 9 to 16 bytes and longer, the same but for one byte past the first
        // eight (the cache compares those by their last eight bytes).
        r#"{"resultType":"R1","operationName":"H","httpStatusCode":204,"identity":{"claim":{"xms_mirid":"m1","appidacr":"5"}},"properties":{"clientInfo":"c1"}}"#,
        r#"{"resultTypf":"R2","operationNamf":"I","httpStatusCodf":205,"identity":{"claim":{"xms_mirix":"m2","appidacx":"6"}},"properties":{"clientInfp":"c2"}}"#,
        r#"{"resultTyqe":"R3","operationNbme":"J","httpStatusCpde":206,"identity":{"claim":{"xms_miri":"m3","appidac":"7"}},"properties":{"clientInf":"c3"}}"#,
        r#"{"resultType":"R4","operationName":"K","httpStatusCode":207,"identity":{"claim":{"xms_mirid":"m4","appidacr":"8"}},"properties":{"clientInfo":"c4"}}"#,
        r#"{"resultTypf":"R5","operationNamf":"L","httpStatusCodf":208,"identity":{"claim":{"xms_mirix":"m5","appidacx":"9"}},"properties":{"clientInfp":"c5"}}"#,
    ];
    let mut cache = kvsentry_json::KeyCache::default();
    let mut decided = 0;
    for t in texts {
        let mut keyed = Builder::default();
        let mut buf = String::new();
        let k = kvsentry_json::walk_keyed(t, &mut keyed, &mut buf, &mut cache);
        let mut by_path = Builder::default();
        let mut path = String::new();
        kvsentry_json::walk_fast(t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l)).unwrap();
        if k.is_ok() {
            decided += 1;
            assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
        }
    }
    // the dotted keys of the sixth record are the path walk's to read
    assert_eq!(decided, texts.len() - 1);
}

/// A field's number read inline by the keyed walk (`Scan::plain_u64`,
/// `KeyMap::field_u64`) reads as the path walk reads it, plain or not, for the numbers
/// kept as they are and for a field that takes a number as text.
#[test]
fn inline_numbers_read_as_the_path_walk() {
    let numbers = [
        "0",
        "7",
        "200",
        "01",
        "-5",
        "2.0",
        "1e3",
        "9999999999999999999",
        "18446744073709551615",
        "123456789012345678901",
        "404 ",
        "3}",
    ];
    let mut cache = kvsentry_json::KeyCache::default();
    let mut decided = Vec::new();
    for n in numbers {
        let t = format!(
            r#"{{"time":"2024-01-01T00:00:00Z","durationMs":{n},"resultSignature":{n},"properties":{{"httpStatusCode":{n}}}}}"#
        );
        let mut keyed = Builder::default();
        let mut buf = String::new();
        let k = kvsentry_json::walk_keyed(&t, &mut keyed, &mut buf, &mut cache);
        let mut by_path = Builder::default();
        let mut path = String::new();
        let p = kvsentry_json::walk_fast(&t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l));
        assert_eq!(k.is_ok(), p.is_ok(), "{t}");
        if k.is_ok() {
            assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
            decided.push((n, format!("{:?}", keyed.http_status)));
        }
    }
    let want: Vec<(&str, String)> = [
        ("0", "Some(U64(0))"),
        ("7", "Some(U64(7))"),
        ("200", "Some(U64(200))"),
        ("-5", "Some(I64(-5))"),
        ("2.0", "Some(F64(2.0))"),
        ("1e3", "Some(F64(1000.0))"),
        ("9999999999999999999", "Some(U64(9999999999999999999))"),
        ("18446744073709551615", "Some(U64(18446744073709551615))"),
        ("123456789012345678901", "Some(F64(1.2345678901234567e20))"),
        ("404 ", "Some(U64(404))"),
    ]
    .into_iter()
    .map(|(n, s)| (n, s.to_string()))
    .collect();
    // `01` and `3}` are refused by both walks.
    assert_eq!(decided, want);
}

/// A remembered key's flattened step (`kvsentry_json`'s `Step`) does with each kind of value what
/// its role does: the same keys record after record (all but the first read from the
/// cache), each with a string, an escaped string, a number, a literal, null, an array
/// and an object in turn, for a plain field, a field reading its key (a claim column),
/// a claim normalised when applied, a key nothing reads and a key to enter.
#[test]
fn a_remembered_key_steps_as_its_role() {
    let values = [
        r#""v1""#,
        r#""v\u0032""#,
        "3",
        "true",
        "null",
        r#"["a",4]"#,
        r#"{"x":"5"}"#,
        r#""v6""#,
    ];
    let mut cache = kvsentry_json::KeyCache::default();
    let (mut decided, mut given_up) = (0, 0);
    let mut others = Vec::new();
    for (i, v) in values.iter().enumerate() {
        // Rotated so that every key meets every kind of value.
        let at = |k: usize| values.get((i + k) % values.len()).copied().unwrap_or("0");
        let t = format!(
            r#"{{"time":"2024-01-01T00:00:0{i}Z","operationName":{v},"identity_claim_upn_s":{},"identity":{{"claim":{{"Xms_Foo":{},"oid":{}}}}},"fooBar":{},"properties":{}}}"#,
            at(1),
            at(2),
            at(3),
            at(4),
            at(5),
        );
        let mut keyed = Builder::default();
        let mut buf = String::new();
        let k = kvsentry_json::walk_keyed(&t, &mut keyed, &mut buf, &mut cache);
        let mut by_path = Builder::default();
        let mut path = String::new();
        kvsentry_json::walk_fast(&t, &mut path, &mut |p, l| map_azure(&mut by_path, p, l)).unwrap();
        match k {
            Ok(()) => {
                decided += 1;
                assert_eq!(format!("{keyed:?}"), format!("{by_path:?}"), "{t}");
                others.push(format!("{:?}", keyed.ev.identity.other));
            }
            Err(_) => given_up += 1,
        }
    }
    // An object under the claim column (the sixth record puts one there) is the path
    // walk's to read; every other record is the keyed walk's.
    assert_eq!((decided, given_up), (7, 1));
    // `Xms_Foo` (its key read from the cache, normalised to `xms_foo`): an array's text
    // in the fourth record (`oid`'s object is that claim's value, kept whole in its own
    // field), an escaped string in the last; `null` is no claim.
    let at = |i: usize| others.get(i).map(String::as_str);
    assert_eq!(at(3), Some(r#"[("xms_foo", "[\"a\",4]")]"#));
    assert_eq!(at(2), Some("[]"));
    assert_eq!(at(6), Some(r#"[("xms_foo", "v2")]"#));
}

/// The event built in place is complete after `finish`: placeholders replaced, every
/// field set from the record, the identity's fallback UPN applied.
#[test]
fn finish_fills_the_event_in_place() {
    let text = r#"{"time":"2024-01-02T03:04:05.1234567Z","category":"AuditEvent","operationName":"SecretGet","operationVersion":"7.4","resultType":"Success","resultSignature":"OK","resultDescription":"d","durationMs":"12","callerIpAddress":"104.40.82.76","correlationId":"c-1","identity":{"claim":{"oid":"o-1","iss":"i-1"}},"properties":{"id":"https://v/secrets/s","clientInfo":"ci","httpStatusCode":200,"requestUri":"https://v/x","tlsVersion":"TLS1_2"},"resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV1","identity_claim":"u@contoso.com"}"#;
    let ev = build(text, map_azure).unwrap();
    assert_eq!(ev.time.to_string(), "2024-01-02T03:04:05.1234567Z");
    assert_eq!(ev.category, "AuditEvent");
    assert_eq!(ev.operation, "SecretGet");
    assert_eq!(ev.operation_version.as_deref(), Some("7.4"));
    assert_eq!(ev.result_type.as_deref(), Some("Success"));
    assert_eq!(ev.result_signature.as_deref(), Some("OK"));
    assert_eq!(ev.result_description.as_deref(), Some("d"));
    assert_eq!(ev.duration_ms, Some(12));
    assert_eq!(ev.http_status, Some(200));
    assert_eq!(
        ev.caller_ip,
        CallerIp::Addr(std::net::IpAddr::from([104, 40, 82, 76]))
    );
    assert_eq!(ev.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(ev.identity.object_id.as_deref(), Some("o-1"));
    assert_eq!(ev.identity.upn.as_deref(), Some("u@contoso.com"));
    assert_eq!(
        ev.identity.other,
        vec![(Cow::Borrowed("iss"), Cow::Borrowed("i-1"))]
    );
    assert_eq!(ev.object_id.as_deref(), Some("https://v/secrets/s"));
    assert_eq!(ev.client_info.as_deref(), Some("ci"));
    assert_eq!(ev.request_uri.as_deref(), Some("https://v/x"));
    assert_eq!(ev.tls_version.as_deref(), Some("TLS1_2"));
    assert_eq!(ev.vault.name.as_deref(), Some("KV1"));
    assert_eq!(ev.origin, Origin { source: 1, line: 3 });
}
