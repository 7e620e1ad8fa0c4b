"""The stores the hostile-input battery runs against: SQLite (the embedded default) and ClickHouse (the real
engine in this process, chdb; see tests/collector/chdb_engine.py).

A module that runs its store-facing cases against both imports :func:`store_kind`, which overrides the
conftest's SQLite-only one for that module."""

from __future__ import annotations

from pathlib import Path

import pytest
from chdb_engine import fresh_store

from streamscope.collector.store import SpanStore
from streamscope.collector.store.sqlite import SQLiteStore

STORES = ("sqlite", "clickhouse")


def open_store(kind: str, path: Path) -> SpanStore:
    """A fresh store of ``kind``; ``path`` is the SQLite file (unused by ClickHouse)."""
    if kind == "clickhouse":
        return fresh_store()
    return SQLiteStore(str(path), synchronous="OFF")


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
