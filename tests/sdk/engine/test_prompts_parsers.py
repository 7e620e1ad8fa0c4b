"""Prompts block (they need their whole input); parsers stream."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from streamscope.engine import (
    AIMessage,
    AIMessageChunk,
    ChatPromptTemplate,
    ChatPromptValue,
    FakeStreamingChatModel,
    HumanMessage,
    JsonOutputParser,
    MessagesPlaceholder,
    OutputParserException,
    PromptTemplate,
    StringPromptValue,
    StrOutputParser,
    SystemMessage,
)


def test_prompt_template() -> None:
    prompt = PromptTemplate.from_template("Tell me about {topic}")
    assert prompt.input_variables == ["topic"]
    assert prompt.invoke({"topic": "AI"}) == StringPromptValue("Tell me about AI")
    assert prompt.invoke("AI").to_string() == "Tell me about AI"  # a lone variable takes a bare value
    assert prompt.invoke({"topic": "AI"}).to_messages() == [HumanMessage("Tell me about AI")]
    with pytest.raises(KeyError, match="missing variables"):
        prompt.invoke({"other": 1})


def test_chat_prompt_from_messages_and_placeholder() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are {role}"), MessagesPlaceholder("history"), ("human", "{q}")]
    )
    assert set(prompt.input_variables) == {"role", "history", "q"}
    value = prompt.invoke({"role": "terse", "history": [AIMessage("earlier")], "q": "why?"})
    assert isinstance(value, ChatPromptValue)
    assert value.messages == [SystemMessage("You are terse"), AIMessage("earlier"), HumanMessage("why?")]
    assert value.to_string() == "System: You are terse\nAI: earlier\nHuman: why?"
    assert ChatPromptTemplate.from_template("hi {x}").invoke({"x": 1}).messages == [HumanMessage("hi 1")]


def test_prompt_run_type_and_real_inputs(rec: Any) -> None:
    ChatPromptTemplate.from_template("{x}").invoke({"x": 1}, {"callbacks": [rec]})
    inputs, kwargs = rec.of("chain_start")[0]
    assert inputs == {"x": 1} and kwargs["run_type"] == "prompt" and kwargs["name"] == "ChatPromptTemplate"


def test_str_parser_streams_each_chunk() -> None:
    parser = StrOutputParser()
    assert list(parser.transform(iter([AIMessageChunk("a"), AIMessageChunk("b")]))) == ["a", "b"]
    assert parser.invoke(AIMessage("hey")) == "hey"
    assert parser.invoke("plain") == "plain"
    assert list(parser.transform(iter([AIMessageChunk([{"type": "text", "text": "blk"}])]))) == ["blk"]


def test_json_parser_streams_growing_object() -> None:
    text = '```json\n{"name": "streamscope", "tags": ["a", "b"]}\n```'
    model = FakeStreamingChatModel(chunks=[text[i : i + 4] for i in range(0, len(text), 4)])
    chain = model | JsonOutputParser()
    chunks = list(chain.stream("q"))
    assert chunks[-1] == {"name": "streamscope", "tags": ["a", "b"]}
    assert len(chunks) > 3
    assert all(a != b for a, b in itertools.pairwise(chunks))  # only changes are emitted
    assert any(c.get("name") == "stream" or c.get("name", "").startswith("str") for c in chunks[:-1])
    assert chain.invoke("q") == chunks[-1]

    async def run() -> list[Any]:
        return [c async for c in chain.astream("q")]

    assert asyncio.run(run()) == chunks


def test_json_parser_diff_mode_emits_patches() -> None:
    chunks = list(JsonOutputParser(diff=True).transform(iter(['{"a": 1', ', "b": "x', 'y"}'])))
    assert chunks[0] == [{"op": "replace", "path": "", "value": {"a": 1}}]
    assert chunks[1] == [{"op": "add", "path": "/b", "value": "x"}]
    assert chunks[2] == [{"op": "replace", "path": "/b", "value": "xy"}]


def test_json_parser_rejects_garbage() -> None:
    with pytest.raises(OutputParserException) as info:
        JsonOutputParser().invoke("this is not json")
    assert info.value.llm_output == "this is not json"


def test_parser_run_type(rec: Any) -> None:
    list((FakeStreamingChatModel(chunks=["a"]) | StrOutputParser()).stream("q", {"callbacks": [rec]}))
    _, kwargs = rec.of("chain_start")[1]
    assert kwargs["run_type"] == "parser" and kwargs["name"] == "StrOutputParser"
