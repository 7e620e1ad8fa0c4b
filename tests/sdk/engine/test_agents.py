"""AgentExecutor streaming with scripted models: both agent kinds, sync and async, tools that raise.

The brief's example (``AgentExecutor(...).stream("Find information about LangChain")`` printing each step) runs
here against ``FakeListChatModel`` (ReAct) and a scripted tool-calling model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streamscope.engine import (
    AgentAction,
    AgentExecutor,
    AgentFinish,
    AgentStep,
    AIMessage,
    AIMessageChunk,
    BaseCallbackHandler,
    BaseChatModel,
    ChatGenerationChunk,
    ChatPromptTemplate,
    FakeListChatModel,
    MessagesPlaceholder,
    PromptTemplate,
    ToolMessage,
    create_react_agent,
    create_tool_calling_agent,
)
from streamscope.engine.agents import ToolAgentAction
from streamscope.engine.agents.executor import STOPPED
from streamscope.engine.tools import ToolException, tool


@tool
def search(query: str) -> str:
    """Search the web for a query."""
    return f"LangChain is a framework for LLM apps (searched {query!r})"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(handle_tool_error=True)
def flaky(query: str) -> str:
    """A tool that reports a failure the agent can read."""
    raise ToolException(f"service down for {query}")


class BoomError(RuntimeError):
    pass


@tool
def broken(query: str) -> str:
    """A tool with a bug."""
    raise BoomError("tool crashed")


REACT_PROMPT = PromptTemplate.from_template(
    "Answer: {input}\nYou have these tools:\n{tools}\nUse one of [{tool_names}].\n{agent_scratchpad}"
)
TOOLS_PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are helpful."), ("human", "{input}"), MessagesPlaceholder("agent_scratchpad")]
)


class ScriptedToolModel(BaseChatModel):
    """Answers with ``turns`` in order, streaming content word by word and tool calls as deltas."""

    ls_provider = "scripted"

    def __init__(self, turns: list[AIMessage], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.turns = turns
        self.seen: list[list[Any]] = []
        self.bound_tools: list[Any] = []
        self.model = "scripted-tools"

    def bind_tools(self, tools: list[Any], **kwargs: Any) -> Any:
        self.bound_tools = [t.name for t in tools]
        return self.bind(tools=[t.to_openai_tool() for t in tools])

    def _chunks(self, messages: list[Any]) -> list[AIMessageChunk]:
        self.seen.append(list(messages))
        turn = self.turns[len(self.seen) - 1]
        out = [AIMessageChunk("")]
        words = turn.text.split(" ") if turn.text else []
        out += [AIMessageChunk(w if i == 0 else " " + w) for i, w in enumerate(words)]
        for index, call in enumerate(turn.tool_calls):
            out.append(AIMessageChunk("", tool_call_chunks=[
                {"name": call["name"], "args": "", "id": call["id"], "index": index}]))  # fmt: skip
            out.append(AIMessageChunk("", tool_call_chunks=[
                {"name": None, "args": json.dumps(call["args"]), "id": None, "index": index}]))  # fmt: skip
        return out

    def _stream(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[Any]:
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(chunk)

    async def _astream(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[Any]:
        for chunk in self._chunks(messages):
            await asyncio.sleep(0)
            yield ChatGenerationChunk(chunk)


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, dict[str, Any]]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kw: Any) -> None:
        self.events.append(("chain_start", kw.get("name"), kw))

    def on_chain_end(self, outputs: Any, **kw: Any) -> None:
        self.events.append(("chain_end", outputs, kw))

    def on_chain_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(("chain_error", error, kw))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
        self.events.append(("llm_start", messages, kw))

    def on_llm_new_token(self, token: str, **kw: Any) -> None:
        self.events.append(("token", token, kw))

    def on_llm_end(self, response: Any, **kw: Any) -> None:
        self.events.append(("llm_end", response, kw))

    def on_agent_action(self, action: Any, **kw: Any) -> None:
        self.events.append(("agent_action", action, kw))

    def on_agent_finish(self, finish: Any, **kw: Any) -> None:
        self.events.append(("agent_finish", finish, kw))

    def on_tool_start(self, serialized: Any, input_str: str, **kw: Any) -> None:
        self.events.append(("tool_start", input_str, kw))

    def on_tool_end(self, output: Any, **kw: Any) -> None:
        self.events.append(("tool_end", output, kw))

    def on_tool_error(self, error: BaseException, **kw: Any) -> None:
        self.events.append(("tool_error", error, kw))

    def outline(self) -> list[str]:
        """Callback kinds with runs of tokens collapsed and only the executor's chain events kept."""
        out: list[str] = []
        for kind, payload, kw in self.events:
            if kind == "token" and out and out[-1] == "tokens":
                continue
            if kind == "token":
                out.append("tokens")
            elif kind == "chain_start":
                if payload == "AgentExecutor":
                    out.append("executor_start")
            elif kind in ("chain_end", "chain_error"):
                if kw.get("parent_run_id") is None:
                    out.append(f"executor_{kind.split('_')[1]}:{kw.get('reason')}")
            else:
                out.append(kind)
        return out


