"""The active tracing setup: which tracer, pipeline and settings the tracing code uses right now.

``streamscope.init()`` installs one; ``streamscope.testing.capture_spans()`` pushes a temporary one and pops it.
Without either, streamscope uses whatever global OpenTelemetry tracer provider the application configured
(chunk spans are then built as ordinary SDK spans when the stream ends).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from streamscope.tracing.attributes import SCOPE_NAME
from streamscope.tracing.config import Settings
from streamscope.tracing.pipeline import SpanPipeline

VERSION = "0.1.0"
SCOPE = InstrumentationScope(SCOPE_NAME, VERSION)


@dataclass(frozen=True)
class Active:
    tracer: trace.Tracer
    settings: Settings
    pipeline: SpanPipeline | None = None
    resource: Resource | None = None
    # every span is sampled unless its parent is not (so an LLM span can be started later, on the export thread)
    defer_start: bool = False


_lock = threading.Lock()
_stack: list[Active] = []


def current() -> Active:
    """The innermost active setup, or one over the global OTel tracer provider."""
    stack = _stack
    if stack:
        return stack[-1]
    return Active(tracer=trace.get_tracer(SCOPE_NAME, VERSION), settings=Settings())


def push(active: Active) -> None:
    with _lock:
        _stack.append(active)


def remove(active: Active) -> None:
    with _lock:
        for i in range(len(_stack) - 1, -1, -1):
            if _stack[i] is active:
                del _stack[i]
                return
