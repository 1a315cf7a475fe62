use super::*;
use kvsentry_model::Field;

const SEED_ID: &str = "c07f7898-5dc3-11f0-9f27-f661ea17fbcd";
const APP_ID: &str = "2f6d3c1e-8a4b-5e7f-9c0d-1b2a3c4d5e6f";
const TI_ID: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";

fn rule_text(extra_detection: &str, condition: &str) -> String {
    format!(
        "id: r1
name: test rule
severity: high
kind: threshold
detection:
  filter:
    all:
      - {{ field: category, equals: AuditEvent }}
      - {{ field: operation, in: [SecretGet, KeyGet] }}
  window: {{ type: sliding, size: 5m }}
  group_by: [identity.upn]
  aggregates:
    action_count: count
    distinct_actions: {{ count_distinct: operation }}
    actions: {{ values: operation }}
  condition: \"{condition}\"
{extra_detection}"
    )
}

fn err_of(text: &str) -> RuleError {
    let e = RuleSet::from_yaml_str(text, "rules/test.yml").unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    e.0.into_iter().next().unwrap()
}

#[test]
fn builtin_pack_has_the_seed_and_the_app_rule() {
    let set = RuleSet::builtin();
    assert_eq!(set.len(), 3);
    let ids: Vec<&str> = set.iter().map(Rule::id).collect();
    assert_eq!(ids, vec![APP_ID, TI_ID, SEED_ID]);
    let seed = set.get(SEED_ID).unwrap();
    assert_eq!(
        seed.meta.name,
        "Azure Key Vault Excessive Secret or Key Retrieved"
    );
    assert_eq!(seed.meta.severity, Severity::Medium);
    assert_eq!(seed.meta.tactics, vec!["CredentialAccess"]);
    assert_eq!(seed.meta.techniques, vec!["T1555", "T1555.006"]);
    assert_eq!(seed.meta.references.len(), 2);
    assert!(
        seed.meta
            .references
            .iter()
            .any(|r| r
                == "https://www.inversecos.com/2022/05/detection-and-compromise-azure-key.html")
    );
    assert!(
        seed.meta.description.contains("threshold of\n10")
            || seed.meta.description.contains("threshold of 10")
    );
    let t = seed.threshold().unwrap();
    assert_eq!(t.window.kind, WindowType::Tumbling);
    assert_eq!(t.window.size.as_nanos(), 60_000_000_000);
    assert_eq!(t.group_by, vec![FieldName(Field::IdentityUpn)]);
    let names: Vec<&str> = t.aggregates.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "actor_name",
            "actor_unique_count",
            "app_id",
            "object_id",
            "source_ip",
            "city_name",
            "region_name",
            "country_name",
            "as_org",
            "actions",
            "action_count",
            "distinct_actions",
            "vaults_accessed",
            "vault_names",
            "result_type",
            "cloud_region",
            "agent_name",
            "subscription_id",
            "resource_group",
            "resource_ids"
        ]
    );
    assert_eq!(
        t.aggregates.0[3].1,
        Aggregate::Values(Field::IdentityObjectId)
    );
    // The 20 operations of the seed, case-sensitive.
    let CompiledFilter::All(clauses) = &t.filter.compiled else {
        panic!("seed filter is an all")
    };
    assert_eq!(clauses.len(), 2);
    let ops = &t.filter.source.all.as_ref().unwrap()[1].source.in_;
    assert_eq!(ops.as_ref().unwrap().len(), 20);
    let app = set.get(APP_ID).unwrap().threshold().unwrap();
    assert_eq!(
        app.group_by,
        vec![
            FieldName(Field::IdentityAppId),
            FieldName(Field::IdentityObjectId)
        ]
    );
}

