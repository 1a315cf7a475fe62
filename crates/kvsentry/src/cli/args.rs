//! Command-line arguments (clap derive). Parsing only: the commands live beside this file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kvsentry",
    version,
    about = "Threat detection for Azure Key Vault audit logs",
    long_about = "Threat detection for Azure Key Vault audit logs.\n\nReads the AuditEvent \
                  diagnostic logs in every form Azure and Elastic produce them (Storage blobs, \
                  Event Hubs envelopes, Log Analytics exports, Elastic documents), normalises \
                  them, and runs detection rules faithful to Elastic Security and Microsoft \
                  Sentinel.",
    after_help = "Exit codes: 0 the run completed (alerts or not), 1 runtime failure, \
                  2 usage/rule/intel error, 3 records skipped with --strict, \
                  4 alerts fired with --fail-on-alert."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the detection rules over log files and print alerts.
    Hunt(HuntArgs),
    /// Print the normalised events as JSON lines, in input order: exactly what rules see.
    Events(EventsArgs),
    /// List, show and validate detection rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate realistic, seeded Key Vault logs (with injected attacks) in any form.
    Gen(GenArgs),
    /// Threat intelligence: load, inspect, check an IP, sync from TAXII.
    Ti(TiArgs),
}

#[derive(Debug, Args)]
pub struct TiArgs {
    #[command(subcommand)]
    pub command: TiCommand,
}

