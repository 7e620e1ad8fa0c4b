"""An LLM span started on the export thread: the same span as one started by the caller, off the caller's thread.

With ``streamscope.init`` (our pipeline) and everything sampled, ``start_stream`` only captures what the span needs
and the export thread starts it. Everything here is real: ``init`` with its export thread and OTLP/HTTP exporter, a
real OTLP receiver, real span processors added to the provider to see where and when ``on_start`` runs.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from otlp_receiver import Receiver, attrs

import streamscope
from streamscope.tracing import state
from streamscope.tracing.handler import TracingCallbackHandler
from streamscope.tracing.streams import CONTENT, start_stream


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


class StartWatcher(SpanProcessor):
    """Notes the thread each span starts on; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.threads: dict[str, str] = {}
        self.fail = fail

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.threads[span.name] = threading.current_thread().name
        if self.fail and span.name.startswith("chat "):
            raise RuntimeError("processor failure")

    def on_end(self, span: ReadableSpan) -> None:
        return None


def _init(receiver: Receiver, watcher: StartWatcher | None = None, **kwargs: Any) -> Any:
    tracing = streamscope.init(receiver.url, service_name="t", instrument_engine=False, **kwargs)
    if watcher is not None:
        tracing.provider.add_span_processor(watcher)
    return tracing


def _one_stream(parent: Any = None, **kwargs: Any) -> None:
    rec = start_stream(
        model="m",
        provider="openai",
        request_params={"temperature": 0.5},
        parent=parent,
        input_messages=[{"role": "user", "content": "hi"}],
        attributes={"x.custom": 1},
        **kwargs,
    )
    for text in ("a", "b"):
        rec.chunk(CONTENT, text)
    rec.set_attribute("x.late", "yes")
    rec.end("completed")


def _exported(receiver: Receiver) -> tuple[Any, list[Any]]:
    (llm,) = [s for s in receiver.spans if s.name == "chat m"]
    chunks = [s for s in receiver.spans if s.name == "streamscope.chunk"]
    return llm, chunks


def _comparable(span: Any) -> dict[str, Any]:
    timing = ("time_to_", "gap", "offset", "tokens_per_second")
    return {k: v for k, v in attrs(span).items() if not any(t in k for t in timing)}


def test_the_span_starts_on_the_export_thread_and_is_the_one_the_caller_would_start(
    receiver: Receiver,
) -> None:
    runs = []
    for defer in (True, False):
        watcher = StartWatcher()
        tracing = _init(receiver, watcher)
        active = state.current()
        assert active.defer_start  # everything sampled
        if not defer:
            state.push(dataclasses.replace(active, defer_start=False))
        try:
            with streamscope.context(session_id="s1", tags=["a"]):
                _one_stream()
            assert tracing.force_flush(10)
        finally:
            if not defer:
                state.remove(state.current())
            tracing.shutdown()
        llm, chunks = _exported(receiver)
        receiver.spans.clear()
        assert watcher.threads["chat m"] == (
            "streamscope-export" if defer else threading.current_thread().name
        )
        assert [c.parent_span_id for c in chunks] == [llm.span_id, llm.span_id]
        assert len(llm.parent_span_id) == 0
        runs.append((llm.kind, _comparable(llm), [_comparable(c) for c in chunks]))
    assert runs[0] == runs[1]
    kind, llm_attrs, _ = runs[0]
    assert kind == 3  # SPAN_KIND_CLIENT
    assert llm_attrs["session.id"] == "s1" and llm_attrs["streamscope.tags"] == ("a",)
    assert llm_attrs["x.custom"] == 1 and llm_attrs["x.late"] == "yes"
    assert llm_attrs["gen_ai.request.temperature"] == 0.5
    assert llm_attrs["streamscope.stream.chunk_count"] == 2


def test_the_span_has_the_streams_start_time_and_context_not_the_export_threads(receiver: Receiver) -> None:
    tracing = _init(receiver)
    try:
        with streamscope.context(user_id="u-start"):
            rec = start_stream(model="m")
        rec.chunk(CONTENT, "x")
        with streamscope.context(user_id="u-end"):
            rec.end()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    llm, _ = _exported(receiver)
    assert attrs(llm)["user.id"] == "u-start"
    assert llm.start_time_unix_nano == rec.start_wall_ns


def test_the_span_nests_under_the_callers_current_span(receiver: Receiver) -> None:
    tracing = _init(receiver)
    try:
        with trace.get_tracer("t").start_as_current_span("outer") as outer:
            _one_stream()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    llm, _ = _exported(receiver)
    assert llm.parent_span_id == outer.get_span_context().span_id.to_bytes(8, "big")
    assert llm.trace_id == outer.get_span_context().trace_id.to_bytes(16, "big")


def test_a_child_run_of_an_llm_run_starts_the_span_where_it_needs_it(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "OTEL_BSP_SCHEDULE_DELAY", "600000"
    )  # the export thread does not wake by itself meanwhile
    watcher = StartWatcher()
    tracing = _init(receiver, watcher)
    handler = TracingCallbackHandler()
    llm_run, child_run = uuid4(), uuid4()
    try:
        handler.on_chat_model_start({}, [[]], run_id=llm_run, invocation_params={"model": "m"})
        handler.on_chain_start({}, {}, run_id=child_run, parent_run_id=llm_run, name="inside")
        handler.on_chain_end({}, run_id=child_run)
        handler.on_llm_end(None, run_id=llm_run)
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert watcher.threads["chat m"] == threading.current_thread().name  # the child needed its context first
    llm, _ = _exported(receiver)
    (inside,) = [s for s in receiver.spans if s.name == "inside"]
    assert inside.parent_span_id == llm.span_id


def test_a_stream_under_a_parent_that_is_not_sampled_is_not_recorded(receiver: Receiver) -> None:
    tracing = _init(receiver)
    unsampled = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    try:
        rec = start_stream(model="m", parent=trace.set_span_in_context(NonRecordingSpan(unsampled)))
        assert rec.chunk_columns() is None  # decided at once, on the caller's thread
        rec.end()
        _one_stream()  # and a sampled one next to it
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert [s.name for s in receiver.spans if s.name.startswith("chat")] == ["chat m"]


def test_sampling_by_ratio_starts_the_span_on_the_callers_thread(receiver: Receiver) -> None:
    watcher = StartWatcher()
    tracing = _init(receiver, watcher, sample_rate=0.999999)
    try:
        assert not state.current().defer_start
        _one_stream()
        assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert watcher.threads["chat m"] == threading.current_thread().name


def test_a_span_that_fails_to_start_costs_the_stream_nothing(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    tracing = _init(receiver, StartWatcher(fail=True))
    try:
        with caplog.at_level(logging.WARNING, logger="streamscope"):
            for _ in range(3):
                _one_stream()  # nothing raises here
            assert tracing.force_flush(10)
    finally:
        tracing.shutdown()
    assert not [s for s in receiver.spans if s.name.startswith("chat") or s.name == "streamscope.chunk"]
    reports = [r for r in caplog.records if "start_stream(span)" in r.getMessage()]
    assert len(reports) == 1 and "processor failure" in reports[0].getMessage()
