"""Callback managers: who gets told about a run, and the run tree (``run_id`` / ``parent_run_id``).

A :class:`CallbackManager` starts runs; each start returns a :class:`RunManager` for that run, which reports
tokens and the run's single ending and hands a child manager to nested steps. With no handler attached,
nothing is dispatched at all (``RunManager.handlers`` is empty and callers skip their per-chunk work).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid4

from streamscope.engine.callbacks.dispatch import ahandle_event, handle_event, reason_for
from streamscope.engine.callbacks.tokens import TokenTakers

__all__ = [
    "CallbackManager",
    "RunManager",
    "add_global_handler",
    "get_global_handlers",
    "remove_global_handler",
    "scoped_handler",
]

_GLOBAL_HANDLERS: list[Any] = []
#: Handlers attached for the current context only (``scoped_handler``), e.g. ``get_usage_metadata_callback``.
_SCOPED_HANDLERS: ContextVar[tuple[Any, ...]] = ContextVar("streamscope_scoped_handlers", default=())


@contextmanager
def scoped_handler(handler: Any) -> Iterator[Any]:
    """Send the callbacks of every run started inside the block (this thread or task, and what it spawns with
    the context) to ``handler`` too, as LangChain's configure hooks do."""
    token = _SCOPED_HANDLERS.set((*_SCOPED_HANDLERS.get(), handler))
    try:
        yield handler
    finally:
        _SCOPED_HANDLERS.reset(token)


def add_global_handler(handler: Any) -> None:
    """Send every run's callbacks to ``handler`` as well (deduplicated with per-call handlers)."""
    if not any(h is handler for h in _GLOBAL_HANDLERS):
        _GLOBAL_HANDLERS.append(handler)


def remove_global_handler(handler: Any) -> None:
    """Stop sending callbacks to a handler added with :func:`add_global_handler`."""
    _GLOBAL_HANDLERS[:] = [h for h in _GLOBAL_HANDLERS if h is not handler]


def get_global_handlers() -> list[Any]:
    return list(_GLOBAL_HANDLERS)


def _add(target: list[Any], handlers: Sequence[Any]) -> None:
    for handler in handlers:
        if not any(h is handler for h in target):
            target.append(handler)


