"""Traces: the filterable list and the trace page (waterfall + chunk timelines)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Blueprint, render_template, request

from streamscope.dashboard import conversation, failures, layout, params
from streamscope.dashboard.errors import BadParameter, NotFound
from streamscope.dashboard.extension import state
from streamscope.dashboard.source import Stream

bp = Blueprint("traces", __name__)

TRACE_FILTERS = (
    "service",
    "model",
    "outcome",
    "status",
    "q",
    "min_duration",
    "max_duration",
    "min_ttft",
    "session",
    "user",
    "range",
    "since",
    "until",
    "cursor",
    "limit",
)


#: A trace whose root has not arrived counts as in progress while its latest span ended less than this many
#: seconds ago; after that its root is reported missing (a crashed app, or a parent in another service).
IN_PROGRESS_WINDOW = 600.0


def in_progress(last_end: float) -> bool:
    """Whether a trace without its root, whose latest span ended at ``last_end``, may still be running."""
    return time.time() - last_end < IN_PROGRESS_WINDOW


@bp.get("/traces")
def index() -> str:
    """The traces list: filters in the URL, cursor pagination."""
    st = state()
    filters = params.filters(
        request.args.to_dict(flat=False), allowed=TRACE_FILTERS, default_limit=st.settings.page_size
    )
    page = st.source.traces(filters)
    return render_template(
        "traces/list.html",
        filters=filters,
        page=page,
        running={t.trace_id for t in page.traces if t.waiting_for_root and in_progress(t.start + t.duration)},
        facets=st.source.facets(),
        outcomes=params.OUTCOMES,
        statuses=params.STATUSES,
        ranges=list(params.RANGES),
    )


@bp.get("/traces/<raw_id>")
def detail(raw_id: str) -> str:
    """One trace: nested step waterfall, span attributes and a chunk timeline per LLM stream."""
    trace_id = params.trace_id(raw_id)
    if request.args:
        raise BadParameter("The trace page takes no query parameters.")
    st = state()
    trace = st.source.trace(trace_id)
    if trace is None or not trace.spans:
        raise NotFound("No trace with that id is stored.")
    streams = {s.span_id: s for s in trace.streams}
    rows, start, total = layout.waterfall(trace.spans, frozenset(streams))
    timelines = {}
    details = []
    for row in rows:
        span_id = row.span.span_id
        if row.is_stream:
            chunks = st.source.chunks(span_id)
            timelines[span_id] = layout.timeline(row.span, chunks or (), streams.get(span_id))
        details.append(
            SpanDetail(
                row=row,
                failure=failures.failure(row.span, streams.get(span_id)),
                messages=conversation.messages(row.span.attributes),
                timeline=timelines.get(span_id),
                stream=streams.get(span_id),
            )
        )
    session = next((s.session_id for s in trace.spans if s.session_id), None)
    user = next((s.user_id for s in trace.spans if s.user_id), None)
    ids = {sp.span_id for sp in trace.spans}
    missing_root = any(
        r.depth == 0 and r.span.parent_span_id and r.span.parent_span_id not in ids for r in rows
    )
    return render_template(
        "traces/detail.html",
        trace=trace,
        rows=rows,
        start=start,
        total=total,
        waiting_root=missing_root and in_progress(start + total),
        root_missing=missing_root and not in_progress(start + total),
        timelines=list(timelines.values()),
        details=details,
        trace_session=session,
        trace_user=user,
        failed=origins(details),
        failed_count=sum(d.failure is not None for d in details),
    )


def origins(details: list[SpanDetail]) -> list[SpanDetail]:
    """The failed steps where a failure started: a failed step whose own failed child has the same type and
    message only passed it on (the chain and the root around a model call that failed), so it is left out."""
    failed = [d for d in details if d.failure is not None]
    passed_on = set()
    for d in failed:
        parent = d.row.span.parent_span_id
        if parent and d.failure is not None:
            passed_on.add((parent, failures.group_key(d.failure)))
    return [
        d
        for d in failed
        if d.failure is not None and (d.row.span.span_id, failures.group_key(d.failure)) not in passed_on
    ]


@dataclass(frozen=True)
class SpanDetail:
    """What the trace page shows for one step below the waterfall."""

    row: layout.WaterfallRow
    failure: failures.Failure | None
    messages: list[conversation.Message]
    timeline: layout.Timeline | None
    stream: Stream | None
