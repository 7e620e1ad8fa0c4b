#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what it needs, then pytest.
#   bash scripts/test.sh               the whole suite (what CI runs)
#   bash scripts/test.sh --fast [ARGS]  the edit-test loop: no real external programs, browsers or long soaks
# Any other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=()
if [ "${1:-}" = "--fast" ]; then
    shift
    fast=(-q -n auto -m "not integration and not browser and not slow and not clickhouse" --ignore=tests/integration)
else
    bash scripts/system-deps.sh
fi
bash scripts/bootstrap.sh
set +e
.venv/bin/python -m pytest ${fast[@]+"${fast[@]}"} "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
