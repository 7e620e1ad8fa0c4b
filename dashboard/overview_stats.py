"""Reshape the collector's statistics (``query.stats``) into what the overview and models pages draw.

The collector's query layer computes percentiles, rates, tokens and chunk counts per group and per time bucket
(from its per-minute aggregates when it can); this module only rearranges them: per-model columns
(:class:`ModelFigures`) and dense time series aligned on the chart's buckets for Chart.js (:class:`Series`).
Pure functions and frozen dataclasses: no Flask, no store. ``Overview.to_dict()`` is ``/api/overview``'s JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from streamscope.collector.results import Figures, Stats, Summary

MAX_BUCKETS = 2000
# every non-completed outcome (collector/model.py OUTCOMES): rates in the KPIs and table, counts per bucket in the series
RATE_OUTCOMES = ("error", "abandoned", "cancelled", "timeout")
SERIES_METRICS = ("ttft", "duration", "output_tokens_per_second")  # what the charts draw per bucket
UNKNOWN_MODEL = "(unknown)"


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, s: Summary | None) -> Percentiles:
        return cls() if s is None else cls(s.p50, s.p95, s.p99)


@dataclass(frozen=True, slots=True)
class Tokens:
    input: int
    output: int


@dataclass(frozen=True, slots=True)
class OverviewFigures:
    """One row of figures (the KPIs or one model). Per-second rates divide by the time the window covers with
    data (the collector's ``covered_seconds``); outcome rates and the error rate are the collector's
    (docs/concepts.md)."""

    streams: int
    chunks: int
    streams_per_second: float | None
    chunks_per_second: float | None
    ttft: Percentiles
    time_to_first_chunk: Percentiles
    duration: Percentiles
    gap: Percentiles  # distribution of each stream's own p95 gap
    output_tokens_per_second: Percentiles
    rates: Mapping[str, float | None]  # each of RATE_OUTCOMES
    error_rate: float | None
    stalls: int
    tokens: Tokens
    cost: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ModelFigures(OverviewFigures):
    """One model's row of the models table (``model``: ``(unknown)`` when the streams named none)."""

    model: str
    provider: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "provider": self.provider, **asdict(self)}  # the JSON names them first


@dataclass(frozen=True, slots=True)
class ModelSeries:
    """One model's columns, each aligned with :attr:`Series.buckets` (None: no data in that bucket)."""

    streams: list[int]
    chunks: list[int]
    streams_per_second: list[float | None]
    chunks_per_second: list[float | None]
    error: list[int]
    abandoned: list[int]
    cancelled: list[int]
    timeout: list[int]
    input_tokens: list[int]
    output_tokens: list[int]
    ttft_p50: list[float | None]
    ttft_p95: list[float | None]
    duration_p95: list[float | None]
    tokens_per_second_p50: list[float | None]

    @classmethod
    def empty(cls, n: int) -> ModelSeries:
        """Columns of ``n`` buckets without data: zero counts and rates, no percentiles."""

        def zeros() -> list[int]:
            return [0] * n

        def rates() -> list[float | None]:
            return [0] * n  # JSON 0, as the counts

        def nones() -> list[float | None]:
            return [None] * n

        return cls(zeros(), zeros(), rates(), rates(), zeros(), zeros(), zeros(), zeros(), zeros(), zeros(),
                   nones(), nones(), nones(), nones())  # fmt: skip

    def to_dict(self) -> dict[str, list[Any]]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Series:
    """The charts' time axis (bucket starts, each bucket's seconds inside the window) and each model's columns."""

    buckets: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    by_model: dict[str, ModelSeries] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "seconds": self.seconds,
            "by_model": {name: s.to_dict() for name, s in self.by_model.items()},
        }


@dataclass(frozen=True, slots=True)
class Overview:
    """What the overview and models pages draw: the KPIs, one row per model (most streams first), the series."""

    totals: OverviewFigures
    models: tuple[ModelFigures, ...]
    series: Series

    def to_dict(self) -> dict[str, Any]:
        return {
            "totals": self.totals.to_dict(),
            "models": [m.to_dict() for m in self.models],
            "series": self.series.to_dict(),
        }


