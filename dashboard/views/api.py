"""JSON endpoints that feed the pages' scripts (charts, live view, stream replay).

They return the ``to_dict()`` JSON of what the data source answers (the collector's query-API shapes); Flask's JSON encoder escapes nothing HTML-specific, which is fine
because scripts insert values with ``textContent`` only and responses are ``application/json`` with
``nosniff``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from streamscope.dashboard import params
from streamscope.dashboard.errors import BadParameter, NotFound
from streamscope.dashboard.extension import state
from streamscope.dashboard.views.live import live_filters
from streamscope.dashboard.views.overview import bucket_for, overview_filters
from streamscope.dashboard.views.streams import STREAM_FILTERS
from streamscope.dashboard.views.traces import TRACE_FILTERS

bp = Blueprint("api", __name__, url_prefix="/api")


def _no_args() -> None:
    if request.args:
        raise BadParameter("This endpoint takes no query parameters.")


@bp.get("/overview")
def overview() -> dict[str, Any]:
    """Overview aggregates and time series for the charts."""
    filters = overview_filters()
    bucket = bucket_for(filters)
    return {"bucket": bucket, **state().source.stats(filters, bucket=bucket).to_dict()}


@bp.get("/live")
def live() -> dict[str, Any]:
    """Streams in flight right now (``session`` / ``user`` filter them as on the live page)."""
    st = state()
    filters = live_filters()
    return {
        "live": [
            row.to_dict()
            for row in st.source.live(
                window=st.settings.live_window, session=filters.session, user=filters.user
            )
        ],
        "supported": st.source.live_supported,
    }


@bp.get("/traces")
def traces() -> dict[str, Any]:
    """Traces list (query-API shape)."""
    st = state()
    filters = params.filters(
        request.args.to_dict(flat=False), allowed=TRACE_FILTERS, default_limit=st.settings.page_size
    )
    return st.source.traces(filters).to_dict()


@bp.get("/traces/<raw_id>")
def trace(raw_id: str) -> dict[str, Any]:
    """One trace's spans (query-API shape)."""
    trace_id = params.trace_id(raw_id)
    _no_args()
    found = state().source.trace(trace_id)
    if found is None or not found.spans:
        raise NotFound("No trace with that id is stored.")
    return found.to_dict()


@bp.get("/streams")
def streams() -> dict[str, Any]:
    """Streams list (query-API shape)."""
    st = state()
    filters = params.filters(
        request.args.to_dict(flat=False), allowed=STREAM_FILTERS, default_limit=st.settings.page_size
    )
    return st.source.streams(filters).to_dict()


@bp.get("/streams/<raw_id>/chunks")
def chunks(raw_id: str) -> dict[str, Any]:
    """A stream's chunks in arrival order (query-API shape)."""
    span_id = params.span_id(raw_id)
    _no_args()
    found = state().source.chunks(span_id)
    if found is None:
        raise NotFound("No stream with that span id is stored.")
    return {"chunks": [c.to_dict() for c in found]}
