"""``astream_events(version="v2")``: every run's start, stream and end as event dicts.

Envelope and payloads follow LangChain's v2 schema: ``event, name, run_id (str), parent_ids (root first),
tags, metadata, data``; ``data`` holds ``input`` / ``output`` / ``chunk``. Streamed non-root steps start with
``data == {}`` (their input arrives later) and end with both ``input`` and ``output``; the root ends with only
``output``. Our addition: failed runs emit ``on_<type>_error`` with ``{"error", "input", "reason"}`` before
the exception propagates out of the iterator.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from streamscope.engine.callbacks.manager import CallbackManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.outputs import LLMResult, message_of

if TYPE_CHECKING:
    from streamscope.engine.runnables.base import Runnable

__all__ = ["EventStreamHandler", "astream_events", "stream_handler_events", "with_handler"]

_DONE = object()


class _Run:
    __slots__ = ("ended", "input", "metadata", "name", "parent", "run_type", "streamed", "tags")

    def __init__(
        self,
        name: str,
        run_type: str,
        tags: list[str],
        metadata: dict[str, Any],
        parent: UUID | None,
        input: Any,
    ) -> None:
        self.name = name
        self.run_type = run_type
        self.tags = tags
        self.metadata = metadata
        self.parent = parent
        self.input = input
        self.streamed = False
        self.ended = False


def _name(serialized: dict[str, Any] | None, name: str | None) -> str:
    if name:
        return name
    if serialized:
        return str(serialized.get("name") or (serialized.get("id") or ["Unnamed"])[-1])
    return "Unnamed"


class EventStreamHandler:
    """Turns callbacks into v2 events, handed to ``emit(event, run_type)`` (thread-safe by the caller)."""

    wants_chain_stream = True
    wants_tokens = True
    run_inline = True
    raise_error = False

    def __init__(
        self, emit: Callable[[dict[str, Any], str | None], None], root_run_id: UUID, root_input: Any
    ) -> None:
        self.emit = emit
        self.root_run_id = root_run_id
        self.root_input = root_input
        self.runs: dict[UUID, _Run] = {}
        self.lock = threading.Lock()

    def parent_ids(self, run_id: UUID) -> list[str]:
        ids: list[str] = []
        run = self.runs.get(run_id)
        parent = run.parent if run else None
        while parent is not None:
            ids.append(str(parent))
            info = self.runs.get(parent)
            parent = info.parent if info else None
        ids.reverse()
        return ids

    def _send(self, event: str, run_id: UUID, data: dict[str, Any], run: _Run) -> None:
        self.emit(
            {
                "event": event,
                "name": run.name,
                "run_id": str(run_id),
                "parent_ids": self.parent_ids(run_id),
                "tags": list(run.tags),
                "metadata": dict(run.metadata),
                "data": data,
            },
            run.run_type,
        )

    def _start(
        self,
        run_type: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        input: Any,
        deferred: bool,
    ) -> None:
        with self.lock:
            known = self.runs.get(run_id)
            if known is not None and not known.ended:
                return  # the id of a run still going: ignore rather than corrupt the tree
            if run_id == self.root_run_id and self.root_input is not _NO_ROOT_INPUT:
                input, deferred = self.root_input, False
            run = _Run(name, run_type, list(tags or []), dict(metadata or {}), parent_run_id, input)
            self.runs[run_id] = run
        self._send(f"on_{run_type}_start", run_id, {} if deferred else {"input": input}, run)

    def _finish(self, run_id: UUID, suffix: str, data: dict[str, Any], inputs: Any = None) -> None:
        run = self.runs.get(run_id)
        if run is None or run.ended:
            return  # (each run ends once, also when its id is reused after it ended)
        run.ended = True
        if inputs is not None:
            run.input = inputs
        if run_id != self.root_run_id or suffix == "error":
            data.setdefault("input", run.input)
        self._send(f"on_{run.run_type}_{suffix}", run_id, data, run)

    # -- chains ------------------------------------------------------------------------------------------
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        run_type: str | None = None,
        defers_inputs: bool = False,
        **kwargs: Any,
    ) -> None:
        self._start(
            run_type or "chain",
            run_id,
            parent_run_id,
            _name(serialized, name),
            tags,
            metadata,
            inputs,
            defers_inputs,
        )

    def on_chain_stream(self, chunk: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None:
            run.streamed = True
            self._send(f"on_{run.run_type}_stream", run_id, {"chunk": chunk}, run)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, inputs: Any = None, **kwargs: Any) -> None:
        self._finish(run_id, "end", {"output": outputs}, inputs)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, inputs: Any = None, reason: str = "error", **kwargs: Any
    ) -> None:
        self._finish(run_id, "error", {"error": error, "reason": reason}, inputs)

    # -- models ------------------------------------------------------------------------------------------
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "chat_model",
            run_id,
            parent_run_id,
            _name(serialized, name),
            tags,
            metadata,
            {"messages": messages},
            False,
        )

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "llm", run_id, parent_run_id, _name(serialized, name), tags, metadata, {"prompts": prompts}, False
        )

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        run.streamed = True
        if run.run_type == "chat_model":
            payload = chunk.message if chunk is not None else token
        else:
            payload = chunk if chunk is not None else token
        self._send(f"on_{run.run_type}_stream", run_id, {"chunk": payload}, run)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.run_type == "chat_model":
            self._finish(run_id, "end", {"output": message_of(response)})
        else:
            self._finish(run_id, "end", {"output": response.to_dict()})

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, reason: str = "error", **kwargs: Any
    ) -> None:
        self._finish(run_id, "error", {"error": error, "reason": reason})

    # -- tools, retrievers, custom events ----------------------------------------------------------------
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        inputs: Any = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "tool",
            run_id,
            parent_run_id,
            _name(serialized, name),
            tags,
            metadata,
            inputs if inputs is not None else input_str,
            False,
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, "end", {"output": output})

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        tool_call_id: str | None = None,
        reason: str = "error",
        **kwargs: Any,
    ) -> None:
        self._finish(run_id, "error", {"error": error, "tool_call_id": tool_call_id, "reason": reason})

    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(
            "retriever",
            run_id,
            parent_run_id,
            _name(serialized, name),
            tags,
            metadata,
            {"query": query},
            False,
        )

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, "end", {"output": documents})

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, reason: str = "error", **kwargs: Any
    ) -> None:
        self._finish(run_id, "error", {"error": error, "reason": reason})

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.emit(
            {
                "event": "on_custom_event",
                "name": name,
                "run_id": str(run_id),
                "parent_ids": self.parent_ids(run_id),
                "tags": list(tags or []),
                "metadata": dict(metadata or {}),
                "data": data,
            },
            None,
        )

    def on_root_chunk(self, chunk: Any) -> None:
        """A chunk of the root's output: reported here when the root run did not stream it itself and is still
        running (as LangChain: a root that only invokes, such as a tool or a prompt, ends before its output is
        yielded, and sends no stream event)."""
        run = self.runs.get(self.root_run_id)
        if (
            run is not None
            and not run.streamed
            and not run.ended
            and run.run_type not in ("chat_model", "llm")
        ):
            self._send(f"on_{run.run_type}_stream", self.root_run_id, {"chunk": chunk}, run)


_NO_ROOT_INPUT: Any = object()


def with_handler(config: RunnableConfig | None, handler: Any) -> RunnableConfig:
    """``config`` with ``handler`` added to its (inheritable) callbacks."""
    out: RunnableConfig = dict(config or {})  # type: ignore[assignment]
    callbacks = out.get("callbacks")
    if callbacks is None:
        out["callbacks"] = [handler]
    elif isinstance(callbacks, CallbackManager):
        out["callbacks"] = callbacks.copy_with([handler])
    else:
        out["callbacks"] = [*callbacks, handler]
    return out


class _Filter:
    def __init__(
        self,
        include_names: Sequence[str] | None,
        include_types: Sequence[str] | None,
        include_tags: Sequence[str] | None,
        exclude_names: Sequence[str] | None,
        exclude_types: Sequence[str] | None,
        exclude_tags: Sequence[str] | None,
    ) -> None:
        self.include = (set(include_names or ()), set(include_types or ()), set(include_tags or ()))
        self.exclude = (set(exclude_names or ()), set(exclude_types or ()), set(exclude_tags or ()))

    def __call__(self, event: dict[str, Any], run_type: str | None) -> bool:
        names, types, tags = self.include
        event_tags = set(event.get("tags") or ())
        keep = not (names or types or tags) or (
            event["name"] in names or run_type in types or bool(event_tags & tags)
        )
        xnames, xtypes, xtags = self.exclude
        return keep and not (event["name"] in xnames or run_type in xtypes or bool(event_tags & xtags))


async def stream_handler_events(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    kwargs: dict[str, Any],
    make_handler: Callable[[Callable[[dict[str, Any], str | None], None], UUID], EventStreamHandler],
) -> AsyncGenerator[tuple[dict[str, Any], str | None], None]:
    """Run ``runnable.astream`` in a task and yield ``(event, run_type)`` as the handler emits them."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    owner = threading.get_ident()

    def emit(event: dict[str, Any], run_type: str | None) -> None:
        if threading.get_ident() == owner:
            queue.put_nowait((event, run_type))
        else:
            loop.call_soon_threadsafe(queue.put_nowait, (event, run_type))

    root_run_id = (config or {}).get("run_id") or uuid4()
    handler = make_handler(emit, root_run_id)
    cfg = with_handler(config, handler)
    cfg["run_id"] = root_run_id

    async def produce() -> None:
        try:
            async for chunk in runnable.astream(input, cfg, **kwargs):
                handler.on_root_chunk(chunk)
        finally:
            queue.put_nowait(_DONE)

    task = asyncio.ensure_future(produce())
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            yield item
        await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def astream_events(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None = None,
    *,
    version: str = "v2",
    include_names: Sequence[str] | None = None,
    include_types: Sequence[str] | None = None,
    include_tags: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
    exclude_types: Sequence[str] | None = None,
    exclude_tags: Sequence[str] | None = None,
    **kwargs: Any,
) -> AsyncIterator[dict[str, Any]]:
    if version != "v2":
        raise NotImplementedError(f"astream_events supports version='v2' only, got {version!r}.")
    keep = _Filter(include_names, include_types, include_tags, exclude_names, exclude_types, exclude_tags)
    stream = stream_handler_events(
        runnable, input, config, kwargs, lambda emit, run_id: EventStreamHandler(emit, run_id, input)
    )
    try:
        async for event, run_type in stream:
            if keep(event, run_type):
                yield event
    finally:
        await stream.aclose()
