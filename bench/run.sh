#!/usr/bin/env bash
# kvsentry versus DuckDB on the same Key Vault logs. One command:
#
#   bench/run.sh              ~1 GB + 100,000 indicators, 5 runs; rewrites bench/RESULTS.md
#   bench/run.sh --runs 3     fewer (or more) runs
#   bench/run.sh --smoke      ~20k events, 1k indicators, 1 run (what the test runs)
#   bench/run.sh --scale 10   kvsentry's peak RSS at 1 GB and 10 GB (10 GB deleted after)
#
# Other options go to bench/bench.py (--keep-data, --no-results, --data DIR,
# --events-per-day N). It builds kvsentry (release) and bench/parse-limit, and creates
# bench/.venv with DuckDB from PyPI. Environment:
#   KVSENTRY_BIN=PATH          use this kvsentry binary instead of building one
#   KVSENTRY_BIN_COMMIT=REV    the commit that binary was built from (for RESULTS.md)
#   KVSENTRY_BENCH_PYTHON=PY   a Python that can `import duckdb` (skips the venv)
#   KVSENTRY_BENCH_NO_PARSE_LIMIT=1  skip the parse-limit build and runs
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$BENCH")"

# GNU time reads each child's CPU time and peak RSS (bench.py falls back to os.wait4).
if [[ ! -x /usr/bin/time ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  echo "== installing GNU time" >&2
  apt-get install -y -qq time >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq time) >/dev/null 2>&1 || true
fi

if [[ -n "${KVSENTRY_BIN:-}" ]]; then
  KV="$KVSENTRY_BIN"
else
  echo "== building kvsentry (release)" >&2
  cargo build --release --quiet -p kvsentry --manifest-path "$REPO/Cargo.toml"
  KV="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/kvsentry"
fi
[[ -x "$KV" ]] || { echo "bench: no kvsentry binary at $KV" >&2; exit 1; }

PL_ARGS=()
if [[ "${KVSENTRY_BENCH_NO_PARSE_LIMIT:-}" != 1 ]]; then
  echo "== building bench/parse-limit (release)" >&2
  cargo build --release --quiet --manifest-path "$BENCH/parse-limit/Cargo.toml" --target-dir "$BENCH/parse-limit/target"
  PL_ARGS=(--parse-limit "$BENCH/parse-limit/target/release/parse-limit")
fi

if [[ -n "${KVSENTRY_BENCH_PYTHON:-}" ]]; then
  PY="$KVSENTRY_BENCH_PYTHON"
else
  PY="$BENCH/.venv/bin/python"
  if ! "$PY" -c 'import duckdb' 2>/dev/null; then
    echo "== creating bench/.venv with duckdb from PyPI" >&2
    python3 -m venv "$BENCH/.venv"
    "$PY" -m pip install --quiet --disable-pip-version-check "duckdb==2.0.1"  # the version RESULTS.md used
  fi
fi
"$PY" -c 'import duckdb' || { echo "bench: $PY cannot import duckdb" >&2; exit 1; }

exec python3 "$BENCH/bench.py" --kvsentry "$KV" --duck-python "$PY" "${PL_ARGS[@]}" "$@"
