"""Prompt templates (``str.format`` syntax). Prompts block in a stream: they need their whole input."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.messages import BaseMessage, HumanMessage, get_buffer_string, message_from_role
from streamscope.engine.runnables.base import Runnable

__all__ = [
    "ChatPromptTemplate",
    "ChatPromptValue",
    "MessagesPlaceholder",
    "PromptTemplate",
    "PromptValue",
    "StringPromptValue",
]


def _variables(template: str) -> list[str]:
    names: list[str] = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            root = field.split(".")[0].split("[")[0]
            if root and root not in names:
                names.append(root)
    return names


class PromptValue:
    """A formatted prompt: usable as text or as chat messages."""

    def to_string(self) -> str:
        raise NotImplementedError

    def to_messages(self) -> list[BaseMessage]:
        raise NotImplementedError


class StringPromptValue(PromptValue):
    def __init__(self, text: str) -> None:
        self.text = text

    def to_string(self) -> str:
        return self.text

    def to_messages(self) -> list[BaseMessage]:
        return [HumanMessage(self.text)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StringPromptValue) and other.text == self.text

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StringPromptValue(text={self.text!r})"


class ChatPromptValue(PromptValue):
    def __init__(self, messages: list[BaseMessage]) -> None:
        self.messages = messages

    def to_string(self) -> str:
        return get_buffer_string(self.messages)

    def to_messages(self) -> list[BaseMessage]:
        return list(self.messages)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatPromptValue) and other.messages == self.messages

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChatPromptValue(messages={self.messages!r})"


class _BasePrompt(Runnable[Any, PromptValue]):
    run_type = "prompt"
    input_variables: list[str]

    def _coerce(self, value: Any) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            missing = [v for v in self.input_variables if v not in value]
            if missing:
                raise KeyError(f"{self.get_name()} is missing variables {missing}; got {sorted(value)}.")
            return value
        if len(self.input_variables) == 1:
            return {self.input_variables[0]: value}
        raise TypeError(f"{self.get_name()} expects a dict with keys {self.input_variables}.")

    def format_prompt(self, **kwargs: Any) -> PromptValue:
        raise NotImplementedError

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> PromptValue:
            return self.format_prompt(**self._coerce(value))

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> PromptValue:
        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> PromptValue:
            return self.format_prompt(**self._coerce(value))

        return await self._acall_with_config(run, input, config)


class PromptTemplate(_BasePrompt):
    """``PromptTemplate.from_template("Tell me about {topic}")``."""

    def __init__(self, template: str, input_variables: list[str] | None = None, **partial: Any) -> None:
        self.template = template
        self.partial_variables = partial
        found = _variables(template)
        self.input_variables = [v for v in (input_variables or found) if v not in partial]

    @classmethod
    def from_template(cls, template: str, **kwargs: Any) -> PromptTemplate:
        return cls(template, **kwargs)

    def format(self, **kwargs: Any) -> str:
        return self.template.format(**{**self.partial_variables, **kwargs})

    def format_prompt(self, **kwargs: Any) -> PromptValue:
        return StringPromptValue(self.format(**kwargs))


class MessagesPlaceholder:
    """A slot for a list of messages taken from the input variable ``variable_name``."""

    def __init__(self, variable_name: str, optional: bool = False) -> None:
        self.variable_name = variable_name
        self.optional = optional


MessageLike = Any


class ChatPromptTemplate(_BasePrompt):
    """``ChatPromptTemplate.from_messages([("system", "..."), ("human", "{q}"), MessagesPlaceholder("h")])``."""

    def __init__(self, messages: Sequence[MessageLike]) -> None:
        self.messages: list[Any] = []
        variables: list[str] = []
        for item in messages:
            if isinstance(item, tuple) and len(item) == 2:
                role, template = item
                if role == "placeholder":
                    name = str(template).strip("{}")
                    self.messages.append(MessagesPlaceholder(name, optional=True))
                    continue
                self.messages.append((str(role), str(template)))
                variables.extend(_variables(str(template)))
            elif isinstance(item, str):
                self.messages.append(("human", item))
                variables.extend(_variables(item))
            elif isinstance(item, MessagesPlaceholder):
                self.messages.append(item)
                if not item.optional:
                    variables.append(item.variable_name)
            elif isinstance(item, BaseMessage):
                self.messages.append(item)
            else:
                raise TypeError(f"Unsupported prompt message {item!r}.")
        self.input_variables = list(dict.fromkeys(variables))

    @classmethod
    def from_messages(cls, messages: Sequence[MessageLike]) -> ChatPromptTemplate:
        return cls(messages)

    @classmethod
    def from_template(cls, template: str, **kwargs: Any) -> ChatPromptTemplate:
        return cls([("human", template)])

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        out: list[BaseMessage] = []
        for item in self.messages:
            if isinstance(item, BaseMessage):
                out.append(item)
            elif isinstance(item, MessagesPlaceholder):
                from streamscope.engine.messages import convert_to_messages

                value = kwargs.get(item.variable_name)
                if value is None:
                    if not item.optional:
                        raise KeyError(f"Missing messages for placeholder {item.variable_name!r}.")
                    continue
                out.extend(convert_to_messages(value))
            else:
                role, template = item
                out.append(message_from_role(role, template.format(**kwargs)))
        return out

    def format_prompt(self, **kwargs: Any) -> PromptValue:
        return ChatPromptValue(self.format_messages(**kwargs))

    def format(self, **kwargs: Any) -> str:
        return self.format_prompt(**kwargs).to_string()
