//! Tests of loading a serve configuration: valid files, defaults, and the exact messages of
//! refused ones.

use std::path::Path;

use kvsentry_ingest::LogFormat;

use super::*;

const MINIMAL: &str = r#"
state_dir = "/var/lib/kvsentry"
[[input]]
type = "files"
path = "/data/kv-logs"
[[output]]
type = "stdout"
"#;

/// Every kind of input and output, every secret kind.
const FULL: &str = r#"
state_dir = "state"
rules = ["rules/", "extra.yml"]
builtin = false
allowed_lateness = "5m"
idle_timeout = "30s"
listen = "0.0.0.0:9000"

[[input]]
type = "files"
path = "logs"
glob = "*.json"
recursive = false
poll_interval = "500ms"

[[input]]
type = "azure_blob"
name = "archive"
connection_string_env = "KV_STORAGE_CONN"
container = "insights-logs-auditevent"
endpoint = "http://127.0.0.1:10000/devstoreaccount1"
prefix = "resourceId=/SUBSCRIPTIONS/"
log_format = "storage"

[[input]]
type = "kafka"
brokers = ["k1:9092", "k2:9092"]
topic = "kv"
settings = { "security.protocol" = "SASL_SSL", "sasl.mechanism" = "SCRAM-SHA-512", "session.timeout.ms" = 45000, "enable.partition.eof" = false }
secret_settings = { "sasl.password" = "KAFKA_PASSWORD" }

[[input]]
type = "kafka"
brokers = "ns.servicebus.windows.net:9093"
topic = "insights-logs-auditevent"
group_id = "kvsentry-prod"
connection_string_env = "KV_EH_CONN"
log_format = "eventhub"

[ti]
paths = ["intel/"]
taxii = [{ url = "https://t.example", collection = "c1", user_env = "T_USER", password_env = "T_PASS" },
         { url = "https://u.example", collection = "c2", api_root = "https://u.example/api1/", token_env = "T_TOKEN" }]
refresh = "30m"
retro_lookback = "7d"

[[output]]
type = "file"
path = "alerts.jsonl"
rotate_bytes = "10MB"
keep = 3

[[output]]
type = "webhook"
url = "https://hooks.example/kv"
headers = { "X-Source" = "kvsentry" }
secret_headers = { Authorization = "HOOK_AUTH" }
timeout = "5s"
max_retries = 2
backoff = "250ms"

[[output]]
type = "stdout"
name = "console"

[[output]]
type = "kafka"
brokers = "k1:9092"
topic = "alerts"

[logging]
format = "json"
level = "debug"
"#;

fn load(text: &str) -> ServeConfig {
    ServeConfig::from_str(text, "kvsentry.toml").unwrap()
}

fn err(text: &str) -> String {
    ServeConfig::from_str(text, "kvsentry.toml")
        .unwrap_err()
        .to_string()
}

/// MINIMAL with `extra` inserted after `state_dir` (top-level keys and tables).
fn with_top(extra: &str) -> String {
    MINIMAL.replacen(
        "state_dir = \"/var/lib/kvsentry\"\n",
        &format!("state_dir = \"/var/lib/kvsentry\"\n{extra}\n"),
        1,
    )
}

/// MINIMAL with `extra` appended to its `[[input]]`.
fn with_input(extra: &str) -> String {
    MINIMAL.replacen(
        "path = \"/data/kv-logs\"\n",
        &format!("path = \"/data/kv-logs\"\n{extra}\n"),
        1,
    )
}

fn secrets_of(c: &ServeConfig) -> Vec<(&str, &str)> {
    c.secrets()
        .iter()
        .map(|s| (s.var(), s.key.as_str()))
        .collect()
}

