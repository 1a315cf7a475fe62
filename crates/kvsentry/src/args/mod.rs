//! Command-line arguments (clap derive), and the values of options ([`values`]). Parsing
//! only: the commands are in `cmd/`.

pub mod values;

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
                  2 usage/rule/intel error, 3 --strict and records were damaged or files \
                  failed, 4 alerts fired with --fail-on-alert (3 wins when both apply)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the detection rules over log files and print alerts.
    #[command(
        after_help = "Examples:\n  kvsentry hunt ./logs\n  kvsentry hunt ./logs --since 7d -f csv -o alerts.csv\n  kvsentry hunt ./logs --ti iocs.csv --explain c07f7898"
    )]
    Hunt(HuntArgs),
    /// Print the normalised events as JSON lines, in input order: exactly what rules see.
    #[command(
        after_help = "Examples:\n  kvsentry events ./logs | head\n  kvsentry events ./logs --since 2025-06-30 --where operation=SecretGet\n  kvsentry events PT1H.json.gz --log-format storage -o events.jsonl"
    )]
    Events(EventsArgs),
    /// List, show and validate detection rules.
    #[command(
        after_help = "Examples:\n  kvsentry rules list --rules my-rules/\n  kvsentry rules show c07f7898\n  kvsentry rules validate my-rules/"
    )]
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate realistic, seeded Key Vault logs (with injected attacks) in any form.
    #[command(
        after_help = "Examples:\n  kvsentry gen --events 50000 --scenario standard -o logs.json\n  kvsentry gen --form ecs.gz --duration 1d -o logs.ndjson.gz\n  kvsentry gen --storage-layout -o logs/ --indicators 500 --indicators-output iocs.csv"
    )]
    Gen(GenArgs),
    /// Threat intelligence: load, inspect, check an IP, sync from TAXII.
    #[command(
        after_help = "Examples:\n  kvsentry ti stats iocs.csv feeds/\n  kvsentry ti check 52.178.17.9 iocs.csv\n  KVSENTRY_TAXII_PASSWORD=p kvsentry ti sync --taxii https://t.example --collection ID --user u"
    )]
    Ti(TiArgs),
    /// Continuous detection from where the logs are delivered, with state kept across runs.
    #[command(
        after_help = "Examples:\n  kvsentry serve --config kvsentry.toml --check-config\n  kvsentry serve --config kvsentry.toml --once\n  kvsentry serve --config kvsentry.toml --listen 127.0.0.1:9464"
    )]
    Serve(ServeArgs),
    /// The field dictionary: every field name rules and `events` use, its type and meaning.
    #[command(after_help = "Examples:\n  kvsentry fields\n  kvsentry fields | grep identity")]
    Fields,
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
    #[arg(help_heading = "Threat intel", long, value_name = "FORMAT")]
    pub ti_format: Option<String>,
    /// CSV indicators: the column holding the IP.
    #[arg(help_heading = "Threat intel", long, value_name = "COLUMN")]
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
    #[arg(help_heading = "Time", long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Reproduce Sentinel's selection to the letter (drops IPv6 and CIDRs, ...).
    // `--compat` was this flag's first name; kept so scripts keep working.
    #[arg(
        help_heading = "Threat intel",
        long = "sentinel-compat",
        alias = "compat"
    )]
    pub compat: bool,
}

