"""Bounded buffering with backpressure: a producer fills a bounded buffer; a slow consumer slows it down."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Iterable, Iterator
from typing import Any, TypeVar

from streamscope.engine.flow._stage import FlowStage, close_async
from streamscope.engine.flow._threadfeed import BufferStats, ThreadFeed

__all__ = ["AsyncBufferedStream", "Buffer", "BufferStats", "BufferedStream", "buffer"]

T = TypeVar("T")


class Buffer(FlowStage):
    """Bounded buffer stage. Build it with :func:`buffer`."""

    name = "buffer"

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize!r}")
        self.maxsize = maxsize

    def iter(self, source: Iterable[T]) -> BufferedStream[T]:
        return BufferedStream(source, self.maxsize)

    def aiter(self, source: AsyncIterable[T]) -> AsyncBufferedStream[T]:
        return AsyncBufferedStream(source, self.maxsize)


def buffer(maxsize: int = 64) -> Buffer:
    """Decouple producer and consumer with a buffer of at most ``maxsize`` chunks.

        Async: a producer task pulls the source into the buffer while the consumer works; when the buffer is
        full the producer waits, so upstream is never more than ``maxsize + 1`` chunks ahead of the consumer
    (``maxsize`` buffered plus the one the producer holds while it waits for room). Sync: the same with a
        daemon producer thread (it runs in a copy of the caller's context). Errors from the source reach the
        consumer after the chunks produced before them. Stopping early stops the producer and closes the source.
        The returned stream's ``stats`` (:class:`BufferStats`) shows the occupancy high-water mark.
    """
    return Buffer(maxsize)


class BufferedStream(Iterator[T]):
    """A sync buffered stream (the producer thread starts on the first ``next``)."""

    def __init__(self, source: Iterable[T], maxsize: int) -> None:
        self.stats = BufferStats(maxsize)
        self._gen = _buffer_sync(source, self.stats)

    def __iter__(self) -> Iterator[T]:
        return self._gen

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()


def _buffer_sync(source: Iterable[T], stats: BufferStats) -> Generator[T, None, None]:
    feed = ThreadFeed(source, stats)
    get = feed.get
    try:
        while True:
            try:
                item = get()
            except StopIteration:
                return
            stats.consumed += 1
            yield item
    finally:
        feed.stop()


class AsyncBufferedStream(AsyncIterator[T]):
    """An async buffered stream (the producer task starts on the first ``__anext__``)."""

    def __init__(self, source: AsyncIterable[T], maxsize: int) -> None:
        self.stats = BufferStats(maxsize)
        self._gen = _buffer_async(source, self.stats)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._gen

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()


class _Channel:
    """Single-producer single-consumer bounded deque; futures are created only when a side must wait."""

    __slots__ = ("done", "error", "items", "loop", "reader", "stats", "stopped", "writer")

    def __init__(self, loop: asyncio.AbstractEventLoop, stats: BufferStats) -> None:
        self.loop = loop
        self.stats = stats
        self.items: deque[Any] = deque()
        self.reader: asyncio.Future[None] | None = None
        self.writer: asyncio.Future[None] | None = None
        self.done = False
        self.stopped = False
        self.error: BaseException | None = None

    def wake_reader(self) -> None:
        r = self.reader
        if r is not None:
            self.reader = None
            if not r.done():
                r.set_result(None)

    def wake_writer(self) -> None:
        w = self.writer
        if w is not None:
            self.writer = None
            if not w.done():
                w.set_result(None)


async def _produce(it: AsyncIterator[Any], ch: _Channel) -> None:
    items = ch.items
    stats = ch.stats
    maxsize = stats.maxsize
    try:
        async for item in it:
            while len(items) >= maxsize and not ch.stopped:
                ch.writer = ch.loop.create_future()
                await ch.writer
            if ch.stopped:
                break
            items.append(item)
            stats.produced += 1
            if len(items) > stats.max_occupancy:
                stats.max_occupancy = len(items)
            if ch.reader is not None:
                ch.wake_reader()
    except asyncio.CancelledError:
        if not ch.stopped:
            ch.error = asyncio.CancelledError()
    except BaseException as exc:
        ch.error = exc
    finally:
        if ch.stopped:
            with contextlib.suppress(Exception):
                await close_async(it)
        ch.done = True
        ch.wake_reader()


async def _buffer_async(source: AsyncIterable[T], stats: BufferStats) -> AsyncGenerator[T, None]:
    loop = asyncio.get_running_loop()
    ch = _Channel(loop, stats)
    items = ch.items
    producer = loop.create_task(_produce(source.__aiter__(), ch))
    try:
        while True:
            if items:
                item = items.popleft()
                if ch.writer is not None:
                    ch.wake_writer()
            elif ch.done:
                if ch.error is not None:
                    raise ch.error
                return
            else:
                ch.reader = loop.create_future()
                await ch.reader
                continue
            stats.consumed += 1
            yield item
    finally:
        if not producer.done():
            ch.stopped = True
            items.clear()
            if ch.writer is not None:  # waiting for room: it will close the source itself
                ch.wake_writer()
            else:  # waiting on the source: interrupt it
                producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