#[test]
fn builtin_rules_round_trip_through_to_yaml() {
    for r in RuleSet::builtin()
        .iter()
        .filter(|r| r.threshold().is_some())
    {
        let y = r.to_yaml();
        let back = RuleSet::from_yaml_str(&y, "show.yml").unwrap();
        let r2 = back.get(r.id()).unwrap();
        assert_eq!(r2.to_yaml(), y);
        assert_eq!(
            r2.meta,
            RuleMeta {
                origin: r2.meta.origin.clone(),
                ..r.meta.clone()
            }
        );
        assert!(y.contains("kind: threshold"), "{y}");
        assert!(y.contains("suppression: 0\n"), "{y}");
    }
}

#[test]
fn parses_a_full_rule_with_defaults() {
    let set = RuleSet::from_yaml_str(&rule_text("", "action_count >= 5"), "f.yml").unwrap();
    let r = set.get("r1").unwrap();
    assert!(r.meta.enabled);
    assert_eq!(r.meta.version, "1");
    assert_eq!(r.meta.origin, "f.yml:1");
    let t = r.threshold().unwrap();
    assert_eq!(t.window.kind, WindowType::Sliding);
    assert_eq!(t.suppression.as_nanos(), 0);
    assert_eq!(t.evidence, 20);
    assert_eq!(t.values_cap, 100);
    assert_eq!(t.entities, EntityMapping::default());
    assert!(t.condition.eval(&[5.0, 1.0, f64::NAN]));
    assert!(!t.condition.eval(&[4.0, 1.0, f64::NAN]));
}

#[test]
fn list_and_multi_document_streams() {
    let one = rule_text("", "action_count >= 5");
    let two = one.replace("id: r1", "id: r2");
    let three = one.replace("id: r1", "id: r3");
    let indent = |s: &str| {
        s.lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("- {l}")
                } else {
                    format!("  {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let text = format!("{}\n{}\n---\n{three}", indent(&one), indent(&two));
    let set = RuleSet::from_yaml_str(&text, "f.yml").unwrap();
    assert_eq!(
        set.iter().map(Rule::id).collect::<Vec<_>>(),
        vec!["r1", "r2", "r3"]
    );
}

#[test]
fn syntax_error_has_line_and_column() {
    let text = rule_text("", "action_count >= 5").replace("  group_by:", " group_by:");
    let e = err_of(&text);
    assert_eq!(e.file, "rules/test.yml");
    assert_eq!((e.line, e.column), (Some(11), Some(2)), "{e}");
    assert!(
        e.to_string()
            .starts_with("rules/test.yml:11:2: did not find expected key"),
        "{e}"
    );
    let text = rule_text("", "action_count >= 5")
        .replace("    action_count: count", "    action_count: count: 2");
    let e = err_of(&text);
    assert_eq!(e.line, Some(13), "{e}");
    assert!(e.message.contains("mapping values are not allowed"), "{e}");
    // A syntax error is reported alone, even after a semantic error earlier in the file.
    let e = err_of("a: 1\nb: 'x");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("end of stream"), "{e}");
}

#[test]
fn unknown_dictionary_field_suggests_close_names() {
    let text = rule_text("", "action_count >= 5")
        .replace("group_by: [identity.upn]", "group_by: [identity.upm]");
    let e = err_of(&text);
    assert_eq!((e.line, e.column), (Some(11), Some(14)), "{e}");
    assert!(
        e.message
            .contains("unknown field name `identity.upm`; did you mean `identity.upn`"),
        "{e}"
    );
    let text = rule_text("", "action_count >= 5").replace("field: category", "field: categroy");
    let e = err_of(&text);
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("`category`"), "{e}");
}

#[test]
fn unknown_keys_are_errors_at_their_line() {
    let text =
        rule_text("", "action_count >= 5").replace("severity: high", "severity: high\nauthr: [me]");
    let e = err_of(&text);
    assert_eq!((e.line, e.column), (Some(4), Some(1)), "{e}");
    assert!(
        e.message
            .contains("unknown field `authr`; did you mean `author`?"),
        "{e}"
    );
    let text = rule_text("  supression: 10m\n", "action_count >= 5");
    let e = err_of(&text);
    assert_eq!((e.line, e.column), (Some(17), Some(3)), "{e}");
    assert!(e.message.contains("unknown field `supression`"), "{e}");
}

