"""Normalise every dialect into one stream model: each LLM span becomes one :class:`Stream`, and the chunk rows it
carries (compact arrays, chunk events) join the chunk rows decoded from chunk spans.

Which spans are LLM streams, and of which dialect, is the table in :mod:`streamscope.collector.dialects` (one
module per dialect); :func:`to_stream` reads a span with the vocabulary every dialect shares and asks its dialect
for the rest.

TTFT: ``ttft`` is the first *content* token (missing = never happened) wherever the chunks tell content apart: our
own spans, and chunk events that carry their text (OpenLLMetry with content capture); ``ttft_source`` is then
``measured``. Other sources stamp "first token" at their first chunk and cannot tell: ``ttft`` is their value
(equal to ``time_to_first_chunk``) and ``ttft_source`` says ``first_chunk``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from streamscope.collector.decode import Decoded
from streamscope.collector.dialects import detect, dialect
from streamscope.collector.dialects.base import Dialect
from streamscope.collector.dialects.common import outcome, read_common
from streamscope.collector.dialects.read import BadSpan, num, text
from streamscope.collector.model import Chunk, IngestBatch, Span, Stream
from streamscope.collector.pricing import DEFAULT_PRICES, Prices, estimate_cost

__all__ = [
    "UNFORESEEN",
    "BadSpan",
    "dialect",
    "normalise",
    "normalise_checked",
    "spans_to_batch",
    "to_stream",
]

log = logging.getLogger(__name__)
UNFORESEEN = (
    "a span has attribute values the collector cannot read"  # the reason when no rule foresaw the value
)


def to_stream(span: Span, kind: Dialect, prices: Prices = DEFAULT_PRICES) -> tuple[Stream, list[Chunk]]:
    """The stream of an LLM span of dialect ``kind``, and the chunk rows the span carries."""
    a = span.attributes
    common = read_common(span)
    timing = kind.extract(span, common)
    stated_outcome, error_type = outcome(span)
    output_tokens, input_tokens = common.output_tokens, common.input_tokens
    stream = Stream(
        trace_id=span.trace_id,
        span_id=span.span_id,
        start_ns=span.start_ns,
        end_ns=span.end_ns,
        service=span.service,
        model=common.model,
        provider=timing.provider,
        operation=common.operation,
        outcome=stated_outcome,
        ttft=timing.ttft,
        time_to_first_chunk=timing.time_to_first_chunk,
        time_to_first_byte=num(a, "streamscope.stream.time_to_first_byte"),
        time_to_first_tool_call=num(a, "streamscope.stream.time_to_first_tool_call"),
        time_to_first_reasoning_token=num(a, "streamscope.stream.time_to_first_reasoning_token"),
        chunk_count=common.chunk_count,
        gap_p50=timing.gap_p50,
        gap_p95=timing.gap_p95,
        gap_max=timing.gap_max,
        stall_count=timing.stall_count,
        output_tokens=output_tokens,
        input_tokens=input_tokens,
        output_tokens_per_second=timing.output_tokens_per_second,
        usage_source=text(a, "streamscope.usage.source")
        or ("provider" if output_tokens is not None or input_tokens is not None else None),
        error_type=error_type,
        cost_usd=estimate_cost(prices, common.model, input_tokens, output_tokens),
        session_id=span.session_id,
        user_id=span.user_id,
        name=span.name[:256],
        dialect=kind.name,
        ttft_source=timing.ttft_source,
    )
    return stream, common.chunks


def normalise(decoded: Decoded, prices: Prices = DEFAULT_PRICES) -> IngestBatch:
    return normalise_checked(decoded, prices)[0]


def normalise_checked(decoded: Decoded, prices: Prices = DEFAULT_PRICES) -> tuple[IngestBatch, int, str]:
    """The batch of the spans that normalise, how many did not (left out of the batch: one poisoned span never
    fails the spans beside it), and the first reason."""
    streams: list[Stream] = []
    chunks: list[Chunk] = list(decoded.chunks)
    bad: set[int] = set()
    reason = ""
    for i, span in enumerate(decoded.spans):
        try:
            kind = detect(span)
            if kind is None:
                continue
            st, cs = to_stream(span, kind, prices)
        except BadSpan as e:
            bad.add(i)
            reason = reason or str(e)
            continue
        except (
            Exception
        ):  # a value no rule above foresaw: reject this span, keep the rest (and say so in the log)
            log.warning("a span could not be normalised; it is rejected", exc_info=True)
            bad.add(i)
            reason = reason or UNFORESEEN
            continue
        streams.append(st)
        chunks.extend(cs)
    spans = decoded.spans if not bad else tuple(s for i, s in enumerate(decoded.spans) if i not in bad)
    batch = IngestBatch(spans=spans, streams=tuple(streams), chunks=tuple(chunks), live=decoded.live)
    return batch, len(bad), reason


def spans_to_batch(spans: Iterable[Span], prices: Prices = DEFAULT_PRICES) -> IngestBatch:
    """Normalise already-decoded spans (tests, replays)."""
    items = tuple(spans)
    return normalise(Decoded(items, (), len(items), 0), prices)
