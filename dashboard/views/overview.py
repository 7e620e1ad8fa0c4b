"""Overview: KPIs, time charts and a per-model table for a time range and service/model filter."""

from __future__ import annotations

import time

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.extension import state

bp = Blueprint("overview", __name__)

OVERVIEW_FILTERS = ("service", "model", "range", "since", "until", "bucket")


def overview_filters() -> params.Filters:
    """Parse the overview's query parameters (default range: the last 24 hours)."""
    return params.filters(request.args.to_dict(flat=False), allowed=OVERVIEW_FILTERS, default_range="24h")


MAX_POINTS = 2000


def bucket_for(filters: params.Filters) -> int:
    """Chart bucket width: the requested one, or one that gives about 60 points over the range.

    Raises:
        BadParameter: If the requested bucket would give more than 2000 points over a known range.
    """
    seconds: float | None = params.RANGES.get(filters.range or "", None)
    if seconds is None and filters.since is not None:
        seconds = (filters.until or time.time()) - filters.since
    if filters.bucket:
        if seconds is not None and seconds / filters.bucket > MAX_POINTS:
            raise params.BadParameter(f"The bucket is too small for this time range (at most {MAX_POINTS} points).")
        return filters.bucket
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
