"""Traced ``openai.Stream`` / ``openai.AsyncStream``: the same objects to the user, with a recording behind them.

The wrappers subclass the client's own stream classes (so ``isinstance(s, openai.Stream)`` still holds) and
delegate everything to the stream the client returned. They add three things only:

- each chunk is handed to the recording as it arrives (``raw``: one clock read and one list append; the chunk
  is classified when the stream ends, off the consumer's path);
- every way the consumer can stop ends the recording once, with the outcome it implies (see
  :mod:`streamscope.instrumentation._lifecycle`), garbage collection included via ``weakref.finalize``;
- chunks the instrumentation asked for on its own (the usage-only chunk of an injected ``include_usage``) are
  recorded but not shown to the user, so the user sees exactly what they would have seen uninstrumented.

No OpenTelemetry context is attached here, so nothing can be left attached across a ``yield``.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from openai import AsyncStream, Stream

from streamscope.instrumentation._lifecycle import (
    ABANDONED,
    COMPLETED,
    Recording,
    consumer_outcome,
    producer_outcome,
)

__all__ = ["TracedAsyncStream", "TracedStream"]

_T = TypeVar("_T")
Hide = Callable[[Any], bool]


def _end_when_collected(owner: object, recording: Recording) -> None:
    fin = weakref.finalize(owner, recording.end, ABANDONED)
    fin.atexit = False  # at interpreter exit the exporter may already be gone


class TracedStream(Stream[_T]):
    """A synchronous chat-completions stream whose recording ends exactly once."""

    def __init__(self, wrapped: Stream[_T], recording: Recording, hide: Hide | None = None) -> None:
        # Deliberately not calling Stream.__init__: the stream exists already, we only stand in front of it.
        self._ss_wrapped = wrapped
        self._ss_recording = recording
        self._ss_hide = hide
        self.response = wrapped.response
        self._options = wrapped._options
        _end_when_collected(self, recording)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_ss_"):
            raise AttributeError(name)
        return getattr(self._ss_wrapped, name)

    def __next__(self) -> _T:
        recording = self._ss_recording
        while True:
            try:
                item = self._ss_wrapped.__next__()
            except StopIteration:
                recording.end(COMPLETED)
                raise
            except BaseException as exc:
                recording.end(producer_outcome(exc), exc)
                raise
            recording.raw(item)
            if self._ss_hide is None or not self._ss_hide(item):
                return item

    def __iter__(self) -> Iterator[_T]:
        try:
            while True:
                try:
                    item = self.__next__()
                except StopIteration:
                    return
                yield item
        finally:
            # Reached when the consumer breaks out or the iterator is closed/collected; after completion or
            # an error the recording has already ended and this is a no-op.
            self._ss_recording.end(ABANDONED)

    def __enter__(self) -> TracedStream[_T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        self._ss_recording.end(consumer_outcome(exc))
        self._ss_wrapped.__exit__(exc_type, exc, exc_tb)

    def close(self) -> None:
        self._ss_recording.end(ABANDONED)
        self._ss_wrapped.close()


class TracedAsyncStream(AsyncStream[_T]):
    """An asynchronous chat-completions stream whose recording ends exactly once."""

    def __init__(self, wrapped: AsyncStream[_T], recording: Recording, hide: Hide | None = None) -> None:
        self._ss_wrapped = wrapped
        self._ss_recording = recording
        self._ss_hide = hide
        self.response = wrapped.response
        self._options = wrapped._options
        _end_when_collected(self, recording)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_ss_"):
            raise AttributeError(name)
        return getattr(self._ss_wrapped, name)

    async def __anext__(self) -> _T:
        recording = self._ss_recording
        while True:
            try:
                item = await self._ss_wrapped.__anext__()
            except StopAsyncIteration:
                recording.end(COMPLETED)
                raise
            except BaseException as exc:
                recording.end(producer_outcome(exc), exc)
                raise
            recording.raw(item)
            if self._ss_hide is None or not self._ss_hide(item):
                return item

    async def __aiter__(self) -> AsyncIterator[_T]:
        try:
            while True:
                try:
                    item = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            # ``break`` lands here through the event loop's async-generator finalizer (or an explicit aclose).
            self._ss_recording.end(ABANDONED)

    async def __aenter__(self) -> TracedAsyncStream[_T]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        self._ss_recording.end(consumer_outcome(exc))
        await self._ss_wrapped.__aexit__(exc_type, exc, exc_tb)

    async def close(self) -> None:
        self._ss_recording.end(ABANDONED)
        await self._ss_wrapped.close()

    async def aclose(self) -> None:
        await self.close()
