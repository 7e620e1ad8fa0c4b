"""Issue 18 item 1 on the ClickHouse store: a real ``streamscope collector --store clickhouse://...`` (the engine
as a server, tests/chserver.py) takes the issue's 51 MB body twice at once (413 before reading) and the largest
bodies it accepts twice at once, and its peak RSS stays under the memory bound. With ClickHouse the writes run in
the collector's own process, so the bound is the decode term of ``Limits.memory_bound()`` twice: once for the
requests being decoded and queued, once for the batch being written (the SQLite writer process's share)."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hostile import PB
from otlp import new_span_id, new_trace_id, pb_span, request
from proc import start_collector
from test_big_bodies import minimal_spans
from test_real_processes import vm_kib

from streamscope.collector.limits import DEFAULT_LIMITS, EXPANSION

sys.path.insert(0, str(Path(__file__).parents[1]))
import chserver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_big_bodies_on_clickhouse_stay_under_the_memory_bound(tmp_path: Path) -> None:
    server = chserver.start(tmp_path / "ch")
    collector = start_collector(str(tmp_path / "unused.db"), "--store", server.url("mem"))
    try:
        pid = collector.proc.pid
        base = vm_kib(pid, "VmRSS")
        body = minimal_spans(1_000_000)  # the body: 1M minimal spans, ~51 MB
        with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=collector.url, timeout=120) as client:
            answers = list(pool.map(lambda _: client.post("/v1/traces", content=body, headers=PB), range(2)))
        assert [r.status_code for r in answers] == [413, 413]
        attrs = {f"k{i}": "v" * 1000 for i in range(100)}
        tid = new_trace_id()
        big = request([pb_span(tid, new_span_id(), attrs=attrs) for _ in range(150)]).SerializeToString()
        assert len(big) < DEFAULT_LIMITS.max_body_bytes
        with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=collector.url, timeout=120) as client:
            answers = list(pool.map(lambda _: client.post("/v1/traces", content=big, headers=PB), range(2)))
            assert all(r.status_code in (200, 503) for r in answers), [r.status_code for r in answers]
            stored = client.get(f"/api/traces/{tid.hex()}")
        assert stored.status_code == 200 and len(stored.json()["spans"]) == 150
        peak = vm_kib(pid, "VmHWM")
    finally:
        collector.stop()
        server.stop()
    bound_kib = 2 * EXPANSION * DEFAULT_LIMITS.decode_budget_bytes // 1024
    print(
        f"\nClickHouse store: collector RSS {base} KiB idle, peak {peak} KiB; bound over idle {bound_kib} KiB"
    )
    assert peak - base < bound_kib
