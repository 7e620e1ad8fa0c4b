"""OTLP/gRPC: the bad-input answers (the happy paths run in test_exporters.py and test_durability.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from otlp import our_stream

from streamscope.collector.server import CollectorServer

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    server = CollectorServer(str(tmp_path / "c.db"), http_port=0, grpc_port=0)
    _, port = server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop()


def _export(ch: grpc.Channel, body: bytes) -> bytes:
    call = ch.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)  # raw bytes both ways
    result: bytes = call(body, timeout=10)
    return result


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"\x0a\xff\xff\xff\xff\x0f garbage", "not a valid OTLP ExportTraceServiceRequest"),
     (our_stream(2)[0].SerializeToString().replace(b"handle", b"h\xffndle"), "invalid UTF-8")],
)  # fmt: skip
def test_a_bad_body_is_invalid_argument_with_the_reason(
    channel: grpc.Channel, body: bytes, reason: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        _export(channel, body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in (err.value.details() or "")
    assert (
        _export(channel, our_stream(1)[0].SerializeToString()) == b""
    )  # still up; an empty response is success