#[test]
fn minimal_config_gets_the_defaults() {
    let c = load(MINIMAL);
    assert_eq!(c.origin(), "kvsentry.toml");
    assert_eq!(c.state_dir(), Path::new("/var/lib/kvsentry"));
    assert!(c.rules().is_empty());
    assert!(c.builtin());
    assert_eq!(c.allowed_lateness().to_string(), "15m");
    assert_eq!(c.idle_timeout(), c.allowed_lateness());
    assert_eq!(c.listen().to_string(), "127.0.0.1:9464");
    assert!(c.ti().is_empty());
    assert_eq!(c.ti().refresh.to_string(), "1h");
    assert_eq!(c.ti().retro_lookback.to_string(), "14d");
    assert_eq!(c.logging().format, LoggingFormat::Text);
    assert_eq!(c.logging().level, LogLevel::Info);
    let [input] = c.inputs() else { panic!() };
    assert_eq!(input.name, "files-1");
    assert_eq!(input.log_format, None);
    let InputKind::Files(f) = &input.kind else {
        panic!()
    };
    assert_eq!(f.path, Path::new("/data/kv-logs"));
    assert!(f.recursive);
    assert_eq!(f.glob, None);
    assert_eq!(f.poll_interval.to_string(), "1s");
    let [output] = c.outputs() else { panic!() };
    assert_eq!(
        (output.name.as_str(), &output.kind),
        ("stdout-1", &OutputKind::Stdout)
    );
    assert!(c.secrets().is_empty());
}

#[test]
fn log_format_takes_hunts_names() {
    let form = |f: &str| load(&with_input(&format!("log_format = \"{f}\""))).inputs()[0].log_format;
    assert_eq!(form("auto"), None);
    assert_eq!(form("azure-diagnostics"), Some(LogFormat::AzureDiagnostics));
    assert_eq!(form("EventHub"), Some(LogFormat::EventHub));
    assert_eq!(form("ecs"), Some(LogFormat::Ecs));
}

#[test]
fn a_config_equals_itself_moved_around() {
    let a = load(FULL);
    let b = load(&FULL.replace(
        "state_dir = \"state\"\n",
        "\n\n# moved\nstate_dir = \"state\"\n",
    ));
    assert_eq!(a, b);
    assert_ne!(a, load(&FULL.replace("KV_EH_CONN", "KV_EH_CONN2")));
}

#[test]
fn idle_timeout_follows_allowed_lateness() {
    let c = load(&with_top("allowed_lateness = \"1h\""));
    assert_eq!(c.idle_timeout().as_nanos(), 3_600_000_000_000);
    let c = load(&with_top("allowed_lateness = 0"));
    assert!(c.idle_timeout().is_zero());
}

