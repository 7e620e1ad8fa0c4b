"""The chunk-span fast encoder decodes to exactly what the SDK encoder makes of the same spans."""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from streamscope.tracing.chunks import ChunkBatch
from streamscope.tracing.otlp import Encoder, varint
from streamscope.tracing.rollups import CONTENT, ROLE, TOOL_CALL
from streamscope.tracing.state import SCOPE


def _batch(texts: list[str] | None) -> ChunkBatch:
    now = time.perf_counter_ns()
    return ChunkBatch(
        trace_id=0x0123456789ABCDEF0123456789ABCDEF,
        parent_span_id=0x1122334455667788,
        resource=Resource.create({"service.name": "svc", "deployment": "test"}),
        scope=SCOPE,
        start_wall_ns=1_700_000_000_000_000_000,
        start_perf_ns=now,
        times_ns=[now + 5_000_000, now + 6_000_000, now + 900_000_000, now + 901_000_000],
        kinds=[ROLE, CONTENT, TOOL_CALL, CONTENT],
        sizes=[len(t) for t in texts] if texts else [0, 2, 9, 5000],
        texts=texts,
        extra_attributes={"session.id": "s-1", "streamscope.tags": ("a", "b")},
    )


def _decoded(body: bytes) -> list[dict[str, object]]:
    req = ExportTraceServiceRequest.FromString(body)
    out = []
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                attrs = {kv.key: kv.value for kv in sp.attributes}
                out.append(
                    {
                        "resource": sorted(
                            (kv.key, kv.value.SerializeToString()) for kv in rs.resource.attributes
                        ),
                        "scope": (ss.scope.name, ss.scope.version),
                        "trace_id": sp.trace_id,
                        "span_id": sp.span_id,
                        "parent": sp.parent_span_id,
                        "name": sp.name,
                        "kind": sp.kind,
                        "start": sp.start_time_unix_nano,
                        "end": sp.end_time_unix_nano,
                        "flags": sp.flags,
                        "status": sp.status.code,
                        "attrs": {k: v.SerializeToString() for k, v in sorted(attrs.items())},
                    }
                )
    return out


@pytest.mark.parametrize(
    "texts",
    [
        None,
        ["", "hé", '{"q": "x"}', "z" * 300],
        ["a" * 97, "b" * 98, "c" * 99, "d" * 100],  # around the one-byte length-prefix boundary
        ["e" * 125, "f" * 126, "\U0001f600" * 40, "g" * 20000],
    ],
)
def test_fast_encoding_matches_the_sdk_encoder(texts: list[str] | None) -> None:
    batch = _batch(texts)
    ours = _decoded(Encoder().encode([], [batch]))
    reference = _decoded(encode_spans(batch.spans()).SerializeToString())
    assert len(ours) == 4
    assert ours == reference


def test_mixed_body_holds_sdk_spans_and_batches() -> None:
    batch = _batch(["", "a", "b", "c"])
    sdk_spans = _batch(None).spans()[:2]
    body = Encoder().encode(sdk_spans, [batch, batch])
    assert len(_decoded(body)) == 2 + 8


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**35, -1])
def test_varint_roundtrip(n: int) -> None:
    from google.protobuf.internal import decoder

    value, _ = decoder._DecodeVarint(varint(n), 0)  # type: ignore[attr-defined]
    assert value == (n if n >= 0 else n + (1 << 64))


def _slice(batch: ChunkBatch, first: int, n: int, signal: dict[str, str] | None = None) -> ChunkBatch:
    return ChunkBatch(
        trace_id=batch.trace_id,
        parent_span_id=batch.parent_span_id,
        resource=batch.resource,
        scope=batch.scope,
        start_wall_ns=batch.start_wall_ns,
        start_perf_ns=batch.start_perf_ns,
        times_ns=batch.times_ns[first:n],
        kinds=batch.kinds[first:n],
        sizes=batch.sizes[first:n],
        texts=batch.texts[first:n] if batch.texts is not None else None,
        extra_attributes=batch.extra_attributes,
        first_index=first,
        prev_ns=batch.times_ns[first - 1] if first else None,
        first_attributes=signal or {},
    )


@pytest.mark.parametrize("texts", [None, ["", "hé", "x" * 200, "z"]])
def test_slices_of_a_stream_encode_like_the_sdk_and_add_up_to_the_whole(texts: list[str] | None) -> None:
    whole = _batch(texts)
    signal = {"streamscope.live.operation": "chat", "streamscope.live.request_model": "m"}
    parts = [_slice(whole, 0, 1, signal), _slice(whole, 1, 3, signal), _slice(whole, 3, 4)]
    for part in parts:
        assert _decoded(Encoder().encode([], [part])) == _decoded(
            encode_spans(part.spans()).SerializeToString()
        )
    sliced = [row for part in parts for row in _decoded(Encoder().encode([], [part]))]
    reference = _decoded(Encoder().encode([], [whole]))
    live_keys = set(signal)
    marked = [i for i, row in enumerate(sliced) if live_keys & set(row["attrs"])]  # type: ignore[arg-type]
    assert marked == [0, 1]  # the first chunk of each in-flight slice, never the final one
    for row in sliced + reference:
        row["span_id"] = b""
        row["attrs"] = {k: v for k, v in row["attrs"].items() if k not in live_keys}  # type: ignore[attr-defined]
    assert sliced == reference


def _sdk_spans(resource: Resource) -> list[ReadableSpan]:
    """Ordinary SDK spans, some with long array attributes (as a stream's span has with chunk spans off)."""
    provider = TracerProvider(resource=resource)
    tracer = provider.get_tracer("test.scope", "1.2")
    spans = []
    for i in range(3):
        span = tracer.start_span(f"chat m{i}", attributes={"gen_ai.operation.name": "chat", "n": i})
        if i != 1:
            span.set_attributes(
                {
                    "streamscope.chunks.offset": tuple(j * 0.001 + 1e-7 for j in range(40 + i)),
                    "streamscope.chunks.size": tuple([0, 6, 127, 128, 5000] * 8),
                    "streamscope.chunks.kind": tuple(["role", "content", "hé", "\U0001f600" * 30] * 5),
                    "negative": tuple(range(-20, 20)),
                    "flags": tuple([True, False] * 10),
                    "mixed": tuple([1, 2.5, 3] * 10),
                    "short": (1.5, 2.5),
                }
            )
        span.end()
        spans.append(span)  # type: ignore[arg-type]
    return spans


def test_long_array_attributes_encode_like_the_sdk_encoder() -> None:
    spans = _sdk_spans(Resource.create({"service.name": "svc"})) + _sdk_spans(
        Resource.create({"service.name": "b"})
    )
    ours = _decoded(Encoder().encode(spans, [_batch(["", "a", "b", "c"])]))
    reference = _decoded(encode_spans(spans).SerializeToString()) + _decoded(
        encode_spans(_batch(["", "a", "b", "c"]).spans()).SerializeToString()
    )
    key = lambda row: (row["span_id"], row["name"])  # noqa: E731
    assert len(ours) == 6 + 4
    for row in ours + reference:
        row["span_id"] = row["span_id"] if row["name"] != "streamscope.chunk" else b""
    assert sorted(ours, key=key) == sorted(reference, key=key)  # type: ignore[arg-type]
