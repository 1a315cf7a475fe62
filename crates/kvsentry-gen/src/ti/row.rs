//! One row of the `ThreatIntelligenceIndicator` table and its CSV and JSON-lines exports.

use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::GenError;
use crate::fmt::{push_csv_quoted, push_json_str, push_time, push_u64, push_us_time, ticks_of};

/// One row of the table (one version of one indicator). Columns not listed are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentinelIndicatorRow {
    pub tenant_id: String,
    pub time_generated: Timestamp,
    pub source_system: String,
    pub action: String,
    pub azure_tenant_id: String,
    pub confidence_score: u8,
    pub description: String,
    pub external_indicator_id: String,
    pub expiration: Timestamp,
    pub indicator_id: String,
    pub threat_type: String,
    pub active: bool,
    pub tags: String,
    pub traffic_light_protocol_level: String,
    pub email_source_ip_address: String,
    pub file_hash_type: String,
    pub file_hash_value: String,
    pub domain_name: String,
    pub network_ip: String,
    pub network_destination_ip: String,
    pub network_source_ip: String,
    pub url: String,
    pub indicator_provider: String,
    /// Not a Sentinel column: why the generator made this indicator (`live`,
    /// `inactive_latest`, `reactivated`, `expired`, `stale`, `non_global`, `non_ip`, or
    /// `scenario` for an address of an `ips:` scenario).
    pub note: String,
}

/// Columns of the portal's CSV export, in order (times carry the export's time zone).
pub(crate) const CSV_COLUMNS: &[&str] = &[
    "TenantId",
    "TimeGenerated [UTC]",
    "SourceSystem",
    "Action",
    "ActivityGroupNames",
    "AdditionalInformation",
    "ApplicationId",
    "AzureTenantId",
    "ConfidenceScore",
    "Description",
    "DiamondModel",
    "ExternalIndicatorId",
    "ExpirationDateTime [UTC]",
    "IndicatorId",
    "ThreatType",
    "Active",
    "KillChainActions",
    "KillChainC2",
    "KillChainDelivery",
    "KillChainExploitation",
    "KillChainReconnaissance",
    "KillChainWeaponization",
    "KnownFalsePositives",
    "MalwareNames",
    "PassiveOnly",
    "ThreatSeverity",
    "Tags",
    "TrafficLightProtocolLevel",
    "EmailEncoding",
    "EmailLanguage",
    "EmailRecipient",
    "EmailSenderAddress",
    "EmailSenderName",
    "EmailSourceDomain",
    "EmailSourceIpAddress",
    "EmailSubject",
    "EmailXMailer",
    "FileCompileDateTime [UTC]",
    "FileCreatedDateTime [UTC]",
    "FileHashType",
    "FileHashValue",
    "FileMutexName",
    "FileName",
    "FilePacker",
    "FilePath",
    "FileSize",
    "FileType",
    "DomainName",
    "NetworkIP",
    "NetworkPort",
    "NetworkDestinationAsn",
    "NetworkDestinationCidrBlock",
    "NetworkDestinationIP",
    "NetworkCidrBlock",
    "NetworkDestinationPort",
    "NetworkProtocol",
    "NetworkSourceAsn",
    "NetworkSourceCidrBlock",
    "NetworkSourceIP",
    "NetworkSourcePort",
    "Url",
    "UserAgent",
    "IndicatorProvider",
    "Type",
];

enum Val<'a> {
    Empty,
    Str(&'a str),
    Time(Timestamp),
    Num(u64),
    Bool(bool),
}

