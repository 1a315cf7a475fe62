//! The TAXII client against the real medallion TAXII 2.1 server (PyPI `medallion`, JSON-file
//! memory backend) on 127.0.0.1.
//!
//! Setup: `bash crates/kvsentry-stix/tests/setup_medallion.sh` (CI runs it). The Python used
//! is `$KVSENTRY_MEDALLION_PYTHON`, else `tests/.venv/bin/python` when the setup script
//! had to make a venv, else `python3`. Without medallion the test prints why and passes,
//! a missing medallion fails it unless `KVSENTRY_SKIP_MEDALLION=1` opts out.

use std::fs;
use std::io::Read;

#[path = "support/medallion.rs"]
mod medallion;
use medallion::{Medallion, TempDir, USER, basic};

use kvsentry_stix::{
    Auth, IpNet, ProblemReason, TaxiiClient, TaxiiError, Timestamp, parse_objects, read_state,
    read_store,
};
use serde_json::{Value, json};

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
const EMPTY_COLLECTION: &str = "52892447-4d7e-4f70-b94d-d7f22742ff63";

fn indicator(id: &str, modified: &str, name: &str, pattern: &str, extra: Value) -> Value {
    let mut v = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2024-01-01T00:00:00.000Z",
        "modified": modified,
        "name": name,
        "indicator_types": ["malicious-activity"],
        "pattern_type": "stix",
        "pattern": pattern,
        "valid_from": "2024-01-01T00:00:00Z",
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

const IND_A: &str = "indicator--a0000000-0000-4000-8000-00000000000a";
const IND_B: &str = "indicator--b0000000-0000-4000-8000-00000000000b";
const IND_C: &str = "indicator--c0000000-0000-4000-8000-00000000000c";
const IND_D: &str = "indicator--d0000000-0000-4000-8000-00000000000d";
const IND_E: &str = "indicator--e0000000-0000-4000-8000-00000000000e";
const IND_F: &str = "indicator--f0000000-0000-4000-8000-00000000000f";
const MALWARE: &str = "malware--90000000-0000-4000-8000-000000000009";

/// (object, date_added) in the order they were added to the collection.
fn collection_objects() -> Vec<(Value, &'static str)> {
    vec![
        (
            indicator(
                IND_A,
                "2024-01-01T00:00:00.000Z",
                "A v1",
                "[ipv4-addr:value = '104.40.82.76']",
                json!({}),
            ),
            "2024-01-01T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_B,
                "2024-01-02T00:00:00.000Z",
                "B ipv6",
                "[ipv6-addr:value = '2A01:111:F400:0:0:0:0:5']",
                json!({}),
            ),
            "2024-01-02T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_C,
                "2024-01-03T00:00:00.000Z",
                "C cidr",
                "[ipv4-addr:value = '52.178.0.0/16']",
                json!({}),
            ),
            "2024-01-03T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_D,
                "2024-01-04T00:00:00.000Z",
                "D v1",
                "[ipv4-addr:value = '52.179.1.1']",
                json!({}),
            ),
            "2024-01-04T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_E,
                "2024-01-05T00:00:00.000Z",
                "E domain",
                "[domain-name:value = 'vault-exfil.example']",
                json!({}),
            ),
            "2024-01-05T00:00:01.000000Z",
        ),
        (
            json!({"type": "malware", "spec_version": "2.1", "id": MALWARE,
                   "created": "2024-01-06T00:00:00.000Z", "modified": "2024-01-06T00:00:00.000Z",
                   "name": "KVStealer", "is_family": true}),
            "2024-01-06T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_A,
                "2024-02-01T00:00:00.000Z",
                "A v2",
                "[ipv4-addr:value = '104.40.82.0/24']",
                json!({}),
            ),
            "2024-02-01T00:00:01.000000Z",
        ),
        (
            indicator(
                IND_D,
                "2024-02-02T00:00:00.000Z",
                "D v2 revoked",
                "[ipv4-addr:value = '52.179.1.1']",
                json!({"revoked": true}),
            ),
            "2024-02-02T00:00:01.000000Z",
        ),
    ]
}

