//! Telling the form of an input from its first bytes.
//!
//! Detection reads the keys (and, for Log Analytics `tables`, the column names) that appear
//! in the head with a tolerant string scanner, so it works on a head cut anywhere, on
//! pretty-printed and minified JSON alike, and on the CSV header row.

use serde::de::IgnoredAny;

use crate::text::column_key;
use crate::{Container, LogFormat};

/// Detects the form and the layout of an input from its first bytes (after gunzip; a BOM
/// and leading whitespace are skipped). `None` when it is no form kvsentry reads (binary,
/// empty, other JSON such as AWS CloudTrail, other CSV); [`sniff`] says what it is instead.
///
/// Rules, first match wins:
/// - JSON with `eventSource` and `awsRegion` or `eventName` and no `operationName` or
///   `resourceId`: AWS CloudTrail, not a Key Vault log (its `Records` envelope would
///   otherwise pass for an Event Hubs one);
/// - JSON with `hits` + `_source`, `@timestamp` or `azure.platformlogs*` keys: `ecs`;
/// - JSON with `tables` + `columns`/`rows`: a Log Analytics REST response, `azkv` when the
///   table or columns are those of `AZKVAuditLogs`, else `azure-diagnostics`;
/// - JSON with a `records` key: `eventhub`;
/// - JSON or CSV with `TimeGenerated`: `azkv` for `Type` `AZKVAuditLogs` or its columns
///   (`Identity`, `HttpStatusCode`, `ClientInfo`, ...), `azure-diagnostics` for its typed
///   columns (`identity_claim_*`, `httpStatusCode_d`, ...), otherwise `azure-diagnostics`;
/// - JSON with `time`, or `operationName` with `resourceId`/`callerIpAddress`: `array` when
///   it starts with `[`, else `storage`.
///
/// The container: `[` is [`Container::JsonDocuments`]; `{` is [`Container::JsonLines`] when
/// the first line is a complete JSON value, else `JsonDocuments`; anything else is CSV.
pub fn detect(head: &[u8]) -> Option<(LogFormat, Container)> {
    sniff(head).ok().map(|d| (d.form, d.container))
}

/// A form found by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub form: LogFormat,
    pub container: Container,
    /// False when the head did not tell the two Log Analytics tables apart and
    /// `azure-diagnostics` is a guess: forcing `azkv` on such an input is no contradiction.
    pub certain: bool,
}

/// What an input is when it is none of the forms kvsentry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Foreign {
    /// Nothing, or only whitespace.
    Empty,
    /// AWS CloudTrail: a `{"Records":[...]}` file (`records_array`) or its events one per line.
    AwsCloudTrail { records_array: bool },
    /// JSON with none of the keys of a Key Vault log form.
    OtherJson,
    /// Text that is not JSON, or CSV without the `TimeGenerated` and `OperationName` columns.
    OtherText,
    /// Neither JSON nor text (a zip file, an image, ...).
    Binary,
}

impl Foreign {
    /// What the input looks like, in a user's words (completes "looks like ...").
    pub fn describe(self) -> &'static str {
        match self {
            Foreign::Empty => "an empty file",
            Foreign::AwsCloudTrail {
                records_array: true,
            } => "AWS CloudTrail (Records array)",
            Foreign::AwsCloudTrail {
                records_array: false,
            } => "AWS CloudTrail events",
            Foreign::OtherJson => "JSON of no Key Vault log form",
            Foreign::OtherText => "text or CSV of no Key Vault log form",
            Foreign::Binary => "binary data",
        }
    }

    /// True for logs of another product, recognised as such (not just unknown).
    pub fn is_other_product(self) -> bool {
        matches!(self, Foreign::AwsCloudTrail { .. })
    }
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// [`detect`] with the reasons: the form found, or what the input is instead. Runs once per
/// input, on its head; the reader's hot path never calls it.
pub fn sniff(head: &[u8]) -> Result<Detected, Foreign> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let Some(start) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(Foreign::Empty);
    };
    let head = &head[start..];
    match head.first() {
        Some(b'{' | b'[') => {
            let container = json_container(head);
            let (keys, values) = scan_strings(head);
            let (form, certain) = json_form(head[0] == b'[', &keys, &values)?;
            Ok(Detected {
                form,
                container,
                certain,
            })
        }
        _ => {
            let cols = csv_header(head).unwrap_or_default();
            if !cols.iter().any(|c| c == "timegenerated")
                || !cols.iter().any(|c| c == "operationname")
            {
                let first = head.split(|&b| b == b'\n').next().unwrap_or(head);
                let first = match std::str::from_utf8(first) {
                    Ok(t) => Some(t),
                    // A character cut by the end of the head.
                    Err(e) if e.error_len().is_none() => first
                        .get(..e.valid_up_to())
                        .and_then(|b| std::str::from_utf8(b).ok()),
                    Err(_) => None,
                };
                let text = first
                    .is_some_and(|t| !t.chars().any(|c| c.is_control() && c != '\t' && c != '\r'));
                return Err(if text {
                    Foreign::OtherText
                } else {
                    Foreign::Binary
                });
            }
            let (form, certain) = table_form(&cols, &[]);
            Ok(Detected {
                form,
                container: Container::Csv,
                certain,
            })
        }
    }
}

