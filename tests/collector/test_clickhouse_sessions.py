"""Trace summaries by session on the real engine: the copies follow the summaries through moves, races, re-delivery,
kill -9 and a migration from the schema before them, and one session reads its own rows only."""

from __future__ import annotations

from typing import Any

import pytest
from chdb_engine import client, fresh_store
from factories import llm_trace, span, span_id, trace_id

from streamscope.collector.model import Filters, IngestBatch, SessionSummary, TraceSummary
from streamscope.collector.store.clickhouse import ClickHouseStore
from streamscope.collector.store.clickhouse_sessions import copies
from streamscope.dashboard.collector_source import CollectorSource

pytest.importorskip("chdb")


def _from_traces(store: ClickHouseStore) -> list[SessionSummary]:
    """Every session summed from the trace summaries themselves (what the copies must answer), newest first."""
    rows = store.client.query(
        "SELECT assumeNotNull(session_id) AS sid, max(user_id), min(start_ns), max(end_ns), count(),"
        " countIf(status = 'error'), sum(stream_count), max(start_ns) AS last"
        f" FROM `{store.layout.database}`.traces FINAL WHERE session_id IS NOT NULL GROUP BY sid"
        " ORDER BY last DESC, sid"
    ).result_rows  # fmt: skip
    return [SessionSummary(*r) for r in rows]


def _answers(store: ClickHouseStore) -> tuple[Any, ...]:
    """The session answers of the store: the list, and each session's summary and traces."""
    listed = store.sessions(Filters(), 1000)
    one = {s.session_id: (store.sessions(Filters(session_id=s.session_id), 1),
                          store.traces(Filters(session_id=s.session_id), 100)) for s in listed}  # fmt: skip
    return listed, one


def _check(store: ClickHouseStore) -> None:
    expected = _from_traces(store)
    listed, one = _answers(store)
    assert listed == expected
    for s in expected:
        summary, traces = one[s.session_id]
        assert summary == [s]
        assert len(traces) == s.trace_count and all(t.session_id == s.session_id for t in traces)


def _session_batch(n: int, start: float, sessions: int) -> IngestBatch:
    traces = [
        llm_trace(1, start=start + i, session=f"s{i % sessions}", status=2 * (i % 7 == 0)) for i in range(n)
    ]
    return IngestBatch(
        spans=tuple(s for b in traces for s in b.spans),
        streams=tuple(s for b in traces for s in b.streams),
        chunks=tuple(c for b in traces for c in b.chunks),
    )


def test_a_summary_gets_a_live_copy_and_a_gone_copy_under_each_session_it_left() -> None:
    s = TraceSummary("t1", "root", "app", 1, 2, "ok", 2, 1, "b", "u", False)
    rows = copies([s], {"t1": ["a", "b", ""]})
    assert [(r[0], r[-1]) for r in rows] == [("b", 0), ("a", 1)]
    assert rows[0][1:-1] == ("t1", "root", "app", 1, 2, "ok", 2, 1, "u", False)
    alone = TraceSummary("t2", "root", "app", 1, 2, "ok", 2, 1, None, None, True)
    assert [(r[0], r[-1]) for r in copies([alone], {"t2": ["a"]})] == [("a", 1)]  # left every session
    assert copies([alone], {}) == []


def test_a_trace_that_moves_to_another_session_leaves_the_old_one() -> None:
    """A child span naming session a arrives first; the root, naming b, later: the trace is b's only."""
    store = fresh_store()
    try:
        tid, root, child = trace_id(), span_id(), span_id()
        store.write(IngestBatch(spans=(span(tid, child, root, start=1.0, session="a"),)))
        store.settle()
        assert [s.session_id for s in store.sessions(Filters(), 10)] == ["a"]
        store.write(IngestBatch(spans=(span(tid, root, None, start=0.0, session="b"),)))
        store.settle()
        assert [s.session_id for s in store.sessions(Filters(), 10)] == ["b"]
        assert store.sessions(Filters(session_id="a"), 1) == []
        assert store.traces(Filters(session_id="a"), 10) == []
        assert [t.trace_id for t in store.traces(Filters(session_id="b"), 10)] == [tid]
        assert (
            store.streams(Filters(session_id="a"), 10) == []
            and store.error_rows(Filters(session_id="a"), 10) == []
        )
        _check(store)
    finally:
        store.close()


