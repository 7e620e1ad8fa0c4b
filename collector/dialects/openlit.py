"""OpenLIT: GenAI semantic-convention names plus ``gen_ai.server.time_to_first_token`` (its first chunk), or any
GenAI inference span from a resource whose ``telemetry.sdk.name`` is ``openlit``."""

from __future__ import annotations

from streamscope.collector.dialects.derived import Derived
from streamscope.collector.dialects.genai import MARKERS as GENAI_MARKERS
from streamscope.collector.dialects.genai import is_genai
from streamscope.collector.model import Span


class OpenLIT(Derived):
    name = "openlit"
    markers = GENAI_MARKERS

    def detect(self, span: Span, op: str | None) -> bool:
        return (
            "gen_ai.server.time_to_first_token" in span.attributes
            or span.resource.get("telemetry.sdk.name") == "openlit"
        ) and is_genai(span, op)


DIALECT = OpenLIT()
