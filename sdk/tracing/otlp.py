"""OTLP/protobuf encoding with a fast path for chunk spans.

Ordinary spans go through OpenTelemetry's own encoder. Chunk spans are written straight to protobuf wire
format: every chunk span of a batch shares its trace id, parent, name, kind, scope and resource, so those
bytes are built once per batch and each chunk only adds its id, time and a handful of attributes. Protobuf
messages concatenate by appending repeated fields, so the request body is simply the SDK-encoded request
followed by one extra ``ResourceSpans`` entry per chunk batch. The result decodes to the same spans that
:meth:`ChunkBatch.spans` would produce through the SDK encoder (tested).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
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
        _ld(0x4A, common_pb2.KeyValue(key=k, value=_any_value(v)).SerializeToString()) for k, v in attrs.items()
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
        self.offset = b"\x4A" + varint(len(offset_key) + 11) + offset_key + b"\x12\x09\x21"
        self.gap = b"\x4A" + varint(len(gap_key) + 11) + gap_key + b"\x12\x09\x21"
        self.kinds = [_attribute_bytes({A.CHUNK_KIND: name}) for name in KIND_NAMES]


_P = _AttrPrefixes()


def _int_attr(key: bytes, value: int) -> bytes:
    av = b"\x18" + varint(value)
    kv = key + b"\x12" + bytes((len(av),)) + av
    return b"\x4A" + varint(len(kv)) + kv


def _str_attr(key: bytes, value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    av = b"\x0A" + varint(len(raw)) + raw
    kv = key + b"\x12" + varint(len(av)) + av
    return b"\x4A" + varint(len(kv)) + kv


_SIZE_CACHED = 4096
_SIZE_CACHE = [_int_attr(_P.size, i) for i in range(_SIZE_CACHED)]
_INDEX_CACHE: list[bytes] = []


def _cached_ints(cache: list[bytes], key: bytes, n: int) -> list[bytes]:
    """Pre-encoded int attributes for 0..n-1, grown on demand and shared by every batch."""
    if len(cache) < n:
        cache.extend(_int_attr(key, i) for i in range(len(cache), n))
    return cache


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
                attributes=[common_pb2.KeyValue(key=k, value=_any_value(v)) for k, v in resource.attributes.items()]
            ).SerializeToString()
            sc = common_pb2.InstrumentationScope(name=scope.name, version=scope.version or "").SerializeToString()
            cached = (_ld(0x0A, res), _ld(0x0A, sc))
            self._heads[key] = cached
            self._keep.extend((resource, scope))
        return cached

    def encode_batch(self, batch: ChunkBatch) -> bytes:
        """One ``ResourceSpans`` message holding every chunk span of ``batch``."""
        resource = batch.resource if batch.resource is not None else Resource.get_empty()
        resource_field, scope_field = self._head(resource, batch.scope)
        trace_part = b"\x0A\x10" + batch.trace_id.to_bytes(16, "big") + b"\x12\x08"
        parent_part = b"\x22\x08" + batch.parent_span_id.to_bytes(8, "big") + _ld(0x2A, A.CHUNK_SPAN_NAME.encode()) \
            + b"\x30\x01"
        extra = _attribute_bytes(batch.extra_attributes) if batch.extra_attributes else b""
        first_extra = _attribute_bytes(batch.first_attributes) if batch.first_attributes else b""
        first = batch.first_index
        ids = batch.span_ids()
        texts = batch.texts
        kinds = batch.kinds
        sizes = batch.sizes
        start = batch.start_perf_ns
        shift = batch.start_wall_ns - start
        p = _P
        n = len(batch.times_ns)
        index_attrs = _cached_ints(_INDEX_CACHE, p.index, first + n)
        size_attrs = _SIZE_CACHE
        kind_attrs = p.kinds
        content_key = p.content
        pack_times = _TIMES.pack
        pack_d = _DOUBLE.pack
        offset_hdr, gap_hdr = p.offset, p.gap
        tail = extra + _FLAGS
        spans: list[bytes] = []
        append = spans.append
        prev = batch.prev_ns if first and batch.prev_ns is not None else 0
        has_prev = bool(first) and batch.prev_ns is not None
        for i, t in enumerate(batch.times_ns):
            wall = t + shift
            size = sizes[i]
            size_attr = size_attrs[size] if size < _SIZE_CACHED else _int_attr(p.size, size)
            if texts is None:
                content = b""
            else:
                raw = texts[i].encode("utf-8", "surrogatepass")
                n_raw = len(raw)
                if n_raw + len(content_key) + 4 < 0x80:  # every length prefix below fits in one byte
                    content = b"".join((b"\x4A", bytes((len(content_key) + n_raw + 4,)), content_key,
                                        b"\x12", bytes((n_raw + 2,)), b"\x0A", bytes((n_raw,)), raw))
                else:
                    content = _str_attr(content_key, texts[i])
            body = b"".join((
                trace_part, ids[8 * i:8 * i + 8], parent_part, pack_times(0x39, wall, 0x41, wall),
                index_attrs[first + i], offset_hdr, pack_d((t - start) * 1e-9),
                (gap_hdr + pack_d((t - prev) * 1e-9)) if i or has_prev else b"",
                kind_attrs[kinds[i]], size_attr, content, first_extra if i == 0 else b"", tail,
            ))
            blen = len(body)
            append(b"".join((b"\x12", bytes((blen,)) if blen < 0x80 else varint(blen), body)))
            prev = t
        scope_spans = scope_field + b"".join(spans)
        return resource_field + _ld(0x12, scope_spans)

    def encode(self, spans: Sequence[ReadableSpan], batches: Sequence[ChunkBatch]) -> bytes:
        """The full request body."""
        parts = [encode_spans(spans).SerializeToString()] if spans else []
        parts.extend(_ld(0x0A, self.encode_batch(b)) for b in batches)
        return b"".join(parts)

