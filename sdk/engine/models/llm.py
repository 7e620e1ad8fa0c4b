"""Text-completion models: ``BaseLLM`` / ``LLM`` (a prompt string in, a string out) and LangChain's fakes.

A run is an ``llm`` run: ``on_llm_start(serialized, [prompt])``, a ``on_llm_new_token(text, chunk=GenerationChunk)``
per streamed chunk, ``on_llm_end(LLMResult)``; the run's metadata has ``ls_provider`` (the class name without a
trailing ``LLM``, lowercased, as in LangChain) and ``ls_model_type="llm"``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import CallbackManager, RunManager
from streamscope.engine.config import RunnableConfig, ensure_config
from streamscope.engine.messages import BaseMessage, get_buffer_string
from streamscope.engine.models.base import set_declared_fields
from streamscope.engine.outputs import Generation, GenerationChunk, LLMResult
from streamscope.engine.runnables.base import Runnable, close_quietly

__all__ = ["LLM", "BaseLLM", "FakeListLLM", "FakeListLLMError", "FakeStreamingListLLM"]

_END = object()


def _prompt_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    to_string = getattr(value, "to_string", None)
    if callable(to_string):
        return str(to_string())
    if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
        return get_buffer_string(value)
    raise TypeError(f"A text model needs a string, a prompt value or messages, got {type(value).__name__}.")


class BaseLLM(Runnable[Any, str]):
    """Subclasses implement ``_generate(prompts, stop, run_manager, **kwargs) -> LLMResult`` and optionally
    ``_stream(prompt, stop, run_manager, **kwargs)`` yielding ``GenerationChunk``s (reported by the base class)."""

    def __init__(
        self,
        *,
        callbacks: Sequence[Any] | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **fields: Any,
    ) -> None:
        set_declared_fields(self, fields)
        self.callbacks = list(callbacks) if callbacks else None
        self.tags = tags
        self.metadata = metadata
        self.name = name

    @property
    def _llm_type(self) -> str:
        return type(self).__name__

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {}

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        raise NotImplementedError

    def _stream(
        self, prompt: str, stop: list[str] | None = None, run_manager: RunManager | None = None, **kwargs: Any
    ) -> Iterator[GenerationChunk]:
        raise NotImplementedError

    # -- run bookkeeping ------------------------------------------------------------------------------------
    def _ls_params(self, stop: list[str] | None) -> dict[str, Any]:
        provider = type(self).__name__
        provider = provider[:-3] if provider.endswith("LLM") else provider
        params: dict[str, Any] = {"ls_provider": provider.lower(), "ls_model_type": "llm"}
        if stop:
            params["ls_stop"] = stop
        return params

    def _start(
        self, config: RunnableConfig, prompt: str, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> RunManager:
        manager = CallbackManager.configure(
            config.get("callbacks"),
            self.callbacks,
            False,
            config.get("tags"),
            self.tags,
            {**(config.get("metadata") or {}), **self._ls_params(stop)},
            self.metadata,
        )
        cls = type(self)
        serialized = {
            "lc": 1,
            "type": "constructor",
            "id": [*cls.__module__.split("."), cls.__name__],
            "name": cls.__name__,
            "kwargs": dict(self._identifying_params),
        }
        return manager.on_llm_start(
            serialized,
            [prompt],
            invocation_params={**self._identifying_params, "_type": self._llm_type, "stop": stop, **kwargs},
            options={"stop": stop},
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
            batch_size=1,
        )

    # -- invoke / stream ----------------------------------------------------------------------------------
    def invoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> str:
        cfg = ensure_config(config)
        prompt = _prompt_text(input)
        rm = self._start(cfg, prompt, stop, kwargs)
        try:
            result = self._generate([prompt], stop=stop, run_manager=rm, **kwargs)
        except BaseException as exc:
            rm.on_llm_error(exc, response=LLMResult(generations=[]))
            raise
        rm.on_llm_end(result)
        return result.generations[0][0].text

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        if type(self)._stream is BaseLLM._stream:
            yield self.invoke(input, config, stop=stop, **kwargs)
            return
        cfg = ensure_config(config)
        prompt = _prompt_text(input)
        rm = self._start(cfg, prompt, stop, kwargs)
        folded: GenerationChunk | None = None
        iterator = None
        try:
            iterator = self._stream(prompt, stop=stop, run_manager=rm, **kwargs)
            for chunk in iterator:
                folded = chunk if folded is None else folded + chunk
                rm.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk.text
        except GeneratorExit:
            close_quietly(iterator)
            rm.on_llm_end(LLMResult([[folded]] if folded is not None else [[]]), reason="abandoned")
            raise
        except BaseException as exc:
            close_quietly(iterator)
            rm.on_llm_error(exc, response=LLMResult([[folded]] if folded is not None else [[]]))
            raise
        rm.on_llm_end(LLMResult([[folded if folded is not None else GenerationChunk("")]]))

    async def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str]:
        """The sync stream, each chunk pulled on a worker thread (the run's callbacks go with it)."""
        ctx = contextvars.copy_context()
        iterator = ctx.run(self.stream, input, config, stop=stop, **kwargs)
        loop = asyncio.get_running_loop()

        def pull() -> Any:
            return ctx.run(next, iterator, _END)

        try:
            while (chunk := await loop.run_in_executor(None, pull)) is not _END:
                yield chunk
        finally:
            await loop.run_in_executor(None, ctx.run, close_quietly, iterator)

    def generate(
        self, prompts: list[str], stop: list[str] | None = None, callbacks: Any = None, **kwargs: Any
    ) -> LLMResult:
        """One run per prompt; the results together."""
        config: RunnableConfig = {"callbacks": callbacks} if callbacks is not None else {}
        generations: list[list[Generation]] = []
        for prompt in prompts:
            cfg = ensure_config(config)
            rm = self._start(cfg, prompt, stop, kwargs)
            try:
                result = self._generate([prompt], stop=stop, run_manager=rm, **kwargs)
            except BaseException as exc:
                rm.on_llm_error(exc, response=LLMResult(generations=[]))
                raise
            rm.on_llm_end(result)
            generations.extend(result.generations)
        return LLMResult(generations)


class LLM(BaseLLM):
    """The simple form: implement ``_call(prompt, stop=None, run_manager=None, **kwargs) -> str``."""

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: RunManager | None = None, **kwargs: Any
    ) -> str:
        raise NotImplementedError

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: RunManager | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return LLMResult(
            [[Generation(self._call(p, stop=stop, run_manager=run_manager, **kwargs))] for p in prompts]
        )


