"""Build OTLP export requests for collector tests (raw protobuf, like any exporter would send)."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

NS = 1_000_000_000


def any_value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[any_value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(
            kvlist_value=KeyValueList(values=[KeyValue(key=k, value=any_value(x)) for k, x in v.items()])
        )
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    return AnyValue(string_value=str(v))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def pb_span(trace_id: bytes, span_id: bytes, parent: bytes | None = None, *, name: str = "step",
            start_ns: int | None = None, dur: float = 0.5, kind: int = 1, attrs: dict[str, Any] | None = None,
            status: int = 0, message: str = "", events: list[tuple[str, int, dict[str, Any]]] | None = None
            ) -> PbSpan:  # fmt: skip
    start = start_ns if start_ns is not None else time.time_ns() - 10 * NS
    s = PbSpan(trace_id=trace_id, span_id=span_id, parent_span_id=parent or b"", name=name, kind=kind,
               start_time_unix_nano=start, end_time_unix_nano=start + int(dur * NS),
               attributes=kvs(attrs or {}))  # fmt: skip
    s.status.code = status
    s.status.message = message
    for ename, t, eattrs in events or []:
        s.events.add(name=ename, time_unix_nano=t, attributes=kvs(eattrs))
    return s


def request(spans: list[PbSpan], service: str = "test-app", resource: dict[str, Any] | None = None
            ) -> ExportTraceServiceRequest:  # fmt: skip
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": service, **(resource or {})}))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def our_stream(n_chunks: int = 5, *, model: str = "gpt-4o-mini", outcome: str = "completed",
               service: str = "test-app", trace_id: bytes | None = None, chunk_spans: bool = True,
               start_ns: int | None = None, session: str | None = None, user: str | None = None,
               who_on_stream: bool = True) -> tuple[ExportTraceServiceRequest, dict[str, str]]:  # fmt: skip
    """A trace shaped like our SDK's output: root → LLM stream span (rollups) → chunk spans. ``session`` /
    ``user`` set ``session.id`` / ``user.id`` on the root, and on the stream's span too with ``who_on_stream``."""
    tid = trace_id or new_trace_id()
    root, llm = new_span_id(), new_span_id()
    t0 = start_ns if start_ns is not None else time.time_ns() - 10 * NS
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
        "gen_ai.request.stream": True, "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": n_chunks,
        "gen_ai.response.time_to_first_chunk": 0.1, "streamscope.stream.outcome": outcome,
        "streamscope.stream.time_to_first_chunk": 0.1, "streamscope.stream.time_to_first_token": 0.15,
        "streamscope.stream.chunk_count": n_chunks, "streamscope.stream.gap_p50": 0.05,
        "streamscope.stream.gap_p95": 0.05, "streamscope.stream.gap_max": 0.05, "streamscope.stream.stall_count": 0,
        "streamscope.stream.output_tokens_per_second": 20.0, "streamscope.usage.source": "provider",
    }  # fmt: skip
    who = {k: v for k, v in (("session.id", session), ("user.id", user)) if v is not None}
    if who_on_stream:
        attrs.update(who)
    spans = [pb_span(tid, root, None, name="handle", start_ns=t0, dur=1.0, kind=2, attrs=who or None)]
    if not chunk_spans:
        attrs["streamscope.chunks.offset"] = [0.1 + 0.05 * i for i in range(n_chunks)]
        attrs["streamscope.chunks.size"] = [3] * n_chunks
        attrs["streamscope.chunks.kind"] = ["role"] + ["content"] * (n_chunks - 1)
    spans.append(pb_span(tid, llm, root, name=f"chat {model}", start_ns=t0 + NS // 100, dur=0.5, kind=3,
                         attrs=attrs, status=2 if outcome == "error" else 0))  # fmt: skip
    if chunk_spans:
        for i in range(n_chunks):
            off = 0.1 + 0.05 * i
            spans.append(pb_span(tid, new_span_id(), llm, name="streamscope.chunk", start_ns=t0 + NS // 100 + int(off * NS),
                                 dur=0, attrs={"streamscope.chunk.index": i, "streamscope.chunk.offset": off,
                                               "streamscope.chunk.gap": 0.05 if i else 0.1,
                                               "streamscope.chunk.kind": "role" if i == 0 else "content",
                                               "streamscope.chunk.size": 0 if i == 0 else 3,
                                               "streamscope.chunk.content": "" if i == 0 else f"t{i}"}))  # fmt: skip
    return request(spans, service), {"trace_id": tid.hex(), "root": root.hex(), "llm": llm.hex()}


#: A GenAI chat span as each instrumentation writes it (span name, attributes).
GENERIC_LLM: dict[str, tuple[str, dict[str, Any]]] = {
    "genai": ("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 30,
                              "gen_ai.usage.output_tokens": 12, "gen_ai.response.finish_reasons": ["stop"]}),
    "openinference": ("ChatCompletion", {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
                                         "llm.provider": "openai", "llm.token_count.prompt": 30,
                                         "llm.token_count.completion": 12,
                                         "llm.invocation_parameters": '{"stream": true}'}),
    "openllmetry": ("openai.chat", {"llm.request.type": "chat", "gen_ai.system": "openai",
                                    "gen_ai.request.model": "gpt-4o", "gen_ai.usage.completion_tokens": 12,
                                    "llm.is_streaming": True, "session.id": "s-7"}),
    "openlit": ("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                                "gen_ai.request.model": "gpt-4o", "gen_ai.server.time_to_first_token": 0.2,
                                "gen_ai.usage.output_tokens": 12, "user.id": 42}),
}  # fmt: skip


def generic_stream(dialect: str, n_chunks: int = 5, *, trace_id: bytes | None = None, start_ns: int | None = None,
                   parent: bytes | None = None) -> tuple[list[PbSpan], dict[str, str]]:  # fmt: skip
    """A trace as an app instrumented by someone else sends it: an HTTP server span, a GenAI chat span in
    ``dialect`` (see GENERIC_LLM) and ``n_chunks`` children named ``gen_ai.chunk`` (not our chunk names)."""
    tid = trace_id or new_trace_id()
    root, llm = new_span_id(), new_span_id()
    t0 = start_ns if start_ns is not None else time.time_ns() - 10 * NS
    name, attrs = GENERIC_LLM[dialect]
    spans = [
        pb_span(tid, root, parent, name="POST /v1/chat", start_ns=t0, dur=1.0, kind=2,
                attrs={"http.request.method": "POST", "http.route": "/v1/chat", "http.response.status_code": 200}),
        pb_span(tid, llm, root, name=name, start_ns=t0 + NS // 100, dur=0.5, kind=3, attrs=attrs),
    ]  # fmt: skip
    for i in range(n_chunks):
        off = 0.2 + 0.03 * i
        spans.append(pb_span(tid, new_span_id(), llm, name="gen_ai.chunk", start_ns=t0 + NS // 100 + int(off * NS),
                             dur=0, attrs={"gen_ai.chunk.index": i, "gen_ai.chunk.offset": off,
                                           "gen_ai.chunk.gap": 0.03 if i else 0.2, "gen_ai.chunk.kind": "content"}))  # fmt: skip
    return spans, {"trace_id": tid.hex(), "root": root.hex(), "llm": llm.hex()}