/// The layout of a JSON head (see [`detect`]); also used when the form is forced.
///
/// JSON Lines when one of the first few lines starts in its first column with `{` and is a
/// complete JSON value on its own (so one broken first line does not turn a JSON Lines file
/// into a document); pretty-printed documents have no such line.
pub(crate) fn json_container(head: &[u8]) -> Container {
    if head.first() == Some(&b'[') {
        return Container::JsonDocuments;
    }
    let complete_lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(8)
        .any(|l| l.first() == Some(&b'{') && serde_json::from_slice::<IgnoredAny>(l).is_ok());
    if complete_lines {
        Container::JsonLines
    } else {
        Container::JsonDocuments
    }
}

fn json_form(
    is_array: bool,
    keys: &[String],
    values: &[String],
) -> Result<(LogFormat, bool), Foreign> {
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("eventsource")
        && (has("awsregion") || has("eventname"))
        && !has("operationname")
        && !has("resourceid")
    {
        return Err(Foreign::AwsCloudTrail {
            records_array: has("records"),
        });
    }
    if (has("hits") && has("_source"))
        || has("@timestamp")
        || keys
            .iter()
            .any(|k| k.starts_with("azure.platformlogs") || k == "platformlogs")
    {
        return Ok((LogFormat::Ecs, true));
    }
    if has("tables") && (has("columns") || has("rows")) {
        return Ok(table_form(values, values));
    }
    if has("records") {
        return Ok((LogFormat::EventHub, true));
    }
    if has("timegenerated") {
        return Ok(table_form(keys, values));
    }
    if has("time") || (has("operationname") && (has("resourceid") || has("calleripaddress"))) {
        return Ok((
            if is_array {
                LogFormat::Array
            } else {
                LogFormat::Storage
            },
            true,
        ));
    }
    Err(Foreign::OtherJson)
}

/// `AZKVAuditLogs` or `AzureDiagnostics`, from column names and (JSON) values, and whether
/// anything told them apart (else `AzureDiagnostics` is a guess).
fn table_form(cols: &[String], values: &[String]) -> (LogFormat, bool) {
    if values.iter().any(|v| v == "azkvauditlogs") {
        return (LogFormat::Azkv, true);
    }
    if values.iter().any(|v| v == "azurediagnostics") {
        return (LogFormat::AzureDiagnostics, true);
    }
    let typed = [
        "httpstatuscode_d",
        "clientinfo_s",
        "requesturi_s",
        "id_s",
        "tlsversion_s",
        "resourcetype",
    ];
    if cols
        .iter()
        .any(|c| c.starts_with("identity_claim") || typed.contains(&c.as_str()))
    {
        return (LogFormat::AzureDiagnostics, true);
    }
    let azkv = [
        "identity",
        "httpstatuscode",
        "clientinfo",
        "requesturi",
        "tlsversion",
    ];
    if cols.iter().any(|c| azkv.contains(&c.as_str())) {
        return (LogFormat::Azkv, true);
    }
    (LogFormat::AzureDiagnostics, false)
}

/// The column names of a CSV header row, normalised like [`column_key`].
fn csv_header(head: &[u8]) -> Option<Vec<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(head);
    let mut rec = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut rec).ok()? {
        return None;
    }
    let cols: Vec<String> = rec
        .iter()
        .map(|c| column_key(&String::from_utf8_lossy(c)))
        .collect();
    Some(cols)
}

