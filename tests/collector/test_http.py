"""The HTTP side in-process: OTLP ingest, bad-input battery, auth, overload, query API, /metrics."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp import new_span_id, new_trace_id, our_stream, pb_span, request

from streamscope.collector import http_app
from streamscope.collector.server import CollectorServer

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CollectorServer]:
    s = CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=None, max_queue_rows=5000,
                        synchronous="NORMAL")  # fmt: skip
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(server: CollectorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}", timeout=30) as c:
        yield c


def _reason(resp: httpx.Response) -> str:
    if resp.headers["content-type"].startswith("application/x-protobuf"):
        return status_pb2.Status.FromString(resp.content).message
    return str(resp.json()["message"])


def _one_sentence(text: str) -> bool:
    return bool(text) and text.endswith(".") and "\n" not in text and len(text) < 300


def test_protobuf_ingest_then_query(client: httpx.Client) -> None:
    req, ids = our_stream(4)
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    traces = client.get("/api/traces").json()["traces"]
    assert [t["trace_id"] for t in traces] == [ids["trace_id"]]
    assert traces[0]["span_count"] == 2 and traces[0]["stream_count"] == 1
    (st,) = client.get("/api/streams", params={"model": "gpt-4o-mini"}).json()["streams"]
    assert st["span_id"] == ids["llm"] and st["ttft"] == 0.15 and st["chunk_count"] == 4
    chunks = client.get(f"/api/streams/{ids['llm']}/chunks").json()["chunks"]
    assert [c["index"] for c in chunks] == [0, 1, 2, 3] and chunks[1]["content"] == "t1"
    detail = client.get(f"/api/traces/{ids['trace_id']}").json()
    assert [s["span_id"] for s in detail["spans"]] == [ids["root"], ids["llm"]]
    stats = client.get("/api/stats", params={"group_by": "model", "bucket": "60"}).json()
    assert stats["groups"][0]["key"] == "gpt-4o-mini" and stats["groups"][0]["ttft"]["p50"] == 0.15


def test_a_body_without_content_length_is_read_whole(client: httpx.Client) -> None:
    req, ids = our_stream(4)
    body = req.SerializeToString()
    parts = iter([body[:10], body[10:]])  # a generator: httpx sends it chunked, without Content-Length
    r = client.post("/v1/traces", content=parts, headers=PB)
    assert r.status_code == 200
    chunks = client.get(f"/api/streams/{ids['llm']}/chunks").json()["chunks"]
    assert [c["index"] for c in chunks] == [0, 1, 2, 3]


def test_json_and_gzip_and_deflate(client: httpx.Client) -> None:
    tid, sid = new_trace_id(), new_span_id()
    T = time.time_ns() - 10**10
    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]},
           "scopeSpans": [{"spans": [{"traceId": tid.hex(), "spanId": sid.hex(), "name": "json span", "kind": 2,
                                       "startTimeUnixNano": str(T), "endTimeUnixNano": T + 10**9}]}]}]}  # fmt: skip
    r = client.post("/v1/traces", content=gzip.compress(json.dumps(doc).encode()),
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"] == "application/json" and r.json() == {}
    req, ids = our_stream(1)
    r = client.post("/v1/traces", content=zlib.compress(req.SerializeToString()),
                    headers={**PB, "Content-Encoding": "deflate"})  # fmt: skip
    assert r.status_code == 200
    got = {t["trace_id"]: t for t in client.get("/api/traces").json()["traces"]}
    assert got[tid.hex()]["root_name"] == "json span" and got[tid.hex()]["service"] == "js"
    assert ids["trace_id"] in got


def test_partial_success_counts_rejected_spans(client: httpx.Client) -> None:
    tid = new_trace_id()
    req = request(
        [pb_span(tid, new_span_id(), name="good"), pb_span(b"\x00" * 16, new_span_id(), name="bad")]
    )
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    ps = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert ps.rejected_spans == 1 and _one_sentence(ps.error_message)
    assert [t["root_name"] for t in client.get("/api/traces").json()["traces"]] == ["good"]


def _battery() -> list[tuple[str, dict[str, str], bytes, int]]:
    good = our_stream(2)[0].SerializeToString()
    bomb = gzip.compress(b"\x00" * (http_app.MAX_BODY + 10), compresslevel=9)
    return [
        ("truncated protobuf", PB, good[: len(good) // 2], 400),
        ("garbage protobuf", PB, b"\x0a\xff\xff\xff\xff\x0f garbage", 400),
        ("invalid utf-8", PB, good.replace(b"handle", b"h\xffndle"), 400),
        ("not json", {"Content-Type": "application/json"}, b"{not json", 400),
        ("wrong json types", {"Content-Type": "application/json"}, b'{"resourceSpans": {"a": 1}}', 400),
        ("invalid hex id", {"Content-Type": "application/json"},
         b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"0102030405060708"}]}]}]}', 400),
        ("deep json", {"Content-Type": "application/json"}, b'{"a":' * 3000 + b"1" + b"}" * 3000, 400),
        ("bad gzip", {**PB, "Content-Encoding": "gzip"}, b"not gzip at all", 400),
        ("truncated gzip", {**PB, "Content-Encoding": "gzip"}, gzip.compress(good)[:-12], 400),
        ("gzip bomb", {**PB, "Content-Encoding": "gzip"}, bomb, 413),
        ("unknown encoding", {**PB, "Content-Encoding": "br"}, good, 415),
        ("wrong content type", {"Content-Type": "text/plain"}, good, 415),
        ("no content type", {}, good, 415),
    ]  # fmt: skip


def test_bad_input_battery(client: httpx.Client) -> None:
    req, ids = our_stream(3)
    assert client.post("/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
    before = client.get("/api/traces").json(), client.get(f"/api/streams/{ids['llm']}/chunks").json()
    for name, headers, body, status in _battery():
        r = client.post("/v1/traces", content=body, headers=headers)
        assert r.status_code == status, name
        assert _one_sentence(_reason(r)), (name, _reason(r))
    r = client.post("/v1/traces", content=b"x" * (http_app.MAX_BODY + 1), headers=PB)
    assert r.status_code == 413 and _one_sentence(_reason(r))
    assert client.get("/healthz").status_code == 200
    assert (
        client.get("/api/traces").json(),
        client.get(f"/api/streams/{ids['llm']}/chunks").json(),
    ) == before
    # and the server still ingests
    assert (
        client.post("/v1/traces", content=our_stream(1)[0].SerializeToString(), headers=PB).status_code == 200
    )


def test_duplicates_and_huge_spans_leave_stored_data_alone(client: httpx.Client) -> None:
    req, ids = our_stream(3)
    body = req.SerializeToString()
    assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    before = client.get(f"/api/traces/{ids['trace_id']}").json()
    assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    assert client.get(f"/api/traces/{ids['trace_id']}").json() == before
    big = pb_span(
        new_trace_id(), new_span_id(), name="wide", attrs={f"k{i}": "v" * 10 for i in range(10_000)}
    )
    r = client.post("/v1/traces", content=request([big]).SerializeToString(), headers=PB)
    assert r.status_code == 200
    assert client.get(f"/api/traces/{ids['trace_id']}").json() == before


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/traces", {"limit": "5000"}), ("/api/traces", {"min_ttft": "inf"}), ("/api/streams", {"cursor": "x"}),
     ("/api/streams", {"outcome": "<script>"}), ("/api/stats", {"group_by": "prompt"}),
     ("/api/stats", {"bucket": "-1"}), ("/api/traces/not-hex", {}), ("/api/streams/zz/chunks", {})],
)  # fmt: skip
def test_bad_query_parameters(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400 and _one_sentence(_reason(r))


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    assert client.get(f"/api/traces/{'0' * 32}").status_code == 404
    assert client.get(f"/api/streams/{'0' * 16}/chunks").status_code == 404


def test_pagination_over_http(client: httpx.Client) -> None:
    for _ in range(5):
        client.post("/v1/traces", content=our_stream(1)[0].SerializeToString(), headers=PB)
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/streams", params={"limit": "2", **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [s["span_id"] for s in page["streams"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5


def test_metrics_and_logs_get_a_clear_answer(client: httpx.Client) -> None:
    req = ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add(name="x")
    m.gauge.data_points.add(as_int=1)
    m.gauge.data_points.add(as_int=2)
    r = client.post("/v1/metrics", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

    ps = ExportMetricsServiceResponse.FromString(r.content).partial_success
    assert ps.rejected_data_points == 2 and "traces only" in ps.error_message
    r = client.post("/v1/logs", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    r = client.post("/v1/logs", content=b"\xff\xff", headers=PB)
    assert r.status_code == 400


def test_overload_answers_503_with_retry_after_and_loses_nothing(
    server: CollectorServer, client: httpx.Client
) -> None:
    server.ingestor.paused.set()  # hold the writer: the queue fills up
    results: list[int] = []
    bodies = [our_stream(1200) for _ in range(8)]  # 1203 rows each; the queue holds 5000

    def send(body: bytes) -> None:
        with httpx.Client(timeout=30) as c:
            r = c.post(f"http://127.0.0.1:{server.http_port}/v1/traces", content=body, headers=PB)
            results.append(r.status_code)
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) >= 1 and _one_sentence(_reason(r))

    threads = [threading.Thread(target=send, args=(b.SerializeToString(),)) for b, _ in bodies]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(results) < 4 and time.monotonic() < deadline:  # the rejected ones answer at once
        time.sleep(0.01)
    assert server.ingestor.queued_rows == 4 * 1203
    assert client.get("/readyz").status_code == 503
    server.ingestor.paused.clear()
    for t in threads:
        t.join()
    assert results.count(503) == 4 and results.count(200) == 4
    # every acknowledged trace is stored; retrying the rejected ones stores everything
    for b, _ in bodies:
        while client.post("/v1/traces", content=b.SerializeToString(), headers=PB).status_code != 200:
            pass
    stored = {t["trace_id"] for t in client.get("/api/traces", params={"limit": "100"}).json()["traces"]}
    assert stored == {ids["trace_id"] for _, ids in bodies}
    text = client.get("/metrics").text
    assert 'streamscope_collector_spans_rejected_total{reason="queue_full"}' in text


def test_api_keys(tmp_path: Path) -> None:
    s = CollectorServer(str(tmp_path / "k.db"), http_port=0, grpc_port=None, api_keys=("s3cret", "other"))
    s.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", timeout=10) as c:
            body = our_stream(1)[0].SerializeToString()
            r = c.post("/v1/traces", content=body, headers=PB)
            assert r.status_code == 401 and _one_sentence(_reason(r))
            assert (
                c.post(
                    "/v1/traces", content=body, headers={**PB, "Authorization": "Bearer wrong"}
                ).status_code
                == 401
            )
            assert c.get("/api/traces").status_code == 401
            assert (
                c.post(
                    "/v1/traces", content=body, headers={**PB, "Authorization": "Bearer s3cret"}
                ).status_code
                == 200
            )
            assert c.get("/api/traces", headers={"x-api-key": "other"}).status_code == 200
            assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
    finally:
        s.stop()


def test_metrics_exposition_with_exemplars(client: httpx.Client) -> None:
    req, ids = our_stream(5)
    client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    text = client.get("/metrics").text
    for name in ("gen_ai_client_operation_duration_seconds_bucket", "gen_ai_client_operation_time_to_first_chunk_seconds_bucket",
                 "gen_ai_client_operation_time_per_output_chunk_seconds_count", "gen_ai_client_token_usage_bucket",
                 "streamscope_stream_outcomes_total", "streamscope_stream_output_tokens_per_second_bucket",
                 "streamscope_collector_spans_received_total", "streamscope_collector_spans_stored_total",
                 "streamscope_collector_queue_depth", "streamscope_collector_ingest_lag_seconds_bucket"):  # fmt: skip
        assert name in text, name
    assert (
        'gen_ai_client_token_usage_count{model="gpt-4o-mini",operation="chat",provider="openai",service="test-app",token_type="output"} 1.0'
        in text
    )
    assert "gen_ai_client_operation_time_per_output_chunk_seconds_count{" in text
    gap_count = [
        ln
        for ln in text.splitlines()
        if ln.startswith("gen_ai_client_operation_time_per_output_chunk_seconds_count")
    ]
    assert gap_count and gap_count[0].endswith(" 4.0")  # one observation per gap: 5 chunks, 4 gaps
    assert "trace_id" not in text  # no exemplars in the classic text format
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert f'# {{trace_id="{ids["trace_id"]}"}}' in om.text
    assert om.text.rstrip().endswith("# EOF")


def test_the_http_loop_sleeps_when_idle(tmp_path: Path) -> None:
    """waitress truncates ``asyncore_loop_timeout`` to an int: 0.1 became 0, a select() busy loop burning a core
    while idle (seen: 76k select calls in 2 s). The server must wait at least a second per idle poll."""
    s = CollectorServer(str(tmp_path / "idle.db"), http_port=0, grpc_port=None)
    s.start()
    try:
        timeout = s._http.adj.asyncore_loop_timeout
        assert isinstance(timeout, int) and timeout >= 1
    finally:
        s.stop()


def test_a_retried_request_is_counted_once_in_metrics(client: httpx.Client) -> None:
    """An exporter that retries after a lost answer sends the same spans again: stored once, counted once."""
    req, _ids = our_stream(5, service="retry-app")
    body = req.SerializeToString()

    def counts() -> tuple[str, str, str]:
        text = client.get("/metrics").text

        def line(prefix: str) -> str:
            return next(
                (ln for ln in text.splitlines() if ln.startswith(prefix) and 'service="retry-app"' in ln), ""
            )

        return (
            line("streamscope_stream_outcomes_total"),
            line("gen_ai_client_operation_duration_seconds_count"),
            line("gen_ai_client_operation_time_per_output_chunk_seconds_count"),
        )

    assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    once = counts()
    assert once[0].endswith(" 1.0") and once[1].endswith(" 1.0") and once[2].endswith(" 4.0"), once
    for _ in range(2):
        assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    assert counts() == once
    assert len(client.get("/api/streams", params={"service": "retry-app"}).json()["streams"]) == 1
