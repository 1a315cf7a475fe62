//! The `indicator_match` rule kind: the built-in Sentinel TI rule, defaults, round trip, and
//! errors that name the file and line.

use kvsentry_model::Field;
use kvsentry_rules::{
    EntityMapping, FieldName, IndicatorType, RuleError, RuleKind, RuleSet, Severity, Trigger,
    TriggerOp,
};

const TI_ID: &str = "57c7e832-64eb-411f-8928-4133f01f4a25";

fn text(detection: &str) -> String {
    format!(
        "id: ti1
name: TI test
kind: indicator_match
detection:
{detection}"
    )
}

const FULL: &str = "  filter: { field: vault.resource_type, iequals: VAULTS }
  match: { field: caller.ip, indicator: ip }
  ioc_lookback: 14d
  query_frequency: 1h
  query_period: 14d
  trigger: { operator: gt, threshold: 0 }
  sentinel_compat: false
  entities: { ip: caller.ip, azure_resource: vault.resource_id }
";

fn err_of(t: &str) -> RuleError {
    let e = RuleSet::from_yaml_str(t, "rules/ti.yml").unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    e.0.into_iter().next().unwrap()
}

#[test]
fn builtin_ti_rule_has_the_seed_metadata() {
    let set = RuleSet::builtin();
    let r = set.get(TI_ID).unwrap();
    assert_eq!(r.meta.name, "TI map IP entity to Azure Key Vault logs");
    assert_eq!(
        r.meta.description,
        "Identifies a match in Azure Key Vault logs from any IP IOC from TI"
    );
    assert_eq!(r.meta.severity, Severity::Medium);
    assert_eq!(r.meta.tactics, vec!["CommandAndControl"]);
    assert_eq!(r.meta.techniques, vec!["T1071"]);
    assert_eq!(r.meta.version, "1.3.4");
    assert_eq!(
        r.meta.references,
        vec![
            "https://github.com/Azure/Azure-Sentinel/blob/master/Solutions/Threat%20Intelligence/Analytic%20Rules/IPEntity_AzureKeyVault.yaml"
        ]
    );
    assert!(r.meta.enabled);
    assert_eq!(r.detection.kind(), RuleKind::IndicatorMatch);
    assert!(r.threshold().is_none());
    let m = r.indicator_match().unwrap();
    assert_eq!(m.match_.field, FieldName(Field::CallerIp));
    assert_eq!(m.match_.indicator, IndicatorType::Ip);
    assert_eq!(m.ioc_lookback.as_nanos(), 14 * 86_400_000_000_000);
    assert_eq!(
        m.query_frequency.as_ref().unwrap().as_nanos(),
        3_600_000_000_000
    );
    assert_eq!(
        m.query_period.as_ref().unwrap().to_string(),
        "14d".to_string()
    );
    assert_eq!(
        m.trigger,
        Trigger {
            operator: TriggerOp::Gt,
            threshold: 0
        }
    );
    assert!(!m.sentinel_compat);
    assert_eq!(m.evidence, 20);
    assert_eq!(m.entities, EntityMapping::default());
    let f = m.filter.as_ref().unwrap();
    assert_eq!(
        f.source.field,
        Some(FieldName(Field::VaultResourceType)),
        "ResourceType =~ \"VAULTS\""
    );
    assert!(set.validate().is_empty(), "{:?}", set.validate());
}

#[test]
fn round_trips_through_to_yaml() {
    let r = RuleSet::builtin().get(TI_ID).unwrap().clone();
    let y = r.to_yaml();
    assert!(y.contains("kind: indicator_match\n"), "{y}");
    assert!(
        y.contains("  match:\n    field: caller.ip\n    indicator: ip\n"),
        "{y}"
    );
    assert!(y.contains("  ioc_lookback: 14d\n"), "{y}");
    assert!(y.contains("  query_frequency: 1h\n"), "{y}");
    assert!(y.contains("  query_period: 14d\n"), "{y}");
    assert!(y.contains("  sentinel_compat: false\n"), "{y}");
    let back = RuleSet::from_yaml_str(&y, "show.yml").unwrap();
    assert_eq!(back.get(TI_ID).unwrap().to_yaml(), y);
}

