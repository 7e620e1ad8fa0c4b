"""Why a span failed, read from what OpenTelemetry and the GenAI conventions record.

Pure functions over the collector's span and stream records: the status description, the ``exception`` events
(``exception.type``, ``exception.message``, ``exception.stacktrace``), ``error.type``, the HTTP status
(``http.response.status_code``, or the ``Error code: NNN`` the openai client puts in its messages) and
``Retry-After`` (``http.response.header.retry-after``). All values stay plain strings; the template escapes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamscope.dashboard.source import NS, ErrorRow, Span, Stream, status_name

_HTTP_IN_MESSAGE = re.compile(r"\b(?:Error code|status(?: code)?|HTTP)[:\s]+([1-5]\d\d)\b", re.IGNORECASE)
_RETRY_KEYS = ("http.response.header.retry-after", "http.response.header.retry_after", "retry_after")


@dataclass(frozen=True)
class Failure:
    """What went wrong in one span.

    Attributes:
        error_type: The exception type or ``error.type`` ('' when the source did not say).
        message: The exception message or status description.
        stacktrace: The recorded stack trace ('' when not captured).
        http_status: The HTTP status code, when one is known.
        retry_after: The server's ``Retry-After``, as sent.
        at: Seconds from the span's start to the exception event (None when there is no event).
    """

    error_type: str
    message: str
    stacktrace: str = ""
    http_status: int | None = None
    retry_after: str | None = None
    at: float | None = None

    @property
    def headline(self) -> str:
        """``"APIStatusError: Error code: 500"``, or whichever of the two is known."""
        if self.error_type and self.message and self.message != self.error_type:
            return f"{self.error_type}: {self.message}"
        return self.error_type or self.message or "error"


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit] + "…"


def _http_status(attrs: Mapping[str, Any], *texts: str) -> int | None:
    for key in ("http.response.status_code", "http.status_code"):
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599:
            return int(value)
    for text in texts:
        m = _HTTP_IN_MESSAGE.search(text or "")
        if m:
            return int(m.group(1))
    return None


def _retry_after(attrs: Mapping[str, Any]) -> str | None:
    for key in _RETRY_KEYS:
        value = attrs.get(key)
        if isinstance(value, (list, tuple)) and value:
            value = value[0]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def failure(span: Span, stream: Stream | None = None) -> Failure | None:
    """The failure of ``span``, or None when it did not fail.

    A span failed when its status is ``error`` or it carries an ``exception`` event; ``stream`` (the collector's
    stream row) adds its ``error_type`` and marks error/timeout outcomes as failures too.
    """
    attrs = span.attributes
    events = [e for e in span.events if e.name == "exception"]
    outcome = stream.outcome if stream is not None else None
    failed = status_name(span.status_code) == "error" or bool(events) or outcome in ("error", "timeout")
    if not failed:
        return None
    ev = events[-1].attributes if events else {}
    error_type = str(
        ev.get("exception.type") or attrs.get("error.type") or (stream.error_type if stream else None) or ""
    )
    if error_type == "_OTHER":
        error_type = ""
    message = str(ev.get("exception.message") or span.status_message or "")
    if not error_type and outcome == "timeout":
        error_type = "timeout"
    stacktrace = str(ev.get("exception.stacktrace") or "")
    at = None
    if events:  # seconds as the query API gives them (epoch seconds, subtracted)
        at = max(events[-1].time_ns / NS - span.start_ns / NS, 0.0)
        at = at if math.isfinite(at) else None
    return Failure(
        error_type=error_type,
        message=message,
        stacktrace=stacktrace,
        http_status=_http_status(attrs, message, str(ev.get("exception.message") or "")),
        retry_after=_retry_after(attrs),
        at=at,
    )


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def from_row(row: ErrorRow) -> Failure:
    """The failure of one errors-view row (``DataSource.error_rows``: type, message and HTTP status only)."""
    message = row.message or ""
    status = row.http_status
    if status is None:
        status = _http_status({}, _first_line(message))
    error_type = row.error_type or ""
    return Failure(
        error_type="" if error_type == "_OTHER" else error_type, message=message, http_status=status
    )


def group_key(f: Failure) -> tuple[str, str]:
    """``(type, first line of the message with its numbers as N)``: what the errors view groups by, so "cut off
    after 17 chunks" and "after 40 chunks" are one problem. The HTTP status is kept (a 429 and a 500 are not)."""
    message = _NUMBER.sub("N", _first_line(f.message))
    if f.http_status is not None:
        message = f"[HTTP {f.http_status}] {message}"
    return (f.error_type or "(no type)", message)
