//! Every mistake of a rule in one run: the parser stops at a rule's first error, so after it
//! the rule is read again with the failing key mended (the built-in rule's value for it, or
//! the key removed), and each further error is reported at its key, until the rule reads.
//!
//! Errors that only show once another is mended (a condition naming an aggregate whose
//! definition was the mistake) are not reported twice: a key already mended is not blamed.

use yaml_serde::{Mapping, Value};

use crate::Rule;
use crate::error::{RuleError, find_key, pos_of_index};

/// Most keys mended in one rule (a rule has about twenty).
const MAX_MENDS: usize = 32;

/// The errors after the first one of the rule `rule`, a document that starts at byte
/// `doc_start` of `text`. `known` holds what was reported already (not repeated).
pub(crate) fn further_errors(
    text: &str,
    file: &str,
    rule: &Value,
    doc_start: usize,
    known: &[RuleError],
) -> Vec<RuleError> {
    let Some(mut current) = rule.as_mapping().cloned() else {
        return Vec::new();
    };
    let mut mended: Vec<Vec<String>> = Vec::new();
    let mut out: Vec<RuleError> = Vec::new();
    for _ in 0..MAX_MENDS {
        let Ok(yaml) = yaml_serde::to_string(&current) else {
            break;
        };
        let err = match yaml_serde::from_str::<Rule>(&yaml) {
            Ok(_) => break,
            Err(e) => e,
        };
        let message = clean(&err.to_string());
        let Some(path) = failing_key(&yaml, &err, &message, &current) else {
            break;
        };
        if mended.contains(&path) {
            // Mending this key did not help: what fails depends on a key mended earlier.
            break;
        }
        let at = key_index(text, doc_start, &path);
        let line = at.map(|i| pos_of_index(text, i));
        // The first error was reported already (placed at its value, here at its key).
        let first_line = pos_of_index(text, doc_start).line;
        let repeated = known
            .iter()
            .filter(|e| e.line.is_some_and(|l| l >= first_line))
            .chain(&out)
            .any(|e| e.message == message || line.is_some_and(|p| e.line == Some(p.line)));
        if !repeated {
            out.push(RuleError {
                file: file.to_string(),
                line: line.map(|p| p.line),
                column: line.map(|p| p.column),
                message,
            });
        }
        mend(&mut current, &path);
        mended.push(path);
    }
    out
}

/// The parser's message without its position (the position is the mended copy's).
fn clean(message: &str) -> String {
    let m = match message.find(" at line ") {
        Some(i) => message.get(..i).unwrap_or(message),
        None => message,
    };
    let m = m.strip_prefix("detection: ").unwrap_or(m);
    crate::error::plain_words(m)
}

/// The key (`[key]` or `["detection", key]`) an error in `yaml` (the mended copy) is at: the
/// last key on or above the error's line, or the key the message names.
fn failing_key(
    yaml: &str,
    err: &yaml_serde::Error,
    message: &str,
    current: &Mapping,
) -> Option<Vec<String>> {
    if let Some(k) = crate::error::key_hint(message) {
        if current.contains_key(k) {
            return Some(vec![k.to_string()]);
        }
        if detection(current).is_some_and(|d| d.contains_key(k)) {
            return Some(vec!["detection".to_string(), k.to_string()]);
        }
    }
    let line = err.location()?.line();
    let mut top: Option<String> = None;
    let mut sub: Option<String> = None;
    for (i, l) in yaml.lines().enumerate() {
        if i + 1 > line {
            break;
        }
        if let Some(k) = key_of(l, 0) {
            top = Some(k);
            sub = None;
        } else if top.as_deref() == Some("detection")
            && let Some(k) = key_of(l, 2)
        {
            sub = Some(k);
        }
    }
    let top = top?;
    Some(match sub {
        Some(s) => vec![top, s],
        None => vec![top],
    })
}

