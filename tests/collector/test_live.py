"""Streams in flight, end to end: our SDK exports chunk spans mid-stream to a real collector, which lists the stream
on ``GET /api/live`` (``query.live_streams``) until its span arrives; silent streams age out.

Real parts only: the SDK's export thread and OTLP/HTTP exporter, the collector's HTTP server and SQLite store, and
for the killed-process case a real app process stopped with SIGKILL by PID. Tests wait for conditions with
deadlines and never assert on timings.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import replace as dataclasses_replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from otlp import new_span_id, new_trace_id, pb_span, request

import streamscope
from streamscope.collector import query
from streamscope.collector.decode import decode_request
from streamscope.collector.model import NS
from streamscope.collector.normalise import normalise
from streamscope.collector.server import CollectorServer
from streamscope.collector.store.memory import MemoryStore
from streamscope.tracing.streams import CONTENT, ROLE, start_stream

DEADLINE = 20.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CollectorServer]:
    s = CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=None, synchronous="NORMAL")
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(server: CollectorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as c:
        yield c


def wait_for(get: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_stream_is_live_while_it_streams_then_finished(
    server: CollectorServer, client: httpx.Client
) -> None:
    tracing = streamscope.init(
        f"http://127.0.0.1:{server.http_port}/v1/traces",
        service_name="live-app",
        instrument_engine=False,
        live_interval=0.05,
    )
    try:
        before = time.time()
        rec = start_stream(model="gpt-live", provider="openai")
        rec.chunk(ROLE)
        rec.chunk(CONTENT, "Hello")
        (row,) = wait_for(lambda: client.get("/api/live").json()["live"], "the stream on /api/live")
        assert row["service"] == "live-app" and row["model"] == "gpt-live" and row["provider"] == "openai"
        assert row["operation"] == "chat" and row["chunk_count"] == 2
        assert before - 1 <= row["start"] <= time.time()
        assert 0 <= row["last_offset"] <= time.time() - row["start"]
        assert len(row["trace_id"]) == 32 and len(row["span_id"]) == 16
        assert client.get("/api/streams").json()["streams"] == []
        chunks = client.get(f"/api/streams/{row['span_id']}/chunks").json()
        assert chunks["stream"] is None and [c["index"] for c in chunks["chunks"]] == [0, 1]

        for word in (" wor", "ld"):
            rec.chunk(CONTENT, word)
        wait_for(
            lambda: [r for r in client.get("/api/live").json()["live"] if r["chunk_count"] == 4],
            "the next slice",
        )
        (row,) = client.get("/api/live").json()["live"]
        assert row["current_rate"] is not None and row["current_rate"] > 0

        rec.end("completed")
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    (st,) = wait_for(lambda: client.get("/api/streams").json()["streams"], "the finished stream")
    assert st["span_id"] == row["span_id"] and st["chunk_count"] == 4 and st["outcome"] == "completed"
    assert client.get("/api/live").json()["live"] == []
    assert [c["index"] for c in client.get(f"/api/streams/{st['span_id']}/chunks").json()["chunks"]] == [
        0,
        1,
        2,
        3,
    ]


APP = textwrap.dedent("""
    import sys, time
    import streamscope
    from streamscope.tracing.streams import CONTENT, start_stream
    streamscope.init(sys.argv[1], service_name="doomed-app", instrument_engine=False, live_interval=0.05)
    rec = start_stream(model="gpt-doomed", provider="openai")
    for i in range(3):
        rec.chunk(CONTENT, f"w{i}")
    print("streaming", flush=True)
    time.sleep(600)  # killed here, mid-stream: the stream's span never leaves
