"""Each span's resource and scope are stored once per (resource, scope) pair in ``span_origins``; rows written before
that table existed, and rows whose pair's id is taken by another pair, keep them in their own columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from streamscope.collector.model import Filters, IngestBatch, Span
from streamscope.collector.store import sqlite_origins, trace_rollups
from streamscope.collector.store.sqlite import SQLiteStore, span_rows

T1, T2 = "a" * 32, "b" * 32
APP = {"service.name": "app", "host.name": "h1"}
OTHER = {"service.name": "other", "host.name": "h2"}


def span(tid: str, sid: str, resource: dict[str, Any], scope: str = "lib", parent: str | None = None) -> Span:
    return Span(tid, sid, parent, "op " + sid, 1, 10, 20, service=str(resource.get("service.name", "")),
                attributes={"k": sid}, resource=resource, scope=scope)  # fmt: skip


def rows_of(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def read_back(store: SQLiteStore, tid: str) -> dict[str, tuple[dict[str, Any], str]]:
    return {s.span_id: (dict(s.resource), s.scope) for s in store.trace_spans(tid)}


def test_a_resource_is_stored_once_and_read_back_with_every_span(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    try:
        for i in range(3):  # three batches of one exporter, one re-delivered
            store.write(
                IngestBatch(spans=(span(T1, f"{i:016x}", APP), span(T1, f"{i + 8:016x}", APP, "other.lib")))
            )
        store.write(IngestBatch(spans=(span(T1, f"{0:016x}", APP),)))
        store.write(IngestBatch(spans=(span(T2, "c" * 16, {}),)))  # an empty resource is an origin too
        spans = read_back(store, T1)
        assert len(spans) == 6
        assert spans[f"{1:016x}"] == (APP, "lib") and spans[f"{9:016x}"] == (APP, "other.lib")
        assert read_back(store, T2) == {"c" * 16: ({}, "lib")}
    finally:
        store.close()
    assert len(rows_of(tmp_path / "s.db", "SELECT * FROM span_origins")) == 3
    assert rows_of(tmp_path / "s.db", "SELECT DISTINCT resource, scope FROM spans") == [(None, "")]


def test_a_database_from_before_span_origins_keeps_its_rows_and_gains_the_table(tmp_path: Path) -> None:
    """A spans table with the resource and scope in every row (the layout before ``span_origins``): opening it
    adds the column and the table (twice: idempotent); old rows read back as they were, new ones next to them."""
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(
        """CREATE TABLE spans (
            trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL,
            kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
            status_code INTEGER NOT NULL, status_message TEXT NOT NULL, service TEXT NOT NULL,
            attributes TEXT NOT NULL, events TEXT, resource TEXT, scope TEXT NOT NULL,
            session_id TEXT, user_id TEXT);
        CREATE UNIQUE INDEX spans_trace_span ON spans(trace_id, span_id);"""
    )
    con.execute(
        "INSERT INTO spans VALUES (?, ?, NULL, 'old root', 2, 5, 50, 0, '', 'app', '{}', NULL, ?, 'old.lib',"
        " NULL, NULL)",
        (T1, "0" * 16, '{"service.name":"app","host.name":"h0"}'),
    )
    con.commit()
    con.close()
    for _ in range(2):
        SQLiteStore(str(db)).close()
    store = SQLiteStore(str(db))
    try:
        store.write(IngestBatch(spans=(span(T1, "1" * 16, APP, parent="0" * 16), span(T1, "0" * 16, OTHER))))
        spans = read_back(store, T1)
        assert spans == {
            "0" * 16: ({"service.name": "app", "host.name": "h0"}, "old.lib"),
            "1" * 16: (APP, "lib"),
        }
        assert store.counts()["spans"] == 2  # the re-delivered old span counts once
        (summary,) = store.traces(Filters(), 5)
        assert summary.root_name == "old root" and summary.span_count == 2
    finally:
        store.close()
    columns = [r[1] for r in rows_of(db, "PRAGMA table_info(spans)")]
    assert columns.count("origin") == 1 and columns[-1] == "origin"


def test_a_pair_whose_id_is_taken_keeps_its_resource_in_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are hashes: a pair whose id is stored for another pair, or taken by another pair of its batch (every
    pair collides here), must not read back as that other pair."""
    monkeypatch.setattr(sqlite_origins, "origin_id", lambda resource, scope: 7)
    store = SQLiteStore(str(tmp_path / "s.db"))
    try:
        store.write(IngestBatch(spans=(span(T1, "1" * 16, APP),)))
        store.write(IngestBatch(spans=(span(T1, "2" * 16, OTHER), span(T1, "3" * 16, APP))))
        store.write(IngestBatch(spans=(span(T1, "2" * 16, OTHER),)))  # re-delivered: still once
        assert read_back(store, T1) == {
            "1" * 16: (APP, "lib"),
            "2" * 16: (OTHER, "lib"),
            "3" * 16: (APP, "lib"),
        }
        assert store.counts()["spans"] == 3
    finally:
        store.close()
    assert rows_of(tmp_path / "s.db", "SELECT span_id, scope, origin FROM spans ORDER BY span_id") == [
        ("1" * 16, "", 7), ("2" * 16, "lib", None), ("3" * 16, "lib", None)]  # fmt: skip


def test_the_first_row_of_a_span_wins_when_its_origin_collided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that carries one span twice, first with a collided origin (kept in the row) and then with a mapped
    one: the first row is stored, as for every re-delivered span."""
    third = {"service.name": "third"}
    monkeypatch.setattr(sqlite_origins, "origin_id", lambda resource, scope: 8 if "third" in resource else 7)
    store = SQLiteStore(str(tmp_path / "s.db"))
    try:
        store.write(IngestBatch(spans=(span(T1, "1" * 16, APP),)))  # id 7 is APP's
        store.write(IngestBatch(spans=(span(T1, "2" * 16, OTHER), span(T1, "2" * 16, third))))
        assert read_back(store, T1) == {"1" * 16: (APP, "lib"), "2" * 16: (OTHER, "lib")}
    finally:
        store.close()


def test_an_origin_inserted_by_a_rolled_back_write_is_inserted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteStore(str(tmp_path / "s.db"))
    real_apply = trace_rollups.apply

    def fail(*args: Any) -> None:
        raise RuntimeError("disk on fire")

    try:
        monkeypatch.setattr(trace_rollups, "apply", fail)
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.write(IngestBatch(spans=(span(T1, "1" * 16, APP),)))
        monkeypatch.setattr(trace_rollups, "apply", real_apply)
        store.write(IngestBatch(spans=(span(T1, "1" * 16, APP),)))
        assert read_back(store, T1) == {"1" * 16: (APP, "lib")}
    finally:
        store.close()


def test_span_rows_carry_each_origin_once() -> None:
    rows = span_rows([span(T1, f"{i:016x}", APP) for i in range(5)] + [span(T2, "c" * 16, OTHER, "x")])
    assert len(rows.rows) == 6 and len(rows.origins) == 2
    assert {r[-1] for r in rows.rows} == set(rows.origins)
    assert rows.origins[sqlite_origins.origin_id('{"service.name":"other","host.name":"h2"}', "x")] == (
        '{"service.name":"other","host.name":"h2"}', "x")  # fmt: skip
    assert sqlite_origins.origin_id(None, "x") != sqlite_origins.origin_id("null", "x")
