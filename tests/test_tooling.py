"""ruff (lint and format) over the whole tree and mypy --strict over the SDK, the collector and the dashboard are part of the
suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "sdk",
            "collector",
            "dashboard",
            "tests",
            "bench",
            "examples",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    """Every Python file is as `ruff format` writes it (run `.venv/bin/ruff format .` before committing)."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_on_sdk(tmp_path: Path) -> None:
    # Type-check the SDK under its installed name: a link tree maps streamscope -> sdk/.
    (tmp_path / "streamscope").symlink_to(ROOT / "sdk")
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "streamscope",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_on_collector_and_dashboard(tmp_path: Path) -> None:
    # The servers import each other and the SDK under their installed names: a link tree puts every entry of
    # sdk/ in streamscope/, plus collector -> collector/ and dashboard -> dashboard/.
    tree = tmp_path / "streamscope"
    tree.mkdir()
    for entry in (ROOT / "sdk").iterdir():
        (tree / entry.name).symlink_to(entry)
    (tree / "collector").symlink_to(ROOT / "collector")
    (tree / "dashboard").symlink_to(ROOT / "dashboard")
    env = dict(os.environ, MYPYPATH=str(tmp_path))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "-p",
            "streamscope.collector",
            "-p",
            "streamscope.dashboard",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # every module of both packages was checked (a wrong link tree would check none and still pass)
    modules = [p for d in ("collector", "dashboard") for p in (ROOT / d).rglob("*.py")]
    checked = re.search(r"in (\d+) source files", result.stdout)
    assert checked is not None and int(checked.group(1)) >= len(modules), result.stdout