#[derive(Debug, Subcommand)]
pub enum TiCommand {
    /// What was loaded, and how many indicators were excluded and why.
    #[command(
        after_help = "Examples:\n  kvsentry ti stats iocs.csv feeds/\n  kvsentry ti stats ti-store --as-of 2025-07-01T00:00:00Z --sentinel-compat"
    )]
    Stats(TiSource),
    /// The selected indicators as JSON lines.
    #[command(
        after_help = "Examples:\n  kvsentry ti list iocs.csv --limit 20\n  kvsentry ti list misp-feed/ --ti-format misp > selected.jsonl"
    )]
    List {
        #[command(flatten)]
        source: TiSource,
        /// At most this many.
        #[arg(help_heading = "Output", long)]
        limit: Option<usize>,
    },
    /// Which selected indicators cover an IP.
    #[command(
        after_help = "Examples:\n  kvsentry ti check 52.178.17.9 iocs.csv\n  kvsentry ti check 203.0.113.7 iocs.csv --at 2025-06-30T12:00:00Z"
    )]
    Check {
        /// The address to look up.
        ip: String,
        #[command(flatten)]
        source: TiSource,
        /// Also say whether an event at this time would match (before the expiration).
        #[arg(help_heading = "Time", long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Fetch a TAXII 2.1 collection into a local store (only what was added since last time).
    #[command(
        after_help = "Examples:\n  KVSENTRY_TAXII_PASSWORD=p kvsentry ti sync --taxii https://t.example --collection ID --user u\n  KVSENTRY_TAXII_TOKEN=t kvsentry ti sync --taxii https://t.example --collection ID\n  kvsentry hunt ./logs --ti ti-store"
    )]
    Sync {
        /// The TAXII server (discovery at `<URL>/taxii2/`).
        #[arg(help_heading = "Threat intel", long, value_name = "URL")]
        taxii: String,
        /// The collection id.
        #[arg(help_heading = "Threat intel", long, value_name = "ID")]
        collection: String,
        /// The local store directory (hunt with `--ti DIR`).
        #[arg(
            help_heading = "Output",
            long,
            value_name = "DIR",
            default_value = "ti-store"
        )]
        store: std::path::PathBuf,
        /// The API root URL (default: the server's default API root).
        #[arg(help_heading = "Threat intel", long, value_name = "URL")]
        api_root: Option<String>,
        /// Basic auth user.
        #[arg(help_heading = "Threat intel", long)]
        user: Option<String>,
        /// Basic auth password (or set it in KVSENTRY_TAXII_PASSWORD).
        #[arg(
            help_heading = "Threat intel",
            long,
            env = "KVSENTRY_TAXII_PASSWORD",
            hide_env_values = true
        )]
        password: Option<String>,
        /// Bearer token (or KVSENTRY_TAXII_TOKEN).
        #[arg(
            help_heading = "Threat intel",
            long,
            env = "KVSENTRY_TAXII_TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        /// Objects per page.
        #[arg(help_heading = "Output", long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files, directories (recursive), globs, or `-` for stdin; `.gz` is read transparently.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// Force one log form instead of detecting it per file.
    #[arg(help_heading = "Input", long, value_name = "FORM")]
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
    /// One JSON object per line per alert (nested: `jq .caller.ip` works).
    Jsonl,
    /// One JSON array of every alert.
    Json,
    /// RFC 4180 CSV, one column per value (`group.identity.upn`, `fields.action_count`, ...).
    Csv,
}

