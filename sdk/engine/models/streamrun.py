"""What a model run's stream loop needs besides the loop: the token sinks bound once, the default token of a
chunk, the closing chunk LangChain appends, and ``on_llm_end``'s response.

The loop itself is written once, async (:mod:`streamscope.engine.models.astreamrun`), and its sync twin
(:mod:`streamscope.engine.models.sstreamrun`) is generated from it by ``scripts/unasync.py`` (as httpcore does): one
per-chunk step, inlined in both colours, with no function call of its own per chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.callbacks.tokens import TokenSink, TokenTakers
from streamscope.engine.messages import AIMessageChunk
from streamscope.engine.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    GenerationAccumulator,
    LLMResult,
)

__all__ = [
    "SinkCalls",
    "aend_abandoned",
    "default_token",
    "end_abandoned",
    "final_result",
    "last_chunk",
    "sink_calls",
]


def default_token(message: AIMessageChunk) -> str:
    """A streamed message's token: its content when that is a string, else its text."""
    content = message.content
    return content if type(content) is str else message.text


class _NoSink:
    def chunk(self, token: str, chunk: Any, /) -> None:
        return None

    def text(self, text: str, /) -> None:
        return None


_NO_SINK: TokenSink = _NoSink()

#: ``(owner, sink.chunk, sink.text, tell_sinks)``: the run's one sink (the common case: the tracing handler),
#: called directly, its owner taking the blame for what it raises; or ``tell_sinks`` for several; or neither.
SinkCalls = tuple[
    Any,
    Callable[[str, Any], object],
    Callable[[str], object],
    Callable[[str, Any, "str | None"], None] | None,
]


def sink_calls(takers: TokenTakers) -> SinkCalls:
    """How the loop tells this run's token sinks about a chunk (see :data:`SinkCalls`); with no sink, ``owner``
    is None and the loop calls nothing."""
    sinks = takers.sinks
    owner, sink = sinks[0] if len(sinks) == 1 else (None, _NO_SINK)
    return owner, sink.chunk, sink.text, (takers.tell_sinks if len(sinks) > 1 else None)


def last_chunk(previous: AIMessageChunk, run_id: str) -> ChatGenerationChunk:
    """The empty ``chunk_position="last"`` chunk LangChain appends when the model's last chunk was not marked."""
    content: Any = "" if isinstance(previous.content, str) else []
    return ChatGenerationChunk(AIMessageChunk(content, chunk_position="last", id=run_id))


def final_result(chunks: GenerationAccumulator, as_message: bool) -> LLMResult:
    """``on_llm_end``'s response: the folded chunk, or (for ``invoke`` that streamed) the folded message."""
    if not chunks:
        return LLMResult([[ChatGenerationChunk(AIMessageChunk(""))]])
    result = chunks.result()
    if as_message:
        merged = result.generations[0][0]
        assert isinstance(merged, ChatGenerationChunk)
        result.generations[0][0] = ChatGeneration(merged.message.to_message(), merged.generation_info)
    return result


def end_abandoned(rm: RunManager, response: LLMResult, reason: str) -> None:
    """The end of a sync stream closed before its end: ``on_llm_end`` with the reason."""
    rm.on_llm_end(response, reason=reason)


async def aend_abandoned(rm: RunManager, response: LLMResult, reason: str) -> None:
    """The end of an async stream closed before its end: ``on_llm_error`` with a ``CancelledError`` when its
    task is being cancelled, else ``on_llm_end`` with the reason."""
    if reason == "cancelled":
        await rm.aon_llm_error(asyncio.CancelledError(), response=response, reason=reason)
    else:
        await rm.aon_llm_end(response, reason=reason)
