#!/usr/bin/env bash
# kvsentry serve against kvsentry hunt on the same logs (method: bench/serve.py):
#
#   bench/serve.sh                  100k events over 24 h, 3 runs; rewrites the "serve" section of RESULTS.md
#   bench/serve.sh --events 50000   smaller (the 10x memory run uses 10 times this)
#   bench/serve.sh --no-results     print only
#
# KVSENTRY_BIN=PATH uses that binary instead of building one.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$BENCH")"
if [[ -n "${KVSENTRY_BIN:-}" ]]; then
  KV="$KVSENTRY_BIN"
else
  echo "== building kvsentry (release)" >&2
  cargo build --release --quiet -p kvsentry --manifest-path "$REPO/Cargo.toml"
  KV="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/kvsentry"
fi
echo "== building the Kafka bench (release)" >&2
cargo build --release --quiet -p kvsentry-runtime --example serve_kafka_bench --manifest-path "$REPO/Cargo.toml"
KB="$(dirname "$KV")/examples/serve_kafka_bench"
if [[ ! -x "$KB" ]]; then
  KB="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/serve_kafka_bench"
fi
exec python3 "$BENCH/serve.py" --kvsentry "$KV" --kafka-bench "$KB" "$@"