#[test]
fn full_config_is_read_into_its_types() {
    let c = load(FULL);
    assert_eq!(c.state_dir(), Path::new("state"));
    assert_eq!(c.rules(), [Path::new("rules/"), Path::new("extra.yml")]);
    assert!(!c.builtin());
    assert_eq!(c.allowed_lateness().as_nanos(), 300_000_000_000);
    assert_eq!(c.idle_timeout().as_nanos(), 30_000_000_000);
    assert_eq!(c.listen().to_string(), "0.0.0.0:9000");

    let names: Vec<&str> = c.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["files-1", "archive", "kafka-1", "kafka-2"]);
    let InputKind::Files(f) = &c.inputs()[0].kind else {
        panic!()
    };
    assert_eq!((f.glob.as_deref(), f.recursive), (Some("*.json"), false));
    assert_eq!(f.poll_interval.as_nanos(), 500_000_000);

    let blob = &c.inputs()[1];
    assert_eq!(blob.log_format, Some(LogFormat::Storage));
    let InputKind::AzureBlob(b) = &blob.kind else {
        panic!()
    };
    assert!(matches!(&b.auth, BlobAuth::ConnectionString(s) if s.var() == "KV_STORAGE_CONN"));
    assert_eq!(b.container, "insights-logs-auditevent");
    assert_eq!(
        b.endpoint.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:10000/devstoreaccount1")
    );
    assert_eq!(b.prefix.as_deref(), Some("resourceId=/SUBSCRIPTIONS/"));
    assert_eq!(b.poll_interval.to_string(), "60s");

    let InputKind::Kafka(k) = &c.inputs()[2].kind else {
        panic!()
    };
    assert_eq!(k.brokers, ["k1:9092", "k2:9092"]);
    assert_eq!(k.group_id, "kvsentry");
    assert_eq!(k.settings["session.timeout.ms"], "45000");
    assert_eq!(k.settings["enable.partition.eof"], "false");
    assert_eq!(k.secret_settings["sasl.password"].var(), "KAFKA_PASSWORD");
    assert!(k.connection_string_env.is_none());

    let eh = &c.inputs()[3];
    assert_eq!(eh.log_format, Some(LogFormat::EventHub));
    let InputKind::Kafka(k) = &eh.kind else {
        panic!()
    };
    assert_eq!(k.brokers, ["ns.servicebus.windows.net:9093"]);
    assert_eq!(k.group_id, "kvsentry-prod");
    assert_eq!(
        k.connection_string_env.as_ref().map(SecretEnv::var),
        Some("KV_EH_CONN")
    );

    let ti = c.ti();
    assert_eq!(ti.paths, [Path::new("intel/")]);
    assert_eq!(
        (ti.refresh.to_string(), ti.retro_lookback.to_string()),
        ("30m".into(), "7d".into())
    );
    assert_eq!(ti.taxii[0].url.as_str(), "https://t.example/");
    assert_eq!(
        ti.taxii[1].api_root.as_ref().map(|u| u.as_str()),
        Some("https://u.example/api1/")
    );

    let names: Vec<&str> = c.outputs().iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["file-1", "webhook-1", "console", "kafka-1"]);
    let OutputKind::File(f) = &c.outputs()[0].kind else {
        panic!()
    };
    assert_eq!((f.rotate_bytes, f.keep), (Some(10_000_000), 3));
    let OutputKind::Webhook(w) = &c.outputs()[1].kind else {
        panic!()
    };
    assert_eq!(w.url.as_str(), "https://hooks.example/kv");
    assert_eq!(w.headers["X-Source"], "kvsentry");
    assert_eq!((w.timeout.to_string(), w.max_retries), ("5s".into(), 2));
    assert_eq!(
        (w.backoff.to_string(), w.max_backoff.to_string()),
        ("250ms".into(), "5m".into())
    );
    let OutputKind::Kafka(k) = &c.outputs()[3].kind else {
        panic!()
    };
    assert_eq!(
        (k.brokers.as_slice(), k.topic.as_str()),
        (&["k1:9092".to_string()][..], "alerts")
    );

    assert_eq!(c.logging().format, LoggingFormat::Json);
    assert_eq!(c.logging().level, LogLevel::Debug);

    assert_eq!(
        secrets_of(&c),
        [
            ("KV_STORAGE_CONN", "input[1].connection_string_env"),
            ("KAFKA_PASSWORD", "input[2].secret_settings.sasl.password"),
            ("KV_EH_CONN", "input[3].connection_string_env"),
            ("T_USER", "ti.taxii[0].user_env"),
            ("T_PASS", "ti.taxii[0].password_env"),
            ("T_TOKEN", "ti.taxii[1].token_env"),
            ("HOOK_AUTH", "output[1].secret_headers.Authorization"),
        ]
    );
}

#[test]
fn the_example_config_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/serve/kvsentry.toml");
    let c = ServeConfig::from_path(&path).unwrap();
    assert_eq!(c.state_dir(), Path::new("/var/lib/kvsentry"));
    let names: Vec<&str> = c.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["kv-archive", "kv-stream"]);
    let InputKind::AzureBlob(b) = &c.inputs()[0].kind else {
        panic!()
    };
    assert!(matches!(&b.auth, BlobAuth::Sas { account, sas }
        if account == "kvlogsprod" && sas.var() == "KV_STORAGE_SAS"));
    let vars: Vec<&str> = c.secrets().iter().map(|s| s.var()).collect();
    assert_eq!(
        vars,
        [
            "KV_STORAGE_SAS",
            "KV_EH_CONN",
            "KV_TAXII_PASSWORD",
            "KV_HOOK_AUTH"
        ]
    );
    assert_eq!(c.outputs().len(), 2);
    assert_eq!(c.ti().taxii[0].user.as_deref(), Some("kvsentry"));
}

