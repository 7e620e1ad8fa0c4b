"""Fake LLM scenarios: what to answer and when, parsed from a JSON object.

A scenario is validated once, at the edge, into a frozen :class:`Scenario`; :func:`plan` then turns it into
the exact list of stream pieces with their send times (seconds after the request arrived). Everything random
(jitter, generated text, ids) comes from one ``random.Random(seed)``, so a seed reproduces a response.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Piece", "Plan", "Scenario", "ScenarioError", "ToolCallSpec", "plan"]

_MAX_SECONDS = 3600.0
_MAX_CHUNKS = 100_000
_VOCABULARY = [
    "the",
    "stream",
    "of",
    "tokens",
    "arrives",
    "chunk",
    "by",
    "chunk",
    "while",
    "the",
    "model",
    "thinks",
    "about",
    "latency",
    "and",
    "every",
    "gap",
    "between",
    "chunks",
    "tells",
    "a",
    "story",
    "about",
    "queues",
    "batching",
    "and",
    "networks",
]

_FIELDS = frozenset(
    {
        "text", "words", "tool_calls", "headers_delay", "ttft", "gap", "jitter", "stall_at", "stall",
        "error_status", "retry_after", "error_count", "drop_at", "malformed_at", "usage", "seed",
        "finish_reason", "length",
    }
)  # fmt: skip


class ScenarioError(ValueError):
    """A scenario field has the wrong type or value; the message is one sentence naming the field."""


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the fake model emits: ``arguments`` is the JSON text streamed in fragments."""

    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; see ``docs/fake-llm.md`` for the meaning of every field."""

    text: str | None = None
    words: tuple[str, ...] | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    headers_delay: float = 0.0
    ttft: float = 0.0
    gap: float = 0.0
    jitter: float = 0.0
    stall_at: int | None = None
    stall: float = 0.0
    error_status: int | None = None
    retry_after: float | None = None
    error_count: int | None = None
    drop_at: int | None = None
    malformed_at: int | None = None
    usage: Mapping[str, int] | None = None
    seed: int | None = None
    finish_reason: str | None = None
    length: int = 12
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: object) -> Scenario:
        """Validate a decoded JSON value; raises :class:`ScenarioError` with a one-sentence reason."""
        if not isinstance(data, Mapping):
            raise ScenarioError("A scenario must be a JSON object.")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ScenarioError(f"Unknown scenario field {unknown[0]!r}.")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise ScenarioError("Scenario field 'text' must be a string.")
        words = data.get("words")
        if words is not None and (not isinstance(words, list) or not all(isinstance(w, str) for w in words)):
            raise ScenarioError("Scenario field 'words' must be a list of strings.")
        if text is not None and words is not None:
            raise ScenarioError("Give either 'text' or 'words' in a scenario, not both.")
        usage = data.get("usage")
        if usage is not None:
            if not isinstance(usage, Mapping) or not all(
                k in ("prompt_tokens", "completion_tokens") and _is_int(v) and v >= 0
                for k, v in usage.items()
            ):
                raise ScenarioError(
                    "Scenario field 'usage' must be an object with non-negative integer "
                    "'prompt_tokens' and 'completion_tokens'."
                )
            usage = dict(usage)
        error_status = _opt_int(data, "error_status", 400, 599)
        length = _opt_int(data, "length", 0, _MAX_CHUNKS)
        finish_reason = data.get("finish_reason")
        if finish_reason is not None and not isinstance(finish_reason, str):
            raise ScenarioError("Scenario field 'finish_reason' must be a string.")
        return cls(
            text=text,
            words=tuple(words) if words is not None else None,
            tool_calls=_tool_calls(data.get("tool_calls")),
            headers_delay=_seconds(data, "headers_delay"),
            ttft=_seconds(data, "ttft"),
            gap=_seconds(data, "gap"),
            jitter=_seconds(data, "jitter"),
            stall_at=_opt_int(data, "stall_at", 0, _MAX_CHUNKS),
            stall=_seconds(data, "stall"),
            error_status=error_status,
            retry_after=_seconds(data, "retry_after") if "retry_after" in data else None,
            error_count=_opt_int(data, "error_count", 0, 1_000_000),
            drop_at=_opt_int(data, "drop_at", 0, _MAX_CHUNKS),
            malformed_at=_opt_int(data, "malformed_at", 0, _MAX_CHUNKS),
            usage=usage,
            seed=_opt_int(data, "seed", -(2**63), 2**63 - 1),
            finish_reason=finish_reason,
            length=12 if length is None else length,
            raw=dict(data),
        )

    def key(self) -> str:
        """A canonical text form, used to count how many times this exact scenario was requested."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Piece:
    """One thing to send at ``at`` seconds after the request: a content or tool-call delta."""

    at: float
    content: str | None = None
    tool_index: int | None = None
    tool_id: str | None = None
    tool_name: str | None = None
    tool_arguments: str | None = None


