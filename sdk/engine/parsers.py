"""Output parsers. ``StrOutputParser`` and ``JsonOutputParser`` stream: they transform chunk by chunk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.messages import AIMessageChunk, BaseMessage, content_text
from streamscope.engine.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk
from streamscope.engine.partial_json import parse_json_markdown
from streamscope.engine.runnables.base import Runnable

__all__ = [
    "BaseCumulativeTransformOutputParser",
    "BaseGenerationOutputParser",
    "BaseOutputParser",
    "BaseTransformOutputParser",
    "JsonOutputParser",
    "OutputParserException",
    "SimpleJsonOutputParser",
    "StrOutputParser",
]


class OutputParserException(ValueError):
    """The model's output could not be parsed."""

    def __init__(self, message: str, llm_output: str | None = None) -> None:
        super().__init__(message)
        self.llm_output = llm_output


def _text(value: Any) -> str:
    if isinstance(value, BaseMessage):
        return content_text(value.content)
    if isinstance(value, str):
        return value
    raise TypeError(f"An output parser needs a message or a string, got {type(value).__name__}.")


def _generation(value: Any) -> Generation:
    if isinstance(value, BaseMessage):
        return ChatGeneration(value)
    if isinstance(value, str):
        return Generation(value)
    raise TypeError(f"An output parser needs a message or a string, got {type(value).__name__}.")


