#!/usr/bin/env bash
# The main job: collector + dashboard + a demo workload, SQLite by default.
set -euo pipefail
cd "$(dirname "$0")/.."
STREAMSCOPE_EXTRAS="${STREAMSCOPE_EXTRAS:-dev}" bash scripts/bootstrap.sh
exec .venv/bin/streamscope up --demo "$@"
