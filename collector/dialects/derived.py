"""Timing for every dialect but ours: TTFT, time to first chunk, gaps and tokens/s derived from what the span
carries (its chunk rows and its source's "first token" stamp).

The stamps are read in one order whatever the dialect (a span can carry two SDKs' attributes): the first of
OpenLIT's ``gen_ai.server.time_to_first_token`` (or ``time_to_first_token``), the Vercel AI SDK's
``msToFirstChunk``, Langfuse's ``completion_start_time``, a "first token" or chunk event (OpenInference, Vercel,
OpenLLMetry), the first chunk row. Those SDKs stamp "first token" on their first chunk of any kind, so such a TTFT
says ``first_chunk``; only chunk rows whose kinds are known give a ``measured`` one."""

from __future__ import annotations

from streamscope.collector.dialects.base import Common, Timing
from streamscope.collector.dialects.chunks import CHUNK_EVENTS, first_content
from streamscope.collector.dialects.read import iso_ns, num
from streamscope.collector.model import NS, Span

FIRST_TOKEN_SECONDS = ("gen_ai.server.time_to_first_token", "time_to_first_token")
FIRST_CHUNK_MS = ("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk")
COMPLETION_START = "langfuse.observation.completion_start_time"
FIRST_TOKEN_EVENTS = frozenset({"First Token Stream Event", "ai.stream.firstChunk", "new_token"})


def first_token_stamp(span: Span) -> float | None:
    """Seconds from the span's start to its source's "first token" (None: the span does not say)."""
    a = span.attributes
    stamp = num(a, *FIRST_TOKEN_SECONDS)
    if stamp is None:
        stamp = num(a, *FIRST_CHUNK_MS, scale=1e-3)
    if stamp is None:
        start = iso_ns(a.get(COMPLETION_START), COMPLETION_START)
        if start is not None and start >= span.start_ns:
            stamp = (start - span.start_ns) / NS
    if stamp is None:
        for e in span.events:
            if e.name in FIRST_TOKEN_EVENTS or e.name in CHUNK_EVENTS:
                return max(0, e.time_ns - span.start_ns) / NS
    return stamp


def _tokens_per_second(common: Common, ttft: float) -> float | None:
    """As our SDK defines it: output tokens over first content token to last chunk (the span's end when the chunks
    are not known)."""
    end = common.chunks[-1].offset if common.chunks else common.duration
    return common.output_tokens / (end - ttft) if common.output_tokens and end - ttft > 0 else None


class Derived:
    """What the dialects without our rollups share: :meth:`extract`. A subclass sets ``name`` and ``markers`` (and
    ``span_prefixes``) and adds ``detect``, which makes it a :class:`~streamscope.collector.dialects.base.Dialect`."""

    name = ""
    markers: frozenset[str] = frozenset()
    span_prefixes: tuple[str, ...] = ()

    def extract(self, span: Span, common: Common) -> Timing:
        chunks = common.chunks
        stamp = first_token_stamp(span)
        if stamp is None and chunks:
            stamp = chunks[0].offset
        ttfc = common.time_to_first_chunk if common.time_to_first_chunk is not None else stamp
        measured = first_content(span, chunks) if chunks else None
        ttft: float | None
        ttft_source: str | None
        if measured is not None:  # the first chunk with content: TTFT as we define it
            ttft, ttft_source = measured, "measured"
        else:  # the source's own "first token", which is its first chunk: say so
            ttft = stamp if stamp is not None else ttfc
            ttft_source = "first_chunk" if ttft is not None else None
        tps = common.output_tokens_per_second
        if tps is None and common.output_tokens and ttft is not None:
            tps = _tokens_per_second(common, ttft)
        gaps = common.gaps
        return Timing(
            common.provider,
            ttft,
            ttft_source,
            ttfc,  # time_to_first_chunk
            gaps.p50 if gaps else None,  # gap_p50
            gaps.p95 if gaps else None,  # gap_p95
            gaps.max if gaps else None,  # gap_max
            gaps.stall_count if gaps else None,  # stall_count
            tps,  # output_tokens_per_second
        )
