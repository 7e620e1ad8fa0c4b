"""Generation results: what chat models hand to ``on_llm_new_token`` and ``on_llm_end``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streamscope.engine.messages import (
    AIChunkAccumulator,
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    merge_ai_chunks,
    merge_dicts,
)

__all__ = [
    "ChatGeneration",
    "ChatGenerationChunk",
    "ChatResult",
    "Generation",
    "GenerationAccumulator",
    "GenerationChunk",
    "LLMResult",
]


class Generation:
    """One text generation."""

    type = "Generation"

    def __init__(self, text: str = "", generation_info: dict[str, Any] | None = None) -> None:
        self.text = text
        self.generation_info = generation_info

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Generation):
            return NotImplemented
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(text={self.text!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "generation_info": self.generation_info, "type": self.type}


class GenerationChunk(Generation):
    type = "GenerationChunk"

    def __add__(self, other: GenerationChunk) -> GenerationChunk:
        if not isinstance(other, GenerationChunk):
            return NotImplemented
        info = merge_dicts(self.generation_info or {}, other.generation_info or {})
        return GenerationChunk(self.text + other.text, info or None)


class ChatGeneration(Generation):
    """A chat generation: ``message`` plus its text."""

    type = "ChatGeneration"

    def __init__(self, message: BaseMessage, generation_info: dict[str, Any] | None = None) -> None:
        super().__init__(message.text, generation_info)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "message": self.message}


class ChatGenerationChunk(ChatGeneration):
    """A streamed piece of a chat generation; ``.message`` is an :class:`AIMessageChunk`."""

    type = "ChatGenerationChunk"
    message: AIMessageChunk

    def __init__(self, message: AIMessageChunk, generation_info: dict[str, Any] | None = None) -> None:
        self.message = message
        self.generation_info = generation_info

    @property
    def text(self) -> str:
        return self.message.text

    @text.setter
    def text(self, value: str) -> None:
        pass  # derived from message

    def plain_text(self, message_id: str | None) -> str | None:
        """The text this chunk adds to a streamed message whose id so far is ``message_id``, when that is all it
        adds; else None. "All it adds": its message's content is a non-empty ``str``, its id is ``message_id`` (not
        None), and nothing else is set (no generation info; no name, tool-call chunks, usage, additional kwargs,
        response metadata or chunk position). Folding such a chunk is appending its text, and its text is all a
        handler can learn from it: a model run's loop folds it with one append and hands token sinks its text alone
        (:class:`streamscope.engine.callbacks.TokenSink`)."""
        message = self.message
        content = message.content
        if (
            type(content) is str
            and content
            and message_id is not None
            and message.id == message_id
            and not (
                message.tool_call_chunks
                or message.usage_metadata
                or message.response_metadata
                or message.additional_kwargs
                or message.name
                or message.chunk_position
                or self.generation_info
            )
        ):
            return content
        return None

    def __add__(self, other: ChatGenerationChunk) -> ChatGenerationChunk:
        if not isinstance(other, ChatGenerationChunk):
            return NotImplemented
        return merge_generation_chunks([self, other])


def merge_generation_chunks(chunks: Sequence[ChatGenerationChunk]) -> ChatGenerationChunk:
    """Fold chat generation chunks (messages merge as ``AIMessageChunk`` does)."""
    info: dict[str, Any] = {}
    for c in chunks:
        if c.generation_info:
            info = merge_dicts(info, c.generation_info)
    return ChatGenerationChunk(merge_ai_chunks([c.message for c in chunks]), info or None)


class GenerationAccumulator:
    """Folds a model run's generation chunks as they pass (for ``on_llm_end`` / the partial ``response``)."""

    __slots__ = ("_add_message", "_info", "_messages")

    def __init__(self) -> None:
        self._messages = AIChunkAccumulator()
        self._add_message = self._messages.add
        self._info: dict[str, Any] | None = None

    def add(self, generation: ChatGenerationChunk) -> None:
        self._add_message(generation.message)
        if generation.generation_info:
            self._info = merge_dicts(self._info or {}, generation.generation_info)

    @property
    def message_id(self) -> str | None:
        """The merged message's id so far."""
        return self._messages.id

    def content_parts(self) -> list[Any]:
        """The list :meth:`content_appender` appends to."""
        return self._messages.content_parts()

    def content_appender(self) -> Callable[[Any], None]:
        """``append(content)``, the same as ``add(generation)`` for a generation without ``generation_info`` whose
        message only adds its content (see :meth:`AIChunkAccumulator.content_appender`, with :attr:`message_id`)."""
        return self._messages.content_appender()

    def __bool__(self) -> bool:
        return len(self._messages) > 0

    def result(self) -> LLMResult:
        """``LLMResult([[merged chunk]])``, or ``LLMResult([[]])`` when nothing arrived."""
        if not len(self._messages):
            return LLMResult(generations=[[]])
        return LLMResult(generations=[[ChatGenerationChunk(self._messages.result(), self._info)]])


class ChatResult:
    """What ``BaseChatModel._generate`` returns."""

    def __init__(self, generations: list[ChatGeneration], llm_output: dict[str, Any] | None = None) -> None:
        self.generations = generations
        self.llm_output = llm_output


class LLMResult:
    """``generations[i]`` holds the generations for the i-th prompt."""

    def __init__(self, generations: list[list[Generation]], llm_output: dict[str, Any] | None = None) -> None:
        self.generations = generations
        self.llm_output = llm_output

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LLMResult):
            return NotImplemented
        return self.generations == other.generations and self.llm_output == other.llm_output

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LLMResult(generations={self.generations!r}, llm_output={self.llm_output!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "generations": [[g.to_dict() for g in gens] for gens in self.generations],
            "llm_output": self.llm_output,
        }


def message_of(result: LLMResult) -> AIMessage | None:
    """The first generation's message, if any."""
    if result.generations and result.generations[0]:
        first = result.generations[0][0]
        if isinstance(first, ChatGeneration) and isinstance(first.message, AIMessage):
            return first.message
    return None
