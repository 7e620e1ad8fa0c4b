"""Issue 18, item 3: extreme TTFT/gap/tokens-per-second values cannot blow up the aggregate histograms.

Streams whose timings are 5e-324 and 1e300 spread a histogram over ~70,000 bins (a few KB sent grew the database by
hundreds of MB). The histogram's value range is bounded, so a row has at most ``MAX_BINS`` bins per metric and
sign whatever the values, while count, sum, min and max stay exact.
"""

from __future__ import annotations

import os
from pathlib import Path

from streamscope.collector import aggregates as agg
from streamscope.collector import query
from streamscope.collector.model import NS, Filters, IngestBatch, Stream
from streamscope.collector.store.sqlite import SQLiteStore

T0 = 1_700_000_000 * NS
EXTREMES = (5e-324, 1e-300, 1e-9, 0.25, 1e9, 1e300, -1e300, -5e-324)


def _stream(n: int, v: float, model: str = "m") -> Stream:
    return Stream(trace_id=f"{n + 1:032x}", span_id=f"{n + 1:016x}", start_ns=T0 + n, end_ns=T0 + n + NS,
                  model=model, ttft=v, time_to_first_chunk=v, gap_p95=v, gap_max=v,
                  output_tokens_per_second=v)  # fmt: skip


def test_one_row_stays_within_its_documented_size() -> None:
    s = agg.AggState()
    for n, v in enumerate(EXTREMES):
        s.add(_stream(n, v))
    size = len(s.to_bytes())
    assert size <= agg.MAX_STATE_BYTES
    # min, max, count and sum stay exact; the histogram holds every value
    m = s.metric("ttft")
    assert (m.min, m.max, m.n) == (-1e300, 1e300, len(EXTREMES))
    assert sum(m.bins().values()) == len(EXTREMES)
    # the two extremes are the first and last rank; an outlier in the middle reads as the range's bound
    assert m.percentiles((0, 100)) == [-1e300, 1e300]


def test_extreme_values_barely_grow_the_database(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(str(path), synchronous="OFF")
    store.write(IngestBatch(streams=(_stream(0, 1.0),)))
    base = os.path.getsize(path) + os.path.getsize(str(path) + "-wal")
    # 40 models x (5e-324, 1e300) in one minute: each aggregate row spans the whole value range
    streams = tuple(
        _stream(1 + 2 * i + j, v, model=f"m{i}") for i in range(40) for j, v in enumerate((5e-324, 1e300))
    )
    store.write(IngestBatch(streams=streams))
    grown = os.path.getsize(path) + os.path.getsize(str(path) + "-wal") - base
    stats = query.stats(store, "model", 60, Filters(since_ns=T0 - 60 * NS, until_ns=T0 + 60 * NS)).to_dict()
    store.close()
    assert stats["source"] == "aggregates" and stats["total"]["count"] == 81
    # unbounded: 40 keys x 2 row sets x 6 metrics x ~280 KB of histogram lanes, ~130 MB; bounded: a few MB
    print(f"database growth: {grown} bytes")
    assert grown < 40 * 3 * agg.MAX_STATE_BYTES, grown


def test_extreme_values_barely_grow_the_clickhouse_store() -> None:
    from chdb_engine import fresh_store

    store = fresh_store()
    try:
        store.write(IngestBatch(streams=(_stream(0, 1.0),)))
        store.settle()
        base = store.storage_bytes()
        streams = tuple(_stream(1 + 2 * i + j, v, model=f"m{i}") for i in range(40)
                        for j, v in enumerate((5e-324, 1e300)))  # fmt: skip
        store.write(IngestBatch(streams=streams))
        store.settle()  # aggregates are folded off the write path: converged once settle returned
        grown = store.storage_bytes() - base
        stats = query.stats(
            store, "model", 60, Filters(since_ns=T0 - 60 * NS, until_ns=T0 + 60 * NS)
        ).to_dict()
    finally:
        store.close()
    assert stats["source"] == "aggregates" and stats["total"]["count"] == 81
    print(f"ClickHouse store growth: {grown} bytes")
    assert grown < 40 * 3 * agg.MAX_STATE_BYTES, grown


def test_percentiles_in_range_keep_their_accuracy() -> None:
    m = agg.Metric()
    values = [0.2, 0.3, 0.5, 1.5, 2.0, 3.0, 1e-7, 2e7]
    for v in values:
        m.add(v)
    got = m.percentiles((25, 50, 75))
    want = [query.percentile(values, q) for q in (25, 50, 75)]
    for g, w in zip(got, want, strict=True):
        assert g is not None and w is not None and abs(g - w) <= agg.RELATIVE_ERROR * w
