#!/usr/bin/env bash
# Installs the medallion TAXII 2.1 server (PyPI `medallion`) used by tests/taxii_medallion.rs.
#
# Order of preference:
#   1. the interpreter in $KVSENTRY_MEDALLION_PYTHON, or python3, already imports medallion: done;
#   2. pip-install medallion into that interpreter;
#   3. if pip refuses (PEP 668 "externally managed" system Python), create a venv at
#      crates/kvsentry-stix/tests/.venv and install there; the test finds it on its own.
# Called by .ci/run before `cargo test`; safe to run repeatedly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${KVSENTRY_MEDALLION_PYTHON:-python3}"
pkg="medallion==3.0.0"

if "$py" -c "import medallion" 2>/dev/null; then
  echo "medallion: already importable by $py"
  exit 0
fi
if "$py" -m pip install --quiet --disable-pip-version-check "$pkg"; then
  "$py" -c "import medallion" && echo "medallion: installed into $py" && exit 0
fi
echo "medallion: pip into $py failed; using a venv at $here/.venv"
"$py" -m venv "$here/.venv"
"$here/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "$pkg"
"$here/.venv/bin/python" -c "import medallion"
echo "medallion: installed into $here/.venv"
