#!/usr/bin/env bash
# The main job: collector + dashboard + a demo workload, SQLite by default (data in streamscope-data/).
# Installs only what the product needs (the tests' toolchain comes with scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMSCOPE_EXTRAS="${STREAMSCOPE_EXTRAS:-}" bash scripts/bootstrap.sh
echo "streamscope: starting the collector, the dashboard, a fake LLM and a demo workload ..."
exec .venv/bin/streamscope up --demo "$@"
