//! Every loader on fixtures shaped like the real feeds, with exact results pinned.

use std::path::PathBuf;

use jiff::Timestamp;
use kvsentry_intel::sources::stix::TAG_REQUIRES_MORE;
use kvsentry_intel::{
    Indicator, IndicatorSet, IntelError, IpColumn, LoadOptions, Selection, TiFormat, load_path,
    load_paths,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn by_id<'a>(set: &'a IndicatorSet, id: &str) -> &'a Indicator {
    set.iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

fn nets(set: &IndicatorSet) -> Vec<String> {
    set.iter().map(|i| i.network.to_string()).collect()
}

/// A scratch file under the target dir (tests read only what the repository holds).
fn scratch(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn sentinel_portal_csv_with_bom_brisbane_and_us_locale() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("sentinel_portal_brisbane.csv"), None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Sentinel);
    assert_eq!(f.records, 3);
    assert_eq!(f.skipped.get("no IP"), Some(&2));
    assert_eq!(f.skipped.get("unparseable TimeGenerated"), Some(&1));
    assert_eq!(f.problems.len(), 1);
    assert!(
        f.problems[0]
            .origin
            .ends_with("sentinel_portal_brisbane.csv:7"),
        "{}",
        f.problems[0].origin
    );
    assert_eq!(f.problems[0].value, "13/20/2024, 1:00:00.000 PM");

    let botnet = by_id(
        &set,
        "83913708806870652B21E518B5375E75CFA575CA5EB59CBF77905AAD14428E72",
    );
    assert_eq!(botnet.version_time, ts("2024-07-19T06:41:33.588Z"));
    assert_eq!(botnet.expiration, Some(ts("2024-07-19T09:24:31.196Z")));
    assert_eq!(botnet.network.to_string(), "198.235.24.13/32");
    assert_eq!(botnet.confidence, Some(100));
    assert_eq!(botnet.tags, ["honeypot"]);
    assert_eq!(botnet.tlp.as_deref(), Some("green"));
    assert_eq!(botnet.source, "Microsoft Defender Threat Intelligence");
    assert_eq!(botnet.threat_type.as_deref(), Some("Botnet"));
    assert!(botnet.active);
    let cols = botnet.sentinel.as_ref().unwrap();
    assert_eq!(cols.ip_column, Some(IpColumn::NetworkSourceIP));
    assert_eq!(
        cols.expiration_date_time.as_deref(),
        Some("7/19/2024, 7:24:31.196 PM")
    );
    assert_eq!(cols.confidence_score.as_deref(), Some("100"));
    let proj = serde_json::Value::Object(botnet.sentinel_projection().unwrap());
    assert_eq!(
        proj,
        serde_json::json!({
            "Description": "MSTIC HoneyPot: An attacker used a brute force attack to gain access to a service or device",
            "ActivityGroupNames": null,
            "IndicatorId": "83913708806870652B21E518B5375E75CFA575CA5EB59CBF77905AAD14428E72",
            "ThreatType": "Botnet",
            "Url": null,
            "ExpirationDateTime": "7/19/2024, 7:24:31.196 PM",
            "ConfidenceScore": "100",
            "TI_ipEntity": "198.235.24.13"
        })
    );

    let kv = by_id(&set, "IND-KV-0001");
    assert_eq!(kv.version_time, ts("2024-07-19T14:05:00Z"));
    assert_eq!(kv.expiration, Some(ts("2024-08-01T02:00:00Z")));
    assert_eq!(
        kv.description.as_deref(),
        Some(r#"C2 "beacon" seen: {"port": 443, "proto": "tls"}"#)
    );
    assert_eq!(kv.activity_groups, ["STRONTIUM", "Forest Blizzard"]);
    assert_eq!(kv.tags, ["c2", "kv"]);
    assert_eq!(kv.source, "Contoso TI");
    assert_eq!(kv.url.as_deref(), Some("https://c2.example/beacon"));
    assert_eq!(kv.confidence, Some(80));
    assert!(kv.active); // "True"

    let v6 = by_id(&set, "IND-KV-0002");
    assert_eq!(v6.network.to_string(), "2a01:111:f400::5/128");
    assert_eq!(v6.value_text, "2A01:111:F400::0:5");
    assert_eq!(v6.confidence, None); // ""
    assert!(v6.active); // "1"

    let (index, sel) = set.select(Selection::AsOf {
        at: ts("2024-07-20T12:00:00Z"),
        compat: false,
    });
    assert_eq!(sel.expired, 1);
    assert_eq!(sel.kept, 2);
    assert_eq!(
        index.lookup_text("104.40.82.76")[0].id,
        "IND-KV-0001".to_string()
    );
}

