"""The ClickHouse read path on the real engine: newest-first lists read a recent window, with unchanged answers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from chdb_engine import client, fresh_store
from factories import llm_trace

from streamscope.collector.model import Cursor, Filters, IngestBatch
from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.clickhouse_queries import newest

pytest.importorskip("chdb")


class _Counting:
    """The store's client, adding up the rows the engine read."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.read_rows = inner, 0

    def query(self, *args: Any, **kw: Any) -> Any:
        res = self.inner.query(*args, **kw)
        self.read_rows += int((res.summary or {}).get("read_rows", 0))
        return res

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _batch(traces: list[IngestBatch]) -> IngestBatch:
    return IngestBatch(
        spans=tuple(s for b in traces for s in b.spans),
        streams=tuple(s for b in traces for s in b.streams),
        chunks=tuple(c for b in traces for c in b.chunks),
    )


@pytest.fixture(scope="module")
def store() -> Any:
    """300 traces three days ago (another day partition) and 13 in the last quarter hour."""
    s = fresh_store()
    now = time.time()
    models = ("gpt-4o-mini", "claude-haiku")
    outcomes = ("completed", "error")
    old = [llm_trace(start=now - 3 * 86400 - 60 * i, model=models[i % 2], outcome=outcomes[i % 3 == 0],
                     session=f"old{i // 4}") for i in range(300)]  # fmt: skip
    recent = [llm_trace(start=now - 70 * i - 5, model=models[i % 2], outcome=outcomes[i % 4 == 0],
                        status=2 * (i % 5 == 0), session=f"new{i // 3}") for i in range(12)]  # fmt: skip
    recent.append(llm_trace(start=now - 20, session="old0"))  # an old session with a recent trace
    s.write(_batch(old))
    s.write(_batch(recent))
    s.settle()
    yield s
    s.close()


FILTERS = (Filters(), Filters(model="claude-haiku"), Filters(outcome="error"), Filters(search="claude"),
           Filters(min_ttft=0.1), Filters(service="app", outcome="error"))  # fmt: skip


@pytest.mark.parametrize("f", FILTERS, ids=repr)
def test_windowed_lists_answer_exactly_as_a_read_of_the_whole_table(
    store: ClickHouseStore, f: Filters
) -> None:
    q = store._q
    for limit in (1, 3, 12, 50, 400):
        assert q.traces(f, limit, None) == q._traces(f, limit, None, None)
        assert q.streams(f, limit, None) == q._streams(f, limit, None, None)
        assert q.error_spans(f, limit) == q._error_spans(f, limit, None)
        assert q.sessions(f, limit) == q._sessions(f, limit, None, None)
    whole = q._traces(f, 400, None, None)
    if len(whole) > 2:  # a cursor in the middle pages on from there, windows anchored at the cursor
        mid = whole[len(whole) // 2]
        cur = Cursor(mid.start_ns, mid.trace_id)
        assert q.traces(f, 5, cur) == q._traces(f, 5, cur, None)
    sessions = q._sessions(f, 400, None, None)
    if len(sessions) > 2:
        mid = sessions[len(sessions) // 2]
        after = (mid.last_start_ns, mid.session_id)
        assert q.sessions(f, 3, after) == q._sessions(f, 3, after, None)
    assert q.sessions(Filters(session_id="old0"), 1) == q._sessions(Filters(session_id="old0"), 1, None, None)
    assert q.sessions(Filters(session_id="old0"), 1)[0].trace_count == 5  # summed over all its traces


@pytest.mark.parametrize("session", ["old0", "old7", "new1", "none"])
def test_one_sessions_traces_and_summary_read_its_traces_only(store: ClickHouseStore, session: str) -> None:
    q = store._q
    whole = store.client.query(
        f"SELECT trace_id FROM `{store.layout.database}`.traces FINAL WHERE session_id = {{s:String}} ORDER BY start_ns DESC,"
        " trace_id DESC", parameters={"s": session}
    ).result_rows  # fmt: skip
    f = Filters(session_id=session)
    assert [t.trace_id for t in q.traces(f, 500, None)] == [r[0] for r in whole]
    assert q.sessions(f, 1) == (q._sessions(Filters(session_id=session, user_id=None), 1, None, None))
    counting = _Counting(store.client)
    q.c = counting  # type: ignore[assignment]
    try:
        q.traces(f, 500, None)
        q.sessions(f, 1)
        assert counting.read_rows < 300, counting.read_rows  # not every trace summary
    finally:
        q.c = store.client


def test_the_newest_traces_streams_and_failed_spans_read_the_recent_window_only(
    store: ClickHouseStore,
) -> None:
    counting = _Counting(store.client)
    store._q.c = counting  # type: ignore[assignment]
    try:
        for read in (lambda: store.traces(Filters(), 5), lambda: store.streams(Filters(), 5),
                     lambda: store.traces(Filters(search="claude"), 3),
                     lambda: store.traces(Filters(outcome="error"), 2), lambda: store.error_rows(Filters(), 1),
                     lambda: store.sessions(Filters(), 2),
                     lambda: store.streams(Filters(trace_id=store.traces(Filters(), 1)[0].trace_id), None)):  # fmt: skip
            counting.read_rows = 0
            assert read()
            assert 0 < counting.read_rows < 300, counting.read_rows  # not the 300 traces of three days ago
    finally:
        store._q.c = store.client


def test_newest_widens_until_a_window_holds_a_page_and_then_reads_without_one() -> None:
    seen: list[int | None] = []

    def run(lo: int | None) -> list[int]:
        seen.append(lo)
        rows = [t for t in (100, 90, 50, -(10**12)) if lo is None or t >= lo]
        return rows

    assert newest(run, 2, 90 + 60 * 10**9, None) == [100, 90]
    assert seen == [90]  # the first window (60 s before the anchor) held two rows
    seen.clear()
    assert newest(run, 9, 100, None) == [100, 90, 50, -(10**12)]
    assert seen[-1] is None and len(seen) == 7  # six windows, then the whole table
    seen.clear()
    assert newest(run, 9, 100, 50 - 700 * 10**9) == [100, 90, 50, -(10**12)]
    assert seen == [
        100 - 60 * 10**9,
        100 - 600 * 10**9,
        None,
    ]  # a window reaching before since_ns ends the widening
    seen.clear()
    assert newest(run, None, 100, None) == [100, 90, 50, -(10**12)] and seen == [None]


def test_a_schema_before_version_4_gets_the_start_index_with_its_data_intact() -> None:
    old = fresh_store()
    db = old.layout.database
    try:
        old.write(llm_trace(start=time.time() - 30))
        old.settle()
        old.client.command(f"ALTER TABLE `{db}`.`spans` DROP INDEX idx_start")
        old.client.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 4")
        found = (
            f"SELECT table FROM system.data_skipping_indices WHERE database = '{db}' AND name = 'idx_start'"
        )
        assert [r[0] for r in old.client.query(found).result_rows] == ["traces"]
        before = (old.traces(Filters(), 10), old.streams(Filters(), 10), old.counts())
        again = ClickHouseStore(client(), old.layout)  # type: ignore[arg-type]
        try:
            assert sorted(r[0] for r in old.client.query(found).result_rows) == ["spans", "traces"]
            assert (again.traces(Filters(), 10), again.streams(Filters(), 10), again.counts()) == before
        finally:
            again.close()
    finally:
        old.close()
