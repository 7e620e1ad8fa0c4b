"""Property-based fuzzing of every decoder on the ingest edge: decompression, the wire span count, protobuf and
JSON decoding with the span caps, normalisation of every dialect's attributes, and the HTTP endpoint as a whole.
Each may refuse its input only with its own one-sentence error; none may raise anything else or answer 500."""

from __future__ import annotations

import gzip
import json
import math
import os
import tempfile
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp import any_value, new_span_id, new_trace_id, our_stream, pb_span, request

from streamscope.collector.decode import Decoded, DecodeError, TooManySpans, decode_body, parse_json
from streamscope.collector.inflate import InflateError, inflate
from streamscope.collector.model import Span
from streamscope.collector.normalise import UNFORESEEN, normalise_checked
from streamscope.collector.server import CollectorServer
from streamscope.collector.store.sqlite import SQLiteStore
from streamscope.collector.wire import count_spans

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.binary(max_size=3000),
    st.sampled_from(["gzip", "deflate", "identity", "", "br", "GZIP"]),
    st.integers(0, 5000),
)
def test_inflate_returns_at_most_the_limit_or_says_why(raw: bytes, encoding: str, limit: int) -> None:
    try:
        out = inflate(raw, encoding, limit)
    except InflateError as e:
        assert e.status in (400, 413, 415) and str(e).endswith(".")
    else:
        assert encoding in ("identity", "") or len(out) <= limit


@FUZZ
@given(st.lists(st.binary(max_size=500), min_size=1, max_size=5), st.binary(max_size=20))
def test_every_gzip_member_is_read_and_anything_after_is_refused(members: list[bytes], tail: bytes) -> None:
    packed = b"".join(gzip.compress(m) for m in members)
    assert inflate(packed, "gzip", 10**6) == b"".join(members)
    if tail:
        with pytest.raises(InflateError) as e:
            inflate(packed + tail, "gzip", 10**6)
        assert e.value.status == 400
    assert inflate(zlib.compress(members[0]), "deflate", 10**6) == members[0]


@st.composite
def shaped_requests(draw: st.DrawFn) -> tuple[bytes, int]:
    """A request of random shape (resources, scopes, spans, attributes in between) and its span count."""
    req = ExportTraceServiceRequest()
    n = 0
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        for k in range(draw(st.integers(0, 2))):
            rs.resource.attributes.add(key=f"r{k}", value=any_value(draw(st.text(max_size=30))))
        rs.schema_url = draw(st.text(max_size=10))
        for _ in range(draw(st.integers(0, 3))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(st.text(max_size=10))
            for _ in range(draw(st.integers(0, 40))):
                s = ss.spans.add()
                s.name = draw(st.sampled_from(["", "x", "streamscope.chunk"]))
                s.start_time_unix_nano = draw(st.integers(0, 2**64 - 1))
                n += 1
    return req.SerializeToString(), n


@FUZZ
@given(shaped_requests(), st.integers(0, 60))
def test_the_wire_count_passes_the_limit_exactly_when_the_request_does(
    shaped: tuple[bytes, int], limit: int
) -> None:
    body, n = shaped
    counted = count_spans(body, limit)
    assert (counted > limit) == (n > limit)
    if len(body) > 2 * limit and n <= limit:
        assert counted == n


@FUZZ
@given(st.binary(max_size=2000), st.integers(0, 50))
def test_the_wire_count_never_raises_on_garbage(body: bytes, limit: int) -> None:
    assert count_spans(body, limit) >= 0


@FUZZ
@given(st.one_of(shaped_requests().map(lambda t: t[0]), st.binary(max_size=2000)), st.integers(0, 60))
def test_decode_body_with_a_span_cap_raises_only_its_own_errors(body: bytes, cap: int) -> None:
    try:
        d = decode_body(body, max_spans=cap)
    except (DecodeError, TooManySpans) as e:
        assert str(e).endswith(".") or isinstance(e, TooManySpans)
    else:
        assert d.received <= cap or len(body) <= 2 * cap
        assert d.received == len(d.spans) + len(d.chunks) + d.rejected


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                      st.text(max_size=20))  # fmt: skip
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                    st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=25)  # fmt: skip
SPAN_KEYS = st.sampled_from(["traceId", "spanId", "parentSpanId", "name", "kind", "status", "startTimeUnixNano",
                             "endTimeUnixNano", "attributes", "events", "links", "flags"])  # fmt: skip


@FUZZ
@given(st.lists(st.dictionaries(SPAN_KEYS, JSON, max_size=6), max_size=5), st.integers(0, 6))
def test_parse_json_with_a_span_cap_raises_only_its_own_errors(spans: list[dict[str, Any]], cap: int) -> None:
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
    try:
        parse_json(body, max_spans=cap)
    except DecodeError as e:
        assert str(e).endswith(".")
    except TooManySpans as e:
        assert len(spans) > cap or "values" in str(e)
    else:
        assert len(spans) <= cap


