"""The SQLite store opens databases written by earlier versions and brings their schema up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from streamscope.collector.model import Filters, IngestBatch, Span
from streamscope.collector.store.sqlite import SQLiteStore


def test_a_database_from_before_waiting_for_root_gets_the_column(tmp_path: Path) -> None:
    """Traces tables written before ``waiting_for_root`` existed gain it (0 for their rows) when opened."""
    db = str(tmp_path / "old.db")
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE traces (trace_id TEXT PRIMARY KEY, root_name TEXT NOT NULL, service TEXT NOT NULL,"
        " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, status TEXT NOT NULL, span_count INTEGER NOT NULL,"
        " stream_count INTEGER NOT NULL, session_id TEXT, user_id TEXT)"
    )
    con.execute(
        "INSERT INTO traces VALUES ('" + "a" * 32 + "', 'old root', 'svc', 1, 2, 'unset', 1, 0, NULL, NULL)"
    )
    con.commit()
    con.close()
    store = SQLiteStore(db)
    try:
        (old,) = store.traces(Filters(), 10)
        assert old.root_name == "old root" and old.waiting_for_root is False
        store.write(IngestBatch(spans=(Span("b" * 32, "c" * 16, "d" * 16, "child", 1, 5, 6),)))
        new = next(t for t in store.traces(Filters(), 10) if t.trace_id == "b" * 32)
        assert new.waiting_for_root is True
    finally:
        store.close()


def test_session_and_user_filters_look_streams_up_by_index(tmp_path: Path) -> None:
    """A stream's session or user (its own or its trace's) is found through the partial indexes, not by checking
    every stored stream: the filtered overview, models and lists depend on it at 100k streams."""
    store = SQLiteStore(str(tmp_path / "s.db"))
    try:
        store.streams(Filters(), 1)  # open the reader
        seen: list[str] = []
        con = store._r()
        con.set_trace_callback(seen.append)
        store.streams(Filters(user_id="u-1", session_id="s-1"), 50)
        con.set_trace_callback(None)
        (sql,) = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
        plan = " | ".join(row[3] for row in con.execute("EXPLAIN QUERY PLAN " + sql))
        assert "streams_user" in plan and "streams_session" in plan, plan
        assert "SCAN s " not in plan + " " and "CORRELATED" not in plan, plan
    finally:
        store.close()
