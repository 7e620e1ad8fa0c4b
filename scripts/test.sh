#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what it needs, then pytest.
#   bash scripts/test.sh               the whole suite (what CI runs), in two phases: every test not marked
#                                      `serial` under pytest-xdist (STREAMSCOPE_TEST_WORKERS processes, default 2),
#                                      then the `serial` ones alone (tests/conftest.py says which and why)
#   bash scripts/test.sh --fast [ARGS]  the edit-test loop: no real external programs, browsers or long soaks
# Any other arguments go to pytest (to both phases of the whole suite). Every test runs exactly once; a phase
# that selects nothing is fine as long as the other ran tests, and the exit status is the first failure's.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
    shift
    bash scripts/bootstrap.sh
    set +e
    .venv/bin/python -m pytest -q -n auto -m "not integration and not browser and not slow and not clickhouse" \
        --ignore=tests/integration "$@"
    rc=$?
    set -e
    if [ "$rc" = 5 ]; then
        echo "pytest collected no tests: that is a failure" >&2
        exit 1
    fi
    exit "$rc"
fi
bash scripts/system-deps.sh
bash scripts/bootstrap.sh
started=$SECONDS
set +e
echo "== phase 1: tests not marked serial, ${STREAMSCOPE_TEST_WORKERS:-2} xdist workers"
.venv/bin/python -m pytest -n "${STREAMSCOPE_TEST_WORKERS:-2}" --dist worksteal -m "not serial" "$@"
parallel=$?
echo "== phase 2: tests marked serial, one at a time"
.venv/bin/python -m pytest -p no:xdist -m serial "$@"
serial=$?
set -e
echo "== phase 1 exit $parallel, phase 2 exit $serial; $((SECONDS - started)) s of pytest"
if [ "$parallel" = 5 ] && [ "$serial" = 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
for rc in "$parallel" "$serial"; do
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then
        exit "$rc"
    fi
done
exit 0
