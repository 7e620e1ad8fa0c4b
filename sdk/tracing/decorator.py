"""``@streamscope.trace``: one span per call of a sync, async, generator or async-generator function.

The OpenTelemetry context is attached only around code that runs *inside* the function, and detached before
control returns to the caller: for generators, around each step (``next``/``send``/``throw``/``close``), never
across ``yield``. So no context token outlives the frame that created it, and the "Failed to detach context"
error cannot happen. A generator's span starts at its first step, as a child of the context that was current
when the function was *called* (so a stream handed to a web framework stays in the request's trace), and ends
when the generator ends, with ``streamscope.stream.outcome``: completed, abandoned (closed or garbage
collected early), cancelled, error or timeout. User exceptions pass through unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, SpanKind

from streamscope.tracing import attributes as A
from streamscope.tracing import state
from streamscope.tracing.errors import mark_error
from streamscope.tracing.guard import report

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {k.name.lower(): k for k in SpanKind}


def outcome_of(exc: BaseException | None) -> str:
    """The stream outcome an exception means (None = completed)."""
    if exc is None:
        return "completed"
    if isinstance(exc, GeneratorExit):
        return "abandoned"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if is_timeout(exc):
        return "timeout"
    return "error"


#: Client-library timeouts that are not ``TimeoutError`` subclasses: ``openai.APITimeoutError``,
#: ``httpx.TimeoutException`` (and its ``ReadTimeout``/``ConnectTimeout``/...), ``requests.exceptions.Timeout``.
_TIMEOUT_CLASSES = frozenset({"APITimeoutError", "TimeoutException", "Timeout"})


def is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` means "waited too long": ``TimeoutError`` or a known HTTP client's timeout (matched by
    class name, so no client library is imported)."""
    if isinstance(exc, TimeoutError):
        return True
    return any(cls.__name__ in _TIMEOUT_CLASSES for cls in type(exc).__mro__)


class _Run:
    """One traced call: its span and the context to attach while the function's own code runs."""

    __slots__ = ("ctx", "ended", "span")

    def __init__(self, name: str, kind: SpanKind, parent: otel_context.Context | None) -> None:
        self.span: Span | None = None
        self.ctx: otel_context.Context | None = None
        self.ended = False
        try:
            self.span = state.current().tracer.start_span(
                name, context=parent, kind=kind, attributes={A.RUN_TYPE: "function"}
            )
            self.ctx = otel_trace.set_span_in_context(self.span, parent)
        except Exception as exc:
            report("trace(start)", exc)

    def attach(self) -> object | None:
        if self.ctx is None:
            return None
        try:
            return otel_context.attach(self.ctx)
        except Exception as exc:
            report("trace(attach)", exc)
            return None

    @staticmethod
    def detach(token: object | None) -> None:
        if token is not None:
            try:
                otel_context.detach(token)  # type: ignore[arg-type]
            except Exception as exc:
                report("trace(detach)", exc)

    def end(self, exc: BaseException | None = None, outcome: str | None = None) -> None:
        if self.ended or self.span is None:
            return
        self.ended = True
        try:
            result = outcome or outcome_of(exc)
            self.span.set_attribute(A.OUTCOME, result)
            if result in ("error", "timeout") and exc is not None:
                self.span.set_attribute(A.ERROR_TYPE, type(exc).__name__)
                settings = state.current().settings
                mark_error(
                    self.span,
                    exc,
                    fallback=type(exc).__name__,
                    capture_content=settings.capture_content,
                    redact=settings.redact,
                )
            self.span.end()
        except Exception as err:
            report("trace(end)", err)


def _trace_function(func: Callable[..., Any], name: str, kind: SpanKind) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _Run(name, kind, None)
        token = run.attach()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            run.end(exc)
            raise
        finally:
            run.detach(token)
        run.end()
        return result

    return wrapper


def _trace_coroutine(func: Callable[..., Any], name: str, kind: SpanKind) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _Run(name, kind, None)
        token = run.attach()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            run.end(exc)
            raise
        finally:
            run.detach(token)
        run.end()
        return result

    return wrapper


def _traced_generator(
    gen: Generator[Any, Any, Any], name: str, kind: SpanKind, parent: otel_context.Context
) -> Generator[Any, Any, Any]:
    run = _Run(name, kind, parent)
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            token = run.attach()
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(to_send)
            except StopIteration as stop:
                run.end()
                return stop.value
            except BaseException as exc:
                run.end(exc)
                raise
            finally:
                run.detach(token)
            try:
                to_send = yield item
            except GeneratorExit:
                run.end(outcome="abandoned")
                token = run.attach()
                try:
                    gen.close()
                finally:
                    run.detach(token)
                raise
            except BaseException as exc:
                to_send, to_throw = None, exc
    finally:
        run.end(outcome="abandoned")


async def _traced_async_generator(
    agen: AsyncGenerator[Any, Any], name: str, kind: SpanKind, parent: otel_context.Context
) -> AsyncGenerator[Any, Any]:
    run = _Run(name, kind, parent)
    to_send: Any = None
    to_throw: BaseException | None = None
    try:
        while True:
            token = run.attach()
            try:
                if to_throw is not None:
                    exc, to_throw = to_throw, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(to_send)
            except StopAsyncIteration:
                run.end()
                return
            except BaseException as exc:
                run.end(exc)
                raise
            finally:
                run.detach(token)
            try:
                to_send = yield item
            except GeneratorExit:
                run.end(outcome="abandoned")
                token = run.attach()
                try:
                    await agen.aclose()
                finally:
                    run.detach(token)
                raise
            except BaseException as exc:
                to_send, to_throw = None, exc
    finally:
        run.end(outcome="abandoned")


def _trace_generator(func: Callable[..., Any], name: str, kind: SpanKind) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _traced_generator(func(*args, **kwargs), name, kind, otel_context.get_current())

    return wrapper


def _trace_async_generator(func: Callable[..., Any], name: str, kind: SpanKind) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _traced_async_generator(func(*args, **kwargs), name, kind, otel_context.get_current())

    return wrapper


def _kind(kind: SpanKind | str) -> SpanKind:
    if isinstance(kind, SpanKind):
        return kind
    try:
        return _KINDS[str(kind).lower()]
    except KeyError:
        raise ValueError(f"kind must be a SpanKind or one of {', '.join(_KINDS)}; got {kind!r}.") from None


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(*, name: str | None = None, kind: SpanKind | str = SpanKind.INTERNAL) -> Callable[[F], F]: ...


def trace(func: Any = None, /, *, name: str | None = None, kind: SpanKind | str = SpanKind.INTERNAL) -> Any:
    """Trace every call of the decorated function (bare ``@trace`` or ``@trace(name=..., kind=...)``).

    The span is named after the function's qualified name unless ``name`` is given, has kind ``kind``
    (INTERNAL by default) and ``streamscope.run.type=function``.
    """
    span_kind = _kind(kind)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        span_name = str(name or getattr(f, "__qualname__", None) or getattr(f, "__name__", "function"))
        if inspect.isasyncgenfunction(f):
            return _trace_async_generator(f, span_name, span_kind)
        if inspect.isgeneratorfunction(f):
            return _trace_generator(f, span_name, span_kind)
        if inspect.iscoroutinefunction(f):
            return _trace_coroutine(f, span_name, span_kind)
        return _trace_function(f, span_name, span_kind)

    if func is not None:
        if not callable(func):
            raise TypeError(
                "@streamscope.trace decorates functions; use @trace or @trace(name=..., kind=...)."
            )
        return decorate(func)
    return decorate