#[test]
fn from_path_takes_relative_paths_from_the_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kvsentry.toml");
    std::fs::write(&file, FULL).unwrap();
    let c = ServeConfig::from_path(&file).unwrap();
    assert_eq!(c.origin(), file.display().to_string());
    assert_eq!(c.state_dir(), dir.path().join("state"));
    assert_eq!(c.rules()[1], dir.path().join("extra.yml"));
    assert_eq!(c.ti().paths[0], dir.path().join("intel/"));
    let InputKind::Files(f) = &c.inputs()[0].kind else {
        panic!()
    };
    assert_eq!(f.path, dir.path().join("logs"));
    let OutputKind::File(o) = &c.outputs()[0].kind else {
        panic!()
    };
    assert_eq!(o.path, dir.path().join("alerts.jsonl"));
    // Absolute paths stay.
    std::fs::write(&file, MINIMAL).unwrap();
    let c = ServeConfig::from_path(&file).unwrap();
    assert_eq!(c.state_dir(), Path::new("/var/lib/kvsentry"));

    let missing = dir.path().join("nope.toml");
    let e = ServeConfig::from_path(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "cannot read the configuration {}: ",
            missing.display()
        )),
        "{e}"
    );
}

#[test]
fn unknown_top_level_key_is_refused_with_its_line() {
    assert_eq!(
        err(&with_top("# a comment\nalowed_lateness = \"15m\"")),
        "kvsentry.toml:4:1: `alowed_lateness`: unknown key `alowed_lateness`, expected one of \
         `state_dir`, `rules`, `builtin`, `allowed_lateness`, `idle_timeout`, `listen`, `ti`, \
         `logging`, `input`, `output`"
    );
}

#[test]
fn unknown_key_in_an_input_is_refused_with_its_path_and_line() {
    assert_eq!(
        err(&with_input("pool_interval = \"5s\"")),
        "kvsentry.toml:6:1: `input[0].pool_interval`: unknown key `pool_interval`, expected one \
         of `path`, `recursive`, `glob`, `poll_interval`"
    );
    // A key of another type of input is unknown too.
    assert_eq!(
        err(&with_input("topic = \"kv\"")),
        "kvsentry.toml:6:1: `input[0].topic`: unknown key `topic`, expected one of `path`, \
         `recursive`, `glob`, `poll_interval`"
    );
}

#[test]
fn unknown_keys_in_tables_and_inline_tables() {
    assert_eq!(
        err(&with_top("[ti]\nrefrsh = \"1h\"")),
        "kvsentry.toml:4:1: `ti.refrsh`: unknown key `refrsh`, expected one of `paths`, `taxii`, \
         `refresh`, `retro_lookback`"
    );
    assert_eq!(
        err(&with_top(
            "[ti]\ntaxii = [{ url = \"https://t\", collection = \"c\", pw = \"x\" }]"
        )),
        "kvsentry.toml:4:49: `ti.taxii[0].pw`: unknown key `pw`, expected one of `url`, \
         `collection`, `api_root`, `user`, `user_env`, `password_env`, `token_env`"
    );
    assert_eq!(
        err(&MINIMAL.replace("type = \"stdout\"", "type = \"stdout\"\npath = \"x\"")),
        "kvsentry.toml:8:1: `output[0].path`: unknown key `path`, this type has no other keys"
    );
}

#[test]
fn bad_durations_are_refused() {
    assert_eq!(
        err(&with_input("poll_interval = \"1x\"")),
        "kvsentry.toml:6:17: `input[0].poll_interval`: bad duration `1x`: write a whole number \
         and a unit, e.g. 30s, 1m, 5m, 1h, 1d"
    );
    assert_eq!(
        err(&with_top("allowed_lateness = 5")),
        "kvsentry.toml:3:20: `allowed_lateness`: bad duration `5`: add a unit, e.g. 5s or 5m"
    );
    assert_eq!(
        err(&with_input("poll_interval = \"0\"")),
        "kvsentry.toml:6:17: `input[0].poll_interval`: must be more than 0, e.g. 30s"
    );
}

