"""How chunks combine: strings join, message chunks merge in one pass, anything else folds with ``+``."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce
from typing import Any

__all__ = ["chunk_size_of", "combine_chunks"]


def combine_chunks(chunks: Sequence[Any]) -> Any:
    """Combine ``chunks`` into one value, or ``None`` when there are none.

    - ``str`` (and ``bytes``) chunks are joined without quadratic copying;
    - ``AIMessageChunk`` chunks are merged in one pass (content concatenated, tool-call chunks merged by
      index, usage summed: the same result as ``a + b + c``);
    - anything else is folded left to right with ``+``; a ``TypeError`` from ``+`` propagates.
    """
    n = len(chunks)
    if n == 0:
        return None
    first = chunks[0]
    if n == 1:
        return first
    if isinstance(first, str):
        return "".join(chunks)
    if isinstance(first, bytes):
        return b"".join(chunks)
    merged = _merge_messages(chunks)
    if merged is not None:
        return merged
    return reduce(operator.add, chunks)


def _merge_messages(chunks: Sequence[Any]) -> Any:
    try:
        from streamscope.engine.messages import AIMessageChunk, merge_ai_chunks
    except ImportError:  # pragma: no cover - the engine always ships messages
        return None
    if all(type(c) is AIMessageChunk for c in chunks):
        return merge_ai_chunks(chunks)
    return None


def chunk_size_of(chunk: Any) -> int:
    """Size used by size-based re-chunking: ``len`` of a string, of a message's text content, else 1."""
    if isinstance(chunk, (str, bytes)):
        return len(chunk)
    content = getattr(chunk, "content", None)
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p) if isinstance(p, str) else len(str(p.get("text", ""))) for p in content)
    return 1