#[derive(Debug, Args)]
pub struct HuntArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Extra rule files or directories; a rule with a built-in's id replaces it.
    #[arg(help_heading = "Rules", long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Run only the user's rules from --rules, not the built-in pack.
    #[arg(help_heading = "Rules", long)]
    pub no_builtin: bool,
    /// Output form (default: from -o's extension, else table on a terminal, jsonl when piped).
    #[arg(help_heading = "Output", long, short = 'f')]
    pub format: Option<FormatArg>,
    /// Write alerts to this file instead of stdout; `.csv`, `.jsonl`/`.ndjson` and `.json` (an
    /// array) choose the form unless -f is given.
    #[arg(help_heading = "Output", long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print only this alert, whole with its evidence (an id or a unique prefix of one, as the
    /// table shows); as JSON or CSV with -f json/jsonl/csv (or -o's extension).
    #[arg(help_heading = "Output", long, value_name = "ID")]
    pub alert: Option<String>,
    /// Show why groups did or did not reach this rule's condition (on stderr); the rule's
    /// id, a unique prefix of it (c07f7898) or its name.
    #[arg(help_heading = "Rules", long, value_name = "RULE")]
    pub explain: Option<String>,
    /// With --explain: only the windows of groups one of whose values is VALUE (ignoring
    /// case), e.g. a UPN or an IP.
    #[arg(
        help_heading = "Rules",
        long,
        value_name = "VALUE",
        requires = "explain"
    )]
    pub explain_group: Option<String>,
    /// With --explain: only near misses, the windows whose condition failed on exactly one
    /// comparison, and not by far (at least half of a minimum reached; an equality counts
    /// as far).
    #[arg(help_heading = "Rules", long, requires = "explain")]
    pub near_misses: bool,
    /// Exit with code 3 when a record was damaged (unreadable JSON/CSV, time or operation) or
    /// a file could not be read; records of other categories or resources do not count.
    #[arg(help_heading = "Behaviour", long)]
    pub strict: bool,
    /// Exit with code 4 when any alert fired (for CI pipelines).
    #[arg(help_heading = "Behaviour", long)]
    pub fail_on_alert: bool,
    /// Worker threads (default: all cores).
    #[arg(help_heading = "Behaviour", long, short = 'j')]
    pub threads: Option<usize>,
    /// Memory for sorting input that is not in time order (e.g. 512MiB, 2GiB); beyond it
    /// rows are sorted on disk.
    #[arg(
        help_heading = "Behaviour",
        long,
        default_value = "1GiB",
        value_name = "SIZE"
    )]
    pub memory_limit: String,
    /// Directory for sorting on disk (default: the system's temporary directory, $TMPDIR).
    #[arg(help_heading = "Behaviour", long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
    /// Threat-intel indicators for the TI rule (repeatable): Sentinel exports, STIX bundles,
    /// MISP feeds, IP lists, CSV, or a store written by `kvsentry ti sync`.
    #[arg(help_heading = "Threat intel", long, value_name = "PATH")]
    pub ti: Vec<PathBuf>,
    #[command(flatten)]
    pub ti_read: TiReadArgs,
    /// Evaluate the TI rule as one Sentinel run at this time would (default: retro-hunt).
    #[arg(help_heading = "Threat intel", long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Reproduce Sentinel's TI query to the letter (every indicator rule, as the rule file's
    /// `sentinel_compat: true` would).
    #[arg(help_heading = "Threat intel", long)]
    pub sentinel_compat: bool,
    /// Only events at or after this time (RFC 3339, a date, or an age: 1h, 7d before now).
    #[arg(help_heading = "Time", long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339, a date, or an age: 1h, 7d before now).
    #[arg(help_heading = "Time", long, value_name = "TIME")]
    pub until: Option<String>,
    /// No progress bar.
    #[arg(help_heading = "Output", long)]
    pub no_progress: bool,
    /// No summary on stderr.
    #[arg(help_heading = "Output", long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Only events at or after this time (RFC 3339, a date, or an age such as 7d).
    #[arg(help_heading = "Time", long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339, a date, or an age such as 1h).
    #[arg(help_heading = "Time", long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events whose dictionary field has this value, ignoring case (repeatable: all must
    /// hold); an empty VALUE matches a missing field. Events print in input order, unsorted.
    #[arg(help_heading = "Input", long = "where", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
    /// Write to this file instead of stdout.
    #[arg(help_heading = "Output", long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// One line per rule: id, kind, severity, enabled, source (built-in or file), name.
    #[command(
        after_help = "Examples:\n  kvsentry rules list\n  kvsentry rules list --rules my-rules/"
    )]
    List(RuleSource),
    /// Print one rule as YAML.
    #[command(
        after_help = "Examples:\n  kvsentry rules show c07f7898\n  kvsentry rules show c07f7898 > my-rules/seed.yml\n  kvsentry rules show 'TI map IP entity to Azure Key Vault logs'"
    )]
    Show {
        /// The rule's id, a unique prefix of it (c07f7898) or its name.
        #[arg(value_name = "RULE")]
        id: String,
        #[command(flatten)]
        source: RuleSource,
    },
    /// Check rule files and report every error with file, line and reason.
    #[command(
        after_help = "Examples:\n  kvsentry rules validate my-rules/\n  kvsentry rules validate a.yml b.yml"
    )]
    Validate {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RuleSource {
    /// Extra rule files or directories (override built-ins by id).
    #[arg(help_heading = "Rules", long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output form: storage, eventhub, array, azure-diagnostics[-jsonl|-csv],
    /// azkv[-jsonl|-csv], ecs, ecs-search; append `.gz` to gzip.
    #[arg(help_heading = "Output", long, default_value = "storage")]
    pub form: String,
    /// Output file (default stdout); with --storage-layout, a directory.
    #[arg(help_heading = "Output", long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write a directory in the Storage account's layout
    /// (`resourceId=/SUBSCRIPTIONS/.../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`).
    #[arg(help_heading = "Output", long)]
    pub storage_layout: bool,
    /// Gzip the output.
    #[arg(help_heading = "Output", long)]
    pub gzip: bool,
    /// Random seed: same seed, same bytes.
    #[arg(help_heading = "Behaviour", long, default_value_t = 1)]
    pub seed: u64,
    /// Background events (injected scenarios come on top).
    #[arg(help_heading = "Behaviour", long, default_value_t = 10_000)]
    pub events: u64,
    /// First event time (RFC 3339 or a date).
    #[arg(help_heading = "Time", long, default_value = "2025-06-30T00:00:00Z")]
    pub start: String,
    /// Time span covered, e.g. 2h, 1d.
    #[arg(help_heading = "Time", long, default_value = "1h")]
    pub duration: String,
    /// Attack scenarios to inject (repeatable): `standard` (one of each), `burst[:user|sp|mi[:CALLS[:OPS]]]`,
    /// `near-miss-count`, `near-miss-single-op`, `straddle[:BEFORE:AFTER]`, `sp-burst[:CALLS]`,
    /// `mi-burst[:CALLS]`, `ips:IP[,IP...]:CALLS`; add `@TIME` to place one.
    #[arg(help_heading = "Behaviour", long, value_name = "SCENARIO")]
    pub scenario: Vec<String>,
    /// Mix in Managed HSM and other-category records (that readers must skip).
    #[arg(help_heading = "Behaviour", long)]
    pub mixed: bool,
    /// Write the ground truth of what was injected (JSON) here.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub ground_truth: Option<PathBuf>,
    /// Also write this many Sentinel `ThreatIntelligenceIndicator` export rows (IP indicators,
    /// several versions per id, some inactive, expired or private) to --indicators-output.
    #[arg(
        help_heading = "Threat intel",
        long,
        value_name = "N",
        requires = "indicators_output"
    )]
    pub indicators: Option<usize>,
    /// Where to write the indicators: `.csv` as the portal exports them, else JSON lines.
    #[arg(
        help_heading = "Threat intel",
        long,
        value_name = "FILE",
        requires = "indicators"
    )]
    pub indicators_output: Option<PathBuf>,
    /// Share of indicators whose IP is a caller in the generated logs.
    #[arg(
        help_heading = "Threat intel",
        long,
        default_value_t = 0.05,
        requires = "indicators"
    )]
    pub match_share: f64,
    /// Evaluation time the indicators are made for (default: the end of the log span); also
    /// the `--as-of` time of the expected TI matches.
    #[arg(
        help_heading = "Threat intel",
        long,
        value_name = "TIME",
        requires = "indicators"
    )]
    pub ti_at: Option<String>,
    /// Write the (indicator id, IP) pairs a Sentinel run at --ti-at must alert on (JSON).
    #[arg(
        help_heading = "Threat intel",
        long,
        value_name = "FILE",
        requires = "indicators"
    )]
    pub ti_truth: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Validate the configuration, its rules and intel, print a summary and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Read everything available now, deliver, checkpoint and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: also close every open window, as `hunt` does at the end of its input.
    #[arg(long, requires = "once")]
    pub flush: bool,
    /// Worker threads for parsing (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Answer GET /healthz, GET /metrics and POST /reload on ADDR (default
    /// 127.0.0.1:9464; overrides the configuration's `listen`).
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:9464"
    )]
    pub listen: Option<std::net::SocketAddr>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let all = ["kvsentry", "serve", "--config", "k.toml"]
            .iter()
            .chain(args);
        match Cli::try_parse_from(all).unwrap().command {
            Command::Serve(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listen_alone_is_loopback_and_an_address_is_taken_as_given() {
        assert_eq!(serve(&[]).listen, None);
        let alone = serve(&["--listen", "--once"]);
        assert_eq!(alone.listen.unwrap().to_string(), "127.0.0.1:9464");
        assert!(alone.once);
        let given = serve(&["--listen", "0.0.0.0:9000"]);
        assert_eq!(given.listen.unwrap().to_string(), "0.0.0.0:9000");
        assert!(
            Cli::try_parse_from(["kvsentry", "serve", "--config", "k", "--listen", "x"]).is_err()
        );
    }
}
