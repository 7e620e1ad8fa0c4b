"""Deterministic chat models for tests and demos: scripted chunks, delays, errors, usage and tool calls."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.messages import AIMessage, AIMessageChunk, BaseMessage
from streamscope.engine.models.base import BaseChatModel
from streamscope.engine.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

__all__ = [
    "FakeListChatModel",
    "FakeListChatModelError",
    "FakeMessagesListChatModel",
    "FakeStreamingChatModel",
    "FakeStreamingError",
    "GenericFakeChatModel",
    "ParrotFakeChatModel",
]


class FakeListChatModelError(Exception):
    """Raised by ``FakeListChatModel`` at ``error_on_chunk_number``."""


class FakeStreamingError(RuntimeError):
    """Raised by ``FakeStreamingChatModel`` at ``error_at`` (unless another ``error`` is given)."""


class FakeListChatModel(BaseChatModel):
    """LangChain's fake: answers with ``responses`` in turn (cycling), streaming each one character by
    character; sleeps ``sleep`` seconds before each chunk; raises at chunk ``error_on_chunk_number`` (0-based)."""

    def __init__(
        self,
        responses: list[str],
        sleep: float | None = None,
        error_on_chunk_number: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.responses = list(responses)
        self.sleep = sleep
        self.error_on_chunk_number = error_on_chunk_number
        self.i = 0

    @property
    def model_name(self) -> str:
        return "fake-list-chat-model"

    def _next_response(self) -> str:
        response = self.responses[self.i % len(self.responses)]
        self.i += 1
        return response

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.sleep:
            time.sleep(self.sleep)
        return ChatResult([ChatGeneration(AIMessage(self._next_response()))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.sleep:
            await asyncio.sleep(self.sleep)
        return ChatResult([ChatGeneration(AIMessage(self._next_response()))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        response = self._next_response()
        # LangChain's fake marks its last chunk (so no empty one follows): built apart, the others pay nothing
        for index, char in enumerate(response[:-1]):
            if self.sleep:
                time.sleep(self.sleep)
            if self.error_on_chunk_number is not None and index == self.error_on_chunk_number:
                raise FakeListChatModelError
            yield ChatGenerationChunk(AIMessageChunk(char))
        if response:
            if self.sleep:
                time.sleep(self.sleep)
            if self.error_on_chunk_number == len(response) - 1:
                raise FakeListChatModelError
            yield ChatGenerationChunk(AIMessageChunk(response[-1], chunk_position="last"))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        response = self._next_response()
        for index, char in enumerate(response[:-1]):  # (as _stream)
            if self.sleep:
                await asyncio.sleep(self.sleep)
            if self.error_on_chunk_number is not None and index == self.error_on_chunk_number:
                raise FakeListChatModelError
            yield ChatGenerationChunk(AIMessageChunk(char))
        if response:
            if self.sleep:
                await asyncio.sleep(self.sleep)
            if self.error_on_chunk_number == len(response) - 1:
                raise FakeListChatModelError
            yield ChatGenerationChunk(AIMessageChunk(response[-1], chunk_position="last"))


class FakeStreamingChatModel(BaseChatModel):
    """Scripted timing: waits ``ttft`` seconds, then emits ``chunks`` (strings or ``AIMessageChunk``s) with
    ``gap`` seconds between them, then the ``tool_calls`` (``{"name", "args", "id"?}``) as tool-call deltas.
    ``usage`` (``{"input_tokens", "output_tokens"}``) rides on the last chunk. ``error_at=N`` raises ``error``
    (default ``FakeStreamingError``) instead of emitting chunk N (0-based)."""

    ls_provider = "fake"

    def __init__(
        self,
        chunks: list[Any] | None = None,
        ttft: float = 0.0,
        gap: float = 0.0,
        error_at: int | None = None,
        usage: dict[str, int] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        *,
        error: BaseException | None = None,
        model: str = "fake-streaming",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chunks = list(chunks or [])
        self.ttft = ttft
        self.gap = gap
        self.error_at = error_at
        self.usage = usage
        self.tool_calls = list(tool_calls or [])
        self.error = error
        self.model = model

    def _script(self) -> list[AIMessageChunk]:
        script: list[AIMessageChunk] = []
        for chunk in self.chunks:
            script.append(AIMessageChunk(chunk) if isinstance(chunk, str) else copy.copy(chunk))
        for index, call in enumerate(self.tool_calls):
            args = call.get("args", {})
            text = args if isinstance(args, str) else json.dumps(args)
            half = len(text) // 2
            call_id = call.get("id") or f"call_{index}"
            script.append(
                AIMessageChunk(
                    "", tool_call_chunks=[{"name": call["name"], "args": "", "id": call_id, "index": index}]
                )
            )
            for piece in (text[:half], text[half:]):
                if piece:
                    script.append(
                        AIMessageChunk(
                            "", tool_call_chunks=[{"name": None, "args": piece, "id": None, "index": index}]
                        )
                    )
        if self.usage is not None:
            usage = {
                "input_tokens": self.usage.get("input_tokens", 0),
                "output_tokens": self.usage.get("output_tokens", 0),
            }
            usage["total_tokens"] = self.usage.get(
                "total_tokens", usage["input_tokens"] + usage["output_tokens"]
            )
            if not script:
                script.append(AIMessageChunk(""))
            script[-1].usage_metadata = usage
        if script:
            script[-1].response_metadata = {
                **script[-1].response_metadata,
                "finish_reason": ("tool_calls" if self.tool_calls else "stop"),
                "model_name": self.model,
            }
            script[-1].chunk_position = "last"
        return script

    def _fail(self, index: int) -> None:
        if self.error_at is not None and index == self.error_at:
            raise (
                self.error
                if self.error is not None
                else FakeStreamingError(f"scripted error at chunk {index}")
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        script = self._script()
        for index, chunk in enumerate(script):
            delay = self.ttft if index == 0 else self.gap
            if delay:
                time.sleep(delay)
            self._fail(index)
            yield ChatGenerationChunk(chunk)
        self._fail(len(script))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        script = self._script()
        for index, chunk in enumerate(script):
            delay = self.ttft if index == 0 else self.gap
            if delay:
                await asyncio.sleep(delay)
            self._fail(index)
            yield ChatGenerationChunk(chunk)
        self._fail(len(script))


class FakeMessagesListChatModel(BaseChatModel):
    """LangChain's fake answering with the messages ``responses`` in turn (cycling); it does not stream."""

    def __init__(self, responses: list[BaseMessage], sleep: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.responses = list(responses)
        self.sleep = sleep
        self.i = 0

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.sleep is not None:
            time.sleep(self.sleep)
        response = self.responses[self.i]
        self.i = self.i + 1 if self.i < len(self.responses) - 1 else 0
        return ChatResult([ChatGeneration(response)])


class GenericFakeChatModel(BaseChatModel):
    """LangChain's generic fake: each call takes the next of ``messages`` (an iterator of ``AIMessage`` or
    strings); streamed, its content is split on whitespace (kept as tokens of their own), then each
    ``additional_kwargs`` entry follows as a chunk of its own (a ``function_call``'s string fields split on
    ``,``)."""

    def __init__(self, messages: Iterable[AIMessage | str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.messages = iter(messages)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = next(self.messages)
        return ChatResult([ChatGeneration(AIMessage(message) if isinstance(message, str) else message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = (
            self._generate(messages, stop=stop, run_manager=run_manager, **kwargs).generations[0].message
        )
        if not isinstance(message, AIMessage):
            raise ValueError(f"Expected invoke to return an AIMessage, but got {type(message)} instead.")
        if message.content:
            if not isinstance(message.content, str):
                raise ValueError("Expected content to be a string.")
            tokens = re.split(r"(\s)", message.content)
            for index, token in enumerate(tokens):
                last = index == len(tokens) - 1 and not message.additional_kwargs
                yield ChatGenerationChunk(
                    AIMessageChunk(token, id=message.id, chunk_position="last" if last else None)
                )
        for key, value in message.additional_kwargs.items():
            if key == "function_call":
                for field, field_value in value.items():
                    pieces = re.split(r"(,)", field_value) if isinstance(field_value, str) else [field_value]
                    for piece in pieces:
                        yield ChatGenerationChunk(
                            AIMessageChunk(
                                "", id=message.id, additional_kwargs={"function_call": {field: piece}}
                            )
                        )
            else:
                yield ChatGenerationChunk(AIMessageChunk("", id=message.id, additional_kwargs={key: value}))


class ParrotFakeChatModel(BaseChatModel):
    """LangChain's parrot: answers with the last input message itself."""

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if not messages:
            raise ValueError("messages list cannot be empty.")
        return ChatResult([ChatGeneration(messages[-1])])
