"""Decompress an OTLP/HTTP body (``Content-Encoding``) under a size limit, all of it or not at all.

A gzip body may hold several members (RFC 1952 2.2: they decompress to the concatenation of their data); every
member is read. Bytes after the last member that are not another member, trailing bytes after a deflate
stream, and truncated data are errors: answering 200 for a body read only in part would acknowledge spans that
were never stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

GZIP_MAGIC = b"\x1f\x8b"
STEP = 4 * 1024 * 1024
MAX_MEMBERS = 1024  # gzip members in one body: each costs a decompressor, and exporters send one


class InflateError(ValueError):
    """The body cannot be decompressed; ``status`` is the HTTP answer, ``str(err)`` a one-sentence reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def inflate(raw: bytes, encoding: str, limit: int, grow: Callable[[int], None] | None = None) -> bytes:
    """``raw`` decoded from ``encoding`` (``gzip``, ``deflate``, ``identity`` or empty); at most ``limit`` bytes
    out, else :class:`InflateError` 413. Unknown encodings give 415, bad data 400. ``grow(n)`` is called before
    each step of ``STEP`` bytes is decompressed (a memory budget: it raises to stop)."""
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise InflateError(
            415, f"content encoding {encoding[:40]!r} is not supported (use gzip, deflate or none)."
        )
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    parts: list[bytes] = []
    size = 0
    data = raw
    for _member in range(MAX_MEMBERS):
        d = zlib.decompressobj(wbits)
        while True:  # one step per turn
            step = min(STEP, limit + 1 - size)
            if grow is not None:
                grow(step)
            try:
                out = d.decompress(data, step)
            except zlib.error:
                raise InflateError(400, f"the body is not valid {encoding} data.") from None
            if grow is not None:
                grow(len(out) - step)  # give back what the step did not use
            size += len(out)
            parts.append(out)
            if size > limit:
                raise InflateError(413, f"the decompressed body is larger than the {_mib(limit)} limit.")
            data = d.unconsumed_tail
            if d.eof or (not data and len(out) < step):  # a full step may leave output inside zlib: go on
                break
        if not d.eof:
            raise InflateError(400, f"the {encoding} body is truncated.")
        data = d.unused_data
        if not data:
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if encoding == "deflate" or data[:2] != GZIP_MAGIC:
            raise InflateError(
                400, f"the {encoding} body has {len(data)} bytes of trailing data after its end."
            )
    raise InflateError(400, f"the gzip body has more than {MAX_MEMBERS} members.")


def _mib(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n} byte"
