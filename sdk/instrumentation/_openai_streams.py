"""Traced ``openai.Stream`` / ``openai.AsyncStream``: the same objects to the user, with a recording behind them.

The wrappers subclass the client's own stream classes (so ``isinstance(s, openai.Stream)`` still holds) and
delegate everything to the stream the client returned. They add three things only:

- each chunk is handed to the recording as it arrives (one clock read and two list appends; the chunk is
  classified later, off the consumer's path), a plain text chunk as its text (below). Every Python loop here,
  sync or async, iterated or pulled with ``next``/``anext``, runs the same per-chunk step (:class:`_Step`), which
  never raises into the app. The synchronous ``for`` loop runs in C when the accelerator (``_fastrecord.c``) is
  built: the same records without a Python frame per chunk; the Python loop stays the reference and the fallback;
- every way the consumer can stop ends the recording once, with the outcome it implies (see
  :mod:`streamscope.instrumentation._lifecycle`), garbage collection included via ``weakref.finalize``;
- chunks the instrumentation asked for on its own (the usage-only chunk of an injected ``include_usage``) are
  recorded but not shown to the user, so the user sees exactly what they would have seen uninstrumented.

No OpenTelemetry context is attached here, so nothing can be left attached across a ``yield``.

Plain text chunks. A chunk with one choice, non-empty ``delta.content``, no finish reason, no usage, and the same
id and model as the chunk before is exactly one that ``classify`` would turn into ``(CONTENT, content)`` without
learning anything, so recording its text gives the same span. Recording the text instead of the chunk lets the
chunk object die right away: keeping every chunk until the stream ends costs the consumer's thread several times
more in garbage-collector work than these few reads. Attribute access on pydantic models is slow, so the chunk's
and the choice's fields are read from their ``__dict__`` (one attribute read for several fields), the delta's one
field as an attribute. Anything else, or anything unexpected, is recorded as it came.
"""

from __future__ import annotations

import functools
import time
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
from streamscope.tracing.guard import report
from streamscope.tracing.streams import RAW

try:  # the C per-chunk loop (_fastrecord.c); without a compiler at install time, the Python one
    from streamscope.instrumentation import _fastrecord

    _Recorder: Any = _fastrecord.Recorder
except ImportError:  # pragma: no cover - depends on the build
    _Recorder = None

__all__ = ["TracedAsyncStream", "TracedStream"]

_T = TypeVar("_T")
Hide = Callable[[Any], bool]


_perf = time.perf_counter_ns
_UNSET = object()


def _columns_of(recording: Recording) -> tuple[list[int], list[Any]] | None:
    """The recorder's two record columns, to append to inline (None: call ``recording.raw`` per chunk)."""
    chunk_columns = getattr(recording, "chunk_columns", None)
    return chunk_columns() if chunk_columns is not None else None


def _source(wrapped: Stream[_T]) -> Iterator[_T]:
    """The client's own item iterator when its ``Stream.__iter__`` would only relay it, else that ``__iter__``."""
    iterator = getattr(wrapped, "_iterator", None)
    if type(wrapped).__iter__ is Stream.__iter__ and iterator is not None:
        return iterator  # type: ignore[no-any-return]
    return iter(wrapped)


def _asource(wrapped: AsyncStream[_T]) -> AsyncIterator[_T]:
    iterator = getattr(wrapped, "_iterator", None)
    if type(wrapped).__aiter__ is AsyncStream.__aiter__ and iterator is not None:
        return iterator  # type: ignore[no-any-return]
    return wrapped.__aiter__()


def _hidden(hide: Hide | None, item: Any) -> bool:
    if hide is None:
        return False
    try:
        return hide(item)
    except Exception as exc:
        report("instrument_openai: hide", exc)
        return False


class _Step:
    """The per-chunk step of every Python loop here, sync and async, iterating or pulled with ``next``: record
    the chunk (a plain text chunk as its text, see the module docstring), then say whether the consumer sees it.
    Nothing in it raises: tracing must never break the app."""

    __slots__ = ("_hide", "_last_id", "_last_model", "_raw", "_record", "_stamp")

    def __init__(self, recording: Recording, hide: Hide | None) -> None:
        columns = _columns_of(recording)
        self._hide = hide
        self._raw = recording.raw
        self._stamp: Callable[[int], None] | None = None
        self._record: Callable[[Any], None] | None = None
        if columns is not None:
            self._stamp, self._record = columns[0].append, columns[1].append
        self._last_id: Any = _UNSET
        self._last_model: Any = _UNSET

    def __call__(self, item: Any) -> bool:
        """Record ``item``; whether to show it to the consumer."""
        stamp, record = self._stamp, self._record
        if stamp is None or record is None:
            try:
                self._raw(item)
            except Exception as exc:
                report("instrument_openai: record", exc)
        else:
            now = _perf()
            text = None
            try:
                fields = item.__dict__
                if (
                    fields["id"] == self._last_id
                    and fields["model"] == self._last_model
                    and fields["usage"] is None
                ):
                    choices = fields["choices"]
                    if len(choices) == 1:
                        choice = choices[0].__dict__
                        if not choice["finish_reason"]:
                            text = choice["delta"].content
                if not text:
                    self._last_id, self._last_model = fields["id"], fields["model"]
            except Exception:
                self._last_id = self._last_model = _UNSET
            stamp(now)  # the time first, then the payload (see streamscope.tracing.streams)
            record(text if text else (RAW, item))
        return self._hide is None or not _hidden(self._hide, item)


