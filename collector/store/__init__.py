"""Storage behind one small Protocol. Every implementation passes ``tests/collector/test_store_contract.py``.

Semantics every store keeps:
* ``write`` is atomic and durable when it returns (the receiver acknowledges only after it returns).
* The first write of a span / stream / chunk wins: duplicates are ignored, nothing stored changes.
* Chunk spans are kept as compact chunk rows (``chunks``), not as rows in ``spans``.
* Listing is newest first with keyset cursors on ``(start_ns, id)``.
* Streams in flight (``IngestBatch.live``) are kept until their stream row arrives (then they are gone) or
  retention drops them; a later report of the same stream updates its counts (:meth:`LiveStream.merged`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamscope.collector.model import (
    Chunk,
    Cursor,
    Filters,
    IngestBatch,
    LiveStream,
    Span,
    Stream,
    TraceSummary,
)


@runtime_checkable
class SpanStore(Protocol):
    def write(self, batch: IngestBatch) -> None:
        """Store a batch atomically; durable when this returns."""
        ...

    def traces(self, filters: Filters, limit: int, cursor: Cursor | None = None) -> list[TraceSummary]:
        """Trace summaries matching ``filters``, newest first, after ``cursor``."""
        ...

    def trace_spans(self, trace_id: str) -> list[Span]:
        """All stored spans of a trace (any order)."""
        ...

    def streams(self, filters: Filters, limit: int | None, cursor: Cursor | None = None) -> list[Stream]:
        """Streams matching ``filters``, newest first, after ``cursor`` (``limit=None``: all)."""
        ...

    def stream(self, span_id: str) -> Stream | None: ...

    def chunks(self, span_id: str) -> list[Chunk]:
        """Chunk rows of one stream, by index."""
        ...

    def live(self, since_ns: int, limit: int) -> list[LiveStream]:
        """Streams in flight whose latest chunk arrived at or after ``since_ns`` and that have no stream row,
        newest start first. Stale entries (no chunk since ``since_ns``) are not returned."""
        ...

    def counts(self) -> dict[str, int]:
        """Row counts: ``{"spans", "streams", "chunks", "traces"}``."""
        ...

    def delete_before(self, cutoff_ns: int) -> int:
        """Retention: drop traces that started before ``cutoff_ns`` (with their spans, streams, chunks), and
        streams in flight whose latest chunk is older than ``cutoff_ns`` (with their chunks)."""
        ...

    def close(self) -> None: ...


__all__ = ["SpanStore"]
