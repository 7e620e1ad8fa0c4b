#!/usr/bin/env bash
# Creates .venv and installs streamscope with everything the tests need. Idempotent and quick
# when nothing changed: it reinstalls only when pyproject.toml or the C sources change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp="$(cat pyproject.toml collector/*.c sdk/instrumentation/*.c sdk/tracing/*.c sdk/tracing/*.h sdk/engine/*.c | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.streamscope-stamp 2>/dev/null || true)" != "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[${STREAMSCOPE_EXTRAS:-dev}]"
    echo "$stamp" > .venv/.streamscope-stamp
fi
