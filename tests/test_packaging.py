"""The wheel must contain every package under sdk/, collector/ and dashboard/."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {"sdk": "streamscope", "collector": "streamscope/collector", "dashboard": "streamscope/dashboard"}


def _source_packages() -> set[str]:
    found = set()
    for folder, prefix in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(prefix if str(rel) == "." else f"{prefix}/{rel.as_posix()}")
    return found


def test_wheel_contains_every_subpackage(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("streamscope-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    missing = _source_packages() - in_wheel
    assert not missing, f"packages missing from the wheel (add them to [tool.setuptools] packages): {sorted(missing)}"
    assert "streamscope/py.typed" in names
