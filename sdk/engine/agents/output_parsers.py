"""Turning a model's answer into agent decisions, and agent history back into model input.

- ReAct text (``Thought: / Action: / Action Input:`` or ``Final Answer:``) → one ``AgentAction`` or
  ``AgentFinish``; ``format_log_to_str`` writes the steps back as the ``agent_scratchpad`` text.
- Tool calls on an ``AIMessage`` → a list of ``ToolAgentAction`` (or ``AgentFinish`` when there are none);
  ``format_to_tool_messages`` writes the steps back as AI messages with tool calls and ``ToolMessage`` results.

Both parsers are blocking steps: they parse the complete message once the model's stream has ended, so the
model's tokens still stream to callbacks while the agent decides.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from streamscope.engine.agents.schema import (
    AgentAction,
    AgentActionMessageLog,
    AgentFinish,
    AgentStep,
    ToolAgentAction,
    observation_text,
)
from streamscope.engine.config import RunnableConfig
from streamscope.engine.messages import AIMessage, BaseMessage, ToolMessage, content_text
from streamscope.engine.parsers import OutputParserException as _BaseOutputParserException
from streamscope.engine.runnables.base import Runnable

__all__ = [
    "OutputParserException",
    "ReActSingleInputOutputParser",
    "ToolsAgentOutputParser",
    "format_log_to_str",
    "format_to_tool_messages",
]

FINAL_ANSWER = "Final Answer:"
_ACTION = re.compile(r"Action\s*\d*\s*:[\s]*(.*?)[\s]*Action\s*\d*\s*Input\s*\d*\s*:[\s]*(.*)", re.DOTALL)


class OutputParserException(_BaseOutputParserException):
    """The engine's parse error plus LangChain's agent fields: ``observation`` is what to tell the model,
    ``send_to_llm`` whether to tell it that (``handle_parsing_errors=True``) rather than a generic message."""

    def __init__(self, error: str, *, observation: str | None = None, llm_output: str | None = None,
                 send_to_llm: bool = False) -> None:  # fmt: skip
        super().__init__(error, llm_output)
        self.observation = observation
        self.send_to_llm = send_to_llm


def _text_of(value: Any) -> str:
    if isinstance(value, BaseMessage):
        return value.text
    if isinstance(value, str):
        return value
    return content_text(value)


class ReActSingleInputOutputParser(Runnable[Any, Any]):
    """Parse ReAct text into an ``AgentAction`` (one tool, one input) or an ``AgentFinish``."""

    run_type = "parser"

    def parse(self, text: str) -> AgentAction | AgentFinish:
        action = _ACTION.search(text)
        has_final = FINAL_ANSWER in text
        if action and has_final:
            raise OutputParserException(
                f"Parsing LLM output produced both a final answer and a parse-able action: {text}",
                observation="Give either an Action or a Final Answer, not both.",
                llm_output=text, send_to_llm=True,
            )  # fmt: skip
        if action:
            tool = action.group(1).strip()
            tool_input = action.group(2).strip(" ").strip('"')
            tool_input = tool_input.split("\nObservation")[0].rstrip()
            return AgentAction(tool, tool_input, text)
        if has_final:
            return AgentFinish({"output": text.split(FINAL_ANSWER)[-1].strip()}, text)
        if not re.search(r"Action\s*\d*\s*:[\s]*(.*?)", text, re.DOTALL):
            observation = "Invalid Format: Missing 'Action:' after 'Thought:'"
        elif not re.search(r"[\s]*Action\s*\d*\s*Input\s*\d*\s*:[\s]*(.*)", text, re.DOTALL):
            observation = "Invalid Format: Missing 'Action Input:' after 'Action:'"
        else:
            observation = "Invalid Format"
        raise OutputParserException(
            f"Could not parse LLM output: `{text}`",
            observation=observation,
            llm_output=text,
            send_to_llm=True,
        )

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(lambda value, _rm, _cfg: self.parse(_text_of(value)), input, config)


class ToolsAgentOutputParser(Runnable[Any, Any]):
    """Parse an ``AIMessage``'s tool calls into ``ToolAgentAction``s, or its text into an ``AgentFinish``."""

    run_type = "parser"

    def parse_message(self, message: Any) -> list[AgentAction] | AgentFinish:
        if not isinstance(message, AIMessage):
            raise OutputParserException(f"Expected an AI message, got {type(message).__name__}.")
        calls = message.tool_calls
        if not calls:
            return AgentFinish({"output": message.content}, log=message.text)
        if hasattr(message, "to_message"):
            message = message.to_message()
        actions: list[AgentAction] = []
        for call in calls:
            args = call.get("args", {})
            tool_input: Any = args["__arg1"] if isinstance(args, dict) and "__arg1" in args else args
            content = f"responded: {message.text}\n" if message.text else "\n"
            log = f"\nInvoking: `{call['name']}` with `{tool_input}`\n{content}\n"
            actions.append(ToolAgentAction(tool=call["name"], tool_input=tool_input, log=log,
                                           message_log=[message], tool_call_id=call.get("id")))  # fmt: skip
        return actions

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(lambda value, _rm, _cfg: self.parse_message(value), input, config)


def format_log_to_str(
    intermediate_steps: Sequence[tuple[AgentAction, Any] | AgentStep],
    observation_prefix: str = "Observation: ",
    llm_prefix: str = "Thought: ",
) -> str:
    """The ReAct scratchpad: each action's log, then ``Observation: ...`` and a new ``Thought: ``."""
    parts = []
    for step in intermediate_steps:
        action, observation = (step.action, step.observation) if isinstance(step, AgentStep) else step
        parts.append(f"{action.log}\n{observation_prefix}{observation_text(observation)}\n{llm_prefix}")
    return "".join(parts)


def format_to_tool_messages(
    intermediate_steps: Sequence[tuple[AgentAction, Any] | AgentStep],
) -> list[BaseMessage]:
    """The tool-calling scratchpad: the AI messages that asked for tools, each followed by the tool results."""
    messages: list[BaseMessage] = []
    for step in intermediate_steps:
        action, observation = (step.action, step.observation) if isinstance(step, AgentStep) else step
        if isinstance(action, ToolAgentAction):
            for message in action.message_log:
                if not any(m is message for m in messages):
                    messages.append(message)
            content = observation if isinstance(observation, str) else observation_text(observation)
            messages.append(ToolMessage(content, tool_call_id=action.tool_call_id or "", name=action.tool))
        elif isinstance(action, AgentActionMessageLog):
            messages.extend(m for m in action.message_log if not any(m is x for x in messages))
            messages.append(AIMessage(json.dumps({"observation": observation_text(observation)})))
        else:
            messages.append(AIMessage(action.log))
            messages.append(AIMessage(observation_text(observation)))
    return messages
