"""Chunk rows as columns (collector/chunk_columns.py): the hand-off to the SQLite writer process and what the writer
makes of them. Whatever the values, the columns path stores, returns and observes exactly what the row path does."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import llm_trace

from streamscope.collector import chunk_columns
from streamscope.collector.metrics import BatchObserver
from streamscope.collector.model import Chunk, IngestBatch, by_stream
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.store.writer import SQLiteProcessStore, decode_batch, encode_batch

NAN, INF = float("nan"), float("inf")
A, B, C = "a" * 16, "b" * 16, "\u00e9\U0001f642" + "c" * 14


def edge_chunks(storable: bool = True) -> tuple[Chunk, ...]:
    """Runs of three streams (A again after B), every field at its edges: None, NaN, infinities, -0.0, large and
    negative ints, bools, unicode, repeated and out-of-order indices. Not ``storable``: ints beyond 64 bits and a
    lone surrogate too, which the hand-off carries but no store keeps (the write fails, on either path)."""
    big, text = (2**63 - 1, "\U0001f642") if storable else (2**70, "\ud800")
    return (
        Chunk(A, 0, 0.1, None, "content", 3, None, None),
        Chunk(A, 1, 0.2, 0.1, "content", 4, 2, "h\u00e9llo \U0001f642"),
        Chunk(A, 2, -0.0, NAN, "reasoning", big, -big, text),
        Chunk(B, 5, 1.5, 0.25, "tool_call", 0, True, ""),
        Chunk(B, 3, INF, -INF, "content", -1, 0, "x" * 300),
        Chunk(B, 3, 2.0, 0.5, "content", 1, 1, "repeat of index 3"),
        Chunk(A, 3, NAN, 0.0, "", 7, None, None),
        Chunk(A, 4, 0.4, 0.1, "content", False, None, "after B"),
        Chunk(C, 0, 0.0, None, "content", 1, None, None),
    )


def packable_chunks() -> tuple[Chunk, ...]:
    """What the C packer takes (no content, no bools, ints within 64 bits), at its edges."""
    return (
        Chunk(A, 0, 0.1, None, "content", 3, None, None),
        Chunk(A, 1, -0.0, NAN, "reasoning", 2**63 - 1, -(2**63), None),
        Chunk(B, 7, INF, -INF, "\u00e9\U0001f642", -1, 0, None),
        Chunk(B, 7, 5e-324, 0.0, "", 0, None, None),
        Chunk(A, 2, 1e308, None, "content", 0, 12, None),
        Chunk(C, -5, 0.0, 0.5, "content", 1, None, None),
    )


def same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down; floats bit for bit (NaN, -0.0)."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float):
        return type(b) is float and repr(a) == repr(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(
    "chunks",
    [(), edge_chunks(False), edge_chunks()[:1], edge_chunks()[3:6], packable_chunks(), packable_chunks()[:1]],
)
def test_the_hand_off_gives_back_every_value_and_type_by_stream(chunks: tuple[Chunk, ...]) -> None:
    _, _, batch, _, groups = decode_batch(bytes(encode_batch(IngestBatch(chunks=chunks), 7, False)))
    assert batch.chunks == ()
    expected = by_stream(chunks)
    assert list(groups) == list(expected)  # streams in order of first appearance
    for sid, rows in expected.items():
        assert same(groups[sid].rows(), rows)
        assert same(chunk_columns.index_gaps(groups)[sid], ([r.index for r in rows], [r.gap for r in rows]))


@pytest.mark.skipif(chunk_columns._fastotlp is None, reason="the C packer is not built here")
def test_rows_the_decoders_make_are_packed_by_column_and_any_other_row_crosses_as_its_fields() -> None:
    assert isinstance(chunk_columns.pack(packable_chunks()), bytes)
    assert isinstance(chunk_columns.pack(()), bytes)
    row = packable_chunks()[0]

    class Text(str):
        pass

    for odd in (row._replace(index=True), row._replace(size=2**63), row._replace(tokens=-(2**63) - 1),
                row._replace(offset=1), row._replace(gap=0), row._replace(content="text"),
                row._replace(kind=Text("content")), row._replace(span_id="\ud800"), row._replace(kind=None)):  # fmt: skip
        packed = chunk_columns.pack((row, odd))
        assert isinstance(packed, list), odd
        assert same(chunk_columns.unpack(packed).rows(), [row, odd])


def test_a_flat_list_of_partial_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="whole rows"):
        chunk_columns.from_flat([A, 0, 0.1])


def stored(store: SQLiteStore) -> list[list[Chunk]]:
    return [store.chunks(sid) for sid in (A, B, C)]


def test_the_columns_path_stores_what_the_row_path_stores(tmp_path: Path) -> None:
    rows_store, cols_store = SQLiteStore(str(tmp_path / "rows.db")), SQLiteStore(str(tmp_path / "cols.db"))
    chunks = edge_chunks()
    # twice: the second write meets indices stored already (the first copy of an index wins)
    for part in (chunks[:5], chunks, chunks[::-1]):
        rows_store.write(IngestBatch(chunks=part))
        cols_store.write(IngestBatch(), None, chunk_columns.by_stream(chunk_columns.from_rows(part)))
    assert same(stored(cols_store), stored(rows_store))
    assert list(map(len, stored(rows_store))) == [4, 2, 1]  # A without its NaN offset; B index 3 once
    rows_store.close()
    cols_store.close()


def test_the_observer_counts_the_same_gaps_from_columns_as_from_rows() -> None:
    trace = llm_trace(5)
    from_rows, from_cols = BatchObserver(), BatchObserver()
    for part in (edge_chunks(), edge_chunks()[2:], (*trace.chunks, *edge_chunks())):  # retries count once
        batch = IngestBatch(streams=trace.streams, chunks=part)
        groups = chunk_columns.by_stream(chunk_columns.from_rows(part))
        expected = from_rows.observe(batch)
        got = from_cols.observe(IngestBatch(streams=trace.streams), chunk_columns.index_gaps(groups))
        assert repr(got) == repr(expected)


def test_the_writer_process_stores_edge_values_as_the_store_itself_does(tmp_path: Path) -> None:
    here = SQLiteStore(str(tmp_path / "here.db"))
    child = SQLiteProcessStore(str(tmp_path / "child.db"))
    try:
        trace = llm_trace(4)
        for batch in (IngestBatch(chunks=edge_chunks()), trace, IngestBatch(chunks=edge_chunks()[::-1])):
            here.write(batch)
            child.write_observed(batch)
        groups = chunk_columns.by_stream(chunk_columns.from_rows(edge_chunks()))
        child.write(IngestBatch(), None, groups)  # columns given to the parent travel as rows again
        assert same(stored(child), stored(here))
        sid = trace.streams[0].span_id
        assert child.chunks(sid) == here.chunks(sid) and len(here.chunks(sid)) == 4
    finally:
        here.close()
        child.close()
