"""Batches as LangChain runs them for composites: one run per input, each step's own ``batch`` over the inputs
still going (sequence steps, retry attempts, fallback candidates), failures kept per input."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, patch_config

if TYPE_CHECKING:
    from streamscope.engine.runnables.base import Runnable

__all__ = ["BatchRuns", "abatch_as_completed", "batch_as_completed"]


class BatchRuns:
    """The runs of one batch call of ``owner``: ``child(i, tag)`` is the config for input ``i``'s sub-call,
    ``finish`` ends every run with its result or error and returns the results in input order (raising the
    first input's error unless ``return_exceptions``)."""

    def __init__(
        self, inputs: Sequence[Any], configs: list[RunnableConfig], managers: list[RunManager]
    ) -> None:
        self.inputs = list(inputs)
        self.configs = configs
        self.managers = managers

    @classmethod
    def start(cls, owner: Runnable[Any, Any], inputs: Sequence[Any], config: Any) -> BatchRuns:
        from streamscope.engine.runnables.base import _per_input_configs

        configs = _per_input_configs(config, len(inputs))
        return cls(inputs, configs, [owner._start_run(c, x) for c, x in zip(configs, inputs, strict=True)])

    @classmethod
    async def astart(cls, owner: Runnable[Any, Any], inputs: Sequence[Any], config: Any) -> BatchRuns:
        from streamscope.engine.runnables.base import _per_input_configs

        configs = _per_input_configs(config, len(inputs))
        managers = [await owner._astart_run(c, x) for c, x in zip(configs, inputs, strict=True)]
        return cls(inputs, configs, managers)

    def child(self, index: int, tag: str | None = None) -> RunnableConfig:
        return patch_config(self.configs[index], callbacks=self.managers[index].get_child(tag))

    def _outcome(
        self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool
    ) -> list[Any]:
        if errors and not return_exceptions:
            raise errors[min(errors)]
        return [errors[i] if i in errors else results.get(i) for i in range(len(self.inputs))]

    def finish(
        self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool
    ) -> list[Any]:
        for i, (rm, value) in enumerate(zip(self.managers, self.inputs, strict=True)):
            if i in errors:
                rm.on_chain_error(errors[i], inputs=value)
            else:
                rm.on_chain_end(results.get(i), inputs=value)
        return self._outcome(results, errors, return_exceptions)

    async def afinish(
        self, results: dict[int, Any], errors: dict[int, BaseException], return_exceptions: bool
    ) -> list[Any]:
        for i, (rm, value) in enumerate(zip(self.managers, self.inputs, strict=True)):
            if i in errors:
                await rm.aon_chain_error(errors[i], inputs=value)
            else:
                await rm.aon_chain_end(results.get(i), inputs=value)
        return self._outcome(results, errors, return_exceptions)

    def fail(self, exc: BaseException) -> None:
        for rm, value in zip(self.managers, self.inputs, strict=True):
            rm.on_chain_error(exc, inputs=value)

    async def afail(self, exc: BaseException) -> None:
        for rm, value in zip(self.managers, self.inputs, strict=True):
            await rm.aon_chain_error(exc, inputs=value)


def batch_as_completed(
    runnable: Runnable[Any, Any],
    inputs: Sequence[Any],
    config: Any,
    return_exceptions: bool,
    kwargs: dict[str, Any],
) -> Iterator[tuple[int, Any]]:
    """``(index, output)`` for each input as soon as its ``invoke`` finishes (threads, ``max_concurrency``)."""
    from streamscope.engine.runnables.base import _per_input_configs

    if not inputs:
        return
    configs = _per_input_configs(config, len(inputs))

    def one(i: int) -> tuple[int, Any]:
        try:
            return i, runnable.invoke(inputs[i], configs[i], **kwargs)
        except Exception as exc:
            if return_exceptions:
                return i, exc
            raise

    if len(inputs) == 1:
        yield one(0)
        return
    with ThreadPoolExecutor(max_workers=configs[0].get("max_concurrency") or len(inputs)) as pool:
        futures = {pool.submit(contextvars.copy_context().run, one, i) for i in range(len(inputs))}
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


async def abatch_as_completed(
    runnable: Runnable[Any, Any],
    inputs: Sequence[Any],
    config: Any,
    return_exceptions: bool,
    kwargs: dict[str, Any],
) -> AsyncIterator[tuple[int, Any]]:
    from streamscope.engine.runnables.base import _per_input_configs

    if not inputs:
        return
    configs = _per_input_configs(config, len(inputs))
    limit = configs[0].get("max_concurrency")
    semaphore = asyncio.Semaphore(limit) if limit else None

    async def one(i: int) -> tuple[int, Any]:
        try:
            if semaphore is None:
                return i, await runnable.ainvoke(inputs[i], configs[i], **kwargs)
            async with semaphore:
                return i, await runnable.ainvoke(inputs[i], configs[i], **kwargs)
        except Exception as exc:
            if return_exceptions:
                return i, exc
            raise

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(inputs))]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
