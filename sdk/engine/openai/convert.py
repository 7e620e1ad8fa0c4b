"""Between engine messages and OpenAI's chat-completions wire shapes (requests, chunks, completions)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from streamscope.engine.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from streamscope.engine.outputs import ChatGeneration, ChatGenerationChunk

__all__ = ["chunk_to_generation", "completion_to_generation", "message_to_openai", "usage_metadata"]


def message_to_openai(message: BaseMessage) -> dict[str, Any]:
    """One engine message as an OpenAI ``messages[]`` entry."""
    if isinstance(message, ToolMessage):
        return {"role": "tool", "content": message.content, "tool_call_id": message.tool_call_id}
    if isinstance(message, AIMessage):
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        calls = message.tool_calls
        if calls:
            out["tool_calls"] = [
                {
                    "id": call.get("id"),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call.get("args", {}))},
                }
                for call in calls
            ]
            if not message.content:
                out["content"] = None
    elif isinstance(message, SystemMessage):
        out = {"role": "system", "content": message.content}
    elif isinstance(message, HumanMessage):
        out = {"role": "user", "content": message.content}
    else:
        role = getattr(message, "role", None)
        if not isinstance(role, str):
            raise TypeError(f"Cannot send a {type(message).__name__} to OpenAI: it has no role.")
        out = {"role": role, "content": message.content}
    if message.name:
        out["name"] = message.name
    return out


def _details(source: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, int]:
    return {
        ours: int(value) for theirs, ours in fields if (value := getattr(source, theirs, None)) is not None
    }


def usage_metadata(usage: Any) -> dict[str, Any] | None:
    """OpenAI ``usage`` → ``{input_tokens, output_tokens, total_tokens}``, plus, as langchain-openai reports them,
    ``input_token_details`` (``cache_read``, ``audio``) and ``output_token_details`` (``reasoning``, ``audio``)
    when the API sent them."""
    if usage is None:
        return None
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    total = getattr(usage, "total_tokens", None)
    out: dict[str, Any] = {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(total or prompt + completion),
    }
    details_in = _details(
        getattr(usage, "prompt_tokens_details", None),
        (("audio_tokens", "audio"), ("cached_tokens", "cache_read")),
    )
    details_out = _details(
        getattr(usage, "completion_tokens_details", None),
        (("audio_tokens", "audio"), ("reasoning_tokens", "reasoning")),
    )
    if details_in:
        out["input_token_details"] = details_in
    if details_out:
        out["output_token_details"] = details_out
    return out


def _metadata(model: str | None, fingerprint: str | None, finish_reason: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"model_provider": "openai"}
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    if model:
        out["model_name"] = model
    if fingerprint:
        out["system_fingerprint"] = fingerprint
    return out


def chunk_to_generation(chunk: Any) -> ChatGenerationChunk:
    """One streamed ``ChatCompletionChunk`` → one generation chunk (role-only, empty and usage chunks too).

    Content deltas become ``content``; tool-call deltas become ``tool_call_chunks`` (``index``, ``id``,
    ``name``, ``args`` fragment); ``finish_reason`` and the model name go to ``response_metadata`` and
    ``generation_info``; ``usage`` becomes ``usage_metadata`` on the chunk that carries it.
    """
    usage = usage_metadata(getattr(chunk, "usage", None))
    choices: Sequence[Any] = chunk.choices or ()
    if not choices:
        # The usage chunk is the stream's last (sent after the finish chunk when usage is asked for): marked
        # ``last`` (as the finish chunk is), so no synthetic empty chunk follows (langchain-openai adds one).
        message = AIMessageChunk(
            "",
            id=chunk.id,
            usage_metadata=usage,
            response_metadata={"model_provider": "openai"},
            chunk_position="last" if usage is not None else None,
        )
        return ChatGenerationChunk(message)
    choice = choices[0]
    delta = choice.delta
    tool_call_chunks = []
    for call in getattr(delta, "tool_calls", None) or ():
        function = call.function
        tool_call_chunks.append(
            {
                "name": function.name if function is not None else None,
                "args": function.arguments if function is not None else None,
                "id": call.id,
                "index": call.index,
                "type": "tool_call_chunk",
            }
        )
    additional: dict[str, Any] = {}
    if getattr(delta, "refusal", None):
        additional["refusal"] = delta.refusal
    finish = choice.finish_reason
    info: dict[str, Any] | None = None
    metadata: dict[str, Any] = {"model_provider": "openai"}
    if finish is not None:
        metadata = _metadata(chunk.model, getattr(chunk, "system_fingerprint", None), finish)
        info = {k: v for k, v in metadata.items() if k != "model_provider"}
    message = AIMessageChunk(
        delta.content or "",
        id=chunk.id,
        tool_call_chunks=tool_call_chunks,
        usage_metadata=usage,
        additional_kwargs=additional,
        response_metadata=metadata,
        chunk_position="last" if finish is not None else None,
    )
    return ChatGenerationChunk(message, generation_info=info)


def completion_to_generation(completion: Any) -> tuple[ChatGeneration, dict[str, Any]]:
    """A non-streamed ``ChatCompletion`` → the generation and ``llm_output`` (token usage, model name)."""
    choice = completion.choices[0]
    message = choice.message
    tool_calls = []
    for call in message.tool_calls or ():
        function = getattr(call, "function", None)
        if function is None:
            continue
        try:
            args = json.loads(function.arguments) if function.arguments else {}
        except ValueError:
            args = {}
        tool_calls.append({"name": function.name, "args": args, "id": call.id, "type": "tool_call"})
    usage = usage_metadata(completion.usage)
    metadata = _metadata(
        completion.model, getattr(completion, "system_fingerprint", None), choice.finish_reason
    )
    if completion.usage is not None:
        metadata["token_usage"] = completion.usage.model_dump(exclude_none=True)
    additional: dict[str, Any] = {}
    if getattr(message, "refusal", None):
        additional["refusal"] = message.refusal
    ai = AIMessage(
        message.content or "",
        id=completion.id,
        tool_calls=tool_calls,
        usage_metadata=usage,
        response_metadata=metadata,
        additional_kwargs=additional,
    )
    info = {"finish_reason": choice.finish_reason}
    llm_output = {"token_usage": metadata.get("token_usage"), "model_name": completion.model,
                  "system_fingerprint": metadata.get("system_fingerprint")}  # fmt: skip
    return ChatGeneration(ai, generation_info=info), llm_output


def tool_choice(choice: Any, tools: Sequence[Mapping[str, Any]]) -> Any:
    """LangChain's ``tool_choice`` spellings → OpenAI's: a tool name, ``"any"``, ``True`` (the only tool)."""
    if choice is None or isinstance(choice, dict):
        return choice
    if choice is True:
        if len(tools) != 1:
            raise ValueError("tool_choice=True needs exactly one tool.")
        return {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    if choice == "any":
        return "required"
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, str):
        return {"type": "function", "function": {"name": choice}}
    raise ValueError(f"Unsupported tool_choice {choice!r}.")
