"""Markers every test gets from what it runs, so the test script can pick whole kinds of tests.

``clickhouse``: the test runs the real ClickHouse engine (a ``test_clickhouse_*`` module, or a store-parametrised
test's ``clickhouse`` case). ``scripts/test.sh --fast`` leaves those out; the whole suite runs them.

``serial``: the test must not share the machine with other tests of this run (``scripts/test.sh`` runs the rest
under pytest-xdist first, then these one at a time): it drives Chromium against timed live pages, binds the
default ports, builds in the source tree, or bounds what it measures while ingest runs flat out.

Under xdist, modules holding ``slow`` tests are collected first (the sanitizer build, a minute of CPU on its own,
before them all), so the long ones start early and the short ones fill the end (every test still runs once;
within a module the order is unchanged).
"""

from __future__ import annotations

import pytest

SERIAL_MODULES = {
    "tests/integration/test_quickstart.py": "runs the quick start as written, on the default ports",
    "tests/test_packaging.py": "pip builds the wheel in the source tree (build/, *.egg-info)",
    "tests/security/test_size_bound.py": "the database's peak size is bounded by how fast one writer keeps up",
    "tests/sdk/testing/test_fake_llm_timing.py": "the fake server's wake-up jitter is its one tolerance (40 ms)",
}

FIRST = "tests/test_c_sanitizers.py"


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "clickhouse" in item.nodeid.lower():
            item.add_marker(pytest.mark.clickhouse)
        if _module(item) in SERIAL_MODULES or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.serial)
    if getattr(config.option, "numprocesses", None):
        slow = {_module(item) for item in items if item.get_closest_marker("slow")}
        # stable: the order within each part is kept
        items.sort(key=lambda item: (_module(item) != FIRST, _module(item) not in slow))
