"""The hostile-input suite: the collector's ingest edge, its stored values, the query API, auth and options (one
module per fault, fuzzing of every decoder and query parameter).

Shares the OTLP builders and the process helper of tests/collector and the seeded data of tests/dashboard."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
# the collector's and the dashboard's test helpers (OTLP builders, seeded data, collector subprocesses)
sys.path.insert(0, str(Path(__file__).parent.parent / "collector"))
sys.path.insert(0, str(Path(__file__).parent.parent / "dashboard"))

from streamscope.collector.server import CollectorServer


@pytest.fixture
def store_kind() -> str:
    """The store behind ``server``: SQLite here; modules whose cases are store-facing import ``stores.store_kind``
    to run them against ClickHouse too."""
    return "sqlite"


@pytest.fixture
def server(tmp_path: Path, store_kind: str) -> Iterator[CollectorServer]:
    if store_kind == "sqlite":
        s = CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=0, max_queue_rows=5000,
                            synchronous="NORMAL")  # fmt: skip
    else:
        from stores import open_store

        s = CollectorServer(store=open_store(store_kind, tmp_path / "c.db"), http_port=0, grpc_port=0,
                            max_queue_rows=5000)  # fmt: skip
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(server: CollectorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as c:
        yield c
