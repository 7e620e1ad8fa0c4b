"""Issue 18 item 7: a span with a value the collector cannot read (a Langfuse ``completion_start_time`` of
+-Inf or NaN) is rejected through the OTLP partial success; the valid spans beside it are stored."""

from __future__ import annotations

import math

import httpx
import pytest
from hostile import PB, one_sentence, stored_names
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from otlp import new_span_id, new_trace_id, pb_span, request
from stores import store_kind  # noqa: F401  (the cases below run on SQLite and ClickHouse)


def _generation(tid: bytes, name: str, cst: object) -> object:
    attrs = {"langfuse.observation.type": "generation", "gen_ai.request.model": "m",
             "langfuse.observation.completion_start_time": cst}  # fmt: skip
    return pb_span(tid, new_span_id(), name=name, attrs=attrs)


@pytest.mark.parametrize("poison", [math.inf, -math.inf, math.nan])
def test_a_poisoned_span_is_rejected_and_its_neighbours_stored(client: httpx.Client, poison: float) -> None:
    tid = new_trace_id()
    spans = [pb_span(tid, new_span_id(), name="plain"), _generation(tid, "poisoned", poison),
             _generation(tid, "good-generation", "2026-01-01T00:00:00Z")]  # fmt: skip
    r = client.post("/v1/traces", content=request(spans).SerializeToString(), headers=PB)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    ps = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert ps.rejected_spans == 1 and one_sentence(ps.error_message)
    assert "completion_start_time" in ps.error_message
    assert stored_names(client, tid) == ["good-generation", "plain"]
    streams = client.get("/api/streams").json()["streams"]
    assert len(streams) == 1 and streams[0]["trace_id"] == tid.hex()


def test_an_operation_name_that_is_not_a_string_is_ignored_not_fatal(client: httpx.Client) -> None:
    """Found by fuzzing: a map as ``gen_ai.operation.name`` raised TypeError (unhashable) for the whole request."""
    tid = new_trace_id()
    odd = pb_span(tid, new_span_id(), name="odd", attrs={"gen_ai.operation.name": {"a": 1},
                                                          "gen_ai.request.model": "m", "gen_ai.system": "x"})  # fmt: skip
    r = client.post("/v1/traces", content=request([odd]).SerializeToString(), headers=PB)
    assert r.status_code == 200
    assert not ExportTraceServiceResponse.FromString(r.content).HasField("partial_success")
    assert stored_names(client, tid) == ["odd"]
