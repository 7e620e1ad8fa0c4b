"""Query layer: pure functions (no Flask, no SQL). The HTTP API and the dashboard both call these.

Every ``list_*``/``get_*``/``stats`` function returns exactly the JSON-ready dict of the query API
(``GET /api/traces``, ``/api/traces/<id>``, ``/api/streams``, ``/api/streams/<id>/chunks``, ``/api/stats``);
:func:`live_streams` returns the rows of ``GET /api/live`` (streams in flight).
Bad parameters raise :class:`QueryError` whose message is one sentence (the HTTP layer answers 400 with it).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streamscope.collector import aggregates as agg
from streamscope.collector.model import (
    NS,
    OUTCOMES,
    STATUS_NAMES,
    Cursor,
    Filters,
    Span,
    Stream,
    seconds_to_ns,
)
from streamscope.collector.store import SpanStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: A stream in flight with no chunk for this many seconds is no longer live (its process may have died).
LIVE_WINDOW = 30.0
LIVE_LIMIT = 100
#: The "rate now" of a stream in flight is its chunks per second over this many seconds (see :func:`live_rate`).
LIVE_RATE_WINDOW = 3.0
#: How far the collector's view of a stream in flight may lag behind the app: our SDK exports the chunks of a
#: running stream every ``live_interval`` (1 s by default), plus a little for the export, transport and write.
#: A chunk the app received less than this long ago may not have arrived yet.
LIVE_LAG = 1.25
#: Silence longer than this (plus :data:`LIVE_LAG`) marks a stream in flight as stalled: the SDK's default
#: ``stall_threshold`` (``streamscope.tracing.rollups.DEFAULT_STALL_THRESHOLD``).
STALL_THRESHOLD = 2.0
GROUP_BY = ("model", "provider", "service", "outcome", "operation", "none")
_HEX = re.compile(r"^[0-9a-f]+$")
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: str.isdigit() also takes "²", which int() rejects


class QueryError(ValueError):
    """A bad query parameter; ``str(err)`` is a one-sentence reason."""


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


def summary(values: Iterable[float | None]) -> dict[str, float | None]:
    """p50/p95/p99/mean/max of the non-missing values."""
    xs = sorted(v for v in values if v is not None)
    return {
        "p50": percentile(xs, 50),
        "p95": percentile(xs, 95),
        "p99": percentile(xs, 99),
        "mean": (sum(xs) / len(xs)) if xs else None,
        "max": xs[-1] if xs else None,
        "count": len(xs),
    }


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


def tree_order(spans: Iterable[Span]) -> list[Span]:
    """Depth-first order, parents before children, siblings by start time; orphans are roots."""
    items = list(spans)
    ids = {s.span_id for s in items}
    children: dict[str | None, list[Span]] = {}
    for s in items:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    for kids in children.values():
        kids.sort(key=lambda s: (s.start_ns, s.span_id))
    out: list[Span] = []
    stack = list(reversed(children.get(None, [])))
    seen: set[str] = set()
    while stack:
        s = stack.pop()
        if s.span_id in seen:
            continue
        seen.add(s.span_id)
        out.append(s)
        stack.extend(reversed(children.get(s.span_id, [])))
    out.extend(s for s in items if s.span_id not in seen)  # cycles: still returned
    return out


# -- parameters -------------------------------------------------------------------------------------
_FILTER_KEYS = {
    "service", "model", "provider", "outcome", "status", "min_duration", "max_duration", "min_ttft", "session_id",
    "user_id", "since", "until", "q", "trace_id",
}  # fmt: skip


def _number(args: Mapping[str, str], key: str) -> float | None:
    raw = args.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(f"parameter {key!r} must be a number of seconds.") from None
    if not math.isfinite(value) or value < 0 or value > 1e11:
        raise QueryError(f"parameter {key!r} must be a finite, non-negative number of seconds.")
    return value


def _text(args: Mapping[str, str], key: str, max_len: int = 256) -> str | None:
    raw = args.get(key)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise QueryError(f"parameter {key!r} is longer than {max_len} characters.")
    return raw


def parse_filters(args: Mapping[str, str]) -> Filters:
    outcome = _text(args, "outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise QueryError(f"parameter 'outcome' must be one of {', '.join(OUTCOMES)}.")
    status = _text(args, "status")
    if status is not None and status not in STATUS_NAMES:
        raise QueryError(f"parameter 'status' must be one of {', '.join(STATUS_NAMES)}.")
    trace_id = _text(args, "trace_id")
    if trace_id is not None and not (len(trace_id) == 32 and _HEX.match(trace_id)):
        raise QueryError("parameter 'trace_id' must be 32 lowercase hex characters.")
    since = _number(args, "since")
    until = _number(args, "until")
    return Filters(
        service=_text(args, "service"),
        model=_text(args, "model"),
        provider=_text(args, "provider"),
        outcome=outcome,
        status=status,
        min_duration=_number(args, "min_duration"),
        max_duration=_number(args, "max_duration"),
        min_ttft=_number(args, "min_ttft"),
        session_id=_text(args, "session_id"),
        user_id=_text(args, "user_id"),
        since_ns=seconds_to_ns(since) if since is not None else None,
        until_ns=seconds_to_ns(until) if until is not None else None,
        search=_text(args, "q"),
        trace_id=trace_id,
    )


def parse_limit(args: Mapping[str, str]) -> int:
    raw = args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise QueryError(f"parameter 'limit' must be an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def parse_cursor(raw: str | None) -> Cursor | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 128:
        raise QueryError("parameter 'cursor' is not one this server issued.")
    try:
        return Cursor.decode(raw)
    except ValueError:
        raise QueryError("parameter 'cursor' is not one this server issued.") from None


def check_keys(args: Mapping[str, str], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    for key in args:
        if key not in allowed_set:
            raise QueryError(f"unknown parameter {key[:64]!r}.")


def parse_list_args(args: Mapping[str, str]) -> tuple[Filters, int, Cursor | None]:
    """Validate the parameters of ``/api/traces`` and ``/api/streams``."""
    check_keys(args, _FILTER_KEYS | {"limit", "cursor"})
    return parse_filters(args), parse_limit(args), parse_cursor(args.get("cursor"))


def _check_id(value: str, n: int, what: str) -> str:
    if len(value) != n or not _HEX.match(value):
        raise QueryError(f"{what} must be {n} lowercase hex characters.")
    return value


# -- API functions ----------------------------------------------------------------------------------
def list_traces(
    store: SpanStore,
    filters: Filters | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: Cursor | str | None = None,
) -> dict[str, Any]:
    cur = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    rows = store.traces(filters or Filters(), limit + 1, cur)
    page = rows[:limit]
    nxt = Cursor(page[-1].start_ns, page[-1].trace_id).encode() if len(rows) > limit else None
    return {"traces": [t.to_dict() for t in page], "next": nxt}


def get_trace(store: SpanStore, trace_id: str) -> dict[str, Any] | None:
    """All spans of a trace in tree order, with its streams; None when the trace is unknown."""
    _check_id(trace_id, 32, "trace id")
    spans = store.trace_spans(trace_id)
    if not spans:
        return None
    streams = store.streams(Filters(trace_id=trace_id), None)
    return {
        "trace_id": trace_id,
        "spans": [s.to_dict() for s in tree_order(spans)],
        "streams": [st.to_dict() for st in sorted(streams, key=lambda st: (st.start_ns, st.span_id))],
    }


def list_streams(
    store: SpanStore,
    filters: Filters | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: Cursor | str | None = None,
) -> dict[str, Any]:
    cur = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    rows = store.streams(filters or Filters(), limit + 1, cur)
    page = rows[:limit]
    nxt = Cursor(page[-1].start_ns, page[-1].span_id).encode() if len(rows) > limit else None
    return {"streams": [st.to_dict() for st in page], "next": nxt}


def stream_chunks(store: SpanStore, span_id: str) -> dict[str, Any] | None:
    """Chunk rows of a stream; None when neither the stream nor any chunk is known."""
    _check_id(span_id, 16, "span id")
    stream = store.stream(span_id)
    chunks = store.chunks(span_id)
    if stream is None and not chunks:
        return None
    return {
        "span_id": span_id,
        "stream": stream.to_dict() if stream is not None else None,
        "chunks": [c.to_dict() for c in chunks],
    }


def live_rate(
    chunk_count: int,
    last_offset: float,
    prev_count: int,
    prev_offset: float,
    now_offset: float,
    *,
    window: float = LIVE_RATE_WINDOW,
    lag: float = LIVE_LAG,
) -> float | None:
    """Pure: a stream in flight's chunks per second over the last ``window`` seconds, measured up to now.

    All times are seconds from the stream's start. What the collector knows of a stream in flight is two points
    of its cumulative chunk count, ``(prev_offset, prev_count)`` from the previous update and ``(last_offset,
    chunk_count)`` from the latest, and that no chunk arrived after ``last_offset``. That silence is only certain
    up to ``now - lag`` (a newer chunk may still be on its way), so the window ends at ``horizon = max(last_offset,
    now_offset - lag)``: while chunks keep arriving the rate is that of the latest update, and once the stream
    goes quiet the window slides over the silence and the rate falls to 0 (``lag + window`` seconds after the
    last chunk). Inside the latest update chunks are taken as evenly spread; a window reaching back past
    ``prev_offset`` shrinks to ``[prev_offset, horizon]`` (the collector has no finer history; the first update
    counts from the start). None when there is no time span to measure over.
    """
    horizon = max(last_offset, now_offset - lag)
    lo = horizon - window
    n = chunk_count - prev_count
    if lo <= prev_offset:
        span = horizon - prev_offset
        return n / span if span > 0 else None
    if lo >= last_offset:
        return 0.0
    return n * (last_offset - lo) / (last_offset - prev_offset) / window


def live_stalled_for(
    last_offset: float, now_offset: float, *, threshold: float = STALL_THRESHOLD, lag: float = LIVE_LAG
) -> float | None:
    """Pure: seconds since the latest chunk of a stream in flight when it has stalled, else None.

    Stalled means no chunk for more than ``threshold`` seconds *for certain*: the collector's view lags up to
    ``lag`` seconds, so the silence it sees must exceed ``threshold + lag`` (with the defaults, 1.2 s of real
    silence that looks like 2.2 s is not a stall; 3.25 s of seen silence is at least 2 s of real silence).
    """
    silent = now_offset - last_offset
    return silent if silent > threshold + lag else None


def live_streams(
    store: SpanStore,
    since_ns: int | None = None,
    limit: int = LIVE_LIMIT,
    *,
    now_ns: int | None = None,
    lag: float = LIVE_LAG,
    stall_threshold: float = STALL_THRESHOLD,
    rate_window: float = LIVE_RATE_WINDOW,
) -> list[dict[str, Any]]:
    """Streams in flight, newest first: chunk spans with the in-flight signal arrived, the stream's span not yet.

    A stream counts as in flight while its latest chunk arrived at or after ``since_ns`` (default: the last
    :data:`LIVE_WINDOW` seconds before ``now_ns``), so a stream whose process died mid-stream ages out. Each row:
    ``trace_id, span_id, service, model, provider, operation, start`` (the stream's start, epoch seconds),
    ``chunk_count`` (so far), ``last_offset`` (seconds from start to the latest chunk), ``last_chunk`` (epoch
    seconds), ``current_rate`` (chunks/s over the latest update; None when unknown; it does not fall while the
    stream is silent), ``recent_rate`` (chunks/s over the last ``rate_window`` seconds up to ``now_ns``, default
    the current time: :func:`live_rate`) and ``stalled_for`` (seconds since the latest chunk once the stream has
    been silent for longer than ``stall_threshold``, else None: :func:`live_stalled_for`).
    """
    now = time.time_ns() if now_ns is None else int(now_ns)
    if since_ns is None:
        since_ns = now - int(LIVE_WINDOW * NS)
    rows = []
    for lv in store.live(int(since_ns), max(1, min(int(limit), MAX_LIMIT))):
        row = lv.to_dict()
        now_offset = (now - lv.start_ns) / NS
        row["recent_rate"] = live_rate(
            lv.chunk_count,
            lv.last_offset,
            lv.prev_count,
            lv.prev_offset,
            now_offset,
            window=rate_window,
            lag=lag,
        )
        row["stalled_for"] = live_stalled_for(lv.last_offset, now_offset, threshold=stall_threshold, lag=lag)
        rows.append(row)
    return rows


def parse_live_args(args: Mapping[str, str]) -> tuple[int | None, int]:
    """Validate the parameters of ``/api/live``: ``since`` (epoch seconds) and ``limit``."""
    check_keys(args, ("since", "limit"))
    since = _number(args, "since")
    raw = args.get("limit")
    limit = LIVE_LIMIT if raw is None or raw == "" else parse_limit(args)
    return (seconds_to_ns(since) if since is not None else None), limit


def _key(st: Stream, group_by: str) -> str:
    return "all" if group_by == "none" else str(getattr(st, group_by) or "")


def _group_stats(streams: Sequence[Stream], seconds: float | None) -> dict[str, Any]:
    """One group's figures; ``seconds``: the time its per-second rates divide by (None: no rate)."""
    n = len(streams)
    outcomes = {o: 0 for o in OUTCOMES}
    for st in streams:
        outcomes[st.outcome] = outcomes.get(st.outcome, 0) + 1
    costs = [st.cost_usd for st in streams if st.cost_usd is not None]
    return {
        "count": n,
        "rate_per_second": rate(n, seconds or 0),
        "ttft": summary(st.ttft for st in streams),
        "time_to_first_chunk": summary(st.time_to_first_chunk for st in streams),
        "duration": summary(st.duration for st in streams),
        "gap_p95": summary(st.gap_p95 for st in streams),
        "gap_max": summary(st.gap_max for st in streams),
        "output_tokens_per_second": summary(st.output_tokens_per_second for st in streams),
        "outcomes": outcomes,
        "outcome_rates": outcome_rates(outcomes, n),
        "error_rate": error_rate(outcomes, n),
        "abandon_rate": ratio(outcomes.get("abandoned", 0), n),
        "stall_count": sum(st.stall_count or 0 for st in streams),
        "input_tokens": sum(st.input_tokens or 0 for st in streams),
        "output_tokens": sum(st.output_tokens or 0 for st in streams),
        "cost_usd_estimate": sum(costs) if costs else None,
        "chunks": sum(st.chunk_count or 0 for st in streams),
    }


def _state_stats(
    s: agg.AggState, seconds: float | None, metrics: Sequence[str] = agg.METRICS
) -> dict[str, Any]:
    """:func:`_group_stats` computed from an aggregate (percentiles within ``agg.RELATIVE_ERROR``)."""
    n = s.n
    outcomes = {o: 0 for o in OUTCOMES}
    for o, c in s.outcomes.items():
        outcomes[o] = outcomes.get(o, 0) + c
    m = s.metrics
    return {
        "count": n,
        "rate_per_second": rate(n, seconds or 0),
        **{name: m[i].summary() for i, name in enumerate(agg.METRICS) if name in metrics},
        "outcomes": outcomes,
        "outcome_rates": outcome_rates(outcomes, n),
        "error_rate": error_rate(outcomes, n),
        "abandon_rate": ratio(outcomes.get("abandoned", 0), n),
        "stall_count": s.stalls,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd_estimate": s.cost_sum if s.cost_n else None,
        "chunks": s.chunks,
    }


def compute_stats(
    streams: Sequence[Stream],
    group_by: str = "model",
    bucket: int = 60,
    window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Pure: percentiles (p50/p95/p99) of TTFT, duration and gaps, rates and tokens, per group and time bucket."""
    if window is None:
        lo = min((st.start_ns for st in streams), default=0)
        hi = max((st.start_ns for st in streams), default=0)
        window = (lo, hi + bucket * NS)
    covered = covered_seconds(
        len(streams),
        min((st.start_ns for st in streams), default=None),
        max((st.start_ns for st in streams), default=None),
    )
    groups: dict[str, list[Stream]] = {}
    series: dict[tuple[str, float], list[Stream]] = {}
    for st in streams:
        k = _key(st, group_by)
        groups.setdefault(k, []).append(st)
        series.setdefault((k, bucket_start(st.start_ns, bucket)), []).append(st)
    return {
        "group_by": group_by,
        "bucket": bucket,
        "since": window[0] / NS,
        "until": window[1] / NS,
        "covered_seconds": covered,
        "total": _group_stats(streams, covered),
        "groups": [{"key": k, **_group_stats(v, covered)} for k, v in sorted(groups.items())],
        "series": [
            {
                "key": k,
                "bucket_start": b,
                "seconds": (sec := bucket_seconds(round(b * NS), bucket, window)),
                **_group_stats(v, sec),
            }
            for (k, b), v in sorted(series.items())
        ],
    }


def stats(
    store: SpanStore,
    group_by: str = "model",
    bucket: int = 60,
    filters: Filters | None = None,
    *,
    series_metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """``GET /api/stats``: from the store's aggregates when the filters allow it (``"source": "aggregates"``),
    else from raw streams (``"source": "streams"``). ``series_metrics`` limits which metric summaries the
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
    return {**compute_stats(streams, group_by, bucket, (lo, hi)), "source": "streams"}


def stats_from_aggregates(
    store: SpanStore,
    group_by: str,
    bucket: int,
    filters: Filters,
    *,
    series_metrics: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """:func:`compute_stats` from the store's aggregate rows (plus raw streams for partial edge minutes).

    None when the aggregates cannot answer: filters other than time range, service, model, provider and outcome,
    or a bucket that is not a whole number of minutes. Percentiles are within ``agg.RELATIVE_ERROR`` (relative) of
    the raw computation; counts, sums, means, min and max are exact.
    """
    plan = agg.plan(filters.since_ns, filters.until_ns, bucket)
    if plan is None or not agg.answerable(filters):
        return None
    width = bucket * NS
    by_key = group_by in agg.KEY_FIELDS
    rollup = agg.choose_rollup(filters, group_by)  # the fewest rows that still answer
    rows: dict[tuple[str, int], list[bytes]] = {}
    for tier, lo, hi in plan.tiers:
        part = dataclasses.replace(filters, since_ns=lo, until_ns=hi)
        for row in store.aggregates(tier, part, rollup=rollup):
            ck = (str(getattr(row, group_by)) if by_key else "all", row.slot_ns - row.slot_ns % width)
            found = rows.get(ck)
            if found is None:
                rows[ck] = [row.data]
            else:
                found.append(row.data)
    cells: dict[tuple[str, int], agg.AggState] = {}
    for ck, items in rows.items():
        cell = cells[ck] = agg.AggState()
        cell.merge_rows(items)
    for lo, hi in plan.raw:
        for st in store.streams(dataclasses.replace(filters, since_ns=lo, until_ns=hi), None):
            ck = (_key(st, group_by), st.start_ns - st.start_ns % width)
            got = cells.get(ck)
            if got is None:
                got = cells[ck] = agg.AggState()
            got.add(st)
    groups: dict[str, agg.AggState] = {}
    for (k, _b), cell in cells.items():
        g = groups.get(k)
        if g is None:
            g = groups[k] = agg.AggState()
        g.merge(cell)
    total = agg.AggState()
    for g in groups.values():
        total.merge(g)
    series = agg.METRICS if series_metrics is None else tuple(series_metrics)
    lo_ns = filters.since_ns if filters.since_ns is not None else (total.start_min_ns or 0)
    hi_ns = filters.until_ns if filters.until_ns is not None else (total.start_max_ns or 0) + width
    covered = covered_seconds(total.n, total.start_min_ns, total.start_max_ns)
    return {
        "group_by": group_by,
        "bucket": bucket,
        "since": lo_ns / NS,
        "until": hi_ns / NS,
        "covered_seconds": covered,
        "total": _state_stats(total, covered),
        "groups": [{"key": k, **_state_stats(v, covered)} for k, v in sorted(groups.items())],
        "series": [
            {
                "key": k,
                "bucket_start": b / NS,
                "seconds": (sec := bucket_seconds(b, bucket, (lo_ns, hi_ns))),
                **_state_stats(v, sec, series),
            }
            for (k, b), v in sorted(cells.items())
        ],
        "source": "aggregates",
        "relative_error": agg.RELATIVE_ERROR,
    }


def parse_stats_args(args: Mapping[str, str]) -> tuple[str, int, Filters]:
    check_keys(args, _FILTER_KEYS | {"group_by", "bucket"})
    group_by = args.get("group_by") or "model"
    if group_by not in GROUP_BY:
        raise QueryError(f"parameter 'group_by' must be one of {', '.join(GROUP_BY)}.")
    raw = args.get("bucket") or "60"
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= 86400:
        raise QueryError("parameter 'bucket' must be an integer number of seconds from 1 to 86400.")
    return group_by, int(raw), parse_filters(args)
