"""The SQLite store's queries behind the dashboard's debugging views: failed spans and sessions.

Kept apart from ``sqlite.py`` (storage, aggregates, the list queries); both read through the same per-thread
reader connection and the schema's partial indexes ``spans_errors`` and ``traces_session``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from streamscope.collector.model import ErrorRow, Filters, SessionSummary
from streamscope.collector.store.sqlite_tx import read_snapshot


def error_rows(con: sqlite3.Connection, filters: Filters, limit: int) -> list[ErrorRow]:
    """``SpanStore.error_rows`` over a reader connection."""
    f = filters
    where = ["x.status_code = 2"]
    p: list[Any] = []
    if f.since_ns is not None:
        where.append("x.start_ns >= ?")
        p.append(f.since_ns)
    if f.until_ns is not None:
        where.append("x.start_ns < ?")
        p.append(f.until_ns)
    if f.service is not None:
        where.append("x.service = ?")
        p.append(f.service)
    for col, val in (("session_id", f.session_id), ("user_id", f.user_id)):
        if val is not None:
            # the trace's ids are listed once (by index), not looked up per failed span
            where.append(
                f"(x.{col} = ? OR x.trace_id IN (SELECT t.trace_id FROM traces t WHERE t.{col} = ?))"
            )
            p.extend([val, val])
    p.append(int(limit))
    # the latest exception event's fields, read in SQL so the events' other attributes (stack traces) stay
    # undecoded
    exc = (
        "(SELECT json_extract(e.value, '$.attributes.\"{key}\"') FROM json_each(x.events) e"
        " WHERE json_extract(e.value, '$.name') = 'exception' ORDER BY e.key DESC LIMIT 1)"
    )
    rows = con.execute(
        "SELECT x.trace_id, x.span_id, x.name, x.start_ns,"
        f" coalesce({exc.format(key='exception.type')}, json_extract(x.attributes, '$.\"error.type\"')),"
        f" coalesce({exc.format(key='exception.message')}, x.status_message),"
        " json_extract(x.attributes, '$.\"http.response.status_code\"')"
        f" FROM spans x INDEXED BY spans_errors WHERE {' AND '.join(where)}"
        " ORDER BY x.start_ns DESC, x.span_id DESC LIMIT ?",
        p,
    )
    return [
        ErrorRow(
            r[0],
            r[1],
            r[2],
            r[3],
            None if r[4] is None else str(r[4]),
            str(r[5] or ""),
            r[6] if isinstance(r[6], int) else None,
        )
        for r in rows
    ]


def sessions(
    con: sqlite3.Connection, filters: Filters, limit: int, after: tuple[int, str] | None = None
) -> list[SessionSummary]:
    """``SpanStore.sessions`` over a reader connection.

    Walks the matching traces newest first (ties by session id); the first ``limit`` distinct sessions met are
    those with the latest activity. After a cursor the walk starts at its time, and a session met there that
    has a later trace, or ties the cursor's and sorts before it, was on an earlier page: its rollup says so."""
    f = filters
    where = ["t.session_id IS NOT NULL"]
    p: list[Any] = []
    for col, val in (("user_id", f.user_id), ("service", f.service), ("session_id", f.session_id)):
        if val is not None:
            where.append(f"t.{col} = ?")
            p.append(val)
    if f.since_ns is not None:
        where.append("t.start_ns >= ?")
        p.append(f.since_ns)
    if f.until_ns is not None:
        where.append("t.start_ns < ?")
        p.append(f.until_ns)
    cond = " AND ".join(where)
    with read_snapshot(con):  # one snapshot for the scan and the rollups
        # newest traces first: the first `limit` distinct sessions met are those with the latest activity
        out: list[SessionSummary] = []
        seen: set[str] = set()
        scan, scan_p = cond, p
        if after is not None:
            scan, scan_p = f"{cond} AND t.start_ns <= ?", [*p, after[0]]
        cur = con.execute(
            f"SELECT t.session_id FROM traces t WHERE {scan} ORDER BY t.start_ns DESC, t.session_id", scan_p
        )
        while len(out) < limit and (batch := cur.fetchmany(512)):
            for (sid,) in batch:
                if sid in seen:
                    continue
                seen.add(sid)
                row = SessionSummary(
                    *con.execute(
                        "SELECT t.session_id, max(t.user_id), min(t.start_ns), max(t.end_ns), count(*),"
                        " sum(t.status = 'error'), sum(t.stream_count), max(t.start_ns) FROM traces t"
                        f" WHERE {cond} AND t.session_id = ?",
                        [*p, sid],
                    ).fetchone()
                )
                if after is not None and (-row.last_start_ns, row.session_id) <= (-after[0], after[1]):
                    continue  # on an earlier page
                out.append(row)
                if len(out) == limit:
                    break
        cur.close()
    out.sort(key=lambda x: (-x.last_start_ns, x.session_id))
    return out
