"""Bounded buffering: a slow consumer slows the producer instead of growing memory."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from streamscope.engine import flow


def test_async_slow_consumer_bounds_occupancy() -> None:
    async def main() -> None:
        async def fast_source() -> AsyncIterator[int]:
            for i in range(500):
                yield i

        stream = flow.buffer(maxsize=8)(fast_source())
        assert isinstance(stream, flow.AsyncBufferedStream)
        got = []
        async for item in stream:
            got.append(item)
            # the producer may be at most `maxsize` chunks ahead of what we consumed
            assert stream.stats.produced - stream.stats.consumed <= 8
            await asyncio.sleep(0)  # a slow consumer: the producer gets to run between items
            await asyncio.sleep(0)
        assert got == list(range(500))
        assert stream.stats.max_occupancy == 8  # the buffer filled up, and never beyond its bound
        assert stream.stats.produced == stream.stats.consumed == 500

    asyncio.run(main())


def test_async_buffer_lets_producer_run_ahead_while_consumer_works() -> None:
    async def main() -> None:
        pulled: list[int] = []

        async def source() -> AsyncIterator[int]:
            for i in range(10):
                pulled.append(i)
                yield i

        stream = flow.buffer(maxsize=3)(source())
        first = await stream.__anext__()
        await asyncio.sleep(0.01)  # consumer busy: producer fills the buffer, then waits
        assert first == 0
        # 1 consumed, 3 buffered, and one more pulled that waits for room: no further
        assert pulled == [0, 1, 2, 3, 4]
        assert stream.stats.max_occupancy == 3
        rest = [x async for x in stream]
        assert rest == list(range(1, 10))

    asyncio.run(main())


def test_sync_slow_consumer_bounds_occupancy() -> None:
    def fast_source() -> Iterator[int]:
        yield from range(300)

    stream = flow.buffer(maxsize=4)(fast_source())
    assert isinstance(stream, flow.BufferedStream)
    got = []
    for item in stream:
        got.append(item)
        assert stream.stats.produced - stream.stats.consumed <= 4
        if item % 50 == 0:
            time.sleep(0.005)
    assert got == list(range(300))
    assert 1 <= stream.stats.max_occupancy <= 4


def test_errors_arrive_after_the_chunks_before_them() -> None:
    boom = ValueError("boom")

    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise boom

    got = []
    with pytest.raises(ValueError) as info:
        for x in flow.buffer(maxsize=2)(source()):
            got.append(x)
    assert got == [1, 2] and info.value is boom

    async def asource() -> AsyncIterator[int]:
        yield 1
        raise boom

    async def main() -> list[int]:
        out = []
        with pytest.raises(ValueError) as ainfo:
            async for x in flow.buffer(maxsize=2)(asource()):
                out.append(x)
        assert ainfo.value is boom
        return out

    assert asyncio.run(main()) == [1]


def test_closing_early_stops_the_producer_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed.set()

    stream = flow.buffer(maxsize=2)(source())
    assert next(stream) == 0
    stream.close()
    assert closed.wait(5)

    async def main() -> None:
        aclosed = []

        async def asource() -> AsyncIterator[int]:
            try:
                for i in range(10_000):
                    yield i
            finally:
                aclosed.append("closed")

        astream = flow.buffer(maxsize=2)(asource())
        assert await astream.__anext__() == 0
        await asyncio.sleep(0)
        await astream.aclose()
        assert aclosed == ["closed"]

        async def silent() -> AsyncIterator[int]:  # producer blocked on a silent source
            try:
                yield 1
                await asyncio.sleep(30)
                yield 2
            finally:
                aclosed.append("silent closed")

        s2 = flow.buffer(maxsize=2)(silent())
        assert await s2.__anext__() == 1
        await s2.aclose()
        assert aclosed[-1] == "silent closed"

    asyncio.run(main())


def test_sync_producer_thread_sees_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("flow_test_var", default="unset")
    var.set("caller")

    def source() -> Iterator[tuple[str, bool]]:
        yield var.get(), threading.current_thread() is threading.main_thread()

    assert list(flow.buffer()(source())) == [("caller", False)]


def test_bad_maxsize() -> None:
    with pytest.raises(ValueError):
        flow.buffer(maxsize=0)
