"""Storage behind one small Protocol. Every implementation passes ``tests/collector/test_store_contract.py``.

Semantics every store keeps:
* ``write`` is durable when it returns (the receiver acknowledges only after it returns), idempotent and
  convergent: writing a batch again changes nothing, and a write that failed part-way (the batch was not
  acknowledged, so the exporter sends it again) followed by the same batch leaves exactly the state of one good
  write. SQLite is also atomic; a distributed store (ClickHouse) is not and need not be (docs/rationale.md).
* The first write of a span / stream / chunk wins: duplicates are ignored, nothing stored changes.
* Chunk spans are kept as compact chunk rows (``chunks``), not as rows in ``spans``.
* Listing is newest first with keyset cursors on ``(start_ns, id)``.
* Streams in flight (``IngestBatch.live``) are kept until their stream row arrives (then they are gone) or
  retention drops them; a later report of the same stream updates its counts (:meth:`LiveStream.merged`).
* Trace summaries and aggregate rows (``aggregates``) are derived from the stored rows (SQLite: by the write, in
  its transaction; ClickHouse: folded from the deduplicated rows off the write path, by each collector's next
  derive pass, so a request is acknowledged without waiting for it): a stream counts once (duplicates are
  ignored), and deletes rebuild the rows of the slots they touch, so once ``settle`` returns the rows equal
  ``streamscope.collector.aggregates.build(all stored streams)``. The contract says "converged once
  ``settle`` returned" for every store (docs/rationale.md).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamscope.collector.aggregates import Aggregate
from streamscope.collector.model import (
    Chunk,
    Cursor,
    ErrorRow,
    Filters,
    IngestBatch,
    LiveStream,
    SessionSummary,
    Span,
    Stream,
    TraceSummary,
)


class StoreUnavailable(ConnectionError):
    """A shared store (ClickHouse) cannot be reached right now; servers answer 503 and work again once it is back.
    The message is one sentence, safe to show."""


@runtime_checkable
class SpanStore(Protocol):
    def write(self, batch: IngestBatch) -> None:
        """Store a batch; durable when this returns, idempotent, convergent after a failed attempt. Its spans,
        streams and chunks read back at once; trace summaries and aggregates include it once :meth:`settle`
        returns (a store that derives them in the write itself: at once)."""
        ...

    def settle(self) -> None:
        """Wait until trace summaries and aggregates include every batch written before the call (ClickHouse
        derives them off the write path, in the next pass of its deriver; SQLite in the write's transaction)."""
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

    def error_rows(self, filters: Filters, limit: int) -> list[ErrorRow]:
        """Spans with status error whose start is in ``[filters.since_ns, filters.until_ns)``, newest first (ties
        by span id, descending), at most ``limit``, as :class:`ErrorRow`; only ``service``, ``session_id`` and
        ``user_id`` (matched on the span or its trace) filter further. Behind the dashboard's errors view."""
        ...

    def sessions(
        self, filters: Filters, limit: int, after: tuple[int, str] | None = None
    ) -> list[SessionSummary]:
        """Sessions (traces grouped by their ``session_id``) with a trace starting in ``[since_ns, until_ns)``,
        newest activity first (``last_start_ns`` descending, ties by ``session_id`` ascending), at most ``limit``;
        ``user_id`` and ``service`` filter the traces counted. ``after``: the ``(last_start_ns, session_id)`` of
        the previous page's last session; only sessions that come after it in that order (keyset pagination)."""
        ...

    def counts(self) -> dict[str, int]:
        """Row counts: ``{"spans", "streams", "chunks", "traces"}``."""
        ...

    def delete_before(self, cutoff_ns: int) -> int:
        """Retention: drop traces that started before ``cutoff_ns`` (with their spans, streams, chunks), and
        streams in flight whose latest chunk is older than ``cutoff_ns`` (with their chunks)."""
        ...

    # -- aggregates and retention by size ---------------------------------------------------------
    def aggregates(self, width_s: int, filters: Filters, *, rollup: int = 0) -> list[Aggregate]:
        """Aggregate rows of tier ``width_s`` (one of ``aggregates.TIERS``) whose slot starts in
        ``[filters.since_ns, filters.until_ns)`` and whose key matches service/model/provider/outcome.

        ``rollup`` picks the row set (``aggregates.ROLLUPS``: 0 full key, 1 operation and outcome rolled in, 2
        service too; rolled-in fields are None). Raises ValueError for any other filter (aggregates cannot answer
        it), a filter on a rolled-in field, or an unknown tier or row set.
        """
        ...

    def delete_oldest(self, n: int) -> int:
        """Retention by size: drop the ``n`` oldest traces (by start) like ``delete_before`` does."""
        ...

    def storage_bytes(self) -> int:
        """Bytes the stored data occupies (SQLite: the database file plus its WAL)."""
        ...

    def close(self) -> None: ...


__all__ = ["SpanStore", "StoreUnavailable"]
