"""``with_retry``: retry a step on chosen exceptions; streamed, only before its first chunk."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, close_quietly
from streamscope.engine.runnables.batching import BatchRuns

__all__ = ["RetryState", "RunnableRetry"]


@dataclass
class RetryState:
    """What ``on_retry`` receives: the attempt that failed and its exception."""

    attempt_number: int
    exception: BaseException


class RunnableRetry(Runnable[Any, Any]):
    """Run ``bound`` up to ``stop_after_attempt`` times, on exceptions of ``retry_if_exception_type`` (a tuple of
    types, or a predicate ``exc -> bool``). As in LangChain, ``invoke`` is one run named as ``bound`` whose child
    runs are the attempts (the first untagged, later ones tagged ``retry:attempt:N``); before every new attempt
    handlers get ``on_retry(RetryState)`` (our addition).

    Streaming (LangChain does not retry a stream at all) retries only failures that happen before the first
    chunk, and adds no run of its own: the first attempt is the step's only run, as in LangChain; a later
    attempt is another run of the step, tagged ``retry:attempt:N``. Once output has been yielded, an error
    propagates (the consumer cannot take chunks back).
    """

    streams_natively = True

    def __init__(
        self,
        bound: Runnable[Any, Any],
        *,
        retry_if_exception_type: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (
            Exception,
        ),
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
        return self.name or self.bound.get_name(suffix)

    def _delay(self, attempt: int) -> float:
        if not self.wait_exponential_jitter:
            return 0.0
        delay = min(self._initial * self._exp_base ** (attempt - 1), self._max)
        return delay + random.uniform(0, self._jitter * min(1.0, self._initial))

    def _attempt_config(
        self, run_manager: RunManager, config: RunnableConfig, attempt: int
    ) -> RunnableConfig:
        return patch_config(
            config, callbacks=run_manager.get_child(f"retry:attempt:{attempt}" if attempt > 1 else None)
        )

    @staticmethod
    def _stream_config(config: RunnableConfig | None, attempt: int) -> RunnableConfig | None:
        if attempt == 1:
            return config
        cfg: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        cfg["tags"] = [*(cfg.get("tags") or []), f"retry:attempt:{attempt}"]
        cfg.pop("run_id", None)
        return cfg

    def _retryable(self, exc: BaseException, attempt: int) -> bool:
        if attempt >= self.stop_after_attempt:
            return False
        retry_if = self.retry_if_exception_type
        if isinstance(retry_if, tuple):
            return isinstance(exc, retry_if)
        return isinstance(exc, Exception) and bool(retry_if(exc))

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
                    return await self.bound.ainvoke(
                        value, self._attempt_config(run_manager, cfg, attempt), **kwargs
                    )
                except BaseException as exc:
                    if not self._retryable(exc, attempt):
                        raise
                    await run_manager.aon_retry(RetryState(attempt, exc))
                    await asyncio.sleep(self._delay(attempt))
                    attempt += 1

        return await self._acall_with_config(run, input, config)

    def batch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """As LangChain: one run per input; each attempt is the step's own ``batch`` over the inputs that have
        not succeeded yet, while the first failure is retryable."""
        if not inputs:
            return []
        runs = BatchRuns.start(self, inputs, config)
        results: dict[int, Any] = {}
        errors: dict[int, BaseException] = {}
        attempt = 1
        while True:
            pending = [i for i in range(len(inputs)) if i not in results]
            outputs = self.bound.batch(
                [inputs[i] for i in pending],
                [
                    patch_config(
                        runs.configs[i],
                        callbacks=runs.managers[i].get_child(
                            f"retry:attempt:{attempt}" if attempt > 1 else None
                        ),
                    )
                    for i in pending
                ],
                return_exceptions=True,
                **kwargs,
            )
            failure = _collect(pending, outputs, results, errors)
            if failure is None or not self._retryable(failure, attempt):
                break
            time.sleep(self._delay(attempt))
            attempt += 1
        return runs.finish(results, errors, return_exceptions)

    async def abatch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        if not inputs:
            return []
        runs = await BatchRuns.astart(self, inputs, config)
        results: dict[int, Any] = {}
        errors: dict[int, BaseException] = {}
        attempt = 1
        while True:
            pending = [i for i in range(len(inputs)) if i not in results]
            outputs = await self.bound.abatch(
                [inputs[i] for i in pending],
                [
                    patch_config(
                        runs.configs[i],
                        callbacks=runs.managers[i].get_child(
                            f"retry:attempt:{attempt}" if attempt > 1 else None
                        ),
                    )
                    for i in pending
                ],
                return_exceptions=True,
                **kwargs,
            )
            failure = _collect(pending, outputs, results, errors)
            if failure is None or not self._retryable(failure, attempt):
                break
            await asyncio.sleep(self._delay(attempt))
            attempt += 1
        return await runs.afinish(results, errors, return_exceptions)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        return self._retry_stream(lambda cfg: self.bound.stream(input, cfg, **kwargs), config)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        seen: list[
            Any
        ] = []  # the input is pulled as the attempt reads it (its run starts with its first chunk)
        rest = iter(input)

        def source() -> Iterator[Any]:  # a later attempt replays what an earlier one read, then reads on
            yield from list(seen)
            for chunk in rest:
                seen.append(chunk)
                yield chunk

        return self._retry_stream(lambda cfg: self.bound.transform(source(), cfg, **kwargs), config)

    def _retry_stream(
        self, open_stream: Callable[[RunnableConfig | None], Iterator[Any]], config: RunnableConfig | None
    ) -> Iterator[Any]:
        attempt = 1
        while True:
            stream = open_stream(self._stream_config(config, attempt))
            started = False
            try:
                for chunk in stream:
                    started = True
                    yield chunk
                return
            except Exception as exc:
                if started or not self._retryable(exc, attempt):
                    raise
                time.sleep(self._delay(attempt))
                attempt += 1
            finally:
                close_quietly(stream)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        return self._aretry_stream(lambda cfg: self.bound.astream(input, cfg, **kwargs), config)

    def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        seen: list[Any] = []  # as in transform
        rest = aiter(input)

        async def source() -> AsyncIterator[Any]:
            for chunk in list(seen):
                yield chunk
            async for chunk in rest:
                seen.append(chunk)
                yield chunk

        return self._aretry_stream(lambda cfg: self.bound.atransform(source(), cfg, **kwargs), config)

    async def _aretry_stream(
        self,
        open_stream: Callable[[RunnableConfig | None], AsyncIterator[Any]],
        config: RunnableConfig | None,
    ) -> AsyncIterator[Any]:
        attempt = 1
        while True:
            stream = open_stream(self._stream_config(config, attempt))
            started = False
            try:
                async for chunk in stream:
                    started = True
                    yield chunk
                return
            except Exception as exc:
                if started or not self._retryable(exc, attempt):
                    raise
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
            finally:
                await aclose_quietly(stream)


def _collect(
    pending: list[int], outputs: list[Any], results: dict[int, Any], errors: dict[int, BaseException]
) -> BaseException | None:
    """Record one attempt's outputs; the first failure, if any."""
    failure: BaseException | None = None
    for i, output in zip(pending, outputs, strict=True):
        if isinstance(output, Exception):
            errors[i] = output
            failure = failure or output
        else:
            results[i] = output
            errors.pop(i, None)
    return failure
