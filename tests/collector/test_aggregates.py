"""The pure aggregate module: histogram error, percentile interpolation, window plans, encoding; SQLite upgrade."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import pytest
from factories import T0, llm_trace
from hypothesis import given
from hypothesis import strategies as st

from streamscope.collector import aggregates as agg
from streamscope.collector import query
from streamscope.collector.model import NS, Filters
from streamscope.collector.results import Summary
from streamscope.collector.store.sqlite import SQLiteStore

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(finite)
def test_every_value_is_within_the_relative_error_of_its_bin(x: float) -> None:
    rep = agg.bin_value(agg.bin_of(x))
    assert abs(rep - x) <= agg.RELATIVE_ERROR * abs(x) * (1 + 1e-9) + 1e-300


@given(finite, finite)
def test_bins_are_ordered_like_values(a: float, b: float) -> None:
    if a <= b:
        assert agg.bin_of(a) <= agg.bin_of(b)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
       st.sampled_from([0, 1, 25, 50, 90, 95, 99, 99.9, 100]))  # fmt: skip
def test_percentile_from_histogram_is_within_the_error(values: list[float], q: float) -> None:
    m = agg.Metric()
    for v in values:
        m.add(v)
    (got,) = m.percentiles((q,))
    want = query.percentile(values, q)
    assert want is not None and got is not None
    # values under agg.LOW_VALUE share the zero bin: within that much absolutely
    assert abs(got - want) <= agg.RELATIVE_ERROR * abs(want) * (1 + 1e-9) + agg.LOW_VALUE
    assert m.min == min(values) and m.max == max(values) and m.n == len(values)


def test_metric_merge_equals_adding_everything() -> None:
    rng = random.Random(3)
    xs = [rng.lognormvariate(0, 2) for _ in range(1000)]
    whole, a, b = agg.Metric(), agg.Metric(), agg.Metric()
    for i, x in enumerate(xs):
        whole.add(x)
        (a if i % 3 else b).add(x)
    a.merge(b)
    assert (a.n, a.min, a.max, a.bins()) == (whole.n, whole.min, whole.max, whole.bins())
    assert a.sum == pytest.approx(whole.sum) and a.summary() == pytest.approx(whole.summary())


def test_metric_summary_is_the_query_layers_summary_record() -> None:
    for values in ([], [2.5], [0.5, 4.0], [0.0, 0.0]):  # up to two values a metric's summary is exact
        m = agg.Metric()
        for x in values:
            m.add(x)
        got = m.summary()
        assert type(got) is Summary and got == query.summary(values)


def test_state_encoding_roundtrips() -> None:
    b = llm_trace(start=3)
    s = agg.AggState()
    s.add(b.streams[0])
    back = agg.AggState.from_bytes(s.to_bytes())
    assert back == s and back.outcomes == {"completed": 1}
    assert agg.AggState.from_bytes(agg.AggState().to_bytes()).n == 0
    odd = b.streams[0].__class__(**{**{f: getattr(b.streams[0], f) for f in b.streams[0].__slots__},
                                    "outcome": "exploded \u2603"})  # fmt: skip
    s.add(odd)
    assert agg.AggState.from_bytes(s.to_bytes()).outcomes == {"completed": 1, "exploded \u2603": 1}


M = 60 * NS
H = 3600 * NS


def test_plan_uses_the_coarsest_tier_that_fits_and_raw_streams_at_partial_minutes() -> None:
    p = agg.plan(T0 + 10 * NS, T0 + 2 * H + 7 * M + 5 * NS, 3600)
    assert p is not None
    assert p.raw == ((T0 + 10 * NS, T0 + M), (T0 + 2 * H + 7 * M, T0 + 2 * H + 7 * M + 5 * NS))
    covered = sorted((lo, hi, w) for w, lo, hi in p.tiers)
    # T0 is a whole hour: minutes to the first 5-minute mark, 5- and 30-minute rows to the hour, hours, then down
    assert covered == [(T0 + M, T0 + 5 * M, 60), (T0 + 5 * M, T0 + 30 * M, 300), (T0 + 30 * M, T0 + H, 1800),
                       (T0 + H, T0 + 2 * H, 3600), (T0 + 2 * H, T0 + 2 * H + 5 * M, 300),
                       (T0 + 2 * H + 5 * M, T0 + 2 * H + 7 * M, 60)]  # fmt: skip
    assert agg.plan(None, None, 120) == agg.Plan(((60, None, None),), ())
    assert agg.plan(None, None, 86400) == agg.Plan(((3600, None, None),), ())
    assert agg.plan(T0, T0 + 10 * NS, 60) == agg.Plan((), ((T0, T0 + 10 * NS),))
    assert agg.plan(T0, T0 + 60 * NS, 90) is None  # a minute row would straddle two 90 s buckets
    assert agg.plan(T0 + M, T0, 60) == agg.Plan((), ())


@given(
    st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from([60, 120, 300, 600, 900, 3600, 7200, 86400])
)
def test_plan_covers_the_window_exactly_once(a: int, b: int, bucket: int) -> None:
    lo, hi = T0 + min(a, b) * NS // 7, T0 + max(a, b) * NS // 3
    p = agg.plan(lo, hi, bucket)
    assert p is not None
    pieces = sorted([(x, y) for _w, x, y in p.tiers] + list(p.raw))  # type: ignore[arg-type]
    pos = lo
    for x, y in pieces:
        assert x == pos and y > x
        pos = y
    assert pos == hi or lo >= hi
    for w, x, y in p.tiers:
        assert bucket % w == 0 and x is not None and y is not None and x % (w * NS) == 0 and y % (w * NS) == 0


def test_an_older_database_gets_its_aggregates_on_open(tmp_path: Path) -> None:
    db = str(tmp_path / "old.sqlite")
    store = SQLiteStore(db)
    for i in range(5):
        store.write(llm_trace(start=i * 70, ttft=0.1 * (i + 1)))
    want = query.stats(store, "model", 60).to_dict()
    store.close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE stream_aggregates")  # what a database from before aggregates looks like
    con.commit()
    con.close()
    reopened = SQLiteStore(db)
    try:
        assert len(reopened.aggregates(60, Filters())) == 5
        assert query.stats(reopened, "model", 60).to_dict() == want
    finally:
        reopened.close()


def test_nan_and_infinite_values_are_missing_not_poison() -> None:
    b = llm_trace()
    st_ = b.streams[0].__class__(**{**{f: getattr(b.streams[0], f) for f in b.streams[0].__slots__},
                                    "ttft": math.nan, "gap_p95": math.inf})  # fmt: skip
    s = agg.AggState()
    s.add(st_)
    assert s.metric("ttft").n == 0 and s.metric("gap_p95").n == 0 and s.metric("duration").n == 1


def test_two_writers_on_one_file_keep_aggregates_exact(tmp_path: Path) -> None:
    """The writer caches the aggregate rows it wrote; a commit by another connection invalidates that cache."""
    db = str(tmp_path / "shared.sqlite")
    a, b = SQLiteStore(db), SQLiteStore(db)
    try:
        for i in range(6):
            (a if i % 2 else b).write(llm_trace(start=i * 7, ttft=0.1 + i / 10))
        a.delete_before(T0 + 8 * NS)  # deletes rebuild rows (and drop the cache) too
        for i in range(6, 10):
            (b if i % 3 else a).write(llm_trace(start=i * 7, ttft=0.1 + i / 10))
        stored = {(r.width_s, r.slot_ns, r.key): r.state for w in agg.TIERS for ru in agg.ROLLUPS
                  for r in a.aggregates(w, Filters(), rollup=ru)}  # fmt: skip
        rebuilt = agg.build(a.streams(Filters(), None))
        assert {k: s.n for k, s in stored.items()} == {k: s.n for k, s in rebuilt.items()}
        assert sum(s.n for (w, _, k), s in stored.items() if w == 60 and k[0] is None) == 8
    finally:
        a.close()
        b.close()
