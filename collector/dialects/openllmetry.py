"""Traceloop's OpenLLMetry, two generations with one name. Before 0.62 (:data:`LEGACY`): ``llm.request.type``.
Since 0.62 (:data:`CURRENT`): GenAI semantic-convention names and no ``llm.request.type``, told apart from plain
GenAI by Traceloop's non-semconv markers or its per-chunk ``gen_ai.content.completion.chunk`` events (which become
chunk rows, with their text when content capture is on)."""

from __future__ import annotations

from streamscope.collector.dialects.derived import Derived
from streamscope.collector.dialects.genai import MARKERS as GENAI_MARKERS
from streamscope.collector.dialects.genai import is_genai
from streamscope.collector.model import Span

OPENLLMETRY_MARKERS = ("gen_ai.is_streaming", "llm.is_streaming", "gen_ai.openai.api_base")
OPENLLMETRY_CHUNK_EVENT = "gen_ai.content.completion.chunk"


class Legacy(Derived):
    name = "openllmetry"
    markers = frozenset({"llm.request.type"})

    def detect(self, span: Span, op: str | None) -> bool:
        return span.attributes.get("llm.request.type") in ("chat", "completion")


class Current(Derived):
    name = "openllmetry"
    markers = GENAI_MARKERS

    def detect(self, span: Span, op: str | None) -> bool:
        traceloop = not span.attributes.keys().isdisjoint(OPENLLMETRY_MARKERS) or any(
            e.name == OPENLLMETRY_CHUNK_EVENT for e in span.events
        )
        return traceloop and is_genai(span, op)


LEGACY = Legacy()
CURRENT = Current()