#[test]
fn unknown_zone_in_header_is_an_error_naming_the_column() {
    let p = scratch(
        "atlantis.csv",
        "\u{feff}\"TimeGenerated [Atlantis]\",IndicatorId,NetworkIP,Active,ExpirationDateTime\n\
         \"7/19/2024, 4:40:10.716 PM\",x,104.40.82.76,true,\n",
    );
    let err = load_path(&p, None, &mut IndicatorSet::new()).unwrap_err();
    match &err {
        IntelError::UnknownZone { column, zone, .. } => {
            assert_eq!(column, "TimeGenerated [Atlantis]");
            assert_eq!(zone, "Atlantis");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("`TimeGenerated [Atlantis]`"));
}

#[test]
fn sentinel_utc_header_and_json_lines() {
    let p = scratch(
        "utc.csv",
        "TimeGenerated [UTC],IndicatorId,NetworkIP,Active,ExpirationDateTime [UTC],ConfidenceScore\n\
         \"7/19/2024, 4:40:10.716 PM\",x,104.40.82.76,true,\"8/1/2024, 12:00:00.000 PM\",55.0\n",
    );
    let mut set = IndicatorSet::new();
    load_path(&p, Some(TiFormat::Sentinel), &mut set).unwrap();
    let i = by_id(&set, "x");
    assert_eq!(i.version_time, ts("2024-07-19T16:40:10.716Z"));
    assert_eq!(i.expiration, Some(ts("2024-08-01T12:00:00Z")));
    assert_eq!(i.confidence, Some(55));

    let p = scratch(
        "lines.json",
        "{\"TimeGenerated\":\"2025-01-01T00:00:00Z\",\"IndicatorId\":\"a\",\"NetworkIP\":\"52.178.1.1\",\"Active\":\"true\",\"ConfidenceScore\":\"70\"}\n\
         not json\n\
         {\"TimeGenerated\":\"2025-01-01T00:00:00Z\",\"IndicatorId\":\"b\",\"EmailSourceIpAddress\":\"52.178.1.2\",\"Active\":true}\n",
    );
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Sentinel);
    assert_eq!(nets(&set), ["52.178.1.1/32", "52.178.1.2/32"]);
    assert_eq!(by_id(&set, "a").confidence, Some(70));
    assert!(rep.files[0].problems[0].origin.ends_with("lines.json:2"));
}

#[test]
fn sentinel_threat_intel_indicators_table() {
    let mut set = IndicatorSet::new();
    let rep = load_path(
        fixture("sentinel_threatintelindicators.json"),
        None,
        &mut set,
    )
    .unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::SentinelStix);
    assert_eq!(f.records, 4);
    assert_eq!(f.skipped.get("no IP"), Some(&1));
    let one = by_id(
        &set,
        "RXhhbXBsZSBUQVhJSSBGZWVk---indicator--a1f0c5d2-0001-4c3e-9a51-000000000001",
    );
    assert_eq!(one.network.to_string(), "104.40.82.76/32");
    assert_eq!(
        one.sentinel.as_ref().unwrap().ip_column,
        Some(IpColumn::ObservableValue)
    );
    assert_eq!(one.expiration, Some(ts("2099-01-01T00:00:00Z")));
    assert_eq!(one.valid_from, Some(ts("2025-06-01T00:00:00Z")));
    assert_eq!(one.version_time, ts("2025-08-04T03:12:45.123Z"));
    assert_eq!(one.confidence, Some(80));
    assert_eq!(one.tlp.as_deref(), Some("green"));
    assert_eq!(one.tags, ["c2"]);
    assert_eq!(one.threat_type.as_deref(), Some("malicious-activity"));
    // An OR pattern of two IPs: two indicators, one per network.
    let two: Vec<&Indicator> = set
        .iter()
        .filter(|i| i.id.contains("000000000002#"))
        .collect();
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|i| i.revoked));
    assert!(
        two.iter()
            .all(|i| i.sentinel.as_ref().unwrap().ip_column == Some(IpColumn::Pattern))
    );
    // AND pattern: IP kept, flagged as needing more; IsActive false.
    let four = set.iter().find(|i| i.id.ends_with("000000000004")).unwrap();
    assert!(four.tags.contains(&TAG_REQUIRES_MORE.to_string()));
    assert!(!four.active);
    let (_, sel) = set.select(Selection::Retro { compat: false });
    assert_eq!((sel.kept, sel.revoked, sel.inactive), (1, 2, 1));
}

