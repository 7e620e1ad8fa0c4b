"""Chunk rows a stream span carries itself, and the gap rollups computed from chunk rows.

Chunk spans are turned into rows earlier, by the decoder; here: our compact parallel arrays
(``chunk_spans=False``) and per-chunk span events (OpenLLMetry)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from streamscope.collector.dialects.read import text
from streamscope.collector.model import NS, Chunk, Span
from streamscope.collector.query import percentile

CHUNK_EVENTS = frozenset({"gen_ai.content.completion.chunk", "llm.content.completion.chunk"})
CHUNK_TEXT_KEYS = ("gen_ai.completion.chunk", "content")


def compact_chunks(span: Span) -> list[Chunk]:
    """Chunk rows from the compact parallel arrays (``chunk_spans=False``)."""
    a = span.attributes
    offsets = a.get("streamscope.chunks.offset")
    if not isinstance(offsets, list):
        return []
    sizes = a.get("streamscope.chunks.size")
    kinds = a.get("streamscope.chunks.kind")
    sizes = sizes if isinstance(sizes, list) else []
    kinds = kinds if isinstance(kinds, list) else []
    out: list[Chunk] = []
    prev: float | None = None
    for i, off in enumerate(offsets):
        if not isinstance(off, (int, float)) or isinstance(off, bool) or not math.isfinite(off):
            continue
        size = sizes[i] if i < len(sizes) and isinstance(sizes[i], int) else 0
        kind = kinds[i][:32] if i < len(kinds) and isinstance(kinds[i], str) else "content"
        out.append(
            Chunk(span.span_id, i, float(off), None if prev is None else float(off) - prev, kind, size)
        )
        prev = float(off)
    return out


def event_chunks(span: Span) -> list[Chunk]:
    """Chunk rows from per-chunk span events (OpenLLMetry). A chunk whose text attribute is there but empty is
    ``empty`` (a role-only or finish delta), one with text ``content``; without the attribute (content capture off)
    the kind is unknown and recorded as ``content``, which :func:`first_content` does not trust."""
    out: list[Chunk] = []
    prev: float | None = None
    for e in span.events:
        if e.name not in CHUNK_EVENTS:
            continue
        off = max(0, e.time_ns - span.start_ns) / NS
        content = text(e.attributes, *CHUNK_TEXT_KEYS)
        known = any(isinstance(e.attributes.get(k), str) for k in CHUNK_TEXT_KEYS)
        kind = "content" if content or not known else "empty"
        out.append(
            Chunk(span.span_id, len(out), off, None if prev is None else off - prev, kind,
                  len(content) if content else 0)
        )  # fmt: skip
        prev = off
    return out


def first_content(span: Span, chunks: Sequence[Chunk]) -> float | None:
    """TTFT from chunk rows whose kinds are known: the offset of the first ``content`` chunk (None: no content, or
    the kinds are not known). Kinds are known for our compact arrays, and for chunk events carrying their text."""
    if compact_chunks(span):
        return next((c.offset for c in chunks if c.kind == "content"), None)
    events = [e for e in span.events if e.name in CHUNK_EVENTS]
    if not events or not all(
        any(isinstance(e.attributes.get(k), str) for k in CHUNK_TEXT_KEYS) for e in events
    ):
        return None
    return next((c.offset for c in chunks if c.kind == "content"), None)


class Gaps(NamedTuple):
    """Rollups of the gaps between chunk rows (seconds; ``stall_count``: gaps above the stall threshold)."""

    chunk_count: int
    p50: float | None
    p95: float | None
    max: float | None
    stall_count: int


def gap_rollups(chunks: Sequence[Chunk], stall: float) -> Gaps:
    gaps = [c.gap for c in chunks if c.gap is not None]
    return Gaps(
        len(chunks),
        percentile(gaps, 50),
        percentile(gaps, 95),
        max(gaps) if gaps else None,
        sum(1 for g in gaps if g > stall),
    )
