"""``BaseChatModel``: a chat model as a streaming runnable, with LangChain's callback sequence.

Subclasses implement ``_stream(messages, stop=None, run_manager=None, **kwargs)`` yielding
``ChatGenerationChunk``s (and optionally ``_astream``, ``_generate``, ``_agenerate``). They must **not** call
``on_llm_new_token`` themselves: the base class reports every chunk (role-only and empty ones included), stamps
the shared message id, keeps the partial output for ``on_llm_error`` and ends the run exactly once. The
``run_manager`` is passed so a subclass can dispatch custom events (e.g. ``streamscope.first_byte``).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import CallbackManager, RunManager
from streamscope.engine.config import RunnableConfig, ensure_config
from streamscope.engine.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    convert_to_messages,
    merge_ai_chunks,
)
from streamscope.engine.models.astreamrun import arun_stream
from streamscope.engine.models.sstreamrun import run_stream
from streamscope.engine.models.streamrun import default_token
from streamscope.engine.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    ChatResult,
    LLMResult,
    merge_generation_chunks,
)
from streamscope.engine.runnables.base import Runnable, close_quietly

__all__ = ["BaseChatModel"]

_END = object()


class BaseChatModel(Runnable[Any, BaseMessage]):
    """Base for chat models. Input: a string (one human message), messages, or a prompt value."""

    #: Provider name reported as ``ls_provider`` (e.g. ``"openai"``); by default, as LangChain derives it, the class
    #: name without a leading or trailing ``Chat``, lowercased.
    ls_provider: str | None = None

    def __init__(
        self,
        *,
        callbacks: Sequence[Any] | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        streaming: bool | None = None,
        disable_streaming: bool | str = False,
        rate_limiter: Any = None,
        name: str | None = None,
        verbose: bool = False,
        **fields: Any,
    ) -> None:
        """``fields``: values for the fields a subclass declares (``temperature: float = 0.0``), set as attributes,
        as pydantic-based LangChain models take them; an undeclared keyword is a ``TypeError``."""
        if fields:
            set_declared_fields(self, fields)
        self.callbacks = list(callbacks) if callbacks else None
        self.tags = tags
        self.metadata = metadata
        self._streaming = streaming
        self.disable_streaming = disable_streaming
        self.rate_limiter = rate_limiter
        self.name = name
        self.verbose = verbose

    @property
    def streaming(self) -> bool:
        return bool(self._streaming)

    @streaming.setter
    def streaming(self, value: bool) -> None:
        self._streaming = value

    # -- what subclasses provide ------------------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return type(self).__name__

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """Model name and sampling parameters (reported in ``invocation_params``)."""
        return {"model": self.model_name}

    @property
    def model_name(self) -> str | None:
        return getattr(self, "model", None)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Default: the sync ``_stream``, each chunk pulled on a worker thread in this task's context (so context
        variables the run's callbacks set reach the model's code, as on the sync path)."""
        loop = asyncio.get_running_loop()
        iterator = self._stream(messages, stop=stop, run_manager=run_manager, **kwargs)
        ctx = contextvars.copy_context()

        def pull() -> Any:
            return ctx.run(next, iterator, _END)

        try:
            while (chunk := await loop.run_in_executor(None, pull)) is not _END:
                yield chunk
        finally:
            close_quietly(iterator)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Default: the fold of ``_stream``."""
        chunks = list(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        message = merge_generation_chunks(chunks).message.to_message() if chunks else AIMessage("")
        return ChatResult([ChatGeneration(message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if (
            type(self)._generate is not BaseChatModel._generate
            or type(self)._astream is BaseChatModel._astream
        ):
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            return await loop.run_in_executor(
                None, lambda: ctx.run(self._generate, messages, stop=stop, run_manager=run_manager, **kwargs)
            )
        chunks = [c async for c in self._astream(messages, stop=stop, run_manager=run_manager, **kwargs)]
        message = merge_generation_chunks(chunks).message.to_message() if chunks else AIMessage("")
        return ChatResult([ChatGeneration(message)])

    # -- run bookkeeping ------------------------------------------------------------------------------------
    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        provider = self.ls_provider
        if provider is None:
            provider = type(self).__name__
            provider = (
                provider[4:]
                if provider.startswith("Chat")
                else (provider[:-4] if provider.endswith("Chat") else provider)
            )
        params: dict[str, Any] = {"ls_provider": provider.lower(), "ls_model_type": "chat"}
        if self.model_name:
            params["ls_model_name"] = self.model_name
        for key in ("temperature", "max_tokens"):
            value = kwargs.get(key, getattr(self, key, None))
            if value is not None:
                params[f"ls_{key}"] = value
        if stop:
            params["ls_stop"] = stop
        return params

    def _invocation_params(
        self, stop: list[str] | None, stream: bool, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        return {**self._identifying_params, "_type": self._llm_type, "stream": stream, "stop": stop, **kwargs}

    @property
    def _serialized(self) -> dict[str, Any]:
        cls = type(self)
        return {
            "lc": 1,
            "type": "constructor",
            "id": [*cls.__module__.split("."), cls.__name__],
            "name": cls.__name__,
            "kwargs": dict(self._identifying_params),
        }

    def _manager(
        self, config: RunnableConfig, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> CallbackManager:
        return CallbackManager.configure(
            config.get("callbacks"),
            self.callbacks,
            self.verbose,
            config.get("tags"),
            self.tags,
            config.get("metadata"),
            {**self._get_ls_params(stop, **kwargs), **(self.metadata or {})},
        )

    def _start_kwargs(
        self, config: RunnableConfig, stop: list[str] | None, stream: bool, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "invocation_params": self._invocation_params(stop, stream, kwargs),
            "options": {"stop": stop},
            "name": config.get("run_name") or self.get_name(),
            "run_id": config.pop("run_id", None),
            "batch_size": 1,
        }

    def _should_stream(self, kwargs: dict[str, Any], *, async_api: bool = False) -> bool:
        cls = type(self)
        if cls._stream is BaseChatModel._stream and (not async_api or cls._astream is BaseChatModel._astream):
            return False  # (the async path falls back to the sync _stream, so either one streams there)
        if self.disable_streaming is True:
            return False
        if self.disable_streaming == "tool_calling" and kwargs.get("tools"):
            return False
        if "stream" in kwargs:
            return bool(kwargs["stream"])
        return self._streaming is not False

    #: A streamed chunk's token (``on_llm_new_token``'s first argument); a subclass may override it.
    _token = staticmethod(default_token)

    #: The stream loops (:mod:`streamscope.engine.models.astreamrun`, and its generated sync twin).
    _run_stream = run_stream
    _arun_stream = arun_stream

    # -- streaming ------------------------------------------------------------------------------------------
    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        if not self._should_stream(kwargs):
            yield self.invoke(input, config, stop=stop, **kwargs)
            return
        kwargs.pop("stream", None)
        cfg = ensure_config(config)
        messages = convert_to_messages(input)
        rm = self._manager(cfg, stop, kwargs).on_chat_model_start(
            self._serialized, [messages], **self._start_kwargs(cfg, stop, True, kwargs)
        )
        yield from self._run_stream(rm, messages, stop, kwargs)

    async def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        if not self._should_stream(kwargs, async_api=True):
            yield await self.ainvoke(input, config, stop=stop, **kwargs)
            return
        kwargs.pop("stream", None)
        cfg = ensure_config(config)
        messages = convert_to_messages(input)
        rm = await self._manager(cfg, stop, kwargs).aon_chat_model_start(
            self._serialized, [messages], **self._start_kwargs(cfg, stop, True, kwargs)
        )
        stream = self._arun_stream(rm, messages, stop, kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await stream.aclose()

    # -- invoke / generate -------------------------------------------------------------------------------------
    def _wants_tokens(self, rm: RunManager) -> bool:
        return self.streaming or any(getattr(h, "wants_tokens", False) for h in rm.handlers)

    def _generate_one(
        self,
        config: RunnableConfig,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> ChatGeneration:
        rm = self._manager(config, stop, kwargs).on_chat_model_start(
            self._serialized, [messages], **self._start_kwargs(config, stop, self.streaming, kwargs)
        )
        if self._wants_tokens(rm) and self._should_stream(kwargs):
            chunks = list(
                self._run_stream(rm, messages, stop, kwargs, as_message=True)
            )  # ends the run itself
            merged = merge_ai_chunks(chunks) if chunks else AIMessageChunk("")
            return ChatGeneration(merged.to_message())
        try:
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(blocking=True)
            result = self._generate(messages, stop=stop, run_manager=rm, **kwargs)
        except BaseException as exc:
            rm.on_llm_error(exc, response=LLMResult(generations=[[]]))
            raise
        _stamp(result, rm)
        rm.on_llm_end(LLMResult([list(result.generations)], result.llm_output))
        return result.generations[0]

    async def _agenerate_one(
        self,
        config: RunnableConfig,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> ChatGeneration:
        rm = await self._manager(config, stop, kwargs).aon_chat_model_start(
            self._serialized, [messages], **self._start_kwargs(config, stop, self.streaming, kwargs)
        )
        if self._wants_tokens(rm) and self._should_stream(kwargs, async_api=True):
            chunks = [c async for c in self._arun_stream(rm, messages, stop, kwargs, as_message=True)]
            merged = merge_ai_chunks(chunks) if chunks else AIMessageChunk("")
            return ChatGeneration(merged.to_message())
        try:
            if self.rate_limiter is not None:
                await self.rate_limiter.aacquire(blocking=True)
            result = await self._agenerate(messages, stop=stop, run_manager=rm, **kwargs)
        except BaseException as exc:
            await rm.aon_llm_error(exc, response=LLMResult(generations=[[]]))
            raise
        _stamp(result, rm)
        await rm.aon_llm_end(LLMResult([list(result.generations)], result.llm_output))
        return result.generations[0]

    def invoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> BaseMessage:
        kwargs.pop("stream", None)
        return self._generate_one(ensure_config(config), convert_to_messages(input), stop, kwargs).message

    async def ainvoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> BaseMessage:
        kwargs.pop("stream", None)
        generation = await self._agenerate_one(
            ensure_config(config), convert_to_messages(input), stop, kwargs
        )
        return generation.message

    def _generate_config(
        self, callbacks: Any, tags: list[str] | None, metadata: dict[str, Any] | None, run_name: str | None
    ) -> RunnableConfig:
        config: RunnableConfig = {}
        if callbacks is not None:
            config["callbacks"] = callbacks
        if tags:
            config["tags"] = tags
        if metadata:
            config["metadata"] = metadata
        if run_name:
            config["run_name"] = run_name
        return ensure_config(config)

    def generate(
        self,
        messages: Sequence[Any],
        stop: list[str] | None = None,
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        """One run per prompt; each prompt may be a string, a message list or a prompt value."""
        generations: list[list[Any]] = []
        for prompt in messages:
            config = self._generate_config(callbacks, tags, metadata, run_name)
            generations.append([self._generate_one(config, convert_to_messages(prompt), stop, dict(kwargs))])
        return LLMResult(generations)

    async def agenerate(
        self,
        messages: Sequence[Any],
        stop: list[str] | None = None,
        callbacks: Any = None,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        results = await asyncio.gather(
            *(
                self._agenerate_one(
                    self._generate_config(callbacks, tags, metadata, run_name),
                    convert_to_messages(p),
                    stop,
                    dict(kwargs),
                )
                for p in messages
            )
        )
        return LLMResult([[g] for g in results])


def set_declared_fields(model: object, fields: dict[str, Any]) -> None:
    """Set keyword arguments as attributes when the model's class (or a base) declares them, as pydantic-based
    LangChain models take their fields; an undeclared keyword is a ``TypeError``."""
    declared = {k for klass in type(model).__mro__ for k in getattr(klass, "__annotations__", {})}
    for key, value in fields.items():
        if key not in declared:
            raise TypeError(f"{type(model).__name__} got an unexpected keyword argument {key!r}.")
        setattr(model, key, value)


def _stamp(result: ChatResult, rm: RunManager) -> None:
    """As LangChain: a message without an id gets ``lc_run--<run id>-<index>``; generation info joins its
    ``response_metadata``, then the result's ``llm_output`` when there is one generation."""
    for index, generation in enumerate(result.generations):
        message = generation.message
        if message.id is None:
            message.id = f"lc_run--{rm.run_id}-{index}"
        if generation.generation_info:
            message.response_metadata = {**generation.generation_info, **message.response_metadata}
    if len(result.generations) == 1 and result.llm_output is not None:
        message = result.generations[0].message
        message.response_metadata = {**result.llm_output, **message.response_metadata}
