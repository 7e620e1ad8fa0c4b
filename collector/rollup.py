"""Pure per-trace rollup shared by every store, so all implementations agree on what a trace summary is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from streamscope.collector.model import TraceSummary, status_name


class SpanHead(NamedTuple):
    """The few span fields a trace summary needs (stores can read these without the attributes)."""

    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    session_id: str | None
    user_id: str | None


def rollup_trace(trace_id: str, heads: Iterable[SpanHead], stream_count: int) -> TraceSummary | None:
    """Summarise one trace: the root is the earliest span whose parent is not in the trace."""
    items = list(heads)
    if not items:
        return None
    ids = {h.span_id for h in items}
    roots = [h for h in items if h.parent_span_id is None or h.parent_span_id not in ids]
    root = min(roots or items, key=lambda h: (h.parent_span_id is not None, h.start_ns, h.span_id))
    status = "error" if any(h.status_code == 2 for h in items) else status_name(root.status_code)
    ordered = sorted(items, key=lambda h: (h.start_ns, h.span_id))
    session = root.session_id or next((h.session_id for h in ordered if h.session_id), None)
    user = root.user_id or next((h.user_id for h in ordered if h.user_id), None)
    return TraceSummary(
        trace_id=trace_id,
        root_name=root.name,
        service=root.service,
        start_ns=min(h.start_ns for h in items),
        end_ns=max(h.end_ns for h in items),
        status=status,
        span_count=len(items),
        stream_count=stream_count,
        session_id=session,
        user_id=user,
        waiting_for_root=root.parent_span_id is not None,
    )


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only (what SQLite's ``lower()`` does), so every store matches alike."""
    return text.translate(_ASCII_LOWER)
