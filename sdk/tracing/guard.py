"""Telemetry never breaks the host app: tracing failures are caught, logged once per place, and counted."""

from __future__ import annotations

import functools
import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar, cast

logger = logging.getLogger("streamscope")

_seen: set[str] = set()
_lock = threading.Lock()
errors = 0

F = TypeVar("F", bound=Callable[..., Any])


def report(where: str, exc: BaseException) -> None:
    """Log a tracing failure the first time it happens at ``where``; count every occurrence.

    The exception's message may quote what the app streamed (a chunk's repr, a JSON error's excerpt), so with
    content capture off, or a redactor set, the log gives its type and traceback only, not the message.
    """
    global errors
    errors += 1
    with _lock:
        first = where not in _seen
        _seen.add(where)
    if not first:
        return
    if _content_may_be_logged():
        logger.warning(
            "streamscope tracing failed in %s (logged once; the app is unaffected): %r",
            where,
            exc,
            exc_info=exc,
        )
    else:
        logger.warning(
            "streamscope tracing failed in %s (logged once; the app is unaffected): %s.%s (message "
            "withheld: content capture is off or redacted)\n%s",
            where,
            type(exc).__module__,
            type(exc).__qualname__,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )


def _content_may_be_logged() -> bool:
    try:
        from streamscope.tracing import state  # here: state imports the pipeline, which reports through us

        settings = state.current().settings
        return settings.capture_content and settings.redact is None
    except Exception:
        return False


def guarded(func: F) -> F:
    """Wrap a tracing callback so that no exception from it reaches the caller."""
    where = func.__qualname__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            report(where, exc)
            return None

    return cast(F, wrapper)
