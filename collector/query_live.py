"""Streams in flight (``GET /api/live``): which streams are live, their rate now and whether they stalled.

:func:`live_rate` and :func:`live_stalled_for` are pure; :func:`live_streams` applies them to the store's rows.
"""

from __future__ import annotations

import time

from streamscope.collector.model import NS
from streamscope.collector.query_params import LIVE_LIMIT, MAX_LIMIT
from streamscope.collector.results import LiveRow
from streamscope.collector.store import SpanStore

#: A stream in flight with no chunk for this many seconds is no longer live (its process may have died).
LIVE_WINDOW = 30.0
#: The "rate now" of a stream in flight is its chunks per second over this many seconds (see :func:`live_rate`).
LIVE_RATE_WINDOW = 3.0
#: How far the collector's view of a stream in flight may lag behind the app: our SDK exports the chunks of a
#: running stream every ``live_interval`` (1 s by default), plus a little for the export, transport and write.
#: A chunk the app received less than this long ago may not have arrived yet.
LIVE_LAG = 1.25
#: Silence longer than this (plus :data:`LIVE_LAG`) marks a stream in flight as stalled: the SDK's default
#: ``stall_threshold`` (``streamscope.tracing.rollups.DEFAULT_STALL_THRESHOLD``).
STALL_THRESHOLD = 2.0


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
) -> list[LiveRow]:
    """Streams in flight, newest first: chunk spans with the in-flight signal arrived, the stream's span not yet.

    A stream counts as in flight while its latest chunk arrived at or after ``since_ns`` (default: the last
    :data:`LIVE_WINDOW` seconds before ``now_ns``), so a stream whose process died mid-stream ages out. Each
    :class:`~streamscope.collector.results.LiveRow` holds the store's ``LiveStream`` (identity, start, chunks so
    far, latest offset, ``current_rate``: chunks/s over the latest update, which does not fall while the stream
    is silent), its ``recent_rate`` (chunks/s over the last ``rate_window`` seconds up to ``now_ns``, default the
    current time: :func:`live_rate`) and ``stalled_for`` (seconds since the latest chunk once the stream has been
    silent for longer than ``stall_threshold``, else None: :func:`live_stalled_for`).
    """
    now = time.time_ns() if now_ns is None else int(now_ns)
    if since_ns is None:
        since_ns = now - int(LIVE_WINDOW * NS)
    rows = []
    for lv in store.live(int(since_ns), max(1, min(int(limit), MAX_LIMIT))):
        now_offset = (now - lv.start_ns) / NS
        recent = live_rate(
            lv.chunk_count,
            lv.last_offset,
            lv.prev_count,
            lv.prev_offset,
            now_offset,
            window=rate_window,
            lag=lag,
        )
        stalled = live_stalled_for(lv.last_offset, now_offset, threshold=stall_threshold, lag=lag)
        rows.append(LiveRow(lv, recent, stalled))
    return rows
