"""``Runnable``: the interface every step implements, and the run lifecycle shared by all of them.

Streaming is lazy and pull-based. A step that can stream overrides ``_transform`` / ``_atransform`` (chunk in,
chunk out) and sets ``streams_natively``; every other step blocks: its default ``transform`` folds all input
chunks with ``+`` and yields ``invoke(folded)`` once. A streamed step starts its run when its first input chunk
arrives, so runs interleave exactly as the chunks flow.

Every run that starts ends exactly once (see ``docs/engine.md``): ``*_end(reason="completed")`` when
exhausted, ``*_end(partial, reason="abandoned")`` when the consumer stops reading (upstream is closed, never
drained), ``*_error(exc, reason="error" | "cancelled" | "timeout")`` otherwise.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from streamscope.engine.callbacks.manager import CallbackManager, RunManager
from streamscope.engine.config import (
    RunnableConfig,
    child_config_var,
    ensure_config,
    patch_config,
)
from streamscope.engine.runnables.derived import DerivedRunnables
from streamscope.engine.runnables.utils import Folder, fold

if TYPE_CHECKING:
    from streamscope.engine.log import RunLog, RunLogPatch
    from streamscope.engine.runnables.binding import RunnableBinding
    from streamscope.engine.runnables.fallbacks import RunnableWithFallbacks
    from streamscope.engine.runnables.retry import RunnableRetry
    from streamscope.engine.runnables.sequence import RunnableSequence

__all__ = ["Input", "Output", "Runnable", "aclose_quietly", "callback_manager_for_config", "close_quietly"]

Input = TypeVar("Input")
Output = TypeVar("Output")

_NO_INPUT: Any = object()

Transformer = Callable[..., Iterator[Any]]
ATransformer = Callable[..., AsyncIterator[Any]]


def callback_manager_for_config(config: RunnableConfig) -> CallbackManager:
    return CallbackManager.configure(
        config.get("callbacks"),
        inheritable_tags=config.get("tags"),
        inheritable_metadata=config.get("metadata"),
    )


def close_quietly(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def aclose_quietly(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


_CLOSE_REASON: ContextVar[str | None] = ContextVar("streamscope_close_reason", default=None)


@contextmanager
def closing_because(reason: str) -> Iterator[None]:
    """Streams closed inside this block end with ``reason`` (e.g. ``timeout``) instead of ``abandoned``.

    For code that closes a sync stream on someone else's behalf, such as a flow timeout's producer thread.
    """
    token = _CLOSE_REASON.set(reason)
    try:
        yield
    finally:
        _CLOSE_REASON.reset(token)


def close_reason() -> str:
    """Why a sync stream is being closed: ``abandoned`` unless :func:`closing_because` says otherwise."""
    return _CLOSE_REASON.get() or "abandoned"


def abandon_reason() -> str:
    """``cancelled`` when the task closing a stream is itself being cancelled, else ``abandoned`` (or the
    reason given by :func:`closing_because`)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return close_reason()
    cancelling = getattr(task, "cancelling", None)
    if task is not None and cancelling is not None and cancelling():
        return "cancelled"
    return close_reason()