#[test]
fn stix_bundle_through_kvsentry_stix() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("stix_bundle.json"), None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Stix);
    assert_eq!(
        nets(&set),
        [
            "10.0.0.0/32",
            "223.166.0.0/15",
            "52.178.93.1/32",
            "2a01:111:f400::30/128",
            "52.178.94.1/32"
        ]
    );
    assert_eq!(f.skipped.get("STIX pattern names no IP address"), Some(&1));
    let apt1 = by_id(&set, "indicator--a1b2c3d4-0000-4000-8000-000000000001");
    assert_eq!(apt1.value_text, "223.166.0.0/15");
    assert_eq!(apt1.expiration, Some(ts("2025-12-31T00:00:00Z")));
    assert_eq!(apt1.confidence, Some(85));
    assert_eq!(apt1.description.as_deref(), Some("APT1 netblock"));
    assert_eq!(apt1.version_time, ts("2025-01-01T00:00:00Z"));
    let pi = by_id(
        &set,
        "indicator--a1b2c3d4-0000-4000-8000-000000000002#52.178.93.1/32",
    );
    assert_eq!(pi.value_text, "52.178.93.1");
    assert_eq!(pi.valid_from, Some(ts("2025-01-01T00:00:00Z")));

    let (index, sel) = set.select(Selection::Retro { compat: false });
    assert_eq!(sel.non_global.get("private (RFC 1918)"), Some(&1));
    assert_eq!(sel.revoked, 1);
    assert_eq!(sel.kept, 3);
    let ip = "223.167.1.1".parse().unwrap();
    assert_eq!(index.matches(ip, ts("2025-06-01T00:00:00Z")).len(), 1);
    assert_eq!(index.matches(ip, ts("2026-01-01T00:00:00Z")).len(), 0);
}

#[test]
fn misp_feed_directory() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("misp_feed"), None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Misp);
    assert_eq!(f.records, 7);
    assert_eq!(f.skipped.get("no IP"), Some(&1));
    assert_eq!(f.skipped.get("MISP to_ids=false"), Some(&1));
    assert_eq!(
        nets(&set),
        [
            "104.40.82.76/32",
            "198.51.100.23/32",
            "52.178.90.1/32",
            "2a01:111:f400::10/128",
            "52.178.90.2/32",
            "52.179.0.0/16",
            "52.178.90.3/32"
        ]
    );
    let v6 = by_id(&set, "e4b20cfb-f715-5d6e-bdc9-bd297573735a");
    assert_eq!(v6.version_time, ts("2025-06-02T12:00:00Z"));
    assert_eq!(v6.value_text, "2a01:111:f400::10");
    assert_eq!(
        v6.description.as_deref(),
        Some("Test feed event: C2 infrastructure (fixture) (IPv6 with port)")
    );
    assert_eq!(v6.tlp.as_deref(), Some("white"));
    assert_eq!(v6.activity_groups, ["Sofacy"]);
    assert_eq!(v6.source, "Test Org");
    assert_eq!(v6.threat_type.as_deref(), Some("Network activity"));
    assert!(v6.origin.ends_with(
        "3f2b9c1e-5d7a-4e61-9c0b-8a1d2e3f4a5b.json#e4b20cfb-f715-5d6e-bdc9-bd297573735a"
    ));
    let obj = by_id(&set, "9d5c1f00-aaaa-4bbb-8ccc-ddddeeeeffff");
    assert_eq!(obj.network.to_string(), "52.178.90.3/32");

    let (index, sel) = set.select(Selection::Retro { compat: false });
    assert_eq!(sel.non_global.get("documentation (TEST-NET)"), Some(&1));
    assert_eq!(sel.kept, 6);
    assert_eq!(sel.skipped_at_load.get("MISP to_ids=false"), Some(&1));
    assert_eq!(index.lookup_text("52.179.3.4").len(), 1);

    // Option: include to_ids=false attributes.
    let mut set = IndicatorSet::new();
    let opts = LoadOptions {
        misp_include_non_ids: true,
        ..Default::default()
    };
    let rep = load_paths([fixture("misp_feed")], &opts, &mut set).unwrap();
    assert_eq!(rep.records(), 8);
}

