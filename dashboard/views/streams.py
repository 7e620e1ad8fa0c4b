"""Streams: every LLM stream with its rollups, filterable, newest first."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.extension import state

bp = Blueprint("streams", __name__)

STREAM_FILTERS = (
    "service",
    "model",
    "outcome",
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


@bp.get("/streams")
def index() -> str:
    """The streams list."""
    st = state()
    filters = params.filters(
        request.args.to_dict(flat=False), allowed=STREAM_FILTERS, default_limit=st.settings.page_size
    )
    page = st.source.streams(filters)
    return render_template(
        "streams/list.html",
        filters=filters,
        page=page,
        facets=st.source.facets(),
        outcomes=params.OUTCOMES,
        ranges=list(params.RANGES),
    )
