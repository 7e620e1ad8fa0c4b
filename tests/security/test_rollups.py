"""Issue 18, item 4: a trace that keeps growing does not make every write slower (incremental trace rollups).

The work is measured in SQLite virtual-machine steps (deterministic, unlike time; the wall-clock comparison is
``bench/trace_rollup.py``), and the incremental summaries are checked against ``rollup_trace`` over all spans.
"""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamscope.collector.model import NS, Filters, IngestBatch, Span, Stream, TraceSummary
from streamscope.collector.rollup import SpanHead, rollup_trace
from streamscope.collector.store.sqlite import SQLiteStore

T0 = 1_700_000_000 * NS


def _spans(tid: str, first: int, n: int) -> tuple[Span, ...]:
    return tuple(
        Span(
            trace_id=tid,
            span_id=f"{i + 1:016x}",
            parent_span_id=None if i == 0 else f"{(i - 1) // 4 + 1:016x}",
            name=f"s{i}",
            kind=1,
            start_ns=T0 + i,
            end_ns=T0 + i + 10,
            service="svc",
        )
        for i in range(first, first + n)
    )


def _vm_steps(store: SQLiteStore, batch: IngestBatch) -> int:
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    store._w.set_progress_handler(tick, 100)
    try:
        store.write(batch)
    finally:
        store._w.set_progress_handler(None, 0)
    return steps[0]


def test_a_write_into_a_big_trace_costs_about_what_one_into_a_new_trace_does(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "r.db"), synchronous="OFF")
    big = f"{1:032x}"
    store.write(IngestBatch(spans=_spans(big, 0, 20_000)))
    into_big = _vm_steps(store, IngestBatch(spans=_spans(big, 20_000, 200)))
    into_new = _vm_steps(store, IngestBatch(spans=_spans(f"{2:032x}", 0, 200)))
    (summary,) = store.traces(Filters(trace_id=big), 1)
    store.close()
    assert summary.span_count == 20_200
    # re-reading the 20k stored spans took ~60x the steps of the new trace; incremental stays close to 1x
    assert into_big < 3 * into_new, (into_big, into_new)