class FakeListLLMError(Exception):
    """Raised by ``FakeStreamingListLLM`` at ``error_on_chunk_number``."""


class FakeListLLM(LLM):
    """LangChain's fake text model: answers with ``responses`` in turn (cycling), sleeping ``sleep`` first."""

    responses: list[str]
    sleep: float | None = None
    i: int = 0

    def __init__(self, responses: list[str], sleep: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.responses = list(responses)
        self.sleep = sleep
        self.i = 0

    @property
    def _llm_type(self) -> str:
        return "fake-list"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"responses": self.responses}

    def _call(
        self, prompt: str, stop: list[str] | None = None, run_manager: RunManager | None = None, **kwargs: Any
    ) -> str:
        if self.sleep is not None:
            time.sleep(self.sleep)
        response = self.responses[self.i]
        self.i = self.i + 1 if self.i < len(self.responses) - 1 else 0
        return response


class FakeStreamingListLLM(FakeListLLM):
    """As LangChain's: ``stream`` invokes (one run, no tokens reported), then yields the answer character by
    character, sleeping ``sleep`` before each; raises ``FakeListLLMError`` at ``error_on_chunk_number``."""

    error_on_chunk_number: int | None = None

    def __init__(
        self,
        responses: list[str],
        sleep: float | None = None,
        error_on_chunk_number: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(responses, sleep, **kwargs)
        self.error_on_chunk_number = error_on_chunk_number

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        result = self.invoke(input, config, stop=stop, **kwargs)
        for index, char in enumerate(result):
            if self.sleep is not None:
                time.sleep(self.sleep)
            if self.error_on_chunk_number == index:
                raise FakeListLLMError
            yield char

    async def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str]:
        result = await self.ainvoke(input, config, stop=stop, **kwargs)
        for index, char in enumerate(result):
            if self.sleep is not None:
                await asyncio.sleep(self.sleep)
            if self.error_on_chunk_number == index:
                raise FakeListLLMError
            yield char
