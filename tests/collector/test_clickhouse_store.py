"""What only the ClickHouse store has: its URL, its derive passes and sweep, and convergence after failures."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import threading

import pytest
from chdb_engine import fresh_store
from factories import llm_trace
from test_store_contract import _all_aggregates, _expected_aggregates, _random_streams

from streamscope.collector import query
from streamscope.collector.model import NS, Filters, IngestBatch
from streamscope.collector.store.clickhouse import ClickHouseStore, parse_url
from streamscope.collector.store.clickhouse_schema import MIGRATIONS


def test_url_parsing() -> None:
    t = parse_url("clickhouses://u%40x:p%2Fw@db.example:9440/obs?cluster=c1&replicated=0")
    assert (t.host, t.port, t.secure, t.username, t.password) == ("db.example", 9440, True, "u@x", "p/w")
    assert (t.layout.database, t.layout.cluster, t.layout.replicated, t.layout.on_cluster) == (
        "obs",
        "c1",
        False,
        True,
    )
    assert t.redacted() == "clickhouses://db.example:9440/obs"
    plain = parse_url("clickhouse://localhost/")
    assert (plain.port, plain.layout.database, plain.layout.cluster, plain.username) == (
        8123,
        "streamscope",
        None,
        "default",
    )
    for bad, why in (("sqlite:///x.db", "scheme"), ("clickhouse://h:99x/db", "port"), ("clickhouse:///db", "host"),
                     ("clickhouse://h/db-1", "database"), ("clickhouse://h/db?colour=red", "option")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_url(bad)


def test_a_failed_derive_pass_keeps_its_marks_and_the_next_pass_makes_the_aggregates_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The streams were stored and acknowledged, the deriver's pass failed (the store went away): the marks stay,
    so the next pass folds them, or the aggregates would miss those streams for good."""
    store = fresh_store()
    try:
        batches = _random_streams(6)
        for b in batches[:3]:
            store.write(b)
        store.settle()
        real = store._w.fold
        monkeypatch.setattr(
            store._w, "fold", lambda minutes, **kw: (_ for _ in ()).throw(ConnectionError("gone"))
        )
        store.write(batches[3])  # acknowledged: its rows are stored
        with pytest.raises(ConnectionError):
            store.settle()
        assert store.counts()["streams"] == 4  # stored, but not yet in the aggregates
        assert query.stats(store).to_dict()["total"]["count"] == 3
        monkeypatch.setattr(store._w, "fold", real)
        for b in batches[4:]:
            store.write(b)
        store.settle()
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert query.stats(store).to_dict()["total"]["count"] == 6
    finally:
        store.close()


def test_a_write_returns_before_its_derive_pass_and_one_pass_serves_many_writes() -> None:
    store = fresh_store()
    folds: list[set[int]] = []
    real = store._w.fold
    store._w.fold = lambda minutes, **kw: (folds.append(set(minutes)), real(minutes, **kw))[1]  # type: ignore[method-assign]
    store._derive.interval = 3600.0  # passes only when asked (and the first one, at the first write)
    try:
        batches = _random_streams(8)
        store.write(batches[0])
        store.settle()
        folds.clear()
        for b in batches[1:]:
            store.write(b)
        assert store.counts()["streams"] == 8  # the rows are there at once
        assert query.stats(store).to_dict()["total"]["count"] == 1  # the derived rows wait for the next pass
        store.settle()
        assert len(folds) == 1  # seven writes, one fold
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert query.stats(store).to_dict()["total"]["count"] == 8
    finally:
        store.close()


def test_a_collector_killed_before_its_pass_is_repaired_by_another_collectors_sweep() -> None:
    """kill -9 between acknowledging writes and deriving them: the marks die with the process, the rows do not.
    Another collector's sweep finds the traces and minutes whose derived rows disagree with the stored rows."""
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore

    killed = fresh_store()
    survivor = ClickHouseStore(client(), killed.layout)  # type: ignore[arg-type]
    try:
        batches = [
            llm_trace(2, start=i * 700.0, model=("a", "b")[i % 2]) for i in range(10)
        ]  # over two hours
        for b in batches[:4]:
            killed.write(b)
        killed.settle()
        for b in batches[4:]:
            killed._w.write(b)  # stored and acknowledged; the process dies before it marks them
        traces = {st.trace_id for b in batches for st in b.streams}
        assert query.stats(survivor).to_dict()["total"]["count"] == 4
        stale_traces, stale_minutes = survivor._derive.stale(0)
        assert stale_traces == {st.trace_id for b in batches[4:] for st in b.streams}
        assert stale_minutes  # the minutes those streams fall in
        survivor.write(IngestBatch())  # nothing to write: no pass
        survivor.write(batches[0])  # a re-delivery to the survivor: its first pass sweeps
        survivor.settle()
        assert survivor._derive.stale(0) == (set(), set())
        assert _all_aggregates(survivor) == _expected_aggregates(survivor)
        assert query.stats(survivor).to_dict()["total"]["count"] == 10
        summaries = survivor.traces(Filters(), 100)
        assert {t.trace_id for t in summaries} == traces
        assert all(t.stream_count == 1 and t.span_count == 2 for t in summaries)
    finally:
        survivor.close()
        killed._w.close()
        killed.client.close()


