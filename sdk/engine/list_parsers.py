"""List output parsers that stream: each finished item leaves as ``[item]`` as soon as the next one begins
(LangChain's ``ListOutputParser`` family)."""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator, Iterator
from io import StringIO
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.messages import BaseMessage
from streamscope.engine.parsers import BaseOutputParser

__all__ = [
    "CommaSeparatedListOutputParser",
    "ListOutputParser",
    "MarkdownListOutputParser",
    "NumberedListOutputParser",
]


class ListOutputParser(BaseOutputParser):
    """``parse(text) -> list[str]``; subclasses with a regex also give ``parse_iter`` (matches whose group 1 is
    an item). Streamed, the text is buffered and every item but the last one found so far is emitted."""

    streams_natively = True

    def parse(self, text: str) -> list[str]:
        raise NotImplementedError

    def parse_iter(self, text: str) -> Iterator[re.Match[str]]:
        raise NotImplementedError

    def _finished(self, buffer: str) -> tuple[list[str], str]:
        """The finished items in ``buffer`` and what remains of it."""
        try:
            matches = list(self.parse_iter(buffer))
        except NotImplementedError:
            parts = self.parse(buffer)
            return (parts[:-1], parts[-1]) if len(parts) > 1 else ([], buffer)
        done = matches[:-1]
        return [m.group(1) for m in done], buffer[done[-1].end() :] if done else buffer

    @staticmethod
    def _text(chunk: Any) -> str | None:
        if isinstance(chunk, BaseMessage):
            return chunk.content if isinstance(chunk.content, str) else None
        return str(chunk)

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[list[str]]:
        buffer = ""
        for chunk in input:
            text = self._text(chunk)
            if text is None:
                continue
            items, buffer = self._finished(buffer + text)
            for item in items:
                yield [item]
        for item in self.parse(buffer):
            yield [item]

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[list[str]]:
        buffer = ""
        async for chunk in input:
            text = self._text(chunk)
            if text is None:
                continue
            items, buffer = self._finished(buffer + text)
            for item in items:
                yield [item]
        for item in self.parse(buffer):
            yield [item]


class CommaSeparatedListOutputParser(ListOutputParser):
    """``"a, b, c"`` -> ``["a", "b", "c"]`` (CSV quoting respected)."""

    def parse(self, text: str) -> list[str]:
        try:
            reader = csv.reader(StringIO(text), quotechar='"', delimiter=",", skipinitialspace=True)
            return [item for row in reader for item in row]
        except csv.Error:
            return [part.strip() for part in text.split(",")]


class NumberedListOutputParser(ListOutputParser):
    """``"1. a\\n2. b"`` -> ``["a", "b"]``."""

    pattern = r"\d+\.\s([^\n]+)"

    def parse(self, text: str) -> list[str]:
        return re.findall(self.pattern, text)

    def parse_iter(self, text: str) -> Iterator[re.Match[str]]:
        return re.finditer(self.pattern, text)


class MarkdownListOutputParser(ListOutputParser):
    """``"- a\\n- b"`` -> ``["a", "b"]``."""

    pattern = r"^\s*[-*]\s([^\n]+)$"

    def parse(self, text: str) -> list[str]:
        return re.findall(self.pattern, text, re.MULTILINE)

    def parse_iter(self, text: str) -> Iterator[re.Match[str]]:
        return re.finditer(self.pattern, text, re.MULTILINE)
