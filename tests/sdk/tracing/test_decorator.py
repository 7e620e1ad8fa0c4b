"""@streamscope.trace: nesting, durations, outcomes; no context token held across yield."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, StatusCode

import streamscope
from streamscope.testing import capture_spans


@pytest.fixture(autouse=True)
def no_detach_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.DEBUG):
        yield
    assert "Failed to detach context" not in caplog.text
    assert "streamscope tracing failed" not in caplog.text


def _outcome(span: object) -> object:
    return (span.attributes or {}).get("streamscope.stream.outcome")  # type: ignore[attr-defined]


def test_sync_function_nesting_and_name() -> None:
    @streamscope.trace
    def inner() -> int:
        return 1

    @streamscope.trace(name="outer-step", kind="server")
    def outer() -> int:
        return inner() + 1

    with capture_spans() as spans:
        assert outer() == 2
    o = spans.one("outer-step")
    i = spans.one("test_sync_function_nesting_and_name.<locals>.inner")
    assert o.kind == SpanKind.SERVER
    assert i.parent is not None and i.parent.span_id == o.context.span_id  # type: ignore[union-attr]
    assert (o.attributes or {})["streamscope.run.type"] == "function"
    assert _outcome(o) == "completed"


def test_user_exception_passes_through_unchanged_and_marks_error() -> None:
    class Boom(Exception):
        pass

    err = Boom("x")

    @streamscope.trace
    def fails() -> None:
        raise err

    with capture_spans() as spans, pytest.raises(Boom) as info:
        fails()
    assert info.value is err
    span = spans[0]
    assert span.status.status_code == StatusCode.ERROR
    assert _outcome(span) == "error"
    assert (span.attributes or {})["error.type"] == "Boom"


def test_async_function_duration_and_parent() -> None:
    @streamscope.trace
    async def child() -> str:
        await asyncio.sleep(0.02)
        return "ok"

    @streamscope.trace
    async def parent() -> list[str]:
        return list(await asyncio.gather(child(), child()))

    with capture_spans() as spans:
        assert asyncio.run(parent()) == ["ok", "ok"]
    p = next(s for s in spans if s.name.endswith("parent"))
    kids = [s for s in spans if s.name.endswith("child")]
    assert len(kids) == 2
    for k in kids:
        assert k.parent.span_id == p.context.span_id  # type: ignore[union-attr]
        assert k.end_time - k.start_time >= 15_000_000  # type: ignore[operator]


def test_generator_span_covers_iteration_and_children_nest() -> None:
    @streamscope.trace
    def step(i: int) -> int:
        return i

    @streamscope.trace
    def gen(n: int) -> Iterator[int]:
        for i in range(n):
            time.sleep(0.005)
            yield step(i)

    with capture_spans() as spans:
        out = []
        for x in gen(3):
            # between yields the consumer is NOT inside the generator's span
            assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
            out.append(x)
    assert out == [0, 1, 2]
    g = next(s for s in spans if s.name.endswith("gen"))
    steps = [s for s in spans if s.name.endswith("step")]
    assert len(steps) == 3 and all(s.parent.span_id == g.context.span_id for s in steps)  # type: ignore[union-attr]
    assert _outcome(g) == "completed"
    assert g.end_time - g.start_time >= 15_000_000  # type: ignore[operator]


def test_generator_break_close_and_gc_are_abandoned() -> None:
    @streamscope.trace
    def gen() -> Iterator[int]:
        yield from range(10)

    with capture_spans() as spans:
        for x in gen():
            if x == 2:
                break
        g2 = gen()
        next(g2)
        g2.close()
        g3 = gen()
        next(g3)
        del g3
        gc.collect()
    gens = [s for s in spans if s.name.endswith("gen")]
    assert len(gens) == 3
    assert [_outcome(s) for s in gens] == ["abandoned"] * 3
    assert all(s.status.status_code == StatusCode.UNSET for s in gens)


def test_generator_error_send_and_throw() -> None:
    @streamscope.trace
    def echo() -> Iterator[int]:
        total = 0
        while True:
            try:
                got = yield total
            except KeyError:
                got = 100
            total += got or 0
            if total > 150:
                raise ValueError("too much")

    with capture_spans() as spans:
        g = echo()
        assert next(g) == 0
        assert g.send(5) == 5
        assert g.throw(KeyError("k")) == 105
        with pytest.raises(ValueError, match="too much"):
            g.send(50)
    span = spans[0]
    assert _outcome(span) == "error"
    assert span.status.status_code == StatusCode.ERROR


def test_generator_parent_is_the_context_at_call_time() -> None:
    @streamscope.trace
    def gen() -> Iterator[int]:
        yield 1

    @streamscope.trace
    def handler() -> Iterator[int]:
        return gen()  # returned un-iterated, consumed by "the framework" elsewhere

    with capture_spans() as spans:
        it = handler()
        t = threading.Thread(target=lambda: list(it))
        t.start()
        t.join()
    h = next(s for s in spans if s.name.endswith("handler"))
    g = next(s for s in spans if s.name.endswith("gen"))
    assert g.parent.span_id == h.context.span_id  # type: ignore[union-attr]


def test_async_generator_outcomes() -> None:
    @streamscope.trace
    async def agen(delay: float = 0) -> AsyncIterator[int]:
        for i in range(5):
            await asyncio.sleep(delay if i == 2 else 0)
            yield i

    async def main() -> None:
        assert [x async for x in agen()] == [0, 1, 2, 3, 4]
        a = agen()
        async for x in a:
            if x == 1:
                break
        await a.aclose()  # type: ignore[attr-defined]

        async def consume() -> None:
            async for _ in agen(10):  # cancelled while the generator itself awaits
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture_spans() as spans:
        asyncio.run(main())
    assert [_outcome(s) for s in spans] == ["completed", "abandoned", "cancelled"]
    assert all(s.status.status_code == StatusCode.UNSET for s in spans)


def test_nested_async_generators_keep_parentage() -> None:
    @streamscope.trace
    async def inner() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    @streamscope.trace
    async def outer() -> AsyncIterator[str]:
        async for x in inner():
            yield x.upper()

    async def main() -> list[str]:
        return [x async for x in outer()]

    with capture_spans() as spans:
        assert asyncio.run(main()) == ["A", "B"]
    o = next(s for s in spans if s.name.endswith("outer"))
    i = next(s for s in spans if s.name.endswith("inner"))
    assert i.parent.span_id == o.context.span_id  # type: ignore[union-attr]
    assert o.start_time <= i.start_time and i.end_time <= o.end_time  # type: ignore[operator]


def test_async_timeout_is_timeout_outcome() -> None:
    @streamscope.trace
    async def slow() -> None:
        await asyncio.sleep(1)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), 0.01)

    with capture_spans() as spans:
        asyncio.run(main())
    # wait_for cancels the inner coroutine: its own span is cancelled, not an error
    assert _outcome(spans[0]) == "cancelled"


def test_bad_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        streamscope.trace(kind="sideways")
