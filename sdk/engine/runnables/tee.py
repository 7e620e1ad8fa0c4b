"""Split one input stream into several branch streams (thread-safe sync version, async version)."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

__all__ = ["AsyncTee", "Tee"]


class Tee:
    """``Tee(source, n).branch(i)``: every branch sees every item; branches may run on different threads."""

    def __init__(self, source: Iterator[Any], n: int) -> None:
        self._source = source
        self._buffers: list[deque[Any]] = [deque() for _ in range(n)]
        self._lock = threading.Lock()
        self._done = False
        self._error: BaseException | None = None

    def _pull(self, buffer: deque[Any]) -> bool:
        with self._lock:
            if buffer:
                return True
            if self._error is not None:
                raise self._error
            if self._done:
                return False
            try:
                item = next(self._source)
            except StopIteration:
                self._done = True
                return False
            except BaseException as exc:
                self._error = exc
                raise
            for b in self._buffers:
                b.append(item)
            return True

    def branch(self, index: int) -> Iterator[Any]:
        buffer = self._buffers[index]
        while buffer or self._pull(buffer):
            yield buffer.popleft()

    def close(self) -> None:
        with self._lock:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()


class AsyncTee:
    """The async counterpart of :class:`Tee` (one event loop)."""

    def __init__(self, source: AsyncIterator[Any], n: int) -> None:
        self._source = source
        self._buffers: list[deque[Any]] = [deque() for _ in range(n)]
        self._lock = asyncio.Lock()
        self._done = False
        self._error: BaseException | None = None

    async def _pull(self, buffer: deque[Any]) -> bool:
        async with self._lock:
            if buffer:
                return True
            if self._error is not None:
                raise self._error
            if self._done:
                return False
            try:
                item = await self._source.__anext__()
            except StopAsyncIteration:
                self._done = True
                return False
            except BaseException as exc:
                self._error = exc
                raise
            for b in self._buffers:
                b.append(item)
            return True

    async def branch(self, index: int) -> AsyncIterator[Any]:
        buffer = self._buffers[index]
        while buffer or await self._pull(buffer):
            yield buffer.popleft()

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
