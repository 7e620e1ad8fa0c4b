"""A tolerant parser for a *prefix* of a JSON document, as it grows during a stream.

``parse_partial_json('{"a": [1, 2, {"b": "hel')`` gives ``{"a": [1, 2, {"b": "hel"}]}``: open strings are
closed, open containers are closed, and a trailing incomplete token (``tr``, ``-``, ``1.``, a key without a
value) is dropped. Text that can never become valid JSON raises ``ValueError``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_partial_json", "strip_code_fence"]

_WS = " \t\r\n"
_LITERALS = {"true": True, "false": False, "null": None}
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Incomplete(Exception):
    """The input ended inside a token that cannot be shown yet."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def ws(self) -> None:
        text, i = self.text, self.i
        while i < len(text) and text[i] in _WS:
            i += 1
        self.i = i

    def eof(self) -> bool:
        return self.i >= len(self.text)

    def error(self, what: str) -> ValueError:
        return ValueError(f"Invalid JSON at character {self.i}: {what}.")

    def value(self) -> Any:
        self.ws()
        if self.eof():
            raise _Incomplete
        c = self.text[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c == '"':
            return self.string()[0]
        if c == "-" or c.isdigit():
            return self.number()
        return self.literal()

    def obj(self) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            if self.eof():
                return out
            c = self.text[self.i]
            if c == "}":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            if c != '"':
                raise self.error("expected a key")
            key, closed = self.string()
            if not closed:
                return out
            self.ws()
            if self.eof():
                return out
            if self.text[self.i] != ":":
                raise self.error("expected ':'")
            self.i += 1
            try:
                out[key] = self.value()
            except _Incomplete:
                return out
            self.ws()
            if self.eof():
                return out
            if self.text[self.i] not in ",}":
                raise self.error("expected ',' or '}'")

    def arr(self) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.eof():
                return out
            c = self.text[self.i]
            if c == "]":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            try:
                out.append(self.value())
            except _Incomplete:
                return out
            self.ws()
            if self.eof():
                return out
            if self.text[self.i] not in ",]":
                raise self.error("expected ',' or ']'")

    def string(self) -> tuple[str, bool]:
        text = self.text
        i = self.i + 1
        parts: list[str] = []
        while i < len(text):
            c = text[i]
            if c == '"':
                self.i = i + 1
                return "".join(parts), True
            if c == "\\":
                if i + 1 >= len(text):
                    break
                esc = text[i + 1]
                if esc == "u":
                    digits = text[i + 2 : i + 6]
                    if len(digits) < 4:
                        break
                    try:
                        parts.append(chr(int(digits, 16)))
                    except ValueError:
                        raise self.error("bad \\u escape") from None
                    i += 6
                    continue
                if esc not in _ESCAPES:
                    raise self.error("bad escape")
                parts.append(_ESCAPES[esc])
                i += 2
                continue
            parts.append(c)
            i += 1
        self.i = len(text)
        return "".join(parts), False

    def number(self) -> Any:
        start = self.i
        text = self.text
        i = start
        while i < len(text) and text[i] in _NUMBER_CHARS:
            i += 1
        self.i = i
        token = text[start:i]
        try:
            return json.loads(token)
        except ValueError:
            if i >= len(text):
                raise _Incomplete from None
            raise self.error(f"bad number {token!r}") from None

    def literal(self) -> Any:
        text = self.text
        for word, value in _LITERALS.items():
            if text.startswith(word, self.i):
                self.i += len(word)
                return value
            rest = text[self.i :]
            if word.startswith(rest):
                self.i = len(text)
                raise _Incomplete
        raise self.error("unexpected character")


def strip_code_fence(text: str) -> str:
    """The JSON inside a Markdown code fence (`````json ... `````), or the text itself."""
    stripped = text.strip()
    if stripped.startswith("```"):
        body = stripped[3:]
        newline = body.find("\n")
        body = body[newline + 1 :] if newline >= 0 else ""
        end = body.rfind("```")
        return body[:end] if end >= 0 else body
    return text


def parse_partial_json(text: str) -> Any:
    """Parse the longest meaningful prefix of ``text``; ``ValueError`` when nothing can be parsed."""
    parser = _Parser(text)
    try:
        value = parser.value()
    except _Incomplete:
        raise ValueError("Not enough JSON yet.") from None
    parser.ws()
    if not parser.eof():
        raise parser.error("extra data after the JSON value")
    return value
