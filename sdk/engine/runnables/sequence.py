"""``RunnableSequence``: steps piped output-to-input; streamed, every step's ``transform`` feeds the next."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, ensure_config, patch_config
from streamscope.engine.runnables.base import Runnable, coerce_to_runnable

__all__ = ["RunnableSequence"]


class RunnableSequence(Runnable[Any, Any]):
    """``RunnableSequence(a, b, c)``, ``RunnableSequence([a, b, c])`` or ``a | b | c``.

    Streaming pulls from the last step; each step's run starts when its first input chunk arrives. Steps that
    cannot stream (plain functions, prompts) block: they wait for all of their input and emit one chunk.
    """

    streams_natively = True

    def __init__(self, *steps: Any, name: str | None = None) -> None:
        if len(steps) == 1 and isinstance(steps[0], (list, tuple)):
            steps = tuple(steps[0])
        flat: list[Runnable[Any, Any]] = []
        for step in steps:
            runnable = coerce_to_runnable(step)
            if isinstance(runnable, RunnableSequence) and runnable.name is None:
                flat.extend(runnable.steps)
            else:
                flat.append(runnable)
        if not flat:
            raise ValueError("A RunnableSequence needs at least one step.")
        self.steps: list[Runnable[Any, Any]] = flat
        self.name = name

    @property
    def first(self) -> Runnable[Any, Any]:
        return self.steps[0]

    @property
    def last(self) -> Runnable[Any, Any]:
        return self.steps[-1]

    def __repr__(self) -> str:
        return " | ".join(repr(s) for s in self.steps)

    def __or__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(*self.steps, coerce_to_runnable(other), name=self.name)

    def __ror__(self, other: Any) -> RunnableSequence:
        return RunnableSequence(coerce_to_runnable(other), *self.steps, name=self.name)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        rm = self._start_run(cfg, input)
        value = input
        try:
            for i, step in enumerate(self.steps):
                step_config = patch_config(cfg, callbacks=rm.get_child(f"seq:step:{i + 1}"))
                value = step.invoke(value, step_config, **(kwargs if i == 0 else {}))
        except BaseException as exc:
            rm.on_chain_error(exc, inputs=input)
            raise
        rm.on_chain_end(value, inputs=input)
        return value

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        rm = await self._astart_run(cfg, input)
        value = input
        try:
            for i, step in enumerate(self.steps):
                step_config = patch_config(cfg, callbacks=rm.get_child(f"seq:step:{i + 1}"))
                value = await step.ainvoke(value, step_config, **(kwargs if i == 0 else {}))
        except BaseException as exc:
            await rm.aon_chain_error(exc, inputs=input)
            raise
        await rm.aon_chain_end(value, inputs=input)
        return value

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        stream: Iterator[Any] = input
        for i, step in enumerate(self.steps):
            step_config = patch_config(config, callbacks=run_manager.get_child(f"seq:step:{i + 1}"))
            stream = step.transform(stream, step_config, **(kwargs if i == 0 else {}))
        yield from stream

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        stream: AsyncIterator[Any] = input
        for i, step in enumerate(self.steps):
            step_config = patch_config(config, callbacks=run_manager.get_child(f"seq:step:{i + 1}"))
            stream = step.atransform(stream, step_config, **(kwargs if i == 0 else {}))
        try:
            async for chunk in stream:
                yield chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
