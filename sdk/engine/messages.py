"""Messages and message chunks.

``AIMessageChunk + AIMessageChunk`` combines explicitly (see ``docs/engine.md``): content concatenates,
tool-call chunks merge by ``index`` (argument strings concatenate), usage is summed, metadata dicts merge
(strings concatenate), the first non-``None`` id wins, preferring a provider id over a ``lc_run--`` one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

__all__ = [
    "AIChunkAccumulator",
    "AIMessage",
    "AIMessageChunk",
    "BaseMessage",
    "BaseMessageChunk",
    "HumanMessage",
    "SystemMessage",
    "ToolMessage",
    "add_usage",
    "convert_to_messages",
    "get_buffer_string",
    "merge_dicts",
    "merge_lists",
]

Content = Any  # str, or a list of content blocks


class BaseMessage:
    """A message with ``content``; subclasses fix ``type``."""

    type: ClassVar[str] = "base"
    role_prefix: ClassVar[str] = "Message"

    def __init__(
        self,
        content: Content = "",
        *,
        id: str | None = None,
        name: str | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.content = content
        self.id = id
        self.name = name
        self.additional_kwargs: dict[str, Any] = additional_kwargs if additional_kwargs is not None else {}
        self.response_metadata: dict[str, Any] = response_metadata if response_metadata is not None else {}
        for key, value in extra.items():
            setattr(self, key, value)

    @property
    def text(self) -> str:
        """The text of ``content`` (text blocks joined when content is a list)."""
        return content_text(self.content)

    def _fields(self) -> dict[str, Any]:
        return {"content": self.content, "id": self.id, "name": self.name}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, BaseMessage)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._fields().items() if v not in (None, [], {}))
        return f"{type(self).__name__}({shown})"

    def pretty_repr(self) -> str:
        return f"{self.role_prefix}: {self.text}"


def content_text(content: Content) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


class HumanMessage(BaseMessage):
    type = "human"
    role_prefix = "Human"


class SystemMessage(BaseMessage):
    type = "system"
    role_prefix = "System"


class ToolMessage(BaseMessage):
    """The result of a tool call, linked to it by ``tool_call_id``."""

    type = "tool"
    role_prefix = "Tool"

    def __init__(
        self, content: Content = "", *, tool_call_id: str = "", status: str = "success", **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self.tool_call_id = tool_call_id
        self.status = status

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "tool_call_id": self.tool_call_id}


class AIMessage(BaseMessage):
    """A model's answer; ``tool_calls`` are parsed ``{"name", "args", "id", "type"}`` dicts."""

    type = "ai"
    role_prefix = "AI"

    def __init__(
        self,
        content: Content = "",
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        usage_metadata: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(content, **kwargs)
        self.tool_calls: list[dict[str, Any]] = tool_calls if tool_calls is not None else []
        self.usage_metadata = usage_metadata

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "tool_calls": self.tool_calls, "usage_metadata": self.usage_metadata}


class BaseMessageChunk(BaseMessage):
    """Marker base for chunks that support ``+``."""


