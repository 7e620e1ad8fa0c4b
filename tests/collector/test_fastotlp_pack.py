"""The C chunk packer (``_fastotlp.pack_chunks``, collector/_fastotlp_pack.c) on random rows: whatever it is given,
it packs rows that ``chunk_columns.unpack`` gives back bit for bit, or answers None (the fields then cross as they
are), and never crashes. scripts/sanitize_c.py runs this file against a build with AddressSanitizer."""

from __future__ import annotations

import random

import pytest
from test_chunk_columns import same

from streamscope.collector import chunk_columns
from streamscope.collector.model import Chunk

fast = chunk_columns._fastotlp
pytestmark = pytest.mark.skipif(fast is None, reason="the C packer is not built here")
SEED = 20261205
IDS = ["a" * 16, "b" * 16, "\u00e9\U0001f642", ""]
FLOATS = [0.0, -0.0, 1.5, float("nan"), float("inf"), -float("inf"), 5e-324, 1e308]
INTS = [0, 1, -1, 2**63 - 1, -(2**63), 2**63, True, 7]
TEXTS = ["content", "reasoning", "", "\u00e9\U0001f642", "\ud800"]


def row(rnd: random.Random) -> Chunk:
    pick = rnd.choice
    return Chunk(pick(IDS), pick(INTS), pick([*FLOATS, 1]), pick([*FLOATS, None]), pick(TEXTS), pick(INTS),
                 pick([*INTS, None]), None if rnd.random() < 0.9 else pick(TEXTS))  # fmt: skip


def test_random_rows_are_packed_and_given_back_bit_for_bit_or_left_to_pickle() -> None:
    assert fast is not None
    rnd = random.Random(SEED)
    packed = 0
    for case in range(3000):
        rows = [row(rnd) for _ in range(rnd.randrange(0, 12))]
        if rnd.random() < 0.5:  # runs: a stream's rows together, as batches hold them
            rows.sort(key=lambda r: r.span_id)
        data = fast.pack_chunks(rows)
        if data is None:
            continue
        packed += 1
        assert same(chunk_columns.unpack(bytes(data)).rows(), rows), f"seed {SEED}, case {case}: {rows!r}"
    assert packed > 300  # enough rows within the packer's types for this to mean something


def test_anything_but_chunk_rows_is_left_to_pickle_or_refused() -> None:
    assert fast is not None
    assert fast.pack_chunks([("x",) * 7]) is None
    assert fast.pack_chunks(["abcdefgh"]) is None
    assert fast.pack_chunks([]) is not None
    with pytest.raises(TypeError):
        fast.pack_chunks(42)
