"""Who takes a run's tokens, and how each chunk is reported to them.

A handler takes tokens through ``on_llm_new_token(token, *, chunk, run_id, parent_run_id, tags)`` (LangChain's
method), or through a :class:`TokenSink` it hands the engine for one run (:class:`TokenSinkSource`): a plain
object the model's chunk loop calls directly, without building keyword arguments per chunk, which is what an
inline recorder such as the tracing handler needs. The takers are resolved once per run (:class:`TokenTakers`);
a handler whose ``on_llm_new_token`` is the base classes' empty one takes nothing and is left out.

Per chunk, the sinks are told first (in handler order), then the handlers' ``on_llm_new_token`` (in handler
order). A taker's exception is that handler's: logged and swallowed, or re-raised when it sets ``raise_error``
(:func:`~streamscope.engine.callbacks.dispatch.unexpected_handler_error`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from streamscope.engine.callbacks.dispatch import run_coroutine, unexpected_handler_error

__all__ = ["TokenSink", "TokenSinkSource", "TokenTakers"]

_EVENT = "on_llm_new_token"


class TokenSink(Protocol):
    """A handler's taker of one run's tokens, called on the consumer's thread for every chunk, in order.

    ``chunk(token, chunk)`` takes any chunk: ``token`` is what ``on_llm_new_token`` would get (``""`` for role-only,
    tool-call, usage and final chunks) and ``chunk`` the ``ChatGenerationChunk`` (or ``GenerationChunk``).
    ``text(text)`` takes a chunk that only adds its text, which is then all there is to know about it: what
    :meth:`ChatGenerationChunk.plain_text <streamscope.engine.outputs.ChatGenerationChunk.plain_text>` returns
    (a non-empty ``str``; never the run's first chunk). Both return nothing useful; what they raise is the handler's
    error.
    """

    def chunk(self, token: str, chunk: Any, /) -> object: ...

    def text(self, text: str, /) -> object: ...


@runtime_checkable
class TokenSinkSource(Protocol):
    """A handler that can take a run's tokens through a :class:`TokenSink` instead of ``on_llm_new_token``."""

    def token_sink(self, run_id: UUID, /) -> TokenSink | None:
        """The sink for this run's tokens, or None to take them through ``on_llm_new_token``."""
        ...


def _empty_token_methods() -> tuple[Any, ...]:
    from streamscope.engine.callbacks.base import AsyncCallbackHandler, BaseCallbackHandler

    return (BaseCallbackHandler.on_llm_new_token, AsyncCallbackHandler.on_llm_new_token)


_EMPTY: tuple[Any, ...] | None = None


class TokenTakers:
    """A run's token takers: ``sinks`` as ``(handler, sink)`` and ``methods`` as ``(handler, on_llm_new_token)``."""

    __slots__ = ("methods", "parent_run_id", "run_id", "sinks", "tags")

    def __init__(
        self,
        handlers: Sequence[Any],
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
    ) -> None:
        global _EMPTY
        empty = _EMPTY
        if empty is None:
            empty = _EMPTY = _empty_token_methods()
        self.run_id = run_id
        self.parent_run_id = parent_run_id
        self.tags = tags if tags is not None else []
        self.sinks: list[tuple[Any, TokenSink]] = []
        self.methods: list[tuple[Any, Any]] = []
        for handler in handlers:
            try:
                if getattr(handler, "ignore_llm", False):
                    continue
                method = getattr(handler, _EVENT, None)
                if method is None or getattr(method, "__func__", None) in empty:
                    continue
                sink = handler.token_sink(run_id) if isinstance(handler, TokenSinkSource) else None
                if sink is not None and not (callable(sink.chunk) and callable(sink.text)):
                    raise TypeError(f"token_sink() returned {sink!r}, not a TokenSink (chunk and text)")
            except Exception as exc:
                unexpected_handler_error(handler, _EVENT, exc)
                continue
            if sink is not None:
                self.sinks.append((handler, sink))
            else:
                self.methods.append((handler, method))

    def __bool__(self) -> bool:
        return bool(self.sinks or self.methods)

    def tell_sinks(self, token: str, chunk: Any, text: str | None) -> None:
        """Hand one chunk to every sink: ``text(text)`` when the chunk only adds ``text``, else ``chunk(token,
        chunk)``. The one place a sink's exception is taken for its handler's."""
        for handler, sink in self.sinks:
            try:
                if text is None:
                    sink.chunk(token, chunk)
                else:
                    sink.text(text)
            except Exception as exc:
                unexpected_handler_error(handler, _EVENT, exc)

    def call_methods(self, token: str, chunk: Any, extra: dict[str, Any] | None = None) -> None:
        """``on_llm_new_token`` of every handler without a sink, with the caller's ``extra`` keyword arguments too
        (sync path: a coroutine runs to completion)."""
        for handler, method in self.methods:
            try:
                if extra:
                    result = method(token, **self.keywords(chunk, extra))
                else:
                    result = method(
                        token,
                        chunk=chunk,
                        run_id=self.run_id,
                        parent_run_id=self.parent_run_id,
                        tags=self.tags,
                    )
                if result is not None and asyncio.iscoroutine(result):
                    run_coroutine(result)
            except Exception as exc:
                unexpected_handler_error(handler, _EVENT, exc)

    async def acall_methods(self, token: str, chunk: Any, extra: dict[str, Any] | None = None) -> None:
        """As :meth:`call_methods` (async path: coroutines awaited in order)."""
        for handler, method in self.methods:
            try:
                if extra:
                    result = method(token, **self.keywords(chunk, extra))
                else:
                    result = method(
                        token,
                        chunk=chunk,
                        run_id=self.run_id,
                        parent_run_id=self.parent_run_id,
                        tags=self.tags,
                    )
                if result is not None and asyncio.iscoroutine(result):
                    await result
            except Exception as exc:
                unexpected_handler_error(handler, _EVENT, exc)

    def keywords(self, chunk: Any, extra: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``on_llm_new_token`` with a caller's ``extra`` ones."""
        return {
            **extra,
            "chunk": chunk,
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "tags": self.tags,
        }
