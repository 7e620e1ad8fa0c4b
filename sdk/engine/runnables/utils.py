"""How chunks combine: ``AddableDict`` and the fold used for run outputs and blocking steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from streamscope.engine.messages import AIChunkAccumulator, AIMessageChunk, merge_ai_chunks

__all__ = ["AddableDict", "Folder", "add", "fold"]


class AddableDict(dict[str, Any]):
    """A dict chunk: ``a + b`` takes b's value for keys missing or ``None`` in a, and adds the rest."""

    def __add__(self, other: dict[str, Any]) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        out = AddableDict(self)
        for key, value in other.items():
            if key not in out or out[key] is None:
                out[key] = value
            elif value is not None:
                try:
                    out[key] = out[key] + value
                except TypeError:
                    raise TypeError(
                        f"Cannot add incompatible types for key {key!r}: "
                        f"{type(out[key]).__name__!r} and {type(value).__name__!r}."
                    ) from None
        return out

    def __radd__(self, other: dict[str, Any]) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        return AddableDict(other) + self


def add(left: Any, right: Any) -> Any:
    """``left + right``; when the two cannot be added, the right one wins (LangChain's fold rule)."""
    if left is None:
        return right
    try:
        return left + right
    except TypeError:
        return right


def fold(chunks: Sequence[Any] | Iterable[Any]) -> Any:
    """The ``+``-fold of ``chunks`` (``None`` for none). Strings join and message chunks merge in one pass."""
    items = chunks if isinstance(chunks, list) else list(chunks)
    if not items:
        return None
    first = items[0]
    if len(items) == 1:
        return first
    kind = type(first)
    if kind is str and all(type(c) is str for c in items):
        return "".join(items)
    if kind is AIMessageChunk and all(type(c) is AIMessageChunk for c in items):
        return merge_ai_chunks(items)
    acc = first
    for chunk in items[1:]:
        acc = add(acc, chunk)
    return acc


class Folder:
    """An incremental :func:`fold`: ``add`` chunks as they pass, ``result()`` at the end. Strings and message
    chunks are kept compactly (text parts and merged fields), not as the chunk objects themselves."""

    __slots__ = ("_acc", "_mode", "_parts", "_value")

    def __init__(self) -> None:
        self._mode = 0  # 0 empty, 1 strings, 2 message chunks, 3 anything else
        self._parts: list[str] = []
        self._acc: AIChunkAccumulator | None = None
        self._value: Any = None

    def add(self, chunk: Any) -> None:
        mode = self._mode
        if mode == 1:
            if type(chunk) is str:
                self._parts.append(chunk)
                return
            self._to_generic()
        elif mode == 2:
            if type(chunk) is AIMessageChunk:
                assert self._acc is not None
                self._acc.add(chunk)
                return
            self._to_generic()
        elif mode == 0:
            kind = type(chunk)
            if kind is str:
                self._mode = 1
                self._parts.append(chunk)
            elif kind is AIMessageChunk:
                self._mode = 2
                self._acc = AIChunkAccumulator()
                self._acc.add(chunk)
            else:
                self._mode = 3
                self._value = chunk
            return
        self._value = add(self._value, chunk)

    def _to_generic(self) -> None:
        self._value = self.result()
        self._mode = 3

    def result(self) -> Any:
        mode = self._mode
        if mode == 1:
            return "".join(self._parts)
        if mode == 2:
            assert self._acc is not None
            return self._acc.result()
        return self._value
