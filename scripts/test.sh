#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs what it needs, then pytest.
#   bash scripts/test.sh               the whole suite (what CI runs), in two phases: every test not marked
#                                      `serial` under pytest-xdist (STREAMSCOPE_TEST_WORKERS processes, default 2),
#                                      then the `serial` ones alone (tests/conftest.py says which and why)
#   bash scripts/test.sh --fast [ARGS]  the edit-test loop: no real external programs, browsers or long soaks
# Any other arguments go to pytest (to both phases of the whole suite); there a `-m EXPR` narrows each phase's
# own marker expression (pytest alone would take the last -m and run the serial tests in both phases). Every test runs exactly once; a phase that selects
# nothing is fine as long as the other ran tests, and the exit status is the first failure's.
# STREAMSCOPE_TEST_DRY_RUN=1 prints the pytest commands instead of installing and running anything.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then
    fast=1
    shift
fi
user_marker=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -m)
            if [ $# -lt 2 ]; then
                echo "scripts/test.sh: -m needs a marker expression" >&2
                exit 2
            fi
            user_marker="$2"
            shift 2
            ;;
        -m*) user_marker="${1#-m}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
marker() {  # this phase's marker expression, narrowed by the user's
    if [ -n "$user_marker" ]; then echo "($1) and ($user_marker)"; else echo "$1"; fi
}
dry="${STREAMSCOPE_TEST_DRY_RUN:-0}"
run() {
    if [ "$dry" = 1 ]; then printf '%q ' "$@"; echo; else "$@"; fi
}
if [ "$fast" = 1 ]; then
    [ "$dry" = 1 ] || bash scripts/bootstrap.sh
    set +e
    # here a -m EXPR replaces the lane's exclusions (`--fast -m clickhouse`: those tests alone, on every core)
    run .venv/bin/python -m pytest -q -n auto -m "${user_marker:-not integration and not browser and not slow and not clickhouse}" \
        --ignore=tests/integration ${args[@]+"${args[@]}"}
    rc=$?
    set -e
    if [ "$rc" = 5 ]; then
        echo "pytest collected no tests: that is a failure" >&2
        exit 1
    fi
    exit "$rc"
fi
if [ "$dry" != 1 ]; then
    bash scripts/system-deps.sh
    bash scripts/bootstrap.sh
fi
started=$SECONDS
set +e
echo "== phase 1: tests not marked serial, ${STREAMSCOPE_TEST_WORKERS:-2} xdist workers"
run .venv/bin/python -m pytest -n "${STREAMSCOPE_TEST_WORKERS:-2}" --dist worksteal -m "$(marker "not serial")" \
    ${args[@]+"${args[@]}"}
parallel=$?
echo "== phase 2: tests marked serial, one at a time"
run .venv/bin/python -m pytest -p no:xdist -m "$(marker serial)" ${args[@]+"${args[@]}"}
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
