"""A span's prompt, output and tool traffic as chat messages, whatever dialect recorded them.

Pure functions over a span record's attributes. Understood, in this order:

* OpenTelemetry GenAI (v1.37+): ``gen_ai.system_instructions``, ``gen_ai.input.messages`` and
  ``gen_ai.output.messages`` (JSON strings of ``{"role", "parts": [{"type": "text" | "tool_call" |
  "tool_call_response" | "reasoning", ...}]}``), plus ``streamscope.stream.partial_output`` for a stream that did
  not complete;
* tool spans: ``gen_ai.tool.name`` with ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``;
* flat indexed attributes: OpenLLMetry's ``gen_ai.prompt.N.role|content`` / ``gen_ai.completion.N.*`` and
  OpenInference's ``llm.input_messages.N.message.role|content`` / ``llm.output_messages.N.message.*``.

Every text stays a plain string: the template escapes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 20_000  # characters of one part shown on the page; the raw attribute has all of it


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # pretty-printed JSON when it parses, else as sent
    call_id: str = ""


@dataclass(frozen=True)
class Message:
    """One chat message. ``direction`` is ``input`` (prompt), ``output`` (model) or ``tool`` (a tool span)."""

    role: str
    direction: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_result: str | None = None
    call_id: str = ""
    partial: bool = False
    reasoning: str = ""
    finish_reason: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)  # parts of other types, shown as JSON


def _clip(text: str) -> str:
    return (
        text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT:,} more characters)"
    )


def pretty(value: Any) -> str:
    """JSON text (or a JSON-able value) indented for reading; other text unchanged."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return _clip(value)
        if not isinstance(parsed, (dict, list)):
            return _clip(value)
        value = parsed
    try:
        return _clip(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))
    except (TypeError, ValueError):
        return _clip(str(value))


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return pretty(content)


def _genai_message(raw: Any, direction: str) -> Message | None:
    if not isinstance(raw, dict):
        return None
    role = str(raw.get("role") or ("assistant" if direction == "output" else "user"))
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    result: str | None = None
    call_id = ""
    extra: list[str] = []
    parts = raw.get("parts")
    if parts is None and "content" in raw:  # OpenAI-style {"role", "content", "tool_calls"}
        parts = [{"type": "text", "content": _text_of(raw.get("content"))}]
        for tc in raw.get("tool_calls") or []:
            fn = tc.get("function") or {} if isinstance(tc, dict) else {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": tc.get("id", "") if isinstance(tc, dict) else "",
                    "name": fn.get("name", ""),
                    "arguments": fn.get("arguments", ""),
                }
            )
        if raw.get("tool_call_id"):
            parts = [
                {"type": "tool_call_response", "id": raw["tool_call_id"], "response": raw.get("content")}
            ]
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            texts.append(str(part))
            continue
        kind = part.get("type")
        if kind == "text":
            texts.append(_text_of(part.get("content")))
        elif kind == "reasoning":
            reasoning.append(_text_of(part.get("content")))
        elif kind == "tool_call":
            calls.append(
                ToolCall(
                    name=str(part.get("name") or ""),
                    arguments=pretty(part.get("arguments", "")),
                    call_id=str(part.get("id") or ""),
                )
            )
        elif kind == "tool_call_response":
            result = pretty(part.get("response", part.get("result", "")))
            call_id = str(part.get("id") or "")
        else:
            extra.append(pretty(part))
    return Message(
        role=role,
        direction=direction,
        text=_clip("".join(texts)),
        tool_calls=tuple(calls),
        tool_result=result,
        call_id=call_id,
        reasoning=_clip("".join(reasoning)),
        finish_reason=str(raw.get("finish_reason") or ""),
        extra=tuple(extra),
    )


def _genai_list(value: Any, direction: str) -> list[Message]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [
                Message(
                    role="assistant" if direction == "output" else "user",
                    direction=direction,
                    text=_clip(value),
                )
            ]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return []
    return [m for m in (_genai_message(item, direction) for item in value) if m is not None]


_FLAT = (
    (re.compile(r"^gen_ai\.prompt\.(\d+)\.(.+)$"), "input"),
    (re.compile(r"^gen_ai\.completion\.(\d+)\.(.+)$"), "output"),
    (re.compile(r"^llm\.input_messages\.(\d+)\.message\.(.+)$"), "input"),
    (re.compile(r"^llm\.output_messages\.(\d+)\.message\.(.+)$"), "output"),
)
_FLAT_CALL = re.compile(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(?:function\.)?(name|arguments|id)$")


def _flat(attrs: Mapping[str, Any]) -> list[Message]:
    groups: dict[tuple[int, str, int], dict[str, Any]] = {}
    for key, value in attrs.items():
        for order, (pattern, direction) in enumerate(_FLAT):
            m = pattern.match(key)
            if m:
                groups.setdefault((order // 2, direction, int(m.group(1))), {})[m.group(2)] = value
                break
    out = []
    for (_, direction, _i), fields in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != "input", kv[0][2])
    ):
        calls: dict[int, dict[str, Any]] = {}
        for k, v in fields.items():
            cm = _FLAT_CALL.match(k)
            if cm:
                calls.setdefault(int(cm.group(1)), {})[cm.group(2)] = v
        out.append(
            Message(
                role=str(fields.get("role") or ("assistant" if direction == "output" else "user")),
                direction=direction,
                text=_clip(_text_of(fields.get("content"))),
                tool_calls=tuple(
                    ToolCall(
                        name=str(c.get("name") or ""),
                        arguments=pretty(c.get("arguments", "")),
                        call_id=str(c.get("id") or ""),
                    )
                    for _, c in sorted(calls.items())
                ),
                finish_reason=str(fields.get("finish_reason") or ""),
            )
        )
    return out


def messages(attrs: Mapping[str, Any] | None) -> list[Message]:
    """The chat messages one span recorded (its attributes), prompt first; ``[]`` when it recorded none."""
    a = attrs or {}
    out: list[Message] = []
    system = a.get("gen_ai.system_instructions")
    if system is not None:
        parts = (
            _genai_list(system, "input") if not isinstance(system, str) or system.lstrip()[:1] in "[{" else []
        )
        text = "".join(m.text for m in parts) if parts else _text_of(system)
        out.append(Message(role="system", direction="input", text=_clip(text)))
    if "gen_ai.input.messages" in a:
        out += _genai_list(a["gen_ai.input.messages"], "input")
    if "gen_ai.output.messages" in a:
        out += _genai_list(a["gen_ai.output.messages"], "output")
    elif isinstance(a.get("streamscope.stream.partial_output"), str):
        out.append(
            Message(
                role="assistant",
                direction="output",
                partial=True,
                text=_clip(a["streamscope.stream.partial_output"]),
            )
        )
    if not out:
        out = _flat(a)
    tool = a.get("gen_ai.tool.name")
    if isinstance(tool, str) and ("gen_ai.tool.call.arguments" in a or "gen_ai.tool.call.result" in a):
        call_id = str(a.get("gen_ai.tool.call.id") or "")
        if "gen_ai.tool.call.arguments" in a:
            out.append(
                Message(
                    role="tool call",
                    direction="tool",
                    call_id=call_id,
                    tool_calls=(
                        ToolCall(
                            name=tool, arguments=pretty(a["gen_ai.tool.call.arguments"]), call_id=call_id
                        ),
                    ),
                )
            )
        if "gen_ai.tool.call.result" in a:
            out.append(
                Message(
                    role="tool",
                    direction="tool",
                    call_id=call_id,
                    tool_result=pretty(a["gen_ai.tool.call.result"]),
                )
            )
    return out