#[test]
fn bad_types_and_values_are_refused() {
    assert_eq!(
        err(&with_top("builtin = \"yes\"")),
        "kvsentry.toml:3:11: `builtin`: invalid type: string \"yes\", expected a boolean"
    );
    assert_eq!(
        err(&with_top("rules = \"rules/\"")),
        "kvsentry.toml:3:9: `rules`: invalid type: string \"rules/\", expected a sequence"
    );
    assert_eq!(
        err(&with_top("rules = []")),
        "kvsentry.toml:3:9: `rules`: must list at least one entry (or leave the key out)"
    );
    assert_eq!(
        err(&with_top("listen = \"localhost\"")),
        "kvsentry.toml:3:10: `listen`: bad listen address `localhost`: expected ip:port, e.g. \
         127.0.0.1:9464"
    );
    assert_eq!(
        err(&with_input("log_format = \"csv\"")),
        "kvsentry.toml:6:14: `input[0].log_format`: unknown log format 'csv' (expected one of: \
         auto, storage, eventhub, array, azure-diagnostics, azkv, ecs)"
    );
    assert_eq!(
        err(&with_top("[logging]\nformat = \"xml\"")),
        "kvsentry.toml:4:10: `logging.format`: unknown value `xml`, expected `text` or `json`"
    );
    assert_eq!(
        err(&MINIMAL.replace("type = \"stdout\"", "type = \"webhook\"\nurl = \"ftp://x\"")),
        "kvsentry.toml:8:7: `output[0].url`: bad URL `ftp://x`: expected http:// or https:// \
         and a host"
    );
    assert_eq!(
        err(&MINIMAL.replace(
            "type = \"stdout\"",
            "type = \"file\"\npath = \"a\"\nrotate_bytes = \"1.5MB\""
        )),
        "kvsentry.toml:9:16: `output[0].rotate_bytes`: bad size `1.5MB`: write bytes as an \
         integer or a number and a unit, e.g. 100MB, 1GiB"
    );
    assert_eq!(
        err(&MINIMAL.replace("type = \"files\"", "type = \"file\"")),
        "kvsentry.toml:4:8: `input[0].type`: unknown input type `file` (one of: files, \
         azure_blob, kafka)"
    );
    assert_eq!(
        err(&MINIMAL.replace("type = \"files\"\n", "")),
        "kvsentry.toml:3:1: `input[0]`: missing key `type` (one of: files, azure_blob, kafka)"
    );
    assert_eq!(
        err(&MINIMAL.replace("path = \"/data/kv-logs\"\n", "")),
        "kvsentry.toml:3:1: `input[0]`: missing key `path`"
    );
    assert_eq!(
        err("state_dir = \"/s\"\nx = [\n"),
        "kvsentry.toml:2:6: unclosed array, expected `]`"
    );
}

#[test]
fn sections_and_rules_that_must_be_there() {
    assert_eq!(
        err(&MINIMAL.replace("state_dir = \"/var/lib/kvsentry\"\n", "")),
        "kvsentry.toml: missing key `state_dir`"
    );
    assert_eq!(
        err("state_dir = \"/s\"\n[[output]]\ntype = \"stdout\"\n"),
        "kvsentry.toml: no [[input]]: serve needs at least one input to read"
    );
    assert_eq!(
        err("state_dir = \"/s\"\n[[input]]\ntype = \"files\"\npath = \"/d\"\n"),
        "kvsentry.toml: no [[output]]: serve needs at least one output for alerts"
    );
    assert_eq!(
        err("state_dir = \"/s\"\ninput = 3\n[[output]]\ntype = \"stdout\"\n"),
        "kvsentry.toml:2:9: `input`: expected [[input]] tables, at least one"
    );
    assert_eq!(
        err(&with_top("builtin = false")),
        "kvsentry.toml:3:1: `builtin`: no rules to run: `builtin = false` needs `rules`"
    );
}

