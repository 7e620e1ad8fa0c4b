"""``with_retry``: retry a step on chosen exceptions; streamed, only before its first chunk."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, close_quietly

__all__ = ["RetryState", "RunnableRetry"]


@dataclass
class RetryState:
    """What ``on_retry`` receives: the attempt that failed and its exception."""

    attempt_number: int
    exception: BaseException


class RunnableRetry(Runnable[Any, Any]):
    """Run ``bound`` up to ``stop_after_attempt`` times. Each attempt is a child run tagged
    ``retry:attempt:N``; before every new attempt handlers get ``on_retry(RetryState)``.

    Streaming retries only failures that happen before the first chunk: once output has been yielded, an
    error propagates (the consumer cannot take chunks back).
    """

    streams_natively = True

    def __init__(
        self,
        bound: Runnable[Any, Any],
        *,
        retry_if_exception_type: tuple[type[BaseException], ...] = (Exception,),
        wait_exponential_jitter: bool = True,
        stop_after_attempt: int = 3,
        exponential_jitter_params: Mapping[str, float] | None = None,
    ) -> None:
        self.bound = bound
        self.retry_if_exception_type = retry_if_exception_type
        self.wait_exponential_jitter = wait_exponential_jitter
        self.stop_after_attempt = max(1, stop_after_attempt)
        params = dict(exponential_jitter_params or {})
        self._initial = params.get("initial", 1.0)
        self._max = params.get("max", 60.0)
        self._exp_base = params.get("exp_base", 2.0)
        self._jitter = params.get("jitter", 1.0)

    def get_name(self, suffix: str | None = None) -> str:
        return self.name or f"RunnableRetry<{self.bound.get_name()}>"

    def _delay(self, attempt: int) -> float:
        if not self.wait_exponential_jitter:
            return 0.0
        delay = min(self._initial * self._exp_base ** (attempt - 1), self._max)
        return delay + random.uniform(0, self._jitter * min(1.0, self._initial))

    def _attempt_config(self, run_manager: RunManager, config: RunnableConfig, attempt: int) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(f"retry:attempt:{attempt}"))

    def _retryable(self, exc: BaseException, attempt: int) -> bool:
        return isinstance(exc, self.retry_if_exception_type) and attempt < self.stop_after_attempt

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            attempt = 1
            while True:
                try:
                    return self.bound.invoke(value, self._attempt_config(run_manager, cfg, attempt), **kwargs)
                except BaseException as exc:
                    if not self._retryable(exc, attempt):
                        raise
                    run_manager.on_retry(RetryState(attempt, exc))
                    time.sleep(self._delay(attempt))
                    attempt += 1

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            attempt = 1
            while True:
                try:
                    return await self.bound.ainvoke(value, self._attempt_config(run_manager, cfg, attempt), **kwargs)
                except BaseException as exc:
                    if not self._retryable(exc, attempt):
                        raise
                    await run_manager.aon_retry(RetryState(attempt, exc))
                    await asyncio.sleep(self._delay(attempt))
                    attempt += 1

        return await self._acall_with_config(run, input, config)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        chunks = list(input)
        attempt = 1
        while True:
            stream = self.bound.transform(iter(chunks), self._attempt_config(run_manager, config, attempt), **kwargs)
            started = False
            try:
                for chunk in stream:
                    started = True
                    yield chunk
                return
            except Exception as exc:
                if started or not self._retryable(exc, attempt):
                    raise
                run_manager.on_retry(RetryState(attempt, exc))
                time.sleep(self._delay(attempt))
                attempt += 1
            finally:
                close_quietly(stream)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        chunks = [c async for c in input]

        async def replay() -> AsyncIterator[Any]:
            for c in chunks:
                yield c

        attempt = 1
        while True:
            stream = self.bound.atransform(replay(), self._attempt_config(run_manager, config, attempt), **kwargs)
            started = False
            try:
                async for chunk in stream:
                    started = True
                    yield chunk
                return
            except Exception as exc:
                if started or not self._retryable(exc, attempt):
                    raise
                await run_manager.aon_retry(RetryState(attempt, exc))
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
            finally:
                await aclose_quietly(stream)