def react_llm(*answers: str) -> FakeListChatModel:
    return FakeListChatModel(responses=list(answers))


SEARCH_THEN_ANSWER = (
    "Thought: I should look it up.\nAction: search\nAction Input: LangChain",
    "Thought: I know now.\nFinal Answer: LangChain is a framework for LLM apps.",
)


def react_executor(llm: Any, tools: list[Any], **kwargs: Any) -> AgentExecutor:
    agent = create_react_agent(llm, tools, REACT_PROMPT)
    return AgentExecutor(agent=agent, tools=tools, verbose=True, return_intermediate_steps=True, **kwargs)


def tool_turns() -> list[AIMessage]:
    return [
        AIMessage(
            "", tool_calls=[{"name": "add", "args": {"a": 2, "b": 40}, "id": "call_a", "type": "tool_call"}]
        ),
        AIMessage("The sum is 42."),
    ]


def tools_executor(model: ScriptedToolModel, tools: list[Any], **kwargs: Any) -> AgentExecutor:
    agent = create_tool_calling_agent(model, tools, TOOLS_PROMPT)
    return AgentExecutor(agent=agent, tools=tools, return_intermediate_steps=True, **kwargs)


# -- the brief's example, ReAct ---------------------------------------------------------------------------------
def test_briefs_react_example_streams_actions_steps_output(capsys: pytest.CaptureFixture[str]) -> None:
    agent_executor = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search])
    for step in agent_executor.stream("Find information about LangChain"):
        print(f"Step: {step}")
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("'")[1] for line in printed] == ["actions", "steps", "output"]

    chunks = list(
        react_executor(react_llm(*SEARCH_THEN_ANSWER), [search]).stream("Find information about LangChain")
    )
    action = AgentAction("search", "LangChain", SEARCH_THEN_ANSWER[0])
    observation = "LangChain is a framework for LLM apps (searched 'LangChain')"
    assert chunks[0] == {"actions": [action], "messages": [AIMessage(SEARCH_THEN_ANSWER[0])]}
    assert chunks[1]["steps"] == [AgentStep(action, observation)]
    assert chunks[1]["messages"][0].content == observation
    assert chunks[2]["output"] == "LangChain is a framework for LLM apps."
    assert chunks[2]["intermediate_steps"] == [(action, observation)]
    assert chunks[2]["messages"] == [AIMessage(SEARCH_THEN_ANSWER[1])]


def test_react_scratchpad_reaches_the_second_prompt() -> None:
    prompts: list[str] = []

    class Spy(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
            prompts.append(messages[0][0].content)

    executor = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search])
    result = executor.invoke({"input": "Find information about LangChain"}, {"callbacks": [Spy()]})
    assert result["output"] == "LangChain is a framework for LLM apps."
    assert result["input"] == "Find information about LangChain"
    assert "search: Search the web for a query." in prompts[0] and "Use one of [search]." in prompts[0]
    assert prompts[1].endswith(
        SEARCH_THEN_ANSWER[0]
        + "\nObservation: LangChain is a framework for LLM apps (searched 'LangChain')\nThought: "
    )


