//! The row scanner against serde_json's reading of the same lines.

use super::*;
use crate::sources::rows::JsonRow;

#[test]
fn rows_of_the_direct_scanner_own_nothing() {
    let line = r#"{"NetworkIP":"104.40.82.76","ConfidenceScore":70,"Active":true,"Tags":null,"Description":"x"}"#;
    assert!(read_plain(line).unwrap().owns_nothing());
    // Left to serde_json half-way (a float): what was read owns nothing either.
    let mut row = SparseRow::empty();
    assert!(!read_plain_into(
        r#"{"NetworkIP":"104.40.82.76","ConfidenceScore":7.5}"#,
        &mut row
    ));
    assert!(row.get("NetworkIP").is_some());
    assert!(row.owns_nothing());
    // serde_json's copy of an escaped string is owned.
    let owned: SparseRow = serde_json::from_str(r#"{"Description":"a\"b"}"#).unwrap();
    assert!(!owned.owns_nothing());
}

#[test]
fn clean_and_checked_lines_read_alike() {
    // The same row, once clean (no backslash, no control byte) and once with a tab as
    // whitespace (the checking path): same cells.
    let clean = r#"{"NetworkIP":"104.40.82.76","ConfidenceScore":70,"Active":true,"Tags":null,"Description":"a \u00e9 b"}"#;
    let tabbed = clean.replace(',', ",\t");
    let (a, b) = (read_plain(clean), read_plain(&tabbed));
    assert!(a.is_none(), "an escape leaves the line to serde_json");
    assert!(b.is_none());
    let clean = r#"{"NetworkIP":"104.40.82.76","ConfidenceScore":70,"Active":true,"Tags":null,"Description":"é"}"#;
    let tabbed = clean.replace(',', ",\t");
    for l in [clean, tabbed.as_str()] {
        let r = read_plain(l).unwrap();
        assert_eq!(r.get("NetworkIP").as_deref(), Some("104.40.82.76"));
        assert_eq!(r.get("ConfidenceScore").as_deref(), Some("70"));
        assert_eq!(r.get("Active").as_deref(), Some("true"));
        assert_eq!(r.get("Tags"), None);
        assert_eq!(r.get("Description").as_deref(), Some("é"));
    }
}

#[test]
fn every_column_resolves_to_its_index() {
    for (i, c) in COLUMNS.iter().enumerate() {
        assert_eq!(col_index(c), Some(i), "{c}");
    }
    assert_eq!(col_index("networkip"), None);
    assert_eq!(col_index("TenantId"), None);
    assert_eq!(col_index(""), None);
}

/// The sparse row answers every kept column exactly as a `Value` row does.
#[test]
fn same_answers_as_a_value_row() {
    let line = r#"{"NetworkIP":"104.40.82.76","ConfidenceScore":75.50,"Active":true,
        "Description":"a \"quoted\" \u00e9 text","Tags":["c2","x"],"Url":null,
        "Data":{"pattern":"[ipv4-addr:value = '104.40.82.76']","b":[1,2.5e3,null]},
        "IndicatorId":"first","IndicatorId":"second","Id":-3,"Source":"","IsActive":1,
        "Confidence":18446744073709551615,"ValidUntil":12.0,"IsDeleted":false,
        "Other":{"deep":[1e5,{"z":"q"}]},"Revoked":false,"ValidFrom":"2025-01-01T00:00:00Z"}"#;
    let sparse: SparseRow = serde_json::from_str(line).unwrap();
    let value: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
    let json = JsonRow(&value);
    for c in COLUMNS {
        assert_eq!(sparse.get(c), json.get(c), "get {c}");
        assert_eq!(sparse.json(c), json.json(c), "json {c}");
        assert_eq!(sparse.time(c), json.time(c), "time {c}");
    }
    assert_eq!(sparse.get("IndicatorId").as_deref(), Some("second"));
    assert_eq!(sparse.get("ConfidenceScore").as_deref(), Some("75.5"));
    assert_eq!(sparse.get("Id").as_deref(), Some("-3"));
    assert_eq!(sparse.get("Url"), None);
    assert!(matches!(
        sparse.get("NetworkIP"),
        Some(Cow::Borrowed("104.40.82.76"))
    ));
}

#[test]
fn digits_are_to_string() {
    for n in [0, 7, 10, 99, 100, 12345, i64::MAX as u64, u64::MAX] {
        assert_eq!(Digits::of(n, false).as_str(), n.to_string());
    }
    for i in [-1i64, -10, -987654321, i64::MIN] {
        assert_eq!(Digits::of(i.unsigned_abs(), true).as_str(), i.to_string());
    }
}

