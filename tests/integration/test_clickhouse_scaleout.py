"""Scale-out on ClickHouse: the engine as a server, two collector processes and the dashboard against it.

OTLP senders spread requests over both collectors and retry on the other one after any failure; some requests
are re-delivered on purpose after their acknowledgement. One collector is killed with SIGKILL mid-load.
Nothing acknowledged may be lost, nothing may count twice (streams, chunks, aggregates, /api/stats), and the
dashboard serves what was stored.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[1] / "collector"))
from otlp import our_stream
from proc import start_collector

import chserver

pytestmark = pytest.mark.integration
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[chserver.Server]:
    s = chserver.start(tmp_path_factory.mktemp("clickhouse"))
    yield s
    s.stop()


def _dashboard(url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "streamscope", "dashboard", "--store", url, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+) \(dashboard\)\n", line)
    assert m, f"unexpected dashboard output {line!r}"
    return proc, m.group(1)


def _all(client: httpx.Client, url: str, key: str, **query: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "500", **query, **({"cursor": cursor} if cursor else {})}
        body = client.get(url, params=params).json()
        out += body[key]
        cursor = body["next"]
        if cursor is None:
            return out


def test_two_collectors_kill9_and_redelivery_count_once(server: chserver.Server, tmp_path: Path) -> None:
    url = server.url("scaleout")
    collectors = [start_collector(str(tmp_path / f"unused{i}.db"), "--store", url) for i in range(2)]
    dash, dash_url = _dashboard(url)
    acked: dict[str, int] = {}  # llm span id -> chunk count
    sessions: dict[str, int] = {}  # session id -> acknowledged traces
    lock = threading.Lock()
    errors: list[str] = []
    stop_at = time.monotonic() + 60

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=10) as client:
            for k in range(40):
                n = rng.randrange(1, 6)
                session = f"sess{seed}-{k % 3}"
                req, ids = our_stream(
                    n, model=rng.choice(["m-a", "m-b"]), service=f"svc{seed % 2}", session=session
                )
                body = req.SerializeToString()
                target = rng.randrange(2)
                while True:
                    if time.monotonic() > stop_at:
                        errors.append("gave up retrying")
                        return
                    try:
                        r = client.post(f"{collectors[target].url}/v1/traces", content=body, headers=PROTOBUF)
                        if r.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    target = 1 - target  # retry on the other collector
                    time.sleep(0.05)
                with lock:
                    acked[ids["llm"]] = n
                    sessions[session] = sessions.get(session, 0) + 1
                if rng.random() < 0.2:  # an exporter retry after a lost response: re-delivered elsewhere
                    alive = [c for c in collectors if c.proc.poll() is None]
                    client.post(f"{alive[-1].url}/v1/traces", content=body, headers=PROTOBUF)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        while len(acked) < 30 and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        os.kill(collectors[0].proc.pid, signal.SIGKILL)  # mid-load
        collectors[0].proc.wait(10)
        for t in threads:
            t.join(90)
        assert not errors and len(acked) == 160
        with httpx.Client(timeout=30) as client:
            api = collectors[1].url
            streams = _all(client, f"{api}/api/streams", "streams")
            ids = [s["span_id"] for s in streams]
            assert len(ids) == len(set(ids)), "a stream is listed twice"
            assert set(acked) <= set(ids), "an acknowledged stream is missing"
            for sid in random.Random(1).sample(sorted(acked), 20):
                chunks = client.get(f"{api}/api/streams/{sid}/chunks").json()["chunks"]
                assert [c["index"] for c in chunks] == list(range(acked[sid]))
            # Trace summaries and aggregates follow the acknowledgement: the killed collector's marks died with
            # it, so the survivor's sweep (every 30 s) derives its last writes; wait for that, then compare.
            deadline = time.monotonic() + 90
            while True:
                stats = client.get(f"{api}/api/stats", params={"group_by": "model", "bucket": "60"}).json()
                traces = _all(client, f"{api}/api/traces", "traces")
                by_session = {sid: len(_all(client, f"{api}/api/traces", "traces", session_id=sid))
                              for sid in sessions}  # fmt: skip
                done = (
                    stats["total"]["count"] == len(ids) and len(traces) == len(ids) and by_session == sessions
                )
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert stats["source"] == "aggregates"
            assert stats["total"]["count"] == len(ids)
            assert len(traces) == len({t["trace_id"] for t in traces}) == len(ids)
            assert all(t["stream_count"] == 1 and t["span_count"] == 2 for t in traces)
            assert by_session == sessions  # each session's traces (read by session) counted once
            # the dashboard, a third process on the same store, serves them
            some = streams[0]
            page = client.get(f"{dash_url}/traces/{some['trace_id']}")
            assert page.status_code == 200 and str(some["span_id"]) in page.text
            assert client.get(f"{dash_url}/streams").status_code == 200
            listing = client.get(f"{dash_url}/sessions").text
            assert all(sid in listing for sid in sessions)  # the sessions list, and two sessions' pages
            for sid in ("sess0-0", "sess3-2"):
                page = client.get(f"{dash_url}/sessions/{sid}")
                assert page.status_code == 200 and f"{sessions[sid]} traces" in page.text, page.text[:2000]
            assert client.get(f"{dash_url}/").status_code == 200
    finally:
        for c in collectors:
            c.stop()
        dash.send_signal(signal.SIGTERM)
        dash.wait(15)
        if dash.stdout is not None:
            dash.stdout.close()


def test_bad_store_url_is_a_one_line_usage_error() -> None:
    r = subprocess.run([sys.executable, "-m", "streamscope", "collector", "--store", "clickhouse://h:x/db"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "port" in r.stderr and "Traceback" not in r.stderr


def test_unreachable_store_is_a_one_line_error(server: chserver.Server) -> None:
    del server
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    r = subprocess.run([sys.executable, "-m", "streamscope", "collector", "--store", f"clickhouse://127.0.0.1:{port}/x",
                        "--http-port", "0", "--grpc-port", "0"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 1 and "cannot open the store clickhouse://127.0.0.1" in r.stderr
    assert "Traceback" not in r.stderr


def test_clickhouse_down_gives_503_and_ingest_recovers_without_restart(tmp_path: Path) -> None:
    """The store stops mid-run: ingest answers 503 with Retry-After (nothing acknowledged is lost), the query API
    answers an error without a traceback, and both work again once the same server is back on its port."""
    first = chserver.start(tmp_path / "ch")
    url = first.url("downtime")
    collector = start_collector(str(tmp_path / "unused.db"), "--store", url)
    dash, dash_url = _dashboard(url)
    try:
        with httpx.Client(timeout=30) as client:
            req, before = our_stream(3)
            assert client.post(f"{collector.url}/v1/traces", content=req.SerializeToString(),
                               headers=PROTOBUF).status_code == 200  # fmt: skip
            os.kill(first.proc.pid, signal.SIGKILL)
            first.proc.wait(10)
            req, during = our_stream(4)
            r = client.post(f"{collector.url}/v1/traces", content=req.SerializeToString(), headers=PROTOBUF)
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
            api = client.get(f"{collector.url}/api/streams")
            assert api.status_code == 503 and "cannot be reached" in api.json()["message"]
            assert "Retry-After" in api.headers
            page = client.get(f"{dash_url}/traces")
            assert (
                page.status_code == 503 and "cannot be reached" in page.text and "Traceback" not in page.text
            )
            again = chserver.start(tmp_path / "ch", http_port=first.http_port, tcp_port=first.tcp_port)
            try:
                for _ in range(50):  # the exporter's retries
                    r = client.post(
                        f"{collector.url}/v1/traces", content=req.SerializeToString(), headers=PROTOBUF
                    )
                    if r.status_code == 200:
                        break
                    time.sleep(0.2)
                assert r.status_code == 200
                ids = {s["span_id"] for s in client.get(f"{collector.url}/api/streams").json()["streams"]}
                assert ids == {before["llm"], during["llm"]}
                deadline = time.monotonic() + 30  # the aggregates follow in the collector's next derive pass
                while (stats := client.get(f"{collector.url}/api/stats").json())["total"]["count"] != 2:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert stats["total"]["count"] == 2
                assert client.get(f"{dash_url}/traces").status_code == 200  # the dashboard recovered too
            finally:
                again.stop()
    finally:
        collector.stop()
        dash.send_signal(signal.SIGTERM)
        dash.wait(15)
        if dash.stdout is not None:
            dash.stdout.close()
        first.stop()


def test_up_on_the_store_from_the_environment(server: chserver.Server, tmp_path: Path) -> None:
    """``streamscope up`` with ``STREAMSCOPE_STORE``: collector and dashboard on ClickHouse, no SQLite file."""
    env = {**os.environ, "STREAMSCOPE_STORE": server.url("upstore")}
    proc = subprocess.Popen([sys.executable, "-m", "streamscope", "up", "--data-dir", str(tmp_path / "data"),
                             "--http-port", "0", "--grpc-port", "0", "--ui-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        urls: dict[str, str] = {}
        while "dashboard" not in urls:
            line = proc.stdout.readline()
            assert line, "streamscope up ended"
            m = re.fullmatch(r"listening on (http://\S+)( \(dashboard\))?\n", line)
            if m:
                urls["dashboard" if m.group(2) else "collector"] = m.group(1)
        req, ids = our_stream(3)
        with httpx.Client(timeout=30) as client:
            r = client.post(
                f"{urls['collector']}/v1/traces", content=req.SerializeToString(), headers=PROTOBUF
            )
            assert r.status_code == 200
            page = client.get(f"{urls['dashboard']}/traces/{ids['trace_id']}")
            assert page.status_code == 200 and ids["llm"] in page.text
        assert not (tmp_path / "data" / "streamscope.db").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_large_batches_and_deletes_fit_the_servers_request_limits(server: chserver.Server) -> None:
    """Thousands of ids in one write or delete: bound id arrays are split (ClickHouse's HTTP form fields hold
    128 KiB), or such a batch would be refused with 503 on every retry."""
    from factories import T0, span, span_id, stream, trace_id

    from streamscope.collector.model import NS, Filters, IngestBatch
    from streamscope.collector.store.clickhouse import ClickHouseStore

    store = ClickHouseStore.from_url(server.url("bigbatch", fsync="0"))
    try:
        spans, streams = [], []
        for i in range(6000):
            tid, sid = trace_id(), span_id()
            spans.append(span(tid, sid, start=i * 0.5))
            if i % 2:
                streams.append(stream(tid, sid, start=i * 0.5))
        store.write(IngestBatch(spans=tuple(spans), streams=tuple(streams)))
        store.settle()  # the derive pass refreshes 6,000 trace summaries and folds 3,000 streams
        assert store.counts() == {"spans": 6000, "streams": 3000, "chunks": 0, "traces": 6000}
        assert store.delete_before(T0 + 10_000 * NS) == 6000
        assert store.counts()["traces"] == 0 and store.aggregates(60, Filters()) == []
    finally:
        store.close()