def test_react_callbacks_follow_langchains_order() -> None:
    rec = Recorder()
    executor = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search])
    list(executor.stream("Find information about LangChain", {"callbacks": [rec]}))
    assert rec.outline() == [
        "executor_start", "llm_start", "tokens", "llm_end", "agent_action", "tool_start", "tool_end",
        "llm_start", "tokens", "llm_end", "agent_finish", "executor_end:completed",
    ]  # fmt: skip
    tokens = "".join(t for k, t, _ in rec.events if k == "token")
    assert tokens == "".join(SEARCH_THEN_ANSWER)  # every character streamed through on_llm_new_token
    tool_start = next(kw for k, _, kw in rec.events if k == "tool_start")
    assert tool_start["inputs"] is None and tool_start["name"] == "search"
    executor_run = next(
        kw["run_id"] for k, p, kw in rec.events if k == "chain_start" and p == "AgentExecutor"
    )
    action_kw = next(kw for k, _, kw in rec.events if k == "agent_action")
    assert action_kw["run_id"] == executor_run


def test_react_astream() -> None:
    async def run() -> list[Any]:
        executor = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search])
        return [chunk async for chunk in executor.astream("Find information about LangChain")]

    chunks = asyncio.run(run())
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "output"]
    assert chunks[-1]["output"] == "LangChain is a framework for LLM apps."


def test_react_tool_exception_becomes_the_observation() -> None:
    llm = react_llm("Action: flaky\nAction Input: weather", "Final Answer: could not tell")
    chunks = list(react_executor(llm, [flaky]).stream("weather?"))
    assert chunks[1]["steps"][0].observation == "service down for weather"
    assert chunks[-1]["output"] == "could not tell"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_react_tool_that_raises_ends_the_run_with_the_same_error(mode: str) -> None:
    rec = Recorder()
    executor = react_executor(react_llm("Action: broken\nAction Input: x", "Final Answer: never"), [broken])
    seen: list[Any] = []

    async def arun() -> None:
        async for chunk in executor.astream("go", {"callbacks": [rec]}):
            seen.append(chunk)

    with pytest.raises(BoomError, match="tool crashed"):
        if mode == "sync":
            for chunk in executor.stream("go", {"callbacks": [rec]}):
                seen.append(chunk)
        else:
            asyncio.run(arun())
    assert [next(iter(c)) for c in seen] == ["actions"]  # the decision was streamed before the tool ran
    assert rec.outline()[-3:] == ["tool_start", "tool_error", "executor_error:error"]
    assert isinstance(next(p for k, p, _ in rec.events if k == "tool_error"), BoomError)


def test_react_parsing_errors_are_handled_or_raised() -> None:
    llm = react_llm("I am not following the format", "Final Answer: ok")
    chunks = list(react_executor(llm, [search], handle_parsing_errors=True).stream("q"))
    assert chunks[0]["actions"][0].tool == "_Exception"
    assert chunks[1]["steps"][0].observation == "Invalid Format: Missing 'Action:' after 'Thought:'"
    assert chunks[-1]["output"] == "ok"
    from streamscope.engine.parsers import OutputParserException

    with pytest.raises(OutputParserException, match="Could not parse LLM output"):
        list(react_executor(react_llm("gibberish"), [search]).stream("q"))


def test_unknown_tool_and_iteration_limit() -> None:
    llm = react_llm("Action: teleport\nAction Input: moon")
    chunks = list(react_executor(llm, [search], max_iterations=2).stream("q"))
    assert chunks[1]["steps"][0].observation == "teleport is not a valid tool, try one of [search]."
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "actions", "steps", "output"]
    assert chunks[-1]["output"] == STOPPED


def test_consumer_stopping_early_ends_the_executor_abandoned() -> None:
    rec = Recorder()
    stream = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search]).stream("q", {"callbacks": [rec]})
    first = next(stream)
    stream.close()
    assert "actions" in first
    assert rec.outline()[-1] == "executor_end:abandoned"
    assert "tool_start" not in rec.outline()  # the tool never ran


# -- tool-calling agent ------------------------------------------------------------------------------------------
def test_tool_calling_agent_streams_actions_steps_output() -> None:
    model = ScriptedToolModel(tool_turns())
    chunks = list(tools_executor(model, [add]).stream({"input": "what is 2 + 40?"}))
    assert [next(iter(c)) for c in chunks] == ["actions", "steps", "output"]
    action = chunks[0]["actions"][0]
    assert isinstance(action, ToolAgentAction)
    assert (action.tool, action.tool_input, action.tool_call_id) == ("add", {"a": 2, "b": 40}, "call_a")
    assert chunks[0]["messages"][0].tool_calls[0]["id"] == "call_a"
    assert chunks[1]["steps"][0].observation == 42
    assert chunks[1]["messages"] == [ToolMessage("42", tool_call_id="call_a", name="add")]
    assert chunks[2]["output"] == "The sum is 42."
    assert model.bound_tools == ["add"]
    second_call = model.seen[1]
    assert isinstance(second_call[-2], AIMessage) and second_call[-2].tool_calls[0]["name"] == "add"
    assert second_call[-1] == ToolMessage("42", tool_call_id="call_a", name="add")


