"""Issue 18 item 2 (HTTP, in process): a request still arriving at its deadline is closed, one client address
holds a bounded number of connections, and neither stops other clients. Real processes with 250 slow clients:
test_real_processes.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hostile import PB
from otlp import our_stream

from streamscope.collector.limits import Limits
from streamscope.collector.server import CollectorServer

PARTIAL = b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nX-Slow: "


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[CollectorServer]:
    s = CollectorServer(str(tmp_path / "e.db"), http_port=0, grpc_port=None,
                        limits=Limits(request_timeout=2, http_idle_timeout=30, http_max_connections_per_client=5))  # fmt: skip
    s.start()
    yield s
    s.stop()


def slow(port: int, source: str = "127.0.0.2") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0))
    s.sendall(PARTIAL)
    return s


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True


def _closed(server: CollectorServer, reason: str) -> float:
    value = server.metrics.registry.get_sample_value(
        "streamscope_collector_connections_closed_total", {"reason": reason}
    )
    return value or 0.0


def test_a_request_still_arriving_at_its_deadline_is_closed(edge: CollectorServer) -> None:
    conns = [slow(edge.http_port) for _ in range(3)]
    for i, s in enumerate(conns):  # a byte now and then: activity alone does not extend the deadline
        s.sendall(b"x")
        assert closed_by_server(s), f"connection {i} still open"  # a 20 s client timeout would raise instead
        s.close()
    assert _closed(edge, "request_timeout") == 3


def test_one_client_holds_at_most_its_share_and_others_are_served(edge: CollectorServer) -> None:
    held = [slow(edge.http_port) for _ in range(5)]
    extra = socket.create_connection(
        ("127.0.0.1", edge.http_port), timeout=10, source_address=("127.0.0.2", 0)
    )
    try:
        assert closed_by_server(extra)  # the sixth from the same address is closed at once
        assert _closed(edge, "per_client_limit") == 1
        with httpx.Client(
            base_url=f"http://127.0.0.1:{edge.http_port}", timeout=10
        ) as client:  # another address
            r = client.post("/v1/traces", content=our_stream(2)[0].SerializeToString(), headers=PB)
            assert r.status_code == 200
            assert client.get("/metrics").status_code == 200
    finally:
        extra.close()
        for s in held:
            s.close()


def test_at_the_connection_limit_a_new_client_evicts_the_slowest(tmp_path: Path) -> None:
    """Slow connections from many addresses fill the table: a new client still gets in (before, waitress stopped
    accepting and everyone waited for the deadlines)."""
    s = CollectorServer(str(tmp_path / "full.db"), http_port=0, grpc_port=None,
                        limits=Limits(request_timeout=60, http_max_connections=10))  # fmt: skip
    s.start()
    held = [slow(s.http_port, f"127.0.0.{2 + i}") for i in range(10)]
    try:
        time.sleep(0.5)
        with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", timeout=10) as client:
            for _ in range(3):
                r = client.post("/v1/traces", content=our_stream(2)[0].SerializeToString(), headers=PB)
                assert r.status_code == 200
        assert _closed(s, "evicted") >= 1
        assert closed_by_server(held[0])  # the oldest arriving request went first
    finally:
        for c in held:
            c.close()
        s.stop()