class AIMessageChunk(AIMessage, BaseMessageChunk):
    """A piece of a streamed AI message. ``tool_call_chunks`` hold ``{name, args, id, index}`` deltas."""

    type = "AIMessageChunk"

    def __init__(
        self,
        content: Content = "",
        *,
        tool_call_chunks: list[dict[str, Any]] | None = None,
        chunk_position: str | None = None,
        id: str | None = None,
        name: str | None = None,
        usage_metadata: dict[str, int] | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        response_metadata: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        # Assigned directly (no super() chain): chunks are created once per streamed piece.
        self.content = content
        self.id = id
        self.name = name
        self.additional_kwargs = additional_kwargs if additional_kwargs is not None else {}
        self.response_metadata = response_metadata if response_metadata is not None else {}
        self.usage_metadata = usage_metadata
        self.tool_call_chunks = tool_call_chunks if tool_call_chunks is not None else []
        self.chunk_position = chunk_position
        if extra:
            extra.pop("tool_calls", None)
            for key, value in extra.items():
                setattr(self, key, value)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Tool calls parsed from the merged chunks (arguments that are not valid JSON yet parse to {})."""
        calls = []
        for tc in self.tool_call_chunks:
            raw = tc.get("args") or ""
            try:
                args = json.loads(raw) if raw else {}
            except ValueError:
                from streamscope.engine.partial_json import parse_partial_json

                try:
                    args = parse_partial_json(raw)
                except ValueError:
                    args = {}
                if not isinstance(args, dict):
                    args = {}
            calls.append(
                {"name": tc.get("name") or "", "args": args, "id": tc.get("id"), "type": "tool_call"}
            )
        return calls

    @tool_calls.setter
    def tool_calls(self, value: list[dict[str, Any]]) -> None:
        pass  # derived from tool_call_chunks

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), "tool_call_chunks": self.tool_call_chunks}

    def __add__(self, other: Any) -> AIMessageChunk:
        if isinstance(other, AIMessageChunk):
            return merge_ai_chunks([self, other])
        if isinstance(other, (list, tuple)) and all(isinstance(o, AIMessageChunk) for o in other):
            return merge_ai_chunks([self, *other])
        return NotImplemented

    def to_message(self) -> AIMessage:
        return AIMessage(
            self.content,
            id=self.id,
            tool_calls=self.tool_calls,
            usage_metadata=self.usage_metadata,
            additional_kwargs=self.additional_kwargs,
            response_metadata=self.response_metadata,
        )


def _merge_content(parts: list[Content]) -> Content:
    """LangChain's ``merge_content`` over many parts: strings concatenate (a string after a list joins the list's
    trailing string, or is appended), lists merge blocks by ``index``; an empty string after a list is a no-op."""
    if all(type(p) is str for p in parts):
        return "".join(parts)
    merged: Content = "" if parts[0] is None else parts[0]
    if isinstance(merged, list):
        merged = list(merged)
    for content in parts[1:]:
        if isinstance(merged, str):
            merged = merged + content if isinstance(content, str) else [merged, *content]
        elif isinstance(content, list):
            merged = merge_lists(merged, content)
        elif merged and isinstance(merged[-1], str):
            merged[-1] += content
        elif content == "":
            pass
        elif merged:
            merged.append(content)
    return merged


def _mergeable_index(block: Any) -> bool:
    if not (isinstance(block, dict) and "index" in block):
        return False
    index = block["index"]
    return isinstance(index, int) or (isinstance(index, str) and index.startswith("lc_"))


def merge_lists(left: list[Any], right: list[Any]) -> list[Any]:
    """Extend ``left`` by ``right``, merging a dict block into the earlier block with the same ``index`` (and no
    conflicting ``id``); the later block's ``type`` is dropped from the merge."""
    merged = list(left)
    for block in right:
        if _mergeable_index(block):
            for i, prior in enumerate(merged):
                if (
                    isinstance(prior, dict)
                    and prior.get("index") == block["index"]
                    and (
                        prior.get("id") in (None, "")
                        or block.get("id") in (None, "")
                        or prior.get("id") == block.get("id")
                    )
                ):
                    merged[i] = merge_dicts(prior, {k: v for k, v in block.items() if k != "type"})
                    break
            else:
                merged.append(block)
        else:
            merged.append(block)
    return merged