/// How to read indicator files (shared by `hunt --ti` and `ti`).
#[derive(Debug, Args, Clone)]
pub struct TiReadArgs {
    /// Force the indicator format: sentinel, sentinel-stix, stix, misp, text, csv.
    #[arg(long, value_name = "FORMAT")]
    pub ti_format: Option<String>,
    /// CSV indicators: the column holding the IP.
    #[arg(long, value_name = "COLUMN")]
    pub ti_ip_column: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct TiSource {
    /// Indicator files or directories (Sentinel exports, STIX bundles, MISP feeds, IP lists,
    /// CSV, or a store written by `ti sync`).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub read: TiReadArgs,
    /// Select as one run of the Sentinel rule at this time would (default: retro-hunt).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Reproduce Sentinel's selection to the letter (drops IPv6 and CIDRs, ...).
    #[arg(long)]
    pub compat: bool,
}

#[derive(Debug, Subcommand)]
pub enum TiCommand {
    /// What was loaded, and how many indicators were excluded and why.
    Stats(TiSource),
    /// The selected indicators as JSON lines.
    List {
        #[command(flatten)]
        source: TiSource,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Which selected indicators cover an IP.
    Check {
        /// The address to look up.
        ip: String,
        #[command(flatten)]
        source: TiSource,
        /// Also say whether an event at this time would match (before the expiration).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Fetch a TAXII 2.1 collection into a local store (only what was added since last time).
    Sync {
        /// The TAXII server (discovery at `<URL>/taxii2/`).
        #[arg(long, value_name = "URL")]
        taxii: String,
        /// The collection id.
        #[arg(long, value_name = "ID")]
        collection: String,
        /// The local store directory (hunt with `--ti DIR`).
        #[arg(long, value_name = "DIR", default_value = "ti-store")]
        store: std::path::PathBuf,
        /// The API root URL (default: the server's default API root).
        #[arg(long, value_name = "URL")]
        api_root: Option<String>,
        /// Basic auth user.
        #[arg(long)]
        user: Option<String>,
        /// Basic auth password (or set it in KVSENTRY_TAXII_PASSWORD).
        #[arg(long, env = "KVSENTRY_TAXII_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Bearer token (or KVSENTRY_TAXII_TOKEN).
        #[arg(long, env = "KVSENTRY_TAXII_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Objects per page.
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files, directories (recursive), globs, or `-` for stdin; `.gz` is read transparently.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Force one log form instead of detecting it per file.
    #[arg(long, value_name = "FORM")]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    /// Azure Monitor resource logs as JSON lines (Storage account PT1H.json blobs).
    Storage,
    /// `{"records":[...]}` envelopes (Event Hubs messages, pre-2018 blobs).
    Eventhub,
    /// A bare JSON array of records.
    Array,
    /// Log Analytics `AzureDiagnostics` export (JSON, JSON lines or CSV).
    AzureDiagnostics,
    /// Log Analytics `AZKVAuditLogs` export (JSON, JSON lines or CSV).
    Azkv,
    /// Elastic `azure.platformlogs` documents (NDJSON or `_search` responses).
    Ecs,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// One line per alert fitted to the terminal, then counts per rule, identity and vault.
    Table,
    /// Every alert with its key fields, wrapped over several lines.
    TableDetail,
    Jsonl,
    /// One JSON array of every alert.
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Extra rule files or directories; a rule with a built-in's id replaces it.
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Run only the user's rules from --rules, not the built-in pack.
    #[arg(long)]
    pub no_builtin: bool,
    /// Output form (default: from -o's extension, else table on a terminal, jsonl when piped).
    #[arg(long, short = 'f')]
    pub format: Option<FormatArg>,
    /// Write alerts to this file instead of stdout; `.csv`, `.jsonl`/`.ndjson` and `.json` (an
    /// array) choose the form unless -f is given.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print only this alert, whole with its evidence (an id or a unique prefix of one, as the
    /// table shows); with -f json/jsonl as JSON.
    #[arg(long, value_name = "ID")]
    pub alert: Option<String>,
    /// Show why groups did or did not reach this rule's condition (on stderr).
    #[arg(long, value_name = "RULE_ID")]
    pub explain: Option<String>,
    /// Exit with code 3 when any record or file was skipped.
    #[arg(long)]
    pub strict: bool,
    /// Exit with code 4 when any alert fired (for CI pipelines).
    #[arg(long)]
    pub fail_on_alert: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    pub threads: Option<usize>,
    /// Memory for sorting input that is not in time order (e.g. 512MiB, 2GiB); beyond it
    /// rows are sorted on disk.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub memory_limit: String,
    /// Directory for sorting on disk (default: the system's temporary directory, $TMPDIR).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Threat-intel indicators for the TI rule (repeatable): Sentinel exports, STIX bundles,
    /// MISP feeds, IP lists, CSV, or a store written by `kvsentry ti sync`.
    #[arg(long, value_name = "PATH")]
    pub ti: Vec<PathBuf>,
    #[command(flatten)]
    pub ti_read: TiReadArgs,
    /// Evaluate the TI rule as one Sentinel run at this time would (default: retro-hunt).
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Reproduce Sentinel's TI query to the letter (sets `sentinel_compat` on TI rules).
    #[arg(long)]
    pub sentinel_compat: bool,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// No summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Only events at or after this time (RFC 3339 or a date).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339 or a date).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events whose dictionary field has this value, ignoring case (repeatable: all must
    /// hold); an empty VALUE matches a missing field. Events print in input order, unsorted.
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// One line per rule: id, kind, severity, enabled, name.
    List(RuleSource),
    /// Print one rule as YAML.
    Show {
        /// The rule's id.
        id: String,
        #[command(flatten)]
        source: RuleSource,
    },
    /// Check rule files and report every error with file, line and reason.
    Validate {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RuleSource {
    /// Extra rule files or directories (override built-ins by id).
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output form: storage, eventhub, array, azure-diagnostics[-jsonl|-csv],
    /// azkv[-jsonl|-csv], ecs, ecs-search; append `.gz` to gzip.
    #[arg(long, default_value = "storage")]
    pub form: String,
    /// Output file (default stdout); with --storage-layout, a directory.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write a directory in the Storage account's layout
    /// (`resourceId=/SUBSCRIPTIONS/.../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`).
    #[arg(long)]
    pub storage_layout: bool,
    /// Gzip the output.
    #[arg(long)]
    pub gzip: bool,
    /// Random seed: same seed, same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Background events (injected scenarios come on top).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// First event time (RFC 3339 or a date).
    #[arg(long, default_value = "2025-06-30T00:00:00Z")]
    pub start: String,
    /// Time span covered, e.g. 2h, 1d.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Attack scenarios to inject (repeatable): `standard` (one of each), `burst[:user|sp|mi[:CALLS[:OPS]]]`,
    /// `near-miss-count`, `near-miss-single-op`, `straddle[:BEFORE:AFTER]`, `sp-burst[:CALLS]`,
    /// `mi-burst[:CALLS]`, `ips:IP[,IP...]:CALLS`; add `@TIME` to place one.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Vec<String>,
    /// Mix in Managed HSM and other-category records (that readers must skip).
    #[arg(long)]
    pub mixed: bool,
    /// Write the ground truth of what was injected (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub ground_truth: Option<PathBuf>,
    /// Also write this many Sentinel `ThreatIntelligenceIndicator` export rows (IP indicators,
    /// several versions per id, some inactive, expired or private) to --indicators-output.
    #[arg(long, value_name = "N", requires = "indicators_output")]
    pub indicators: Option<usize>,
    /// Where to write the indicators: `.csv` as the portal exports them, else JSON lines.
    #[arg(long, value_name = "FILE")]
    pub indicators_output: Option<PathBuf>,
    /// Share of indicators whose IP is a caller in the generated logs.
    #[arg(long, default_value_t = 0.05)]
    pub match_share: f64,
    /// Evaluation time the indicators are made for (default: the end of the log span); also
    /// the `--as-of` time of the expected TI matches.
    #[arg(long, value_name = "TIME")]
    pub ti_at: Option<String>,
    /// Write the (indicator id, IP) pairs a Sentinel run at --ti-at must alert on (JSON).
    #[arg(long, value_name = "FILE")]
    pub ti_truth: Option<PathBuf>,
}
