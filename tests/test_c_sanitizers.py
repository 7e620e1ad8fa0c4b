"""The C extensions' gate: every one is built with AddressSanitizer and UndefinedBehaviorSanitizer and its tests
(differential against the Python reference, plus the OTLP walker's fuzz pass) run against that build
(scripts/sanitize_c.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sanitize_c", ROOT / "scripts" / "sanitize_c.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_extension_of_pyproject_has_tests_that_mirror_it() -> None:
    harness = _harness()
    exts = harness.extensions()
    assert exts, "pyproject.toml lists no ext-modules: the harness would check nothing"
    for ext in exts:
        assert harness.mirrored_tests(ext), f"{ext['name']} has no test file mirroring {ext['sources'][0]}"


def test_the_mirror_of_a_source_is_its_folder_under_tests(tmp_path: Path) -> None:
    (tmp_path / "tests" / "sdk" / "x").mkdir(parents=True)
    for name in ("test_thing.py", "test_thing_fuzz.py", "test_other.py"):
        (tmp_path / "tests" / "sdk" / "x" / name).write_text("")
    found = _harness().mirrored_tests(
        {"name": "streamscope.x._thing", "sources": ["sdk/x/_thing.c"]}, tmp_path
    )
    assert [p.name for p in found] == ["test_thing.py", "test_thing_fuzz.py"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_sanitized_builds_pass_their_tests() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sanitize_c.py")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-20_000:]
    assert "canary caught: heap-buffer-overflow" in result.stdout
    assert "sanitized builds in use" in result.stdout
