//! Reading rules from YAML text, with the best position for every error.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::{
    RuleError, RuleErrors, find_key, index_of_line_col, key_hint, plain_words, pos_of_index,
};
use crate::mend;
use crate::rule::{Rule, more_unknown_keys};

/// One rule or a list of rules (one YAML document).
struct OneOrMany(Vec<Rule>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule or a list of rules")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                Ok(OneOrMany(vec![Rule::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(r) = s.next_element::<Rule>()? {
                    v.push(r);
                }
                Ok(OneOrMany(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OneOrMany, E> {
                Ok(OneOrMany(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Turns a parser error into a [`RuleError`] with the best position available.
fn locate(text: &str, file: &str, err: &yaml_serde::Error) -> RuleError {
    let msg = err.to_string();
    // yaml_serde appends " at line L column C" (and sometimes a path); keep the message alone.
    let message = match msg.find(" at line ") {
        Some(i) => msg.get(..i).unwrap_or(&msg).to_string(),
        None => msg.clone(),
    };
    let message = message
        .strip_prefix("detection: ")
        .map(str::to_string)
        .unwrap_or(message);
    let mut index = err
        .location()
        .map(|l| index_of_line_col(text, l.line(), l.column()));
    // Refine: the parser places errors about a key at its mapping; find the key itself.
    // Without a position at all (a `detection` read before its `kind`), scan from the top.
    if let Some(k) = key_hint(&message)
        && let Some(at) = find_key(text, index.unwrap_or(0), k)
    {
        index = Some(at);
    }
    let message = plain_words(&message);
    match index {
        Some(i) => {
            let p = pos_of_index(text, i);
            RuleError {
                file: file.to_string(),
                line: Some(p.line),
                column: Some(p.column),
                message,
            }
        }
        None => RuleError {
            file: file.to_string(),
            line: None,
            column: None,
            message,
        },
    }
}

/// Reads every rule in a YAML text (one rule, a list, or a multi-document stream).
pub fn parse_rules(text: &str, file: &str) -> Result<Vec<Rule>, RuleErrors> {
    let mut rules = Vec::new();
    let mut errors: Vec<RuleError> = Vec::new();
    // A syntax error first: the typed pass reads lazily and could report a semantic error
    // that precedes it, which would only confuse.
    let mut values = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(text) {
        match yaml_serde::Value::deserialize(doc) {
            Ok(v) => values.push(v),
            Err(e) => return Err(RuleErrors(vec![locate(text, file, &e)])),
        }
    }
    let mut last_err: Option<String> = None;
    for (n, doc) in yaml_serde::Deserializer::from_str(text).enumerate() {
        match OneOrMany::deserialize(doc) {
            Ok(OneOrMany(v)) => rules.extend(v),
            Err(e) => {
                let s = e.to_string();
                // After a syntax error the parser repeats it for every later document.
                if last_err.as_deref() == Some(s.as_str()) {
                    break;
                }
                let first = locate(text, file, &e);
                let reported = key_hint(&s).filter(|_| s.contains("unknown field `"));
                let from = first
                    .line
                    .map_or(0, |l| index_of_line_col(text, l, first.column.unwrap_or(1)));
                errors.push(first);
                if let Some(v) = values.get(n) {
                    let unknown = more_unknown_keys(text, file, v, from, reported);
                    errors.extend(unknown);
                    let further = mend::further_errors(text, file, v, doc_start(text, n), &errors);
                    errors.extend(further);
                }
                last_err = Some(s);
            }
        }
    }
    for r in &mut rules {
        let line = find_id_line(text, &r.meta.id);
        r.meta.origin = match line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        };
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(RuleErrors(errors))
    }
}

/// Byte index where the `n`-th YAML document of a text starts (documents are separated by
/// `---` lines; one that opens the text starts the first document).
fn doc_start(text: &str, n: usize) -> usize {
    let mut starts = vec![0];
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        at += line.len();
        if line.starts_with("---") {
            starts.push(at);
        }
    }
    let opens = text.trim_start().starts_with("---");
    starts.get(n + usize::from(opens)).copied().unwrap_or(0)
}

/// Line of `id: <id>` in a text (the first occurrence).
fn find_id_line(text: &str, id: &str) -> Option<usize> {
    nth_id_line(text, id, 1)
}

/// Line of the `n`th (1-based) `id: <id>` in a text.
pub(crate) fn nth_id_line(text: &str, id: &str, n: usize) -> Option<usize> {
    let mut from = 0;
    let mut count = 0;
    while let Some(at) = find_key(text, from, "id") {
        let rest = text.get(at + 2..).unwrap_or("");
        let value = rest
            .trim_start_matches(['"', '\'', ' ', ':'])
            .split(['\n', ',', '}', '"', '\''])
            .next()
            .unwrap_or("")
            .trim();
        if value == id {
            count += 1;
            if count == n {
                return Some(pos_of_index(text, at).line);
            }
        }
        from = at + 2;
    }
    None
}