#[test]
fn misp_csv_export() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("misp_export.csv"), None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Misp);
    assert_eq!(f.records, 4);
    assert_eq!(f.skipped.get("no IP"), Some(&1));
    assert_eq!(f.skipped.get("MISP to_ids=false"), Some(&1));
    let a = by_id(&set, "acd44ca7-e347-5c1a-b189-f1d4566b3b56");
    assert_eq!(a.tlp.as_deref(), Some("amber"));
    assert_eq!(a.activity_groups, ["Sofacy"]);
    assert_eq!(a.description.as_deref(), Some("scanner"));
    assert_eq!(a.version_time, ts("2025-06-01T12:00:00Z"));
    assert_eq!(
        by_id(&set, "7732feec-9191-5a8d-be85-b6974277087a")
            .network
            .to_string(),
        "52.178.90.2/32"
    );
}

/// Feeds are often kept compressed: gzip is recognised by its magic bytes, in a file named
/// directly and in a directory walk.
#[test]
fn gzipped_feeds_load_like_plain_ones() {
    use std::io::Write;
    let plain = std::fs::read(fixture("spamhaus_drop.txt")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("drop.txt.gz");
    std::fs::write(&p, gz).unwrap();

    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Text);
    assert_eq!(rep.files[0].problems, []);
    assert_eq!(
        nets(&set),
        ["1.10.16.0/20", "1.19.0.0/16", "223.254.0.0/16"]
    );

    let mut set = IndicatorSet::new();
    let rep = load_path(&dir, None, &mut set).unwrap();
    assert_eq!(rep.files.len(), 1, "{rep:?}");
    assert_eq!(set.len(), 3);
}

#[test]
fn spamhaus_drop_text_and_ndjson() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("spamhaus_drop.txt"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Text);
    assert_eq!(rep.files[0].problems, []);
    assert_eq!(
        nets(&set),
        ["1.10.16.0/20", "1.19.0.0/16", "223.254.0.0/16"]
    );
    let first = by_id(&set, "spamhaus_drop.txt:1.10.16.0/20");
    assert_eq!(first.tags, ["SBL256894"]);
    assert_eq!(first.value_text, "1.10.16.0/20");
    assert!(first.origin.ends_with("spamhaus_drop.txt:5"));
    assert_eq!(first.expiration, None);
    assert!(first.active);

    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("spamhaus_drop_v4.ndjson"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Text);
    assert_eq!(rep.records(), 3);
    let first = by_id(&set, "spamhaus_drop_v4.ndjson:1.10.16.0/20");
    assert_eq!(first.tags, ["SBL256894"]);
    assert_eq!(first.version_time, ts("2025-04-15T02:07:54Z"));
}

