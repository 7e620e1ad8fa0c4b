"""Tool calls as data: ``ToolCall`` / ``ToolCallChunk`` dicts and parsing OpenAI-style raw tool calls."""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from streamscope.engine.partial_json import parse_partial_json

__all__ = ["ToolCall", "ToolCallChunk", "parse_tool_call", "parse_tool_calls", "tool_call", "tool_call_chunk"]


class ToolCall(TypedDict):
    """A parsed tool call: ``{"name", "args", "id", "type": "tool_call"}``."""

    name: str
    args: dict[str, Any]
    id: str | None
    type: Literal["tool_call"]


class ToolCallChunk(TypedDict):
    """A streamed piece of a tool call; pieces with the same ``index`` merge (``args`` strings concatenate)."""

    name: str | None
    args: str | None
    id: str | None
    index: int | None
    type: Literal["tool_call_chunk"]


def tool_call(*, name: str, args: dict[str, Any], id: str | None) -> ToolCall:
    return ToolCall(name=name, args=args, id=id, type="tool_call")


def tool_call_chunk(
    *, name: str | None = None, args: str | None = None, id: str | None = None, index: int | None = None
) -> ToolCallChunk:
    return ToolCallChunk(name=name, args=args, id=id, index=index, type="tool_call_chunk")


def parse_tool_call(
    raw_tool_call: dict[str, Any], *, partial: bool = False, strict: bool = False, return_id: bool = True
) -> dict[str, Any] | None:
    """An OpenAI-style ``{"function": {"name", "arguments"}, "id"}`` as a tool call (``None`` without a
    ``function``, or, when ``partial``, while its arguments do not parse yet)."""
    from streamscope.engine.parsers import OutputParserException

    if "function" not in raw_tool_call:
        return None
    function = raw_tool_call["function"]
    arguments = function["arguments"]
    if partial:
        try:
            args = parse_partial_json(arguments, strict=strict)
        except (ValueError, TypeError):
            return None
    elif not arguments:
        args = {}
    else:
        try:
            args = json.loads(arguments, strict=strict)
        except json.JSONDecodeError as exc:
            raise OutputParserException(
                f"Function {function['name']} arguments:\n\n{arguments}\n\nare not valid JSON. "
                f"Received JSONDecodeError {exc}"
            ) from exc
    parsed: dict[str, Any] = {"name": function["name"] or "", "args": args or {}}
    if return_id:
        return dict(tool_call(name=parsed["name"], args=parsed["args"], id=raw_tool_call.get("id")))
    return parsed


def parse_tool_calls(
    raw_tool_calls: list[dict[str, Any]],
    *,
    partial: bool = False,
    strict: bool = False,
    return_id: bool = True,
) -> list[dict[str, Any]]:
    """Every parseable raw tool call; the errors of the others raised together."""
    from streamscope.engine.parsers import OutputParserException

    parsed: list[dict[str, Any]] = []
    errors: list[str] = []
    for raw in raw_tool_calls:
        try:
            call = parse_tool_call(raw, partial=partial, strict=strict, return_id=return_id)
        except OutputParserException as exc:
            errors.append(str(exc))
            continue
        if call:
            parsed.append(call)
    if errors:
        raise OutputParserException("\n\n".join(errors))
    return parsed
