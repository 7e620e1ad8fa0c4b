"""What an agent decides: ``AgentAction`` (call a tool), ``AgentStep`` (action + observation), ``AgentFinish``.

Each has ``messages``: the chat messages it stands for, which ``AgentExecutor`` streams alongside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamscope.engine.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

__all__ = ["AgentAction", "AgentActionMessageLog", "AgentFinish", "AgentStep", "ToolAgentAction"]


@dataclass
class AgentAction:
    """Call ``tool`` with ``tool_input``; ``log`` is the model text that led to it."""

    tool: str
    tool_input: str | dict[str, Any]
    log: str
    type: str = "AgentAction"

    @property
    def messages(self) -> list[BaseMessage]:
        return [AIMessage(self.log)]


@dataclass
class AgentActionMessageLog(AgentAction):
    """An action that came from chat messages (``message_log``) rather than plain text."""

    message_log: Sequence[BaseMessage] = field(default_factory=list)
    type: str = "AgentActionMessageLog"

    @property
    def messages(self) -> list[BaseMessage]:
        return list(self.message_log) if self.message_log else [AIMessage(self.log)]


@dataclass
class ToolAgentAction(AgentActionMessageLog):
    """An action taken from a model's tool call, linked by ``tool_call_id``."""

    tool_call_id: str | None = None
    type: str = "ToolAgentAction"


def observation_text(observation: Any) -> str:
    if isinstance(observation, str):
        return observation
    if isinstance(observation, BaseMessage):
        return observation.text
    try:
        return json.dumps(observation, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(observation)


@dataclass
class AgentStep:
    """An action and what the tool returned for it."""

    action: AgentAction
    observation: Any

    @property
    def messages(self) -> list[BaseMessage]:
        if isinstance(self.action, ToolAgentAction):
            return [ToolMessage(observation_text(self.observation), tool_call_id=self.action.tool_call_id or "",
                                name=self.action.tool)]  # fmt: skip
        return [HumanMessage(observation_text(self.observation))]


@dataclass
class AgentFinish:
    """The agent's final answer: ``return_values`` (usually ``{"output": ...}``) and the model's ``log``."""

    return_values: dict[str, Any]
    log: str
    type: str = "AgentFinish"

    @property
    def messages(self) -> list[BaseMessage]:
        return [AIMessage(self.log)]
