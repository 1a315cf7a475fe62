//! The published test patterns of the OASIS STIX pattern validator
//! (github.com/oasis-open/cti-pattern-validator, `stix2patterns/test/v20` and `v21`:
//! `spec_examples.txt`, `test_validator.py`, `test_inspector.py`), restated as data with
//! the validator's verdict: every valid pattern parses, every invalid one is refused with a
//! position (the same column where the validator names one). Where kvsentry's verdict differs
//! the pattern is listed in [`DIFFERENT`] with the reason.

use kvsentry_stix::parse_pattern;

/// The patterning specification's examples (`spec_examples.txt`, STIX 2.0 and 2.1 alike).
const SPEC_EXAMPLES: &[&str] = &[
    r"[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    r"[email-message:from_ref.value MATCHES '.+\\@example\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\.exe$']",
    r"[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:mime_type = 'application/x-pdf']",
    r"[file:hashes.'SHA-256' = 'bf07a7fbb825fc0aae7bf4a1177b2b31fcf8a3feeaf7092761e18c859ee52a9c' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] AND [file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    r"([file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] FOLLOWEDBY [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) WITHIN 300 SECONDS",
    r"[user-account:account_type = 'unix' AND user-account:user_id = '1007' AND user-account:account_login = 'Peter'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1008' AND user-account:account_login = 'Paul'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1009' AND user-account:account_login = 'Mary']",
    r"[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\xd4\\xc3\\xb2\\xa1\\x02\\x00\\x04\\x00']",
    r"[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\Windows\\System32']",
    r"[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]",
    r"[file:mime_type = 'image/bmp' AND file:magic_number_hex = h'ffd8']",
    r"[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']",
    r"[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 1800 SECONDS",
    r"[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']",
    r"[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']",
    r"[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']",
    r"[windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\CryptoLocker\\Files' OR windows-registry-key:key = 'HKEY_CURRENT_USER\\Software\\Microsoft\\CurrentVersion\\Run\\CryptoLocker_0388']",
    r"[(file:name = 'pdf.exe' OR file:size = '371712') AND file:created = t'2014-01-13T07:03:17Z']",
    r"[email-message:sender_ref.value = 'jdoe@example.com' AND email-message:subject = 'Conference Info']",
    r"[x-usb-device:usbdrive.serial_number = '575833314133343231313937']",
    r"[process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachine Root$'] FOLLOWEDBY [process:command_line MATCHES'^.+>-add GlobalSign.cer -c -s -r localMachineTrustedPublisher$'] WITHIN 300 SECONDS",
    r"[network-traffic:dst_ref.value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']",
    r"([file:name = 'foo.dll'] AND [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\foo\\bar']) OR [process:name = 'fooproc' OR process:name = 'procfoo']",
    r"[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a69faa']",
    // v20's file only.
    r"( [(network-traffic:dst_port IN(443,6443,8443) AND network-traffic:src_packets != 0) ])",
];

/// `PASS_CASES` and `TIMESTAMP_PASS_CASES` of `test_validator.py` (2.0 and 2.1), and the
/// patterns of `test_inspector.py`.
const VALID: &[&str] = &[
    "[file:size = 1280]",
    "[file:size != 1280]",
    "[file:size < 1024]",
    "[file:size <= 1024]",
    "[file:size > 1024]",
    "[file:size >= 1024]",
    "[file:file_name = 'my_file_name']",
    "[file:extended_properties.'ntfs-ext'.sid = '234']",
    r"[emailaddr:value MATCHES '.+\\@ibm\\.com$' OR file:name MATCHES '^Final Report.+\\.exe$']",
    "[ipv4addr:value ISSUBSET '192.168.0.1/24']",
    "[ipv4addr:value NOT ISSUBSET '192.168.0.1/24']",
    "[user-account:value = 'Peter'] AND [user-account:value != 'Paul'] AND [user-account:value = 'Mary'] WITHIN 5 SECONDS",
    "[file:file_system_properties.file_name LIKE 'name%']",
    "[file:file_name IN ('test.txt', 'test2.exe', 'README')]",
    "[file:size IN (1024, 2048, 4096)]",
    "[network-connection:extended_properties[0].source_payload MATCHES 'dGVzdHRlc3R0ZXN0']",
    r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] WITHIN 5 SECONDS",
    "[x_whatever:detected == t'2018-03-22T12:11:14.1Z']",
    "[artifact:payload_bin = b'dGhpcyBpcyBhIHRlc3Q=']",
    "[foo:bar=1] REPEATS 9 TIMES",
    "[network-traffic:start = '2018-04-20T12:36:24.558Z']",
    "( [(network-traffic:dst_port IN(443,6443,8443) AND network-traffic:src_packets != 0) ])",
    "[file:hashes[*] = '8665c8d477534008b3058b72e2dae8ae']",
    // v21's file only.
    r"([win-registry-key:key = 'hkey_local_machine\\foo\\bar']) WITHIN 5 SECONDS WITHIN 6 SECONDS",
    r"([win-registry-key:key = 'hkey_local_machine\\foo\\bar'] REPEATS 2 TIMES) REPEATS 2 TIMES",
    "[network-traffic:src_port = 37020 AND user-account:user_id = 'root'] START t'2016-06-01T01:30:00.123Z' STOP t'2016-06-01T02:20:00.123Z' OR [ipv4-addr:value = '192.168.122.83'] START t'2016-06-01T03:55:00.123Z' STOP t'2016-06-01T04:30:24.743Z'",
    // TIMESTAMP_PASS_CASES (the calendar-impossible ones are in DIFFERENT).
    "[x:created = t'2024-01-15T12:30:45Z']",
    "[x:created = t'2024-12-31T23:59:59Z']",
    "[x:created = t'2024-01-01T00:00:00Z']",
    "[x:created = t'2024-01-15T12:30:45.123Z']",
    "[x:created = t'2024-01-15T12:30:45.123456Z']",
    "[x:created = t'2024-02-29T12:00:00Z']",
    "[x:created = t'2000-02-29T12:00:00Z']",
    "[file:name = 'test'] START t'2024-01-01T00:00:00Z' STOP t'2024-12-31T23:59:59Z'",
    // test_inspector.py
    "[foo:bar = 1]",
    "[foo:bar = 1] REPEATS 5 TIMES",
    "[foo:bar = 1] WITHIN 10.3 SECONDS",
    "[foo:bar = 1] WITHIN 123 SECONDS",
    "[foo:bar = 1] START t'1932-11-12T15:42:15Z' STOP t'1964-10-23T21:12:26Z'",
    "[foo:bar = 1] REPEATS 1 TIMES AND [foo:baz = 2] WITHIN 1.23 SECONDS",
    "([foo:bar = 1] START t'1932-11-12T15:42:15Z' STOP t'1964-10-23T21:12:26Z' AND [foo:abc < h'12ab']) WITHIN 22 SECONDS OR [frob:baz NOT IN (1,2,3)] REPEATS 31 TIMES",
    "[foo:bar = 1] AND [foo:baz > 25.2]",
    "[foo:bar = 1] OR [foo:baz != 'hello']",
    "[foo:bar = 1] FOLLOWEDBY [foo:baz IN (1,2,3)]",
    "[foo:bar = 1] AND [foo:baz = 22] OR [foo:abc = '123']",
    "[foo:bar = 1] OR ([foo:baz = false] FOLLOWEDBY [frob:abc LIKE '123']) WITHIN 46.1 SECONDS",
    "[foo:bar=1 AND foo:baz=2]",
    "[foo:bar NOT !=1 OR bar:foo<12.3]",
    r"[foo:bar=1] OR [foo:baz MATCHES '123\\d+']",
    "[foo:bar=1 AND bar:foo NOT >33] REPEATS 12 TIMES OR   ([baz:bar ISSUBSET '1234'] FOLLOWEDBY [baz:quux NOT LIKE 'a_cd'])",
    "[obj-type:a.b[*][1].'c-d' NOT ISSUPERSET '1.2.3.4/16']",
];

