"""Issue 18 item 1 (in process): spans per request are counted before decoding, a batch larger than the whole
queue is refused even when the queue is empty, and requests in progress share a decode memory budget.
The same body against a real collector process, with its peak RSS: test_real_processes.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hostile import JSON, PB, one_sentence, reason, stored_names
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp import new_span_id, new_trace_id, pb_span, request
from stores import store_kind  # noqa: F401  (the cases below run on SQLite and ClickHouse)

from streamscope.collector.limits import DEFAULT_LIMITS, Limits
from streamscope.collector.server import CollectorServer


def minimal_spans(n: int) -> bytes:
    """``n`` minimal valid spans in one protobuf request (the issue's 1M spans are 51 MB)."""
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    now = time.time_ns()
    tid = os.urandom(16)
    for i in range(n):
        spans.add(trace_id=tid, span_id=(i + 1).to_bytes(8, "big"), start_time_unix_nano=now,
                  end_time_unix_nano=now + 1)  # fmt: skip
    return req.SerializeToString()


def _rejected(client: httpx.Client, why: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'streamscope_collector_spans_rejected_total{{reason="{why}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_more_spans_than_one_request_may_carry_is_413_before_decoding(client: httpx.Client) -> None:
    body = minimal_spans(DEFAULT_LIMITS.max_spans_per_request + 1)
    r = client.post("/v1/traces", content=body, headers=PB)
    assert r.status_code == 413 and one_sentence(reason(r)) and "spans" in reason(r)
    assert _rejected(client, "too_large") == 1
    assert client.get("/api/traces").json()["traces"] == []
    ok = client.post("/v1/traces", content=minimal_spans(1000), headers=PB)
    assert ok.status_code == 200


def test_json_span_cap_comes_before_the_json_parser(client: httpx.Client) -> None:
    """The issue's 3 MB body of 1M empty spans: refused after orjson's parse, before protobuf's (10 s of CPU)."""
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + b",".join([b"{}"] * 1_000_000) + b"]}]}]}"
    r = client.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 413 and "spans" in reason(r)


def test_json_values_are_capped_before_the_json_parser(client: httpx.Client) -> None:
    """One span with 1.3M empty events in 3.9 MB of JSON: ~3 s of protobuf's JSON parser, refused before it."""
    span = (b'{"traceId":"' + b"ab" * 16 + b'","spanId":"' + b"cd" * 8 + b'","startTimeUnixNano":"1","events":['
            + b",".join([b"{}"] * 1_300_000) + b"]}")  # fmt: skip
    body = b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + span + b"]}]}]}"
    r = client.post("/v1/traces", content=body, headers=JSON)
    assert r.status_code == 413 and "values" in reason(r) and one_sentence(reason(r))


@pytest.fixture
def small_queue(tmp_path: Path) -> Iterator[httpx.Client]:
    s = CollectorServer(str(tmp_path / "q.db"), http_port=0, grpc_port=None, max_queue_rows=100)
    s.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", timeout=30) as c:
            yield c
    finally:
        s.stop()


def test_a_batch_larger_than_the_whole_queue_is_413_even_when_the_queue_is_empty(
    small_queue: httpx.Client,
) -> None:
    tid = new_trace_id()
    big = request([pb_span(tid, new_span_id()) for _ in range(150)]).SerializeToString()
    r = small_queue.post("/v1/traces", content=big, headers=PB)
    assert r.status_code == 413 and one_sentence(reason(r)) and "queue" in reason(r)
    assert stored_names(small_queue, tid) == []
    fits = request([pb_span(tid, new_span_id(), name="fits") for _ in range(50)]).SerializeToString()
    assert small_queue.post("/v1/traces", content=fits, headers=PB).status_code == 200


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[tuple[CollectorServer, httpx.Client]]:
    limits = Limits(decode_budget_bytes=1_000_000)
    s = CollectorServer(str(tmp_path / "b.db"), http_port=0, grpc_port=None, limits=limits)
    s.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", timeout=30) as c:
            yield s, c
    finally:
        s.stop()


def test_requests_share_a_decode_budget(budgeted: tuple[CollectorServer, httpx.Client]) -> None:
    server, client = budgeted
    tid = new_trace_id()
    body = request([pb_span(tid, new_span_id(), name="budgeted")]).SerializeToString()
    held = server.receiver.budget.lease()  # what other requests in progress hold, all but a few bytes
    held.grow(server.receiver.budget.total - 10)
    try:
        r = client.post("/v1/traces", content=body, headers=PB)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1" and one_sentence(reason(r))
        assert stored_names(client, tid) == []
    finally:
        held.release()
    assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    assert stored_names(client, tid) == ["budgeted"]
    assert server.receiver.budget.used == 0  # every request gives its share back


def test_a_body_larger_than_the_whole_budget_is_413_not_503(
    budgeted: tuple[CollectorServer, httpx.Client],
) -> None:
    _, client = budgeted
    body = orjson.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "k", "value": {"stringValue": "x" * 600_000}}]}, "scopeSpans": []}]})  # fmt: skip
    r = client.post("/v1/traces", content=body, headers=JSON)  # 0.6 MB of JSON weighs 2.4 MB of budget
    assert r.status_code == 413 and one_sentence(reason(r))


