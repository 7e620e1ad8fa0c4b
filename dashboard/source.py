"""The dashboard's view of the data: a small Protocol over the collector's query layer, and what it answers.

Pages ask a :class:`DataSource` and never touch SQL or the store directly. Every method answers a frozen
dataclass: the collector's rows and query results (``streamscope.collector.model`` / ``.results``, whose
``to_dict()`` is the query API's JSON, ``docs/api.md``), the overview's :class:`~streamscope.dashboard.overview_stats.
Overview`, or one of the shapes below, which the dashboard builds over them.
:class:`~streamscope.dashboard.collector_source.CollectorSource` implements it over any ``SpanStore``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from streamscope.collector.model import (
    NS,
    Chunk,
    ErrorRow,
    SessionSummary,
    Span,
    SpanEvent,
    Stream,
    TraceSummary,
    kind_name,
    status_name,
)
from streamscope.collector.results import StreamPage, TraceDetail, TracePage
from streamscope.dashboard.overview_stats import Overview
from streamscope.dashboard.params import Filters

#: the rows and results the pages read, under the names they import them by (pages import no collector module)
__all__ = [
    "NS", "Chunk", "DataSource", "ErrorRow", "Facets", "LiveView", "Overview", "SessionDetail",
    "SessionPage", "SessionSummary", "Span", "SpanEvent", "Stream", "StreamPage", "TraceDetail", "TracePage",
    "TraceSummary", "kind_name", "status_name",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class LiveView:
    """A stream in flight as the live page shows it: the collector's ``/api/live`` row (``start``,
    ``last_chunk``: epoch seconds; ``last_offset``: seconds from the start to the latest chunk) plus ``elapsed``
    (s since the stream started), ``last_chunk_age`` (s since its latest chunk) and ``chunks_per_second`` (the
    rate now: the collector's ``recent_rate``)."""

    trace_id: str
    span_id: str
    service: str
    model: str
    provider: str
    operation: str
    start: float
    chunk_count: int
    last_offset: float
    last_chunk: float
    current_rate: float | None
    recent_rate: float | None
    stalled_for: float | None
    elapsed: float
    last_chunk_age: float
    chunks_per_second: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SessionPage:
    """Sessions with activity in a range, newest activity first, and the cursor of the next page."""

    sessions: tuple[SessionSummary, ...]
    next: str | None


@dataclass(frozen=True, slots=True)
class SessionDetail:
    """One session: its summary, its traces oldest first (the latest ``SESSION_TRACES``; ``truncated`` when it
    has more) and their streams by start."""

    session: SessionSummary
    traces: tuple[TraceSummary, ...]
    streams: tuple[Stream, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class Facets:
    """Known filter values (from a sample of recent streams): services, models and each model's provider."""

    services: tuple[str, ...]
    models: tuple[str, ...]
    providers: Mapping[str, str]


class DataSource(Protocol):
    """Read access to traces, streams, chunks and aggregates."""

    def traces(self, filters: Filters) -> TracePage:
        """One page of traces matching ``filters`` and the cursor of the next."""
        ...

    def trace(self, trace_id: str) -> TraceDetail | None:
        """A trace's spans (tree order) and streams, or None if unknown."""
        ...

    def streams(self, filters: Filters) -> StreamPage:
        """One page of streams matching ``filters`` and the cursor of the next."""
        ...

    def stream(self, span_id: str) -> Stream | None:
        """One stream, or None if unknown."""
        ...

    def timings(self, filters: Filters, metrics: tuple[str, ...]) -> dict[str, list[float | None]]:
        """For the newest ``filters.limit`` streams matching ``filters``: each metric's values (``Stream`` field
        names, e.g. ``ttft``, ``duration``), in the same stream order."""
        ...

    def chunks(self, span_id: str) -> list[Chunk] | None:
        """The chunks of one stream in arrival order, or None if the stream is unknown."""
        ...

    def stats(self, filters: Filters, *, bucket: int) -> Overview:
        """Overview aggregates: totals, one row per model and the charts' series."""
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

    def live(self, *, window: float, session: str | None = None, user: str | None = None) -> list[LiveView]:
        """Streams in flight: chunks seen recently, stream not ended yet; with ``session`` / ``user``, only those
        whose trace's steps stored so far carry that ``session.id`` / ``user.id``."""
        ...

    def error_rows(self, filters: Filters, *, limit: int) -> list[ErrorRow]:
        """Failed spans, newest first, in the filters' time range."""
        ...

    def sessions(self, filters: Filters) -> SessionPage:
        """Sessions with activity in the filters' range, newest activity first, the page after
        ``filters.cursor``."""
        ...

    def session(self, session_id: str) -> SessionDetail | None:
        """One session's summary, traces (oldest first) and streams, or None if unknown."""
        ...

    def is_empty(self) -> bool:
        """Whether nothing at all is stored yet (no trace, no stream in flight): the first run."""
        ...

    def facets(self) -> Facets:
        """Known filter values."""
        ...
