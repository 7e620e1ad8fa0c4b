"""The tracing handler's record of an engine text chunk: ``Stamper`` (sdk/tracing/_stamp.c) and the Python closure
it stands in for record the same, and an engine stream traced through either gives the same spans."""

from __future__ import annotations

import gc
import time
import weakref
from typing import Any

import pytest

from streamscope.engine.messages import AIMessageChunk
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.testing import capture_spans
from streamscope.tracing import handler as handler_module
from streamscope.tracing.handler import TracingCallbackHandler, _text_recorder

_stamp = pytest.importorskip("streamscope.tracing._stamp", reason="built without a C compiler")


class _Column(list):  # type: ignore[type-arg]
    """A list that can be weakly referenced (to see it collected)."""


@pytest.mark.parametrize("native", [True, False])
def test_a_text_is_recorded_after_its_time_of_arrival(native: bool) -> None:
    arrived: list[int] = []
    payloads: list[Any] = []
    record = _text_recorder(arrived, payloads, native=native)
    assert isinstance(record, _stamp.Stamper) is native
    before = time.perf_counter_ns()
    record("Hello")
    record(" world")
    after = time.perf_counter_ns()
    assert payloads == ["Hello", " world"]
    assert len(arrived) == 2
    assert before <= arrived[0] <= arrived[1] <= after  # perf_counter_ns's clock, in order


def test_the_stamper_takes_one_text_and_two_lists() -> None:
    record = _stamp.Stamper([], [])
    with pytest.raises(TypeError, match="exactly one argument"):
        record()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="exactly one argument"):
        record("a", "b")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="exactly one argument"):
        record(text="a")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _stamp.Stamper((), [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _stamp.Stamper([])  # type: ignore[call-arg]


def test_a_stamper_in_a_reference_cycle_is_collected() -> None:
    arrived, payloads = _Column(), _Column()
    record = _stamp.Stamper(arrived, payloads)
    record(record)  # the stamper now holds payloads, which holds the stamper
    gone = weakref.ref(payloads)
    del arrived, payloads, record
    gc.collect()
    assert gone() is None


def _script() -> list[Any]:
    return [AIMessageChunk(""), "Hello", " world", AIMessageChunk("mid", response_metadata={"model_name": "m2"}),
            "tail", "!"]


@pytest.mark.parametrize("use_async", [False, True])
def test_an_engine_stream_gives_the_same_spans_through_either(use_async: bool, comparable: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def consume(model: Any) -> str:
        return "".join([str(m.content) async for m in model.astream("q")])

    runs = []
    for native in (True, False):
        if not native:
            monkeypatch.setattr(handler_module, "_Stamper", None)
        handler = TracingCallbackHandler()
        model = FakeStreamingChatModel(chunks=_script(), usage={"input_tokens": 2, "output_tokens": 5},
                                       callbacks=[handler])
        with capture_spans() as spans:
            text = asyncio.run(consume(model)) if use_async else "".join(str(m.content) for m in model.stream("q"))
        runs.append((text, comparable(spans)))
    assert runs[0] == runs[1]
    assert runs[0][0] == "Hello worldmidtail!"
    chunk_spans = [attrs for name, attrs in runs[0][1] if name == "streamscope.chunk"]
    assert [a.get("streamscope.chunk.content") for a in chunk_spans] == ["", "Hello", " world", "mid", "tail", "!"]
