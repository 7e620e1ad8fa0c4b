"""Traces: the filterable list and the trace page (waterfall + chunk timelines)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from streamscope.dashboard import layout, params
from streamscope.dashboard.errors import NotFound
from streamscope.dashboard.extension import state

bp = Blueprint("traces", __name__)

TRACE_FILTERS = ("service", "model", "outcome", "status", "q", "min_duration", "max_duration", "min_ttft",
                 "session", "user", "range", "since", "until", "cursor", "limit")


@bp.get("/traces")
def index() -> str:
    """The traces list: filters in the URL, cursor pagination."""
    st = state()
    filters = params.filters(request.args.to_dict(flat=False), allowed=TRACE_FILTERS,
                             default_limit=st.settings.page_size)
    page = st.source.traces(filters)
    return render_template("traces/list.html", filters=filters, page=page, facets=st.source.facets(),
                           outcomes=params.OUTCOMES, statuses=params.STATUSES, ranges=list(params.RANGES))


@bp.get("/traces/<raw_id>")
def detail(raw_id: str) -> str:
    """One trace: nested step waterfall, span attributes and a chunk timeline per LLM stream."""
    trace_id = params.trace_id(raw_id)
    if request.args:
        raise params.BadParameter("The trace page takes no query parameters.")
    st = state()
    trace = st.source.trace(trace_id)
    if trace is None or not trace.get("spans"):
        raise NotFound("No trace with that id is stored.")
    streams = {s["span_id"]: s for s in trace.get("streams") or []}
    rows, start, total = layout.waterfall(trace["spans"], frozenset(streams))
    timelines = []
    for row in rows:
        if row.is_stream:
            span_id = str(row.span.get("span_id"))
            chunks = st.source.chunks(span_id)
            timelines.append(layout.timeline(row.span, chunks or [], streams.get(span_id)))
    return render_template("traces/detail.html", trace=trace, rows=rows, start=start, total=total,
                           timelines=timelines)