def test_tool_calling_agent_callbacks_and_tool_call_id() -> None:
    rec = Recorder()
    list(
        tools_executor(ScriptedToolModel(tool_turns()), [add]).stream({"input": "2+40"}, {"callbacks": [rec]})
    )
    assert rec.outline() == [
        "executor_start", "llm_start", "tokens", "llm_end", "agent_action", "tool_start", "tool_end",
        "llm_start", "tokens", "llm_end", "agent_finish", "executor_end:completed",
    ]  # fmt: skip
    tool_start = next(kw for k, _, kw in rec.events if k == "tool_start")
    assert tool_start["tool_call_id"] == "call_a" and tool_start["inputs"] == {"a": 2, "b": 40}
    tool_chunks = [kw["chunk"].message.tool_call_chunks for k, _, kw in rec.events if k == "token"]
    assert any(c and c[0]["name"] == "add" for c in tool_chunks)


def test_tool_calling_agent_astream_with_a_raising_tool() -> None:
    turns = [
        AIMessage(
            "", tool_calls=[{"name": "flaky", "args": {"query": "x"}, "id": "c1", "type": "tool_call"}]
        ),
        AIMessage("Sorry, the service is down."),
    ]

    async def run() -> list[Any]:
        executor = tools_executor(ScriptedToolModel(turns), [flaky])
        return [chunk async for chunk in executor.astream({"input": "x"})]

    chunks = asyncio.run(run())
    assert chunks[1]["steps"][0].observation == "service down for x"
    assert chunks[1]["messages"][0].content == "service down for x"
    assert chunks[-1]["output"] == "Sorry, the service is down."


def test_tool_calling_agent_async_error_propagates() -> None:
    turns = [
        AIMessage(
            "", tool_calls=[{"name": "broken", "args": {"query": "x"}, "id": "c1", "type": "tool_call"}]
        )
    ]

    async def run() -> None:
        async for _ in tools_executor(ScriptedToolModel(turns), [broken]).astream({"input": "x"}):
            pass

    with pytest.raises(BoomError):
        asyncio.run(run())


def test_parallel_tool_calls_yield_all_actions_then_all_steps() -> None:
    turns = [
        AIMessage(
            "",
            tool_calls=[
                {"name": "add", "args": {"a": 1, "b": 1}, "id": "c1", "type": "tool_call"},
                {"name": "add", "args": {"a": 2, "b": 2}, "id": "c2", "type": "tool_call"},
            ],
        ),
        AIMessage("2 and 4"),
    ]
    model = ScriptedToolModel(turns)
    chunks = list(tools_executor(model, [add]).stream({"input": "x"}))
    assert [next(iter(c)) for c in chunks] == ["actions", "actions", "steps", "steps", "output"]
    assert [c["steps"][0].observation for c in chunks[2:4]] == [2, 4]
    second = model.seen[1]
    assert [type(m).__name__ for m in second[-3:]] == ["AIMessage", "ToolMessage", "ToolMessage"]


def test_astream_events_carry_agent_llm_tokens_and_tools() -> None:
    executor = react_executor(react_llm(*SEARCH_THEN_ANSWER), [search])

    async def run() -> list[dict[str, Any]]:
        return [e async for e in executor.astream_events("q", version="v2")]

    events = asyncio.run(run())
    kinds = [e["event"] for e in events]
    streamed = "".join(e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream")
    assert streamed == "".join(SEARCH_THEN_ANSWER)
    assert kinds.index("on_tool_start") < kinds.index("on_tool_end")
    assert events[0]["event"] == "on_chain_start" and events[0]["name"] == "AgentExecutor"
    assert events[-1]["event"] == "on_chain_end"


def test_agent_finish_and_step_messages() -> None:
    finish = AgentFinish({"output": "x"}, "Final Answer: x")
    assert finish.messages == [AIMessage("Final Answer: x")]
    step = AgentStep(AgentAction("t", "i", "log"), {"k": 1})
    assert step.messages[0].content == '{"k": 1}'
