from __future__ import annotations

import json
import math
import time

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp import NS, kvs, new_span_id, new_trace_id, our_stream, pb_span, request

from streamscope.collector import decode
from streamscope.collector.decode import DecodeError, decode_request, parse_json, parse_protobuf


def _json_body(req: object) -> dict:
    doc = orjson.loads(json_format.MessageToJson(req, use_integers_for_enums=True))  # type: ignore[arg-type]
    # OTLP/JSON: ids are hex, not base64
    import base64

    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if s.get(k):
                        s[k] = base64.b64decode(s[k]).hex()
    return doc


def test_protobuf_and_json_decode_alike() -> None:
    req, ids = our_stream(3)
    a = decode_request(parse_protobuf(req.SerializeToString()))
    b = decode_request(parse_json(orjson.dumps(_json_body(req))))
    assert a == b
    assert a.received == 5 and a.rejected == 0
    assert {s.span_id for s in a.spans} == {ids["root"], ids["llm"]}
    assert [c.index for c in a.chunks] == [0, 1, 2] and {c.span_id for c in a.chunks} == {ids["llm"]}
    llm = next(s for s in a.spans if s.span_id == ids["llm"])
    assert llm.trace_id == ids["trace_id"] and llm.parent_span_id == ids["root"] and llm.service == "test-app"


def test_json_hex_ids_are_not_base64_decoded() -> None:
    tid = "5b8efff798038103d269b633813fc60c"
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": tid.upper(), "spanId": "eee19b7ec3c1b174", "name": "x", "kind": 1,
         "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns())}]}]}]}  # fmt: skip
    d = decode_request(parse_json(orjson.dumps(body)))
    assert d.spans[0].trace_id == tid and d.spans[0].span_id == "eee19b7ec3c1b174"


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"resourceSpans": 3}', b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
     b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5, "kind": "nope"}]}]}]}',
     b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "-5"}]}]}]}',
     b"[" * 5000 + b"]" * 5000],
)  # fmt: skip
def test_bad_json_is_one_sentence(body: bytes) -> None:
    with pytest.raises(DecodeError) as e:
        parse_json(body)
    msg = str(e.value)
    assert msg.endswith(".") and "\n" not in msg and len(msg) < 300


def test_bad_protobuf() -> None:
    req, _ = our_stream(2)
    raw = req.SerializeToString()
    for body in (raw[: len(raw) // 2], b"\xff" * 50, raw.replace(b"handle", b"h\xffndle")):
        with pytest.raises(DecodeError):
            parse_protobuf(body)


def test_invalid_spans_rejected_one_by_one() -> None:
    tid = new_trace_id()
    now = time.time_ns()
    spans = [
        pb_span(tid, new_span_id(), name="ok"),
        pb_span(b"\x00" * 16, new_span_id(), name="zero trace"),
        pb_span(tid[:5], new_span_id(), name="short trace"),
        pb_span(tid, b"", name="no span id"),
        pb_span(tid, new_span_id(), b"abc", name="bad parent"),
        pb_span(tid, new_span_id(), name="far future", start_ns=now + 400 * 24 * 3600 * NS),
        pb_span(tid, new_span_id(), name="epoch zero", start_ns=0),
    ]
    d = decode_request(request(spans))
    assert [s.name for s in d.spans] == ["ok"]
    assert d.received == 7 and d.rejected == 6 and d.reason


def test_ten_thousand_attributes_are_capped_and_counted() -> None:
    s = pb_span(new_trace_id(), new_span_id(), attrs={f"k{i}": i for i in range(10_000)})
    (span,) = decode_request(request([s])).spans
    assert len(span.attributes) == decode.MAX_ATTRIBUTES + 1
    assert span.attributes[decode.DROPPED_ATTRS] == 10_000 - decode.MAX_ATTRIBUTES


def test_huge_string_is_truncated() -> None:
    s = pb_span(new_trace_id(), new_span_id(), attrs={"big": "x" * (decode.MAX_STRING + 10)})
    (span,) = decode_request(request([s])).spans
    assert len(span.attributes["big"]) == decode.MAX_STRING


def test_end_before_start_is_clamped() -> None:
    s = pb_span(new_trace_id(), new_span_id(), dur=-1.0)
    (span,) = decode_request(request([s])).spans
    assert span.end_ns == span.start_ns


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_protobuf_never_crashes(body: bytes) -> None:
    try:
        d = decode_request(parse_protobuf(body))
    except DecodeError as e:
        assert str(e).endswith(".")
    else:
        assert d.received == len(d.spans) + len(d.chunks) + d.rejected


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
_span_keys = st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
                              "endTimeUnixNano", "attributes", "events", "status", "links"])  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_span_keys, _json_values, max_size=6))
