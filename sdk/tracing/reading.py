"""What the tracing handler reads from a run's messages and chunks (the engine's or LangChain's, duck-typed):
a message's role and visible text, a chunk's reasoning text, and :class:`ChunkClassifier`, which turns the
``(token, chunk)`` records of a stream into (kind, text) on the export thread, learning usage and response facts
on the way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamscope.tracing.streams import (
    CONTENT,
    EMPTY,
    REASONING,
    ROLE,
    TOOL_CALL,
    USAGE,
    StreamFacts,
)

__all__ = ["ROLES", "ChunkClassifier", "message_dict", "reasoning_of", "text_of"]

ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "chat": "user",
    "AIMessageChunk": "assistant",
}


def text_of(content: Any) -> str:
    """Visible text of message content: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return ""


def reasoning_of(message: Any) -> str:
    extra = getattr(message, "additional_kwargs", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning")
    if isinstance(value, str) and value:
        return value
    content = getattr(message, "content", None)
    if isinstance(content, list):
        return "".join(
            str(b.get("reasoning") or b.get("thinking") or b.get("text") or "")
            for b in content
            if isinstance(b, Mapping) and b.get("type") in ("reasoning", "thinking")
        )
    return ""


def message_dict(message: Any) -> dict[str, Any]:
    role = ROLES.get(str(getattr(message, "type", "")), str(getattr(message, "type", "user")))
    return {"role": role, "content": text_of(getattr(message, "content", ""))}


class ChunkClassifier:
    """Classifies ``(token, chunk)`` records (on the export thread, in order, each once); sums usage on chunks."""

    __slots__ = ("input_tokens", "output_tokens", "seen")

    def __init__(self) -> None:
        self.seen = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def __call__(self, record: tuple[str, Any], rec: StreamFacts) -> tuple[int, str]:
        token, chunk = record
        first = not self.seen
        self.seen = True
        message = getattr(chunk, "message", None)
        if (
            token
            and message is not None
            and not getattr(message, "tool_call_chunks", None)
            and not getattr(message, "usage_metadata", None)
            and not getattr(message, "response_metadata", None)
            and not getattr(chunk, "generation_info", None)
        ):
            return CONTENT, token  # the common case: plain text, nothing else to learn
        return self._slow(token, chunk, message, first, rec)

    def _slow(self, token: Any, chunk: Any, message: Any, first: bool, rec: StreamFacts) -> tuple[int, str]:
        info = getattr(chunk, "generation_info", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        finish = info.get("finish_reason") or meta.get("finish_reason")
        if finish:
            rec.set_response(finish_reasons=[str(finish)])
        if meta.get("model_name") or meta.get("id"):
            rec.set_response(response_model=meta.get("model_name"), response_id=meta.get("id"))
        if getattr(message, "id", None) and str(message.id).startswith("chatcmpl"):
            rec.set_response(response_id=str(message.id))
        usage = getattr(message, "usage_metadata", None)
        if usage:
            self.input_tokens = (self.input_tokens or 0) + int(usage.get("input_tokens") or 0)
            self.output_tokens = (self.output_tokens or 0) + int(usage.get("output_tokens") or 0)
            rec.set_usage(self.input_tokens, self.output_tokens, "provider")
        calls = getattr(message, "tool_call_chunks", None)
        if calls:
            return TOOL_CALL, "".join(str(c.get("name") or "") + str(c.get("args") or "") for c in calls)
        text = token if isinstance(token, str) and token else text_of(getattr(message, "content", ""))
        if text:
            return CONTENT, text
        reasoning = reasoning_of(message) if message is not None else ""
        if reasoning:
            return REASONING, reasoning
        if usage:
            return USAGE, ""
        return (ROLE, "") if first and not finish else (EMPTY, "")
