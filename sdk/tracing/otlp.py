"""OTLP/protobuf encoding with a fast path for chunk spans.

Ordinary spans go through OpenTelemetry's own encoder. Chunk spans are written straight to protobuf wire
format: every chunk span of a batch shares its trace id, parent, name, kind, scope and resource, so those
bytes are built once per batch and each chunk only adds its id, time and a handful of attributes. Protobuf
messages concatenate by appending repeated fields, so the request body is simply the SDK-encoded request
followed by one extra ``ResourceSpans`` entry per chunk batch. The result decodes to the same spans that
:meth:`ChunkBatch.spans` would produce through the SDK encoder (tested).

Long array attributes of ordinary spans (a stream span's per-chunk arrays when chunk spans are off) are written
the same way: the SDK's encoder builds one protobuf message per array element, which costs more than the whole
chunk span path, so those spans are encoded by the SDK without their arrays and the arrays are appended to the
span message as pre-encoded attribute entries (also tested against the SDK encoder).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import add, mul, sub
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from streamscope.tracing import attributes as A
from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.rollups import KIND_NAMES

_DOUBLE = struct.Struct("<d")
_TIMES = struct.Struct("<BQBQ")
_FLAGS = b"\x85\x01" + struct.pack("<I", 0x100)  # field 16 (fixed32): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (negative ints use the 10-byte two's complement)."""
    if n < 0:
        n += 1 << 64
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field_tag: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return bytes((field_tag,)) + varint(len(payload)) + payload


def _any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[_any_value(v) for v in value]))
    return common_pb2.AnyValue(string_value=str(value))


def _attribute_bytes(attrs: Mapping[str, Any]) -> bytes:
    """Span field 9 (attributes) entries for constant attributes."""
    return b"".join(
        _ld(0x4A, common_pb2.KeyValue(key=k, value=_any_value(v)).SerializeToString())
        for k, v in attrs.items()
    )


def _key(key: str) -> bytes:
    return _ld(0x0A, key.encode())


class _AttrPrefixes:
    """Pre-encoded pieces of the per-chunk attributes."""

    def __init__(self) -> None:
        self.index = _key(A.CHUNK_INDEX)
        self.size = _key(A.CHUNK_SIZE)
        self.content = _key(A.CHUNK_CONTENT)
        # doubles have a fixed length: field-9 tag + length + key + value tag + AnyValue(double) header
        offset_key, gap_key = _key(A.CHUNK_OFFSET), _key(A.CHUNK_GAP)
        self.offset = b"\x4a" + varint(len(offset_key) + 11) + offset_key + b"\x12\x09\x21"
        self.gap = b"\x4a" + varint(len(gap_key) + 11) + gap_key + b"\x12\x09\x21"
        self.kinds = [_attribute_bytes({A.CHUNK_KIND: name}) for name in KIND_NAMES]


_P = _AttrPrefixes()


def _int_attr(key: bytes, value: int) -> bytes:
    av = b"\x18" + varint(value)
    kv = key + b"\x12" + bytes((len(av),)) + av
    return b"\x4a" + varint(len(kv)) + kv


