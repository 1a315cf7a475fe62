//! Loading: the text parsed once into a spanned tree, the top level read by serde, each
//! `[[input]]`/`[[output]]` read by the kind its `type` names, then the checks that span
//! several keys (names unique, at least one input and output, rules to run).

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::{ConfigError, Locator, key_path, reword};
use super::input::{AzureBlobInput, FilesInput, InputConfig, InputKind, KafkaInput};
use super::output::{
    FileOutput, KafkaOutput, OutputConfig, OutputKind, StdoutOutput, WebhookOutput,
};
use super::top::Top;
use super::{ServeConfig, value};

pub(crate) fn load(text: &str, origin: &str) -> Result<ServeConfig, ConfigError> {
    let loc = Locator { origin, text };
    let doc = DeTable::parse(text).map_err(|e| loc.toml_error(None, &e))?;
    let full = doc.get_ref().clone();
    let root = doc.span();
    let de = |e: toml::de::Error| loc.toml_error(Some(&full), &e);
    // An error about the whole document (a missing key) has the root's span: no line to tell.
    let top = Top::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| match e.span() {
        Some(span) if span == root => loc.error(None, None, reword(e.message())),
        _ => de(e),
    })?;

    let section = |key: &str, what: &str| -> Result<Vec<Spanned<DeValue<'_>>>, ConfigError> {
        let Some((_, v)) = full.iter().find(|(k, _)| k.get_ref() == key) else {
            return Err(loc.error(
                None,
                None,
                format!("no [[{key}]]: serve needs at least one {what}"),
            ));
        };
        match v.get_ref() {
            DeValue::Array(a) if !a.is_empty() => Ok(a.iter().cloned().collect()),
            _ => Err(loc.error(
                Some(&full),
                Some(v.span()),
                format!("expected [[{key}]] tables, at least one"),
            )),
        }
    };

    let mut names = Names::default();
    let mut inputs = Vec::new();
    for item in section("input", "input to read")? {
        let s = Split::new(&loc, &full, item, "input", &InputKind::TYPES)?;
        let log_format = match &s.log_format {
            Some(v) => value::log_format(ValueDeserializer::from(v.clone()))
                .map_err(|e| at_value(&loc, &full, v.span(), e))?,
            None => None,
        };
        let kind = match s.kind.as_str() {
            "files" => FilesInput::deserialize(s.rest()).map(InputKind::Files),
            "azure_blob" => AzureBlobInput::deserialize(s.rest()).map(InputKind::AzureBlob),
            _ => KafkaInput::deserialize(s.rest()).map(InputKind::Kafka),
        }
        .map_err(|e| s.error(&loc, &full, e))?;
        let name = names.assign(&loc, &full, &s, "input")?;
        inputs.push(InputConfig {
            name,
            log_format,
            kind,
        });
    }

    let mut names = Names::default();
    let mut outputs = Vec::new();
    for item in section("output", "output for alerts")? {
        let s = Split::new(&loc, &full, item, "output", &OutputKind::TYPES)?;
        let kind = match s.kind.as_str() {
            "file" => FileOutput::deserialize(s.rest()).map(OutputKind::File),
            "webhook" => WebhookOutput::deserialize(s.rest()).map(OutputKind::Webhook),
            "stdout" => StdoutOutput::deserialize(s.rest()).map(|_| OutputKind::Stdout),
            _ => KafkaOutput::deserialize(s.rest()).map(OutputKind::Kafka),
        }
        .map_err(|e| s.error(&loc, &full, e))?;
        let name = names.assign(&loc, &full, &s, "output")?;
        outputs.push(OutputConfig { name, kind });
    }

    if !top.builtin && top.rules.is_empty() {
        let span = full
            .iter()
            .find(|(k, _)| k.get_ref() == "builtin")
            .map(|(k, _)| k.span());
        return Err(loc.error(
            Some(&full),
            span,
            "no rules to run: `builtin = false` needs `rules`",
        ));
    }

    let mut config = ServeConfig {
        origin: origin.to_string(),
        state_dir: top.state_dir,
        rules: top.rules,
        builtin: top.builtin,
        idle_timeout: top
            .idle_timeout
            .unwrap_or_else(|| top.allowed_lateness.clone()),
        allowed_lateness: top.allowed_lateness,
        listen: top.listen.unwrap_or_else(super::top::default_listen),
        listen_given: top.listen.is_some(),
        inputs,
        outputs,
        ti: top.ti,
        logging: top.logging,
    };
    for s in config.secrets_mut() {
        let (line, _) = loc.line_col(s.span.start);
        s.key = key_path(&full, s.span.start);
        s.at = format!("{origin}:{line}");
    }
    Ok(config)
}

