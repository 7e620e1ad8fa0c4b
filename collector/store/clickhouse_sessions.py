"""Trace summaries by session: the ``session_traces`` copy that makes one session a range read.

The ``traces`` table is sorted by trace id, so "the traces of session S" read every stored summary. The derive pass
(:meth:`~streamscope.collector.store.clickhouse_writer.Writer.refresh_traces`) therefore writes each summary that
names a session a second time, into ``session_traces`` sorted by (session id, trace id), with the same ``ver``
and *before* the summary itself: whatever a pass leaves half done, the ``traces`` row is the older one, which the
deriver's sweep already re-derives. Copies replace each other by ``ver`` (``ReplacingMergeTree``); nothing is summed,
so a re-delivered batch or two collectors deriving the same trace leave one copy.

A trace can leave a session (a late root span names another one): the pass that sees it writes the old session's
copy again with ``gone = 1``, which reads skip. Two passes of different collectors that both read the trace before
either wrote could each leave a live copy under a different session; the sweep (:func:`stale`) compares, for the
recently written traces, the live copies with the ``traces`` row (session and ``ver``) and re-derives a trace
whose copies disagree, marking every session it was copied under as left (except its current one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streamscope.collector.model import TraceSummary
from streamscope.collector.store.clickhouse_schema import SESSION_COLUMNS

__all__ = ["SESSION_COLUMNS", "copies", "stale"]


def copies(summaries: Iterable[TraceSummary], before: Mapping[str, Iterable[str]]) -> list[tuple[Any, ...]]:
    """The ``session_traces`` rows for these summaries: a live copy under the summary's session, and a ``gone``
    copy under every session in ``before[trace_id]`` (sessions it may have been copied under) that it left."""
    rows: list[tuple[Any, ...]] = []
    for s in summaries:
        fields = (s.trace_id, s.root_name, s.service, s.start_ns, s.end_ns, s.status, s.span_count,
                  s.stream_count, s.user_id, s.waiting_for_root)  # fmt: skip
        if s.session_id:
            rows.append((s.session_id, *fields, 0))
        for old in sorted(set(before.get(s.trace_id, ()))):
            if old and old != s.session_id:
                rows.append((old, *fields, 1))
    return rows


def stale(
    query: Callable[[str], list[tuple[Any, ...]]], t: Callable[[str], str], recent: str
) -> dict[str, set[str]]:
    """Traces among ``recent`` (a subquery of trace ids) whose live ``session_traces`` copies are not exactly one
    copy under the ``traces`` row's session with its ``ver`` (none when it names no session): trace id -> the
    sessions of its live copies. The copies are looked up under the sessions the traces' spans name (the only
    sessions a pass can copy a trace under), so the read stays within those sessions' ranges."""
    named = (f"SELECT DISTINCT assumeNotNull(session_id) FROM {t('spans')}"
             f" WHERE trace_id IN ({recent}) AND session_id IS NOT NULL")  # fmt: skip
    rows = query(
        "SELECT if(a.trace_id != '', a.trace_id, b.trace_id), b.have FROM"
        " (SELECT trace_id, if(session_id IS NULL, [], [(assumeNotNull(session_id), ver)]) AS want"
        f" FROM {t('traces')} FINAL WHERE trace_id IN ({recent})) AS a"
        " FULL OUTER JOIN (SELECT trace_id, arraySort(groupArray((session_id, ver))) AS have"
        f" FROM {t('session_traces')} FINAL WHERE session_id IN ({named}) AND trace_id IN ({recent})"
        " AND gone = 0 GROUP BY trace_id) AS b ON a.trace_id = b.trace_id WHERE a.want != b.have"
    )
    return {tid: {sid for sid, _ in have} for tid, have in rows}
