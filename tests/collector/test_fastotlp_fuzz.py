"""A fuzz pass over the C walker (collector/_fastotlp.c): random and mutated protobuf bodies, a few thousand.

Every body goes to the walker twice: straight to ``walk`` (no upb parse first, so the walker meets wire bytes no
serializer writes; it may return anything or raise a Python exception, but must not touch memory outside the body),
and through ``decode_body``, whose result must equal the reference decoder's, or fail with the same error.
scripts/sanitize_c.py runs this file against a build with AddressSanitizer and UndefinedBehaviorSanitizer, where an
out-of-bounds read or undefined behaviour ends the run. The inputs are drawn from a fixed seed (set
``STREAMSCOPE_FUZZ_SEED`` for others), so a failure names the seed and the case that reproduce it.
"""

from __future__ import annotations

import contextlib
import os
import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from streamscope.collector import decode
from streamscope.collector.decode import DecodeError, decode_body, decode_request, parse_protobuf

pytestmark = pytest.mark.skipif(decode._fastotlp is None, reason="the C walker is not built here")

SEED = int(os.environ.get("STREAMSCOPE_FUZZ_SEED", "20261205"))
NS = 1_000_000_000
NOW = 1_800_000_000 * NS
TEXTS = ["", "lorem ", "é" * 33, "🙂" * 20, "x" * 40, "\0", "content", "role", "tool_call"]
KEYS = [f"streamscope.chunk.{k}" for k in ("index", "offset", "gap", "kind", "size", "tokens", "content")] + [
    "streamscope.live.provider",
    "gen_ai.request.model",
    "",
    "streamscope.chunk.other",
]


def _value(rnd: random.Random) -> AnyValue:
    shape = rnd.randrange(6)
    if shape == 0:
        return AnyValue(string_value=rnd.choice(TEXTS))
    if shape == 1:
        return AnyValue(int_value=rnd.choice([0, 1, -1, 7, 2**63 - 1, -(2**63), rnd.randrange(10_000)]))
    if shape == 2:
        return AnyValue(double_value=rnd.choice([0.0, 0.25, -1.5, 1e300, float("nan"), float("inf")]))
    if shape == 3:
        return AnyValue(bool_value=rnd.random() < 0.5)
    if shape == 4:
        return AnyValue(bytes_value=rnd.randbytes(rnd.randrange(9)))
    return AnyValue(array_value={"values": [AnyValue(int_value=rnd.randrange(9))]})


def body(rnd: random.Random) -> bytes:
    """A valid request shaped like our SDK's: chunk spans with their attributes, and their parent."""
    req = ExportTraceServiceRequest()
    for _ in range(rnd.randrange(1, 3)):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="svc")))
        ss = rs.scope_spans.add()
        parent = rnd.randbytes(8)
        for i in range(rnd.randrange(1, 6)):
            span = ss.spans.add(
                trace_id=b"t" * 16,
                span_id=rnd.randbytes(8),
                parent_span_id=parent,
                name="streamscope.chunk",
                start_time_unix_nano=NOW - NS + i,
                end_time_unix_nano=NOW - NS + i,
            )
            for _ in range(rnd.randrange(8)):
                span.attributes.append(KeyValue(key=rnd.choice(KEYS), value=_value(rnd)))
        ss.spans.add(
            trace_id=b"t" * 16,
            span_id=parent,
            name="chat m",
            start_time_unix_nano=NOW - 2 * NS,
            end_time_unix_nano=NOW,
        )
    return req.SerializeToString()


def mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.choice([1, 1, 1, 2, 4])):
        if not out:
            break
        pos = rnd.randrange(len(out))
        op = rnd.randrange(5)
        if op == 0:
            out[pos] = rnd.randrange(256)
        elif op == 1:
            out[pos] = rnd.choice([0x00, 0x7F, 0x80, 0xFF])  # varint ends and continuations, lengths
        elif op == 2:
            del out[pos:]  # truncated
        elif op == 3:
            out[pos:pos] = out[pos : pos + rnd.randrange(1, 16)]  # a piece given twice
        else:
            out[pos:pos] = rnd.randbytes(rnd.randrange(1, 8))
    return bytes(out)


def cases() -> list[tuple[str, bytes]]:
    rnd = random.Random(SEED)
    valid = [body(rnd) for _ in range(60)]
    out = [(f"valid {i}", b) for i, b in enumerate(valid)]
    out += [(f"mutated {i}", mutate(rnd, rnd.choice(valid))) for i in range(3000)]
    out += [(f"random {i}", rnd.randbytes(rnd.randrange(200))) for i in range(1000)]
    return out


def test_the_walker_survives_random_and_mutated_bodies_and_agrees_with_the_reference() -> None:
    walker = decode._fastotlp
    assert walker is not None
    accepted = 0
    for name, data in cases():
        where = f"seed {SEED}, case {name}: {data!r}"
        # bytes upb would have refused first: any Python-level outcome will do, a crash will not
        with contextlib.suppress(ValueError, TypeError, OverflowError, UnicodeDecodeError):
            walker.walk(data, NOW + NS)
        try:
            ref = decode_request(parse_protobuf(data), NOW)
        except DecodeError as e:
            with pytest.raises(DecodeError) as err:
                decode_body(data, NOW)
            assert str(err.value) == str(e), where
            continue
        accepted += 1
        fast = decode_body(data, NOW)
        assert fast == ref or repr(fast) == repr(ref), where
    # the mutations keep enough bodies valid for the differential half to mean something
    assert accepted > 400
