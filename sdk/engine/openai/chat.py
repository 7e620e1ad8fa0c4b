"""``ChatOpenAI``: a chat model on the official ``openai`` client (sync ``OpenAI`` and async ``AsyncOpenAI``).

Every server-sent chunk becomes one ``ChatGenerationChunk`` (the base class reports each to
``on_llm_new_token``, role-only and usage chunks included). When the response headers arrive the model sends
``on_custom_event("streamscope.first_byte", {"time_ns": ...})`` to the run's handlers. Client errors become
:mod:`~streamscope.engine.openai.errors` exceptions that carry the output received so far; a connection cut
mid-stream raises at once (``ConnectionError``) and a stalled stream ends at ``timeout`` (``TimeoutError``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import openai

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.messages import AIMessageChunk, BaseMessage, merge_ai_chunks
from streamscope.engine.models.base import BaseChatModel
from streamscope.engine.openai.convert import (
    chunk_to_generation,
    completion_to_generation,
    message_to_openai,
)
from streamscope.engine.openai.convert import tool_choice as _tool_choice
from streamscope.engine.openai.errors import (
    ChatOpenAIConnectionError,
    ChatOpenAIError,
    ChatOpenAIMalformedChunkError,
    ChatOpenAIStatusError,
    ChatOpenAITimeoutError,
)
from streamscope.engine.outputs import ChatGenerationChunk, ChatResult
from streamscope.engine.runnables.binding import RunnableBinding
from streamscope.engine.tools import convert_to_openai_tool

__all__ = ["FIRST_BYTE_EVENT", "ChatOpenAI"]

#: Custom event name sent when an HTTP response's headers arrive.
FIRST_BYTE_EVENT = "streamscope.first_byte"

_SAMPLING = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "seed", "n")


async def _close_on_loop_shutdown(client: openai.AsyncOpenAI) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.close()


class ChatOpenAI(BaseChatModel):
    """OpenAI (or any OpenAI-compatible server) chat completions.

    ``ChatOpenAI(model="gpt-4o-mini", streaming=True, callbacks=[...], base_url=..., api_key=...)``.
    ``stream_usage`` (default ``True``) asks for the final usage chunk when streaming. ``max_retries`` and
    ``timeout`` go to the ``openai`` client (it retries 408/409/429/5xx and connection errors, honouring
    ``Retry-After``). LangChain's aliases ``model_name``, ``openai_api_key``, ``openai_api_base`` and
    ``request_timeout`` are accepted. ``client`` / ``async_client`` take ready-made ``openai`` clients.
    """

    ls_provider = "openai"

    def __init__(
        self,
        *,
        model: str | None = None,
        model_name: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        seed: int | None = None,
        n: int | None = None,
        stop: list[str] | str | None = None,
        streaming: bool | None = None,
        stream_usage: bool = True,
        base_url: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        timeout: float | None = None,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        client: openai.OpenAI | None = None,
        async_client: openai.AsyncOpenAI | None = None,
        openai_api_key: str | None = None,
        openai_api_base: str | None = None,
        request_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(streaming=streaming, **kwargs)
        self.model: str = model or model_name or "gpt-3.5-turbo"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.frequency_penalty = frequency_penalty
        self.presence_penalty = presence_penalty
        self.seed = seed
        self.n = n
        self.stop = [stop] if isinstance(stop, str) else stop
        self.stream_usage = stream_usage
        self.base_url = base_url or openai_api_base or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or openai_api_key
        self.organization = organization
        self.timeout = timeout if timeout is not None else request_timeout
        self.max_retries = max_retries
        self.default_headers = dict(default_headers) if default_headers else None
        self.model_kwargs = dict(model_kwargs or {})
        self.extra_body = extra_body
        self._client = client
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._given_async_client = async_client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChatOpenAI(model={self.model!r})"

    # -- identity ---------------------------------------------------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "openai-chat"

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        for key in _SAMPLING:
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        return {**params, **self.model_kwargs}

    # -- clients ----------------------------------------------------------------------------------------------
    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_retries": self.max_retries}
        if self.api_key is not None:
            kwargs["api_key"] = self.api_key
        if self.base_url is not None:
            kwargs["base_url"] = self.base_url
        if self.organization is not None:
            kwargs["organization"] = self.organization
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.default_headers:
            kwargs["default_headers"] = self.default_headers
        return kwargs

    @property
    def client(self) -> openai.OpenAI:
        """The sync ``openai.OpenAI`` client (created on first use)."""
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(**self._client_kwargs())
            return self._client

    async def _aclient(self) -> openai.AsyncOpenAI:
        """The ``openai.AsyncOpenAI`` client for the running event loop.

        Connections belong to the loop that opened them, so there is one client per loop. Each is closed when
        its loop shuts down its async generators (``asyncio.run`` does), through a parked keeper generator, so
        repeated ``asyncio.run(...)`` calls do not leak sockets.
        """
        if self._given_async_client is not None:
            return self._given_async_client
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._async_clients.get(loop)
        if found is not None:
            return found[0]
        client = openai.AsyncOpenAI(**self._client_kwargs())
        keeper = _close_on_loop_shutdown(client)
        await keeper.__anext__()  # parks it; the loop's shutdown_asyncgens() will close it
        with self._lock:
            self._async_clients[loop] = (client, keeper)
        return client

    def close(self) -> None:
        """Close the sync client's connections."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running loop (and the sync one)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            found = self._async_clients.pop(loop, None)
        if found is not None:
            await found[1].aclose()
        self.close()

    def __enter__(self) -> ChatOpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> ChatOpenAI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ---------------------------------------------------------------------------------------------
    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": [message_to_openai(m) for m in messages]}
        for key in _SAMPLING:
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        params.update(self.model_kwargs)
        stop = stop if stop is not None else self.stop
        if stop:
            params["stop"] = stop
        extra = dict(kwargs)
        stream_usage = extra.pop("stream_usage", self.stream_usage)
        extra_body = {**(self.extra_body or {}), **(extra.pop("extra_body", None) or {})}
        params.update(extra)
        if stream:
            params["stream"] = True
            if stream_usage:
                params["stream_options"] = {"include_usage": True}
        if extra_body:
            params["extra_body"] = extra_body
        return params

    @property
    def _where(self) -> str:
        return f"model {self.model!r} at {self.base_url or 'the OpenAI API'}"

    def _translate(self, exc: BaseException, chunks: list[AIMessageChunk]) -> ChatOpenAIError:
        """The engine error for an ``openai`` failure or a malformed event."""
        partial = merge_ai_chunks(chunks) if chunks else None
        n = len(chunks)
        after = f" after {n} chunk{'s' if n != 1 else ''}" if n else ""
        common: dict[str, Any] = {"partial": partial, "chunk_count": n, "cause": exc}
        if isinstance(exc, openai.APITimeoutError):
            return ChatOpenAITimeoutError(f"The request to {self._where} timed out{after}.", **common)
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            detail = body.get("message") if isinstance(body, dict) else None
            code = body.get("code") if isinstance(body, dict) else None
            label = f"HTTP {exc.status_code}" + (f" ({code})" if code else "")
            return ChatOpenAIStatusError(
                f"{self._where[0].upper()}{self._where[1:]} answered {label}{after}: {detail or exc.message}",
                status_code=exc.status_code, body=body, retry_after=exc.response.headers.get("retry-after"),
                **common,
            )  # fmt: skip
        if isinstance(exc, openai.APIConnectionError):
            reason = exc.__cause__ or exc
            if n:
                return ChatOpenAIConnectionError(
                    f"The stream from {self._where} was cut off{after}: {reason}.", **common
                )
            return ChatOpenAIConnectionError(f"Could not reach {self._where}: {reason}.", **common)
        if isinstance(exc, json.JSONDecodeError):
            return ChatOpenAIMalformedChunkError(
                f"The stream from {self._where} sent an event that is not valid JSON{after}: {exc}.", **common
            )
        message = exc.message if isinstance(exc, openai.APIError) else str(exc)
        return ChatOpenAIError(f"The {self._where} reported an error{after}: {message}", **common)

    def _first_byte(self, run_manager: RunManager | None) -> None:
        if run_manager is not None:
            run_manager.on_custom_event(FIRST_BYTE_EVENT, {"time_ns": time.time_ns()})

    async def _afirst_byte(self, run_manager: RunManager | None) -> None:
        if run_manager is not None:
            await run_manager.aon_custom_event(FIRST_BYTE_EVENT, {"time_ns": time.time_ns()})

    # -- streaming ----------------------------------------------------------------------------------------------
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        params = self._request(messages, stop, True, kwargs)
        received: list[AIMessageChunk] = []
        try:
            response = self.client.chat.completions.create(**params)
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, received) from exc
        self._first_byte(run_manager)
        try:
            with response:
                for raw in response:
                    generation = chunk_to_generation(raw)
                    received.append(generation.message)
                    yield generation
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, received) from exc

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        params = self._request(messages, stop, True, kwargs)
        received: list[AIMessageChunk] = []
        try:
            response = await (await self._aclient()).chat.completions.create(**params)
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, received) from exc
        await self._afirst_byte(run_manager)
        try:
            async with response:
                async for raw in response:
                    generation = chunk_to_generation(raw)
                    received.append(generation.message)
                    yield generation
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, received) from exc

    # -- one-shot completions -------------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._request(messages, stop, False, kwargs)
        try:
            with self.client.chat.completions.with_streaming_response.create(**params) as raw:
                self._first_byte(run_manager)
                completion = raw.parse()
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, []) from exc
        generation, llm_output = completion_to_generation(completion)
        return ChatResult([generation], llm_output)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = self._request(messages, stop, False, kwargs)
        try:
            client = await self._aclient()
            async with client.chat.completions.with_streaming_response.create(**params) as raw:
                await self._afirst_byte(run_manager)
                completion = await raw.parse()
        except (openai.APIError, json.JSONDecodeError) as exc:
            raise self._translate(exc, []) from exc
        generation, llm_output = completion_to_generation(completion)
        return ChatResult([generation], llm_output)

    # -- tools ------------------------------------------------------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> RunnableBinding:
        """A binding that sends ``tools`` (``@tool`` tools, functions or OpenAI dicts) with every request."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        bound: dict[str, Any] = {"tools": formatted, **kwargs}
        choice = _tool_choice(tool_choice, formatted)
        if choice is not None:
            bound["tool_choice"] = choice
        if parallel_tool_calls is not None:
            bound["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(**bound)
