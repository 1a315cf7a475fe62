//! Output forms and the streaming writer that renders events into them.

mod ecs;
mod raw;
mod table;

pub use table::DIAG_COLUMNS;

use std::fmt;
use std::str::FromStr;

use crate::error::GenError;
use crate::event::EventRef;
use crate::fmt::{push_time, push_u64};

/// How table rows are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableEncoding {
    /// One JSON array of row objects (empty columns left out).
    JsonArray,
    /// One row object per line.
    JsonLines,
    /// CSV with a header row, every column present.
    Csv,
}

/// The shape of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// Storage blob today: JSON lines, one raw record per line.
    Storage,
    /// Event Hubs messages (and pre-2018 blobs): `{"records":[...]}`, one message per line.
    EventHub,
    /// A bare JSON array of raw records.
    Array,
    /// Log Analytics `AzureDiagnostics` rows.
    AzureDiagnostics(TableEncoding),
    /// Log Analytics `AZKVAuditLogs` rows (Key Vault records only).
    Azkv(TableEncoding),
    /// Elastic `azure.platformlogs` documents, one per line.
    Ecs,
    /// Elastic `_search` responses, one page of hits per line.
    EcsSearch,
}

/// An output form, optionally gzip-compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub kind: FormKind,
    pub gzip: bool,
}

impl From<FormKind> for Form {
    fn from(kind: FormKind) -> Form {
        Form { kind, gzip: false }
    }
}

/// The names accepted by [`Form::from_str`] (each may end in `.gz`).
pub const FORM_NAMES: &[&str] = &[
    "storage",
    "eventhub",
    "array",
    "azure-diagnostics",
    "azure-diagnostics-jsonl",
    "azure-diagnostics-csv",
    "azkv",
    "azkv-jsonl",
    "azkv-csv",
    "ecs",
    "ecs-search",
];

impl FromStr for Form {
    type Err = GenError;

    fn from_str(s: &str) -> Result<Form, GenError> {
        let (name, gzip) = match s.strip_suffix(".gz") {
            Some(n) => (n, true),
            None => (s, false),
        };
        use TableEncoding::*;
        let kind = match name {
            "storage" | "jsonl" => FormKind::Storage,
            "eventhub" | "records" => FormKind::EventHub,
            "array" => FormKind::Array,
            "azure-diagnostics" | "azure-diagnostics-json" => FormKind::AzureDiagnostics(JsonArray),
            "azure-diagnostics-jsonl" => FormKind::AzureDiagnostics(JsonLines),
            "azure-diagnostics-csv" => FormKind::AzureDiagnostics(Csv),
            "azkv" | "azkv-json" => FormKind::Azkv(JsonArray),
            "azkv-jsonl" => FormKind::Azkv(JsonLines),
            "azkv-csv" => FormKind::Azkv(Csv),
            "ecs" => FormKind::Ecs,
            "ecs-search" => FormKind::EcsSearch,
            other => {
                return Err(GenError::Form(format!(
                    "unknown form `{other}`; one of {} (optionally ending in .gz)",
                    FORM_NAMES.join(", ")
                )));
            }
        };
        Ok(Form { kind, gzip })
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            FormKind::Storage => "storage",
            FormKind::EventHub => "eventhub",
            FormKind::Array => "array",
            FormKind::AzureDiagnostics(TableEncoding::JsonArray) => "azure-diagnostics",
            FormKind::AzureDiagnostics(TableEncoding::JsonLines) => "azure-diagnostics-jsonl",
            FormKind::AzureDiagnostics(TableEncoding::Csv) => "azure-diagnostics-csv",
            FormKind::Azkv(TableEncoding::JsonArray) => "azkv",
            FormKind::Azkv(TableEncoding::JsonLines) => "azkv-jsonl",
            FormKind::Azkv(TableEncoding::Csv) => "azkv-csv",
            FormKind::Ecs => "ecs",
            FormKind::EcsSearch => "ecs-search",
        };
        f.write_str(name)?;
        if self.gzip {
            f.write_str(".gz")?;
        }
        Ok(())
    }
}

