//! Bundles shaped like the real ones: OASIS apt1/poisonivy/C2 examples, OpenCTI exports,
//! Sentinel `Data` cells, TAXII envelopes with versions.

use kvsentry_stix::{
    IpNet, ProblemReason, StixError, StixIndicator, StixLoad, Timestamp, Tlp, latest_versions,
    parse_bundle, parse_bundle_strict, parse_objects,
};

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn find<'a>(load: &'a StixLoad, id: &str) -> &'a StixIndicator {
    load.indicators
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("{id} not among indicators; problems: {:?}", load.problems))
}

fn problem(load: &StixLoad, id: &str) -> (ProblemReason, String) {
    let p = load
        .problems
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("no problem for {id}: {:?}", load.problems));
    (p.reason, p.detail.clone())
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn apt1_cidrs_with_equals() {
    let load = parse_bundle(include_str!("fixtures/apt1_trimmed.json")).unwrap();
    let got: Vec<(&str, Vec<IpNet>)> = load
        .indicators
        .iter()
        .map(|i| (i.id.as_str(), i.networks.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "indicator--031778a4-057f-48e6-9db9-c8d72b81ccd5",
                nets(&["223.166.0.0/15"])
            ),
            (
                "indicator--da1d061b-2bc9-467a-b16f-8d14f468e1f0",
                nets(&["58.246.0.0/15"])
            ),
            (
                "indicator--2173d108-5714-42fd-8213-4f3790259fda",
                nets(&["112.64.0.0/15"])
            ),
            (
                "indicator--8ce03314-dfea-4498-ac9b-136e41ab00e4",
                nets(&["139.226.0.0/15"])
            ),
        ]
    );
    let i = &load.indicators[0];
    assert_eq!(i.name.as_deref(), Some("HTRAN Hop Point Accessor"));
    assert_eq!(i.spec_version, "2.1");
    assert_eq!(i.indicator_types, vec!["malicious-activity"]);
    assert_eq!(i.valid_from, ts("2015-05-15T09:12:16.432678Z"));
    assert_eq!(i.created, ts("2015-05-15T09:12:16.432Z"));
    assert!(!i.requires_more && !i.revoked);
    assert_eq!(i.valid_until, None);
    // 3 domains, 3 MD5s, 2 x509: all reported, none dropped.
    assert_eq!(load.problems.len(), 8);
    assert!(
        load.problems
            .iter()
            .all(|p| p.reason == ProblemReason::NoIpComparison)
    );
    let (_, detail) = problem(&load, "indicator--3f3ff9f1-bb4e-4392-89e5-1991179042ba");
    assert!(
        detail.contains("indicator--3f3ff9f1") && detail.contains("hugesoft.org"),
        "{detail}"
    );
    assert_eq!(load.skipped_objects_by_type.values().sum::<usize>(), 8);
    assert_eq!(load.skipped_objects_by_type.get("relationship"), Some(&1));
    assert_eq!(load.superseded_versions, 0);
}

#[test]
fn poisonivy_or_of_domain_and_ips() {
    let load = parse_bundle(include_str!("fixtures/poisonivy_trimmed.json")).unwrap();
    assert_eq!(load.indicators.len(), 5);
    assert_eq!(
        find(&load, "indicator--e8094b09-7df4-4b13-b207-1e27af3c4bde").networks,
        nets(&["219.76.208.163/32"])
    );
    let i = find(&load, "indicator--8da68996-f175-4ae0-bd74-aad4913873b8");
    assert_eq!(
        i.networks,
        nets(&[
            "75.126.95.138/32",
            "98.126.148.114/32",
            "113.10.246.30/32",
            "202.65.220.64/32",
            "202.65.222.45/32",
            "219.90.112.197/32",
            "219.90.112.203/32",
        ])
    );
    assert!(!i.requires_more, "OR with domains: each IP alone matches");
    assert_eq!(i.indicator_types, vec!["malicious-activity", "attribution"]);
    assert_eq!(
        find(&load, "indicator--9695dc2f-d92a-4f2b-8b16-b0e21d7c631d").networks,
        nets(&["60.1.1.114/32", "60.10.1.114/32"])
    );
    let reasons: Vec<(String, ProblemReason)> = load
        .problems
        .iter()
        .map(|p| (p.id.clone(), p.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                "indicator--137acf67-cedc-4a07-8719-72759174de3a".into(),
                ProblemReason::NoIpComparison
            ),
            (
                "indicator--fead5c52-9533-405c-b822-a034092a1ba8".into(),
                ProblemReason::NoIpComparison
            ),
        ]
    );
}

