"""The whole store contract against a real ClickHouse server, skipped unless ``STREAMSCOPE_CLICKHOUSE_URL`` is set.

It covers what the engine-as-server here cannot: a real server's async-insert queue (the tests run twice, with
``async_insert=0`` and ``=1``) and, when the URL names a cluster (``?cluster=NAME``), Replicated tables and DDL
``ON CLUSTER`` through Keeper. Each test gets its own database (the URL's database name plus a suffix), dropped
afterwards. Example::

    STREAMSCOPE_CLICKHOUSE_URL=clickhouse://default:@127.0.0.1:8123/streamscope_test .venv/bin/python -m pytest \\
        tests/integration/test_clickhouse_external.py
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "collector"))
from test_store_contract import *  # noqa: F403  (every contract test, with the store fixture below)
from test_store_contract import _random_streams

from streamscope.collector.store import SpanStore
from streamscope.collector.store.clickhouse import ClickHouseStore

URL = os.environ.get("STREAMSCOPE_CLICKHOUSE_URL", "")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not URL, reason="STREAMSCOPE_CLICKHOUSE_URL is not set")]  # fmt: skip
_n = itertools.count(1)


def _url(database: str, async_insert: str) -> str:
    u = urlsplit(URL)
    query = "&".join(q for q in (u.query, f"async_insert={async_insert}") if q)
    return urlunsplit((u.scheme, u.netloc, f"/{database}", query, ""))


def _open(async_insert: str) -> ClickHouseStore:
    base = urlsplit(URL).path.strip("/") or "streamscope_test"
    return ClickHouseStore.from_url(_url(f"{base}_{os.getpid()}_{next(_n)}", async_insert))


def _drop(s: ClickHouseStore) -> None:
    on = f" ON CLUSTER `{s.layout.cluster}`" if s.layout.cluster and s.layout.on_cluster else ""
    s.client.command(f"DROP DATABASE IF EXISTS `{s.layout.database}`{on} SYNC")
    s.close()


@pytest.fixture(params=["0", "1"], ids=["sync-insert", "async-insert"])
def store(request: pytest.FixtureRequest) -> Iterator[SpanStore]:
    s = _open(request.param)
    yield s
    _drop(s)


@pytest.fixture(scope="module", params=["0", "1"], ids=["sync-insert", "async-insert"])
def random_store(request: pytest.FixtureRequest) -> Iterator[SpanStore]:
    """The contract's shared read-only store (``_random_streams(400)``), on this server."""
    s = _open(request.param)
    for b in _random_streams(400):
        s.write(b)
    s.settle()
    yield s
    _drop(s)
