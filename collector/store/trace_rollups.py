"""Incremental trace summaries for the SQLite store: a write costs the same whatever the size of its traces.

A trace summary (:func:`streamscope.collector.rollup.rollup_trace`) needs every span of the trace: its root is the
earliest span whose parent is not in the trace. Re-reading all spans on each write made a write into a trace of
128k spans ~70x slower than one into a new trace. Instead the store keeps, per trace:

* ``trace_roots``: the spans whose parent is not (yet) stored, the root candidates. A span arriving removes the
  candidates it is the parent of; the root is the first candidate in the order ``rollup_trace`` uses, one indexed
  read. (A trace whose every span has its parent in the trace, a parent cycle, has no candidate; only then are
  its spans scanned.)
* ``trace_rollups``: what the summary folds over all spans (any error, the stream count, the earliest span
  carrying a session or user id) and the root's fields the summary needs.

``traces`` keeps the summary itself; span count, start and end fold in directly. Every function here runs inside
the store's write transaction. The result equals ``rollup_trace`` over all stored spans (a property test checks).
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from streamscope.collector.model import Stream, status_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS trace_roots (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, has_parent INTEGER NOT NULL,
    start_ns INTEGER NOT NULL, PRIMARY KEY (trace_id, span_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trace_roots_first ON trace_roots(trace_id, has_parent, start_ns, span_id);
CREATE INDEX IF NOT EXISTS trace_roots_parent ON trace_roots(trace_id, parent_span_id);
CREATE TABLE IF NOT EXISTS trace_rollups (
    trace_id TEXT PRIMARY KEY, has_error INTEGER NOT NULL, stream_count INTEGER NOT NULL,
    session_start INTEGER, session_span TEXT, session_id TEXT, user_start INTEGER, user_span TEXT, user_id TEXT
) WITHOUT ROWID;
"""
TABLES = ("trace_roots", "trace_rollups")
_PAIRS = 400  # (trace_id, span_id) pairs per statement


def _stored_traces(con: sqlite3.Connection, trace_ids: Sequence[str]) -> set[str]:
    """Which of these traces have a stored span (one indexed probe per trace): only their spans can be stored
    already, or be the parent of a stored root candidate."""
    found: set[str] = set()
    for i in range(0, len(trace_ids), _PAIRS):
        part = trace_ids[i : i + _PAIRS]
        values = ",".join("(?)" for _ in part)
        found.update(r[0] for r in con.execute(  # EXISTS stops at a trace's first span (DISTINCT reads them all)
            f"WITH v(t) AS (VALUES {values}) SELECT t FROM v WHERE EXISTS (SELECT 1 FROM spans WHERE trace_id = v.t)",
            part,
        ))  # fmt: skip
    return found