impl Form {
    /// File name `write_dir` uses for forms written as one file.
    pub fn file_name(&self) -> String {
        use TableEncoding::*;
        let base = match self.kind {
            FormKind::Storage => "storage.jsonl",
            FormKind::EventHub => "eventhub.jsonl",
            FormKind::Array => "records.json",
            FormKind::AzureDiagnostics(JsonArray) => "AzureDiagnostics.json",
            FormKind::AzureDiagnostics(JsonLines) => "AzureDiagnostics.jsonl",
            FormKind::AzureDiagnostics(Csv) => "AzureDiagnostics.csv",
            FormKind::Azkv(JsonArray) => "AZKVAuditLogs.json",
            FormKind::Azkv(JsonLines) => "AZKVAuditLogs.jsonl",
            FormKind::Azkv(Csv) => "AZKVAuditLogs.csv",
            FormKind::Ecs => "ecs.ndjson",
            FormKind::EcsSearch => "ecs-search.jsonl",
        };
        if self.gzip {
            format!("{base}.gz")
        } else {
            base.to_string()
        }
    }
}

/// Renders events of one form into a buffer: `begin`, `record` per event, `end`.
pub(crate) struct FormWriter {
    kind: FormKind,
    batch: usize,
    in_batch: usize,
    records: u64,
    scratch: Vec<u8>,
    row: table::Row,
}

impl FormWriter {
    pub fn new(kind: FormKind, batch: usize) -> FormWriter {
        FormWriter {
            kind,
            batch: batch.max(1),
            in_batch: 0,
            records: 0,
            scratch: Vec::with_capacity(1024),
            row: table::Row::default(),
        }
    }

    pub fn begin(&mut self, buf: &mut Vec<u8>) {
        use TableEncoding::*;
        match self.kind {
            FormKind::Array | FormKind::AzureDiagnostics(JsonArray) | FormKind::Azkv(JsonArray) => {
                buf.push(b'[')
            }
            FormKind::AzureDiagnostics(Csv) => table::push_csv_header(buf, table::DIAG_COLUMNS),
            FormKind::Azkv(Csv) => table::push_csv_header(buf, table::AZKV_COLUMNS),
            _ => {}
        }
    }

    /// Appends one event; false when the form has no place for it (e.g. Managed HSM records
    /// in `AZKVAuditLogs`).
    pub fn record(&mut self, buf: &mut Vec<u8>, ev: &EventRef) -> bool {
        match self.kind {
            FormKind::Storage => {
                raw::push_record(buf, ev, &mut self.scratch);
                buf.push(b'\n');
            }
            FormKind::Array => {
                if self.records > 0 {
                    buf.extend_from_slice(b",\n");
                } else {
                    buf.push(b'\n');
                }
                raw::push_record(buf, ev, &mut self.scratch);
            }
            FormKind::EventHub => {
                buf.extend_from_slice(if self.in_batch == 0 {
                    b"{\"records\":["
                } else {
                    b","
                });
                raw::push_record(buf, ev, &mut self.scratch);
                self.in_batch += 1;
                if self.in_batch == self.batch {
                    buf.extend_from_slice(b"]}\n");
                    self.in_batch = 0;
                }
            }
            FormKind::AzureDiagnostics(enc) => {
                table::diag_row(&mut self.row, ev);
                self.emit_row(buf, enc, table::DIAG_COLUMNS);
            }
            FormKind::Azkv(enc) => {
                if !table::azkv_row(&mut self.row, ev) {
                    return false;
                }
                self.emit_row(buf, enc, table::AZKV_COLUMNS);
            }
            FormKind::Ecs => {
                ecs::push_doc(buf, ev, &mut self.scratch);
                buf.push(b'\n');
            }
            FormKind::EcsSearch => {
                if self.in_batch == 0 {
                    buf.extend_from_slice(b"{\"took\":");
                    push_u64(buf, 3 + self.records % 17);
                    buf.extend_from_slice(b",\"timed_out\":false,\"_shards\":{\"total\":1,\"successful\":1,\"skipped\":0,\"failed\":0},\"hits\":{\"total\":{\"value\":10000,\"relation\":\"gte\"},\"max_score\":null,\"hits\":[");
                } else {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"_index\":\"");
                ecs::push_index(buf, ev.ev.ticks);
                buf.extend_from_slice(b"\",\"_id\":\"");
                ecs::push_doc_id(buf, ev.ev.corr.rotate_left(17));
                buf.extend_from_slice(b"\",\"_score\":null,\"_source\":");
                ecs::push_doc(buf, ev, &mut self.scratch);
                buf.extend_from_slice(b",\"sort\":[");
                push_u64(buf, (ev.ev.ticks / 10_000).max(0) as u64);
                buf.extend_from_slice(b"]}");
                self.in_batch += 1;
                if self.in_batch == self.batch {
                    buf.extend_from_slice(b"]}}\n");
                    self.in_batch = 0;
                }
            }
        }
        self.records += 1;
        true
    }

