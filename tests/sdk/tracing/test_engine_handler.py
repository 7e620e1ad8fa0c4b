"""TracingCallbackHandler over the real streamscope engine: run tree, LLM streams, outcomes, global install."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import TypeVar

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from otlp_receiver import Receiver, attrs

import streamscope
from streamscope.engine import flow
from streamscope.engine.callbacks import get_global_handlers
from streamscope.engine.models import FakeStreamingChatModel
from streamscope.engine.parsers import StrOutputParser
from streamscope.engine.prompts import ChatPromptTemplate
from streamscope.testing import capture_spans

T = TypeVar("T")


def _timed(pieces: Iterable[T]) -> tuple[list[T], list[float], list[float]]:
    """The pieces, and per piece when the consumer asked for it and when it got it (``perf_counter``, the
    handler's clock). Streaming is pull-based: the model only sleeps towards chunk i once piece i was asked for,
    and the handler stamps chunk i before piece i reaches the consumer, so stamp i lies in ``[asked[i] + its
    scripted delay, got[i]]`` however loaded the machine is."""
    it = iter(pieces)
    items: list[T] = []
    asked: list[float] = []
    got: list[float] = []
    while True:
        at = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return items, asked, got
        got.append(time.perf_counter())
        asked.append(at)
        items.append(item)


@pytest.fixture(autouse=True)
def clean_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.DEBUG):
        yield
    assert "Failed to detach context" not in caplog.text
    assert "streamscope tracing failed" not in caplog.text


def _a(span: object) -> dict[str, object]:
    return dict(span.attributes or {})  # type: ignore[attr-defined]


def _chain(model: FakeStreamingChatModel) -> object:
    return ChatPromptTemplate.from_messages([("human", "{q}")]) | model | StrOutputParser()


def _cfg() -> dict[str, object]:
    return {"callbacks": [streamscope.TracingCallbackHandler()]}


def test_chain_stream_spans_timings_match_the_script() -> None:
    model = FakeStreamingChatModel(
        chunks=["", "Hel", "lo", " there"], ttft=0.06, gap=0.03, usage={"input_tokens": 3, "output_tokens": 3}
    )
    with capture_spans() as spans:
        began = time.perf_counter()
        pieces, asked, got = _timed(_chain(model).stream({"q": "hi"}, config=_cfg()))  # type: ignore[attr-defined]
    assert "".join(pieces) == "Hello there" and len(pieces) == 4
    root = spans.one("RunnableSequence")
    llm = spans.one("chat fake-streaming")
    assert llm.kind == SpanKind.CLIENT
    assert llm.parent.span_id == root.context.span_id  # type: ignore[union-attr]
    a = _a(llm)
    assert a["gen_ai.provider.name"] == "fake"
    assert a["streamscope.stream.outcome"] == "completed"
    # the role-only/empty first delta is the first chunk, not the first token; never earlier than the script, never
    # later than the consumer got the piece (the run started after `began`)
    assert 0.06 <= a["streamscope.stream.time_to_first_chunk"] <= got[0] - began  # type: ignore[operator]
    assert 0.09 <= a["streamscope.stream.time_to_first_token"] <= got[1] - began  # type: ignore[operator]
    # chunk i-1 was stamped after its scripted delay from asked[i-1], chunk i before got[i]
    delays = [0.06, 0.03, 0.03, 0.03]
    highs = [got[i] - asked[i - 1] - delays[i - 1] for i in range(1, 4)]
    assert a["gen_ai.usage.output_tokens"] == 3 and a["streamscope.usage.source"] == "provider"
    chunks = spans.chunks_of(llm)
    assert [_a(c)["streamscope.chunk.kind"] for c in chunks] == ["role", "content", "content", "content"]
    gaps = [_a(c)["streamscope.chunk.gap"] for c in chunks[1:]]
    for gap, high in zip(gaps, highs, strict=True):
        assert 0.03 <= gap <= high, (gaps, highs)  # type: ignore[operator]
    assert a["streamscope.stream.gap_max"] == pytest.approx(max(gaps))  # type: ignore[type-var]
    assert a["streamscope.stream.gap_p50"] == pytest.approx(sorted(gaps)[1])  # type: ignore[type-var]


def test_tool_call_deltas_give_time_to_first_tool_call() -> None:
    model = FakeStreamingChatModel(
        chunks=[""], tool_calls=[{"name": "add", "args": {"a": 1}}], ttft=0.02, gap=0.01
    )
    with capture_spans() as spans:
        began = time.perf_counter()
        _, _, got = _timed(model.stream("q", config=_cfg()))  # type: ignore[arg-type]
    a = _a(spans.one("chat fake-streaming"))
    assert "streamscope.stream.time_to_first_token" not in a
    # the tool call's first delta is chunk 1: scripted at ttft + gap, stamped before the consumer got it
    assert 0.03 <= a["streamscope.stream.time_to_first_tool_call"] <= got[1] - began  # type: ignore[operator]


def test_break_is_abandoned_and_not_an_error() -> None:
    model = FakeStreamingChatModel(chunks=["a", "b", "c", "d"])
    with capture_spans() as spans:
        stream = _chain(model).stream({"q": "x"}, config=_cfg())  # type: ignore[attr-defined]
        for piece in stream:
            if piece == "b":
                break
        stream.close()
    llm = spans.one("chat fake-streaming")
    assert _a(llm)["streamscope.stream.outcome"] == "abandoned"
    assert llm.status.status_code == StatusCode.UNSET
    assert _a(llm)["streamscope.stream.partial_output"] == "ab"
    assert all(
        _a(s)["streamscope.stream.outcome"] == "abandoned"
        for s in spans
        if s.name != "streamscope.chunk" and s.name not in ("ChatPromptTemplate",)
    )


def test_error_mid_stream_is_error_with_exception() -> None:
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], error_at=2)
    with capture_spans() as spans, pytest.raises(Exception) as info:
        list(_chain(model).stream({"q": "x"}, config=_cfg()))  # type: ignore[attr-defined]
    llm = spans.one("chat fake-streaming")
    assert llm.status.status_code == StatusCode.ERROR
    assert _a(llm)["error.type"] == type(info.value).__name__
    assert _a(llm)["streamscope.stream.partial_output"] == "ab"
    assert any(e.name == "exception" for e in llm.events)
    assert spans.one("RunnableSequence").status.status_code == StatusCode.ERROR


def test_async_cancellation_is_cancelled() -> None:
    model = FakeStreamingChatModel(chunks=["a", "b", "c", "d"], gap=0.2)

    async def main() -> None:
        async def consume() -> None:
            async for _ in model.astream("q", config=_cfg()):  # type: ignore[arg-type]
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_spans() as spans:
        asyncio.run(main())
    llm = spans.one("chat fake-streaming")
    assert _a(llm)["streamscope.stream.outcome"] == "cancelled"
    assert llm.status.status_code == StatusCode.UNSET


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_flow_timeout_makes_the_llm_stream_a_timeout(mode: str) -> None:
    """``prompt | model | flow.timeout | parser``: the model stream that timed out is a timeout, not a cancel."""
    model = FakeStreamingChatModel(chunks=["a", "b", "c"], gap=0.4)
    chain = (
        ChatPromptTemplate.from_messages([("human", "{q}")])
        | model
        | flow.timeout(per_chunk=0.1)
        | StrOutputParser()
    )

    async def consume() -> None:
        async for _ in chain.astream({"q": "x"}, config=_cfg()):
            pass

    with capture_spans() as spans, pytest.raises(flow.StreamTimeoutError):
        if mode == "sync":
            list(chain.stream({"q": "x"}, config=_cfg()))
        else:
            asyncio.run(consume())
    llm = _wait_one(spans)
    a = _a(llm)
    assert a["streamscope.stream.outcome"] == "timeout"
    assert a["error.type"] == "TimeoutError"
    assert llm.status.status_code == StatusCode.ERROR
    # what the model produced: in sync mode the timeout's producer thread may already have read "b" from the
    # model when it closes it (prefetch); the consumer saw only "a" either way
    assert a["streamscope.stream.partial_output"] == ("a" if mode == "async" else "ab")


def _wait_one(spans: object) -> object:
    """The LLM span; a sync timeout ends the model from its producer thread once its pending chunk arrives."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [s for s in spans if s.name == "chat fake-streaming"]  # type: ignore[attr-defined]
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError("the model's span never ended")


def test_first_byte_custom_event_sets_time_to_first_byte() -> None:
    import time

    handler = streamscope.TracingCallbackHandler()
    run_id = uuid.uuid4()
    with capture_spans() as spans:
        handler.on_chat_model_start(
            {"name": "ChatOpenAI"},
            [[]],
            run_id=run_id,
            metadata={"ls_provider": "openai", "ls_model_name": "gpt-x"},
            invocation_params={"model": "gpt-x", "stream": True, "temperature": 0.1},
        )
        handler.on_custom_event("streamscope.first_byte", {"time_ns": time.time_ns()}, run_id=run_id)
        handler.on_llm_new_token("hi", chunk=None, run_id=run_id)
        handler.on_llm_end(None, run_id=run_id, reason="completed")
    a = _a(spans.one("chat gpt-x"))
    assert a["gen_ai.request.temperature"] == 0.1
    assert 0 <= a["streamscope.stream.time_to_first_byte"] <= a["streamscope.stream.time_to_first_token"]  # type: ignore[operator]


def test_handler_survives_nonsense_callbacks() -> None:
    handler = streamscope.TracingCallbackHandler()
    with capture_spans():
        handler.on_llm_end(object(), run_id=uuid.uuid4())  # unknown run
        handler.on_chain_start(None, 1, run_id=uuid.uuid4(), metadata="not a dict")  # type: ignore[arg-type]
        handler.on_chat_model_start(None, "nonsense", run_id=uuid.uuid4())  # type: ignore[arg-type]


def test_init_installs_the_handler_globally_and_shutdown_removes_it() -> None:
    with Receiver() as receiver:
        tracing = streamscope.init(receiver.url, service_name="engine-app")
        try:
            assert any(isinstance(h, streamscope.TracingCallbackHandler) for h in get_global_handlers())
            assert "".join(_chain(FakeStreamingChatModel(chunks=["o", "k"])).stream({"q": "x"})) == "ok"  # type: ignore[attr-defined]
            assert tracing.force_flush(10)
        finally:
            tracing.shutdown()
        assert not any(isinstance(h, streamscope.TracingCallbackHandler) for h in get_global_handlers())
    names = sorted(s.name for s in receiver.spans)
    assert names.count("streamscope.chunk") == 2
    assert "RunnableSequence" in names and "chat fake-streaming" in names
    llm = receiver.named("chat fake-streaming")[0]
    assert attrs(llm)["streamscope.stream.outcome"] == "completed"