#[test]
fn c2_examples_and_created_by() {
    let load = parse_bundle(include_str!("fixtures/c2_with_coa.json")).unwrap();
    assert_eq!(load.indicators.len(), 1);
    let i = &load.indicators[0];
    assert_eq!(i.id, "indicator--53fe3b22-0201-47cf-85d0-97c02164528d");
    // Private ranges are still extracted: the public-only filter belongs to the caller.
    assert_eq!(i.networks, nets(&["10.0.0.0/32"]));
    assert_eq!(
        i.created_by_ref.as_deref(),
        Some("identity--f690c992-8e7d-4b9a-9303-3312616c0220")
    );
    let (reason, _) = problem(&load, "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade");
    assert_eq!(reason, ProblemReason::NoIpComparison);
    assert_eq!(load.skipped_objects_by_type.len(), 4);

    let load = parse_bundle(include_str!("fixtures/c2_ip_address.json")).unwrap();
    assert_eq!(
        load.indicators[0].description.as_deref(),
        Some("Test description C2 channel.")
    );
}

#[test]
fn opencti_export_markings_confidence_references() {
    let load = parse_bundle(include_str!("fixtures/opencti_bundle.json")).unwrap();
    assert_eq!(load.indicators.len(), 2);
    let i = find(&load, "indicator--0071d619-cef4-558a-b940-67a2958fd202");
    assert_eq!(i.networks, nets(&["193.149.176.157/32"]));
    assert_eq!(i.confidence, Some(15));
    assert_eq!(i.tlp, Some(Tlp::Clear));
    assert_eq!(i.labels, vec!["cobalt strike", "botnet_cc"]);
    assert_eq!(i.external_references.len(), 1);
    assert_eq!(i.external_references[0].source_name, "ThreatFox");
    assert_eq!(
        i.external_references[0].url.as_deref(),
        Some("https://threatfox.abuse.ch/ioc/1234567/")
    );
    assert_eq!(
        i.external_references[0].external_id.as_deref(),
        Some("1234567")
    );
    assert_eq!(i.valid_until, Some(ts("2023-04-02T20:47:35.000Z")));
    assert!(i.is_active_at(ts("2023-03-10T00:00:00Z")));
    assert!(
        !i.is_active_at(ts("2023-04-02T20:47:35Z")),
        "valid_until is exclusive"
    );
    assert!(
        !i.is_active_at(ts("2023-03-01T00:00:00Z")),
        "before valid_from"
    );
    assert!(i.is_expired_at(ts("2023-05-01T00:00:00Z")));
    assert!(!i.is_expired_at(ts("2023-03-01T00:00:00Z")));

    let v6 = find(&load, "indicator--3c0b7f36-55d8-5f3e-9a0e-4b1b3e8c2d71");
    assert_eq!(v6.networks, nets(&["2a01:111:f400::7/128"]));
    assert_eq!(v6.confidence, None, "150 is out of range");
    // Bundle-defined TLP:AMBER marking and a `tlp:red` label: the stricter wins.
    assert_eq!(v6.tlp, Some(Tlp::Red));

    assert_eq!(
        problem(&load, "indicator--9a1d4b7c-2e3f-5a6b-8c9d-0e1f2a3b4c5d").0,
        ProblemReason::NoIpComparison
    );
    let (reason, detail) = problem(&load, "indicator--c1d2e3f4-a5b6-5c7d-8e9f-0a1b2c3d4e5f");
    assert_eq!(reason, ProblemReason::NotStix);
    assert!(detail.contains("\"sigma\""), "{detail}");
    assert_eq!(
        load.skipped_objects_by_type.get("marking-definition"),
        Some(&2)
    );
    assert_eq!(load.skipped_objects_by_type.get("ipv4-addr"), Some(&1));
}