def test_concurrent_writers_converge() -> None:
    """Four threads write overlapping batches (each batch twice, on different threads) into the same minutes."""
    store = fresh_store()
    try:
        batches = [llm_trace(3, start=i % 90, model=("a", "b")[i % 2]) for i in range(40)]
        errors: list[BaseException] = []

        def run(part: list[object]) -> None:
            try:
                for b in part:
                    store.write(b)  # type: ignore[arg-type]
            except BaseException as e:
                errors.append(e)

        parts = [batches[0::2], batches[1::2], batches[::-2], batches[-2::-2]]
        threads = [threading.Thread(target=run, args=(p,)) for p in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        store.settle()
        assert store.counts() == {"spans": 80, "streams": 40, "chunks": 120, "traces": 40}
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert all(t.stream_count == 1 and t.span_count == 2 for t in store.traces(Filters(), 100))
    finally:
        store.close()


def test_schema_is_versioned_idempotent_and_safe_to_start_twice_at_once() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore

    first = fresh_store()
    layout = first.layout
    first.write(llm_trace(2))
    errors: list[BaseException] = []
    stores: list[ClickHouseStore] = []

    def start() -> None:
        try:
            stores.append(ClickHouseStore(client(), layout))  # type: ignore[arg-type]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        versions = first.client.query(
            f"SELECT DISTINCT version FROM `{layout.database}`.schema_migrations FINAL"
        )
        assert sorted(r[0] for r in versions.result_rows) == [v for v, _, _ in MIGRATIONS]
        assert all(s.counts()["streams"] == 1 for s in stores)  # the data survived the second start
    finally:
        for s in [first, *stores]:
            s.close()


def test_a_version_1_schema_gets_the_insert_version_indexes_on_start() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore

    old = fresh_store()
    db = old.layout.database
    try:
        for table in ("spans", "streams"):  # as version 1 made them
            old.client.command(f"ALTER TABLE `{db}`.`{table}` DROP INDEX idx_ver")
        old.client.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 2")
        indexes = (
            f"SELECT table FROM system.data_skipping_indices WHERE database = '{db}' AND name = 'idx_ver'"
        )
        assert old.client.query(indexes).result_rows == []
        ClickHouseStore(client(), old.layout).close()  # type: ignore[arg-type]
        assert sorted(r[0] for r in old.client.query(indexes).result_rows) == ["spans", "streams"]
    finally:
        old.close()


def _moved(batch: IngestBatch, days: int) -> IngestBatch:
    """The batch's streams again, starting ``days`` later (another day partition)."""
    return IngestBatch(streams=tuple(dataclasses.replace(st, start_ns=st.start_ns + days * 86_400 * NS, ttft=9.0)
                                     for st in batch.streams))  # fmt: skip


def test_a_store_from_before_version_6_gets_the_stream_id_look_up_of_the_streams_it_stored() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore

    old = fresh_store()
    db = old.layout.database
    stored = llm_trace(2)
    old.write(stored)
    for stmt in ("DROP VIEW `{db}`.stream_ids_mv", "DROP TABLE `{db}`.stream_ids",
                 "DELETE FROM `{db}`.schema_migrations WHERE version = 6"):  # fmt: skip
        old.client.command(stmt.format(db=db))  # as the store was before version 6
    new = ClickHouseStore(client(), old.layout)  # type: ignore[arg-type]
    try:
        ids = new.client.query(f"SELECT span_id FROM `{db}`.stream_ids").result_rows
        assert [r[0] for r in ids] == [st.span_id for st in stored.streams]  # copied on start
        new.write(_moved(stored, 2))  # re-delivered, another day: still skipped
        later = llm_trace(2, start=3.0)
        new.write(later)  # the view fills the look-up from now on
        assert new.counts()["streams"] == 2
        assert new.stream(stored.streams[0].span_id) == stored.streams[0]
        ids = new.client.query(f"SELECT span_id FROM `{db}`.stream_ids FINAL").result_rows
        assert sorted(r[0] for r in ids) == sorted(st.span_id for b in (stored, later) for st in b.streams)
    finally:
        new.close()
        old.close()