#[test]
fn names_default_per_type_and_must_be_unique() {
    let two = |a: &str, b: &str| {
        MINIMAL.replace(
            "[[output]]",
            &format!("{a}\n[[input]]\ntype = \"files\"\npath = \"/e\"\n{b}\n[[output]]"),
        )
    };
    let c = load(&two("", ""));
    let names: Vec<&str> = c.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["files-1", "files-2"]);
    assert_eq!(
        err(&two("", "name = \"files-1\"")),
        "kvsentry.toml:10:8: `input[1].name`: input name `files-1` is already used by input[0]; \
         names key checkpoints and metrics, so each must be unique"
    );
    assert_eq!(
        err(&two("name = \"files-2\"", "")),
        "kvsentry.toml:7:1: `input[1]`: input name `files-2` is already used by input[0]; names \
         key checkpoints and metrics, so each must be unique"
    );
    assert_eq!(
        err(&with_input("name = \"eh prod\"")),
        "kvsentry.toml:6:8: `input[0].name`: bad name `eh prod`: use letters, digits, `-`, `_` \
         and `.` (it names checkpoints and metrics)"
    );
    // Inputs and outputs are named apart.
    let c = load(
        &with_input("name = \"x\"").replace("type = \"stdout\"", "type = \"stdout\"\nname = \"x\""),
    );
    assert_eq!(
        (c.inputs()[0].name.as_str(), c.outputs()[0].name.as_str()),
        ("x", "x")
    );
}

fn blob(keys: &str) -> String {
    format!(
        "state_dir = \"/s\"\n[[input]]\ntype = \"azure_blob\"\ncontainer = \"insights-logs-auditevent\"\n{keys}\n[[output]]\ntype = \"stdout\"\n"
    )
}

#[test]
fn azure_blob_credentials() {
    let c = load(&blob("account = \"kvlogs\"\nkey_env = \"KEY\""));
    let InputKind::AzureBlob(b) = &c.inputs()[0].kind else {
        panic!()
    };
    assert!(
        matches!(&b.auth, BlobAuth::Key { account, key } if account == "kvlogs" && key.var() == "KEY")
    );
    let how = "give `connection_string_env`, or `account` with `key_env` or `sas_env`";
    for (keys, problem) in [
        ("", format!("no credentials: {how}")),
        (
            "key_env = \"K\"",
            format!("`key_env` and `sas_env` need `account`: {how}"),
        ),
        (
            "account = \"kvlogs\"\nconnection_string_env = \"C\"",
            format!("`account` comes from the connection string: {how}, not both"),
        ),
        (
            "account = \"kvlogs\"\nkey_env = \"K\"\nsas_env = \"S\"",
            format!("several credentials: {how}, only one"),
        ),
        (
            "account = \"KVLogs\"\nsas_env = \"S\"",
            "bad account `KVLogs`: a Storage account name has 3 to 24 lowercase letters and digits"
                .into(),
        ),
    ] {
        assert_eq!(
            err(&blob(keys)),
            format!("kvsentry.toml:2:1: `input[0]`: {problem}"),
            "{keys}"
        );
    }
    assert_eq!(
        err(&blob(
            "connection_string_env = \"DefaultEndpointsProtocol=https;AccountKey=abc\""
        )),
        "kvsentry.toml:5:25: `input[0].connection_string_env`: `DefaultEndpointsProtocol=https;\
         AccountKey=abc` is not an environment variable name (letters, digits and `_`, not \
         starting with a digit); the file names the variable, the secret stays in the environment"
    );
    assert_eq!(
        err(&blob("connection_string_env = \"C\"").replace("insights-logs-auditevent", "Insights")),
        "kvsentry.toml:2:1: `input[0]`: bad container `Insights`: 3 to 63 lowercase letters, \
         digits and single hyphens (the diagnostic setting's is `insights-logs-auditevent`)"
    );
}

fn kafka(keys: &str) -> String {
    format!(
        "state_dir = \"/s\"\n[[input]]\ntype = \"kafka\"\ntopic = \"kv\"\n{keys}\n[[output]]\ntype = \"stdout\"\n"
    )
}

