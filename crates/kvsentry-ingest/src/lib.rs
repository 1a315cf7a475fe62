//! Readers for Azure Key Vault audit logs in every form they are exported in.
//!
//! Key Vault's `AuditEvent` records reach a user through many doors: Storage blobs
//! (`PT1H.json`, JSON Lines), Event Hubs messages (`{"records":[...]}`), Managed HSM style
//! arrays, Log Analytics exports of the `AzureDiagnostics` and `AZKVAuditLogs` tables (JSON, JSON
//! Lines, CSV, the REST API's `tables` shape) and Elastic `azure.platformlogs` documents. Each
//! form is mapped here, in one place per family, into the canonical
//! [`kvsentry_model::AuditEvent`], borrowing strings from the input buffer.
//!
//! The parse core ([`parse_lines`], [`parse_block`], [`detect`], [`sniff`]) is pure: no
//! globals, no I/O, so a parallel driver can hand blocks of lines to worker threads. The I/O
//! is one reader abstraction, a [`Source`] of [`Unit`]s (blocks of whole lines, whole
//! inputs); [`Files`] is the source of files and standard input (gzip by magic bytes, BOM,
//! UTF-16, detection, JSON Lines cut into blocks). [`read_input`] reads one input through it
//! on the caller's thread; kvsentry-runtime's pipeline reads many on every core.

mod container;
mod detect;
mod discover;
mod error;
mod event;
mod forms;
mod names;
mod read;
mod source;
mod stats;
mod text;
mod time;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use container::parse_lines;
pub use detect::{Detected, Foreign, detect, sniff};
pub use discover::{blob_hour, discover};
pub use error::IngestError;
pub use read::{parse_block, read_input, read_stream};
#[cfg(feature = "azure")]
pub use source::{
    BlobAccount, BlobAccountError, BlobCheckpoint, BlobOptions, BlobPosition, BlobSource,
};
pub use source::{
    Block, Checkpoint, FileIdentity, FilePosition, Files, Follow, FollowCheckpoint, FollowOptions,
    InputEnd, LineBlocks, Restart, RestartReason, Source, Stream, Unit, detect_input,
};
#[cfg(feature = "kafka")]
pub use source::{KafkaCheckpoint, KafkaOptions, KafkaSource, KafkaSourceError, SkippedMessage};
pub use stats::{ForeignInput, FormStats, MAX_NOTES, ReadStats, SkipNote, SkipReason};
pub use time::parse_time;

/// The forms kvsentry reads. `Auto` detects the form from the first bytes of each input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum LogFormat {
    #[default]
    Auto,
    /// Azure Monitor resource-log records, one JSON object per line (Storage `PT1H.json`), or
    /// one or several pretty-printed objects.
    Storage,
    /// `{"records":[...]}` envelopes (Event Hubs messages, Storage blobs before Nov 2018).
    EventHub,
    /// A bare JSON array of records (Managed HSM's shape).
    Array,
    /// Log Analytics `AzureDiagnostics` table exports (JSON, JSON Lines, CSV, REST `tables`).
    AzureDiagnostics,
    /// Log Analytics resource-specific `AZKVAuditLogs` table exports.
    Azkv,
    /// Elastic `azure.platformlogs` documents (NDJSON or `_search` responses).
    Ecs,
}

impl LogFormat {
    /// Every concrete form (without `Auto`), in a fixed order.
    pub const FORMS: [LogFormat; 6] = [
        LogFormat::Storage,
        LogFormat::EventHub,
        LogFormat::Array,
        LogFormat::AzureDiagnostics,
        LogFormat::Azkv,
        LogFormat::Ecs,
    ];

    /// The names accepted by [`FromStr`] (and so by a `--format` option), `auto` first.
    pub const NAMES: [&'static str; 7] = [
        "auto",
        "storage",
        "eventhub",
        "array",
        "azure-diagnostics",
        "azkv",
        "ecs",
    ];

