"""Live: streams in flight, refreshed by polling ``/api/live``."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.errors import BadParameter
from streamscope.dashboard.extension import state

bp = Blueprint("live", __name__)


@bp.get("/live")
def index() -> str:
    """The live page; the table is rendered server-side and refreshed by ``live.js``."""
    if request.args:
        raise BadParameter("The live page takes no query parameters.")
    st = state()
    live = st.source.live(window=st.settings.live_window)
    recent = st.source.streams(params.Filters(limit=20))
    return render_template("live.html", live=live, recent=recent["streams"], live_supported=st.source.live_supported,
                           stall_threshold=st.source.stall_threshold)