@dataclass(frozen=True)
class Plan:
    """The whole scripted response: role delta time, the pieces, and what ends the stream."""

    headers_at: float
    pieces: tuple[Piece, ...]
    finish_reason: str
    content: str
    tool_calls: tuple[ToolCallSpec, ...]
    completion_tokens: int
    response_id: str
    created: int


def plan(scenario: Scenario, *, prompt_tokens: int) -> Plan:
    """Lay out every piece of the response on the clock (seconds after the request arrived)."""
    rng = random.Random(scenario.seed)
    if scenario.words is not None:
        words = list(scenario.words)
    elif scenario.text is not None:
        words = re.findall(r"\s*\S+\s*$|\s*\S+", scenario.text) or ([scenario.text] if scenario.text else [])
    elif scenario.tool_calls:
        words = []
    else:
        generated = [rng.choice(_VOCABULARY) for _ in range(scenario.length)]
        words = [w if i == 0 else " " + w for i, w in enumerate(generated)]
        if words:
            words[0] = words[0].capitalize()
            words[-1] += "."
    raw_pieces: list[dict[str, Any]] = [{"content": w} for w in words]
    tool_calls: list[ToolCallSpec] = []
    for index, call in enumerate(scenario.tool_calls):
        call_id = call.id or "call_" + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24)
        )
        tool_calls.append(ToolCallSpec(call.name, call.arguments, call_id))
        raw_pieces.append(
            {"tool_index": index, "tool_id": call_id, "tool_name": call.name, "tool_arguments": ""}
        )
        raw_pieces.extend(
            {"tool_index": index, "tool_arguments": frag} for frag in _fragments(call.arguments)
        )
    pieces: list[Piece] = []
    at = max(scenario.ttft, scenario.headers_delay)
    for index, raw in enumerate(raw_pieces):
        if index > 0:
            step = scenario.gap
            if scenario.jitter:
                step = max(0.0, step + rng.uniform(-scenario.jitter, scenario.jitter))
            at += step
        if scenario.stall_at == index:
            at += scenario.stall
        pieces.append(Piece(at=at, **raw))
    finish = scenario.finish_reason or ("tool_calls" if tool_calls else "stop")
    content = "".join(words)
    completion = len(raw_pieces)
    seed_id = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24)
    )
    return Plan(
        headers_at=scenario.headers_delay,
        pieces=tuple(pieces),
        finish_reason=finish,
        content=content,
        tool_calls=tuple(tool_calls),
        completion_tokens=completion,
        response_id="chatcmpl-" + seed_id,
        created=1_700_000_000 + rng.randrange(10_000_000) if scenario.seed is not None else 0,
    )


def _fragments(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(data: Mapping[str, Any], name: str) -> float:
    value = data.get(name, 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"Scenario field {name!r} must be a number of seconds.")
    if not 0 <= value <= _MAX_SECONDS:
        raise ScenarioError(f"Scenario field {name!r} must be between 0 and {_MAX_SECONDS:g} seconds.")
    return float(value)


def _opt_int(data: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not _is_int(value) or not low <= value <= high:
        raise ScenarioError(f"Scenario field {name!r} must be an integer from {low} to {high}.")
    return int(value)


def _tool_calls(value: object) -> tuple[ToolCallSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ScenarioError("Scenario field 'tool_calls' must be a list of {name, arguments} objects.")
    calls = []
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ScenarioError("Each tool call in a scenario needs a non-empty string 'name'.")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, str):
            try:
                arguments = json.dumps(arguments)
            except (TypeError, ValueError) as exc:
                raise ScenarioError("Tool call 'arguments' must be a JSON object or a string.") from exc
        call_id = item.get("id")
        if call_id is not None and not isinstance(call_id, str):
            raise ScenarioError("Tool call 'id' must be a string.")
        calls.append(ToolCallSpec(name=item["name"], arguments=arguments, id=call_id))
    return tuple(calls)
