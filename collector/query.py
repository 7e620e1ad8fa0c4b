"""Query layer: pure functions (no Flask, no SQL). The HTTP API and the dashboard both call these.

Each ``list_*``/``get_*`` function answers one frozen record of :mod:`~streamscope.collector.results` whose
``to_dict()`` is the JSON of the query API (``GET /api/traces``, ``/api/traces/<id>``, ``/api/streams``,
``/api/streams/<id>/chunks``); ``/api/stats`` is :mod:`~streamscope.collector.query_stats`, ``/api/live``
:mod:`~streamscope.collector.query_live` and the parameters :mod:`~streamscope.collector.query_params` (their
names are re-exported here). Bad parameters raise :class:`QueryError` whose message is one sentence (the HTTP
layer answers 400 with it).
"""

from __future__ import annotations

from collections.abc import Iterable

from streamscope.collector.model import Cursor, Filters, Span
from streamscope.collector.query_live import (
    LIVE_LAG,
    LIVE_RATE_WINDOW,
    LIVE_WINDOW,
    STALL_THRESHOLD,
    live_rate,
    live_stalled_for,
    live_streams,
)
from streamscope.collector.query_params import (
    DEFAULT_LIMIT,
    GROUP_BY,
    LIVE_LIMIT,
    MAX_LIMIT,
    QueryError,
    check_id,
    check_keys,
    parse_cursor,
    parse_filters,
    parse_limit,
    parse_list_args,
    parse_live_args,
    parse_stats_args,
)
from streamscope.collector.query_params import FILTER_KEYS as _FILTER_KEYS
from streamscope.collector.query_stats import (
    bucket_seconds,
    bucket_start,
    compute_stats,
    covered_seconds,
    error_rate,
    outcome_rates,
    percentile,
    rate,
    ratio,
    stats,
    stats_from_aggregates,
    summary,
)
from streamscope.collector.results import StreamChunks, StreamPage, TraceDetail, TracePage
from streamscope.collector.store import SpanStore

__all__ = [
    "DEFAULT_LIMIT", "GROUP_BY", "LIVE_LAG", "LIVE_LIMIT", "LIVE_RATE_WINDOW", "LIVE_WINDOW", "MAX_LIMIT",
    "STALL_THRESHOLD", "_FILTER_KEYS", "QueryError", "bucket_seconds", "bucket_start", "check_keys",
    "compute_stats", "covered_seconds", "error_rate", "get_trace", "list_streams", "list_traces", "live_rate",
    "live_stalled_for", "live_streams", "outcome_rates", "parse_cursor", "parse_filters", "parse_limit",
    "parse_list_args", "parse_live_args", "parse_stats_args", "percentile", "rate", "ratio", "stats",
    "stats_from_aggregates", "stream_chunks", "summary", "tree_order",
]  # fmt: skip


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


def list_traces(
    store: SpanStore,
    filters: Filters | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: Cursor | str | None = None,
) -> TracePage:
    cur = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    rows = store.traces(filters or Filters(), limit + 1, cur)
    page = rows[:limit]
    nxt = Cursor(page[-1].start_ns, page[-1].trace_id).encode() if len(rows) > limit else None
    return TracePage(tuple(page), nxt)


def get_trace(store: SpanStore, trace_id: str) -> TraceDetail | None:
    """All spans of a trace in tree order, with its streams; None when the trace is unknown."""
    check_id(trace_id, 32, "trace id")
    spans = store.trace_spans(trace_id)
    if not spans:
        return None
    streams = store.streams(Filters(trace_id=trace_id), None)
    return TraceDetail(
        trace_id, tuple(tree_order(spans)), tuple(sorted(streams, key=lambda st: (st.start_ns, st.span_id)))
    )


def list_streams(
    store: SpanStore,
    filters: Filters | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: Cursor | str | None = None,
) -> StreamPage:
    cur = parse_cursor(cursor) if isinstance(cursor, str) else cursor
    rows = store.streams(filters or Filters(), limit + 1, cur)
    page = rows[:limit]
    nxt = Cursor(page[-1].start_ns, page[-1].span_id).encode() if len(rows) > limit else None
    return StreamPage(tuple(page), nxt)


def stream_chunks(store: SpanStore, span_id: str) -> StreamChunks | None:
    """Chunk rows of a stream; None when neither the stream nor any chunk is known."""
    check_id(span_id, 16, "span id")
    stream = store.stream(span_id)
    chunks = store.chunks(span_id)
    if stream is None and not chunks:
        return None
    return StreamChunks(span_id, stream, tuple(chunks))