/// The key a line of block YAML starts at `indent` spaces, if any.
fn key_of(line: &str, indent: usize) -> Option<String> {
    let rest = line.get(indent..)?;
    if rest.starts_with([' ', '-', '#']) || !line.get(..indent)?.chars().all(|c| c == ' ') {
        return None;
    }
    let (k, _) = rest.split_once(':')?;
    (!k.is_empty() && !k.contains(' ')).then(|| k.trim_matches(['"', '\'']).to_string())
}

fn detection(m: &Mapping) -> Option<&Mapping> {
    m.get("detection")?.as_mapping()
}

/// Where the key `path` is in the user's text (from the document's start).
fn key_index(text: &str, doc_start: usize, path: &[String]) -> Option<usize> {
    let mut at = doc_start;
    for k in path {
        at = find_key(text, at, k)?;
    }
    Some(at)
}

/// Replaces the key at `path` with the built-in rule's value for it, or removes it when the
/// built-in has none.
fn mend(current: &mut Mapping, path: &[String]) {
    let kind = current
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("threshold")
        .to_string();
    let good = template(&kind);
    let good = good.as_ref().and_then(Value::as_mapping);
    match path {
        // The kind the detection is written for (its keys tell).
        [k] if k == "kind" => {
            const INDICATOR_KEYS: [&str; 6] = [
                "match",
                "ioc_lookback",
                "query_period",
                "query_frequency",
                "trigger",
                "sentinel_compat",
            ];
            let indicator = detection(current)
                .is_some_and(|d| INDICATOR_KEYS.iter().any(|k| d.contains_key(*k)));
            let kind = if indicator {
                "indicator_match"
            } else {
                "threshold"
            };
            current.insert(Value::from("kind"), Value::from(kind));
        }
        [k] => {
            match good.and_then(|g| g.get(k.as_str())) {
                Some(v) => current.insert(Value::from(k.as_str()), v.clone()),
                _ => current.remove(k.as_str()),
            };
        }
        // Aggregates keep their names (the condition refers to them), each counted.
        [d, k] if k == "aggregates" => {
            if let Some(Value::Mapping(det)) = current.get_mut(d.as_str()) {
                let names: Option<Mapping> = det.get(k.as_str()).and_then(|a| {
                    let a = a.as_mapping()?;
                    Some(
                        a.keys()
                            .map(|n| (n.clone(), Value::from("count")))
                            .collect(),
                    )
                });
                match names {
                    Some(m) if !m.is_empty() => {
                        det.insert(Value::from(k.as_str()), Value::Mapping(m))
                    }
                    _ => det.remove(k.as_str()),
                };
            }
        }
        [d, k] => {
            let replacement = good
                .and_then(|g| g.get(d.as_str()))
                .and_then(Value::as_mapping)
                .and_then(|g| g.get(k.as_str()))
                .cloned();
            if let Some(Value::Mapping(det)) = current.get_mut(d.as_str()) {
                match replacement {
                    Some(v) => det.insert(Value::from(k.as_str()), v),
                    None => det.remove(k.as_str()),
                };
            }
        }
        _ => {}
    }
}

/// A valid rule of `kind` from the built-in pack, as a YAML value.
fn template(kind: &str) -> Option<Value> {
    let name = match kind {
        "indicator_match" => "ti-ip-keyvault.yml",
        _ => "excessive-keyvault-retrieval.yml",
    };
    let (_, text) = crate::RuleSet::builtin_sources()
        .iter()
        .find(|(n, _)| *n == name)?;
    yaml_serde::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_block_lines() {
        assert_eq!(key_of("severity: high", 0).as_deref(), Some("severity"));
        assert_eq!(key_of("  window: {}", 2).as_deref(), Some("window"));
        assert_eq!(key_of("  window: {}", 0), None);
        assert_eq!(key_of("    - a", 2), None);
        assert_eq!(key_of("- x: 1", 0), None);
    }
}
