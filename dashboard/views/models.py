"""Model comparison: one row per model, side by side."""

from __future__ import annotations

from flask import Blueprint, render_template

from streamscope.dashboard.extension import state
from streamscope.dashboard.views.overview import bucket_for, overview_filters

bp = Blueprint("models", __name__)


@bp.get("/models")
def index() -> str:
    """The model comparison page."""
    st = state()
    filters = overview_filters()
    stats = st.source.stats(filters, bucket=bucket_for(filters))
    return render_template(
        "models.html",
        filters=filters,
        stats=stats,
        facets=st.source.facets(),
        ranges=["15m", "1h", "6h", "24h", "7d", "30d", "all"],
    )
