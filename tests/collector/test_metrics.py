"""The per-chunk gap histogram: one observation per gap of a stored chunk, counted once however chunks arrive."""

from __future__ import annotations

import bisect
import math
from pathlib import Path

from factories import llm_trace, span_id, stream, trace_id

from streamscope.collector.metrics import DURATION_BUCKETS, CollectorMetrics
from streamscope.collector.model import Chunk, IngestBatch
from streamscope.collector.pipeline import Ingestor
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.store.writer import SQLiteProcessStore

LABELS = ("app", "openai", "gpt-4o-mini", "chat")


def _gap_state(
    m: CollectorMetrics, labels: tuple[str, ...] = LABELS
) -> tuple[list[int], float, list[float | None]]:
    counts, total, exemplars = m.chunk_gap._series[labels]
    return list(counts), total[0], [None if e is None else e[1] for e in exemplars]


def _expected(gaps: list[float]) -> tuple[list[int], float, list[float | None]]:
    counts = [0] * (len(DURATION_BUCKETS) + 1)
    last: list[float | None] = [None] * len(counts)
    for g in gaps:
        i = bisect.bisect_left(DURATION_BUCKETS, g)
        counts[i] += 1
        last[i] = g
    return counts, math.fsum(gaps), last


def _chunks(sid: str, indices: range | list[int], gap: float = 0.015) -> tuple[Chunk, ...]:
    return tuple(Chunk(sid, i, 0.1 + gap * i, None if i == 0 else gap * (1 + i % 40)) for i in indices)


def _close(
    a: tuple[list[int], float, list[float | None]], b: tuple[list[int], float, list[float | None]]
) -> bool:
    return a[0] == b[0] and math.isclose(a[1], b[1]) and a[2] == b[2]


def test_slices_retries_and_repeats_count_each_gap_once_with_the_latest_exemplar() -> None:
    m = CollectorMetrics()
    tid, sid = trace_id(), span_id()
    st = stream(tid, sid)
    live1 = IngestBatch(chunks=_chunks(sid, range(0, 30)))  # in flight: no stream row yet, gaps wait for it
    m.observe_batch(live1)
    assert LABELS not in m.chunk_gap._series
    rest = IngestBatch(streams=(st,), chunks=_chunks(sid, range(25, 80)))  # overlaps the first slice
    m.observe_batch(rest)
    # the batch's own gaps are observed first, then those that waited for the stream
    want = _expected([c.gap for c in _chunks(sid, [*range(30, 80), *range(1, 30)]) if c.gap is not None])
    assert _close(_gap_state(m), want)
    m.observe_batch(live1)  # an exporter's retries: nothing changes
    m.observe_batch(rest)
    assert _close(_gap_state(m), want)
    (ex,) = {e[0] for e in m.chunk_gap._series[LABELS][2] if e is not None}
    assert ex == tid


def test_repeats_within_a_batch_interleaved_streams_and_gaps_that_are_not_numbers() -> None:
    m = CollectorMetrics()
    a, b = stream(trace_id(), span_id(), model="a"), stream(trace_id(), span_id(), model="b")
    odd = [Chunk(a.span_id, 0, 0.0, None), Chunk(a.span_id, 1, 0.1, None), Chunk(a.span_id, 2, 0.2, -0.5),
           Chunk(a.span_id, 3, 0.3, math.nan), Chunk(a.span_id, 4, 0.4, 0.1), Chunk(a.span_id, 4, 0.4, 9.0),
           Chunk(a.span_id, 6, 0.6, 0.2), Chunk(a.span_id, 5, 0.5, 0.3)]  # fmt: skip
    bs = list(_chunks(b.span_id, range(0, 20)))
    chunks = [
        c for pair in zip(odd + [odd[-1]] * 12, bs, strict=True) for c in pair
    ]  # interleaved, a repeats
    m.observe_batch(IngestBatch(streams=(a, b), chunks=tuple(chunks)))
    assert _close(_gap_state(m, ("app", "openai", "a", "chat")), _expected([0.1, 0.2, 0.3]))
    assert _close(_gap_state(m, ("app", "openai", "b", "chat")),
                  _expected([c.gap for c in bs if c.gap is not None]))  # fmt: skip
    m.observe_batch(IngestBatch(chunks=(Chunk(a.span_id, 7, 0.7, 0.25), Chunk(a.span_id, 2, 0.2, 0.4))))
    assert _close(_gap_state(m, ("app", "openai", "a", "chat")), _expected([0.1, 0.2, 0.3, 0.25]))


