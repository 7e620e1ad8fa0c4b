"""Re-delivery (exporters retry whatever they did not see acknowledged): the same export sent again, and several
times at once, is counted once by every read (traces, streams, chunks, stats), on SQLite and ClickHouse."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from hostile import PB
from otlp import our_stream
from stores import store_kind  # noqa: F401  (the cases below run on SQLite and ClickHouse)

from streamscope.collector.server import CollectorServer


def test_the_same_export_again_and_at_once_counts_once(server: CollectorServer, client: httpx.Client) -> None:
    req, ids = our_stream(4)
    body = req.SerializeToString()
    for _ in range(2):
        assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/traces", content=body, headers=PB), range(4)))
    assert [r.status_code for r in answers] == [200] * 4
    server.store.settle()  # ClickHouse derives summaries and aggregates off the write path; SQLite returns at once
    (trace,) = client.get("/api/traces").json()["traces"]
    assert (trace["span_count"], trace["stream_count"]) == (
        2,
        1,
    )  # the root and the stream span (chunks fold in)
    (stream,) = client.get("/api/streams").json()["streams"]
    assert stream["span_id"] == ids["llm"] and stream["chunk_count"] == 4
    assert len(client.get(f"/api/streams/{ids['llm']}/chunks").json()["chunks"]) == 4
    assert client.get("/api/stats").json()["total"]["count"] == 1
