"""Make grafana/ importable (generate.py and the dashgen package live there, outside the distribution)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
if str(GRAFANA) not in sys.path:
    sys.path.insert(0, str(GRAFANA))


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (bash scripts/system-deps.sh installs it)")
    return path


@pytest.fixture(scope="session")
def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.skip("amtool is not installed (bash scripts/system-deps.sh installs prometheus-alertmanager)")
    return path
