"""``@tool``, ``StructuredTool`` and ``Tool``: schemas from signatures, validation, callbacks, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest

from streamscope.engine import (
    AgentExecutor,
    BaseCallbackHandler,
    FakeListChatModel,
    PromptTemplate,
    RunnableConfig,
    RunnableLambda,
    ToolMessage,
    create_react_agent,
)
from streamscope.engine.tools import (
    StructuredTool,
    Tool,
    ToolArgumentError,
    ToolException,
    convert_to_openai_tool,
    tool,
)


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, dict[str, Any]]] = []

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.events.append(("tool_start", (serialized, input_str), kw))

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.events.append(("tool_end", output, kw))

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(("tool_error", error, kw))

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.events.append(("chain_start", inputs, kw))


@tool
def lookup(
    query: str, limit: int = 3, kind: Literal["web", "news"] = "web", tags: list[str] | None = None
) -> str:
    """Look something up.

    Args:
        query: what to search for
        limit: how many results
            (at most ten)
    """
    return f"{query}:{limit}:{kind}:{tags}"


def test_schema_from_signature_and_docstring() -> None:
    assert lookup.name == "lookup"
    assert lookup.description == "Look something up."
    assert lookup.args_schema == {
        "title": "lookup",
        "type": "object",
        "properties": {
            "query": {"title": "Query", "type": "string", "description": "what to search for"},
            "limit": {
                "title": "Limit",
                "type": "integer",
                "description": "how many results (at most ten)",
                "default": 3,
            },
            "kind": {"title": "Kind", "enum": ["web", "news"], "default": "web"},
            "tags": {"title": "Tags", "type": "array", "items": {"type": "string"}, "default": None},
        },
        "required": ["query"],
    }
    assert convert_to_openai_tool(lookup) == {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look something up.",
            "parameters": {k: v for k, v in lookup.args_schema.items() if k != "title"},
        },
    }


def test_invoke_with_dict_string_and_tool_call() -> None:
    assert lookup.invoke({"query": "q", "limit": 5}) == "q:5:web:None"
    assert lookup.invoke({"query": "q", "tags": ["a"]}) == "q:3:web:['a']"
    single = Tool("echo", lambda text: text.upper(), "Echo loudly.")
    assert single.invoke("hi") == "HI"
    message = lookup.invoke({"name": "lookup", "args": {"query": "q"}, "id": "call_9", "type": "tool_call"})
    assert message == ToolMessage("q:3:web:None", tool_call_id="call_9", name="lookup")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({}, "Tool 'lookup' is missing required argument 'query'."),
        ({"query": "q", "limit": "5"}, "Tool 'lookup' argument 'limit' must be of type integer, got '5'."),
        ({"query": "q", "limit": True}, "Tool 'lookup' argument 'limit' must be of type integer, got True."),
        (
            {"query": "q", "kind": "maps"},
            "Tool 'lookup' argument 'kind' must be one of \"web\", \"news\", got 'maps'.",
        ),
        ({"query": "q", "extra": 1}, "Tool 'lookup' got an unexpected argument 'extra'."),
        ("just text", "Tool 'lookup' takes 4 arguments; pass a dict, not a string."),
        (42, "Tool 'lookup' expects a dict of arguments, got int."),
    ],
)
def test_bad_arguments_are_named(arguments: Any, error: str) -> None:
    rec = Recorder()
    with pytest.raises(ToolArgumentError) as info:
        lookup.invoke(arguments, {"callbacks": [rec]})
    assert str(info.value) == error
    assert [k for k, _, _ in rec.events] == ["tool_start", "tool_error"]


def test_callbacks_carry_inputs_names_ids_and_reasons() -> None:
    rec = Recorder()
    lookup.invoke(
        {"name": "lookup", "args": {"query": "q"}, "id": "call_1", "type": "tool_call"}, {"callbacks": [rec]}
    )
    (serialized, input_str), start = rec.events[0][1], rec.events[0][2]
    assert serialized == {"name": "lookup", "description": "Look something up."}
    assert input_str == '{"query": "q"}'
    assert (
        start["inputs"] == {"query": "q"} and start["tool_call_id"] == "call_1" and start["name"] == "lookup"
    )
    kind, output, end = rec.events[1]
    assert kind == "tool_end" and isinstance(output, ToolMessage) and end["reason"] == "completed"
    assert end["run_id"] == start["run_id"]


class Oops(ValueError):
    pass


def test_a_raising_tool_reports_and_reraises_the_same_exception() -> None:
    error = Oops("bad input")

    @tool
    def fragile(x: int) -> int:
        """Fails."""
        raise error

    rec = Recorder()
    with pytest.raises(Oops) as info:
        fragile.invoke({"x": 1}, {"callbacks": [rec]})
    assert info.value is error
    kind, reported, kw = rec.events[-1]
    assert kind == "tool_error" and reported is error and kw["reason"] == "error"


@pytest.mark.parametrize(
    ("handler", "observation"),
    [
        (True, "quota exceeded"),
        ("Tool failed, try later.", "Tool failed, try later."),
        (lambda e: f"handled: {e}", "handled: quota exceeded"),
    ],
)
def test_handle_tool_error_turns_tool_exceptions_into_observations(handler: Any, observation: str) -> None:
    def run(q: str) -> str:
        raise ToolException("quota exceeded")

    guarded = StructuredTool.from_function(run, name="guarded", description="d", handle_tool_error=handler)
    rec = Recorder()
    assert guarded.invoke({"q": "x"}, {"callbacks": [rec]}) == observation
    assert rec.events[-1][0] == "tool_end"
    as_call = guarded.invoke({"name": "guarded", "args": {"q": "x"}, "id": "c", "type": "tool_call"})
    assert as_call.status == "error" and as_call.content == observation
    unguarded = StructuredTool.from_function(run, name="unguarded", description="d")
    with pytest.raises(ToolException):
        unguarded.invoke({"q": "x"})


def test_async_tools_and_sync_tools_on_the_async_path() -> None:
    @tool("shout")
    async def shout(text: str) -> str:
        """Upper-case text."""
        await asyncio.sleep(0)
        return text.upper()

    assert shout.name == "shout" and shout.args_schema["required"] == ["text"]
    assert asyncio.run(shout.ainvoke({"text": "hi"})) == "HI"
    with pytest.raises(NotImplementedError, match=r"Tool 'shout' is async only; call it with ainvoke\."):
        shout.invoke({"text": "hi"})
    rec = Recorder()
    assert asyncio.run(lookup.ainvoke({"query": "a"}, {"callbacks": [rec]})) == "a:3:web:None"
    assert [k for k, _, _ in rec.events] == ["tool_start", "tool_end"]


def test_runnables_inside_a_tool_nest_under_its_run_and_config_is_injected() -> None:
    seen: dict[str, Any] = {}

    @tool
    def nested(text: str, config: RunnableConfig) -> str:
        """Runs a lambda inside."""
        seen["config"] = config
        return str(RunnableLambda(lambda s: s[::-1]).invoke(text))

    assert "config" not in nested.args
    rec = Recorder()
    assert nested.invoke({"text": "abc"}, {"callbacks": [rec], "tags": ["t1"]}) == "cba"
    tool_run = rec.events[0][2]["run_id"]
    lambda_start = next(kw for k, _, kw in rec.events if k == "chain_start")
    assert lambda_start["parent_run_id"] == tool_run
    assert "t1" in seen["config"]["tags"]


def test_from_function_needs_a_description() -> None:
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="needs a description"):
        StructuredTool.from_function(nodoc)
    assert StructuredTool.from_function(nodoc, description="Identity.").invoke({"x": 4}) == 4


def test_convert_to_openai_tool_accepts_functions_and_dicts() -> None:
    def area(width: float, height: float) -> float:
        """Area of a rectangle."""
        return width * height

    converted = convert_to_openai_tool(area)
    assert converted["function"]["name"] == "area"
    assert converted["function"]["parameters"]["properties"]["width"]["type"] == "number"
    ready = {"type": "function", "function": {"name": "x", "parameters": {}}}
    assert convert_to_openai_tool(ready) == ready
    assert convert_to_openai_tool({"name": "y", "description": "d"}) == {
        "type": "function", "function": {"name": "y", "description": "d"}}  # fmt: skip
    with pytest.raises(TypeError, match=r"Cannot turn int into an OpenAI tool\."):
        convert_to_openai_tool(3)


def test_return_direct_tool_ends_the_agent_with_its_observation() -> None:
    @tool(return_direct=True)
    def final(query: str) -> str:
        """Answers directly."""
        return f"direct answer for {query}"

    llm = FakeListChatModel(responses=["Action: final\nAction Input: x", "Final Answer: not reached"])
    prompt = PromptTemplate.from_template("{input} {tools} {tool_names} {agent_scratchpad}")
    executor = AgentExecutor(agent=create_react_agent(llm, [final], prompt), tools=[final])
    chunks = list(executor.stream("q"))
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "output"]
    assert chunks[-1]["output"] == "direct answer for x"