#[test]
fn firehol_sets() {
    let mut set = IndicatorSet::new();
    load_path(fixture("firehol_level1.netset"), None, &mut set).unwrap();
    assert_eq!(
        nets(&set),
        [
            "0.0.0.0/8",
            "1.4.0.0/17",
            "1.93.0.224/32",
            "10.0.0.0/8",
            "61.155.222.210/31"
        ]
    );
    let (index, sel) = set.select(Selection::Retro { compat: false });
    assert_eq!(sel.kept, 3);
    assert_eq!(sel.non_global.get("this-network (0.0.0.0/8)"), Some(&1));
    assert_eq!(sel.non_global.get("private (RFC 1918)"), Some(&1));
    assert_eq!(index.lookup_text("61.155.222.211").len(), 1);
    assert_eq!(index.lookup_text("61.155.222.212").len(), 0);

    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("firehol_feodo.ipset"), None, &mut set).unwrap();
    assert_eq!(nets(&set), ["2.50.11.28/32", "5.39.222.172/32"]);
    let p = &rep.files[0].problems;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].reason, "unparseable IP");
    assert_eq!(p[0].value, "not.an.ip");
    assert!(p[0].origin.ends_with("firehol_feodo.ipset:18"));
}

#[test]
fn feodo_text_and_csv() {
    let mut set = IndicatorSet::new();
    load_path(fixture("feodo_ipblocklist_recommended.txt"), None, &mut set).unwrap();
    assert_eq!(
        nets(&set),
        ["8.8.8.8/32", "100.38.242.113/32", "103.109.247.10/32"]
    );

    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("feodo_ipblocklist.csv"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Csv);
    assert_eq!(
        nets(&set),
        ["192.9.135.73/32", "85.239.243.155/32", "172.233.221.61/32"]
    );
    // `# END 3 entries` on the last line, without newline, is a comment, not a row.
    assert!(
        rep.files[0].skipped.is_empty(),
        "{:?}",
        rep.files[0].skipped
    );
    let i = by_id(&set, "feodo_ipblocklist.csv:192.9.135.73");
    assert_eq!(i.valid_from, Some(ts("2023-05-23T17:51:44Z")));
    assert_eq!(i.tags, ["Pikabot"]);
    assert!(i.origin.ends_with("feodo_ipblocklist.csv:10"));
}

#[test]
fn generic_csv_detection_and_override() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("generic_ips.csv"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Csv);
    assert_eq!(nets(&set), ["52.178.5.5/32", "2a01:111:f400::7/128"]);
    assert_eq!(rep.skipped("no IP"), 1);
    let a = by_id(&set, "generic_ips.csv:52.178.5.5");
    assert_eq!(a.description.as_deref(), Some("scanner, aggressive"));
    assert_eq!(a.confidence, Some(90));

    let p = scratch("attackers.csv", "when,attacker\n2025-01-01,52.178.6.6\n");
    let err = load_path(&p, None, &mut IndicatorSet::new()).unwrap_err();
    assert!(matches!(err, IntelError::NoIpColumn { .. }), "{err}");
    let opts = LoadOptions {
        ip_column: Some("attacker".into()),
        ..Default::default()
    };
    let mut set = IndicatorSet::new();
    load_paths([&p], &opts, &mut set).unwrap();
    assert_eq!(nets(&set), ["52.178.6.6/32"]);
}

#[test]
fn whole_directory_loads_every_file() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture(""), None, &mut set).unwrap();
    let formats: Vec<(String, TiFormat)> = rep
        .files
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.format,
            )
        })
        .collect();
    let expect = [
        ("feodo_ipblocklist.csv", TiFormat::Csv),
        ("feodo_ipblocklist_recommended.txt", TiFormat::Text),
        ("firehol_feodo.ipset", TiFormat::Text),
        ("firehol_level1.netset", TiFormat::Text),
        ("generic_ips.csv", TiFormat::Csv),
        ("misp_export.csv", TiFormat::Misp),
        ("misp_feed", TiFormat::Misp),
        ("opencti_indicator.json", TiFormat::Stix),
        ("opencti_indicators.csv", TiFormat::Csv),
        ("sentinel_portal_brisbane.csv", TiFormat::Sentinel),
        ("sentinel_semantics.json", TiFormat::Sentinel),
        (
            "sentinel_threatintelindicators.json",
            TiFormat::SentinelStix,
        ),
        ("spamhaus_drop.txt", TiFormat::Text),
        ("spamhaus_drop_v4.ndjson", TiFormat::Text),
        ("stix_bundle.json", TiFormat::Stix),
    ];
    let expect: Vec<(String, TiFormat)> = expect.iter().map(|(n, f)| (n.to_string(), *f)).collect();
    assert_eq!(formats, expect);
    assert_eq!(
        rep.records(),
        3 + 3 + 2 + 5 + 2 + 4 + 7 + 1 + 1 + 3 + 25 + 4 + 3 + 3 + 5
    );
    assert_eq!(set.len(), rep.records());
    assert_eq!(rep.skipped_files, Vec::<PathBuf>::new());
}

