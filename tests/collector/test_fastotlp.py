"""The C walker (collector/_fastotlp.c) against the reference decoder: equal results on every body upb accepts.

``decode_body`` = upb parse + the walker for chunk spans; ``decode_request`` = upb parse + Python for everything.
Generated requests cover chunk spans with every attribute shape (duplicates, wrong value types, unknown and
in-flight keys, long and non-ASCII text), other spans and every rejection; hand-written wire bytes cover what
protobuf serializers do not produce (fields out of order or repeated, wrong wire types); random mutations of
valid bodies cover the rest.
"""

from __future__ import annotations

import shutil
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from streamscope.collector import decode
from streamscope.collector.decode import DecodeError, decode_body, decode_request, parse_protobuf
from streamscope.collector.model import Chunk, Span

NOW = time.time_ns()
NS = 1_000_000_000
needs_walker = pytest.mark.skipif(decode._fastotlp is None, reason="the C walker is not built here")


def both(body: bytes) -> tuple[decode.Decoded, decode.Decoded]:
    return decode_body(body, NOW), decode_request(parse_protobuf(body), NOW)


def same(a: decode.Decoded, b: decode.Decoded) -> bool:
    """Equal, where NaN (a double attribute value) counts as equal to itself."""
    return a == b or repr(a) == repr(b)


def test_the_walker_is_built_wherever_a_c_compiler_is() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: the pure-Python decoder is used")
    assert decode._fastotlp is not None, "the install should have built streamscope.collector._fastotlp"


# -- generated requests --------------------------------------------------------------------------------
CHUNK_KEYS = [
    f"streamscope.chunk.{k}" for k in ("index", "offset", "gap", "kind", "size", "tokens", "content")
]
KEYS = st.one_of(st.sampled_from(CHUNK_KEYS), st.sampled_from(CHUNK_KEYS), st.sampled_from(CHUNK_KEYS), st.sampled_from(
    ["streamscope.chunk.other", "streamscope.live.request_model", "streamscope.live.provider", "gen_ai.request.model",
     "", "streamscope.chunkindex"]))  # fmt: skip
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["content", "role", "é" * 33, "🙂" * 40, "x" * 32]))
VALUES = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), TEXT),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(AnyValue()),
    st.builds(lambda v: AnyValue(array_value={"values": [AnyValue(int_value=v)]}), st.integers(0, 9)),
)

IDS8 = st.binary(min_size=8, max_size=8).filter(any)
IDS16 = st.binary(min_size=16, max_size=16).filter(any)
TIMES = st.integers(NOW - 3600 * NS, NOW)
INVALID = {  # per span field, the values that get the span rejected (or make it not a chunk)
    "trace_id": [b"", b"\0" * 16, b"t" * 15],
    "span_id": [b"", b"\0" * 8],
    "parent_span_id": [b"", b"\0" * 8, b"\1" * 7],
    "name": ["chat gpt-4o", "streamscope.chunks", ""],
    "start_time_unix_nano": [0, NOW + 2 * 86400 * NS],
    "end_time_unix_nano": [NOW + 2 * 86400 * NS, 2**64 - 1],
}


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    rnd = draw(st.randoms(use_true_random=True))
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add()
        rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=draw(st.text(max_size=5))))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = "streamscope"
            for _ in range(draw(st.integers(0, 6))):
                s = ss.spans.add()
                s.trace_id = draw(st.one_of(st.just(b"t" * 16), IDS16))
                s.span_id = draw(IDS8)
                s.parent_span_id = draw(st.one_of(st.sampled_from([b"p" * 8, b"q" * 8]), IDS8))
                s.name = "streamscope.chunk"
                s.start_time_unix_nano = draw(TIMES)
                s.end_time_unix_nano = draw(st.one_of(st.just(s.start_time_unix_nano), TIMES))
                for name, bad in INVALID.items():  # one field in ten made invalid (hypothesis's own draws
                    if rnd.random() < 0.1:  # favour edge branches, which would reject most spans)
                        setattr(s, name, rnd.choice(bad))
                for key, value in draw(st.lists(st.tuples(KEYS, VALUES), max_size=9)):
                    s.attributes.add(key=key, value=value)
    return req.SerializeToString()


@pytest.mark.slow  # hundreds of generated bodies: the whole suite and the sanitizer run take them
@needs_walker
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_requests_decode_the_same(body: bytes) -> None:
    fast, ref = both(body)
    assert same(fast, ref)
    assert all(type(c) is Chunk for c in fast.chunks)