    /// The form's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Auto => "auto",
            LogFormat::Storage => "storage",
            LogFormat::EventHub => "eventhub",
            LogFormat::Array => "array",
            LogFormat::AzureDiagnostics => "azure-diagnostics",
            LogFormat::Azkv => "azkv",
            LogFormat::Ecs => "ecs",
        }
    }

    /// True for forms whose records can come as CSV (the Log Analytics tables).
    pub fn is_table(self) -> bool {
        matches!(self, LogFormat::AzureDiagnostics | LogFormat::Azkv)
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--format` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown log format '{0}' (expected one of: auto, storage, eventhub, array, azure-diagnostics, azkv, ecs)"
)]
pub struct UnknownFormatName(pub String);

impl FromStr for LogFormat {
    type Err = UnknownFormatName;

    /// Case-insensitive; a few obvious aliases (`jsonl`, `event-hub`, `azurediagnostics`,
    /// `azkvauditlogs`, `elastic`, `mhsm`) are accepted too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        Ok(match l.as_str() {
            "auto" => LogFormat::Auto,
            "storage" | "jsonl" | "json-lines" | "pt1h" => LogFormat::Storage,
            "eventhub" | "event-hub" | "eventhubs" | "records" => LogFormat::EventHub,
            "array" | "mhsm" | "managed-hsm" => LogFormat::Array,
            "azure-diagnostics" | "azurediagnostics" | "azure_diagnostics" => {
                LogFormat::AzureDiagnostics
            }
            "azkv" | "azkvauditlogs" => LogFormat::Azkv,
            "ecs" | "elastic" => LogFormat::Ecs,
            _ => return Err(UnknownFormatName(s.to_string())),
        })
    }
}

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// One JSON value per line: read in chunks of lines, a bad line is skipped alone.
    JsonLines,
    /// One or several JSON values (pretty-printed, arrays, envelopes): read whole.
    JsonDocuments,
    /// CSV with a header row.
    Csv,
}

/// One input named on the command line: a file, or standard input (`path: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: Option<PathBuf>,
    /// How the input is named in messages (`<stdin>` for standard input).
    pub display: String,
}

impl Input {
    pub fn file(path: impl Into<PathBuf>) -> Input {
        let path = path.into();
        Input {
            display: path.display().to_string(),
            path: Some(path),
        }
    }

    pub fn stdin() -> Input {
        Input {
            path: None,
            display: "<stdin>".to_string(),
        }
    }
}

/// Options of a read, shared by every input of a run (and by worker threads).
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// `Auto` detects each input's form; anything else forces it.
    pub format: LogFormat,
    /// Deliver Managed HSM records (`.../MANAGEDHSMS/...`) instead of skipping them (as
    /// [`SkipReason::NotKeyVault`], counted in [`ReadStats::managed_hsm`]): the Storage
    /// container `insights-logs-auditevent` receives both.
    pub include_managed_hsm: bool,
    /// Size of the blocks of lines [`read_input`] hands to [`parse_lines`] for JSON Lines.
    pub chunk_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: LogFormat::Auto,
            include_managed_hsm: false,
            chunk_bytes: 1 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parallel driver shares the options and moves stats between threads.
    #[test]
    fn core_types_cross_threads() {
        fn sync<T: Sync + Send>() {}
        sync::<ReadOptions>();
        sync::<ReadStats>();
        sync::<Input>();
        sync::<IngestError>();
    }

    #[test]
    fn format_names_round_trip() {
        for name in LogFormat::NAMES {
            let f: LogFormat = name.parse().unwrap();
            assert_eq!(f.name(), name);
            assert_eq!(f.to_string(), name);
        }
        assert_eq!("AzureDiagnostics".parse(), Ok(LogFormat::AzureDiagnostics));
        assert_eq!("ELASTIC".parse(), Ok(LogFormat::Ecs));
        let e = "csv".parse::<LogFormat>().unwrap_err();
        assert!(e.to_string().contains("unknown log format 'csv'"));
    }
}