class _CountingClient:
    """A ClickHouse client that counts the rows its queries send back to the collector."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rows = 0

    def query(self, *args: Any, **kw: Any) -> Any:
        result = self.inner.query(*args, **kw)
        self.rows += len(result.result_rows)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_clickhouse_write_into_a_big_trace_reads_back_what_one_into_a_new_trace_does() -> None:
    """The ClickHouse store summarises traces in ClickHouse: a write reads back one row per touched trace, not
    every span of it (the collector used to fetch and fold all 20k span heads on every write into the trace)."""
    from chdb_engine import fresh_store

    store = fresh_store()
    try:
        big = f"{1:032x}"
        store.write(IngestBatch(spans=_spans(big, 0, 20_000)))
        store.settle()
        counting = _CountingClient(store._w.c)
        store._w.c = counting  # the writer's client: the write and the derive pass that summarises it
        store.write(IngestBatch(spans=_spans(big, 20_000, 200)))
        store.settle()
        into_big, counting.rows = counting.rows, 0
        store.write(IngestBatch(spans=_spans(f"{2:032x}", 0, 200)))
        store.settle()
        into_new = counting.rows
        (summary,) = store.traces(Filters(trace_id=big), 1)
    finally:
        store.close()
    assert (summary.span_count, summary.root_name) == (20_200, "s0")
    assert into_big <= into_new + 2, (into_big, into_new)


# -- the incremental summaries are exactly rollup_trace over every stored span ----------------------------------
IDS = [f"{i:016x}" for i in range(1, 13)]


@st.composite
def _trace_batches(draw: st.DrawFn) -> list[list[Span | Stream]]:
    items: list[Span | Stream] = []
    for tid in (f"{0xA:032x}", f"{0xB:032x}"):
        for sid in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=10)):  # repeats: re-delivery
            parent = draw(st.sampled_from([None, "ffffffffffffffff", *IDS]))  # mostly parents in the trace
            start = draw(st.integers(0, 5))
            items.append(Span(
                trace_id=tid, span_id=sid, parent_span_id=parent, name=draw(st.sampled_from("abc")), kind=1,
                start_ns=T0 + start, end_ns=T0 + start + draw(st.integers(0, 5)),
                status_code=draw(st.integers(0, 2)), service=draw(st.sampled_from(["x", "y"])),
                session_id=draw(st.one_of(st.none(), st.sampled_from(["", "s1", "s2"]))),
                user_id=draw(st.one_of(st.none(), st.sampled_from(["u1", "u2"]))),
            ))  # fmt: skip
        for sid in draw(st.lists(st.sampled_from(IDS), max_size=3)):
            items.append(Stream(trace_id=tid, span_id=sid + tid[-2:], start_ns=T0, end_ns=T0 + 1))
    order = draw(st.permutations(items))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    bounds = [0, *cuts, len(order)]
    return [list(order[a:b]) for a, b in itertools.pairwise(bounds)]


def _expected(batches: list[list[Span | Stream]]) -> dict[str, TraceSummary]:
    spans: dict[tuple[str, str], Span] = {}
    streams: dict[str, Stream] = {}
    for batch in batches:
        for x in batch:
            if isinstance(x, Span):
                spans.setdefault((x.trace_id, x.span_id), x)
            else:
                streams.setdefault(x.span_id, x)
    out = {}
    for tid in {t for t, _ in spans}:
        heads = [SpanHead(s.span_id, s.parent_span_id, s.name, s.service, s.start_ns, s.end_ns, s.status_code,
                          s.session_id, s.user_id) for (t, _), s in spans.items() if t == tid]  # fmt: skip
        summary = rollup_trace(tid, heads, sum(1 for x in streams.values() if x.trace_id == tid))
        assert summary is not None
        out[tid] = summary
    return out


@pytest.fixture
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("rollups")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_trace_batches())
def test_incremental_summaries_equal_a_full_rollup(db: Path, batches: list[list[Span | Stream]]) -> None:
    path = db / "p.db"
    path.unlink(missing_ok=True)
    store = SQLiteStore(str(path), synchronous="OFF")
    try:
        for batch in batches:
            store.write(IngestBatch(spans=tuple(x for x in batch if isinstance(x, Span)),
                                    streams=tuple(x for x in batch if isinstance(x, Stream))))  # fmt: skip
        got = {t.trace_id: t for t in store.traces(Filters(), 100)}
    finally:
        store.close()
    assert got == _expected(batches)


_tids = itertools.count(0x100)


@pytest.fixture(scope="module")
def clickhouse() -> Iterator[Any]:
    from chdb_engine import fresh_store

    store = fresh_store()
    yield store
    store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_trace_batches())
def test_clickhouse_summaries_equal_a_full_rollup(
    clickhouse: Any, batches: list[list[Span | Stream]]
) -> None:
    """The same property on the ClickHouse store (one store; each example writes traces of its own)."""
    fresh = {old: f"{next(_tids):032x}" for old in (f"{0xA:032x}", f"{0xB:032x}")}
    batches = [[dataclasses.replace(x, trace_id=fresh[x.trace_id],
                                    **({"span_id": x.span_id + fresh[x.trace_id][-4:]} if isinstance(x, Stream) else {}))
                for x in batch] for batch in batches]  # fmt: skip
    for batch in batches:
        clickhouse.write(IngestBatch(spans=tuple(x for x in batch if isinstance(x, Span)),
                                     streams=tuple(x for x in batch if isinstance(x, Stream))))  # fmt: skip
    clickhouse.settle()  # summaries are derived off the write path: converged once settle returned
    got = {tid: clickhouse.traces(Filters(trace_id=tid), 1) for tid in fresh.values()}
    expected = _expected(batches)
    assert {tid: rows[0] for tid, rows in got.items() if rows} == expected


def test_a_database_from_before_incremental_rollups_is_migrated(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    store = SQLiteStore(path, synchronous="OFF")
    tid = f"{7:032x}"
    store.write(IngestBatch(spans=_spans(tid, 1, 50)))  # the root (span 0) comes later
    store.close()
    con = sqlite3.connect(path)
    con.executescript("DROP TABLE trace_roots; DROP TABLE trace_rollups;")
    con.close()
    store = SQLiteStore(path, synchronous="OFF")
    store.write(IngestBatch(spans=_spans(tid, 0, 1)))
    (summary,) = store.traces(Filters(trace_id=tid), 1)
    store.close()
    assert (summary.root_name, summary.span_count) == ("s0", 51)
