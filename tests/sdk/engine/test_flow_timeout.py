"""Per-chunk and whole-stream timeouts raise StreamTimeoutError carrying the partial output."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from streamscope.engine import flow
from streamscope.engine.flow import StreamTimeoutError
from streamscope.engine.messages import AIMessageChunk


def test_async_per_chunk_timeout_interrupts_a_silent_source() -> None:
    interrupted = []

    async def source() -> AsyncIterator[str]:
        yield "a"
        yield "b"
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.append(True)
            raise
        yield "c"

    async def main() -> list[str]:
        got = []
        with pytest.raises(StreamTimeoutError) as info:
            async for x in flow.timeout(per_chunk=0.05)(source()):
                got.append(x)
        err = info.value
        assert isinstance(err, TimeoutError)
        assert err.scope == "chunk" and err.limit == 0.05 and err.reason == "timeout"
        assert err.partial == "ab" and err.chunks == ["a", "b"]
        assert "no chunk arrived within 0.05 s" in str(err)
        return got

    assert asyncio.run(asyncio.wait_for(main(), 10)) == ["a", "b"]
    assert interrupted == [True]


def test_async_consumer_time_does_not_count_per_chunk() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(3):
            yield i

    async def main() -> list[int]:
        out = []
        async for x in flow.timeout(per_chunk=0.02)(source()):
            out.append(x)
            await asyncio.sleep(0.05)  # slow consumer, fast source: no timeout
        return out

    assert asyncio.run(main()) == [0, 1, 2]


def test_async_total_timeout_keeps_message_chunks() -> None:
    async def source() -> AsyncIterator[AIMessageChunk]:
        for i in range(1000):
            yield AIMessageChunk(str(i % 10))
            await asyncio.sleep(0.005)

    async def main() -> StreamTimeoutError:
        with pytest.raises(StreamTimeoutError) as info:
            async for _ in flow.timeout(total=0.1, per_chunk=5)(source()):
                pass
        return info.value

    err = asyncio.run(main())
    assert err.scope == "stream" and err.limit == 0.1
    assert 0 < len(err.chunks) < 1000
    assert isinstance(err.partial, AIMessageChunk)
    assert err.partial.content == "".join(c.content for c in err.chunks)


def test_async_outside_cancellation_wins_over_timeout_bookkeeping() -> None:
    async def source() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(30)
        yield 2

    async def consume() -> None:
        async for _ in flow.timeout(per_chunk=10)(source()):
            pass

    async def main() -> None:
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_async_fast_stream_passes_untouched() -> None:
    async def source() -> AsyncIterator[int]:
        for i in range(100):
            yield i

    async def main() -> list[int]:
        return [x async for x in flow.timeout(per_chunk=1, total=5)(source())]

    assert asyncio.run(main()) == list(range(100))


def test_sync_per_chunk_timeout_with_a_blocked_source() -> None:
    release = threading.Event()

    def source() -> Iterator[str]:
        yield "a"
        release.wait(5)
        yield "b"

    got = []
    try:
        with pytest.raises(StreamTimeoutError) as info:
            for x in flow.timeout(per_chunk=0.05)(source()):
                got.append(x)
    finally:
        release.set()
    assert got == ["a"] and info.value.partial == "a" and info.value.scope == "chunk"


def test_sync_total_timeout() -> None:
    def source() -> Iterator[str]:
        for _ in range(1000):
            time.sleep(0.005)
            yield "x"

    with pytest.raises(StreamTimeoutError) as info:
        for _ in flow.timeout(total=0.1)(source()):
            pass
    assert info.value.scope == "stream"
    assert 0 < len(info.value.chunks) < 1000


def test_sync_errors_and_completion_pass_through() -> None:
    assert list(flow.timeout(per_chunk=1)(iter("abc"))) == ["a", "b", "c"]

    def broken() -> Iterator[str]:
        yield "a"
        raise KeyError("k")

    with pytest.raises(KeyError):
        list(flow.timeout(per_chunk=1)(broken()))


def test_timeout_and_guard_report_timeout_with_partial_output() -> None:
    async def source() -> AsyncIterator[str]:
        yield "part"
        await asyncio.sleep(30)

    async def main() -> flow.StreamEnd:
        g = flow.apply(source(), flow.timeout(per_chunk=0.03), flow.guard())
        with pytest.raises(StreamTimeoutError):
            async for _ in g:
                pass
        assert isinstance(g, flow.AsyncGuardedStream)
        return g.end

    end = asyncio.run(main())
    assert end.reason == "timeout" and end.output == "part"
    assert isinstance(end.error, StreamTimeoutError)


@pytest.mark.parametrize("kwargs", [{}, {"per_chunk": 0}, {"total": -1}])
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        flow.timeout(**kwargs)


def test_async_timeout_upstream_of_a_window_pull_task() -> None:
    # rechunk(window=...) pulls upstream from its own task: the timeout must interrupt that task
    async def source() -> AsyncIterator[str]:
        yield "a"
        await asyncio.sleep(30)
        yield "b"

    async def main() -> list[str]:
        got = []
        with pytest.raises(StreamTimeoutError) as info:
            async for x in flow.apply(source(), flow.timeout(per_chunk=0.05), flow.rechunk(window=0.01)):
                got.append(x)
        assert info.value.partial == "a"
        return got

    assert asyncio.run(asyncio.wait_for(main(), 5)) == ["a"]
