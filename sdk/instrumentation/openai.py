"""Raw ``openai`` client instrumentation: ``instrument_openai()`` for every client, ``instrument_openai(client)``
for one.

Chat completions (sync and async, streaming and not) become GenAI inference spans with the stream rollups of the
wire contract (``docs/attributes.md``). The span starts when ``create(...)`` is called, in the caller's context
(so it nests under whatever span is current there); for a stream it ends when the consumer is done with it, in
whichever way (see :mod:`streamscope.instrumentation._openai_streams`). A non-streamed completion is recorded
as a stream of one chunk, so both produce the same span and rollups.

- Time to first byte is the moment ``create(stream=True)`` returns: the client returns as soon as the response
  headers have arrived, before any of the body is read.
- ``include_usage`` is never added behind the caller's back. ``instrument_openai(include_usage=True)`` asks for
  ``stream_options={"include_usage": True}`` on streams whose caller did not pass ``stream_options``; the extra
  usage-only chunk this makes the server send is recorded but not shown to the caller, so the caller's code
  sees exactly the chunks it would have seen uninstrumented.
- Exceptions from the client reach the caller unchanged; a failure inside tracing is logged once and dropped.
- One model call is one stream: a call made by a model run that the tracing handler already records (the
  engine's ``ChatOpenAI``, LangChain's ``ChatOpenAI`` with the LangChain handler) is not recorded again; it only
  tells that run when the response headers arrived (:mod:`streamscope.tracing.ownership`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from openai import AsyncStream, Stream
from openai.resources.chat.completions import AsyncCompletions, Completions

from streamscope.instrumentation._lifecycle import COMPLETED, producer_outcome
from streamscope.instrumentation._openai_recording import record_completion, start_recording, usage_only
from streamscope.instrumentation._openai_streams import TracedAsyncStream, TracedStream
from streamscope.tracing import ownership
from streamscope.tracing.guard import report
from streamscope.tracing.streams import StreamRecorder

__all__ = ["instrument_openai", "is_instrumented", "uninstrument_openai"]

_ORIGINAL = "__streamscope_original__"
_lock = threading.Lock()
# True while an instrumented create() runs: a client instrumented both globally and by hand records once.
_inside: ContextVar[bool] = ContextVar("streamscope_openai_inside", default=False)


def instrument_openai(client: Any = None, *, include_usage: bool = False) -> None:
    """Trace chat completions of every ``openai`` client (``client=None``) or of one client.

    ``include_usage=True`` requests provider token usage on streams that did not ask for it (see the module
    docstring); it is off by default, so requests go out exactly as the caller wrote them. Calling this again
    replaces the earlier setting; :func:`uninstrument_openai` undoes it.
    """
    with _lock:
        if client is None:
            _patch_class(Completions, _sync_create, include_usage)
            _patch_class(AsyncCompletions, _async_create, include_usage)
            return
        completions = client.chat.completions
        make = _async_create if isinstance(completions, AsyncCompletions) else _sync_create
        original = functools.partial(_unpatched(type(completions)), completions)
        completions.__dict__["create"] = make(original, include_usage)


def uninstrument_openai(client: Any = None) -> None:
    """Undo :func:`instrument_openai` for every client (``None``) or for that one client."""
    with _lock:
        if client is None:
            for cls in (Completions, AsyncCompletions):
                cls.create = _unpatched(cls)  # type: ignore[method-assign]
            return
        completions = client.chat.completions
        if hasattr(completions.__dict__.get("create"), _ORIGINAL):
            del completions.__dict__["create"]


def is_instrumented(client: Any = None) -> bool:
    """Whether chat completions of ``client`` (or, with ``None``, of every client) are traced."""
    if client is None:
        return hasattr(Completions.create, _ORIGINAL)
    completions = client.chat.completions
    return hasattr(completions.__dict__.get("create"), _ORIGINAL) or hasattr(
        type(completions).create, _ORIGINAL
    )


def _unpatched(cls: Any) -> Any:
    create = cls.__dict__["create"]
    return getattr(create, _ORIGINAL, create)


def _patch_class(cls: Any, make: Callable[[Any, bool], Any], include_usage: bool) -> None:
    cls.create = make(_unpatched(cls), include_usage)


def _prepare(kwargs: dict[str, Any], include_usage: bool) -> bool:
    """Add ``stream_options.include_usage`` when asked to and the caller did not decide; True if added."""
    if include_usage and kwargs.get("stream") is True and kwargs.get("stream_options") is None:
        kwargs["stream_options"] = {"include_usage": True}
        return True
    return False


def _owner(original: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(original, functools.partial):
        return original.args[0] if original.args else None
    return args[0] if args else None


def _owner_run() -> StreamRecorder | None:
    """The engine or LangChain LLM run this call is the request of (it records the call), or None."""
    try:
        return ownership.take()
    except Exception as exc:
        report("instrument_openai: owner", exc)
        return None


def _headers_in(run: StreamRecorder) -> None:
    try:
        run.first_byte()
    except Exception as exc:  # pragma: no cover - first_byte only reads a clock
        report("instrument_openai: first byte", exc)


def _start(original: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> StreamRecorder | None:
    try:
        return start_recording(_owner(original, args), kwargs)
    except Exception as exc:
        report("instrument_openai: start", exc)
        return None


def _completed(rec: StreamRecorder, result: Any) -> None:
    try:
        record_completion(rec, result)
    except Exception as exc:
        report("instrument_openai: completion", exc)
    rec.end(COMPLETED)


def _mark(wrapper: Any, original: Any) -> Any:
    functools.update_wrapper(wrapper, original.func if isinstance(original, functools.partial) else original)
    setattr(wrapper, _ORIGINAL, original)
    return wrapper


def _sync_create(original: Any, include_usage: bool) -> Any:
    def create(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return original(*args, **kwargs)
        run = _owner_run()
        if run is not None:  # one model call is one stream: the model run records it
            result = original(*args, **kwargs)
            if isinstance(result, Stream):
                _headers_in(run)
            return result
        injected = _prepare(kwargs, include_usage)
        rec = _start(original, args, kwargs)
        if rec is None:
            return original(*args, **kwargs)
        token = _inside.set(True)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            rec.end(producer_outcome(exc), exc)
            raise
        finally:
            _inside.reset(token)
        if isinstance(result, Stream):
            rec.first_byte()
            return TracedStream(result, rec, usage_only if injected else None)
        _completed(rec, result)
        return result

    return _mark(create, original)


def _async_create(original: Any, include_usage: bool) -> Any:
    async def create(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return await original(*args, **kwargs)
        run = _owner_run()
        if run is not None:  # one model call is one stream: the model run records it
            result = await original(*args, **kwargs)
            if isinstance(result, AsyncStream):
                _headers_in(run)
            return result
        injected = _prepare(kwargs, include_usage)
        rec = _start(original, args, kwargs)
        if rec is None:
            return await original(*args, **kwargs)
        token = _inside.set(True)
        try:
            result = await original(*args, **kwargs)
        except BaseException as exc:
            rec.end(producer_outcome(exc), exc)
            raise
        finally:
            _inside.reset(token)
        if isinstance(result, AsyncStream):
            rec.first_byte()
            return TracedAsyncStream(result, rec, usage_only if injected else None)
        _completed(rec, result)
        return result

    return _mark(create, original)
