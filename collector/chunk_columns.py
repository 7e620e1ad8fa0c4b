"""A batch's chunk rows column by column: how they cross to the SQLite writer process and are used there.

The receiving process flattens its ``Chunk`` rows into one list of their fields in row order (:func:`flatten`,
one C-level pass, no object per row), which pickles without a tuple per chunk. The writer process slices that
list into columns (:func:`from_flat`, eight C-level slices) and works on them: chunk blocks
(``store/chunk_blocks.py``) are built from each stream's column slices and the metric observer reads each
stream's indices and gaps (:func:`index_gaps`), so no ``Chunk`` object is made there at all. Values pass
through unchanged (the same objects' values, in the same order): what is stored is what the rows would store.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from streamscope.collector.model import Chunk

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