def test_two_passes_that_raced_leave_a_stale_copy_that_the_sweep_removes() -> None:
    """Two collectors' passes both read a trace before either wrote: each left a live copy, under different
    sessions (simulated: the old session's gone copy is deleted). The next sweep finds and removes it."""
    store = fresh_store()
    db = store.layout.database
    try:
        tid, root, child = trace_id(), span_id(), span_id()
        store.write(IngestBatch(spans=(span(tid, child, root, start=1.0, session="a"),)))
        store.settle()
        store.write(IngestBatch(spans=(span(tid, root, None, start=0.0, session="b"),)))
        store.settle()
        store.client.command(f"DELETE FROM `{db}`.session_traces WHERE session_id = 'a' AND gone = 1")
        assert [s.session_id for s in store.sessions(Filters(session_id="a"), 1)] == ["a"]  # the stale copy
        assert store._derive.stale_sessions(0) == {tid: {"a", "b"}}
        store._derive._next_sweep = 0.0  # the sweep is due (every sweep_every seconds)
        store._derive.run_pass(set(), set())
        assert store._derive.stale_sessions(0) == {}
        assert store.sessions(Filters(session_id="a"), 1) == []
        _check(store)
    finally:
        store.close()


def test_redelivery_to_two_collectors_counts_once_in_every_session_answer() -> None:
    first = fresh_store()
    second = ClickHouseStore(client(), first.layout)  # type: ignore[arg-type]
    try:
        batches = [_session_batch(20, 100.0 * k, 6) for k in range(4)]
        for b in batches:
            first.write(b)
        for b in batches[1:3]:  # re-delivered: to the other collector, and again to the first
            second.write(b)
            first.write(b)
        first.settle()
        second.settle()
        expected = _from_traces(first)
        assert [s.trace_count for s in expected] == [16, 16, 12, 12, 12, 12]  # 80 traces in 6 sessions
        assert sum(s.stream_count for s in expected) == 80
        assert first.sessions(Filters(), 100) == second.sessions(Filters(), 100) == expected
        _check(first)
    finally:
        second.close()
        first.close()


def test_a_pass_killed_between_the_copies_and_the_summaries_is_repaired_by_another_collectors_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed = fresh_store()
    survivor = ClickHouseStore(client(), killed.layout)  # type: ignore[arg-type]
    try:
        killed.write(_session_batch(10, 0.0, 3))
        killed.settle()
        real = killed._w._insert

        def dies_before_the_summaries(table: str, *args: Any) -> None:
            if table == "traces":
                raise SystemExit("kill -9")
            real(table, *args)

        monkeypatch.setattr(killed._w, "_insert", dies_before_the_summaries)
        late = _session_batch(10, 50.0, 3)
        killed._w.write(late)  # acknowledged
        with pytest.raises(SystemExit):  # its pass stored the copies by session, then died
            killed._w.refresh_traces(sorted({st.trace_id for st in late.streams}))
        survivor.write(IngestBatch())
        survivor.write(late)  # a re-delivery to the survivor: its first pass sweeps
        survivor.settle()
        assert survivor._derive.stale_sessions(0) == {}
        assert [s.trace_count for s in _from_traces(survivor)] == [8, 6, 6]
        _check(survivor)
    finally:
        survivor.close()
        killed._w.close()
        killed.client.close()


def test_a_database_of_the_previous_schema_is_backfilled_once_however_many_collectors_start() -> None:
    old = fresh_store()
    db = old.layout.database
    try:
        old.write(_session_batch(30, 0.0, 4))
        old.settle()
        before = _answers(old)
        old.client.command(f"DROP TABLE `{db}`.session_traces")  # as version 4 left it
        old.client.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 5")
        starts = [ClickHouseStore(client(), old.layout) for _ in range(2)]  # type: ignore[arg-type]
        old.client.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 5")  # and a third start
        starts.append(ClickHouseStore(client(), old.layout))  # type: ignore[arg-type]
        try:
            copied = old.client.query(f"SELECT count() FROM `{db}`.session_traces FINAL").result_rows[0][0]
            assert copied == 30
            for store in starts:
                assert _answers(store) == before
            _check(starts[0])
        finally:
            for store in starts:
                store.close()
    finally:
        old.close()