#[test]
fn kafka_settings() {
    assert_eq!(
        err(&kafka("brokers = \"k1\"")),
        "kvsentry.toml:5:11: `input[0].brokers`: bad broker `k1`: expected host:port, e.g. \
         ns.servicebus.windows.net:9093"
    );
    assert_eq!(
        err(&kafka("brokers = []")),
        "kvsentry.toml:5:11: `input[0].brokers`: must name at least one broker `host:port`"
    );
    assert_eq!(
        err(&kafka(
            "brokers = \"k:1\"\nsettings = { \"sasl.password\" = \"hunter2\" }"
        )),
        "kvsentry.toml:6:12: `input[0].settings`: `sasl.password` is a secret: name its \
         environment variable in `secret_settings` instead, e.g. secret_settings = { \
         \"sasl.password\" = \"KAFKA_PASSWORD\" }"
    );
    assert_eq!(
        err(&kafka(
            "brokers = \"k:1\"\nconnection_string_env = \"EH\"\nsettings = { \"sasl.mechanism\" = \"PLAIN\" }"
        )),
        "kvsentry.toml:2:1: `input[0]`: `sasl.mechanism` is set by `connection_string_env` \
         (Event Hubs: SASL_SSL, PLAIN, $ConnectionString); remove it from the settings"
    );
    assert_eq!(
        err(&kafka(
            "brokers = \"k:1\"\nsettings = { \"group.id\" = \"g\" }"
        )),
        "kvsentry.toml:2:1: `input[0]`: `group.id` has its own key (`brokers`, `group_id`); \
         remove it from the settings"
    );
}

#[test]
fn kafka_setting_values_are_scalars() {
    assert_eq!(
        err(&kafka("brokers = \"k:1\"\nsettings = { a = 1.5 }")),
        "kvsentry.toml:6:12: `input[0].settings`: `a`: a librdkafka setting is a string, an \
         integer or a boolean, not float"
    );
    assert_eq!(
        err(&kafka("brokers = 5")),
        "kvsentry.toml:5:11: `input[0].brokers`: expected a string `host:port` or a list of them"
    );
}

#[test]
fn windows_line_ends_and_columns_in_characters() {
    let crlf = MINIMAL.replace('\n', "\r\n");
    assert_eq!(load(&crlf).inputs()[0].name, "files-1");
    assert_eq!(
        err(&crlf.replace("/data/kv-logs\"", "/data/kv-logs\"\r\nzz = 1")),
        "kvsentry.toml:6:1: `input[0].zz`: unknown key `zz`, expected one of `path`, \
         `recursive`, `glob`, `poll_interval`"
    );
    // Columns count characters, not bytes: `é` is two bytes.
    assert_eq!(
        err(&with_top(
            "[ti]\ntaxii = [{ collection = \"é\", url = \"ftp://x\" }]"
        )),
        "kvsentry.toml:4:36: `ti.taxii[0].url`: bad URL `ftp://x`: expected http:// or https:// \
         and a host"
    );
    assert_eq!(
        err(&with_top("[logging]\nlevel = \"verbose\"")),
        "kvsentry.toml:4:9: `logging.level`: unknown value `verbose`, expected one of `error`, \
         `warn`, `info`, `debug`, `trace`"
    );
}

#[test]
fn webhook_secrets_stay_out_of_plain_headers() {
    let hook = |keys: &str| {
        MINIMAL.replace(
            "type = \"stdout\"",
            &format!("type = \"webhook\"\nurl = \"https://h\"\n{keys}"),
        )
    };
    assert_eq!(
        err(&hook("headers = { authorization = \"Bearer abc\" }")),
        "kvsentry.toml:6:1: `output[0]`: `authorization` carries a secret: name its environment \
         variable in `secret_headers` instead, e.g. secret_headers = { Authorization = \
         \"KV_HOOK_AUTH\" }"
    );
    assert_eq!(
        err(&hook("headers = { \"Idempotency-Key\" = \"x\" }")),
        "kvsentry.toml:6:1: `output[0]`: `Idempotency-Key` is set by kvsentry on every request"
    );
    assert_eq!(
        err(&hook("backoff = \"10m\"")),
        "kvsentry.toml:6:1: `output[0]`: `backoff` (10m) is longer than `max_backoff` (5m)"
    );
}

