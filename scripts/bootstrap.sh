#!/usr/bin/env bash
# Creates .venv and installs streamscope with the extras in STREAMSCOPE_EXTRAS (default "dev": everything the
# tests need; "" for the product alone, as scripts/up.sh does). Idempotent and quick when nothing changed: it
# reinstalls only when pyproject.toml or the C sources change, or when more extras are asked for than installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
EXTRAS="${STREAMSCOPE_EXTRAS-dev}"
stamp="$(cat pyproject.toml collector/*.c collector/*.h sdk/instrumentation/*.c sdk/instrumentation/*.h | sha256sum | cut -d' ' -f1)"
have="$(cat .venv/.streamscope-stamp 2>/dev/null || true)"
# an install with the dev extra also serves the product alone
if [ "$have" = "$stamp $EXTRAS" ] || { [ -z "$EXTRAS" ] && [ "$have" = "$stamp dev" ]; }; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    echo "streamscope: creating .venv ..."
    "$PY" -m venv .venv
fi
what="streamscope${EXTRAS:+ with its [$EXTRAS] extras}"
echo "streamscope: installing $what into .venv (the first time takes a minute or two) ..."
start=$SECONDS
.venv/bin/python -m pip install --quiet --upgrade pip
# setuptools remarks on two supported features we use on purpose (C extensions declared in pyproject.toml, an
# editable install); anything else it says still shows
PYTHONWARNINGS="ignore::UserWarning:setuptools.config.pyprojecttoml,ignore::UserWarning:setuptools.command.editable_wheel" \
    .venv/bin/python -m pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"
echo "streamscope: installed in $((SECONDS - start)) s"
echo "$stamp $EXTRAS" > .venv/.streamscope-stamp
