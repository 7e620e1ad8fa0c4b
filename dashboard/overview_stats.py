"""Reshape the collector's ``compute_stats`` output into what the overview and models pages draw.

The collector's query layer computes percentiles, rates, tokens and chunk counts per group and per time bucket
(from its per-minute aggregates when it can); this module only rearranges them (per-model columns, dense aligned
time series for Chart.js). Pure functions: no Flask, no store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from streamscope.collector.model import NS, Stream

MAX_BUCKETS = 2000
# every non-completed outcome (collector/model.py OUTCOMES): rates in the KPIs and table, counts per bucket in the series
RATE_OUTCOMES = ("error", "abandoned", "cancelled", "timeout")
SERIES_METRICS = ("ttft", "duration", "output_tokens_per_second")  # what the charts draw per bucket


def _pcts(summary: Mapping[str, Any] | None) -> dict[str, float | None]:
    summary = summary or {}
    return {"p50": summary.get("p50"), "p95": summary.get("p95"), "p99": summary.get("p99")}


def _per_second(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def _group(stats: Mapping[str, Any], chunks: int, seconds: float | None) -> dict[str, Any]:
    """One row of figures. Per-second rates divide by ``seconds``, the time the window covers with data (the
    collector's ``covered_seconds``); outcome rates and the error rate are the collector's (docs/concepts.md)."""
    n = int(stats.get("count") or 0)
    outcomes = stats.get("outcomes") or {}
    shares = stats.get("outcome_rates") or {}
    failed = outcomes.get("error", 0) + outcomes.get("timeout", 0)
    return {
        "streams": n,
        "chunks": chunks,
        "streams_per_second": _per_second(n, seconds),
        "chunks_per_second": _per_second(chunks, seconds),
        "ttft": _pcts(stats.get("ttft")),
        "time_to_first_chunk": _pcts(stats.get("time_to_first_chunk")),
        "duration": _pcts(stats.get("duration")),
        "gap": _pcts(stats.get("gap_p95")),  # distribution of each stream's own p95 gap
        "output_tokens_per_second": _pcts(stats.get("output_tokens_per_second")),
        "rates": {o: shares.get(o, outcomes.get(o, 0) / n if n else None) for o in RATE_OUTCOMES},
        "error_rate": stats.get("error_rate", failed / n if n else None),
        "stalls": stats.get("stall_count") or 0,
        "tokens": {"input": stats.get("input_tokens") or 0, "output": stats.get("output_tokens") or 0},
        "cost": stats.get("cost_usd_estimate"),
    }


def reshape(
    computed: Mapping[str, Any],
    streams: Sequence[Stream] | None = None,
    *,
    providers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Turn ``streamscope.collector.query.stats`` / ``compute_stats`` output (grouped by model) into page data.

    Args:
        computed: The collector's stats dict (grouped by model).
        streams: Optional: the streams it was computed from, for chunk counts when ``computed`` has none
            (older collectors).
        providers: Known provider per model name.

    Returns:
        ``{"totals": {...}, "models": [...], "series": {"buckets": [t, ...], "by_model": {model: {metric: [...]}}}}``
        where every series list is aligned with ``buckets`` (None where a bucket has no data).
    """
    providers = providers or {}
    bucket = int(computed.get("bucket") or 60)
    since, until = computed.get("since"), computed.get("until")
    any_data = int((computed.get("total") or {}).get("count") or 0) > 0
    covered = computed.get("covered_seconds")
    chunks_by_model: dict[str, int] = {}
    chunks_by_slot: dict[tuple[str, float], int] = {}
    if streams is not None and "chunks" not in (computed.get("total") or {}):
        for st in streams:
            key = st.model or ""
            chunks_by_model[key] = chunks_by_model.get(key, 0) + (st.chunk_count or 0)
            slot = (key, (st.start_ns - st.start_ns % (bucket * NS)) / NS)
            chunks_by_slot[slot] = chunks_by_slot.get(slot, 0) + (st.chunk_count or 0)
    else:
        for g in computed.get("groups") or []:
            chunks_by_model[g["key"]] = int(g.get("chunks") or 0)
        for e in computed.get("series") or []:
            chunks_by_slot[(e["key"], float(e["bucket_start"]))] = int(e.get("chunks") or 0)
    groups = sorted(
        computed.get("groups") or [], key=lambda g: (-int(g.get("count") or 0), str(g.get("key")))
    )
    models = [
        {
            "model": g["key"] or "(unknown)",
            "provider": providers.get(g["key"]),
            **_group(g, chunks_by_model.get(g["key"], 0), covered),
        }
        for g in groups
    ]
    totals = _group(computed.get("total") or {}, sum(chunks_by_model.values()), covered)

    buckets: list[float] = []
    seconds_of: list[float] = []
    if any_data and since is not None and until is not None:
        first = math.floor(since / bucket) * bucket
        count = min(int((until - first) // bucket) + 1, MAX_BUCKETS)
        buckets = [float(first + i * bucket) for i in range(count)]
        # seconds of each bucket inside the window: the last one only up to ``until`` (now), so a bucket still
        # filling up shows its rate so far instead of a drop
        seconds_of = [max(0.0, min(b + bucket, until) - max(b, since)) for b in buckets]
    index = {b: i for i, b in enumerate(buckets)}
    by_model: dict[str, dict[str, list[Any]]] = {}
    for entry in computed.get("series") or []:
        name = entry["key"] or "(unknown)"
        i = index.get(float(entry["bucket_start"]))
        if i is None:
            continue
        series = by_model.setdefault(name, _empty(len(buckets)))
        outcomes = entry.get("outcomes") or {}
        seconds = seconds_of[i] or None
        series["streams"][i] = entry.get("count") or 0
        series["chunks"][i] = chunks_by_slot.get((entry["key"], float(entry["bucket_start"])), 0)
        series["streams_per_second"][i] = _per_second(series["streams"][i], seconds)
        series["chunks_per_second"][i] = _per_second(series["chunks"][i], seconds)
        series["ttft_p50"][i] = (entry.get("ttft") or {}).get("p50")
        series["ttft_p95"][i] = (entry.get("ttft") or {}).get("p95")
        series["duration_p95"][i] = (entry.get("duration") or {}).get("p95")
        series["tokens_per_second_p50"][i] = (entry.get("output_tokens_per_second") or {}).get("p50")
        for outcome in RATE_OUTCOMES:
            series[outcome][i] = outcomes.get(outcome, 0)
        series["input_tokens"][i] = entry.get("input_tokens") or 0
        series["output_tokens"][i] = entry.get("output_tokens") or 0
    return {
        "totals": totals,
        "models": models,
        "series": {"buckets": buckets, "seconds": seconds_of, "by_model": by_model},
    }


def _empty(n: int) -> dict[str, list[Any]]:
    zero = (
        "streams",
        "chunks",
        "streams_per_second",
        "chunks_per_second",
        *RATE_OUTCOMES,
        "input_tokens",
        "output_tokens",
    )
    gaps = ("ttft_p50", "ttft_p95", "duration_p95", "tokens_per_second_p50")
    return {**{k: [0] * n for k in zero}, **{k: [None] * n for k in gaps}}
