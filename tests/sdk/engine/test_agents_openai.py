"""Agents on ChatOpenAI and the real ``openai`` client, answered by the fake server over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from streamscope.engine import (
    AgentExecutor,
    BaseCallbackHandler,
    ChatOpenAI,
    ChatPromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
    create_react_agent,
    create_tool_calling_agent,
)
from streamscope.engine.tools import tool
from streamscope.testing.fake_llm import FakeLLMServer


@tool
def search(query: str) -> str:
    """Search the web for a query."""
    return f"LangChain is a framework for LLM apps ({query})"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class ToolDown(RuntimeError):
    pass


@tool
def weather(city: str) -> str:
    """Current weather for a city."""
    raise ToolDown(f"weather service unreachable for {city}")


REACT = [
    {"text": "Thought: I should search.\nAction: search\nAction Input: LangChain"},
    {"text": "Thought: I know.\nFinal Answer: LangChain is a framework for LLM apps."},
]
TOOLS = [
    {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 40}, "id": "call_add"}]},
    {"text": "The sum is 42."},
]
BROKEN = [{"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}, "id": "call_w"}]}]

REACT_PROMPT = PromptTemplate.from_template("Q: {input}\nTools:\n{tools}\n[{tool_names}]\n{agent_scratchpad}")
TOOLS_PROMPT = ChatPromptTemplate.from_messages(
    [("human", "{input}"), MessagesPlaceholder("agent_scratchpad")]
)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer({"react": REACT, "tools": TOOLS, "broken": BROKEN}, include_defaults=False) as srv:
        yield srv


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.first_bytes = 0
        self.tool_runs: list[dict[str, Any]] = []

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.tokens.append(token)

    def on_custom_event(self, name: str, data: Any, **kw: Any) -> None:
        self.first_bytes += name == "streamscope.first_byte"

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.tool_runs.append(kw)


def llm(server: FakeLLMServer, model: str) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=server.base_url, api_key="test", max_retries=0, streaming=True)


def test_react_agent_over_http_sync(server: FakeLLMServer) -> None:
    handler = Tokens()
    with llm(server, "react") as chat:
        executor = AgentExecutor(agent=create_react_agent(chat, [search], REACT_PROMPT), tools=[search])
        chunks = list(executor.stream("Find information about LangChain", {"callbacks": [handler]}))
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "output"]
    assert chunks[0]["actions"][0].tool_input == "LangChain"
    assert chunks[1]["steps"][0].observation == "LangChain is a framework for LLM apps (LangChain)"
    assert chunks[-1]["output"] == "LangChain is a framework for LLM apps."
    assert "".join(handler.tokens) == REACT[0]["text"] + REACT[1]["text"]
    assert handler.first_bytes == 2
    first, second = server.received
    assert first["stop"] == ["\nObservation"] and first["stream"] is True
    assert "search: Search the web for a query." in first["messages"][0]["content"]
    assert second["messages"][0]["content"].endswith(
        "Observation: LangChain is a framework for LLM apps (LangChain)\nThought: "
    )


def test_tool_calling_agent_over_http_async(server: FakeLLMServer) -> None:
    handler = Tokens()

    async def run() -> list[Any]:
        async with llm(server, "tools") as chat:
            agent = create_tool_calling_agent(chat, [add], TOOLS_PROMPT)
            executor = AgentExecutor(agent=agent, tools=[add], return_intermediate_steps=True)
            return [c async for c in executor.astream({"input": "2 + 40?"}, {"callbacks": [handler]})]

    chunks = asyncio.run(run())
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "output"]
    action = chunks[0]["actions"][0]
    assert (action.tool, action.tool_input, action.tool_call_id) == ("add", {"a": 2, "b": 40}, "call_add")
    assert chunks[-1]["output"] == "The sum is 42."
    assert handler.tool_runs[0]["tool_call_id"] == "call_add"
    first, second = server.received
    assert first["tools"][0]["function"]["name"] == "add"
    assert second["messages"][-2]["tool_calls"][0]["function"] == {
        "name": "add",
        "arguments": json.dumps({"a": 2, "b": 40}),
    }
    assert second["messages"][-1] == {"role": "tool", "content": "42", "tool_call_id": "call_add"}


def test_tool_calling_agent_over_http_sync_and_react_async(server: FakeLLMServer) -> None:
    with llm(server, "tools") as chat:
        executor = AgentExecutor(agent=create_tool_calling_agent(chat, [add], TOOLS_PROMPT), tools=[add])
        assert executor.invoke({"input": "2 + 40?"})["output"] == "The sum is 42."

    async def run() -> dict[str, Any]:
        async with llm(server, "react") as chat:
            react = AgentExecutor(agent=create_react_agent(chat, [search], REACT_PROMPT), tools=[search])
            return await react.ainvoke("Find information about LangChain")

    assert asyncio.run(run())["output"] == "LangChain is a framework for LLM apps."


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_tool_that_raises_over_http(server: FakeLLMServer, mode: str) -> None:
    seen: list[str] = []

    async def arun(executor: AgentExecutor) -> None:
        async for chunk in executor.astream({"input": "weather in Oslo?"}):
            seen.append(next(iter(chunk)))

    with llm(server, "broken") as chat:
        executor = AgentExecutor(
            agent=create_tool_calling_agent(chat, [weather], TOOLS_PROMPT), tools=[weather]
        )
        with pytest.raises(ToolDown, match="weather service unreachable for Oslo"):
            if mode == "sync":
                for chunk in executor.stream({"input": "weather in Oslo?"}):
                    seen.append(next(iter(chunk)))
            else:
                asyncio.run(arun(executor))
    assert seen == ["actions"]
