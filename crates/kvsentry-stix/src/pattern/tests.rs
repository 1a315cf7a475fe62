//! Parser, printer and error tests over whole patterns.

use super::*;

fn p(s: &str) -> Pattern {
    parse_pattern(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn e(s: &str) -> PatternError {
    parse_pattern(s).expect_err(s)
}

fn only_cmp(pat: &Pattern) -> &Comparison {
    match &pat.root {
        ObservationExpr::Observation(ComparisonExpr::Comparison(c)) => c,
        other => panic!("not a single comparison: {other:?}"),
    }
}

fn prop(s: &str) -> PathStep {
    PathStep::Property(s.into())
}

#[test]
fn simple_comparison() {
    let pat = p("[ipv4-addr:value = '198.51.100.1']");
    let c = only_cmp(&pat);
    assert_eq!(c.path.object_type, "ipv4-addr");
    assert_eq!(c.path.steps, vec![prop("value")]);
    assert_eq!(c.operator, Operator::Eq);
    assert!(!c.negated);
    assert_eq!(
        c.value,
        ComparisonValue::Single(Literal::String("198.51.100.1".into()))
    );
    assert_eq!(c.offset, 1);
}

#[test]
fn object_paths() {
    let pat = p(
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    );
    assert_eq!(
        only_cmp(&pat).path.steps,
        vec![prop("hashes"), prop("SHA-256")]
    );
    let pat = p("[windows-registry-key:values[*].name = 'x']");
    assert_eq!(
        only_cmp(&pat).path.steps,
        vec![prop("values"), PathStep::AnyIndex, prop("name")]
    );
    let pat = p("[file:extensions.'windows-pebinary-ext'.sections[0].entropy > 7.0]");
    assert_eq!(
        only_cmp(&pat).path.steps,
        vec![
            prop("extensions"),
            prop("windows-pebinary-ext"),
            prop("sections"),
            PathStep::Index(0),
            prop("entropy")
        ]
    );
    let pat = p("[network-traffic:src_ref.value = '52.178.1.1']");
    assert_eq!(
        only_cmp(&pat).path.steps,
        vec![prop("src_ref"), prop("value")]
    );
    let pat = p("[x-custom-thing:x_field[-1] = 1]");
    assert_eq!(only_cmp(&pat).path.object_type, "x-custom-thing");
    assert_eq!(
        only_cmp(&pat).path.steps,
        vec![prop("x_field"), PathStep::Index(-1)]
    );
}

#[test]
fn double_equals_is_equality() {
    let pat = p("[ipv4-addr:value == '198.51.100.7']");
    let c = only_cmp(&pat);
    assert_eq!(c.operator, Operator::Eq);
    assert_eq!(
        c.value,
        ComparisonValue::Single(Literal::String("198.51.100.7".into()))
    );
    assert_eq!(pat, p("[ipv4-addr:value = '198.51.100.7']"));
    assert!(only_cmp(&p("[a:b NOT == 1]")).negated);
}

#[test]
fn repeated_qualifiers_on_one_observation_are_refused() {
    let x = e("[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS");
    assert_eq!((x.offset, x.found.as_str()), (27, "a second WITHIN"));
    let x = e("([a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES)");
    assert_eq!((x.offset, x.found.as_str()), (27, "a second REPEATS"));
    let x = e(
        "[a:b = 1] START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z' \
               START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:20:00Z'",
    );
    assert_eq!(x.found, "a second START/STOP");
    // Different kinds, or a parenthesised group qualified again, are valid.
    p("[a:b = 1] REPEATS 2 TIMES WITHIN 6 SECONDS");
    p("([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS");
    p("([a:b = 1] REPEATS 2 TIMES) REPEATS 2 TIMES");
    p("[a:b = 1] WITHIN 5 SECONDS AND [a:c = 1] WITHIN 5 SECONDS");
}

#[test]
fn impossible_dates_say_what_is_wrong() {
    let x = e("[x:created = t'2024-02-30T12:00:00Z']");
    assert_eq!(x.offset, 13);
    assert_eq!(
        x.to_string(),
        "at character 13: expected a timestamp that exists, found \
         t'2024-02-30T12:00:00Z' (there is no day 30 in February 2024, which has 29 days)"
    );
    let x = e("[x:created = t'2023-02-29T12:00:00Z']");
    assert!(x.found.contains("no day 29 in February 2023"), "{x}");
    assert!(
        e("[x:created = t'2024-04-31T00:00:00Z']")
            .found
            .contains("April 2024, which has 30 days")
    );
    assert!(
        e("[x:created = t'2024-13-01T00:00:00Z']")
            .found
            .contains("no month 13")
    );
    assert!(
        e("[x:created = t'2024-01-15T25:00:00Z']")
            .found
            .contains("no hour 25")
    );
    assert!(
        e("[x:created = t'2024-01-15T12:60:00Z']")
            .found
            .contains("no minute 60")
    );
    assert!(
        e("[x:created = t'2024-01-15T12:30:61Z']")
            .found
            .contains("no second 61")
    );
    // The wrong form is a different message.
    let x = e("[x:created = t'2024/01/15T12:30:45Z']");
    assert_eq!(x.expected, "a timestamp t'YYYY-MM-DDTHH:MM:SS[.s]Z'");
    p("[x:created = t'2024-02-29T12:00:00Z']");
    p("[x:created = t'2000-02-29T12:00:00Z']");
}

#[test]
fn hash_values_must_have_their_algorithm_form() {
    let x = e("[file:hashes.'SHA-256' = 'f00']");
    assert_eq!(
        (x.offset, x.expected.as_str(), x.found.as_str()),
        (25, "a valid SHA-256 hash", "'f00'")
    );
    assert_eq!(
        e("[file:hashes.MD5 IN ('cead3f77f6cda6ec00f57d76c9a6879f', 'zz')]").offset,
        20
    );
    p("[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']");
    p("[file:hashes.'SHA-1' != 'CEAD3F77F6CDA6EC00F57D76C9A6879FCEAD3F77']");
    p("[file:hashes.SSDEEP = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C']");
    // Patterns and unknown algorithms are not checked.
    p("[file:hashes.MD5 LIKE 'cead%']");
    p("[file:hashes.'x-custom' = 'anything']");
    p("[file:hashes[*] = '8665c8d477534008b3058b72e2dae8ae']");
}

#[test]
fn every_operator() {
    let cases = [
        ("=", Operator::Eq),
        ("!=", Operator::Neq),
        ("<>", Operator::Neq),
        (">", Operator::Gt),
        ("<", Operator::Lt),
        (">=", Operator::Ge),
        ("<=", Operator::Le),
        ("LIKE", Operator::Like),
        ("MATCHES", Operator::Matches),
        ("ISSUBSET", Operator::IsSubset),
        ("ISSUPERSET", Operator::IsSuperset),
    ];
    for (op, want) in cases {
        let pat = p(&format!("[a:b {op} 'x']"));
        assert_eq!(only_cmp(&pat).operator, want, "{op}");
        let pat = p(&format!("[a:b NOT {op} 'x']"));
        assert!(only_cmp(&pat).negated, "NOT {op}");
    }
    let pat = p("[a:b IN ('x', 2, 3.5, true, FALSE)]");
    assert_eq!(
        only_cmp(&pat).value,
        ComparisonValue::Set(vec![
            Literal::String("x".into()),
            Literal::Int(2),
            Literal::Float(3.5),
            Literal::Bool(true),
            Literal::Bool(false)
        ])
    );
    assert!(only_cmp(&p("[a:b NOT IN ('x')]")).negated);
    let pat = p("[EXISTS windows-registry-key:values]");
    assert_eq!(only_cmp(&pat).operator, Operator::Exists);
    assert_eq!(only_cmp(&pat).value, ComparisonValue::None);
    assert!(only_cmp(&p("[NOT EXISTS a:b]")).negated);
}

#[test]
fn literals() {
    let lit = |s: &str| match &only_cmp(&p(&format!("[a:b = {s}]"))).value {
        ComparisonValue::Single(l) => l.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        lit("'it\\'s \\\\ ok'"),
        Literal::String("it's \\ ok".into())
    );
    assert_eq!(lit("-42"), Literal::Int(-42));
    assert_eq!(lit("+7"), Literal::Int(7));
    assert_eq!(lit("-0.5"), Literal::Float(-0.5));
    assert_eq!(lit("1.5e3"), Literal::Float(1500.0));
    assert_eq!(lit("true"), Literal::Bool(true));
    assert_eq!(
        lit("t'2016-01-20T12:31:12.123Z'"),
        Literal::Timestamp("2016-01-20T12:31:12.123Z".parse().unwrap())
    );
    assert_eq!(lit("h'ff00A1'"), Literal::Hex(vec![0xff, 0x00, 0xa1]));
    assert_eq!(lit("b'aGVsbG8='"), Literal::Binary(b"hello".to_vec()));
    assert_eq!(lit("b'aGk='"), Literal::Binary(b"hi".to_vec()));
    assert_eq!(lit("b''"), Literal::Binary(Vec::new()));
    assert_eq!(lit("'ünïcode'"), Literal::String("ünïcode".into()));
}

#[test]
fn comparison_precedence_and_parentheses() {
    // AND binds tighter than OR.
    let pat = p("[a:b = 1 OR a:c = 2 AND a:d = 3]");
    let ObservationExpr::Observation(ComparisonExpr::Or(items)) = &pat.root else {
        panic!("{pat:?}")
    };
    assert_eq!(items.len(), 2);
    assert!(matches!(&items[1], ComparisonExpr::And(v) if v.len() == 2));
    let pat = p("[(a:b = 1 OR a:c = 2) AND a:d = 3]");
    let ObservationExpr::Observation(ComparisonExpr::And(items)) = &pat.root else {
        panic!("{pat:?}")
    };
    assert!(matches!(&items[0], ComparisonExpr::Or(v) if v.len() == 2));
}

#[test]
fn observation_operators_and_qualifiers() {
    let pat = p("[a:b = 1] AND [a:c = 2] OR [a:d = 3] FOLLOWEDBY [a:e = 4]");
    let ObservationExpr::FollowedBy(fb) = &pat.root else {
        panic!("{pat:?}")
    };
    assert_eq!(fb.len(), 2);
    let ObservationExpr::Or(or) = &fb[0] else {
        panic!("{pat:?}")
    };
    assert!(matches!(&or[0], ObservationExpr::And(v) if v.len() == 2));

    let pat = p("([a:b = 1] OR [a:c = 2]) WITHIN 300 SECONDS");
    let ObservationExpr::Qualified { expr, qualifier } = &pat.root else {
        panic!("{pat:?}")
    };
    assert_eq!(*qualifier, Qualifier::Within { seconds: 300.0 });
    assert!(matches!(**expr, ObservationExpr::Or(_)));

    let pat = p("[a:b = 1] REPEATS 5 TIMES WITHIN 1.5 SECONDS");
    let ObservationExpr::Qualified { expr, qualifier } = &pat.root else {
        panic!("{pat:?}")
    };
    assert_eq!(*qualifier, Qualifier::Within { seconds: 1.5 });
    assert!(matches!(
        **expr,
        ObservationExpr::Qualified {
            qualifier: Qualifier::Repeats { times: 5 },
            ..
        }
    ));

    let pat = p("[a:b = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'");
    assert!(matches!(
        &pat.root,
        ObservationExpr::Qualified {
            qualifier: Qualifier::StartStop { .. },
            ..
        }
    ));
}

fn without_offsets(mut pat: Pattern) -> Pattern {
    fn obs(e: &mut ObservationExpr) {
        match e {
            ObservationExpr::Observation(c) => cmp(c),
            ObservationExpr::And(v) | ObservationExpr::Or(v) | ObservationExpr::FollowedBy(v) => {
                v.iter_mut().for_each(obs)
            }
            ObservationExpr::Qualified { expr, .. } => obs(expr),
        }
    }
    fn cmp(e: &mut ComparisonExpr) {
        match e {
            ComparisonExpr::And(v) | ComparisonExpr::Or(v) => v.iter_mut().for_each(cmp),
            ComparisonExpr::Comparison(c) => c.offset = 0,
        }
    }
    obs(&mut pat.root);
    pat
}

#[test]
fn spec_examples_parse_and_round_trip() {
    for s in [
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR ipv4-addr:value ISSUBSET '203.0.113.0/24']",
        "[domain-name:value = 'example.com'] AND [ipv4-addr:value = '52.178.1.1'] FOLLOWEDBY [file:name = 'x'] WITHIN 10 SECONDS",
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '52.178.1.1' AND network-traffic:dst_port = 443]",
        "[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\\\xd4\\\\xc3\\\\xb2\\\\xa1\\\\x02\\\\x00\\\\x04\\\\x00']",
        "[file:mime_type = 'application/x-pdf' AND file:parent_directory_ref.path NOT LIKE 'C:\\\\Windows%']",
        "([a:b = 1] AND [a:c = h'0aff']) OR ([a:d = b'aGVsbG8='] REPEATS 2 TIMES)",
        "[user-account:account_last_login < t'2016-01-01T00:00:00Z' AND NOT EXISTS user-account:x]",
        "[a:b IN ()]",
    ] {
        let pat = p(s);
        let printed = pat.to_string();
        let again = p(&printed);
        assert_eq!(again.to_string(), printed, "{s}");
        assert_eq!(
            without_offsets(again),
            without_offsets(pat),
            "{s} -> {printed}"
        );
    }
    assert_eq!(
        p("[a:b='x'  AND  a:'c d'[*] = 2]").to_string(),
        "[a:b = 'x' AND a:'c d'[*] = 2]"
    );
}