""")


def test_a_stream_whose_process_was_killed_ages_out(server: CollectorServer, client: httpx.Client) -> None:
    app = subprocess.Popen(
        [sys.executable, "-c", APP, f"http://127.0.0.1:{server.http_port}/v1/traces"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "streaming"
        (row,) = wait_for(
            lambda: [r for r in client.get("/api/live").json()["live"] if r["chunk_count"] == 3],
            "the doomed stream on /api/live",
        )
    finally:
        os.kill(app.pid, signal.SIGKILL)
        app.wait(10)
        if app.stdout is not None:
            app.stdout.close()
    assert row["service"] == "doomed-app" and row["model"] == "gpt-doomed"
    last = row["last_chunk"]
    # Still listed while its last chunk is recent; gone once nothing arrived for LIVE_WINDOW seconds.
    store = server.store
    assert [
        r["span_id"] for r in [_r.to_dict() for _r in query.live_streams(store, now_ns=int(last * NS))]
    ] == [row["span_id"]]
    later = int((last + query.LIVE_WINDOW + 1) * NS)
    assert [_r.to_dict() for _r in query.live_streams(store, now_ns=later)] == []
    assert client.get("/api/live", params={"since": str(last + 1)}).json()["live"] == []
    # Retention drops the stale entry and its chunk rows (its span will never come).
    store.delete_before(later)
    assert store.live(0, 10) == [] and store.chunks(row["span_id"]) == []


def test_api_live_parameters(client: httpx.Client) -> None:
    assert client.get("/api/live", params={"since": "0", "limit": "5"}).json() == {"live": []}
    for params in ({"since": "soon"}, {"limit": "0"}, {"limit": "x"}, {"window": "5"}):
        r = client.get("/api/live", params=params)
        assert r.status_code == 400
        reason = r.json()["message"]
        assert reason.endswith(".") and "\n" not in reason


def _chunk_span(
    tid: bytes,
    parent: bytes,
    index: int,
    start_ns: int,
    offset: float,
    signal_attrs: dict[str, Any] | None = None,
) -> Any:
    attrs: dict[str, Any] = {
        "streamscope.chunk.index": index,
        "streamscope.chunk.offset": offset,
        "streamscope.chunk.kind": "content",
        "streamscope.chunk.size": 1,
        **(signal_attrs or {}),
    }
    at = start_ns + int(offset * NS)
    return pb_span(tid, new_span_id(), parent, name="streamscope.chunk", start_ns=at, dur=0, attrs=attrs)


def test_decoding_the_in_flight_signal() -> None:
    """One request with a signalled slice of one stream and plain chunks of another."""
    tid, parent, quiet = new_trace_id(), new_span_id(), new_span_id()
    t0 = 1_800_000_000 * NS
    sig = {
        "streamscope.live.operation": "chat",
        "streamscope.live.request_model": "m",
        "streamscope.live.provider": "p",
    }
    spans = [
        _chunk_span(tid, parent, 4, t0, 0.4, sig),
        _chunk_span(tid, parent, 5, t0, 0.5),
        _chunk_span(tid, parent, 6, t0, 0.75),
        _chunk_span(tid, quiet, 0, t0, 0.1),
    ]
    decoded = decode_request(request(spans, service="svc"), now_ns=t0)
    assert len(decoded.chunks) == 4
    (lv,) = decoded.live
    assert (lv.trace_id, lv.span_id, lv.service, lv.model, lv.provider, lv.operation) == (
        tid.hex(),
        parent.hex(),
        "svc",
        "m",
        "p",
        "chat",
    )
    assert lv.start_ns == t0 and lv.chunk_count == 7 and lv.last_offset == 0.75
    assert lv.last_ns == t0 + int(0.75 * NS)
    store = MemoryStore()
    store.write(normalise(decoded))
    assert [r["span_id"] for r in [_r.to_dict() for _r in query.live_streams(store, now_ns=t0)]] == [
        parent.hex()
    ]
    assert [_r.to_dict() for _r in query.live_streams(store, since_ns=t0 + NS)] == []


# -- the rate now and the stall of a stream in flight (pure) --------------------------------------------------
def test_live_rate_of_a_steady_stream_is_its_latest_update() -> None:
    """While slices keep arriving, the rate is the chunks of the latest update over the time they took."""
    # 10 chunks by 2.0 s, 30 by 3.0 s; seen from 0 to LIVE_LAG after the latest chunk
    for now in (3.0, 3.5, 3.0 + query.LIVE_LAG):
        assert query.live_rate(30, 3.0, 10, 2.0, now) == 20.0
    assert query.live_rate(10, 2.0, 0, 0.0, 2.5) == 5.0  # the first update counts from the start
    assert query.live_rate(30, 3.0, 10, 2.0, 2.0) == 20.0  # the dashboard's clock a little behind the app's


def test_live_rate_falls_to_zero_while_the_stream_is_silent() -> None:
    """During a 5 s stall the rate decreases steadily and is 0 once the window holds only silence."""
    lag, window = query.LIVE_LAG, query.LIVE_RATE_WINDOW
    rates = [query.live_rate(30, 3.0, 10, 2.0, 3.0 + s) for s in (0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0)]
    assert rates[0] == rates[1] == 20.0  # silence shorter than the lag: a slice may be on its way
    assert all(a >= b for a, b in itertools.pairwise(rates)) and rates[2] < 20.0
    assert rates[-2] == rates[-1] == 0.0
    assert query.live_rate(30, 3.0, 10, 2.0, 3.0 + lag + window) == 0.0
    # continuous where the window stops reaching back past the previous update
    edge = 2.0 + window + lag
    assert query.live_rate(30, 3.0, 10, 2.0, edge - 1e-9) == pytest.approx(
        query.live_rate(30, 3.0, 10, 2.0, edge)
    )
    # halfway through the latest update: half of its chunks are in the window (taken as evenly spread)
    assert query.live_rate(30, 3.0, 10, 2.0, 2.5 + window + lag) == pytest.approx(10 / window)


def test_live_rate_needs_a_time_span() -> None:
    """Every chunk at one instant and no time since: no rate rather than a division by zero."""
    assert query.live_rate(3, 0.0, 0, 0.0, 0.5) is None
    assert query.live_rate(3, 0.0, 0, 0.0, 0.5, lag=0.0) == 6.0


def test_a_stall_shows_only_once_the_silence_is_certain() -> None:
    """Stalled after stall_threshold + lag seconds of seen silence: 1.2 s of real silence seen as 2.2 s is not."""
    threshold, lag = query.STALL_THRESHOLD, query.LIVE_LAG
    assert (threshold, lag) == (2.0, 1.25)
    assert query.live_stalled_for(3.0, 3.0 + 1.2) is None
    assert query.live_stalled_for(3.0, 3.0 + 2.2) is None  # seen 2.2 s: the latest slice may be 1 s late
    assert query.live_stalled_for(3.0, 3.0 + threshold + lag) is None
    assert query.live_stalled_for(3.0, 3.0 + 3.5) == 3.5
    assert query.live_stalled_for(3.0, 8.0, threshold=1.0, lag=0.0) == 5.0
    assert query.live_stalled_for(3.0, 2.0) is None  # clocks apart: never a negative stall


def test_live_streams_rows_carry_the_rate_now_and_the_stall() -> None:
    """``query.live_streams`` (``GET /api/live``) computes ``recent_rate`` and ``stalled_for`` at ``now_ns``."""
    from streamscope.collector.model import IngestBatch, LiveStream

    t0 = 1_800_000_000 * NS
    store = MemoryStore()
    first = LiveStream("ab" * 16, "cd" * 8, "svc", "m", "p", "chat", t0, t0 + 2 * NS, 10, 2.0)
    store.write(IngestBatch(live=(first,)))
    store.write(
        IngestBatch(
            live=(
                first.merged(
                    dataclasses_replace(first, last_ns=t0 + 3 * NS, chunk_count=30, last_offset=3.0)
                ),
            )
        )
    )
    (row,) = [_r.to_dict() for _r in query.live_streams(store, now_ns=t0 + int(3.5 * NS))]
    assert (row["current_rate"], row["recent_rate"], row["stalled_for"]) == (20.0, 20.0, None)
    (row,) = [_r.to_dict() for _r in query.live_streams(store, now_ns=t0 + 8 * NS)]
    assert row["current_rate"] == 20.0  # over the latest update: it does not fall while the stream is silent
    assert row["recent_rate"] == 0.0 and row["stalled_for"] == 5.0
    (row,) = [
        _r.to_dict()
        for _r in query.live_streams(
            store, now_ns=t0 + 8 * NS, lag=0.0, stall_threshold=10.0, rate_window=10.0
        )
    ]
    assert row["stalled_for"] is None and row["recent_rate"] == pytest.approx(20 / 6)