DIALECT_KEYS = [
    "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.provider.name", "gen_ai.system",
    "gen_ai.usage.output_tokens", "gen_ai.usage.input_tokens", "gen_ai.server.time_to_first_token",
    "streamscope.stream.time_to_first_chunk", "streamscope.stream.outcome", "streamscope.stream.chunk_count",
    "streamscope.chunks.offset", "streamscope.chunks.size", "streamscope.chunks.kind", "openinference.span.kind",
    "llm.request.type", "langfuse.observation.type", "langfuse.observation.completion_start_time",
    "langfuse.observation.usage_details", "ai.response.msToFirstChunk", "error.type",
    "streamscope.stream.output_tokens_per_second", "streamscope.stream.stall_threshold",
]  # fmt: skip
INT64 = st.integers(-(2**63), 2**63 - 1)
ATTR_VALUES = st.one_of(
    st.floats(), INT64, st.text(max_size=30), st.booleans(),
    st.sampled_from(["chat", "LLM", "generation", "2026-01-01T00:00:00Z", "9999-12-31", "0001-01-01", "nan", "inf",
                     "{}"]),
    st.lists(st.one_of(st.floats(), INT64, st.text(max_size=3)), max_size=6),
    st.dictionaries(st.text(max_size=8), st.one_of(st.floats(), INT64), max_size=3),
)  # fmt: skip
CHUNK_KEYS = [
    f"streamscope.chunk.{k}" for k in ("index", "offset", "gap", "kind", "size", "tokens", "content")
]
CHUNK_VALUES = st.one_of(INT64, st.floats(), st.text(max_size=5), st.booleans())


@pytest.fixture(scope="module")
def sqlite_store() -> Iterator[SQLiteStore]:
    with tempfile.TemporaryDirectory() as d:
        store = SQLiteStore(os.path.join(d, "fuzz.db"), synchronous="OFF")
        yield store
        store.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.dictionaries(st.sampled_from(DIALECT_KEYS), ATTR_VALUES, max_size=10),
       st.lists(st.dictionaries(st.sampled_from(CHUNK_KEYS), CHUNK_VALUES, max_size=7), max_size=4))  # fmt: skip
def test_whatever_decodes_and_normalises_is_written(sqlite_store: SQLiteStore, llm_attrs: dict[str, Any],
                                                    chunks: list[dict[str, Any]]) -> None:  # fmt: skip
    """From the wire to the store: a request's spans are stored or rejected one by one, the write never fails."""
    tid, llm = new_trace_id(), new_span_id()
    spans = [pb_span(tid, llm, name="chat", attrs=llm_attrs)]
    spans += [pb_span(tid, new_span_id(), llm, name="streamscope.chunk", attrs=c) for c in chunks]
    batch, _, reason = normalise_checked(decode_body(request(spans).SerializeToString()))
    assert reason != UNFORESEEN
    sqlite_store.write(batch)


@FUZZ
@given(
    st.lists(st.dictionaries(st.sampled_from(DIALECT_KEYS), ATTR_VALUES, max_size=10), min_size=1, max_size=4)
)
def test_normalising_any_attribute_values_never_fails_the_batch(attr_maps: list[dict[str, Any]]) -> None:
    now = time.time_ns()
    spans = tuple(
        Span(trace_id="ab" * 16, span_id=f"{i + 1:016x}", parent_span_id=None, name="chat", kind=3, start_ns=now,
             end_ns=now + 10**9, status_code=0, status_message="", service="s", attributes=attrs, events=(),
             resource={}, scope="", session_id=None, user_id=None)
        for i, attrs in enumerate(attr_maps)
    )  # fmt: skip
    batch, bad, reason = normalise_checked(Decoded(spans, (), len(spans), 0))
    assert len(batch.spans) + bad == len(spans)
    assert bool(bad) == bool(reason)
    assert reason != UNFORESEEN, "a value no rule foresaw: give it a rule (BadSpan or ignore it)"
    for st_ in batch.streams:
        assert st_.ttft is None or isinstance(st_.ttft, float)
    for attrs in attr_maps:  # the poison is always caught
        cst = attrs.get("langfuse.observation.completion_start_time")
        if (
            isinstance(cst, float)
            and not math.isfinite(cst)
            and attrs.get("langfuse.observation.type") == "generation"
        ):
            assert bad


@pytest.fixture(scope="module")
def live() -> Iterator[httpx.Client]:
    with tempfile.TemporaryDirectory() as d:
        s = CollectorServer(os.path.join(d, "f.db"), http_port=0, grpc_port=None, synchronous="OFF")
        s.start()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{s.http_port}", timeout=30) as c:
                yield c
        finally:
            s.stop()


GOOD = our_stream(2)[0].SerializeToString()
BODIES = st.one_of(
    st.binary(max_size=1500),
    st.builds(lambda cut, junk: GOOD[:cut] + junk, st.integers(0, len(GOOD)), st.binary(max_size=30)),
    st.builds(lambda b: gzip.compress(b), st.binary(max_size=200)),
    JSON.map(lambda v: json.dumps({"resourceSpans": v}).encode()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])  # fmt: skip
@given(BODIES, st.sampled_from(["application/x-protobuf", "application/json", "text/plain"]),
       st.sampled_from(["gzip", "deflate", "identity", "zstd", ""]))  # fmt: skip
def test_the_http_endpoint_answers_every_body_with_a_reason(live: httpx.Client, body: bytes, ct: str,
                                                           encoding: str) -> None:  # fmt: skip
    headers = {"Content-Type": ct, **({"Content-Encoding": encoding} if encoding else {})}
    r = live.post("/v1/traces", content=body, headers=headers)
    assert r.status_code in (200, 400, 413, 415), (r.status_code, r.text[:200])
    assert live.get("/healthz").status_code == 200
