"""Sustained sending above capacity: 503 + Retry-After, bounded memory, and the real OTel exporter's retries
deliver everything in the end."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from proc import start_collector

pytestmark = pytest.mark.integration


def _batches(n_batches: int, per_batch: int) -> list[list[ReadableSpan]]:
    mem = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({"service.name": "overload"}))
    tp.add_span_processor(SimpleSpanProcessor(mem))
    tracer = tp.get_tracer("overload")
    for _ in range(n_batches):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat",
                                                                "gen_ai.request.model": "m"}):  # fmt: skip
            for i in range(per_batch - 1):
                tracer.start_span("streamscope.chunk", attributes={"streamscope.chunk.index": i}).end()
    spans = list(mem.get_finished_spans())
    tp.shutdown()
    return [spans[i : i + per_batch] for i in range(0, len(spans), per_batch)]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_overload_then_retries_deliver_everything(tmp_path: Path) -> None:
    c = start_collector(str(tmp_path / "o.db"), "--queue-size", "1500")
    try:
        batches = _batches(12, 1000)
        results: list[SpanExportResult] = []

        def send(part: list[list[ReadableSpan]]) -> None:
            exporter = OTLPSpanExporter(endpoint=f"{c.url}/v1/traces", timeout=60)
            for b in part:
                results.append(exporter.export(b))
            exporter.shutdown()

        threads = [threading.Thread(target=send, args=(batches[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [SpanExportResult.SUCCESS] * len(batches)
        with httpx.Client(base_url=c.url, timeout=10) as client:
            metrics = client.get("/metrics").text
            rejected = [ln for ln in metrics.splitlines()
                        if ln.startswith('streamscope_collector_spans_rejected_total{reason="queue_full"}')]  # fmt: skip
            assert rejected and float(rejected[0].split()[-1]) > 0  # overload did happen
            streams = client.get("/api/streams", params={"service": "overload", "limit": "100"}).json()[
                "streams"
            ]
            assert len(streams) == len(batches)
            for st in streams[:3]:
                assert len(client.get(f"/api/streams/{st['span_id']}/chunks").json()["chunks"]) == 999
        assert _rss_mb(c.proc.pid) < 400
    finally:
        c.stop()
