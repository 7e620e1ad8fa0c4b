"""Langfuse's OTel export: ``langfuse.observation.type = "generation"``; the first token is
``langfuse.observation.completion_start_time``, usage a JSON object in ``langfuse.observation.usage_details``."""

from __future__ import annotations

from streamscope.collector.dialects.derived import Derived
from streamscope.collector.model import Span


class Langfuse(Derived):
    name = "langfuse"
    markers = frozenset({"langfuse.observation.type"})

    def detect(self, span: Span, op: str | None) -> bool:
        return span.attributes.get("langfuse.observation.type") == "generation"


DIALECT = Langfuse()