#[test]
fn directory_walk_leaves_non_feed_files_alone() {
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-walk-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("README.md"), "# Feeds\nThese, and more.\n").unwrap();
    std::fs::write(
        dir.join("sub/list.txt"),
        "52.178.1.1\n52.178.1.2 # second\n",
    )
    .unwrap();
    std::fs::write(dir.join(".hidden.txt"), "52.178.1.3\n").unwrap();
    std::fs::write(dir.join("other.json"), "{\"hello\": 1}").unwrap();
    let mut set = IndicatorSet::new();
    let rep = load_path(&dir, None, &mut set).unwrap();
    assert_eq!(rep.records(), 2);
    assert_eq!(rep.skipped_files, [dir.join("README.md")]);
    assert_eq!(rep.failed_files.len(), 1);
    assert_eq!(rep.failed_files[0].path, dir.join("other.json"));
    assert!(
        rep.failed_files[0]
            .error
            .contains("cannot tell the threat-intel format")
    );
    // Named explicitly, the same file is an error.
    assert!(load_path(dir.join("other.json"), None, &mut IndicatorSet::new()).is_err());
    assert_eq!(set.iter().nth(1).unwrap().tags, ["second"]);
}

#[test]
fn format_names() {
    for (name, f) in [
        ("sentinel", TiFormat::Sentinel),
        ("sentinel-stix", TiFormat::SentinelStix),
        ("stix", TiFormat::Stix),
        ("misp", TiFormat::Misp),
        ("text", TiFormat::Text),
        ("csv", TiFormat::Csv),
    ] {
        assert_eq!(name.parse::<TiFormat>().unwrap(), f);
        assert_eq!(f.to_string(), name);
    }
    assert!(matches!(
        "yaml".parse::<TiFormat>(),
        Err(IntelError::UnknownFormat(_))
    ));
}

#[test]
fn opencti_csv_export_via_pattern_column() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("opencti_indicators.csv"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Csv);
    assert_eq!(rep.skipped("no IP"), 1);
    let i = by_id(&set, "indicator--0071d619-cef4-558a-b940-67a2958fd202");
    assert_eq!(i.network.to_string(), "193.149.176.157/32");
    assert_eq!(i.value_text, "193.149.176.157");
    assert_eq!(i.expiration, Some(ts("2023-04-02T20:47:35Z")));
    assert_eq!(i.valid_from, Some(ts("2023-03-03T20:47:35Z")));
    assert_eq!(i.confidence, Some(15));
    assert_eq!(i.description.as_deref(), Some("CC=US ASN=AS399629 BLNWX"));
    assert!(!i.revoked);
}

#[test]
fn opencti_json_entity_via_kvsentry_stix() {
    let mut set = IndicatorSet::new();
    let rep = load_path(fixture("opencti_indicator.json"), None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Stix);
    let i = by_id(&set, "indicator--0071d619-cef4-558a-b940-67a2958fd202");
    assert_eq!(i.network.to_string(), "193.149.176.157/32");
    assert_eq!(i.expiration, Some(ts("2023-04-02T20:47:35Z")));
    assert_eq!(i.version_time, ts("2023-03-03T21:13:03.515Z"));
    assert_eq!(i.confidence, Some(15));
}

