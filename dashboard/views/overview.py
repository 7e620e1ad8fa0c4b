"""Overview: KPIs, time charts and a per-model table for a time range and service/model filter."""

from __future__ import annotations

import math
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
# Chart bucket widths the overview picks from: whole minutes from 1 minute up line up with the collector's
# per-minute / 5-minute / hourly aggregates, so charts never touch raw streams (sub-minute ones do).
NICE_BUCKETS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def bucket_for(filters: params.Filters) -> int:
    """Chart bucket width: the requested one, or the round width closest to 60 points over the range.

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
    target = max(seconds / 60, 1.0)
    return min(NICE_BUCKETS, key=lambda b: abs(math.log(b / target)))


@bp.get("/quickstart")
def quickstart() -> str:
    """How to send the first trace (the empty overview links here)."""
    return render_template("quickstart.html")


@bp.get("/")
def index() -> str:
    """The overview page; charts load from ``/api/overview`` with the same query string."""
    st = state()
    filters = overview_filters()
    bucket = bucket_for(filters)
    if st.source.is_empty():
        return render_template("empty.html")
    stats = st.source.stats(filters, bucket=bucket)
    return render_template("overview.html", filters=filters, stats=stats, bucket=bucket, facets=st.source.facets(),
                           ranges=list(params.RANGES))