def test_a_chunked_body_is_budgeted_as_it_is_read(budgeted: tuple[CollectorServer, httpx.Client]) -> None:
    """A chunked body (no Content-Length from the client) is budgeted before the application reads it: waitress
    buffers it, spooling past 256 KiB to a file, and hands it over with its length."""
    server, client = budgeted
    tid = new_trace_id()
    body = request([pb_span(tid, new_span_id(), name="chunked")]).SerializeToString()
    held = server.receiver.budget.lease()
    held.grow(server.receiver.budget.total - 10)
    try:
        r = client.post("/v1/traces", content=iter([body]), headers=PB)  # an iterator: sent chunked
        assert r.status_code == 503
    finally:
        held.release()
    assert client.post("/v1/traces", content=iter([body]), headers=PB).status_code == 200
    assert stored_names(client, tid) == ["chunked"]


def test_oversized_headers_are_refused(client: httpx.Client) -> None:
    r = client.post(
        "/v1/traces", content=b"", headers={**PB, "X-Big": "h" * (DEFAULT_LIMITS.http_max_header_bytes + 1)}
    )
    assert r.status_code == 431


def test_events_per_request_are_capped_and_counted(client: httpx.Client) -> None:
    """Empty events are 2 bytes on the wire and ~200 decoded: a request decodes at most MAX_EVENTS_PER_REQUEST."""
    from streamscope.collector.decode import DROPPED_EVENTS, MAX_EVENTS, MAX_EVENTS_PER_REQUEST

    tid = new_trace_id()
    n_spans = MAX_EVENTS_PER_REQUEST // MAX_EVENTS + 2
    spans = []
    for i in range(n_spans):
        s = pb_span(tid, new_span_id(), name=f"e{i:03d}")
        for _ in range(MAX_EVENTS + 5):
            s.events.add(name="tick", time_unix_nano=s.start_time_unix_nano)
        spans.append(s)
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)
    assert r.status_code == 200
    got = client.get(f"/api/traces/{tid.hex()}").json()["spans"]
    dropped = sum(s["attributes"].get(DROPPED_EVENTS, 0) for s in got)
    assert dropped == n_spans * (MAX_EVENTS + 5) - MAX_EVENTS_PER_REQUEST


@pytest.mark.parametrize(
    ("path", "wrap"),
    [("/v1/metrics", lambda items: b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":'
                                    b'{"dataPoints":[' + items + b"]}}]}]}]}"),
     ("/v1/logs", lambda items: b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[' + items + b"]}]}]}")],
)  # fmt: skip
def test_json_metrics_and_logs_are_capped_before_the_json_parser(
    client: httpx.Client, path: str, wrap: Any
) -> None:
    """They are parsed only to be counted and refused (traces only), but parsing 1.3M empty items costs ~3 s."""
    r = client.post(path, content=wrap(b",".join([b"{}"] * 1_300_000)), headers=JSON)
    assert r.status_code == 413 and one_sentence(reason(r))
    ok = client.post(path, content=wrap(b",".join([b"{}"] * 3)), headers=JSON)
    assert ok.status_code == 200