def add_usage(left: dict[str, Any], right: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """Sum two usage dicts key by key, nested detail dicts too (``input_token_details``, ...); a value that is
    neither an int nor a dict raises ``ValueError`` (as LangChain's ``add_usage``)."""
    if depth >= 100:
        raise ValueError("max_depth=100 exceeded, unable to combine dicts.")
    combined: dict[str, Any] = {}
    for key in (*left, *(k for k in right if k not in left)):
        lv, rv = left.get(key, 0), right.get(key, 0)
        if isinstance(lv, int) and isinstance(rv, int):
            combined[key] = lv + rv
        elif isinstance(left.get(key, {}), dict) and isinstance(right.get(key, {}), dict):
            combined[key] = add_usage(left.get(key, {}), right.get(key, {}), depth + 1)
        else:
            types = [type(d[key]) for d in (left, right) if key in d]
            raise ValueError(f"Unknown value types: {types}. Only dict and int values are supported.")
    return combined


# String values that identify rather than accumulate: a repeated value replaces, never concatenates.
_REPLACE_KEYS = frozenset(
    {"type", "id", "model", "model_name", "system_fingerprint", "finish_reason", "service_tier", "object"}
)


def merge_dicts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``right`` into a copy of ``left``: strings concatenate, dicts merge, lists extend."""
    out = dict(left)
    for key, value in right.items():
        if key not in out or out[key] is None:
            out[key] = value
        elif value is None or (out[key] == value and not isinstance(value, str)):
            continue
        elif isinstance(out[key], str) and isinstance(value, str):
            out[key] = value if key in _REPLACE_KEYS else out[key] + value
        elif isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = merge_dicts(out[key], value)
        elif isinstance(out[key], list) and isinstance(value, list):
            out[key] = merge_lists(out[key], value)
        else:
            out[key] = value
    return out


class AIChunkAccumulator:
    """Folds ``AIMessageChunk``s one at a time without keeping them (``add`` each, then ``result()``)."""

    __slots__ = (
        "_additional",
        "_first",
        "_id",
        "_last",
        "_metadata",
        "_name",
        "_parts",
        "_tool_order",
        "_tools",
        "_usage",
    )

    def __init__(self) -> None:
        self._parts: list[Content] = []  # one per chunk added
        self._first: AIMessageChunk | None = None
        self._id: str | None = None
        self._name: str | None = None
        self._tools: dict[Any, dict[str, Any]] | None = None
        self._tool_order: list[Any] = []
        self._usage: dict[str, int] | None = None
        self._additional: dict[str, Any] | None = None
        self._metadata: dict[str, Any] | None = None
        self._last = False

    def __len__(self) -> int:
        """How many chunks were added."""
        return len(self._parts)

    @property
    def id(self) -> str | None:
        """The merged message's id so far."""
        return self._id

    def content_appender(self) -> Callable[[Content], None]:
        """``append(content)``, the same as ``add(chunk)`` for a chunk that only adds its content: not the first
        chunk, its id falsy or equal to :attr:`id`, and no name, tool-call chunks, usage, additional kwargs,
        response metadata or chunk position. For per-chunk loops that test that themselves (one call, no frame)."""
        return self._parts.append

    def content_parts(self) -> list[Content]:
        """The list :meth:`content_appender` appends to (for a C loop that appends itself)."""
        return self._parts

    def add(self, chunk: AIMessageChunk) -> None:
        parts = self._parts
        if not parts:
            self._first = chunk
        parts.append(chunk.content)
        cid = chunk.id
        # (the same id again, as on every chunk of a run, changes nothing)
        if (
            cid
            and cid != self._id
            and (self._id is None or (self._id.startswith("lc_run--") and not cid.startswith("lc_run--")))
        ):
            self._id = cid
        # one test for the common chunk (text only); the rest only when a field is set
        if (
            chunk.name
            or chunk.tool_call_chunks
            or chunk.usage_metadata
            or chunk.additional_kwargs
            or chunk.response_metadata
            or chunk.chunk_position == "last"
        ):
            self._add_fields(chunk)

    def _add_fields(self, chunk: AIMessageChunk) -> None:
        if chunk.name and self._name is None:
            self._name = chunk.name
        if chunk.tool_call_chunks:
            self._add_tools(chunk.tool_call_chunks)
        usage = chunk.usage_metadata
        if usage:
            self._usage = dict(usage) if self._usage is None else add_usage(self._usage, usage)
        if chunk.additional_kwargs:
            self._additional = merge_dicts(self._additional or {}, chunk.additional_kwargs)
        if chunk.response_metadata:
            self._metadata = merge_dicts(self._metadata or {}, chunk.response_metadata)
        if chunk.chunk_position == "last":
            self._last = True

    def _add_tools(self, deltas: list[dict[str, Any]]) -> None:
        tools = self._tools
        if tools is None:
            tools = self._tools = {}
        for i, tc in enumerate(deltas):
            index = tc.get("index", i)
            current = tools.get(index)
            if current is None:
                tools[index] = {
                    "name": tc.get("name"),
                    "args": tc.get("args") or "",
                    "id": tc.get("id"),
                    "index": index,
                }
                self._tool_order.append(index)
                continue
            if tc.get("name") and not current["name"]:
                current["name"] = tc["name"]
            if tc.get("args"):
                current["args"] += tc["args"]
            if tc.get("id") and not current["id"]:
                current["id"] = tc["id"]

    def result(self) -> AIMessageChunk:
        if len(self._parts) == 1 and self._first is not None:
            return self._first
        tools = self._tools
        return AIMessageChunk(
            _merge_content(self._parts) if self._parts else "",
            id=self._id,
            name=self._name,
            tool_call_chunks=[tools[i] for i in self._tool_order] if tools else [],
            usage_metadata=dict(self._usage) if self._usage else None,
            additional_kwargs=self._additional or {},
            response_metadata=self._metadata or {},
            chunk_position="last" if self._last else None,
        )


def merge_ai_chunks(chunks: Sequence[AIMessageChunk]) -> AIMessageChunk:
    """Fold many chunks at once (the same result as ``a + b + c``, without the quadratic copying)."""
    acc = AIChunkAccumulator()
    for chunk in chunks:
        acc.add(chunk)
    return acc.result()


_ROLES: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "user": HumanMessage,
    "system": SystemMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
    "tool": ToolMessage,
}


def message_from_role(role: str, content: Content) -> BaseMessage:
    try:
        return _ROLES[role](content)
    except KeyError:
        raise ValueError(f"Unknown message role {role!r}; use one of {sorted(_ROLES)}.") from None


def convert_to_messages(value: Any) -> list[BaseMessage]:
    """A model input as messages: a string is one human message; prompt values, messages, (role, text) tuples
    and ``{"role", "content"}`` dicts are accepted."""
    if isinstance(value, str):
        return [HumanMessage(value)]
    if isinstance(value, BaseMessage):
        return [value]
    to_messages = getattr(value, "to_messages", None)
    if callable(to_messages):
        return list(to_messages())
    if isinstance(value, Sequence):
        out: list[BaseMessage] = []
        for item in value:
            if isinstance(item, BaseMessage):
                out.append(item)
            elif isinstance(item, str):
                out.append(HumanMessage(item))
            elif isinstance(item, tuple) and len(item) == 2:
                out.append(message_from_role(str(item[0]), item[1]))
            elif isinstance(item, dict) and "content" in item:
                out.append(message_from_role(str(item.get("role", "human")), item["content"]))
            else:
                raise TypeError(f"Cannot turn {type(item).__name__} into a message.")
        return out
    raise TypeError(f"Cannot turn {type(value).__name__} into messages; pass a string or a list of messages.")


def get_buffer_string(messages: Sequence[BaseMessage]) -> str:
    """``"Human: hi\\nAI: hello"``: the text form used when a handler lacks ``on_chat_model_start``."""
    return "\n".join(m.pretty_repr() for m in messages)