#[test]
fn opencti_entity_and_sentinel_data_cell_as_single_objects() {
    let load = parse_bundle(include_str!("fixtures/opencti_entity_excerpt.json")).unwrap();
    assert_eq!(load.indicators.len(), 1, "{:?}", load.problems);
    let i = &load.indicators[0];
    assert_eq!(i.id, "indicator--0071d619-cef4-558a-b940-67a2958fd202");
    assert_eq!(i.networks, nets(&["193.149.176.157/32"]));
    assert!(i.indicator_types.is_empty(), "null indicator_types");

    let load = parse_bundle(include_str!("fixtures/sentinel_data_cell.json")).unwrap();
    let i = &load.indicators[0];
    assert_eq!(i.networks, nets(&["203.0.113.10/32"]));
    assert_eq!(i.valid_until, Some(ts("2099-01-01T00:00:00Z")));
    assert_eq!(i.confidence, Some(80));
    assert_eq!(i.labels, vec!["c2"]);
    assert_eq!(i.tlp, None);
}

#[test]
fn envelope_versions_revocation_and_every_problem_kind() {
    let load = parse_bundle(include_str!("fixtures/versions_envelope.json")).unwrap();
    // id 1: v3 (modified 2024-03-01) wins although listed before v2, and v2's broken
    // pattern is not reported because v2 is superseded.
    let v = find(&load, "indicator--11111111-1111-4111-8111-111111111111");
    assert_eq!(v.name.as_deref(), Some("v3 (latest, listed before v2)"));
    assert_eq!(v.networks, nets(&["104.40.82.0/24"]));
    assert!(v.is_active_at(ts("2024-06-01T00:00:00Z")));
    assert!(v.is_expired_at(ts("2025-01-01T00:00:00Z")));
    // id 2: a tie on `modified`: the later one in input order, which is revoked.
    let t = find(&load, "indicator--22222222-2222-4222-8222-222222222222");
    assert_eq!(t.name.as_deref(), Some("tie B (later in input: kept)"));
    assert!(t.revoked);
    assert!(t.is_expired_at(ts("2024-01-02T00:00:00Z")));
    assert!(!t.is_active_at(ts("2024-06-01T00:00:00Z")));
    assert_eq!(load.superseded_versions, 3);

    let v6 = find(&load, "indicator--33333333-3333-4333-8333-333333333333");
    assert_eq!(
        v6.networks,
        nets(&[
            "52.178.17.3/32",
            "2a01:111:f400::1/128",
            "2a01:111:f400:100::/56"
        ])
    );
    assert_eq!(v6.confidence, Some(85));

    let c2 = find(&load, "indicator--44444444-4444-4444-8444-444444444444");
    assert_eq!(c2.networks, nets(&["52.178.20.20/32", "52.178.20.21/32"]));
    assert!(c2.requires_more);

    let expect = [
        (
            "indicator--55555555-5555-4555-8555-555555555555",
            ProblemReason::Negated,
        ),
        (
            "indicator--66666666-6666-4666-8666-666666666666",
            ProblemReason::UnsupportedOperator,
        ),
        (
            "indicator--77777777-7777-4777-8777-777777777777",
            ProblemReason::NotStix,
        ),
        (
            "indicator--88888888-8888-4888-8888-888888888888",
            ProblemReason::MalformedPattern,
        ),
        (
            "indicator--99999999-9999-4999-8999-999999999999",
            ProblemReason::InvalidObject,
        ),
        ("#12", ProblemReason::InvalidObject),
        ("x-unknown--1", ProblemReason::InvalidObject),
    ];
    for (id, reason) in expect {
        assert_eq!(problem(&load, id).0, reason, "{id}");
    }
    assert_eq!(load.problems.len(), expect.len(), "{:?}", load.problems);
    let (_, detail) = problem(&load, "indicator--88888888-8888-4888-8888-888888888888");
    assert!(
        detail.contains("indicator--88888888-8888-4888-8888-888888888888")
            && detail.contains("at character 36")
            && detail.contains("found ']'"),
        "{detail}"
    );
    assert_eq!(load.indicators.len(), 4);
    assert_eq!(load.skipped_objects_by_type.get("malware"), Some(&1));
    assert_eq!(
        ProblemReason::MalformedPattern.as_str(),
        "malformed_pattern"
    );
}

