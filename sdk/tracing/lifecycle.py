"""How a stream's LLM span lives: when it starts, where its chunk spans go, on which thread it finishes.

Two strategies, chosen by :func:`streamscope.tracing.streams.start_stream` from the active setup:

- :class:`PipelineLifecycle` (``streamscope.init`` or ``capture_spans``: our export pipeline). The span may start
  on the export thread (:meth:`~PipelineLifecycle.defer` with ``soon``), chunks are exported while the stream runs
  (:meth:`~PipelineLifecycle.watch`), the end's work (rollups, attributes, the last chunk batch) is deferred to
  the export thread, and chunk spans leave as :class:`~streamscope.tracing.chunks.ChunkBatch` objects that the
  pipeline encodes in bulk.
- :class:`TracerLifecycle` (a tracer provider of the application's own). Everything happens on the thread that
  starts or ends the stream, and chunk spans are built as ordinary spans through that provider's tracer.

:class:`LazySpan` holds the span itself: given, or started on first use by whichever thread needs it first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import Span

from streamscope.tracing import attributes as A
from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.guard import report
from streamscope.tracing.pipeline import LiveSource, SpanPipeline

__all__ = ["LazySpan", "PipelineLifecycle", "SpanLifecycle", "TracerLifecycle"]


class SpanLifecycle(Protocol):
    """Where a stream's work runs and where its chunk spans go."""

    @property
    def resource(self) -> Resource | None:
        """The resource chunk batches carry (None: the tracer's spans carry their own)."""

    def defer(self, fn: Callable[[], object], size: int, *, soon: bool = False) -> bool:
        """Run ``fn`` on the export thread; False when it cannot (the caller then runs it itself)."""

    def watch(self, source: LiveSource) -> bool:
        """Export ``source``'s chunks while it runs; False when live export is off."""

    def unwatch(self, source: LiveSource) -> None: ...

    def export(self, batch: ChunkBatch, parent: Span) -> int:
        """Hand ``batch``'s chunk spans (children of ``parent``) to the exporter; how many were dropped."""


class PipelineLifecycle:
    """Our pipeline: deferred work, live export and chunk spans encoded in bulk (see the module docstring)."""

    __slots__ = ("_pipeline", "_resource")

    def __init__(self, pipeline: SpanPipeline, resource: Resource) -> None:
        self._pipeline = pipeline
        self._resource = resource

    @property
    def resource(self) -> Resource | None:
        return self._resource

    @property
    def synchronous(self) -> bool:
        return self._pipeline.synchronous

    def defer(self, fn: Callable[[], object], size: int, *, soon: bool = False) -> bool:
        return self._pipeline.defer(fn, size, soon=soon)

    def watch(self, source: LiveSource) -> bool:
        return self._pipeline.watch(source)

    def unwatch(self, source: LiveSource) -> None:
        self._pipeline.unwatch(source)

    def export(self, batch: ChunkBatch, parent: Span) -> int:
        return 0 if self._pipeline.submit_chunks(batch) else len(batch)


class TracerLifecycle:
    """A provider of the application's: everything on the caller's thread, chunk spans as ordinary spans."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    @property
    def resource(self) -> Resource | None:
        return None

    def defer(self, fn: Callable[[], object], size: int, *, soon: bool = False) -> bool:
        return False

    def watch(self, source: LiveSource) -> bool:
        return False

    def unwatch(self, source: LiveSource) -> None:
        return None

    def export(self, batch: ChunkBatch, parent: Span) -> int:
        context = trace.set_span_in_context(parent)
        tracer = self._tracer
        for wall, attrs in batch.rows():
            tracer.start_span(A.CHUNK_SPAN_NAME, context=context, start_time=wall, attributes=attrs).end(
                end_time=wall
            )
        return 0


class LazySpan:
    """A span given now, or started by ``start`` on first use (once, whichever thread asks first)."""

    __slots__ = ("_lock", "_span", "_start")

    def __init__(self, span: Span | None = None, start: Callable[[], Span] | None = None) -> None:
        self._span = span
        self._start = start
        self._lock = threading.Lock()

    def get(self) -> Span:
        """The span, started now if it was not yet; ``INVALID_SPAN`` if starting it failed."""
        span = self._span
        return span if span is not None else self._start_now()

    def _start_now(self) -> Span:
        with self._lock:
            span = self._span
            if span is None:
                start, self._start = self._start, None
                try:
                    span = start() if start is not None else trace.INVALID_SPAN
                except Exception as exc:
                    report("start_stream(span)", exc)
                    span = trace.INVALID_SPAN
                self._span = span
            return span