def _per_second(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def _figures(f: Figures, seconds: float | None) -> dict[str, Any]:
    """The fields of :class:`OverviewFigures` from one group of the collector's figures."""
    return {
        "streams": f.count,
        "chunks": f.chunks,
        "streams_per_second": _per_second(f.count, seconds),
        "chunks_per_second": _per_second(f.chunks, seconds),
        "ttft": Percentiles.of(f.metric("ttft")),
        "time_to_first_chunk": Percentiles.of(f.metric("time_to_first_chunk")),
        "duration": Percentiles.of(f.metric("duration")),
        "gap": Percentiles.of(f.metric("gap_p95")),
        "output_tokens_per_second": Percentiles.of(f.metric("output_tokens_per_second")),
        "rates": {o: f.outcome_rates.get(o) for o in RATE_OUTCOMES},
        "error_rate": f.error_rate,
        "stalls": f.stall_count,
        "tokens": Tokens(f.input_tokens, f.output_tokens),
        "cost": f.cost_usd_estimate,
    }


def model_rows(stats: Stats, providers: Mapping[str, str]) -> tuple[ModelFigures, ...]:
    """One row per model, most streams first (then by name)."""
    groups = sorted(stats.groups, key=lambda g: (-g.figures.count, g.key))
    return tuple(
        ModelFigures(
            model=g.key or UNKNOWN_MODEL,
            provider=providers.get(g.key),
            **_figures(g.figures, stats.covered_seconds),
        )
        for g in groups
    )


def time_axis(stats: Stats) -> tuple[list[float], list[float]]:
    """The chart's bucket starts over the window (at most :data:`MAX_BUCKETS`) and the seconds of each inside
    it: the last one only up to ``until`` (now), so a bucket still filling up shows its rate so far instead of a
    drop. Empty without data."""
    if stats.total.count <= 0:
        return [], []
    bucket, since, until = stats.bucket, stats.since, stats.until
    first = math.floor(since / bucket) * bucket
    count = min(int((until - first) // bucket) + 1, MAX_BUCKETS)
    buckets = [float(first + i * bucket) for i in range(count)]
    seconds = [max(0.0, min(b + bucket, until) - max(b, since)) for b in buckets]
    return buckets, seconds


def _fill(column: ModelSeries, i: int, f: Figures, seconds: float | None) -> None:
    """Write one bucket's figures into position ``i`` of a model's columns."""
    column.streams[i] = f.count
    column.chunks[i] = f.chunks
    column.streams_per_second[i] = _per_second(f.count, seconds)
    column.chunks_per_second[i] = _per_second(f.chunks, seconds)
    ttft, duration, tps = f.metric("ttft"), f.metric("duration"), f.metric("output_tokens_per_second")
    column.ttft_p50[i] = None if ttft is None else ttft.p50
    column.ttft_p95[i] = None if ttft is None else ttft.p95
    column.duration_p95[i] = None if duration is None else duration.p95
    column.tokens_per_second_p50[i] = None if tps is None else tps.p50
    for outcome in RATE_OUTCOMES:
        getattr(column, outcome)[i] = f.outcomes.get(outcome, 0)
    column.input_tokens[i] = f.input_tokens
    column.output_tokens[i] = f.output_tokens


def series(stats: Stats) -> Series:
    """Dense per-model columns aligned with :func:`time_axis` (buckets outside it are dropped)."""
    buckets, seconds_of = time_axis(stats)
    index = {b: i for i, b in enumerate(buckets)}
    by_model: dict[str, ModelSeries] = {}
    for entry in stats.series:
        i = index.get(float(entry.bucket_start))
        if i is None:
            continue
        column = by_model.setdefault(entry.key or UNKNOWN_MODEL, ModelSeries.empty(len(buckets)))
        _fill(column, i, entry.figures, seconds_of[i] or None)
    return Series(buckets, seconds_of, by_model)


def reshape(stats: Stats, *, providers: Mapping[str, str] | None = None) -> Overview:
    """Turn ``streamscope.collector.query.stats`` / ``compute_stats`` (grouped by model) into page data.

    Args:
        stats: The collector's statistics, grouped by model.
        providers: Known provider per model name.
    """
    return Overview(
        totals=OverviewFigures(**_figures(stats.total, stats.covered_seconds)),
        models=model_rows(stats, providers or {}),
        series=series(stats),
    )
