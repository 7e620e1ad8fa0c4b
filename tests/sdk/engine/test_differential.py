"""The same scenarios on streamscope.engine and on langchain-core 1.8.3: event streams, callback sequences and
outputs must be equal (``differential/scenarios.py``; each side runs in its own interpreter process).

langchain-core comes from the ``dev`` extra when it is 1.8.3; otherwise this test installs that version into
``.bench-venvs/langchain-core-1.8.3`` (as ``bench/engine_overhead.py`` does) and skips if it cannot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # each scenario runs in two subprocesses (engine and langchain-core)

REFERENCE = "1.8.3"
ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = Path(__file__).resolve().parent / "differential" / "scenarios.py"
VENV = ROOT / ".bench-venvs" / f"langchain-core-{REFERENCE}"
NAMES = sorted(
    line.split("def scenario_")[1].split("(")[0]
    for line in SCENARIOS.read_text().splitlines()
    if line.startswith("def scenario_")
)


def reference_python() -> str:
    try:
        if metadata.version("langchain-core") == REFERENCE:
            return sys.executable
    except metadata.PackageNotFoundError:
        pass
    python = VENV / "bin" / "python"
    check = [str(python), "-c", f"import langchain_core; assert langchain_core.__version__ == {REFERENCE!r}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"langchain-core=={REFERENCE}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"langchain-core {REFERENCE} could not be installed: {done.stderr[-500:]}")
    return str(python)


def run(python: str, impl: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, str(SCENARIOS), impl], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def results() -> tuple[dict[str, Any], dict[str, Any]]:
    return run(sys.executable, "streamscope"), run(reference_python(), "langchain")


@pytest.mark.parametrize("name", NAMES)
def test_scenario_matches_langchain(name: str, results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    ours, theirs = results
    assert "crashed" not in theirs[name], theirs[name]
    assert ours[name] == theirs[name]