impl SentinelIndicatorRow {
    fn value(&self, column: &str) -> Val<'_> {
        fn s(v: &str) -> Val<'_> {
            if v.is_empty() {
                Val::Empty
            } else {
                Val::Str(v)
            }
        }
        match column.trim_end_matches(" [UTC]") {
            "TenantId" => s(&self.tenant_id),
            "TimeGenerated" => Val::Time(self.time_generated),
            "SourceSystem" => s(&self.source_system),
            "Action" => s(&self.action),
            "AzureTenantId" => s(&self.azure_tenant_id),
            "ConfidenceScore" => Val::Num(u64::from(self.confidence_score)),
            "Description" => s(&self.description),
            "ExternalIndicatorId" => s(&self.external_indicator_id),
            "ExpirationDateTime" => Val::Time(self.expiration),
            "IndicatorId" => s(&self.indicator_id),
            "ThreatType" => s(&self.threat_type),
            "Active" => Val::Bool(self.active),
            "Tags" => s(&self.tags),
            "TrafficLightProtocolLevel" => s(&self.traffic_light_protocol_level),
            "EmailSourceIpAddress" => s(&self.email_source_ip_address),
            "FileHashType" => s(&self.file_hash_type),
            "FileHashValue" => s(&self.file_hash_value),
            "DomainName" => s(&self.domain_name),
            "NetworkIP" => s(&self.network_ip),
            "NetworkDestinationIP" => s(&self.network_destination_ip),
            "NetworkSourceIP" => s(&self.network_source_ip),
            "Url" => s(&self.url),
            "IndicatorProvider" => s(&self.indicator_provider),
            "Type" => Val::Str("ThreatIntelligenceIndicator"),
            _ => Val::Empty,
        }
    }

    /// The address the Sentinel rule takes from the row: `NetworkIP`, else
    /// `NetworkDestinationIP`, else `NetworkSourceIP`, else `EmailSourceIpAddress`.
    pub fn ti_ip_entity(&self) -> Option<&str> {
        [
            &self.network_ip,
            &self.network_destination_ip,
            &self.network_source_ip,
            &self.email_source_ip_address,
        ]
        .into_iter()
        .find(|v| !v.is_empty())
        .map(String::as_str)
    }
}

/// Portal CSV quoting: values made only of ASCII letters and digits go bare, the rest quoted.
fn push_portal_cell(buf: &mut Vec<u8>, s: &str) {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        buf.extend_from_slice(s.as_bytes());
    } else {
        push_csv_quoted(buf, s);
    }
}

/// Writes rows as the Azure portal exports a query result to CSV: UTF-8 BOM, `[UTC]` on time
/// column names, US-locale times (`7/19/2024, 4:40:10.716 PM`).
pub fn write_indicators_csv(
    rows: &[SentinelIndicatorRow],
    mut out: impl Write,
) -> Result<(), GenError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice("\u{feff}".as_bytes());
    for (i, c) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if c.contains(' ') {
            push_csv_quoted(&mut buf, c);
        } else {
            buf.extend_from_slice(c.as_bytes());
        }
    }
    buf.extend_from_slice(b"\r\n");
    for row in rows {
        for (i, c) in CSV_COLUMNS.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            match row.value(c) {
                Val::Empty => {}
                Val::Str(s) => push_portal_cell(&mut buf, s),
                Val::Time(t) => {
                    buf.push(b'"');
                    push_us_time(&mut buf, ticks_of(t));
                    buf.push(b'"');
                }
                Val::Num(n) => push_u64(&mut buf, n),
                Val::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
            }
        }
        buf.extend_from_slice(b"\r\n");
        if buf.len() > 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}

/// Writes rows as JSON lines with the table's column names and ISO 8601 times
/// (`2024-07-19T16:40:10.716Z`); empty strings stay `""`, empty times are `null`.
pub fn write_indicators_jsonl(
    rows: &[SentinelIndicatorRow],
    mut out: impl Write,
) -> Result<(), GenError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    for row in rows {
        buf.push(b'{');
        for (i, c) in CSV_COLUMNS.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let name = c.trim_end_matches(" [UTC]");
            push_json_str(&mut buf, name);
            buf.push(b':');
            match row.value(c) {
                Val::Empty if c.ends_with(" [UTC]") => buf.extend_from_slice(b"null"),
                Val::Empty => buf.extend_from_slice(b"\"\""),
                Val::Str(s) => push_json_str(&mut buf, s),
                Val::Time(t) => {
                    buf.push(b'"');
                    push_time(&mut buf, ticks_of(t), 3);
                    buf.push(b'"');
                }
                Val::Num(n) => push_u64(&mut buf, n),
                Val::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
            }
        }
        buf.extend_from_slice(b"}\n");
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}
