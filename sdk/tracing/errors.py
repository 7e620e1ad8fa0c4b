"""Marking a span as failed, the same way everywhere, without leaking content when capture is off.

    mark_error(span, error, fallback="timeout", capture_content=False)

With content capture on, the span gets OpenTelemetry's ``exception`` event (``record_exception``: type, message,
stacktrace) and the message as its status description. With it off, exception messages are treated as content:
they often quote model output (a parser error shows the text it could not parse) or the prompt. The span then
gets an ``exception`` event with ``exception.type`` only, and the type as its status description.

With capture on and a ``redact`` callable (``streamscope.init(redact=...)``), the event has the same attributes as
``record_exception`` would give it, with ``exception.message`` and ``exception.stacktrace`` (which quotes the
message, and those of chained exceptions) redacted, and the redacted message as the status description.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

from opentelemetry.trace import Span, Status, StatusCode

__all__ = ["mark_error"]


def _type_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def mark_error(span: Span, error: BaseException | None, *, fallback: str, capture_content: bool,
               redact: Callable[[str], str] | None = None) -> None:
    """Set status ERROR on ``span``; record ``error`` (if any) as an ``exception`` event.

    ``fallback`` is the status description when there is no exception (or no message to show). ``redact``
    (used only with ``capture_content``) must not raise: pass a ``SafeRedactor``.
    """
    if error is None:
        span.set_status(Status(StatusCode.ERROR, fallback))
        return
    if capture_content and redact is not None:
        message = redact(str(error))
        stacktrace = redact("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        module, qualname = type(error).__module__, type(error).__qualname__
        exc_type = f"{module}.{qualname}" if module and module != "builtins" else qualname  # as record_exception
        span.add_event("exception", {"exception.type": exc_type, "exception.message": message,
                                     "exception.stacktrace": stacktrace, "exception.escaped": "False"})
        span.set_status(Status(StatusCode.ERROR, message or fallback))
        return
    if capture_content:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) or fallback))
        return
    span.add_event("exception", {"exception.type": _type_name(error)})
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
