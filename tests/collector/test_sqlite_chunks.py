"""SQLite keeps chunk rows in per-stream blocks: what goes in comes out, the first write of an index wins, and a
database that still has the row-per-chunk ``chunks`` table is moved into blocks on open."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from factories import llm_trace, span_id

from streamscope.collector.model import Chunk, IngestBatch
from streamscope.collector.store.memory import MemoryStore
from streamscope.collector.store.sqlite import SQLiteStore


def _both(tmp_path: Path, *batches: IngestBatch) -> tuple[SQLiteStore, MemoryStore]:
    s, m = SQLiteStore(str(tmp_path / "db.sqlite")), MemoryStore()
    for b in batches:
        s.write(b)
        m.write(b)
    return s, m


def test_values_round_trip_and_match_the_memory_store(tmp_path: Path) -> None:
    sid = span_id()
    chunks = (
        Chunk(sid, 0, 0.25, None, "content", 3, None, "héllo 👋"),
        Chunk(sid, 1, 0.5, 0.25, "reasoning", 0, 7, None),
        Chunk(sid, 2, 1e300, -0.0, "tool_call", 2**62, 2**40, ""),
        Chunk(sid, 3, 3.0, math.inf, "content", 1, None, '{"a": [1]}'),
    )
    s, m = _both(tmp_path, IngestBatch(chunks=chunks))
    try:
        assert s.chunks(sid) == m.chunks(sid) == list(chunks)
        assert s.counts()["chunks"] == 4
    finally:
        s.close()


def test_first_write_of_an_index_wins_across_and_within_writes(tmp_path: Path) -> None:
    sid = span_id()
    first = IngestBatch(chunks=tuple(Chunk(sid, i, 0.1 * i, 0.1, "content", 1, None, "a") for i in (2, 3, 4)))
    # later: repeats of stored indices (ignored), out of order, repeated within the batch (first stays), and gaps
    later = IngestBatch(chunks=tuple(Chunk(sid, i, 9.0 + i, 9.0, "content", 2, None, f"b{n}")
                                     for n, i in enumerate((7, 3, 0, 7, 1, 4))))  # fmt: skip
    s, m = _both(tmp_path, first, later, later)
    try:
        got = s.chunks(sid)
        assert got == m.chunks(sid)
        assert [(c.index, c.content) for c in got] == [
            (0, "b2"),
            (1, "b4"),
            (2, "a"),
            (3, "a"),
            (4, "a"),
            (7, "b0"),
        ]
        assert s.counts()["chunks"] == 6
    finally:
        s.close()


def test_chunks_of_several_streams_interleaved_in_one_batch(tmp_path: Path) -> None:
    a, b = span_id(), span_id()
    chunks = tuple(Chunk(sid, i, float(i), None if i == 0 else 1.0) for i in range(5) for sid in (a, b))
    s, m = _both(tmp_path, IngestBatch(chunks=chunks))
    try:
        for sid in (a, b):
            assert s.chunks(sid) == m.chunks(sid) == [c for c in chunks if c.span_id == sid]
    finally:
        s.close()


def test_a_chunk_without_a_finite_offset_is_not_stored_and_a_nan_gap_is_none(tmp_path: Path) -> None:
    sid = span_id()
    s = SQLiteStore(str(tmp_path / "db.sqlite"))
    try:
        s.write(IngestBatch(chunks=(Chunk(sid, 0, 0.1, None), Chunk(sid, 1, math.nan, 0.1),
                                    Chunk(sid, 2, 0.3, math.nan))))  # fmt: skip
        assert s.chunks(sid) == [Chunk(sid, 0, 0.1, None), Chunk(sid, 2, 0.3, None)]
        s.write(IngestBatch(chunks=(Chunk(sid, 1, 0.2, 0.1),)))  # index 1 was never stored: it can come later
        assert [c.index for c in s.chunks(sid)] == [0, 1, 2]
    finally:
        s.close()


def test_a_database_with_a_row_per_chunk_is_moved_into_blocks_on_open(tmp_path: Path) -> None:
    db = str(tmp_path / "old.sqlite")
    traces = [llm_trace(n) for n in (1, 5, 3)]
    con = sqlite3.connect(db)
    con.execute(  # the chunk table of databases written before chunk blocks
        'CREATE TABLE chunks (span_id TEXT NOT NULL, idx INTEGER NOT NULL, "offset" REAL NOT NULL, gap REAL,'
        " kind TEXT NOT NULL, size INTEGER NOT NULL, tokens INTEGER, content TEXT, PRIMARY KEY (span_id, idx))"
        " WITHOUT ROWID"
    )
    con.executemany(
        "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
        [
            (c.span_id, c.index, c.offset, c.gap, c.kind, c.size, c.tokens, c.content)
            for b in traces
            for c in b.chunks
        ],
    )
    con.commit()
    con.close()
    store = SQLiteStore(db)
    try:
        for b in traces:
            store.write(IngestBatch(spans=b.spans, streams=b.streams))
        for b in traces:
            assert store.chunks(b.streams[0].span_id) == list(b.chunks)
        assert store.counts()["chunks"] == 9
        store.write(traces[1])  # a retry after the move changes nothing
        assert store.chunks(traces[1].streams[0].span_id) == list(traces[1].chunks)
        assert store.counts()["chunks"] == 9
    finally:
        store.close()
    con = sqlite3.connect(db)
    try:
        assert not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").fetchone()
    finally:
        con.close()


def test_a_database_from_before_ttft_source_gets_the_column(tmp_path: Path) -> None:
    """Opening a database whose streams table lacks a newer column adds it; old rows read it as None."""
    import sqlite3

    from factories import llm_trace

    from streamscope.collector.model import Filters
    from streamscope.collector.store.sqlite import SQLiteStore

    path = tmp_path / "old.db"
    store = SQLiteStore(str(path))
    store.write(llm_trace(3))
    store.close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE streams DROP COLUMN ttft_source")
    con.commit()
    con.close()
    store = SQLiteStore(str(path))
    try:
        (st,) = store.streams(Filters(), None)
        assert st.ttft_source is None and st.ttft == 0.2
    finally:
        store.close()
