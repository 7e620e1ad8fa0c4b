"""Text-completion models (``BaseLLM``, ``LLM``, ``FakeListLLM``, ``FakeStreamingListLLM``) as langchain-core 1.8.3."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from streamscope.engine import (
    LLM,
    BaseCallbackHandler,
    FakeListLLM,
    FakeListLLMError,
    FakeStreamingListLLM,
    GenerationChunk,
    PromptTemplate,
    StrOutputParser,
)


class Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_llm_start(self, serialized: Any, prompts: list[str], **kw: Any) -> None:
        meta = kw["metadata"]
        self.events.append(("start", prompts, meta["ls_provider"], meta["ls_model_type"]))

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.events.append(("token", token, type(kw["chunk"]).__name__))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append(("end", [[g.text for g in gens] for gens in response.generations]))


class Upper(LLM):
    def _call(self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any) -> str:
        return prompt.upper()

    def _stream(
        self, prompt: str, stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[GenerationChunk]:
        for char in prompt.upper():
            yield GenerationChunk(char)


def test_an_llm_run_reports_start_and_end_with_its_provider() -> None:
    seen = Seen()
    assert FakeListLLM(responses=["xy"]).invoke("q", {"callbacks": [seen]}) == "xy"
    assert seen.events == [("start", ["q"], "fakelist", "llm"), ("end", [["xy"]])]


def test_a_streaming_llm_reports_each_generation_chunk() -> None:
    seen = Seen()
    assert list(Upper().stream("ab", {"callbacks": [seen]})) == ["A", "B"]
    assert seen.events == [
        ("start", ["ab"], "upper", "llm"),
        ("token", "A", "GenerationChunk"),
        ("token", "B", "GenerationChunk"),
        ("end", [["AB"]]),
    ]
    assert asyncio.run(_collect(Upper().astream("cd"))) == ["C", "D"]


async def _collect(stream: Any) -> list[str]:
    return [c async for c in stream]


def test_fake_streaming_list_llm_invokes_then_yields_characters() -> None:
    seen = Seen()
    model = FakeStreamingListLLM(responses=["ab", "cd"])
    assert list(model.stream("q", {"callbacks": [seen]})) == ["a", "b"]
    assert seen.events == [("start", ["q"], "fakestreaminglist", "llm"), ("end", [["ab"]])]
    with pytest.raises(FakeListLLMError):
        list(FakeStreamingListLLM(responses=["abc"], error_on_chunk_number=1).stream("q"))


def test_a_prompt_value_becomes_the_prompt_string_and_events_match_langchain() -> None:
    chain = (
        PromptTemplate.from_template("say {x}") | FakeStreamingListLLM(responses=["ab"]) | StrOutputParser()
    )

    async def run() -> list[Any]:
        return [
            (e["event"], e["data"])
            async for e in chain.astream_events({"x": 1}, version="v2")
            if e["event"].startswith("on_llm")
        ]

    assert asyncio.run(run()) == [
        ("on_llm_start", {"input": {"prompts": ["say 1"]}}),
        (
            "on_llm_end",
            {
                "output": {
                    "generations": [[{"text": "ab", "generation_info": None, "type": "Generation"}]],
                    "llm_output": None,
                },
                "input": {"prompts": ["say 1"]},
            },
        ),
    ]
