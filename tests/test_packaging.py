"""The wheel must contain every package under sdk/, collector/ and dashboard/."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {"sdk": "streamscope", "collector": "streamscope/collector", "dashboard": "streamscope/dashboard"}


def _source_packages() -> set[str]:
    found = set()
    for folder, prefix in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(prefix if str(rel) == "." else f"{prefix}/{rel.as_posix()}")
    return found


@pytest.mark.slow
def test_wheel_contains_every_subpackage(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("streamscope-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    missing = _source_packages() - in_wheel
    assert not missing, (
        f"packages missing from the wheel (add them to [tool.setuptools] packages): {sorted(missing)}"
    )
    assert "streamscope/py.typed" in names
    # the C accelerators (all optional) and the SDK's stubs for its own
    assert any(n.startswith("streamscope/collector/_fastotlp") and n.endswith(".so") for n in names)
    assert any(n.startswith("streamscope/instrumentation/_fastrecord") and n.endswith(".so") for n in names)
    assert "streamscope/instrumentation/_fastrecord.pyi" in names


@pytest.mark.slow
def test_without_a_c_compiler_the_wheel_builds_without_the_accelerators(tmp_path: Path) -> None:
    """The C extensions are optional: a machine without a compiler still gets a working (pure Python) install."""
    import os
    import shutil

    src = (
        tmp_path / "src"
    )  # the sources without the extensions already built in place (an editable install's)
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in MAPPING:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    env = dict(os.environ, CC="/bin/false", LDSHARED="/bin/false")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = tmp_path.glob("streamscope-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".so")]
    # and that install runs on the Python paths: imported from the unpacked wheel, each falls back
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    # (without the editable install's finder, which would find the .so files built in place in the repository)
    probe = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
        "import streamscope.instrumentation._openai_streams as s, streamscope.collector.decode as d; "
        f"print(s.__file__.startswith({str(unpacked)!r}), s._Recorder, d._fastotlp)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=dict(os.environ, PYTHONPATH=str(unpacked)),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout.split() == ["True", "None", "None"], out.stdout + out.stderr


def test_the_sdist_carries_every_c_source_and_header(tmp_path: Path) -> None:
    """An sdist without a header would still install (the extensions are optional), only slower: check it."""
    import tarfile

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path)!r}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    (sdist,) = tmp_path.glob("streamscope-*.tar.gz")
    assert out.stdout.strip().endswith(sdist.name)
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    modules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["ext-modules"]
    needed = {f for m in modules for f in [*m["sources"], *m.get("depends", [])]}
    assert len(modules) == 2 and "sdk/instrumentation/_perfclock.h" in needed
    assert needed <= names, sorted(needed - names)
    in_tree = {c.relative_to(ROOT).as_posix() for folder in MAPPING for c in (ROOT / folder).rglob("*.[ch]")}
    assert in_tree <= needed, sorted(in_tree - needed)  # every C file and header is built from


def test_building_prints_no_warning_about_our_own_packaging(tmp_path: Path) -> None:
    """The build's only packaging remark is that pyproject ext-modules are experimental (setuptools' wording for a
    supported feature): no deprecated license table, no data folders shipped as undeclared packages, and the
    dashboard's templates and static files are in the wheel."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    warnings = {line.strip() for line in (result.stdout + result.stderr).splitlines() if "Warning:" in line}
    assert all("ext-modules" in w for w in warnings), sorted(warnings)
    (wheel,) = tmp_path.glob("streamscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (
        "templates/base.html",
        "templates/traces/detail.html",
        "templates/sessions/detail.html",
        "templates/errors.html",
        "static/app.css",
        "static/vendor/chart.umd.min.js",
    ):
        assert f"streamscope/dashboard/{path}" in names, path


def test_the_main_job_installs_the_product_alone() -> None:
    """scripts/up.sh asks bootstrap for no extras (the test toolchain is for scripts/test.sh)."""
    up = (ROOT / "scripts" / "up.sh").read_text()
    assert 'STREAMSCOPE_EXTRAS="${STREAMSCOPE_EXTRAS:-}" bash scripts/bootstrap.sh' in up
    boot = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert 'pip install --quiet -e ".${EXTRAS:+[$EXTRAS]}"' in boot
