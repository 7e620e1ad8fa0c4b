from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).parent))

from dashboard_seed import Seeded, seed

from streamscope.collector.store.memory import MemoryStore
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.dashboard import create_app

NOW = time.time()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The collector's real stores, both implementations."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = SQLiteStore(str(tmp_path / "spans.db"), synchronous="OFF")
        yield s
        s.close()


@pytest.fixture
def seeded(store: Any) -> Seeded:
    return seed(store, NOW)


@pytest.fixture
def app(store: Any, seeded: Seeded) -> Flask:
    return create_app(store=store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
