"""Which outcome each way of stopping a stream implies, and the one recording interface the wrappers drive.

The wrappers in :mod:`streamscope.instrumentation._openai_streams` end a stream's recording on every path that
can stop it; the recording (the tracing core's ``StreamRecorder``) keeps the first end and ignores the rest:

- the producer finishes (``StopIteration``/``StopAsyncIteration``): ``completed``;
- the producer raises (network drop, provider error, malformed event): ``error``;
- the consuming task is cancelled or the program is interrupted: ``cancelled``;
- the consumer stops reading (``break``, ``close()``/``aclose()``, ``with`` exit, garbage collection):
  ``abandoned``; if it stops because it is being cancelled (``CancelledError`` through ``async with``),
  ``cancelled``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from streamscope.tracing.decorator import is_timeout

__all__ = [
    "ABANDONED",
    "CANCELLED",
    "COMPLETED",
    "ERROR",
    "TIMEOUT",
    "Recording",
    "consumer_outcome",
    "producer_outcome",
]

COMPLETED = "completed"
ABANDONED = "abandoned"
CANCELLED = "cancelled"
ERROR = "error"
TIMEOUT = "timeout"

_CANCELLATIONS = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)


class Recording(Protocol):
    """What a stream wrapper reports to: one call per chunk (on the consumer's thread), one end."""

    def raw(self, obj: Any) -> None: ...

    def end(self, outcome: str = ..., error: BaseException | None = ..., usage: Any = ...) -> None: ...


def producer_outcome(exc: BaseException) -> str:
    """The outcome when pulling the next chunk raised ``exc``: cancellation is not an error of the stream."""
    if isinstance(exc, _CANCELLATIONS):
        return CANCELLED
    return TIMEOUT if is_timeout(exc) else ERROR


def consumer_outcome(exc: BaseException | None) -> str:
    """The outcome when the consumer leaves a ``with`` block early, maybe because of ``exc`` of its own."""
    return CANCELLED if isinstance(exc, _CANCELLATIONS) else ABANDONED
