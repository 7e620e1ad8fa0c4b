"""What the query layer answers: frozen records, each with the one JSON shape of the query API.

The HTTP API serialises these with ``to_dict()`` (``docs/api.md`` is the contract; ``/api/stats`` with
:meth:`Stats.to_json`, the same bytes); the dashboard reads their
fields. Rows of the store (:class:`~streamscope.collector.model.Span`, ``Stream``, ``Chunk``, ``TraceSummary``,
``LiveStream``) are reused as they are; this module adds the pages, the live rows and the statistics built
over them. Records are frozen dataclasses, except the statistics built thousands at a time (named tuples).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

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

    def to_dict(self) -> dict[str, float | None]:
        p50, p95, p99, mean, max_, count = self
        return {"p50": p50, "p95": p95, "p99": p99, "mean": mean, "max": max_, "count": count}


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
        return self.into({})

    def into(self, out: dict[str, Any]) -> dict[str, Any]:
        """Add this record's JSON fields to ``out`` (after the keys already there) and answer it: the rows of
        ``groups`` and ``series`` are built as one dict each. The JSON shares ``outcomes`` and ``outcome_rates``
        with the record (serialise it, do not change it)."""
        (
            count,
            rate,
            metrics,
            outcomes,
            rates,
            error,
            abandon,
            stalls,
            input_tokens,
            output_tokens,
            cost,
            chunks,
        ) = self
        out["count"] = count
        out["rate_per_second"] = rate
        for name, s in metrics.items():
            p50, p95, p99, mean, max_, n = s
            out[name] = {"p50": p50, "p95": p95, "p99": p99, "mean": mean, "max": max_, "count": n}
        out["outcomes"] = outcomes
        out["outcome_rates"] = rates
        out["error_rate"] = error
        out["abandon_rate"] = abandon
        out["stall_count"] = stalls
        out["input_tokens"] = input_tokens
        out["output_tokens"] = output_tokens
        out["cost_usd_estimate"] = cost
        out["chunks"] = chunks
        return out


class GroupFigures(NamedTuple):
    """One item of ``groups``: the group's key (``"all"`` when not grouped) and its figures."""

    key: str
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        return self.figures.into({"key": self.key})


class BucketFigures(NamedTuple):
    """One item of ``series``: a group's figures in one time bucket (``seconds``: its part inside the window)."""

    key: str
    bucket_start: float
    seconds: float
    figures: Figures

    def to_dict(self) -> dict[str, Any]:
        return self.figures.into(
            {"key": self.key, "bucket_start": self.bucket_start, "seconds": self.seconds}
        )


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
        out.update(self._tail())
        return out

    def to_json(self) -> bytes:
        """``orjson.dumps(self.to_dict())`` byte for byte, built a row at a time: each row's dict is serialised
        and freed at once instead of a second tree as large as the records (a day by minute has ~1,440 rows)."""
        dumps = orjson.dumps
        head = dumps({"group_by": self.group_by, "bucket": self.bucket, "since": self.since, "until": self.until,
                      "covered_seconds": self.covered_seconds, "total": self.total.to_dict()})  # fmt: skip
        tail = self._tail()
        return b"".join((
            head[:-1],
            b',"groups":[', b",".join([dumps(g.to_dict()) for g in self.groups]),
            b'],"series":[', b",".join([dumps(e.to_dict()) for e in self.series]),
            b"]," + dumps(tail)[1:] if tail else b"]}",
        ))  # fmt: skip

    def _tail(self) -> dict[str, Any]:
        tail: dict[str, Any] = {}
        if self.source is not None:
            tail["source"] = self.source
        if self.relative_error is not None:
            tail["relative_error"] = self.relative_error
        return tail
