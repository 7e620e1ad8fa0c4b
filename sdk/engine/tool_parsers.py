"""Parsers of a model's tool calls that stream: each chunk yields the tool calls parsed so far (as LangChain's
``JsonOutputToolsParser``, ``JsonOutputKeyToolsParser`` and ``PydanticToolsParser``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from streamscope.engine.messages import AIMessage
from streamscope.engine.outputs import ChatGeneration, Generation
from streamscope.engine.parsers import BaseCumulativeTransformOutputParser, OutputParserException
from streamscope.engine.tool_calls import parse_tool_calls

__all__ = ["JsonOutputKeyToolsParser", "JsonOutputToolsParser", "PydanticToolsParser"]


class JsonOutputToolsParser(BaseCumulativeTransformOutputParser):
    """The message's tool calls as ``{"type": <tool name>, "args": {...}}`` (plus ``"id"`` with
    ``return_id=True``); ``first_tool_only=True`` gives the first one (or ``None``)."""

    def __init__(
        self,
        *,
        strict: bool = False,
        return_id: bool = False,
        first_tool_only: bool = False,
        diff: bool = False,
    ) -> None:
        super().__init__(diff=diff)
        self.strict = strict
        self.return_id = return_id
        self.first_tool_only = first_tool_only

    def _tool_calls(self, result: list[Generation], partial: bool) -> list[dict[str, Any]] | None:
        generation = result[0]
        if not isinstance(generation, ChatGeneration):
            raise OutputParserException("This output parser can only be used with a chat generation.")
        message = generation.message
        if isinstance(message, AIMessage) and message.tool_calls:
            calls = [dict(tc) for tc in message.tool_calls]
            if not self.return_id:
                for call in calls:
                    call.pop("id", None)
        else:
            raw = message.additional_kwargs.get("tool_calls")
            if raw is None:
                return None
            calls = parse_tool_calls(
                copy.deepcopy(raw), partial=partial, strict=self.strict, return_id=self.return_id
            )
        for call in calls:
            call["type"] = call.pop("name")
        return calls

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        calls = self._tool_calls(result, partial) or []
        if self.first_tool_only:
            return calls[0] if calls else None
        return calls

    def parse(self, text: str) -> Any:
        raise NotImplementedError


class JsonOutputKeyToolsParser(JsonOutputToolsParser):
    """Only the calls of the tool ``key_name``: their ``args`` (whole calls with ``return_id=True``)."""

    def __init__(self, key_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_name = key_name

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        calls = self._tool_calls(result, partial)
        if calls is None:
            return None if self.first_tool_only else []
        mine = [call for call in calls if call["type"] == self.key_name]
        if self.first_tool_only:
            if not mine:
                return None
            return mine[0] if self.return_id else mine[0]["args"]
        return mine if self.return_id else [call["args"] for call in mine]


class PydanticToolsParser(JsonOutputToolsParser):
    """The tool calls as instances of ``tools`` (classes called with the arguments, matched by class name);
    while streaming, calls whose arguments do not validate yet are left out."""

    def __init__(self, tools: Sequence[type[Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tools = list(tools)

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        calls = super().parse_result(result, partial=partial)
        if not calls:
            return None if self.first_tool_only else []
        calls = [calls] if self.first_tool_only else calls
        by_name = {tool.__name__: tool for tool in self.tools}
        objects = []
        for call in calls:
            args = call["args"]
            if not isinstance(args, dict):
                if partial:
                    continue
                raise ValueError(f"Tool arguments must be specified as a dict, received: {args}")
            try:
                objects.append(by_name[call["type"]](**args))
            except (ValueError, TypeError):
                if partial:
                    continue
                raise
        if self.first_tool_only:
            return objects[0] if objects else None
        return objects
