"""A text-completion run of the engine (``BaseLLM``) gets an LLM span under its chain, with its chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import streamscope
from streamscope.engine import LLM, GenerationChunk, PromptTemplate
from streamscope.testing import capture_spans


class Upper(LLM):
    def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
        return prompt.upper()

    def _stream(
        self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[GenerationChunk]:
        for char in prompt.upper():
            yield GenerationChunk(char)


def test_a_text_llm_in_a_chain_is_an_llm_span() -> None:
    chain = PromptTemplate.from_template("say {x}") | Upper()
    with capture_spans() as spans:
        assert (
            "".join(chain.stream({"x": "hi"}, {"callbacks": [streamscope.TracingCallbackHandler()]}))
            == "SAY HI"
        )
    root = spans.one("RunnableSequence")
    llms = spans.llm_spans()
    assert len(llms) == 1, [s.name for s in spans]
    assert llms[0].parent.span_id == root.context.span_id  # type: ignore[union-attr]
    assert dict(llms[0].attributes or {}).get("gen_ai.provider.name") == "upper"
