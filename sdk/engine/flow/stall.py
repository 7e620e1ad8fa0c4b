"""Stall detection: notice gaps longer than a threshold without stopping the stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, TypeVar

from streamscope.engine.flow._stage import FlowStage, close_async, close_sync

__all__ = ["AsyncStallMonitor", "DetectStalls", "Stall", "StallMonitor", "StallState", "detect_stalls"]

T = TypeVar("T")
logger = logging.getLogger(__name__)
DEFAULT_THRESHOLD = 2.0
"""Seconds; the same default stall threshold as the tracing rollups (docs/concepts.md)."""


class Stall:
    """One stall: the gap after chunk ``after_index`` (0-based) exceeded the threshold.

    ``gap`` is the length of the gap in seconds; while the stall is still going on (async detection) it is
    the gap so far and ``ongoing`` is True. When the next chunk arrives, ``gap`` becomes final.
    """

    __slots__ = ("after_index", "gap", "ongoing")

    def __init__(self, after_index: int, gap: float, ongoing: bool) -> None:
        self.after_index = after_index
        self.gap = gap
        self.ongoing = ongoing

    def __repr__(self) -> str:
        return f"<Stall after_index={self.after_index} gap={self.gap:.3f}s ongoing={self.ongoing}>"


class StallState:
    """What a monitored stream has seen: ``stalls`` (a list of :class:`Stall`), and ``stalled`` (True
    while a detected stall is going on)."""

    __slots__ = ("_on_stall", "stalls", "threshold")

    def __init__(self, threshold: float, on_stall: Callable[[Stall], Any] | None) -> None:
        self.threshold = threshold
        self.stalls: list[Stall] = []
        self._on_stall = on_stall

    @property
    def stalled(self) -> bool:
        return bool(self.stalls) and self.stalls[-1].ongoing

    @property
    def stall_count(self) -> int:
        return len(self.stalls)

    def _report(self, stall: Stall) -> None:
        self.stalls.append(stall)
        if self._on_stall is not None:
            try:
                self._on_stall(stall)
            except Exception:  # detection never aborts the stream
                logger.exception("flow.detect_stalls on_stall callback failed")


class DetectStalls(FlowStage):
    """Stall-detection stage. Build it with :func:`detect_stalls`."""

    name = "detect_stalls"

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, on_stall: Callable[[Stall], Any] | None = None):
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0 seconds, got {threshold!r}")
        self.threshold = threshold
        self.on_stall = on_stall

    def iter(self, source: Iterable[T]) -> StallMonitor[T]:
        return StallMonitor(source, StallState(self.threshold, self.on_stall))

    def aiter(self, source: AsyncIterable[T]) -> AsyncStallMonitor[T]:
        return AsyncStallMonitor(source, StallState(self.threshold, self.on_stall))


def detect_stalls(
    threshold: float = DEFAULT_THRESHOLD, on_stall: Callable[[Stall], Any] | None = None
) -> DetectStalls:
    """Watch the gaps between chunks; a gap longer than ``threshold`` seconds is a stall.

    Chunks pass through unchanged and nothing is aborted. Each stall is reported once: appended to the
    stream's ``state.stalls`` and passed to ``on_stall(stall)`` (exceptions from the callback are logged
    and swallowed). Gaps are measured from one chunk's arrival to the next; the wait for the first chunk is
    time to first chunk, not a stall. On an async stream a stall is reported as soon as the threshold
    passes, while upstream is still silent (``state.stalled`` is True until the next chunk); a sync
    iterator cannot be watched while it blocks, so there it is reported when the late chunk arrives.
    """
    return DetectStalls(threshold, on_stall)


class StallMonitor(Iterator[T]):
    """A sync monitored stream; ``state`` is its :class:`StallState`."""

    def __init__(self, source: Iterable[T], state: StallState) -> None:
        self.state = state
        self._gen = _stalls_sync(source, state)

    def __iter__(self) -> Iterator[T]:
        return self._gen

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()


class AsyncStallMonitor(AsyncIterator[T]):
    """An async monitored stream; ``state`` is its :class:`StallState`."""

    def __init__(self, source: AsyncIterable[T], state: StallState) -> None:
        self.state = state
        self._gen = _stalls_async(source, state)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._gen

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()


def _stalls_sync(source: Iterable[T], state: StallState) -> Generator[T, None, None]:
    it = iter(source)
    clock = time.monotonic
    threshold = state.threshold
    index = -1
    last = 0.0
    try:
        for item in it:
            now = clock()
            if index >= 0 and now - last > threshold:
                state._report(Stall(index, now - last, ongoing=False))
            last = now
            index += 1
            yield item
    except GeneratorExit:
        close_sync(it)
        raise


class _StallWatch:
    """Lazily re-armed timer that reports a stall while upstream is still silent."""

    __slots__ = ("current", "handle", "index", "last", "loop", "state", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, state: StallState) -> None:
        self.loop = loop
        self.state = state
        self.handle: asyncio.TimerHandle | None = None
        self.waiting = False
        self.last = 0.0
        self.index = -1
        self.current: Stall | None = None

    def check(self) -> None:
        self.handle = None
        if not self.waiting or self.current is not None:
            return
        now = self.loop.time()
        due = self.last + self.state.threshold
        if now < due:
            self.handle = self.loop.call_at(due, self.check)
            return
        self.current = Stall(self.index, now - self.last, ongoing=True)
        self.state._report(self.current)


async def _stalls_async(source: AsyncIterable[T], state: StallState) -> AsyncGenerator[T, None]:
    it = source.__aiter__()
    anext_ = it.__anext__
    loop = asyncio.get_running_loop()
    threshold = state.threshold
    watch = _StallWatch(loop, state)
    try:
        while True:
            if watch.index >= 0:
                watch.waiting = True
                if watch.handle is None and watch.current is None:
                    watch.handle = loop.call_at(watch.last + threshold, watch.check)
            try:
                item = await anext_()
            except StopAsyncIteration:
                return
            finally:
                watch.waiting = False
            now = loop.time()
            current = watch.current
            if current is not None:
                current.gap = now - watch.last
                current.ongoing = False
                watch.current = None
            elif watch.index >= 0 and now - watch.last > threshold:
                state._report(Stall(watch.index, now - watch.last, ongoing=False))
            watch.last = now
            watch.index += 1
            yield item
    except GeneratorExit:
        await close_async(it)
        raise
    finally:
        if watch.handle is not None:
            watch.handle.cancel()
        if watch.current is not None:
            watch.current.ongoing = False
