"""Issue 18 item 8: every gzip member is read; trailing garbage and truncation are 400, never a 200 for spans
that were not stored."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest
from hostile import PB, one_sentence, reason, stored_names
from otlp import new_span_id, new_trace_id, pb_span, request
from stores import store_kind  # noqa: F401  (the cases below run on SQLite and ClickHouse)

from streamscope.collector.inflate import MAX_MEMBERS, InflateError, inflate


def test_a_body_of_two_gzip_members_stores_the_spans_of_both(client: httpx.Client) -> None:
    """A gzip body whose members split the protobuf bytes anywhere: the decompressed concatenation is the body."""
    tid = new_trace_id()
    body = request([pb_span(tid, new_span_id(), name=f"s{i}") for i in range(40)]).SerializeToString()
    cut = len(body) // 2
    two = gzip.compress(body[:cut]) + gzip.compress(body[cut:])
    r = client.post("/v1/traces", content=two, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert len(stored_names(client, tid)) == 40


@pytest.mark.parametrize(
    ("encoding", "tail"),
    [("gzip", b"garbage"), ("gzip", b"\x00" * 8), ("gzip", b"\x1f\x8b"), ("deflate", b"x")],
)
def test_trailing_bytes_after_the_compressed_body_are_400(
    client: httpx.Client, encoding: str, tail: bytes
) -> None:
    tid = new_trace_id()
    body = request([pb_span(tid, new_span_id(), name="one")]).SerializeToString()
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    r = client.post("/v1/traces", content=packed + tail, headers={**PB, "Content-Encoding": encoding})
    assert r.status_code == 400 and one_sentence(reason(r))
    assert stored_names(client, tid) == []


def test_inflate_reads_members_in_steps_and_counts_every_byte_against_the_limit() -> None:
    members = b"".join(gzip.compress(bytes([i]) * 3_000_000) for i in range(3))
    taken: list[int] = []
    out = inflate(members, "gzip", 9_000_000, taken.append)
    assert out == b"".join(bytes([i]) * 3_000_000 for i in range(3))
    assert sum(taken) == len(out)  # what the steps took, less what they gave back, is what was produced
    with pytest.raises(InflateError) as e:
        inflate(members, "gzip", 8_999_999)
    assert e.value.status == 413


def test_a_body_of_too_many_gzip_members_is_400() -> None:
    many = gzip.compress(b"") * (MAX_MEMBERS + 1)
    with pytest.raises(InflateError) as e:
        inflate(many, "gzip", 10**6)
    assert e.value.status == 400 and "members" in str(e.value)
    assert inflate(gzip.compress(b"") * MAX_MEMBERS, "gzip", 10**6) == b""