/// The strings of a JSON head, lower-cased, split into keys (followed by `:`) and values.
/// Tolerant: escapes are skipped over, a string cut by the end of the head or by a newline
/// (never inside a JSON string) is dropped, so one broken line does not shift the rest.
fn scan_strings(head: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut i = 0;
    while i < head.len() && keys.len() + values.len() < 4096 {
        if head[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        let mut closed = false;
        while j < head.len() {
            match head[j] {
                b'\\' => j += 2,
                b'"' => {
                    closed = true;
                    break;
                }
                b'\n' => break,
                _ => j += 1,
            }
        }
        if !closed {
            if j < head.len() {
                i = j + 1;
                continue;
            }
            break;
        }
        let s = String::from_utf8_lossy(&head[start..j]).to_ascii_lowercase();
        let mut k = j + 1;
        while k < head.len() && head[k].is_ascii_whitespace() {
            k += 1;
        }
        if head.get(k) == Some(&b':') {
            keys.push(s);
        } else if s.len() <= 64 {
            values.push(s);
        }
        i = j + 1;
    }
    (keys, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<(LogFormat, Container)> {
        detect(s.as_bytes())
    }

    #[test]
    fn detects_each_form() {
        use Container::*;
        use LogFormat::*;
        assert_eq!(
            d("{\"time\":\"x\",\"operationName\":\"VaultGet\"}\n{\"time\""),
            Some((Storage, JsonLines))
        );
        assert_eq!(
            d("\u{feff}{\n  \"time\": \"x\",\n"),
            Some((Storage, JsonDocuments))
        );
        assert_eq!(
            d("    {\n  \"records\":\n  ["),
            Some((EventHub, JsonDocuments))
        );
        assert_eq!(
            d("{\"records\":[{\"time\":1}]}\n"),
            Some((EventHub, JsonLines))
        );
        assert_eq!(
            d("[\n  {\n  \"TenantId\": \"t\",\n \"time\": \"2020"),
            Some((Array, JsonDocuments))
        );
        assert_eq!(
            d(
                "[{\"CallerIPAddress\":\"x\",\"TimeGenerated\":\"t\",\"identity_claim_upn_s\":\"\"}]"
            ),
            Some((AzureDiagnostics, JsonDocuments))
        );
        assert_eq!(
            d(
                "{\"TimeGenerated\":\"t\",\"CallerIpAddress\":\"x\",\"Identity\":\"{}\",\"HttpStatusCode\":200}\n"
            ),
            Some((Azkv, JsonLines))
        );
        assert_eq!(
            d("{\"TimeGenerated\":\"t\",\"Type\":\"AZKVAuditLogs\"}"),
            Some((Azkv, JsonLines))
        );
        assert_eq!(
            d(
                "{\"tables\":[{\"name\":\"PrimaryResult\",\"columns\":[{\"name\":\"TimeGenerated\"},{\"name\":\"httpStatusCode_d\"}"
            ),
            Some((AzureDiagnostics, JsonDocuments))
        );
        assert_eq!(
            d("{\"tables\":[{\"columns\":[{\"name\":\"TimeGenerated\"},{\"name\":\"Identity\"}"),
            Some((Azkv, JsonDocuments))
        );
        assert_eq!(
            d("{\"@timestamp\":\"t\",\"event\":{}}\n"),
            Some((Ecs, JsonLines))
        );
        assert_eq!(
            d("{\"azure.platformlogs.operation_name\":\"SecretGet\"}"),
            Some((Ecs, JsonLines))
        );
        assert_eq!(
            d("{\n\"took\": 3,\n\"hits\": {\"hits\": [{\"_index\":\"x\",\"_source\":{"),
            Some((Ecs, JsonDocuments))
        );
        assert_eq!(
            d("TimeGenerated [UTC],OperationName,CallerIPAddress,identity_claim_upn_s\r\n"),
            Some((AzureDiagnostics, Csv))
        );
        assert_eq!(
            d("\"TimeGenerated\",\"OperationName\",\"CallerIpAddress\",\"Identity\"\n"),
            Some((Azkv, Csv))
        );
    }

    #[test]
    fn one_broken_first_line_does_not_hide_the_form() {
        use Container::*;
        use LogFormat::*;
        let text = "{'time\": \"x\", \"operationName\": \"A\"}\n{\"time\": \"x\", \"operationName\": \"B\"}\n";
        assert_eq!(d(text), Some((Storage, JsonLines)));
        // Indented one-line objects inside a pretty document do not make it JSON Lines.
        let pretty = "{\n  \"records\": [\n    {\"time\": \"x\"}\n  ]\n}\n";
        assert_eq!(d(pretty), Some((EventHub, JsonDocuments)));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        assert_eq!(d(""), None);
        assert_eq!(d(" \n\t"), None);
        assert_eq!(detect(b"\x1f\x8b\x08\x00"), None);
        assert_eq!(detect(b"\x00\x01\x02\xff\xfe"), None);
        assert_eq!(d("{\"name\":\"x\",\"value\":1}"), None);
        assert_eq!(d("a,b,c\n1,2,3\n"), None);
        assert_eq!(d("PK\x03\x04"), None);
    }
}
