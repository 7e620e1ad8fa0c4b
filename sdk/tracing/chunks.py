"""Chunk spans in bulk: a :class:`ChunkBatch` per stream (or per slice of a stream) instead of one SDK span per chunk.

A batch holds the compact chunk records of a stream and the identity of its LLM span. While a stream is in flight
the export thread sends its chunks in slices (``first_index`` is the index of the slice's first chunk and
``prev_ns`` the arrival of the chunk before it, so indexes and gaps come out as if the stream were sent whole);
``first_attributes`` go on the slice's first chunk span only (the in-flight signal). The export thread
either encodes it straight to OTLP protobuf (:mod:`streamscope.tracing.otlp`) or, for any other exporter,
materialises it into ordinary ``ReadableSpan`` objects with :meth:`ChunkBatch.spans`. Either way each chunk
span keeps its real arrival time (start = end = arrival) and the attributes of the wire contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import AttributeValue

from streamscope.tracing import attributes as A
from streamscope.tracing.rollups import KIND_NAMES


@dataclass
class ChunkBatch:
    """The chunks of one stream, to become ``streamscope.chunk`` spans under the stream's span."""

    trace_id: int
    parent_span_id: int
    resource: Resource | None
    scope: InstrumentationScope
    start_wall_ns: int
    start_perf_ns: int
    times_ns: Sequence[int]
    kinds: Sequence[int]
    sizes: Sequence[int]
    texts: Sequence[str] | None = None
    extra_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    first_index: int = 0
    prev_ns: int | None = None
    first_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    _span_ids: bytes | None = None

    def __len__(self) -> int:
        return len(self.times_ns)

    def span_ids(self) -> bytes:
        """Eight random bytes per chunk span, drawn once so every encoding agrees."""
        if self._span_ids is None:
            self._span_ids = os.urandom(8 * len(self.times_ns))
        return self._span_ids

    def wall_times(self) -> list[int]:
        """Arrival times as Unix epoch nanoseconds."""
        shift = self.start_wall_ns - self.start_perf_ns
        return [t + shift for t in self.times_ns]

    def rows(self) -> list[tuple[int, dict[str, AttributeValue]]]:
        """(arrival as epoch ns, attributes) per chunk span. The stream's first chunk has no gap attribute."""
        out: list[tuple[int, dict[str, AttributeValue]]] = []
        prev = self.prev_ns if self.first_index else None
        for i, (t, wall) in enumerate(zip(self.times_ns, self.wall_times(), strict=True)):
            attrs: dict[str, AttributeValue] = dict(self.extra_attributes)
            if i == 0 and self.first_attributes:
                attrs.update(self.first_attributes)
            attrs[A.CHUNK_INDEX] = self.first_index + i
            attrs[A.CHUNK_OFFSET] = (t - self.start_perf_ns) * 1e-9
            if prev is not None:
                attrs[A.CHUNK_GAP] = (t - prev) * 1e-9
            attrs[A.CHUNK_KIND] = KIND_NAMES[self.kinds[i]]
            attrs[A.CHUNK_SIZE] = self.sizes[i]
            if self.texts is not None:
                attrs[A.CHUNK_CONTENT] = self.texts[i]
            prev = t
            out.append((wall, attrs))
        return out

    def spans(self) -> list[ReadableSpan]:
        """Materialise ordinary SDK spans (for exporters other than our OTLP fast path)."""
        ids = self.span_ids()
        flags = TraceFlags(TraceFlags.SAMPLED)
        parent = SpanContext(self.trace_id, self.parent_span_id, is_remote=False, trace_flags=flags)
        resource = self.resource if self.resource is not None else Resource.get_empty()
        return [
            ReadableSpan(
                A.CHUNK_SPAN_NAME,
                context=SpanContext(
                    self.trace_id,
                    int.from_bytes(ids[8 * i : 8 * i + 8], "big"),
                    is_remote=False,
                    trace_flags=flags,
                ),
                parent=parent,
                resource=resource,
                attributes=attrs,
                kind=SpanKind.INTERNAL,
                start_time=wall,
                end_time=wall,
                instrumentation_scope=self.scope,
            )
            for i, (wall, attrs) in enumerate(self.rows())
        ]
