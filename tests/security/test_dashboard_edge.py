"""Issue 18 item 2 for the dashboard: real ``streamscope dashboard`` and ``streamscope up`` processes serve pages
to a normal client while slow, idle and flooding connections are held, close requests still arriving at their
deadline and idle connections, and refuse Transfer-Encoding with Content-Length.

The hostile connections come from other loopback addresses (127.0.0.2 ...), as other machines would; the normal
client comes from 127.0.0.1. Probes use a 10 s client timeout only to fail instead of hanging: before the
dashboard was served by the collector's hardened server (collector/http_edge.py), waitress stopped accepting at
100 connections and every probe waited for as long as the hostile connections were held."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dashboard_seed import seed

from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.dashboard.cli import DASHBOARD_LIMITS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

LIMITS = DASHBOARD_LIMITS
PARTIAL = b"GET /traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
_LINE = re.compile(r"listening on http://127\.0\.0\.1:(\d+) \(dashboard\)")


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    drain: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _start(cmd: list[str], cwd: Path) -> Served:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = _LINE.search(line)
        if m:
            drain = threading.Thread(target=proc.stdout.read, daemon=True)  # it never blocks on a full pipe
            drain.start()
            return Served(proc, int(m.group(1)), drain)
    served = Served(proc, 0)
    _stop(served)
    raise RuntimeError("the dashboard did not start")


def _stop(served: Served) -> None:
    proc = served.proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if served.drain is not None:
        served.drain.join(10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "d.db"
    store = SQLiteStore(str(db), synchronous="OFF")
    seed(store, time.time(), traces=5)
    store.close()
    served = _start(
        [sys.executable, "-m", "streamscope", "dashboard", "--db", str(db), "--port", "0"], tmp_path
    )
    yield served
    _stop(served)


def probe(served: Served, rounds: int = 3) -> float:
    """Pages for the normal client; the slowest, in seconds (raises on a timeout or a non-200)."""
    worst = 0.0
    with httpx.Client(base_url=served.url, timeout=10) as client:
        for _ in range(rounds):
            for path in ("/traces", "/"):
                t0 = time.perf_counter()
                r = client.get(path)
                worst = max(worst, time.perf_counter() - t0)
                assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return worst


def connect(served: Served, source: str, first: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", served.port), timeout=10, source_address=(source, 0))
    if first:
        s.sendall(first)
    return s


def closed_by_server(s: socket.socket, wait: float = 10.0) -> bool:
    s.settimeout(wait)
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@contextlib.contextmanager
def held(conns: list[socket.socket], trickle: bool) -> Iterator[None]:
    """Keep ``conns`` open (sending a header byte each second when ``trickle``), close them afterwards."""
    stop = threading.Event()

    def send() -> None:
        while not stop.wait(1.0):
            for s in conns:
                with contextlib.suppress(OSError):
                    s.sendall(b"a")

    t = threading.Thread(target=send, daemon=True)
    if trickle:
        t.start()
    try:
        yield
    finally:
        stop.set()
        if trickle:
            t.join()
        for s in conns:
            s.close()


def test_250_slow_header_connections_leave_pages_served(dashboard: Served) -> None:
    conns = [connect(dashboard, "127.0.0.2", PARTIAL) for _ in range(250)]
    with held(conns, trickle=True):
        time.sleep(0.5)
        worst = probe(dashboard)
    print(f"\n250 slow-header connections: page worst {worst:.3f} s")


def test_idle_connections_past_the_connection_limit_leave_pages_served(dashboard: Served) -> None:
    """More idle connections than the server holds, from three addresses (each under the per-client limit): the
    idle-longest ones make room, and the normal client is served."""
    n = LIMITS.http_max_connections + 50
    sources = ("127.0.0.3", "127.0.0.4", "127.0.0.5")
    conns = [connect(dashboard, sources[i % 3]) for i in range(n)]
    with held(conns, trickle=False):
        time.sleep(0.5)
        worst = probe(dashboard)
        closed = sum(closed_by_server(s, 0.01) for s in conns[:100])
    assert closed > 0  # the oldest idle connections were evicted to make room
    print(f"\n{n} idle connections: page worst {worst:.3f} s; {closed} of the first 100 evicted")


def test_one_clients_connection_flood_is_capped_and_others_are_served(dashboard: Served) -> None:
    cap = LIMITS.http_max_connections_per_client
    conns = [connect(dashboard, "127.0.0.6", PARTIAL) for _ in range(cap + 40)]
    with held(conns, trickle=False):
        time.sleep(0.5)
        assert closed_by_server(conns[-1])  # past its share, a connection is closed as soon as it is accepted
        assert not closed_by_server(conns[0], 0.2)  # those within its share are held
        probe(dashboard)


def test_transfer_encoding_with_content_length_is_400_and_closes(dashboard: Served) -> None:
    head = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    with socket.create_connection(("127.0.0.1", dashboard.port), timeout=10) as s:
        # a smuggled second request after the ambiguous one must never be answered
        s.sendall(head + b"0\r\n\r\nGET /traces HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # the server closes the connection: recv returns b""
            data += chunk
    assert data.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 400"), data[:200]
    assert b"Transfer-Encoding and Content-Length" in data
    assert data.count(b"HTTP/1.1 ") == 1
    probe(dashboard, rounds=1)


def test_a_body_over_the_dashboards_cap_is_413_before_it_is_read(dashboard: Served) -> None:
    too_big = LIMITS.max_body_bytes + 1024 + 1
    with socket.create_connection(("127.0.0.1", dashboard.port), timeout=10) as s:
        s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\n\r\n" % too_big)  # fmt: skip
        data = b""
        while chunk := s.recv(65536):  # answered and closed without the body being sent
            data += chunk
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    probe(dashboard, rounds=1)


@pytest.mark.slow
def test_requests_past_their_deadline_and_idle_connections_are_closed(dashboard: Served) -> None:
    """A request trickling a header byte a second is closed ``request_timeout`` (30 s) after its first byte, an
    idle connection after ``http_idle_timeout`` (30 s); waitress alone kept the first forever, the second 120 s."""
    slow = [connect(dashboard, "127.0.0.7", PARTIAL) for _ in range(3)]
    idle = [connect(dashboard, "127.0.0.8") for _ in range(3)]
    t0 = time.monotonic()
    with held(slow, trickle=True), held(idle, trickle=False):
        probe(dashboard, rounds=1)
        limit = max(LIMITS.request_timeout, LIMITS.http_idle_timeout) + 10
        for s in slow + idle:
            assert closed_by_server(s, max(0.1, t0 + limit - time.monotonic()))
        took = time.monotonic() - t0
    assert (
        took >= min(LIMITS.request_timeout, LIMITS.http_idle_timeout) - 1
    )  # closed by the deadline, not at once
    print(f"\nslow and idle connections closed after {took:.1f} s")


def test_up_serves_its_dashboard_through_the_same_limits(tmp_path: Path) -> None:
    served = _start([sys.executable, "-m", "streamscope", "up", "--data-dir", str(tmp_path / "data"),
                     "--http-port", "0", "--grpc-port", "0", "--ui-port", "0"], tmp_path)  # fmt: skip
    try:
        cap = LIMITS.http_max_connections_per_client
        conns = [connect(served, "127.0.0.9", PARTIAL) for _ in range(cap + 40)]
        with held(conns, trickle=True):
            time.sleep(0.5)
            assert closed_by_server(conns[-1])
            probe(served)
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
            s.sendall(b"GET /traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")  # fmt: skip
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 400"), data[:200]
    finally:
        _stop(served)