fn server_data(port: u16) -> Value {
    let objects = collection_objects();
    let manifest: Vec<Value> = objects
        .iter()
        .map(|(o, added)| {
            json!({"id": o["id"], "date_added": added, "version": o["modified"],
                   "media_type": "application/stix+json;version=2.1"})
        })
        .collect();
    json!({
        "/discovery": {
            "title": "kvsentry test TAXII",
            "description": "medallion for kvsentry-stix tests",
            "contact": "soc@kvsentry.invalid",
            "default": format!("http://127.0.0.1:{port}/api1/"),
            "api_roots": [format!("http://127.0.0.1:{port}/api1/")],
        },
        "api1": {
            "information": {
                "title": "Key Vault threat intel",
                "description": "indicators",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9765625,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION,
                    "title": "IP indicators",
                    "description": "versions, v4, v6, CIDR, revoked, non-IP",
                    "can_read": true,
                    "can_write": true,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects.iter().map(|(o, _)| o.clone()).collect::<Vec<_>>(),
                    "manifest": manifest,
                },
                {
                    "id": EMPTY_COLLECTION,
                    "title": "Empty",
                    "can_read": true,
                    "can_write": false,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                },
            ],
        },
    })
}

fn ids_and_names(objects: &[Value]) -> Vec<(String, String)> {
    objects
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap_or_default().to_owned(),
                o["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn medallion_end_to_end() {
    let Some(server) = Medallion::start(&server_data) else {
        return;
    };
    let api = server.api_root();
    let client = TaxiiClient::new(basic());

    // Discovery and API root.
    let d = client.discovery(&server.base()).unwrap();
    assert_eq!(d.title, "kvsentry test TAXII");
    assert_eq!(d.contact.as_deref(), Some("soc@kvsentry.invalid"));
    assert_eq!(d.api_roots, vec![api.clone()]);
    assert_eq!(d.default.as_deref(), Some(api.as_str()));
    // The server URL may already name /taxii2/.
    assert_eq!(
        client
            .discovery(&format!("{}/taxii2/", server.base()))
            .unwrap(),
        d
    );
    let root = client.api_root(&api).unwrap();
    assert_eq!(root.title, "Key Vault threat intel");
    assert_eq!(root.versions, vec!["application/taxii+json;version=2.1"]);
    assert_eq!(root.max_content_length, Some(9765625));

    // Collections.
    let cs = client.collections(&api).unwrap();
    let got: Vec<(&str, &str, bool, bool)> = cs
        .iter()
        .map(|c| (c.id.as_str(), c.title.as_str(), c.can_read, c.can_write))
        .collect();
    assert_eq!(
        got,
        vec![
            (COLLECTION, "IP indicators", true, true),
            (EMPTY_COLLECTION, "Empty", true, false)
        ]
    );

    // Objects, default match[version]=last, one page.
    let all_last = client.objects(&api, COLLECTION, None, None, None).unwrap();
    assert_eq!(all_last.pages, 1);
    assert_eq!(
        ids_and_names(&all_last.objects),
        vec![
            (IND_B.into(), "B ipv6".into()),
            (IND_C.into(), "C cidr".into()),
            (IND_E.into(), "E domain".into()),
            (MALWARE.into(), "KVStealer".into()),
            (IND_A.into(), "A v2".into()),
            (IND_D.into(), "D v2 revoked".into()),
        ]
    );
    assert_eq!(all_last.date_added_last, Some(ts("2024-02-02T00:00:01Z")));

    // Every version, two per page: 8 objects over 4 pages following `next`.
    let all = client
        .objects(&api, COLLECTION, None, Some("all"), Some(2))
        .unwrap();
    assert_eq!(all.pages, 4);
    assert_eq!(all.objects.len(), 8);
    assert_eq!(
        ids_and_names(&all.objects[..2]),
        vec![
            (IND_A.into(), "A v1".into()),
            (IND_B.into(), "B ipv6".into())
        ]
    );
    assert_eq!(all.date_added_last, Some(ts("2024-02-02T00:00:01Z")));

    // One page at a time: `more`, `next`, and the date headers.
    let p1 = client
        .objects_page(&api, COLLECTION, None, Some("all"), Some(3), None)
        .unwrap();
    assert!(p1.more);
    let next = p1.next.clone().expect("medallion sends a next token");
    assert_eq!(p1.objects.len(), 3);
    assert_eq!(p1.date_added_first, Some(ts("2024-01-01T00:00:01Z")));
    assert_eq!(p1.date_added_last, Some(ts("2024-01-03T00:00:01Z")));
    let p2 = client
        .objects_page(&api, COLLECTION, None, Some("all"), Some(3), Some(&next))
        .unwrap();
    assert_eq!(
        ids_and_names(&p2.objects),
        vec![
            (IND_D.into(), "D v1".into()),
            (IND_E.into(), "E domain".into()),
            (MALWARE.into(), "KVStealer".into())
        ]
    );
    assert!(p2.more);
    let bad_next = client.objects_page(&api, COLLECTION, None, Some("all"), Some(3), Some("nope"));
    assert!(
        matches!(bad_next, Err(TaxiiError::Http { status: 400, .. })),
        "{bad_next:?}"
    );

    // added_after is strictly after: C itself was added at 2024-01-03T00:00:01Z.
    let after = client
        .objects(
            &api,
            COLLECTION,
            Some(ts("2024-01-03T00:00:01Z")),
            Some("all"),
            None,
        )
        .unwrap();
    assert_eq!(
        ids_and_names(&after.objects),
        vec![
            (IND_D.into(), "D v1".into()),
            (IND_E.into(), "E domain".into()),
            (MALWARE.into(), "KVStealer".into()),
            (IND_A.into(), "A v2".into()),
            (IND_D.into(), "D v2 revoked".into()),
        ]
    );

    // match[version]=first, and a specific version.
    let first = client
        .objects(&api, COLLECTION, None, Some("first"), None)
        .unwrap();
    let names: Vec<String> = ids_and_names(&first.objects)
        .into_iter()
        .filter(|(id, _)| id == IND_A || id == IND_D)
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, vec!["A v1", "D v1"]);
    let exact = client
        .objects(
            &api,
            COLLECTION,
            None,
            Some("2024-02-01T00:00:00.000Z"),
            None,
        )
        .unwrap();
    assert_eq!(
        ids_and_names(&exact.objects),
        vec![(IND_A.into(), "A v2".into())]
    );

    // The fetched objects as indicators.
    let load = parse_objects(all.objects.clone());
    let nets: Vec<(String, Vec<IpNet>, bool)> = load
        .indicators
        .iter()
        .map(|i| (i.name.clone().unwrap(), i.networks.clone(), i.revoked))
        .collect();
    assert_eq!(
        nets,
        vec![
            (
                "A v2".into(),
                vec!["104.40.82.0/24".parse().unwrap()],
                false
            ),
            (
                "B ipv6".into(),
                vec!["2a01:111:f400::5/128".parse().unwrap()],
                false
            ),
            (
                "C cidr".into(),
                vec!["52.178.0.0/16".parse().unwrap()],
                false
            ),
            (
                "D v2 revoked".into(),
                vec!["52.179.1.1/32".parse().unwrap()],
                true
            ),
        ]
    );
    assert_eq!(load.problems.len(), 1);
    assert_eq!(load.problems[0].id, IND_E);
    assert_eq!(load.problems[0].reason, ProblemReason::NoIpComparison);
    assert_eq!(load.superseded_versions, 2);

    // Errors: bad credentials, unacceptable media type, unknown collection, empty collection.
    let wrong = TaxiiClient::new(Auth::Basic {
        user: USER.into(),
        password: "wrong".into(),
    });
    let e = wrong.collections(&api).unwrap_err();
    assert!(matches!(e, TaxiiError::Auth { status: 401, .. }), "{e}");
    assert!(e.to_string().contains(&format!("{api}collections/")), "{e}");
    let e = TaxiiClient::new(Auth::None)
        .discovery(&server.base())
        .unwrap_err();
    assert!(matches!(e, TaxiiError::Auth { status: 401, .. }), "{e}");
    let e = TaxiiClient::new(basic())
        .with_accept("application/taxii+json;version=2.0")
        .collections(&api)
        .unwrap_err();
    assert!(matches!(e, TaxiiError::NotAcceptable { .. }), "{e}");
    let e = client
        .objects(&api, "no-such-collection", None, None, None)
        .unwrap_err();
    let TaxiiError::NoSuchCollection {
        collection_id,
        available,
        ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(collection_id, "no-such-collection");
    assert_eq!(
        available,
        &vec![
            format!("{COLLECTION} (IP indicators)"),
            format!("{EMPTY_COLLECTION} (Empty)")
        ]
    );
    assert!(e.to_string().contains("IP indicators"), "{e}");
    let empty = client
        .objects(&api, EMPTY_COLLECTION, None, None, None)
        .unwrap();
    assert_eq!((empty.objects.len(), empty.pages), (0, 1));

    // Sync into a store, twice with nothing new, then again after two objects are added.
    let store_dir = TempDir::new("store");
    let store = store_dir.0.as_path();
    let s1 = client.sync(store, &api, COLLECTION, Some(3)).unwrap();
    assert_eq!((s1.objects, s1.pages, s1.added_after), (8, 3, None));
    assert_eq!(s1.date_added_last, Some(ts("2024-02-02T00:00:01Z")));
    let f1 = s1.file.clone().unwrap();
    assert!(f1.ends_with("000001.json"), "{f1:?}");
    let offline = read_store(store).unwrap();
    assert_eq!(offline.indicators.len(), 4);
    assert_eq!(offline.problems.len(), 1);
    assert_eq!(offline.skipped_objects_by_type.get("malware"), Some(&1));

    let s2 = client.sync(store, &api, COLLECTION, Some(3)).unwrap();
    assert_eq!((s2.objects, s2.file.clone()), (0, None));
    assert_eq!(s2.added_after, Some(ts("2024-02-02T00:00:01Z")));

    let status = client
        .add_objects(
            &api,
            COLLECTION,
            &[
                indicator(
                    IND_F,
                    "2024-03-01T00:00:00.000Z",
                    "F new",
                    "[ipv4-addr:value IN ('52.180.1.1', '52.180.1.2')]",
                    json!({}),
                ),
                indicator(
                    IND_A,
                    "2024-03-02T00:00:00.000Z",
                    "A v3",
                    "[ipv6-addr:value = '::ffff:104.40.82.99']",
                    json!({}),
                ),
            ],
        )
        .unwrap();
    assert_eq!(status["success_count"], 2, "{status}");

    let s3 = client.sync(store, &api, COLLECTION, Some(3)).unwrap();
    assert_eq!(s3.objects, 2, "only the two new objects");
    assert!(s3.file.clone().unwrap().ends_with("000002.json"));
    assert!(s3.date_added_last.unwrap() > ts("2024-02-02T00:00:01Z"));
    let stored: Value =
        serde_json::from_str(&fs::read_to_string(s3.file.unwrap()).unwrap()).unwrap();
    assert_eq!(
        ids_and_names(stored["objects"].as_array().unwrap()),
        vec![
            (IND_F.into(), "F new".into()),
            (IND_A.into(), "A v3".into())
        ]
    );

    // A later run reads the store offline: A is now v3, F is there.
    drop(server);
    let offline = read_store(store).unwrap();
    let got: Vec<(String, Vec<IpNet>)> = offline
        .indicators
        .iter()
        .map(|i| (i.name.clone().unwrap(), i.networks.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("A v3".into(), vec!["104.40.82.99/32".parse().unwrap()]),
            (
                "B ipv6".into(),
                vec!["2a01:111:f400::5/128".parse().unwrap()]
            ),
            ("C cidr".into(), vec!["52.178.0.0/16".parse().unwrap()]),
            (
                "D v2 revoked".into(),
                vec!["52.179.1.1/32".parse().unwrap()]
            ),
            (
                "F new".into(),
                vec![
                    "52.180.1.1/32".parse().unwrap(),
                    "52.180.1.2/32".parse().unwrap()
                ]
            ),
        ]
    );
    let state = read_state(store).unwrap();
    let entry = state
        .collections
        .get(&format!("{api}|{COLLECTION}"))
        .unwrap();
    assert_eq!(entry.fetches, 2);
    assert_eq!(entry.date_added_last, s3.date_added_last);
    let mut raw = String::new();
    fs::File::open(store.join("state.json"))
        .unwrap()
        .read_to_string(&mut raw)
        .unwrap();
    assert!(raw.contains("\"fetches\": 2"), "{raw}");
}
