"""``capture_spans()`` records engine runs with no other setup, once each, however many tracing handlers see them."""

from __future__ import annotations

import streamscope
from streamscope.engine import FakeListChatModel
from streamscope.engine.callbacks import get_global_handlers
from streamscope.testing import capture_spans


def _tracing_handlers() -> list[object]:
    return [h for h in get_global_handlers() if isinstance(h, streamscope.TracingCallbackHandler)]


def test_engine_runs_are_recorded_without_init() -> None:
    model = FakeListChatModel(responses=["hey"])
    with capture_spans() as spans:
        assert list(model.stream("hi"))  # the docstring's own example
    (llm,) = spans.llm_spans()
    assert llm.attributes["streamscope.stream.outcome"] == "completed"  # type: ignore[index]
    assert len(spans.chunks_of(llm)) == 3
    assert _tracing_handlers() == []  # detached again when the block ends


def test_a_per_call_handler_and_the_captures_handler_record_one_span_per_run() -> None:
    model = FakeListChatModel(responses=["hey"])
    with capture_spans() as spans:
        list(model.stream("hi", config={"callbacks": [streamscope.TracingCallbackHandler()]}))
    (llm,) = spans.llm_spans()
    assert len(spans.chunks_of(llm)) == 3
    assert len([s for s in spans if s.name == "streamscope.chunk"]) == 3


def test_inside_init_one_handler_serves_both_and_outlives_the_capture() -> None:
    tracing = streamscope.init("http://127.0.0.1:9/v1/traces", live_interval=0)
    try:
        assert len(_tracing_handlers()) == 1
        with capture_spans() as spans:
            assert len(_tracing_handlers()) == 1
            list(FakeListChatModel(responses=["ab"]).stream("hi"))
        assert len(spans.llm_spans()) == 1
        assert len(_tracing_handlers()) == 1  # init's handler is still attached
    finally:
        tracing.shutdown(timeout=0.5)
    assert _tracing_handlers() == []


def test_instrument_engine_false_leaves_engine_runs_out() -> None:
    with capture_spans(instrument_engine=False) as spans:
        list(FakeListChatModel(responses=["hey"]).stream("hi"))
    assert spans.llm_spans() == []
