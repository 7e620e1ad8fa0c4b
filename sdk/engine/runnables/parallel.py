"""``RunnableParallel``: run several steps on the same input; streamed, emit ``{key: chunk}`` as they come."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, ensure_config, patch_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly, close_quietly, coerce_to_runnable
from streamscope.engine.runnables.tee import AsyncTee, Tee
from streamscope.engine.runnables.utils import AddableDict

__all__ = ["RunnableParallel"]

_END = object()


class RunnableParallel(Runnable[Any, dict[str, Any]]):
    """``RunnableParallel(a=r1, b=r2)`` or a dict literal in a pipeline.

    Streamed, each chunk is a one-key ``AddableDict`` in arrival order; their ``+``-fold is the invoke result.
    Sync branches run on worker threads (at most ``max_concurrency``), async branches as tasks.
    """

    streams_natively = True

    def __init__(self, steps__: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        merged = {**(steps__ or {}), **kwargs}
        self.steps__: dict[str, Runnable[Any, Any]] = {k: coerce_to_runnable(v) for k, v in merged.items()}

    def get_name(self, suffix: str | None = None) -> str:
        name = self.name or f"RunnableParallel<{','.join(self.steps__)}>"
        return f"{name}{suffix}" if suffix else name

    def _child(self, run_manager: RunManager, config: RunnableConfig, key: str) -> RunnableConfig:
        return patch_config(config, callbacks=run_manager.get_child(f"map:key:{key}"))

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        cfg = ensure_config(config)
        rm = self._start_run(cfg, input)
        try:
            keys = list(self.steps__)
            with ThreadPoolExecutor(max_workers=cfg.get("max_concurrency") or len(keys) or 1) as pool:
                futures = {
                    key: pool.submit(
                        contextvars.copy_context().run,
                        self.steps__[key].invoke,
                        input,
                        self._child(rm, cfg, key),
                    )
                    for key in keys
                }
                output = {key: futures[key].result() for key in keys}
        except BaseException as exc:
            rm.on_chain_error(exc, inputs=input)
            raise
        rm.on_chain_end(output, inputs=input)
        return output

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        cfg = ensure_config(config)
        rm = await self._astart_run(cfg, input)
        try:
            keys = list(self.steps__)
            results = await asyncio.gather(
                *(self.steps__[k].ainvoke(input, self._child(rm, cfg, k)) for k in keys)
            )
            output = dict(zip(keys, results, strict=True))
        except BaseException as exc:
            await rm.aon_chain_error(exc, inputs=input)
            raise
        await rm.aon_chain_end(output, inputs=input)
        return output

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        keys = list(self.steps__)
        tee = Tee(input, len(keys))
        gens = {
            key: self.steps__[key].transform(tee.branch(i), self._child(run_manager, config, key))
            for i, key in enumerate(keys)
        }
        pool = ThreadPoolExecutor(max_workers=config.get("max_concurrency") or len(keys) or 1)
        pending: dict[Future[Any], str] = {}

        def pull(gen: Iterator[Any]) -> Any:
            return next(gen, _END)

        def submit(key: str) -> None:
            pending[pool.submit(contextvars.copy_context().run, pull, gens[key])] = key

        try:
            for key in keys:
                submit(key)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key = pending.pop(future)
                    chunk = future.result()
                    if chunk is _END:
                        continue
                    submit(key)
                    yield AddableDict({key: chunk})
        finally:
            wait(pending)  # a generator cannot be closed while another thread runs it
            for gen in gens.values():
                close_quietly(gen)
            tee.close()
            pool.shutdown(wait=True)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        keys = list(self.steps__)
        tee = AsyncTee(input, len(keys))
        gens = {
            key: self.steps__[key].atransform(tee.branch(i), self._child(run_manager, config, key))
            for i, key in enumerate(keys)
        }
        pending: dict[asyncio.Task[Any], str] = {}

        def submit(key: str) -> None:
            pending[asyncio.ensure_future(anext(gens[key], _END))] = key

        try:
            for key in keys:
                submit(key)
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    key = pending.pop(task)
                    chunk = task.result()
                    if chunk is _END:
                        continue
                    submit(key)
                    yield AddableDict({key: chunk})
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            for gen in gens.values():
                await aclose_quietly(gen)
            await tee.aclose()
