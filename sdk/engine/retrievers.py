"""``BaseRetriever``: a query in, documents out, as a retriever run (``on_retriever_*``, ``on_retriever_*``
events, a retriever span when tracing)."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from typing import Any

from streamscope.engine.callbacks.manager import CallbackManager, RunManager
from streamscope.engine.config import RunnableConfig, ensure_config
from streamscope.engine.documents import Document
from streamscope.engine.runnables.base import Runnable

__all__ = ["BaseRetriever"]


class BaseRetriever(Runnable[str, list[Document]]):
    """Subclasses implement ``_get_relevant_documents(query, *, run_manager)`` (and optionally
    ``_aget_relevant_documents``). ``tags`` / ``metadata`` given at construction join every run; the run's
    metadata carries ``ls_retriever_name`` (the class name without ``Retriever``, lowercased), as in LangChain."""

    run_type = "retriever"

    def __init__(
        self,
        *,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        **fields: Any,
    ) -> None:
        self.tags = tags
        self.metadata = metadata
        self.name = name
        for key, value in fields.items():
            setattr(self, key, value)

    def _get_relevant_documents(self, query: str, *, run_manager: RunManager) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(self, query: str, *, run_manager: RunManager) -> list[Document]:
        """Default: the sync method on a worker thread."""
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: ctx.run(self._call_sync, query, run_manager, {}))

    def _ls_params(self) -> dict[str, Any]:
        name = self.get_name()
        if name.startswith("Retriever"):
            name = name[9:]
        elif name.endswith("Retriever"):
            name = name[:-9]
        return {"ls_retriever_name": name.lower()}

    def _manager(self, config: RunnableConfig) -> CallbackManager:
        return CallbackManager.configure(
            config.get("callbacks"),
            None,
            False,
            config.get("tags"),
            self.tags,
            {**(config.get("metadata") or {}), **self._ls_params()},
            self.metadata,
        )

    def _call_sync(self, query: str, run_manager: RunManager, kwargs: dict[str, Any]) -> list[Document]:
        method = self._get_relevant_documents
        if "run_manager" in inspect.signature(method).parameters:
            return method(query, run_manager=run_manager, **kwargs)
        return method(query, **kwargs)

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        cfg = ensure_config(config)
        rm = self._manager(cfg).on_retriever_start(
            None, input, name=cfg.get("run_name") or self.get_name(), run_id=cfg.pop("run_id", None)
        )
        try:
            documents = self._call_sync(input, rm, kwargs)
        except BaseException as exc:
            rm.on_retriever_error(exc)
            raise
        rm.on_retriever_end(documents)
        return documents

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        cfg = ensure_config(config)
        rm = await self._manager(cfg).aon_retriever_start(
            None, input, name=cfg.get("run_name") or self.get_name(), run_id=cfg.pop("run_id", None)
        )
        try:
            method = self._aget_relevant_documents
            if type(self)._aget_relevant_documents is BaseRetriever._aget_relevant_documents:
                documents = await method(input, run_manager=rm)
            elif "run_manager" in inspect.signature(method).parameters:
                documents = await method(input, run_manager=rm, **kwargs)
            else:
                documents = await method(input, **kwargs)
        except BaseException as exc:
            await rm.aon_retriever_error(exc)
            raise
        await rm.aon_retriever_end(documents)
        return documents
