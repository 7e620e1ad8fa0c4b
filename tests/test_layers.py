"""Dependencies point one way: sdk <- collector <- dashboard; the engine knows nothing of tracing."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(folder: Path) -> Iterator[tuple[Path, str]]:
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module
                for alias in node.names:
                    yield path, f"{node.module}.{alias.name}"


def _offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path, name in _imports(ROOT / folder)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]


def test_sdk_never_imports_collector_or_dashboard() -> None:
    banned = ("streamscope.collector", "streamscope.dashboard", "collector", "dashboard")
    assert _offenders("sdk", banned) == []


def test_collector_never_imports_dashboard() -> None:
    assert _offenders("collector", ("streamscope.dashboard", "dashboard")) == []


def test_engine_never_imports_the_rest_of_the_sdk() -> None:
    offenders = []
    for path, name in _imports(ROOT / "sdk" / "engine"):
        if name.startswith("streamscope.") and not name.startswith("streamscope.engine"):
            offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_nothing_imports_source_folders() -> None:
    offenders = []
    for folder in ("sdk", "collector", "dashboard", "tests", "bench"):
        for path, name in _imports(ROOT / folder):
            if name.split(".")[0] in {"sdk", "collector", "dashboard"}:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
