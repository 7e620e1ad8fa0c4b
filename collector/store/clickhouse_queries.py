"""The ClickHouse read path: every query of the SpanStore Protocol over the deduplicated rows (``FINAL``).

Filters become server-side bound parameters (``{name:Type}``), never SQL text. Text search matches like every
other store: ASCII lower-case (ClickHouse's ``lower``) and a plain substring (``position``), so ``%`` and ``_``
are ordinary characters.

Newest-first lists (traces, streams, failed spans) read a time window, not the whole table: they ask for the rows
that start in the last minute, then ten minutes, an hour and so on (:func:`newest`), and stop at the first window
that holds a full page. Every row outside a window starts before it, so the first full window's page is the
page of the whole table: the answer is the same, only the rows read change (day partitions and the streams'
start-time sorting key skip the rest: ``PER_PARTITION``). A trace's spans and streams start at or after the
trace, so the window bounds the subqueries of a trace filter too.

Sessions read ``session_traces`` (``clickhouse_sessions``), the trace summaries sorted by session id: one session is
one key range, and the sessions list sums only its page's sessions, found in the window's trace summaries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streamscope.collector import aggregates as agg
from streamscope.collector.model import (
    NS,
    Chunk,
    Cursor,
    Filters,
    LiveStream,
    SessionSummary,
    Stream,
    TraceSummary,
)
from streamscope.collector.rollup import ascii_lower
from streamscope.collector.store.clickhouse_writer import (
    CHUNK_COLUMNS,
    SPAN_COLUMNS,
    STREAM_COLUMNS,
    TRACE_COLUMNS,
    Client,
)

# The windows a newest-first list widens through, in seconds before its anchor; after the last, no window.
WINDOWS_S = (60, 600, 6_000, 60_000, 600_000, 6_000_000)


def newest(
    run: Callable[[int | None], list[Any]], limit: int | None, anchor_ns: int, since_ns: int | None
) -> list[Any]:
    """The first ``limit`` rows of a newest-first list, read through widening time windows.

    ``run(lo)`` answers the list restricted to rows starting at or after ``lo`` (``None``: no window). Rows outside
    a window start before every row in it, so a window holding ``limit`` rows holds the list's first ``limit``.
    ``anchor_ns``: where the windows end (now, the cursor or the filter's end); ``since_ns``: the filter's start
    (a window reaching before it reads nothing more than the filter does).
    """
    if limit is None:
        return run(None)
    for width in WINDOWS_S:
        lo = anchor_ns - width * NS
        if since_ns is not None and lo <= since_ns:
            break
        rows = run(lo)
        if len(rows) >= limit:
            return rows
    return run(None)


# List reads collapse copies of a row within each day partition only (``FINAL`` per partition), so the day
# partitions outside a window are skipped and the skip indexes (start time, session) apply. The same copies
# collapse: the write path never stores two versions of a row in different day partitions (a span keeps its start
# when re-delivered; a trace summary whose start moved to another day is deleted from the old one; a stored stream
# or chunk is not inserted again).
PER_PARTITION = {"do_not_merge_across_partitions_select_final": 1}


def _anchor(f: Filters, cursor_ns: int | None) -> int:
    ends = [time.time_ns()] + [x for x in (f.until_ns, cursor_ns) if x is not None]
    return min(ends)


class _Where:
    """WHERE clauses with bound parameters named p0, p1, ..."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: dict[str, Any] = {}

    def p(self, value: Any, typ: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{typ}}}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


