"""``GET /api/stats``: percentiles, rates, outcomes and tokens per group and per time bucket.

From the store's per-minute aggregates when the filters allow it (:func:`stats_from_aggregates`), else from raw
streams (:func:`compute_stats`). The pure statistics helpers come first; every function answers a
:class:`~streamscope.collector.results.Stats`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

from streamscope.collector import aggregates as agg
from streamscope.collector.model import NS, OUTCOMES, Filters, Stream
from streamscope.collector.query_params import GROUP_BY, QueryError
from streamscope.collector.results import BucketFigures, Figures, GroupFigures, Stats, Summary
from streamscope.collector.store import SpanStore

Cell = tuple[str, int]  # (group key, bucket start ns)


# -- pure statistics ---------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def summary(values: Iterable[float | None]) -> Summary:
    """p50/p95/p99/mean/max of the non-missing values."""
    xs = sorted(v for v in values if v is not None)
    return Summary(
        p50=percentile(xs, 50),
        p95=percentile(xs, 95),
        p99=percentile(xs, 99),
        mean=(sum(xs) / len(xs)) if xs else None,
        max=xs[-1] if xs else None,
        count=len(xs),
    )


def rate(count: int, seconds: float) -> float | None:
    """Events per second over a window; None for an empty window."""
    return count / seconds if seconds > 0 else None


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def covered_seconds(n: int, first_ns: int | None, last_ns: int | None) -> float | None:
    """The seconds a window's data covers (``docs/concepts.md``, "Numbers every surface shows"): from the first to
    the last stream start, plus one average interval between starts (the last stream's own share), i.e.
    ``(last - first) * n / (n - 1)``. None with fewer than two streams or no time between them."""
    if n < 2 or first_ns is None or last_ns is None or last_ns <= first_ns:
        return None
    return (last_ns - first_ns) / NS * n / (n - 1)


def bucket_seconds(bucket_start_ns: int, bucket_s: int, window: tuple[int, int]) -> float:
    """The part of a time bucket inside the window: a whole bucket, or less for the first and the last (partial)
    one, so a bucket still filling up is not drawn as a drop."""
    lo = max(bucket_start_ns, window[0])
    hi = min(bucket_start_ns + bucket_s * NS, window[1])
    return max(0, hi - lo) / NS


def outcome_rates(outcomes: Mapping[str, int], n: int) -> dict[str, float | None]:
    """Each outcome's share of the streams (``docs/concepts.md``), every outcome present."""
    return {o: ratio(outcomes.get(o, 0), n) for o in OUTCOMES}


def error_rate(outcomes: Mapping[str, int], n: int) -> float | None:
    """The error rate: streams that ended ``error`` or ``timeout`` over all streams."""
    return ratio(outcomes.get("error", 0) + outcomes.get("timeout", 0), n)


def bucket_start(t_ns: int, bucket_s: int) -> float:
    width = bucket_s * NS
    return (t_ns - t_ns % width) / NS


def group_key(st: Stream, group_by: str) -> str:
    """The group a stream falls in (``"all"`` when not grouped)."""
    return "all" if group_by == "none" else str(getattr(st, group_by) or "")


# -- one group's figures ----------------------------------------------------------------------------
def _count_outcomes(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    outcomes = {o: 0 for o in OUTCOMES}
    for o, c in counts:
        outcomes[o] = outcomes.get(o, 0) + c
    return outcomes


def _figures(
    n: int, seconds: float | None, metrics: dict[str, Summary], outcomes: dict[str, int], *, stalls: int,
    input_tokens: int, output_tokens: int, cost: float | None, chunks: int,
) -> Figures:  # fmt: skip
    rates = outcome_rates(outcomes, n)
    abandoned = ratio(outcomes.get("abandoned", 0), n)
    return tuple.__new__(Figures, (n, rate(n, seconds or 0), metrics, outcomes, rates, error_rate(outcomes, n),
                                   abandoned, stalls, input_tokens, output_tokens, cost, chunks))  # fmt: skip


def stream_figures(streams: Sequence[Stream], seconds: float | None) -> Figures:
    """One group's figures from raw streams; ``seconds``: the time its per-second rates divide by (None: no
    rate)."""
    costs = [st.cost_usd for st in streams if st.cost_usd is not None]
    return _figures(
        len(streams),
        seconds,
        {name: summary(getattr(st, name) for st in streams) for name in agg.METRICS},
        _count_outcomes((st.outcome, 1) for st in streams),
        stalls=sum(st.stall_count or 0 for st in streams),
        input_tokens=sum(st.input_tokens or 0 for st in streams),
        output_tokens=sum(st.output_tokens or 0 for st in streams),
        cost=sum(costs) if costs else None,
        chunks=sum(st.chunk_count or 0 for st in streams),
    )


def state_figures(s: agg.AggState, seconds: float | None, metrics: Sequence[str] = agg.METRICS) -> Figures:
    """:func:`stream_figures` computed from an aggregate (percentiles within ``agg.RELATIVE_ERROR``). Built
    inline and positionally: a day's ``/api/stats`` by minute calls this ~1,440 times."""
    n = s.n
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for o, c in s.outcomes.items():
        outcomes[o] = outcomes.get(o, 0) + c
    m = s.metrics
    summaries = {name: m[i].summary() for i, name in enumerate(agg.METRICS) if name in metrics}
    return tuple.__new__(Figures, (
        n, rate(n, seconds or 0), summaries, outcomes, outcome_rates(outcomes, n), error_rate(outcomes, n),
        ratio(outcomes.get("abandoned", 0), n), s.stalls, s.input_tokens, s.output_tokens,
        s.cost_sum if s.cost_n else None, s.chunks,
    ))  # fmt: skip


# -- from raw streams -------------------------------------------------------------------------------
def compute_stats(
    streams: Sequence[Stream],
    group_by: str = "model",
    bucket: int = 60,
    window: tuple[int, int] | None = None,
) -> Stats:
    """Pure: percentiles (p50/p95/p99) of TTFT, duration and gaps, rates and tokens, per group and time bucket."""
    first = min((st.start_ns for st in streams), default=None)
    last = max((st.start_ns for st in streams), default=None)
    if window is None:
        window = (first or 0, (last or 0) + bucket * NS)
    covered = covered_seconds(len(streams), first, last)
    groups: dict[str, list[Stream]] = {}
    series: dict[tuple[str, float], list[Stream]] = {}
    for st in streams:
        k = group_key(st, group_by)
        groups.setdefault(k, []).append(st)
        series.setdefault((k, bucket_start(st.start_ns, bucket)), []).append(st)
    return Stats(
        group_by=group_by,
        bucket=bucket,
        since=window[0] / NS,
        until=window[1] / NS,
        covered_seconds=covered,
        total=stream_figures(streams, covered),
        groups=tuple(GroupFigures(k, stream_figures(v, covered)) for k, v in sorted(groups.items())),
        series=tuple(
            BucketFigures(
                k, b, (sec := bucket_seconds(round(b * NS), bucket, window)), stream_figures(v, sec)
            )
            for (k, b), v in sorted(series.items())
        ),
    )


def stats(
    store: SpanStore,
    group_by: str = "model",
    bucket: int = 60,
    filters: Filters | None = None,
    *,
    series_metrics: Sequence[str] | None = None,
) -> Stats:
    """``GET /api/stats``: from the store's aggregates when the filters allow it (``source="aggregates"``),
    else from raw streams (``source="streams"``). ``series_metrics`` limits which metric summaries the
    per-bucket series entries carry (callers that chart only a few save the work; default: all)."""
    if group_by not in GROUP_BY:
        raise QueryError(f"parameter 'group_by' must be one of {', '.join(GROUP_BY)}.")
    if not isinstance(bucket, int) or not 1 <= bucket <= 86400:
        raise QueryError("parameter 'bucket' must be an integer number of seconds from 1 to 86400.")
    f = filters or Filters()
    if agg.answerable(f):
        found = stats_from_aggregates(store, group_by, bucket, f, series_metrics=series_metrics)
        if found is not None:
            return found
    streams = store.streams(f, None)
    lo = f.since_ns if f.since_ns is not None else min((st.start_ns for st in streams), default=0)
    hi = (
        f.until_ns
        if f.until_ns is not None
        else max((st.start_ns for st in streams), default=0) + bucket * NS
    )
    return dataclasses.replace(compute_stats(streams, group_by, bucket, (lo, hi)), source="streams")


# -- from the aggregates ----------------------------------------------------------------------------
def _aggregate_cells(
    store: SpanStore, plan: agg.Plan, group_by: str, width: int, filters: Filters
) -> dict[Cell, agg.AggState]:
    """The stored aggregate rows of the plan's tiers, merged per (group, bucket)."""
    by_key = group_by in agg.KEY_FIELDS
    rollup = agg.choose_rollup(filters, group_by)  # the fewest rows that still answer
    rows: dict[Cell, list[bytes]] = {}
    for tier, lo, hi in plan.tiers:
        part = dataclasses.replace(filters, since_ns=lo, until_ns=hi)
        for row in store.aggregates(tier, part, rollup=rollup):
            ck = (str(getattr(row, group_by)) if by_key else "all", row.slot_ns - row.slot_ns % width)
            rows.setdefault(ck, []).append(row.data)
    cells: dict[Cell, agg.AggState] = {}
    for ck, items in rows.items():
        cell = cells[ck] = agg.decode(items[0])  # a new state: the first row needs no merge into an empty one
        cell.merge_rows(items[1:])
    return cells


def _add_raw_edges(
    cells: dict[Cell, agg.AggState],
    store: SpanStore,
    plan: agg.Plan,
    group_by: str,
    width: int,
    filters: Filters,
) -> None:
    """Add the raw streams of the plan's partial edge minutes to their cells."""
    for lo, hi in plan.raw:
        for st in store.streams(dataclasses.replace(filters, since_ns=lo, until_ns=hi), None):
            ck = (group_key(st, group_by), st.start_ns - st.start_ns % width)
            got = cells.get(ck)
            if got is None:
                got = cells[ck] = agg.AggState()
            got.add(st)


def _merge_groups(cells: Mapping[Cell, agg.AggState]) -> dict[str, agg.AggState]:
    groups: dict[str, agg.AggState] = {}
    for (k, _b), cell in cells.items():
        g = groups.get(k)
        if g is None:
            g = groups[k] = agg.AggState()
        g.merge(cell)
    return groups


def stats_from_aggregates(
    store: SpanStore,
    group_by: str,
    bucket: int,
    filters: Filters,
    *,
    series_metrics: Sequence[str] | None = None,
) -> Stats | None:
    """:func:`compute_stats` from the store's aggregate rows (plus raw streams for partial edge minutes).

    None when the aggregates cannot answer: filters other than time range, service, model, provider and outcome,
    or a bucket that is not a whole number of minutes. Percentiles are within ``agg.RELATIVE_ERROR`` (relative) of
    the raw computation; counts, sums, means, min and max are exact.
    """
    plan = agg.plan(filters.since_ns, filters.until_ns, bucket)
    if plan is None or not agg.answerable(filters):
        return None
    width = bucket * NS
    cells = _aggregate_cells(store, plan, group_by, width, filters)
    _add_raw_edges(cells, store, plan, group_by, width, filters)
    groups = _merge_groups(cells)
    total = agg.AggState()
    for g in groups.values():
        total.merge(g)
    series = agg.METRICS if series_metrics is None else tuple(series_metrics)
    lo_ns = filters.since_ns if filters.since_ns is not None else (total.start_min_ns or 0)
    hi_ns = filters.until_ns if filters.until_ns is not None else (total.start_max_ns or 0) + width
    covered = covered_seconds(total.n, total.start_min_ns, total.start_max_ns)
    return Stats(
        group_by=group_by,
        bucket=bucket,
        since=lo_ns / NS,
        until=hi_ns / NS,
        covered_seconds=covered,
        total=state_figures(total, covered),
        groups=tuple(GroupFigures(k, state_figures(v, covered)) for k, v in sorted(groups.items())),
        series=tuple(
            BucketFigures(
                k, b / NS, (sec := bucket_seconds(b, bucket, (lo_ns, hi_ns))), state_figures(v, sec, series)
            )
            for (k, b), v in sorted(cells.items())
        ),
        source="aggregates",
        relative_error=agg.RELATIVE_ERROR,
    )
