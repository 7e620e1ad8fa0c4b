"""A :class:`~streamscope.dashboard.source.DataSource` over the collector's store and query layer.

The dashboard never writes SQL: it calls the collector's ``SpanStore`` Protocol (and its query functions) and
hands the pages the collector's frozen dataclasses (and the dashboard's own shapes built over them).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Sequence
from typing import Any

from streamscope.collector import model as cm
from streamscope.collector import query
from streamscope.collector.results import LiveRow, StreamPage, TraceDetail, TracePage
from streamscope.dashboard import overview_stats
from streamscope.dashboard.errors import BadParameter
from streamscope.dashboard.params import Filters
from streamscope.dashboard.source import Facets, LiveView, SessionDetail, SessionPage

FACETS_SAMPLE = 5000
FACETS_TTL = 15.0
STATS_CACHE_SIZE = 64
SESSION_TRACES = 500  # traces shown on a session's page (its latest)
NS = cm.NS


def open_store(path: str) -> Any:
    """Open the collector's SQLite store at ``path`` for reading.

    Raises:
        ValueError: If the file does not exist.
    """
    import os

    if path != ":memory:" and not os.path.exists(path):
        raise ValueError(f"No database at {path}; start the collector first or pass --db.")
    from streamscope.collector.store.sqlite import SQLiteStore

    return SQLiteStore(path)


def _to_collector(f: Filters) -> cm.Filters:
    return cm.Filters(
        service=f.service,
        model=f.model,
        outcome=f.outcome,
        status=f.status,
        min_duration=f.min_duration,
        max_duration=f.max_duration,
        min_ttft=f.min_ttft,
        session_id=f.session,
        user_id=f.user,
        since_ns=cm.seconds_to_ns(f.since) if f.since is not None else None,
        until_ns=cm.seconds_to_ns(f.until) if f.until is not None else None,
        search=f.q,
    )


def session_cursor(raw: str) -> tuple[int, str]:
    """A sessions-list cursor (``<last activity ns>_<session id, base64url>``) as ``SpanStore.sessions``' ``after``.

    Raises:
        BadParameter: If it is not one :meth:`CollectorSource.sessions` hands out.
    """
    start, sep, key = raw.partition("_")
    try:
        if not sep or not start.isascii() or not start.isdigit() or len(start) > 19:
            raise ValueError(raw)
        return int(start), base64.urlsafe_b64decode(key.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError):
        raise BadParameter("The cursor parameter is not a cursor this dashboard handed out.") from None


def _cursor(raw: str | None) -> cm.Cursor | None:
    if raw is None:
        return None
    try:
        return cm.Cursor.decode(raw)
    except ValueError:
        raise BadParameter("The cursor parameter is not a cursor this dashboard handed out.") from None


class CollectorSource:
    """Reads through a collector ``SpanStore``.

    Args:
        store: Any ``streamscope.collector.store.SpanStore`` (in-memory or SQLite).
        clock: Returns the current time in seconds (tests pass a fixed clock).
        stats_ttl: Seconds an overview aggregate is reused for the same filters (0 disables). The overview page
            and its chart request ask for the same aggregate within milliseconds; this computes it once.
        live_lag: Seconds the collector's view of a stream in flight may lag behind the app (the SDK's
            ``live_interval`` plus a little; None: ``query.LIVE_LAG``).
        stall_threshold: Seconds of silence after which a stream in flight shows as stalled (None:
            ``query.STALL_THRESHOLD``, the SDK's default stall threshold).
    """

    def __init__(
        self,
        store: Any,
        *,
        clock: Any = time.time,
        stats_ttl: float = 5.0,
        live_lag: float | None = None,
        stall_threshold: float | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._stats_ttl = stats_ttl
        self._live_lag = query.LIVE_LAG if live_lag is None else live_lag
        self._stall_threshold = query.STALL_THRESHOLD if stall_threshold is None else stall_threshold
        self._stats_cache: dict[tuple[Any, ...], tuple[float, overview_stats.Overview]] = {}
        self._facets: tuple[float, Facets] | None = None
        self._lock = threading.Lock()

    def traces(self, filters: Filters) -> TracePage:
        return query.list_traces(self.store, _to_collector(filters), filters.limit, _cursor(filters.cursor))

    def trace(self, trace_id: str) -> TraceDetail | None:
        return query.get_trace(self.store, trace_id)

    def streams(self, filters: Filters) -> StreamPage:
        return query.list_streams(self.store, _to_collector(filters), filters.limit, _cursor(filters.cursor))

    def stream(self, span_id: str) -> cm.Stream | None:
        found: cm.Stream | None = self.store.stream(span_id)
        return found

    def timings(self, filters: Filters, metrics: tuple[str, ...]) -> dict[str, list[float | None]]:
        rows = self.store.streams(_to_collector(filters), filters.limit)
        return {m: [getattr(s, m) for s in rows] for m in metrics}

    def chunks(self, span_id: str) -> list[cm.Chunk] | None:
        found = query.stream_chunks(self.store, span_id)
        return None if found is None else list(found.chunks)

    def stats(self, filters: Filters, *, bucket: int) -> overview_stats.Overview:
        key = (
            filters.service,
            filters.model,
            filters.session,
            filters.user,
            filters.range or filters.since,
            filters.until,
            bucket,
        )
        now = time.monotonic()
        with self._lock:
            hit = self._stats_cache.get(key)
            if hit is not None and now - hit[0] < self._stats_ttl:
                return hit[1]
        value = self._compute_stats(filters, bucket=bucket)
        if self._stats_ttl > 0:
            with self._lock:
                if len(self._stats_cache) >= STATS_CACHE_SIZE:
                    self._stats_cache.clear()
                self._stats_cache[key] = (now, value)
        return value

    def _compute_stats(self, filters: Filters, *, bucket: int) -> overview_stats.Overview:
        until = filters.until if filters.until is not None else self._clock()
        cf = _to_collector(
            Filters(
                service=filters.service,
                model=filters.model,
                session=filters.session,
                user=filters.user,
                since=filters.since,
                until=until,
            )
        )
        # query.stats reads the collector's per-minute aggregates when the filters and bucket allow it, and
        # falls back to raw streams otherwise (a session or user filter: aggregates are not keyed by them);
        # either way the numbers come as one query_stats.Stats.
        computed = query.stats(self.store, "model", bucket, cf, series_metrics=overview_stats.SERIES_METRICS)
        return overview_stats.reshape(computed, providers=self.facets().providers)

    def percentile(self, values: Sequence[float], q: float) -> float | None:
        """``query.percentile``: closest ranks, linear interpolation (what ``/api/stats`` computes)."""
        return query.percentile(values, q)

    @property
    def stall_threshold(self) -> float:
        return self._stall_threshold

    @property
    def live_supported(self) -> bool:
        """Whether the collector's query layer and this store report in-flight streams."""
        return callable(getattr(query, "live_streams", None)) and callable(getattr(self.store, "live", None))

    def live(self, *, window: float, session: str | None = None, user: str | None = None) -> list[LiveView]:
        """Streams in flight from ``query.live_streams(store, since_ns=now - window)``, newest first.

        Collector rows (``LiveRow``: the stream in flight, ``recent_rate``, ``stalled_for``), computed at this
        source's clock, become :class:`LiveView` rows (:func:`live_view`), which add ``elapsed`` (s since the stream started), ``last_chunk_age`` (s since its latest chunk) and
        ``chunks_per_second``: the rate now (``recent_rate``: chunks per second over the last few seconds up to
        now, allowing for the export lag, so it falls towards 0 while the stream is silent; see
        ``query.live_rate``). ``stalled_for`` is the seconds since the latest chunk once the stream has been
        silent for longer than the stall threshold plus the lag, else None (``query.live_stalled_for``). A stream with no chunk for ``window`` seconds is
        not listed. Without collector support the list is empty and the page says so.

        ``session`` / ``user`` keep the streams whose trace already has a stored step with that ``session.id`` /
        ``user.id`` (the stream's own span arrives only when it ends; the steps before it, such as the prompt,
        usually have); a stream whose trace has no stored step yet is left out until one arrives.
        """
        if not self.live_supported:
            return []
        now = self._clock()
        rows = query.live_streams(
            self.store,
            since_ns=int((now - window) * NS),
            now_ns=int(now * NS),
            lag=self._live_lag,
            stall_threshold=self._stall_threshold,
        )
        out = [live_view(row, now) for row in rows]
        if session is None and user is None:
            return out
        known: dict[str, bool] = {}
        for row in out:
            if row.trace_id not in known:
                spans = self.store.trace_spans(row.trace_id)
                known[row.trace_id] = (session is None or any(s.session_id == session for s in spans)) and (
                    user is None or any(s.user_id == user for s in spans)
                )
        return [row for row in out if known[row.trace_id]]

    def error_rows(self, filters: Filters, *, limit: int) -> list[cm.ErrorRow]:
        return list(self.store.error_rows(_to_collector(filters), limit))

    def sessions(self, filters: Filters) -> SessionPage:
        after = None if filters.cursor is None else session_cursor(filters.cursor)
        rows = self.store.sessions(_to_collector(filters), filters.limit + 1, after)
        page = rows[: filters.limit]
        nxt = None
        if len(rows) > filters.limit:
            nxt = (
                f"{page[-1].last_start_ns}_{base64.urlsafe_b64encode(page[-1].session_id.encode()).decode()}"
            )
        return SessionPage(tuple(page), nxt)

    def session(self, session_id: str) -> SessionDetail | None:
        found = self.store.sessions(cm.Filters(session_id=session_id), 1)
        if not found:
            return None
        traces = self.store.traces(cm.Filters(session_id=session_id), SESSION_TRACES)
        # The streams of these traces in one read: a trace's streams start within its span of time, so the
        # session's streams between its first shown trace's start and last end, kept if their trace is shown.
        streams = []
        if traces:
            shown = {t.trace_id for t in traces}
            during = cm.Filters(session_id=session_id, since_ns=min(t.start_ns for t in traces),
                                until_ns=max(t.end_ns for t in traces) + 1)  # fmt: skip
            streams = [st for st in self.store.streams(during, None) if st.trace_id in shown]
        return SessionDetail(
            session=found[0],
            traces=tuple(reversed(traces)),
            streams=tuple(sorted(streams, key=lambda st: (st.start_ns, st.span_id))),
            truncated=found[0].trace_count > len(traces),
        )

    def is_empty(self) -> bool:
        return not self.store.traces(cm.Filters(), 1) and not self.store.live(0, 1)

    def facets(self) -> Facets:
        with self._lock:
            now = time.monotonic()
            if self._facets is not None and now - self._facets[0] < FACETS_TTL:
                return self._facets[1]
        rows = self.store.streams(cm.Filters(), FACETS_SAMPLE)
        value = Facets(
            services=tuple(sorted({s.service for s in rows if s.service})),
            models=tuple(sorted({s.model for s in rows if s.model})),
            providers={s.model: s.provider for s in rows if s.model and s.provider},
        )
        with self._lock:
            self._facets = (now, value)
        return value


def live_view(row: LiveRow, now: float) -> LiveView:
    """The live page's row of a stream in flight at ``now`` (epoch seconds)."""
    lv = row.stream
    start = lv.start_ns / NS
    elapsed = max(now - start, 0.0)
    return LiveView(
        trace_id=lv.trace_id,
        span_id=lv.span_id,
        service=lv.service,
        model=lv.model,
        provider=lv.provider,
        operation=lv.operation,
        start=start,
        chunk_count=lv.chunk_count,
        last_offset=lv.last_offset,
        last_chunk=lv.last_ns / NS,
        current_rate=lv.current_rate,
        recent_rate=row.recent_rate,
        stalled_for=row.stalled_for,
        elapsed=elapsed,
        last_chunk_age=max(elapsed - lv.last_offset, 0.0),
        chunks_per_second=row.recent_rate,
    )