#[test]
fn strict_mode_fails_on_a_malformed_pattern_naming_id_and_offset() {
    let err = parse_bundle_strict(include_str!("fixtures/versions_envelope.json")).unwrap_err();
    let StixError::Pattern { id, source } = &err else {
        panic!("{err}")
    };
    assert_eq!(id, "indicator--88888888-8888-4888-8888-888888888888");
    assert_eq!(source.offset, 36);
    assert_eq!(
        err.to_string(),
        "indicator indicator--88888888-8888-4888-8888-888888888888: malformed pattern at \
         character 36: expected an object path (type:property), found ']'"
    );
    assert!(parse_bundle_strict(include_str!("fixtures/apt1_trimmed.json")).is_ok());
}

#[test]
fn containers_array_single_object_and_rejections() {
    let arr = r#"[{"type":"indicator","id":"indicator--a","created":"2024-01-01T00:00:00Z",
        "pattern":"[ipv4-addr:value = '52.178.1.1']"}]"#;
    let load = parse_bundle(arr).unwrap();
    assert_eq!(load.indicators.len(), 1);
    // No pattern_type: STIX assumed; no spec_version anywhere: 2.0; modified/valid_from = created.
    let i = &load.indicators[0];
    assert_eq!(i.pattern_type, "stix");
    assert_eq!(i.spec_version, "2.0");
    assert_eq!(i.modified, ts("2024-01-01T00:00:00Z"));
    assert_eq!(i.valid_from, ts("2024-01-01T00:00:00Z"));

    // STIX 2.0 bundle: spec_version on the bundle, `labels` instead of indicator_types.
    let b20 = r#"{"type":"bundle","id":"bundle--x","spec_version":"2.0","objects":[
        {"type":"indicator","id":"indicator--b","created":"2017-01-01T00:00:00Z",
         "modified":"2017-01-01T00:00:00Z","labels":["malicious-activity"],
         "valid_from":"2017-01-01T00:00:00Z","pattern":"[ipv4-addr:value = '52.178.1.2']"}]}"#;
    let load = parse_bundle(b20).unwrap();
    assert_eq!(load.indicators[0].spec_version, "2.0");
    assert_eq!(load.indicators[0].labels, vec!["malicious-activity"]);

    assert!(
        parse_bundle(r#"{"type":"bundle","id":"bundle--y"}"#)
            .unwrap()
            .indicators
            .is_empty()
    );
    assert!(parse_bundle(r#"{"more":false}"#).is_err());
    assert!(matches!(parse_bundle("42"), Err(StixError::NotStix(_))));
    assert!(matches!(parse_bundle("{nope"), Err(StixError::Json(_))));
    let e = parse_bundle(r#"{"hello":"world"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hello"), "{e}");
}

#[test]
fn parse_objects_and_latest_versions() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/sentinel_data_cell.json")).unwrap();
    let load = parse_objects(vec![v]);
    assert_eq!(load.indicators.len(), 1);

    let base = load.indicators[0].clone();
    let mut a = base.clone();
    a.name = Some("old".into());
    a.modified = ts("2024-01-01T00:00:00Z");
    let mut b = base.clone();
    b.name = Some("new".into());
    b.modified = ts("2024-02-01T00:00:00Z");
    let mut c = base.clone();
    c.name = Some("tie, later".into());
    c.modified = ts("2024-02-01T00:00:00Z");
    let mut other = base;
    other.id = "indicator--other".into();
    let kept = latest_versions(vec![a.clone(), other.clone(), b, c, a]);
    let names: Vec<_> = kept
        .iter()
        .map(|i| (i.id.as_str(), i.name.clone().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "indicator--a1f0c5d2-0001-4c3e-9a51-000000000001",
                "tie, later".to_string()
            ),
            ("indicator--other", other.name.clone().unwrap()),
        ]
    );
}
