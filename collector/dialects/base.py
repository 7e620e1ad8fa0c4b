"""What every dialect module provides (:class:`Dialect`), and the two records a span is read into: what it says in
the vocabulary all dialects share (:class:`Common`) and what its dialect makes of the timing (:class:`Timing`).

Both are built once per LLM span on the ingest path, positionally (a NamedTuple called with keywords costs about
twice as much): keep the field order in step with the constructors in ``common.py``, ``derived.py`` and
``streamscope.py``."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from streamscope.collector.dialects.chunks import Gaps
from streamscope.collector.model import Chunk, Span


class Common(NamedTuple):
    """A stream span read with the attribute names every dialect shares (SDKs mix vocabularies: OpenLLMetry and
    OpenLIT write GenAI names, our SDK too); ``None`` is "not said"."""

    chunks: list[Chunk]
    model: str
    provider: str
    operation: str
    time_to_first_chunk: float | None
    output_tokens_per_second: float | None
    output_tokens: int | None
    input_tokens: int | None
    duration: float
    chunk_count: int | None  # as our SDK sent it, else counted from ``chunks``
    gaps: Gaps | None  # computed from ``chunks`` (None without chunks)


class Timing(NamedTuple):
    """The fields of a stream whose source depends on the dialect."""

    provider: str
    ttft: float | None
    ttft_source: str | None  # "measured", "first_chunk" or None (no TTFT)
    time_to_first_chunk: float | None
    gap_p50: float | None
    gap_p95: float | None
    gap_max: float | None
    stall_count: int | None
    output_tokens_per_second: float | None


class Dialect(Protocol):
    """One instrumentation's LLM spans. ``markers``: attribute keys of which every span this dialect detects
    carries at least one (or a name starting with one of ``span_prefixes``): a span with none of any dialect's
    markers is no model call, found in one set test before any :meth:`detect` runs."""

    name: str
    markers: frozenset[str]
    span_prefixes: tuple[str, ...]

    def detect(self, span: Span, op: str | None) -> bool:
        """Whether ``span`` is this dialect's model call (``op``: its ``gen_ai.operation.name`` if a string; the
        table has already turned away non-inference operations)."""
        ...

    def extract(self, span: Span, common: Common) -> Timing:
        """The dialect-dependent fields of the stream, from the span and its :class:`Common` reading."""
        ...
