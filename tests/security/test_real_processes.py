"""Issue 18 items 1 and 2 against real ``streamscope collector`` processes: 250 slow HTTP clients, 32 gRPC calls
that never send their message, and the issue's 51 MB body twice at once. Each prints the collector's peak RSS
(``VmHWM``, the writer process's too) and how long the probes took; timings are printed, never asserted
(bench/ingest_edge_soak.py measures them under load). Probes use a 10 s client timeout only to fail instead of
hanging: before the fixes they waited for as long as the hostile connections were held."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from hostile import PB
from otlp import new_span_id, new_trace_id, our_stream, pb_span, request
from proc import CollectorProcess, start_collector
from test_big_bodies import minimal_spans
from test_grpc_edge import export, open_idle_calls

from streamscope.collector.limits import DEFAULT_LIMITS, EXPANSION

pytestmark = pytest.mark.timeout(300)


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(x) for x in f.read().split()]
    return out


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    c = start_collector(str(tmp_path / "p.db"))
    yield c
    c.stop()


def probe(c: CollectorProcess) -> dict[str, float]:
    """One export, one query and one scrape from 127.0.0.1; seconds each (raises on a timeout or a non-200)."""
    took: dict[str, float] = {}
    with httpx.Client(base_url=c.url, timeout=10) as client:
        for name, call in (
            (
                "export",
                lambda: client.post("/v1/traces", content=our_stream(3)[0].SerializeToString(), headers=PB),
            ),
            ("query", lambda: client.get("/api/traces")),
            ("metrics", lambda: client.get("/metrics")),
        ):
            t0 = time.perf_counter()
            r = call()
            took[name] = time.perf_counter() - t0
            assert r.status_code == 200, (name, r.status_code, r.text[:200])
    return took


def test_250_slow_http_clients_do_not_lock_anyone_out(collector: CollectorProcess) -> None:
    stop = threading.Event()
    conns = []
    for _ in range(250):  # from another loopback address, as another machine would
        s = socket.create_connection(
            ("127.0.0.1", collector.http_port), timeout=10, source_address=("127.0.0.2", 0)
        )
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        conns.append(s)

    def trickle() -> None:
        while not stop.wait(1.0):
            for s in conns:
                with contextlib.suppress(OSError):
                    s.sendall(b"a")

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        rss0 = vm_kib(collector.proc.pid, "VmRSS")
        rounds = [probe(collector) for _ in range(5)]
        rss1 = vm_kib(collector.proc.pid, "VmRSS")
    finally:
        stop.set()
        t.join()
        for s in conns:
            s.close()
    worst = {k: max(r[k] for r in rounds) for k in rounds[0]}
    print(f"\n250 slow HTTP clients: probe worst {worst}; collector RSS {rss0} -> {rss1} KiB")


def test_32_grpc_calls_without_a_message_do_not_stop_grpc_ingest(collector: CollectorProcess) -> None:
    release = threading.Event()
    own_connection = [("grpc.use_local_subchannel_pool", 1)]  # another client: not sharing the normal one's
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}", options=own_connection) as hostile, \
            grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as normal:  # fmt: skip
        idle = open_idle_calls(hostile, 32, release)
        try:
            time.sleep(0.5)  # let them all open
            took = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert export(normal, our_stream(3)[0].SerializeToString(), timeout=10) == b""
                took.append(time.perf_counter() - t0)
        finally:
            release.set()
        for f in idle:
            f.exception(timeout=60)
    print(
        f"\n32 idle gRPC calls: export worst {max(took):.3f} s; RSS {vm_kib(collector.proc.pid, 'VmRSS')} KiB"
    )


def test_the_51_mb_body_twice_at_once_stays_under_the_memory_bound(collector: CollectorProcess) -> None:
    body = minimal_spans(1_000_000)  # the body: 1M minimal spans, ~51 MB
    pid = collector.proc.pid
    writer = children(pid)
    base = vm_kib(pid, "VmRSS")
    with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=collector.url, timeout=120) as client:
        answers = list(pool.map(lambda _: client.post("/v1/traces", content=body, headers=PB), range(2)))
    assert [r.status_code for r in answers] == [413, 413]
    # the largest body it takes: 16 MiB of spans with attributes, twice at once
    attrs = {f"k{i}": "v" * 1000 for i in range(100)}
    tid = new_trace_id()
    big = request([pb_span(tid, new_span_id(), attrs=attrs) for _ in range(150)]).SerializeToString()
    assert len(big) < DEFAULT_LIMITS.max_body_bytes
    with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=collector.url, timeout=120) as client:
        answers = list(pool.map(lambda _: client.post("/v1/traces", content=big, headers=PB), range(2)))
    assert all(r.status_code in (200, 503) for r in answers), [r.status_code for r in answers]
    peak = vm_kib(pid, "VmHWM")
    writer_peak = max((vm_kib(w, "VmHWM") for w in writer), default=0)
    bound_kib = EXPANSION * DEFAULT_LIMITS.decode_budget_bytes // 1024  # the decode term of memory_bound()
    print(f"\nbig bodies: collector RSS {base} KiB idle, peak {peak} KiB; writer peak {writer_peak} KiB; "
          f"bound over idle {bound_kib} KiB")  # fmt: skip
    assert peak - base < bound_kib
    assert writer_peak < base + bound_kib