def test_fuzz_json_spans_never_crash(span: dict) -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    try:
        d = decode_request(parse_json(body))
    except DecodeError as e:
        assert str(e).endswith(".")
    else:
        assert d.received == 1


def _reference_chunk(s: object, parent: str) -> object:
    """The chunk decoding before the fast path: every attribute through ``_any``, then type checks."""
    index, offset, gap, kind, size, tokens, content = 0, None, None, "content", 0, None, None
    for kv in s.attributes:  # type: ignore[attr-defined]
        if not kv.key.startswith("streamscope.chunk."):
            continue
        v, name = decode._any(kv.value), kv.key[18:]
        if name == "index" and isinstance(v, int):
            index = v
        elif name == "offset" and isinstance(v, (int, float)) and abs(float(v)) <= decode.MAX_SECONDS:
            offset = float(v)
        elif name == "gap" and isinstance(v, (int, float)) and abs(float(v)) <= decode.MAX_SECONDS:
            gap = float(v)
        elif name == "kind" and isinstance(v, str):
            kind = v[:32]
        elif name == "size" and isinstance(v, int):
            size = v
        elif name == "tokens" and isinstance(v, int):
            tokens = v
        elif name == "content" and isinstance(v, str):
            content = v
    return decode.Chunk(
        parent, index, offset if offset is not None else 0.0, gap, kind, size, tokens, content
    )


_chunk_attr_values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(),
                               st.text(max_size=40), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3))  # fmt: skip
_chunk_keys = st.sampled_from([f"streamscope.chunk.{k}" for k in
                               ("index", "offset", "gap", "kind", "size", "tokens", "content", "other")]
                              + ["streamscope.chunkX", "gen_ai.x", "streamscope.chunk."])  # fmt: skip


@given(st.lists(st.tuples(_chunk_keys, _chunk_attr_values), max_size=10))
def test_fast_chunk_decoding_matches_the_reference(attrs: list[tuple[str, object]]) -> None:
    span = pb_span(new_trace_id(), new_span_id(), name=decode.CHUNK_SPAN)
    for key, value in attrs:  # repeated keys too, as the wire allows
        span.attributes.extend(kvs({key: value}))
    chunk, live = decode._chunk(span, "ab" * 8, 0)
    assert chunk == _reference_chunk(span, "ab" * 8)
    assert live is None  # no streamscope.live.* keys among these


@pytest.mark.parametrize("offset", [math.inf, -math.inf, math.nan, 1e300, -(2**63)])
def test_hostile_chunk_offsets_are_ignored_not_a_crash(offset: float) -> None:
    """A chunk carrying the in-flight signal turns its offset into nanoseconds: not-finite or absurd offsets
    (which used to raise OverflowError there, a 500) are ignored like values of the wrong type."""
    span = pb_span(new_trace_id(), new_span_id(), parent=new_span_id(), name=decode.CHUNK_SPAN)
    span.attributes.extend(kvs({"streamscope.chunk.offset": offset, "streamscope.chunk.gap": offset,
                                "streamscope.live.request_model": "m"}))  # fmt: skip
    body = request([span]).SerializeToString()
    for d in (decode.decode_request(decode.parse_protobuf(body)), decode.decode_body(body)):
        assert (d.chunks[0].offset, d.chunks[0].gap) == (0.0, None)
        assert len(d.live) == 1 and d.live[0].last_offset == 0.0
