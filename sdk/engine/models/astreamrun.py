"""A model run's stream loop, written once: ``astreamrun.py`` (async) is the source, ``sstreamrun.py`` (sync) is
generated from it by ``scripts/unasync.py``. Edit the async file, then run ``python scripts/unasync.py``.

``arun_stream`` drives the subclass's ``_astream``: it stamps the shared message id, folds every chunk into the
run's message (for ``on_llm_end`` and the partial ``response`` of ``on_llm_error``), tells the run's handlers
about it (its token sinks, then ``on_llm_new_token``), appends LangChain's closing chunk when the model did not mark
its last one, and ends the run exactly once. A chunk that only adds its text
(:meth:`ChatGenerationChunk.plain_text`) is folded with one append and handed to the sinks as its text. The
per-chunk step is inlined here (no call of its own per chunk); a sink's exception is reported as its handler's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from streamscope.engine.callbacks.dispatch import unexpected_handler_error
from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.messages import AIMessageChunk, BaseMessage
from streamscope.engine.models.streamrun import (
    aend_abandoned,
    default_token,
    final_result,
    last_chunk,
    sink_calls,
)
from streamscope.engine.outputs import ChatGenerationChunk, GenerationAccumulator
from streamscope.engine.runnables.base import abandon_reason, aclose_quietly

__all__ = ["arun_stream"]


async def arun_stream(
    model: Any,
    rm: RunManager,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    as_message: bool = False,
) -> AsyncGenerator[AIMessageChunk, None]:
    """Stream ``model``'s run ``rm`` (see the module docstring); ``as_message``: ``on_llm_end`` gets the folded
    message, not the folded chunk (``invoke`` that streams)."""
    chunks = GenerationAccumulator()
    default_id = f"lc_run--{rm.run_id}"
    iterator: AsyncIterator[ChatGenerationChunk] | None = None
    message: AIMessageChunk | None = None
    track = bool(rm.handlers)  # without handlers there is nothing to fold or tell
    takers = rm.token_takers()
    add, append = chunks.add, chunks.content_appender()
    owner, sink_chunk, sink_text, tell_sinks = sink_calls(takers)
    acall_methods = takers.acall_methods if takers.methods else None
    token_of = None if type(model)._token is default_token else model._token
    merged_id: str | None = None  # the folded message's id (None before the first chunk: never plain)
    try:
        if model.rate_limiter is not None:
            await model.rate_limiter.aacquire(blocking=True)
        iterator = model._astream(messages, stop=stop, run_manager=rm, **kwargs)
        async for generation in iterator:
            message = generation.message
            if message.id is None:
                message.id = default_id
            if track:
                text = generation.plain_text(merged_id) if token_of is None else None
                if text is not None:
                    append(text)
                    token = text
                else:
                    add(generation)
                    merged_id = chunks.message_id
                    if token_of is not None:
                        token = token_of(message)
                    else:
                        content = message.content
                        token = content if type(content) is str else message.text
                if owner is not None:
                    try:
                        if text is None:
                            sink_chunk(token, generation)
                        else:
                            sink_text(text)
                    except Exception as exc:
                        unexpected_handler_error(owner, "on_llm_new_token", exc)
                elif tell_sinks is not None:
                    tell_sinks(token, generation, text)
                if acall_methods is not None:
                    await acall_methods(token, generation)
            yield message  # (outside the step: what the consumer throws in is not taken for a handler's)
        if message is not None and not message.chunk_position:
            last = last_chunk(message, default_id)  # (reported, not folded: as LangChain's stream)
            if track:
                await rm.aon_llm_new_token("", chunk=last)
            yield last.message
    except GeneratorExit:
        reason = abandon_reason()
        await aclose_quietly(iterator)
        await aend_abandoned(rm, chunks.result(), reason)
        raise
    except BaseException as exc:
        await aclose_quietly(iterator)
        await rm.aon_llm_error(exc, response=chunks.result())
        raise
    await rm.aon_llm_end(final_result(chunks, as_message))