/// The plain reading gives serde_json's row whenever it reads a line, and leaves every
/// line serde_json rejects (and every unusual one) to it.
#[test]
fn plain_reading_is_serde_reading() {
    let base = r#"{"TimeGenerated":"2025-07-01T00:00:00.5Z","IndicatorId":"A1","NetworkIP":"104.40.82.76","Active":true,"ConfidenceScore":75,"Tags":"","Url":null,"Other":"x","IsDeleted":false,"Revoked":0}"#;
    let mut lines: Vec<String> = vec![
        base.to_string(),
        "{}".into(),
        " { } ".into(),
        "\t{ \"NetworkIP\" :\r\n \"1.2.3.4\" , \"Active\":false }\n".into(),
        r#"{"NetworkIP":"a","NetworkIP":"b"}"#.into(),
        r#"{"ConfidenceScore":0}"#.into(),
        r#"{"ConfidenceScore":9999999999999999999}"#.into(),
        r#"{"ConfidenceScore":99999999999999999999}"#.into(),
        r#"{"ConfidenceScore":18446744073709551616}"#.into(),
        r#"{"ConfidenceScore":007}"#.into(),
        r#"{"ConfidenceScore":7.5}"#.into(),
        r#"{"ConfidenceScore":7e2}"#.into(),
        r#"{"ConfidenceScore":-7}"#.into(),
        r#"{"ConfidenceScore":-0}"#.into(),
        r#"{"x":1e400}"#.into(),
        r#"{"Description":"a\"b"}"#.into(),
        r#"{"Desc\u0072iption":"ab"}"#.into(),
        "{\"Description\":\"a\u{1}b\"}".into(),
        "{\"Description\":\"tab\there\"}".into(),
        // Columns not kept, skipped on the clean and the checking path.
        "{\"Other\":\"x\",\"More\":7,\"NetworkIP\":\"104.40.82.76\"}".into(),
        "\t{\"Other\" : \"x\" ,\"NetworkIP\":\"104.40.82.76\"}".into(),
        "\t{\"Other\":\"a\u{1}b\",\"NetworkIP\":\"104.40.82.76\"}".into(),
        "{\"Other\":\"a\u{1}b\",\"NetworkIP\":\"104.40.82.76\"}".into(),
        "\t{\"Other\":\"x".into(),
        r#"{"Description":"é ünïcode ✓"}"#.into(),
        r#"{"Data":{"a":1}}"#.into(),
        r#"{"Tags":["a"]}"#.into(),
        r#"{"NetworkIP":"a"} x"#.into(),
        r#"{"NetworkIP":"a",}"#.into(),
        r#"{"NetworkIP":"a" "Active":true}"#.into(),
        r#"{"NetworkIP":"a""#.into(),
        r#"{"NetworkIP" "a"}"#.into(),
        r#"{"Active":tru}"#.into(),
        r#"{"Active":nul}"#.into(),
        r#"{"Active":True}"#.into(),
        r#"{,}"#.into(),
        r#"[1]"#.into(),
        r#""s""#.into(),
        r#"{"a":1}{"b":2}"#.into(),
        r#"{"IndicatorId":""}"#.into(),
        String::new(),
    ];
    // Every prefix of the base line (cut lines, mostly invalid).
    lines.extend((0..base.len()).map(|n| base[..n].to_string()));
    let mut plain = 0;
    for l in &lines {
        let serde: Result<SparseRow, _> = serde_json::from_str(l);
        match read_plain(l) {
            Some(fast) => {
                plain += 1;
                let slow = serde.unwrap_or_else(|e| panic!("serde rejects {l:?}: {e}"));
                for c in COLUMNS {
                    assert_eq!(fast.get(c), slow.get(c), "get {c} of {l:?}");
                    assert_eq!(fast.json(c), slow.json(c), "json {c} of {l:?}");
                    assert_eq!(
                        matches!(fast.get(c), Some(Cow::Borrowed(_))),
                        matches!(slow.get(c), Some(Cow::Borrowed(_))),
                        "{c} of {l:?}"
                    );
                }
            }
            None => {
                // Left to serde_json: fine whether it reads the line or not.
            }
        }
    }
    // The plain reading takes the lines it should.
    assert_eq!(plain, 11);
    for l in [base, "{}", r#"{"ConfidenceScore":9999999999999999999}"#] {
        assert!(read_plain(l).is_some(), "{l}");
    }
    for l in [
        r#"{"ConfidenceScore":-7}"#,
        r#"{"Description":"a\"b"}"#,
        r#"{"x":1e400}"#,
    ] {
        assert!(read_plain(l).is_none(), "{l}");
    }
}

