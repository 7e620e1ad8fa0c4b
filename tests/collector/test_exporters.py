"""Real OpenTelemetry SDK exporters (HTTP protobuf and gRPC) and our own SDK sending to a real collector process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from proc import CollectorProcess, start_collector

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    c = start_collector(str(tmp_path_factory.mktemp("exp") / "c.db"))
    yield c
    c.stop()


def _provider(exporter: Any, service: str) -> TracerProvider:
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    return tp


DIALECTS: dict[str, tuple[str, dict[str, Any], list[tuple[str, float]]]] = {
    "genai": ("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.request.model": "gpt-4o", "gen_ai.response.time_to_first_chunk": 0.05,
                              "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 6}, []),
    "openinference": ("ChatCompletion", {"openinference.span.kind": "LLM", "llm.model_name": "oi-model",
                                         "llm.provider": "openai", "llm.token_count.completion": 6},
                      [("First Token Stream Event", 0.05)]),
    "openllmetry": ("openai.chat", {"llm.request.type": "chat", "gen_ai.system": "openai",
                                    "gen_ai.request.model": "ol-model", "gen_ai.usage.completion_tokens": 6},
                    [("gen_ai.content.completion.chunk", t) for t in (0.05, 0.06, 0.07)]),
    "openlit": ("chat lit-model", {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                   "gen_ai.request.model": "lit-model", "gen_ai.server.time_to_first_token": 0.05,
                                   "gen_ai.usage.output_tokens": 6}, []),
    "langfuse": ("generation", {"langfuse.observation.type": "generation",
                                "langfuse.observation.model.name": "lf-model",
                                "langfuse.observation.usage_details": '{"input": 4, "output": 6}'}, []),
    "vercel": ("ai.streamText.doStream", {"ai.operationId": "ai.streamText.doStream", "ai.model.id": "v-model",
                                          "ai.model.provider": "openai.chat", "ai.response.msToFirstChunk": 50.0,
                                          "ai.usage.completionTokens": 6}, []),
}  # fmt: skip


def _emit(tp: TracerProvider, suffix: str) -> dict[str, str]:
    tracer = tp.get_tracer("dialect-tests")
    out = {}
    for name, (span_name, attrs, events) in DIALECTS.items():
        start = time.time_ns() - 2_000_000_000
        with tracer.start_as_current_span(f"root {name} {suffix}", start_time=start):
            s = tracer.start_span(span_name, kind=SpanKind.CLIENT, attributes=attrs, start_time=start + 1000)
            for ev, at in events:
                s.add_event(ev, timestamp=start + 1000 + int(at * 1e9))
            if name == "genai":
                s.set_status(Status(StatusCode.ERROR, "boom"))
            out[name] = format(s.get_span_context().span_id, "016x")
            s.end(end_time=start + 1000 + 500_000_000)
    return out


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_real_exporters_every_dialect(collector: CollectorProcess, transport: str) -> None:
    exporter = (
        HttpExporter(endpoint=f"{collector.url}/v1/traces")
        if transport == "http"
        else GrpcExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True)
    )
    tp = _provider(exporter, f"svc-{transport}")
    ids = _emit(tp, transport)
    assert tp.force_flush(10_000)
    tp.shutdown()
    with httpx.Client(base_url=collector.url, timeout=10) as c:
        streams = {
            s["span_id"]: s
            for s in c.get("/api/streams", params={"service": f"svc-{transport}"}).json()["streams"]
        }
        for name, sid in ids.items():
            st = streams[sid]
            assert st["dialect"] == name and st["output_tokens"] == 6 and st["duration"] == pytest.approx(0.5)
            assert st["ttft"] == pytest.approx(0.05) or name == "langfuse", name
        assert streams[ids["genai"]]["outcome"] == "error"
        assert (
            streams[ids["vercel"]]["provider"] == "openai" and streams[ids["openllmetry"]]["chunk_count"] == 3
        )
        chunks = c.get(f"/api/streams/{ids['openllmetry']}/chunks").json()["chunks"]
        assert [round(ch["offset"], 3) for ch in chunks] == [0.05, 0.06, 0.07]
        traces = c.get("/api/traces", params={"service": f"svc-{transport}", "limit": "100"}).json()["traces"]
        assert len(traces) == len(DIALECTS) and all(t["stream_count"] == 1 for t in traces)


def test_json_over_http(collector: CollectorProcess) -> None:
    tid, sid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    now = time.time_ns()
    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
           "scopeSpans": [{"scope": {"name": "js"}, "spans": [{
               "traceId": tid, "spanId": sid, "name": "chat gpt-4o-mini", "kind": 3,
               "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now),
               "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                              {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                              {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "17"}},
                              {"key": "gen_ai.response.time_to_first_chunk", "value": {"doubleValue": 0.3}}]}]}]}]}  # fmt: skip
    with httpx.Client(base_url=collector.url, timeout=10) as c:
        r = c.post("/v1/traces", json=doc)
        assert r.status_code == 200 and r.json() == {}
        (st,) = c.get("/api/streams", params={"service": "json-svc"}).json()["streams"]
        assert (st["trace_id"], st["span_id"], st["output_tokens"], st["ttft"]) == (tid, sid, 17, 0.3)


def test_our_sdk_end_to_end(collector: CollectorProcess) -> None:
    import streamscope
    from streamscope.engine.models import FakeStreamingChatModel

    tracing = streamscope.init(
        endpoint=f"{collector.url}/v1/traces", service_name="sdk-e2e", set_global=False
    )
    try:
        model = FakeStreamingChatModel(chunks=["Hel", "lo", " world"], gap=0.001,
                                       usage={"input_tokens": 3, "output_tokens": 3}, model="fake-e2e")  # fmt: skip
        assert "".join(str(c.content) for c in model.stream("hi")) == "Hello world"
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    with httpx.Client(base_url=collector.url, timeout=10) as c:
        deadline = time.monotonic() + 10
        streams: list[dict[str, Any]] = []
        while not streams and time.monotonic() < deadline:
            streams = c.get("/api/streams", params={"service": "sdk-e2e"}).json()["streams"]
        (st,) = streams
        assert st["dialect"] == "streamscope" and st["outcome"] == "completed" and st["model"] == "fake-e2e"
        assert st["ttft"] is not None and st["chunk_count"] >= 3 and st["output_tokens"] == 3
        chunks = c.get(f"/api/streams/{st['span_id']}/chunks").json()["chunks"]
        assert "".join(ch["content"] or "" for ch in chunks) == "Hello world"
        assert [ch["index"] for ch in chunks] == list(range(len(chunks)))


def test_cli_help_lists_flags() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "streamscope", "collector", "--help"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    for flag in ("--db", "--host", "--http-port", "--grpc-port", "--api-key"):
        assert flag in out


def test_listening_lines_and_api_key_on_grpc(tmp_path: Path) -> None:
    c = start_collector(str(tmp_path / "k.db"), "--api-key", "k1")
    try:
        tp = _provider(GrpcExporter(endpoint=f"127.0.0.1:{c.grpc_port}", insecure=True, headers={"x-api-key": "k1"}),
                       "grpc-key")  # fmt: skip
        _emit(tp, "key")
        assert tp.force_flush(10_000)
        tp.shutdown()
        with httpx.Client(base_url=c.url, timeout=10, headers={"Authorization": "Bearer k1"}) as client:
            assert len(client.get("/api/streams", params={"service": "grpc-key"}).json()["streams"]) == len(
                DIALECTS
            )
    finally:
        c.stop()