/// `FAIL_CASES` and `TIMESTAMP_FAIL_CASES` of `test_validator.py` (2.0 and 2.1), with the
/// column the validator reports (`None`: it names none, or only "line 1:").
const INVALID: &[(&str, Option<usize>)] = &[
    ("file:size = 1280", Some(0)),
    ("[file:size = ]", Some(13)),
    (
        "[file:hashes.MD5 = cead3f77f6cda6ec00f57d76c9a6879f]",
        Some(19),
    ),
    ("[file.size = 1280]", Some(5)),
    (r"[file:name MATCHES /.*\.dll/]", Some(19)),
    (
        r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] WITHIN ]",
        Some(63),
    ),
    (
        r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] WITHIN 5 HOURS]",
        Some(65),
    ),
    (
        r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] WITHIN -5 SECONDS]",
        Some(63),
    ),
    ("[network-traffic:dst_ref.value ISSUBSET ]", Some(40)),
    (
        "[file:hashes.MD5 =? 'cead3f77f6cda6ec00f57d76c9a6879f']",
        Some(18),
    ),
    (
        "[x_whatever:detected == t'2457-73-22T32:81:84.1Z']",
        Some(24),
    ),
    ("[artifact:payload_bin = b'====']", Some(24)),
    ("[foo:bar=1] within 2 seconds", Some(12)),
    // "'f00' is not a valid SHA-256 hash": no column.
    ("[file:hashes.'SHA-256' = 'f00']", None),
    // v21's file only: "Duplicate qualifier type encountered", no column.
    (
        r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
        None,
    ),
    (
        r"([win-registry-key:key = 'hkey_local_machine\\foo\\bar'] REPEATS 2 TIMES REPEATS 3 TIMES)",
        None,
    ),
    (
        r"[win-registry-key:key = 'hkey_local_machine\\foo\\bar'] START t'2016-06-01T01:30:00.123Z' STOP t'2016-06-01T02:20:00.123Z' START t'2016-06-01T01:30:00.123Z' STOP t'2016-06-01T02:20:00.123Z'",
        None,
    ),
    // TIMESTAMP_FAIL_CASES
    ("[x:created = t'2024-13-01T12:00:00Z']", None),
    ("[x:created = t'2024-00-01T12:00:00Z']", None),
    ("[x:created = t'2024-01-32T12:00:00Z']", None),
    ("[x:created = t'2024-01-00T12:00:00Z']", None),
    ("[x:created = t'2024-01-15T25:00:00Z']", None),
    ("[x:created = t'2024-01-15T12:60:00Z']", None),
    ("[x:created = t'2024-01-15T12:30:61Z']", None),
    ("[x:created = t'2024-01-15T12:30:45']", None),
    ("[x:created = t'not-a-timestamp']", None),
    ("[x:created = t'2024/01/15T12:30:45Z']", None),
];

