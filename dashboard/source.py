"""The dashboard's view of the data: a small Protocol over the collector's query layer.

Pages ask a :class:`DataSource` for the collector's query-API shapes (``docs/api.md``) and
never touch SQL or the store directly. :class:`~streamscope.dashboard.collector_source.CollectorSource` implements
it with ``streamscope.collector.query`` over any ``SpanStore``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from streamscope.dashboard.params import Filters

Row = dict[str, Any]


class DataSource(Protocol):
    """Read access to traces, streams, chunks and aggregates."""

    def traces(self, filters: Filters) -> Row:
        """``{"traces": [...], "next": cursor | None}`` matching ``filters``."""
        ...

    def trace(self, trace_id: str) -> Row | None:
        """``{"trace_id", "spans": [...]}``, or None if unknown."""
        ...

    def streams(self, filters: Filters) -> Row:
        """``{"streams": [...], "next": cursor | None}`` matching ``filters``."""
        ...

    def stream(self, span_id: str) -> Row | None:
        """One stream row (``/api/streams`` item shape), or None if unknown."""
        ...

    def timings(self, filters: Filters, metrics: tuple[str, ...]) -> dict[str, list[float | None]]:
        """For the newest ``filters.limit`` streams matching ``filters``: each metric's values (``/api/streams``
        field names, e.g. ``ttft``, ``duration``), in the same stream order."""
        ...

    def chunks(self, span_id: str) -> list[Row] | None:
        """The chunks of one stream in arrival order, or None if the stream is unknown."""
        ...

    def stats(self, filters: Filters, *, bucket: int) -> Row:
        """Overview aggregates: ``{"totals": {...}, "models": [...], "series": [...]}`` (see ``overview.py``)."""
        ...

    def percentile(self, values: Sequence[float], q: float) -> float | None:
        """The ``q``-th percentile (0-100) of ``values`` as this source computes its own (so the compare page's
        percentiles match ``stats``); None for no values."""
        ...

    @property
    def stall_threshold(self) -> float:
        """Seconds of silence after which :meth:`live` reports a stream as stalled."""
        ...

    @property
    def live_supported(self) -> bool:
        """Whether :meth:`live` can report in-flight streams at all."""
        ...

    def live(self, *, window: float, session: str | None = None, user: str | None = None) -> list[Row]:
        """Streams in flight: chunks seen recently, stream not ended yet; with ``session`` / ``user``, only those
        whose trace's steps stored so far carry that ``session.id`` / ``user.id``."""
        ...

    def error_rows(self, filters: Filters, *, limit: int) -> list[Row]:
        """Failed spans, newest first, in the filters' time range: ``{"trace_id", "span_id", "name", "start",
        "error_type", "message", "http_status"}`` (the collector's ``ErrorRow``)."""
        ...

    def sessions(self, filters: Filters) -> Row:
        """``{"sessions": [...], "next": cursor | None}``: sessions with activity in the filters' range, newest
        activity first (items in ``SessionSummary.to_dict`` shape), the page after ``filters.cursor``."""
        ...

    def session(self, session_id: str) -> Row | None:
        """``{"session", "traces" (oldest first), "streams"}`` of one session, or None if unknown."""
        ...

    def is_empty(self) -> bool:
        """Whether nothing at all is stored yet (no trace, no stream in flight): the first run."""
        ...

    def facets(self) -> Row:
        """Known filter values: ``{"services": [...], "models": [...]}``."""
        ...
