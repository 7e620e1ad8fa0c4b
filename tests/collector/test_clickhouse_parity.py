"""One dataset through the real receiver into SQLite and into ClickHouse: every query API answer is the same."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chdb_engine import fresh_store
from otlp import our_stream, pb_span, request

from streamscope.collector.model import NS
from streamscope.collector.server import CollectorServer
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.dashboard.collector_source import CollectorSource
from streamscope.dashboard.params import Filters as DashFilters

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 relative (aggregates sum floats in a different order per store); dataclasses (the
    dashboard's data source answers them) field by field."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), path
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[CollectorServer]]:
    out = [CollectorServer(store=SQLiteStore(str(tmp_path / "db.sqlite")), grpc_port=None),
           CollectorServer(store=fresh_store(), grpc_port=None)]  # fmt: skip
    yield out
    for s in out:
        s.ingestor.close()
        s.store.close()


def test_every_api_answer_matches_sqlite(servers: list[CollectorServer]) -> None:
    rng = random.Random(5)
    base = (time.time_ns() // (3600 * NS) - 2) * 3600 * NS  # two hours ago, on the hour
    bodies, ids = [], []
    for i in range(60):
        req, got = our_stream(rng.randrange(1, 8), model=rng.choice(["gpt-4o", "claude", "llama"]),
                              outcome=rng.choice(["completed", "completed", "error", "abandoned"]),
                              service=rng.choice(["svc-a", "svc-b"]), start_ns=base + rng.randrange(0, 90 * 60 * NS),
                              chunk_spans=i % 3 != 0, session=f"s-{i % 5}", user=f"u-{i % 2}",
                              who_on_stream=i % 4 != 0)  # fmt: skip
        bodies.append(req.SerializeToString())
        ids.append(got)
    tid = bytes.fromhex(ids[0]["trace_id"])  # a generic OTel span (not a stream) in a known trace
    bodies.append(request([pb_span(tid, b"\x01" * 8, bytes.fromhex(ids[0]["root"]), name="db query",
                                   attrs={"db.system": "postgresql", "note": "<b>Chat</b> %"})]).SerializeToString())  # fmt: skip
    clients = [s.app.test_client() for s in servers]
    for body in bodies + bodies[:10]:  # the first ten are delivered twice
        for c in clients:
            assert c.post("/v1/traces", data=body, headers=PROTOBUF).status_code == 200
    for s in servers:
        s.store.settle()  # ClickHouse derives trace summaries and aggregates after the acknowledgement

    since, until = str((base + 20 * 60 * NS) / NS), str((base + 70 * 60 * NS + 7) / NS)
    urls = ["/api/traces?limit=500", "/api/streams?limit=500", "/api/traces?limit=7", "/api/streams?limit=5",
            "/api/traces?service=svc-a", "/api/traces?model=claude", "/api/traces?status=error", "/api/traces?q=chat",
            "/api/traces?q=%25", f"/api/traces?since={since}&until={until}", "/api/streams?outcome=error",
            "/api/streams?model=gpt-4o&service=svc-b", "/api/streams?min_ttft=0.1", "/api/streams?q=CHAT+llama",
            f"/api/streams?since={since}", "/api/streams?min_duration=0.4&max_duration=0.6",
            f"/api/live?since={base / NS}", "/api/traces?user_id=u-1&limit=500", "/api/traces?session_id=s-3",
            "/api/streams?user_id=u-0&limit=500", "/api/streams?session_id=s-2&outcome=error",
            "/api/streams?session_id=s-4&user_id=u-0", f"/api/streams?user_id=u-1&since={since}"]  # fmt: skip
    for group_by in ("model", "service", "outcome", "provider", "none"):
        for bucket in ("60", "300", "3600", "45"):
            urls.append(f"/api/stats?group_by={group_by}&bucket={bucket}")
    urls += [f"/api/stats?group_by=model&bucket=300&since={since}&until={until}",
             "/api/stats?group_by=service&bucket=600&model=claude", "/api/stats?bucket=60&q=chat",
             "/api/stats?group_by=model&bucket=60&user_id=u-1", "/api/stats?group_by=none&bucket=300&session_id=s-2",
             f"/api/stats?group_by=model&bucket=3600&user_id=u-0&since={since}&until={until}"]  # fmt: skip
    for i in ids[:15]:
        urls += [f"/api/traces/{i['trace_id']}", f"/api/streams/{i['llm']}/chunks"]
    first_page = clients[0].get("/api/traces?limit=7").get_json()
    urls.append(f"/api/traces?limit=7&cursor={first_page['next']}")
    user_page = clients[0].get("/api/streams?limit=4&user_id=u-1").get_json()
    urls.append(f"/api/streams?limit=4&user_id=u-1&cursor={user_page['next']}")
    for url in urls:
        a, b = (c.get(url) for c in clients)
        assert a.status_code == b.status_code == 200, url
        ja, jb = a.get_json(), b.get_json()
        if "/api/traces/" in url:  # span order is not part of the API
            for j in (ja, jb):
                j["spans"].sort(key=lambda s: s["span_id"])
        _same(ja, jb, url)
    stats = clients[1].get("/api/stats?group_by=model&bucket=60").get_json()
    assert stats["source"] == "aggregates" and stats["total"]["count"] == 60
    # user and session filters: the aggregates cannot answer them, both stores fall back to the same raw streams
    for user, n in (("u-0", 30), ("u-1", 30)):
        got = [c.get(f"/api/stats?group_by=none&bucket=60&user_id={user}").get_json() for c in clients]
        assert [g["source"] for g in got] == ["streams", "streams"] and got[0]["total"]["count"] == n
    # the dashboard's pages read through CollectorSource: its filtered answers match too
    lo, hi = (base + 20 * 60 * NS) / NS, (base + 100 * 60 * NS) / NS
    sources = [CollectorSource(s.store, stats_ttl=0, clock=lambda: hi) for s in servers]
    for f in (
        DashFilters(user="u-1", since=lo, until=hi),
        DashFilters(session="s-2", since=lo, until=hi),
        DashFilters(user="u-0", session="s-4", since=lo, until=hi, limit=3),
    ):
        _same(*(src.stats(f, bucket=300) for src in sources), f"stats {f}")
        _same(*(src.sessions(f) for src in sources), f"sessions {f}")
        _same(*(src.error_rows(f, limit=100) for src in sources), f"errors {f}")
        _same(*(src.streams(f) for src in sources), f"streams {f}")
        _same(*(src.traces(f) for src in sources), f"traces {f}")
    assert sources[0].stats(DashFilters(user="u-1", since=lo, until=hi), bucket=300).totals.streams > 0
