"""A batch's chunk rows column by column: how they cross to the SQLite writer process and are used there.

The receiving process packs its ``Chunk`` rows one buffer per column (:func:`pack`: ``_fastotlp.pack_chunks`` in
C, ~0.05 µs a row instead of ~0.2 to pickle its fields): int64 and double arrays for the numbers, runs of equal
values for ``span_id`` and ``kind``. Rows the C packer does not take (content text, a bool or an int beyond 64
bits, no C extension) travel as one flat list of their fields instead (:func:`flatten`), pickled. The writer
process turns either into columns (:func:`unpack`) and works on them: chunk blocks (``store/chunk_blocks.py``)
are built from each stream's column slices and the metric observer reads each stream's indices and gaps
(:func:`index_gaps`), so no ``Chunk`` object is made there at all. Every value comes back as it was, with its
type (floats bit for bit, None where it was None): what is stored is what the rows would store.
"""

from __future__ import annotations

import itertools
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from streamscope.collector.model import Chunk

try:  # the C accelerator (built with the OTLP walker); without it chunk rows cross as their fields
    from streamscope.collector import _fastotlp  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    _fastotlp = None

WIDTH = len(Chunk._fields)


class ChunkColumns(NamedTuple):
    """Chunk rows as columns in ``Chunk`` field order, each a list of one value per row, rows in batch order."""

    span_id: list[str]
    index: list[int]  # type: ignore[assignment]  # a field named like tuple.index, as in Chunk
    offset: list[float]
    gap: list[float | None]
    kind: list[str]
    size: list[int]
    tokens: list[int | None]
    content: list[str | None]

    def rows(self) -> list[Chunk]:
        """The rows themselves (tests, and stores that take rows)."""
        return list(map(Chunk._make, zip(*self, strict=True)))


#: chunk rows by stream (``span_id``), as columns
Groups = Mapping[str, ChunkColumns]


def flatten(chunks: Iterable[Chunk]) -> list[Any]:
    """Every field of every row, in row order: what crosses to the writer process."""
    return list(itertools.chain.from_iterable(chunks))


def from_flat(flat: list[Any]) -> ChunkColumns:
    """:func:`flatten` undone into columns."""
    if len(flat) % WIDTH:
        raise ValueError(f"{len(flat)} chunk fields are not whole rows of {WIDTH}")
    return ChunkColumns._make(flat[i::WIDTH] for i in range(WIDTH))


def from_rows(chunks: Sequence[Chunk]) -> ChunkColumns:
    return from_flat(flatten(chunks))


def pack(chunks: Sequence[Chunk]) -> bytes | list[Any]:
    """The chunk rows as they cross to the writer process: packed by column, or (rows the packer does not take)
    their fields in one flat list."""
    if _fastotlp is not None and (packed := _fastotlp.pack_chunks(chunks)) is not None:
        return bytes(packed)
    return flatten(chunks)


def unpack(data: bytes | list[Any]) -> ChunkColumns:
    """:func:`pack` undone."""
    if isinstance(data, list):
        return from_flat(data)
    view = memoryview(data)
    n = int.from_bytes(view[:8], sys.byteorder, signed=True)
    at = 8

    def numbers(code: str) -> list[Any]:
        nonlocal at
        a = array(code)
        a.frombytes(view[at : at + 8 * n])
        at += 8 * n
        return a.tolist()

    index, offset, gap, size, tokens = (numbers(c) for c in "qddqq")
    for column, flags in ((gap, view[at : at + n].tobytes()), (tokens, view[at + n : at + 2 * n].tobytes())):
        if flags.count(1) == n:
            column[:] = [None] * n
        else:  # a stream's first gap, say: one row in many
            i = flags.find(1)
            while i >= 0:
                column[i] = None
                i = flags.find(1, i + 1)
    at += 2 * n
    texts = []
    for _ in range(2):  # span_id, kind: runs of equal values
        runs = int.from_bytes(view[at : at + 8], sys.byteorder, signed=True)
        at += 8
        values: list[Any] = []
        for _ in range(runs):
            count = int.from_bytes(view[at : at + 8], sys.byteorder, signed=True)
            size_ = int.from_bytes(view[at + 8 : at + 16], sys.byteorder, signed=True)
            values += [str(view[at + 16 : at + 16 + size_], "utf-8")] * count
            at += 16 + size_
        texts.append(values)
    return ChunkColumns(texts[0], index, offset, gap, texts[1], size, tokens, [None] * n)


def by_stream(cols: ChunkColumns) -> dict[str, ChunkColumns]:
    """Each stream's rows (by ``span_id``) as columns, in batch order: ``model.by_stream`` for columns. A batch
    holds a stream's rows in runs, so this slices one run at a time."""
    runs: dict[str, list[tuple[int, int]]] = {}
    at = 0
    for sid, run in itertools.groupby(cols.span_id):
        n = len(list(run))
        runs.setdefault(sid, []).append((at, at + n))
        at += n
    out: dict[str, ChunkColumns] = {}
    for sid, spans in runs.items():
        if len(spans) == 1:
            a, b = spans[0]
            out[sid] = ChunkColumns._make(c[a:b] for c in cols)
        else:
            out[sid] = ChunkColumns._make([v for a, b in spans for v in c[a:b]] for c in cols)
    return out


def index_gaps(groups: Groups) -> dict[str, tuple[list[int], list[float | None]]]:
    """Each stream's chunk indices and gaps (what the metric observer reads), from :func:`by_stream`."""
    return {sid: (g.index, g.gap) for sid, g in groups.items()}
