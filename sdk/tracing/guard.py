"""Telemetry never breaks the host app: tracing failures are caught, logged once per place, and counted."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

logger = logging.getLogger("streamscope")

_seen: set[str] = set()
_lock = threading.Lock()
errors = 0

F = TypeVar("F", bound=Callable[..., Any])


def report(where: str, exc: BaseException) -> None:
    """Log a tracing failure the first time it happens at ``where``; count every occurrence."""
    global errors
    errors += 1
    with _lock:
        first = where not in _seen
        _seen.add(where)
    if first:
        logger.warning("streamscope tracing failed in %s (logged once; the app is unaffected): %r",
                       where, exc, exc_info=exc)


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