def _samples(m: CollectorMetrics) -> list[tuple[str, dict[str, str], float, tuple[str, float] | None]]:
    """Every sample of the registry but creation times and the ingest lag (timings), exemplars as (trace id, value)."""
    out = []
    for fam in m.registry.collect():
        for s in fam.samples:
            if not s.name.endswith("_created") and "ingest_lag" not in s.name:
                ex = (s.exemplar.labels["trace_id"], s.exemplar.value) if s.exemplar else None
                out.append((s.name, s.labels, s.value, ex))
    return sorted(out, key=repr)


def test_observations_made_in_the_writer_process_give_the_same_metrics(tmp_path: Path) -> None:
    tid, sid = trace_id(), span_id()
    st = stream(tid, sid, stall_count=1, output_tokens=7, output_tokens_per_second=12.0, error_type="timeout")
    other = llm_trace(40, model="b")
    slice1 = IngestBatch(chunks=_chunks(sid, range(0, 30)))  # in flight, then the rest, then retries
    batches = [slice1, IngestBatch(streams=(st,), chunks=_chunks(sid, range(25, 80))), other, slice1, other]
    results = []
    for store in (SQLiteStore(str(tmp_path / "here.db")), SQLiteProcessStore(str(tmp_path / "child.db"))):
        m = CollectorMetrics()
        ing = Ingestor(store, m)
        try:
            for b in batches:  # one at a time: each its own transaction, in this order
                assert ing.submit(b).wait(30)
        finally:
            ing.close()
            store.close()
        results.append(_samples(m))
    here, child = results
    assert here == child
    assert any(name.startswith("gen_ai_client_operation_time_per_output_chunk") for name, *_ in here)


def _value(m: CollectorMetrics, name: str, **labels: str) -> float | None:
    for fam in m.registry.collect():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_counters_with_known_labels_start_at_zero_so_ratios_are_zero_not_missing() -> None:
    """Every reject reason exists from the start; a new stream label set brings every outcome and its stall
    counter at 0, so "errors / streams" reads 0 for a healthy model instead of no data."""
    m = CollectorMetrics()
    for reason in ("invalid_span", "malformed", "queue_full", "store_error"):
        assert _value(m, "streamscope_collector_spans_rejected_total", reason=reason) == 0.0
    m.observe_batch(IngestBatch(streams=(stream(trace_id(), span_id()),)))
    for outcome in ("completed", "abandoned", "cancelled", "error", "timeout"):
        want = 1.0 if outcome == "completed" else 0.0
        assert _value(m, "streamscope_stream_outcomes_total", model="gpt-4o-mini", outcome=outcome) == want
    assert _value(m, "streamscope_stream_stalls_total", model="gpt-4o-mini") == 0.0


def test_time_to_first_token_has_its_own_histogram_beside_the_first_chunk_one() -> None:
    """TTFT (first content token) and the semconv time to first chunk are two histograms; a stream that never had
    content (ttft None) counts in the first-chunk one only."""
    m = CollectorMetrics()
    with_text = stream(trace_id(), span_id(), ttft=0.7, time_to_first_chunk=0.1)
    tools_only = stream(trace_id(), span_id(), ttft=None, time_to_first_chunk=0.2)
    m.observe_batch(IngestBatch(streams=(with_text, tools_only)))
    ttft = "streamscope_stream_time_to_first_token_seconds"
    ttfc = "gen_ai_client_operation_time_to_first_chunk_seconds"
    assert _value(m, f"{ttft}_count") == 1.0 and _value(m, f"{ttft}_sum") == 0.7
    assert _value(m, f"{ttfc}_count") == 2.0 and math.isclose(_value(m, f"{ttfc}_sum") or 0, 0.3)
    assert _value(m, f"{ttft}_bucket", le="0.64") == 0.0 and _value(m, f"{ttft}_bucket", le="1.28") == 1.0