#[test]
fn log_analytics_api_tables_answer() {
    let p = scratch(
        "la.json",
        r#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"IndicatorId","type":"string"},{"name":"NetworkIP","type":"string"},{"name":"Active","type":"bool"},{"name":"ExpirationDateTime","type":"datetime"}],
           "rows":[["2025-06-01T00:00:00Z","la-1","52.178.2.2",true,"2025-07-01T00:00:00Z"],["2025-06-01T00:00:00Z","la-2","",true,null]]}]}"#,
    );
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    assert_eq!(rep.files[0].format, TiFormat::Sentinel);
    assert_eq!(rep.records(), 1);
    assert_eq!(rep.skipped("no IP"), 1);
    let i = by_id(&set, "la-1");
    assert!(i.active);
    assert_eq!(i.expiration, Some(ts("2025-07-01T00:00:00Z")));
}

/// One STIX indicator alone in a file (not in a bundle), as a TIP exports a single object:
/// detected and loaded as STIX even when it carries custom properties named like another
/// feed's columns (STIX 2.0 allowed custom properties without the `x_` prefix).
#[test]
fn a_lone_stix_indicator_is_stix() {
    let lone = r#"{
  "type": "indicator",
  "spec_version": "2.1",
  "id": "indicator--33fe3b22-0201-47cf-85d0-97c02164528d",
  "created": "2025-05-08T09:00:00.000Z",
  "modified": "2025-05-08T09:00:00.000Z",
  "name": "IP Address for known C2 channel",
  "indicator_types": ["malicious-activity"],
  "pattern": "[ipv4-addr:value == '52.178.17.9']",
  "pattern_type": "stix",
  "valid_from": "2025-05-08T09:00:00.000000Z",
  "value": ["52.178.17.9"],
  "ip": "52.178.17.9"
}
"#;
    let p = scratch("lone-indicator.json", lone);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Stix);
    assert_eq!((f.records, f.skipped.len()), (1, 0), "{f:?}");
    let ind = by_id(&set, "indicator--33fe3b22-0201-47cf-85d0-97c02164528d");
    assert_eq!(ind.value_text, "52.178.17.9");
    assert_eq!(
        ind.description.as_deref(),
        Some("IP Address for known C2 channel")
    );
    // The same object on one line (JSON lines of one row).
    let one_line: String = lone.lines().map(str::trim).collect();
    let p = scratch("lone-indicator-one-line.json", &format!("{one_line}\n"));
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    assert_eq!(
        (rep.files[0].format, rep.files[0].records),
        (TiFormat::Stix, 1)
    );
    // A bare list of STIX objects that starts with the producer's identity.
    let list = format!(
        r#"[{{"type":"identity","spec_version":"2.1","id":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","created":"2025-01-01T00:00:00Z","modified":"2025-01-01T00:00:00Z","name":"CTI team"}},
{one_line}]"#
    );
    let p = scratch("objects.json", &list);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!((f.format, f.records), (TiFormat::Stix, 1));
    assert_eq!(
        f.skipped.get("STIX object that is not an indicator"),
        Some(&1)
    );
}

/// Every object of a STIX file is a record or a counted skip: older versions of an
/// indicator and objects that are not indicators included.
#[test]
fn every_stix_object_is_counted() {
    let bundle = r#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[
  {"type":"identity","spec_version":"2.1","id":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","created":"2025-01-01T00:00:00Z","modified":"2025-01-01T00:00:00Z","name":"CTI team","identity_class":"organization"},
  {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2025-06-01T00:00:00Z","modified":"2025-06-01T00:00:00Z","pattern":"[ipv4-addr:value = '52.178.17.9']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"},
  {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2025-06-01T00:00:00Z","modified":"2025-06-20T00:00:00Z","pattern":"[ipv4-addr:value = '52.178.17.10']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"},
  {"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2025-06-01T00:00:00Z","modified":"2025-06-10T00:00:00Z","pattern":"[ipv4-addr:value = '52.178.17.11']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"},
  {"type":"indicator","spec_version":"2.1","id":"indicator--0f4d5e6a-9b1c-4d2e-8f3a-112233445566","created":"2025-06-01T00:00:00Z","modified":"2025-06-01T00:00:00Z","pattern":"[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com']","pattern_type":"stix","valid_from":"2025-06-01T00:00:00Z"},
  {"type":"relationship","spec_version":"2.1","id":"relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad","created":"2025-06-01T00:00:00Z","modified":"2025-06-01T00:00:00Z","relationship_type":"indicates","source_ref":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","target_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"}
]}"#;
    let p = scratch("versions.json", bundle);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.records, 1);
    assert_eq!(nets(&set), ["52.178.17.10/32"]);
    let skipped: Vec<(&str, usize)> = f.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        skipped,
        [
            ("STIX indicator replaced by a later version in the file", 2),
            ("STIX object that is not an indicator", 2),
            ("STIX pattern names no IP address", 1),
        ]
    );
    assert_eq!(f.records + f.skipped.values().sum::<usize>(), 6);
    let (_, sel) = set.select(Selection::Retro { compat: false });
    assert_eq!(sel.loaded_records, 6);
}