class Queries:
    def __init__(self, client: Client, table: Callable[[str], str]) -> None:
        self.c = client
        self.t = table

    def _search(self, w: _Where, needle: str) -> str:
        n = w.p(ascii_lower(needle), "String")
        return f"position(lower(name), {n}) > 0 OR position(lower(attributes), {n}) > 0"

    def _of_session(self, col: str, v: str) -> str:
        """The trace ids whose summary names ``v`` (a bound parameter) in ``col``: for a session, one range of
        ``session_traces``; for a user, the trace summaries."""
        if col == "session_id":
            return (
                f"SELECT trace_id FROM {self.t('session_traces')} FINAL WHERE session_id = {v} AND gone = 0"
            )
        return f"SELECT trace_id FROM {self.t('traces')} FINAL WHERE {col} = {v}"

    def traces(self, f: Filters, limit: int, cursor: Cursor | None) -> list[TraceSummary]:
        if f.session_id is not None:  # one session's traces: a few key lookups, no window needed
            return self._traces(f, limit, cursor, None)
        return newest(
            lambda lo: self._traces(f, limit, cursor, lo),
            limit,
            _anchor(f, cursor.start_ns if cursor else None),
            f.since_ns,
        )

    def _traces(self, f: Filters, limit: int, cursor: Cursor | None, lo: int | None) -> list[TraceSummary]:
        w = _Where()
        # a trace's spans and streams start in its window too
        win = "" if lo is None else f" AND start_ns >= {w.p(lo, 'Int64')}"
        if lo is not None:
            w.add(f"start_ns >= {w.p(lo, 'Int64')}")
        for col, val in (("trace_id", f.trace_id), ("service", f.service), ("status", f.status),
                         ("session_id", f.session_id), ("user_id", f.user_id)):  # fmt: skip
            if val is not None:
                w.add(f"{col} = {w.p(val, 'String')}")
        if f.min_duration is not None:
            w.add(f"(end_ns - start_ns) / 1e9 >= {w.p(f.min_duration, 'Float64')}")
        if f.max_duration is not None:
            w.add(f"(end_ns - start_ns) / 1e9 <= {w.p(f.max_duration, 'Float64')}")
        if f.since_ns is not None:
            w.add(f"start_ns >= {w.p(f.since_ns, 'Int64')}")
        if f.until_ns is not None:
            w.add(f"start_ns < {w.p(f.until_ns, 'Int64')}")
        streams = self.t("streams")
        for col, val in (("model", f.model), ("outcome", f.outcome), ("provider", f.provider)):
            if val is not None:
                w.add(
                    f"trace_id IN (SELECT trace_id FROM {streams} FINAL WHERE {col} = {w.p(val, 'String')}{win})"
                )
        if f.min_ttft is not None:
            w.add(
                f"trace_id IN (SELECT trace_id FROM {streams} FINAL WHERE ttft >= {w.p(f.min_ttft, 'Float64')}{win})"
            )
        if f.search is not None:
            w.add(f"trace_id IN (SELECT trace_id FROM {self.t('spans')} FINAL"
                  f" WHERE ({self._search(w, f.search)}){win})")  # fmt: skip
        if cursor is not None:
            s, k = w.p(cursor.start_ns, "Int64"), w.p(cursor.key, "String")
            w.add(f"(start_ns < {s} OR (start_ns = {s} AND trace_id < {k}))")
        table = "traces"
        if f.session_id is not None:  # one session's summaries: one range of their copies by session
            table = "session_traces"
            w.add("gone = 0")
        sql = (f"SELECT {', '.join(TRACE_COLUMNS)} FROM {self.t(table)} FINAL{w.sql()}"
               f" ORDER BY start_ns DESC, trace_id DESC LIMIT {int(limit)}")  # fmt: skip
        return [
            TraceSummary(*r)
            for r in self.c.query(sql, parameters=w.params, settings=PER_PARTITION).result_rows
        ]

    def trace_spans(self, trace_id: str) -> list[tuple[Any, ...]]:
        sql = f"SELECT {', '.join(SPAN_COLUMNS)} FROM {self.t('spans')} FINAL WHERE trace_id = {{tid:String}}"
        return list(self.c.query(sql, parameters={"tid": trace_id}).result_rows)

    def streams(self, f: Filters, limit: int | None, cursor: Cursor | None) -> list[Stream]:
        return newest(
            lambda lo: self._streams(f, limit, cursor, lo),
            limit,
            _anchor(f, cursor.start_ns if cursor else None),
            f.since_ns,
        )

    def _streams(self, f: Filters, limit: int | None, cursor: Cursor | None, lo: int | None) -> list[Stream]:
        w = _Where()
        if lo is not None:
            w.add(f"start_ns >= {w.p(lo, 'Int64')}")
        for col, val in (("trace_id", f.trace_id), ("service", f.service), ("model", f.model),
                         ("outcome", f.outcome), ("provider", f.provider)):  # fmt: skip
            if val is not None:
                w.add(f"{col} = {w.p(val, 'String')}")
        traces = self.t("traces")
        if f.status is not None:
            w.add(
                f"trace_id IN (SELECT trace_id FROM {traces} FINAL WHERE status = {w.p(f.status, 'String')})"
            )
        if f.min_duration is not None:
            w.add(f"greatest(0, end_ns - start_ns) / 1e9 >= {w.p(f.min_duration, 'Float64')}")
        if f.max_duration is not None:
            w.add(f"greatest(0, end_ns - start_ns) / 1e9 <= {w.p(f.max_duration, 'Float64')}")
        if f.min_ttft is not None:
            w.add(f"ttft >= {w.p(f.min_ttft, 'Float64')}")
        if f.since_ns is not None:
            w.add(f"start_ns >= {w.p(f.since_ns, 'Int64')}")
        if f.until_ns is not None:
            w.add(f"start_ns < {w.p(f.until_ns, 'Int64')}")
        for col, val in (("session_id", f.session_id), ("user_id", f.user_id)):
            if val is not None:
                v = w.p(val, "String")
                w.add(f"({col} = {v} OR trace_id IN ({self._of_session(col, v)}))")
        if f.search is not None:
            w.add(f"(trace_id, span_id) IN (SELECT trace_id, span_id FROM {self.t('spans')} FINAL"
                  f" WHERE {self._search(w, f.search)})")  # fmt: skip
        if cursor is not None:
            s, k = w.p(cursor.start_ns, "Int64"), w.p(cursor.key, "String")
            w.add(f"(start_ns < {s} OR (start_ns = {s} AND span_id < {k}))")
        sql = (f"SELECT {', '.join(STREAM_COLUMNS)} FROM {self.t('streams')} FINAL{w.sql()}"
               " ORDER BY start_ns DESC, span_id DESC")  # fmt: skip
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            Stream(*r) for r in self.c.query(sql, parameters=w.params, settings=PER_PARTITION).result_rows
        ]

    def error_spans(self, f: Filters, limit: int) -> list[tuple[Any, ...]]:
        """Failed spans (status error) newest first, as span rows (the store turns them into ``ErrorRow``)."""
        return newest(lambda lo: self._error_spans(f, limit, lo), limit, _anchor(f, None), f.since_ns)

    def _error_spans(self, f: Filters, limit: int, lo: int | None) -> list[tuple[Any, ...]]:
        w = _Where()
        w.add("status_code = 2")
        if lo is not None:
            w.add(f"start_ns >= {w.p(lo, 'Int64')}")
        if f.since_ns is not None:
            w.add(f"start_ns >= {w.p(f.since_ns, 'Int64')}")
        if f.until_ns is not None:
            w.add(f"start_ns < {w.p(f.until_ns, 'Int64')}")
        if f.service is not None:
            w.add(f"service = {w.p(f.service, 'String')}")
        for col, val in (("session_id", f.session_id), ("user_id", f.user_id)):
            if val is not None:  # on the span or on its trace
                v = w.p(val, "String")
                w.add(f"({col} = {v} OR trace_id IN ({self._of_session(col, v)}))")
        sql = (f"SELECT {', '.join(SPAN_COLUMNS)} FROM {self.t('spans')} FINAL{w.sql()}"
               f" ORDER BY start_ns DESC, span_id DESC LIMIT {int(limit)}")  # fmt: skip
        return list(self.c.query(sql, parameters=w.params, settings=PER_PARTITION).result_rows)

    def sessions(self, f: Filters, limit: int, after: tuple[int, str] | None = None) -> list[SessionSummary]:
        """Sessions newest first (by their last trace's start), each summed over all its traces (that match the
        filters). A window holds the sessions with a trace starting in it; one session is one range of
        ``session_traces``."""
        if f.session_id is not None:
            return self._sessions(f, limit, after, None)
        anchor = _anchor(f, None if after is None else after[0])
        return newest(lambda lo: self._sessions(f, limit, after, lo), limit, anchor, f.since_ns)

    def _sessions(
        self, f: Filters, limit: int, after: tuple[int, str] | None, lo: int | None
    ) -> list[SessionSummary]:
        """The page's sessions are found in the trace summaries starting at or after ``lo`` (every trace of a
        session in the window's page starts there or earlier, and its latest in the window: its ``last`` is the
        window's), then summed from their copies by session (a few ranges, however many traces are stored)."""
        w = _Where()
        for col, val in (("user_id", f.user_id), ("service", f.service), ("session_id", f.session_id)):
            if val is not None:
                w.add(f"{col} = {w.p(val, 'String')}")
        if f.since_ns is not None:
            w.add(f"start_ns >= {w.p(f.since_ns, 'Int64')}")
        if f.until_ns is not None:
            w.add(f"start_ns < {w.p(f.until_ns, 'Int64')}")
        having = ""
        if after is not None:
            last, sid = w.p(after[0], "Int64"), w.p(after[1], "String")
            having = f" HAVING max(start_ns) < {last} OR (max(start_ns) = {last} AND sid > {sid})"
        if f.session_id is None:  # the page's sessions, from the trace summaries (of the window)
            find = [*w.clauses, "session_id IS NOT NULL"]
            if lo is not None:
                find.append(f"start_ns >= {w.p(lo, 'Int64')}")
            w.add(f"session_id IN (SELECT assumeNotNull(session_id) AS sid FROM {self.t('traces')} FINAL"
                  f" WHERE {' AND '.join(find)} GROUP BY sid{having} ORDER BY max(start_ns) DESC, sid"
                  f" LIMIT {int(limit)})")  # fmt: skip
            having = ""  # the page's sessions are past the cursor
        w.add("gone = 0")
        sql = ("SELECT session_id AS sid, max(user_id), min(start_ns), max(end_ns), count(),"
               " countIf(status = 'error'), sum(stream_count), max(start_ns) AS last"
               f" FROM {self.t('session_traces')} FINAL{w.sql()} GROUP BY sid{having} ORDER BY last DESC, sid"
               f" LIMIT {int(limit)}")  # fmt: skip
        return [
            SessionSummary(*r)
            for r in self.c.query(sql, parameters=w.params, settings=PER_PARTITION).result_rows
        ]

    def stream(self, span_id: str) -> Stream | None:
        rows = self.c.query(
            f"SELECT {', '.join(STREAM_COLUMNS)} FROM {self.t('streams')} FINAL WHERE span_id = {{sid:String}}"
            " ORDER BY ver DESC LIMIT 1",
            parameters={"sid": span_id},
        ).result_rows
        return Stream(*rows[0]) if rows else None

    def chunks(self, span_id: str) -> list[Chunk]:
        cols = ", ".join(f"`{c}`" for c in CHUNK_COLUMNS)
        rows = self.c.query(
            f"SELECT {cols} FROM {self.t('chunks')} FINAL WHERE span_id = {{sid:String}} ORDER BY idx",
            parameters={"sid": span_id},
        ).result_rows
        return [Chunk(*r) for r in rows]

    def live(self, since_ns: int, limit: int) -> list[LiveStream]:
        """Live reports merged per stream: identity from the first report, counts from the highest, the previous
        update from the next highest (the order the reports were written in does not matter)."""
        live = self.t("live")
        rows = self.c.query(
            "SELECT span_id, trace_id, service, model, provider, operation, start_ns, last_ns, chunk_count,"
            f" last_offset, ver FROM {live} FINAL WHERE span_id IN (SELECT span_id FROM {live}"
            " GROUP BY span_id HAVING max(last_ns) >= {since:Int64})"
            f" AND span_id NOT IN (SELECT span_id FROM {self.t('streams')}"
            f" WHERE span_id IN (SELECT span_id FROM {live}))",
            parameters={"since": since_ns},
        ).result_rows
        by_span: dict[str, list[tuple[Any, ...]]] = {}
        for r in rows:
            by_span.setdefault(r[0], []).append(r)
        out = []
        for reports in by_span.values():
            ident = max(reports, key=lambda r: r[10])  # the first written (highest first-wins version)
            top = max(r[8] for r in reports)
            older = [r for r in reports if r[8] < top]
            out.append(LiveStream(
                ident[1], ident[0], ident[2], ident[3], ident[4], ident[5], ident[6],
                max(r[7] for r in reports), top, max(r[9] for r in reports),
                max((r[8] for r in older), default=0), max((r[9] for r in older), default=0.0),
            ))  # fmt: skip
        out.sort(key=lambda lv: (lv.start_ns, lv.span_id), reverse=True)
        return out[:limit]

    def counts(self) -> dict[str, int]:
        names = ("spans", "streams", "chunks", "traces")
        sql = "SELECT " + ", ".join(f"(SELECT count() FROM {self.t(n)} FINAL)" for n in names)
        return dict(zip(names, map(int, self.c.query(sql).result_rows[0]), strict=True))

    def aggregates(self, width_s: int, f: Filters, rollup: int) -> list[agg.Aggregate]:
        w = _Where()
        w.add(f"width = {w.p(width_s, 'UInt32')}")
        w.add(f"rollup = {w.p(rollup, 'UInt8')}")
        w.add("n > 0")
        if f.since_ns is not None:
            w.add(f"slot_ns >= {w.p(f.since_ns, 'Int64')}")
        if f.until_ns is not None:
            w.add(f"slot_ns < {w.p(f.until_ns, 'Int64')}")
        for col in ("service", "model", "provider", "outcome"):
            val = getattr(f, col)
            if val is not None:
                w.add(f"{col} = {w.p(val, 'String')}")
        sql = (
            "SELECT width, slot_ns, if(rollup < 2, service, NULL), model, provider, if(rollup = 0, operation, NULL),"
            f" if(rollup = 0, outcome, NULL), state FROM {self.t('aggregates')} FINAL{w.sql()}"
        )
        res = self.c.query(sql, parameters=w.params, column_formats={"state": "bytes"})
        return [agg.Aggregate(*r) for r in res.result_rows]
