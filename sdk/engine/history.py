"""Chat message histories and ``RunnableWithMessageHistory``: a runnable that reads a session's earlier messages
before each call and appends the call's input and output messages after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig, ensure_config
from streamscope.engine.messages import AIMessage, BaseMessage, HumanMessage
from streamscope.engine.runnables.base import Runnable, aclose_quietly, coerce_to_runnable
from streamscope.engine.runnables.utils import fold

__all__ = ["BaseChatMessageHistory", "InMemoryChatMessageHistory", "RunnableWithMessageHistory"]


class BaseChatMessageHistory:
    """A session's messages: subclasses keep ``messages`` and implement ``add_messages`` and ``clear``."""

    messages: list[BaseMessage]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        raise NotImplementedError

    def add_message(self, message: BaseMessage) -> None:
        self.add_messages([message])

    def add_user_message(self, message: str | HumanMessage) -> None:
        self.add_message(message if isinstance(message, HumanMessage) else HumanMessage(message))

    def add_ai_message(self, message: str | AIMessage) -> None:
        self.add_message(message if isinstance(message, AIMessage) else AIMessage(message))

    def clear(self) -> None:
        raise NotImplementedError

    async def aget_messages(self) -> list[BaseMessage]:
        return list(self.messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.add_messages(messages)


class InMemoryChatMessageHistory(BaseChatMessageHistory):
    """Messages kept in a list."""

    def __init__(self, messages: Sequence[BaseMessage] | None = None) -> None:
        self.messages = list(messages or [])

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        self.messages.extend(messages)

    def clear(self) -> None:
        self.messages = []


class RunnableWithMessageHistory(Runnable[Any, Any]):
    """``RunnableWithMessageHistory(runnable, get_session_history, input_messages_key=None,
    output_messages_key=None, history_messages_key=None)``; each call needs
    ``config={"configurable": {"session_id": ...}}``. With ``history_messages_key`` the earlier messages go into
    the input dict under that key; without it they are put before the input messages."""

    streams_natively = True

    def __init__(
        self,
        runnable: Any,
        get_session_history: Callable[..., BaseChatMessageHistory],
        *,
        input_messages_key: str | None = None,
        output_messages_key: str | None = None,
        history_messages_key: str | None = None,
        history_factory_config: Sequence[Any] | None = None,
    ) -> None:
        self.runnable = coerce_to_runnable(runnable)
        self.get_session_history = get_session_history
        self.input_messages_key = input_messages_key
        self.output_messages_key = output_messages_key
        self.history_messages_key = history_messages_key
        self.history_keys = [getattr(spec, "id", spec) for spec in (history_factory_config or ["session_id"])]

    def _history(self, config: RunnableConfig) -> BaseChatMessageHistory:
        configurable = config.get("configurable") or {}
        missing = [key for key in self.history_keys if key not in configurable]
        if missing:
            example = {"configurable": {key: "[your-value-here]" for key in self.history_keys}}
            raise ValueError(
                f"Missing keys {sorted(missing)} in config['configurable'] Expected keys are "
                f"{sorted(self.history_keys)}.When using via .invoke() or .stream(), pass in a config; e.g., "
                f"chain.invoke({{'input': 'foo'}}, {example})"
            )
        if len(self.history_keys) == 1:
            return self.get_session_history(configurable[self.history_keys[0]])
        return self.get_session_history(**{key: configurable[key] for key in self.history_keys})

    def _input_messages(self, value: Any) -> list[BaseMessage]:
        if isinstance(value, dict):
            key = self.input_messages_key or (next(iter(value)) if len(value) == 1 else "input")
            value = value[key]
        if isinstance(value, str):
            return [HumanMessage(value)]
        if isinstance(value, BaseMessage):
            return [value]
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], list):
                if len(value) != 1:
                    raise ValueError(f"Expected a single list of messages. Got {value}.")
                return list(value[0])
            return list(value)
        raise ValueError(f"Expected str, BaseMessage, list[BaseMessage], or tuple[BaseMessage]. Got {value}.")

    def _output_messages(self, value: Any) -> list[BaseMessage]:
        if isinstance(value, dict):
            key = self.output_messages_key or (next(iter(value)) if len(value) == 1 else "output")
            value = value[key]
        if isinstance(value, str):
            return [AIMessage(value)]
        if isinstance(value, BaseMessage):
            return [value]  # (a streamed answer is kept as its folded chunk, as in LangChain)
        if isinstance(value, (list, tuple)):
            return list(value)
        raise ValueError(f"Expected str, BaseMessage, list[BaseMessage], or tuple[BaseMessage]. Got {value}.")

    def _with_history(self, value: Any, history: BaseChatMessageHistory) -> Any:
        earlier = list(history.messages)
        if self.history_messages_key:
            return {**value, self.history_messages_key: earlier}
        new = self._input_messages(value)
        if self.input_messages_key:
            return {**value, self.input_messages_key: earlier + new}
        return earlier + new

    def _record(self, value: Any, output: Any, history: BaseChatMessageHistory) -> None:
        history.add_messages([*self._input_messages(value), *self._output_messages(output)])

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        history = self._history(ensure_config(config))

        def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            output = self.runnable.invoke(self._with_history(value, history), cfg, **kwargs)
            self._record(value, output, history)
            return output

        return self._call_with_config(run, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        history = self._history(ensure_config(config))

        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            output = await self.runnable.ainvoke(self._with_history(value, history), cfg, **kwargs)
            self._record(value, output, history)
            return output

        return await self._acall_with_config(run, input, config)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        history = self._history(config)
        value = fold(list(input))
        chunks: list[Any] = []
        for chunk in self.runnable.stream(self._with_history(value, history), config, **kwargs):
            chunks.append(chunk)
            yield chunk
        self._record(value, fold(chunks), history)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        history = self._history(config)
        value = fold([c async for c in input])
        chunks: list[Any] = []
        stream = self.runnable.astream(self._with_history(value, history), config, **kwargs)
        try:
            async for chunk in stream:
                chunks.append(chunk)
                yield chunk
        finally:
            await aclose_quietly(stream)
        self._record(value, fold(chunks), history)