#[test]
fn taxii_auth_is_one_kind() {
    let ti = |entry: &str| {
        with_top(&format!(
            "[ti]\ntaxii = [{{ url = \"https://t\", collection = \"c\", {entry} }}]"
        ))
    };
    assert!(
        load(&ti("token_env = \"T\"")).ti().taxii[0]
            .token_env
            .is_some()
    );
    assert_eq!(
        err(&ti("user = \"u\"")),
        "kvsentry.toml:4:9: `ti.taxii`: basic auth needs both a user (`user` or `user_env`) \
         and `password_env`"
    );
    assert_eq!(
        err(&ti("user = \"u\", password_env = \"P\", token_env = \"T\"")),
        "kvsentry.toml:4:9: `ti.taxii`: give basic auth (`user`, `password_env`) or \
         `token_env`, not both"
    );
}

#[test]
fn missing_environment_variable_is_named_never_a_value() {
    let mut c = load(FULL);
    let env = |present: &[(&str, &str)]| {
        let present: Vec<(String, String)> = present
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |var: &str| {
            present
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
        }
    };
    let e = c
        .resolve_secrets_with(env(&[("KV_STORAGE_CONN", "conn-secret")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "kvsentry.toml:30: environment variable KAFKA_PASSWORD (named by \
         `input[2].secret_settings.sasl.password`) is not set"
    );
    let e = c
        .resolve_secrets_with(env(&[("KV_STORAGE_CONN", ""), ("KAFKA_PASSWORD", "p")]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "kvsentry.toml:19: environment variable KV_STORAGE_CONN (named by \
         `input[1].connection_string_env`) is empty"
    );
    // The process environment: a variable no test sets.
    let mut c = load(&blob(
        "connection_string_env = \"KVSENTRY_TEST_UNSET_VARIABLE_8C1F\"",
    ));
    assert_eq!(
        c.resolve_secrets().unwrap_err().to_string(),
        "kvsentry.toml:5: environment variable KVSENTRY_TEST_UNSET_VARIABLE_8C1F (named by \
         `input[0].connection_string_env`) is not set"
    );
}

#[test]
fn a_resolved_config_prints_no_secret() {
    let mut c = load(FULL);
    let values = [
        (
            "KV_STORAGE_CONN",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3CR3T-storage==",
        ),
        ("KAFKA_PASSWORD", "S3CR3T-kafka"),
        (
            "KV_EH_CONN",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=S3CR3T-eh=",
        ),
        ("T_USER", "S3CR3T-user"),
        ("T_PASS", "S3CR3T-pass"),
        ("T_TOKEN", "S3CR3T-token"),
        ("HOOK_AUTH", "Bearer S3CR3T-hook"),
    ];
    c.resolve_secrets_with(|var| {
        values
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let InputKind::Kafka(k) = &c.inputs()[3].kind else {
        panic!()
    };
    let eh = k
        .connection_string_env
        .as_ref()
        .and_then(SecretEnv::secret)
        .unwrap();
    assert_eq!(eh.expose(), values[2].1);
    let printed = format!("{c:?}\n{c:#?}");
    assert!(!printed.contains("S3CR3T"), "{printed}");
    assert_eq!(printed.matches("***").count(), 2 * values.len());
    assert!(printed.contains("KV_EH_CONN"));
    for s in c.secrets() {
        assert_eq!(format!("{}", s.secret().unwrap()), "***");
    }
}

#[test]
fn http_is_served_only_where_listen_is_asked_for() {
    let mut c = load(MINIMAL);
    assert_eq!(c.http_listen(), None);
    c.set_listen("127.0.0.1:9999".parse().unwrap());
    assert_eq!(c.http_listen().unwrap().to_string(), "127.0.0.1:9999");
    let c = load(FULL);
    assert_eq!(c.http_listen().unwrap().to_string(), "0.0.0.0:9000");
}