#[test]
fn bad_condition_names_the_aggregate_and_line() {
    let e = err_of(&rule_text("", "action_count >= 5 and distinct_action >= 2"));
    assert_eq!(e.line, Some(16), "{e}");
    assert!(
        e.message.contains("unknown aggregate `distinct_action`")
            && e.message.contains("did you mean `distinct_actions`"),
        "{e}"
    );
    let e = err_of(&rule_text("", "action_count >= 5 and"));
    assert_eq!(e.line, Some(16), "{e}");
    assert!(e.message.contains("at the end"), "{e}");
    let e = err_of(&rule_text("", "actions >= 2"));
    assert!(e.message.contains("`actions` is not a number"), "{e}");
}

#[test]
fn bad_duration_regex_cidr_and_severity() {
    let e = err_of(&rule_text(
        "  suppression: 10 minutes\n",
        "action_count >= 5",
    ));
    assert_eq!(e.line, Some(17), "{e}");
    assert!(e.message.contains("bad duration `10 minutes`"), "{e}");
    let t = rule_text("", "action_count >= 5").replace("size: 5m", "size: 5");
    let e = err_of(&t);
    assert_eq!(e.line, Some(10), "{e}");
    assert!(e.message.contains("add a unit"), "{e}");
    let t = rule_text("", "action_count >= 5").replace(
        "{ field: category, equals: AuditEvent }",
        "{ field: client_info, regex: \"([a-z\" }",
    );
    let e = err_of(&t);
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("bad regex"), "{e}");
    let t = rule_text("", "action_count >= 5").replace(
        "{ field: category, equals: AuditEvent }",
        "{ field: caller.ip, cidr: [10.0.0.0/40] }",
    );
    let e = err_of(&t);
    assert_eq!(e.line, Some(8), "{e}");
    assert!(e.message.contains("bad CIDR `10.0.0.0/40`"), "{e}");
    let t = rule_text("", "action_count >= 5").replace("severity: high", "severity: severe");
    let e = err_of(&t);
    assert_eq!(e.line, Some(3), "{e}");
    assert_eq!(
        e.message,
        "severity: 'severe' is not one of informational, low, medium, high, critical"
    );
}

#[test]
fn duplicate_ids_are_errors() {
    let one = rule_text("", "action_count >= 5");
    let text = format!("{one}---\n{one}");
    let e = err_of(&text);
    assert_eq!(e.line, Some(18), "{e}");
    assert!(
        e.message
            .contains("duplicate rule id `r1` (first defined at rules/test.yml:1)"),
        "{e}"
    );
}

