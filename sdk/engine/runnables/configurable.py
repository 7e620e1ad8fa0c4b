"""Runnables configured per call: ``configurable_fields`` (attributes set from ``config["configurable"]``) and
``configurable_alternatives`` (another runnable chosen by key). Neither adds a run: the configured runnable's
own run is the run, as in LangChain."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from streamscope.engine.config import RunnableConfig, ensure_config
from streamscope.engine.runnables.base import Runnable, aclose_quietly

__all__ = ["ConfigurableField", "RunnableConfigurableAlternatives", "RunnableConfigurableFields"]


@dataclass(frozen=True)
class ConfigurableField:
    """A field a caller may set per call under ``config["configurable"][id]``."""

    id: str
    name: str | None = None
    description: str | None = None
    annotation: Any = None
    is_shared: bool = False


class _Dynamic(Runnable[Any, Any]):
    """Delegates every call to ``_prepare(config)``'s runnable."""

    streams_natively = True
    default: Runnable[Any, Any]

    def _prepare(self, config: RunnableConfig) -> Runnable[Any, Any]:
        raise NotImplementedError

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        return self._prepare(cfg).invoke(input, cfg, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        cfg = ensure_config(config)
        return await self._prepare(cfg).ainvoke(input, cfg, **kwargs)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        cfg = ensure_config(config)
        yield from self._prepare(cfg).stream(input, cfg, **kwargs)

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        cfg = ensure_config(config)
        yield from self._prepare(cfg).transform(input, cfg, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        cfg = ensure_config(config)
        stream = self._prepare(cfg).astream(input, cfg, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        cfg = ensure_config(config)
        stream = self._prepare(cfg).atransform(input, cfg, **kwargs)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await aclose_quietly(stream)

    def batch(
        self, inputs: Sequence[Any], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        if isinstance(config, (list, tuple)):
            return Runnable.batch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)
        cfg = ensure_config(config)
        return self._prepare(cfg).batch(inputs, cfg, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self, inputs: Sequence[Any], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        if isinstance(config, (list, tuple)):
            return await Runnable.abatch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)
        cfg = ensure_config(config)
        return await self._prepare(cfg).abatch(inputs, cfg, return_exceptions=return_exceptions, **kwargs)

    def configurable_alternatives(
        self,
        which: ConfigurableField,
        *,
        default_key: str = "default",
        prefix_keys: bool = False,
        **kwargs: Any,
    ) -> RunnableConfigurableAlternatives:
        return RunnableConfigurableAlternatives(
            self, which, default_key=default_key, prefix_keys=prefix_keys, alternatives=kwargs
        )


class RunnableConfigurableFields(_Dynamic):
    """``default`` with the attributes named in ``fields`` set from the call's ``configurable`` values."""

    def __init__(self, default: Runnable[Any, Any], fields: dict[str, ConfigurableField]) -> None:
        for attr in fields:
            if not hasattr(default, attr):
                raise ValueError(
                    f"Configuration key {attr} not found in {default}: available keys are "
                    f"{sorted(k for k in vars(default) if not k.startswith('_'))}"
                )
        self.default = default
        self.fields = fields

    def _prepare(self, config: RunnableConfig) -> Runnable[Any, Any]:
        configurable = config.get("configurable") or {}
        values = {
            attr: configurable[field.id] for attr, field in self.fields.items() if field.id in configurable
        }
        if not values:
            return self.default
        configured = copy.copy(self.default)
        for attr, value in values.items():
            setattr(configured, attr, value)
        return configured


class RunnableConfigurableAlternatives(_Dynamic):
    """``default`` or the alternative named by ``config["configurable"][which.id]`` (an alternative may be a
    runnable or a function making one); an unknown key raises ``ValueError``."""

    def __init__(
        self,
        default: Runnable[Any, Any],
        which: ConfigurableField,
        *,
        default_key: str = "default",
        prefix_keys: bool = False,
        alternatives: dict[str, Runnable[Any, Any] | Callable[[], Runnable[Any, Any]]],
    ) -> None:
        self.default = default
        self.which = which
        self.default_key = default_key
        self.prefix_keys = prefix_keys
        self.alternatives = alternatives

    def _prepare(self, config: RunnableConfig) -> Runnable[Any, Any]:
        key = (config.get("configurable") or {}).get(self.which.id, self.default_key)
        if key == self.default_key:
            return self.default
        if key in self.alternatives:
            chosen = self.alternatives[key]
            return chosen if isinstance(chosen, Runnable) else chosen()
        raise ValueError(f"Unknown alternative: {key}")