def _str_attr(key: bytes, value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    av = b"\x0a" + varint(len(raw)) + raw
    kv = key + b"\x12" + varint(len(av)) + av
    return b"\x4a" + varint(len(kv)) + kv


_SIZE_CACHED = 4096
_SIZE_CACHE = [_int_attr(_P.size, i) for i in range(_SIZE_CACHED)]
_INDEX_CACHE: list[bytes] = []
_INDEX_LENS: list[int] = []  # len() of each _INDEX_CACHE entry
_PREFIX_CACHED = 1 << 14
_PREFIX_CACHE: list[bytes] = []  # b"\x12" + varint(n): the tag and length of a span of n bytes in ScopeSpans


def _cached_ints(cache: list[bytes], key: bytes, n: int) -> list[bytes]:
    """Pre-encoded int attributes for 0..n-1, grown on demand and shared by every batch."""
    if len(cache) < n:
        cache.extend(_int_attr(key, i) for i in range(len(cache), n))
    return cache


def _span_prefixes(lengths: list[int]) -> list[bytes]:
    """The ScopeSpans.spans tag and length prefix of spans of the given body lengths."""
    top = max(lengths)
    if top < _PREFIX_CACHED:
        cache = _PREFIX_CACHE
        if len(cache) <= top:
            cache.extend(b"\x12" + varint(i) for i in range(len(cache), top + 1))
        return list(map(cache.__getitem__, lengths))
    return [b"\x12" + varint(n) for n in lengths]


# Every chunk span starts with the same fixed-size run of fields: trace id, span id, parent, name, kind, start, end,
# then the offset and gap attributes (doubles). The parts that are the same in a batch are passed as bytes. The span
# id is packed little-endian from the integers that ``struct.unpack("<...Q")`` made of the batch's random span id
# bytes, which writes those bytes back unchanged.
_TRACE_PART_LEN = 20  # 0x0A 0x10 <trace id> 0x12 0x08 (span id follows)
_PARENT_PART = len(b"\x22\x08") + 8 + len(_ld(0x2A, A.CHUNK_SPAN_NAME.encode())) + len(b"\x30\x01")
_FIXED_HEAD = f"<{_TRACE_PART_LEN}sQ{_PARENT_PART}sBQBQ{len(_P.offset)}sd"
_FIXED = struct.Struct(_FIXED_HEAD + f"{len(_P.gap)}sd")  # with a gap attribute
_FIXED_FIRST = struct.Struct(_FIXED_HEAD)  # the stream's first chunk has no gap


class Encoder:
    """Encodes spans and chunk batches into one ``ExportTraceServiceRequest`` body."""

    def __init__(self) -> None:
        self._heads: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self._keep: list[object] = []  # keeps cached resources/scopes alive so their ids stay unique

    def _head(self, resource: Resource, scope: InstrumentationScope) -> tuple[bytes, bytes]:
        """(ResourceSpans.resource field, ScopeSpans.scope field), cached per resource and scope."""
        key = (id(resource), id(scope))
        cached = self._heads.get(key)
        if cached is None:
            res = resource_pb2.Resource(
                attributes=[
                    common_pb2.KeyValue(key=k, value=_any_value(v)) for k, v in resource.attributes.items()
                ]
            ).SerializeToString()
            sc = common_pb2.InstrumentationScope(
                name=scope.name, version=scope.version or ""
            ).SerializeToString()
            cached = (_ld(0x0A, res), _ld(0x0A, sc))
            self._heads[key] = cached
            self._keep.extend((resource, scope))
        return cached

    def encode_batch(self, batch: ChunkBatch) -> bytes:
        """One ``ResourceSpans`` message holding every chunk span of ``batch``."""
        return b"".join(self._batch_pieces(batch)[0])

    def _batch_pieces(self, batch: ChunkBatch) -> tuple[list[bytes], int]:
        """:meth:`encode_batch`'s bytes as pieces to join, and their total length: the request body is joined
        once (:meth:`encode`), instead of each enclosing message copying the batch's spans again.

        Built column by column with C-level ``map``/``zip``/``join`` over the batch's lists: per chunk only its
        span id, times, offset and gap are packed; the index attribute comes from a shared cache, and kind, size
        and content (with the batch's constant attributes and flags) from a per-batch cache of distinct chunks.
        """
        resource = batch.resource if batch.resource is not None else Resource.get_empty()
        resource_field, scope_field = self._head(resource, batch.scope)
        n = len(batch.times_ns)
        if not n:
            whole = resource_field + _ld(0x12, scope_field)
            return [whole], len(whole)
        trace_part = b"\x0a\x10" + batch.trace_id.to_bytes(16, "big") + b"\x12\x08"
        parent_part = (
            b"\x22\x08"
            + batch.parent_span_id.to_bytes(8, "big")
            + _ld(0x2A, A.CHUNK_SPAN_NAME.encode())
            + b"\x30\x01"
        )
        times = list(batch.times_ns)
        start = batch.start_perf_ns
        shift = batch.start_wall_ns - start
        first = batch.first_index
        p = _P
        sids = struct.unpack(f"<{n}Q", batch.span_ids())
        walls = list(map(add, times, repeat(shift, n)))
        offsets = list(map(mul, map(sub, times, repeat(start, n)), repeat(1e-9, n)))
        # the chunk before this batch (a live slice of a stream in flight) gives the first chunk its gap
        prev = batch.prev_ns if first else None
        head = _FIXED_FIRST.pack(
            trace_part, sids[0], parent_part, 0x39, walls[0], 0x41, walls[0], p.offset, offsets[0]
        )
        if prev is not None:
            head += p.gap + _DOUBLE.pack((times[0] - prev) * 1e-9)
        if batch.first_attributes:
            head += _attribute_bytes(batch.first_attributes)
        fixed = [head]
        if n > 1:
            # columns from the second chunk on as copied slices: a list iterator steps cheaper than ``islice``
            later_walls = walls[1:]
            gaps = map(mul, map(sub, times[1:], times), repeat(1e-9))
            fixed.extend(
                map(
                    _FIXED.pack,
                    repeat(trace_part),
                    sids[1:],
                    repeat(parent_part),
                    repeat(0x39),
                    later_walls,
                    repeat(0x41),
                    later_walls,
                    repeat(p.offset),
                    offsets[1:],
                    repeat(p.gap),
                    gaps,
                )
            )
        index_attrs = _cached_ints(_INDEX_CACHE, p.index, first + n)[first : first + n]
        if len(_INDEX_LENS) < first + n:
            _INDEX_LENS.extend(map(len, _INDEX_CACHE[len(_INDEX_LENS) :]))
        rest = self._rest(batch)
        # every fixed part but the first has the same length: no len() call per chunk for it or the index
        lengths = list(
            map(add, map(add, _INDEX_LENS[first : first + n], map(len, rest)), repeat(_FIXED.size, n))
        )
        lengths[0] += len(head) - _FIXED.size
        prefixes = _span_prefixes(lengths)
        # the usual chunk span has a tag and a two-byte length: no len() call per chunk for its prefix either
        two_bytes = min(lengths) >= 0x80 and max(lengths) < 0x4000
        prefix_total = 3 * n if two_bytes else sum(map(len, prefixes))
        scope_len = len(scope_field) + sum(lengths) + prefix_total
        head_pieces = resource_field + b"\x12" + varint(scope_len) + scope_field
        pieces = [head_pieces]
        pieces.extend(chain.from_iterable(zip(prefixes, fixed, index_attrs, rest, strict=True)))
        return pieces, len(head_pieces) + scope_len - len(scope_field)

    @staticmethod
    def _rest(batch: ChunkBatch) -> list[bytes]:
        """Per chunk: its kind, size and content attributes, then the batch's constant attributes and flags."""
        tail = (_attribute_bytes(batch.extra_attributes) if batch.extra_attributes else b"") + _FLAGS
        texts = batch.texts
        columns: tuple[Sequence[Any], ...] = (
            (batch.kinds, batch.sizes) if texts is None else (batch.kinds, batch.sizes, texts)
        )
        cache: dict[tuple[Any, ...], bytes] = {}
        p = _P
        content_key = p.content
        # Keys are zipped twice rather than kept in a list: ``zip`` reuses its result tuple when nobody holds it,
        # so no tuple per chunk is allocated (n live tuples also set off the garbage collector).
        for key in set(zip(*columns, strict=True)):  # each distinct (kind, size[, text]) once
            size = key[1]
            attr = p.kinds[key[0]] + (
                _SIZE_CACHE[size] if 0 <= size < _SIZE_CACHED else _int_attr(p.size, size)
            )
            if texts is not None:
                attr += _str_attr(content_key, key[2])
            cache[key] = attr + tail
        return list(map(cache.__getitem__, zip(*columns, strict=True)))

    def encode(self, spans: Sequence[ReadableSpan], batches: Sequence[ChunkBatch]) -> bytes:
        """The full request body."""
        parts = []
        if spans:
            plain = [s for s in spans if not _long_arrays(s)]
            if plain:
                parts.append(encode_spans(plain).SerializeToString())
            if len(plain) < len(spans):
                parts.append(_encode_with_arrays([s for s in spans if _long_arrays(s)]))
        for batch in batches:
            pieces, size = self._batch_pieces(batch)
            parts.append(b"\x0a" + varint(size))
            parts.extend(pieces)
        return b"".join(parts)


# -- long array attributes of ordinary spans (the per-chunk arrays of a stream's span, rollups-only mode) ----------

_LONG_ARRAY = (
    16  # arrays at least this long are encoded here, not by the SDK encoder (one message per element)
)
_ANY_DOUBLE = b"\x0a\x09\x21"  # ArrayValue.values entry: AnyValue{double_value}
_ANY_INT_CACHE = [
    b"\x0a" + bytes((len(av),)) + av for av in (b"\x18" + varint(i) for i in range(_SIZE_CACHED))
]


def _long_arrays(span: ReadableSpan) -> bool:
    attrs = span.attributes
    return bool(attrs) and any(type(v) is tuple and len(v) >= _LONG_ARRAY for v in attrs.values())  # type: ignore[union-attr]


def _array_values(values: Sequence[Any]) -> bytes | None:
    """The ``ArrayValue`` message of a homogeneous array of floats, ints or strings (None for anything else)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return _ANY_DOUBLE + _ANY_DOUBLE.join(map(_DOUBLE.pack, values))
    if kinds == {int}:
        if min(values) >= 0 and max(values) < _SIZE_CACHED:
            return b"".join(map(_ANY_INT_CACHE.__getitem__, values))
        return b"".join(_ld(0x0A, b"\x18" + varint(v)) for v in values)
    if kinds == {str}:
        encoded = {v: _ld(0x0A, _ld(0x0A, v.encode("utf-8", "surrogatepass"))) for v in set(values)}
        return b"".join(map(encoded.__getitem__, values))
    return None


class _Filtered:
    """A span seen through the SDK encoder without some of its attributes (encoded separately)."""

    def __init__(self, span: ReadableSpan, attributes: dict[str, Any]) -> None:
        self._span = span
        self.attributes = attributes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._span, name)


def _encode_with_arrays(spans: Sequence[ReadableSpan]) -> bytes:
    """Request entries for spans with long array attributes: the SDK encodes the rest of each span, and the
    arrays are appended to the span message as attribute entries (repeated fields concatenate)."""
    views: list[Any] = []
    arrays: dict[bytes, bytes] = {}
    for span in spans:
        kept: dict[str, Any] = {}
        extra: list[bytes] = []
        for key, value in (span.attributes or {}).items():
            encoded = _array_values(value) if type(value) is tuple and len(value) >= _LONG_ARRAY else None
            if encoded is None:
                kept[key] = value
            else:
                kv = _key(key) + _ld(0x12, _ld(0x2A, encoded))  # KeyValue{key, AnyValue{array_value}}
                extra.append(_ld(0x4A, kv))
        views.append(_Filtered(span, kept))
        ctx = span.context
        if ctx is not None:
            arrays[ctx.span_id.to_bytes(8, "big")] = b"".join(extra)
    request = encode_spans(views)
    out = []
    for rs in request.resource_spans:
        scope_parts = []
        for ss in rs.scope_spans:
            body = b"".join(
                _ld(0x12, sp.SerializeToString() + arrays.get(sp.span_id, b"")) for sp in ss.spans
            )
            del ss.spans[:]
            scope_parts.append(_ld(0x12, ss.SerializeToString() + body))
        del rs.scope_spans[:]
        out.append(_ld(0x0A, rs.SerializeToString() + b"".join(scope_parts)))
    return b"".join(out)