class CallbackManager:
    """Handlers, tags and metadata for the runs started from one place in the tree."""

    __slots__ = (
        "handlers",
        "inheritable_handlers",
        "inheritable_metadata",
        "inheritable_tags",
        "metadata",
        "parent_run_id",
        "tags",
    )

    def __init__(
        self,
        handlers: list[Any] | None = None,
        inheritable_handlers: list[Any] | None = None,
        parent_run_id: UUID | None = None,
        *,
        tags: list[str] | None = None,
        inheritable_tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inheritable_metadata: dict[str, Any] | None = None,
    ) -> None:
        self.handlers: list[Any] = handlers if handlers is not None else []
        self.inheritable_handlers: list[Any] = (
            inheritable_handlers if inheritable_handlers is not None else []
        )
        self.parent_run_id = parent_run_id
        self.tags: list[str] = tags if tags is not None else []
        self.inheritable_tags: list[str] = inheritable_tags if inheritable_tags is not None else []
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.inheritable_metadata: dict[str, Any] = (
            inheritable_metadata if inheritable_metadata is not None else {}
        )

    @classmethod
    def configure(
        cls,
        inheritable_callbacks: Any = None,
        local_callbacks: Any = None,
        verbose: bool = False,
        inheritable_tags: list[str] | None = None,
        local_tags: list[str] | None = None,
        inheritable_metadata: dict[str, Any] | None = None,
        local_metadata: dict[str, Any] | None = None,
    ) -> CallbackManager:
        """Build the manager for one call: inherited handlers (list or manager), global handlers, then the
        component's own (local, not inherited by children) handlers."""
        if isinstance(inheritable_callbacks, CallbackManager):
            mgr = inheritable_callbacks.copy_with()
        else:
            given = list(inheritable_callbacks or ())
            mgr = cls(list(given), list(given))
        if _GLOBAL_HANDLERS:
            _add(mgr.handlers, _GLOBAL_HANDLERS)
            _add(mgr.inheritable_handlers, _GLOBAL_HANDLERS)
        scoped = _SCOPED_HANDLERS.get()
        if scoped:
            _add(mgr.handlers, scoped)
            _add(mgr.inheritable_handlers, scoped)
        if local_callbacks:
            local = (
                local_callbacks.handlers if isinstance(local_callbacks, CallbackManager) else local_callbacks
            )
            _add(mgr.handlers, local)
        if inheritable_tags:
            mgr.tags = mgr.tags + [t for t in inheritable_tags if t not in mgr.tags]
            mgr.inheritable_tags = mgr.inheritable_tags + [
                t for t in inheritable_tags if t not in mgr.inheritable_tags
            ]
        if local_tags:
            mgr.tags = mgr.tags + [t for t in local_tags if t not in mgr.tags]
        if inheritable_metadata:
            mgr.metadata = {**mgr.metadata, **inheritable_metadata}
            mgr.inheritable_metadata = {**mgr.inheritable_metadata, **inheritable_metadata}
        if local_metadata:
            mgr.metadata = {**mgr.metadata, **local_metadata}
        return mgr

    def copy_with(self, extra_handlers: Sequence[Any] = ()) -> CallbackManager:
        mgr = CallbackManager(
            list(self.handlers),
            list(self.inheritable_handlers),
            self.parent_run_id,
            tags=list(self.tags),
            inheritable_tags=list(self.inheritable_tags),
            metadata=dict(self.metadata),
            inheritable_metadata=dict(self.inheritable_metadata),
        )
        _add(mgr.handlers, extra_handlers)
        _add(mgr.inheritable_handlers, extra_handlers)
        return mgr

    def add_handler(self, handler: Any, inherit: bool = True) -> None:
        _add(self.handlers, [handler])
        if inherit:
            _add(self.inheritable_handlers, [handler])

    def _start(
        self, event: str, args: tuple[Any, ...], run_id: UUID | None, kwargs: dict[str, Any]
    ) -> RunManager:
        rm = RunManager(run_id or uuid4(), self)
        if self.handlers:
            handle_event(self.handlers, event, args, rm._start_kwargs(kwargs))
        return rm

    async def _astart(
        self, event: str, args: tuple[Any, ...], run_id: UUID | None, kwargs: dict[str, Any]
    ) -> RunManager:
        rm = RunManager(run_id or uuid4(), self)
        if self.handlers:
            await ahandle_event(self.handlers, event, args, rm._start_kwargs(kwargs))
        return rm

    def on_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return self._start("on_chain_start", (serialized, inputs), run_id, kwargs)

    async def aon_chain_start(
        self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return await self._astart("on_chain_start", (serialized, inputs), run_id, kwargs)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID | None = None,
        **kwargs: Any,
    ) -> RunManager:
        return self._start("on_chat_model_start", (serialized, messages), run_id, kwargs)

    async def aon_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID | None = None,
        **kwargs: Any,
    ) -> RunManager:
        return await self._astart("on_chat_model_start", (serialized, messages), run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return self._start("on_llm_start", (serialized, prompts), run_id, kwargs)

    async def aon_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return await self._astart("on_llm_start", (serialized, prompts), run_id, kwargs)

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return self._start("on_tool_start", (serialized, input_str), run_id, kwargs)

    async def aon_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return await self._astart("on_tool_start", (serialized, input_str), run_id, kwargs)

    def on_retriever_start(
        self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return self._start("on_retriever_start", (serialized, query), run_id, kwargs)

    async def aon_retriever_start(
        self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID | None = None, **kwargs: Any
    ) -> RunManager:
        return await self._astart("on_retriever_start", (serialized, query), run_id, kwargs)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID | None = None) -> None:
        """Dispatch a custom event for the run this manager is a child of."""
        if self.handlers:
            handle_event(self.handlers, "on_custom_event", (name, data), self._custom_kwargs(run_id))

    async def aon_custom_event(self, name: str, data: Any, *, run_id: UUID | None = None) -> None:
        if self.handlers:
            await ahandle_event(self.handlers, "on_custom_event", (name, data), self._custom_kwargs(run_id))

    def _custom_kwargs(self, run_id: UUID | None) -> dict[str, Any]:
        target = run_id or self.parent_run_id
        if target is None:
            raise RuntimeError("Custom events can only be dispatched inside a run.")
        return {"run_id": target, "tags": self.tags, "metadata": self.metadata}


class RunManager:
    """One run: its id, its handlers, and its exactly-once ending.

    ``taps`` are the handlers that asked (``wants_chain_stream = True``) to see every output chunk of chain
    runs through ``on_chain_stream`` (the event stream and run log use it).
    """

    __slots__ = (
        "_takers",
        "ended",
        "handlers",
        "inheritable_handlers",
        "inheritable_metadata",
        "inheritable_tags",
        "metadata",
        "parent_run_id",
        "run_id",
        "tags",
        "taps",
    )

    def __init__(self, run_id: UUID, parent: CallbackManager) -> None:
        self.run_id = run_id
        self.parent_run_id = parent.parent_run_id
        self.handlers = parent.handlers
        self.inheritable_handlers = parent.inheritable_handlers
        self.tags = parent.tags
        self.inheritable_tags = parent.inheritable_tags
        self.metadata = parent.metadata
        self.inheritable_metadata = parent.inheritable_metadata
        self.ended = False
        self._takers: TokenTakers | None = None
        self.taps = (
            [h for h in parent.handlers if getattr(h, "wants_chain_stream", False)] if parent.handlers else []
        )

    def _start_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "tags": self.tags,
            "metadata": self.metadata,
            **kwargs,
        }

    def _kw(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs["run_id"] = self.run_id
        kwargs["parent_run_id"] = self.parent_run_id
        kwargs["tags"] = self.tags
        return kwargs

    def get_child(self, tag: str | None = None) -> CallbackManager:
        """The manager for steps nested in this run (inheritable handlers, tags and metadata only)."""
        tags = list(self.inheritable_tags)
        if tag is not None:
            tags.append(tag)
        return CallbackManager(
            list(self.inheritable_handlers),
            list(self.inheritable_handlers),
            self.run_id,
            tags=tags,
            inheritable_tags=list(self.inheritable_tags),
            metadata=dict(self.inheritable_metadata),
            inheritable_metadata=dict(self.inheritable_metadata),
        )

    # -- events during the run -------------------------------------------------------------------------
    def token_takers(self) -> TokenTakers:
        """This run's token takers (:class:`TokenTakers`), resolved at the first call and kept."""
        takers = self._takers
        if takers is None:
            takers = self._takers = TokenTakers(self.handlers, self.run_id, self.parent_run_id, self.tags)
        return takers

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, **kwargs: Any) -> None:
        """Tell the run's handlers about one chunk: token sinks (``sink.chunk(token, chunk)``), then every other
        handler's ``on_llm_new_token`` (with ``kwargs`` too)."""
        if not self.handlers:
            return
        takers = self.token_takers()
        if takers.sinks:
            takers.tell_sinks(token, chunk, None)
        if takers.methods:
            takers.call_methods(token, chunk, kwargs)

    async def aon_llm_new_token(self, token: Any, *, chunk: Any = None, **kwargs: Any) -> None:
        """As :meth:`on_llm_new_token`; coroutine handlers are awaited in order."""
        if not self.handlers:
            return
        takers = self.token_takers()
        if takers.sinks:
            takers.tell_sinks(token, chunk, None)
        if takers.methods:
            await takers.acall_methods(token, chunk, kwargs)

    def on_chain_stream(self, chunk: Any) -> None:
        """Our addition: tell tapping handlers about one output chunk of this run."""
        if self.taps:
            handle_event(self.taps, "on_chain_stream", (chunk,), self._kw({}))

    async def aon_chain_stream(self, chunk: Any) -> None:
        if self.taps:
            await ahandle_event(self.taps, "on_chain_stream", (chunk,), self._kw({}))

    def on_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Any other run event (``on_agent_action``, ``on_agent_finish``, ``on_text``, ``on_retry``)."""
        if self.handlers:
            handle_event(self.handlers, event, args, self._kw(kwargs))

    async def aon_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        if self.handlers:
            await ahandle_event(self.handlers, event, args, self._kw(kwargs))

    def on_agent_action(self, action: Any, **kwargs: Any) -> None:
        self.on_event("on_agent_action", action, **kwargs)

    def on_agent_finish(self, finish: Any, **kwargs: Any) -> None:
        self.on_event("on_agent_finish", finish, **kwargs)

    def on_retry(self, retry_state: Any, **kwargs: Any) -> None:
        self.on_event("on_retry", retry_state, **kwargs)

    def on_text(self, text: str, **kwargs: Any) -> None:
        self.on_event("on_text", text, **kwargs)

    async def aon_agent_action(self, action: Any, **kwargs: Any) -> None:
        await self.aon_event("on_agent_action", action, **kwargs)

    async def aon_agent_finish(self, finish: Any, **kwargs: Any) -> None:
        await self.aon_event("on_agent_finish", finish, **kwargs)

    async def aon_retry(self, retry_state: Any, **kwargs: Any) -> None:
        await self.aon_event("on_retry", retry_state, **kwargs)

    def on_custom_event(self, name: str, data: Any) -> None:
        if self.handlers:
            kw = {"run_id": self.run_id, "tags": self.tags, "metadata": self.metadata}
            handle_event(self.handlers, "on_custom_event", (name, data), kw)

    async def aon_custom_event(self, name: str, data: Any) -> None:
        if self.handlers:
            kw = {"run_id": self.run_id, "tags": self.tags, "metadata": self.metadata}
            await ahandle_event(self.handlers, "on_custom_event", (name, data), kw)

    # -- the single ending ------------------------------------------------------------------------------
    def _end(self, event: str, payload: Any, kwargs: dict[str, Any]) -> None:
        if self.ended:
            return
        self.ended = True
        if self.handlers:
            handle_event(self.handlers, event, (payload,), self._kw(kwargs))

    async def _aend(self, event: str, payload: Any, kwargs: dict[str, Any]) -> None:
        if self.ended:
            return
        self.ended = True
        if self.handlers:
            await ahandle_event(self.handlers, event, (payload,), self._kw(kwargs))

    def on_chain_end(self, outputs: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        self._end("on_chain_end", outputs, kwargs)

    def on_chain_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        self._end("on_chain_error", error, kwargs)

    def on_llm_end(self, response: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        self._end("on_llm_end", response, kwargs)

    def on_llm_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        self._end("on_llm_error", error, kwargs)

    def on_tool_end(self, output: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        self._end("on_tool_end", output, kwargs)

    def on_tool_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        self._end("on_tool_error", error, kwargs)

    def on_retriever_end(self, documents: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        self._end("on_retriever_end", documents, kwargs)

    def on_retriever_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        self._end("on_retriever_error", error, kwargs)

    async def aon_chain_end(self, outputs: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        await self._aend("on_chain_end", outputs, kwargs)

    async def aon_chain_error(
        self, error: BaseException, *, reason: str | None = None, **kwargs: Any
    ) -> None:
        kwargs["reason"] = reason or reason_for(error)
        await self._aend("on_chain_error", error, kwargs)

    async def aon_llm_end(self, response: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        await self._aend("on_llm_end", response, kwargs)

    async def aon_llm_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        await self._aend("on_llm_error", error, kwargs)

    async def aon_tool_end(self, output: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        await self._aend("on_tool_end", output, kwargs)

    async def aon_tool_error(self, error: BaseException, *, reason: str | None = None, **kwargs: Any) -> None:
        kwargs["reason"] = reason or reason_for(error)
        await self._aend("on_tool_error", error, kwargs)

    async def aon_retriever_end(self, documents: Any, *, reason: str = "completed", **kwargs: Any) -> None:
        kwargs["reason"] = reason
        await self._aend("on_retriever_end", documents, kwargs)

    async def aon_retriever_error(
        self, error: BaseException, *, reason: str | None = None, **kwargs: Any
    ) -> None:
        kwargs["reason"] = reason or reason_for(error)
        await self._aend("on_retriever_error", error, kwargs)
