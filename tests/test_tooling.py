"""ruff over the whole tree and mypy --strict over the SDK are part of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "sdk", "collector", "dashboard", "tests", "bench", "examples"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_on_sdk(tmp_path: Path) -> None:
    # Type-check the SDK under its installed name: a link tree maps streamscope -> sdk/.
    (tmp_path / "streamscope").symlink_to(ROOT / "sdk")
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "streamscope"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
