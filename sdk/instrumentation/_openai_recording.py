"""What an OpenAI chat completion tells the stream recorder: request attributes, chunk kinds, the response.

The tracing core's :mod:`streamscope.tracing.streams` recorder builds the span, the rollups and the chunk
spans. This module only translates OpenAI's shapes: ``create(...)`` keyword arguments into the recorder's start
arguments, each ``ChatCompletionChunk`` into a chunk kind and its text (:func:`classify`, run on the export
thread while the stream runs and when it ends, never per chunk on the consumer's thread), and a non-streamed
``ChatCompletion`` into one chunk.
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
    StreamRecorder,
    start_stream,
)

__all__ = ["classify", "record_completion", "start_recording", "usage_only"]

_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
)


def start_recording(owner: Any, kwargs: Mapping[str, Any]) -> StreamRecorder:
    """Start the LLM span for one ``create(**kwargs)`` call, as a child of the current context."""
    model = kwargs.get("model")
    client = getattr(owner, "_client", None)
    url = getattr(client, "base_url", None)
    host = getattr(url, "host", None)
    port = getattr(url, "port", None)
    messages = kwargs.get("messages")
    inputs = None
    if isinstance(messages, (list, tuple)) and all(isinstance(m, Mapping) for m in messages):
        inputs = list(messages)
    return start_stream(
        model=model if isinstance(model, str) else None,
        provider="openai",
        operation="chat",
        stream=kwargs.get("stream") is True,
        request_params={k: kwargs[k] for k in _PARAMS if k in kwargs},
        input_messages=inputs,
        server_address=host if isinstance(host, str) and host else None,
        server_port=port if isinstance(port, int) else None,
        classify=classify,
    )


def _usage(rec: StreamRecorder | StreamFacts, usage: Any) -> None:
    rec.set_usage(
        getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None), "provider"
    )


def classify(chunk: Any, rec: StreamFacts) -> tuple[int, str]:
    """``(kind, text)`` of one ``ChatCompletionChunk``; also passes response facts and usage to ``rec``.

    Kinds follow ``docs/concepts.md``: the role-only first delta (``content == ""``) is ``role``, never content,
    so it cannot be mistaken for the first token; a finish-reason-only delta is ``empty``.
    """
    rec.set_response(response_id=getattr(chunk, "id", None), response_model=getattr(chunk, "model", None))
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        _usage(rec, usage)
    choices = chunk.choices
    if not choices:
        return (USAGE, "") if usage is not None else (EMPTY, "")
    for choice in choices:
        if choice.finish_reason:
            rec.set_response(finish_reasons=[choice.finish_reason])
    delta = choices[0].delta
    content = delta.content
    if content:
        return CONTENT, content
    calls = delta.tool_calls
    if calls:
        parts = []
        for call in calls:
            fn = call.function
            if fn is not None:
                parts.append((fn.name or "") + (fn.arguments or ""))
        return TOOL_CALL, "".join(parts)
    extra = delta.model_extra
    if extra:
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            return REASONING, reasoning
    if delta.role:
        return ROLE, ""
    return EMPTY, ""


def record_completion(rec: StreamRecorder, result: Any) -> None:
    """A non-streamed ``ChatCompletion`` is a stream of one chunk that arrived when the response did."""
    choices = getattr(result, "choices", None) or []
    rec.set_response(
        response_id=getattr(result, "id", None),
        response_model=getattr(result, "model", None),
        finish_reasons=[c.finish_reason for c in choices if c.finish_reason],
    )
    usage = getattr(result, "usage", None)
    if usage is not None:
        _usage(rec, usage)
    message = choices[0].message if choices else None
    if message is not None and message.content:
        rec.chunk(CONTENT, message.content)
    elif message is not None and message.tool_calls:
        parts = []
        for call in message.tool_calls:
            fn = getattr(call, "function", None)
            if fn is not None:
                parts.append((fn.name or "") + (fn.arguments or ""))
        rec.chunk(TOOL_CALL, "".join(parts))
    else:
        rec.chunk(EMPTY, "")


def usage_only(chunk: Any) -> bool:
    """The usage-only last chunk that ``include_usage`` adds (no choices)."""
    return not chunk.choices and getattr(chunk, "usage", None) is not None