@pytest.mark.slow  # hundreds of generated bodies: the whole suite and the sanitizer run take them
@needs_walker
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       st.integers(0, 10_000))  # fmt: skip
def test_mutated_bodies_decode_the_same_or_fail_the_same(
    body: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    mutated_the_same(body, flips, cut)


def mutated_the_same(body: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """``body`` with some bytes replaced and its end cut decodes the same both ways (or fails the same)."""
    data = bytearray(body)
    for pos, byte in flips:
        if data:
            data[pos % len(data)] = byte
    mutated = bytes(data[: max(0, len(data) - cut % 8)])
    try:
        ref = decode_request(parse_protobuf(mutated), NOW)
    except DecodeError as e:
        with pytest.raises(DecodeError) as err:
            decode_body(mutated, NOW)
        assert str(err.value) == str(e)
        return
    assert same(decode_body(mutated, NOW), ref)


# -- hand-written wire bytes ---------------------------------------------------------------------------
def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, wire: int, payload: bytes) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def wrap(*span_fields: bytes) -> bytes:
    """One request, one resource, one scope, one span made of the given raw fields."""
    span = b"".join(span_fields)
    return field(1, 2, field(2, 2, field(2, 2, span)))


def attr(key: str, *values: bytes) -> bytes:
    return field(9, 2, field(1, 2, key.encode()) + b"".join(field(2, 2, v) for v in values))


IDS = (field(1, 2, b"t" * 16), field(2, 2, b"s" * 8), field(4, 2, b"p" * 8))
TIMED = (field(7, 1, struct.pack("<Q", NOW - NS)), field(8, 1, struct.pack("<Q", NOW - NS)))
CHUNK = field(5, 2, b"streamscope.chunk")
INT7 = field(3, 0, varint(7))


@needs_walker
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.index", INT7)), id="plain"),
        pytest.param(wrap(attr("streamscope.chunk.index", INT7), CHUNK, *TIMED, *reversed(IDS)), id="out-of-order"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, field(5, 2, b"other"), attr("streamscope.chunk.index", INT7)),
                     id="name-given-twice"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.index", INT7, field(1, 2, b"x"))),
                     id="value-given-twice"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.index", INT7 + field(4, 1, struct.pack("<d", 2.5)))),
                     id="oneof-last-wins"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.gap", field(3, 0, varint(2**64 - 3)))),
                     id="negative-int"),
        pytest.param(wrap(*IDS, field(7, 0, varint(NOW)), *TIMED[1:], CHUNK), id="time-as-varint"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, field(9, 0, varint(1))), id="attributes-as-varint"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, field(99, 5, b"abcd"), field(100, 1, b"12345678")), id="unknown-fields"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.kind", field(1, 2, "ü".encode() * 40))),
                     id="kind-cut-to-32-characters"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.live.provider", field(1, 2, b"openai"))),
                     id="in-flight-signal"),
        pytest.param(wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.size")), id="no-value"),
        pytest.param(wrap(*IDS[:2], *TIMED, CHUNK), id="chunk-without-parent"),
    ],
)  # fmt: skip
def test_wire_shapes_decode_the_same(body: bytes) -> None:
    fast, ref = both(body)
    assert same(fast, ref)


@needs_walker
def test_content_is_cut_at_max_string_characters() -> None:
    text = "é" * (decode.MAX_STRING + 5)
    body = wrap(*IDS, *TIMED, CHUNK, attr("streamscope.chunk.content", field(1, 2, text.encode())))
    fast, ref = both(body)
    assert same(fast, ref)
    assert fast.chunks[0].content == text[: decode.MAX_STRING]


