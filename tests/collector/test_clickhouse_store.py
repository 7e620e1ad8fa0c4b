"""What only the ClickHouse store has: its URL, its group folds, and convergence after a write that failed."""

from __future__ import annotations

import threading
import time

import pytest
from chdb_engine import fresh_store
from factories import llm_trace
from test_store_contract import _all_aggregates, _expected_aggregates, _random_streams

from streamscope.collector import query
from streamscope.collector.model import Filters
from streamscope.collector.store.clickhouse import parse_url
from streamscope.collector.store.clickhouse_writer import GroupFold


def test_url_parsing() -> None:
    t = parse_url("clickhouses://u%40x:p%2Fw@db.example:9440/obs?cluster=c1&replicated=0")
    assert (t.host, t.port, t.secure, t.username, t.password) == ("db.example", 9440, True, "u@x", "p/w")
    assert (t.layout.database, t.layout.cluster, t.layout.replicated, t.layout.on_cluster) == ("obs", "c1", False, True)
    assert t.redacted() == "clickhouses://db.example:9440/obs"
    plain = parse_url("clickhouse://localhost/")
    assert (plain.port, plain.layout.database, plain.layout.cluster, plain.username) == (8123, "streamscope", None, "default")
    for bad, why in (("sqlite:///x.db", "scheme"), ("clickhouse://h:99x/db", "port"), ("clickhouse:///db", "host"),
                     ("clickhouse://h/db-1", "database"), ("clickhouse://h/db?colour=red", "option")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            parse_url(bad)


def test_a_retry_after_a_failed_fold_makes_the_aggregates_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The streams were stored, the fold failed (the batch was not acknowledged): the retry stores nothing new but
    must still fold, or the aggregates would miss those streams for good."""
    store = fresh_store()
    try:
        batches = _random_streams(6)
        for b in batches[:3]:
            store.write(b)
        real = store._w.fold
        monkeypatch.setattr(store._w, "fold", lambda minutes, **kw: (_ for _ in ()).throw(ConnectionError("gone")))
        store._w._folds = GroupFold(store._w.fold)
        with pytest.raises(ConnectionError):
            store.write(batches[3])
        assert store.counts()["streams"] == 4  # stored, but not yet in the aggregates
        monkeypatch.setattr(store._w, "fold", real)
        store._w._folds = GroupFold(real)
        store.write(batches[3])  # the exporter's retry
        for b in batches[4:]:
            store.write(b)
        assert _all_aggregates(store) == _expected_aggregates(store)
        assert query.stats(store)["total"]["count"] == 6
    finally:
        store.close()


def test_writes_at_once_share_folds_and_each_sees_its_own_streams() -> None:
    calls: list[set[int]] = []
    gate = threading.Event()

    def slow_fold(minutes: set[int]) -> None:
        calls.append(set(minutes))
        gate.wait(5)
        time.sleep(0.01)

    folds = GroupFold(slow_fold)
    first = threading.Thread(target=folds.fold, args=({1},))
    first.start()
    while not calls:
        time.sleep(0.001)
    rest = [threading.Thread(target=folds.fold, args=({m},)) for m in (2, 3, 4, 5)]
    for t in rest:
        t.start()
    time.sleep(0.05)  # they queue behind the running fold
    gate.set()
    for t in [first, *rest]:
        t.join(10)
    assert calls == [{1}, {2, 3, 4, 5}]  # the four waiting writes were served by one fold that started later


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
        versions = first.client.query(f"SELECT DISTINCT version FROM `{layout.database}`.schema_migrations FINAL")
        assert [r[0] for r in versions.result_rows] == [1]
        assert all(s.counts()["streams"] == 1 for s in stores)  # the data survived the second start
    finally:
        for s in [first, *stores]:
            s.close()


def test_retention_becomes_a_ttl_on_every_timed_table() -> None:
    store = fresh_store(retention_s=2 * 3600)
    try:
        for table in ("spans", "streams", "chunks", "traces", "live", "aggregates"):
            ddl = store.client.query(f"SHOW CREATE TABLE `{store.layout.database}`.`{table}`").result_rows[0][0]
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
