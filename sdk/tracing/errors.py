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
from opentelemetry.util.types import AttributeValue

__all__ = ["http_attributes", "mark_error"]

HTTP_STATUS = "http.response.status_code"
RETRY_AFTER = "http.response.header.retry-after"  # semconv: http.response.header.<lowercase name>, string[]


def _type_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def http_attributes(error: BaseException) -> dict[str, AttributeValue]:
    """The HTTP status code and ``Retry-After`` an HTTP error carries (the openai client's ``APIStatusError``, the
    engine's ``ChatOpenAIStatusError``, ``httpx.HTTPStatusError``), as semantic-convention attributes; ``{}`` for
    other errors. Neither is content, so they are recorded whether or not content capture is on."""
    out: dict[str, AttributeValue] = {}
    try:
        response = getattr(error, "response", None)
        status = getattr(error, "status_code", None)
        if status is None and response is not None:
            status = getattr(response, "status_code", None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            out[HTTP_STATUS] = status
        retry = getattr(error, "retry_after", None)
        if retry is None and response is not None:
            headers = getattr(response, "headers", None)
            retry = headers.get("retry-after") if headers is not None and hasattr(headers, "get") else None
        if isinstance(retry, (str, int, float)) and not isinstance(retry, bool) and str(retry).strip():
            out[RETRY_AFTER] = (str(retry).strip()[:64],)
    except Exception:  # an exotic error object: record nothing rather than fail the host app
        return {}
    return out


def mark_error(
    span: Span,
    error: BaseException | None,
    *,
    fallback: str,
    capture_content: bool,
    redact: Callable[[str], str] | None = None,
) -> None:
    """Set status ERROR on ``span``; record ``error`` (if any) as an ``exception`` event.

    ``fallback`` is the status description when there is no exception (or no message to show). ``redact``
    (used only with ``capture_content``) must not raise: pass a ``SafeRedactor``.
    """
    if error is None:
        span.set_status(Status(StatusCode.ERROR, fallback))
        return
    http = http_attributes(error)
    if http:
        span.set_attributes(http)
    if capture_content and redact is not None:
        message = redact(str(error))
        stacktrace = redact("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        module, qualname = type(error).__module__, type(error).__qualname__
        exc_type = (
            f"{module}.{qualname}" if module and module != "builtins" else qualname
        )  # as record_exception
        span.add_event(
            "exception",
            {
                "exception.type": exc_type,
                "exception.message": message,
                "exception.stacktrace": stacktrace,
                "exception.escaped": "False",
            },
        )
        span.set_status(Status(StatusCode.ERROR, message or fallback))
        return
    if capture_content:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) or fallback))
        return
    span.add_event("exception", {"exception.type": _type_name(error)})
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
