"""API keys: refused at start-up when unusable, checked in constant time on every request.

A key is compared through its SHA-256 digest, so the comparison takes the same time whatever the length of the
key or of what was sent, and every configured key is compared (no early exit on the first match), so the timing
says nothing about which key matched or how long any key is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

_PRINTABLE = frozenset(chr(c) for c in range(0x21, 0x7F))


def check_key(key: str) -> None:
    """Raise ValueError with a one-sentence reason for a key no client could send or that would match anything.

    An empty key (what ``--api-key "$KEY"`` gives when ``KEY`` is unset) used to switch auth off; a key with
    spaces or non-ASCII characters cannot travel in an ``Authorization: Bearer`` header as configured.
    """
    if not key:
        raise ValueError("an API key is empty (is the variable it comes from unset?); give a non-empty key.")
    if not set(key) <= _PRINTABLE:
        raise ValueError("an API key may only hold printable ASCII characters without spaces.")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class ApiKeys:
    """The configured keys (none: no auth)."""

    __slots__ = ("_digests",)

    def __init__(self, keys: Iterable[str] = ()) -> None:
        keys = tuple(keys)
        for k in keys:
            check_key(k)
        self._digests = tuple(_digest(k) for k in keys)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, given: str) -> bool:
        """Whether ``given`` is one of the keys (always True when no key is configured)."""
        if not self._digests:
            return True
        d = _digest(given)
        ok = False
        for k in self._digests:
            ok |= hmac.compare_digest(d, k)
        return ok

    def from_headers(self, x_api_key: str | None, authorization: str | None) -> bool:
        """Accept ``x-api-key: KEY`` or ``Authorization: Bearer KEY`` (the first one given)."""
        given = x_api_key or ""
        auth = authorization or ""
        if not given and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        return self.accepts(given)
