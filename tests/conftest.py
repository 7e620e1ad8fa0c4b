"""Markers every test gets from what it runs, so the fast lane can leave out whole kinds of tests.

``clickhouse``: the test runs the real ClickHouse engine (a ``test_clickhouse_*`` module, or a store-parametrised
test's ``clickhouse`` case). ``scripts/test.sh --fast`` leaves those out; the whole suite runs them.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "clickhouse" in item.nodeid.lower():
            item.add_marker(pytest.mark.clickhouse)
