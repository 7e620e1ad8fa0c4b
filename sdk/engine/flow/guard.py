"""The interruption guard: keeps the output received so far and says why the stream stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Literal, TypeVar, cast

from streamscope.engine.callbacks.dispatch import reason_for
from streamscope.engine.flow._stage import FlowStage, close_async, close_sync
from streamscope.engine.flow.combine import combine_chunks

__all__ = ["AsyncGuardedStream", "Guard", "GuardedStream", "Reason", "StreamEnd", "guard"]

T = TypeVar("T")
logger = logging.getLogger(__name__)

Reason = Literal["completed", "abandoned", "cancelled", "error", "timeout"]
"""Why a stream stopped; the same vocabulary as the engine's ``reason=`` on ``*_end``/``*_error``."""


class StreamEnd:
    """What a guarded stream knows about itself: its chunks so far and, once it stopped, why.

    ``reason`` is ``None`` while the stream runs, then exactly one of ``completed`` (the source was
    exhausted), ``abandoned`` (the consumer stopped early: ``break`` then ``close()``, or garbage
    collection), ``cancelled`` (``asyncio`` cancellation), ``error`` (an exception), ``timeout`` (a
    ``TimeoutError``, e.g. from :func:`~streamscope.engine.flow.timeout`). It is set once and never changes.
    """

    __slots__ = ("_on_end", "chunks", "error", "reason")

    def __init__(self, on_end: Callable[[StreamEnd], Any] | None) -> None:
        self.chunks: list[Any] = []
        self.reason: Reason | None = None
        self.error: BaseException | None = None
        self._on_end = on_end

    @property
    def output(self) -> Any:
        """The chunks received so far, combined (``None`` when there were none)."""
        return combine_chunks(self.chunks)

    def _finish(self, reason: Reason, error: BaseException | None = None) -> None:
        if self.reason is not None:
            return
        self.reason = reason
        self.error = error
        if self._on_end is not None:
            try:
                self._on_end(self)
            except Exception:  # a broken callback must not change how the stream ends
                logger.exception("flow.guard on_end callback failed")

    def __repr__(self) -> str:
        return f"<StreamEnd reason={self.reason!r} chunks={len(self.chunks)}>"


def _reason_for(exc: BaseException) -> Reason:
    return cast(Reason, reason_for(exc))


class GuardedStream(Iterator[T]):
    """A sync guarded stream: iterate it; read ``end`` (or ``reason``/``output``) at any time.

    Use it as a context manager (or call :meth:`close`) to end it deterministically after a ``break``.
    """

    def __init__(self, source: Iterable[T], on_end: Callable[[StreamEnd], Any] | None) -> None:
        self.end = StreamEnd(on_end)
        self._source = source
        self._gen = _guard(source, self.end)

    def __iter__(self) -> Iterator[T]:
        return self._gen

    def __next__(self) -> T:
        return next(self._gen)

    def close(self) -> None:
        """Stop early: the source is closed and the reason becomes ``abandoned`` (if still running)."""
        self._gen.close()
        if self.end.reason is None:  # never started: close the source ourselves
            close_sync(self._source)
            self.end._finish("abandoned")

    def __enter__(self) -> GuardedStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def reason(self) -> Reason | None:
        return self.end.reason

    @property
    def output(self) -> Any:
        return self.end.output


class AsyncGuardedStream(AsyncIterator[T]):
    """The async twin of :class:`GuardedStream` (``async with`` / :meth:`aclose`)."""

    def __init__(self, source: AsyncIterable[T], on_end: Callable[[StreamEnd], Any] | None) -> None:
        self.end = StreamEnd(on_end)
        self._source = source
        self._gen = _aguard(source, self.end)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._gen

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop early: the source is closed and the reason becomes ``abandoned`` (if still running)."""
        await self._gen.aclose()
        if self.end.reason is None:  # never started: close the source ourselves
            await close_async(self._source)
            self.end._finish("abandoned")

    async def __aenter__(self) -> AsyncGuardedStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def reason(self) -> Reason | None:
        return self.end.reason

    @property
    def output(self) -> Any:
        return self.end.output


def _guard(source: Iterable[T], end: StreamEnd) -> Generator[T, None, None]:
    it = iter(source)
    append = end.chunks.append
    try:
        for item in it:
            append(item)
            yield item
    except GeneratorExit:
        try:
            close_sync(it)
        finally:
            end._finish("abandoned")
        raise
    except BaseException as exc:
        end._finish(_reason_for(exc), exc)
        raise
    end._finish("completed")


async def _aguard(source: AsyncIterable[T], end: StreamEnd) -> AsyncGenerator[T, None]:
    it = source.__aiter__()
    append = end.chunks.append
    try:
        async for item in it:
            append(item)
            yield item
    except GeneratorExit:
        task = asyncio.current_task()
        cancelling = task is not None and getattr(task, "cancelling", lambda: 0)() > 0
        try:
            await close_async(it)
        finally:
            end._finish("cancelled" if cancelling else "abandoned")
        raise
    except BaseException as exc:
        end._finish(_reason_for(exc), exc)
        raise
    end._finish("completed")


class Guard(FlowStage):
    """The interruption guard stage. Build it with :func:`guard`."""

    name = "guard"

    def __init__(self, on_end: Callable[[StreamEnd], Any] | None = None) -> None:
        self.on_end = on_end

    def iter(self, source: Iterable[T]) -> GuardedStream[T]:
        return GuardedStream(source, self.on_end)

    def aiter(self, source: AsyncIterable[T]) -> AsyncGuardedStream[T]:
        return AsyncGuardedStream(source, self.on_end)


def guard(on_end: Callable[[StreamEnd], Any] | None = None) -> Guard:
    """Guard a stream: every chunk passes through unchanged and is kept, and the stream's ending is recorded.

    ``guard()(source)`` returns a :class:`GuardedStream` (or :class:`AsyncGuardedStream`) whose ``end``
    (a :class:`StreamEnd`) holds ``chunks``, ``output`` (combined), ``reason`` and ``error``.
    ``on_end(end)`` is called exactly once, when the reason becomes known. Exceptions still propagate
    to the consumer unchanged: the guard records them, it does not swallow them.
    """
    return Guard(on_end)