/// The remembered keys of the previous line never change what a line reads: keys in
/// another order, a key that extends or shortens a remembered one, fewer or more keys,
/// a remembered key cut by the line's end, each read as serde_json reads it.
#[test]
fn remembered_keys_read_as_serde() {
    let lines = [
        r#"{"NetworkIP":"104.40.82.76","IndicatorId":"A","Active":true}"#,
        r#"{"NetworkIP":"104.40.82.77","IndicatorId":"B","Active":false}"#,
        // Other order.
        r#"{"IndicatorId":"C","NetworkIP":"104.40.82.78","Active":true}"#,
        // A remembered key's bytes then more: another key.
        r#"{"IndicatorIdX":"D","NetworkIP":"104.40.82.79"}"#,
        r#"{"Indicator":"E","NetworkIPv6":"x","Active":true}"#,
        // Back to the first order, more keys, with a tab (the checking path).
        "{\"NetworkIP\":\"104.40.82.80\",\t\"IndicatorId\":\"F\",\"Active\":true,\"Tags\":\"t\"}",
        r#"{"NetworkIP":"104.40.82.81","IndicatorId":"G","Active":true,"Tags":"u"}"#,
        // Fewer keys, then a line cut inside a remembered key.
        r#"{"NetworkIP":"104.40.82.82"}"#,
        r#"{"NetworkIP":"104.40.82.83","Indicat"#,
        r#"{"NetworkIP":"104.40.82.84","IndicatorId":"H","Active":true,"Tags":"v"}"#,
        // A remembered key with an escape in the line: serde_json's.
        r#"{"NetworkIP":"104.40.82.85","IndicatorId":"I\u0041","Active":true}"#,
        r#"{"NetworkIP":"104.40.82.86","IndicatorId":"J","Active":true,"Tags":"w"}"#,
    ];
    let mut plain = 0;
    for l in lines {
        let serde: Result<SparseRow, _> = serde_json::from_str(l);
        match read_plain(l) {
            Some(fast) => {
                plain += 1;
                let slow = serde.unwrap_or_else(|e| panic!("serde rejects {l:?}: {e}"));
                for c in COLUMNS {
                    assert_eq!(fast.get(c), slow.get(c), "get {c} of {l:?}");
                }
            }
            None => assert!(
                serde.is_err() || l.contains('\\'),
                "{l:?} is plain and valid"
            ),
        }
    }
    assert_eq!(plain, 10);
    // The last line read as expected through the remembered keys.
    let r = read_plain(lines[11]).unwrap();
    assert_eq!(r.get("IndicatorId").as_deref(), Some("J"));
    assert_eq!(r.get("Tags").as_deref(), Some("w"));
    assert_eq!(r.get("NetworkIP").as_deref(), Some("104.40.82.86"));
}

/// A line with thousands of keys, or a huge key, is read whole, but the thread's cache
/// keeps only the first `MAX_KEYS` keys of at most `MAX_KEY_LEN` bytes; a later line
/// still reads through the remembered keys.
#[test]
fn remembered_keys_are_bounded() {
    let mut keys = Keys::default();
    let mut line = String::from(r#"{"NetworkIP":"104.40.82.76""#);
    for i in 0..5000 {
        line.push_str(&format!(r#","k{i}":"v""#));
    }
    line.push_str(r#","IndicatorId":"A"}"#);
    let mut row = SparseRow::empty();
    read_plain_keyed(&line, &mut row, &mut keys).unwrap();
    assert_eq!(row.get("IndicatorId").as_deref(), Some("A"));
    assert_eq!(row.get("NetworkIP").as_deref(), Some("104.40.82.76"));
    assert_eq!(keys.len(), Keys::MAX_KEYS);
    let long = "x".repeat(Keys::MAX_KEY_LEN + 1);
    let line2 = format!(r#"{{"{long}":"v","IndicatorId":"B"}}"#);
    let mut row = SparseRow::empty();
    read_plain_keyed(&line2, &mut row, &mut keys).unwrap();
    assert_eq!(row.get("IndicatorId").as_deref(), Some("B"));
    assert!(
        keys.is_empty(),
        "the long first key is not kept, nor any after it"
    );
    let mut row = SparseRow::empty();
    read_plain_keyed(
        r#"{"NetworkIP":"104.40.82.77","IndicatorId":"C"}"#,
        &mut row,
        &mut keys,
    )
    .unwrap();
    assert_eq!(row.get("IndicatorId").as_deref(), Some("C"));
    assert_eq!(keys.len(), 2);
}

/// Lines `Value` rejects are rejected too (they become problems on the slow path).
#[test]
fn rejects_what_value_rejects() {
    for bad in [
        r#"{"x":1e400}"#,
        r#"{"NetworkIP":"a""#,
        "[1]",
        r#"{"a":1} x"#,
    ] {
        assert!(serde_json::from_str::<SparseRow>(bad).is_err(), "{bad}");
    }
}