class BaseOutputParser(Runnable[Any, Any]):
    """Parse the text of a message (or a string): subclasses implement ``parse(text)``, or ``parse_result``
    (the generations, ``partial=True`` while a stream is still growing)."""

    run_type = "parser"

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        return self.parse(result[0].text)

    def _parse_input(self, value: Any) -> Any:
        if type(self).parse_result is BaseOutputParser.parse_result:
            return self.parse(_text(value))
        return self.parse_result([_generation(value)])

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(lambda v, rm, cfg: self._parse_input(v), input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        async def run(value: Any, run_manager: RunManager, cfg: RunnableConfig) -> Any:
            return self._parse_input(value)

        return await self._acall_with_config(run, input, config)

    # As LangChain: a parser called on its own parses its whole input once; it streams only inside a chain
    # (``transform``), where its input arrives in chunks.
    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield self.invoke(input, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        yield await self.ainvoke(input, config, **kwargs)


class BaseGenerationOutputParser(BaseOutputParser):
    """A parser of whole generations (``parse_result``); in a stream it parses each chunk on its own."""

    streams_natively = True

    def parse(self, text: str) -> Any:
        return self.parse_result([Generation(text)])

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        for chunk in input:
            yield self.parse_result([_generation(chunk)])

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in input:
            yield self.parse_result([_generation(chunk)])


class BaseTransformOutputParser(BaseGenerationOutputParser):
    """In a stream, one parsed output per input chunk (LangChain's ``BaseTransformOutputParser``)."""

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        return self.parse(result[0].text)


class BaseCumulativeTransformOutputParser(BaseOutputParser):
    """In a stream, parses everything received so far (``parse_result(..., partial=True)``) after each chunk
    and yields the result when it is not ``None`` and differs from the last one (``diff=True``: the JSON Patch
    ops between them instead)."""

    streams_natively = True

    def __init__(self, *, diff: bool = False) -> None:
        self.diff = diff

    def _diff(self, previous: Any, current: Any) -> Any:
        from streamscope.engine.jsonpatch import make_patch

        return make_patch(previous, current)

    def _step(self, acc: Any, chunk: Any, previous: Any) -> tuple[Any, Any]:
        if isinstance(chunk, AIMessageChunk):
            piece: Any = ChatGenerationChunk(chunk)
        elif isinstance(chunk, BaseMessage):
            piece = ChatGenerationChunk(AIMessageChunk(chunk.content, id=chunk.id, **_message_fields(chunk)))
        else:
            piece = GenerationChunk(_text(chunk))
        acc = piece if acc is None else acc + piece
        parsed = self.parse_result([acc], partial=True)
        if parsed is None or parsed == previous:
            return acc, _UNCHANGED
        return acc, parsed

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        acc: Any = None
        previous: Any = None
        for chunk in input:
            acc, parsed = self._step(acc, chunk, previous)
            if parsed is not _UNCHANGED:
                yield self._diff(previous, parsed) if self.diff else parsed
                previous = parsed

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        acc: Any = None
        previous: Any = None
        async for chunk in input:
            acc, parsed = self._step(acc, chunk, previous)
            if parsed is not _UNCHANGED:
                yield self._diff(previous, parsed) if self.diff else parsed
                previous = parsed


_UNCHANGED: Any = object()


def _message_fields(message: BaseMessage) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("additional_kwargs", "response_metadata", "usage_metadata"):
        value = getattr(message, name, None)
        if value:
            fields[name] = value
    calls = getattr(message, "tool_calls", None)
    if calls:
        import json

        fields["tool_call_chunks"] = [
            {"name": c.get("name"), "args": json.dumps(c.get("args", {})), "id": c.get("id"), "index": i}
            for i, c in enumerate(calls)
        ]
    return fields


class StrOutputParser(BaseOutputParser):
    """Message chunks in, their text out, one string chunk per input chunk."""

    streams_natively = True

    def parse(self, text: str) -> str:
        return text

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[str]:
        for chunk in input:
            content = chunk.content if isinstance(chunk, BaseMessage) else chunk
            yield content if type(content) is str else _text(chunk)

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[str]:
        async for chunk in input:
            content = chunk.content if isinstance(chunk, BaseMessage) else chunk
            yield content if type(content) is str else _text(chunk)


class JsonOutputParser(BaseOutputParser):
    """Parse JSON. Streamed, it yields the growing parsed object each time it changes (``diff=False``, the
    default) or JSONPatch-style lists of changes (``diff=True``)."""

    streams_natively = True

    def __init__(self, *, diff: bool = False) -> None:
        self.diff = diff

    def parse(self, text: str) -> Any:
        try:
            return parse_json_markdown(text.strip())
        except json.JSONDecodeError as exc:
            raise OutputParserException(f"Invalid json output: {text}", llm_output=text) from exc

    def _step(self, buffer: list[str], previous: Any) -> tuple[bool, Any]:
        """As LangChain's cumulative parsers: parse everything so far (prose before a code fence skipped);
        emit when it parses to something new."""
        try:
            parsed = parse_json_markdown("".join(buffer).strip())
        except json.JSONDecodeError:
            return False, previous
        if parsed is None or parsed == previous:
            return False, previous
        return True, parsed

    def _emit(self, previous: Any, parsed: Any) -> Any:
        if not self.diff:
            return parsed
        return (
            [{"op": "replace", "path": "", "value": parsed}] if previous is None else _diff(previous, parsed)
        )

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[Any]:
        buffer: list[str] = []
        previous: Any = None
        for chunk in input:
            buffer.append(_text(chunk))
            changed, parsed = self._step(buffer, previous)
            if changed:
                yield self._emit(previous, parsed)
                previous = parsed

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        buffer: list[str] = []
        previous: Any = None
        async for chunk in input:
            buffer.append(_text(chunk))
            changed, parsed = self._step(buffer, previous)
            if changed:
                yield self._emit(previous, parsed)
                previous = parsed


def _diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        ops: list[dict[str, Any]] = []
        for key, value in new.items():
            sub = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key not in old:
                ops.append({"op": "add", "path": sub, "value": value})
            elif old[key] != value:
                ops.extend(_diff(old[key], value, sub))
        return ops
    if isinstance(old, list) and isinstance(new, list) and len(new) >= len(old):
        ops = []
        for index, value in enumerate(new):
            if index >= len(old):
                ops.append({"op": "add", "path": f"{path}/{index}", "value": value})
            elif old[index] != value:
                ops.extend(_diff(old[index], value, f"{path}/{index}"))
        return ops
    return [{"op": "replace", "path": path, "value": new}]


#: LangChain's name for the same parser.
SimpleJsonOutputParser = JsonOutputParser