def _done(recording: Recording, exc: BaseException | None) -> None:
    """The C loop's end of a stream: the client's iterator finished (None) or raised ``exc``."""
    if exc is None:
        recording.end(COMPLETED)
    else:
        recording.end(producer_outcome(exc), exc)


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
        self._ss_step = _Step(recording, hide)  # for next(): one step shared by every chunk of the stream
        self.response = wrapped.response
        self._options = wrapped._options
        _end_when_collected(self, recording)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_ss_"):
            raise AttributeError(name)
        return getattr(self._ss_wrapped, name)

    def __next__(self) -> _T:
        recording = self._ss_recording
        step = self._ss_step
        while True:
            try:
                item = self._ss_wrapped.__next__()
            except StopIteration:
                recording.end(COMPLETED)
                raise
            except BaseException as exc:
                recording.end(producer_outcome(exc), exc)
                raise
            if step(item):
                return item

    def __iter__(self) -> Iterator[_T]:
        # The common way to consume a stream, so its loop is flat: items come straight from the client's own
        # iterator and are recorded inline (in C when the accelerator is built); next(stream) goes through
        # __next__ instead.
        recording = self._ss_recording
        columns = _columns_of(recording)
        if columns is not None and _Recorder is not None:
            hide = self._ss_hide
            try:
                source = _source(self._ss_wrapped)
            except BaseException as exc:  # the client's own __iter__ raised: as if its first chunk had
                recording.end(producer_outcome(exc), exc)
                raise
            return _Recorder(  # type: ignore[no-any-return]
                source,
                columns[0],
                columns[1],
                RAW,
                None if hide is None else functools.partial(_hidden, hide),
                functools.partial(_done, recording),
                functools.partial(recording.end, ABANDONED),
                self,
            )
        return self._iterate(recording)

    def _iterate(self, recording: Recording) -> Iterator[_T]:
        """The Python per-chunk loop: the reference for, and the fallback without, the C one."""
        step = _Step(recording, self._ss_hide)
        consumer = False  # set when the exception came in at a yield (close(), throw()), not from the client
        try:
            for item in _source(self._ss_wrapped):
                if step(item):
                    try:
                        yield item
                    except BaseException:
                        consumer = True
                        raise
        except BaseException as exc:
            if not consumer:  # the client raised while producing the next chunk
                recording.end(producer_outcome(exc), exc)
            raise
        else:
            recording.end(COMPLETED)
        finally:
            # Reached when the consumer breaks out or the iterator is closed/collected; after completion or
            # an error the recording has already ended and this is a no-op.
            recording.end(ABANDONED)

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
        self._ss_step = _Step(recording, hide)  # for next(): one step shared by every chunk of the stream
        self.response = wrapped.response
        self._options = wrapped._options
        _end_when_collected(self, recording)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_ss_"):
            raise AttributeError(name)
        return getattr(self._ss_wrapped, name)

    async def __anext__(self) -> _T:
        recording = self._ss_recording
        step = self._ss_step
        while True:
            try:
                item = await self._ss_wrapped.__anext__()
            except StopAsyncIteration:
                recording.end(COMPLETED)
                raise
            except BaseException as exc:
                recording.end(producer_outcome(exc), exc)
                raise
            if step(item):
                return item

    async def __aiter__(self) -> AsyncIterator[_T]:
        # Flat, like TracedStream.__iter__, with the same per-chunk step as its Python loop.
        recording = self._ss_recording
        step = _Step(recording, self._ss_hide)
        consumer = False
        try:
            async for item in _asource(self._ss_wrapped):
                if step(item):
                    try:
                        yield item
                    except BaseException:
                        consumer = True
                        raise
        except BaseException as exc:
            if not consumer:
                recording.end(producer_outcome(exc), exc)
            raise
        else:
            recording.end(COMPLETED)
        finally:
            # ``break`` lands here through the event loop's async-generator finalizer (or an explicit aclose).
            recording.end(ABANDONED)

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
