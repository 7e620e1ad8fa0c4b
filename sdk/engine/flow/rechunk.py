"""Re-chunk a stream by size (``chunk_size``) or by time window (``window`` seconds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from streamscope.engine.flow._stage import FlowStage, close_async, close_sync
from streamscope.engine.flow.combine import chunk_size_of, combine_chunks

__all__ = ["Rechunk", "rechunk"]

T = TypeVar("T")


class Rechunk(FlowStage):
    """Re-chunk by size, by time window, or both. Build it with :func:`rechunk`."""

    name = "rechunk"

    def __init__(
        self,
        chunk_size: int | None = None,
        window: float | None = None,
        size: Callable[[Any], int] = chunk_size_of,
    ) -> None:
        if chunk_size is None and window is None:
            raise ValueError("rechunk needs chunk_size, window, or both")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        if window is not None and not window > 0:
            raise ValueError(f"window must be > 0 seconds, got {window!r}")
        self.chunk_size = chunk_size
        self.window = window
        self.size = size

    def iter(self, source: Iterable[T]) -> Iterator[T]:
        if self.window is None:
            assert self.chunk_size is not None
            return _by_size(source, self.chunk_size, self.size)
        return _by_window(source, self.window, self.chunk_size, self.size)

    def aiter(self, source: AsyncIterable[T]) -> AsyncIterator[T]:
        if self.window is None:
            assert self.chunk_size is not None
            return _aby_size(source, self.chunk_size, self.size)
        return _aby_window(source, self.window, self.chunk_size, self.size)


def rechunk(
    *, chunk_size: int | None = None, window: float | None = None, size: Callable[[Any], int] = chunk_size_of
) -> Rechunk:
    """Re-chunk a stream.

    - ``chunk_size`` only: string chunks are re-cut into pieces of exactly ``chunk_size`` characters
      (the last may be shorter); other chunks (``AIMessageChunk`` or anything ``+``-addable) are merged
      until their combined ``size`` reaches ``chunk_size`` (they cannot be split).
    - ``window`` only: chunks are merged into one per ``window`` seconds, counted from the first chunk of
      each batch. On an async stream a batch is emitted when its window closes, even while upstream is
      silent; a sync iterator cannot be interrupted, so there a batch is emitted when the next chunk
      arrives after its window or when the stream ends.
    - both: a batch is emitted when its window closes or its size reaches ``chunk_size``.

    Nothing is lost: whatever is pending when the stream ends is emitted as a last chunk.
    """
    return Rechunk(chunk_size=chunk_size, window=window, size=size)


def _by_size(source: Iterable[T], n: int, size: Callable[[Any], int]) -> Iterator[T]:
    it = iter(source)
    buf: Any = ""
    pending: list[Any] = []
    pending_size = 0
    try:
        for item in it:
            if isinstance(item, str):
                if not buf and len(item) == n:
                    yield item  # pass-through: already the right size
                    continue
                buf += item
                while len(buf) >= n:
                    yield buf[:n]
                    buf = buf[n:]
            else:
                pending.append(item)
                pending_size += size(item)
                if pending_size >= n:
                    yield combine_chunks(pending)
                    pending = []
                    pending_size = 0
    except GeneratorExit:
        close_sync(it)
        raise
    if buf:
        yield buf
    if pending:
        yield combine_chunks(pending)


async def _aby_size(source: AsyncIterable[T], n: int, size: Callable[[Any], int]) -> AsyncIterator[T]:
    it = source.__aiter__()
    buf: Any = ""
    pending: list[Any] = []
    pending_size = 0
    try:
        async for item in it:
            if isinstance(item, str):
                if not buf and len(item) == n:
                    yield item
                    continue
                buf += item
                while len(buf) >= n:
                    yield buf[:n]
                    buf = buf[n:]
            else:
                pending.append(item)
                pending_size += size(item)
                if pending_size >= n:
                    yield combine_chunks(pending)
                    pending = []
                    pending_size = 0
    except GeneratorExit:
        await close_async(it)
        raise
    if buf:
        yield buf
    if pending:
        yield combine_chunks(pending)


def _by_window(source: Iterable[T], window: float, n: int | None, size: Callable[[Any], int]) -> Iterator[T]:
    it = iter(source)
    clock = time.monotonic
    limit = n if n is not None else float("inf")
    pending: list[Any] = []
    pending_size = 0
    start = 0.0
    try:
        for item in it:
            now = clock()
            if pending and now - start >= window:  # this chunk arrived after the window closed
                out = combine_chunks(pending)
                pending = []
                pending_size = 0
                yield out
            if not pending:
                start = now
            pending.append(item)
            pending_size += size(item)
            if pending_size >= limit:
                out = combine_chunks(pending)
                pending = []
                pending_size = 0
                yield out
    except GeneratorExit:
        close_sync(it)
        raise
    if pending:
        yield combine_chunks(pending)


async def _aby_window(
    source: AsyncIterable[T], window: float, n: int | None, size: Callable[[Any], int]
) -> AsyncIterator[T]:
    it = source.__aiter__()
    loop = asyncio.get_running_loop()
    limit = n if n is not None else float("inf")
    pending: list[Any] = []
    pending_size = 0
    start = 0.0
    nxt: asyncio.Future[Any] | None = None
    finished = False
    try:
        while True:
            if nxt is None:
                nxt = asyncio.ensure_future(it.__anext__())
            if pending:
                remaining = start + window - loop.time()
                done: set[Any] = set()
                if remaining > 0:
                    done, _ = await asyncio.wait({nxt}, timeout=remaining)
                if not done:  # the window closed while upstream was silent
                    out = combine_chunks(pending)
                    pending = []
                    pending_size = 0
                    yield out
                    continue
            else:
                await asyncio.wait({nxt})
            try:
                item = nxt.result()
            except StopAsyncIteration:
                nxt = None
                break
            nxt = None
            if not pending:
                start = loop.time()
            pending.append(item)
            pending_size += size(item)
            if pending_size >= limit:
                out = combine_chunks(pending)
                pending = []
                pending_size = 0
                yield out
        finished = True
    finally:
        if nxt is not None and not nxt.done():
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)
        if not finished:
            await close_async(it)
    if pending:
        yield combine_chunks(pending)
