"""Count the spans of a protobuf ``ExportTraceServiceRequest`` on the wire, before anything is decoded.

Only the three levels of nesting that lead to spans are walked (request -> resource_spans -> scope_spans ->
spans); every other field is skipped by its length. The walk stops as soon as the count passes the limit, so it
costs at most ``limit`` steps. Malformed input is not judged here: the walk stops, and the real parser gives the
reason.
"""

from __future__ import annotations

_LEN = 2  # wire type of length-delimited fields


def _varint(buf: bytes, i: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while i < end:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _skip(buf: bytes, i: int, end: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, i, end)[1]
    if wire == 1:
        return i + 8
    if wire == _LEN:
        n, i = _varint(buf, i, end)
        return i + n
    if wire == 5:
        return i + 4
    raise ValueError("unsupported wire type")


def _fields(buf: bytes, start: int, end: int, want: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each length-delimited field number ``want`` in ``buf[start:end]``."""
    out = []
    i = start
    while i < end:
        tag, i = _varint(buf, i, end)
        field, wire = tag >> 3, tag & 7
        if field == want and wire == _LEN:
            n, i = _varint(buf, i, end)
            out.append((i, i + n))
            i += n
        else:
            i = _skip(buf, i, end, wire)
    return out


def count_spans(body: bytes, limit: int) -> int:
    """Spans in the request, or the first count above ``limit``. An empty span takes 2 bytes on the wire, so a
    body shorter than ``2 * limit`` bytes is not walked (it returns 0: the count cannot pass the limit)."""
    if len(body) <= 2 * limit:
        return 0
    count = 0
    try:
        for rs in _fields(body, 0, len(body), 1):
            for ss in _fields(body, rs[0], rs[1], 2):
                i, end = ss
                while i < end:
                    tag, i = _varint(body, i, end)
                    if tag == (2 << 3 | _LEN):
                        count += 1
                        if count > limit:
                            return count
                    i = _skip(body, i, end, tag & 7)
    except (ValueError, IndexError):
        pass
    return count