#[test]
fn errors_carry_offset_and_expectation() {
    // Unterminated string: points at the opening quote.
    let x = e("[ipv4-addr:value = '1.2.3.4]");
    assert_eq!(x.offset, 19);
    assert!(x.expected.contains("closing quote"), "{x}");
    // Bad operator (`==` is equality, `===` is not).
    let x = e("[ipv4-addr:value === '1.2.3.4']");
    assert_eq!(x.offset, 19);
    assert!(x.expected.contains("literal"), "{x}");
    let x = e("[ipv4-addr:value EQUALS '1.2.3.4']");
    assert_eq!(
        (x.offset, x.expected.as_str(), x.found.as_str()),
        (17, "a comparison operator", "'EQUALS'")
    );
    let x = e("[ipv4-addr:value ~ '1']");
    assert_eq!((x.offset, x.found.as_str()), (17, "'~'"));
    // Missing closing bracket.
    let x = e("[ipv4-addr:value = '1.2.3.4'");
    assert_eq!((x.offset, x.found.as_str()), (28, "end of pattern"));
    assert!(x.expected.contains("']'"), "{x}");
    // Missing opening bracket.
    let x = e("ipv4-addr:value = '1.2.3.4']");
    assert_eq!(x.offset, 0);
    assert!(x.expected.contains("'['"), "{x}");
    // Bad timestamps.
    let x = e("[a:b = t'2016-13-01T00:00:00Z']");
    assert_eq!(x.offset, 7);
    assert!(x.expected.contains("timestamp"), "{x}");
    let x = e("[a:b = t'2016-01-01 00:00:00']");
    assert_eq!(x.offset, 7);
    let x = e("[a:b = 1] START t'2016-02-01T00:00:00Z' STOP t'2016-01-01T00:00:00Z'");
    assert_eq!(x.offset, 45);
    // Trailing garbage, bad escapes, bad hex/base64, missing path pieces.
    assert_eq!(e("[a:b = 1] [a:c = 2]").offset, 10);
    assert_eq!(e("[a:b = 'x\\n']").offset, 9);
    assert_eq!(e("[a:b = h'abc']").offset, 7);
    assert_eq!(e("[a:b = b'a$==']").offset, 7);
    assert_eq!(e("[a = 1]").offset, 3);
    assert_eq!(e("[a:b > true]").offset, 7);
    assert_eq!(e("[a:b LIKE 5]").offset, 10);
    assert_eq!(e("[a:b IN ('x' 'y')]").offset, 13);
    assert_eq!(e("[a:b = 1] WITHIN 0 SECONDS").offset, 17);
    assert_eq!(e("[a:b = 1] REPEATS 2").offset, 19);
    assert_eq!(e("[a:b = 1] AND").offset, 13);
    assert_eq!(e("").offset, 0);
    assert_eq!(e("[]").offset, 1);
    // Offsets count characters, not bytes.
    assert_eq!(e("[a:b = 'ü'] x").offset, 12);
    assert_eq!(
        e("[a:b = 1").to_string(),
        "at character 8: expected ']' closing the observation, or AND/OR, found end of pattern"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}[a:b = 1]{}", "(".repeat(10_000), ")".repeat(10_000));
    let x = e(&deep);
    assert_eq!(x.offset, 128);
    assert!(x.expected.contains("nested"), "{x}");
    let deep = format!("[{}a:b = 1{}]", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(e(&deep).offset, 128);
    let ok = format!("{}[a:b = 1]{}", "(".repeat(100), ")".repeat(100));
    p(&ok);
}

/// Every prefix and every one-character deletion of valid patterns: an error or a tree,
/// never a panic (patterns come from untrusted feeds).
#[test]
fn truncated_and_mutilated_patterns_never_panic() {
    let samples = [
        "[ipv4-addr:value = '198.51.100.1' OR network-traffic:dst_ref.value IN ('a', 'b')]",
        "([a:b[*].'c d' NOT LIKE 'x\\'y'] AND [a:c >= -1.5e3]) FOLLOWEDBY [EXISTS a:d] WITHIN 5 SECONDS",
        "[a:b = t'2016-01-01T00:00:00.5Z'] START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
        "[a:b = h'00ff' AND a:c = b'aGVsbG8=' AND a:d = true] REPEATS 3 TIMES",
        "[a:b = 'ü€'] OR [a:c != 1]",
    ];
    let mut parsed = 0;
    for s in samples {
        let chars: Vec<char> = s.chars().collect();
        for n in 0..=chars.len() {
            let prefix: String = chars[..n].iter().collect();
            if let Ok(pat) = parse_pattern(&prefix) {
                parsed += 1;
                let _ = crate::extract::extract_ips(&pat);
            }
            if n < chars.len() {
                let mut cut = chars.clone();
                cut.remove(n);
                let cut: String = cut.into_iter().collect();
                if let Err(e) = parse_pattern(&cut) {
                    assert!(e.offset <= cut.chars().count(), "{cut}: {e}");
                }
            }
        }
    }
    // The complete samples, plus prefixes that end after a complete observation or
    // qualifier (e.g. "[a:b = 'ü€']" of the last sample): 15 in all.
    assert_eq!(parsed, 15);
}
