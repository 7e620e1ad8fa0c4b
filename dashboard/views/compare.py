"""Compare: two streams, or two models over a time range, with their timing distributions side by side."""

from __future__ import annotations

import time

from flask import Blueprint, render_template, request

from streamscope.dashboard import distributions, layout, params
from streamscope.dashboard.errors import BadParameter, NotFound
from streamscope.dashboard.extension import state
from streamscope.dashboard.source import Span, Stream

bp = Blueprint("compare", __name__)

COMPARE_KEYS = ("a", "b", "model_a", "model_b", "range", "service", "session", "user")
SAMPLE = 1000  # newest streams per model read for its distributions
MODEL_METRICS = (
    ("ttft", "TTFT", "s"),
    ("time_to_first_chunk", "Time to first chunk", "s"),
    ("duration", "Duration", "s"),
    ("gap_p95", "Gap p95 per stream", "s"),
    ("output_tokens_per_second", "Output tokens/s", "/s"),
)


def _args() -> dict[str, str]:
    values: dict[str, str] = {}
    for key, raw in request.args.to_dict(flat=False).items():
        if key not in COMPARE_KEYS:
            raise BadParameter(f"Unknown query parameter {key[:40]!r}.")
        if len(raw) != 1:
            raise BadParameter(f"The {key} parameter was given more than once.")
        if raw[0] != "":
            values[key] = raw[0]
    if ("a" in values or "b" in values) and ("model_a" in values or "model_b" in values):
        raise BadParameter("Compare either two streams (a, b) or two models (model_a, model_b), not both.")
    return values


@bp.get("/compare")
def index() -> str:
    """Two streams (``a``, ``b``: span ids) or two models (``model_a``, ``model_b`` over ``range``)."""
    values = _args()
    st = state()
    facets = st.source.facets()
    session = params.text("session", values["session"]) if "session" in values else None
    user = params.text("user", values["user"]) if "user" in values else None
    if "a" in values:
        return _streams(values, session=session, user=user)
    range_name = params.choice("range", values.get("range", "24h"), params.RANGES)
    seconds = params.RANGES[range_name]
    since = None if seconds is None else time.time() - seconds
    service = params.text("service", values["service"]) if "service" in values else None
    models = facets.models
    model_a = params.text("model_a", values.get("model_a", models[0] if models else ""))
    model_b = params.text("model_b", values.get("model_b", models[1] if len(models) > 1 else model_a))
    names = tuple(m for m, _, _ in MODEL_METRICS)
    samples: dict[str, dict[str, list[float | None]]] = {}
    for key, model in (("a", model_a), ("b", model_b)):
        f = params.Filters(
            model=model or None, service=service, since=since, limit=SAMPLE, session=session, user=user
        )
        samples[key] = st.source.timings(f, names) if model else {m: [] for m in names}
    pairs = [
        (label, unit, distributions.pair(samples["a"][metric], samples["b"][metric], st.source.percentile))
        for metric, label, unit in MODEL_METRICS
    ]
    scope = params.Filters(service=service, range=range_name, session=session, user=user)
    return render_template(
        "compare.html",
        mode="models",
        model_a=model_a,
        model_b=model_b,
        range_name=range_name,
        service=service,
        scope=scope,
        pairs=pairs,
        n_a=len(samples["a"]["duration"]),
        n_b=len(samples["b"]["duration"]),
        sample=SAMPLE,
        facets=facets,
        ranges=list(params.RANGES),
    )


def _streams(values: dict[str, str], *, session: str | None, user: str | None) -> str:
    st = state()
    ids = {k: params.span_id(values[k]) for k in ("a", "b") if k in values}
    found: dict[str, Stream] = {}
    for key, span_id in ids.items():
        row = st.source.stream(span_id)
        if row is None:
            raise NotFound("No stream with that span id is stored.")
        found[key] = row
    if "b" not in found:  # offer the latest streams of the same model (and session / user) to compare with
        scope = params.Filters(model=found["a"].model or None, session=session, user=user, limit=21)
        candidates = [s for s in st.source.streams(scope).streams if s.span_id != ids["a"]][:20]
        return render_template("compare.html", mode="pick", a=found["a"], candidates=candidates, scope=scope)
    chunks = {k: st.source.chunks(ids[k]) or [] for k in ("a", "b")}
    axis = max(max(found[k].duration, *(c.offset for c in chunks[k]), 1e-9) for k in ("a", "b"))
    timelines = {k: layout.timeline(_span_of(found[k]), chunks[k], found[k], axis=axis) for k in ("a", "b")}
    gaps = distributions.pair(
        [c.gap for c in chunks["a"]], [c.gap for c in chunks["b"]], st.source.percentile
    )
    return render_template(
        "compare.html", mode="streams", a=found["a"], b=found["b"], timelines=timelines, gaps=gaps
    )


def _span_of(stream: Stream) -> Span:
    """A stream as the span its timeline is drawn for (no attributes or events: the stream row has the timings)."""
    return Span(
        trace_id=stream.trace_id,
        span_id=stream.span_id,
        parent_span_id=None,
        name=stream.name or stream.model or "stream",
        kind=0,
        start_ns=stream.start_ns,
        end_ns=stream.start_ns + max(0, stream.end_ns - stream.start_ns),
        status_code=2 if stream.outcome == "error" else 1,
    )
