"""What the query layer answers: frozen records, each with the one JSON shape of the query API.

The HTTP API serialises these with ``to_dict()`` (``docs/api.md`` is the contract); the dashboard reads their
fields. Rows of the store (:class:`~streamscope.collector.model.Span`, ``Stream``, ``Chunk``, ``TraceSummary``,
``LiveStream``) are reused as they are; this module adds the pages, the live rows and the statistics built
over them. Records are frozen dataclasses, except the statistics built thousands at a time (named tuples).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from streamscope.collector.model import Chunk, LiveStream, Span, Stream, TraceSummary


@dataclass(frozen=True, slots=True)
class TracePage:
    """``GET /api/traces``: one page of traces, newest first, and the cursor of the next page (None: last)."""

    traces: tuple[TraceSummary, ...]
    next: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"traces": [t.to_dict() for t in self.traces], "next": self.next}


@dataclass(frozen=True, slots=True)
class TraceDetail:
    """``GET /api/traces/<trace_id>``: every span in tree order and the trace's streams by start."""

    trace_id: str
    spans: tuple[Span, ...]
    streams: tuple[Stream, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "spans": [s.to_dict() for s in self.spans],
            "streams": [st.to_dict() for st in self.streams],
        }


@dataclass(frozen=True, slots=True)
class StreamPage:
    """``GET /api/streams``: one page of streams, newest first, and the cursor of the next page (None: last)."""

    streams: tuple[Stream, ...]
    next: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"streams": [st.to_dict() for st in self.streams], "next": self.next}


@dataclass(frozen=True, slots=True)
class StreamChunks:
    """``GET /api/streams/<span_id>/chunks``: a stream (None until its span arrives) and its chunks in order."""

    span_id: str
    stream: Stream | None
    chunks: tuple[Chunk, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "span_id": self.span_id,
            "stream": self.stream.to_dict() if self.stream is not None else None,
            "chunks": [c.to_dict() for c in self.chunks],
        }


@dataclass(frozen=True, slots=True)
class LiveRow:
    """One item of ``GET /api/live``: a stream in flight as the store knows it, and what "now" adds to it:
    ``recent_rate`` (chunks per second over the last few seconds, ``query_live.live_rate``) and ``stalled_for``
    (seconds since its latest chunk once it has stalled, else None)."""

    stream: LiveStream
    recent_rate: float | None
    stalled_for: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.stream.to_dict(), "recent_rate": self.recent_rate, "stalled_for": self.stalled_for}


class Summary(NamedTuple):
    """A metric's distribution: p50/p95/p99, mean, max and how many values (None: no values).

    A named tuple rather than a frozen dataclass (immutable and typed all the same): a day's ``/api/stats`` by
    minute builds ~9,000 of them, and a tuple is built several times faster than a frozen dataclass.
    """

    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    max: float | None
    count: int  # type: ignore[assignment]  # a field named like tuple.count: rows are read by name

    @classmethod
    def of(cls, d: Mapping[str, float | None]) -> Summary:
        """From the dict an aggregate's metric summarises itself as (same keys)."""
        return tuple.__new__(cls, (d["p50"], d["p95"], d["p99"], d["mean"], d["max"], int(d["count"] or 0)))

    def to_dict(self) -> dict[str, float | None]:
        return {"p50": self.p50, "p95": self.p95, "p99": self.p99, "mean": self.mean, "max": self.max,
                "count": self.count}  # fmt: skip


class Figures(NamedTuple):
    """One group's figures in ``GET /api/stats`` (the whole window, one group, or one group's time bucket).

    This and the two records below are named tuples, as :class:`Summary`: a day by minute builds thousands.

    ``metrics`` holds the summaries computed (metric name to :class:`Summary`, in the aggregates' metric order);
    per-bucket entries may carry only the ones a caller asked for.
    """

    count: int  # type: ignore[assignment]  # a field named like tuple.count: read by name
    rate_per_second: float | None
    metrics: Mapping[str, Summary]
    outcomes: Mapping[str, int]
    outcome_rates: Mapping[str, float | None]
    error_rate: float | None
    abandon_rate: float | None
    stall_count: int
    input_tokens: int
    output_tokens: int
    cost_usd_estimate: float | None
    chunks: int

    def metric(self, name: str) -> Summary | None:
        """The summary of metric ``name`` (``ttft``, ``duration``, ...), None when not computed."""
        return self.metrics.get(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rate_per_second": self.rate_per_second,
            **{name: s.to_dict() for name, s in self.metrics.items()},
            "outcomes": dict(self.outcomes),
            "outcome_rates": dict(self.outcome_rates),
            "error_rate": self.error_rate,
            "abandon_rate": self.abandon_rate,
            "stall_count": self.stall_count,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd_estimate": self.cost_usd_estimate,
            "chunks": self.chunks,
        }


class GroupFigures(NamedTuple):
    """One item of ``groups``: the group's key (``"all"`` when not grouped) and its figures."""

    key: str
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.figures.to_dict()}


class BucketFigures(NamedTuple):
    """One item of ``series``: a group's figures in one time bucket (``seconds``: its part inside the window)."""

    key: str
    bucket_start: float
    seconds: float
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "bucket_start": self.bucket_start, "seconds": self.seconds,
                **self.figures.to_dict()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Stats:
    """``GET /api/stats``. ``source`` (``"aggregates"`` or ``"streams"``) and ``relative_error`` (aggregates
    only) are left out of the JSON when None (:func:`~streamscope.collector.query_stats.compute_stats` alone)."""

    group_by: str
    bucket: int
    since: float
    until: float
    covered_seconds: float | None
    total: Figures
    groups: tuple[GroupFigures, ...]
    series: tuple[BucketFigures, ...]
    source: str | None = None
    relative_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "group_by": self.group_by,
            "bucket": self.bucket,
            "since": self.since,
            "until": self.until,
            "covered_seconds": self.covered_seconds,
            "total": self.total.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "series": [e.to_dict() for e in self.series],
        }
        if self.source is not None:
            out["source"] = self.source
        if self.relative_error is not None:
            out["relative_error"] = self.relative_error
        return out
