"""A retriever run of the engine (``BaseRetriever``) gets a span under its chain, like every other run type."""

from __future__ import annotations

from typing import Any

import streamscope
from streamscope.engine import BaseRetriever, Document, RunnableLambda
from streamscope.testing import capture_spans


class KeywordRetriever(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return [Document("cats purr"), Document("dogs bark")]


def test_a_retriever_in_a_chain_is_a_child_span() -> None:
    chain = KeywordRetriever() | RunnableLambda(len)
    with capture_spans() as spans:
        assert chain.invoke("q", {"callbacks": [streamscope.TracingCallbackHandler()]}) == 2
    root = spans.one("RunnableSequence")
    retriever = [s for s in spans if "KeywordRetriever" in s.name]
    assert len(retriever) == 1, [s.name for s in spans]
    assert retriever[0].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert dict(retriever[0].attributes or {}).get("streamscope.run.type") == "retriever"