def test_a_look_up_row_without_its_stream_does_not_make_a_write_skip_the_stream() -> None:
    """A span id in ``stream_ids`` whose stream row is gone (a delete, or an insert that stored one table and not
    the other) is not a stored stream: the check finds stored streams in ``streams`` itself."""
    store = fresh_store()
    db = store.layout.database
    try:
        batch = llm_trace(2)
        st = batch.streams[0]
        store.client.command(
            f"INSERT INTO `{db}`.stream_ids VALUES ('{st.span_id}', '{st.trace_id}', {st.start_ns}, 1)"
        )
        store.write(batch)
        assert store.stream(st.span_id) == st
        store.write(_moved(batch, 3))  # and once stored, a re-delivery from another day is skipped
        assert store.counts()["streams"] == 1
        assert store.stream(st.span_id) == st
    finally:
        store.close()


def _ddl(store: ClickHouseStore, table: str) -> str:
    """The table's CREATE statement as the server shows it."""
    return str(store.client.query(f"SHOW CREATE TABLE `{store.layout.database}`.`{table}`").result_rows[0][0])


def test_chunks_go_to_the_writers_day_and_only_a_copy_in_another_day_is_looked_for() -> None:
    """A write's chunk rows go to the day partition of the writer's clock; its check for stored chunks finds a
    copy in any other day (re-delivered across midnight, or to a collector whose clock is behind) and skips it,
    and leaves the write's own day out: a copy there is inserted again and collapses into the first (``FINAL``),
    the first write winning."""
    from streamscope.collector.store.clickhouse_writer import Versions

    store = fresh_store()
    db = store.layout.database
    day = 86_400 * NS
    day1 = 20_000 * day  # 2024-10-04 (UTC)
    try:
        chunks = llm_trace(3).chunks
        later = tuple(c._replace(content="later copy") for c in chunks)

        def write(at: int, batch: tuple[object, ...]) -> None:
            store._w.versions = Versions(lambda: at)
            store.write(IngestBatch(chunks=batch))  # type: ignore[arg-type]

        def days() -> list[tuple[str, int]]:
            sql = (
                f"SELECT toString(day), count() FROM `{db}`.chunks GROUP BY day ORDER BY day"  # without FINAL
            )
            return [(d, n) for d, n in store.client.query(sql).result_rows]

        write(day1 + 3600 * NS, chunks)
        assert days() == [("2024-10-04", 3)]
        write(day1 + day + 3600 * NS, later)  # the next day: the copy from the day before is found
        write(day1 - day + 3600 * NS, later)  # a clock a day behind: found too
        assert days() == [("2024-10-04", 3)]
        write(day1 + 7200 * NS, later)  # the same day: inserted, and collapses into the first write
        assert days() == [("2024-10-04", 6)]
        assert [c.content for c in store.chunks(chunks[0].span_id)] == ["c0", "c1", "c2"]
        assert store.counts()["chunks"] == 3
    finally:
        store.close()


def test_a_span_stored_twice_before_its_parts_merge_is_summarised_from_its_first_write() -> None:
    """Trace summaries read the spans without ``FINAL``; a trace holding two copies of a span (a re-delivery that
    differs, in a part not merged yet) is read again with it, so the first write wins as everywhere."""
    store = fresh_store()
    db = store.layout.database
    try:
        store.client.command(f"SYSTEM STOP MERGES `{db}`.spans")
        b = llm_trace(2)
        store.write(b)
        store.settle()
        root = b.spans[0]
        evil = dataclasses.replace(root, name="evil", start_ns=root.start_ns - 5 * NS, status_code=2)
        store.write(IngestBatch(spans=(evil,)))
        store.settle()
        assert store.client.query(f"SELECT count() FROM `{db}`.spans").result_rows == [(3,)]  # both copies
        (summary,) = store.traces(Filters(), 10)
        assert (summary.root_name, summary.start_ns, summary.status, summary.span_count) == (
            "handle request", root.start_ns, "unset", 2)  # fmt: skip
    finally:
        store.close()