@needs_walker
def test_sdk_shaped_bodies_take_the_fast_path() -> None:
    """The walker decodes the chunk spans itself (it does not hand them back) for bodies shaped like our SDK's."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(3):
        c = ss.spans.add(trace_id=b"t" * 16, span_id=bytes([i + 1]) * 8, parent_span_id=b"p" * 8,
                         name="streamscope.chunk", start_time_unix_nano=NOW - NS, end_time_unix_nano=NOW - NS)  # fmt: skip
        c.attributes.extend([KeyValue(key="streamscope.chunk.index", value=AnyValue(int_value=i)),
                             KeyValue(key="streamscope.chunk.kind", value=AnyValue(string_value="content"))])  # fmt: skip
    ss.spans.add(trace_id=b"t" * 16, span_id=b"p" * 8, name="chat m", start_time_unix_nano=NOW - NS)
    assert decode._fastotlp is not None
    received, rejected, reason, chunks, spans, others = decode._fastotlp.walk(
        req.SerializeToString(), NOW + NS
    )
    assert (received, rejected, reason) == (4, 0, 0)
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [type(s) for s in spans] == [Span] and spans[0].name == "chat m"
    assert others == []


# -- spans that are not ours -------------------------------------------------------------------------------
ANY_KEYS = st.sampled_from(["gen_ai.chunk.index", "gen_ai.chunk.offset", "gen_ai.operation.name", "http.route",
                            "session.id", "gen_ai.conversation.id", "langfuse.session.id", "user.id", "enduser.id",
                            "langfuse.user.id", "service.name", "", "é🙂"])  # fmt: skip
SCALARS = st.one_of(
    VALUES,
    st.builds(lambda v: AnyValue(string_value=v), st.sampled_from(["", "x" * 300, "ü" * 70, "s1"])),
    st.builds(lambda v: AnyValue(int_value=v), st.sampled_from([0, -1, 2**63 - 1])),
)
NESTED = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.builds(lambda vs: AnyValue(array_value={"values": vs}), st.lists(inner, max_size=3)),
        st.builds(lambda kvs: AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v) for k, v in kvs]}),
                  st.lists(st.tuples(ANY_KEYS, inner), max_size=3)),
    ),
    max_leaves=6,
)  # fmt: skip
NAMES = st.sampled_from(["gen_ai.chunk", "POST /v1/chat", "chat gpt-4o", "streamscope.chunk", "", "n" * 1100])
KINDS = st.sampled_from([0, 1, 2, 3, 5, 7, -3, 2**31 - 1])


def attributes_of(draw: st.DrawFn, keys: st.SearchStrategy[str]) -> list[KeyValue]:
    return [KeyValue(key=k, value=v) for k, v in draw(st.lists(st.tuples(keys, NESTED), max_size=7))]


@st.composite
def generic_requests(draw: st.DrawFn) -> bytes:
    """Requests of spans that are not chunk spans (any name, kind, status, nested attribute values, events now
    and then), in resources and scopes of every shape, mixed with chunk spans."""
    rnd = draw(st.randoms(use_true_random=True))
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add()
        if draw(st.booleans()):
            rs.resource.attributes.extend(attributes_of(draw, ANY_KEYS))
        for _ in range(draw(st.integers(1, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(
                st.sampled_from(["", "opentelemetry.instrumentation.openai", "s" * 300, "ü"])
            )
            for _ in range(draw(st.integers(0, 6))):
                s = ss.spans.add(trace_id=draw(IDS16), span_id=draw(IDS8), name=draw(NAMES), kind=draw(KINDS),
                                 start_time_unix_nano=draw(TIMES))  # fmt: skip
                s.end_time_unix_nano = draw(st.one_of(st.just(s.start_time_unix_nano), TIMES))
                if draw(st.booleans()):
                    s.parent_span_id = draw(st.one_of(IDS8, st.just(b"\0" * 8)))
                if draw(st.booleans()):
                    s.status.code = draw(st.sampled_from([0, 1, 2, 9, -1]))
                    s.status.message = draw(st.sampled_from(["", "boom", "m" * 5000]))
                for name, bad in INVALID.items():
                    if rnd.random() < 0.05:
                        setattr(s, name, rnd.choice(bad))
                s.attributes.extend(attributes_of(draw, ANY_KEYS))
                if rnd.random() < 0.15:
                    s.events.add(name="exception", time_unix_nano=s.start_time_unix_nano).attributes.extend(
                        attributes_of(draw, ANY_KEYS))  # fmt: skip
    return req.SerializeToString()


@pytest.mark.slow  # hundreds of generated bodies: the whole suite and the sanitizer run take them
@needs_walker
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generic_requests())
def test_generic_requests_decode_the_same(body: bytes) -> None:
    fast, ref = both(body)
    assert same(fast, ref)
    assert all(type(s) is Span for s in fast.spans)


@pytest.mark.slow  # hundreds of generated bodies: the whole suite and the sanitizer run take them
@needs_walker
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generic_requests(), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
       max_size=4), st.integers(0, 10_000))  # fmt: skip
def test_mutated_generic_bodies_decode_the_same_or_fail_the_same(
    body: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    mutated_the_same(body, flips, cut)


def span_body(*span_fields: bytes, resource: bytes = b"", scope: bytes = b"") -> bytes:
    """One request, one resource, one scope, one span made of the given raw fields (and resource / scope fields
    given raw too)."""
    return field(1, 2, resource + field(2, 2, scope + field(2, 2, b"".join(span_fields))))


GENERIC = (*IDS, *TIMED, field(5, 2, b"gen_ai.chunk"))
STR = field(1, 2, b"v")
ARRAY = field(5, 2, field(1, 2, INT7))


@needs_walker
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(span_body(*GENERIC, attr("k", STR)), id="plain"),
        pytest.param(span_body(*GENERIC, attr("k", ARRAY + ARRAY)), id="array-merged-by-upb"),
        pytest.param(span_body(*GENERIC, attr("k", STR + ARRAY)), id="string-then-array"),
        pytest.param(span_body(*GENERIC, attr("k", ARRAY + STR)), id="array-then-string"),
        pytest.param(span_body(*GENERIC, attr("k", field(6, 2, field(1, 2, field(1, 2, b"a") + field(2, 2, STR)))
                                                    + field(6, 2, b""))), id="kvlist-twice"),
        pytest.param(span_body(*GENERIC, attr("k", field(5, 0, varint(1)))), id="array-as-varint"),
        pytest.param(span_body(*GENERIC, attr("k", STR), attr("k", INT7), attr("j", STR)), id="duplicate-keys"),
        pytest.param(span_body(*GENERIC, field(15, 2, field(3, 0, varint(2))), field(15, 2, field(2, 2, b"m"))),
                     id="status-given-twice"),
        pytest.param(span_body(*GENERIC, field(15, 0, varint(2))), id="status-as-varint"),
        pytest.param(span_body(*GENERIC, field(6, 2, b"xy")), id="kind-as-bytes"),
        pytest.param(span_body(*GENERIC, field(6, 0, varint(2**64 - 2))), id="negative-kind"),
        pytest.param(span_body(*GENERIC, field(11, 2, field(2, 2, b"event"))), id="with-an-event"),
        pytest.param(span_body(*GENERIC, resource=field(1, 2, attr("service.name", STR)) * 2), id="resource-twice"),
        pytest.param(span_body(*GENERIC, resource=field(1, 2, field(1, 2, field(1, 2, b"service.name")))),
                     id="service-name-without-value"),
        pytest.param(span_body(*GENERIC, scope=field(1, 2, field(1, 2, b"a")) * 2), id="scope-twice"),
        pytest.param(span_body(*GENERIC, scope=field(1, 2, field(1, 2, b"a") + field(1, 2, b"b"))),
                     id="scope-name-twice"),
        pytest.param(span_body(*GENERIC, attr("session.id", field(3, 0, varint(0))), attr("user.id", STR)),
                     id="session-as-int"),
    ],
)  # fmt: skip
def test_generic_wire_shapes_decode_the_same(body: bytes) -> None:
    fast, ref = both(body)
    assert same(fast, ref)


@needs_walker
def test_attributes_past_the_limit_are_counted_the_same() -> None:
    keys = [f"k{i % 1100}" for i in range(decode.MAX_ATTRIBUTES + 40)]
    body = span_body(*GENERIC, *(attr(k, field(3, 0, varint(i))) for i, k in enumerate(keys)))
    fast, ref = both(body)
    assert same(fast, ref)
    assert fast.spans[0].attributes[decode.DROPPED_ATTRS] == 40


@needs_walker
def test_generic_bodies_take_the_fast_path() -> None:
    """Spans without events are built by the walker (nothing handed back), whatever their dialect."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="app"))
    ss = rs.scope_spans.add()
    ss.spans.add(
        trace_id=b"t" * 16, span_id=b"r" * 8, name="POST /chat", kind=2, start_time_unix_nano=NOW - NS
    )
    llm = ss.spans.add(trace_id=b"t" * 16, span_id=b"p" * 8, parent_span_id=b"r" * 8, name="ChatCompletion",
                       start_time_unix_nano=NOW - NS)  # fmt: skip
    llm.attributes.add(key="openinference.span.kind", value=AnyValue(string_value="LLM"))
    for i in range(3):
        c = ss.spans.add(trace_id=b"t" * 16, span_id=bytes([i + 1]) * 8, parent_span_id=b"p" * 8, name="gen_ai.chunk",
                         start_time_unix_nano=NOW - NS)  # fmt: skip
        c.attributes.add(key="gen_ai.chunk.index", value=AnyValue(int_value=i))
    body = req.SerializeToString()
    assert decode._fastotlp is not None
    received, rejected, reason, chunks, spans, others = decode._fastotlp.walk(body, NOW + NS)
    assert (received, rejected, reason, chunks, others) == (5, 0, 0, [], [])
    assert spans == list(decode_request(parse_protobuf(body), NOW).spans)
    assert spans[0].resource is spans[4].resource  # one map per resource, as the reference shares it
