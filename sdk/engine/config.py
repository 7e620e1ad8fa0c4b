"""``RunnableConfig`` and how it travels: explicitly, or through a ContextVar into nested calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypedDict
from uuid import UUID

__all__ = [
    "RunnableConfig",
    "child_config_var",
    "ensure_config",
    "get_config",
    "merge_configs",
    "patch_config",
    "set_config_context",
]


class RunnableConfig(TypedDict, total=False):
    """Per-call settings. ``callbacks`` is a list of handlers or a callback manager (nested calls)."""

    tags: list[str]
    metadata: dict[str, Any]
    callbacks: Any
    run_name: str
    max_concurrency: int | None
    recursion_limit: int
    configurable: dict[str, Any]
    run_id: UUID | None


_KEYS = frozenset(RunnableConfig.__annotations__)

child_config_var: ContextVar[RunnableConfig | None] = ContextVar("streamscope_child_config", default=None)


def ensure_config(config: RunnableConfig | None = None) -> RunnableConfig:
    """A fresh config: defaults, then the config inherited from the enclosing run, then ``config``."""
    out: RunnableConfig = {
        "tags": [],
        "metadata": {},
        "callbacks": None,
        "recursion_limit": 25,
        "configurable": {},
    }
    inherited = child_config_var.get()
    if inherited is not None:
        for key, value in inherited.items():
            if value is not None and key != "run_id":
                out[key] = value  # type: ignore[literal-required]
    if config:
        for key, value in config.items():
            if value is None:
                continue
            if key in _KEYS:
                out[key] = value  # type: ignore[literal-required]
            else:
                out["configurable"] = {**out.get("configurable", {}), key: value}
    return out


def get_config() -> RunnableConfig:
    """The config of the run whose code is executing (empty defaults outside any run)."""
    return ensure_config()


def _normalised(config: RunnableConfig) -> RunnableConfig:
    """``config`` with the default keys and unknown keys moved under ``configurable`` (LangChain's
    ``ensure_config``, without the inherited config)."""
    out: RunnableConfig = {
        "tags": [],
        "metadata": {},
        "callbacks": None,
        "recursion_limit": 25,
        "configurable": {},
    }
    for key, value in config.items():
        if value is None:
            continue
        if key in _KEYS:
            out[key] = value  # type: ignore[literal-required]
        else:
            out["configurable"] = {**out["configurable"], key: value}
    return out


def merge_configs(*configs: RunnableConfig | None) -> RunnableConfig:
    """As LangChain: each config normalised, later ones win; tags are a sorted union, metadata and configurable
    merge, callbacks concatenate, a default ``recursion_limit`` does not override."""
    base: RunnableConfig = {}
    for config in configs:
        if config is None:
            continue
        for key, raw in _normalised(config).items():
            value: Any = raw
            if key == "tags":
                base["tags"] = sorted(set(base.get("tags", [])) | set(value or []))
            elif key == "metadata":
                base["metadata"] = {**base.get("metadata", {}), **(value or {})}
            elif key == "configurable":
                base["configurable"] = {**base.get("configurable", {}), **(value or {})}
            elif key == "callbacks":
                if value is not None:
                    base["callbacks"] = _merge_callbacks(base.get("callbacks"), value)
            elif key == "recursion_limit":
                if value != 25:
                    base["recursion_limit"] = value
            else:
                base[key] = value  # type: ignore[literal-required]
    return base


def _merge_callbacks(left: Any, right: Any) -> Any:
    if left is None:
        return right
    if right is None:
        return left
    if isinstance(left, list) and isinstance(right, list):
        return left + right
    if isinstance(left, list):
        return right.copy_with(extra_handlers=left)
    if isinstance(right, list):
        return left.copy_with(extra_handlers=right)
    return right.copy_with(extra_handlers=left.inheritable_handlers)


def patch_config(
    config: RunnableConfig | None,
    *,
    callbacks: Any = None,
    run_name: str | None = None,
    recursion_limit: int | None = None,
    max_concurrency: int | None = None,
    configurable: dict[str, Any] | None = None,
) -> RunnableConfig:
    """A copy of ``config`` for a child step: new callbacks drop ``run_name`` and ``run_id`` (they belong to
    the parent)."""
    out: RunnableConfig = dict(config or {})  # type: ignore[assignment]
    if callbacks is not None:
        out["callbacks"] = callbacks
        out.pop("run_name", None)
        out.pop("run_id", None)
    if run_name is not None:
        out["run_name"] = run_name
    if recursion_limit is not None:
        out["recursion_limit"] = recursion_limit
    if max_concurrency is not None:
        out["max_concurrency"] = max_concurrency
    if configurable is not None:
        out["configurable"] = {**out.get("configurable", {}), **configurable}
    return out


@contextmanager
def set_config_context(config: RunnableConfig) -> Iterator[None]:
    """Make ``config`` the inherited config for code run inside the block (same thread or task)."""
    token = child_config_var.set(config)
    try:
        yield
    finally:
        child_config_var.reset(token)