#[test]
fn load_path_reads_a_directory_and_reports_every_file() {
    let dir = std::env::temp_dir().join(format!("kvsentry-rules-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.yml"), rule_text("", "action_count >= 5")).unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        rule_text("", "action_count >= 5").replace("id: r1", "id: r2"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a rule").unwrap();
    let set = RuleSet::load_path(&dir).unwrap();
    assert_eq!(set.len(), 2);
    std::fs::write(dir.join("c.yml"), rule_text("", "action_count >= 5")).unwrap();
    std::fs::write(dir.join("d.yml"), "id: [").unwrap();
    let e = RuleSet::load_path(&dir).unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
    assert!(e.0[0].to_string().contains("c.yml:1"), "{e}");
    assert!(e.0[0].message.contains("duplicate rule id `r1`"), "{e}");
    assert!(e.0[1].file.ends_with("d.yml"), "{e}");
    assert!(e.0[1].line.is_some(), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_override_replaces_a_builtin_by_id() {
    let mut set = RuleSet::builtin();
    let mut text = RuleSet::builtin().get(SEED_ID).unwrap().to_yaml();
    text = text.replace("action_count >= 5", "action_count >= 10");
    let user = RuleSet::from_yaml_str(&text, "user.yml").unwrap();
    set.merge_override(user);
    assert_eq!(set.len(), 3);
    let t = set.get(SEED_ID).unwrap().threshold().unwrap();
    assert_eq!(
        t.condition.source,
        "actor_unique_count == 1 and action_count >= 10 and distinct_actions >= 2"
    );
    assert_eq!(set.get(SEED_ID).unwrap().meta.origin, "user.yml:1");
}

#[test]
fn detection_before_kind_still_loads() {
    let text =
        rule_text("", "action_count >= 5").replace("kind: threshold\n", "") + "kind: threshold\n";
    let set = RuleSet::from_yaml_str(&text, "f.yml").unwrap();
    assert_eq!(set.get("r1").unwrap().detection.kind(), RuleKind::Threshold);
    let e = err_of(&rule_text("", "action_count >= 5").replace("kind: threshold\n", ""));
    assert!(e.message.contains("missing field `kind`"), "{e}");
}

#[test]
fn validate_warns_about_disabled_rules() {
    let text = rule_text("", "action_count >= 5")
        .replace("severity: high", "severity: high\nenabled: false");
    let set = RuleSet::from_yaml_str(&text, "f.yml").unwrap();
    assert_eq!(set.enabled().count(), 0);
    assert_eq!(
        set.validate(),
        vec!["f.yml:1: rule `r1` is disabled".to_string()]
    );
}

/// One run reports every independent mistake of a rule, each at its key.
#[test]
fn every_mistake_of_a_rule_is_reported() {
    let text = "id: 6f1d2e9a-0000-4000-8000-0000000000cc
name: five mistakes
severity: hihg
version: \"1\"
kind: threshold
detection:
  filter: { field: operaton, equals: SecretGet }
  window: { type: tumbling, size: 1x }
  group_by: [identity.upnn]
  aggregates: { n: count }
  condition: m >= 1
";
    let errs = parse_rules(text, "r.yml").unwrap_err().0;
    let lines: Vec<usize> = errs.iter().filter_map(|e| e.line).collect();
    assert_eq!(lines, [3, 7, 8, 9, 11], "{errs:?}");
    assert!(errs[1].message.contains("operaton"), "{errs:?}");
    assert!(
        errs[4].message.contains("unknown aggregate `m`"),
        "{errs:?}"
    );

    // A second document's mistakes are reported too, at their own lines.
    let two = format!(
        "{text}---\n{}",
        text.replace("hihg", "high").replace("0cc", "0cd")
    );
    let errs = parse_rules(&two, "r.yml").unwrap_err().0;
    let lines: Vec<usize> = errs.iter().filter_map(|e| e.line).collect();
    assert_eq!(lines, [3, 7, 8, 9, 11, 19, 20, 21, 23], "{errs:?}");
}

/// A mistake that only shows because of another one is not blamed: the condition names an
/// aggregate whose definition is the mistake.
#[test]
fn consequences_are_not_blamed() {
    let text = "id: 6f1d2e9a-0000-4000-8000-0000000000ce
name: one mistake
severity: high
version: \"1\"
kind: threshold
detection:
  filter: { field: operation, equals: SecretGet }
  window: { type: tumbling, size: 1m }
  group_by: [identity.upn]
  aggregates: { n: { count_distinct: operaton } }
  condition: n >= 1
";
    let errs = parse_rules(text, "r.yml").unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, Some(10), "{errs:?}");
}

/// serde's "invalid type" is said as what was written and what is wanted.
#[test]
fn invalid_types_are_said_plainly() {
    let text = "id: r-types
name: types
severity: high
version: \"1\"
kind: threshold
detection:
  filter: { field: operation, equals: SecretGet }
  window: { type: tumbling, size: 1m }
  group_by: [identity.upn]
  aggregates: { n: { count: { a: 1 } } }
  condition: n >= 1
";
    let errs = parse_rules(text, "r.yml").unwrap_err().0;
    let m = &errs[0].message;
    assert!(!m.contains("invalid type"), "{m}");
    assert!(m.contains("a mapping ({ ... }) where"), "{m}");
}
