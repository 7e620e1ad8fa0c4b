"""ruff (lint and format) over the whole tree and mypy --strict over the SDK, the collector and the dashboard are part of the
suite."""

from __future__ import annotations

import os
import re
import shlex
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


def _test_sh(*args: str) -> list[list[str]]:
    """The pytest commands ``scripts/test.sh ARGS`` would run (its dry run), each as argv."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test.sh"), *args],
        env={**os.environ, "STREAMSCOPE_TEST_DRY_RUN": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [shlex.split(line) for line in out.splitlines() if "pytest" in line and not line.startswith("==")]


def _marker(argv: list[str]) -> str:
    """The one marker expression pytest is given (after ``python -m pytest``)."""
    args = argv[argv.index("pytest") + 1 :]
    assert args.count("-m") == 1, argv
    return args[args.index("-m") + 1]


def test_the_suite_runs_every_test_once_in_two_phases_split_by_the_serial_marker() -> None:
    phases = _test_sh()
    assert [_marker(p) for p in phases] == ["not serial", "serial"]


def test_a_users_marker_narrows_each_phase_instead_of_replacing_its_own() -> None:
    phases = _test_sh("-m", "clickhouse or browser", "-k", "store", "-x")
    assert [_marker(p) for p in phases] == [
        "(not serial) and (clickhouse or browser)",
        "(serial) and (clickhouse or browser)",
    ]
    assert all(p[-3:] == ["-k", "store", "-x"] for p in phases)
    (fast,) = _test_sh("--fast", "tests/collector")
    assert _marker(fast) == "not integration and not browser and not slow and not clickhouse"
    (fast,) = _test_sh("--fast", "-mclickhouse", "tests/collector")  # the lane's exclusions give way to it
    assert _marker(fast) == "clickhouse" and fast[-1] == "tests/collector"