def _stored_pairs(con: sqlite3.Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which ``(trace_id, span_id)`` pairs are stored spans (one indexed probe per pair)."""
    found: set[tuple[str, str]] = set()
    for i in range(0, len(pairs), _PAIRS):
        part = pairs[i : i + _PAIRS]
        values = ",".join("(?,?)" for _ in part)
        flat = [x for p in part for x in p]
        found.update(con.execute(
            f"WITH v(t, s) AS (VALUES {values}) SELECT v.t, v.s FROM v JOIN spans p"
            " ON p.trace_id = v.t AND p.span_id = v.s",
            flat,
        ).fetchall())  # fmt: skip
    return found


class Prepared(NamedTuple):
    """What a write must know before its spans are inserted: its new spans (first of each id, not yet stored; their
    rows), which of them are root candidates (no parent, or a parent neither stored nor in the batch), and which of
    their traces had spans stored before (only those can hold candidates that a new span is the parent of)."""

    new: dict[str, list[tuple[Any, ...]]]
    candidates: list[tuple[Any, ...]]
    stored: set[str]


# The fields a summary folds in, by their position in a span row as the writer gets it (``sqlite.span_rows``:
# trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code, ..., session_id, user_id, origin).
# The per-span work below runs in C (map, min, compress) rather than in a Python loop over the spans.
_START, _STATUS, _SESSION, _USER = 5, 7, 12, 13
_trace, _key, _parent_key = operator.itemgetter(0), operator.itemgetter(0, 1), operator.itemgetter(0, 2)
_start, _end, _status = operator.itemgetter(_START), operator.itemgetter(6), operator.itemgetter(7)
_start_span = operator.itemgetter(_START, 1)


def prepare(con: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> Prepared:
    """``rows``: the batch's span rows (``sqlite.span_rows``)."""
    # the first row of each id (INSERT OR IGNORE keeps the first one): built backwards, the first one wins
    first = dict(zip(reversed(list(map(_key, rows))), reversed(rows), strict=True))
    stored = _stored_traces(con, sorted(set(map(_trace, first))))
    if stored:
        for key in _stored_pairs(con, [k for k in first if k[0] in stored]):  # a span of a new trace is new
            del first[key]
    heads = list(first.values())
    parents = list(map(_parent_key, heads))
    missing = set(parents).difference(first)  # parents not new in this batch (and no parent: (trace, None))
    wanted = sorted(k for k in missing if k[1] is not None and k[0] in stored)
    if wanted:
        missing.difference_update(_stored_pairs(con, wanted))
    new: dict[str, list[tuple[Any, ...]]] = {}
    for tid, group in itertools.groupby(heads, _trace):
        new.setdefault(tid, []).extend(group)
    return Prepared(new, list(itertools.compress(heads, map(missing.__contains__, parents))), stored)


def _earliest(
    best: tuple[int, str, str] | None, heads: Sequence[tuple[Any, ...]], field: int
) -> tuple[int, str, str] | None:
    """The earliest (start, span id) of ``best`` and the heads whose ``field`` (session or user id) is set."""
    carrying = list(filter(operator.itemgetter(field), heads))
    if not carrying:
        return best
    h = min(carrying, key=_start_span)
    cand = (h[_START], h[1], h[field])
    return cand if best is None or cand[:2] < best[:2] else best


def apply(con: sqlite3.Connection, prepared: Prepared, new_streams: Sequence[Stream]) -> None:
    """Fold the new spans and streams (already inserted) into their traces' summaries."""
    if prepared.stored:  # a new trace has no stored candidates yet
        con.executemany(
            "DELETE FROM trace_roots WHERE trace_id = ? AND parent_span_id = ?",
            [k for tid in prepared.stored for k in map(_key, prepared.new.get(tid, ()))],
        )
    if prepared.candidates:
        con.executemany(
            "INSERT OR IGNORE INTO trace_roots VALUES (?,?,?,?,?)",
            [(h[0], h[1], h[2], h[2] is not None, h[_START]) for h in prepared.candidates],
        )
    streams_per_trace: dict[str, int] = {}
    for st in new_streams:
        streams_per_trace[st.trace_id] = streams_per_trace.get(st.trace_id, 0) + 1
    touched = sorted(set(prepared.new) | set(streams_per_trace))
    summaries, rollups = [], []
    # a trace none of whose spans was stored before has no summary yet, and its root candidates are all here
    fresh = set(prepared.new).difference(prepared.stored)
    first_roots: dict[str, tuple[Any, ...]] = {}
    for h in prepared.candidates:
        tid = h[0]
        if tid in fresh and (tid not in first_roots or _root_key(h) < _root_key(first_roots[tid])):
            first_roots[tid] = h
    for tid in touched:
        summary, rollup = _fold(con, tid, prepared.new.get(tid, ()), streams_per_trace.get(tid, 0),
                                tid in fresh, first_roots.get(tid))  # fmt: skip
        if summary is not None:
            summaries.append(summary)
        rollups.append(rollup)
    if summaries:
        con.executemany("INSERT OR REPLACE INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?)", summaries)
    con.executemany("INSERT OR REPLACE INTO trace_rollups VALUES (?,?,?,?,?,?,?,?,?)", rollups)


_SUMMARY = "SELECT start_ns, end_ns, span_count FROM traces WHERE trace_id = ?"


def _root_key(h: tuple[Any, ...]) -> tuple[bool, int, str]:
    """The order ``_root`` reads candidates in (parentless first, then by start and span id)."""
    return h[2] is not None, h[_START], h[1]


def _fold(
    con: sqlite3.Connection,
    tid: str,
    heads: Sequence[tuple[Any, ...]],
    new_streams: int,
    new_trace: bool = False,
    first_root: tuple[Any, ...] | None = None,
) -> tuple[tuple[Any, ...] | None, tuple[Any, ...]]:
    """``new_trace``: none of the trace's spans was stored before (so it has no summary row); ``first_root``: then
    its first root candidate, all of which are in ``heads``."""
    old = None if new_trace else con.execute(_SUMMARY, (tid,)).fetchone()
    r = con.execute(
        "SELECT has_error, stream_count, session_start, session_span, session_id, user_start, user_span, user_id"
        " FROM trace_rollups WHERE trace_id = ?",
        (tid,),
    ).fetchone()
    has_error, stream_count = (bool(r[0]), r[1]) if r else (False, 0)
    session = (r[2], r[3], r[4]) if r and r[4] else None
    user = (r[5], r[6], r[7]) if r and r[7] else None
    start, end, count = old if old else (None, None, 0)
    if heads:
        lo, hi = min(map(_start, heads)), max(map(_end, heads))
        start = lo if start is None or lo < start else start
        end = hi if end is None or hi > end else end
        has_error = has_error or 2 in map(_status, heads)
        session = _earliest(session, heads, _SESSION)
        user = _earliest(user, heads, _USER)
    count += len(heads)
    stream_count += new_streams
    rollup = (
        tid,
        int(has_error),
        stream_count,
        *(session or (None, None, None)),
        *(user or (None, None, None)),
    )
    if not count or start is None or end is None:
        return None, rollup
    if first_root is not None:  # the row _root would read back: the span as inserted
        h = first_root
        root: tuple[Any, ...] = (h[3], h[9], h[_STATUS], h[_SESSION], h[_USER], h[2])
    else:
        root = _root(con, tid)
    name, service, status_code, root_session, root_user, root_parent = root
    return (
        tid, name, service, start, end, "error" if has_error else status_name(status_code), count, stream_count,
        root_session or (session[2] if session else None), root_user or (user[2] if user else None),
        int(root_parent is not None),  # waiting_for_root: the root found so far has a parent not yet stored
    ), rollup  # fmt: skip


_ROOT_FIELDS = "name, service, status_code, session_id, user_id, parent_span_id"


def _root(con: sqlite3.Connection, tid: str) -> tuple[Any, ...]:
    row = con.execute(
        f"SELECT {_ROOT_FIELDS} FROM spans WHERE trace_id = ? AND span_id = (SELECT span_id FROM trace_roots"
        " WHERE trace_id = ? ORDER BY has_parent, start_ns, span_id LIMIT 1)",
        (tid, tid),
    ).fetchone()
    if row is None:  # no candidate: every span's parent is in the trace (a parent cycle); rare, so scan
        row = con.execute(
            f"SELECT {_ROOT_FIELDS} FROM spans WHERE trace_id = ?"
            " ORDER BY parent_span_id IS NOT NULL, start_ns, span_id LIMIT 1",
            (tid,),
        ).fetchone()
    return tuple(row)


def rebuild(con: sqlite3.Connection) -> None:
    """Recompute every trace's candidates, rollups and summary from the stored spans (databases written before
    incremental rollups; one pass)."""
    for table in TABLES:
        con.execute(f"DELETE FROM {table}")
    con.execute(
        "INSERT INTO trace_roots SELECT s.trace_id, s.span_id, s.parent_span_id, s.parent_span_id IS NOT NULL,"
        " s.start_ns FROM spans s WHERE s.parent_span_id IS NULL OR NOT EXISTS (SELECT 1 FROM spans p"
        " WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)"
    )
    con.execute("DELETE FROM traces")
    streams = dict(con.execute("SELECT trace_id, count(*) FROM streams GROUP BY trace_id").fetchall())
    cur = con.execute(  # in the layout of a span row (the fields a summary needs; NULL for the others)
        "SELECT trace_id, span_id, parent_span_id, NULL, NULL, start_ns, end_ns, status_code, NULL, NULL, NULL,"
        " NULL, session_id, user_id FROM spans ORDER BY trace_id"
    )
    group: list[tuple[Any, ...]] = []
    while rows := cur.fetchmany(10_000):
        for h in rows:
            if group and group[0][0] != h[0]:
                _rebuild_one(con, group, streams)
                group = []
            group.append(h)
    if group:
        _rebuild_one(con, group, streams)
    for tid in set(streams) - {r[0] for r in con.execute("SELECT trace_id FROM trace_rollups")}:
        con.execute("INSERT OR IGNORE INTO trace_rollups VALUES (?,0,?,NULL,NULL,NULL,NULL,NULL,NULL)",
                    (tid, streams[tid]))  # fmt: skip


def _rebuild_one(con: sqlite3.Connection, heads: list[tuple[Any, ...]], streams: dict[str, int]) -> None:
    tid = heads[0][0]
    summary, rollup = _fold(con, tid, heads, streams.get(tid, 0))
    if summary is not None:
        con.execute("INSERT OR REPLACE INTO traces VALUES (?,?,?,?,?,?,?,?,?,?,?)", summary)
    con.execute("INSERT OR REPLACE INTO trace_rollups VALUES (?,?,?,?,?,?,?,?,?)", rollup)
