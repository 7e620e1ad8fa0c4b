"""Sessions: traces grouped by ``session.id`` (a conversation, a user's visit), and one session's traces in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, render_template, request

from streamscope.dashboard import params
from streamscope.dashboard.errors import BadParameter, NotFound
from streamscope.dashboard.extension import state
from streamscope.dashboard.source import Stream

bp = Blueprint("sessions", __name__)

SESSION_FILTERS = ("service", "user", "range", "since", "until", "cursor", "limit")


@bp.get("/sessions")
def index() -> str:
    """Sessions with activity in the range (default: the last 7 days), newest activity first."""
    st = state()
    filters = params.filters(
        request.args.to_dict(flat=False),
        allowed=SESSION_FILTERS,
        default_range="7d",
        default_limit=st.settings.page_size,
    )
    return render_template(
        "sessions/list.html",
        filters=filters,
        page=st.source.sessions(filters),
        facets=st.source.facets(),
        ranges=list(params.RANGES),
    )


def totals(streams: Sequence[Stream]) -> dict[str, Any]:
    """Tokens, estimated cost and outcome counts over a session's streams."""
    costs = [s.cost_usd for s in streams if s.cost_usd is not None]
    outcomes: dict[str, int] = {}
    for s in streams:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    return {
        "input_tokens": sum(s.input_tokens or 0 for s in streams),
        "output_tokens": sum(s.output_tokens or 0 for s in streams),
        "cost": sum(costs) if costs else None,
        "failed_streams": sum(n for o, n in outcomes.items() if o in ("error", "timeout")),
        "outcomes": outcomes,
    }


@bp.get("/sessions/<path:session_id>")
def detail(session_id: str) -> str:
    """One session: its traces oldest first with their streams, tokens, cost and errors."""
    if request.args:
        raise BadParameter("The session page takes no query parameters.")
    session_id = params.text("session", session_id)
    found = state().source.session(session_id)
    if found is None:
        raise NotFound("No session with that id is stored.")
    by_trace: dict[str, list[Stream]] = {}
    for s in found.streams:
        by_trace.setdefault(s.trace_id, []).append(s)
    return render_template(
        "sessions/detail.html",
        session_id=session_id,
        summary=found.session,
        traces=found.traces,
        by_trace=by_trace,
        totals=totals(found.streams),
        truncated=found.truncated,
    )
