"""Arize OpenInference: ``openinference.span.kind = "LLM"`` with ``llm.*`` attributes; its "First Token Stream
Event" is the first chunk's arrival."""

from __future__ import annotations

from streamscope.collector.dialects.derived import Derived
from streamscope.collector.model import Span


class OpenInference(Derived):
    name = "openinference"
    markers = frozenset({"openinference.span.kind"})

    def detect(self, span: Span, op: str | None) -> bool:
        return span.attributes.get("openinference.span.kind") == "LLM"


DIALECT = OpenInference()
