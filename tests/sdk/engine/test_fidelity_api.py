"""APIs a streaming app uses, as langchain-core 1.8.3 has them (issue 20, "API that is missing")."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.sdk.engine.conftest import Recorder

from streamscope.engine import (
    AIMessagePromptTemplate,
    BaseOutputParser,
    ChatPromptTemplate,
    HumanMessagePromptTemplate,
    JsonOutputParser,
    MessagesPlaceholder,
    Runnable,
    RunnableBranch,
    RunnableLambda,
    RunnableSequence,
    SystemMessagePromptTemplate,
    chain,
)


def test_every_runnable_and_parser_class_can_be_subscripted() -> None:
    class Split(BaseOutputParser[list[str]]):
        def parse(self, text: str) -> list[str]:
            return text.split(",")

    assert Split().invoke("a,b") == ["a", "b"]
    assert RunnableLambda[int, int](lambda x: x + 1).invoke(1) == 2
    assert RunnableSequence[int, int] is not None and JsonOutputParser[dict[str, Any]] is not None
    assert Runnable[int, str].__origin__ is Runnable  # type: ignore[attr-defined]


def test_message_prompt_templates_and_placeholders_format_as_langchain() -> None:
    prompt = ChatPromptTemplate.from_messages([
        SystemMessagePromptTemplate.from_template("be {style}"), MessagesPlaceholder("history"),
        HumanMessagePromptTemplate.from_template("{q}"), AIMessagePromptTemplate.from_template("ok {q}"),
    ])
    assert sorted(prompt.input_variables) == ["history", "q", "style"]
    value = prompt.invoke({"style": "brief", "history": [("human", "hi"), ("ai", "yo")], "q": "why"})
    assert [(m.type, m.content) for m in value.to_messages()] == [
        ("system", "be brief"), ("human", "hi"), ("ai", "yo"), ("human", "why"), ("ai", "ok why")]
    last = MessagesPlaceholder("h", n_messages=1).format_messages(h=[("human", "a"), ("ai", "b")])
    assert [m.content for m in last] == ["b"]


def test_chain_decorator_names_the_runnable_after_the_function() -> None:
    @chain
    def twice(x: int) -> int:
        return x * 2

    assert twice.invoke(2) == 4 and twice.get_name() == "twice"


def branch() -> RunnableBranch:
    return RunnableBranch((lambda x: x > 10, lambda x: "big"), (lambda x: x > 5, lambda x: "mid"),
                          lambda x: "small")


def test_runnable_branch_tags_conditions_and_the_chosen_branch(rec: Recorder) -> None:
    assert branch().invoke(7, {"callbacks": [rec]}) == "mid"
    assert [(k["name"], k["tags"]) for _, k in rec.of("chain_start")] == [
        ("RunnableBranch", []), ("RunnableLambda", ["condition:1"]), ("RunnableLambda", ["condition:2"]),
        ("RunnableLambda", ["branch:2"])]


def test_runnable_branch_streams_and_runs_async(rec: Recorder) -> None:
    assert list(branch().stream(20, {"callbacks": [rec]})) == ["big"]
    assert [k["tags"] for _, k in rec.of("chain_start")] == [[], ["condition:1"], ["branch:1"]]
    assert asyncio.run(branch().ainvoke(1)) == "small"