def test_retention_becomes_a_ttl_on_every_timed_table() -> None:
    store = fresh_store(retention_s=2 * 3600)
    try:
        for table in ("spans", "streams", "chunks", "traces", "live", "aggregates", "stream_ids"):
            ddl = _ddl(store, table)
            assert "TTL" in ddl and "7200" in ddl and "ttl_only_drop_parts = 1" in ddl, ddl
    finally:
        store.close()


def test_a_changed_retention_alters_the_ttl_and_an_unchanged_one_does_nothing() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore

    first = fresh_store(retention_s=3600)
    layout = first.layout
    ddl = f"SHOW CREATE TABLE `{layout.database}`.`streams`"
    try:
        commands: list[str] = []
        c = client()
        real = c.command  # type: ignore[attr-defined]
        c.command = lambda cmd, *a, **kw: (commands.append(cmd), real(cmd, *a, **kw))[1]  # type: ignore[attr-defined]
        ClickHouseStore(c, layout, retention_s=3600).close()  # type: ignore[arg-type]  # same retention: no ALTER
        assert not [x for x in commands if x.startswith("ALTER")]
        second = ClickHouseStore(client(), layout, retention_s=7200)  # type: ignore[arg-type]
        assert "toIntervalSecond(7200)" in second.client.query(ddl).result_rows[0][0]
        second.close()
    finally:
        first.close()


def test_a_minute_folded_before_is_folded_again_from_its_new_streams_only() -> None:
    store = fresh_store()
    store._w.minutes.margin_ns = 0  # no allowance for slow commits: the next read starts at the last one
    store._derive.interval = 3600.0  # passes only when asked
    reads: list[tuple[bool, int]] = []
    real = store._w._read_streams

    def spy(minutes: set[int], since_ns: int | None) -> list[object]:
        got = real(minutes, since_ns)
        reads.append((since_ns is None, len(got)))
        return got  # type: ignore[return-value]

    store._w._read_streams = spy  # type: ignore[assignment, method-assign]
    try:
        for i in range(10):
            store.write(llm_trace(2, start=i * 0.5))  # one minute
        store.settle()
        store.write(llm_trace(2, start=5.5))
        store.settle()
        assert reads == [(True, 10), (False, 1)]  # from scratch once, then only the new stream
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert query.stats(store).to_dict()["total"]["count"] == 11
    finally:
        store.close()


def test_an_incremental_fold_builds_only_the_streams_its_minute_has_not_folded() -> None:
    """Within the cache's margin for slow commits every pass reads a hot minute's recent streams again; only the
    span ids the minute lacks become streams (the rest were folded by an earlier pass)."""
    store = fresh_store()
    assert store._w.minutes.margin_ns > 0  # the default: recent streams are read again on every pass
    store._derive.interval = 3600.0  # passes only when asked
    reads: list[tuple[bool, list[str]]] = []
    real = store._w._read_streams

    def spy(minutes: set[int], since_ns: int | None) -> list[object]:
        got = real(minutes, since_ns)
        reads.append((since_ns is None, sorted(st.span_id for st in got)))
        return got  # type: ignore[return-value]

    store._w._read_streams = spy  # type: ignore[assignment, method-assign]
    try:
        for i in range(10):
            store.write(llm_trace(2, start=i * 0.5))  # one minute
        store.settle()
        late = llm_trace(2, start=5.5)
        store.write(late)
        store.settle()
        store.settle()  # a pass with nothing marked reads nothing
        assert [(scratch, len(ids)) for scratch, ids in reads] == [(True, 10), (False, 1)]
        assert reads[1][1] == [st.span_id for st in late.streams]
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert query.stats(store).to_dict()["total"]["count"] == 11
    finally:
        store.close()


_INSERT_ONE_BLOCK = """
import sys
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from streamscope.collector.store.clickhouse import without_dataframes
if sys.argv[1] == "pandas first":
    import pandas
if sys.argv[1] != "as is":
    without_dataframes()
ctx = InsertContext("t", ["a"], [get_from_name("String")], column_oriented=True)
ctx.data = [["x", "y"]]  # what every insert of the writer does with its column lists
from clickhouse_connect.driver import options
print("pandas" in sys.modules, options.pd is not None)
"""


NO_PANDAS = importlib.util.find_spec("pandas") is None


