"""The interruption guard keeps partial output and records exactly one reason per stream."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator

import pytest

from streamscope.engine import flow
from streamscope.engine.messages import AIMessageChunk


class Tracked:
    def __init__(self, items: list[object], fail_at: int | None = None) -> None:
        self.items = items
        self.fail_at = fail_at
        self.closed = False

    def sync(self) -> Iterator[object]:
        try:
            for i, item in enumerate(self.items):
                if i == self.fail_at:
                    raise ValueError(f"failed at {i}")
                yield item
        finally:
            self.closed = True

    async def aio(self, delay: float = 0.0) -> AsyncIterator[object]:
        try:
            for i, item in enumerate(self.items):
                if i == self.fail_at:
                    raise ValueError(f"failed at {i}")
                await asyncio.sleep(delay)
                yield item
        finally:
            self.closed = True


def guarded(source: Iterator[object]) -> tuple[flow.GuardedStream[object], list[flow.StreamEnd]]:
    ends: list[flow.StreamEnd] = []
    return flow.guard(on_end=ends.append)(source), ends


def test_completed() -> None:
    g, ends = guarded(Tracked(list("abc")).sync())
    assert g.reason is None
    assert list(g) == ["a", "b", "c"]
    assert g.reason == "completed" and g.output == "abc" and ends == [g.end]


def test_abandoned_by_break_then_close_keeps_partial_and_closes_source() -> None:
    src = Tracked(list("abcdef"))
    g, ends = guarded(src.sync())
    for x in g:
        if x == "b":
            break
    assert g.reason is None  # still open: the consumer may resume
    g.close()
    assert g.reason == "abandoned" and g.output == "ab" and src.closed
    g.close()
    assert len(ends) == 1  # exactly once


def test_abandoned_by_context_manager_and_by_garbage_collection() -> None:
    src = Tracked(list("abc"))
    with flow.guard()(src.sync()) as g:
        assert next(g) == "a"
    assert g.reason == "abandoned" and src.closed

    src2 = Tracked(list("abc"))
    ends: list[flow.StreamEnd] = []
    g2 = flow.guard(on_end=ends.append)(src2.sync())
    next(g2)
    del g2
    gc.collect()
    assert [e.reason for e in ends] == ["abandoned"] and src2.closed
    assert ends[0].output == "a"


def test_never_started_close_closes_source() -> None:
    src = Tracked(list("abc"))
    it = src.sync()
    next(it)  # a started source, so close() has something to run
    g = flow.guard()(it)
    g.close()
    assert g.reason == "abandoned" and src.closed and g.output is None


def test_error_passes_through_unchanged_with_partial_output() -> None:
    g, ends = guarded(Tracked(list("abcd"), fail_at=2).sync())
    got = []
    with pytest.raises(ValueError, match="failed at 2") as info:
        for x in g:
            got.append(x)
    assert got == ["a", "b"]
    assert g.reason == "error" and g.output == "ab" and g.end.error is info.value and len(ends) == 1


def test_async_endings() -> None:
    async def main() -> None:
        g = flow.guard()(Tracked(list("xyz")).aio())
        assert [x async for x in g] == ["x", "y", "z"] and g.reason == "completed"

        src = Tracked(list("xyz"))
        async with flow.guard()(src.aio()) as g2:
            assert await g2.__anext__() == "x"
        assert g2.reason == "abandoned" and g2.output == "x" and src.closed

        g3 = flow.guard()(Tracked(list("xyz"), fail_at=1).aio())
        with pytest.raises(ValueError):
            async for _ in g3:
                pass
        assert g3.reason == "error" and g3.output == "x"

        src4 = Tracked(list("abcdefgh"))
        g4 = flow.guard()(src4.aio(delay=0.05))

        async def consume() -> None:
            async for _ in g4:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.12)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert g4.reason == "cancelled" and src4.closed
        assert isinstance(g4.end.error, asyncio.CancelledError)
        assert 1 <= len(g4.end.chunks) < 8

    asyncio.run(main())


def test_message_chunks_are_merged_into_the_partial_output() -> None:
    chunks = [AIMessageChunk("Hel", id="r1"), AIMessageChunk("lo", id="r1")]
    g = flow.guard()(iter(chunks))
    next(g)
    next(g)
    g.close()
    assert isinstance(g.output, AIMessageChunk) and g.output.content == "Hello" and g.reason == "abandoned"


def test_broken_on_end_does_not_change_the_ending(caplog: pytest.LogCaptureFixture) -> None:
    def explode(end: flow.StreamEnd) -> None:
        raise RuntimeError("bug in callback")

    g = flow.guard(on_end=explode)(iter("ab"))
    assert list(g) == ["a", "b"] and g.reason == "completed"
    assert "on_end callback failed" in caplog.text
