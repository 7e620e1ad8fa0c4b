"""The span count on the wire in C (``_fastotlp.count_spans``) against its Python reference (``wire.count_spans``).

The count runs before upb parses anything, on whatever bytes a client sends, so the two must agree on every input:
valid requests of random shape, the same truncated and mutated, random bytes, and hand-written bodies whose
varints only 128-bit arithmetic reads as Python does (a tag whose low 64 bits say "span", lengths past 2**64).
"""

from __future__ import annotations

import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from streamscope.collector import decode
from streamscope.collector.wire import count_spans

fast = getattr(decode._fastotlp, "count_spans", None)
pytestmark = pytest.mark.skipif(fast is None, reason="the C walker is not built here")
SEED = 20261205


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def request(rnd: random.Random) -> bytes:
    req = ExportTraceServiceRequest()
    for _ in range(rnd.randrange(0, 4)):
        rs = req.resource_spans.add()
        rs.schema_url = "x" * rnd.randrange(3)
        rs.resource.attributes.add(key="service.name").value.string_value = "svc"
        for _ in range(rnd.randrange(0, 4)):
            ss = rs.scope_spans.add()
            ss.scope.name = rnd.choice(["", "s", "streamscope"])
            for _ in range(rnd.randrange(0, 60)):
                s = ss.spans.add(name=rnd.choice(["", "x", "streamscope.chunk"]))
                if rnd.random() < 0.5:
                    s.trace_id = rnd.randbytes(16)
                    s.start_time_unix_nano = rnd.randrange(2**64)
                    s.attributes.add(key="k").value.int_value = rnd.randrange(-(2**63), 2**63)
    return req.SerializeToString()


def mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.choice([1, 1, 2, 4])):
        if not out:
            break
        pos = rnd.randrange(len(out))
        op = rnd.randrange(5)
        if op == 0:
            out[pos] = rnd.randrange(256)
        elif op == 1:
            out[pos : pos + 1] = bytes([rnd.choice([0x80, 0xFF])] * rnd.randrange(1, 12))  # long varints
        elif op == 2:
            del out[pos:]
        elif op == 3:
            out[pos:pos] = out[pos : pos + rnd.randrange(1, 16)]
        else:
            out[pos:pos] = rnd.randbytes(rnd.randrange(1, 8))
    return bytes(out)


def agree(data: bytes, limit: int, where: str) -> None:
    assert fast is not None
    assert fast(data, limit) == count_spans(data, limit), f"{where}, limit {limit}: {data!r}"


def test_valid_truncated_mutated_and_random_bodies_are_counted_alike() -> None:
    rnd = random.Random(SEED)
    valid = [request(rnd) for _ in range(80)]
    cases = [(f"valid {i}", b) for i, b in enumerate(valid)]
    cases += [(f"truncated {i}", b[: rnd.randrange(len(b) + 1)]) for i, b in enumerate(valid)]
    cases += [(f"mutated {i}", mutate(rnd, rnd.choice(valid))) for i in range(3000)]
    cases += [(f"random {i}", rnd.randbytes(rnd.randrange(400))) for i in range(1000)]
    walked = 0
    for name, data in cases:
        for limit in (0, 1, rnd.randrange(0, 40), len(data) // 2, -3):
            agree(data, limit, f"seed {SEED}, {name}")
            walked += len(data) > 2 * limit
    assert walked > 5000  # most cases are walked, not cut short by the length test


SPAN = field(2, b"")  # an empty span: 2 bytes


@pytest.mark.parametrize(
    "name, scope_body",
    [
        ("spans", SPAN * 30),
        # a tag of 18 + 2**64 (10 bytes): its low 64 bits say "span", Python reads a length-delimited field 2**61 + 2
        ("tag past 64 bits", (b"\x92" + b"\x80" * 8 + b"\x02" + b"\x00") * 30),
        ("11-byte varint", SPAN * 20 + b"\x80" * 10 + b"\x01" + SPAN * 20),
        ("length past the body", SPAN * 20 + b"\x0a" + varint(2**69) + SPAN * 20),
        ("fixed64 past the end", SPAN * 20 + b"\x09" + b"\x00" * 3),
        ("group wire type", SPAN * 20 + b"\x0b" + SPAN * 20),
        ("truncated varint", SPAN * 25 + b"\x12\xff"),
    ],
)
def test_hand_written_scope_bodies_are_counted_alike(name: str, scope_body: bytes) -> None:
    body = field(1, field(2, scope_body))
    for limit in range(0, 40):
        agree(body, limit, name)


def test_a_level_is_read_in_full_before_its_spans_are_counted() -> None:
    """wire.py lists a level's fields before walking them: a malformed field after the spans stops the count at
    the spans of the levels before."""
    good = field(1, field(2, SPAN * 20))
    bad_scope = field(1, field(2, SPAN * 20) + b"\x12" + varint(2**70 - 1))  # a scope longer than the body
    bad_tail = field(1, field(2, SPAN * 20)) + b"\xff" * 11  # a varint of 11 bytes at the top level
    for data in (good + bad_scope + good, good + good + bad_tail, bad_scope * 3):
        for limit in (0, 5, 25, 45):
            agree(data, limit, "malformed level")
    assert count_spans(good + good + bad_tail, 0) == 0  # the top level is unreadable: nothing is counted


def test_the_decoder_counts_with_the_c_version() -> None:
    """decode_body's span cap uses the C count (the Python one costs ~0.4 µs per span of every request)."""
    assert decode.count_request_spans is fast
    body = field(1, field(2, SPAN * 30))
    with pytest.raises(decode.TooManySpans):
        decode.decode_body(body, max_spans=10)