/// Patterns the validator accepts and kvsentry refuses, each with the reason and the
/// character where kvsentry stops.
const DIFFERENT: &[(&str, usize, &str)] = &[
    // TIMESTAMP_PASS_CASES: the validator checks the form of a timestamp, not the calendar
    // ("syntactically valid"). A day that does not exist names no instant an observation
    // could be compared with, so kvsentry refuses it and says which day is missing.
    (
        "[x:created = t'2024-02-30T12:00:00Z']",
        13,
        "no day 30 in February 2024",
    ),
    (
        "[x:created = t'2024-04-31T12:00:00Z']",
        13,
        "no day 31 in April 2024",
    ),
    (
        "[x:created = t'2023-02-29T12:00:00Z']",
        13,
        "no day 29 in February 2023",
    ),
    // v20 test_inspector.py: STIX 2.0 allowed the same qualifier twice on one observation;
    // STIX 2.1 does not, and kvsentry reads every pattern with the 2.1 grammar (one parser
    // for feeds that mix both versions).
    (
        "[foo:bar = 1] REPEATS 1 TIMES REPEATS 2 TIMES",
        30,
        "a second REPEATS",
    ),
];

#[test]
fn every_valid_pattern_parses() {
    let mut failures = Vec::new();
    for p in SPEC_EXAMPLES.iter().chain(VALID) {
        if let Err(e) = parse_pattern(p) {
            failures.push(format!("{p}\n    {e}"));
        }
    }
    assert!(failures.is_empty(), "refused:\n{}", failures.join("\n"));
}

#[test]
fn every_invalid_pattern_is_refused_with_a_position() {
    let mut failures = Vec::new();
    for &(p, column) in INVALID {
        match parse_pattern(p) {
            Ok(tree) => failures.push(format!("{p}\n    accepted as {tree}")),
            Err(e) => {
                let len = p.chars().count();
                if e.offset > len {
                    failures.push(format!("{p}\n    offset {} beyond the end", e.offset));
                }
                if let Some(c) = column
                    && e.offset != c
                {
                    failures.push(format!(
                        "{p}\n    at {}, the validator says {c}: {e}",
                        e.offset
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documented_differences_hold() {
    for &(p, offset, says) in DIFFERENT {
        let e = parse_pattern(p).expect_err(p);
        assert_eq!(e.offset, offset, "{p}: {e}");
        assert!(e.to_string().contains(says), "{p}: {e}");
    }
}

/// The corpus is read in full: a list cut short would pass vacuously.
#[test]
fn corpus_sizes() {
    assert_eq!(SPEC_EXAMPLES.len(), 24);
    assert_eq!(INVALID.len(), 27);
    assert_eq!(DIFFERENT.len(), 4);
}
