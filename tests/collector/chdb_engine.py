"""The ClickHouse engine in this process (chdb through clickhouse-connect) for store tests.

chdb allows one engine path per process, so every test shares one engine directory and gets a fresh database.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile

from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.clickhouse_schema import Layout

_path: str | None = None
_n = itertools.count(1)


def engine_path() -> str:
    global _path
    if _path is None:
        _path = tempfile.mkdtemp(prefix="streamscope-chdb-")
        atexit.register(shutil.rmtree, _path, True)
    return _path


def client() -> object:
    import clickhouse_connect

    return clickhouse_connect.get_client(interface="chdb", path=engine_path())


def fresh_store(**kw: object) -> ClickHouseStore:
    """A ClickHouseStore on a database no other test uses (fsync off: the engine is thrown away)."""
    layout = Layout(database=f"t{next(_n)}_{id(kw):x}", fsync=False)
    return ClickHouseStore(client(), layout, **kw)  # type: ignore[arg-type]
