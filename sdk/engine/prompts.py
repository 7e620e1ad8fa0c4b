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
    "AIMessagePromptTemplate",
    "BaseMessagePromptTemplate",
    "ChatPromptTemplate",
    "ChatPromptValue",
    "HumanMessagePromptTemplate",
    "MessagesPlaceholder",
    "PromptTemplate",
    "PromptValue",
    "StringPromptValue",
    "SystemMessagePromptTemplate",
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
    """A slot for a list of messages taken from the input variable ``variable_name`` (the last ``n_messages``
    of them when set); an ``optional`` one may be missing."""

    def __init__(self, variable_name: str, optional: bool = False, *, n_messages: int | None = None) -> None:
        self.variable_name = variable_name
        self.optional = optional
        self.n_messages = n_messages

    @property
    def input_variables(self) -> list[str]:
        return [] if self.optional else [self.variable_name]

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        from streamscope.engine.messages import convert_to_messages

        value = kwargs.get(self.variable_name)
        if value is None:
            if not self.optional:
                raise KeyError(f"Missing messages for placeholder {self.variable_name!r}.")
            return []
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"variable {self.variable_name} should be a list of base messages, got {value!r}."
            )
        messages = convert_to_messages(list(value))
        return messages[-self.n_messages :] if self.n_messages else messages


class BaseMessagePromptTemplate:
    """One message of a chat prompt, formatted from a :class:`PromptTemplate` (``SystemMessagePromptTemplate``,
    ``HumanMessagePromptTemplate``, ``AIMessagePromptTemplate``)."""

    role = "human"

    def __init__(self, prompt: PromptTemplate, **additional_kwargs: Any) -> None:
        self.prompt = prompt
        self.additional_kwargs = additional_kwargs

    @classmethod
    def from_template(
        cls, template: str, partial_variables: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        return cls(PromptTemplate(template, **dict(partial_variables or {})), **kwargs)

    @property
    def input_variables(self) -> list[str]:
        return self.prompt.input_variables

    def format(self, **kwargs: Any) -> BaseMessage:
        message = message_from_role(self.role, self.prompt.format(**kwargs))
        message.additional_kwargs = dict(self.additional_kwargs)
        return message

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        return [self.format(**kwargs)]


class SystemMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "system"


class HumanMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "human"


class AIMessagePromptTemplate(BaseMessagePromptTemplate):
    role = "ai"


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
            elif isinstance(item, (MessagesPlaceholder, BaseMessagePromptTemplate)):
                self.messages.append(item)
                variables.extend(item.input_variables)
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
            elif isinstance(item, (MessagesPlaceholder, BaseMessagePromptTemplate)):
                out.extend(item.format_messages(**kwargs))
            else:
                role, template = item
                out.append(message_from_role(role, template.format(**kwargs)))
        return out

    def format_prompt(self, **kwargs: Any) -> PromptValue:
        return ChatPromptValue(self.format_messages(**kwargs))

    def format(self, **kwargs: Any) -> str:
        return self.format_prompt(**kwargs).to_string()
