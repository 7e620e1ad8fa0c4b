"""OpenTelemetry GenAI semantic conventions, old names (``gen_ai.system``, ``gen_ai.usage.*_tokens``, no
operation name) and new ones (``gen_ai.operation.name``, ``gen_ai.provider.name``). The lowest-priority dialect:
OpenLIT and current OpenLLMetry write the same names and are told apart first."""

from __future__ import annotations

from streamscope.collector.dialects.derived import Derived
from streamscope.collector.model import Span

INFERENCE_OPS = frozenset({"chat", "text_completion", "generate_content", "completion"})
NON_INFERENCE_OPS = frozenset(
    {"embeddings", "execute_tool", "invoke_agent", "create_agent", "retrieval", "invoke_workflow"}
)
MARKERS = frozenset({"gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name"})


def is_genai(span: Span, op: str | None) -> bool:
    """An inference operation, or (old names) no operation name but a provider and a requested model."""
    a = span.attributes
    return op in INFERENCE_OPS or (
        op is None and ("gen_ai.system" in a or "gen_ai.provider.name" in a) and "gen_ai.request.model" in a
    )


class GenAI(Derived):
    name = "genai"
    markers = MARKERS

    def detect(self, span: Span, op: str | None) -> bool:
        return is_genai(span, op)


DIALECT = GenAI()
