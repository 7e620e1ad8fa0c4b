"""Our own SDK's LLM spans: a GenAI inference operation with ``streamscope.stream.*`` rollups, taken as sent (the
SDK saw every chunk, so its TTFT is the first content token, ``measured``)."""

from __future__ import annotations

from streamscope.collector.dialects.base import Common, Timing
from streamscope.collector.dialects.genai import INFERENCE_OPS
from streamscope.collector.dialects.read import integer, num
from streamscope.collector.model import Span

ROLLUP_PREFIX = "streamscope.stream."


class Streamscope:
    name = "streamscope"
    markers = frozenset({"gen_ai.operation.name"})
    span_prefixes: tuple[str, ...] = ()

    def detect(self, span: Span, op: str | None) -> bool:
        return op in INFERENCE_OPS and any(k.startswith(ROLLUP_PREFIX) for k in span.attributes)

    def extract(self, span: Span, common: Common) -> Timing:
        a = span.attributes
        ttft = common.time_to_first_token
        return Timing(
            provider=common.provider,
            ttft=ttft,
            ttft_source="measured" if ttft is not None else None,
            time_to_first_chunk=common.time_to_first_chunk,
            gap_p50=num(a, "streamscope.stream.gap_p50"),
            gap_p95=num(a, "streamscope.stream.gap_p95"),
            gap_max=num(a, "streamscope.stream.gap_max"),
            stall_count=integer(a, "streamscope.stream.stall_count"),
            output_tokens_per_second=common.output_tokens_per_second,
        )


DIALECT = Streamscope()
