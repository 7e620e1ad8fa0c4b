"""``streamscope.context(...)``: session, user, tags and metadata that land on every span started inside.

The values live in a ``ContextVar``, so they follow threads started with ``contextvars.copy_context()``, asyncio
tasks and nested blocks (inner blocks add to outer ones; tags accumulate, other values override). A span
processor copies them onto each span at start; chunk spans get them when they are built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A

_current: ContextVar[Mapping[str, AttributeValue]] = ContextVar(
    "streamscope_context", default=MappingProxyType({})
)


def current_attributes() -> Mapping[str, AttributeValue]:
    """The attributes the innermost ``streamscope.context`` block adds to spans (empty outside any block)."""
    return _current.get()


def _metadata_value(value: Any) -> AttributeValue:
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


class context:
    """Attach ``session.id``, ``user.id``, ``streamscope.tags`` and ``streamscope.metadata.<key>`` to every
    span started inside the block. Use ``with`` or ``async with``; blocks nest (inner values override, tags
    accumulate).

    >>> with streamscope.context(session_id="conv-42", user_id="u-7", tags=["beta"]):
    ...     answer = chain.invoke(question)
    """

    def __init__(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._session_id = session_id
        self._user_id = user_id
        self._tags = tags
        self._metadata = metadata
        self._tokens: list[Token[Mapping[str, AttributeValue]]] = []

    def _attributes(self) -> dict[str, AttributeValue]:
        outer = _current.get()
        attrs: dict[str, AttributeValue] = dict(outer)
        if self._session_id is not None:
            attrs[A.SESSION_ID] = str(self._session_id)
        if self._user_id is not None:
            attrs[A.USER_ID] = str(self._user_id)
        if self._tags:
            before = [str(t) for t in outer.get(A.TAGS, ())]  # type: ignore[union-attr]
            attrs[A.TAGS] = tuple(dict.fromkeys([*before, *(str(t) for t in self._tags)]))
        for key, value in (self._metadata or {}).items():
            attrs[A.METADATA_PREFIX + str(key)] = _metadata_value(value)
        return attrs

    def __enter__(self) -> Mapping[str, AttributeValue]:
        attrs = self._attributes()
        self._tokens.append(_current.set(attrs))
        return attrs

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> Mapping[str, AttributeValue]:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class ContextAttributesProcessor(SpanProcessor):
    """Copies the current ``streamscope.context`` values onto every span at start."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attrs = _current.get()
        if attrs:
            span.set_attributes(attrs)

    def on_end(self, span: ReadableSpan) -> None:
        return None
