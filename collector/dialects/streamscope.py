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
        if op not in INFERENCE_OPS:
            return False
        for k in span.attributes:  # noqa: SIM110 - a loop, not any(...): this runs for every GenAI span
            if k.startswith(ROLLUP_PREFIX):
                return True
        return False

    def extract(self, span: Span, common: Common) -> Timing:
        a = span.attributes
        ttft = num(a, "streamscope.stream.time_to_first_token")
        return Timing(
            common.provider,  # provider
            ttft,
            "measured" if ttft is not None else None,  # ttft_source
            common.time_to_first_chunk,  # time_to_first_chunk
            num(a, "streamscope.stream.gap_p50"),  # gap_p50
            num(a, "streamscope.stream.gap_p95"),  # gap_p95
            num(a, "streamscope.stream.gap_max"),  # gap_max
            integer(a, "streamscope.stream.stall_count"),  # stall_count
            common.output_tokens_per_second,  # output_tokens_per_second
        )


DIALECT = Streamscope()