/// A CSV row whose quote is never closed is reported at its line, and the rows after it
/// still load (the csv reader would take the rest of the file as one field).
#[test]
fn csv_unterminated_quote_is_reported_at_its_line() {
    let text = "# abuse.ch style\n\
first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware\n\
2024-03-01 10:00:00,52.178.17.9,443,online,2024-04-01,Emotet\n\
2024-03-02 10:00:00,52.178.17.10,8080,online,2024-04-01,\"QakBot\n\
2024-03-03 10:00:00,52.178.17.11,443,offline,2024-04-01,Pikabot\n\
2024-03-04 10:00:00,52.178.17.12,447,online,2024-04-01,\"Dridex, loader\"\n";
    let p = scratch("c2.csv", text);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Csv);
    assert_eq!(f.skipped.get("unterminated quote"), Some(&1), "{f:?}");
    assert_eq!(f.problems.len(), 1);
    assert!(
        f.problems[0].origin.ends_with("c2.csv:4"),
        "{:?}",
        f.problems
    );
    assert!(
        f.problems[0].value.contains("52.178.17.10"),
        "{:?}",
        f.problems
    );
    assert_eq!(
        nets(&set),
        ["52.178.17.9/32", "52.178.17.11/32", "52.178.17.12/32"]
    );
    let dridex = by_id(&set, "c2.csv:52.178.17.12");
    assert_eq!(dridex.tags, ["Dridex", "loader"]);
    assert_eq!(
        by_id(&set, "c2.csv:52.178.17.11").origin,
        format!("{}:5", p.display())
    );

    // The same in a Sentinel portal export, and a bad quote on the last line; a quoted
    // description over two lines is no fault.
    let sentinel = "\u{feff}TimeGenerated [UTC],IndicatorId,NetworkIP,Description,Active,ExpirationDateTime [UTC]\r\n\
2025-06-01T00:00:00Z,a1,52.178.17.9,\"scanner,\r\nseen twice\",true,2025-12-01T00:00:00Z\r\n\
2025-06-01T00:00:00Z,a2,52.178.17.10,\"broken,true,2025-12-01T00:00:00Z\r\n\
2025-06-01T00:00:00Z,a3,52.178.17.11,c2,true,2025-12-01T00:00:00Z\r\n\
2025-06-01T00:00:00Z,a4,52.178.17.12,c2,true,\"2025-12-01T00:00:00Z\r\n";
    let p = scratch("sentinel-quotes.csv", sentinel);
    let mut set = IndicatorSet::new();
    let rep = load_path(&p, None, &mut set).unwrap();
    let f = &rep.files[0];
    assert_eq!(f.format, TiFormat::Sentinel);
    let origins: Vec<&str> = f
        .problems
        .iter()
        .map(|p| p.origin.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(origins, ["4", "6"], "{:?}", f.problems);
    assert_eq!(f.skipped.get("unterminated quote"), Some(&2));
    let ids: Vec<&str> = set.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a3"]);
    assert_eq!(
        by_id(&set, "a1").description.as_deref(),
        Some("scanner,\r\nseen twice")
    );
}
