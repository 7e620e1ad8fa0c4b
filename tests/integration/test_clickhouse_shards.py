"""A 2-shard Distributed smoke test: two ClickHouse engine servers in one cluster, tables sharded by trace id.

No Keeper runs here, so the tables are plain ``ReplacingMergeTree`` per shard (``replicated=0``) and the schema is
applied on each server (``on_cluster=0``); writes and reads go through the ``Distributed`` tables.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "collector"))
from factories import llm_trace

import chserver
from streamscope.collector import query
from streamscope.collector.model import Filters
from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.memory import MemoryStore

pytestmark = pytest.mark.integration


def _free_ports(n: int) -> list[int]:
    """Ports for the cluster config, which must name each shard's TCP port before the servers start."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[chserver.Server]]:
    tcp = _free_ports(2)
    replicas = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>" for p in tcp
    )
    config = f"<remote_servers><two>{replicas}</two></remote_servers>"
    servers = [
        chserver.start(tmp_path_factory.mktemp(f"shard{i}"), config, tcp_port=tcp[i]) for i in range(2)
    ]
    yield servers
    for s in servers:
        s.stop()


def test_two_shards_store_and_answer_like_one(shards: list[chserver.Server]) -> None:
    urls = [s.url("sharded", cluster="two", replicated="0", on_cluster="0", fsync="0") for s in shards]
    stores = [ClickHouseStore.from_url(u) for u in urls]  # each applies the schema on its own server
    ref = MemoryStore()
    try:
        batches = [
            llm_trace(4, start=i, model=("a", "b", "c")[i % 3], session=f"s{i % 4}") for i in range(40)
        ]
        for i, b in enumerate(batches):
            stores[i % 2].write(b)
            ref.write(b)
        stores[1].write(batches[3])  # a re-delivery through the other shard's server
        for s in stores:
            s.settle()
        for s in stores:
            assert s.counts() == ref.counts() == {"spans": 80, "streams": 40, "chunks": 160, "traces": 40}
            assert s.traces(Filters(), 100) == ref.traces(Filters(), 100)
            assert s.streams(Filters(model="b"), 100) == ref.streams(Filters(model="b"), 100)
            assert s.traces(Filters(model="c", search="chat c"), 100) == ref.traces(
                Filters(model="c", search="chat c"), 100
            )
            assert s.sessions(Filters(), 10) == ref.sessions(Filters(), 10)
            page = ref.sessions(Filters(), 2)  # a page of the list: its sessions found over both shards
            assert s.sessions(Filters(), 2) == page
            after = (page[-1].last_start_ns, page[-1].session_id)
            assert s.sessions(Filters(), 2, after) == ref.sessions(Filters(), 2, after)
            one = Filters(session_id="s1")  # the session narrowing reads through the Distributed tables
            assert s.sessions(one, 1) == ref.sessions(one, 1) and s.traces(one, 100) == ref.traces(one, 100)
            tid = ref.traces(Filters(), 1)[0].trace_id
            assert s.streams(Filters(trace_id=tid), None) == ref.streams(Filters(trace_id=tid), None)
            got, want = query.stats(s, "model", 60).to_dict(), query.stats(ref, "model", 60).to_dict()
            assert got["source"] == "aggregates" and got["total"]["count"] == want["total"]["count"] == 40
        local = [
            int(c.client.query("SELECT count() FROM sharded.streams_local").result_rows[0][0]) for c in stores
        ]
        assert sum(local) == 40 and all(n > 0 for n in local)  # both shards hold rows
    finally:
        for s in stores:
            s.close()
