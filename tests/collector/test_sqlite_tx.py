"""The SQLite store's one transaction helper: commit, rollback, the real error kept, the busy timeout restored."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

import pytest
from factories import llm_trace

from streamscope.collector.model import Filters
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.store.sqlite_tx import (
    BUSY_TIMEOUT_S,
    busy_timeout,
    read_snapshot,
    write_transaction,
)

ROOT = Path(__file__).resolve().parents[2]


def _con(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return con


def _interrupt_next_insert(con: sqlite3.Connection) -> list[str]:
    """Interrupt the next INSERT on ``con``: inside a transaction, SQLite then rolls all of it back itself."""
    fired: list[str] = []

    def trace(sql: str) -> None:
        if sql.startswith("INSERT") and not fired:
            fired.append(sql)
            con.interrupt()
            con.set_trace_callback(None)

    con.set_trace_callback(trace)
    return fired


def test_a_write_transaction_commits_or_rolls_back_and_passes_the_exception_on(tmp_path: Path) -> None:
    con = _con(tmp_path / "a.db")
    with write_transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
    boom = KeyError("user code")
    with pytest.raises(KeyError) as got, write_transaction(con):
        con.execute("INSERT INTO t VALUES (2)")
        raise boom
    assert got.value is boom and not con.in_transaction
    assert con.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_an_error_sqlite_rolled_back_itself_is_raised_as_it_is(tmp_path: Path) -> None:
    """An interrupt (like a full disk or an I/O error) ends the transaction inside SQLite: a ROLLBACK after it
    would raise "no transaction is active" instead of the real error."""
    con = _con(tmp_path / "a.db")
    with pytest.raises(sqlite3.OperationalError, match=r"^interrupted$"), write_transaction(con):
        con.execute("INSERT INTO t VALUES (1)")
        _interrupt_next_insert(con)
        con.execute("INSERT INTO t VALUES (2)")
    assert not con.in_transaction and con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_an_interrupted_store_write_reports_the_interrupt_and_the_store_goes_on(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    store.write(llm_trace(start=1))
    fired = _interrupt_next_insert(store._w)
    with pytest.raises(sqlite3.OperationalError, match=r"^interrupted$"):
        store.write(llm_trace(start=2))
    assert fired and not store._w.in_transaction
    store.write(llm_trace(start=3))
    stats = store.counts()
    assert stats["traces"] == 2 and len(store.streams(Filters(), None)) == 2
    assert sum(a.state.n for a in store.aggregates(60, Filters())) == 2
    store.close()


def test_a_read_snapshot_sees_one_state_of_the_database(tmp_path: Path) -> None:
    reader, writer = _con(tmp_path / "a.db"), _con(tmp_path / "a.db")
    reader.execute("PRAGMA journal_mode=WAL")
    with read_snapshot(reader):
        before = reader.execute("SELECT count(*) FROM t").fetchone()
        writer.execute("INSERT INTO t VALUES (1)")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == before == (0,)
    assert not reader.in_transaction and reader.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_shorter_busy_timeout_lasts_for_its_block_only(tmp_path: Path) -> None:
    con = _con(tmp_path / "a.db")
    con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    with pytest.raises(ZeroDivisionError), busy_timeout(con, 0.2):
        assert con.execute("PRAGMA busy_timeout").fetchone() == (200,)
        1 / 0  # noqa: B018
    assert con.execute("PRAGMA busy_timeout").fetchone() == (int(BUSY_TIMEOUT_S * 1000),)


def test_every_transaction_of_the_sqlite_store_goes_through_the_helper() -> None:
    statement = re.compile(r"""["'](BEGIN|COMMIT|ROLLBACK|PRAGMA busy_timeout)\b""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "collector").rglob("*.py"))
        if path.name != "sqlite_tx.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if statement.search(line)
    ]
    assert offenders == []


def test_closing_the_store_waits_for_the_write_in_flight(tmp_path: Path) -> None:
    """Retention runs on its own thread; a server stopping closes the store meanwhile. Closing the writer
    connection under a statement crashed the process (seen as a segfault in the retention tests)."""
    store = SQLiteStore(str(tmp_path / "s.db"))
    holding, closed, result = threading.Event(), threading.Event(), []

    def write_in_flight() -> None:
        with store._wlock:  # what write() and the deletes hold while they use the writer connection
            holding.set()
            closed.wait(0.5)  # without the fix close() returns at once; with it, it waits for us
            result.append(store._w.execute("SELECT count(*) FROM spans").fetchone())

    worker = threading.Thread(target=write_in_flight)
    worker.start()
    holding.wait()
    closer = threading.Thread(target=lambda: (store.close(), closed.set()))
    closer.start()
    worker.join()
    closer.join()
    assert result == [(0,)] and closed.is_set()
    with pytest.raises(sqlite3.ProgrammingError):
        store._w.execute("SELECT 1")