    fn emit_row(&mut self, buf: &mut Vec<u8>, enc: TableEncoding, columns: &[&str]) {
        match enc {
            TableEncoding::JsonArray => {
                buf.extend_from_slice(if self.records > 0 { b",\n" } else { b"\n" });
                self.row.push_json(buf, columns);
            }
            TableEncoding::JsonLines => {
                self.row.push_json(buf, columns);
                buf.push(b'\n');
            }
            TableEncoding::Csv => self.row.push_csv(buf),
        }
    }

    pub fn end(&mut self, buf: &mut Vec<u8>) {
        use TableEncoding::*;
        match self.kind {
            FormKind::Array | FormKind::AzureDiagnostics(JsonArray) | FormKind::Azkv(JsonArray) => {
                buf.extend_from_slice(b"\n]\n")
            }
            FormKind::EventHub if self.in_batch > 0 => buf.extend_from_slice(b"]}\n"),
            FormKind::EcsSearch if self.in_batch > 0 => buf.extend_from_slice(b"]}}\n"),
            _ => {}
        }
        self.in_batch = 0;
    }
}

/// Appends the Storage blob path of an event's hour, relative to the container:
/// `resourceId=/SUBSCRIPTIONS/.../VAULTS/NAME/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`.
pub fn push_blob_path(buf: &mut Vec<u8>, resource_id: &str, ticks: i64) {
    buf.extend_from_slice(b"resourceId=");
    buf.extend_from_slice(resource_id.as_bytes());
    let mut t = Vec::with_capacity(24);
    push_time(&mut t, ticks, 0);
    let g = |a: usize, b: usize| t.get(a..b).unwrap_or(b"00").to_vec();
    buf.extend_from_slice(b"/y=");
    buf.extend_from_slice(&g(0, 4));
    buf.extend_from_slice(b"/m=");
    buf.extend_from_slice(&g(5, 7));
    buf.extend_from_slice(b"/d=");
    buf.extend_from_slice(&g(8, 10));
    buf.extend_from_slice(b"/h=");
    buf.extend_from_slice(&g(11, 13));
    buf.extend_from_slice(b"/m=00/PT1H.json");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GenConfig;
    use crate::generate::Generator;

    fn render(kind: FormKind, batch: usize, n: u64) -> String {
        let g = Generator::new(&GenConfig::default().events(n)).unwrap();
        let mut w = FormWriter::new(kind, batch);
        let mut buf = Vec::new();
        w.begin(&mut buf);
        for ev in g.events() {
            w.record(&mut buf, &ev);
        }
        w.end(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn envelopes_close_partial_batches() {
        let s = render(FormKind::EventHub, 4, 10);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines
                .iter()
                .all(|l| l.starts_with("{\"records\":[{") && l.ends_with("}]}"))
        );
        let s = render(FormKind::EcsSearch, 4, 8);
        assert_eq!(s.lines().count(), 2);
        assert_eq!(render(FormKind::Array, 1, 0), "[\n]\n");
        assert_eq!(render(FormKind::Storage, 1, 0), "");
        assert!(
            render(FormKind::Azkv(TableEncoding::Csv), 1, 0)
                .starts_with("TenantId,TimeGenerated,OperationName,")
        );
    }

    #[test]
    fn blob_path_layout() {
        let mut b = Vec::new();
        let t = crate::fmt::ticks_of("2025-06-30T13:45:00Z".parse().unwrap());
        push_blob_path(
            &mut b,
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV",
            t,
        );
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/y=2025/m=06/d=30/h=13/m=00/PT1H.json"
        );
    }
}
