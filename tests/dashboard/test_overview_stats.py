"""Reshaping the collector's stats into the overview's per-model table and aligned series."""

from __future__ import annotations

from streamscope.collector import query
from streamscope.collector.model import NS, Stream
from streamscope.dashboard import overview_stats


def _stream(n: int, start: float, model: str, outcome: str = "completed", chunks: int = 10) -> Stream:
    return Stream(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        start_ns=int(start * NS),
        end_ns=int((start + 2) * NS),
        model=model,
        provider="p",
        outcome=outcome,
        ttft=0.1 * n,
        chunk_count=chunks,
        input_tokens=3,
        output_tokens=5,
        cost_usd=0.5,
    )


def test_reshape_counts_rates_chunks_and_aligns_series() -> None:
    """Totals, per-model rates and chunk rates follow from the streams; series have one slot per bucket."""
    streams = [
        _stream(1, 1000, "a"),
        _stream(2, 1010, "a", "error"),
        _stream(3, 1130, "b", "abandoned", 4),
        _stream(4, 1135, "a", "timeout"),
    ]
    computed = query.compute_stats(streams, "model", 60, (960 * NS, 1200 * NS))
    out = overview_stats.reshape(computed, providers={"a": "openai"}).to_dict()
    totals = out["totals"]
    assert totals["streams"] == 4 and totals["chunks"] == 34
    # per second of data: starts span 1000..1135, plus one average interval (135 / 3): 180 s, not the 240 s window
    assert totals["streams_per_second"] == 4 / 180 and totals["chunks_per_second"] == 34 / 180
    assert totals["rates"] == {"error": 0.25, "abandoned": 0.25, "timeout": 0.25, "cancelled": 0.0}
    assert totals["error_rate"] == 0.5  # error + timeout
    assert totals["tokens"] == {"input": 12, "output": 20} and totals["cost"] == 2.0
    a, b = out["models"]
    assert (a["model"], a["provider"], a["streams"], a["chunks"]) == ("a", "openai", 3, 30)
    assert (b["model"], b["provider"], b["rates"]["abandoned"]) == ("b", None, 1.0)
    assert out["series"]["buckets"] == [960.0, 1020.0, 1080.0, 1140.0, 1200.0]
    series_a = out["series"]["by_model"]["a"]
    assert series_a["streams"] == [2, 0, 1, 0, 0]  # 1000 and 1010 fall in [960, 1020); 1135 in [1080, 1140)
    assert series_a["chunks"] == [20, 0, 10, 0, 0]
    assert series_a["error"] == [1, 0, 0, 0, 0] and series_a["timeout"] == [0, 0, 1, 0, 0]
    assert series_a["ttft_p50"][1] is None


def test_reshape_counts_every_non_completed_outcome_cancelled_included() -> None:
    """Cancelled streams get a rate in the totals and per model, and a count per bucket like the other outcomes."""
    streams = [
        _stream(1, 1000, "a"),
        _stream(2, 1010, "a", "cancelled"),
        _stream(3, 1070, "a", "cancelled"),
        _stream(4, 1075, "b", "error"),
        _stream(5, 1080, "b", "cancelled"),
    ]
    computed = query.compute_stats(streams, "model", 60, (960 * NS, 1140 * NS))
    for out in (overview_stats.reshape(computed).to_dict(),):
        assert out["totals"]["rates"] == {"error": 0.2, "abandoned": 0.0, "cancelled": 0.6, "timeout": 0.0}
        a, b = out["models"]
        assert (a["model"], a["rates"]["cancelled"]) == ("a", 2 / 3)
        assert (b["model"], b["rates"]["cancelled"], b["rates"]["error"]) == ("b", 0.5, 0.5)
        by_model = out["series"]["by_model"]
        assert by_model["a"]["cancelled"] == [1, 1, 0, 0] and by_model["b"]["cancelled"] == [0, 0, 1, 0]
        for series in by_model.values():
            assert {"error", "abandoned", "cancelled", "timeout"} <= set(series)
            assert all(len(v) == len(out["series"]["buckets"]) for v in series.values())


def test_reshape_of_nothing_is_empty() -> None:
    """No streams: zero counts, no rates, no buckets."""
    out = overview_stats.reshape(query.compute_stats([], "model", 60, (0, 60 * NS))).to_dict()
    assert out["totals"]["streams"] == 0 and out["totals"]["rates"]["error"] is None
    assert out["models"] == [] and out["series"] == {"buckets": [], "seconds": [], "by_model": {}}
    assert out["totals"]["streams_per_second"] is None and out["totals"]["error_rate"] is None


def test_the_last_partial_bucket_is_a_rate_over_the_time_it_covers() -> None:
    """A bucket still filling up (the window ends 10 s into it) shows its rate so far, not a drop."""
    streams = [_stream(i, 960 + 6 * i, "a") for i in range(20)] + [
        _stream(20 + i, 1140 + 5 * i, "a") for i in range(2)
    ]
    out = overview_stats.reshape(query.compute_stats(streams, "model", 60, (960 * NS, 1150 * NS))).to_dict()
    assert out["series"]["seconds"] == [60.0, 60.0, 60.0, 10.0]
    a = out["series"]["by_model"]["a"]
    assert a["streams"] == [10, 10, 0, 2]
    assert a["streams_per_second"] == [10 / 60, 10 / 60, 0.0, 2 / 10]  # not 2 / 60 in the last one
    assert a["chunks_per_second"][3] == 20 / 10


def test_one_stream_has_no_rate() -> None:
    """One stream says nothing about a rate: the figure is absent (shown as a dash), never n / window."""
    out = overview_stats.reshape(
        query.compute_stats([_stream(1, 1000, "a")], "model", 60, (0, 86400 * NS))
    ).to_dict()
    assert out["totals"]["streams"] == 1 and out["totals"]["streams_per_second"] is None


def test_the_json_keeps_its_key_order() -> None:
    """``/api/overview`` is served without sorting keys: its bodies stay byte for byte what they were (a model
    row names its model and provider first, then the figures in the totals' order)."""
    streams = [_stream(1, 1000, "a"), _stream(2, 1030, "b")]
    out = overview_stats.reshape(query.compute_stats(streams, "model", 60, (960 * NS, 1080 * NS))).to_dict()
    figures = ["streams", "chunks", "streams_per_second", "chunks_per_second", "ttft", "time_to_first_chunk",
               "duration", "gap", "output_tokens_per_second", "rates", "error_rate", "stalls", "tokens", "cost"]  # fmt: skip
    assert list(out) == ["totals", "models", "series"]
    assert list(out["totals"]) == figures
    assert [list(m) for m in out["models"]] == [["model", "provider", *figures]] * 2
    assert list(out["series"]) == ["buckets", "seconds", "by_model"]
    assert list(out["series"]["by_model"]["a"]) == [
        "streams", "chunks", "streams_per_second", "chunks_per_second", "error", "abandoned", "cancelled", "timeout",
        "input_tokens", "output_tokens", "ttft_p50", "ttft_p95", "duration_p95", "tokens_per_second_p50",
    ]  # fmt: skip
