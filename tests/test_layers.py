"""Dependencies point one way: sdk <- collector <- dashboard; the engine knows nothing of tracing.

The gates read every import of the tree (``ast``), so they also check two rules that keep them complete:

- no relative imports anywhere (``from .x import y``): an import names what it uses in full, so the gates see it;
  test and bench helpers are imported by module name from their folder (a ``conftest.py`` puts it on the path);
- the servers use only the SDK's public server surface (:data:`SDK_FOR_SERVERS`), never its tracing, engine or
  instrumentation internals;
- dashboard pages reach the collector only through their data-source interface (``dashboard/source.py``): only
  the modules in :data:`DASHBOARD_COLLECTOR_IMPORTS` import the collector, each only what is listed there.

Each gate is also run against a planted violation, so a gate that stopped seeing anything fails.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREE = ("sdk", "collector", "dashboard", "tests", "bench", "examples")

#: What the collector and the dashboard may import from the SDK: what every server command shares (the data
#: location and one style of start-up error). Anything else of the SDK is the app side's (tracing, engine).
SDK_FOR_SERVERS = ("streamscope.serving",)

#: The dashboard modules that may import the collector, and what. The pages ask a ``DataSource``; these build
#: or implement it.
DASHBOARD_COLLECTOR_IMPORTS: dict[str, tuple[str, ...]] = {
    # the DataSource over the collector's store and query layer, and the overview's reshaping of query.stats
    "collector_source.py": ("streamscope.collector",),
    "overview_stats.py": ("streamscope.collector.results",),
    # the interface itself: the collector's rows and query results are the types its methods answer
    "source.py": ("streamscope.collector.model", "streamscope.collector.results"),
    # composition: they open the store (or start the collector) and hand the app a DataSource
    "app.py": ("streamscope.collector.store",),
    "cli.py": ("streamscope.collector.cli_options", "streamscope.collector.http_edge",
               "streamscope.collector.limits"),  # the collector's hardened HTTP server serves the dashboard too
    "up.py": ("streamscope.collector.cli_options", "streamscope.collector.gc_tuning", "streamscope.collector.ports",
              "streamscope.collector.server"),
    # the Host-header check both servers share (not data)
    "security.py": ("streamscope.collector.hosts",),
}  # fmt: skip


def _imports(folder: Path) -> Iterator[tuple[Path, str, int]]:
    """(file, imported name, level): ``level`` > 0 for a relative import (its name is then as written)."""
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name, 0
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                yield path, module, node.level
                for alias in node.names:
                    yield path, f"{module}.{alias.name}" if module else alias.name, node.level


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(root: Path, folder: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for path, name, level in _imports(root / folder)
        if level == 0 and _within(name, banned)
    ]


def _engine_offenders(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for path, name, level in _imports(root / "sdk" / "engine")
        if level == 0 and name.startswith("streamscope.") and not _within(name, ("streamscope.engine",))
    ]


def _source_folder_offenders(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for folder in TREE
        if (root / folder).is_dir()
        for path, name, level in _imports(root / folder)
        if level == 0 and name.split(".")[0] in {"sdk", "collector", "dashboard"}
    ]


def _relative_imports(root: Path) -> list[str]:
    return sorted({
        f"{path.relative_to(root)}: from {'.' * level}{name.split('.')[0] if name else ''} import ..."
        for folder in TREE
        if (root / folder).is_dir()
        for path, name, level in _imports(root / folder)
        if level
    })  # fmt: skip


def _sdk_internals_in_servers(root: Path) -> list[str]:
    out = []
    for folder in ("collector", "dashboard"):
        for path, name, level in _imports(root / folder):
            if level or not (name == "streamscope" or name.startswith("streamscope.")):
                continue
            if _within(name, ("streamscope.collector", "streamscope.dashboard")):
                continue
            public = _within(name, SDK_FOR_SERVERS) and not name.rsplit(".", 1)[-1].startswith("_")
            if not public:
                out.append(f"{path.relative_to(root)} imports {name}")
    return out


def _dashboard_bypasses(root: Path) -> list[str]:
    out = []
    for path, name, level in _imports(root / "dashboard"):
        if level or not _within(name, ("streamscope.collector",)):
            continue
        allowed = DASHBOARD_COLLECTOR_IMPORTS.get(str(path.relative_to(root / "dashboard")), ())
        if not _within(name, allowed):
            out.append(f"{path.relative_to(root)} imports {name}")
    return out


def _sdk_imports_servers(root: Path) -> list[str]:
    return _offenders(
        root, "sdk", ("streamscope.collector", "streamscope.dashboard", "collector", "dashboard")
    )


def _collector_imports_dashboard(root: Path) -> list[str]:
    return _offenders(root, "collector", ("streamscope.dashboard", "dashboard"))


GATES: dict[str, Callable[[Path], list[str]]] = {
    "sdk_never_imports_collector_or_dashboard": _sdk_imports_servers,
    "collector_never_imports_dashboard": _collector_imports_dashboard,
    "engine_never_imports_the_rest_of_the_sdk": _engine_offenders,
    "nothing_imports_source_folders": _source_folder_offenders,
    "no_relative_imports": _relative_imports,
    "servers_use_only_the_sdks_server_surface": _sdk_internals_in_servers,
    "dashboard_pages_reach_the_collector_only_through_their_data_source": _dashboard_bypasses,
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_the_tree_passes(gate: str) -> None:
    assert GATES[gate](ROOT) == []


def test_the_allowed_lists_name_modules_that_exist() -> None:
    for name in DASHBOARD_COLLECTOR_IMPORTS:
        assert (ROOT / "dashboard" / name).is_file(), name
    for module in SDK_FOR_SERVERS:
        assert (ROOT / "sdk" / (module.removeprefix("streamscope.").replace(".", "/") + ".py")).is_file(), (
            module
        )


# (file, its source, the gate that must catch it)
PLANTED = [
    ("sdk/tracing/leak.py", "from streamscope.collector.model import Stream\n", _sdk_imports_servers),
    ("collector/leak.py", "import streamscope.dashboard.app\n", _collector_imports_dashboard),
    (
        "sdk/engine/leak.py",
        "from streamscope.tracing.handler import TracingCallbackHandler\n",
        _engine_offenders,
    ),
    ("bench/leak.py", "from collector.query import stats\n", _source_folder_offenders),
    ("dashboard/views/leak.py", "from ..source import DataSource\n", _relative_imports),
    ("tests/collector/test_leak.py", "from .factories import llm_trace\n", _relative_imports),
    ("collector/leak.py", "from streamscope.tracing.setup import init\n", _sdk_internals_in_servers),
    ("dashboard/leak.py", "from streamscope import trace\n", _sdk_internals_in_servers),
    ("collector/leak.py", "from streamscope.serving import _private\n", _sdk_internals_in_servers),
    ("dashboard/views/leak.py", "from streamscope.collector import query\n", _dashboard_bypasses),
    ("dashboard/config.py", "from streamscope.collector.query import LIVE_LAG\n", _dashboard_bypasses),
    ("dashboard/app.py", "from streamscope.collector.query import stats\n", _dashboard_bypasses),
]


@pytest.mark.parametrize(
    ("planted", "source", "gate"), PLANTED, ids=[f"{g.__name__}:{p}" for p, _, g in PLANTED]
)
def test_each_gate_catches_a_planted_violation(
    planted: str, source: str, gate: Callable[[Path], list[str]], tmp_path: Path
) -> None:
    for folder in (*TREE, "sdk/engine", "dashboard/views", "collector/store"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    # allowed imports next to it stay allowed
    (tmp_path / "dashboard" / "views" / "fine.py").write_text(
        "from streamscope.dashboard.source import DataSource\n"
    )
    (tmp_path / "collector" / "fine.py").write_text(
        "from streamscope.serving import default_db\nimport json\n"
    )
    (tmp_path / "dashboard" / "collector_source.py").write_text("from streamscope.collector import query\n")
    (tmp_path / "sdk" / "engine" / "fine.py").write_text(
        "from streamscope.engine.messages import AIMessage\n"
    )
    assert gate(tmp_path) == []
    (tmp_path / planted).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / planted).write_text(source)
    found = gate(tmp_path)
    assert found and all(planted in f for f in found), found