def test_one_session_and_the_newest_sessions_read_their_own_rows_not_every_trace_summary() -> None:
    store = fresh_store()
    try:
        store.write(_session_batch(6000, 0.0, 600))  # 600 sessions of ten traces
        store.settle()
        before = {st.session_id for st in store.sessions(Filters(), 5)}
        reads = store.client

        class Counting:
            read_rows = 0

            def query(self, *args: Any, **kw: Any) -> Any:
                res = reads.query(*args, **kw)
                Counting.read_rows += int((res.summary or {}).get("read_rows", 0))
                return res

        store._q.c = Counting()  # type: ignore[assignment]
        assert len(store.traces(Filters(session_id="s17"), 100)) == 10
        assert store.sessions(Filters(session_id="s17"), 1)[0].trace_count == 10
        assert Counting.read_rows < 2 * 1024, Counting.read_rows  # one granule of copies each, of 6,000
        Counting.read_rows = 0
        assert {st.session_id for st in store.sessions(Filters(), 5)} == before
        # the newest window's summaries (factories' traces start at one time: all of them), then five sessions
        assert Counting.read_rows < 6000 + 2 * 1024, Counting.read_rows
        # the session's page: its traces and their streams (one read bounded by the traces' times)
        detail = CollectorSource(store, stats_ttl=0).session("s17")
        assert detail is not None and len(detail.traces) == 10
        per_trace = [st for t in detail.traces for st in store.streams(Filters(trace_id=t.trace_id), None)]
        assert detail.streams == tuple(sorted(per_trace, key=lambda st: (st.start_ns, st.span_id)))
        assert len(detail.streams) == 10
    finally:
        store._q.c = store.client
        store.close()


def test_on_a_cluster_each_shard_copies_its_own_summaries() -> None:
    from streamscope.collector.store.clickhouse_schema import Layout, backfill_sessions

    assert "FROM `db`.`traces` FINAL" in backfill_sessions(Layout(database="db"))
    per_shard = backfill_sessions(Layout(database="db", cluster="c", on_cluster=False))  # no DDL queue
    assert "INTO `db`.`session_traces_local`" in per_shard and "FROM `db`.`traces_local` FINAL" in per_shard
    # ON CLUSTER: through the Distributed tables, both sharded by trace id, so each copy stays on its shard
    everywhere = backfill_sessions(Layout(database="db", cluster="c"))
    assert "INTO `db`.`session_traces` " in everywhere and "distributed_foreground_insert = 1" in everywhere


def test_a_cursor_past_the_one_filtered_session_answers_no_session_like_the_memory_store() -> None:
    from streamscope.collector.store.memory import MemoryStore

    store, ref = fresh_store(), MemoryStore()
    try:
        batch = _session_batch(12, 0.0, 3)
        store.write(batch)
        ref.write(batch)
        store.settle()
        one = Filters(session_id="s1")
        found = store.sessions(one, 1)
        assert found == ref.sessions(one, 1) and len(found) == 1
        past, before = (found[0].last_start_ns, "s1"), (found[0].last_start_ns + 1, "s1")
        assert store.sessions(one, 1, past) == ref.sessions(one, 1, past) == []
        assert store.sessions(one, 1, before) == ref.sessions(one, 1, before) == found
        for after in (None, past, (found[0].last_start_ns, "s0")):  # the unfiltered list pages the same way
            assert store.sessions(Filters(), 2, after) == ref.sessions(Filters(), 2, after)
    finally:
        store.close()


def test_retention_is_a_ttl_on_the_copies_too_dropping_expired_rows() -> None:
    store = fresh_store(retention_s=2 * 3600)
    ddl = f"SHOW CREATE TABLE `{store.layout.database}`.`session_traces`"
    try:
        shown = store.client.query(ddl).result_rows[0][0]
        assert "TTL" in shown and "7200" in shown and "ttl_only_drop_parts = 0" in shown, shown
        again = ClickHouseStore(client(), store.layout, retention_s=3600)  # type: ignore[arg-type]
        assert "toIntervalSecond(3600)" in store.client.query(ddl).result_rows[0][0]
        again.close()
        from factories import T0

        store.write(_session_batch(5, 1e9 - T0 / 1e9, 2))  # traces of 2001: long expired
        store.settle()
        table = f"`{store.layout.database}`.`session_traces`"
        # what a merge does (an insert drops such rows already)
        store.client.command(f"OPTIMIZE TABLE {table} FINAL")
        assert store.client.query(f"SELECT count() FROM {table}").result_rows[0][0] == 0
    finally:
        store.close()
