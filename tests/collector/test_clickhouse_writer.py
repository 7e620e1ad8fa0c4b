"""The ClickHouse writer's columnar chunk rows (pure: no engine)."""

from __future__ import annotations

from streamscope.collector.model import Chunk
from streamscope.collector.store.clickhouse_writer import CHUNK_COLUMNS, chunk_columns, new_chunk_columns


def _chunks() -> tuple[Chunk, ...]:
    return tuple(
        Chunk(sid, i, 0.1 * i, 0.1, "content", 1, None, f"{sid}{i}") for sid in ("a", "b") for i in range(3)
    )


def test_chunk_rows_become_the_tables_columns_in_order() -> None:
    chunks = _chunks()
    cols = chunk_columns(chunks)
    assert len(cols) == len(CHUNK_COLUMNS) == len(Chunk._fields)
    assert [tuple(r) for r in zip(*cols, strict=True)] == [tuple(c) for c in chunks]
    assert chunk_columns(()) == [[] for _ in CHUNK_COLUMNS]


def test_all_new_and_unique_chunks_are_inserted_as_they_are() -> None:
    cols = chunk_columns(_chunks())
    assert new_chunk_columns(cols, {("c", 0)}) is cols


def test_stored_chunks_and_repeats_within_the_batch_are_left_out_the_first_copy_kept() -> None:
    chunks = _chunks()
    repeat = Chunk("b", 2, 9.0, 9.0, "content", 9, None, "later copy")
    cols = chunk_columns((*chunks, repeat, chunks[0]))
    kept = new_chunk_columns(cols, {("a", 1)})
    rows = [Chunk(*r) for r in zip(*kept, strict=True)]
    assert [(c.span_id, c.index) for c in rows] == [("a", 0), ("a", 2), ("b", 0), ("b", 1), ("b", 2)]
    assert rows[-1].content == "b2"
