"""Errors: failed steps grouped by type and message, with counts over time and links to their traces."""

from __future__ import annotations

import time

from flask import Blueprint, render_template, request

from streamscope.dashboard import error_groups, params
from streamscope.dashboard.extension import state

bp = Blueprint("errors", __name__)

ERROR_FILTERS = ("service", "session", "user", "range", "since", "until")
SCAN_LIMIT = 2000  # failed steps read per view (the newest); the page says when there were more


@bp.get("/errors")
def index() -> str:
    """The errors view (default range: the last 24 hours)."""
    st = state()
    filters = params.filters(request.args.to_dict(flat=False), allowed=ERROR_FILTERS, default_range="24h")
    spans = st.source.error_rows(filters, limit=SCAN_LIMIT)
    until = filters.until if filters.until is not None else time.time()
    since = filters.since if filters.since is not None else min((s.start for s in spans), default=until)
    groups = error_groups.group(spans, since, until)
    return render_template(
        "errors.html",
        filters=filters,
        groups=groups,
        scanned=len(spans),
        truncated=len(spans) >= SCAN_LIMIT,
        since=since,
        until=until,
        facets=st.source.facets(),
        ranges=[r for r in params.RANGES if r != "all"],
    )