#[test]
fn defaults_and_compat() {
    let set = RuleSet::from_yaml_str(
        &text("  match: { field: identity.ipaddr, indicator: ip }\n  sentinel_compat: true\n"),
        "f.yml",
    )
    .unwrap();
    let m = set.get("ti1").unwrap().indicator_match().unwrap();
    assert!(m.filter.is_none());
    assert_eq!(m.match_.field, FieldName(Field::IdentityIpAddr));
    assert_eq!(m.ioc_lookback.to_string(), "14d");
    assert_eq!(m.query_frequency, None);
    assert_eq!(m.trigger, Trigger::default());
    assert!(m.sentinel_compat);
    assert_eq!(m.evidence, 20);
    assert_eq!(
        set.validate(),
        vec!["f.yml:1: rule `ti1` has no filter: every event is matched against the indicators"]
    );
    // A detection written before its kind is buffered and read the same way.
    let t = format!("id: ti2\ndetection:\n{FULL}kind: indicator_match\n");
    let set = RuleSet::from_yaml_str(&t, "f.yml").unwrap();
    assert!(set.get("ti2").unwrap().indicator_match().is_some());
}

#[test]
fn a_trigger_that_never_fires_is_a_warning() {
    let t = text(&FULL.replace("operator: gt, threshold: 0", "operator: lt, threshold: 1"));
    let set = RuleSet::from_yaml_str(&t, "f.yml").unwrap();
    assert_eq!(
        set.validate(),
        vec!["f.yml:1: rule `ti1`: its trigger (lt 1) never fires on a run with results"]
    );
}

#[test]
fn errors_name_file_line_and_column() {
    // Unknown key in the detection, with a suggestion.
    let e = err_of(&text(&FULL.replace("ioc_lookback:", "ioc_lookbak:")));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.to_string()
            .starts_with("rules/ti.yml:7:3: unknown field `ioc_lookbak`"),
        "{e}"
    );
    // Not an address field.
    let e = err_of(&text(
        &FULL.replace("field: caller.ip, indicator", "field: operation, indicator"),
    ));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.message
            .contains("`operation` is not an address field; IP indicators match `caller.ip` or `identity.ipaddr`"),
        "{e}"
    );
    // A misspelt dictionary field.
    let e = err_of(&text(
        &FULL.replace("field: caller.ip, indicator", "field: caller.iq, indicator"),
    ));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.message.contains("did you mean `caller.ip`"), "{e}");
    // Unknown indicator type.
    let e = err_of(&text(&FULL.replace("indicator: ip", "indicator: domain")));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.message.contains("'domain' is not supported (only ip is)"),
        "{e}"
    );
    // Unknown trigger operator.
    let e = err_of(&text(&FULL.replace("operator: gt", "operator: ge")));
    assert_eq!(e.line, Some(10), "{e}");
    assert!(e.message.contains("'ge' is not one of"), "{e}");
    // Bad duration.
    let e = err_of(&text(
        &FULL.replace("ioc_lookback: 14d", "ioc_lookback: 14 days"),
    ));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("bad duration `14 days`"), "{e}");
    let e = err_of(&text(&FULL.replace("ioc_lookback: 14d", "ioc_lookback: 0")));
    assert_eq!(e.line, Some(7), "{e}");
    assert!(
        e.message.contains("`ioc_lookback`: must be more than 0"),
        "{e}"
    );
    // Missing `match`.
    let e = err_of(&text("  ioc_lookback: 14d\n"));
    assert!(e.message.contains("missing field `match`"), "{e}");
    assert!(e.line.is_some(), "{e}");
    // A threshold key in an indicator_match rule.
    let e = err_of(&text(&format!(
        "{FULL}  window: {{ type: tumbling, size: 1m }}\n"
    )));
    assert_eq!(e.line, Some(13), "{e}");
    assert!(e.message.contains("unknown field `window`"), "{e}");
    // Unknown kind lists both.
    let e = err_of(&text(FULL).replace("kind: indicator_match", "kind: indicator"));
    assert_eq!(e.line, Some(3), "{e}");
    assert!(
        e.message
            .contains("'indicator' is not one of threshold, indicator_match"),
        "{e}"
    );
}
