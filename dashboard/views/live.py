"""Live: streams in flight, refreshed by polling ``/api/live``."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.extension import state

bp = Blueprint("live", __name__)


LIVE_FILTERS = ("session", "user")
RECENT = 20  # finished streams listed under the ones in flight


def live_filters() -> params.Filters:
    """The live page's and ``/api/live``'s parameters: ``session`` and ``user``."""
    return params.filters(request.args.to_dict(flat=False), allowed=LIVE_FILTERS, default_limit=RECENT)


@bp.get("/live")
def index() -> str:
    """The live page; the table is rendered server-side and refreshed by ``live.js``."""
    filters = live_filters()
    st = state()
    live = st.source.live(window=st.settings.live_window, session=filters.session, user=filters.user)
    recent = st.source.streams(filters)
    return render_template(
        "live.html",
        live=live,
        recent=recent.streams,
        live_supported=st.source.live_supported,
        stall_threshold=st.source.stall_threshold,
        filters=filters,
    )
