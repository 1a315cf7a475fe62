//! The benchmark (`bench/run.sh`) in its tiny mode, so it cannot rot: ~20k generated events
//! (one file gzipped) and 1,000 Sentinel indicators, one run of kvsentry (this build's
//! binary), DuckDB and the parse-limit floor, and the same checks as the full benchmark:
//! kvsentry's and DuckDB's alert sets identical, and both equal to what was injected.
//!
//! Needs Python with the `duckdb` package (bench/.venv, or `python3 -c 'import duckdb'`).
//! Without it the test fails, saying how to install it, unless `KVSENTRY_SKIP_DUCKDB=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn imports_duckdb(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The bench's own venv when it has DuckDB, else the system `python3` when it has it.
fn duckdb_python(root: &Path) -> Option<PathBuf> {
    [
        root.join("bench/.venv/bin/python"),
        PathBuf::from("python3"),
    ]
    .into_iter()
    .find(|p| imports_duckdb(p))
}

#[test]
fn bench_smoke_alert_sets_identical() {
    let root = repo_root();
    let Some(python) = duckdb_python(&root) else {
        if std::env::var("KVSENTRY_SKIP_DUCKDB").as_deref() != Ok("1") {
            panic!(
                "neither bench/.venv/bin/python nor python3 can `import duckdb`: install it \
                 with `bash scripts/test` (the README's test command) or \
                 `python3 -m pip install duckdb`; KVSENTRY_SKIP_DUCKDB=1 skips this test"
            );
        }
        eprintln!("SKIPPED bench_smoke: no Python with duckdb and KVSENTRY_SKIP_DUCKDB=1");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(root.join("bench/run.sh"))
        .args(["--smoke", "--no-results", "--data"])
        .arg(data.path())
        .env("KVSENTRY_BIN", env!("CARGO_BIN_EXE_kvsentry"))
        .env("KVSENTRY_BENCH_PYTHON", &python)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench/run.sh --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );

    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.path().join("smoke/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        results["problems"],
        serde_json::json!([]),
        "differences:\n{stdout}"
    );
    let a = &results["alerts"];
    // Every day injects the `standard` set plus four user bursts: 5 Elastic-rule windows a
    // day, 2 days.
    assert_eq!(a["threshold_expected"], 10, "{a}");
    assert_eq!(
        a["threshold_alerts_kvsentry"], a["threshold_expected"],
        "{a}"
    );
    assert_eq!(a["threshold_alerts_duckdb"], a["threshold_expected"], "{a}");
    // gen_indicators.py: 1,000 ids, 5% (50) on caller IPs of the logs, of which those whose
    // selected version survives the Sentinel selection must match.
    let ti_expected = a["ti_expected"].as_u64().unwrap();
    assert!((20..=50).contains(&ti_expected), "{a}");
    assert_eq!(a["ti_alerts_duckdb"], a["ti_expected"], "{a}");
    if !a["ti_alerts_kvsentry"].is_null() {
        assert_eq!(a["ti_alerts_kvsentry"], a["ti_expected"], "{a}");
    }
    // Every measured tool ran once.
    for tool in [
        "kvsentry",
        "duckdb",
        "kvsentry_1t",
        "parse_rawmap",
        "parse_ignored",
    ] {
        assert_eq!(
            results["runs"][tool].as_array().map(Vec::len),
            Some(1),
            "{tool}"
        );
    }
    assert!(
        stdout.contains("Alert sets identical in every run."),
        "{stdout}"
    );
}