/// An error of a value read on its own: placed at the value unless toml placed it.
fn at_value(
    loc: &Locator<'_>,
    full: &DeTable<'_>,
    span: Range<usize>,
    e: toml::de::Error,
) -> ConfigError {
    let span = e.span().unwrap_or(span);
    loc.error(Some(full), Some(span), reword(e.message()))
}

/// One `[[input]]`/`[[output]]` table taken apart: its `type`, `name` and (inputs)
/// `log_format`, and the keys left for the kind.
struct Split<'i> {
    kind: String,
    name: Option<Spanned<DeValue<'i>>>,
    log_format: Option<Spanned<DeValue<'i>>>,
    span: Range<usize>,
    rest: DeTable<'i>,
}

impl<'i> Split<'i> {
    fn new(
        loc: &Locator<'_>,
        full: &DeTable<'_>,
        item: Spanned<DeValue<'i>>,
        section: &str,
        types: &[&str],
    ) -> Result<Split<'i>, ConfigError> {
        let span = item.span();
        let DeValue::Table(mut rest) = item.into_inner() else {
            return Err(loc.error(
                Some(full),
                Some(span),
                format!("expected a [[{section}]] table"),
            ));
        };
        let listed = types.join(", ");
        let Some(kind) = rest.remove("type") else {
            return Err(loc.error(
                Some(full),
                Some(span),
                format!("missing key `type` (one of: {listed})"),
            ));
        };
        let kind_span = kind.span();
        let kind = match kind.get_ref() {
            DeValue::String(s) if types.contains(&s.as_ref()) => s.to_string(),
            DeValue::String(s) => {
                return Err(loc.error(
                    Some(full),
                    Some(kind_span),
                    format!("unknown {section} type `{s}` (one of: {listed})"),
                ));
            }
            other => {
                return Err(loc.error(
                    Some(full),
                    Some(kind_span),
                    format!(
                        "expected a string (one of: {listed}), found {}",
                        other.type_str()
                    ),
                ));
            }
        };
        let name = rest.remove("name");
        let log_format = if section == "input" {
            rest.remove("log_format")
        } else {
            None
        };
        Ok(Split {
            kind,
            name,
            log_format,
            span,
            rest,
        })
    }

    /// A kind's error; one about several keys (no span of its own) is placed at the table.
    fn error(&self, loc: &Locator<'_>, full: &DeTable<'_>, e: toml::de::Error) -> ConfigError {
        match e.span() {
            Some(_) => loc.toml_error(Some(full), &e),
            None => loc.error(Some(full), Some(self.span.clone()), reword(e.message())),
        }
    }

    fn rest(&self) -> ValueDeserializer<'i> {
        ValueDeserializer::from(Spanned::new(
            self.span.clone(),
            DeValue::Table(self.rest.clone()),
        ))
    }
}

/// Names given and defaulted (`<type>-<n>`), unique within inputs or within outputs.
#[derive(Default)]
struct Names {
    seen: HashMap<String, usize>,
    per_type: HashMap<String, usize>,
    count: usize,
}

impl Names {
    fn assign(
        &mut self,
        loc: &Locator<'_>,
        full: &DeTable<'_>,
        s: &Split<'_>,
        section: &str,
    ) -> Result<String, ConfigError> {
        let n = self.per_type.entry(s.kind.clone()).or_default();
        *n += 1;
        let (name, span) = match &s.name {
            Some(v) => {
                let name = value::name(ValueDeserializer::from(v.clone()))
                    .map_err(|e| at_value(loc, full, v.span(), e))?
                    .unwrap_or_default();
                (name, v.span())
            }
            None => (format!("{}-{n}", s.kind), s.span.clone()),
        };
        let index = self.count;
        self.count += 1;
        if let Some(first) = self.seen.insert(name.clone(), index) {
            return Err(loc.error(
                Some(full),
                Some(span),
                format!(
                    "{section} name `{name}` is already used by {section}[{first}]; names key \
                     checkpoints and metrics, so each must be unique"
                ),
            ));
        }
        Ok(name)
    }
}
