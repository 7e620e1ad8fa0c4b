"""``create_react_agent`` and ``create_tool_calling_agent``: prompt → model → parser pipelines an
``AgentExecutor`` drives. Both take ``{"input": ..., "intermediate_steps": [...]}`` and add the
``agent_scratchpad`` (text for ReAct, messages for tool calling) before the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from streamscope.engine.agents.output_parsers import (
    ReActSingleInputOutputParser,
    ToolsAgentOutputParser,
    format_log_to_str,
    format_to_tool_messages,
)
from streamscope.engine.config import RunnableConfig
from streamscope.engine.runnables.base import Runnable
from streamscope.engine.tools import BaseTool

__all__ = ["create_react_agent", "create_tool_calling_agent", "render_text_description"]


def render_text_description(tools: Sequence[BaseTool]) -> str:
    """One ``name: description`` line per tool (what the ReAct prompt's ``{tools}`` shows)."""
    return "\n".join(f"{t.name}: {t.description}" for t in tools)


class _AddScratchpad(Runnable[Any, Any]):
    """Adds ``agent_scratchpad`` (and any fixed values) to the agent's input dict."""

    def __init__(self, render: Callable[[Any], Any], extra: dict[str, Any]) -> None:
        self.render = render
        self.extra = extra
        self.name = "agent_scratchpad"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def run(value: Any, _rm: Any, _cfg: Any) -> Any:
            steps = value.get("intermediate_steps", [])
            return {**self.extra, **value, "agent_scratchpad": self.render(steps)}

        return self._call_with_config(run, input, config)


def _check_prompt(prompt: Any, needed: set[str]) -> None:
    variables = getattr(prompt, "input_variables", None)
    if variables is None:
        return
    present = set(variables) | set(getattr(prompt, "partial_variables", {}) or {})
    present |= {m.variable_name for m in getattr(prompt, "messages", []) if hasattr(m, "variable_name")}
    missing = needed - present
    if missing:
        raise ValueError(f"The agent prompt is missing required variables: {sorted(missing)}.")


def create_react_agent(
    llm: Runnable[Any, Any],
    tools: Sequence[BaseTool],
    prompt: Runnable[Any, Any],
    output_parser: Runnable[Any, Any] | None = None,
    tools_renderer: Callable[[list[BaseTool]], str] = render_text_description,
    *,
    stop_sequence: bool | list[str] = True,
) -> Runnable[Any, Any]:
    """A ReAct agent: the prompt gets ``{tools}``, ``{tool_names}`` and ``{agent_scratchpad}`` (text); the model
    answers ``Thought: / Action: / Action Input:`` or ``Final Answer:``, which ``output_parser`` turns into an
    ``AgentAction`` or ``AgentFinish``. With ``stop_sequence`` the model stops at ``"\\nObservation"``."""
    _check_prompt(prompt, {"tools", "tool_names", "agent_scratchpad"})
    extra = {"tools": tools_renderer(list(tools)), "tool_names": ", ".join(t.name for t in tools)}
    model = llm
    if stop_sequence:
        stop = ["\nObservation"] if stop_sequence is True else list(stop_sequence)
        bind = getattr(llm, "bind", None)
        if bind is not None:
            model = bind(stop=stop)
    return (
        _AddScratchpad(format_log_to_str, extra)
        | prompt
        | model
        | (output_parser or ReActSingleInputOutputParser())
    )


def create_tool_calling_agent(
    llm: Runnable[Any, Any], tools: Sequence[BaseTool], prompt: Runnable[Any, Any]
) -> Runnable[Any, Any]:
    """A tool-calling agent: the model gets the tools (``bind_tools``) and the prompt's ``agent_scratchpad``
    placeholder receives earlier tool calls and their results as messages."""
    _check_prompt(prompt, {"agent_scratchpad"})
    bind_tools = getattr(llm, "bind_tools", None)
    if bind_tools is None:
        raise ValueError("This model cannot call tools: it has no bind_tools method.")
    model = cast(Runnable[Any, Any], bind_tools(list(tools)))
    return _AddScratchpad(format_to_tool_messages, {}) | prompt | model | ToolsAgentOutputParser()
