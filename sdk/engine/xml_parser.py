"""``XMLOutputParser``: XML from a model's answer as nested dicts; streamed, each leaf element leaves as soon as
it closes, as the path of one-key dicts and one-item lists leading to it (which ``+`` folds back together)."""

from __future__ import annotations

import contextlib
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

from streamscope.engine.callbacks.manager import RunManager
from streamscope.engine.config import RunnableConfig
from streamscope.engine.messages import BaseMessage
from streamscope.engine.parsers import BaseOutputParser, OutputParserException
from streamscope.engine.runnables.utils import AddableDict

__all__ = ["XMLOutputParser"]

_MISSING_DEFUSEDXML = (
    "defusedxml is not installed. Please install it to use the defusedxml parser. You can install it with "
    "`pip install defusedxml`. See https://github.com/tiran/defusedxml for more details"
)


def _element_tree(parser: str) -> Any:
    if parser == "defusedxml":
        try:
            from defusedxml import ElementTree  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            raise ImportError(_MISSING_DEFUSEDXML) from None
        return ElementTree
    return ET


def _nested(path: list[str], element: ET.Element) -> AddableDict:
    if not path:
        return AddableDict({element.tag: element.text})
    return AddableDict({path[0]: [_nested(path[1:], element)]})


class _StreamingXML:
    """Feeds text to an XML pull parser once a tag has started; yields each closed leaf as a nested dict."""

    _START = re.compile(r"<[a-zA-Z:_]")

    def __init__(self, parser: str) -> None:
        _element_tree(parser)  # (the same ImportError as parse when defusedxml is asked for but missing)
        self.pull: ET.XMLPullParser[Any] = ET.XMLPullParser(["start", "end"])
        self.path: list[str] = []
        self.has_children = False
        self.buffer = ""
        self.started = False

    def feed(self, chunk: Any) -> Iterator[AddableDict]:
        if isinstance(chunk, BaseMessage):
            if not isinstance(chunk.content, str):
                return
            chunk = chunk.content
        self.buffer += chunk
        if not self.started:
            match = self._START.search(self.buffer)
            if match is None:
                return
            self.buffer, self.started = self.buffer[match.start() :], True
        self.pull.feed(self.buffer)
        self.buffer = ""
        try:
            events: Iterator[Any] = self.pull.read_events()
            for event, element in events:
                if event == "start":
                    self.path.append(element.tag)
                    self.has_children = False
                    continue
                self.path.pop()
                if not self.has_children:
                    yield _nested(self.path, element)
                if self.path:
                    self.has_children = True
                else:
                    self.started = False
        except ET.ParseError:
            if self.path:
                raise

    def close(self) -> None:
        with contextlib.suppress(ET.ParseError):
            self.pull.close()


class XMLOutputParser(BaseOutputParser):
    """``parse`` gives ``{root: [{child: text}, ...]}`` (``{root: text}`` for a leaf root); a ```` ```xml ````
    fence and an XML declaration are skipped. ``parser="defusedxml"`` (the default, as in LangChain) needs the
    ``defusedxml`` package; ``parser="xml"`` uses the standard library's."""

    streams_natively = True
    _ENCODING = re.compile(r"<([^>]*encoding[^>]*)>\n(.*)", re.MULTILINE | re.DOTALL)

    def __init__(self, tags: list[str] | None = None, parser: str = "defusedxml") -> None:
        self.tags = tags
        self.parser = parser

    def parse(self, text: str) -> dict[str, Any]:
        tree = _element_tree(self.parser)
        match = re.search(r"```(xml)?(.*)```", text, re.DOTALL)
        if match is not None:
            text = match.group(2)
        declared = self._ENCODING.search(text)
        if declared:
            text = declared.group(2)
        text = text.strip()
        try:
            return self._to_dict(tree.fromstring(text))
        except ET.ParseError as exc:
            raise OutputParserException(
                f"Failed to parse XML format from completion {text}. Got: {exc}", llm_output=text
            ) from exc

    def _to_dict(self, root: ET.Element) -> dict[str, Any]:
        if root.text and bool(re.search(r"\S", root.text)):
            return {root.tag: root.text}
        return {root.tag: [{c.tag: c.text} if len(c) == 0 else self._to_dict(c) for c in root]}

    def _transform(
        self, input: Iterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> Iterator[AddableDict]:
        streaming = _StreamingXML(self.parser)
        for chunk in input:
            yield from streaming.feed(chunk)
        streaming.close()

    async def _atransform(
        self, input: AsyncIterator[Any], run_manager: RunManager, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[AddableDict]:
        streaming = _StreamingXML(self.parser)
        async for chunk in input:
            for output in streaming.feed(chunk):
                yield output
        streaming.close()
