"""The Vercel AI SDK: provider calls ``ai.*.doStream`` / ``ai.*.doGenerate`` (its operation id, in
``ai.operationId``, ``operation.name`` or the span name); ``ai.response.msToFirstChunk`` in milliseconds, and a
provider id such as ``openai.chat`` whose first part is the provider."""

from __future__ import annotations

from streamscope.collector.dialects.base import Common, Timing
from streamscope.collector.dialects.derived import Derived
from streamscope.collector.model import Span

CALLS = (".doStream", ".doGenerate")


class Vercel(Derived):
    name = "vercel"
    markers = frozenset({"ai.operationId", "operation.name"})
    span_prefixes: tuple[str, ...] = ("ai.",)

    def detect(self, span: Span, op: str | None) -> bool:
        a = span.attributes
        op_id = a.get("ai.operationId") or a.get("operation.name") or span.name
        return isinstance(op_id, str) and op_id.startswith("ai.") and op_id.split(" ")[0].endswith(CALLS)

    def extract(self, span: Span, common: Common) -> Timing:
        return super().extract(span, common)._replace(provider=common.provider.split(".")[0])


DIALECT = Vercel()
