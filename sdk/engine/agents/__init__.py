"""Agents: ReAct and tool-calling agents, and ``AgentExecutor`` that streams their steps."""

from streamscope.engine.agents.executor import AgentExecutor
from streamscope.engine.agents.factories import (
    create_react_agent,
    create_tool_calling_agent,
    render_text_description,
)
from streamscope.engine.agents.output_parsers import (
    OutputParserException,
    ReActSingleInputOutputParser,
    ToolsAgentOutputParser,
    format_log_to_str,
    format_to_tool_messages,
)
from streamscope.engine.agents.schema import (
    AgentAction,
    AgentActionMessageLog,
    AgentFinish,
    AgentStep,
    ToolAgentAction,
)

__all__ = [
    "AgentAction",
    "AgentActionMessageLog",
    "AgentExecutor",
    "AgentFinish",
    "AgentStep",
    "OutputParserException",
    "ReActSingleInputOutputParser",
    "ToolAgentAction",
    "ToolsAgentOutputParser",
    "create_react_agent",
    "create_tool_calling_agent",
    "format_log_to_str",
    "format_to_tool_messages",
    "render_text_description",
]