def _prepend(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _recording(first: Any, rest: Iterator[Any], received: Folder) -> Iterator[Any]:
    yield first
    record = received.add
    for item in rest:
        record(item)
        yield item


async def _aprepend(first: Any, rest: AsyncIterator[Any], received: Folder | None) -> AsyncIterator[Any]:
    yield first
    if received is None:
        async for item in rest:
            yield item
    else:
        async for item in rest:
            received.add(item)
            yield item


async def _aiter_one(value: Any) -> AsyncIterator[Any]:
    yield value


def _context_with(config: RunnableConfig) -> contextvars.Context:
    ctx = contextvars.copy_context()
    ctx.run(child_config_var.set, config)
    return ctx


class Runnable(DerivedRunnables, Generic[Input, Output]):
    """A unit of work that can be invoked, batched, streamed, transformed and composed with ``|``."""

    name: str | None = None
    #: ``True`` when ``_transform``/``_atransform`` stream chunk by chunk (see module docstring).
    streams_natively: bool = False
    #: The callback run type (``None`` = chain, ``"prompt"``, ``"parser"``...).
    run_type: str | None = None

    def __class_getitem__(cls, params: Any) -> Any:
        """``RunnableLambda[int, int]``, ``BaseOutputParser[list[str]]``: every runnable class can be subscripted
        (and subclassed subscripted), as in LangChain; only ``Runnable`` itself binds type variables."""
        if cls.__dict__.get("__parameters__"):
            return super().__class_getitem__(params)  # type: ignore[misc]
        return types.GenericAlias(cls, params)

    def get_name(self, suffix: str | None = None) -> str:
        name = self.name or type(self).__name__
        return f"{name}{suffix}" if suffix else name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- the four ways to run ------------------------------------------------------------------------------
    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        if self.streams_natively:
            return cast(Output, fold(list(self.stream(input, config, **kwargs))))
        raise NotImplementedError(f"{type(self).__name__} does not implement invoke")

    async def ainvoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        if self.streams_natively:
            return cast(Output, fold([c async for c in self.astream(input, config, **kwargs)]))
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: ctx.run(self.invoke, input, config, **kwargs))

    def stream(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Output]:
        if self.streams_natively:
            yield from self._transform_stream_with_config(iter((input,)), self._transform, config, **kwargs)
        else:
            yield self.invoke(input, config, **kwargs)

    async def astream(
        self, input: Input, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        if self.streams_natively:
            stream = self._atransform_stream_with_config(
                _aiter_one(input), self._atransform, config, **kwargs
            )
            try:
                async for chunk in stream:
                    yield chunk
            finally:
                await stream.aclose()
        else:
            yield await self.ainvoke(input, config, **kwargs)

    def transform(
        self, input: Iterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Output]:
        if self.streams_natively:
            yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)
            return
        chunks = list(input)
        if chunks:
            yield from self.stream(fold(chunks), config, **kwargs)

    async def atransform(
        self, input: AsyncIterator[Input], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Output]:
        stream: AsyncIterator[Any]
        if self.streams_natively:
            stream = self._atransform_stream_with_config(input, self._atransform, config, **kwargs)
        else:
            chunks = [c async for c in input]
            if not chunks:
                return
            stream = self.astream(fold(chunks), config, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Output]:
        raise NotImplementedError

    def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Output]:
        raise NotImplementedError

    # -- batches ----------------------------------------------------------------------------------------------
    def batch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Invoke on every input, at most ``max_concurrency`` at a time, results in input order."""
        if not inputs:
            return []
        configs = _per_input_configs(config, len(inputs))

        def one(i: int) -> Any:
            try:
                return self.invoke(inputs[i], configs[i], **kwargs)
            except Exception as exc:
                return _Failed(exc)

        if len(inputs) == 1:
            return _batch_results([one(0)], return_exceptions)
        workers = configs[0].get("max_concurrency") or len(inputs)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(contextvars.copy_context().run, one, i) for i in range(len(inputs))]
            return _batch_results([f.result() for f in futures], return_exceptions)

    async def abatch(
        self,
        inputs: Sequence[Input],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        if not inputs:
            return []
        configs = _per_input_configs(config, len(inputs))
        limit = configs[0].get("max_concurrency")
        semaphore = asyncio.Semaphore(limit) if limit else None

        async def one(i: int) -> Any:
            try:
                if semaphore is None:
                    return await self.ainvoke(inputs[i], configs[i], **kwargs)
                async with semaphore:
                    return await self.ainvoke(inputs[i], configs[i], **kwargs)
            except Exception as exc:
                return _Failed(exc)

        return _batch_results(
            list(await asyncio.gather(*(one(i) for i in range(len(inputs))))), return_exceptions
        )

    # -- composition ------------------------------------------------------------------------------------------
    def __or__(self, other: Any) -> RunnableSequence:
        from streamscope.engine.runnables.sequence import RunnableSequence

        return RunnableSequence(self, coerce_to_runnable(other))

    def __ror__(self, other: Any) -> RunnableSequence:
        from streamscope.engine.runnables.sequence import RunnableSequence

        return RunnableSequence(coerce_to_runnable(other), self)

    def pipe(self, *others: Any, name: str | None = None) -> RunnableSequence:
        from streamscope.engine.runnables.sequence import RunnableSequence

        return RunnableSequence(self, *(coerce_to_runnable(o) for o in others), name=name)

    def pick(self, keys: str | list[str]) -> RunnableSequence:
        from streamscope.engine.runnables.passthrough import RunnablePick

        return self | RunnablePick(keys)

    def assign(self, **kwargs: Any) -> RunnableSequence:
        from streamscope.engine.runnables.passthrough import RunnablePassthrough

        return self | RunnablePassthrough.assign(**kwargs)

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> RunnableBinding:
        from streamscope.engine.runnables.binding import RunnableBinding

        return RunnableBinding(self, config=cast(RunnableConfig, {**(config or {}), **kwargs}))

    def bind(self, **kwargs: Any) -> RunnableBinding:
        from streamscope.engine.runnables.binding import RunnableBinding

        return RunnableBinding(self, kwargs=kwargs)

    def with_retry(
        self,
        *,
        retry_if_exception_type: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = (
            Exception,
        ),
        wait_exponential_jitter: bool = True,
        stop_after_attempt: int = 3,
        exponential_jitter_params: Mapping[str, float] | None = None,
    ) -> RunnableRetry:
        from streamscope.engine.runnables.retry import RunnableRetry

        return RunnableRetry(
            self,
            retry_if_exception_type=retry_if_exception_type,
            wait_exponential_jitter=wait_exponential_jitter,
            stop_after_attempt=stop_after_attempt,
            exponential_jitter_params=exponential_jitter_params,
        )

    def with_fallbacks(
        self,
        fallbacks: Sequence[Runnable[Any, Any]],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
    ) -> RunnableWithFallbacks:
        from streamscope.engine.runnables.fallbacks import RunnableWithFallbacks

        return RunnableWithFallbacks(
            self, list(fallbacks), exceptions_to_handle=exceptions_to_handle, exception_key=exception_key
        )

    # -- observation streams ----------------------------------------------------------------------------------
    def astream_events(
        self, input: Any, config: RunnableConfig | None = None, *, version: str = "v2", **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every run's start, stream and end as v2 events (plus ``on_*_error`` events, our addition)."""
        from streamscope.engine.events import astream_events

        return astream_events(self, input, config, version=version, **kwargs)

    def astream_log(
        self, input: Any, config: RunnableConfig | None = None, *, diff: bool = True, **kwargs: Any
    ) -> AsyncIterator[RunLogPatch | RunLog]:
        """The run's state as JSONPatch operations (``RunLogPatch``), or cumulative ``RunLog``s."""
        from streamscope.engine.log import astream_log

        return astream_log(self, input, config, diff=diff, **kwargs)

    # -- run lifecycle helpers --------------------------------------------------------------------------------
    def _start_run(self, config: RunnableConfig, inputs: Any, **kwargs: Any) -> RunManager:
        cm = callback_manager_for_config(config)
        return cm.on_chain_start(
            None,
            inputs,
            run_id=config.pop("run_id", None),
            name=config.get("run_name") or self.get_name(),
            run_type=self.run_type,
            **kwargs,
        )

    async def _astart_run(self, config: RunnableConfig, inputs: Any, **kwargs: Any) -> RunManager:
        cm = callback_manager_for_config(config)
        return await cm.aon_chain_start(
            None,
            inputs,
            run_id=config.pop("run_id", None),
            name=config.get("run_name") or self.get_name(),
            run_type=self.run_type,
            **kwargs,
        )

    def _call_with_config(
        self, func: Callable[..., Output], input: Any, config: RunnableConfig | None, **kwargs: Any
    ) -> Output:
        """Run ``func(input, run_manager, child_config, **kwargs)`` as one run of this step."""
        cfg = ensure_config(config)
        rm = self._start_run(cfg, input)
        child = patch_config(cfg, callbacks=rm.get_child())
        token = child_config_var.set(child)
        try:
            output = func(input, rm, child, **kwargs)
        except BaseException as exc:
            rm.on_chain_error(exc, inputs=input)
            raise
        finally:
            child_config_var.reset(token)
        rm.on_chain_end(output, inputs=input)
        return output

    async def _acall_with_config(
        self, func: Callable[..., Any], input: Any, config: RunnableConfig | None, **kwargs: Any
    ) -> Output:
        cfg = ensure_config(config)
        rm = await self._astart_run(cfg, input)
        child = patch_config(cfg, callbacks=rm.get_child())
        token = child_config_var.set(child)
        try:
            output = await func(input, rm, child, **kwargs)
        except BaseException as exc:
            await rm.aon_chain_error(exc, inputs=input)
            raise
        finally:
            child_config_var.reset(token)
        await rm.aon_chain_end(output, inputs=input)
        return cast(Output, output)

    def _transform_stream_with_config(
        self,
        inputs: Iterator[Any],
        transformer: Transformer,
        config: RunnableConfig | None,
        *,
        known_input: Any = _NO_INPUT,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Run ``transformer(inputs, run_manager, child_config)`` as one streamed run of this step."""
        try:
            first = next(inputs)
        except StopIteration:
            return  # an empty input stream never starts the step
        cfg = ensure_config(config)
        deferred = known_input is _NO_INPUT
        rm = self._start_run(cfg, {"input": ""} if deferred else known_input, defers_inputs=deferred)
        child = patch_config(cfg, callbacks=rm.get_child())
        track = bool(rm.handlers)
        received = Folder()
        received.add(first)
        source = _recording(first, inputs, received) if track else _prepend(first, inputs)
        iterator = transformer(source, rm, child, **kwargs)
        produced = Folder()
        try:
            if track:
                tap = rm.on_chain_stream if rm.taps else None
                record = produced.add
                for chunk in iterator:
                    record(chunk)
                    if tap is not None:
                        tap(chunk)
                    yield chunk
            else:
                yield from iterator
        except GeneratorExit:
            close_quietly(iterator)
            close_quietly(source)
            close_quietly(inputs)
            rm.on_chain_end(produced.result(), inputs=received.result(), reason=close_reason())
            raise
        except BaseException as exc:
            close_quietly(source)
            close_quietly(inputs)
            rm.on_chain_error(exc, inputs=received.result())
            raise
        rm.on_chain_end(produced.result(), inputs=received.result())

    async def _atransform_stream_with_config(
        self,
        inputs: AsyncIterator[Any],
        transformer: ATransformer,
        config: RunnableConfig | None,
        *,
        known_input: Any = _NO_INPUT,
        **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:
        try:
            first = await inputs.__anext__()
        except StopAsyncIteration:
            return
        cfg = ensure_config(config)
        deferred = known_input is _NO_INPUT
        rm = await self._astart_run(cfg, {"input": ""} if deferred else known_input, defers_inputs=deferred)
        child = patch_config(cfg, callbacks=rm.get_child())
        track = bool(rm.handlers)
        received = Folder()
        received.add(first)
        source = _aprepend(first, inputs, received if track else None)
        iterator = transformer(source, rm, child, **kwargs)
        produced = Folder()
        try:
            if track:
                taps = bool(rm.taps)
                async for chunk in iterator:
                    produced.add(chunk)
                    if taps:
                        await rm.aon_chain_stream(chunk)
                    yield chunk
            else:
                async for chunk in iterator:
                    yield chunk
        except GeneratorExit:
            reason = abandon_reason()
            await aclose_quietly(iterator)
            await aclose_quietly(source)
            await aclose_quietly(inputs)
            if reason == "cancelled":
                await rm.aon_chain_error(asyncio.CancelledError(), inputs=received.result(), reason=reason)
            else:
                await rm.aon_chain_end(produced.result(), inputs=received.result(), reason=reason)
            raise
        except BaseException as exc:
            await aclose_quietly(source)
            await aclose_quietly(inputs)
            await rm.aon_chain_error(exc, inputs=received.result())
            raise
        await rm.aon_chain_end(produced.result(), inputs=received.result())


class _Failed:
    """An input's exception, kept until every input of the batch has run."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _batch_results(outcomes: list[Any], return_exceptions: bool) -> list[Any]:
    """``batch`` and ``abatch`` alike: every input runs to its end, then the results in input order, or the first
    input's exception (in input order) raised, or with ``return_exceptions`` each failed input's exception in its
    place. (So ``abatch`` never returns while inputs are still running.)"""
    for outcome in outcomes:
        if isinstance(outcome, _Failed) and not return_exceptions:
            raise outcome.error
    return [o.error if isinstance(o, _Failed) else o for o in outcomes]


def _per_input_configs(
    config: RunnableConfig | Sequence[RunnableConfig] | None, n: int
) -> list[RunnableConfig]:
    if isinstance(config, Sequence):
        if len(config) != n:
            raise ValueError(
                f"batch got {len(config)} configs for {n} inputs; pass one config or one per input."
            )
        return [ensure_config(c) for c in config]
    base = ensure_config(config)
    configs = [cast(RunnableConfig, dict(base)) for _ in range(n)]
    if base.get("run_id") is not None:
        for c in configs[1:]:
            c.pop("run_id", None)  # a caller's run id names one run only
    return configs


def coerce_to_runnable(thing: Any) -> Runnable[Any, Any]:
    """Runnables stay; dicts become ``RunnableParallel``; generator functions over an iterator become
    ``RunnableGenerator``; other callables become ``RunnableLambda``."""
    import inspect

    from streamscope.engine.runnables.generator import RunnableGenerator
    from streamscope.engine.runnables.lambda_ import RunnableLambda
    from streamscope.engine.runnables.parallel import RunnableParallel

    if isinstance(thing, Runnable):
        return thing
    if isinstance(thing, Mapping):
        return RunnableParallel(dict(thing))
    if inspect.isasyncgenfunction(thing) or inspect.isgeneratorfunction(thing):
        return RunnableGenerator(thing)
    if callable(thing):
        return RunnableLambda(thing)
    raise TypeError(f"Expected a Runnable, callable or dict, got {type(thing).__name__}.")


def context_for(config: RunnableConfig) -> contextvars.Context:
    """A copy of the current context whose inherited config is ``config`` (for work on other threads)."""
    return _context_with(config)
