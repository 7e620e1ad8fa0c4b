"""Overview: KPIs, time charts and a per-model table for a time range and service/model filter."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.extension import state

bp = Blueprint("overview", __name__)

OVERVIEW_FILTERS = ("service", "model", "range", "since", "until", "bucket")


def overview_filters() -> params.Filters:
    """Parse the overview's query parameters (default range: the last 24 hours)."""
    return params.filters(request.args.to_dict(flat=False), allowed=OVERVIEW_FILTERS, default_range="24h")


def bucket_for(filters: params.Filters) -> int:
    """Chart bucket width: the requested one, or one that gives about 60 points over the range."""
    if filters.bucket:
        return filters.bucket
    seconds = params.RANGES.get(filters.range or "", None)
    if seconds is None and filters.since is not None:
        seconds = int((filters.until or 0) - filters.since) if filters.until else None
    if not seconds:
        return 3600
    return max(10, int(seconds // 60))


@bp.get("/")
def index() -> str:
    """The overview page; charts load from ``/api/overview`` with the same query string."""
    st = state()
    filters = overview_filters()
    bucket = bucket_for(filters)
    stats = st.source.stats(filters, bucket=bucket)
    return render_template("overview.html", filters=filters, stats=stats, bucket=bucket, facets=st.source.facets(),
                           ranges=list(params.RANGES))