@pytest.mark.skipif(NO_PANDAS, reason="without pandas there is no import to avoid")
def test_a_streamscope_process_inserts_without_importing_pandas() -> None:
    def run(mode: str) -> str:
        out = subprocess.run([sys.executable, "-c", _INSERT_ONE_BLOCK, mode], capture_output=True, text=True,
                             timeout=120, check=True)  # fmt: skip
        return out.stdout.strip()

    # what it avoids: clickhouse-connect imports pandas at the first insert
    assert run("as is") == "True True"
    assert run("streamscope") == "False False"
    assert run("pandas first") == "True True"  # a process that uses pandas keeps the DataFrame support


def test_every_table_fsyncs_its_inserted_parts_but_the_stream_id_look_up() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse import ClickHouseStore
    from streamscope.collector.store.clickhouse_schema import TABLES, Layout

    store = ClickHouseStore(client(), Layout(database=f"fsync_{id(object()):x}", fsync=True))  # type: ignore[arg-type]
    try:
        for table in TABLES:
            ddl = _ddl(store, table)
            synced = table != "stream_ids"  # a hint: every look-up hit is confirmed in streams
            assert f"fsync_after_insert = {int(synced)}" in ddl, table
    finally:
        store.close()


def _table_settings(store: ClickHouseStore, table: str) -> str:
    return _ddl(store, table).split("SETTINGS", 1)[1]


def test_written_parts_are_packed_and_the_tables_every_write_inserts_into_merge_at_base_10() -> None:
    from streamscope.collector.store.clickhouse_schema import INGEST_TABLES, TABLES

    store = fresh_store()
    db = store.layout.database
    try:
        for table in TABLES:
            settings = _table_settings(store, table)
            assert "min_bytes_for_full_part_storage = 10485760" in settings, table
            assert ("merge_selector_base = 10" in settings) == (table in INGEST_TABLES), table
        batch = llm_trace(3)
        store.write(batch)
        store.settle()
        stored = store.client.query(
            "SELECT DISTINCT table, part_storage_type FROM system.parts WHERE database = {db:String} AND active"
            " AND table IN ('spans', 'streams', 'chunks', 'traces')",
            parameters={"db": db},
        ).result_rows
        assert sorted(stored) == [("chunks", "Packed"), ("spans", "Packed"), ("streams", "Packed"),
                                  ("traces", "Packed")]  # fmt: skip
        assert store.stream(batch.streams[0].span_id) == batch.streams[0]
        assert len(store.chunks(batch.streams[0].span_id)) == len(
            [c for c in batch.chunks if c[0] == batch.streams[0].span_id]
        )
    finally:
        store.close()


def test_a_store_from_before_version_7_gets_packed_parts_and_the_merge_base_on_start() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse_schema import TABLES

    old = fresh_store()
    db = old.layout.database
    old.write(llm_trace(2))
    for table in TABLES:  # as the tables were before version 7
        old.client.command(
            f"ALTER TABLE `{db}`.`{table}` RESET SETTING min_bytes_for_full_part_storage, merge_selector_base"
        )
    old.client.command(f"DELETE FROM `{db}`.schema_migrations WHERE version = 7")
    assert "min_bytes_for_full_part_storage" not in _table_settings(old, "chunks")
    new = ClickHouseStore(client(), old.layout)  # type: ignore[arg-type]
    try:
        assert "merge_selector_base = 10" in _table_settings(new, "chunks")
        assert "min_bytes_for_full_part_storage = 10485760" in _table_settings(new, "traces")
        assert new.counts()["streams"] == 1  # the data stayed
    finally:
        new.close()
        old.close()


class _WithoutMergeBase:
    """The engine's client, as a server that does not know ``merge_selector_base`` answers the store's probe."""

    def __init__(self, real: object) -> None:
        self.real = real

    def query(self, sql: str, *args: object, **kw: object) -> object:
        if "system.merge_tree_settings" in sql:
            sql = sql.replace("WHERE name IN", "WHERE name != 'merge_selector_base' AND name IN")
        return self.real.query(sql, *args, **kw)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_a_server_that_lacks_a_setting_gets_tables_and_migrations_without_it() -> None:
    from chdb_engine import client

    from streamscope.collector.store.clickhouse_schema import Layout

    layout = Layout(database=f"old_{id(object()):x}", fsync=False)
    store = ClickHouseStore(_WithoutMergeBase(client()), layout)  # type: ignore[arg-type]
    try:
        assert store.layout.tuned == {"min_bytes_for_full_part_storage"}
        for table in ("spans", "chunks", "traces"):
            settings = _table_settings(store, table)
            assert "merge_selector_base" not in settings and "min_bytes_for_full_part_storage" in settings
        store.write(llm_trace(2))
        assert store.counts()["streams"] == 1
    finally:
        store.close()
