"""Tolerant JSON for streams, with langchain-core's semantics (``parse_partial_json``, ``parse_json_markdown``).

``parse_partial_json('{"a": [1, 2, {"b": "hel')`` gives ``{"a": [1, 2, {"b": "hel"}]}``: an open string is
closed, open containers are closed, and the text is cut back from the first place ``json`` rejects until what
is left parses, so an incomplete tail (``tr``, ``1.``, a key without a value) and anything after a complete
value (prose) are dropped. A closing bracket that closes nothing open gives ``None``; text with no parseable
prefix raises ``json.JSONDecodeError`` (a ``ValueError``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

__all__ = ["parse_json_markdown", "parse_partial_json"]

_CLOSERS = {"{": "}", "[": "]"}


def _close(text: str) -> tuple[list[str], list[str]] | None:
    """The text as pieces (raw newlines inside strings escaped, an open string closed) and the closers of the
    containers left open, innermost first; ``None`` when a closer does not match the open container."""
    pieces: list[str] = []
    open_closers: list[str] = []
    in_string = escaped = False
    for char in text:
        piece = char
        if in_string:
            if char == '"' and not escaped:
                in_string = False
            elif char == "\n" and not escaped:
                piece = "\\n"
            elif char == "\\":
                escaped = not escaped
            else:
                escaped = False
        elif char == '"':
            in_string, escaped = True, False
        elif char in _CLOSERS:
            open_closers.append(_CLOSERS[char])
        elif char in "}]":
            if not open_closers or open_closers[-1] != char:
                return None
            open_closers.pop()
        pieces.append(piece)
    if in_string:
        if escaped:
            pieces.pop()  # a dangling backslash escapes nothing yet
        pieces.append('"')
    return pieces, open_closers[::-1]


def parse_partial_json(text: str, *, strict: bool = False) -> Any:
    """Parse the longest meaningful prefix of ``text`` (see the module docstring)."""
    try:
        return json.loads(text, strict=strict)
    except json.JSONDecodeError:
        pass
    closed = _close(text)
    if closed is None:
        return None
    pieces, closers = closed
    ends: list[int] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        ends.append(total)
    while pieces:
        try:
            return json.loads("".join(pieces + closers), strict=strict)
        except json.JSONDecodeError as exc:
            cut = bisect_right(ends, exc.pos)  # drop from the piece json stopped at, or the last piece
            cut = cut if cut < len(pieces) else len(pieces) - 1
            del pieces[cut:], ends[cut:]
    return json.loads(text, strict=strict)


_FENCE = re.compile(r"```(json)?(.*)", re.DOTALL)
_STRIP = " \n\r\t`"


def _parse_stripped(text: str, parser: Callable[[str], Any]) -> Any:
    return parser(text.strip(_STRIP))


def parse_json_markdown(text: str, *, parser: Callable[[str], Any] = parse_partial_json) -> Any:
    """JSON from a model's answer: the whole text, else what follows the first code fence (```` ```json ````),
    so prose before the fence is skipped; backticks and whitespace around it are stripped."""
    try:
        return _parse_stripped(text, parser)
    except json.JSONDecodeError:
        match = _FENCE.search(text)
        body = text if match is None else match.group(2)
    return _parse_stripped(body, parser)
