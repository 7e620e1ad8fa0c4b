"""Dashboards and rules name exactly the series the collector registers (checked in-process, no server)."""

from __future__ import annotations

import re

import pytest
from dashgen import metrics  # grafana/ is put on sys.path by conftest.py
from prometheus_client.exposition import generate_latest

collector_metrics = pytest.importorskip("streamscope.collector.metrics")
collector_model = pytest.importorskip("streamscope.collector.model")

HISTOGRAMS = {
    metrics.DURATION,
    metrics.TTFC,
    metrics.CHUNK_GAP,
    metrics.TOKEN_USAGE,
    metrics.TOKENS_PER_SECOND,
    metrics.INGEST_LAG,
}
COUNTERS = {
    metrics.STREAMS,
    metrics.STALLS,
    metrics.SPANS_RECEIVED,
    metrics.SPANS_REJECTED,
    metrics.SPANS_STORED,
}
GAUGES = {metrics.QUEUE_DEPTH}


def _exposition_after_one_stream() -> str:
    registry = collector_metrics.CollectorMetrics()
    stream = collector_model.Stream(
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "1",
        start_ns=0,
        end_ns=2_000_000_000,
        service="svc",
        model="m",
        provider="p",
        operation="chat",
        outcome="error",
        time_to_first_chunk=0.5,
        stall_count=1,
        input_tokens=3,
        output_tokens=7,
        output_tokens_per_second=10.0,
        error_type="APIError",
    )
    chunk = collector_model.Chunk(span_id=stream.span_id, index=1, offset=0.6, gap=0.1)
    registry.observe_batch(collector_model.IngestBatch(streams=(stream,), chunks=(chunk,)))
    registry.rejected.labels("malformed").inc()
    return generate_latest(registry.registry).decode()


def test_every_name_the_dashboards_use_is_registered_with_the_right_type() -> None:
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", _exposition_after_one_stream(), re.MULTILINE))
    for name in HISTOGRAMS:
        assert types.get(name) == "histogram", name
    for name in COUNTERS:
        assert types.get(name) == "counter", name
    for name in GAUGES:
        assert types.get(name) == "gauge", name


@pytest.mark.parametrize(
    ("series", "labels"),
    [
        (f"{metrics.TTFC}_bucket", {metrics.SERVICE, metrics.PROVIDER, metrics.MODEL, metrics.OPERATION}),
        (
            f"{metrics.CHUNK_GAP}_bucket",
            {metrics.SERVICE, metrics.PROVIDER, metrics.MODEL, metrics.OPERATION},
        ),
        (
            f"{metrics.DURATION}_bucket",
            {metrics.SERVICE, metrics.PROVIDER, metrics.MODEL, metrics.OPERATION, metrics.ERROR_TYPE},
        ),
        (f"{metrics.TOKEN_USAGE}_sum", {metrics.SERVICE, metrics.MODEL, metrics.TOKEN_TYPE}),
        (f"{metrics.TOKENS_PER_SECOND}_bucket", {metrics.SERVICE, metrics.PROVIDER, metrics.MODEL}),
        (metrics.STREAMS, {metrics.SERVICE, metrics.MODEL, metrics.OUTCOME}),
        (metrics.STALLS, {metrics.SERVICE, metrics.MODEL}),
        (metrics.SPANS_REJECTED, {metrics.REASON}),
    ],
)
def test_series_carry_the_labels_the_queries_group_by(series: str, labels: set[str]) -> None:
    text = _exposition_after_one_stream()
    found = re.findall(rf"^{re.escape(series)}(?:_total)?\{{([^}}]*)\}}", text, re.MULTILINE)
    assert found, series
    names = set(re.findall(r'(\w+)="', found[0]))
    assert labels <= names, (series, names)
