"""The ``chunk_blocks`` row format of the SQLite store: a stream's chunk rows of one write, column by column.

:func:`encode` turns chunk rows (tuples in ``Chunk`` field order) into one block row, :func:`decode` turns a block
row back into ``Chunk`` rows. The SQL around them stays in ``collector/store/sqlite.py``.
"""

from __future__ import annotations

import itertools
import operator
import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from streamscope.collector.model import Chunk

# Chunk rows are kept in blocks (``chunk_blocks``): one row per stream per write, holding the chunks of that
# stream the write adds, column by column. A stream's 126 chunks are one B-tree insert and ~20 bytes a chunk
# instead of 126 inserts of ~60 bytes (random span ids make every insert a page of its own). ``lo`` is the
# block's lowest index and ``n`` its chunk count; ``idx`` holds the indices (int64, little-endian, ascending)
# unless they are exactly lo..lo+n-1 (then NULL); ``offsets`` / ``gaps`` are float64 little-endian, a NaN gap
# meaning NULL (as SQLite stores a NaN REAL); kinds / sizes / tokens / contents are JSON: an array of n values,
# or one value that every chunk of the block has. The first write of a (span_id, index) wins: a write reads
# the indices its streams already have and stores only new ones, and a chunk without a finite offset is not
# stored (the NOT NULL offset column of the row-per-chunk table dropped it too).
_BIG_ENDIAN = sys.byteorder == "big"
_NAN = float("nan")
_index = operator.itemgetter(1)


def pack(code: str, values: Iterable[float]) -> bytes:
    a = array(code, values)
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tobytes()


def unpack(code: str, data: bytes) -> array[Any]:
    a = array(code)
    a.frombytes(data)
    if _BIG_ENDIAN:
        a.byteswap()
    return a


def _column(values: Sequence[Any]) -> bytes:
    first = values[0]
    return orjson.dumps(first if values.count(first) == len(values) else values)


def _uncolumn(data: bytes, n: int) -> list[Any]:
    v = orjson.loads(data)
    return v if isinstance(v, list) else [v] * n


def _in_order(idx: Sequence[Any], lo: int, n: int) -> bool:
    """Whether the indices are exactly lo..lo+n-1 (compared with ==, as a tuple compares)."""
    return (idx if type(idx) is list else list(idx)) == list(range(lo, lo + n))


def encode(span_id: str, rows: Sequence[tuple[Any, ...]], have: set[int] | None) -> tuple[Any, ...] | None:
    """The ``chunk_blocks`` row of one stream's chunk rows (tuples in ``Chunk`` field order), without the
    indices in ``have`` (already stored) and the repeats of an index; None when nothing is left."""
    return encode_columns(span_id, tuple(zip(*rows, strict=True)), have)


def encode_columns(
    span_id: str, cols: Sequence[Sequence[Any]], have: set[int] | None
) -> tuple[Any, ...] | None:
    """:func:`encode` of the same rows given as columns (``Chunk`` field order, one value per row in each)."""
    _, idx, off, gap, kind, size, tokens, content = cols
    lo, n = idx[0], len(idx)
    try:
        total = sum(off)
    except TypeError:
        total = _NAN
    if have or total != total or not _in_order(idx, lo, n):  # the slow path: filter, order
        seen = set(have) if have else set()
        keep = []
        for r in sorted(
            zip(*cols, strict=True), key=_index
        ):  # stable: the first of repeated indices stays first
            i, o = r[1], r[2]
            if i in seen or not isinstance(o, (int, float)) or o != o:
                continue
            seen.add(i)
            keep.append(r)
        if not keep:
            return None
        _, idx, off, gap, kind, size, tokens, content = zip(*keep, strict=True)
        lo, n = idx[0], len(idx)
    packed_idx = None if _in_order(idx, lo, n) else pack("q", idx)
    if None in gap:
        gap = [_NAN if g is None else g for g in gap]
    return (span_id, lo, n, packed_idx, pack("d", off), pack("d", gap), _column(kind), _column(size),
            _column(tokens), _column(content))  # fmt: skip


def indices(lo: int, n: int, idx: bytes | None) -> Iterable[int]:
    """The chunk indices a block row holds (its ``lo``, ``n`` and ``idx`` columns)."""
    return range(lo, lo + n) if idx is None else unpack("q", idx)


def decode(span_id: str, r: Sequence[Any]) -> list[Chunk]:
    """``Chunk`` rows of a block row (its columns after ``span_id``)."""
    lo, n, idx, offsets, gaps, kinds, sizes, tokens, contents = r
    return list(map(
        Chunk, itertools.repeat(span_id, n), indices(lo, n, idx),
        unpack("d", offsets), [None if g != g else g for g in unpack("d", gaps)], _uncolumn(kinds, n),
        _uncolumn(sizes, n), _uncolumn(tokens, n), _uncolumn(contents, n),
    ))  # fmt: skip
