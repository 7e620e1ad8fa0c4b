"""Overview: KPIs, time charts and a per-model table for a time range and service/model filter."""

from __future__ import annotations

import math
import time

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.errors import BadParameter
from streamscope.dashboard.extension import state

bp = Blueprint("overview", __name__)

OVERVIEW_FILTERS = ("service", "model", "session", "user", "range", "since", "until", "bucket")


def overview_filters() -> params.Filters:
    """Parse the overview's query parameters. Without ``range`` or ``since``, the range is the one that shows the
    data there is (:func:`default_range`)."""
    args = request.args.to_dict(flat=False)
    default = None
    if "range" not in args and "since" not in args:
        who = {
            k: params.text(k, v[0]) for k in ("session", "user") if len(v := args.get(k) or []) == 1 and v[0]
        }
        default = default_range(session=who.get("session"), user=who.get("user"))
    return params.filters(args, allowed=OVERVIEW_FILTERS, default_range=default)


#: the named ranges the overview may open on, shortest first
OPENING_RANGES = ("15m", "1h", "6h", "24h", "7d", "30d")


def default_range(now: float | None = None, *, session: str | None = None, user: str | None = None) -> str:
    """The shortest named range whose first three quarters hold the newest stream (of that session or user when
    filtered), so the page opens on the latest data drawn across the charts rather than as a sliver at an edge;
    ``15m`` without data, ``all`` past 30 days."""
    try:
        newest = state().source.streams(params.Filters(limit=1, session=session, user=user)).streams
    except Exception:  # no store yet, or a store that cannot answer: the shortest range
        return OPENING_RANGES[0]
    if not newest:
        return OPENING_RANGES[0]
    age = (time.time() if now is None else now) - newest[0].start
    for name in OPENING_RANGES:
        seconds = params.RANGES[name]
        if seconds is not None and age <= seconds * 0.75:
            return name
    return "all"


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
            raise BadParameter(f"The bucket is too small for this time range (at most {MAX_POINTS} points).")
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
    return render_template(
        "overview.html",
        filters=filters,
        stats=stats,
        bucket=bucket,
        facets=st.source.facets(),
        ranges=list(params.RANGES),
    )
